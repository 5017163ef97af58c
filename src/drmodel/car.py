"""The physical car package (reference section 7): a .tar.gz with `agent/model.pb` and `model_metadata.json`.

`agent/model.pb` is the chosen checkpoint's frozen graph `model/model_<N>.pb`; the car, DREM and DeepRacer on
AWS's physical import read it with the model_metadata.json evaluation reads (`model/model_metadata.json`).

What the consumers accept (tests/test_conformance_drfc_car.py cites each rule's source):
- the car's web upload and DREM's upload page take only a file named `*.tar.gz`; DREM's whole name must match
  `[A-Za-z0-9_-]+.tar.gz`, and the car and DREM name the model after the file name up to its first dot;
- the car's loader wants exactly one model file in the archive (a file with no extension counts as one too) and
  a top-level model_metadata.json, so the package holds those two members and nothing else;
- the car's web server refuses to load a model whose metadata names a sensor, algorithm or action-space type it
  does not know, has no action space, a discrete action without speed and steering_angle, a continuous range
  whose high is not above its low, or an incomplete lidar_config for a lidar sensor. drmodel refuses those
  before writing; other findings of `drmodel check` are notes.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drmodel import checkpoints as ckpts
from drmodel.errors import InvalidModelError, UsageError
from drmodel.hashing import HashingReader, check_read_sha256
from drmodel.layouts.base import ModelLocation
from drmodel.model import EVAL_COPY, METADATA

SUFFIX = ".tar.gz"
STEM_RE = re.compile(r"^[A-Za-z0-9_-]+\Z")  # DREM's upload page: ^[a-zA-Z0-9-_]+\.tar\.gz$
CAR_SENSORS = ("observation", "LIDAR", "SECTOR_LIDAR", "LEFT_CAMERA", "FRONT_FACING_CAMERA", "STEREO_CAMERAS")
CAR_LIDARS = ("LIDAR", "SECTOR_LIDAR")
LIDAR_KEYS = ("num_values", "min_angle", "max_angle", "min_distance", "max_distance", "clipping_distance",
              "num_sectors")
MEMBERS = ("agent/model.pb", "model_metadata.json")  # the only two: anything else may stop the car's loader


@dataclass
class CarPackage:
    path: Path
    checkpoint: str
    pb_source: str
    pb_sha256: str
    size: int
    notes: list[str]
    model_name: str = ""  # what the car and DREM call it: the file name up to its first dot


def valid_name(stem: str) -> str:
    """A file name the car and DREM both accept, close to `stem`."""
    return (re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-") or "model") + SUFFIX


def car_file_name(out: Path, default_stem: str) -> Path:
    """The package's path: `out`, or `<model name>.tar.gz` inside `out` when it is a folder; its name checked
    against what the car's web upload and DREM accept."""
    if out.is_dir():
        out = out / (default_stem + SUFFIX)
    name = out.name
    if not name.endswith(SUFFIX):
        stem = next((name[: -len(s)] for s in (".tgz", ".tar", ".gz", ".zip") if name.endswith(s)),
                    name.rsplit(".", 1)[0])
        raise UsageError(f"{name}: the car's upload and DREM take only .tar.gz files",
                         fix=f"name it {valid_name(stem)}")
    stem = name[: -len(SUFFIX)]
    if not STEM_RE.match(stem):
        raise UsageError(f"{name}: the car and DREM name the model after the file name up to its first dot, and DREM "
                         "accepts only letters, digits, '-' and '_' before .tar.gz", fix=f"name it {valid_name(stem)}")
    return out


def car_refusals(meta: Any) -> list[str]:
    """What in a model_metadata.json makes the car's web server refuse to load the model."""
    if not isinstance(meta, dict):
        return ["model_metadata.json is not a JSON object"]
    out = []
    sensors = meta.get("sensor", ["observation"])
    if not isinstance(sensors, list) or not all(isinstance(s, str) for s in sensors):
        return ["sensor is not a list of names"]
    unknown = sorted({s for s in sensors if s not in CAR_SENSORS})
    if unknown:
        out.append(f"sensor {', '.join(unknown)} is not one the car knows ({', '.join(CAR_SENSORS)})")
    algo = meta.get("training_algorithm", "clipped_ppo")
    if algo not in ("clipped_ppo", "sac"):
        out.append(f"training_algorithm {algo!r} is neither clipped_ppo nor sac")
    kind = meta.get("action_space_type", "discrete")
    if kind not in ("discrete", "continuous"):
        out.append(f"action_space_type {kind!r} is neither discrete nor continuous")
    if "action_space" not in meta:
        out.append("there is no action_space")
    elif kind == "discrete":
        space = meta["action_space"]
        if not isinstance(space, list) or not all(isinstance(a, dict) and "steering_angle" in a and "speed" in a
                                                  for a in space):
            out.append("a discrete action_space must be a list of actions, each with steering_angle and speed")
    elif kind == "continuous":
        space = meta["action_space"]
        for key in ("steering_angle", "speed"):
            rng = space.get(key) if isinstance(space, dict) else None
            if not (isinstance(rng, dict) and _number(rng.get("low")) and _number(rng.get("high"))):
                out.append(f"continuous action_space.{key} needs numeric low and high")
            elif not rng["high"] > rng["low"]:
                out.append(f"continuous action_space.{key}: high {rng['high']} is not above low {rng['low']}")
    config = meta.get("lidar_config")
    if any(s in CAR_LIDARS for s in sensors) and config is not None:
        missing = [k for k in LIDAR_KEYS if not isinstance(config, dict) or k not in config]
        if missing:
            out.append(f"lidar_config lacks {', '.join(missing)} (the car reads all of {', '.join(LIDAR_KEYS)})")
    return out


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _notes_from_check(meta: Any) -> list[str]:
    """`drmodel check`'s metadata findings, as notes: the car may still run such a model."""
    from drmodel.checks import CheckReport, check_metadata

    report = CheckReport(address="", layout="")
    check_metadata(meta, report)
    return [f"drmodel check: {f.severity}: {f.message}" for f in report.findings if f.severity in ("error", "warning")]


def write_car_package(loc: ModelLocation, out: Path, spec: str = "best", *, overwrite: bool = False) -> CarPackage:
    out = car_file_name(Path(out).expanduser().absolute(), valid_name(loc.name)[: -len(SUFFIX)])
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
    where = loc.store.describe(loc.key_for(meta_path))
    try:
        doc = json.loads(meta.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidModelError(f"{where} is not valid JSON ({exc}): the car cannot read it",
                                fix="fix that file (drmodel check), then run the command again") from None
    refusals = car_refusals(doc)
    if refusals:
        more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
        raise InvalidModelError(f"the car would refuse this model: {where}: {refusals[0]}{more}",
                                fix="fix the model's metadata (drmodel check), or choose a model the car can run")
    notes += _notes_from_check(doc)
    notes.append(f"the car and DREM will call this model {out.name.split('.', 1)[0]!r} (the file name up to its "
                 "first dot)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    pb_info = loc.files[ck.pb]
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            stream = loc.store.open_read(loc.key_for(ck.pb))
            reader = HashingReader(stream, None)
            try:
                tar.addfile(_member(MEMBERS[0], pb_info.size), reader)
            finally:
                stream.close()
            check_read_sha256(stream, reader.sha256, loc.store.describe(loc.key_for(ck.pb)))
            tar.addfile(_member(MEMBERS[1], len(meta)), io.BytesIO(meta))
        if reader.bytes_read != pb_info.size:
            raise InvalidModelError(f"{ck.pb} changed while it was read", fix="run the command again")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return CarPackage(out, ck.name or str(number), loc.store.describe(loc.key_for(ck.pb)), reader.sha256,
                      out.stat().st_size, notes, model_name=out.name.split(".", 1)[0])


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, int(time.time())
    return info
