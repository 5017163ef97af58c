"""Reading models: the store an address names, the model opened there, what a container holds, and the read-only
commands on one model (show, check, car). Every function returns data; nothing here prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drmodel import checkpoints as ckpts
from drmodel import layouts
from drmodel.access import AccessLike
from drmodel.address import Address, parse
from drmodel.errors import DrmodelError, InvalidModelError, NotFoundError, UsageError
from drmodel.layouts import ModelLocation, ModelSummary
from drmodel.model import EVAL_COPY, METADATA, metadata_summary, parse_json, role
from drmodel.options import TransferOptions
from drmodel.stores import open_store
from drmodel.stores.base import Store

if TYPE_CHECKING:
    from drmodel.car import CarPackage
    from drmodel.checks import CheckReport


def make_store(addr: Address, profile: AccessLike, options: TransferOptions | None = None, *,
               target: bool = False) -> Store:
    """The store an address names (stores.STORES)."""
    return open_store(addr, profile, options, target=target)


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
    return _opened(store, lay, addr, training_job)


def _opened(store: Store, lay: layouts.Layout, addr: Address, training_job: str | None) -> ModelLocation:
    """The model a detected layout found at addr."""
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


def check(address: str, *, profile: AccessLike = None, layout: str | None = None, training_job: str | None = None,
          eval_checkpoint: str = "best") -> CheckReport:
    """Validate a model and say which checkpoint evaluation will load, with the sha256 of its files."""
    from drmodel.checks import check_model

    return check_model(open_model(address, profile=profile, layout=layout, training_job=training_job),
                       eval_checkpoint=eval_checkpoint)


def car(address: str, out: str, *, profile: AccessLike = None, layout: str | None = None,
        training_job: str | None = None, checkpoint: str = "best", overwrite: bool = False) -> CarPackage:
    """Write the physical car package (agent/model.pb + model_metadata.json) of one checkpoint."""
    from drmodel.car import write_car_package

    loc = open_model(address, profile=profile, layout=layout, training_job=training_job)
    return write_car_package(loc, Path(out), checkpoint, overwrite=overwrite)


# -- containers ---------------------------------------------------------------------------------------------
@dataclass
class Container:
    """A place that holds models (a bucket, a DRfC bucket or prefix, a folder of models or archives, a DRoA
    deployment): its models as `list_models` rows, and how to open each one on the container's own store."""

    address: str
    rows: list[ModelSummary]
    open: Callable[[ModelSummary], ModelLocation]

    def by_name(self) -> dict[str, list[ModelSummary]]:
        """The rows by model name (a name with several training jobs or exports has several rows)."""
        found: dict[str, list[ModelSummary]] = {}
        for row in self.rows:
            found.setdefault(row.name, []).append(row)
        return found


def several_jobs(rows: list[ModelSummary]) -> str:
    """Why a model with several rows (training jobs or exports) is not opened in a batch, naming them."""
    jobs = ", ".join(str(r.details.get("training_prefix") or r.address) for r in rows)
    return f"{len(rows)} training jobs or exports ({jobs})"


def open_container(address: str, *, profile: AccessLike = None, layout: str | None = None,
                   options: TransferOptions | None = None) -> Container | None:
    """The container at `address`, listed; None when the address names one model."""
    place = _container_or_model(address, profile, layout, options)
    return place if isinstance(place, Container) else None


def open_place(address: str, *, profile: AccessLike = None, layout: str | None = None,
               training_job: str | None = None, options: TransferOptions | None = None) -> Container | ModelLocation:
    """The container at `address`, listed, or the one model it names, opened (detected once either way)."""
    place = _container_or_model(address, profile, layout, options)
    return place if isinstance(place, Container) else place(training_job)


def _container_or_model(address: str, profile: AccessLike, layout: str | None, options: TransferOptions | None
                        ) -> Container | Callable[[str | None], ModelLocation]:
    """The container at `address`, or how to open the one model it names (with a training job) without
    detecting its layout again."""
    addr = parse(address)

    def alone(training_job: str | None) -> ModelLocation:
        return open_model(address, profile=profile, layout=layout, training_job=training_job, options=options)

    if addr.scheme == "droa":
        from drmodel.droa import transfer as droa

        if addr.path:
            return alone
        return Container(address, droa.list_models(addr.bucket or ""),
                         lambda row: open_model(row.address, profile=profile, options=options))
    if addr.scheme == "archive":
        return alone
    _local_must_exist(addr)
    store = make_store(addr, profile, options)
    archives = _archives_in(addr)
    try:
        lay, kind = layouts.detect(store, addr.path, layout)
    except DrmodelError:
        if archives:  # a folder of archives only
            return Container(address, archives, lambda row: open_model(row.address, options=options))
        raise
    if kind == "model":
        return lambda training_job: _opened(store, lay, addr, training_job)
    return Container(address, lay.list_models(store, addr.path) + archives,
                     lambda row: (open_model(row.address, options=options) if row.layout == "archive"
                                  else lay.open_listed(store, row)))


def _archives_in(addr: Address) -> list[ModelSummary]:
    """The model archives (NAME.tar.gz, .tgz, .tar, .zip) directly in a local folder, each one model."""
    if addr.scheme != "file" or addr.root is None:
        return []
    from drmodel.archive import SUFFIXES  # the suffixes address.parse takes for an archive

    rows = []
    for path in sorted(addr.root.iterdir()):
        suffix = next((s for s in SUFFIXES if path.name.endswith(s)), None)
        if suffix and path.is_file():
            rows.append(ModelSummary(name=path.name[:-len(suffix)], layout="archive", address=str(path),
                                     size=path.stat().st_size, checkpoints=0))
    return rows
