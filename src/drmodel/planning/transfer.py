"""Planning a pull, push or copy: compare source and target and return the Plan. Lists and reads; writes nothing."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drmodel import checkpoints as ckpts
from drmodel import layouts
from drmodel.access import AccessLike
from drmodel.address import parse
from drmodel.compare import facts, same_content
from drmodel.errors import UsageError
from drmodel.layouts import ModelLocation, TargetRequest
from drmodel.lock import LOCK_NAME
from drmodel.model import EVAL_COPY, METADATA, REWARD, TRAINING_PARAMS_RE
from drmodel.options import TransferOptions
from drmodel.plan import Action, Lock, Plan, destructive, plan_actions
from drmodel.planning.content import files_to_write, gate
from drmodel.planning.grant import check_grant_request, with_grant
from drmodel.planning.request import ModelRef, TransferRequest
from drmodel.planning.target import find_target, resolve_target
from drmodel.reading import open_model
from drmodel.stores.base import ObjectInfo

if TYPE_CHECKING:
    from concurrent.futures import Future


def plan_request(request: TransferRequest) -> Plan:
    """Compare source and target and return the Plan of a pull, push or copy. Lists and reads; writes nothing.

    `checkpoint` narrows what is copied (best, last, both, all or a number) and rewrites the pointer files to
    match; `force` copies a model whose check finds errors. Between two buckets, the bytes are copied inside S3
    when the target's credentials can read the source (same service, a bucket policy or the same account),
    unless `relay`, else streamed through this machine. `droa_options` applies to a DRoA target only.
    """
    from concurrent.futures import ThreadPoolExecutor

    options = request.options or TransferOptions.from_env()
    source, target = request.source, request.target
    check_grant_request(request)
    if target.address.startswith("droa://"):
        src = open_model(source.address, profile=source.profile, layout=source.layout,
                         training_job=source.training_job, options=options)
        from drmodel.planning.droa import plan_droa

        return plan_droa(src, parse(target.address), request)
    # the target is looked at while the source is: neither needs the other until the target model is resolved
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="target") as pool:
        place = pool.submit(find_target, target.address, profile=target.profile, layout=target.layout,
                            options=options)
        src = open_model(source.address, profile=source.profile, layout=source.layout,
                         training_job=source.training_job, options=options)
        src.prefetch(planning_reads(src.files))
        wanted = TargetRequest(name=request.name, create=request.create, training_job=target.training_job,
                               account_id=request.account_id)
        tgt = resolve_target(place.result(), src, wanted)
        # a new target model gets every file, so plan_between will ask whether S3 can copy them itself: asked now,
        # while the source's small files are still being read (a round trip off the plan's critical path)
        readable = (pool.submit(tgt.store.can_read_from, src.store, src.key_for(METADATA))
                    if not request.relay and not request.grant_read and not tgt.exists else None)
        plan = plan_between(request.kind, src, tgt, checkpoint=request.checkpoint, force=request.force,
                            relay=request.relay, backup_to=request.backup_to, readable=readable)
    return with_grant(plan, request, backup_folder(request.backup_to, tgt)) if request.grant_read else plan


def plan_transfer(kind: str, source: str, target: str, *, source_profile: AccessLike = None,
                  target_profile: AccessLike = None, layout: str | None = None, target_layout: str | None = None,
                  training_job: str | None = None, target_training_job: str | None = None, create: bool = False,
                  account_id: str | None = None, name: str | None = None, backup_to: str | None = None,
                  checkpoint: str = "both", force: bool = False, description: str | None = None,
                  relay: bool = False, options: TransferOptions | None = None, droa_options: Any = None,
                  grant_read: bool = False, grant_to: str | None = None) -> Plan:
    """plan_request, with the request's fields as arguments (the CLI's form)."""
    return plan_request(TransferRequest(
        kind, ModelRef(source, source_profile, layout, training_job),
        ModelRef(target, target_profile, target_layout, target_training_job), checkpoint=checkpoint, force=force,
        relay=relay, backup_to=backup_to, create=create, name=name, account_id=account_id, description=description,
        droa_options=droa_options, options=options, grant_read=grant_read, grant_to=grant_to))


def plan_between(kind: str, src: ModelLocation, tgt: ModelLocation, *, checkpoint: str = "both", force: bool = False,
                 relay: bool = False, backup_to: str | None = None, readable: Future[bool] | None = None) -> Plan:
    """The Plan of a pull, push or copy between two opened models, in any stores (see plan_request). `readable`:
    the target store's can_read_from of the source's metadata, already asked."""
    if src.store.describe(src.key_for(METADATA)) == tgt.store.describe(tgt.key_for(METADATA)) or (
            src.address == tgt.address):  # a DRfC training prefix's metadata key is its model/ copy
        raise UsageError("the source and the target are the same model", fix="name another target")
    notes: list[str] = []
    src_files, rewritten, selection = files_to_write(src, tgt, checkpoint, notes)
    notes.extend(layouts.transfer_notes(src, tgt, src_files, rewritten))
    racing = gate(src, src_files, rewritten, kind, force, notes)

    def metadata_for(path: str, info: ObjectInfo) -> dict[str, str]:
        if not tgt.store.user_metadata or path in rewritten or not info.etag or src.store.local:
            return {}
        return {"drmodel-source-etag": info.etag}

    actions = tuple(_with_known_bytes(a, src) for a in plan_actions(
        source_files=src_files, source_key_for=src.key_for, target_files=tgt.files, target_key_for=tgt.key_for,
        same=_same_paths(src, tgt, src_files, rewritten), rewritten=rewritten,
        stale_candidates=tgt.stale_candidates(), metadata_for=metadata_for))
    server_side = (not relay and any(a.op in ("create", "overwrite") for a in actions)
                   and (readable.result() if readable is not None
                        else tgt.store.can_read_from(src.store, src.key_for(METADATA))))
    lock_key = tgt.key_for(LOCK_NAME)
    return Plan(kind=kind, source_address=src.address, target_address=tgt.address, source_store=src.store,
                target_store=tgt.store, actions=actions, notes=tuple(notes),
                source={"layout": src.layout, **src.details}, target={"layout": tgt.layout, **tgt.details},
                target_exists=tgt.exists, checkpoints=selection.description, racing=racing, server_side=server_side,
                transfer=("server-side copy: the target's credentials can read the source" if server_side else
                          "relayed through this machine" if src.store.remote and tgt.store.remote else None),
                allowed_keys=frozenset({tgt.key_for(p) for p in src_files} | {o.key for o in tgt.files.values()}),
                lock=Lock(lock_key, tgt.seen(lock_key)) if tgt.store.lockable else None,  # seen: by its listing
                backup_root=backup_folder(backup_to, tgt) if destructive(actions) else None,
                write_manifest=tgt.store.local)


def _with_known_bytes(action: Action, src: ModelLocation) -> Action:
    """The action with the bytes planning already read (a small file is written from them, not fetched again),
    and the sha256 of whatever bytes it carries."""
    if action.op in ("create", "overwrite") and action.data is None:
        read = src.already_read(action.path)
        if read is not None and len(read) == action.size:
            action = replace(action, data=read)
    return replace(action, sha256=hashlib.sha256(action.data).hexdigest()) if action.data is not None else action


def _same_paths(src: ModelLocation, tgt: ModelLocation, src_files: dict[str, ObjectInfo],
                rewritten: dict[str, tuple[bytes, str]]) -> set[str]:
    """The paths the target already holds, proven from stored checksums (HEADs in parallel, no body read)."""
    from concurrent.futures import ThreadPoolExecutor

    def same(path: str) -> bool:
        info, old = src_files[path], tgt.files.get(path)
        if old is None:
            return False
        if path in rewritten:
            data = rewritten[path][0]
            if old.size != len(data):
                return False
            # the listing's MD5 ETag equal to the planned bytes' MD5 proves them; any other ETag (SSE-KMS) reads
            return old.md5_etag == hashlib.md5(data).hexdigest() or tgt.read(path) == data
        if old.size != info.size:
            return False
        ours, listed = facts(src.store, info, head=False), facts(tgt.store, old, head=False)
        if not (ours.local_path or listed.local_path) and same_content(ours, listed):
            return True  # two buckets: decided from the two listings (equal ETags), no HEAD
        theirs = facts(tgt.store, old)
        # the target's record of the source ETag it was copied from decides without a HEAD of the source
        verdict = same_content(ours, theirs)
        return bool(verdict if verdict is not None else same_content(facts(src.store, info), theirs))

    paths = [p for p in src_files if p in tgt.files]
    with ThreadPoolExecutor(max_workers=8) as pool:
        return {p for p, yes in zip(paths, pool.map(same, paths), strict=True) if yes}


def planning_reads(files: Mapping[str, ObjectInfo]) -> list[str]:
    """The small files planning reads (some more than once): metadata, reward function, checkpoint pointers,
    training params."""
    return [METADATA, EVAL_COPY, REWARD, *ckpts.POINTERS, *(p for p in files if TRAINING_PARAMS_RE.match(p))]


def backup_folder(backup_to: str | None, target: ModelLocation) -> Path:
    return folder_for(backup_to, target.address)


def folder_for(backup_to: str | None, address: str) -> Path:
    """A backup folder's path for `address`: under --backup-to (default ./drmodel-backups), named after the address
    and the UTC time."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{address.removeprefix('s3://')}".strip("/"))[-80:]
    return Path(backup_to or "drmodel-backups").expanduser().absolute() / f"{slug}-{stamp}"
