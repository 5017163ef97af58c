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

from drmodel import simapp
from drmodel.checkpoints import EvalChoice, evaluation_choice, inventory, read_pointers
from drmodel.compare import sha256_of
from drmodel.layouts.base import ModelLocation
from drmodel.model import EVAL_COPY, METADATA, REWARD
from drmodel.stores.base import ObjectInfo

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
    # SimApp reads both through .lower().strip() (model_metadata.py:294-315): "SAC " is sac
    kind = kind.lower().strip() if isinstance(kind, str) else kind
    algo = algo.lower().strip() if isinstance(algo, str) else algo
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
    sensors = _sensors(meta)
    if sensors is None:
        pass  # a version SimApp cannot read, or version 2+ without sensor: reported for the copy evaluation reads
    elif not isinstance(sensors, list) or not all(isinstance(s, str) for s in sensors):
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


def _sensors(meta: dict[str, Any]) -> Any:
    """The sensors SimApp uses (model_metadata.py:230-242): `sensor` from version 2 on (a missing `version` with a
    `sensor` is 2), `observation` below 2 or with neither key; None when SimApp stops on the version or sensor."""
    if "version" not in meta:
        return meta.get("sensor", ["observation"])
    try:
        version = float(meta["version"])
    except (TypeError, ValueError, OverflowError):
        return None
    return meta.get("sensor") if version >= 2 else ["observation"]


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
        raw = loc.read(METADATA)
        meta, err = _load_json(raw)
        if err:
            r.add("error", "metadata", f"model_metadata.json is not valid JSON ({err})")
        else:
            check_metadata(meta, r)
        if raw.startswith(simapp.BOM):
            r.add("warning", "metadata", "model_metadata.json starts with a UTF-8 BOM, which SimApp's parser rejects "
                  "wherever it reads this copy (training's model_metadata_s3_key) (save it as UTF-8 without a BOM)")
    # evaluation reads model/model_metadata.json and nothing else (R15)
    eval_raw = loc.read(EVAL_COPY) if EVAL_COPY in paths else None
    sim = simapp.read_metadata(eval_raw)
    if sim.fatal:
        r.add("error", "metadata", f"this evaluation will fail: SimApp stops with \"{sim.fatal}\" because {sim.why} "
              f"({sim.fix})")
    elif eval_raw is not None:
        copy, _ = _load_json(eval_raw)
        note = simapp.speed_note(sim, copy.get("version") if isinstance(copy, dict) else None)
        if note:
            r.add("warning", "metadata", note)
    if eval_raw is not None and meta is not None:
        copy, err = _load_json(eval_raw)
        if err is None and copy != meta:
            fields = _dict_diff(copy, meta) if isinstance(copy, dict) and isinstance(meta, dict) else ["(whole)"]
            # a warning: the SimApp does not fail on it (it reads model/ only), DeepRacer on AWS imports it as it is,
            # and which copy the weights were trained with is not written anywhere
            r.add("warning", "metadata", f"model/model_metadata.json (read by evaluation) differs from "
                  f"model_metadata.json in: {', '.join(fields)}: evaluation and the car use the model/ copy; if the "
                  "other one is what the model was trained with, `drmodel repair --from root` makes them equal")
    if REWARD in paths:
        check_reward(loc.read(REWARD), r)
    else:
        r.add("warning", "reward function", "reward_function.py is missing")
    _check_checkpoints(loc, r, eval_checkpoint, hashes, sim)
    return r


def simapp_listing(loc: ModelLocation) -> list[str]:
    """What SimApp lists under `PREFIX/model` (no trailing slash, recursive: R9), as paths relative to the model,
    in S3 order: the canonical files under model/, plus every other listed key of the prefix that starts with
    `model` (model-files/, models/, a subfolder's junk) when the layout listed the prefix while opening it."""
    out = {p for p in loc.files if p.startswith("model/")}
    if loc.listed_under is not None:
        own = {info.key for info in loc.files.values()}
        out |= {k[len(loc.listed_under):] for k in loc.listed
                if k.startswith(loc.listed_under + "model") and k not in own}
    return simapp.s3_order(list(out))


def _check_checkpoints(loc: ModelLocation, r: CheckReport, eval_checkpoint: str, hashes: bool,
                       meta: simapp.Metadata) -> None:
    paths = set(loc.files)
    inv = inventory(paths)
    ptr = read_pointers(paths, loc.read)
    listing = simapp_listing(loc)
    choice = evaluation_choice(inv, ptr, eval_checkpoint, listing=listing, version=meta.version)
    _check_pointer_files(r, ptr, choice, simapp.which_entry(eval_checkpoint), eval_checkpoint)
    referenced = _check_named_checkpoints(r, ptr, choice, listing, inv)
    _check_other_checkpoints(r, ptr, listing, inv, referenced)
    _conclude_evaluation(loc, r, choice, meta, hashes)


def _check_pointer_files(r: CheckReport, ptr: Any, choice: EvalChoice, which: str, eval_checkpoint: str) -> None:
    """deepracer_checkpoints.json, .coach_checkpoint and model/checkpoint, as evaluation reads them."""
    t = "checkpoints"
    # deepracer_checkpoints.json: evaluation ignores it when it is not JSON, has a BOM, or has no usable name (R3)
    lenient = ptr.best if which == "best" else ptr.last
    if ptr.json_error:
        r.add("warning", t, f"model/deepracer_checkpoints.json is not valid JSON ({ptr.json_error}): evaluation "
              "ignores it and uses model/.coach_checkpoint as it is (drmodel repair rebuilds it)")
    elif ptr.json_bom:
        races_other = lenient is not None and choice.name is not None and choice.name != lenient
        instead = (f"races {choice.name} ({choice.kind}) instead of its {which} entry {lenient}" if choice.name
                   else "fails (see the evaluation error)")
        r.add("error" if races_other else "warning", t, "model/deepracer_checkpoints.json starts with a UTF-8 BOM, "
              f"so evaluation ignores it and {instead} (save it as UTF-8 without a BOM)")
    elif not ptr.json_present:
        if choice.fatal != "Checkpoint not found":  # else the error says it
            r.add("warning", t, "model/deepracer_checkpoints.json is missing: evaluation uses .coach_checkpoint as it "
                  "is (drmodel repair rebuilds it)")
    else:
        pick, why = ptr.pick(eval_checkpoint)
        if pick is None:
            r.add("warning", t, f"{why}: evaluation with EVAL_CHECKPOINT={which} uses model/.coach_checkpoint as it is")
    if ptr.coach_dotless:
        r.add("warning", t, "the checkpoint pointer was saved as model/coach_checkpoint, without its dot "
              "(macOS hides dotfiles): evaluation does not read it (drmodel repair)")
    elif ptr.coach_raw is None and choice.fatal != "Checkpoint not found":
        r.add("warning", t, "model/.coach_checkpoint is missing (evaluation writes it from deepracer_checkpoints.json)")
    if ptr.coach and ptr.json_present and not ptr.json_error and ptr.coach not in (ptr.best, ptr.last):
        r.add("warning", t, f".coach_checkpoint names {ptr.coach}, neither best ({ptr.best}) nor last ({ptr.last})")
    if ptr.tf_checkpoint and ptr.coach and ptr.tf_checkpoint != ptr.coach:
        r.add("warning", t, f"model/checkpoint names {ptr.tf_checkpoint}, .coach_checkpoint {ptr.coach}")


def _check_named_checkpoints(r: CheckReport, ptr: Any, choice: EvalChoice, listing: Any,
                             inv: dict[int, Any]) -> dict[int, str]:
    """Each checkpoint a pointer names: readable, present, loadable. Returns number -> the first pointer naming it."""
    t = "checkpoints"
    referenced: dict[int, str] = {}
    coach_text = None
    if ptr.coach_raw is not None:
        try:
            coach_text = simapp.as_text(ptr.coach_raw)
        except UnicodeDecodeError:
            coach_text = ptr.coach_raw.decode("utf-8", "replace")
    done: set[str] = set()
    for label, name in (("best", ptr.best), ("last", ptr.last), (".coach_checkpoint", coach_text)):
        if not name:
            continue
        active = choice.pointed == name and choice.pointer == {"best": "best_checkpoint", "last": "last_checkpoint",
                                                               ".coach_checkpoint": ".coach_checkpoint"}[label]
        when = ("when evaluation reads it (no usable deepracer_checkpoints.json entry)" if label == ".coach_checkpoint"
                else f"with EVAL_CHECKPOINT={label}")
        try:
            parsed = simapp.read_name(name)
        except simapp.NameAssertion:
            parsed = None
        if parsed is None:
            if not active:
                r.add("warning", t, f"{label} names {name!r}, which rl_coach does not read as a checkpoint name: "
                      f"evaluation {when} fails (write the exact N_Step-M.ckpt name)")
            continue
        number, ck_name = parsed
        referenced.setdefault(number, label)
        if ck_name in done and not active:
            continue  # said already under another label
        done.add(ck_name)
        if not simapp.present(ck_name, listing):
            if active:
                r.add("error", t, f"{label} checkpoint {ck_name} has no files in model/: evaluation loads another "
                      "checkpoint (see below), or fails (copy its files again, or choose with --checkpoint)")
            else:
                r.add("warning", t, f"{label} checkpoint {ck_name} has no files in model/: evaluation {when} silently "
                      "loads another checkpoint")
            continue
        problem = simapp.load_problem(ck_name, simapp.downloads(ck_name, listing))
        ck = inv.get(number)
        if problem is not None:
            if not active:
                r.add("warning", t, f"{label} checkpoint {ck_name} cannot be loaded ({problem[1]}): evaluation {when} "
                      "fails")
        elif ck is not None and ck.name == ck_name and set(ck.missing()) - {"data", "index"}:
            gone = [".meta" if p == "meta" else p for p in ck.missing() if p not in ("data", "index")]
            need = "; the car package and DeepRacer on AWS need model_N.pb" if ck.pb is None else ""
            r.add("warning", t, f"{label} checkpoint {ck_name} is missing {', '.join(gone)}: evaluation does not need "
                  f"{'them' if len(gone) > 1 else 'it'}{need}")
        elif ck is not None and ck.name and ck.name != ck_name:
            r.add("warning", t, f"{label} names {ck_name} but the files of checkpoint {number} are {ck.name}")
    return referenced


def _check_other_checkpoints(r: CheckReport, ptr: Any, listing: Any, inv: dict[int, Any],
                             referenced: dict[int, str]) -> None:
    """Checkpoints no pointer names, and files outside model/ that still take part in the SimApp's choice."""
    t = "checkpoints"
    for n, ck in sorted(inv.items()):
        if n in referenced:
            continue
        if ck.missing():
            r.add("warning", t, f"files of checkpoint {n} belong to no kept checkpoint and are incomplete "
                  f"({', '.join(ck.missing())} missing): stale, yet they can decide the fallback")
        else:
            r.add("info", t, f"checkpoint {ck.name or n} is complete but neither best nor last")
    pointed = [x for x in (ptr.best, ptr.last, ptr.coach) if x]
    odd = [p for p in listing if (not p.startswith("model/") or p.count("/") != 1)
           and (simapp.leading_number(simapp.basename(p)) is not None
                or any(simapp.basename(p).startswith(x) for x in pointed))]
    if odd:
        more = f" and {len(odd) - 3} more" if len(odd) > 3 else ""
        r.add("warning", t, f"SimApp lists PREFIX/model recursively without a trailing slash, so these files take part "
              f"in choosing the checkpoint: {', '.join(odd[:3])}{more} (move them out of model*)")


def _conclude_evaluation(loc: ModelLocation, r: CheckReport, choice: EvalChoice, meta: simapp.Metadata,
                         hashes: bool) -> None:
    """What evaluation will load (or why it fails), with the sha256 of its files."""
    for w in choice.warnings:
        r.add("warning", "evaluation", w)
    if choice.fatal:
        r.add("error", "evaluation", choice.reason)
    if meta.fatal:  # evaluation stops on the metadata before it looks at any checkpoint
        choice = EvalChoice(None, None, "fails", "this evaluation will fail on model/model_metadata.json (see the "
                            "metadata error)", fatal=meta.fatal)
    r.evaluation = choice
    if choice.number is not None and hashes:
        digests = {p: sha256_of(loc.store, loc.files.get(p) or ObjectInfo(f"{loc.listed_under or ''}{p}", 0))
                   for p in choice.files}
        r.file_sha256 = digests
        combined = "".join(f"{p.rsplit('/', 1)[-1]} {d}\n" for p, d in sorted(digests.items()))
        r.evaluation_sha256 = hashlib.sha256(combined.encode()).hexdigest()
    if choice.number is not None:
        r.add("info", "evaluation", f"evaluation will load {choice.name} ({choice.kind}), via {choice.reason}")
