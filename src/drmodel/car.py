"""The physical car package (reference section 7): a .tar.gz with `agent/model.pb` and `model_metadata.json`.

`agent/model.pb` is the chosen checkpoint's frozen graph `model/model_<N>.pb`; the car, DREM and DeepRacer on
AWS's physical import read it with the model_metadata.json evaluation reads (`model/model_metadata.json`).
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from drmodel import checkpoints as ckpts
from drmodel.errors import InvalidModelError, UsageError
from drmodel.hashing import HashingReader, check_read_sha256
from drmodel.layouts.base import ModelLocation
from drmodel.model import EVAL_COPY, METADATA


@dataclass
class CarPackage:
    path: Path
    checkpoint: str
    pb_source: str
    pb_sha256: str
    size: int
    notes: list[str]


def write_car_package(loc: ModelLocation, out: Path, spec: str = "best", *, overwrite: bool = False) -> CarPackage:
    out = Path(out).expanduser().absolute()
    if not out.name.endswith((".tar.gz", ".tgz")):
        raise UsageError(f"{out.name}: a car package is a .tar.gz", fix="name it NAME.tar.gz")
    if out.exists() and not overwrite:
        raise UsageError(f"{out} already exists", fix="remove it or choose another file name")
    inv = ckpts.inventory(loc.files)
    ptr = ckpts.read_pointers(loc.files, loc.read)
    if spec in ("both", "all"):
        raise UsageError("a car package holds one checkpoint", fix="use --checkpoint best, last or a number")
    number = next(iter(ckpts.select(inv, ptr, ckpts.parse_selection(spec)).keep))
    ck = inv[number]
    if ck.pb is None:
        raise InvalidModelError(f"checkpoint {ck.name or number} has no model_{number}.pb (its frozen graph)",
                                fix="choose a checkpoint that has one (drmodel check lists them)")
    notes = []
    meta_path = EVAL_COPY if EVAL_COPY in loc.files else METADATA
    meta = loc.read(meta_path)
    if meta_path == EVAL_COPY and METADATA in loc.files and loc.read(METADATA) != meta:
        notes.append("model/model_metadata.json differs from model_metadata.json: the package has the one "
                     "evaluation reads (model/)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    pb_info = loc.files[ck.pb]
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            stream = loc.store.open_read(loc.key_for(ck.pb))
            reader = HashingReader(stream, None)
            try:
                tar.addfile(_member("agent/model.pb", pb_info.size), reader)
            finally:
                stream.close()
            check_read_sha256(stream, reader.sha256, loc.store.describe(loc.key_for(ck.pb)))
            tar.addfile(_member("model_metadata.json", len(meta)), io.BytesIO(meta))
        if reader.bytes_read != pb_info.size:
            raise InvalidModelError(f"{ck.pb} changed while it was read", fix="run the command again")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return CarPackage(out, ck.name or str(number), loc.store.describe(loc.key_for(ck.pb)), reader.sha256,
                      out.stat().st_size, notes)


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, int(time.time())
    return info
