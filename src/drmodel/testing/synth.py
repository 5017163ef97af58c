"""Realistic synthetic DeepRacer models, for the demo, the tests and the benchmark.

No public checkpoint is small, so the weights are pseudo-random bytes with the real file names and, at
scale 1.0, the real sizes of a shallow-CNN model (reference section 5). Models are returned in the
canonical (import) layout: a mapping of relative path to bytes.
"""

from __future__ import annotations

import json
import random
import uuid as uuidlib
from collections.abc import Sequence
from typing import Any

# (iteration, step) of the checkpoints kept by a real training job, newest four plus best.
DEFAULT_CHECKPOINTS: tuple[tuple[int, int], ...] = ((140, 123889), (143, 131502), (144, 134240), (145, 136982))
SIZE_DATA = 47_185_920
SIZE_INDEX = 1_180
SIZE_META = 1_465_548
SIZE_PB = 23_068_672

DISCRETE_ACTIONS = [
    {"steering_angle": -30.0, "speed": 1.2, "index": 0},
    {"steering_angle": -15.0, "speed": 2.0, "index": 1},
    {"steering_angle": 0.0, "speed": 3.5, "index": 2},
    {"steering_angle": 15.0, "speed": 2.0, "index": 3},
    {"steering_angle": 30.0, "speed": 1.2, "index": 4},
]

# Passes DeepRacer on AWS's reward validator (flake8 --select=E,F --ignore=E5,E226,E261, allowed imports, no
# forbidden names or strings; returns a float): an unused `import math` here made every demo import end in ERROR.
REWARD_FUNCTION = '''def reward_function(params):
    """Reward staying near the centre line, with a bonus for speed on straights."""
    if not params["all_wheels_on_track"]:
        return 1e-3
    distance = params["distance_from_center"] / (0.5 * params["track_width"])
    reward = max(1e-3, 1.0 - distance ** 2)
    if abs(params["steering_angle"]) < 5 and params["speed"] > 3.0:
        reward *= {bonus}
    return float(reward)
'''

HYPERPARAMETERS = {
    "batch_size": 64, "beta_entropy": 0.01, "discount_factor": 0.999, "e_greedy_value": 0.05,
    "epsilon_steps": 10000, "exploration_type": "categorical", "loss_type": "huber", "lr": 0.0003,
    "num_episodes_between_training": 20, "num_epochs": 10, "stack_size": 1,
    "term_cond_avg_score": 350000.0, "term_cond_max_episodes": 1000,
}


def legacy_prefix(account: str, timestamp: str, job_uuid: str | None = None) -> str:
    """The legacy console's training prefix: DeepRacer-SageMaker-RoboMaker-comm-<account>-<ts>-<uuid>."""
    return f"DeepRacer-SageMaker-RoboMaker-comm-{account}-{timestamp}-{job_uuid or uuidlib.uuid4()}"


def model_metadata(action_space: str = "discrete", version: str = "4") -> bytes:
    if action_space == "discrete":
        meta: dict[str, Any] = {"action_space": DISCRETE_ACTIONS, "action_space_type": "discrete"}
    else:
        meta = {"action_space": {"steering_angle": {"low": -25.0, "high": 25.0}, "speed": {"low": 1.1, "high": 3.8}},
                "action_space_type": "continuous"}
    meta.update({"sensor": ["FRONT_FACING_CAMERA"], "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
                 "training_algorithm": "clipped_ppo", "version": version})
    return (json.dumps(meta, indent=4) + "\n").encode()


def training_params(bucket: str, prefix: str, name: str, timestamp: str) -> bytes:
    """training_params_1.yaml as the legacy console wrote it (every value quoted)."""
    values = {
        "AWS_REGION": "us-east-1", "JOB_TYPE": "TRAINING", "RACE_TYPE": "TIME_TRIAL",
        "WORLD_NAME": "reInvent2019_track", "TRACK_DIRECTION_CLOCKWISE": "false",
        "CHANGE_START_POSITION": "true", "ALTERNATE_DRIVING_DIRECTION": "false", "BODY_SHELL_TYPE": "deepracer",
        "CAR_COLOR": "Black", "CAR_NAME": "Racer1", "RACER_NAME": "racer1",
        "SAGEMAKER_SHARED_S3_BUCKET": bucket, "SAGEMAKER_SHARED_S3_PREFIX": prefix,
        "MODEL_METADATA_FILE_S3_KEY": f"model-metadata/{name}/model_metadata.json",
        "REWARD_FILE_S3_KEY": f"reward-functions/{name}/reward_function.py",
        "METRICS_S3_BUCKET": bucket, "METRICS_S3_OBJECT_KEY": f"DeepRacer-Metrics/TrainingMetrics-{timestamp}.json",
        "NUMBER_OF_RESETS": "0", "NUMBER_OF_OBSTACLES": "0",
    }
    return "".join(f'{k}: "{v}"\n' for k, v in values.items()).encode()


def checkpoint_files(checkpoints: Sequence[tuple[int, int]], *, best: int, last: int,
                     scale: float = 1.0, seed: int = 0) -> dict[str, bytes]:
    """The model/ folder: .ckpt data/index/meta and model_N.pb per checkpoint, plus the pointer files."""
    rng = random.Random(seed)
    files: dict[str, bytes] = {}
    steps = dict(checkpoints)
    for it, step in checkpoints:
        name = f"{it}_Step-{step}.ckpt"
        files[f"model/{name}.data-00000-of-00001"] = rng.randbytes(max(1, int(SIZE_DATA * scale)))
        files[f"model/{name}.index"] = rng.randbytes(SIZE_INDEX)
        files[f"model/{name}.meta"] = rng.randbytes(max(1, int(SIZE_META * scale)))
        files[f"model/model_{it}.pb"] = rng.randbytes(max(1, int(SIZE_PB * scale)))
    best_name, last_name = f"{best}_Step-{steps[best]}.ckpt", f"{last}_Step-{steps[last]}.ckpt"
    files["model/.coach_checkpoint"] = last_name.encode()
    files["model/deepracer_checkpoints.json"] = json.dumps({
        "best_checkpoint": {"name": best_name, "time_stamp": 1588000231.527, "avg_eval_metric": 100.0},
        "last_checkpoint": {"name": last_name, "time_stamp": 1588001105.212, "avg_eval_metric": 47.5},
    }).encode()
    files["model/.ready"] = b""
    return files


def synth_model(name: str, *, bucket: str, prefix: str, timestamp: str,
                checkpoints: Sequence[tuple[int, int]] = DEFAULT_CHECKPOINTS, best: int | None = None,
                last: int | None = None, scale: float = 1.0, seed: int = 0, action_space: str = "discrete",
                reward_bonus: str = "1.5") -> dict[str, bytes]:
    """A whole trained model in canonical paths (model_metadata.json, reward_function.py, model/, ip/, ...)."""
    best = checkpoints[0][0] if best is None else best
    last = checkpoints[-1][0] if last is None else last
    meta = model_metadata(action_space)
    files = checkpoint_files(checkpoints, best=best, last=last, scale=scale, seed=seed)
    files["model/model_metadata.json"] = meta
    files.update({
        "model_metadata.json": meta,
        "reward_function.py": REWARD_FUNCTION.replace("{bonus}", reward_bonus).encode(),
        "ip/done": b"",
        "ip/hyperparameters.json": (json.dumps(HYPERPARAMETERS, indent=4) + "\n").encode(),
        "ip/ip.json": json.dumps({"IP": "10.0.0.1"}).encode(),
        "training_params_1.yaml": training_params(bucket, prefix, name, timestamp),
    })
    return files


def legacy_keys(name: str, prefix: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """Canonical files placed as the legacy console stored them (three places)."""
    out = {}
    for path, data in files.items():
        if path == "model_metadata.json":
            out[f"model-metadata/{name}/model_metadata.json"] = data
        elif path == "reward_function.py":
            out[f"reward-functions/{name}/reward_function.py"] = data
        else:
            out[f"{prefix}/{path}"] = data
    return out


def put_all(client, bucket: str, objects: dict[str, bytes]) -> None:
    for key, data in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=data)


def legacy_bucket(bucket: str, *, account: str = "123456789012", scale: float = 1.0) -> dict[str, bytes]:
    """The bucket of ../shared/examples/legacy-bucket-listing.txt: Apex-Hunter and its later clone Apex-Hunter-2."""
    p1 = legacy_prefix(account, "20200427103015", "4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17")
    p2 = legacy_prefix(account, "20200503081244", "b81d2e07-3c9a-4f15-8e6d-0a7c4b2f9e58")
    objects = legacy_keys("Apex-Hunter", p1, synth_model("Apex-Hunter", bucket=bucket, prefix=p1,
                                                         timestamp="20200427103015", scale=scale, seed=1))
    objects.update(legacy_keys("Apex-Hunter-2", p2, synth_model(
        "Apex-Hunter-2", bucket=bucket, prefix=p2, timestamp="20200503081244", checkpoints=((31, 29877),),
        scale=scale, seed=2, reward_bonus="1.8")))
    objects["DeepRacer-Metrics/TrainingMetrics-20200427103015.json"] = b'{"metrics": []}'
    return objects


def placeholder_prefix(name: str, account: str = "210987654321") -> str:
    """The training prefix `placeholder(...)` uses for NAME (stable, distinct per name)."""
    return legacy_prefix(account, "20261101120000", str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"drmodel/{name}")))


def placeholder(bucket: str, name: str, *, account: str = "210987654321", scale: float = 0.05) -> dict[str, bytes]:
    """What the console created for a fresh model NAME in the target account: two early checkpoints."""
    prefix = placeholder_prefix(name, account)
    files = synth_model(name, bucket=bucket, prefix=prefix, timestamp="20261101120000",
                        checkpoints=((1, 1021), (2, 2047)), scale=scale, seed=99, action_space="continuous")
    return legacy_keys(name, prefix, files)


def console_export(base: str, name: str, timestamp: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """A console "Copy to S3" export of a model: `<base>/<name>/<timestamp>/...`, as macOS users re-upload it
    (dotless coach_checkpoint), with the folders that are not part of the model."""
    folder = f"{base.strip('/')}/{name}/{timestamp}/" if base.strip("/") else f"{name}/{timestamp}/"
    out = {}
    for path, data in files.items():
        if path == "model/.coach_checkpoint":
            path = "model/coach_checkpoint"
        elif path.startswith("training_params"):
            path = "training_params_5b3f1e2a-8c4d-4e6f-9a0b-1c2d3e4f5a6b.yaml"
        out[folder + path] = data
    out[folder + "metrics/training/training-20211027.json"] = b'{"metrics": []}'
    out[folder + "logs/training/training-job.log"] = b"log line\n"
    out[folder + "sagemaker-artifacts/dr-sm-rltj--20211027/output/model.tar.gz"] = b"\x1f\x8b not really"
    return out


# -- deepracer-for-cloud (DRfC) ------------------------------------------------------------------------------------
def drfc_training_params(bucket: str, prefix: str, *, world: str = "reinvent_base", minio: bool = True,
                         metrics_prefix: str | None = None, **extra: str) -> bytes:
    """A training_params.yaml as DRfC's training start writes it into the prefix: PyYAML's dump with every scalar
    single-quoted (`default_style="'"`), keys sorted, after a `---` line; the values of DRfC's template defaults.
    `minio` adds S3_ENDPOINT_URL (DR_CLOUD=local); the locations point at custom_files/ and the prefix."""
    import yaml

    metrics = metrics_prefix if metrics_prefix is not None else f"{prefix}/metrics"
    config = {
        "ALTERNATE_DRIVING_DIRECTION": "False", "AWS_REGION": "us-east-1", "BEST_MODEL_METRIC": "progress",
        "BODY_SHELL_TYPE": "deepracer", "CAMERA_MAIN_ENABLE": "True", "CAMERA_SUB_ENABLE": "False",
        "CAR_COLOR": "Red", "CAR_NAME": "FastCar", "CHANGE_START_POSITION": "True", "DISPLAY_NAME": "FastCar",
        "ENABLE_DOMAIN_RANDOMIZATION": "False", "ENABLE_EXTRA_KVS_OVERLAY": "False", "JOB_TYPE": "TRAINING",
        "KINESIS_VIDEO_STREAM_NAME": "", "METRICS_S3_BUCKET": bucket,
        "METRICS_S3_OBJECT_KEY": f"{metrics}/TrainingMetrics.json", "MIN_EVAL_TRIALS": "5",
        "MODEL_METADATA_FILE_S3_KEY": "custom_files/model_metadata.json", "NUM_WORKERS": "1",
        "RACER_NAME": "FastCar", "RACE_TYPE": "TIME_TRIAL", "REVERSE_DIR": "False",
        "REWARD_FILE_S3_KEY": "custom_files/reward_function.py", "ROBOMAKER_SIMULATION_JOB_ACCOUNT_ID": "Dummy",
        "ROUND_ROBIN_ADVANCE_DIST": "0.05", "SAGEMAKER_SHARED_S3_BUCKET": bucket, "SAGEMAKER_SHARED_S3_PREFIX": prefix,
        "SIMTRACE_S3_BUCKET": bucket, "SIMTRACE_S3_PREFIX": prefix, "START_POSITION_OFFSET": "0.0",
        "TRAINING_JOB_ARN": "arn:Dummy", "WORLD_NAME": world,
    }
    if minio:
        config["S3_ENDPOINT_URL"] = "http://minio:9000"
    config.update(extra)
    return yaml.dump(config, default_flow_style=False, default_style="'", explicit_start=True).encode()


def drfc_prefix(bucket: str, prefix: str = "rl-deepracer-sagemaker", *,
                checkpoints: Sequence[tuple[int, int]] = ((9, 9000), (10, 10000)), best: int | None = None,
                last: int | None = None, scale: float = 0.001, seed: int = 7, workers: int = 1,
                custom_files: bool = True, evaluation: bool = False, metrics: bool = True,
                action_space: str = "discrete") -> dict[str, bytes]:
    """A DRfC bucket after `dr-upload-custom-files` and some `dr-start-training` into `prefix` (bucket keys ->
    bytes): custom_files/ at the bucket's root; in the prefix the root reward_function.py DRfC copies in, the
    training_params.yaml (or training_params_1..N.yaml for multi-config training with `workers` > 1), the
    SimApp's ip/ and model/ (model/model_metadata.json is the prefix's ONLY metadata), metrics/ and
    training-simtrace/; with `evaluation`, what dr-start-evaluation adds."""
    best = checkpoints[0][0] if best is None else best
    last = checkpoints[-1][0] if last is None else last
    meta = model_metadata(action_space)
    reward = REWARD_FUNCTION.replace("{bonus}", "1.5").encode()
    hyper = (json.dumps(HYPERPARAMETERS, indent=4) + "\n").encode()
    out: dict[str, bytes] = {}
    if custom_files:
        out.update({"custom_files/hyperparameters.json": hyper, "custom_files/model_metadata.json": meta,
                    "custom_files/reward_function.py": reward})
    p = f"{prefix}/"
    out[p + "reward_function.py"] = reward
    params = drfc_training_params(bucket, prefix)
    if workers > 1:
        for i in range(1, workers + 1):
            out[p + f"training_params_{i}.yaml"] = params if i == 1 else drfc_training_params(
                bucket, prefix, world="reInvent2019_track", NUM_WORKERS=str(workers))
    else:
        out[p + "training_params.yaml"] = params
    out.update({p + "ip/hyperparameters.json": hyper, p + "ip/ip.json": json.dumps({"IP": "172.18.0.5"}).encode(),
                p + "ip/done": b""})
    for path, data in checkpoint_files(checkpoints, best=best, last=last, scale=scale, seed=seed).items():
        out[p + path] = data
    out[p + "model/model_metadata.json"] = meta
    if metrics:
        out[p + "metrics/TrainingMetrics.json"] = json.dumps({"metrics": [
            {"episode": 1, "phase": "training", "completion_percentage": 12}]}).encode()
    out[p + "training-simtrace/0-iteration.csv"] = b"episode,steps,X,Y\n0,1,0.3,2.7\n"
    if evaluation:
        out[p + "evaluation_params.yaml"] = b"---\n'JOB_TYPE': 'EVALUATION'\n"
        out[p + "metrics/evaluation/evaluation-20260101120000.json"] = b'{"metrics": []}'
        out[p + "evaluation-20260101120000/evaluation-simtrace/0-iteration.csv"] = b"episode,steps\n"
    return out


def drfc_upload_params() -> bytes:
    """training_params.yaml as `dr-upload-model` regenerates it: its location values are the placeholders its
    script falls back to (TARGET_S3_* are not exported to it), not the real target."""
    import yaml

    config = {"AWS_REGION": "us-east-1", "JOB_TYPE": "TRAINING", "METRICS_S3_BUCKET": "bucket",
              "METRICS_S3_OBJECT_KEY": "bucket/TrainingMetrics.json",
              "MODEL_METADATA_FILE_S3_KEY": "bucket/model/model_metadata.json",
              "REWARD_FILE_S3_KEY": "bucket/reward_function.py", "SAGEMAKER_SHARED_S3_BUCKET": "bucket",
              "SAGEMAKER_SHARED_S3_PREFIX": "rl-deepracer-sagemaker", "WORLD_NAME": "reinvent_base",
              "RACE_TYPE": "TIME_TRIAL", "CAR_NAME": "FastCar"}
    return yaml.dump(config, default_flow_style=False, default_style="'", explicit_start=True).encode()
