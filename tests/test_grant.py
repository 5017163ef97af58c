"""The temporary, expiring read grant (drmodel.grant) on SeaweedFS with two identities standing for two accounts.

SeaweedFS 4.48 evaluates the grant as AWS does for everything this file relies on (read in its source,
weed/s3api/policy_engine/, and measured here): the DateLessThan / DateGreaterThan operators on aws:CurrentTime
(conditions.go: DateLessThanEvaluator; engine.go: ExtractConditionValuesFromRequest sets aws:CurrentTime to the
server's clock), exact object ARNs in Resource (wildcard matcher: a key without * matches only itself), StringLike on
s3:prefix for ListBucket, and a CopyObject's source read checked against the source bucket's policy
(auth_credentials.go: AuthorizeCopySource). Its principals are `arn:aws:iam::000000000000:user/<identity>`; an
account's root ARN or bare id does not match its users there (AWS would), so these tests name the identity's ARN.
moto 5.2.5 cannot stand in: its bucket policies count only Principal "*" statements and evaluate only StringEquals
conditions (moto/s3/models.py put_bucket_policy's docstring; moto/iam/access_control.py is_unknown_principal;
moto/iam/policy_conditions.py: other operators are ignored, so an expired grant would still allow).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from drmodel import grant
from drmodel.access import Access
from drmodel.errors import UsageError
from drmodel.stores.s3 import S3Store
from helpers import cli

SRC_ROOT = Path(__file__).resolve().parents[1] / "src"
KEYS = ["m/model/a.ckpt", "m/model/b.ckpt", "m/model_metadata.json"]
OTHER = "m/secret.txt"  # in the model's folder, but not one of the granted keys
NOW = datetime.now(UTC).replace(microsecond=0)


def _populate(acc) -> None:
    for key in [*KEYS, OTHER, "elsewhere/x"]:
        acc.source_client.put_object(Bucket=acc.source_bucket, Key=key, Body=key.encode())


def _reads(acc, key: str) -> bool:
    try:
        acc.target_client.get_object(Bucket=acc.source_bucket, Key=key)["Body"].read()
        return True
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied"
        return False


def _policy(acc) -> str | None:
    return grant.read_policy(acc.source_client, acc.source_bucket)


def _plan(acc, *, expected: timedelta = timedelta(minutes=5), **kwargs) -> grant.GrantPlan:
    return grant.plan_grant(acc.source_bucket, KEYS, acc.target.principal_arn, expected,
                            target=f"s3://{acc.target_bucket}/Copy", **kwargs)


def _put_policy(acc, *statements: dict) -> None:
    """The source bucket's policy set to these statements, with the owner's credentials."""
    acc.source_client.put_bucket_policy(Bucket=acc.source_bucket, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))


def _theirs(acc, sid: str = "TheirReadOfPublic") -> dict:
    """A statement of the bucket's owner: another principal may read another folder."""
    return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/auditor"},
            "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{acc.source_bucket}/public/*"]}


# ---------------------------------------------------------------- the statement, no server


def test_the_statement_names_exact_keys_the_principal_and_the_expiry():
    expires = datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)
    sid = grant.GrantId("0123abcd", "a1b2c3", expires).sid
    assert sid == "drmodel-grant-0123abcd-a1b2c3-until-20310203T040506Z"
    assert grant.grant_statement("bkt", ["p/k2", "p/k1", "dir/"], "210987654321", expires, sid) == {
        "Sid": sid, "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
        "Action": "s3:GetObject",
        "Resource": ["arn:aws:s3:::bkt/dir/*", "arn:aws:s3:::bkt/p/k1", "arn:aws:s3:::bkt/p/k2"],
        "Condition": {"DateLessThan": {"aws:CurrentTime": "2031-02-03T04:05:06Z"}}}
    parsed = grant.parse_sid(sid)
    assert parsed == grant.GrantId("0123abcd", "a1b2c3", expires) == grant.parse_sid(sid + grant.LIST_SUFFIX)
    assert parsed.expired(expires) and not parsed.expired(expires - timedelta(seconds=1))
    assert grant.parse_sid("drmodel-grant-other") is None and grant.parse_sid("TheirSid") is None
    for bad in ("a*b", "a?b", "${aws:username}/x", "", "/"):
        with pytest.raises(UsageError):
            grant.object_resources("bkt", [bad])
    with pytest.raises(UsageError):
        grant.principal_arn("TARGET_ACCOUNT_ID")
    assert grant.principal_arn("arn:aws:iam::000000000000:user/acct-b") == "arn:aws:iam::000000000000:user/acct-b"


def test_the_expiry_is_the_expected_time_with_a_margin_and_never_beyond_the_cap():
    assert grant.expiry_for(timedelta(minutes=10), now=NOW) == NOW + timedelta(minutes=30)
    assert grant.expiry_for(timedelta(days=3), now=NOW) == NOW + grant.MAX_GRANT
    plan = grant.plan_grant("bkt", ["k"], "210987654321", timedelta(days=1), now=NOW)
    assert plan.expires_at == NOW + grant.MAX_GRANT
    assert any("outlast" in line for line in plan.lines())


def test_many_keys_fall_back_to_the_prefixes_and_the_plan_renders_the_statement():
    keys = [f"DeepRacer-SageMaker-RoboMaker-comm-1-2-3/model/{n}_Step-{n * 1000}.ckpt.data" for n in range(300)]
    with pytest.raises(UsageError):
        grant.plan_grant("bkt", keys, "210987654321", timedelta(minutes=5))
    plan = grant.plan_grant("bkt", keys, "210987654321", timedelta(minutes=5), now=NOW,
                            prefixes=["DeepRacer-SageMaker-RoboMaker-comm-1-2-3/", "model-metadata/Apex/"])
    assert plan.by_prefix and plan.statements[0]["Resource"] == [
        "arn:aws:s3:::bkt/DeepRacer-SageMaker-RoboMaker-comm-1-2-3/*", "arn:aws:s3:::bkt/model-metadata/Apex/*"]
    first, *statement = plan.lines(verbose=True)
    assert first.startswith("Grant: s3://bkt lets arn:aws:iam::210987654321:root read everything under 2 prefixes")
    assert json.loads("\n".join(statement)) == plan.statements
    small = grant.plan_grant("bkt", keys[:3], "210987654321", timedelta(minutes=5), prefixes=["x/"])
    assert not small.by_prefix and "exactly 3 keys" in small.lines()[0]


def test_canonical_json_ignores_what_servers_rewrite_and_differences_name_the_statement():
    a = {"Version": "2012-10-17", "Statement": [{"Sid": "S", "Effect": "Allow", "Principal": {"AWS": "210987654321"},
                                                 "Action": ["s3:GetObject"], "Resource": ["r2", "r1"]}]}
    b = {"Statement": {"Resource": ["r1", "r2"], "Action": "s3:GetObject", "Effect": "Allow", "Sid": "S",
                       "Principal": {"AWS": ["arn:aws:iam::210987654321:root"]}}, "Version": "2012-10-17"}
    assert grant.canonical(json.dumps(a, indent=4)) == grant.canonical(b)
    assert grant.policy_differences(json.dumps(a), json.dumps(b)) == []
    c = dict(b, Statement=[b["Statement"], {"Sid": "New", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                                            "Resource": "r3"}])
    assert [d.split(":")[0] for d in grant.policy_differences(json.dumps(a), json.dumps(c))] == [
        "statement New was added by someone else"]
    assert grant.policy_differences(json.dumps(a), None) == ["the bucket policy was deleted by someone else"]


# ---------------------------------------------------------------- on SeaweedFS


def test_the_target_reads_the_granted_keys_only_during_the_grant(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    source, target = S3Store(acc.source_bucket, profile="src"), S3Store(acc.target_bucket, profile="dst")
    assert not _reads(acc, KEYS[0]) and not target.can_read_from(source, KEYS[0])
    with grant.temporary_grant(_plan(acc), tmp_path / "bk", source=Access("src")) as g:
        assert all(_reads(acc, key) for key in KEYS)
        assert not _reads(acc, OTHER) and not _reads(acc, "elsewhere/x")
        assert target.can_read_from(source, KEYS[0])  # the copy's server-side path is open
        done = target.copy_from(source, KEYS[2], "Copy/model_metadata.json", len(KEYS[2]))
        assert done.confirmed
        assert grant.canonical(_policy(acc)) == grant.canonical({"Version": "2012-10-17", "Statement": g.statements})
        assert len(g.statements) == 1 and g.statements[0]["Resource"] == sorted(
            f"arn:aws:s3:::{acc.source_bucket}/{key}" for key in KEYS)
        with pytest.raises(ClientError):  # the grant is read only: the target cannot write the source
            acc.target_client.put_object(Bucket=acc.source_bucket, Key=KEYS[0], Body=b"overwritten")
    assert not any(_reads(acc, key) for key in KEYS) and not target.can_read_from(source, KEYS[0])
    assert _policy(acc) is None  # there was none: the policy is deleted, not left empty
    assert g.removal is not None and g.removal.restored and g.removal.removed == (g.sid,)
    assert g.removal.lines() == [f"Grant: removed {g.sid} from s3://{acc.source_bucket}'s policy; the policy is as "
                                 "it was before the grant"]
    record = json.loads(g.record.read_text())
    assert record["had_policy"] is False and record["policy"] is None and record["sid"] == g.sid
    assert g.record.parent == tmp_path / "bk"


def test_a_policy_that_was_there_is_restored_to_the_byte(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    # no "Id": SeaweedFS 4.48 drops a policy's Id (its PolicyDocument has Version and Statement only)
    original = json.dumps({"Version": "2012-10-17", "Statement": [_theirs(acc), _theirs(acc, "Second")]}, indent=4)
    acc.source_client.put_bucket_policy(Bucket=acc.source_bucket, Policy=original)
    as_stored = _policy(acc)  # SeaweedFS stores its own serialisation of it; drmodel puts back exactly that text
    with grant.temporary_grant(_plan(acc), tmp_path / "bk", source=Access("src")) as g:
        assert _reads(acc, KEYS[0])
        assert len(json.loads(_policy(acc))["Statement"]) == 3
    assert not _reads(acc, KEYS[0])
    assert _policy(acc) == as_stored and grant.canonical(_policy(acc)) == grant.canonical(original)
    assert g.removal.restored and json.loads(g.record.read_text())["policy"] == as_stored


def test_a_statement_someone_else_adds_meanwhile_is_kept(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    original = json.dumps({"Version": "2012-10-17", "Statement": [_theirs(acc)]})
    acc.source_client.put_bucket_policy(Bucket=acc.source_bucket, Policy=original)
    with grant.temporary_grant(_plan(acc), tmp_path / "bk", source=Access("src")) as g:
        doc = json.loads(_policy(acc))
        doc["Statement"].append(_theirs(acc, "AddedMeanwhile"))
        acc.source_client.put_bucket_policy(Bucket=acc.source_bucket, Policy=json.dumps(doc))
    after = json.loads(_policy(acc))
    assert sorted(s["Sid"] for s in after["Statement"]) == ["AddedMeanwhile", "TheirReadOfPublic"]
    assert not _reads(acc, KEYS[0])
    assert not g.removal.restored and g.removal.removed == (g.sid,)
    assert [d.split(":")[0] for d in g.removal.differences] == ["statement AddedMeanwhile was added by someone else"]
    assert "others changed the policy meanwhile (kept):" in g.removal.lines()[0]


def test_a_change_between_the_read_and_the_put_is_not_overwritten(two_accounts, tmp_path, monkeypatch):
    acc = two_accounts
    _populate(acc)
    save = grant._save_record
    changed: list[str] = []

    def save_then_someone_changes_it(*args, **kwargs):
        path = save(*args, **kwargs)
        if not changed:
            changed.append("TheirReadOfPublic")
            _put_policy(acc, _theirs(acc))
        return path

    monkeypatch.setattr(grant, "_save_record", save_then_someone_changes_it)
    g = grant.add_grant(_plan(acc), tmp_path / "bk", source=Access("src"))
    assert sorted(s["Sid"] for s in json.loads(_policy(acc))["Statement"]) == sorted(["TheirReadOfPublic", g.sid])
    assert g.original is not None and "TheirReadOfPublic" in g.original  # the original is the policy it changed
    removal = grant.remove_grant(g)
    assert removal.restored and [s["Sid"] for s in json.loads(_policy(acc))["Statement"]] == ["TheirReadOfPublic"]


def test_seaweedfs_ends_a_grant_at_its_expiry_and_limits_listing_by_prefix(two_accounts):
    """Explicit times on both sides of now: no sleeping, no timed assertion."""
    acc = two_accounts
    _populate(acc)
    principal, bucket = acc.target.principal_arn, acc.source_bucket
    past, future = NOW - timedelta(minutes=1), NOW + timedelta(hours=1)

    def sid_until(until: datetime) -> str:
        return grant.GrantId("00000000", "000000", until).sid

    _put_policy(acc, grant.grant_statement(bucket, KEYS, principal, past, sid_until(past)))
    assert not _reads(acc, KEYS[0])  # expired: denied
    _put_policy(acc, grant.grant_statement(bucket, KEYS, principal, future, sid_until(future)))
    assert _reads(acc, KEYS[0])
    not_yet = grant.grant_statement(bucket, KEYS, principal, future, "NotYet")
    not_yet["Condition"]["DateGreaterThan"] = {"aws:CurrentTime": grant.iso(NOW + timedelta(minutes=30))}
    _put_policy(acc, not_yet)
    assert not _reads(acc, KEYS[0])  # the server compares aws:CurrentTime, not only the presence of a condition
    sid = sid_until(future)
    _put_policy(acc, grant.grant_statement(bucket, KEYS, principal, future, sid),
                grant.list_statement(bucket, ["m/"], principal, future, sid))

    def lists(prefix: str) -> bool:
        try:
            acc.target_client.list_objects_v2(Bucket=bucket, Prefix=prefix)
            return True
        except ClientError:
            return False

    assert lists("m/") and lists("m/model/") and not lists("elsewhere/") and not lists("")
    _put_policy(acc, grant.list_statement(bucket, ["m/"], principal, past, sid))
    assert not lists("m/")


def test_the_sweep_removes_expired_grants_and_its_own_scope_and_leaves_a_live_copy_alone(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    original = json.dumps({"Version": "2012-10-17", "Statement": [_theirs(acc)]})
    acc.source_client.put_bucket_policy(Bucket=acc.source_bucket, Policy=original)
    mine = grant.add_grant(_plan(acc), tmp_path / "bk", source=Access("src"))  # a run that then died
    other = grant.add_grant(grant.plan_grant(acc.source_bucket, KEYS, acc.target.principal_arn,
                                             timedelta(minutes=5), target="s3://elsewhere/Other"),
                            tmp_path / "bk2", source=Access("src"))  # another copy, alive
    past = NOW - timedelta(minutes=1)
    expired = grant.grant_statement(acc.source_bucket, KEYS, acc.target.principal_arn, past,
                                    grant.GrantId("99999999", "999999", past).sid)
    doc = json.loads(_policy(acc))
    doc["Statement"].append(expired)
    acc.source_client.put_bucket_policy(Bucket=acc.source_bucket, Policy=json.dumps(doc))
    swept = grant.sweep_stale_grants(acc.source_bucket, source=Access("src"), scope=_plan(acc).scope,
                                     backup_dir=tmp_path / "bk")
    assert sorted(swept.removed) == sorted([mine.sid, expired["Sid"]])
    left = sorted(s["Sid"] for s in json.loads(_policy(acc))["Statement"])
    assert left == sorted(["TheirReadOfPublic", other.sid]) and _reads(acc, KEYS[0])
    assert [d.split(":")[0] for d in swept.differences] == [f"statement {other.sid} was added by someone else"]
    # the other copy's original held the dead run's grant (added first): its removal says the sweep took it
    assert [d.split(":")[0] for d in grant.remove_grant(other).differences] == [
        f"statement {mine.sid} was removed by someone else"]
    assert grant.canonical(_policy(acc)) == grant.canonical(original)
    nothing = grant.sweep_stale_grants(acc.source_bucket, source=Access("src"), scope=_plan(acc).scope)
    assert nothing.removed == () and not nothing.compared


def test_ctrl_c_during_the_copy_removes_the_grant(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc)
    with pytest.raises(KeyboardInterrupt):
        with grant.temporary_grant(_plan(acc), tmp_path / "bk", source=Access("src")):
            assert _reads(acc, KEYS[0])
            raise KeyboardInterrupt
    assert _policy(acc) is None and not _reads(acc, KEYS[0])


# ---------------------------------------------------------------- SIGKILL at each step

KILLED_RUN = textwrap.dedent("""
    import sys, time
    from datetime import timedelta
    from pathlib import Path
    from drmodel import grant
    from drmodel.access import Access
    from drmodel.stores.s3 import S3Store

    step, bucket, principal, target_bucket, backup, *keys = sys.argv[1:]

    def pause(name):
        print(name, flush=True)
        time.sleep(3600)

    if step == "saved":
        save = grant._save_record
        def saved(*args, **kwargs):
            save(*args, **kwargs)
            pause("saved")
        grant._save_record = saved
    elif step == "put":
        write = grant._write_policy
        def written(*args, **kwargs):
            write(*args, **kwargs)
            pause("put")
        grant._write_policy = written
    plan = grant.plan_grant(bucket, keys, principal, timedelta(minutes=5), target=f"s3://{target_bucket}/Copy")
    with grant.temporary_grant(plan, Path(backup), source=Access("src")):
        S3Store(target_bucket, profile="dst").copy_from(S3Store(bucket, profile="src"), keys[0], "Copy/a",
                                                        len(keys[0]))
        pause("copying")
""")


def _run_until(step: str, acc, backup: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC_ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, step, acc.source_bucket, acc.target.principal_arn,
                             acc.target_bucket, str(backup), *KEYS], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        line = proc.stdout.readline().strip() if ready else ""
        assert line == step, f"the run did not reach {step!r}: {line!r} {proc.poll()} {proc.stderr.read()}"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("had_policy", [False, True], ids=["no-policy", "owners-policy"])
@pytest.mark.parametrize("step", ["saved", "put", "copying"])
def test_sigkill_leaves_at_most_an_expiring_grant_that_a_rerun_sweeps(two_accounts, tmp_path, step, had_policy):
    acc = two_accounts
    _populate(acc)
    if had_policy:
        _put_policy(acc, _theirs(acc))
    original = _policy(acc)
    started = datetime.now(UTC).replace(microsecond=0)
    _run_until(step, acc, tmp_path / "bk")
    checked = datetime.now(UTC)
    left = [s for s in json.loads(_policy(acc) or '{"Statement": []}')["Statement"]
            if str(s.get("Sid", "")).startswith(grant.SID_PREFIX)]
    assert len(left) == (0 if step == "saved" else 1)
    for statement in left:  # (a) it expires by itself, in the future and within the cap
        found = grant.parse_sid(statement["Sid"])
        assert checked < found.expires_at <= started + grant.MAX_GRANT
        assert statement["Condition"] == {"DateLessThan": {"aws:CurrentTime": grant.iso(found.expires_at)}}
        assert _reads(acc, KEYS[0])  # still granting until then
    # (b) a rerun of the same copy sweeps it, and the policy is the original
    swept = grant.sweep_stale_grants(acc.source_bucket, source=Access("src"), scope=_plan(acc).scope,
                                     backup_dir=tmp_path / "bk")
    assert swept.removed == tuple(s["Sid"] for s in left)
    assert swept.restored == bool(left)  # compared with the dead run's record whenever it removed something
    assert grant.canonical(_policy(acc)) == grant.canonical(original)
    assert not _reads(acc, KEYS[0])
    assert list((tmp_path / "bk").glob(f"{grant.RECORD_PREFIX}*.json"))  # saved before anything was put


def test_policy_grant_read_prints_what_each_side_needs(monkeypatch):
    for var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    code, out, err = cli("policy", "--source", "s3://aws-deepracer-src/Apex", "--target",
                         "s3://aws-deepracer-dst/Apex", "--grant-read", "--target-account", "210987654321")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["grant_source_account_policy"]["Statement"][0]["Action"] == [
        "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"]
    assert doc["grant_source_account_policy"]["Statement"][0]["Resource"] == "arn:aws:s3:::aws-deepracer-src"
    reads = doc["grant_target_account_policy"]["Statement"][-1]
    assert reads["Action"] == ["s3:GetObject"] and all(r.startswith("arn:aws:s3:::aws-deepracer-src/")
                                                       for r in reads["Resource"])
    example = doc["grant_statement_example"]
    assert example["Principal"] == {"AWS": "arn:aws:iam::210987654321:root"}
    assert set(example["Condition"]) == {"DateLessThan"} and grant.parse_sid(example["Sid"]) is None
    code, out, _ = cli("policy", "--source", "s3://aws-deepracer-src/Apex", "--target", "s3://aws-deepracer-dst/Apex")
    assert code == 0 and "grant_statement_example" not in json.loads(out)
