"""The backup step of a run: before any overwrite or delete, every target object the plan replaces is saved in a
new folder with `drmodel-backup.json` (what was saved, what the run creates, the command that undoes it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drmodel import __version__
from drmodel.errors import DrmodelError
from drmodel.hashing import check_read_sha256
from drmodel.plan import Plan
from drmodel.progress import Progress
from drmodel.stores.base import Store
from drmodel.stores.local import LocalStore
from drmodel.units import plural

BACKUP_FILE = "drmodel-backup.json"


def store_spec(store: Store) -> dict[str, Any]:
    """Enough to reach a store again (restore): bucket, profile and endpoint, or a folder. Never keys."""
    return store.spec()


def restore_command(backup: Path, spec: dict[str, Any]) -> str:
    import shlex

    given = spec.get("access") or {"profile": spec.get("profile")}
    flags = "".join(f" --{flag} {shlex.quote(str(given[name]))}" for flag, name in (
        ("profile", "profile"), ("endpoint-url", "endpoint_url"), ("region", "region")) if given.get(name))
    return f"drmodel restore {shlex.quote(str(backup))}{flags}"


def new_folder(wanted: Path) -> Path:
    """A folder that did not exist before: a backup never writes into another backup."""
    wanted.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = wanted if n == 1 else wanted.with_name(f"{wanted.name}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise DrmodelError(f"cannot create a new backup folder next to {wanted}", fix="pass --backup-to another folder")


def take_backup(plan: Plan, progress: Progress) -> Path:
    """Save every target object the plan overwrites or deletes, and list the keys it creates, before any write."""
    assert plan.backup_root is not None, "a destructive plan needs a backup folder"
    root = new_folder(plan.backup_root)
    files = LocalStore(root / "files")
    doomed = [a for a in plan.actions if a.op in ("overwrite", "delete")]
    progress.phase("backup", total_bytes=sum((a.old_size or 0) if a.op == "overwrite" else a.size for a in doomed) or 0,
                   total_files=len(doomed))
    saved = []
    for a in doomed:
        size = a.old_size if a.op == "overwrite" else a.size
        with plan.target_store.open_read(a.key) as stream:
            res = files.write_stream(a.key, stream, size or 0, progress=progress.advance)
        check_read_sha256(stream, res.sha256, plan.target_store.describe(a.key))
        saved.append({"key": a.key, "size": res.info.size, "sha256": res.sha256})
        progress.file_done(a.key)
    spec = store_spec(plan.target_store)
    doc = {"drmodel_version": __version__, "time": datetime.now(UTC).isoformat(timespec="seconds"),
           "kind": plan.kind, "target": plan.target_address, "store": spec, "saved": saved,
           "created": [a.key for a in plan.actions if a.op == "create"], "restore": restore_command(root, spec),
           "lock_key": plan.lock.key if plan.lock else None}
    (root / BACKUP_FILE).write_text(json.dumps(doc, indent=2) + "\n")
    progress.note(f"backup of the target's {plural(len(saved), 'replaced file')}: {root}")
    return root
