"""A temporary, expiring read grant (issue 20): one statement added to the source bucket's policy, with the source
owner's credentials, so that the target account may read exactly the model's keys while a copy runs inside S3 with
the target's credentials; removed afterwards, and the policy proven equal to what it was.

The statement expires by itself: its `aws:CurrentTime` `DateLessThan` condition ends it at `expires_at` (now + the
copy's expected time x 1.5 + 15 minutes, at most `MAX_GRANT`), so a run killed by SIGKILL or a power cut leaves a
grant that stops granting on its own, and a rerun's `sweep_stale_grants` removes it. Its Sid names drmodel, the
copy (`scope`: a hash of the target principal and the target model), the run and the expiry:
`drmodel-grant-<scope>-<run>-until-<YYYYMMDDTHHMMSSZ>`, so a later run recognises its own stale grants and whether
they have expired without reading the condition.

The race, honestly: S3 has no conditional PutBucketPolicy (no If-Match). drmodel re-reads the policy right before
each put (and starts again when it changed), but a PutBucketPolicy by someone else landing between that re-read
and our put (one round trip) is overwritten, both when adding and when removing; drmodel cannot see it. Every
change made outside those two windows is kept: removal takes only the statements with our Sid out of the policy
as it is then, and reports exactly what differs from the original when others changed it.

Over the size limit: the grant's whole life (statement, add, remove and its proof, sweep, the context around a
copy) stays in one module, so that its race and its guarantees are read in one place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from drmodel.access import Access, AccessLike
from drmodel.errors import TransferError, UsageError

SID_PREFIX = "drmodel-grant-"
LIST_SUFFIX = "-list"  # the Sid of the optional ListBucket statement: the grant's Sid + this
POLICY_VERSION = "2012-10-17"
POLICY_SIZE_LIMIT = 20 * 1024  # AWS: a bucket policy holds at most 20 KB
KEYS_BUDGET = 8 * 1024  # plan_grant names exact keys while the statement stays under this, else the prefixes
MAX_GRANT = timedelta(hours=12)  # the longest a grant may live
MARGIN = timedelta(minutes=15)
RECORD_PREFIX = "bucket-policy-before-"  # the backup folder's record of the policy as it was before the grant
_SID = re.compile(r"drmodel-grant-([0-9a-f]{8})-([0-9a-f]{6})-until-(\d{8}T\d{6}Z)(?:-list)?")
_STAMP = "%Y%m%dT%H%M%SZ"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    """aws:CurrentTime's form (ISO 8601, UTC, seconds), which AWS and SeaweedFS (RFC 3339) both parse."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class GrantId:
    """What a grant's Sid says: the copy it belongs to, the run that added it, and when it expires."""

    scope: str
    run: str
    expires_at: datetime

    @property
    def sid(self) -> str:
        return f"{SID_PREFIX}{self.scope}-{self.run}-until-{self.expires_at.strftime(_STAMP)}"

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or _now())


def parse_sid(sid: str) -> GrantId | None:
    """The GrantId a drmodel Sid encodes (the ListBucket statement's too), None for any other Sid."""
    m = _SID.fullmatch(sid)
    if not m:
        return None
    return GrantId(m.group(1), m.group(2), datetime.strptime(m.group(3), _STAMP).replace(tzinfo=UTC))


def grant_scope(target_principal: str, target: str) -> str:
    """The copy a grant serves, in 8 hex digits: the target principal and the target model's address. A run that
    holds the target model's lock knows that no other live run has a grant of this scope."""
    return hashlib.sha256(f"{principal_arn(target_principal)}\n{target}".encode()).hexdigest()[:8]


def expiry_for(expected: timedelta, *, now: datetime | None = None, cap: timedelta = MAX_GRANT) -> datetime:
    """now + expected x 1.5 + 15 minutes, at most now + cap."""
    start = now or _now()
    return start + min(expected * 1.5 + MARGIN, cap)


def principal_arn(target: str) -> str:
    """The Principal for the target: a 12-digit account id means that account (its root ARN, as AWS writes it);
    an IAM ARN (user, role) is taken as it is."""
    if re.fullmatch(r"\d{12}", target):
        return f"arn:aws:iam::{target}:root"
    if re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:(root|user/.+|role/.+)", target):
        return target
    raise UsageError(f"{target!r} is not an AWS account id or an IAM principal ARN",
                     fix="give the target account's 12-digit id, or arn:aws:iam::ID:user/NAME or :role/NAME")


def object_resources(bucket: str, keys_or_prefixes: Sequence[str]) -> list[str]:
    """The object ARNs: each exact key as it is, each prefix (ending with '/') as `prefix*`."""
    if not keys_or_prefixes:
        raise UsageError("a grant needs the model's keys or prefixes", fix="pass the planned source keys")
    found = []
    for item in keys_or_prefixes:
        if not item or item == "/" or any(c in item for c in "*?") or "${" in item:
            raise UsageError(f"cannot grant exactly {item!r}: an empty key, or one with a policy wildcard "
                             "(*, ?) or variable (${)", fix="grant the model's prefix instead")
        found.append(f"arn:aws:s3:::{bucket}/{item}*" if item.endswith("/") else f"arn:aws:s3:::{bucket}/{item}")
    return sorted(set(found))


def grant_statement(source_bucket: str, keys_or_prefixes: Sequence[str], target_principal_arn_or_account: str,
                    expires_at: datetime, sid: str) -> dict[str, Any]:
    """The statement: the target may s3:GetObject exactly these keys (or under these prefixes) until expires_at.
    No s3:ListBucket: a server-side copy (CopyObject, UploadPartCopy) reads objects by their keys only."""
    return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": principal_arn(target_principal_arn_or_account)},
            "Action": "s3:GetObject", "Resource": object_resources(source_bucket, keys_or_prefixes),
            "Condition": {"DateLessThan": {"aws:CurrentTime": iso(expires_at)}}}


def list_statement(source_bucket: str, prefixes: Sequence[str], target_principal_arn_or_account: str,
                   expires_at: datetime, sid: str) -> dict[str, Any]:
    """The optional second statement, for a caller that must list with the target's credentials: s3:ListBucket
    limited by an `s3:prefix` condition (StringLike `prefix*`) to the model's prefixes, same expiry, Sid + '-list'."""
    return {"Sid": sid + LIST_SUFFIX, "Effect": "Allow",
            "Principal": {"AWS": principal_arn(target_principal_arn_or_account)},
            "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{source_bucket}",
            "Condition": {"StringLike": {"s3:prefix": sorted(p + "*" for p in prefixes)},
                          "DateLessThan": {"aws:CurrentTime": iso(expires_at)}}}


@dataclass(frozen=True)
class GrantPlan:
    """The grant a copy will add, for the plan's display and for add_grant."""

    bucket: str
    principal: str
    items: tuple[str, ...]  # exact keys, or prefixes ending with '/'
    expected: timedelta
    scope: str
    run: str
    expires_at: datetime
    list_prefixes: tuple[str, ...] = ()
    cap: timedelta = MAX_GRANT

    @property
    def sid(self) -> str:
        return GrantId(self.scope, self.run, self.expires_at).sid

    @property
    def statements(self) -> list[dict[str, Any]]:
        found = [grant_statement(self.bucket, self.items, self.principal, self.expires_at, self.sid)]
        if self.list_prefixes:
            found.append(list_statement(self.bucket, self.list_prefixes, self.principal, self.expires_at, self.sid))
        return found

    @property
    def by_prefix(self) -> bool:
        return all(item.endswith("/") for item in self.items)

    def at(self, now: datetime) -> GrantPlan:
        """The same grant with its expiry counted from `now` (when it is added, not when it was planned)."""
        return replace(self, expires_at=expiry_for(self.expected, now=now, cap=self.cap))

    def lines(self, *, verbose: bool = False) -> list[str]:
        what = (f"everything under {len(self.items)} prefixes" if self.by_prefix
                else f"exactly {len(self.items)} keys")
        short = self.expected * 1.5 + MARGIN > self.cap
        out = [f"Grant: s3://{self.bucket} lets {self.principal} read {what} until {iso(self.expires_at)} "
               f"(statement {self.sid}; removed after the copy, expires by itself otherwise)"]
        if short:
            out.append(f"Grant: the copy may outlast the grant's cap of {self.cap}: what is left is relayed")
        if verbose:
            out += json.dumps(self.statements, indent=2).splitlines()
        return out


def plan_grant(source_bucket: str, keys: Sequence[str], target_principal: str, expected: timedelta, *,
               prefixes: Sequence[str] = (), target: str = "", list_prefixes: Sequence[str] = (),
               now: datetime | None = None, cap: timedelta = MAX_GRANT) -> GrantPlan:
    """The grant for a copy of `keys` (exact); when naming them all would make the statement bigger than
    KEYS_BUDGET, the model's `prefixes` instead. `target` (the target model's address) scopes the Sid."""
    principal = principal_arn(target_principal)
    expires = expiry_for(expected, now=now, cap=cap)
    plan = GrantPlan(source_bucket, principal, tuple(sorted(set(keys))), expected,
                     grant_scope(principal, target), secrets.token_hex(3), expires, tuple(list_prefixes), cap)
    if len(json.dumps(plan.statements)) > KEYS_BUDGET:
        if not prefixes:
            raise UsageError(f"naming all {len(keys)} keys makes the grant bigger than {KEYS_BUDGET} bytes",
                             fix="pass the model's prefixes too")
        plan = replace(plan, items=tuple(sorted(set(prefixes))))
    return plan


def _canon(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _canon(v, k) for k, v in value.items()}
    if isinstance(value, list):
        items = sorted((_canon(v, key) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        return items[0] if len(items) == 1 else items
    if key == "AWS" and isinstance(value, str) and re.fullmatch(r"\d{12}", value):
        return f"arn:aws:iam::{value}:root"
    return value


def canonical(policy: str | dict[str, Any] | None) -> str:
    """A policy's canonical JSON: keys sorted, every list sorted, a one-element list the same as its element (S3
    servers rewrite either into the other), an account id in Principal the same as its root ARN (AWS rewrites
    it). Whitespace and order never make two policies differ. None (no policy) stays 'null'."""
    return _cj(json.loads(policy) if isinstance(policy, str) else policy)


def _cj(value: Any) -> str:
    return json.dumps(_canon(value), sort_keys=True, separators=(",", ":"))


def _statements(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    found = (doc or {}).get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def policy_differences(original: str | None, now: str | None) -> list[str]:
    """What differs between two policy texts, one line each; [] when they are canonically equal."""
    if canonical(original) == canonical(now):
        return []
    if now is None:
        return ["the bucket policy was deleted by someone else"]
    a = json.loads(original) if original else {}
    b = json.loads(now)
    out = [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted((set(a) | set(b)) - {"Statement"})
           if _cj(a.get(k)) != _cj(b.get(k))]
    before = {_cj(s): s for s in _statements(a)}
    after = {_cj(s): s for s in _statements(b)}
    out += [f"statement {s.get('Sid', '(no Sid)')} was removed by someone else: {c}"
            for c, s in before.items() if c not in after]
    out += [f"statement {s.get('Sid', '(no Sid)')} was added by someone else: {c}"
            for c, s in after.items() if c not in before]
    return out


# ---------------------------------------------------------------- S3


def _client(source: AccessLike, client: Any) -> Any:
    if client is not None:
        return client
    from drmodel.options import TransferOptions
    from drmodel.stores.s3 import make_client, no_retry_once_cancelled

    made = make_client(Access.of(source), TransferOptions.from_env())
    # the policy calls are what a Ctrl-C's cleanup does: a failed one (NoSuchBucketPolicy, a 503) is answered or
    # retried as usual, not cut short as a transfer's request is once the run is interrupted
    made.meta.events.unregister("needs-retry.s3", no_retry_once_cancelled)
    return made


def _call(client: Any, op: str, bucket: str, **kwargs: Any) -> Any:
    from drmodel.stores.s3errors import translate

    try:
        return getattr(client, op)(Bucket=bucket, **kwargs)
    except Exception as exc:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if code == "NoSuchBucketPolicy":
            return None
        raise translate(exc, op, f"s3://{bucket}", "the source owner's credentials") from exc


def read_policy(client: Any, bucket: str) -> str | None:
    """The bucket policy's text, None when the bucket has none (NoSuchBucketPolicy)."""
    found = _call(client, "get_bucket_policy", bucket)
    return None if found is None else str(found["Policy"])


def _write_policy(client: Any, bucket: str, text: str | None) -> None:
    _call(client, "delete_bucket_policy" if text is None else "put_bucket_policy", bucket,
          **({} if text is None else {"Policy": text}))


def _save_record(folder: Path, bucket: str, sid: str, original: str | None, statements: list[Any]) -> Path:
    """The policy as it was, written (and flushed to disk) before the grant is put."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{RECORD_PREFIX}{bucket}-{sid}.json"
    doc = {"bucket": bucket, "sid": sid, "had_policy": original is not None, "policy": original,
           "saved_at": iso(_now()), "statements": statements,
           "undo": f"remove the statements whose Sid starts with {sid} from s3://{bucket}'s policy"}
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as out:
        json.dump(doc, out, indent=2)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return path


@dataclass
class Removal:
    """What removing a grant (or sweeping) did, and the proof: the policy now against the original."""

    bucket: str
    removed: tuple[str, ...]  # the Sids taken out
    policy: str | None  # the policy as it is after removal
    differences: tuple[str, ...] = ()  # what others changed meanwhile; () when equal to the original
    compared: bool = True  # False when no original was known to compare with (a sweep without a record)

    @property
    def restored(self) -> bool:
        return self.compared and not self.differences

    def lines(self) -> list[str]:
        what = ", ".join(self.removed) or "nothing"
        head = f"Grant: removed {what} from s3://{self.bucket}'s policy"
        if not self.compared:
            return [head]
        if self.restored:
            return [head + "; the policy is as it was before the grant"]
        return [head + "; others changed the policy meanwhile (kept):"] + [f"  {d}" for d in self.differences]


@dataclass
class Grant:
    """A grant in place: what add_grant put, and what remove_grant needs."""

    bucket: str
    sid: str
    expires_at: datetime
    statements: list[dict[str, Any]]
    original: str | None  # the policy text right before the grant (None: the bucket had none)
    record: Path  # the backup folder's copy of `original`
    client: Any = field(repr=False, default=None)
    removal: Removal | None = None
    sweep: Removal | None = None  # what temporary_grant's sweep removed before adding


def _ours(sid: str) -> Callable[[str], bool]:
    return lambda s: s in (sid, sid + LIST_SUFFIX)


def _with(doc: dict[str, Any] | None, statements: list[dict[str, Any]]) -> dict[str, Any]:
    base: dict[str, Any] = dict(doc) if doc else {"Version": POLICY_VERSION}
    base["Statement"] = statements
    return base


def add_grant(plan: GrantPlan, backup_dir: Path, *, source: AccessLike = None, client: Any = None,
              attempts: int = 3) -> Grant:
    """Add the plan's statement(s) to the source bucket's policy with the source owner's credentials (`source`, or
    a ready `client`). The expiry is counted from now. The policy as it was is saved in `backup_dir` first; the
    policy is re-read right before the put, and the whole step starts again (up to `attempts` times) when it
    changed since it was read."""
    client = _client(source, client)
    plan = plan.at(_now())
    for _ in range(attempts):
        original = read_policy(client, plan.bucket)
        doc = json.loads(original) if original else None
        if any(_ours(plan.sid)(str(s.get("Sid", ""))) for s in _statements(doc)):
            raise UsageError(f"s3://{plan.bucket}'s policy already has a statement {plan.sid}", fix="rerun")
        statements = plan.statements
        text = json.dumps(_with(doc, _statements(doc) + statements))
        if len(text.encode()) > POLICY_SIZE_LIMIT:
            raise UsageError(f"s3://{plan.bucket}'s policy would reach {len(text.encode())} bytes with the grant, "
                             f"over S3's {POLICY_SIZE_LIMIT}", fix="grant the model's prefixes instead of its keys")
        record = _save_record(backup_dir, plan.bucket, plan.sid, original, statements)
        if canonical(read_policy(client, plan.bucket)) != canonical(original):
            continue  # changed while we built ours: start again from the new one
        grant = Grant(plan.bucket, plan.sid, plan.expires_at, statements, original, record, client)
        try:
            _write_policy(client, plan.bucket, text)
        except BaseException:
            try:  # a Ctrl-C or a failure after the put: the put may have landed
                remove_grant(grant)
            except Exception:
                pass  # the grant expires by itself at grant.expires_at; a rerun sweeps it
            raise
        _check_added(grant)
        return grant
    raise TransferError(f"s3://{plan.bucket}'s policy changed {attempts} times while drmodel added its grant",
                        fix="rerun when the bucket's owner is done changing it, or copy with --relay")


def _check_added(grant: Grant) -> None:
    now = read_policy(grant.client, grant.bucket)
    there = {_cj(s) for s in _statements(json.loads(now) if now else None)}
    if not all(_cj(s) in there for s in grant.statements):
        raise TransferError(f"s3://{grant.bucket}'s policy was replaced by someone else right after drmodel added "
                            f"its grant {grant.sid}", fix="rerun, or copy with --relay")


def _strip(client: Any, bucket: str, ours: Callable[[str], bool], original: str | None,
           attempts: int = 3) -> tuple[tuple[str, ...], str | None]:
    """Take the statements `ours` recognises out of the policy as it is now, keeping everything else (others'
    changes included); put back the original text itself when what is left equals it. Returns the Sids removed
    and the policy after."""
    for _ in range(attempts):
        now = read_policy(client, bucket)
        doc = json.loads(now) if now else None
        mine = [s for s in _statements(doc) if ours(str(s.get("Sid", "")))]
        if not mine:
            return (), now
        rest = [s for s in _statements(doc) if not ours(str(s.get("Sid", "")))]
        left = _with(doc, rest) if rest else None
        if left is None:
            text = None  # a policy has one statement at least: none left means no policy
        elif original is not None and canonical(left) == canonical(original):
            text = original  # as it was, to the byte
        else:
            text = json.dumps(left)
        if canonical(read_policy(client, bucket)) != canonical(now):
            continue  # changed while we built ours: start again
        _write_policy(client, bucket, text)
        return tuple(str(s.get("Sid")) for s in mine), read_policy(client, bucket)
    raise TransferError(f"s3://{bucket}'s policy changed {attempts} times while drmodel removed its grant",
                        fix="rerun: the grant expires by itself, and the rerun sweeps it")


def remove_grant(grant: Grant, *, source: AccessLike = None, client: Any = None) -> Removal:
    """Remove the grant's statements (only those: a change someone else made meanwhile is kept), delete the policy
    when nothing else is left, and prove the policy equals the original, or say exactly what differs."""
    client = client or grant.client or _client(source, None)
    removed, after = _strip(client, grant.bucket, _ours(grant.sid), grant.original)
    result = Removal(grant.bucket, removed, after, tuple(policy_differences(grant.original, after)))
    grant.removal = result
    return result


def _records(folder: Path | None, bucket: str) -> dict[str, str | None]:
    """The original policies the backup folder recorded, by Sid."""
    found: dict[str, str | None] = {}
    for path in sorted(folder.glob(f"{RECORD_PREFIX}{bucket}-*.json")) if folder else []:
        try:
            doc = json.loads(path.read_text())
            found[str(doc["sid"])] = doc["policy"]
        except (OSError, ValueError, KeyError):
            continue
    return found


def sweep_stale_grants(bucket: str, *, source: AccessLike = None, client: Any = None, scope: str | None = None,
                       now: datetime | None = None, backup_dir: Path | None = None) -> Removal:
    """Remove the grants dead runs left: every drmodel grant that has expired, and every grant of `scope` (the
    copy's, which only a caller holding the target model's lock may name: no live run then has one). Another
    live copy's grant is left alone. With `backup_dir`, the result is compared with the policy a removed grant's
    record saved (less any other grant the sweep removed)."""
    client = _client(source, client)
    moment = now or _now()

    def stale(sid: str) -> bool:
        found = parse_sid(sid)
        return found is not None and (found.expired(moment) or found.scope == scope)

    records = _records(backup_dir, bucket)
    current = read_policy(client, bucket)
    doomed = [str(s.get("Sid")) for s in _statements(json.loads(current) if current else None)
              if stale(str(s.get("Sid", "")))]
    original: str | None = None
    recorded = [records[sid] for sid in doomed if sid in records]
    if recorded:
        original = recorded[0]
        doc = json.loads(original) if original else None
        kept = [s for s in _statements(doc) if not stale(str(s.get("Sid", "")))]
        if len(kept) != len(_statements(doc)):
            original = json.dumps(_with(doc, kept)) if kept else None
    removed, after = _strip(client, bucket, stale, original)
    if not recorded:
        return Removal(bucket, removed, after, compared=False)
    return Removal(bucket, removed, after, tuple(policy_differences(original, after)))


def grants_of(bucket: str, scope: str, *, source: AccessLike = None) -> list[str]:
    """The Sids of the grants of `scope` in the bucket's policy now: a dead run's, which planning must not trust."""
    policy = read_policy(_client(source, None), bucket)
    return [sid for s in _statements(json.loads(policy) if policy else None)
            if (found := parse_sid(sid := str(s.get("Sid", "")))) is not None and found.scope == scope]


@contextmanager
def temporary_grant(plan: GrantPlan, backup_dir: Path, *, source: AccessLike = None, client: Any = None,
                    sweep: bool = True) -> Iterator[Grant]:
    """Sweep this copy's stale grants (when `sweep`), add the grant, yield it, and always remove it: on success,
    on an error and on Ctrl-C (KeyboardInterrupt). A SIGKILL skips the removal: the expiry ends the grant, the
    next run's sweep removes it. A failed removal stops the run only when nothing else is failing already."""
    client = _client(source, client)
    swept = sweep_stale_grants(plan.bucket, client=client, scope=plan.scope) if sweep else None
    grant = add_grant(plan, backup_dir, client=client)
    grant.sweep = swept
    failing = False
    try:
        yield grant
    except BaseException:
        failing = True
        raise
    finally:
        try:
            remove_grant(grant)
        except Exception as exc:
            if not failing:
                raise TransferError(f"could not remove the grant {grant.sid} from s3://{grant.bucket}'s policy "
                                    f"({exc})", fix=f"it expires by itself at {iso(grant.expires_at)}; a rerun "
                                    "removes it") from exc
