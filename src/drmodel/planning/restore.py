"""Planning a restore: undo a replace from the backup folder it saved."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from drmodel.access import AccessLike
from drmodel.compare import facts, same_content
from drmodel.errors import NotFoundError
from drmodel.plan import Action, Lock, Op, Plan, destructive
from drmodel.stores import from_spec
from drmodel.stores.base import ObjectInfo
from drmodel.stores.local import LocalStore


def plan_restore(backup: str, *, profile: AccessLike = None, backup_to: str | None = None) -> Plan:
    """Undo a replace: put every saved object back and delete the keys that replace created."""
    from drmodel.backup import BACKUP_FILE

    root = Path(backup).expanduser().absolute()
    try:
        doc = json.loads((root / BACKUP_FILE).read_text())
    except FileNotFoundError:
        raise NotFoundError(f"{root} is not a drmodel backup (no {BACKUP_FILE})",
                            fix="give the backup folder named in the copy's output") from None
    spec = doc["store"]
    target = from_spec(spec, profile=profile)
    files = LocalStore(root / "files")
    actions = []
    for item in doc["saved"]:
        now = target.head(item["key"])
        same = now is not None and same_content(facts(files, ObjectInfo(item["key"], item["size"])),
                                                facts(target, now))
        op: Op = "skip" if same else "overwrite" if now is not None else "create"
        actions.append(Action(op=op, path=item["key"], key=item["key"], size=item["size"], source_key=item["key"],
                              old_size=now.size if now else None, sha256=item["sha256"], note="saved copy"))
    for key in doc["created"]:
        now = target.head(key)
        if now is not None:
            actions.append(Action(op="delete", path=key, key=key, size=now.size, note="created by the replace"))
    backup_root = Path(backup_to or "drmodel-backups").expanduser().absolute() / (
        f"before-restore-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}")
    return Plan(kind="restore", source_address=str(root), target_address=doc["target"], source_store=files,
                target_store=target, actions=tuple(actions),
                allowed_keys=frozenset({i["key"] for i in doc["saved"]} | set(doc["created"])),
                lock=Lock(doc["lock_key"]) if doc.get("lock_key") else None,
                backup_root=backup_root if destructive(actions) else None)
