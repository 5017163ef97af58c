"""Planning the grant path (`drmodel copy --grant-read`, issue 20): the request's checks, and the GrantPlan a copy's
Plan carries (drmodel.grant adds, removes and proves it when execute runs the plan).

The grant names exactly the source keys the plan's writes read (a create or overwrite that does not carry its bytes
already); its principal is `--grant-to`, else the target credentials' account (STS GetCallerIdentity). The planner
cannot prove that the target may read the source before the grant exists: a plan with a grant is server-side by the
grant, and execute relays the rest if S3 refuses a copy anyway (execute.ServerSideCopies).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from drmodel.access import Access
from drmodel.address import parse
from drmodel.errors import UsageError
from drmodel.grant import POLICY_SIZE_LIMIT, GrantPlan, grant_scope, grants_of, plan_grant, principal_arn
from drmodel.plan import GrantSweep, Plan
from drmodel.planning.request import ModelRef, TransferRequest
from drmodel.stores.s3copy import same_service

# the rate a server-side copy is counted at for the grant's expiry: low on purpose (S3 usually copies faster); the
# expiry adds half of the expected time and 15 minutes to it (drmodel.grant.expiry_for)
EXPECTED_RATE = 20 * 1024 * 1024  # bytes per second
MIN_EXPECTED = timedelta(minutes=1)
WITHOUT = "copy without --grant-read (drmodel then copies inside S3 when the target may read the source, else relays)"


def check_grant_request(request: TransferRequest) -> None:
    """Refuse what the grant path cannot do, before anything is read: --relay, a side that is not in S3, one set of
    credentials for both sides, a malformed --grant-to."""
    check_grant(request.source, request.target, grant_read=request.grant_read, grant_to=request.grant_to,
                relay=request.relay)


def check_grant(source: ModelRef, target: ModelRef, *, grant_read: bool, grant_to: str | None, relay: bool) -> None:
    """check_grant_request's rules, for one model or a batch (`copy --all/--only`: two containers)."""
    if not grant_read:
        if grant_to:
            raise UsageError("--grant-to names the principal of --grant-read",
                             fix="add --grant-read, or drop --grant-to")
        return
    if relay:
        raise UsageError("--grant-read copies inside S3 and --relay streams the bytes through this machine",
                         fix="choose one: drop --relay or --grant-read")
    for side, ref in (("source", source), ("target", target)):
        if parse(ref.address).scheme != "s3":
            raise UsageError(f"--grant-read copies between two buckets, and the {side} {ref.address} is not in S3",
                             fix="drop --grant-read")
    if Access.of(source.profile) == Access.of(target.profile):
        raise UsageError("--grant-read lets the target's credentials read the source through the source owner's "
                         "bucket policy, and both sides use the same credentials here",
                         fix="pass --source-profile (the source owner's) and --target-profile (the target's)")
    if grant_to:
        principal_arn(grant_to)  # a UsageError naming the forms it takes


def with_grant(plan: Plan, request: TransferRequest, backup_root: Path) -> Plan:
    """The plan with its grant, server-side by it; `backup_root` is where the source bucket's policy is saved when
    the copy overwrites nothing (else the copy's backup folder holds it). No grant when none is needed."""
    source = plan.source_store.spec()
    principal = grant_principal(plan, request.grant_to)
    keys = sorted({a.source_key or a.path for a in plan.writes if a.data is None})
    sweep = GrantSweep(str(source["bucket"]), grant_scope(principal_arn(principal), plan.target_address))
    if not keys or (plan.server_side and not left_behind(plan, sweep)):
        why = "the target's credentials already read the source" if keys else "nothing is copied from the source"
        return replace(plan, grant_sweep=sweep, notes=(*plan.notes, f"--grant-read: no grant needed, {why}; a grant "
                                                       "a dead run of this copy left is removed"))
    grant = plan_grant(str(source["bucket"]), keys, principal, expected_time([plan]), prefixes=model_prefixes(keys),
                       target=plan.target_address)
    return replace(plan, grant=grant, server_side=True, backup_root=plan.backup_root or backup_root,
                   transfer="server-side copy through a temporary read grant on the source bucket (relayed if S3 "
                            "refuses a copy anyway)")


def grant_principal(plan: Plan, grant_to: str | None) -> str:
    """--grant-to, else the account of the target's credentials (STS); a usage error when neither is known."""
    source, target = plan.source_store.spec(), plan.target_store.spec()
    if not same_service(source.get("endpoint_url"), target.get("endpoint_url")):
        raise UsageError(f"--grant-read: {plan.source_address} and {plan.target_address} are on different S3 "
                         "services, which cannot copy between themselves", fix=WITHOUT)
    principal = grant_to or plan.target_store.account_id()
    if not principal:
        raise UsageError("--grant-read: the target's account is unknown (STS GetCallerIdentity does not answer for "
                         "the target's credentials)", fix="pass --grant-to with the target's account id or the "
                         "ARN of its IAM user or role")
    return principal


def expected_time(plans: list[Plan]) -> timedelta:
    """How long the copies of these plans' source bytes are expected to take, at EXPECTED_RATE (a minute at least):
    what the grant's expiry is counted from."""
    size = sum(a.size for plan in plans for a in plan.writes if a.data is None)
    return max(MIN_EXPECTED, timedelta(seconds=size / EXPECTED_RATE))


def model_prefixes(keys: list[str]) -> list[str]:
    """The folders holding these keys, none inside another (a key at the bucket's top stays a key): what the grant
    names when naming every key would make it too big."""
    folders = sorted({k.rsplit("/", 1)[0] + "/" if "/" in k else k for k in keys})
    return [f for f in folders if not any(o != f and o.endswith("/") and f.startswith(o) for o in folders)]


BATCH_TRANSFER = ("server-side copy through the batch's temporary read grant on the source bucket, relayed if S3 "
                  "refuses a copy anyway")
SPLIT = "split the batch with --only (a few patterns at a time), or copy without --grant-read"


def batch_grant(plans: list[Plan], grant_to: str | None,
                target: str) -> tuple[GrantPlan | None, GrantSweep, list[Plan]]:
    """The one grant a batch (`copy --all/--only --grant-read`) adds for all its models: the union of the source
    keys the plans copy from the source and cannot read yet (their folders, when the keys do not fit), scoped to
    the target container `target`, and the plans that need it; None when none does. The sweep is what a run removes
    first (a dead batch's grant of the same scope, and expired ones)."""
    first = plans[0]
    principal = grant_principal(first, grant_to)
    bucket = str(first.source_store.spec()["bucket"])
    sweep = GrantSweep(bucket, grant_scope(principal_arn(principal), target))
    left = left_behind(first, sweep)  # then a plan may read the source through a dead run's grant only
    needing = [p for p in plans if needs_grant(p, despite_reads=left)]
    if not needing:
        return None, sweep, []
    keys = sorted({a.source_key or a.path for p in needing for a in p.writes if a.data is None})
    grant = plan_grant(bucket, keys, principal, expected_time(needing), prefixes=model_prefixes(keys), target=target)
    size = len(json.dumps({"Version": "2012-10-17", "Statement": grant.statements}).encode())
    if size > POLICY_SIZE_LIMIT:
        raise UsageError(f"--grant-read: one grant for the {len(needing)} models to copy names {len(grant.items)} "
                         f"folders, {size} bytes, over the {POLICY_SIZE_LIMIT} bytes a bucket policy may hold",
                         fix=SPLIT)
    return grant, sweep, needing


def needs_grant(plan: Plan, *, despite_reads: bool = False) -> bool:
    """Whether the plan copies bytes from the source that the target's credentials cannot read yet (or, with
    `despite_reads`, may read only through a grant a dead run left, which the run removes first)."""
    return (despite_reads or not plan.server_side) and any(a.data is None for a in plan.writes)


def under_grant(plan: Plan) -> Plan:
    """A batch model's plan once the batch's grant lets the target read its source keys: server-side by it (the
    grant itself is the batch's: the plan carries none)."""
    return replace(plan, server_side=True, transfer=BATCH_TRANSFER)


def left_behind(plan: Plan, sweep: GrantSweep) -> bool:
    """Whether a grant of this copy's (or batch's) scope is in the source bucket's policy now: a dead run's, which
    the run removes before it copies, so the target's reads planning saw prove nothing. False when the policy
    cannot be read (the run's own grant then says why)."""
    from drmodel.errors import DrmodelError

    try:
        return bool(grants_of(sweep.bucket, sweep.scope, source=Access(**plan.source_store.spec().get("access", {}))))
    except DrmodelError:
        return False
