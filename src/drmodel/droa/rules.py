"""DeepRacer on AWS's import rules, read the way the real system reads the files, each with DRoA's own words.

Over the size limit: one table of rules, each beside its citation, in the order DRoA applies them; split by
file, the order (which decides which refusal DRoA reports first) would be spread over several modules.

Sources (written from reading them; no code is copied):
- D = aws-solutions/deepracer-on-aws @ 61af778f9b1d904a6318b746fc3e5a8ddac525ce: the ImportModel handler
  (source/libs/lambda/src/api/handlers/importModel.ts), ImportHelper.ts, validation.ts, and the reward-function
  validator (source/libs/reward-function-validation/lib/reward_func_validator/);
- S = aws-deepracer-community/deepracer-simapp @ 01f5f015fd852f952b351643898d4beb4f36494b: the model validator
  DRoA's import runs (bundle/markov/validation_worker.py, bundle/markov/boto/s3/files/model_metadata.py).

Pure functions over the files of an upload: drmodel's pre-flight reports what they find before anything is
uploaded, and the local stand-in (drmodel.testing.droa_standin) answers with the same words. Where a refusal
surfaces in DRoA (`Refusal.stage`):
- "request": POST /importmodel answers 400 `{"message": <droa>}` and creates no model;
- "read":    POST /importmodel answers 500 with an empty body (an unmodelled error) and creates no model;
- "reward":  the model is created, then ends ERROR with importErrorMessage "Reward Function Validation <droa>";
- "model":   the model is created, then ends ERROR with importErrorMessage <droa> ("Model validation failed...").
"""

from __future__ import annotations

import ast
import json
import math
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drmodel.droa.tracks import CLOCKWISE, COUNTER_CLOCKWISE, default_direction, enabled_directions

REQUEST, READ, REWARD_STAGE, MODEL_STAGE = "request", "read", "reward", "model"

# D: source/libs/model/src/main/smithy/types/model.smithy#L303-L319 (enum CarColor)
CAR_COLORS = frozenset("BLACK BLUE BROWN GOLDEN GOLDENPINK GREEN GREY ORANGE PINK PURPLE RED SKY_BLUE TEAL WHITE "
                       "YELLOW".split())
# D: source/libs/lambda/src/workflow/constants/simulation.ts#L74-L82: the colours of the DEEPRACER shell
DEEPRACER_COLORS = frozenset("BLACK BLUE GREY ORANGE PURPLE RED WHITE".split())
DEEPRACER_SHELL_ID = "deepracer"  # simulation.ts#L38
# simulation.ts#L44-L159: the SimApp shell id of every other shell and colour, in the table's order
SIMAPP_SHELLS: tuple[tuple[str, str, str], ...] = (
    ("AGATHA", "GREY", "f1_car_mercedes_08"), ("AMAZON_EDV", "PURPLE", "f1_amazon_van_purple_with_wheel"),
    ("AMAZON_EDV", "WHITE", "f1_amazon_van_white_with_wheel"), ("BAJA_TRUCK", "TEAL", "f1_baja_truck_05"),
    ("BAJA_TRUCK", "ORANGE", "f1_baja_truck_03"), ("BANANA", "BLACK", "f1_car_banana_01"),
    ("BIKE", "BLUE", "f1_august_bike_02_with_wheel"), ("BIKE", "RED", "f1_august_bike_01_with_wheel"),
    ("BUGGY", "WHITE", "f1_september_bug_01_with_wheel"), ("BUGGY", "PURPLE", "f1_september_bug_02_with_wheel"),
    ("CLOWN", "YELLOW", "f1_car_clown_01"), ("COMPACT", "RED", "f1_june_car_01"),
    ("COMPACT", "PURPLE", "f1_june_car_02"), ("DOG_VAN", "BROWN", "f1_dog_van"), ("DRAGON", "BROWN", "f1_dragon"),
    ("DUNE_BUGGY", "RED", "f1_dune_buggy_01"), ("DUNE_BUGGY", "GOLDEN", "f1_dune_buggy_07"),
    ("F1", "RED", "f1_2021"), ("F1_NUDIE", "PURPLE", "f1_nudie_purple_with_wheel"),
    ("F1_NUDIE", "ORANGE", "f1_nudie_orange_with_wheel"), ("F1_NUDIE", "WHITE", "f1_nudie_white_with_wheel"),
    ("FAMILY_WAGON", "GREEN", "f1_october_wagon_01_with_wheel"),
    ("FAMILY_WAGON", "PURPLE", "f1_october_wagon_02_with_wheel"), ("GT", "PURPLE", "f1_december_car_01_with_wheel"),
    ("GT", "RED", "f1_december_car_02_with_wheel"), ("HOT_ROD", "PURPLE", "f1_hotrod_03"),
    ("HOT_ROD", "ORANGE", "fl_hotrod_02"), ("KART", "RED", "f1_kart"), ("LORRY", "PURPLE", "f1_lorry_01"),
    ("LUNAR_ROVER", "BROWN", "f1_lunar_rover"), ("LUNAR_ROVER", "GOLDEN", "f1_july_car_03_with_wheel"),
    ("MARS_ROVER", "WHITE", "f1_mars_rover_with_wheel"), ("MONSTER_TRUCK", "PURPLE", "f1_monster_truck_01"),
    ("NELL", "RED", "f1_mustang_eleanor_01"), ("NELL", "BLACK", "f1_mustang_eleanor_02"),
    ("NELL", "YELLOW", "f1_mustang_eleanor_03"), ("RETRO_FUTURISTIC", "PURPLE", "f1_car_retro_01"),
    ("ROGUE_ROD", "ORANGE", "f1_rogue_01"), ("SNAIL", "PINK", "f1_snail"), ("TRON", "BLUE", "f1_car_tron_01"),
    ("TRON", "RED", "f1_car_tron_02"), ("TRON", "GOLDEN", "f1_car_tron_03"), ("TRON", "WHITE", "f1_car_tron_04"),
    ("TRON", "SKY_BLUE", "f1_car_tron_05"), ("TRON", "GREEN", "f1_car_tron_06"),
    ("TRON", "PURPLE", "f1_car_tron_07"), ("TRON", "YELLOW", "f1_car_tron_08"), ("TRON", "GREY", "f1_car_tron_09"),
    ("TRON", "GOLDENPINK", "f1_car_tron_10"), ("WAGON", "PINK", "f1_july_car_01_with_wheel"),
    ("WAGON", "BLUE", "f1_july_car_02_with_wheel"),
)
KNOWN_SHELL_IDS = frozenset({DEEPRACER_SHELL_ID} | {v for _, _, v in SIMAPP_SHELLS})

# D: RFV/constants.py#L7, #L10, #L12-L23 (RFV = source/libs/reward-function-validation/lib/reward_func_validator)
ALLOWED_IMPORTS = ("math", "random", "numpy", "scipy", "shapely")
FORBIDDEN_CALLS = ("open", "exec", "eval", "compile", "input")
FORBIDDEN_STRINGS = ("__import__", "load", "fromfile", "genfromtxt", "loadtxt", "tofile", "savez", "save", "savetxt",
                     "memmap")
# D: RFV/test_reward_function.py#L114-L126: the exact flake8 selection (flake8 7.3.0, RFV/requirements.txt)
FLAKE8_ARGS = ("--format=%(code)s:%(row)d:%(text)s", "--select=E,F", "--ignore=E5,E226,E261")
FLAKE8_VERSION = "7.3.0"
# S: bundle/rl_coach/rl_coach/checkpoint.py#L254: what a .coach_checkpoint must hold
COACH_CHECKPOINT_RE = re.compile(r"\A(([0-9]+)[^0-9])?.*?\.ckpt(-([0-9]+))?")
CAMERAS = ("observation", "FRONT_FACING_CAMERA", "LEFT_CAMERA", "STEREO_CAMERAS")  # S: MM#L245-L246
LIDARS = ("LIDAR", "SECTOR_LIDAR", "DISCRETIZED_SECTOR_LIDAR")  # S: MM#L251
POINTER_FIX = "write the name of the checkpoint to race (e.g. 140_Step-123889.ckpt) into model/.coach_checkpoint"
CHECKPOINT_PART_RE = re.compile(r"^model/(?P<name>(?P<n>\d+)_[^/]*?\.ckpt)\.(?P<part>index|meta|data-\d+-of-\d+)$")


@dataclass(frozen=True)
class Refusal:
    """One rule DRoA's import would apply to refuse the upload."""

    rule: str  # what the rule is, in drmodel's words
    stage: str  # REQUEST, READ, REWARD_STAGE or MODEL_STAGE (module docstring)
    droa: str  # DRoA's own words: the 400 message, or the importErrorMessage; "" for a 500 with no body
    fix: str
    line: int | None = None  # for a reward-function rule: the line it points at

    def surfaces(self) -> str:
        """Where and how the user of DRoA would see it."""
        if self.stage == REQUEST:
            return f'POST /importmodel answers 400 "{self.droa}"; no model is created'
        if self.stage == READ:
            return "POST /importmodel answers 500 with no detail; no model is created"
        return f'the import ends ERROR: "{self.droa}"'


# ------------------------------------------------------------------ JavaScript semantics (the API is TypeScript)
class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Any = _Undefined()


def js_get(value: Any, key: str) -> Any:
    """`value?.key` / `value.key` on a JSON value: undefined when absent (None stands for JSON null)."""
    if isinstance(value, dict):
        return value.get(key, UNDEFINED)
    return UNDEFINED


def js_nullish(value: Any) -> bool:
    return value is None or value is UNDEFINED


def js_truthy(value: Any) -> bool:
    if js_nullish(value) or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True


def js_number(value: Any) -> float:
    """JavaScript's Number(value), for the values JSON and YAML can hold."""
    if value is UNDEFINED:
        return math.nan
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return math.inf if text in ("Infinity", "+Infinity") else -math.inf if text == "-Infinity" else math.nan
    return math.nan


def js_ge(a: Any, b: Any) -> bool:
    """`a >= b` in JavaScript (two strings compare as strings, anything else as numbers)."""
    if isinstance(a, str) and isinstance(b, str):
        return a >= b
    x, y = js_number(a), js_number(b)
    return not (math.isnan(x) or math.isnan(y)) and x >= y


def js_string(value: Any) -> str:
    """`${value}` in JavaScript."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join("" if js_nullish(v) else js_string(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


_FLOAT_PREFIX = re.compile(r"[+-]?(Infinity|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")


def js_parse_float(text: str) -> float:
    m = _FLOAT_PREFIX.match(text.lstrip())
    if not m:
        return math.nan
    return float(m.group(0).replace("Infinity", "inf"))


# ------------------------------------------------------------------ reading the files as DRoA does
class ReadProblem(ValueError):
    """A file DRoA cannot read: POST /importmodel answers 500 (D: ImportHelper.ts#L37-L147)."""


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse_json_strict(data: bytes, name: str) -> Any:
    """JSON as JavaScript's JSON.parse reads it: no UTF-8 BOM, no NaN or Infinity; an empty file is missing."""
    if not data:
        raise ReadProblem(f"{name} is empty (DRoA reads an empty file as missing)")
    if data.startswith(b"\xef\xbb\xbf"):
        raise ReadProblem(f"{name} starts with a UTF-8 byte order mark, which JSON.parse refuses")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReadProblem(f"{name} is not JSON that JavaScript reads ({exc})") from None


def _yaml12_loader() -> type:
    """A PyYAML SafeLoader reading like the `yaml` npm package DRoA uses (YAML 1.2 core schema): only
    true/True/TRUE and false/False/FALSE are booleans (yes/no/on/off are strings), and a repeated key is an error."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    resolvers = {}
    for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items():
        resolvers[first] = [(tag, regexp) for tag, regexp in entries if tag != "tag:yaml.org,2002:bool"]
    Loader.yaml_implicit_resolvers = resolvers
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))

    def bool_12(loader: Any, node: Any) -> bool:
        return str(loader.construct_scalar(node)).lower() == "true"

    def mapping(loader: Any, node: Any) -> dict:
        loader.flatten_mapping(node)
        seen: set = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:
                continue
            if repeated:
                raise yaml.constructor.ConstructorError(None, None, f"Map keys must be unique ({key!r} repeats)",
                                                        key_node.start_mark)
        return loader.construct_mapping(node, deep=True)

    Loader.add_constructor("tag:yaml.org,2002:bool", bool_12)
    Loader.add_constructor("tag:yaml.org,2002:map", mapping)
    return Loader


_LOADER: type | None = None


def parse_yaml_droa(data: bytes, name: str = "training_params.yaml") -> Any:
    """training_params.yaml as DRoA's YAML.parse (yaml@2, YAML 1.2 core) reads it."""
    import yaml

    global _LOADER
    if not data:
        raise ReadProblem(f"{name} is empty (DRoA reads an empty file as missing)")
    if _LOADER is None:
        _LOADER = _yaml12_loader()
    try:
        return yaml.load(data.decode("utf-8-sig"), Loader=_LOADER)  # noqa: S506  # a SafeLoader subclass
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ReadProblem(f"{name} is not YAML DRoA reads ({first})") from None


# ------------------------------------------------------------------ POST /importmodel: the synchronous checks
def car_customization(params: Any) -> tuple[str, str]:
    """(shell, colour) as DRoA derives them (D: ImportHelper.ts#L267-L303). Raises ReadProblem where the
    TypeScript would throw a TypeError (a 500)."""
    shell_id = js_get(params, "BODY_SHELL_TYPE")
    if shell_id == DEEPRACER_SHELL_ID:
        color = js_get(params, "CAR_COLOR")
        if js_truthy(color):
            if not isinstance(color, str):
                raise ReadProblem(f"CAR_COLOR {color!r} is not a string: DRoA's toUpperCase() throws")
            if color.upper() in CAR_COLORS:
                return "DEEPRACER", color.upper()
        return "DEEPRACER", "WHITE"
    if js_truthy(shell_id):
        for shell, color, simapp_id in SIMAPP_SHELLS:
            if simapp_id == shell_id:
                return shell, color
    return "DEEPRACER", "WHITE"


def track_config(params: Any) -> tuple[Any, str]:
    """(trackId, direction) as DRoA derives them (D: ImportHelper.ts#L238-L259)."""
    track = js_get(params, "WORLD_NAME")
    if isinstance(track, str) and len(enabled_directions(track)) == 1:
        return track, str(default_direction(track))
    return track, CLOCKWISE if js_get(params, "TRACK_DIRECTION_CLOCKWISE") is True else COUNTER_CLOCKWISE


def object_positions(params: dict) -> list[tuple[float, float]] | None:
    """OBJECT_POSITIONS as DRoA parses them (D: ImportHelper.ts#L311-L336), None when not used."""
    positions = params.get("OBJECT_POSITIONS", UNDEFINED)
    length = len(positions) if isinstance(positions, (list, str)) else 0
    if not length or params.get("RANDOMIZE_OBSTACLE_LOCATIONS", UNDEFINED) is True:
        return None
    if not isinstance(positions, list):
        raise ReadProblem("OBJECT_POSITIONS is a string, not a list: DRoA's .map() throws")
    out = []
    for item in positions:
        if not isinstance(item, str):
            raise ReadProblem(f"an OBJECT_POSITIONS entry ({item!r}) is not a string: DRoA's .split() throws")
        parts = [p.strip() for p in item.split(",")]
        out.append((js_parse_float(parts[0]), js_parse_float(parts[1]) if len(parts) > 1 else math.nan))
    return out


def sync_refusal(params: Any, meta: Any, hyper: Any) -> Refusal | None:
    """The first refusal of POST /importmodel's checks after the four files were read, in the handler's order
    (D: importModel.ts#L47-L86)."""
    try:
        return _sync_refusal(params, meta, hyper)
    except ReadProblem as exc:
        return Refusal(str(exc), READ, "", "fix that value in the file named")


def _sync_refusal(params: Any, meta: Any, hyper: Any) -> Refusal | None:
    shell, color = car_customization(params)  # importModel.ts#L48-L49, validation.ts#L66-L76
    if shell == "DEEPRACER" and color not in DEEPRACER_COLORS:
        return Refusal(f"CAR_COLOR {color} is not a colour of the DeepRacer car shell (BODY_SHELL_TYPE deepracer): "
                       f"it has {', '.join(sorted(DEEPRACER_COLORS))}", REQUEST,
                       f"Invalid car customization. Car shell {shell} is not available in color {color}.",
                       "set CAR_COLOR in training_params.yaml to one of those colours")
    track, direction = track_config(params)  # importModel.ts#L52-L53, validation.ts#L78-L88
    if not (isinstance(track, str) and direction in enabled_directions(track)):
        known = isinstance(track, str) and bool(enabled_directions(track))
        return Refusal(f"track {js_string(track)} cannot be driven {direction}" if known else
                       f"WORLD_NAME {js_string(track)} is not a track DeepRacer on AWS knows", REQUEST,
                       f"Invalid track configuration. Track {js_string(track)} is not available in direction "
                       f"{direction}.", "set WORLD_NAME (and TRACK_DIRECTION_CLOCKWISE) in training_params.yaml to a "
                       "track and direction DRoA offers (see README)")
    if js_get(params, "RACE_TYPE") == "OBJECT_AVOIDANCE":  # importModel.ts#L59-L64, ImportHelper.ts#L412-L414
        refusal = _object_avoidance(params)
        if refusal:
            return refusal
    if meta is None or hyper is None:
        raise ReadProblem("model_metadata.json or ip/hyperparameters.json is JSON null: DRoA's property read "
                          "throws")
    algorithm, space_type = js_get(meta, "training_algorithm"), js_get(meta, "action_space_type")
    if algorithm == "sac" and space_type == "discrete":  # importModel.ts#L69-L71
        return Refusal("SAC (training_algorithm sac) with a discrete action space", REQUEST,
                       "Agent algorithm SAC does not work with discrete action space.",
                       "this model cannot be imported as it is")
    episodes = js_get(hyper, "num_episodes_between_training")
    if algorithm == "sac" and not (isinstance(episodes, (int, float)) and not isinstance(episodes, bool)
                                   and episodes == 1):  # importModel.ts#L73-L77: `!== 1`
        return Refusal(f"SAC with num_episodes_between_training {js_string(episodes)} in ip/hyperparameters.json "
                       "(it must be the number 1)", REQUEST,
                       "Invalid hyperparameter number of episodes between training for SAC agent algorithm.",
                       "this model cannot be imported as it is")
    space = js_get(meta, "action_space")  # ImportHelper.ts#L375-L396
    if js_nullish(space):
        raise ReadProblem("model_metadata.json has no action_space: DRoA's importActionSpace throws")
    if isinstance(space, list):
        if any(js_nullish(a) for a in space):
            raise ReadProblem("an action of model_metadata.json's action_space is null: DRoA's importActionSpace "
                              "throws")
    else:
        speed, steering = js_get(space, "speed"), js_get(space, "steering_angle")
        if js_nullish(speed) or js_nullish(steering):
            raise ReadProblem("model_metadata.json's action_space is neither a list of actions nor an object with "
                              "speed and steering_angle: DRoA's importActionSpace throws")
        if space_type == "continuous":  # importModel.ts#L81-L83, validation.ts#L57-L64
            if js_ge(js_get(speed, "low"), js_get(speed, "high")):
                return Refusal(f"continuous speed low {js_string(js_get(speed, 'low'))} is not below high "
                               f"{js_string(js_get(speed, 'high'))}", REQUEST, "Invalid action space speeds.",
                               "this model cannot be imported as it is")
            if js_ge(js_get(steering, "low"), js_get(steering, "high")):
                return Refusal(f"continuous steering_angle low {js_string(js_get(steering, 'low'))} is not below "
                               f"high {js_string(js_get(steering, 'high'))}", REQUEST,
                               "Invalid action space steering angles.", "this model cannot be imported as it is")
    sensors = js_get(meta, "sensor")  # importModel.ts#L86, ImportHelper.ts#L343-L368: for..of needs an iterable
    if sensors is None or isinstance(sensors, (dict, int, float)):
        raise ReadProblem(f"model_metadata.json's sensor {sensors!r} is not a list: DRoA's importSensors throws")
    return None


def _object_avoidance(params: dict) -> Refusal | None:
    """D: validation.ts#L28-L55 on the config ImportHelper.ts#L311-L336 builds."""
    number = params.get("NUMBER_OF_OBSTACLES", UNDEFINED)
    positions = object_positions(params)
    fix = "fix NUMBER_OF_OBSTACLES / OBJECT_POSITIONS in training_params.yaml"
    if not js_truthy(number) or (js_number(number) > 6):
        return Refusal(f"NUMBER_OF_OBSTACLES {js_string(number)}: object avoidance needs 1 to 6 obstacles", REQUEST,
                       "Number of obstacle positions is invalid.", fix)
    if positions and not (isinstance(number, (int, float)) and not isinstance(number, bool)
                          and number == len(positions)):
        return Refusal(f"{len(positions)} OBJECT_POSITIONS for NUMBER_OF_OBSTACLES {number!r} (DRoA compares them "
                       "strictly: a quoted number never matches)", REQUEST,
                       "Obstacle positions must be equal to number of objects.", fix)
    if positions:
        ordered = sorted(p for p, _ in positions)
        if ordered[0] < 0.07:
            return Refusal(f"the first obstacle is at {ordered[0]} of the lap; DRoA needs at least 0.07", REQUEST,
                           "First obstacle position is invalid.", fix)
        if ordered[-1] > 0.9:
            return Refusal(f"the last obstacle is at {ordered[-1]} of the lap; DRoA needs at most 0.9", REQUEST,
                           "Last obstacle position is invalid.", fix)
        for a, b in zip(ordered, ordered[1:], strict=False):
            if b - a < 0.13:
                return Refusal(f"obstacles at {a} and {b} of the lap are closer than 0.13", REQUEST,
                               "Obstacle position distances are invalid.", fix)
    return None


# ------------------------------------------------------------------ the reward-function validator (static part)
def flake8_lines(source: bytes, python: str | None = None) -> list[str] | None:
    """flake8's findings for the reward function with DRoA's selection, in flake8's order (row, column), as
    `code:row:text` lines; None when flake8 cannot be run. flake8 only reads the file: nothing in it runs."""
    with tempfile.TemporaryDirectory(prefix="drmodel-flake8-") as folder:
        path = Path(folder) / "reward_function.py"
        path.write_bytes(source)
        try:
            done = subprocess.run([python or sys.executable, "-m", "flake8", "--isolated", str(path), *FLAKE8_ARGS],
                                  capture_output=True, text=True, cwd=folder, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
    if done.returncode not in (0, 1) or (done.returncode and not done.stdout.strip()):
        return None  # flake8 is missing or broke
    return [line for line in done.stdout.strip().split("\n") if line.strip()]


def droa_flake8_message(line: str) -> str:
    """The message DRoA shows for a flake8 output line: it splits the line on ':' (D: RFV/test_reward_function.py
    #L85-L111), so a text holding ':' loses its start (E999 'SyntaxError: invalid syntax' -> ' invalid syntax')."""
    parts = line.split(":")
    if len(parts) > 3:
        return " : ".join(parts[3:])
    if len(parts) == 3:
        return parts[2]
    return line.strip()


def import_problem(tree: ast.AST) -> str | None:
    """D: RFV/test_reward_function.py#L192-L207 and #L679-L695: every module named by import statements anywhere,
    its first dotted part in the allow-list. A relative import has no module: the check itself crashes."""
    modules: set[Any] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module)
    if None in modules:
        return "'NoneType' object has no attribute 'split'"
    illegal = sorted(m.split(".")[0] for m in modules if m.split(".")[0] not in ALLOWED_IMPORTS)
    return f"The reward function contains illegal import(s): {illegal}" if illegal else None


class _ChainCrash(Exception):
    def __init__(self, node: ast.AST) -> None:
        super().__init__("can only join an iterable")
        self.node = node


def dotted_names(tree: ast.AST) -> list[str]:
    """The dotted names DRoA's builtins check collects (D: RFV/test_reward_function.py#L166-L189): for every call or
    attribute chain not nested in another, the chain from its root name; the arguments of each call in a chain
    first. A chain whose root is not a plain name (a literal, a subscript, a call result's subscript...) makes
    the check crash, which refuses the import (raised as _ChainCrash)."""
    names: list[str] = []

    def chain(node: ast.AST, tail: list[str]) -> list[str]:
        if isinstance(node, ast.Name):
            return [node.id, *tail]
        if isinstance(node, ast.Call):
            for arg in node.args:
                visit(arg)
            return chain(node.func, tail)
        if isinstance(node, ast.Attribute):
            return chain(node.value, [node.attr, *tail])
        raise _ChainCrash(node)

    def visit(node: Any) -> None:
        if isinstance(node, (ast.Call, ast.Attribute)):
            names.append(".".join(chain(node, [])))
            return
        if isinstance(node, ast.AST):
            for _, value in ast.iter_fields(node):
                for item in value if isinstance(value, list) else [value]:
                    visit(item)

    visit(tree)
    return names


@dataclass(frozen=True)
class RewardFinding:
    droa: str  # DRoA's message (after "Reward Function Validation ")
    rule: str  # drmodel's words
    line: int | None = None


def reward_static_findings(source: bytes, *, flake8: Callable[[bytes], list[str] | None] = flake8_lines
                           ) -> tuple[RewardFinding | None, list[str], bool]:
    """The first refusal of DRoA's static reward checks, in its order (D: RFV/test_reward_function.py#L698-L704:
    flake8, imports, forbidden calls, forbidden strings; each stops at its first finding), every flake8 line, and
    whether flake8 could be run."""
    lines = flake8(source)
    if lines:
        code, _, rest = lines[0].partition(":")
        row, _, text = rest.partition(":")
        return (RewardFinding(droa_flake8_message(lines[0]), f"flake8 {code} at line {row}: {text}",
                              int(row) if row.isdigit() else None), lines, True)
    text = source.decode("utf-8", "replace")
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:  # e.g. a byte order mark, which flake8 accepts and ast.parse does not
        return RewardFinding(exc.msg, f"Python cannot parse it: {exc.msg}", exc.lineno), lines or [], lines is not None
    problem = import_problem(tree)
    if problem:
        rule = ("a relative import (from . import x): DRoA's import check crashes on it" if "NoneType" in problem else
                f"it imports modules outside {', '.join(ALLOWED_IMPORTS)}")
        return RewardFinding(problem, rule), lines or [], lines is not None
    try:
        called = dotted_names(tree)
    except _ChainCrash as crash:
        where = getattr(crash.node, "lineno", None)
        return (RewardFinding("can only join an iterable",
                              f"line {where}: a method called on something that is not a plain name (a literal, a "
                              "subscript, a call's result...), which DRoA's call check cannot read and refuses; "
                              "assign it to a name first (s = \"{}\"; s.format(x))", where),
                lines or [], lines is not None)
    forbidden = [name for name in called if name in FORBIDDEN_CALLS]
    if forbidden:
        return (RewardFinding(f"The reward function contains forbidden builtins: {forbidden}",
                              f"it calls {', '.join(sorted(set(forbidden)))}"), lines or [], lines is not None)
    for word in FORBIDDEN_STRINGS:
        if word in text:
            at = next(i for i, ln in enumerate(text.splitlines(), 1) if word in ln) if word in text else None
            return (RewardFinding(f'Your code snippet contains a restricted string "{word}" that is not allowed. '
                                  "Please remove or replace the string and try again.",
                                  f'line {at} holds "{word}" (DRoA refuses it anywhere in the file, comments and '
                                  "words like download or saved included)", at), lines or [], lines is not None)
    return None, lines or [], lines is not None


def reward_function_def(tree: ast.Module) -> ast.FunctionDef | None:
    found = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "reward_function":
            found = node
    return found


def parameter_count(fn: ast.FunctionDef) -> int:
    """How many parameters inspect.signature lists: positional-only, positional, *args, keyword-only, **kwargs."""
    a = fn.args
    return len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + (a.vararg is not None) + (a.kwarg is not None)


def reward_shape_finding(source: bytes) -> RewardFinding | None:
    """The run-time checks that can be read without running anything (D: RFV/test_reward_function.py#L287-L315,
    #L618-L624): a module-level reward_function with exactly one parameter, and no import statement among the
    statements it runs first (DRoA blocks imports during its first call)."""
    try:
        tree = ast.parse(source.decode("utf-8", "replace"))
    except SyntaxError:
        return None
    assigned = any(isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
        isinstance(t, ast.Name) and t.id == "reward_function"
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])) for node in tree.body)
    fn = reward_function_def(tree)
    if fn is None:
        if assigned:
            return None
        return RewardFinding("module 'reward_function' has no attribute 'reward_function'",
                             "no module-level function named reward_function")
    if parameter_count(fn) != 1:
        return RewardFinding("Invalid reward function signature. Should be def reward_function(params)",
                             f"reward_function takes {parameter_count(fn)} parameters; DRoA wants exactly one",
                             fn.lineno)
    for stmt in fn.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            module = stmt.names[0].name if isinstance(stmt, ast.Import) else (stmt.module or "")
            inner = json.dumps({"message": f"Import should be put at the top of file, module: {module}",
                                "type": "IMPORT_ERROR"})
            return RewardFinding(f'Unsafe builtin function detected: "{inner}".',
                                 f"line {stmt.lineno}: an import inside reward_function (DRoA forbids imports while "
                                 "the function runs); move it to the top of the file", stmt.lineno)
        if isinstance(stmt, ast.Return):
            break
    return None


# ------------------------------------------------------------------ the model validator (S)
def _py_repr_has_no_quote(message: str) -> bool:
    """DRoA recovers the validator's message with /'message':\\s*'([^']+)'/ from its Python repr (D:
    importModelCompletion.ts#L118-L134): a message holding an apostrophe is repr'd in double quotes and lost."""
    return "'" not in message


def model_validation_message(message: str | None) -> str:
    if message and _py_repr_has_no_quote(message):
        return f"Model validation failed: {message}"
    return "Model validation failed"


def parse_validator_metadata(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """model/model_metadata.json as the validator parses it (S: MM#L211-L331, VW#L149-L157): (what it found, the
    failure message or None)."""
    prefix = "Failed to parse model_metadata file: "
    try:
        doc = json.loads(data.decode("utf-8"))  # Python's json: a BOM is an error, NaN is accepted
    except UnicodeDecodeError as exc:
        return None, f"{prefix}Model metadata does not exist: {exc}"
    except ValueError as exc:
        return None, f"{prefix}model_metadata ValueError: {exc}"
    try:
        return _validator_metadata(doc), None
    except ValueError as exc:
        return None, f"{prefix}model_metadata ValueError: {exc}"
    except _Exit as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001  # the validator turns any other error into this message
        return None, f"{prefix}Model metadata does not exist: {exc}"


class _Exit(Exception):
    """The validator's log_and_exit inside the parse (a 500 with this message)."""


def _validator_metadata(doc: Any) -> dict[str, Any]:
    if "action_space" not in doc:
        raise ValueError("no action space defined")
    if "version" in doc:
        version = float(doc["version"])
        sensor = doc["sensor"] if version >= 2 else ["observation"]
    elif "sensor" in doc:
        sensor, version = doc["sensor"], 2.0
    else:
        sensor, version = ["observation"], 1.0
    if sum(elem in CAMERAS for elem in sensor) != 1:
        raise ValueError(f"model_metadata MUST contain only 1 camera sensor: {sensor}")
    if sum(elem in LIDARS for elem in sensor) > 1:
        raise ValueError(f"model_metadata contains more than 1 lidar sensor: {sensor}")
    if "lidar_config" in doc:
        config = doc["lidar_config"]
        if "num_sectors" in config:
            n = int(config["num_sectors"])
            if n <= 0 or 64 % n != 0:
                raise ValueError(f"64 % Number of sector ({n}) must be 0!")
        if "num_values_per_sector" in config:
            v = int(config["num_values_per_sector"])
            if v < 1:
                raise ValueError(f"Number of values per sector ({v}) cannot be smaller than 1.")
    pad = " " * 28  # the validator's message keeps a continued line's indentation (MM#L301-L302, #L312-L313)
    if "training_algorithm" in doc:
        algorithm = doc["training_algorithm"].lower().strip()
        if algorithm not in ("clipped_ppo", "sac"):
            raise _Exit(f"Unknown training_algorithm found while parsing model_metadata. {pad}training_algorithm: "
                        f"{algorithm}")
    if "action_space_type" in doc:
        space_type = doc["action_space_type"].lower().strip()
        if space_type not in ("discrete", "continuous"):
            raise _Exit(f"Unknown action_space_type found while parsing model_metadata. {pad}action_space_type: "
                        f"{space_type}")
    return {"sensor": sensor, "version": version}


def coach_checkpoint_name(data: bytes) -> str | None:
    """What rl_coach reads from .coach_checkpoint (its first 256 characters), or None when it cannot."""
    m = COACH_CHECKPOINT_RE.search(data.decode("utf-8", "replace")[:256])
    if m is None or (m.group(2) is None and m.group(4) is None):
        return None
    return m.group(0)


def validator_pointer(paths: Collection[str], read: Callable[[str], bytes]) -> bytes | None:
    """What DRoA's model validator leaves in the upload's model/.coach_checkpoint before the import copies the
    upload: it writes deepracer_checkpoints.json's last, then best, checkpoint name there before validating each
    (S: bundle/markov/validation_worker.py#L68-L93, rl_coach_checkpoint.py#L159-L182), so the best (else the last)
    stays. None where it writes nothing: no JSON, an unreadable one (deepracer_checkpoint_json.py#L82-L115), or no
    last checkpoint."""
    if "model/deepracer_checkpoints.json" not in paths:
        return None
    try:
        doc = json.loads(read("model/deepracer_checkpoints.json"))
        last = (doc.get("last_checkpoint") or {}).get("name")
        best = (doc.get("best_checkpoint") or {}).get("name")
    except (ValueError, AttributeError, TypeError):
        return None
    if not isinstance(last, str):
        return None
    return (best if isinstance(best, str) else last).encode()


def checkpoint_parts(paths: Collection[str]) -> dict[str, set[str]]:
    """checkpoint name -> the parts (index, meta, data) present under model/."""
    parts: dict[str, set[str]] = {}
    for path in paths:
        m = CHECKPOINT_PART_RE.match(path)
        if m:
            part = "data" if m.group("part").startswith("data") else m.group("part")
            parts.setdefault(m.group("name"), set()).add(part)
    return parts


def model_validator_refusal(paths: Collection[str], read: Callable[[str], bytes]) -> Refusal | None:
    """The first refusal of the SimApp model validator DRoA runs on the upload (S: VW#L136-L207), or None."""
    if "model/model_metadata.json" not in paths:
        message = ("Failed to parse model_metadata file: An error occurred (404) when calling the HeadObject "
                   "operation: Not Found")
        return Refusal("model/model_metadata.json is missing (the validator reads that copy)", MODEL_STAGE,
                       model_validation_message(message), "add it (a copy of the metadata the weights were trained "
                       "with)")
    found, problem = parse_validator_metadata(read("model/model_metadata.json"))
    if problem:
        return Refusal(f"model/model_metadata.json: {problem}", MODEL_STAGE, model_validation_message(problem),
                       "fix model/model_metadata.json")
    assert found is not None
    sensor = found["sensor"]
    # VW#L109-L126: sample inputs exist for one camera (observation or front) or stereo cameras, with or without
    # a lidar; anything else (LEFT_CAMERA) is refused
    if not (any(s in ("observation", "FRONT_FACING_CAMERA") for s in sensor) or "STEREO_CAMERAS" in sensor):
        said = f"Sensor not supported: {sensor}!"
        shown = model_validation_message(said)
        return Refusal(f"sensor {sensor}: DRoA's model validator has no sample input for it (only FRONT_FACING_CAMERA "
                       f"or STEREO_CAMERAS, with or without a lidar); it says \"{said}\"" +
                       (f", which DRoA shows as a bare \"{shown}\"" if shown != f"Model validation failed: {said}"
                        else ""), MODEL_STAGE, shown, "this model cannot be imported into DRoA")
    pointer = "model/.coach_checkpoint"
    if found["version"] >= 2 or pointer in paths:
        if pointer not in paths:  # S: s3_boto_data_store.py#L289-L306
            return Refusal("model/.coach_checkpoint is missing", MODEL_STAGE,
                           model_validation_message("Checkpoint not found"), POINTER_FIX)
        if coach_checkpoint_name(read(pointer)) is None:  # s3_boto_data_store.py#L323-L355: retries, then crashes
            return Refusal("model/.coach_checkpoint does not name a checkpoint (rl_coach cannot read it)",
                           MODEL_STAGE, model_validation_message("Validation worker exited with exception: name "
                                                                 "'timeout' is not defined"), POINTER_FIX)
    elif "model/checkpoint" not in paths:  # S: rl_coach_checkpoint.py#L193-L260 (make_compatible)
        return Refusal("an old (version < 2) model with neither model/.coach_checkpoint nor model/checkpoint",
                       MODEL_STAGE, model_validation_message(None), POINTER_FIX)
    parts = checkpoint_parts(paths)
    if not parts:  # S: tensorflow_model.py#L112-L178
        return Refusal("model/ holds no checkpoint files", MODEL_STAGE, model_validation_message("No checkpoint files"),
                       "copy the model with its checkpoints")
    for name in _validated_names(paths, read):
        have = parts.get(name)
        if have and have != {"index", "meta", "data"}:
            missing = ", ".join(sorted({"index", "meta", "data"} - have))
            return Refusal(f"checkpoint {name} lacks its {missing} file{'s' if ',' in missing else ''}: TensorFlow "
                           "cannot restore it",
                           MODEL_STAGE, model_validation_message(None), "copy the checkpoint whole")
    return None


def _validated_names(paths: Collection[str], read: Callable[[str], bytes]) -> list[str]:
    """The checkpoints the validator restores: .coach_checkpoint's, then deepracer_checkpoints.json's last and
    best (S: VW#L62-L105); the JSON is ignored when unreadable (deepracer_checkpoint_json.py#L82-L115)."""
    names = []
    if "model/.coach_checkpoint" in paths:
        name = coach_checkpoint_name(read("model/.coach_checkpoint"))
        if name:
            names.append(name)
    if "model/deepracer_checkpoints.json" in paths:
        try:
            doc = json.loads(read("model/deepracer_checkpoints.json"))
            for key in ("last_checkpoint", "best_checkpoint"):
                name = (doc.get(key) or {}).get("name")
                if isinstance(name, str) and name:
                    names.append(name)
        except (ValueError, AttributeError, TypeError):
            pass
    return names
