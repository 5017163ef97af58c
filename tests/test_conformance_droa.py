"""drmodel against the real DeepRacer on AWS, one rule at a time.

Every case names the source of the rule it checks and states the rule in our own words. Sources:
- D = aws-solutions/deepracer-on-aws @ 61af778f9b1d904a6318b746fc3e5a8ddac525ce (v1.2.5). Short forms:
  IM = source/libs/lambda/src/api/handlers/importModel.ts, IH = source/libs/lambda/src/import-workflow/utils/
  ImportHelper.ts, VAL = source/libs/lambda/src/api/utils/validation.ts, RFV = source/libs/reward-function-validation/
  lib/reward_func_validator/test_reward_function.py (RFVC = its constants.py), SIM = source/libs/lambda/src/
  workflow/constants/simulation.ts, CMP = source/libs/lambda/src/import-workflow/handlers/importModelCompletion.ts.
- S = aws-deepracer-community/deepracer-simapp @ 01f5f015fd852f952b351643898d4beb4f36494b, the model validator
  DRoA's import runs. VW = bundle/markov/validation_worker.py, MM = bundle/markov/boto/s3/files/model_metadata.py.
The expected messages of the reward validator were produced by running D's validator with flake8 7.3.0
(research note conformance-droa-import.md, section 3.6). No code of those repositories is copied here: the tests
check drmodel's behaviour against what those sources do, and run flake8 as DRoA does.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from drmodel.droa import preflight as pf
from drmodel.droa import rules
from drmodel.droa.client import DroaClient, message_of
from drmodel.droa.config import Deployment
from drmodel.errors import AmbiguousError, InvalidModelError, TransferError, UsageError, VerificationError
from drmodel.stores.base import ObjectInfo
from drmodel.testing.synth import synth_model

# ====================================================================== the pre-flight, rule by rule

def base_files() -> dict[str, bytes]:
    files = synth_model("Conform", bucket="b", prefix="p", timestamp="20200427103015",
                        checkpoints=((140, 123889), (145, 136982)), scale=0.0005)
    files["training_params.yaml"] = files.pop("training_params_1.yaml")
    return files


def run_preflight(files: dict[str, bytes], **kw: Any) -> pf.Upload:
    infos = {p: ObjectInfo(key=p, size=len(d)) for p, d in files.items()}
    return pf.preflight(infos, lambda p: files[p], **kw)


def uploaded(up: pf.Upload, files: dict[str, bytes], path: str) -> bytes:
    return up.data[path] if path in up.data else files[up.sources[path]]


def yaml_set(key: str, value: str) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        lines = [ln for ln in files["training_params.yaml"].decode().splitlines() if not ln.startswith(f"{key}:")]
        files["training_params.yaml"] = ("\n".join(lines) + f"\n{key}: {value}\n").encode()
    return change


def meta_set(*, root: bool = True, model: bool = True, **values: Any) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        for path, wanted in (("model_metadata.json", root), ("model/model_metadata.json", model)):
            if wanted:
                files[path] = json.dumps(json.loads(files[path]) | values).encode()
    return change


def hyper_set(**values: Any) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        files["ip/hyperparameters.json"] = json.dumps(json.loads(files["ip/hyperparameters.json"]) | values).encode()
    return change


def put(path: str, data: bytes) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        files[path] = data
    return change


def drop(*paths: str) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        for p in paths:
            files.pop(p)
    return change


def both(*changes: Callable[[dict[str, bytes]], None]) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        for c in changes:
            c(files)
    return change


def reward(text: str) -> Callable[[dict[str, bytes]], None]:
    return put("reward_function.py", text.encode())


GOOD = "def reward_function(params):\n    return 1.0\n"
CONT = {"action_space_type": "continuous",
        "action_space": {"speed": {"low": 1.0, "high": 3.0}, "steering_angle": {"low": -20.0, "high": 20.0}}}
OA = both(yaml_set("RACE_TYPE", "OBJECT_AVOIDANCE"), yaml_set("NUMBER_OF_OBSTACLES", "3"))
SAC = meta_set(training_algorithm="sac", **CONT)


def refuses(stage: str, droa: str) -> tuple[str, str, str]:
    return ("refuse", stage, droa)


# (id, change, expected) where expected is ("refuse", stage, DRoA's words or a part of them), ("warn", text),
# ("note", text), ("fix", path, text) or ("ok",). Every entry: its source, then the rule in our words.
CASES: list[tuple[str, Callable[[dict[str, bytes]], None], tuple[str, ...]]] = [
    # --- files POST /importmodel reads: D IH#L37-L168, S3Helper.ts#L35-L50 ---
    # D IH#L139-L147: training_params.yaml must exist; missing -> the handler throws, API answers 500, no model.
    ("missing training_params.yaml", drop("training_params.yaml"), refuses("read", "")),
    # D IH#L68-L77: ip/hyperparameters.json (not a root copy) must exist.
    ("missing ip/hyperparameters.json", drop("ip/hyperparameters.json"), refuses("read", "")),
    # D IH#L53-L61: an empty reward_function.py counts as missing (`if (!rewardFunction) throw`).
    ("empty reward function", reward(""), refuses("read", "")),
    # D IH#L43 + Node's Buffer.toString keeps U+FEFF: JSON.parse refuses a byte order mark; drmodel strips it.
    ("metadata with a BOM", lambda f: f.update({"model_metadata.json": b"\xef\xbb\xbf" + f["model_metadata.json"]}),
     ("fix", "model_metadata.json", "byte order mark removed")),
    # D IH#L74: JSON.parse refuses NaN and Infinity (Python's json would accept them).
    ("NaN in hyperparameters", put("ip/hyperparameters.json", b'{"batch_size": NaN}'), refuses("read", "")),
    # D IH#L144: yaml@2 refuses a repeated key ("Map keys must be unique").
    ("repeated YAML key", lambda f: f.update({"training_params.yaml": f["training_params.yaml"] + b"RACE_TYPE: x\n"}),
     refuses("read", "")),
    # --- training_params.yaml: D IH#L238-L259, VAL#L78-L88, tracks.json ---
    # WORLD_NAME must be a trackId of tracks.json, exactly; anything else is a 400 naming the direction.
    ("unknown track", yaml_set("WORLD_NAME", "Nowhere_track"),
     refuses("request", "Invalid track configuration. Track Nowhere_track is not available in direction "
                        "COUNTER_CLOCKWISE.")),
    # A _cw/_ccw suffix is not a trackId (DRoA: 400); drmodel strips it and sets the direction.
    ("track with a suffix", yaml_set("WORLD_NAME", "reInvent2019_track_cw"),
     ("fix", "training_params.yaml", "TRACK_DIRECTION_CLOCKWISE: true")),
    # Only the YAML boolean true (not "true", not yes) means CLOCKWISE; drmodel rewrites quoted/1.1 forms.
    ("direction yes", yaml_set("TRACK_DIRECTION_CLOCKWISE", "yes"),
     ("fix", "training_params.yaml", "TRACK_DIRECTION_CLOCKWISE")),
    ("direction quoted", yaml_set("TRACK_DIRECTION_CLOCKWISE", '"True"'),
     ("fix", "training_params.yaml", "TRACK_DIRECTION_CLOCKWISE")),
    # Any other value is read as COUNTER_CLOCKWISE without an error: accepted, drmodel warns.
    ("direction 1", yaml_set("TRACK_DIRECTION_CLOCKWISE", "1"), ("warn", "DRoA reads it as COUNTER_CLOCKWISE")),
    # A one-direction track ignores TRACK_DIRECTION_CLOCKWISE (D IH#L243-L245): accepted, a note.
    ("one-direction track", both(yaml_set("WORLD_NAME", "Albert"), yaml_set("TRACK_DIRECTION_CLOCKWISE", "false")),
     ("note", "is ignored: DRoA drives Albert CLOCKWISE only")),
    # --- car: D IH#L267-L303, VAL#L66-L76, SIM#L74-L82 ---
    # The deepracer shell exists in 7 colours; another CarColor name is a 400.
    ("deepracer shell in yellow", yaml_set("CAR_COLOR", "Yellow"),
     refuses("request", "Invalid car customization. Car shell DEEPRACER is not available in color YELLOW.")),
    # CAR_COLOR is upper-cased with toUpperCase(): a number there throws (500).
    ("car colour a number", yaml_set("CAR_COLOR", "5"), refuses("read", "")),
    # A BODY_SHELL_TYPE that is no SimApp shell id becomes the white DeepRacer: accepted, drmodel warns.
    ("unknown shell", yaml_set("BODY_SHELL_TYPE", "hovercraft"), ("warn", "imports the model as the white DeepRacer")),
    # --- object avoidance: D IM#L59-L64, IH#L311-L336, IH#L412-L414, VAL#L16-L55 ---
    # NUMBER_OF_OBSTACLES must be truthy and at most 6.
    ("no obstacles", both(OA, yaml_set("NUMBER_OF_OBSTACLES", "0")),
     refuses("request", "Number of obstacle positions is invalid.")),
    ("seven obstacles", both(OA, yaml_set("NUMBER_OF_OBSTACLES", "7")),
     refuses("request", "Number of obstacle positions is invalid.")),
    # The count of OBJECT_POSITIONS must be strictly (===) NUMBER_OF_OBSTACLES: a quoted "3" never is.
    ("obstacle count quoted", both(OA, yaml_set("NUMBER_OF_OBSTACLES", '"3"'),
                                   yaml_set("OBJECT_POSITIONS", '["0.2,1", "0.5,-1", "0.8,1"]')),
     refuses("request", "Obstacle positions must be equal to number of objects.")),
    # Sorted positions: the first at 0.07 of the lap or later, the last at 0.9 or before, 0.13 apart at least.
    ("first obstacle too early", both(OA, yaml_set("OBJECT_POSITIONS", '["0.05,1", "0.5,-1", "0.8,1"]')),
     refuses("request", "First obstacle position is invalid.")),
    ("last obstacle too late", both(OA, yaml_set("OBJECT_POSITIONS", '["0.2,1", "0.5,-1", "0.95,1"]')),
     refuses("request", "Last obstacle position is invalid.")),
    ("obstacles too close", both(OA, yaml_set("OBJECT_POSITIONS", '["0.2,1", "0.3,-1", "0.8,1"]')),
     refuses("request", "Obstacle position distances are invalid.")),
    ("obstacles fine", both(OA, yaml_set("OBJECT_POSITIONS", '["0.2,1", "0.5,-1", "0.8,1"]')), ("ok",)),
    # Positions are ignored when RANDOMIZE_OBSTACLE_LOCATIONS is the boolean true.
    ("obstacles randomized", both(OA, yaml_set("RANDOMIZE_OBSTACLE_LOCATIONS", "true"),
                                  yaml_set("OBJECT_POSITIONS", '["0.01,1"]')), ("ok",)),
    # OBJECT_POSITIONS that is a string, not a list: `.map` throws (500).
    ("positions a string", both(OA, yaml_set("OBJECT_POSITIONS", '"0.2,1"')), refuses("read", "")),
    # RACE_TYPE other than OBJECT_AVOIDANCE is imported as TIME_TRIAL without an error: drmodel warns.
    ("head to bot", yaml_set("RACE_TYPE", "HEAD_TO_BOT"), ("warn", "imports the model as TIME_TRIAL")),
    # --- algorithm and action space: D IM#L66-L83, IH#L375-L396, VAL#L57-L64 ---
    # training_algorithm "sac" with action_space_type "discrete" is a 400.
    ("SAC discrete", meta_set(training_algorithm="sac", action_space_type="discrete"),
     refuses("request", "Agent algorithm SAC does not work with discrete action space.")),
    # SAC needs num_episodes_between_training === 1: 20, true and "1" are refused, 1.0 is the number 1.
    ("SAC 20 episodes", both(SAC, hyper_set(num_episodes_between_training=20)),
     refuses("request", "Invalid hyperparameter number of episodes between training for SAC agent algorithm.")),
    ("SAC episodes true", both(SAC, hyper_set(num_episodes_between_training=True)),
     refuses("request", "Invalid hyperparameter number of episodes between training for SAC agent algorithm.")),
    ("SAC episodes 1.0", both(SAC, hyper_set(num_episodes_between_training=1.0)), ("ok",)),
    # An action space that is neither a list nor {speed, steering_angle}: reading .low throws (500).
    ("no action space", lambda f: f.update({p: json.dumps({k: v for k, v in json.loads(f[p]).items()
                                                           if k != "action_space"}).encode()
                                            for p in ("model_metadata.json", "model/model_metadata.json")}),
     refuses("read", "")),
    # Continuous: low must be strictly below high, for speed and steering.
    ("continuous low == high", meta_set(action_space_type="continuous", action_space={
        "speed": {"low": 2.0, "high": 2.0}, "steering_angle": {"low": -20.0, "high": 20.0}}),
     refuses("request", "Invalid action space speeds.")),
    ("continuous steering reversed", meta_set(action_space_type="continuous", action_space={
        "speed": {"low": 1.0, "high": 2.0}, "steering_angle": {"low": 20.0, "high": -20.0}}),
     refuses("request", "Invalid action space steering angles.")),
    # No range limit exists (the 0.5-4 / +-30 ranges are only on CreateModel's shapes, model.smithy#L179-L186):
    # accepted, drmodel warns.
    ("continuous speed 5", meta_set(action_space_type="continuous", action_space={
        "speed": {"low": 1.0, "high": 5.0}, "steering_angle": {"low": -20.0, "high": 20.0}}),
     ("warn", "continuous speed 1..5 goes beyond 0.5..4 m/s")),
    ("continuous steering 35", meta_set(action_space_type="continuous", action_space={
        "speed": {"low": 1.0, "high": 3.0}, "steering_angle": {"low": -35.0, "high": 35.0}}),
     ("warn", "continuous steering -35..35 goes beyond -30..30 degrees")),
    # --- the reward function, static checks: D RFV#L698-L704 (flake8, imports, calls, strings, in order) ---
    # D RFV#L114-L126, #L156-L160: flake8 --select=E,F --ignore=E5,E226,E261; the first finding refuses.
    ("F401 unused import", reward("import math\n\n\n" + GOOD),
     refuses("reward", "Reward Function Validation 'math' imported but unused")),
    ("E302 one blank line", reward("import math\n\ndef reward_function(params):\n    return math.sqrt(1.0)\n"),
     refuses("reward", "Reward Function Validation expected 2 blank lines, found 1")),
    ("E225 missing whitespace", reward("def reward_function(params):\n    x=1.0\n    return x\n"),
     refuses("reward", "Reward Function Validation missing whitespace around operator")),
    ("F841 unused local", reward("def reward_function(params):\n    unused = 2\n    return 1.0\n"),
     refuses("reward", "Reward Function Validation local variable 'unused' is assigned to but never used")),
    ("E741 ambiguous name", reward("def reward_function(params):\n    l = 1.0\n    return l\n"),
     refuses("reward", "Reward Function Validation ambiguous variable name 'l'")),
    # Not selected or ignored: E226, E261, E501, W291/W292 pass.
    ("E226 E261 E501 W291 pass", reward("def reward_function(params):\n    x = 2.0*3.0 # fine\n"
                                        "    # " + "y" * 120 + "   \n    return x"), ("ok",)),
    # A `noqa` comment is honoured by flake8 as DRoA runs it.
    ("noqa honoured", reward("import math  # noqa: F401\n\n\n" + GOOD), ("ok",)),
    # A syntax error is flake8's E999; DRoA splits the line on ':' and keeps what follows "SyntaxError".
    ("syntax error", reward("def reward_function(params:\n    return 1.0\n"),
     refuses("reward", "Reward Function Validation  '(' was never closed")),
    # D RFV#L192-L207, RFVC#L7: imports only of math, random, numpy, scipy, shapely (first dotted part).
    ("import os", reward("import os\n\n\ndef reward_function(params):\n    return float(len(os.sep))\n"),
     refuses("reward", "Reward Function Validation The reward function contains illegal import(s): ['os']")),
    ("allowed imports", reward("import math\nimport random\n\n\ndef reward_function(params):\n"
                               "    return math.sqrt(random.random())\n"), ("ok",)),
    # A relative import has no module name: the check crashes, which refuses the import.
    ("relative import", reward("from . import x\n\n\ndef reward_function(params):\n    return float(x)\n"),
     refuses("reward", "Reward Function Validation 'NoneType' object has no attribute 'split'")),
    # D RFV#L166-L189, #L209-L221, RFVC#L10: a call whose dotted name is open, exec, eval, compile or input.
    ("eval call", reward("def reward_function(params):\n    return float(eval('1.0'))\n"),
     refuses("reward", "Reward Function Validation The reward function contains forbidden builtins: ['eval']")),
    # A method call on something that is not a plain name makes that walk crash: refused.
    ("method on a literal", reward("def reward_function(params):\n    return float('{}'.format(1))\n"),
     refuses("reward", "Reward Function Validation can only join an iterable")),
    # D RFV#L223-L233, RFVC#L12-L23: ten strings refused anywhere in the text, comments included.
    ("load in a comment", reward("def reward_function(params):\n    # reload the weights\n    return 1.0\n"),
     refuses("reward", 'Reward Function Validation Your code snippet contains a restricted string "load"')),
    ("save in a docstring", reward('def reward_function(params):\n    """Values saved here."""\n    return 1.0\n'),
     refuses("reward", 'Reward Function Validation Your code snippet contains a restricted string "save"')),
    # A byte order mark: flake8 accepts it, Python's ast does not (SYNTAX_ERROR); drmodel strips it.
    ("reward with a BOM", put("reward_function.py", b"\xef\xbb\xbf" + GOOD.encode()),
     ("fix", "reward_function.py", "byte order mark removed")),
    # --- the reward function, run-time checks read statically: D RFV#L287-L315, #L618-L624 ---
    # The module must define reward_function.
    ("no reward_function", reward("def reward(params):\n    return 1.0\n"),
     refuses("reward", "Reward Function Validation module 'reward_function' has no attribute 'reward_function'")),
    # It must take exactly one parameter (as inspect.signature counts them; *args is one).
    ("two parameters", reward("def reward_function(params, extra=1):\n    return 1.0\n"),
     refuses("reward", "Invalid reward function signature. Should be def reward_function(params)")),
    ("star args", reward("def reward_function(*args):\n    return 1.0\n"), ("ok",)),
    # No import while it runs: DRoA calls it once with imports blocked.
    ("import inside", reward("def reward_function(params):\n    import math\n    return math.sqrt(1.0)\n"),
     refuses("reward", "Import should be put at the top of file, module: math")),
    # --- the model validator: S VW#L136-L207, MM#L211-L331 ---
    # It reads model/model_metadata.json (not the root copy); drmodel adds it from the root copy when missing.
    ("no model/model_metadata.json", drop("model/model_metadata.json"),
     ("fix", "model/model_metadata.json", "added: a copy of model_metadata.json")),
    # S VW#L109-L126: sample inputs exist only for one front camera or stereo cameras: LEFT_CAMERA is refused,
    # and the message holds apostrophes, so DRoA shows it bare (D CMP#L118-L134).
    ("left camera", meta_set(sensor=["LEFT_CAMERA"]), refuses("model", "Model validation failed")),
    ("left camera and lidar", meta_set(sensor=["LEFT_CAMERA", "LIDAR"]), refuses("model", "Model validation failed")),
    ("stereo and lidar", meta_set(sensor=["STEREO_CAMERAS", "SECTOR_LIDAR"]), ("ok",)),
    # S MM#L244-L254: exactly one camera, at most one lidar.
    ("two cameras", meta_set(sensor=["FRONT_FACING_CAMERA", "STEREO_CAMERAS"]),
     refuses("model", "Model validation failed")),
    ("two lidars", meta_set(sensor=["FRONT_FACING_CAMERA", "LIDAR", "SECTOR_LIDAR"]),
     refuses("model", "Model validation failed")),
    # S MM#L263-L273: lidar_config.num_sectors must divide 64.
    ("lidar sectors 5", meta_set(lidar_config={"num_sectors": 5}),
     refuses("model", "Model validation failed: Failed to parse model_metadata file: model_metadata ValueError: "
                      "64 % Number of sector (5) must be 0!")),
    # S MM#L230-L231: version must be a number.
    ("version not a number", meta_set(version="four"), refuses("model", "Model validation failed")),
    # S MM#L227-L228: the validator's copy needs an action space.
    ("model copy without action space", lambda f: f.update({"model/model_metadata.json": json.dumps(
        {k: v for k, v in json.loads(f["model/model_metadata.json"]).items() if k != "action_space"}).encode()}),
     refuses("model", "Model validation failed: Failed to parse model_metadata file: model_metadata ValueError: no "
                      "action space defined")),
    # S MM#L294-L315: training_algorithm and action_space_type are lower-cased, then must be known values.
    ("unknown algorithm", meta_set(training_algorithm="dqn"), refuses("model", "Unknown training_algorithm")),
    # S bundle/markov/s3_boto_data_store.py#L289-L306: model/.coach_checkpoint must exist (version >= 2) ...
    ("no .coach_checkpoint, no json", drop("model/.coach_checkpoint", "model/deepracer_checkpoints.json"),
     refuses("model", "Model validation failed: Checkpoint not found")),
    # ... drmodel writes it from deepracer_checkpoints.json's last checkpoint when it can.
    ("no .coach_checkpoint", drop("model/.coach_checkpoint"),
     ("fix", "model/.coach_checkpoint", "written: 145_Step-136982.ckpt")),
    # S bundle/rl_coach/rl_coach/checkpoint.py#L254-L271: its content must name a checkpoint.
    (".coach_checkpoint garbage", put("model/.coach_checkpoint", b"latest"), refuses("model", "Model validation")),
    # A dotless coach_checkpoint (console exports on macOS) is renamed.
    ("dotless coach_checkpoint", lambda f: f.update({"model/coach_checkpoint": f.pop("model/.coach_checkpoint")}),
     ("fix", "model/.coach_checkpoint", "renamed from the dotless")),
    # S tensorflow_model.py#L112-L178: a checkpoint present but incomplete cannot be restored.
    ("checkpoint without index", drop("model/145_Step-136982.ckpt.index"), refuses("model", "Model validation failed")),
    # ... and with no checkpoint file at all: "No checkpoint files".
    ("no checkpoint files", lambda f: [f.pop(p) for p in list(f) if ".ckpt." in p],
     refuses("model", "Model validation failed: No checkpoint files")),
    # tensorflow_model.py#L177: model_N.pb is never read: accepted; drmodel warns (the car needs it).
    ("no model_N.pb", drop("model/model_140.pb"), ("warn", "DRoA never reads it")),
    # tensorflow_model.py#L156-L166: a best checkpoint without files is replaced by the newest: accepted, warned.
    ("best without files", drop(*[f"model/140_Step-123889.ckpt.{e}" for e in ("index", "meta", "data-00000-of-00001")]),
     ("warn", "the best checkpoint 140_Step-123889.ckpt has no files here")),
    # deepracer_checkpoint_json.py#L82-L115: an unreadable deepracer_checkpoints.json is ignored: warned.
    ("checkpoints json unreadable", put("model/deepracer_checkpoints.json", b"{not json"),
     ("warn", "is not readable JSON: DRoA's validator ignores it")),
    # D: the API reads the root copy, the validator model/'s; nothing compares them (VW#L141-L144): a difference is
    # accepted; drmodel warns and uploads both unchanged.
    ("metadata copies differ", meta_set(root=False, neural_network="DEEP_CONVOLUTIONAL_NETWORK"),
     ("warn", "model/model_metadata.json differs from model_metadata.json (neural_network)")),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_preflight_rule(change: Callable[[dict[str, bytes]], None], expected: tuple[str, ...]) -> None:
    files = base_files()
    change(files)
    if expected[0] == "refuse":
        with pytest.raises(InvalidModelError) as err:
            run_preflight(files)
        _, stage, droa = expected
        text = err.value.line()
        assert "DeepRacer on AWS would refuse this model" in text
        assert {"read": "answers 500", "request": "answers 400", "reward": "ends ERROR",
                "model": "ends ERROR"}[stage] in text, text
        assert droa in text, text
        assert "\n" not in text
        return
    up = run_preflight(files)
    if expected[0] == "fix":
        assert expected[2] in up.fixes.get(expected[1], ""), up.fixes
    elif expected[0] == "warn":
        assert any(expected[1] in w for w in up.warnings), up.warnings
    elif expected[0] == "note":
        assert any(expected[1] in n for n in up.notes), up.notes


@pytest.mark.parametrize("value", ["yes", "On", '"true"', "'TRUE'"])
def test_a_direction_meant_clockwise_is_uploaded_as_droa_reads_clockwise(value: str) -> None:
    # D IH#L248-L251: CLOCKWISE only for `=== true`; yaml@2 (YAML 1.2) reads yes/on and quoted words as strings.
    files = base_files()
    yaml_set("TRACK_DIRECTION_CLOCKWISE", value)(files)
    assert rules.track_config(rules.parse_yaml_droa(files["training_params.yaml"]))[1] == "COUNTER_CLOCKWISE"
    up = run_preflight(files)
    params = rules.parse_yaml_droa(uploaded(up, files, "training_params.yaml"))
    assert rules.track_config(params) == ("reInvent2019_track", "CLOCKWISE")


def test_the_synthetic_reward_function_passes_droas_validator() -> None:
    # D RFV#L114-L126 (flake8 --select=E,F --ignore=E5,E226,E261): the demo's reward function had an unused
    # `import math` (F401), so every demo import would have ended in ERROR on a real deployment.
    from drmodel.testing.synth import REWARD_FUNCTION

    source = REWARD_FUNCTION.replace("{bonus}", "1.5").encode()
    finding, lines, ran = rules.reward_static_findings(source)
    assert ran and finding is None and lines == []
    assert rules.reward_shape_finding(source) is None
    assert run_preflight(base_files()).warnings == []


def test_model_metadata_is_never_replaced_by_the_root_copy() -> None:
    # S VW#L141-L144 reads model/model_metadata.json, the copy the weights were trained with; D reads the root one.
    files = base_files()
    meta_set(root=False, neural_network="DEEP_CONVOLUTIONAL_NETWORK")(files)
    up = run_preflight(files)
    assert uploaded(up, files, "model/model_metadata.json") == files["model/model_metadata.json"]
    assert uploaded(up, files, "model_metadata.json") == files["model_metadata.json"]


def test_flake8_line_as_droa_reports_it() -> None:
    # D RFV#L85-L111: DRoA splits flake8's `code:row:text` on ':'; a text holding ':' loses its start.
    assert rules.droa_flake8_message("F401:1:'math' imported but unused") == "'math' imported but unused"
    assert rules.droa_flake8_message("E999:1:SyntaxError: invalid syntax") == " invalid syntax"
    assert rules.droa_flake8_message("E231:5:missing whitespace after ':'") == "'"


def test_only_the_first_refusal_is_reported_in_droas_order() -> None:
    # D IM#L47-L86: the synchronous checks run in order (car before track before SAC); D RFV#L748-L752: flake8 runs
    # before the import check. drmodel reports the one DRoA would, and counts the others.
    files = base_files()
    both(yaml_set("CAR_COLOR", "Pink"), yaml_set("WORLD_NAME", "Nowhere"), reward("import os\n" + GOOD))(files)
    with pytest.raises(InvalidModelError) as err:
        run_preflight(files)
    text = err.value.line()
    assert text.index("Car shell DEEPRACER is not available in color PINK") < text.index("and 1 more")
    assert "imported but unused" in text or "E302" in text or "illegal import" in text


# ---------------------------------------------------------------------- the run-time reward check, when asked

RUNTIME = [
    # D RFV#L630-L634: the value must be a Python float; an int is refused.
    ("returns an int", "def reward_function(params):\n    return 1\n",
     "Method returned non-floating type value: 1"),
    # D RFV#L636-L648: within [-1e5, 1e5] (NaN is outside).
    ("returns 1e6", "def reward_function(params):\n    return 1e6\n",
     "Reward score out of range. Reward: 1000000.0, range: [-1e5, 1e5]"),
    ("returns NaN", "def reward_function(params):\n    return float('nan')\n",
     "Reward score out of range. Reward: nan"),
    # D RFV#L650-L672: each sample car must get such a value too (the off-track one here returns None).
    ("nothing when off track", "def reward_function(params):\n    if params['all_wheels_on_track']:\n"
                               "        return 1.0\n", "Off-track vehicle failed to make progress. Reward: None"),
    # D RFV#L287-L315: any exception of the first call, with imports blocked, is refused.
    ("divides by the distance", "def reward_function(params):\n    return 1.0 / params['distance_from_center']\n",
     'Unsafe builtin function detected: "float division by zero".'),
    # RFVC#L25: 5 s per call, else "Timed Out".
    ("loops at half a lap", "def reward_function(params):\n    while params['progress'] == 50:\n        pass\n"
                            "    return 1.0\n", "Timed Out"),
]


@pytest.mark.parametrize(("source", "message"), [r[1:] for r in RUNTIME], ids=[r[0] for r in RUNTIME])
def test_runtime_reward_check_when_asked(source: str, message: str) -> None:
    from drmodel.droa.rewardrun import run_reward_function

    result = run_reward_function(source.encode(), run_seconds=30, call_seconds=1.0)
    assert result.failures and result.failures[0].startswith(message), result.failures


def test_runtime_reward_check_only_when_asked(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # drmodel never runs a model's code unless asked: the default plan says DRoA will run it and drmodel did not.
    canary = tmp_path / "ran"
    files = base_files()
    reward(f"def reward_function(params):\n    open({str(canary)!r}, 'w')\n    return 1.0\n")(files)
    monkeypatch.setattr(rules, "reward_static_findings", lambda source: (None, [], True))
    up = run_preflight(files)
    assert any("drmodel did not" in n for n in up.notes) and not canary.exists()
    ok = base_files()
    up = run_preflight(ok, run_reward_function=True)
    assert any("returned a float within +/-1e5 for each" in n for n in up.notes)


def test_runtime_reward_check_has_a_memory_limit() -> None:
    # drmodel's own limit (POSIX RLIMIT_AS) on the process that runs the function.
    from drmodel.droa.rewardrun import run_reward_function

    source = "def reward_function(params):\n    x = bytearray(1 << 31)\n    return float(len(x))\n"
    result = run_reward_function(source.encode(), memory_bytes=1 << 30)
    assert result.failures and "MemoryError" in result.failures[0]


# ====================================================================== the API client against DRoA's wire shapes

class FakeApi:
    """A local HTTP server answering env.js and the REST API with scripted answers: (status, body, headers)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self.answer: Callable[[str, str, bytes], tuple[int, Any, dict[str, str]]] = lambda m, p, b: (404, {}, {})
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/env.js":
                    env = {"region": "us-east-1", "userPoolId": "us-east-1_x", "userPoolClientId": "c",
                           "identityPoolId": "us-east-1:i", "apiEndpointUrl": fake.url + "api/prod/",
                           "uploadBucketName": "upload", "iotEndpoint": "x", "solutionVersion": "v1.2.5",
                           "namespace": "n"}
                    data = f"window.EnvironmentConfig = {json.dumps(env)};".encode()
                    status, headers = 200, {}
                else:
                    fake.requests.append((self.command, self.path, body))
                    status, doc, headers = fake.answer(self.command, self.path.removeprefix("/api/prod"), body)
                    data = b"" if doc is None else json.dumps(doc).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = handle_one

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)  # close() waits for the loop to notice: not 0.5 s
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Creds:
    def get_frozen_credentials(self) -> Any:
        from botocore.credentials import ReadOnlyCredentials

        return ReadOnlyCredentials("AKIDEXAMPLE", "secret", "token")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeApi, DroaClient]]:
    from drmodel.droa import client as client_module

    fake = FakeApi()
    client = DroaClient(Deployment("fake", fake.url, "racer"))
    client._credentials = _Creds()
    monkeypatch.setattr(client_module.time, "sleep", lambda s: None)
    yield fake, client
    fake.close()


ID = "Ab3dE6gH9jK2mN5"


def model_doc(status: str, **extra: Any) -> dict[str, Any]:
    return {"model": {"modelId": ID, "name": "Apex-Hunter", "description": "", "createdAt": "2026-07-24T15:06:49Z",
                      "fileSizeInBytes": 0, "status": status, "carCustomization": {"carColor": "WHITE",
                                                                                     "carShell": "DEEPRACER"},
                      **extra}}


def test_wait_import_reads_the_real_shape(api: tuple[FakeApi, DroaClient]) -> None:
    # D source/libs/model/src/main/smithy/operations/get-model.smithy#L14-L17, getModel.ts#L30-L52: GET
    # /models/{id} answers {"model": {...}}. D IM#L104: an import starts IMPORTING; CMP#L154: then READY.
    fake, client = api
    answers = iter([model_doc("IMPORTING"), model_doc("IMPORTING"), model_doc("READY")])
    fake.answer = lambda m, p, b: (200, next(answers), {})
    model = client.wait_import(ID)
    assert model["status"] == "READY" and model["modelId"] == ID
    assert [r[:2] for r in fake.requests] == [("GET", f"/api/prod/models/{ID}")] * 3


def test_wait_import_error_shows_droas_message(api: tuple[FakeApi, DroaClient]) -> None:
    # D CMP#L106-L151: a failed import ends ERROR with importErrorMessage (reward or model validation).
    fake, client = api
    message = "Reward Function Validation 'math' imported but unused"
    fake.answer = lambda m, p, b: (200, model_doc("ERROR", importErrorMessage=message), {})
    with pytest.raises(InvalidModelError) as err:
        client.wait_import(ID)
    assert err.value.message.startswith(f"DRoA refused the import: {message}")
    assert "fix reward_function.py" in (err.value.fix or "")


def test_wait_import_gives_up_on_other_statuses(api: tuple[FakeApi, DroaClient]) -> None:
    # D model.smithy#L220-L230: DELETING (or any status but IMPORTING/READY/ERROR) ends the wait.
    fake, client = api
    fake.answer = lambda m, p, b: (200, model_doc("DELETING"), {})
    with pytest.raises(TransferError, match="went DELETING"):
        client.wait_import(ID)


def test_import_400_is_a_refusal_and_is_sent_once(api: tuple[FakeApi, DroaClient]) -> None:
    # D IM#L47-L86 and errors.smithy#L19-L23: a synchronous refusal is 400 BadRequestError {"message"}; nothing
    # was created (the records are written after the checks, IM#L89-L117).
    fake, client = api
    fake.answer = lambda m, p, b: (400, {"message": "Invalid action space speeds."},
                                   {"x-amzn-errortype": "BadRequestError"})
    with pytest.raises(InvalidModelError) as err:
        client.import_model("uploads/models/u", "Apex-Hunter", None)
    assert err.value.message == ("DRoA refused the import: Invalid action space speeds. (HTTP 400 BadRequestError; "
                                 "no model was created)")
    assert len([r for r in fake.requests if r[0] == "POST"]) == 1


def test_import_500_is_never_retried_and_reports_a_left_model(api: tuple[FakeApi, DroaClient]) -> None:
    # An unmodelled error is 500 InternalFailure with `{}` (smithy-typescript ServerGenerator); a failure after the
    # records exist leaves the model IMPORTING (D IM#L125-L155). A second POST could create a second model (names
    # are not unique): drmodel sends it once and reports what it finds.
    fake, client = api

    def answer(method: str, path: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        if method == "POST":
            return 500, {}, {"x-amzn-errortype": "InternalFailure"}
        return 200, {"models": [model_doc("IMPORTING")["model"]]}, {}

    fake.answer = answer
    with pytest.raises(TransferError) as err:
        client.import_model("uploads/models/u", "Apex-Hunter", None)
    assert "HTTP 500 InternalFailure with no detail" in err.value.message
    assert f"holds a model 'Apex-Hunter' in IMPORTING ({ID})" in err.value.message
    assert len([r for r in fake.requests if r[0] == "POST"]) == 1


@pytest.mark.parametrize(("doc", "text"), [
    # D errors.smithy#L9-L50: DRoA's errors carry `message`.
    ({"message": "Item not found."}, "Item not found."),
    # An IAM deny from API Gateway says `Message`.
    ({"Message": "User: x is not authorized to perform: execute-api:Invoke"},
     "User: x is not authorized to perform: execute-api:Invoke"),
    # D api.ts#L310-L332: API Gateway's request validation answers `errorMessage`.
    ({"errorMessage": "Invalid request body: [x]"}, "Invalid request body: [x]"),
    # smithy-typescript's ValidationException: the summary `message` and a `fieldList`.
    ({"fieldList": [{"path": "/modelId", "message": "Value at '/modelId' failed"}]}, "Value at '/modelId' failed"),
    ({}, ""),
], ids=["message", "Message", "errorMessage", "fieldList", "empty"])
def test_error_texts_are_read_from_every_envelope(doc: dict[str, Any], text: str) -> None:
    assert message_of(doc) == text


def test_an_empty_500_says_droa_failed_internally(api: tuple[FakeApi, DroaClient]) -> None:
    fake, client = api
    fake.answer = lambda m, p, b: (500, {}, {"x-amzn-errortype": "InternalFailure"})
    with pytest.raises(TransferError, match=r"failed internally \(HTTP 500 InternalFailure, no detail\)"):
        client.list_models()


def test_ids_are_15_character_nanoids(api: tuple[FakeApi, DroaClient]) -> None:
    # D common.smithy#L5-L6 (`^[A-Za-z0-9]{15}$`), resourceUtils.ts#L13-L14: a malformed id would only earn a
    # ValidationException, so drmodel refuses it before asking.
    fake, client = api
    with pytest.raises(UsageError, match="not a DRoA model id"):
        client.wait_import("4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17")
    assert fake.requests == []


def test_pages_follow_the_token_until_it_is_absent(api: tuple[FakeApi, DroaClient]) -> None:
    # D list-models.smithy#L6-L19 and listModels.ts#L74: `token` is left out on the last page; D ModelDao.ts#L13-L23
    # with defaults.ts#L4: at most 100 a page. The token is opaque (base64url of a JSON key): sent back URL-encoded.
    fake, client = api
    token = "eyJwayI6IngiLCJzayI6Ik1PREVMX3kifQ"
    pages = {"/models": {"models": [{"modelId": "a" * 15, "name": "A"}] * 100, "token": token},
             f"/models?token={token}": {"models": [{"modelId": "b" * 15, "name": "B"}]}}
    fake.answer = lambda m, p, b: (200, pages[p], {})
    assert len(client.list_models()) == 101


def test_a_repeated_token_stops_the_paging(api: tuple[FakeApi, DroaClient]) -> None:
    fake, client = api
    fake.answer = lambda m, p, b: (200, {"models": [], "token": "same"}, {})
    with pytest.raises(TransferError, match="same page token twice"):
        client.list_models()


def test_names_are_not_unique(api: tuple[FakeApi, DroaClient]) -> None:
    # D IM#L164-L191 checks a name's pattern only, and ModelsEntity.ts#L113-L116 keeps it outside any key: two
    # models may share a name. drmodel then asks for the id (and takes the id as an address).
    fake, client = api
    two = [{"modelId": "A" * 15, "name": "Twin", "status": "READY", "createdAt": "t1"},
           {"modelId": "B" * 15, "name": "Twin", "status": "READY", "createdAt": "t2"},
           {"modelId": "C" * 15, "name": "Failed", "status": "ERROR"},
           {"modelId": "D" * 15, "name": "Failed", "status": "READY"}]
    fake.answer = lambda m, p, b: (200, {"models": two}, {})
    with pytest.raises(AmbiguousError) as err:
        client.find("Twin")
    assert "A" * 15 in err.value.message and "B" * 15 in err.value.message
    assert client.find("B" * 15)["modelId"] == "B" * 15
    assert client.find("Failed")["modelId"] == "D" * 15  # a failed import does not hide the model that worked


def test_export_polls_at_the_web_sites_pace(api: tuple[FakeApi, DroaClient], monkeypatch: pytest.MonkeyPatch) -> None:
    # D getAssetUrl.ts#L191-L259: every call made before a package exists invokes the packaging Lambda again
    # (#L247-L252) and answers {"status": "QUEUED"}; the web site asks every 20 s (ModelDetails.tsx#L147,
    # constants.ts#L6). A failed packaging is a 404 "Asset Packaging Failed: ..." (#L224-L235).
    from drmodel.droa import client as client_module

    fake, client = api
    sleeps: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", sleeps.append)
    answers = iter([{"status": "QUEUED"}, {"status": "QUEUED"}, {"status": "QUEUED"}, {"url": "https://x/y"}])
    fake.answer = lambda m, p, b: (200, next(answers), {})
    assert client.export_url(ID) == "https://x/y"
    assert sleeps == [10.0, 20.0, 20.0]
    failed = {"message": "Asset Packaging Failed: RequestID r. Please try again later or check logs for more details."}
    fake.answer = lambda m, p, b: (404, failed, {"x-amzn-errortype": "NotFoundError"})
    with pytest.raises(TransferError, match="DRoA's packaging of the model failed: Asset Packaging Failed"):
        client.export_url(ID)


# ====================================================================== the upload bucket

class _RecordingClient:
    """An S3 client double: records each call; answers like S3 (checksums echoed, a composite on completion)."""

    def __init__(self, composite: str | None) -> None:
        self.calls: list[str] = []
        self.composite = composite
        self.meta = type("Meta", (), {"events": type("Events", (), {"register": staticmethod(lambda *a: None)})()})()

    def __getattr__(self, op: str) -> Callable[..., Any]:
        def call(**kwargs: Any) -> Any:
            self.calls.append(op)
            if op == "create_multipart_upload":
                return {"UploadId": "u"}
            if op == "upload_part":
                return {"ETag": '"e"', "ChecksumSHA256": kwargs["ChecksumSHA256"]}
            if op == "complete_multipart_upload":
                return {"ETag": '"x-2"', **({"ChecksumSHA256": self.composite} if self.composite else {})}
            if op == "put_object":
                return {"ETag": '"e"', "ChecksumCRC32": kwargs.get("ChecksumCRC32")}
            raise AssertionError(f"{op} on the upload bucket")
        return call


@pytest.mark.parametrize("right", [True, False], ids=["composite matches", "composite differs"])
def test_uploads_are_confirmed_without_reading_the_bucket(monkeypatch: pytest.MonkeyPatch, right: bool) -> None:
    # D source/apps/infra/lib/constructs/auth/userRolePolicies.ts#L38-L54: users may PutObject and use multipart
    # uploads on the upload bucket, nothing else (no GET, so no HEAD; no LIST). drmodel confirms a multipart upload
    # by CompleteMultipartUpload's composite SHA256 of the parts it sent, a PUT by its echoed checksum.
    import hashlib
    import io

    from drmodel.droa.transfer import UploadBucketStore
    from drmodel.hashing import composite_checksum

    monkeypatch.setenv("DRMODEL_PART_SIZE_MIB", "5")
    data = b"w" * ((5 << 20) + 10)
    parts = [hashlib.sha256(data[:5 << 20]).digest(), hashlib.sha256(data[5 << 20:]).digest()]
    expected = composite_checksum(parts)
    store = UploadBucketStore("upload", client=_RecordingClient(expected if right else "AAAA-2"))
    if right:
        result = store.write_stream("k", io.BytesIO(data), len(data))
        assert result.confirmed and result.info.size == len(data)
    else:
        with pytest.raises(VerificationError):
            store.write_stream("k", io.BytesIO(data), len(data))
    small = store.write_stream("s", io.BytesIO(b"tiny"), 4)
    assert small.confirmed
    assert store.abort_unfinished_uploads({"k"}) == 0  # ListBucketMultipartUploads is not granted either
    assert not {"head_object", "get_object", "list_objects_v2", "list_multipart_uploads"} & set(
        store.client.calls)


def test_quoted_keys_as_drfc_writes_them_get_the_same_boolean_and_direction_fixes():
    """DRfC writes `'KEY': 'value'` (aws-deepracer-community/deepracer-for-cloud@2eb1a1f1
    scripts/training/prepare-config.py 224-225); DRoA compares TRACK_DIRECTION_CLOCKWISE with `=== true`
    (aws-solutions/deepracer-on-aws@61af778f source/libs/lambda/src/import-workflow/utils/ImportHelper.ts): a quoted
    'true' must become a YAML boolean whether the key is quoted or not, and the direction line is rewritten in place."""
    import yaml

    from drmodel.droa.preflight import _set_direction, unquote_booleans

    data = (b"---\n'TRACK_DIRECTION_CLOCKWISE': 'true'\n'RANDOMIZE_OBSTACLE_LOCATIONS': 'yes'\n"
            b"ALTERNATE_DRIVING_DIRECTION: \"false\"\n'WORLD_NAME': 'reInvent2019_track_ccw'\n")
    out, changed = unquote_booleans(data)
    assert changed == ["TRACK_DIRECTION_CLOCKWISE", "RANDOMIZE_OBSTACLE_LOCATIONS", "ALTERNATE_DRIVING_DIRECTION"]
    assert yaml.safe_load(out) == {"TRACK_DIRECTION_CLOCKWISE": True, "RANDOMIZE_OBSTACLE_LOCATIONS": True,
                                   "ALTERNATE_DRIVING_DIRECTION": False, "WORLD_NAME": "reInvent2019_track_ccw"}
    assert yaml.safe_load(_set_direction(out, "false"))["TRACK_DIRECTION_CLOCKWISE"] is False
    assert _set_direction(out, "false").count(b"TRACK_DIRECTION_CLOCKWISE") == 1


def test_the_model_validator_leaves_the_best_else_the_last_checkpoint_in_the_pointer():
    """deepracer-simapp bundle/markov/validation_worker.py#L68-L93 writes deepracer_checkpoints.json's last, then
    best, checkpoint name into model/.coach_checkpoint before validating each (rl_coach_checkpoint.py#L159-L182);
    an unreadable JSON is ignored (deepracer_checkpoint_json.py#L82-L115). A DRoA rerun compares the deployment's
    pointer with this prediction (droa.rerun.stored_instead)."""
    from drmodel.droa.rules import validator_pointer

    def read_of(doc: bytes):
        return lambda path: doc

    both = b'{"best_checkpoint": {"name": "140_Step-1.ckpt"}, "last_checkpoint": {"name": "145_Step-2.ckpt"}}'
    paths = {"model/deepracer_checkpoints.json", "model/.coach_checkpoint"}
    assert validator_pointer(paths, read_of(both)) == b"140_Step-1.ckpt"
    assert validator_pointer(paths, read_of(b'{"last_checkpoint": {"name": "145_Step-2.ckpt"}}')) == b"145_Step-2.ckpt"
    assert validator_pointer(paths, read_of(b'{"best_checkpoint": {"name": "140_Step-1.ckpt"}}')) is None
    assert validator_pointer(paths, read_of(b"not json")) is None
    assert validator_pointer({"model/.coach_checkpoint"}, read_of(both)) is None
