"""Planning the grant path (`drmodel copy --grant-read`, issue 20): the request's checks, and the GrantPlan a copy's
Plan carries (drmodel.grant adds, removes and proves it when execute runs the plan).

The grant names exactly the source keys the plan's writes read (a create or overwrite that does not carry its bytes
already); its principal is `--grant-to`, else the target credentials' account (STS GetCallerIdentity). The planner
cannot prove that the target may read the source before the grant exists: a plan with a grant is server-side by the
grant, and execute relays the rest if S3 refuses a copy anyway (execute.ServerSideCopies).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from drmodel.access import Access
from drmodel.address import parse
from drmodel.errors import UsageError
from drmodel.grant import grant_scope, plan_grant, principal_arn
from drmodel.plan import GrantSweep, Plan
from drmodel.planning.request import TransferRequest
from drmodel.stores.s3copy import same_service

# the rate a server-side copy is counted at for the grant's expiry: low on purpose (S3 usually copies faster); the
# expiry adds half of the expected time and 15 minutes to it (drmodel.grant.expiry_for)
EXPECTED_RATE = 20 * 1024 * 1024  # bytes per second
MIN_EXPECTED = timedelta(minutes=1)
WITHOUT = "copy without --grant-read (drmodel then copies inside S3 when the target may read the source, else relays)"


def check_grant_request(request: TransferRequest) -> None:
    """Refuse what the grant path cannot do, before anything is read: --relay, a side that is not in S3, one set of
    credentials for both sides, a malformed --grant-to."""
    if not request.grant_read:
        if request.grant_to:
            raise UsageError("--grant-to names the principal of --grant-read",
                             fix="add --grant-read, or drop --grant-to")
        return
    if request.relay:
        raise UsageError("--grant-read copies inside S3 and --relay streams the bytes through this machine",
                         fix="choose one: drop --relay or --grant-read")
    for side, ref in (("source", request.source), ("target", request.target)):
        if parse(ref.address).scheme != "s3":
            raise UsageError(f"--grant-read copies between two buckets, and the {side} {ref.address} is not in S3",
                             fix="drop --grant-read")
    if Access.of(request.source.profile) == Access.of(request.target.profile):
        raise UsageError("--grant-read lets the target's credentials read the source through the source owner's "
                         "bucket policy, and both sides use the same credentials here",
                         fix="pass --source-profile (the source owner's) and --target-profile (the target's)")
    if request.grant_to:
        principal_arn(request.grant_to)  # a UsageError naming the forms it takes


def with_grant(plan: Plan, request: TransferRequest, backup_root: Path) -> Plan:
    """The plan with its grant, server-side by it; `backup_root` is where the source bucket's policy is saved when
    the copy overwrites nothing (else the copy's backup folder holds it). No grant when none is needed."""
    source, target = plan.source_store.spec(), plan.target_store.spec()
    if not same_service(source.get("endpoint_url"), target.get("endpoint_url")):
        raise UsageError(f"--grant-read: {plan.source_address} and {plan.target_address} are on different S3 "
                         "services, which cannot copy between themselves", fix=WITHOUT)
    principal = request.grant_to or plan.target_store.account_id()
    if not principal:
        raise UsageError("--grant-read: the target's account is unknown (STS GetCallerIdentity does not answer for "
                         "the target's credentials)", fix="pass --grant-to with the target's account id or the "
                         "ARN of its IAM user or role")
    keys = sorted({a.source_key or a.path for a in plan.writes if a.data is None})
    if not keys or plan.server_side:
        why = "the target's credentials already read the source" if keys else "nothing is copied from the source"
        sweep = GrantSweep(str(source["bucket"]), grant_scope(principal_arn(principal), plan.target_address))
        return replace(plan, grant_sweep=sweep, notes=(*plan.notes, f"--grant-read: no grant needed, {why}; a grant "
                                                       "a dead run of this copy left is removed"))
    size = sum(a.size for a in plan.writes if a.data is None)
    expected = max(MIN_EXPECTED, timedelta(seconds=size / EXPECTED_RATE))
    grant = plan_grant(str(source["bucket"]), keys, principal, expected, prefixes=model_prefixes(keys),
                       target=plan.target_address)
    return replace(plan, grant=grant, server_side=True, backup_root=plan.backup_root or backup_root,
                   transfer="server-side copy through a temporary read grant on the source bucket (relayed if S3 "
                            "refuses a copy anyway)")


def model_prefixes(keys: list[str]) -> list[str]:
    """The folders holding these keys, none inside another (a key at the bucket's top stays a key): what the grant
    names when naming every key would make it too big."""
    folders = sorted({k.rsplit("/", 1)[0] + "/" if "/" in k else k for k in keys})
    return [f for f in folders if not any(o != f and o.endswith("/") and f.startswith(o) for o in folders)]
