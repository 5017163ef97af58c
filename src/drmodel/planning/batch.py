"""Planning many models at once (`drmodel copy CONTAINER CONTAINER --all` or `--only PATTERN...`): every model of the
source container, each to its own place in the target container, named as the target's layout expects.

Each side's store is opened once and shared by every model (one client, one connection pool, one memory budget;
a legacy bucket's index is read once). Each model is planned as `plan_between` plans a single copy; a model that
cannot be planned (an ambiguous training job, a name the target refuses, a model whose check fails) gets its
reason instead of a plan, and the others go on.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from drmodel.address import Address, parse
from drmodel.errors import DrmodelError, ExitCode, UsageError
from drmodel.layouts import ModelLocation, ModelSummary, TargetRequest
from drmodel.options import TransferOptions
from drmodel.plan import BatchEntry, BatchPlan, Plan
from drmodel.planning.grant import batch_grant, check_grant, under_grant
from drmodel.planning.request import ModelRef, TransferRequest
from drmodel.planning.target import find_target, resolve_target
from drmodel.planning.transfer import folder_for, plan_between, planning_reads
from drmodel.reading import Container, open_container, several_jobs

PLANNING_THREADS = 16  # models planned at once (each plan is a few round trips on the shared stores; the clients
# have 32 connections)


@dataclass(frozen=True)
class BatchRequest:
    """A copy of many models: the two containers, which models, and what every model's copy does."""

    source: ModelRef  # a container: a bucket, a DRfC bucket or prefix, a folder of models or archives, droa://DEP
    target: ModelRef  # a container of the same kinds
    only: tuple[str, ...] = ()  # shell patterns on the model names (fnmatch, case-sensitive); empty: every model
    archives: bool = False  # a local target: each model as NAME.tar.gz in the folder instead of a folder NAME/
    checkpoint: str = "both"
    force: bool = False
    relay: bool = False
    backup_to: str | None = None
    account_id: str | None = None
    parallel: int = 4  # models in flight at once when the batch runs
    options: TransferOptions | None = None
    grant_read: bool = False  # one temporary read grant on the source bucket for the whole batch (drmodel.grant)
    grant_to: str | None = None  # the grant's principal (account id or IAM ARN); None: the target's STS account


def plan_batch(request: BatchRequest) -> BatchPlan:
    """List the source container, choose the models, plan each one. Lists and reads; writes nothing."""
    if request.parallel < 1:
        raise UsageError(f"--parallel-models {request.parallel} is not a number of models",
                         fix="give 1 or more (default 4)")
    check_grant(request.source, request.target, grant_read=request.grant_read, grant_to=request.grant_to,
                relay=request.relay)
    options = request.options or TransferOptions.from_env()
    # the target container is looked at while the source is listed: neither needs the other yet
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="target") as pool:
        target_side = pool.submit(_target_side, request, options)
        source = open_container(request.source.address, profile=request.source.profile,
                                layout=request.source.layout, options=options)
        to_target = target_side.result()
    if source is None:
        raise UsageError(f"{request.source.address} is one model, not a container of models",
                         fix="copy it without --all/--only, or give the bucket or folder that holds the models")
    models = source.by_name()
    names, unmatched = _chosen(sorted(models), request.only)

    def one(name: str) -> BatchEntry:
        return _plan_one(name, models[name], source, to_target, request)

    with ThreadPoolExecutor(max_workers=PLANNING_THREADS, thread_name_prefix="plan") as pool:
        entries = tuple(pool.map(one, names))
    batch = BatchPlan(kind="copy", source_address=request.source.address, target_address=request.target.address,
                      entries=entries, parallel=request.parallel, unmatched=unmatched)
    return with_batch_grant(batch, request) if request.grant_read else batch


def with_batch_grant(batch: BatchPlan, request: BatchRequest) -> BatchPlan:
    """The batch with its one read grant (--grant-read): every model that copies from the source becomes
    server-side by it; with no model needing it, only the sweep of what a dead run of this batch left."""
    plans = batch.plans
    if not plans:
        return batch
    grant, sweep, needing = batch_grant(plans, request.grant_to, request.target.address)
    if grant is None:
        return replace(batch, grant_sweep=sweep)
    entries = tuple(replace(e, plan=under_grant(e.plan)) if e.plan is not None and any(e.plan is p for p in needing)
                    else e for e in batch.entries)
    folder = folder_for(request.backup_to, f"{request.source.address}-grant")
    return replace(batch, entries=entries, grant=grant, grant_sweep=sweep, grant_folder=folder)


def _plan_one(name: str, rows: list[ModelSummary], source: Container,
              to_target: Callable[[ModelLocation], tuple[str, Plan | None, ModelLocation | None]],
              request: BatchRequest) -> BatchEntry:
    address = rows[0].address
    if len(rows) > 1:
        return BatchEntry(name, address, "-", problem=several_jobs(rows),
                          fix="copy it alone with --training-job, or leave it out with --only", exit_code=int(
                              ExitCode.AMBIGUOUS))
    target = "-"
    try:
        src = source.open(rows[0])
        src.prefetch(planning_reads(src.files))  # the small files planning reads, all at once
        target, plan, tgt = to_target(src)
        if plan is None:
            assert tgt is not None
            plan = plan_between("copy", src, tgt, checkpoint=request.checkpoint, force=request.force,
                                relay=request.relay, backup_to=request.backup_to)  # a folder per model in it
        return BatchEntry(name, src.address, plan.target_address, plan=plan)
    except DrmodelError as exc:
        return BatchEntry(name, address, target, problem=exc.message, fix=exc.fix, exit_code=int(exc.exit_code))
    except Exception as exc:  # a bug in one model's planning must not hide the other models' plans
        return BatchEntry(name, address, target, problem=f"{exc.__class__.__name__}: {exc}",
                          fix="this is a drmodel bug; plan this model alone with --debug and report it",
                          exit_code=int(ExitCode.ERROR))


def _chosen(names: list[str], only: tuple[str, ...]) -> tuple[list[str], tuple[str, ...]]:
    """The model names --only's patterns match (every name without --only), and the patterns that match none."""
    if not only:
        return names, ()
    chosen = [n for n in names if any(fnmatch.fnmatchcase(n, pattern) for pattern in only)]
    unmatched = tuple(p for p in only if not any(fnmatch.fnmatchcase(n, p) for n in names))
    return chosen, unmatched


# -- the target container -----------------------------------------------------------------------------------
def _target_side(request: BatchRequest, options: TransferOptions
                 ) -> Callable[[ModelLocation], tuple[str, Plan | None, ModelLocation | None]]:
    """What each source model's copy goes to: (target address, a plan made already (DRoA), or the target model)."""
    ref = request.target
    addr = parse(ref.address)
    if addr.scheme == "droa":
        return _droa_target(request, addr, options)
    if addr.scheme == "archive":
        raise UsageError(f"{ref.address} is one archive, not a container", fix="give a folder (add --archives to "
                         "write each model as NAME.tar.gz in it)")
    if addr.scheme == "file":
        root = addr.root
        assert root is not None
        if not root.is_dir():
            from drmodel.errors import NotFoundError

            raise NotFoundError(f"folder {root} does not exist", fix=f"create it first (mkdir {root})")

        def local(src: ModelLocation) -> tuple[str, Plan | None, ModelLocation | None]:
            address = str(Path(root) / (src.name + (".tar.gz" if request.archives else "")))
            place = find_target(address, profile=None, layout=ref.layout, options=options)
            return address, None, resolve_target(place, src, TargetRequest(name=None, create=True))

        return local
    if request.archives:
        raise UsageError("--archives writes into a local folder", fix="give a folder as the target, or drop it")
    place = find_target(ref.address, profile=ref.profile, layout=ref.layout, options=options)
    if place.kind == "model" and addr.path and next(iter(place.store.list(addr.path.rstrip("/") + "/")), None):
        raise UsageError(f"{ref.address} is one model, not a container of models",
                         fix="give the bucket (or the folder of models) the models go into")
    container = replace(place, kind="container")

    def s3(src: ModelLocation) -> tuple[str, Plan | None, ModelLocation | None]:
        # the model's own place under the container (a prefix layout's model is its folder; the legacy layout
        # places a model by its name)
        child = replace(container, address=replace(addr, path="/".join(p for p in (addr.path.strip("/"), src.name)
                                                                        if p)))
        wanted = TargetRequest(name=src.name, create=True, account_id=request.account_id)
        tgt = resolve_target(child, src, wanted)
        return tgt.address, None, tgt

    return s3


def _droa_target(request: BatchRequest, addr: Address, options: TransferOptions
                 ) -> Callable[[ModelLocation], tuple[str, Plan | None, ModelLocation | None]]:
    if addr.path:
        raise UsageError(f"{request.target.address} is one model, not a deployment", fix=f"give droa://{addr.bucket}")
    from drmodel.planning.droa import plan_droa

    def droa(src: ModelLocation) -> tuple[str, Plan | None, ModelLocation | None]:
        address = f"droa://{addr.bucket}/{src.name}"
        one = TransferRequest("copy", request.source, ModelRef(address), checkpoint=request.checkpoint,
                              force=request.force, backup_to=request.backup_to, options=options)
        return address, plan_droa(src, parse(address), one), None

    return droa
