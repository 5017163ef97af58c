"""The library API: list_models, show, plan_transfer (pull, push, copy), execute, verify, plan_restore.

Over the size limit: the facade still holds the transfer planner, repair and restore planning and the verify and
diff reports; issue 18 moves them into a planning package (a typed, frozen plan) and leaves a short facade here.

Every function returns data; nothing here prints. Errors are DrmodelError subclasses with exit codes.
Each `profile` parameter (`source_profile`, `a_profile`, ...) takes a profile name or a drmodel.access.Access (the
profile, and the endpoint URL and region that override the profile's): one value per side.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drmodel import checkpoints as ckpts
from drmodel import layouts, paramsfile, simapp
from drmodel.access import Access, AccessLike
from drmodel.address import Address, parse
from drmodel.compare import BY_READ, BY_SHA256, facts, prove, same_content, sha256_of
from drmodel.errors import InvalidModelError, NotFoundError, UsageError
from drmodel.layouts import Layout, ModelLocation, ModelSummary, TargetRequest
from drmodel.lock import LOCK_NAME
from drmodel.model import EVAL_COPY, METADATA, REWARD, TRAINING_PARAMS_RE, metadata_summary, parse_json, role
from drmodel.options import TransferOptions
from drmodel.plan import Action, Op, Plan, build_plan
from drmodel.stores.base import ObjectInfo, Store
from drmodel.stores.local import LocalStore
from drmodel.stores.s3 import S3Store

if TYPE_CHECKING:
    from drmodel.checks import CheckReport
    from drmodel.execute import Result, execute

__all__ = ["list_models", "show", "open_model", "check", "car", "plan_transfer", "execute", "verify", "diff",
           "plan_repair", "plan_restore", "Result"]


def __getattr__(name: str) -> Any:
    """`api.execute` and `api.Result` load the write path on first use (start-up time of read-only commands)."""
    if name in ("execute", "Result"):
        from drmodel import execute as module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


LOCATION_KEYS = paramsfile.LOCATION_KEYS


def make_store(addr: Address, profile: AccessLike, options: TransferOptions | None = None, *,
               target: bool = False) -> Store:
    if addr.scheme == "s3":
        assert addr.bucket
        return S3Store(addr.bucket, profile=profile, options=options)
    assert addr.root
    if addr.scheme == "archive":
        from drmodel.stores.archive import ArchiveSource, ArchiveTarget

        return ArchiveTarget(addr.root) if target else ArchiveSource(addr.root)
    return LocalStore(addr.root)


def _local_must_exist(addr: Address) -> None:
    if addr.scheme == "archive" and not (addr.root and addr.root.is_file()):
        raise NotFoundError(f"archive {addr.root} does not exist", fix="check the path")
    if addr.scheme == "file" and not (addr.root and addr.root.is_dir()):
        raise NotFoundError(f"folder {addr.root} does not exist", fix="check the path")


def open_model(address: str, *, profile: AccessLike = None, layout: str | None = None,
               training_job: str | None = None, options: TransferOptions | None = None) -> ModelLocation:
    addr = parse(address)
    if addr.scheme == "droa":
        from drmodel.droa import transfer as droa

        if not addr.path:
            raise UsageError(f"{address} is a deployment, not a model", fix=f"name one: {address}/MODEL")
        return droa.open_model(addr.bucket or "", addr.path)
    _local_must_exist(addr)
    store = make_store(addr, profile, options)
    lay, kind = layouts.detect(store, addr.path, layout)
    if kind == "container":
        raise UsageError(f"{address} holds several models, not one", fix=f"name one: {address.rstrip('/')}/NAME "
                         f"(see `drmodel ls {address}`)")
    loc = lay.open_model(store, addr.path, training_job=training_job)
    loc.details["layout"] = lay.name
    return loc


def list_models(address: str, *, profile: AccessLike = None, layout: str | None = None) -> list[ModelSummary]:
    addr = parse(address)
    if addr.scheme == "droa":
        from drmodel.droa import transfer as droa

        return droa.list_models(addr.bucket or "")
    _local_must_exist(addr)
    store = make_store(addr, profile)
    lay, kind = layouts.detect(store, addr.path, layout)
    if kind == "model" and lay.name == "legacy":  # one model of the bucket, each of its training jobs a row
        rows = [r for r in lay.list_models(store, "") if r.name == addr.path.strip("/")]
        if not rows:
            lay.open_model(store, addr.path)  # raises NotFoundError naming the closest models
        return rows
    if kind == "model":
        loc = lay.open_model(store, addr.path)
        return [ModelSummary(loc.name, lay.name, loc.address, sum(f.size for f in loc.files.values()),
                             len(ckpts.inventory(loc.files)), loc.details)]
    return lay.list_models(store, addr.path)


def show(address: str, *, profile: AccessLike = None, layout: str | None = None,
         training_job: str | None = None) -> dict[str, Any]:
    loc = open_model(address, profile=profile, layout=layout, training_job=training_job)
    loc.prefetch([METADATA, EVAL_COPY, *ckpts.POINTERS])
    meta_bytes = loc.read(METADATA)
    summary = metadata_summary(parse_json(meta_bytes, loc.store.describe(loc.key_for(METADATA))), METADATA)
    ptr = ckpts.read_pointers(loc.files, loc.read)
    if ptr.json_error:
        raise InvalidModelError(f"model/deepracer_checkpoints.json is not valid JSON ({ptr.json_error})",
                                fix="fix or replace that file, then run the command again")
    checkpoints = {"best": ptr.best, "last": ptr.last, "coach_checkpoint": ptr.coach,
                   "iterations": sorted(ckpts.inventory(loc.files))}
    eval_copy = None
    if EVAL_COPY in loc.files:
        eval_copy = "identical to model_metadata.json" if loc.read(EVAL_COPY) == meta_bytes else "DIFFERS"
    return {
        "name": loc.name, "address": loc.address, "layout": loc.layout, "details": loc.details,
        "files": [{"path": p, "key": loc.key_for(p), "size": f.size, "role": role(p)}
                  for p, f in sorted(loc.files.items())],
        "size": sum(f.size for f in loc.files.values()), "metadata": summary, "checkpoints": checkpoints,
        "evaluation_metadata_copy": eval_copy,
    }


@dataclass
class _TargetPlace:
    """Where a target goes: its store and layout, found before (and while) the source is read."""
    address: Address
    store: Store
    layout: Layout
    kind: str | None  # what detection found: "model", "container"; None for a local folder


def _find_target(address: str, *, profile: AccessLike, layout: str | None,
                 options: TransferOptions | None) -> _TargetPlace:
    """The target's store and layout; what the layout will need to resolve the model (a legacy bucket's index) is
    read too. Needs nothing from the source, so plan_transfer runs it in a thread while the source is opened."""
    addr = parse(address)
    store = make_store(addr, profile, options, target=True)
    if isinstance(store, LocalStore):
        if store.root.exists() and not store.root.is_dir():
            raise UsageError(f"{store.root} is a file", fix="give a folder for the model")
        if store.root.is_dir() and any(store.root.iterdir()) and store.head(METADATA) is None:
            raise UsageError(f"{store.root} is not empty and holds no model",
                             fix="choose a new or empty folder, or a model folder to replace")
        return _TargetPlace(addr, store, layouts.get_layout(layout or "prefix"), None)
    store.exists()  # NoSuchBucket / AccessDenied here, before any planning
    lay, kind = layouts.detect(store, addr.path, layout,
                              default=layouts.default_target_layout(addr.bucket or "", addr.path))
    prepare = getattr(lay, "prepare", None)
    if prepare is not None:
        prepare(store)
    return _TargetPlace(addr, store, lay, kind)


def resolve_target(place: _TargetPlace, source: ModelLocation, request: TargetRequest) -> ModelLocation:
    """The target model in the place _find_target found; a bucket or container target takes the source's name
    unless one is given."""
    if place.kind == "container" or (place.kind is not None and not place.address.path):
        request = TargetRequest(name=request.name or source.name, create=request.create,
                                training_job=request.training_job, account_id=request.account_id)
    loc = place.layout.resolve_target(place.store, place.address.path, request)
    loc.details["layout"] = place.layout.name
    return loc


def _planning_reads(files: Mapping[str, ObjectInfo]) -> list[str]:
    """The small files planning reads (some more than once): metadata, reward function, checkpoint pointers,
    training params."""
    return [METADATA, EVAL_COPY, REWARD, *ckpts.POINTERS, *(p for p in files if TRAINING_PARAMS_RE.match(p))]


def _backup_folder(backup_to: str | None, target: ModelLocation) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{target.address.removeprefix('s3://')}".strip("/"))[-80:]
    return Path(backup_to or "drmodel-backups").expanduser().absolute() / f"{slug}-{stamp}"


def plan_transfer(kind: str, source: str, target: str, *, source_profile: AccessLike = None,
                  target_profile: AccessLike = None, layout: str | None = None, target_layout: str | None = None,
                  training_job: str | None = None, target_training_job: str | None = None, create: bool = False,
                  account_id: str | None = None, name: str | None = None, backup_to: str | None = None,
                  checkpoint: str = "both", force: bool = False, description: str | None = None,
                  relay: bool = False, options: TransferOptions | None = None, droa_options: Any = None) -> Plan:
    """Compare source and target and return the Plan of a pull, push or copy. Lists and reads; writes nothing.
    (Over the size limit: its 18 options are read in turn; issue 18 replaces them with a request object.)

    `checkpoint` narrows what is copied (best, last, both, all or a number) and rewrites the pointer files to
    match; `force` copies a model whose check finds errors. Between two buckets, the bytes are copied inside S3
    when the target's credentials can read the source (same service, a bucket policy or the same account),
    unless `relay`, else streamed through this machine. `droa_options` (drmodel.droa.transfer.DroaPushOptions)
    applies to a DRoA target only.
    """
    options = options or TransferOptions.from_env()
    if target.startswith("droa://"):
        src = open_model(source, profile=source_profile, layout=layout, training_job=training_job, options=options)
        return _plan_droa(src, parse(target), checkpoint, force, name, description, droa_options)
    from concurrent.futures import ThreadPoolExecutor

    # the target is looked at while the source is: neither needs the other until the target model is resolved
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="target") as pool:
        place = pool.submit(_find_target, target, profile=target_profile, layout=target_layout, options=options)
        src = open_model(source, profile=source_profile, layout=layout, training_job=training_job, options=options)
        src.prefetch(_planning_reads(src.files))
        request = TargetRequest(name=name, create=create, training_job=target_training_job, account_id=account_id)
        tgt = resolve_target(place.result(), src, request)
    if src.store.describe(src.key_for(METADATA)) == tgt.store.describe(tgt.key_for(METADATA)) or (
            src.address == tgt.address):  # a DRfC training prefix's metadata key is its model/ copy
        raise UsageError("the source and the target are the same model", fix="name another target")
    notes: list[str] = []
    src_files, rewritten, selection = _select_checkpoints(src, checkpoint)
    meta = src.read(METADATA)
    parse_json(meta, src.store.describe(src.key_for(METADATA)))
    if EVAL_COPY not in src_files:
        notes.append("the source has no model/model_metadata.json (evaluation reads that copy): the target gets "
                     "the root copy there too")
        rewritten[EVAL_COPY] = (meta, "added: evaluation reads this copy")
        src_files[EVAL_COPY] = src_files[METADATA]
    elif src.read(EVAL_COPY) != meta:
        notes.append("warning: the source's model/model_metadata.json differs from its model_metadata.json; both are "
                     "copied as they are (evaluation reads model/model_metadata.json)")
    if tgt.rewrite:
        for path in src_files:
            if TRAINING_PARAMS_RE.match(path):
                data = src.read(path)
                new = tgt.rewrite(path, data)
                if new != data:
                    rewritten[path] = (new, "rewrote " + ", ".join(paramsfile.changed_keys(data, new)))
    notes.extend(layouts.transfer_notes(src, tgt, src_files, rewritten))
    racing = _gate(src, src_files, rewritten, kind, force, notes)
    same = _same_paths(src, tgt, src_files, rewritten)
    s3_target = isinstance(tgt.store, S3Store)

    def metadata_for(path: str, info: ObjectInfo) -> dict[str, str]:
        if not s3_target or path in rewritten or not info.etag or isinstance(src.store, LocalStore):
            return {}
        return {"drmodel-source-etag": info.etag}

    plan = build_plan(kind, source_address=src.address, target_address=tgt.address, source_store=src.store,
                      target_store=tgt.store, source_files=src_files, source_key_for=src.key_for,
                      target_files=tgt.files, target_key_for=tgt.key_for, same=same, rewritten=rewritten,
                      stale_candidates=tgt.stale_candidates(), metadata_for=metadata_for)
    for a in plan.writes:
        read = src.already_read(a.path) if a.data is None else None
        if read is not None and len(read) == a.size:
            a.data = read  # a small file planning read: written from those bytes, not fetched again
    for a in plan.actions:
        if a.data is not None:
            a.sha256 = hashlib.sha256(a.data).hexdigest()
    plan.notes = notes
    server_side = (not relay and isinstance(tgt.store, S3Store) and isinstance(src.store, S3Store) and bool(plan.writes)
                   and tgt.store.can_read(src.store, src.key_for(METADATA)))
    plan.details.update({
        "server_side": server_side,
        "transfer": ("server-side copy: the target's credentials can read the source" if server_side else
                     "relayed through this machine" if s3_target and isinstance(src.store, S3Store) else None),
        "source": {"layout": src.layout, **src.details}, "target": {"layout": tgt.layout, **tgt.details},
        "target_exists": tgt.exists, "checkpoints": selection.description,
        "racing": racing,
        "allowed_keys": {tgt.key_for(p) for p in src_files} | {o.key for o in tgt.files.values()},
        "lock_key": None if hasattr(tgt.store, "finalize") else tgt.key_for(LOCK_NAME),
    })
    if plan.details["lock_key"]:
        plan.details["lock_seen"] = tgt.seen(plan.details["lock_key"])  # by planning's listing; None: not covered
    if plan.destructive:
        plan.backup_root = _backup_folder(backup_to, tgt)
    plan.write_manifest = isinstance(tgt.store, LocalStore)
    return plan


def _plan_droa(src: ModelLocation, addr: Address, checkpoint: str, force: bool, name: str | None,
               description: str | None, droa_options: Any = None) -> Plan:
    from drmodel.droa import transfer as droa

    files, rewritten, selection = _select_checkpoints(src, checkpoint)
    notes: list[str] = []
    racing = _gate(src, files, rewritten, "push", force, notes)
    model = name or addr.path or src.name
    plan = droa.plan_push(src, files, {p: d for p, (d, _) in rewritten.items()}, addr.bucket or "", model, description,
                          droa_options)
    plan.notes = notes + plan.notes
    plan.details.update({"checkpoints": selection.description, "racing": racing})
    return plan


def _select_checkpoints(src: ModelLocation, spec: str) -> tuple[dict[str, ObjectInfo], dict[str, tuple[bytes, str]],
                                                                  ckpts.Selection]:
    """The source files to copy for `--checkpoint spec`, and the pointer files rewritten to match."""
    files = dict(src.files)
    inv = ckpts.inventory(files)
    ptr = ckpts.read_pointers(files, src.read)
    selection = ckpts.select(inv, ptr, ckpts.parse_selection(spec))
    for n, ck in inv.items():
        if n not in selection.keep:
            for path in ck.files:
                files.pop(path, None)
    rewritten: dict[str, tuple[bytes, str]] = {}
    for path, data in selection.pointer_files.items():
        rewritten[path] = (data, f"written for the kept checkpoints ({spec})")
        files.setdefault(path, ObjectInfo(key="", size=len(data)))
    if "model/.coach_checkpoint" in selection.pointer_files:
        files.pop("model/coach_checkpoint", None)  # the dotless copy would contradict the new pointer
    return files, rewritten, selection


def _gate(src: ModelLocation, files: dict[str, ObjectInfo], rewritten: dict[str, tuple[bytes, str]], kind: str,
          force: bool, notes: list[str]) -> str | None:
    """Check the model as it will be written; refuse a broken one on copy and push unless forced.

    Returns which checkpoint will race in the target, e.g. `140_Step-123889.ckpt (best)`."""
    from drmodel.checks import check_model

    view = ModelLocation(store=src.store, layout=src.layout, name=src.name, address=src.address, files=files,
                         key_for=src.key_for, overrides={p: d for p, (d, _) in rewritten.items()},
                         _reads=src._reads)  # the same files, read once
    report = check_model(view, hashes=False)
    for f in report.findings:
        if f.severity in ("error", "warning") and f.topic in ("checkpoints", "evaluation", "metadata"):
            notes.append(f"{f.severity}: {f.message}")
    if report.errors and kind in ("copy", "push") and not force:
        first = report.errors[0]
        more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
        raise InvalidModelError(f"the target would be broken: {first.topic}: {first.message}{more}",
                                fix=f"run `drmodel check {src.address}` for details, or pass --force to copy anyway")
    e = report.evaluation
    return f"{e.name} ({e.kind})" if e and e.name else None


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
            return old.size == len(data) and tgt.read(path) == data
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


# -- verify --------------------------------------------------------------------------------------------------
@dataclass
class FileComparison:
    path: str
    status: str  # same, same (locations rewritten), differs, only in A, only in B
    size_a: int | None = None
    size_b: int | None = None
    sha256_a: str | None = None
    sha256_b: str | None = None
    proof: str = ""


@dataclass
class VerifyReport:
    a: str
    b: str
    files: list[FileComparison] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return all(f.status.startswith("same") for f in self.files)


def _params_without_locations(data: bytes, where: str) -> dict[str, Any]:
    doc = paramsfile.load(data, where)
    return {k: v for k, v in doc.items() if k not in LOCATION_KEYS}


def verify(a: str, b: str, *, a_profile: AccessLike = None, b_profile: AccessLike = None,
           layout: str | None = None, b_layout: str | None = None, training_job: str | None = None,
           b_training_job: str | None = None, hash_all: bool = False) -> VerifyReport:
    """Compare two models file by file: from stored checksums where they prove it, else by reading. Each row names
    its proof; with `hash_all`, every file whose sha256 is not known on both sides is read and hashed, so every
    row is proven by sha256."""
    ma = open_model(a, profile=a_profile, layout=layout, training_job=training_job)
    mb = open_model(b, profile=b_profile, layout=b_layout, training_job=b_training_job)
    return _compare_models(ma, mb, hash_all=hash_all)


def _compare_models(ma: ModelLocation, mb: ModelLocation, *, hash_all: bool = False) -> VerifyReport:
    report = VerifyReport(ma.address, mb.address)
    for path in sorted(set(ma.files) | set(mb.files)):
        fa, fb = ma.files.get(path), mb.files.get(path)
        if fa is None or fb is None:
            report.files.append(FileComparison(path, "only in B" if fa is None else "only in A",
                                               fa.size if fa else None, fb.size if fb else None))
            continue
        row = FileComparison(path, "differs", fa.size, fb.size)
        if TRAINING_PARAMS_RE.match(path):
            da, db = ma.read(path), mb.read(path)
            row.sha256_a, row.sha256_b = hashlib.sha256(da).hexdigest(), hashlib.sha256(db).hexdigest()
            row.proof = BY_SHA256
            if da == db:
                row.status = "same"
            elif _params_without_locations(da, path) == _params_without_locations(db, path):
                row.status, row.proof = "same (locations rewritten)", "yaml values"
        else:
            facts_a, facts_b = facts(ma.store, fa), facts(mb.store, fb)
            verdict, row.proof = prove(facts_a, facts_b, provenance=False)
            if verdict is None or (hash_all and verdict and row.proof != BY_SHA256):
                facts_a.sha256 = sha256_of(ma.store, fa, facts_a)
                facts_b.sha256 = sha256_of(mb.store, fb, facts_b)
                verdict, row.proof = facts_a.sha256 == facts_b.sha256, BY_READ if verdict is None else BY_SHA256
            row.sha256_a, row.sha256_b = facts_a.sha256, facts_b.sha256
            if verdict:
                row.status = "same"
        report.files.append(row)
    return report


def check(address: str, *, profile: AccessLike = None, layout: str | None = None, training_job: str | None = None,
          eval_checkpoint: str = "best") -> CheckReport:
    """Validate a model and say which checkpoint evaluation will load, with the sha256 of its files."""
    from drmodel.checks import check_model

    return check_model(open_model(address, profile=profile, layout=layout, training_job=training_job),
                       eval_checkpoint=eval_checkpoint)


@dataclass
class DiffReport:
    files: VerifyReport
    a: CheckReport
    b: CheckReport
    reasons: list[str] = field(default_factory=list)

    @property
    def same_weights(self) -> bool:
        return not self.reasons


def diff(a: str, b: str, *, a_profile: AccessLike = None, b_profile: AccessLike = None, layout: str | None = None,
         b_layout: str | None = None, training_job: str | None = None, b_training_job: str | None = None,
         eval_checkpoint: str = "best") -> DiffReport:
    """verify, plus the verdict that matters: will the same weights race, and if not, why not."""
    from drmodel.checks import check_model

    ma = open_model(a, profile=a_profile, layout=layout, training_job=training_job)
    mb = open_model(b, profile=b_profile, layout=b_layout, training_job=b_training_job)
    files = _compare_models(ma, mb)
    ca, cb = check_model(ma, eval_checkpoint=eval_checkpoint), check_model(mb, eval_checkpoint=eval_checkpoint)
    report = DiffReport(files, ca, cb)
    ea, eb = ca.evaluation, cb.evaluation
    if ea is None or eb is None or ea.number is None or eb.number is None:
        fatal = "; ".join(f"{side}: {e.fatal}" for side, e in (("A", ea), ("B", eb)) if e is not None and e.fatal)
        report.reasons.append("one of the models has no checkpoint evaluation can load"
                              + (f" ({fatal})" if fatal else ""))
    elif ea.name != eb.name:
        report.reasons.append(f"different checkpoint chosen: A loads {ea.name} ({ea.kind}), B loads {eb.name} "
                              f"({eb.kind})")
    elif ca.evaluation_sha256 != cb.evaluation_sha256:
        names = sorted(p for p in set(ca.file_sha256) | set(cb.file_sha256)
                       if ca.file_sha256.get(p) != cb.file_sha256.get(p))
        report.reasons.append(f"different bytes in the checkpoint that races ({ea.name}): {', '.join(names)}")
    meta_a, meta_b = (_eval_metadata(m) for m in (ma, mb))
    if meta_a is not None and meta_b is not None and meta_a != meta_b:
        phys_a, phys_b = (simapp.physics(simapp.metadata_version(m)) for m in (meta_a, meta_b))
        if phys_a != phys_b:  # the wheel radius (so each action's wheel speed) and per-step physics follow it
            report.reasons.append(f"different physics version in model/model_metadata.json (SimApp physics {phys_a} "
                                  f"vs {phys_b})")
        if meta_a.get("action_space") != meta_b.get("action_space") or (
                meta_a.get("action_space_type") != meta_b.get("action_space_type")):
            report.reasons.append("different action space in model/model_metadata.json (what evaluation reads)")
        else:
            fields = sorted(k for k in set(meta_a) | set(meta_b) if meta_a.get(k) != meta_b.get(k)
                            and (phys_a == phys_b or k != "version"))
            if fields:
                report.reasons.append(f"model/model_metadata.json differs in {', '.join(fields)}")
    return report


def _eval_metadata(loc: ModelLocation) -> dict[str, Any] | None:
    path = EVAL_COPY if EVAL_COPY in loc.files else METADATA if METADATA in loc.files else None
    if path is None:
        return None
    try:
        doc = json.loads(loc.read(path).decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def car(address: str, out: str, *, profile: AccessLike = None, layout: str | None = None,
        training_job: str | None = None, checkpoint: str = "best", overwrite: bool = False):  # -> CarPackage
    """Write the physical car package (agent/model.pb + model_metadata.json) of one checkpoint."""
    from drmodel.car import write_car_package

    loc = open_model(address, profile=profile, layout=layout, training_job=training_job)
    return write_car_package(loc, Path(out), checkpoint, overwrite=overwrite)


def plan_repair(address: str, *, profile: AccessLike = None, layout: str | None = None,
                training_job: str | None = None, from_copy: str | None = None,
                backup_to: str | None = None) -> Plan:
    """Fix what can be fixed without guessing, as a Plan (shown, backed up, executed like a push)."""
    loc = open_model(address, profile=profile, layout=layout, training_job=training_job)
    paths = set(loc.files)
    ptr = ckpts.read_pointers(paths, loc.read)
    fixes: dict[str, tuple[bytes, str]] = {}
    notes: list[str] = []
    if ptr.coach_dotless and ptr.coach:
        fixes["model/.coach_checkpoint"] = (ptr.coach.encode(), "copy of the dotless model/coach_checkpoint")
    if ptr.coach and (not ptr.json_present or ptr.json_error):
        entry = {"name": ptr.coach}
        fixes["model/deepracer_checkpoints.json"] = (json.dumps({"best_checkpoint": entry, "last_checkpoint": entry})
                                                     .encode(), "rebuilt from .coach_checkpoint: best = last = it")
    elif not ptr.coach and (not ptr.json_present or ptr.json_error):
        notes.append("neither deepracer_checkpoints.json nor .coach_checkpoint names a checkpoint: choosing one would "
                     "be a guess; copy with --checkpoint N instead")
    if METADATA in paths:
        root = loc.read(METADATA)
        if EVAL_COPY not in paths:
            fixes[EVAL_COPY] = (root, "restored from model_metadata.json (evaluation reads this copy)")
        elif loc.read(EVAL_COPY) != root:
            if from_copy == "root":
                fixes[EVAL_COPY] = (root, "replaced by model_metadata.json (--from root)")
            elif from_copy == "model":
                fixes[METADATA] = (loc.read(EVAL_COPY), "replaced by model/model_metadata.json (--from model)")
            else:
                notes.append("model/model_metadata.json differs from model_metadata.json: pass --from root or "
                             "--from model to say which copy is right")
    actions = []
    for path, (data, note) in sorted(fixes.items()):
        old = loc.files.get(path)
        actions.append(Action(op="overwrite" if old else "create", path=path, key=loc.key_for(path), size=len(data),
                              old_size=old.size if old else None, data=data, note=note,
                              sha256=hashlib.sha256(data).hexdigest()))
    plan = Plan(kind="repair", source_address=loc.address, target_address=loc.address, source_store=loc.store,
                target_store=loc.store, actions=actions, notes=notes)
    plan.details.update({"target": {"layout": loc.layout, **loc.details},
                         "allowed_keys": {a.key for a in actions}, "lock_key": loc.key_for(LOCK_NAME)})
    if plan.destructive:
        plan.backup_root = _backup_folder(backup_to, loc)
    return plan


# -- restore ---------------------------------------------------------------------------------------------------
def plan_restore(backup: str, *, profile: AccessLike = None, backup_to: str | None = None) -> Plan:
    """Undo a replace: put every saved object back and delete the keys that replace created."""
    from drmodel.execute import BACKUP_FILE

    root = Path(backup).expanduser().absolute()
    try:
        doc = json.loads((root / BACKUP_FILE).read_text())
    except FileNotFoundError:
        raise NotFoundError(f"{root} is not a drmodel backup (no {BACKUP_FILE})",
                            fix="give the backup folder named in the copy's output") from None
    spec = doc["store"]
    # what the replace used (its profile, and its --endpoint-url and --region), each unless given here
    used = Access(**spec["access"]) if spec.get("access") else Access(spec.get("profile"))
    target: Store = (LocalStore(Path(spec["root"])) if spec["type"] == "local"
                     else S3Store(spec["bucket"], profile=Access.of(profile).or_else(used)))
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
    plan = Plan(kind="restore", source_address=str(root), target_address=doc["target"], source_store=files,
                target_store=target, actions=actions)
    plan.details["allowed_keys"] = {i["key"] for i in doc["saved"]} | set(doc["created"])
    plan.details["lock_key"] = doc.get("lock_key")
    if plan.destructive:
        plan.backup_root = Path(backup_to or "drmodel-backups").expanduser().absolute() / (
            f"before-restore-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}")
    return plan
