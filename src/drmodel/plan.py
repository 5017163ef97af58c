"""A Plan lists every write and delete a command will make; `--dry-run` shows it, `execute` runs the same object.

A Plan is a frozen value, typed field by field (s3transfer's CallArgs, DVC's collect-then-transfer): planning
decides everything (what to write, how the bytes move, which keys the run may touch, the lock, the backup folder)
and execution only reads it; what happens while it runs is recorded on execute's Result. `build_plan` is pure: it
takes what was listed and compared on both sides and decides. Only the checkpoint folder `model/` loses files the
source lacks (stale placeholder checkpoints); nothing else is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from drmodel.grant import MARGIN, GrantPlan, iso
from drmodel.model import METADATA, REWARD
from drmodel.stores.base import ObjectInfo, Store
from drmodel.units import span

Op = Literal["create", "overwrite", "skip", "delete"]


@dataclass(frozen=True)
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
    metadata: Mapping[str, str] = field(default_factory=dict)  # stored with the object (S3 user metadata)
    sha256: str | None = None  # of the bytes to write, when known before writing


@dataclass(frozen=True)
class Lock:
    """The target model's lock (drmodel.lock): an object inside the model's own keys."""

    key: str
    seen: bool | None = None  # whether planning's listing found one there; None: that listing did not cover it


@dataclass(frozen=True)
class DroaImport:
    """A push into DeepRacer on AWS: after the upload, the deployment imports what landed under upload_prefix."""

    deployment: str
    model: str
    description: str | None
    upload_prefix: str
    bucket: str
    fixes: Mapping[str, str] = field(default_factory=dict)  # path -> what the pre-flight changed
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class GrantSweep:
    """A copy asked for a read grant (--grant-read) but needs none this time (nothing left to copy, or the target
    reads the source already): its run still removes the grants a dead run of the same copy (`scope`, see
    drmodel.grant.grant_scope) left on the source bucket, and expired ones."""

    bucket: str
    scope: str


@dataclass(frozen=True)
class Plan:
    kind: str  # copy, pull, push, repair, restore
    source_address: str
    target_address: str
    source_store: Store
    target_store: Store
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = ()
    # what the output says about each side: its layout and what the layout found (training prefix, ...)
    source: Mapping[str, Any] = field(default_factory=dict)
    target: Mapping[str, Any] = field(default_factory=dict)
    target_exists: bool | None = None
    checkpoints: str | None = None  # which checkpoints `--checkpoint` keeps, in words
    racing: str | None = None  # the checkpoint evaluation will load in the target
    server_side: bool = False  # the target's credentials copy the bytes inside S3 (else they are relayed)
    transfer: str | None = None  # how the bytes move, in words
    allowed_keys: frozenset[str] | None = None  # the safety guard: every key the plan may write or delete
    lock: Lock | None = None
    backup_root: Path | None = None  # a backup is taken in a new folder there before any overwrite or delete (and
    # the source bucket's policy saved there before a grant)
    write_manifest: bool = False  # pull: drmodel-manifest.json in the target folder
    droa: DroaImport | None = None  # the import that follows the upload of a push into DRoA
    grant: GrantPlan | None = None  # the source's temporary read grant around the writes (copy --grant-read)
    grant_sweep: GrantSweep | None = None  # copy --grant-read with no grant needed: the dead runs' grants to remove

    def by_op(self, op: Op) -> list[Action]:
        return [a for a in self.actions if a.op == op]

    @property
    def writes(self) -> list[Action]:
        return [a for a in self.actions if a.op in ("create", "overwrite")]

    @property
    def destructive(self) -> bool:
        return destructive(self.actions)

    @property
    def local_target(self) -> bool:
        """The target is a folder or an archive on this machine: its files are written, not uploaded."""
        return not self.target_store.remote

    @property
    def bytes_to_write(self) -> int:
        return sum(a.size for a in self.writes)

    def summary(self) -> dict[str, Any]:
        """What the plan decided besides its actions, as JSON-ready values (`--dry-run --json`)."""
        droa = self.droa
        return {"server_side": self.server_side, "transfer": self.transfer, "source": dict(self.source),
                "target": dict(self.target), "target_exists": self.target_exists, "checkpoints": self.checkpoints,
                "racing": self.racing,
                "allowed_keys": sorted(self.allowed_keys) if self.allowed_keys is not None else None,
                "lock_key": self.lock.key if self.lock else None, "lock_seen": self.lock.seen if self.lock else None,
                "droa": None if droa is None else {
                    "deployment": droa.deployment, "model": droa.model, "description": droa.description,
                    "upload_prefix": droa.upload_prefix, "bucket": droa.bucket, "fixes": dict(droa.fixes),
                    "warnings": list(droa.warnings), "notes": list(droa.notes)},
                "grant": None if self.grant is None else grant_summary(self.grant),
                "grant_sweep": None if self.grant_sweep is None else vars(self.grant_sweep)}


def expiry_rule(grant: GrantPlan) -> str:
    """When a grant's statement ends, in words: its aws:CurrentTime bound is counted when it is added."""
    return (f"ends by itself at its aws:CurrentTime bound: the time it is added + {span(grant.expected)} (the "
            f"copy's expected time) x 1.5 + {span(MARGIN)}, at most {span(grant.cap)}; drmodel removes it as soon "
            "as the copy ends")


def grant_summary(grant: GrantPlan) -> dict[str, Any]:
    """The planned grant as JSON-ready values (a plan's `--dry-run --json`)."""
    return {"bucket": grant.bucket, "principal": grant.principal, "sid": grant.sid, "by_prefix": grant.by_prefix,
            "items": list(grant.items), "expires_at": iso(grant.expires_at), "expiry_rule": expiry_rule(grant),
            "statements": grant.statements}


def destructive(actions: Iterable[Action]) -> bool:
    """Whether these actions overwrite or delete anything (then a backup is taken first)."""
    return any(a.op in ("overwrite", "delete") for a in actions)


def write_order(action: Action) -> tuple[int, str]:
    """Checkpoints first, metadata and reward function last: a model only looks complete once it is."""
    return (2 if action.path in (METADATA, REWARD) else 1 if action.path.startswith("model/") else 0, action.path)


def write_stages(writes: Iterable[Action], workers: int, big: int) -> list[list[Action]]:
    """The writes in two batches: the model's files, then, once all of them landed, the metadata and reward
    function, so that the model only looks complete (the console lists it, a reader finds its metadata) when it is.

    The files go biggest first (no big file starts last and runs alone while the other workers idle), except that
    the first `workers` files of `big` bytes or more are not all of one size when others exist: equal files started
    together share the line equally and end together, and the line then idles while every worker asks for its next
    file (a GET and a PUT's 100-continue: about 0.2 s on a 40 ms line); one of another size staggers the ends."""
    writes = list(writes)
    files = sorted((a for a in writes if write_order(a)[0] < 2), key=lambda a: -a.size)
    first = [a for a in files if a.size >= big][:workers]
    if len(first) == workers > 1 and len({a.size for a in first}) == 1:
        other = next((a for a in files if a.size >= big and a.size != first[0].size), None)
        if other is not None:
            files.remove(other)
            files.insert(files.index(first[-1]), other)
    return [files, [a for a in writes if write_order(a)[0] >= 2]]


def plan_actions(*, source_files: Mapping[str, ObjectInfo], source_key_for: Callable[[str], str],
                 target_files: Mapping[str, ObjectInfo], target_key_for: Callable[[str], str], same: set[str],
                 rewritten: Mapping[str, tuple[bytes, str]], stale_candidates: list[str],
                 metadata_for: Callable[[str, ObjectInfo], dict[str, str]] | None = None) -> tuple[Action, ...]:
    """Decide create/overwrite/skip for each source file and delete for stale checkpoint files.

    `same` holds the canonical paths already proven identical on the target; `rewritten` maps a path to the
    bytes it must hold in the target and a note (which keys were rewritten).
    """
    actions: list[Action] = []
    for path, info in source_files.items():
        data, note = rewritten.get(path, (None, ""))
        old = target_files.get(path)
        op: Op = "skip" if path in same else "overwrite" if old is not None else "create"
        actions.append(Action(op=op, path=path, key=target_key_for(path), size=len(data) if data is not None else
                              info.size, source_key=source_key_for(path), source_etag=info.etag or None,
                              old_size=old.size if old else None, data=data, note=note,
                              metadata=metadata_for(path, info) if metadata_for else {}))
    for path in sorted(stale_candidates):
        if path not in source_files and path in target_files:
            actions.append(Action(op="delete", path=path, key=target_files[path].key, size=target_files[path].size,
                                  note="stale: not in the source"))
    actions.sort(key=lambda a: (a.op == "delete", write_order(a)))
    return tuple(actions)


def build_plan(kind: str, *, source_address: str, target_address: str, source_store: Store, target_store: Store,
               source_files: Mapping[str, ObjectInfo], source_key_for: Callable[[str], str],
               target_files: Mapping[str, ObjectInfo], target_key_for: Callable[[str], str], same: set[str],
               rewritten: Mapping[str, tuple[bytes, str]], stale_candidates: list[str],
               metadata_for: Callable[[str, ObjectInfo], dict[str, str]] | None = None, **fields: Any) -> Plan:
    """The Plan of `plan_actions`' actions; `fields` are the Plan's other fields."""
    actions = plan_actions(source_files=source_files, source_key_for=source_key_for, target_files=target_files,
                           target_key_for=target_key_for, same=same, rewritten=rewritten,
                           stale_candidates=stale_candidates, metadata_for=metadata_for)
    return Plan(kind=kind, source_address=source_address, target_address=target_address, source_store=source_store,
                target_store=target_store, actions=actions, **fields)


@dataclass(frozen=True)
class BatchEntry:
    """One model of a batch: its plan, or why it has none (planning refused it; the batch goes on without it)."""

    name: str
    source_address: str
    target_address: str
    plan: Plan | None = None
    problem: str | None = None  # why there is no plan: the error's message
    fix: str | None = None  # what to do about it
    exit_code: int = 0  # the exit code a copy of this model alone would have given (drmodel.errors.ExitCode)


@dataclass(frozen=True)
class BatchPlan:
    """Many models from one container into another (`copy --all` / `--only`): one plan each, one confirmation."""

    kind: str
    source_address: str
    target_address: str
    entries: tuple[BatchEntry, ...]
    parallel: int = 4  # models in flight at once, sharing each side's store (one connection pool, one memory budget)
    unmatched: tuple[str, ...] = ()  # --only patterns that matched no model
    grant: GrantPlan | None = None  # --grant-read: the one read grant on the source bucket around every model's run
    grant_sweep: GrantSweep | None = None  # --grant-read: the grants a dead run of this batch left, removed first
    grant_folder: Path | None = None  # a new folder there holds the source bucket's policy before the grant

    def summary(self) -> dict[str, Any]:
        """What the batch decided besides each model's plan, as JSON-ready values (`--dry-run --json`)."""
        return {"grant": None if self.grant is None else grant_summary(self.grant),
                "grant_sweep": None if self.grant_sweep is None else vars(self.grant_sweep),
                "grant_folder": str(self.grant_folder) if self.grant_folder else None}

    @property
    def plans(self) -> list[Plan]:
        return [e.plan for e in self.entries if e.plan is not None]

    @property
    def destructive(self) -> bool:
        return any(p.destructive for p in self.plans)

    @property
    def bytes_to_write(self) -> int:
        return sum(p.bytes_to_write for p in self.plans)
