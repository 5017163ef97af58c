"""The canonical model: files under their import-layout paths, their roles, checkpoints and manifest.

Canonical paths are those of the import layout: `model_metadata.json`, `reward_function.py`, `model/*`,
`ip/*`, `training_params*.yaml` and `metrics/*` (training and evaluation metrics, which DRfC's `dr-upload-model`
requires). Every layout maps these to its own keys.
"""

from __future__ import annotations

import json
import re
from typing import Any

from drmodel.errors import InvalidModelError
from drmodel.units import plural

METADATA = "model_metadata.json"
EVAL_COPY = "model/model_metadata.json"  # the copy evaluation reads
REWARD = "reward_function.py"
MANIFEST = "drmodel-manifest.json"
CKPT_RE = re.compile(r"^(\d+)_Step-(\d+)\.ckpt")
PB_RE = re.compile(r"^model_(\d+)\.pb$")
TRAINING_PARAMS_RE = re.compile(r"^training_params(_[^/]*)?\.yaml$")
JUNK = {".DS_Store", "Thumbs.db", "desktop.ini"}
# DRfC: METRICS_S3_OBJECT_KEY = <prefix>/metrics/TrainingMetrics.json; evaluation writes metrics/evaluation/
METRICS_DIR = "metrics/"


def is_model_file(path: str) -> bool:
    """Whether a canonical path belongs to what drmodel moves (what the manual procedure moved, plus ip/, params and
    metrics/)."""
    name = path.rsplit("/", 1)[-1]
    if name in JUNK or ".drmodel-tmp-" in name:
        return False
    if path in (METADATA, REWARD) or TRAINING_PARAMS_RE.match(path):
        return True
    if path.startswith(METRICS_DIR):
        return len(path) > len(METRICS_DIR) and not path.endswith("/")
    return (path.startswith("model/") or path.startswith("ip/")) and len(path) > 6


def role(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if path == METADATA:
        return "metadata"
    if path == REWARD:
        return "reward function"
    if TRAINING_PARAMS_RE.match(path):
        return "training params"
    if path.startswith("ip/"):
        return "hyperparameters" if name == "hyperparameters.json" else "training state"
    if path.startswith(METRICS_DIR):
        return "metrics"
    if CKPT_RE.match(name):
        return "checkpoint"
    if PB_RE.match(name):
        return "frozen graph"
    if name in (".coach_checkpoint", "coach_checkpoint", "checkpoint", "deepracer_checkpoints.json"):
        return "checkpoint pointer"
    if name == "model_metadata.json":
        return "metadata (evaluation copy)"
    return "other"


def parse_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidModelError(f"{where} is not valid JSON ({exc})",
                                fix="fix or replace that file, then run the command again") from None


def metadata_summary(meta: Any, where: str) -> dict[str, Any]:
    """Action space, sensors, network and algorithm of a model_metadata.json, in words and numbers."""
    if not isinstance(meta, dict) or "action_space" not in meta:
        raise InvalidModelError(f"{where} has no action_space", fix="this is not a DeepRacer model_metadata.json")
    space = meta["action_space"]
    kind = meta.get("action_space_type", "discrete")
    if isinstance(space, list):
        speeds = [float(a.get("speed", 0)) for a in space if isinstance(a, dict)]
        steers = [float(a.get("steering_angle", 0)) for a in space if isinstance(a, dict)]
        text = (f"discrete, {plural(len(space), 'action')}, speed {min(speeds, default=0):g}-"
                f"{max(speeds, default=0):g} m/s, steering {min(steers, default=0):g}..{max(steers, default=0):g} deg")
    elif isinstance(space, dict):
        sa, sp = space.get("steering_angle", {}), space.get("speed", {})
        text = (f"continuous, speed {sp.get('low')}-{sp.get('high')} m/s, "
                f"steering {sa.get('low')}..{sa.get('high')} deg")
    else:
        raise InvalidModelError(f"{where}: action_space is neither a list nor an object",
                                fix="this is not a DeepRacer model_metadata.json")
    return {
        "action_space_type": kind, "action_space": text, "sensor": list(meta.get("sensor", ["FRONT_FACING_CAMERA"])),
        "neural_network": meta.get("neural_network", "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW"),
        "training_algorithm": meta.get("training_algorithm", "clipped_ppo"), "version": str(meta.get("version", "")),
    }
