"""A Plan lists every write and delete a command will make; `--dry-run` shows it, `execute` runs the same object.

`build_plan` is pure: it takes what was listed and compared on both sides and decides. Only the checkpoint
folder `model/` loses files the source lacks (stale placeholder checkpoints); nothing else is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from drmodel.model import METADATA, REWARD
from drmodel.stores.base import ObjectInfo, Store

Op = Literal["create", "overwrite", "skip", "delete"]


@dataclass
class Action:
    op: Op
    path: str  # canonical path (a raw key for a restore)
    key: str  # the target key written or deleted
    size: int  # bytes written, or bytes removed by a delete
    source_key: str | None = None
    source_etag: str | None = None  # the planned version of the source object (pins a server-side copy)
    old_size: int | None = None
    data: bytes | None = None  # the bytes to write when they differ from the source's (rewritten params)
    note: str = ""
    metadata: dict[str, str] = field(default_factory=dict)  # stored with the object (S3 user metadata)
    sha256: str | None = None  # of the bytes to write, when known before writing


@dataclass
class Plan:
    kind: str  # copy, pull, push, restore
    source_address: str
    target_address: str
    source_store: Store
    target_store: Store
    actions: list[Action]
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    backup_root: Path | None = None  # a backup is taken there before any overwrite or delete
    write_manifest: bool = False  # pull: drmodel-manifest.json in the target folder

    def by_op(self, op: Op) -> list[Action]:
        return [a for a in self.actions if a.op == op]

    @property
    def writes(self) -> list[Action]:
        return [a for a in self.actions if a.op in ("create", "overwrite")]

    @property
    def destructive(self) -> bool:
        return any(a.op in ("overwrite", "delete") for a in self.actions)

    @property
    def local_target(self) -> bool:
        """The target is a folder or an archive on this machine: its files are written, not uploaded."""
        from drmodel.stores.local import LocalStore  # ArchiveTarget is one too

        return isinstance(self.target_store, LocalStore)

    @property
    def bytes_to_write(self) -> int:
        return sum(a.size for a in self.writes)


def write_order(action: Action) -> tuple[int, str]:
    """Checkpoints first, metadata and reward function last: a model only looks complete once it is."""
    return (2 if action.path in (METADATA, REWARD) else 1 if action.path.startswith("model/") else 0, action.path)


def build_plan(kind: str, *, source_address: str, target_address: str, source_store: Store, target_store: Store,
               source_files: Mapping[str, ObjectInfo], source_key_for: Any, target_files: Mapping[str, ObjectInfo],
               target_key_for: Any, same: set[str], rewritten: Mapping[str, tuple[bytes, str]],
               stale_candidates: list[str], metadata_for: Any = None) -> Plan:
    """Decide create/overwrite/skip for each source file and delete for stale checkpoint files.

    `same` holds the canonical paths already proven identical on the target; `rewritten` maps a path to the
    bytes it must hold in the target and a note (which keys were rewritten).
    """
    actions: list[Action] = []
    for path, info in source_files.items():
        key = target_key_for(path)
        data, note = rewritten.get(path, (None, ""))
        size = len(data) if data is not None else info.size
        old = target_files.get(path)
        op: Op = "skip" if path in same else "overwrite" if old is not None else "create"
        meta = metadata_for(path, info) if metadata_for else {}
        actions.append(Action(op=op, path=path, key=key, size=size, source_key=source_key_for(path),
                              source_etag=info.etag or None,
                              old_size=old.size if old else None, data=data, note=note, metadata=meta))
    for path in sorted(stale_candidates):
        if path not in source_files and path in target_files:
            actions.append(Action(op="delete", path=path, key=target_files[path].key, size=target_files[path].size,
                                  note="stale: not in the source"))
    actions.sort(key=lambda a: (a.op == "delete", write_order(a)))
    return Plan(kind=kind, source_address=source_address, target_address=target_address, source_store=source_store,
                target_store=target_store, actions=actions)
