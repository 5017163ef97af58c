"""The --json document of the writing commands (pull, push, copy, repair, restore): one shape for a dry run, a run
and a run with nothing to do, as docs/json.md lists it."""

from __future__ import annotations

from typing import Any


def transfer_json(plan: Any, result: Any = None, *, dry_run: bool = False) -> dict[str, Any]:
    """The plan and, unless `dry_run`, what was done: `result` is execute's Result, None when nothing had to be."""
    from drmodel.backup import restore_command, store_spec

    backup = result.backup if result is not None else None
    imported = result.imported if result is not None else None
    skipped = result.skipped if result is not None else [] if dry_run else [a.key for a in plan.by_op("skip")]
    doc = {
        "kind": plan.kind, "source": plan.source_address, "target": plan.target_address, "dry_run": dry_run,
        "plan": [vars(a) | {"data": None} for a in plan.actions], "details": plan.summary(),
        "written": result.written if result is not None else {},
        "proofs": result.proofs if result is not None else {},
        "deleted": result.deleted if result is not None else [], "skipped": skipped,
        "backup": backup, "undo": restore_command(backup, store_spec(plan.target_store)) if backup else None,
        "seconds": result.seconds if result is not None else 0.0,
        "retries": result.retries if result is not None else 0,
        "imported": None if imported is None else {
            "name": imported["name"], "model_id": imported["modelId"], "status": imported["status"]},
        "grant": grant_json(result.grant, result.grant_swept) if result is not None else None,
    }
    return doc


def grant_json(grant: Any, swept: Any = None) -> dict[str, Any] | None:
    """What a copy with --grant-read did with its grant (drmodel.grant.Grant), or with the grants dead runs left
    when it needed none (`swept`, a drmodel.grant.Removal); None without either."""
    if grant is None:
        return None if swept is None else {
            "bucket": swept.bucket, "sid": None, "expires_at": None, "statements": [], "policy_saved_in": None,
            "removed": [], "restored": None, "differences": [], "swept": list(swept.removed)}
    from drmodel.grant import iso

    removal, swept = grant.removal, grant.sweep
    return {"bucket": grant.bucket, "sid": grant.sid, "expires_at": iso(grant.expires_at),
            "statements": grant.statements, "policy_saved_in": str(grant.record),
            "removed": list(removal.removed) if removal else [], "restored": bool(removal and removal.restored),
            "differences": list(removal.differences) if removal else [],
            "swept": list(swept.removed) if swept else []}
