"""`drmodel check`: is this model whole, consistent, and which weights will race? Reads, never executes.

Each finding has a severity: error (the model is broken or will not load as intended), warning (it works but
something will surprise), info. The reward function is parsed with `ast`, never imported or run.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from drmodel.checkpoints import EvalChoice, evaluation_choice, inventory, read_pointers
from drmodel.compare import sha256_of
from drmodel.layouts.base import ModelLocation
from drmodel.checkpoints import checkpoint_number
from drmodel.model import EVAL_COPY, METADATA, REWARD

KNOWN_KEYS = {"action_space", "action_space_type", "sensor", "neural_network", "training_algorithm", "version",
              "lidar_config", "preprocess_type", "regional_parameters"}
CAMERAS = {"FRONT_FACING_CAMERA", "LEFT_CAMERA", "STEREO_CAMERAS", "observation"}
LIDARS = {"LIDAR", "SECTOR_LIDAR", "DISCRETIZED_SECTOR_LIDAR"}
NETWORKS = {"DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", "DEEP_CONVOLUTIONAL_NETWORK", "DEEP_CONVOLUTIONAL_NETWORK_DEEP"}
ALLOWED_IMPORTS = {"math", "random", "numpy", "scipy", "shapely"}  # what DeepRacer on AWS accepts


@dataclass
class Finding:
    severity: str  # error, warning, info
    topic: str  # metadata, reward function, checkpoints, evaluation
    message: str

    def line(self) -> str:
        return f"{self.severity.upper():7} {self.topic}: {self.message}"


@dataclass
class CheckReport:
    address: str
    layout: str
    findings: list[Finding] = field(default_factory=list)
    evaluation: EvalChoice | None = None
    evaluation_sha256: str | None = None  # over the chosen checkpoint's files
    file_sha256: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def add(self, severity: str, topic: str, message: str) -> None:
        self.findings.append(Finding(severity, topic, message))


def _load_json(data: bytes) -> tuple[Any, str | None]:
    try:
        return json.loads(data.decode("utf-8-sig")), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, str(exc)


def check_metadata(meta: Any, r: CheckReport, where: str = "model_metadata.json") -> None:
    t = "metadata"
    if not isinstance(meta, dict):
        r.add("error", t, f"{where} is not a JSON object")
        return
    unknown = sorted(set(meta) - KNOWN_KEYS)
    if unknown:
        r.add("warning", t, f"{where} has unknown keys: {', '.join(unknown)}")
    space, kind = meta.get("action_space"), meta.get("action_space_type", "discrete")
    algo = meta.get("training_algorithm", "clipped_ppo")
    if kind not in ("discrete", "continuous"):
        r.add("error", t, f"action_space_type {kind!r} is neither discrete nor continuous")
    if isinstance(space, list):
        if kind != "discrete":
            r.add("error", t, f"action_space is a list of actions (discrete) but action_space_type is {kind!r}")
        if not space:
            r.add("error", t, "the discrete action space is empty")
        for i, action in enumerate(space):
            if not (isinstance(action, dict) and all(isinstance(action.get(k), (int, float))
                                                     for k in ("steering_angle", "speed"))):
                r.add("error", t, f"action {i} lacks a numeric steering_angle and speed")
                break
            if not -30 <= action["steering_angle"] <= 30 or not 0 < action["speed"] <= 4:
                r.add("warning", t, f"action {i} is outside steering -30..30 / speed 0..4: {action}")
    elif isinstance(space, dict):
        if kind != "continuous":
            r.add("error", t, "action_space has low/high ranges (continuous) but action_space_type is "
                  f"{meta.get('action_space_type', 'missing, so discrete')}")
        for key, lo, hi in (("steering_angle", -30, 30), ("speed", 0.5, 4)):
            rng = space.get(key)
            if not (isinstance(rng, dict) and isinstance(rng.get("low"), (int, float))
                    and isinstance(rng.get("high"), (int, float))):
                r.add("error", t, f"continuous action_space.{key} needs numeric low and high")
            elif rng["low"] > rng["high"] or rng["low"] < lo or rng["high"] > hi:
                r.add("warning", t, f"continuous {key} {rng['low']}..{rng['high']} is outside {lo}..{hi} or reversed")
    else:
        r.add("error", t, "action_space is missing or neither a list nor an object")
    if algo not in ("clipped_ppo", "sac"):
        r.add("error", t, f"training_algorithm {algo!r} is neither clipped_ppo nor sac")
    elif algo == "sac" and isinstance(space, list):
        r.add("error", t, "SAC needs a continuous action space")
    sensors = meta.get("sensor", ["FRONT_FACING_CAMERA"])
    if not isinstance(sensors, list) or not all(isinstance(s, str) for s in sensors):
        r.add("error", t, "sensor must be a list of names")
    else:
        unknown_s = [s for s in sensors if s not in CAMERAS | LIDARS]
        if unknown_s:
            r.add("error", t, f"unknown sensors: {', '.join(unknown_s)}")
        if sum(s in CAMERAS for s in sensors) != 1:
            r.add("error", t, f"exactly one camera is needed ({', '.join(sorted(CAMERAS))}); found {sensors}")
        if sum(s in LIDARS for s in sensors) > 1:
            r.add("error", t, f"at most one lidar is allowed; found {sensors}")
    network = meta.get("neural_network", "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW")
    if network not in NETWORKS:
        r.add("error", t, f"unknown neural_network {network!r}")
    version = str(meta.get("version", ""))
    if version and version.split(".")[0] not in {"1", "2", "3", "4", "5", "6"}:
        r.add("warning", t, f"unexpected metadata version {version!r}")


def reward_imports(tree: ast.AST) -> set[str]:
    """Top-level names of every module the code imports; `__import__(...)` and relative imports count too."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or "").split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            names.add("__import__")
    return names


def check_reward(source: bytes, r: CheckReport) -> None:
    t = "reward function"
    try:
        tree = ast.parse(source.decode("utf-8-sig"), filename="reward_function.py")
    except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
        r.add("error", t, f"reward_function.py does not parse: {exc}")
        return
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "reward_function"]
    if not funcs:
        r.add("error", t, "reward_function.py defines no top-level reward_function(params)")
    elif len(funcs[0].args.args) != 1:
        r.add("error", t, "reward_function must take exactly one argument (params)")
    imports = reward_imports(tree)
    r.add("info", t, f"imports: {', '.join(sorted(imports)) or 'none'}")
    outside = sorted(imports - ALLOWED_IMPORTS)
    if outside:
        r.add("warning", t, f"imports {', '.join(outside)}: DeepRacer on AWS accepts only "
              f"{', '.join(sorted(ALLOWED_IMPORTS))}")


def _dict_diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def check_model(loc: ModelLocation, *, eval_checkpoint: str = "best", hashes: bool = True) -> CheckReport:
    r = CheckReport(loc.address, loc.layout)
    paths = set(loc.files)
    meta: Any = None
    if METADATA not in paths:
        r.add("error", "metadata", "model_metadata.json is missing")
    else:
        meta, err = _load_json(loc.read(METADATA))
        if err:
            r.add("error", "metadata", f"model_metadata.json is not valid JSON ({err})")
        else:
            check_metadata(meta, r)
    if EVAL_COPY not in paths:
        r.add("error", "metadata", "model/model_metadata.json is missing: evaluation reads that copy "
              "(drmodel repair restores it from the root copy)")
    elif meta is not None:
        copy, err = _load_json(loc.read(EVAL_COPY))
        if err:
            r.add("error", "metadata", f"model/model_metadata.json is not valid JSON ({err})")
        elif copy != meta:
            fields = _dict_diff(copy, meta) if isinstance(copy, dict) and isinstance(meta, dict) else ["(whole)"]
            r.add("error", "metadata", f"model/model_metadata.json (read by evaluation) differs from "
                  f"model_metadata.json in: {', '.join(fields)} (drmodel repair --from root|model)")
    if REWARD in paths:
        check_reward(loc.read(REWARD), r)
    else:
        r.add("warning", "reward function", "reward_function.py is missing")
    _check_checkpoints(loc, r, eval_checkpoint, hashes)
    return r


def _check_checkpoints(loc: ModelLocation, r: CheckReport, eval_checkpoint: str, hashes: bool) -> None:
    t = "checkpoints"
    paths = set(loc.files)
    inv = inventory(paths)
    ptr = read_pointers(paths, loc.read)
    if not inv:
        r.add("error", t, "model/ holds no checkpoint files")
    if ptr.json_error:
        r.add("error", t, f"model/deepracer_checkpoints.json is not valid JSON ({ptr.json_error})")
    elif not ptr.json_present:
        r.add("warning", t, "model/deepracer_checkpoints.json is missing: evaluation uses .coach_checkpoint as it is "
              "(drmodel repair rebuilds it)")
    if ptr.coach_dotless:
        r.add("warning", t, "the checkpoint pointer was saved as model/coach_checkpoint, without its dot "
              "(macOS hides dotfiles): evaluation does not read it (drmodel repair)")
    elif ptr.coach is None:
        r.add("warning", t, "model/.coach_checkpoint is missing")
    if ptr.coach and ptr.json_present and ptr.coach not in (ptr.best, ptr.last):
        r.add("warning", t, f".coach_checkpoint names {ptr.coach}, neither best ({ptr.best}) nor last ({ptr.last})")
    if ptr.tf_checkpoint and ptr.coach and ptr.tf_checkpoint != ptr.coach:
        r.add("warning", t, f"model/checkpoint names {ptr.tf_checkpoint}, .coach_checkpoint {ptr.coach}")
    referenced: dict[int, str] = {}
    for label, name in (("best", ptr.best), ("last", ptr.last), (".coach_checkpoint", ptr.coach)):
        if not name:
            continue
        n = checkpoint_number(name)
        if n is None:
            r.add("error", t, f"{label} names {name!r}, which is not a checkpoint name (N_Step-M.ckpt)")
            continue
        referenced.setdefault(n, label)
        if n not in inv or not inv[n].has_ckpt_files:
            r.add("error", t, f"{label} checkpoint {name} has no files in model/")
        elif inv[n].missing_for_evaluation():
            r.add("error", t, f"{label} checkpoint {name} is missing {', '.join(inv[n].missing())}")
        elif inv[n].missing():
            r.add("warning", t, f"{label} checkpoint {name} is missing model_{n}.pb: the car package and DeepRacer on "
                  "AWS need it (evaluation does not)")
        elif inv[n].name and inv[n].name != name:
            r.add("warning", t, f"{label} names {name} but the files of checkpoint {n} are {inv[n].name}")
    for n, ck in sorted(inv.items()):
        if n in referenced:
            continue
        if ck.missing():
            r.add("warning", t, f"files of checkpoint {n} belong to no kept checkpoint and are incomplete "
                  f"({', '.join(ck.missing())} missing): stale, yet they can decide the fallback")
        else:
            r.add("info", t, f"checkpoint {ck.name or n} is complete but neither best nor last")
    choice = evaluation_choice(inv, ptr, eval_checkpoint)
    r.evaluation = choice
    for w in choice.warnings:
        r.add("warning", "evaluation", w)
    if choice.number is not None and hashes:
        digests = {p: sha256_of(loc.store, loc.files[p]) for p in choice.files}
        r.file_sha256 = digests
        combined = "".join(f"{p.rsplit('/', 1)[-1]} {d}\n" for p, d in sorted(digests.items()))
        r.evaluation_sha256 = hashlib.sha256(combined.encode()).hexdigest()
    if choice.number is None:
        r.add("error", "evaluation", "no checkpoint can be loaded")
    else:
        r.add("info", "evaluation", f"evaluation will load {choice.name} ({choice.kind}), via {choice.reason}")
