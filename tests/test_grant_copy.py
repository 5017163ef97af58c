"""`drmodel copy --grant-read` end to end on SeaweedFS with two identities standing for two accounts (issue 20): the
source owner's credentials add one expiring statement to the source bucket's policy, the target's credentials copy
inside S3, the statement is removed and the policy proven as it was.

The target's identity (acct-b) has no read on the source bucket otherwise (tests/test_grant.py shows SeaweedFS
enforcing it). SeaweedFS matches a principal ARN literally (its users are not covered by their account's root ARN),
so these copies name the target identity's ARN with --grant-to.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from drmodel import api, execute
from drmodel.errors import InterruptedRun
from drmodel.grant import RECORD_PREFIX, SID_PREFIX, parse_sid
from drmodel.stores.base import PROOF_COPY_CHECKSUMS, PROOF_COPY_ETAG
from drmodel.testing.localserver import ACTIONS, Identity, SeaweedS3, s3_client, write_aws_profiles
from drmodel.testing.synth import legacy_bucket, placeholder, put_all
from helpers import cli, record_requests, snapshot
from test_grant import _policy, _put_policy, _reads, _theirs

SRC_ROOT = Path(__file__).resolve().parents[1] / "src"
SERVER_SIDE = {PROOF_COPY_ETAG, PROOF_COPY_CHECKSUMS}


def _populate(acc, *, target: bool = True) -> None:
    put_all(acc.source_client, acc.source_bucket, legacy_bucket(acc.source_bucket, scale=0.02))
    if target:
        put_all(acc.target_client, acc.target_bucket, placeholder(acc.target_bucket, "Apex-Hunter", scale=0.02))


def _copy_args(acc, tmp_path: Path, name: str = "Apex-Hunter", *extra: str) -> list[str]:
    return ["copy", f"s3://{acc.source_bucket}/Apex-Hunter", f"s3://{acc.target_bucket}/{name}", "--source-profile",
            "src", "--target-profile", "dst", "--backup-to", str(tmp_path / "bk"), "--checkpoint", "all", *extra]


def _grant_args(acc) -> list[str]:
    return ["--grant-read", "--grant-to", acc.target.principal_arn]


def _model_key(acc) -> str:
    """A checkpoint of the source model: what the grant opens, and only while the copy runs."""
    keys = [o["Key"] for o in acc.source_client.list_objects_v2(Bucket=acc.source_bucket)["Contents"]]
    return next(k for k in keys if k.endswith(".pb"))


def _ours(policy: str | None) -> list[dict]:
    statements = json.loads(policy)["Statement"] if policy else []
    return [s for s in statements if str(s.get("Sid", "")).startswith(SID_PREFIX)]


def test_the_grant_copy_runs_inside_s3_and_leaves_no_policy_behind(two_accounts, tmp_path, monkeypatch):
    acc = two_accounts
    _populate(acc)
    key = _model_key(acc)
    assert not _reads(acc, key) and _policy(acc) is None
    plan = api.plan_transfer("copy", f"s3://{acc.source_bucket}/Apex-Hunter", f"s3://{acc.target_bucket}/Apex-Hunter",
                             source_profile="src", target_profile="dst", backup_to=str(tmp_path / "bk"),
                             checkpoint="all", grant_read=True, grant_to=acc.target.principal_arn)
    copied = {a.key: a.source_key for a in plan.writes if a.data is None}
    assert plan.server_side and plan.grant is not None and copied
    assert plan.grant.items == tuple(sorted(copied.values()))  # exactly the keys the copies read
    requests = record_requests(monkeypatch)
    result = api.execute(plan)
    assert result.relayed is None  # no copy was refused: nothing fell back to the relay
    assert {result.proofs[k] for k in copied} <= SERVER_SIDE
    calls = [r for r in requests if r.phase == "done"]
    source_reads = {r.key for r in calls if r.bucket == acc.source_bucket and r.op == "GetObject"}
    assert not source_reads & set(copied.values())  # no byte of a copied file came through this machine
    assert {r.key for r in calls if r.op in ("CopyObject", "UploadPartCopy")} == set(copied)
    assert all(r.access_key == acc.target.access_key for r in calls if r.op in ("CopyObject", "UploadPartCopy"))
    ops = [r.op for r in requests if r.phase == "start"]  # the grant is put before the copies, deleted after
    copies = [i for i, op in enumerate(ops) if op in ("CopyObject", "UploadPartCopy")]
    assert ops.index("PutBucketPolicy") < copies[0] and copies[-1] < ops.index("DeleteBucketPolicy")
    assert all(r.access_key == acc.source.access_key for r in requests if "BucketPolicy" in r.op)
    removal = result.grant.removal
    assert removal.restored and removal.removed == (result.grant.sid,)
    assert _policy(acc) is None and not _reads(acc, key)  # no policy before, none after
    record = json.loads(result.grant.record.read_text())
    assert record["had_policy"] is False and result.grant.record.parent == result.backup
    code, out, _ = cli("verify", f"s3://{acc.source_bucket}/Apex-Hunter", f"s3://{acc.target_bucket}/Apex-Hunter",
                       "--source-profile", "src", "--target-profile", "dst")
    assert code == 0 and "IDENTICAL" in out


def test_a_policy_the_owner_had_is_as_it_was_and_restore_ignores_the_saved_policy(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    key = _model_key(acc)
    _put_policy(acc, _theirs(acc))
    original = _policy(acc)
    target_before = snapshot(acc.target_client, acc.target_bucket)
    code, out, err = cli(*_copy_args(acc, tmp_path), *_grant_args(acc), "--yes")
    assert code == 0, err
    assert _policy(acc) == original and not _reads(acc, key)  # to the byte
    assert "server-side copy through a temporary read grant" in out
    assert "the policy is as it was before the grant" in out
    assert "relaying" not in err and "Grant: added drmodel-grant-" in err
    backup = next((tmp_path / "bk").iterdir())
    records = list(backup.glob(f"{RECORD_PREFIX}*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["policy"] == original
    assert f"the policy before the grant is saved in {records[0]}" in out
    # the backup folder holds the saved policy too: restore puts back the target's files and ignores it
    code, out, err = cli("restore", str(backup), "--yes", "--profile", "dst", "--backup-to", str(tmp_path / "bk2"))
    assert code == 0, err
    assert snapshot(acc.target_client, acc.target_bucket) == target_before
    assert _policy(acc) == original and records[0].exists()


def test_a_new_model_gets_a_folder_for_the_saved_policy_and_json_says_what_the_removal_proved(two_accounts,
                                                                                              tmp_path):
    acc = two_accounts
    _populate(acc, target=False)
    code, out, err = cli(*_copy_args(acc, tmp_path, "Fresh"), *_grant_args(acc), "--create", "--yes", "--json")
    assert code == 0, err
    doc = json.loads(out)
    grant = doc["grant"]
    assert doc["backup"] is None and grant["restored"] is True and grant["removed"] == [grant["sid"]]
    assert grant["differences"] == [] and grant["swept"] == []
    saved = Path(grant["policy_saved_in"])
    assert saved.parent.parent == tmp_path / "bk" and saved.name.startswith(RECORD_PREFIX)
    assert f"the policy before it is saved in {saved}" in err
    assert set(doc["proofs"].values()) <= SERVER_SIDE | {"CRC32 checked by S3"}
    assert _policy(acc) is None


def test_the_dry_run_shows_the_statement_and_changes_nothing(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    before = snapshot(acc.target_client, acc.target_bucket), snapshot(acc.source_client, acc.source_bucket)
    code, out, err = cli(*_copy_args(acc, tmp_path), *_grant_args(acc), "--dry-run")
    assert code == 0, err
    assert f"Grant: s3://{acc.source_bucket} lets {acc.target.principal_arn} read exactly" in out
    assert "the grant ends by itself at its aws:CurrentTime bound: the time it is added +" in out
    start = out.index("  [\n")
    shown = json.loads(out[start:out.index("\n  ]\n", start) + 4])
    assert shown[0]["Action"] == "s3:GetObject" and set(shown[0]["Condition"]) == {"DateLessThan"}
    assert parse_sid(shown[0]["Sid"]) is not None
    code, out, err = cli(*_copy_args(acc, tmp_path), *_grant_args(acc), "--dry-run", "--json")
    assert code == 0, err
    doc = json.loads(out)
    planned = doc["details"]["grant"]
    assert planned["statements"][0]["Resource"] == shown[0]["Resource"] and doc["grant"] is None
    assert "expiry_rule" in planned and planned["principal"] == acc.target.principal_arn
    assert (snapshot(acc.target_client, acc.target_bucket), snapshot(acc.source_client, acc.source_bucket)) == before
    assert _policy(acc) is None and not (tmp_path / "bk").exists()


@pytest.mark.parametrize("extra, named", [
    (["--relay"], "--relay"),
    (["--profile", "dst"], "same credentials"),
], ids=["relay", "same-credentials"])
def test_what_the_grant_cannot_do_is_a_usage_error(two_accounts, tmp_path, extra, named):
    acc = two_accounts
    args = _copy_args(acc, tmp_path)
    if extra[0] == "--profile":
        args = [a for a in args if a not in ("--source-profile", "src", "--target-profile", "dst")]
    code, out, err = cli(*args, *_grant_args(acc), *extra)
    assert code == 2 and named in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and out == ""


def test_a_local_side_or_an_unknown_target_account_is_a_usage_error(two_accounts, tmp_path, monkeypatch):
    acc = two_accounts
    _populate(acc)
    code, _, err = cli("copy", f"s3://{acc.source_bucket}/Apex-Hunter", str(tmp_path / "here"), "--source-profile",
                       "src", "--target-profile", "dst", *_grant_args(acc))
    assert code == 2 and "is not in S3" in err and len(err.strip().splitlines()) == 1
    from drmodel.stores.s3 import S3Store

    monkeypatch.setattr(S3Store, "account_id", lambda self: None)  # STS does not answer (MinIO, ...)
    code, _, err = cli(*_copy_args(acc, tmp_path), "--grant-read", "--dry-run")
    assert code == 2 and "--grant-to" in err and len(err.strip().splitlines()) == 1


def test_ctrl_c_during_the_copy_removes_the_grant_and_says_so(two_accounts, tmp_path, monkeypatch):
    acc = two_accounts
    _populate(acc)
    plan = api.plan_transfer("copy", f"s3://{acc.source_bucket}/Apex-Hunter", f"s3://{acc.target_bucket}/Apex-Hunter",
                             source_profile="src", target_profile="dst", backup_to=str(tmp_path / "bk"),
                             checkpoint="all", grant_read=True, grant_to=acc.target.principal_arn)

    def interrupted(*args, **kwargs):
        assert _ours(_policy(acc))  # the grant is in place while the copy runs
        execute.cancel.request()  # as Ctrl-C does (cancel._on_sigint): the transfers' requests stop, not the grant's
        raise KeyboardInterrupt

    monkeypatch.setattr(execute, "_verify_landed", interrupted)
    try:
        with pytest.raises(InterruptedRun) as caught:
            api.execute(plan)
    finally:
        execute.cancel.release_interrupts()
        execute.cancel.reset()
    assert "the read grant was removed from" in caught.value.message and "the policy is as it was" in str(caught.value)
    assert _policy(acc) is None


# ---------------------------------------------------------------- a SIGKILL mid-copy, and the rerun

# the copy paused while the grant is in place, for a SIGKILL: at "copying" (one file copied inside S3, every other
# copy hangs) or once every file is written; each thread that pauses leaves a file in the markers folder (argv[2]).
# test_grant_batch runs it for a batch too.
PAUSED_COPY = textwrap.dedent("""
    import sys, threading, time, uuid
    from pathlib import Path
    import drmodel.execute
    import drmodel.stores.s3 as s3
    from drmodel.cli.main import main

    step, markers = sys.argv[1], Path(sys.argv[2])
    copy, first = s3.server_side_copy, threading.Lock()

    def hang():
        (markers / uuid.uuid4().hex).touch()
        time.sleep(3600)

    def copy_one_then_hang(*args, **kwargs):  # one file lands inside S3, then every copy hangs until killed
        if not first.acquire(blocking=False):
            time.sleep(3600)
        copy(*args, **kwargs)
        hang()

    if step == "copying":
        s3.server_side_copy = copy_one_then_hang
    else:  # every file written, the grant still in place
        drmodel.execute._verify_landed = lambda *args, **kwargs: hang()
    sys.exit(main(sys.argv[3:]))
""")


def kill_while_paused(acc, tmp_path: Path, step: str, args: list[str], paused: int = 1) -> None:
    """Run `drmodel ARGS` with PAUSED_COPY at `step`, wait until our grant is in the policy and `paused` threads
    paused, then SIGKILL it."""
    markers = tmp_path / "paused"
    markers.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC_ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-c", PAUSED_COPY, step, str(markers), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120  # a guard against a hang, not a verdict
        while (not (_ours(_policy(acc)) and len(list(markers.iterdir())) >= paused) and proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.05)
        assert _ours(_policy(acc)) and len(list(markers.iterdir())) >= paused, proc.poll()
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()


@pytest.mark.parametrize("step, had_policy", [("copying", False), ("copying", True), ("verifying", True)],
                         ids=["copying-no-policy", "copying-owners-policy", "verifying-owners-policy"])
def test_a_rerun_after_a_sigkill_removes_the_stale_grant_and_finishes(two_accounts, tmp_path, step, had_policy):
    """Killed with the grant in place: while copying (the rerun copies the rest under a new grant, after removing
    the dead run's), or once every file is written (the rerun has nothing to copy and needs no grant: it removes
    the dead run's all the same)."""
    acc = two_accounts
    _populate(acc)
    key = _model_key(acc)
    if had_policy:
        _put_policy(acc, _theirs(acc))
    original = _policy(acc)
    kill_while_paused(acc, tmp_path, step, [*_copy_args(acc, tmp_path), *_grant_args(acc), "--yes"])
    left = _ours(_policy(acc))
    assert len(left) == 1 and _reads(acc, key)  # the dead run's grant: it would end by itself at its expiry
    code, out, err = cli(*_copy_args(acc, tmp_path), *_grant_args(acc), "--yes")
    assert code == 0, err
    assert f"Grant: removed {left[0]['Sid']} from s3://{acc.source_bucket}'s policy (left by an earlier run)" in err
    assert "that process is gone" in err  # the dead run's lock, taken over
    if step == "copying":
        assert "Done:" in out and "the policy is as it was before the grant" in out
    else:
        assert "--grant-read: no grant needed, nothing is copied" in out  # the stale deletes only are left
        assert "Grant: added" not in err
    assert _policy(acc) == original and not _reads(acc, key)
    code, out, _ = cli("verify", f"s3://{acc.source_bucket}/Apex-Hunter", f"s3://{acc.target_bucket}/Apex-Hunter",
                       "--source-profile", "src", "--target-profile", "dst")
    assert code == 0 and "IDENTICAL" in out


# ---------------------------------------------------------------- a source owner who may not change its policy

NO_ADMIN_SOURCE = "aws-deepracer-cccccccc-3333-4333-8333-333333333333"
NO_ADMIN_TARGET = "aws-deepracer-dddddddd-4444-4444-8444-444444444444"


@pytest.fixture(scope="module")
def no_admin(tmp_path_factory):
    """A SeaweedFS whose source identity may read, list and write its bucket but not change its policy (no Admin)."""
    def identity(name: str, bucket: str, actions: tuple[str, ...]) -> Identity:
        return Identity(name, "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30), (bucket,), actions)

    source = identity("owner-a", NO_ADMIN_SOURCE, tuple(a for a in ACTIONS if a != "Admin"))
    target = identity("acct-b", NO_ADMIN_TARGET, ACTIONS)
    with SeaweedS3(tmp_path_factory.mktemp("seaweed-no-admin"), [source, target],
                   [NO_ADMIN_SOURCE, NO_ADMIN_TARGET]) as server:
        yield server


def test_a_denied_put_bucket_policy_copies_nothing_and_leaves_nothing(no_admin, tmp_path, monkeypatch):
    source, target = no_admin.identities
    for name, value in write_aws_profiles(tmp_path / "aws", {"src": (source, no_admin.endpoint),
                                                              "dst": (target, no_admin.endpoint)}).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    src_client = s3_client(no_admin.endpoint, source.access_key, source.secret_key)
    dst_client = s3_client(no_admin.endpoint, target.access_key, target.secret_key)
    put_all(src_client, NO_ADMIN_SOURCE, legacy_bucket(NO_ADMIN_SOURCE, scale=0.02))
    target_before, source_before = snapshot(dst_client, NO_ADMIN_TARGET), snapshot(src_client, NO_ADMIN_SOURCE)
    code, out, err = cli("copy", f"s3://{NO_ADMIN_SOURCE}/Apex-Hunter", f"s3://{NO_ADMIN_TARGET}/Apex-Hunter",
                         "--source-profile", "src", "--target-profile", "dst", "--backup-to", str(tmp_path / "bk"),
                         "--grant-read", "--grant-to", target.principal_arn, "--create", "--yes")
    assert code == 4, err
    assert "s3:PutBucketPolicy" in err and "nothing was copied" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert snapshot(dst_client, NO_ADMIN_TARGET) == target_before  # no file, no lock left
    assert snapshot(src_client, NO_ADMIN_SOURCE) == source_before
    assert not any(p.is_file() for p in (tmp_path / "bk").rglob("*"))  # no record of a grant that never was
