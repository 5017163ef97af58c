"""Pre-flight for a DRoA import: every rule of the import checked before anything is uploaded.

Mechanical fixes are applied and listed (they become plan notes); what cannot be fixed without guessing is
refused with one line naming the rule and the fix. Rules: reference section 4.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from drmodel import paramsfile
from drmodel.checkpoints import checkpoint_number
from drmodel.checks import ALLOWED_IMPORTS, reward_imports
from drmodel.droa.tracks import TRACK_IDS
from drmodel.errors import InvalidModelError, UsageError
from drmodel.model import EVAL_COPY, METADATA, REWARD, TRAINING_PARAMS_RE
from drmodel.stores.base import ObjectInfo

NAME_RE = re.compile(r"^[a-zA-Z0-9-]{1,64}\Z")  # \Z: "$" would let a final newline in
DESCRIPTION_RE = re.compile(r"^[a-zA-Z0-9- ]{1,255}\Z")
MAX_OBJECTS = 1000  # the server copies with ONE ListObjectsV2 call: more are silently dropped
MAX_BYTES = 1 << 30  # the web UI's cap
BOOL_LINE_RE = re.compile(r"""^(?P<key>[A-Z0-9_]+)(?P<sep>\s*:\s*)(?P<q>["'])(?P<v>true|false|True|False)(?P=q)""")


@dataclass
class Upload:
    """What goes to `uploads/models/<uuid>/`: path -> source path (bytes unchanged) or new bytes."""

    sources: dict[str, str] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    fixes: dict[str, str] = field(default_factory=dict)  # path -> what was fixed

    def paths(self) -> list[str]:
        return sorted(set(self.sources) | set(self.data))


def refuse(rule: str, fix: str) -> InvalidModelError:
    return InvalidModelError(f"DeepRacer on AWS would refuse this model: {rule}", fix=fix)


def check_name(name: str, description: str | None) -> None:
    if not NAME_RE.match(name):
        raise UsageError(f"{name!r} is not a DRoA model name (letters, digits and '-', at most 64)",
                         fix="choose one with --as NEWNAME")
    if description is not None and not DESCRIPTION_RE.match(description):
        raise UsageError("the description may hold letters, digits, '-' and spaces, at most 255",
                         fix="change --description")


def unquote_booleans(data: bytes) -> tuple[bytes, list[str]]:
    out, changed = [], []
    for line in data.decode("utf-8-sig").splitlines(keepends=True):
        m = BOOL_LINE_RE.match(line)
        if m:
            changed.append(m.group("key"))
            line = f"{m.group('key')}{m.group('sep')}{m.group('v').lower()}" + line[m.end():]
        out.append(line)
    return "".join(out).encode(), changed


def preflight(files: Mapping[str, ObjectInfo], read: Callable[[str], bytes]) -> Upload:
    up = Upload(sources={p: p for p in files})
    for required in (METADATA, REWARD, "ip/hyperparameters.json"):
        if required not in files:
            raise refuse(f"{required} is missing (the import reads it)", fix="add it to the model folder")
    meta_bytes = read(METADATA)
    try:
        meta = json.loads(meta_bytes)
        hyper = json.loads(read("ip/hyperparameters.json"))
    except ValueError as exc:
        raise refuse(f"unreadable JSON ({exc})", fix="run `drmodel check` and fix the file") from None
    _training_params(files, read, up)
    _metadata(meta, hyper, files, read, up, meta_bytes)
    try:
        imports = reward_imports(ast.parse(read(REWARD).decode("utf-8-sig")))
    except (SyntaxError, ValueError, UnicodeDecodeError) as exc:
        raise refuse(f"reward_function.py does not parse ({exc})", fix="fix it") from None
    outside = sorted(imports - ALLOWED_IMPORTS)
    if outside:
        raise refuse(f"reward_function.py imports {', '.join(outside)}; only {', '.join(sorted(ALLOWED_IMPORTS))} "
                     "are allowed", fix="rewrite the reward function without those modules")
    _checkpoints(files, read, up)
    paths = up.paths()
    size = sum(files[up.sources[p]].size if p in up.sources else len(up.data[p]) for p in paths)
    if len(paths) > MAX_OBJECTS:
        raise refuse(f"{len(paths)} files; the import copies at most {MAX_OBJECTS} (one ListObjectsV2 call)",
                     fix="copy fewer checkpoints: --checkpoint both or best")
    if size > MAX_BYTES:
        raise refuse(f"{size} bytes; the upload is capped at 1 GiB", fix="copy fewer checkpoints: --checkpoint best")
    return up


def _training_params(files: Mapping[str, ObjectInfo], read: Callable[[str], bytes], up: Upload) -> None:
    found = sorted(p for p in files if TRAINING_PARAMS_RE.match(p))
    if not found:
        raise refuse("training_params.yaml is missing (track and direction)", fix="add the training job's "
                     "training_params.yaml")
    chosen = "training_params.yaml" if "training_params.yaml" in found else found[0] if len(found) == 1 else None
    if chosen is None:
        raise refuse(f"several training params files ({', '.join(found)})", fix="keep the one of the training job")
    for p in found:
        up.sources.pop(p, None)
    data = read(chosen)
    doc = paramsfile.load(data, chosen)
    notes = []
    if chosen != "training_params.yaml":
        notes.append(f"renamed from {chosen}")
    data, unquoted = unquote_booleans(data)
    if unquoted:
        notes.append(f"quoted booleans made booleans ({', '.join(unquoted)})")
    world = str(doc.get("WORLD_NAME", ""))
    for suffix, clockwise in (("_ccw", "false"), ("_cw", "true")):
        if world.endswith(suffix):
            world = world[: -len(suffix)]
            data = paramsfile.rewrite(data, {"WORLD_NAME": world})
            data = _set_direction(data, clockwise)
            notes.append(f"WORLD_NAME {doc['WORLD_NAME']} -> {world}, TRACK_DIRECTION_CLOCKWISE: {clockwise}")
            break
    if world not in TRACK_IDS:
        raise refuse(f"WORLD_NAME {world!r} is not a track DeepRacer on AWS knows",
                     fix="set WORLD_NAME in training_params.yaml to a known track id (see README)")
    direction = paramsfile.load(data, chosen).get("TRACK_DIRECTION_CLOCKWISE", False)
    if not isinstance(direction, bool):
        raise refuse(f"TRACK_DIRECTION_CLOCKWISE is {direction!r}, not a boolean", fix="set it to true or false")
    up.data["training_params.yaml"] = data
    if notes:
        up.fixes["training_params.yaml"] = "; ".join(notes)


def _set_direction(data: bytes, clockwise: str) -> bytes:
    if re.search(rb"^TRACK_DIRECTION_CLOCKWISE\s*:", data, re.M):
        return re.sub(rb"^TRACK_DIRECTION_CLOCKWISE\s*:.*$", f"TRACK_DIRECTION_CLOCKWISE: {clockwise}".encode(),
                      data, flags=re.M)
    return data.rstrip(b"\n") + f"\nTRACK_DIRECTION_CLOCKWISE: {clockwise}\n".encode()


def _metadata(meta: dict, hyper: dict, files: Mapping[str, ObjectInfo], read: Callable[[str], bytes], up: Upload,
              meta_bytes: bytes) -> None:
    space = meta.get("action_space")
    algo = meta.get("training_algorithm", "clipped_ppo")
    if algo == "sac":
        if isinstance(space, list) or meta.get("action_space_type", "discrete") != "continuous":
            raise refuse("SAC with a discrete action space", fix="SAC models need a continuous action space")
        if hyper.get("num_episodes_between_training") != 1:
            raise refuse("SAC needs num_episodes_between_training == 1 in ip/hyperparameters.json",
                         fix="this model cannot be imported as it is")
    if isinstance(space, dict):
        speed, steer = space.get("speed", {}), space.get("steering_angle", {})
        if not (0.5 <= speed.get("low", 0) <= speed.get("high", 99) <= 4):
            raise refuse(f"continuous speed {speed.get('low')}..{speed.get('high')} is outside 0.5..4",
                         fix="this model cannot be imported as it is")
        if not (-30 <= steer.get("low", -99) <= steer.get("high", 99) <= 30):
            raise refuse(f"continuous steering {steer.get('low')}..{steer.get('high')} is outside -30..30",
                         fix="this model cannot be imported as it is")
    if EVAL_COPY not in files:
        up.data[EVAL_COPY] = meta_bytes
        up.fixes[EVAL_COPY] = "added: a copy of model_metadata.json (the import requires it)"
    elif read(EVAL_COPY) != meta_bytes:
        up.sources.pop(EVAL_COPY, None)
        up.data[EVAL_COPY] = meta_bytes
        up.fixes[EVAL_COPY] = "replaced by model_metadata.json (the import requires them equal)"


def _checkpoints(files: Mapping[str, ObjectInfo], read: Callable[[str], bytes], up: Upload) -> None:
    if "model/coach_checkpoint" in files and "model/.coach_checkpoint" not in files:
        up.sources.pop("model/coach_checkpoint", None)
        up.data["model/.coach_checkpoint"] = read("model/coach_checkpoint")
        up.fixes["model/.coach_checkpoint"] = "renamed from the dotless model/coach_checkpoint"
    best = None
    if "model/deepracer_checkpoints.json" in files:
        try:
            best = (json.loads(read("model/deepracer_checkpoints.json")).get("best_checkpoint") or {}).get("name")
        except (ValueError, AttributeError):
            raise refuse("model/deepracer_checkpoints.json is not valid JSON", fix="drmodel repair") from None
    elif "model/.coach_checkpoint" in up.paths():
        data = up.data.get("model/.coach_checkpoint") or read("model/.coach_checkpoint")
        best = data.decode("utf-8", "replace").strip()
    else:
        raise refuse("neither model/deepracer_checkpoints.json nor model/.coach_checkpoint", fix="drmodel repair")
    n = checkpoint_number(best or "")
    if n is None:
        raise refuse(f"the best checkpoint {best!r} is not a checkpoint name", fix="drmodel check")
    if f"model/model_{n}.pb" not in files:
        raise refuse(f"model/model_{n}.pb (the best checkpoint's frozen graph) is missing",
                     fix="copy a model that has it; DRoA loads it")
