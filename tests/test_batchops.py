"""S3 Batch Operations: the job's files (manifest, CreateJob request checked against botocore's model, IAM documents),
creating it (botocore's Stubber, no AWS), its completion report, and the `batch` command."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber
from botocore.validate import ParamValidator

from drmodel import batchops
from drmodel.batchops import BatchCopy, BatchJob
from drmodel.batchreport import parse_results_csv, read_report
from drmodel.errors import ExitCode, UsageError
from drmodel.testing.synth import drfc_prefix, legacy_bucket, legacy_prefix, placeholder, put_all
from helpers import cli, rows_for, write_report

ROLE = "arn:aws:iam::210987654321:role/DeepRacerBatchCopy"
P1 = legacy_prefix("123456789012", "20200427103015", "4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17")
P2 = legacy_prefix("123456789012", "20200503081244", "b81d2e07-3c9a-4f15-8e6d-0a7c4b2f9e58")
LEGACY_PREFIXES = ("model-metadata/Apex-Hunter-2/", "model-metadata/Apex-Hunter/", "reward-functions/Apex-Hunter-2/",
                   "reward-functions/Apex-Hunter/", f"{P1}/", f"{P2}/")


def fake_client(service: str) -> Any:
    """A botocore client with fake credentials and an endpoint nothing listens on: only a Stubber answers it."""
    return botocore.session.get_session().create_client(
        service, region_name="us-east-1", endpoint_url="https://127.0.0.1:9", aws_access_key_id="AKIATESTFAKEKEY00000",
        aws_secret_access_key="fake-secret")


def job(copies: tuple[BatchCopy, ...], **kw: Any) -> BatchJob:
    base: dict[str, Any] = dict(target_account="210987654321", region="us-east-1", role_arn=ROLE,
                                report="s3://club-reports/batch", prefixes=("model-metadata/A/",), models=("A",))
    return BatchJob(copies, **(base | kw))


COPIES = (BatchCopy("aws-deepracer-src", "model-metadata/A/model_metadata.json", "aws-deepracer-dst",
                    "model-metadata/A/model_metadata.json", 812, "0f343b0931126a20f133d67c2b018a3b"),)


# -- the manifest ---------------------------------------------------------------------------------------------------
def test_the_manifest_url_encodes_keys_with_spaces_commas_and_unicode() -> None:
    keys = ["exports/Apex Hunter/Wed, 27 Oct 2021 19:42:10 GMT/model_metadata.json", "model-metadata/Modèle-ü/ß.json",
            "model-metadata/A+B/100%.json", "plain/key.txt"]
    copies = [BatchCopy("src", k, "dst", k) for k in keys]
    assert batchops.manifest_csv(copies).decode() == (
        "src,exports/Apex%20Hunter/Wed%2C%2027%20Oct%202021%2019%3A42%3A10%20GMT/model_metadata.json\n"
        "src,model-metadata/Mod%C3%A8le-%C3%BC/%C3%9F.json\n"
        "src,model-metadata/A%2BB/100%25.json\n"
        "src,plain/key.txt\n")
    # the report echoes the manifest's keys: decoding gives the keys back
    rows = "".join(f"{line},,succeeded,200,,Successful\n"
                   for line in batchops.manifest_csv(copies).decode().splitlines())
    assert [t.key for t in parse_results_csv(rows)] == keys


def test_a_changed_key_is_refused_with_the_way_to_copy_it() -> None:
    renamed = BatchCopy("aws-deepracer-src", "model-metadata/A/model_metadata.json", "aws-deepracer-dst",
                        "model-metadata/B/model_metadata.json")
    with pytest.raises(UsageError) as exc:
        batchops.manifest_csv([COPIES[0], renamed])
    assert "1 copies change their key (e.g. model-metadata/A/model_metadata.json -> model-metadata/B/" in str(exc.value)
    assert "drmodel copy SOURCE TARGET --name NEW" in str(exc.value)
    with pytest.raises(UsageError, match="2 pairs"):
        batchops.manifest_csv([COPIES[0], BatchCopy("other", "k", "dst", "k")])
    with pytest.raises(UsageError, match="up to 5 GiB"):
        batchops.manifest_csv([BatchCopy("src", "k", "dst", "k", 5 * 1024 ** 3 + 1)])
    with pytest.raises(UsageError, match="nothing to copy"):
        batchops.manifest_csv([])


# -- the CreateJob request --------------------------------------------------------------------------------------------
def test_the_create_job_request_is_valid_for_botocores_model_and_deterministic() -> None:
    j = job(COPIES)
    manifest = batchops.manifest_csv(COPIES)
    request = batchops.create_job_request(j, manifest)
    model = botocore.session.get_session().get_service_model("s3control").operation_model("CreateJob")
    report = ParamValidator().validate(request, model.input_shape)
    assert not report.has_errors(), report.generate_report()
    assert request["Manifest"] == {
        "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
        "Location": {"ObjectArn": "arn:aws:s3:::club-reports/batch/manifests/drmodel-"
                                  f"{hashlib.sha256(manifest).hexdigest()[:16]}.csv",
                     "ETag": hashlib.md5(manifest).hexdigest()}}
    assert request["Report"] == {"Bucket": "arn:aws:s3:::club-reports", "Format": "Report_CSV_20180820",
                                 "Enabled": True, "Prefix": "batch", "ReportScope": "AllTasks"}
    assert request["Operation"] == {"S3PutObjectCopy": {"TargetResource": "arn:aws:s3:::aws-deepracer-dst",
                                                        "MetadataDirective": "COPY"}}
    assert (request["AccountId"], request["RoleArn"], request["ConfirmationRequired"]) == ("210987654321", ROLE, True)
    assert len(request["ClientRequestToken"]) == 64
    assert batchops.create_job_request(j, manifest) == request  # a rerun asks for the same job
    other = (*COPIES, BatchCopy("aws-deepracer-src", "x", "aws-deepracer-dst", "x"))
    assert batchops.create_job_request(job(other), batchops.manifest_csv(other))["ClientRequestToken"] != \
        request["ClientRequestToken"]
    stubbed = fake_client("s3control")
    with Stubber(stubbed) as stub:  # the Stubber validates the request against the model too
        stub.add_response("create_job", {"JobId": "4ba7f1c2-0000-4000-8000-000000000001"}, request)
        assert stubbed.create_job(**request)["JobId"].startswith("4ba7f1c2")


def test_create_uploads_the_manifest_and_creates_the_job_with_its_etag() -> None:
    j = job(COPIES, confirmation_required=False)
    manifest = batchops.manifest_csv(COPIES)
    bucket, key = batchops.manifest_location(j, manifest)
    s3, control = fake_client("s3"), fake_client("s3control")
    etag = "9b2cf535f27731c974343645a3985328"  # as an SSE-KMS bucket answers: not the MD5
    with Stubber(s3) as s3_stub, Stubber(control) as control_stub:
        s3_stub.add_response("put_object", {"ETag": f'"{etag}"'},
                             {"Bucket": bucket, "Key": key, "Body": manifest, "ContentType": "text/csv"})
        expected = batchops.create_job_request(j, manifest, etag)
        control_stub.add_response("create_job", {"JobId": "job-1"}, expected)
        assert batchops.create_job(j, s3_client=s3, control=control) == ("job-1", etag)
        s3_stub.assert_no_pending_responses()
        control_stub.assert_no_pending_responses()
    assert expected["Manifest"]["Location"]["ETag"] == etag and expected["ConfirmationRequired"] is False


def test_a_refused_create_job_is_one_line_naming_the_permissions() -> None:
    s3, control = fake_client("s3"), fake_client("s3control")
    with Stubber(s3) as s3_stub, Stubber(control) as control_stub:
        s3_stub.add_response("put_object", {"ETag": '"abc"'})
        control_stub.add_client_error("create_job", "AccessDenied", "Access Denied", 403)
        with pytest.raises(Exception) as exc:
            batchops.create_job(job(COPIES), s3_client=s3, control=control)
    assert getattr(exc.value, "exit_code", None) == ExitCode.ACCESS_DENIED
    assert "grant s3:CreateJob, and iam:PassRole on " + ROLE in str(exc.value) and "\n" not in str(exc.value)


# -- planning a bucket, the IAM documents and the folder -------------------------------------------------------------
def _arn_prefixes(resources: list[str], bucket: str) -> list[str]:
    head = f"arn:aws:s3:::{bucket}/"
    assert all(r.startswith(head) and r.endswith("*") and "*" not in r[:-1] for r in resources), resources
    return sorted(r[len(head):-1] for r in resources)


def test_a_legacy_bucket_is_planned_model_by_model_with_exact_iam_resources(moto_buckets: Any, tmp_path: Path) -> None:
    client, src, dst = moto_buckets
    objects = legacy_bucket(src, scale=0.001)
    put_all(client, src, objects)
    j = batchops.plan_batch(f"s3://{src}", f"s3://{dst}", role_arn=ROLE, report="s3://club-reports/batch")
    assert j.models == ("Apex-Hunter", "Apex-Hunter-2") and j.prefixes == tuple(sorted(LEGACY_PREFIXES))
    expected = sorted(k for k in objects if not k.startswith("DeepRacer-Metrics/"))  # what drmodel copy copies
    assert [c.source_key for c in j.copies] == expected and all(c.target_key == c.source_key for c in j.copies)
    assert {(c.source_bucket, c.target_bucket) for c in j.copies} == {(src, dst)}
    assert any("training_params" in n and f"still name {src}" in n for n in j.notes)
    files = batchops.write_job(j, tmp_path / "job", source_profile="racer", target_profile="club")
    docs = {name: json.loads(path.read_text()) for name, path in files.items() if name.endswith(".json")}
    policy = {s["Sid"]: s for s in docs["role-policy.json"]["Statement"]}
    assert _arn_prefixes(policy["ReadSourceModels"]["Resource"], src) == sorted(LEGACY_PREFIXES)
    assert _arn_prefixes(policy["WriteTargetModels"]["Resource"], dst) == sorted(LEGACY_PREFIXES)
    assert policy["ReadSourceModels"]["Action"] == ["s3:GetObject", "s3:GetObjectTagging"]
    assert policy["WriteTargetModels"]["Action"] == ["s3:PutObject", "s3:PutObjectTagging"]
    manifest = files["manifest.csv"].read_bytes()
    bucket, key = batchops.manifest_location(j, manifest)
    assert policy["ReadManifest"]["Resource"] == f"arn:aws:s3:::{bucket}/{key}" and bucket == "club-reports"
    assert policy["WriteReport"]["Resource"] == "arn:aws:s3:::club-reports/batch/*"
    assert docs["role-trust.json"]["Statement"] == [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "batchoperations.s3.amazonaws.com"}}]
    [grant] = docs["source-bucket-policy.json"]["Statement"]
    assert grant["Principal"] == {"AWS": ROLE} and _arn_prefixes(grant["Resource"], src) == sorted(LEGACY_PREFIXES)
    assert docs["create-job.json"] == batchops.create_job_request(j, manifest)
    readme = files["README.txt"].read_text()
    for command in (f"aws s3api put-bucket-policy --bucket {src} --policy file://source-bucket-policy.json "
                    "--profile racer",
                    "aws iam create-role --role-name DeepRacerBatchCopy --assume-role-policy-document "
                    "file://role-trust.json --profile club",
                    f"aws s3api put-object --bucket club-reports --key {key} --body manifest.csv --profile club",
                    "aws s3control create-job --cli-input-json file://create-job.json --profile club "
                    "--region us-east-1",
                    "--requested-job-status Ready", "drmodel batch --verify-report s3://club-reports/batch/job-JOB_ID/"
                    f"manifest.json s3://{src} s3://{dst} --source-profile racer --target-profile club"):
        assert command in readme, command


def test_thousands_of_models_fall_back_to_the_legacy_families_never_to_the_bucket() -> None:
    prefixes = tuple(f"{fam}Model-{i}/" for i in range(400) for fam in ("model-metadata/", "reward-functions/")) + \
        tuple(f"{legacy_prefix('123456789012', '20200427103015', f'{i:08d}-0000-4000-8000-000000000000')}/"
              for i in range(400))
    j = job(COPIES, prefixes=prefixes, models=tuple(f"Model-{i}" for i in range(400)))
    policy = batchops.role_permissions_policy(j, batchops.manifest_csv(COPIES))
    assert len(json.dumps(policy, separators=(",", ":"))) <= batchops.ROLE_POLICY_LIMIT
    assert _arn_prefixes(policy["Statement"][0]["Resource"], "aws-deepracer-src") == [
        "DeepRacer-SageMaker-RoboMaker-comm-", "model-metadata/", "reward-functions/"]
    drfc = job(COPIES, prefixes=tuple(f"drfc-run-{i:04d}/" for i in range(400)))
    with pytest.raises(UsageError, match="split the batch into smaller jobs with --only"):
        batchops.role_permissions_policy(drfc, batchops.manifest_csv(COPIES))


def test_a_drfc_bucket_copies_its_training_prefix_not_custom_files(moto_buckets: Any) -> None:
    client, src, dst = moto_buckets
    put_all(client, src, drfc_prefix(src))
    j = batchops.plan_batch(f"s3://{src}", f"s3://{dst}", role_arn=ROLE, report="s3://club-reports/batch")
    assert j.models == ("rl-deepracer-sagemaker",) and j.prefixes == ("rl-deepracer-sagemaker/",)
    assert j.copies and all(c.source_key.startswith("rl-deepracer-sagemaker/") for c in j.copies)


def test_the_target_is_never_overwritten_and_a_rerun_plans_what_is_left(moto_buckets: Any) -> None:
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.001))
    put_all(client, dst, placeholder(dst, "Apex-Hunter", scale=0.001))  # another model of that name
    first = batchops.plan_batch(f"s3://{src}", f"s3://{dst}", role_arn=ROLE, report="s3://club-reports/p")
    assert first.models == ("Apex-Hunter-2",)
    assert first.skipped[0].startswith("Apex-Hunter: the target holds ") and "drmodel copy" in first.skipped[0]
    done = first.copies[:3]  # the job stopped after three copies
    for c in done:
        client.copy_object(Bucket=dst, Key=c.target_key, CopySource={"Bucket": src, "Key": c.source_key})
    again = batchops.plan_batch(f"s3://{src}", f"s3://{dst}", role_arn=ROLE, report="s3://club-reports/p",
                                names=["Apex-Hunter-2"])
    assert again.copies == first.copies[3:]
    assert any(n.startswith("3 objects already in the target") for n in again.notes)


# -- the completion report --------------------------------------------------------------------------------------------
def test_the_report_says_per_key_what_succeeded_and_what_failed(tmp_path: Path) -> None:
    keys = ["model-metadata/Apex-Hunter/model_metadata.json", f"{P1}/model/1_Step-1.ckpt.index",
            "exports/Apex Hunter/Wed, 27 Oct 2021 19:42:10 GMT/model_metadata.json"]
    report = write_report(tmp_path / "r", rows_for("aws-deepracer-src", keys, failed=keys[1]))
    check = read_report(str(report))
    assert [t.key for t in check.tasks] == keys and [t.key for t in check.failed] == [keys[1]]
    code, out, err = cli("batch", "--verify-report", str(report))
    assert code == ExitCode.TRANSFER_FAILED, err
    assert f"FAILED     {keys[1]}  403 AccessDenied Access Denied" in out
    assert f"succeeded  {keys[2]}" in out and "Report: 3 tasks, 2 succeeded, 1 failed." in out
    ok = write_report(tmp_path / "ok", rows_for("aws-deepracer-src", keys))
    code, out, _ = cli("batch", "--verify-report", str(ok / "manifest.json"), "--json")
    doc = json.loads(out)
    assert code == ExitCode.OK and doc["verify"]["succeeded"] == 3 and doc["verify"]["failed"] == 0
    bad = write_report(tmp_path / "bad", rows_for("aws-deepracer-src", keys), checksum="0" * 32)
    code, out, err = cli("batch", "--verify-report", str(bad))
    assert code == ExitCode.DIFFERENT and "differs from the MD5Checksum" in err and "Traceback" not in err


def test_the_report_and_the_target_compared_with_the_source(moto_buckets: Any, tmp_path: Path) -> None:
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.001))
    j = batchops.plan_batch(f"s3://{src}", f"s3://{dst}", role_arn=ROLE, report="s3://club-reports/p")
    keys = [c.source_key for c in j.copies]
    for key in keys:  # what the job does
        client.copy_object(Bucket=dst, Key=key, CopySource={"Bucket": src, "Key": key})
    report = write_report(tmp_path / "r", rows_for(src, keys))
    code, out, err = cli("batch", "--verify-report", str(report), f"s3://{src}", f"s3://{dst}")
    assert code == ExitCode.OK, err
    assert f"succeeded  {keys[0]}  (same size and ETag)" in out and f"{len(keys)} compared, 0 missing" in out
    client.put_object(Bucket=dst, Key=keys[0], Body=b"tampered")
    client.delete_object(Bucket=dst, Key=keys[1])
    code, out, _ = cli("batch", "--verify-report", str(report), f"s3://{src}", f"s3://{dst}")
    assert code == ExitCode.DIFFERENT and "DIFFERENT size: 8 bytes" in out and "MISSING in the target" in out


# -- the command -----------------------------------------------------------------------------------------------------
def test_the_command_writes_the_job_folder(moto_buckets: Any, tmp_path: Path) -> None:
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.001))
    out_dir = tmp_path / "job"
    code, out, err = cli("batch", f"s3://{src}", f"s3://{dst}", "--out", str(out_dir), "--only", "Apex-Hunter",
                         "--role-arn", ROLE, "--report", "s3://club-reports/batch")
    assert code == ExitCode.OK, err
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(batchops.FILES)
    assert out.startswith("Batch: 1 model, ") and "README.txt" in out
    lines = (out_dir / "manifest.csv").read_text().splitlines()
    assert lines and all(line.startswith(f"{src},") for line in lines)
    assert not any("Apex-Hunter-2" in line for line in lines)
    request = json.loads((out_dir / "create-job.json").read_text())
    model = botocore.session.get_session().get_service_model("s3control").operation_model("CreateJob")
    assert not ParamValidator().validate(request, model.input_shape).has_errors()


@pytest.mark.parametrize(("argv", "message"), [
    (["s3://aws-deepracer-a", "s3://aws-deepracer-b", "--all", "--out", "d", "--report", "s3://club-reports/p"],
     "drmodel batch needs --role-arn - see `drmodel batch --help`"),
    (["s3://aws-deepracer-a", "s3://aws-deepracer-b", "--out", "d", "--role-arn", ROLE, "--report", "s3://club-reports/p"],
     "drmodel batch needs --all or --only NAMES"),
    (["s3://aws-deepracer-a", "s3://aws-deepracer-b", "--all", "--out", "d", "--role-arn", "DeepRacerBatchCopy",
      "--report", "s3://club-reports/p"], "--role-arn 'DeepRacerBatchCopy' is not an IAM role ARN"),
    (["s3://aws-deepracer-a/Apex-Hunter", "s3://aws-deepracer-b", "--all", "--out", "d", "--role-arn", ROLE,
      "--report", "s3://club-reports/p"], "SOURCE s3://aws-deepracer-a/Apex-Hunter is not a bucket"),
    (["--verify-report", "r", "s3://aws-deepracer-a"], "give both, or neither"),
])
def test_usage_errors_are_one_line_without_a_traceback(argv: list[str], message: str) -> None:
    code, out, err = cli("batch", *argv)
    assert code == ExitCode.USAGE and message in err, err
    assert err.count("\n") == 1 and err.startswith("drmodel: error: ") and "Traceback" not in err


def test_a_missing_report_is_not_found(tmp_path: Path) -> None:
    code, _, err = cli("batch", "--verify-report", str(tmp_path / "nothing"))
    assert code == ExitCode.NOT_FOUND and err.count("\n") == 1 and "manifest.json does not exist" in err
