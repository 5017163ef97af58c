"""The legacy console bucket on moto: finding models, planning, replacing a placeholder, errors."""

from __future__ import annotations

import json

import pytest

from drmodel.testing.synth import (
    legacy_bucket,
    legacy_keys,
    legacy_prefix,
    placeholder,
    placeholder_prefix,
    put_all,
    synth_model,
)
from helpers import Tty, changed_keys, cli, folder_digests, model_keys, record_requests, snapshot, write_folder

P1 = legacy_prefix("123456789012", "20200427103015", "4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17")
P2 = legacy_prefix("123456789012", "20200503081244", "b81d2e07-3c9a-4f15-8e6d-0a7c4b2f9e58")
PT = placeholder_prefix("Apex-Hunter")
SCALE = 0.01


@pytest.fixture
def buckets(moto_buckets):
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=SCALE))
    put_all(client, dst, placeholder(dst, "Apex-Hunter", scale=SCALE))
    # unrelated neighbours in the target that must never change
    put_all(client, dst, placeholder(dst, "Apex-Hunter-2", scale=SCALE) | {"notes/readme.txt": b"keep me"})
    return client, src, dst


def test_ls_lists_each_model_with_its_own_training_job(buckets):
    client, src, _ = buckets
    code, out, _ = cli("ls", f"s3://{src}", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == {"Apex-Hunter", "Apex-Hunter-2"}
    assert rows["Apex-Hunter"]["details"]["training_prefix"] == P1
    assert rows["Apex-Hunter-2"]["details"]["training_prefix"] == P2
    assert rows["Apex-Hunter"]["checkpoints"] == 4 and rows["Apex-Hunter-2"]["checkpoints"] == 1
    code, out, _ = cli("ls", f"s3://{src}")
    assert "20200427103015" in out and "Apex-Hunter-2" in out


def test_name_prefix_never_takes_the_other_models_files(buckets):
    _, src, _ = buckets
    code, out, _ = cli("show", f"s3://{src}/Apex-Hunter", "--json")
    assert code == 0
    info = json.loads(out)
    keys = [f["key"] for f in info["files"]]
    assert all("Apex-Hunter-2" not in k and P2 not in k for k in keys)
    assert info["checkpoints"]["best"] == "140_Step-123889.ckpt"
    assert info["checkpoints"]["last"] == "145_Step-136982.ckpt"
    assert info["metadata"]["action_space"].startswith("discrete, 5 actions")
    code, out, _ = cli("show", f"s3://{src}/Apex-Hunter-2", "--json")
    assert [f["key"] for f in json.loads(out)["files"] if "31_Step" in f["key"]]


def test_tie_by_metadata_content_when_no_training_params(moto_buckets):
    client, src, _ = moto_buckets
    objects = legacy_bucket(src, scale=SCALE)
    objects = {k: v for k, v in objects.items() if "training_params" not in k}
    # make Apex-Hunter-2's metadata differ so the content tie is unique
    other = objects["model-metadata/Apex-Hunter-2/model_metadata.json"].replace(b'"version": "4"', b'"version": "5"')
    objects["model-metadata/Apex-Hunter-2/model_metadata.json"] = other
    objects[f"{P2}/model/model_metadata.json"] = other
    put_all(client, src, objects)
    code, out, _ = cli("ls", f"s3://{src}", "--json")
    rows = {r["name"]: r["details"]["training_prefix"] for r in json.loads(out)}
    assert rows == {"Apex-Hunter": P1, "Apex-Hunter-2": P2}


def test_several_training_jobs_ask_for_training_job(moto_buckets):
    client, src, _ = moto_buckets
    p3 = legacy_prefix("123456789012", "20200601090000", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee")
    put_all(client, src, legacy_bucket(src, scale=SCALE))
    put_all(client, src, legacy_keys("Apex-Hunter", p3, synth_model("Apex-Hunter", bucket=src, prefix=p3,
                                                                     timestamp="20200601090000", scale=SCALE)))
    code, _, err = cli("show", f"s3://{src}/Apex-Hunter")
    assert code == 6
    assert "20200427103015" in err and "20200601090000" in err and "--training-job" in err
    assert "\n" not in err.strip()  # one line
    code, out, _ = cli("show", f"s3://{src}/Apex-Hunter", "--training-job", "20200601090007", "--json")
    assert code == 0 and json.loads(out)["details"]["training_prefix"] == p3


def test_dry_run_changes_nothing(buckets):
    client, src, dst = buckets
    before = snapshot(client, dst), snapshot(client, src)
    code, out, _ = cli("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", "--dry-run")
    assert code == 0
    assert "Would upload" in out and "DELETE" in out and "OVERWRITE" in out and PT in out
    assert (snapshot(client, dst), snapshot(client, src)) == before


def test_no_terminal_refuses_without_yes(buckets):
    client, src, dst = buckets
    before = snapshot(client, dst)
    code, out, err = cli("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter")
    assert code == 7 and "--yes" in err and "Will upload" in out
    assert snapshot(client, dst) == before


def test_terminal_answer_no_refuses(buckets):
    client, src, dst = buckets
    before = snapshot(client, dst)
    code, _, err = cli("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", stdin=Tty("n\n"))
    assert code == 7 and "Proceed?" in err
    assert snapshot(client, dst) == before


def test_replace_placeholder_then_restore(buckets, tmp_path):
    client, src, dst = buckets
    src_before, dst_before = snapshot(client, src), snapshot(client, dst)
    code, out, err = cli("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", "--yes",
                         "--backup-to", str(tmp_path / "bk"), "--checkpoint", "all")
    assert code == 0, err
    after = snapshot(client, dst)
    assert snapshot(client, src) == src_before
    # only the target model's own keys changed
    allowed = set(model_keys(after, "Apex-Hunter", PT)) | set(model_keys(dst_before, "Apex-Hunter", PT))
    assert changed_keys(dst_before, after) <= allowed
    assert {k: v for k, v in after.items() if k not in allowed} == {
        k: v for k, v in dst_before.items() if k not in allowed}
    # model/ holds exactly the source's files, stale placeholder checkpoints removed
    src_model = {k[len(P1):]: v for k, v in src_before.items() if k.startswith(P1 + "/model/")}
    dst_model = {k[len(PT):]: v for k, v in after.items() if k.startswith(PT + "/model/")}
    assert dst_model == src_model
    assert not any("1_Step-1021" in k for k in after if k.startswith(PT))
    assert after[f"{PT}/model/model_metadata.json"] == after["model-metadata/Apex-Hunter/model_metadata.json"]
    assert after["reward-functions/Apex-Hunter/reward_function.py"] == src_before[
        "reward-functions/Apex-Hunter/reward_function.py"]
    # the copied training params name the target's own bucket and prefix
    params = client.get_object(Bucket=dst, Key=f"{PT}/training_params_1.yaml")["Body"].read().decode()
    assert f'SAGEMAKER_SHARED_S3_BUCKET: "{dst}"' in params and f'SAGEMAKER_SHARED_S3_PREFIX: "{PT}"' in params
    assert 'METRICS_S3_OBJECT_KEY: "DeepRacer-Metrics/TrainingMetrics-20261101120000.json"' in params
    assert "Backup:" in out and "drmodel restore" in out
    code, out, _ = cli("verify", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter")
    assert code == 0 and "IDENTICAL" in out
    backup = next((tmp_path / "bk").iterdir())
    code, out, err = cli("restore", str(backup), "--yes", "--backup-to", str(tmp_path / "bk2"))
    assert code == 0, err
    assert snapshot(client, dst) == dst_before


def test_rerun_skips_verified_files(buckets, tmp_path):
    _, src, dst = buckets
    args = ("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", "--yes", "--backup-to", str(tmp_path),
            "--checkpoint", "all")
    assert cli(*args)[0] == 0
    code, out, _ = cli(*args)
    assert code == 0 and "Nothing to do" in out and "skip 26 identical" in out


def test_create_writes_a_new_training_prefix(buckets):
    client, src, dst = buckets
    code, _, err = cli("copy", f"s3://{src}/Apex-Hunter-2", f"s3://{dst}/Fresh-Model", "--yes")
    assert code == 3 and "--create" in err
    code, out, err = cli("copy", f"s3://{src}/Apex-Hunter-2", f"s3://{dst}/Fresh-Model", "--create",
                         "--account-id", "210987654321", "--yes")
    assert code == 0, err
    keys = snapshot(client, dst)
    prefixes = {k.split("/")[0] for k in keys if "20200503" not in k and k.startswith("DeepRacer-SageMaker")} - {PT}
    new = [p for p in prefixes if p.startswith("DeepRacer-SageMaker-RoboMaker-comm-210987654321-")]
    assert len(new) == 2 or len(new) == 1  # the other placeholder's prefix shares the account
    code, out, _ = cli("ls", f"s3://{dst}", "--json")
    assert "Fresh-Model" in {r["name"] for r in json.loads(out)}
    assert cli("verify", f"s3://{src}/Apex-Hunter-2", f"s3://{dst}/Fresh-Model")[0] == 0


def test_a_profile_that_assumes_a_role_lists_through_the_roles_credentials(buckets, tmp_path, monkeypatch):
    """A profile with role_arn and source_profile: botocore makes an STS client from drmodel's session (its shared
    loader, its S3-only endpoints table loading the rest for STS, its copied built-in handlers) and S3 is then
    asked with the role's credentials."""
    _, src, _ = buckets
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[profile racer]\nrole_arn = arn:aws:iam::123456789012:role/racer\nsource_profile = base\n"
                      "region = us-east-1\n")
    credentials.write_text("[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = base-secret\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    calls = record_requests(monkeypatch)
    code, out, err = cli("ls", f"s3://{src}", "--profile", "racer", "--json")
    assert code == 0, err
    assert {r["name"] for r in json.loads(out)} == {"Apex-Hunter", "Apex-Hunter-2"}
    done = [c for c in calls if c.phase == "done"]
    assert done[0].op == "AssumeRole" and "ListObjectsV2" in {c.op for c in done}, done
    assert done[0].access_key == "AKIABASE"  # the source profile's keys ask for the role...
    s3_keys = {c.access_key for c in done[1:]}
    assert len(s3_keys) == 1 and s3_keys.pop().startswith("ASIA"), done  # ...whose temporary keys ask S3


def test_unknown_model_suggests_close_names(buckets):
    _, src, _ = buckets
    code, _, err = cli("show", f"s3://{src}/Apex-Huntr")
    assert code == 3 and "Apex-Hunter" in err and "did you mean" in err
    assert "Traceback" not in err


def test_missing_bucket_and_not_a_layout(moto_buckets):
    client, src, _ = moto_buckets
    code, _, err = cli("ls", "s3://aws-deepracer-does-not-exist")
    assert code == 3 and "does not exist" in err
    client.put_object(Bucket=src, Key="photos/cat.jpg", Body=b"x")
    code, _, err = cli("ls", f"s3://{src}")
    assert code == 5 and "--layout" in err


def test_unreadable_metadata_json(buckets):
    client, src, dst = buckets
    client.put_object(Bucket=src, Key="model-metadata/Apex-Hunter/model_metadata.json", Body=b"{broken")
    code, _, err = cli("show", f"s3://{src}/Apex-Hunter")
    assert code == 5 and "not valid JSON" in err
    before = snapshot(client, dst)
    code, _, err = cli("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", "--yes")
    assert code == 5 and snapshot(client, dst) == before


def test_pull_writes_import_layout_and_manifest(buckets, tmp_path):
    _, src, _ = buckets
    target = tmp_path / "Apex-Hunter"
    code, _, err = cli("pull", f"s3://{src}/Apex-Hunter", str(target), "--checkpoint", "all")
    assert code == 0, err
    digests = folder_digests(target)
    manifest = json.loads((target / "drmodel-manifest.json").read_text())
    assert manifest["source"] == f"s3://{src}/Apex-Hunter" and manifest["drmodel_version"]
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert listed == {k: v for k, v in digests.items() if k != "drmodel-manifest.json"}
    assert {"model_metadata.json", "reward_function.py", "ip/hyperparameters.json", "training_params_1.yaml",
            "model/model_140.pb", "model/.coach_checkpoint"} <= set(listed)
    assert cli("verify", f"s3://{src}/Apex-Hunter", str(target))[0] == 0


def test_push_manual_folder_layout(buckets, tmp_path):
    client, src, dst = buckets
    files = synth_model("Apex-Hunter", bucket="x", prefix="y", timestamp="20200101000000", scale=SCALE, seed=7)
    manual = {("model-files/" + k[6:] if k.startswith("model/") else k): v for k, v in files.items()
              if k in ("model_metadata.json", "reward_function.py") or k.startswith("model/")}
    folder = write_folder(tmp_path / "manual", manual)
    code, out, err = cli("push", str(folder), f"s3://{dst}/Apex-Hunter", "--yes", "--backup-to", str(tmp_path / "b"),
                         "--checkpoint", "all")
    assert code == 0, err
    after = snapshot(client, dst)
    assert not any("1_Step-1021" in k for k in after if k.startswith(PT))
    code, out, _ = cli("verify", str(folder), f"s3://{dst}/Apex-Hunter", "--json")
    rows = json.loads(out)["files"]
    # every file of the folder is in the target; the placeholder's ip/ and training params stay (not in model/)
    assert all(r["status"] == "same" for r in rows if not r["status"] == "only in B")
    assert {r["path"] for r in rows if r["status"] == "only in B"} == {
        "ip/done", "ip/hyperparameters.json", "ip/ip.json", "training_params_1.yaml"}
    assert code == 8


def test_verify_lists_differences(buckets, tmp_path):
    client, src, dst = buckets
    assert cli("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", "--yes",
               "--backup-to", str(tmp_path), "--checkpoint", "all")[0] == 0
    client.put_object(Bucket=dst, Key=f"{PT}/model/model_145.pb", Body=b"tampered")
    client.delete_object(Bucket=dst, Key=f"{PT}/model/145_Step-136982.ckpt.index")
    code, out, _ = cli("verify", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter")
    assert code == 8 and "DIFFERENT: 2 of" in out
    assert "only in A" in out and "differs" in out


def test_local_to_local_copy_and_bad_targets(tmp_path):
    files = synth_model("M", bucket="x", prefix="y", timestamp="20200101000000", scale=SCALE)
    src = write_folder(tmp_path / "src", files)
    assert cli("copy", str(src), str(tmp_path / "dst"), "--checkpoint", "all")[0] == 0
    assert cli("verify", str(src), str(tmp_path / "dst"))[0] == 0
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.txt").write_text("x")
    code, _, err = cli("copy", str(src), str(tmp_path / "junk"))
    assert code == 2 and "not empty" in err
    code, _, err = cli("show", str(tmp_path / "nope"))
    assert code == 3


def test_a_no_op_rerun_into_a_prefix_learns_from_its_listing_whether_a_lock_is_there(buckets, tmp_path, monkeypatch):
    """The prefix layout lists the model's whole prefix: a rerun with nothing to change sends no HEAD for the
    lock, and a lock that is there (another host's run) is still found and reported."""
    client, src, dst = buckets
    args = ("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/drfc/Apex-Hunter", "--yes", "--create",
            "--backup-to", str(tmp_path))
    code, _, err = cli(*args)
    assert code == 0, err
    requests = record_requests(monkeypatch)
    code, out, _ = cli(*args)
    assert code == 0 and "Nothing to do" in out
    assert not [r for r in requests if r.op == "HeadObject" and r.key.endswith("drmodel.lock")], requests
    lock = {"host": "another-host", "pid": 1, "run": "r", "command": "copy", "started": "2026-11-29T00:00:00+00:00"}
    client.put_object(Bucket=dst, Key="drfc/Apex-Hunter/drmodel.lock", Body=json.dumps(lock).encode())
    code, out, err = cli(*args)
    assert code != 0 and "another-host" in err and "--break-lock" in err, out + err
