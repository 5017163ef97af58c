"""Pre-flight for a DRoA import: every rule of DeepRacer on AWS's import, checked before anything is uploaded.

Three kinds of finding, kept apart:
- a refusal: DRoA WILL refuse the model (a 400 or 500 at POST /importmodel, or an import that ends ERROR). drmodel
  stops with one line (exit 5) naming the rule, what DRoA would say and the fix; nothing is uploaded. The rules
  and DRoA's words are in drmodel.droa.rules, each with its source.
- a fix: a mechanical change that makes DRoA read the file as it was meant (a renamed training_params file,
  quoted booleans, a byte order mark...). The plan lists each one.
- a warning: drmodel ADVISES against something DRoA accepts (a continuous range beyond the console's, a missing
  model_N.pb, differing metadata copies...). The plan shows it; the upload proceeds.
One rule is drmodel's own and refuses: more than 1000 files (DRoA would import the first 1000 and silently drop
the rest).
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from drmodel.droa import rules
from drmodel.droa.rules import READ, REQUEST, REWARD_STAGE, ReadProblem, Refusal
from drmodel.droa.tracks import TRACK_IDS, TWO_DIRECTIONS, default_direction, enabled_directions
from drmodel.errors import InvalidModelError, UsageError
from drmodel.model import EVAL_COPY, METADATA, REWARD, TRAINING_PARAMS_RE
from drmodel.stores.base import ObjectInfo

NAME_RE = re.compile(r"^[a-zA-Z0-9-]{1,64}\Z")  # \Z: "$" would let a final newline in
DESCRIPTION_RE = re.compile(r"^[a-zA-Z0-9- ]{1,255}\Z")
MAX_OBJECTS = 1000  # the import copies with ONE ListObjectsV2 call: more are silently dropped (drmodel refuses)
MAX_BYTES = 1 << 30  # the web UI's cap (the API has none): a warning
HYPER = "ip/hyperparameters.json"
PARAMS = "training_params.yaml"
BOM = b"\xef\xbb\xbf"
# a key may be quoted as DRfC writes it (`'KEY': 'value'`, aws-deepracer-community/deepracer-for-cloud@2eb1a1f1
# scripts/training/prepare-config.py 224-225)
BOOL_LINE_RE = re.compile(r"""^(?P<k>(?P<kq>["']?)[A-Z0-9_]+(?P=kq))(?P<sep>\s*:\s*)(?P<q>["'])"""
                          r"""(?P<v>true|false|True|False|TRUE|FALSE)(?P=q)""")
# the keys DRoA compares with `=== true`: a YAML 1.1 yes/on/no/off (true for PyYAML, a string for DRoA) is rewritten
STRICT_BOOL_KEYS = ("TRACK_DIRECTION_CLOCKWISE", "RANDOMIZE_OBSTACLE_LOCATIONS")
YES_NO_RE = re.compile(rf"""^(?P<k>(?P<kq>["']?)(?:{"|".join(STRICT_BOOL_KEYS)})(?P=kq))(?P<sep>\s*:\s*)(?P<q>["']?)"""
                       r"""(?P<v>yes|Yes|YES|on|On|ON|no|No|NO|off|Off|OFF)(?P=q)(?=\s*(#.*)?$)""")
UNSAFE_PATH_RE = re.compile(r"[#?%]")


@dataclass
class Upload:
    """What goes to `uploads/models/<uuid>/`: path -> source path (bytes unchanged) or new bytes."""

    sources: dict[str, str] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    fixes: dict[str, str] = field(default_factory=dict)  # path -> what was fixed
    warnings: list[str] = field(default_factory=list)  # drmodel advises against; DRoA accepts
    notes: list[str] = field(default_factory=list)  # information (what DRoA will do that drmodel did not check)
    refusals: list[Refusal] = field(default_factory=list)

    def paths(self) -> list[str]:
        return sorted(set(self.sources) | set(self.data))


def refusal_error(first: Refusal, others: list[Refusal]) -> InvalidModelError:
    more = ""
    if others:
        shown = "; ".join(r.rule for r in others[:3])
        more = f" (and {len(others)} more: {shown}{'; ...' if len(others) > 3 else ''})"
    if first.stage == "drmodel":
        return InvalidModelError(f"drmodel refuses this model: {first.rule}{more}", fix=first.fix)
    return InvalidModelError(f"DeepRacer on AWS would refuse this model: {first.rule}; {first.surfaces()}{more}",
                             fix=first.fix)


def check_name(name: str, description: str | None) -> None:
    """DRoA's name and description patterns (D: source/libs/model/src/main/smithy/types/common.smithy#L33-L41)."""
    if not NAME_RE.match(name):
        raise UsageError(f"{name!r} is not a DRoA model name (letters, digits and '-', at most 64)",
                         fix="choose one with --as NEWNAME")
    if description is not None and not DESCRIPTION_RE.match(description):
        raise UsageError("the description may hold letters, digits, '-' and spaces, 1 to 255 of them",
                         fix="change --description")


def unquote_booleans(data: bytes) -> tuple[bytes, list[str]]:
    """`KEY: "true"` -> `KEY: true` (the legacy console quoted every value; DRoA compares with `=== true`), and a
    YAML 1.1 yes/no/on/off of a key DRoA compares strictly -> true/false."""
    out, changed = [], []
    for line in data.decode("utf-8-sig").splitlines(keepends=True):
        m = BOOL_LINE_RE.match(line) or YES_NO_RE.match(line)
        if m:
            value = m.group("v").lower()
            value = "true" if value in ("true", "yes", "on") else "false"
            changed.append(m.group("k").strip("'\""))
            line = f"{m.group('k')}{m.group('sep')}{value}" + line[m.end():]
        out.append(line)
    return "".join(out).encode(), changed


def preflight(files: Mapping[str, ObjectInfo], read: Callable[[str], bytes], *,
              run_reward_function: bool = False) -> Upload:
    """Apply the fixes and gather the warnings; raise InvalidModelError for the first refusal."""
    up = Upload(sources={p: p for p in files})
    _check(files, read, up, run_reward_function)
    if up.refusals:
        order = {READ: 0, REQUEST: 0, REWARD_STAGE: 1, rules.MODEL_STAGE: 2, "drmodel": 3}
        ranked = sorted(up.refusals, key=lambda r: order.get(r.stage, 9))
        raise refusal_error(ranked[0], ranked[1:])
    return up


def _final_read(up: Upload, read: Callable[[str], bytes]) -> Callable[[str], bytes]:
    def final(path: str) -> bytes:
        return up.data[path] if path in up.data else read(up.sources[path])
    return final


def _strip_bom(up: Upload, path: str, data: bytes) -> bytes:
    if data.startswith(BOM):
        data = data[len(BOM):]
        up.sources.pop(path, None)
        up.data[path] = data
        _fix(up, path, "UTF-8 byte order mark removed (DRoA's reader refuses it)")
    return data


def _fix(up: Upload, path: str, note: str) -> None:
    up.fixes[path] = f"{up.fixes[path]}; {note}" if path in up.fixes else note


def _check(files: Mapping[str, ObjectInfo], read: Callable[[str], bytes], up: Upload, run_reward: bool) -> None:
    missing = [p for p in (METADATA, REWARD, HYPER) if p not in files]
    params_path = _params_file(files, up)
    if params_path is None:
        missing.insert(0, PARAMS)
    if missing:  # D: ImportHelper.ts#L37-L168 reads exactly these four at POST: a missing one is a 500
        up.refusals.append(Refusal(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing (the import "
                                   "reads it)", READ, "", "add it to the model folder"))
        return
    assert params_path is not None
    meta_bytes = _strip_bom(up, METADATA, read(METADATA))
    hyper_bytes = _strip_bom(up, HYPER, read(HYPER))
    reward_bytes = _strip_bom(up, REWARD, read(REWARD))
    parsed: dict[str, Any] = {}
    for path, data in ((METADATA, meta_bytes), (HYPER, hyper_bytes)):
        try:
            parsed[path] = rules.parse_json_strict(data, path)
        except ReadProblem as exc:
            up.refusals.append(Refusal(str(exc), READ, "", f"fix {path} (drmodel check shows it)"))
    params_bytes = _training_params(params_path, read, up)
    try:
        params = rules.parse_yaml_droa(params_bytes)
    except ReadProblem as exc:
        up.refusals.append(Refusal(str(exc), READ, "", "fix training_params.yaml"))
        params = None
    if not reward_bytes.strip():
        up.refusals.append(Refusal("reward_function.py is empty (DRoA reads an empty file as missing)", READ, "",
                                   "add the model's reward function"))
    if params is not None and len(parsed) == 2:
        refusal = rules.sync_refusal(params, parsed[METADATA], parsed[HYPER])
        if refusal:
            up.refusals.append(refusal)
        _params_advice(params, up)
        _action_space_advice(parsed[METADATA], up)
    if METADATA in parsed:
        _eval_copy(files, read, up, parsed[METADATA], meta_bytes)
    _checkpoint_fixes(files, read, up)
    if reward_bytes.strip():
        _reward(reward_bytes, up, run_reward)
    paths = up.paths()
    final = _final_read(up, read)
    refusal = rules.model_validator_refusal(set(paths), final)
    if refusal:
        up.refusals.append(refusal)
    _checkpoint_advice(set(paths), final, up)
    size = sum(files[up.sources[p]].size if p in up.sources else len(up.data[p]) for p in paths)
    if len(paths) > MAX_OBJECTS:
        up.refusals.append(Refusal(f"{len(paths)} files: DRoA's import copies at most {MAX_OBJECTS} (one "
                                   "ListObjectsV2 call) and would silently drop the rest", "drmodel", "",
                                   "copy fewer checkpoints: --checkpoint both or best"))
    if size > MAX_BYTES:
        up.warnings.append(f"{size} bytes to upload: DRoA's web site refuses folders over 1 GiB (its API does not); "
                           "consider --checkpoint best")
    unsafe = [p for p in paths if UNSAFE_PATH_RE.search(p)]
    if unsafe:
        up.warnings.append(f"{', '.join(unsafe[:3])}: DRoA copies and packages files by unescaped key, so a name with "
                           "#, ? or % may not be exported again")


def _params_file(files: Mapping[str, ObjectInfo], up: Upload) -> str | None:
    found = sorted(p for p in files if TRAINING_PARAMS_RE.match(p))
    if not found:
        return None
    chosen = PARAMS if PARAMS in found else found[0] if len(found) == 1 else None
    if chosen is None:
        up.refusals.append(Refusal(f"several training params files ({', '.join(found)}); DRoA reads only "
                                   "training_params.yaml", "drmodel", "", "keep the one of the training job"))
        return PARAMS if PARAMS in found else found[0]
    for p in found:
        up.sources.pop(p, None)
    return chosen


def _training_params(chosen: str, read: Callable[[str], bytes], up: Upload) -> bytes:
    data = read(chosen)
    notes = []
    if chosen != PARAMS:
        notes.append(f"renamed from {chosen} (DRoA reads only training_params.yaml)")
    if data.startswith(BOM):
        data = data[len(BOM):]
    data, unquoted = unquote_booleans(data)
    if unquoted:
        notes.append(f"quoted booleans made booleans ({', '.join(unquoted)})")
    try:
        doc = rules.parse_yaml_droa(data)
    except ReadProblem:
        doc = None
    world = doc.get("WORLD_NAME") if isinstance(doc, dict) else None
    if isinstance(world, str):
        for suffix, clockwise in (("_ccw", "false"), ("_cw", "true")):
            base = world[: -len(suffix)]
            if world.endswith(suffix) and base in TRACK_IDS:
                from drmodel import paramsfile

                data = paramsfile.rewrite(data, {"WORLD_NAME": base})
                data = _set_direction(data, clockwise)
                notes.append(f"WORLD_NAME {world} -> {base}, TRACK_DIRECTION_CLOCKWISE: {clockwise}")
                wanted = "CLOCKWISE" if clockwise == "true" else "COUNTER_CLOCKWISE"
                if wanted not in enabled_directions(base):
                    up.warnings.append(f"WORLD_NAME {world} asks for {wanted}, but DRoA drives {base} "
                                       f"{default_direction(base)} only")
                break
    up.data[PARAMS] = data
    if notes:
        up.fixes[PARAMS] = "; ".join(notes)
    return data


def _set_direction(data: bytes, clockwise: str) -> bytes:
    key = rb"""^(["']?)TRACK_DIRECTION_CLOCKWISE\1\s*:"""  # quoted as DRfC writes keys, or not
    if re.search(key, data, re.M):
        return re.sub(key + rb".*$", lambda m: m.group(1) + b"TRACK_DIRECTION_CLOCKWISE" + m.group(1) +
                      f": {clockwise}".encode(), data, flags=re.M)
    return data.rstrip(b"\n") + f"\nTRACK_DIRECTION_CLOCKWISE: {clockwise}\n".encode()


def _params_advice(params: Any, up: Upload) -> None:
    if not isinstance(params, dict):
        return
    track, direction = params.get("WORLD_NAME"), params.get("TRACK_DIRECTION_CLOCKWISE")
    if isinstance(track, str) and track in TWO_DIRECTIONS and "TRACK_DIRECTION_CLOCKWISE" in params \
            and not isinstance(direction, bool):
        up.warnings.append(f"TRACK_DIRECTION_CLOCKWISE is {direction!r}, not a YAML boolean: DRoA reads it as "
                           "COUNTER_CLOCKWISE (only `true` means clockwise)")
    if isinstance(track, str) and len(enabled_directions(track)) == 1 and isinstance(direction, bool) \
            and ("CLOCKWISE" if direction else "COUNTER_CLOCKWISE") != default_direction(track):
        up.notes.append(f"TRACK_DIRECTION_CLOCKWISE: {str(direction).lower()} is ignored: DRoA drives {track} "
                        f"{default_direction(track)} only")
    race = params.get("RACE_TYPE")
    if race is not None and race not in ("TIME_TRIAL", "OBJECT_AVOIDANCE"):
        up.warnings.append(f"RACE_TYPE {race!r}: DRoA imports the model as TIME_TRIAL (it knows only TIME_TRIAL and "
                           "OBJECT_AVOIDANCE)")
    shell = params.get("BODY_SHELL_TYPE")
    if rules.js_truthy(shell) and shell not in rules.KNOWN_SHELL_IDS:
        up.warnings.append(f"BODY_SHELL_TYPE {shell!r} is not a car shell DRoA knows: it imports the model as the "
                           "white DeepRacer")
    color = params.get("CAR_COLOR")
    if shell == rules.DEEPRACER_SHELL_ID and isinstance(color, str) and color and color.upper() not in rules.CAR_COLORS:
        up.notes.append(f"CAR_COLOR {color!r} is not a colour DRoA knows: the car will be WHITE")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _action_space_advice(meta: Any, up: Upload) -> None:
    space = meta.get("action_space") if isinstance(meta, dict) else None
    if not isinstance(space, dict):
        return
    speed, steer = space.get("speed"), space.get("steering_angle")
    lows_highs = [(_number(d.get(k)) if isinstance(d, dict) else None) for d in (speed, steer) for k in ("low", "high")]
    if None in lows_highs:
        up.warnings.append("the continuous action space lacks a numeric speed or steering_angle low/high: DRoA "
                           "accepts it, but its records and the car need them")
        return
    s_low, s_high, a_low, a_high = lows_highs
    if not (0.5 <= s_low and s_high <= 4):  # type: ignore[operator]  # no None: returned above
        up.warnings.append(f"continuous speed {s_low:g}..{s_high:g} goes beyond 0.5..4 m/s, what the console trained "
                           "and the physical car drives (DRoA accepts it)")
    if not (-30 <= a_low and a_high <= 30):  # type: ignore[operator]  # no None: returned above
        up.warnings.append(f"continuous steering {a_low:g}..{a_high:g} goes beyond -30..30 degrees, what the console "
                           "trained and the physical car drives (DRoA accepts it)")


def _eval_copy(files: Mapping[str, ObjectInfo], read: Callable[[str], bytes], up: Upload, meta: Any,
               meta_bytes: bytes) -> None:
    """model/model_metadata.json: the copy DRoA's model validator reads (and the car races with). Added from the
    root copy when missing; never replaced: when the two differ, both go up as they are, with a warning."""
    if EVAL_COPY not in files:
        up.data[EVAL_COPY] = meta_bytes
        _fix(up, EVAL_COPY, "added: a copy of model_metadata.json (DRoA's model validator reads this copy)")
        return
    data = _strip_bom(up, EVAL_COPY, read(EVAL_COPY))
    try:
        other = json.loads(data)
    except ValueError:
        return  # the model validator's rule reports it
    if other != meta:
        keys = sorted(k for k in set(other) | set(meta) if other.get(k) != meta.get(k)) \
            if isinstance(other, dict) and isinstance(meta, dict) else ["the whole document"]
        up.warnings.append(f"model/model_metadata.json differs from model_metadata.json ({', '.join(keys)}): DRoA "
                           "accepts it; its records and web site show the root copy, while the car races with "
                           "model/'s (what the weights were trained with). Both are uploaded unchanged; "
                           "`drmodel repair --from model|root` makes them equal")


def _checkpoint_fixes(files: Mapping[str, ObjectInfo], read: Callable[[str], bytes], up: Upload) -> None:
    pointer = "model/.coach_checkpoint"
    if "model/coach_checkpoint" in files and pointer not in files:
        up.sources.pop("model/coach_checkpoint", None)
        up.data[pointer] = read("model/coach_checkpoint")
        _fix(up, pointer, "renamed from the dotless model/coach_checkpoint")
    doc = _checkpoints_json(files, read, up)
    if pointer in up.paths() or doc is None:
        return
    last = (doc.get("last_checkpoint") or {}).get("name") if isinstance(doc.get("last_checkpoint"), dict) else None
    if isinstance(last, str) and rules.checkpoint_parts(up.paths()).get(last):
        up.data[pointer] = last.encode()
        _fix(up, pointer, f"written: {last}, the last checkpoint (DRoA's model validator requires the file)")


def _checkpoints_json(files: Mapping[str, ObjectInfo], read: Callable[[str], bytes], up: Upload) -> dict | None:
    path = "model/deepracer_checkpoints.json"
    if path not in files:
        return None
    try:
        doc = json.loads(read(path))
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        up.warnings.append(f"{path} is not readable JSON: DRoA's validator ignores it (and evaluation then races "
                           "the .coach_checkpoint's checkpoint); `drmodel repair` rebuilds it")
        return None
    return doc


def _checkpoint_advice(paths: set[str], read: Callable[[str], bytes], up: Upload) -> None:
    path = "model/deepracer_checkpoints.json"
    if path not in paths:
        return
    try:
        doc = json.loads(read(path))
        best = (doc.get("best_checkpoint") or {}).get("name")
    except (ValueError, AttributeError, TypeError):
        return
    if not isinstance(best, str) or not best:
        return
    parts = rules.checkpoint_parts(paths)
    if not parts.get(best):
        up.warnings.append(f"the best checkpoint {best} has no files here: DRoA accepts it, but its validator checks "
                           "another checkpoint instead, and evaluation will not race the best one")
        return
    m = re.match(r"^(\d+)_", best)
    if m and f"model/model_{int(m.group(1))}.pb" not in paths:
        up.warnings.append(f"model/model_{int(m.group(1))}.pb (the best checkpoint's frozen graph) is missing: DRoA "
                           "never reads it, but the physical car (drmodel car) and DREM need it")


def _reward(source: bytes, up: Upload, run: bool) -> None:
    finding, lines, ran = rules.reward_static_findings(source)
    if finding is None:
        finding = rules.reward_shape_finding(source)
    if finding is not None:
        more = f" ({len(lines) - 1} more flake8 findings)" if len(lines) > 1 else ""
        fix = ("fix the reward function: DRoA runs flake8 --select=E,F --ignore=E5,E226,E261 on it"
               if finding.rule.startswith("flake8") else "fix the reward function")
        up.refusals.append(Refusal(f"reward_function.py: {finding.rule}{more}", REWARD_STAGE,
                                   f"Reward Function Validation {finding.droa}", fix, finding.line))
    if ran:
        try:
            from importlib.metadata import version

            here = version("flake8")
        except Exception:  # noqa: BLE001  # the version is only for a note
            here = "?"
        if here != rules.FLAKE8_VERSION:
            up.notes.append(f"flake8 {here} checked the reward function; DRoA runs {rules.FLAKE8_VERSION}, whose "
                            "findings may differ")
    if not ran:
        up.warnings.append("flake8 could not be run, so the reward function's style was not checked: DRoA refuses any "
                           "flake8 E or F finding (pip install 'flake8==7.3.0')")
    elif sys.version_info < (3, 12) and re.search(rb"""\bf["']""", source):
        up.notes.append("DRoA runs flake8 on Python 3.12, which also checks inside f-strings; this Python "
                        f"{sys.version_info.major}.{sys.version_info.minor} does not")
    _reward_hazards(source, up)
    if finding is not None:
        return
    if not run:
        up.notes.append("DRoA will run the reward function on sample inputs (it must return a float within "
                        "+/-1e5); drmodel did not (--run-reward-function runs it here)")
        return
    from drmodel.droa.rewardrun import run_reward_function

    result = run_reward_function(source)
    up.notes += [f"reward function run: {n}" for n in result.notes]
    if result.failures:
        up.refusals.append(Refusal(f"reward_function.py failed on drmodel's sample inputs: {result.failures[0]}",
                                   REWARD_STAGE, f"Reward Function Validation {result.failures[0]}",
                                   "fix the reward function"))
    else:
        up.notes.append("reward function run on sample inputs: returned a float within +/-1e5 for each")


def _reward_hazards(source: bytes, up: Upload) -> None:
    """Run-time failures a reading can suspect (DRoA's validator would find them when it runs the function)."""
    text = source.decode("utf-8", "replace")
    if "projection_distance" in text:
        up.warnings.append("the reward function reads params['projection_distance'], which DRoA's sample inputs do "
                           "not hold: its validator will fail with a KeyError unless that line is skipped")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.While) and isinstance(node.test, ast.Constant) and node.test.value is True:
            up.warnings.append(f"line {node.lineno}: `while True`: a reward function that never returns leaves the "
                               "import IMPORTING for good (DRoA's validator stops after 60 s without an error)")
            break
    fn = rules.reward_function_def(tree) if isinstance(tree, ast.Module) else None
    imported = {a.asname or a.name for n in getattr(tree, "body", []) if isinstance(n, ast.Import) for a in n.names}
    if fn is not None and "scipy" in imported:
        for node in ast.walk(fn):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "scipy":
                up.warnings.append(f"line {node.lineno}: scipy.{node.attr} inside reward_function imports a submodule "
                                   "while it runs, which DRoA forbids; use `from scipy import "
                                   f"{node.attr}` at the top")
                break
