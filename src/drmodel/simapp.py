"""What DeepRacer's SimApp evaluation does with a model's files: which checkpoint it loads, and when it fails.

Each rule restates the behaviour of aws-deepracer-community/deepracer-simapp at commit 01f5f015 (the SimApp
that DRfC runs; AWS's own upstream v1.2.4 is the same except that it always evaluates `best`). Paths are below
that repository's `bundle/markov/` folder, `rl_coach/...` below `bundle/`. This module is our own code: it reads
bytes and names, never runs anything.

  R1  EVAL_CHECKPOINT: `best` in any case means best; every other value means last (evaluation_worker.py:376-381).
  R3  deepracer_checkpoints.json: `doc[entry]["name"]`, parsed by Python's json from strict UTF-8 (a BOM is an
      error); any problem, or an empty name, means "no pick" and the job goes on
      (boto/s3/files/checkpoint_files/deepracer_checkpoint_json.py:88-115).
  R4  A pick that is a non-empty string is written over model/.coach_checkpoint as it is, unchecked
      (boto/s3/files/checkpoint_files/rl_coach_checkpoint.py:170-182).
  R5  .coach_checkpoint is read back by rl_coach: the first 256 characters, one name pattern
      (rl_coach/rl_coach/checkpoint.py:130-138, 254-271).
  R6  No model/.coach_checkpoint at all: "Checkpoint not found" (s3_boto_data_store.py:287-306).
  R7  A name rl_coach cannot read: ten retries 10 s apart, then a NameError (s3_boto_data_store.py:311-355).
  R9  The checkpoint files are listed under `PREFIX/model` with no trailing slash, recursively; only base names
      count (tensorflow_model.py:82-83, 127-134; boto/s3/s3_client.py:245-251).
  R10 The checkpoint is present when any base name starts with its name (tensorflow_model.py:126-139).
  R11 Otherwise the highest number before the first `_` wins, first key on a tie, name = base name minus its last
      extension; none: "No checkpoint files" (tensorflow_model.py:140-166).
  R12 Every listed file whose base name starts with the name is downloaded, `.pb` excepted
      (tensorflow_model.py:169-178).
  R13 Loading needs `<name>.index` and the `.data-*` shards; `.meta` is regenerated (tensorflow_model.py:214-288).
  R14 Metadata version below 2 and no `.coach_checkpoint` base name in the first listing page: the name quoted on
      the first line of model/checkpoint becomes .coach_checkpoint (evaluation_worker.py:371-373,
      rl_coach_checkpoint.py:193-260).
  R15 Evaluation reads model/model_metadata.json only (evaluation_worker.py:354-361, boto/s3/constants.py:50).
  R16 How that file is parsed, and what is fatal (boto/s3/files/model_metadata.py:210-331,
      evaluation_worker.py:557-576).
  R17 The version sets the wheel radius, so the wheel speed each action commands (agent_ctrl/utils.py:231-242).
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

BOM = b"\xef\xbb\xbf"
ENTRIES = {"best": "best_checkpoint", "last": "last_checkpoint"}
NOT_DEFINED = "Eval worker error: name 'timeout' is not defined"  # R7: what SimApp prints instead of its timeout
REWRITE = "copy or pull with --checkpoint N, which writes both pointers"
FIRST_PAGE = 1000  # R14: is_compatible reads one list_objects_v2 page

# R5: an optional leading number ended by a non-digit, then the shortest text up to `.ckpt`, then an optional
# `-N`; a name counts only with one of the two numbers. `^` without MULTILINE anchors at the very start.
_NAME = re.compile(r"^(?:(\d+)\D)?.*?\.ckpt(?:-(\d+))?", re.ASCII)


class NameAssertion(Exception):
    """rl_coach's name reader stops with an AssertionError when a name has both numbers (`5_x.ckpt-3`)."""


def which_entry(eval_checkpoint: str) -> str:
    """R1: `best` (any case) picks best_checkpoint; anything else, `latest` or `145` included, last_checkpoint."""
    return "best" if eval_checkpoint.lower() == "best" else "last"


def as_text(raw: bytes) -> str:
    """A file as the SimApp container's open() reads it: strict UTF-8 (LANG=C.UTF-8, so no BOM stripping), with
    universal newlines. Raises UnicodeDecodeError as it would."""
    return raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def read_name(text: str) -> tuple[int, str] | None:
    """R5: (number, name) as rl_coach reads a checkpoint pointer, or None when it reads no name.

    `140_Step-123889.ckpt` and `140_Step-123889.ckpt.index` give 140 and `140_Step-123889.ckpt`; `model.ckpt-10`
    gives 10. A leading space, BOM or blank line, no `.ckpt`, or `145.ckpt` give None."""
    m = _NAME.search(text[:256])
    if m is None or (m.group(1) is None and m.group(2) is None):
        return None
    if m.group(1) is not None and m.group(2) is not None:
        raise NameAssertion(m.group(0))
    return int(m.group(1) if m.group(1) is not None else m.group(2)), m.group(0)


def json_pick(raw: bytes | None, which: str) -> tuple[str | None, str]:
    """R3: the name evaluation takes from deepracer_checkpoints.json for `which` (best or last), or None and why."""
    entry = ENTRIES[which]
    if raw is None:
        return None, "model/deepracer_checkpoints.json is missing"
    try:
        doc = json.loads(as_text(raw))
    except UnicodeDecodeError:
        return None, "model/deepracer_checkpoints.json is not UTF-8"
    except ValueError as exc:
        if raw.startswith(BOM):
            return None, "model/deepracer_checkpoints.json starts with a UTF-8 BOM, which SimApp's json parser rejects"
        return None, f"model/deepracer_checkpoints.json is not valid JSON ({str(exc).splitlines()[0]})"
    if not isinstance(doc, dict) or not isinstance(doc.get(entry), dict) or "name" not in doc[entry]:
        return None, f"model/deepracer_checkpoints.json has no {entry} name"
    name = doc[entry]["name"]
    if not name:
        return None, f"{entry} has no name yet ({json.dumps(name)})"
    if not isinstance(name, str):
        return None, f"{entry}'s name {json.dumps(name)} is not a string, so SimApp does not write it"
    return name, ""


def basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def leading_number(base: str) -> int | None:
    """R11: the number a file name starts with, as SimApp tests it: Python's int() of the text before the first `_`."""
    try:
        return int(base.split("_")[0])
    except ValueError:
        return None


def s3_order(paths: Sequence[str]) -> list[str]:
    """Keys as S3 lists them: by the UTF-8 bytes of the whole key."""
    return sorted(paths, key=lambda p: p.encode("utf-8"))


def present(name: str, listing: Sequence[str]) -> bool:
    """R10: whether some listed file's base name starts with the name (a plain text prefix, not the number)."""
    return any(basename(p).startswith(name) for p in listing)


def fallback(listing: Sequence[str]) -> tuple[int, str, str] | None:
    """R11: (number, name, path it came from) of the checkpoint SimApp falls back to, or None."""
    best: tuple[int, str, str] | None = None
    for path in listing:
        base = basename(path)
        n = leading_number(base)
        if n is not None and (best is None or n > best[0]):
            best = (n, base.rsplit(".", 1)[0], path)
    return best


def downloads(name: str, listing: Sequence[str]) -> list[str]:
    """R12: the listed files evaluation downloads for a name (flattened into one folder; `.pb` never)."""
    return [p for p in listing if basename(p).startswith(name) and posixpath.splitext(p)[1] != ".pb"]


_SHARD = re.compile(r"\.data-(\d+)-of-(\d+)$")


def load_problem(name: str, files: Sequence[str]) -> tuple[str, str] | None:
    """R13: (SimApp's message, what is missing) when the downloaded files cannot be loaded as `name`, else None."""
    bases = {basename(p) for p in files}
    if f"{name}.index" not in bases:
        have = ", ".join(sorted(bases)) or "nothing"
        return ("Couldn't find 'checkpoint' file or checkpoints in given directory ./checkpoint",
                f"{name}.index is not among the files evaluation downloads ({have})")
    shards: dict[int, set[int]] = {}
    for b in bases:
        m = _SHARD.search(b)
        if m and b[:m.start()] == name:
            shards.setdefault(int(m.group(2)), set()).add(int(m.group(1)))
    if not any(got == set(range(total)) for total, got in shards.items()):
        return "No checkpoint found", f"{name} has no complete set of .data-*-of-* files"
    return None


def compat_name(tf_raw: bytes | None) -> tuple[str | None, str, str]:
    """R14: the name make_compatible takes from model/checkpoint: (name, "", "") or (None, SimApp message, why)."""
    if tf_raw is None:
        return None, "Unable to make model compatible: <bucket>, 404", "model/checkpoint is missing"
    try:
        first = as_text(tf_raw).split("\n", 1)[0]
    except UnicodeDecodeError as exc:
        return None, f"Exception in making model compatible: {exc}", "model/checkpoint is not UTF-8"
    quoted = re.findall(r'"(.*?)"', first)
    if len(quoted) != 1:
        return None, "No checkpoint file found", (f"the first line of model/checkpoint holds {len(quoted)} quoted "
                                                  "names, not one")
    return quoted[0], "", ""


# -- model_metadata.json (R15-R17) -----------------------------------------------------------------------------
CAMERAS = ("observation", "FRONT_FACING_CAMERA", "LEFT_CAMERA", "STEREO_CAMERAS")
LIDARS = ("LIDAR", "SECTOR_LIDAR", "DISCRETIZED_SECTOR_LIDAR")
ALGORITHMS = ("clipped_ppo", "sac")
SPACE_TYPES = ("discrete", "continuous")


@dataclass
class Metadata:
    """model/model_metadata.json as evaluation reads it: the physics version and sensors, or why it stops."""

    version: float | None = None
    sensors: list[Any] | None = None
    fatal: str | None = None  # SimApp's message
    why: str = ""
    fix: str = ""


def _user_error(msg: str) -> str:
    return f"User modified model/model_metadata: model_metadata ValueError: {msg}"


def _other_error(msg: str) -> str:
    return f"Eval worker error: Model metadata does not exist: {msg}"


def read_metadata(raw: bytes | None) -> Metadata:
    """R15-R17: parse model/model_metadata.json as evaluation does (our own code, the same outcomes)."""
    if raw is None:
        return Metadata(fatal="Eval worker error: An error occurred (404) when calling the HeadObject operation: "
                              "Not Found",
                        why="model/model_metadata.json is missing (evaluation reads only that copy)",
                        fix="drmodel repair restores it from the root copy")
    try:
        data = json.loads(as_text(raw))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        bom = raw.startswith(BOM)
        return Metadata(fatal=_user_error(str(exc).splitlines()[0]),
                        why="model/model_metadata.json " + ("starts with a UTF-8 BOM" if bom else "does not parse"),
                        fix="save it as UTF-8 without a BOM" if bom else "fix or restore it")
    if not isinstance(data, dict) or "action_space" not in data:
        if isinstance(data, dict) or isinstance(data, (list, str)) and "action_space" not in data:
            return Metadata(fatal=_user_error("no action space defined"), why="model/model_metadata.json has no "
                            "action_space", fix="restore the action space the model was trained with")
        return Metadata(fatal=_other_error(f"{type(data).__name__} is not a JSON object"),
                        why="model/model_metadata.json is not a JSON object", fix="restore the file the model was "
                        "trained with")
    try:
        if "version" in data:
            version = float(data["version"])
            sensors = data["sensor"] if version >= 2 else ["observation"]
        elif "sensor" in data:
            version, sensors = 2.0, data["sensor"]
        else:
            version, sensors = 1.0, ["observation"]
        if sum(s in CAMERAS for s in sensors) != 1:
            raise ValueError(f"model_metadata MUST contain only 1 camera sensor: {sensors}")
        if sum(s in LIDARS for s in sensors) > 1:
            raise ValueError(f"model_metadata contains more than 1 lidar sensor: {sensors}")
        for key, allowed in (("training_algorithm", ALGORITHMS), ("action_space_type", SPACE_TYPES)):
            if key in data and data[key].lower().strip() not in allowed:
                return Metadata(version, sensors, f"Unknown {key} found while parsing model_metadata. "
                                f"{key}: {data[key].lower().strip()}", f"{key} is {data[key]!r}",
                                f"use one of {', '.join(allowed)}")
    except ValueError as exc:
        return Metadata(fatal=_user_error(str(exc)), why=f"model/model_metadata.json: {exc}",
                        fix="restore the version and sensor list the model was trained with")
    except Exception as exc:  # KeyError 'sensor', TypeError, AttributeError: SimApp's generic branch
        shown = str(exc)
        why = ("its version is 2 or more but it has no sensor list" if isinstance(exc, KeyError)
               else f"model/model_metadata.json: {type(exc).__name__}: {shown}")
        return Metadata(fatal=_other_error(shown), why=why,
                        fix="add the sensor list the model was trained with, e.g. \"sensor\": [\"FRONT_FACING_CAMERA\"]"
                        if isinstance(exc, KeyError) else "restore the file the model was trained with")
    if wheel_radius(version) is None:
        return Metadata(version, sensors, "Eval worker error: No velocity factor for given version",
                        f"version {data.get('version')!r} is none of 1, 2 or 3 and above",
                        "set the version the model was trained with")
    return Metadata(version, sensors)


def wheel_radius(version: float) -> float | None:
    """R17: the wheel radius a version drives with (speed / radius = the wheel rate); None when SimApp has none."""
    if version >= 3:
        return 0.035
    if version == 2:
        return 0.0277
    if version == 1:
        return 0.1
    return None


def physics(version: float | None) -> str:
    """The physics a version selects: wheel radius (1, 2, 3+), camera offsets (3+) and per-step pausing (4+)."""
    if version is None:
        return "unknown"
    return "4+" if version >= 4 else "3" if version >= 3 else f"{version:g}"


def speed_note(meta: Metadata, raw_version: Any) -> str | None:
    """A one-line warning when the version makes each action's speed drive the wheels faster or slower than 3+."""
    if meta.version is None or meta.fatal or meta.version >= 3:
        return None
    factor = 0.035 / (wheel_radius(meta.version) or 0.035)
    cause = ("it has neither version nor sensor" if raw_version is None and meta.version == 1
             else "it has a sensor list but no version" if raw_version is None else f"its version is {raw_version!r}")
    return (f"model/model_metadata.json: {cause}, so SimApp runs version-{meta.version:g} physics (wheel radius "
            f"{wheel_radius(meta.version)} m in agent_ctrl/utils.py): each action's speed drives the wheels "
            f"{factor:.2f}x as fast as under version 3 and later (set the version the model was trained with)")


@dataclass
class EvalChoice:
    """What evaluation does: the checkpoint it loads (number, name, the files it downloads), or why it fails."""

    number: int | None
    name: str | None
    kind: str  # best, last, coach (.coach_checkpoint as it is), compat (make_compatible), fallback, fails
    reason: str
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    fatal: str | None = None  # SimApp's own message when the evaluation fails
    pointer: str | None = None  # the pointer evaluation followed: best_checkpoint, last_checkpoint, ...
    pointed: str | None = None  # the name that pointer gave, as written


def fails(fatal: str, why: str, fix: str, warnings: list[str] | None = None, *, pointer: str | None = None,
          pointed: str | None = None) -> EvalChoice:
    reason = f"this evaluation will fail: SimApp stops with \"{fatal}\" because {why} ({fix})"
    return EvalChoice(None, None, "fails", reason, warnings or [], fatal=fatal, pointer=pointer, pointed=pointed)


def evaluate(listing: Sequence[str], *, json_raw: bytes | None, coach_raw: bytes | None, tf_raw: bytes | None,
             eval_checkpoint: str = "best", version: float | None = None, pick: tuple[str | None, str] | None = None,
             dotless: bool = False) -> EvalChoice:
    """R1-R14 in SimApp's order, for one model. `listing`: every file under `model*`, S3 order, relative paths;
    (Over the size limit: one step per block, in the SimApp's own order, each beside its rule number.)
    `*_raw`: the bytes of model/deepracer_checkpoints.json, model/.coach_checkpoint and model/checkpoint (None
    when absent); `version`: the metadata version (None when unknown: make_compatible is then not predicted);
    `pick`: the JSON pick when the caller has it without the bytes."""
    which = which_entry(eval_checkpoint)
    warnings: list[str] = []
    coach: str | None = None  # what model/.coach_checkpoint holds in S3 when loading starts
    pointer = ".coach_checkpoint"
    kind = "coach"
    # R14: version-1 metadata and no .coach_checkpoint anywhere on the first listing page
    if version is not None and version < 2:
        page = listing[:FIRST_PAGE]
        if not page:
            return fails("No objects found: <bucket>", "nothing is listed under model*", "copy the model's files")
        if not any(basename(p) == ".coach_checkpoint" for p in page):
            value, fatal, why = compat_name(tf_raw)
            if value is None:
                return fails(fatal, why + " and the version-1 metadata sends SimApp to make_compatible",
                             "write model/.coach_checkpoint naming the checkpoint, or set the metadata version")
            coach, pointer, kind = value, "model/checkpoint", "compat"
            warnings.append(f"version-1 metadata and no .coach_checkpoint under model*: SimApp's make_compatible "
                            f"takes {value!r} from model/checkpoint and writes model/.coach_checkpoint and "
                            "model/.ready")
    # R3/R4: the JSON pick overwrites .coach_checkpoint
    name_from_json, why_not = pick if pick is not None else json_pick(json_raw, which)
    if name_from_json is not None:
        coach, pointer, kind = name_from_json, ENTRIES[which], which
    elif coach is None and coach_raw is not None:
        try:
            coach = as_text(coach_raw)
        except UnicodeDecodeError as exc:
            return fails(f"Exception in downloading checkpoint: {exc}", "model/.coach_checkpoint is not UTF-8",
                         REWRITE, warnings, pointer=pointer)
    if coach is None:  # R6
        why = f"{why_not} and there is no model/.coach_checkpoint"
        if dotless:
            why += " (only model/coach_checkpoint, without its dot, which SimApp never reads)"
        return fails("Checkpoint not found", why, "drmodel repair" if dotless else REWRITE, warnings)
    source = (".coach_checkpoint" if kind == "coach" else "model/checkpoint" if kind == "compat"
              else f"{ENTRIES[kind]} in deepracer_checkpoints.json")
    holder = {"coach": "model/.coach_checkpoint", "compat": "model/checkpoint"}.get(kind, "deepracer_checkpoints.json")
    exact = f"write only the exact N_Step-M.ckpt name into {holder}, or {REWRITE}"
    try:
        parsed = read_name(as_text(coach.encode("utf-8")))
    except UnicodeEncodeError as exc:  # a JSON escape such as \ud800: writing the pick fails
        return fails(f"Exception in uploading checkpoint: {exc}", f"{source} gives {coach!r}, which cannot be "
                     "written as UTF-8", exact, warnings, pointer=pointer, pointed=coach)
    except NameAssertion:
        return fails("Exception in downloading checkpoint: ", f"{source} gives {coach!r}, which has both a leading "
                     "number and a -N suffix: rl_coach's name reader fails an assertion",
                     exact, warnings, pointer=pointer, pointed=coach)
    if parsed is None:  # R7
        return fails(NOT_DEFINED, f"{source} gives {coach!r}, which rl_coach does not read as a checkpoint name "
                     "(N_Step-M.ckpt, nothing before it), so SimApp retries about 100 s",
                     exact, warnings,
                     pointer=pointer, pointed=coach)
    number, name = parsed
    fetch = name
    if not present(name, listing):  # R11
        fb = fallback(listing)
        if fb is None:
            return fails("No checkpoint files", f"no file under model* starts with {name} ({source}) and no file "
                         "name starts with a number to fall back to", "copy the checkpoint's files into model/",
                         warnings, pointer=pointer, pointed=coach)
        fb_number, fb_name, fb_path = fb
        try:
            reread = read_name(fb_name)
        except NameAssertion:
            reread = None
        if reread is None:
            return fails(NOT_DEFINED, f"no file under model* starts with {name} ({source}), and the fallback to the "
                         f"highest-numbered file, {fb_path}, gives {fb_name!r}, which rl_coach does not read as a "
                         "checkpoint name", f"delete or move {fb_path}", warnings, pointer=pointer, pointed=coach)
        warnings.append(f"no file of {name} ({source}) is in model*: evaluation SILENTLY loads the highest-numbered "
                        f"checkpoint left instead, {reread[1]} (from {fb_path})")
        fix = f"restore {name}'s files, or delete the stale {fb_path}"
        number, name, fetch, kind = reread[0], reread[1], fb_name, "fallback"
    else:
        fix = "copy that checkpoint's .index and .data files again, or choose another with --checkpoint N"
    files = downloads(fetch, listing)  # R12
    problem = load_problem(name, files)  # R13
    if problem is not None:
        return fails(problem[0], problem[1], fix, warnings, pointer=pointer, pointed=coach)
    seen: dict[str, str] = {}
    for p in files:
        if basename(p) in seen:
            warnings.append(f"{seen[basename(p)]} and {p} share a name: evaluation downloads both into one folder and "
                            f"keeps {p} (delete the other)")
        seen[basename(p)] = p
    reason = "highest-numbered checkpoint under model* (fallback)" if kind == "fallback" else source
    return EvalChoice(number, name, kind, reason, warnings, list(seen.values()), pointer=pointer, pointed=coach)


def metadata_version(doc: dict[str, Any]) -> float | None:
    """R16's version of a parsed model_metadata.json: `version` as a float, else 2 with a sensor list, else 1;
    None when SimApp cannot read it."""
    if "version" not in doc:
        return 2.0 if "sensor" in doc else 1.0
    try:
        return float(doc["version"])
    except (TypeError, ValueError, OverflowError):
        return None
