"""`drmodel copy CONTAINER CONTAINER --all|--only --grant-read`: ONE temporary read grant on the source bucket for the
whole batch, on SeaweedFS with two identities standing for two accounts (as tests/test_grant_copy.py): added before
the first model starts, every model copied inside S3 with the target's credentials, removed after the last one ends
(also when a model fails), the policy proven as it was; a SIGKILL leaves a grant that a rerun sweeps.

SeaweedFS matches a principal ARN literally, so these batches name the target identity's ARN with --grant-to.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import test_grant_copy
from drmodel import api, batchrun
from drmodel.grant import RECORD_PREFIX, SID_PREFIX
from drmodel.stores.base import PROOF_COPY_CHECKSUMS, PROOF_COPY_ETAG
from drmodel.testing.localserver import s3_client, write_aws_profiles
from drmodel.testing.synth import placeholder, put_all
from helpers import cli, record_requests, snapshot
from test_batch import _populate
from test_grant import _policy, _put_policy, _reads, _theirs
from test_grant_copy import NO_ADMIN_SOURCE, NO_ADMIN_TARGET, kill_while_paused

no_admin = test_grant_copy.no_admin  # the fixture: a SeaweedFS whose source identity may not change its policy
SERVER_SIDE = {PROOF_COPY_ETAG, PROOF_COPY_CHECKSUMS}
MODELS = ("Apex-Hunter", "Apex-Hunter-2", "Zigzag-7")  # --only: three of the four models _populate puts


def _batch_args(acc, tmp_path: Path, *extra: str) -> list[str]:
    return ["copy", f"s3://{acc.source_bucket}", f"s3://{acc.target_bucket}", "--source-profile", "src",
            "--target-profile", "dst", "--account-id", "210987654321", "--backup-to", str(tmp_path / "bk"),
            "--report", str(tmp_path / "report.json"), "--checkpoint", "all", "--only", *MODELS,
            "--grant-read", "--grant-to", acc.target.principal_arn, *extra]


SLOWPOKE_JOB = "-20200601101010-"  # the training prefix of Slowpoke, the model the batch leaves out


def _checkpoints(acc, *, left_out: bool = False) -> list[str]:
    """The .pb checkpoints of the batch's models (what the grant opens, and only while the batch runs), or with
    `left_out` those of the model it leaves out (never opened)."""
    keys = [k for k in snapshot(acc.source_client, acc.source_bucket) if k.endswith(".pb")]
    chosen = [k for k in keys if (SLOWPOKE_JOB in k) == left_out]
    assert chosen and len({k.split("/")[0] for k in chosen}) == (1 if left_out else len(MODELS))
    return chosen


def _ours(policy: str | None) -> list[dict]:
    statements = json.loads(policy)["Statement"] if policy else []
    return [s for s in statements if str(s.get("Sid", "")).startswith(SID_PREFIX)]


def _same(acc, name: str) -> bool:
    return bool(api.verify(f"s3://{acc.source_bucket}/{name}", f"s3://{acc.target_bucket}/{name}", a_profile="src",
                           b_profile="dst").identical)


def test_one_grant_for_the_batch_every_copy_inside_s3_and_no_policy_left(two_accounts, tmp_path, monkeypatch):
    acc = two_accounts
    _populate(acc)
    keys = _checkpoints(acc)
    assert _policy(acc) is None and not any(_reads(acc, k) for k in keys)
    requests = record_requests(monkeypatch)
    code, out, err = cli(*_batch_args(acc, tmp_path), "--yes", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert {m["name"]: m["status"] for m in doc["models"]} == dict.fromkeys(MODELS, "copied")
    for m in doc["models"]:
        assert SERVER_SIDE & set(m["proofs"]), m  # the checkpoints: copied inside S3, proven by S3's answer
        assert set(m["proofs"]) <= SERVER_SIDE | {"CRC32 checked by S3"}, m  # the small files planning read
        assert "temporary read grant" in m["transfer"]
    grant = doc["grant"]
    assert grant["removed"] == [grant["sid"]] and grant["restored"] is True and grant["differences"] == []
    saved = Path(grant["policy_saved_in"])
    assert saved.name.startswith(RECORD_PREFIX) and saved.parent.parent == tmp_path / "bk"
    assert json.loads(saved.read_text())["had_policy"] is False
    assert doc["details"]["grant"]["sid"].rsplit("-until-", 1)[0] == grant["sid"].rsplit("-until-", 1)[0]
    assert json.loads((tmp_path / "report.json").read_text())["grant"] == grant  # the report file says it too
    # ONE grant: put once before the first copy, deleted once after the last; all with the source owner's keys
    started = [r for r in requests if r.phase == "start"]
    ops = [r.op for r in started]
    copies = [i for i, op in enumerate(ops) if op in ("CopyObject", "UploadPartCopy")]
    assert ops.count("PutBucketPolicy") == 1 and ops.count("DeleteBucketPolicy") == 1
    assert ops.index("PutBucketPolicy") < copies[0] and copies[-1] < ops.index("DeleteBucketPolicy")
    assert all(r.access_key == acc.source.access_key for r in started if "BucketPolicy" in r.op)
    assert all(r.access_key == acc.target.access_key for r in started if r.op in ("CopyObject", "UploadPartCopy"))
    done = [r for r in requests if r.phase == "done"]
    source_reads = {r.key for r in done if r.bucket == acc.source_bucket and r.op == "GetObject"}
    assert not source_reads & set(keys)  # no checkpoint byte came through this machine
    assert _policy(acc) is None and not any(_reads(acc, k) for k in keys)  # no policy before, none after
    assert all(_same(acc, name) for name in MODELS)


def test_an_owners_policy_is_as_it_was_and_the_plan_shows_the_statement_once(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    keys = _checkpoints(acc)
    _put_policy(acc, _theirs(acc))
    original = _policy(acc)
    code, out, err = cli(*_batch_args(acc, tmp_path), "--dry-run")
    assert code == 0, err
    assert out.count(f"Grant: s3://{acc.source_bucket} lets {acc.target.principal_arn} read") == 1
    assert "one grant for the whole batch" in out and out.count('"Sid": "drmodel-grant-') == 1
    start = out.index("  [\n")
    shown = json.loads(out[start:out.index("\n  ]\n", start) + 4])
    assert shown[0]["Action"] == "s3:GetObject" and set(shown[0]["Condition"]) == {"DateLessThan"}
    assert _policy(acc) == original and not (tmp_path / "bk").exists()
    code, out, err = cli(*_batch_args(acc, tmp_path), "--yes")
    assert code == 0, err
    assert "Done: 3 copied of 3 models" in out
    assert "the policy is as it was before the grant" in out and "the policy before the grant is saved in" in out
    assert err.count("Grant: added drmodel-grant-") == 1 and "relaying" not in err
    assert _policy(acc) == original and not any(_reads(acc, k) for k in keys)  # to the byte
    records = list((tmp_path / "bk").glob(f"*/{RECORD_PREFIX}*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["policy"] == original


def test_a_statement_someone_else_adds_during_the_batch_is_kept(two_accounts, tmp_path, monkeypatch):
    acc = two_accounts
    _populate(acc)
    real = batchrun._run_models

    def and_someone_adds_theirs(*args, **kwargs):
        result = real(*args, **kwargs)
        now = json.loads(_policy(acc))
        assert len(_ours(json.dumps(now))) == 1  # the batch's grant, still in place after the last model
        now["Statement"].append(_theirs(acc, "AddedMeanwhile"))
        acc.source_client.put_bucket_policy(Bucket=acc.source_bucket, Policy=json.dumps(now))
        return result

    monkeypatch.setattr(batchrun, "_run_models", and_someone_adds_theirs)
    code, out, err = cli(*_batch_args(acc, tmp_path), "--yes")
    assert code == 0, err
    assert "others changed the policy meanwhile (kept):" in out and "statement AddedMeanwhile was added" in out
    left = json.loads(_policy(acc))["Statement"]
    assert [s["Sid"] for s in left] == ["AddedMeanwhile"] and not _ours(_policy(acc))
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["grant"]["restored"] is False and report["grant"]["differences"]


def test_a_failed_model_does_not_stop_the_others_and_the_grant_is_still_removed(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    keys = _checkpoints(acc)
    put_all(acc.target_client, acc.target_bucket, placeholder(acc.target_bucket, "Zigzag-7"))  # its lock's place
    batch = api.plan_batch(api.BatchRequest(api.ModelRef(f"s3://{acc.source_bucket}", "src"),
                                            api.ModelRef(f"s3://{acc.target_bucket}", "dst"), only=MODELS,
                                            account_id="210987654321", grant_read=True,
                                            grant_to=acc.target.principal_arn))
    assert batch.grant is not None and all(p.server_side and p.grant is None for p in batch.plans)
    zig = next(e.plan for e in batch.entries if e.name == "Zigzag-7")
    assert zig is not None and zig.lock is not None
    from drmodel.lock import model_lock

    with model_lock(zig.target_store, zig.lock.key, "copy"):  # another run writes Zigzag-7 the whole time
        code, out, err = cli(*_batch_args(acc, tmp_path), "--yes", "--json")
    assert code == 12, err
    doc = json.loads(out)
    by_name = {m["name"]: m for m in doc["models"]}
    assert by_name["Zigzag-7"]["status"] == "failed" and by_name["Zigzag-7"]["exit_code"] == 10
    assert by_name["Apex-Hunter"]["status"] == by_name["Apex-Hunter-2"]["status"] == "copied"
    assert doc["grant"]["restored"] is True and doc["grant"]["removed"] == [doc["grant"]["sid"]]
    assert _policy(acc) is None and not any(_reads(acc, k) for k in keys)
    assert _same(acc, "Apex-Hunter") and _same(acc, "Apex-Hunter-2")


def test_a_grant_the_source_owner_may_not_put_copies_nothing(no_admin, tmp_path, monkeypatch):
    """The source credentials may read and list but not PutBucketPolicy (a SeaweedFS identity without Admin): exit 4,
    one line, no model started, no record of a grant that never was."""
    source, target = no_admin.identities
    for name, value in write_aws_profiles(tmp_path / "aws", {"src": (source, no_admin.endpoint),
                                                              "dst": (target, no_admin.endpoint)}).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    acc = SimpleNamespace(source_client=s3_client(no_admin.endpoint, source.access_key, source.secret_key),
                          target_client=s3_client(no_admin.endpoint, target.access_key, target.secret_key),
                          source_bucket=NO_ADMIN_SOURCE, target_bucket=NO_ADMIN_TARGET, target=target)
    _populate(acc)
    target_before, source_before = snapshot(acc.target_client, acc.target_bucket), snapshot(acc.source_client,
                                                                                           acc.source_bucket)
    code, out, err = cli(*_batch_args(acc, tmp_path), "--yes")
    assert code == 4, err
    assert "s3:PutBucketPolicy" in err and "nothing was copied" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "ok    " not in out and not (tmp_path / "report.json").exists()
    assert snapshot(acc.target_client, acc.target_bucket) == target_before  # no file, no lock left
    assert snapshot(acc.source_client, acc.source_bucket) == source_before
    assert not any(p.is_file() for p in (tmp_path / "bk").rglob("*"))


@pytest.mark.parametrize("target, extra, named", [
    ("local", [], "is not in S3"),
    ("droa://mine", [], "is not in S3"),
    ("bucket", ["--relay"], "--relay"),
    ("bucket", ["--same"], "same credentials"),
], ids=["local-target", "droa-target", "relay", "same-credentials"])
def test_what_the_batch_grant_cannot_do_is_a_usage_error(two_accounts, tmp_path, target, extra, named):
    acc = two_accounts
    args = _batch_args(acc, tmp_path)
    if target != "bucket":
        args[2] = str(tmp_path) if target == "local" else target
    if extra == ["--same"]:
        args = [a for a in args if a not in ("--source-profile", "src", "--target-profile", "dst")]
        extra = ["--profile", "dst"]
    code, out, err = cli(*args, *extra)
    assert code == 2, err
    assert named in err and "Traceback" not in err and len(err.strip().splitlines()) == 1 and out == ""
    assert "drop --grant-read" in err or "drop --relay" in err or "--source-profile" in err


# ---------------------------------------------------------------- a SIGKILL with the grant in place, and the rerun



@pytest.mark.parametrize("step, had_policy, paused", [("copying", False, 1), ("verifying", True, len(MODELS))],
                         ids=["copying-no-policy", "verifying-owners-policy"])
def test_a_rerun_after_a_sigkill_removes_the_batchs_grant_and_finishes(two_accounts, tmp_path, step, had_policy,
                                                                       paused):
    """Killed with the batch's grant in place: while copying (the rerun removes it, then copies the rest under a
    grant of its own), or once every model's files are written (the rerun needs no grant and removes the dead
    run's all the same)."""
    acc = two_accounts
    _populate(acc)
    keys = _checkpoints(acc)
    if had_policy:
        _put_policy(acc, _theirs(acc))
    original = _policy(acc)
    kill_while_paused(acc, tmp_path, step, [*_batch_args(acc, tmp_path), "--yes"], paused)
    left = _ours(_policy(acc))
    assert len(left) == 1 and all(_reads(acc, k) for k in keys)  # the dead batch's one grant: it would expire
    assert not any(_reads(acc, k) for k in _checkpoints(acc, left_out=True))  # only the batch's models
    code, out, err = cli(*_batch_args(acc, tmp_path), "--yes")
    assert code == 0, err
    assert f"Grant: removed {left[0]['Sid']} from s3://{acc.source_bucket}'s policy (left by an earlier run)" in err
    assert "that process is gone" in err  # a dead run's model lock, taken over
    if step == "copying":
        assert "the policy is as it was before the grant" in out and err.count("Grant: added") == 1
    else:
        assert "Done: 3 up to date of 3 models" in out and "Grant: added" not in err
    assert _policy(acc) == original and not any(_reads(acc, k) for k in keys)
    assert all(_same(acc, name) for name in MODELS)


def test_the_policy_command_covers_every_model_of_a_batch():
    """`drmodel policy --grant-read` with two buckets (a batch's containers): every model's keys, no `//` hole."""
    code, out, err = cli("policy", "--source", "s3://aws-deepracer-src", "--target", "s3://aws-deepracer-dst",
                         "--grant-read")
    assert code == 0, err
    doc = json.loads(out)
    reads = next(s for s in doc["grant_target_account_policy"]["Statement"]
                 if s["Sid"] == "ReadSourceModelThroughTheGrant")["Resource"]
    assert reads == [f"arn:aws:s3:::aws-deepracer-src/{where}" for where in (
        "model-metadata/*", "reward-functions/*", "DeepRacer-SageMaker-RoboMaker-comm-*")]
    assert "//" not in out.replace("https://", "")


def test_reads_through_a_dead_batchs_grant_are_not_taken_for_the_targets_own(two_accounts, tmp_path):
    """A dead batch's grant (same scope, unexpired) that happens to let the target read the source's metadata: the
    rerun removes it before copying, so planning must not count those reads as a standing permission (the copies
    would then be refused and relayed); it plans a grant of its own."""
    from datetime import UTC, datetime, timedelta

    from drmodel.grant import GrantId, grant_scope, grant_statement

    acc = two_accounts
    _populate(acc)
    scope = grant_scope(acc.target.principal_arn, f"s3://{acc.target_bucket}")
    dead = GrantId(scope, "abcdef", datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)).sid
    statement = grant_statement(acc.source_bucket, ["model-metadata/"], acc.target.principal_arn,
                                datetime.now(UTC) + timedelta(hours=1), dead)  # the metadata only: what planning asks
    _put_policy(acc, statement)
    assert _reads(acc, "model-metadata/Apex-Hunter/model_metadata.json")
    code, out, err = cli(*_batch_args(acc, tmp_path), "--yes", "--json")
    assert code == 0, err
    assert f"Grant: removed {dead} from" in err and "(left by an earlier run)" in err
    assert err.count("Grant: added") == 1 and "relaying" not in err
    doc = json.loads(out)
    assert all(SERVER_SIDE & set(m["proofs"]) for m in doc["models"]), doc["models"]
    assert doc["grant"]["restored"] is True and _policy(acc) is None


def test_ctrl_c_during_the_batch_removes_the_grant_and_says_so(two_accounts, tmp_path, monkeypatch):
    acc = two_accounts
    _populate(acc)
    from drmodel import cancel

    real, pressed = batchrun.wait, []

    def ctrl_c_once_the_models_run(*args, **kwargs):
        if not pressed:
            pressed.append(True)
            assert len(_ours(_policy(acc))) == 1  # the grant is in place while the models run
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(batchrun, "wait", ctrl_c_once_the_models_run)
    try:
        code, out, err = cli(*_batch_args(acc, tmp_path), "--yes")
    finally:
        cancel.release_interrupts()
        cancel.reset()  # the process would end here: the next test's planning must not see the Ctrl-C
    assert code == 130, err
    assert pressed and "the policy is as it was before the grant" in out
    assert _policy(acc) is None
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["grant"]["restored"] is True and report["exit_code"] == 130


def test_a_grant_that_cannot_be_removed_is_reported_and_exits_9(two_accounts, tmp_path, monkeypatch):
    acc = two_accounts
    _populate(acc)
    import drmodel.grant
    from drmodel.errors import TransferError

    def refused(grant, **kwargs):
        raise TransferError("the policy service is down", fix="try later")

    monkeypatch.setattr(drmodel.grant, "remove_grant", refused)
    code, out, err = cli(*_batch_args(acc, tmp_path), "--yes", "--json")
    assert code == 9, err
    doc = json.loads(out)
    assert doc["counts"]["copied"] == len(MODELS)  # the models' outcomes are all there
    assert "could not remove the grant" in doc["grant_problem"] and "expires by itself" in doc["grant_problem"]
    assert doc["grant"]["removed"] == [] and len(_ours(_policy(acc))) == 1  # left to its expiry, or a rerun
