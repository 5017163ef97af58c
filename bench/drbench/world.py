"""The benchmark's world: its constants, the model's sizes, one scenario's accounts, server and folders."""

from __future__ import annotations

import re
import secrets
import sys
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from drmodel.testing.localserver import Identity, SeaweedS3, s3_client
from drmodel.testing.synth import legacy_keys, legacy_prefix, synth_model

HERE = Path(__file__).resolve().parent.parent  # bench/
PROBES = HERE / "probes"  # the Python programs the benchmark runs as processes of their own
BIN = Path(sys.executable).parent
NAME = "Apex-Hunter"
SOURCE_ACCOUNT, TARGET_ACCOUNT = "123456789012", "210987654321"
TIMESTAMP = "20200427103015"
CHECKPOINTS = ((140, 123889), (143, 131502), (144, 134240), (145, 136982), (146, 139001))
BIG_FILE = "model/{}_Step-{}.ckpt.data-00000-of-00001".format(*CHECKPOINTS[-1])  # the file --big-gb grows
MANIFEST = "drmodel-manifest.json"  # written by drmodel pull next to the model's files
PUSHED = "pushed/"  # where s5cmd uploads the folder in B's bucket
JOB_RE = re.compile(r"^DeepRacer-SageMaker-RoboMaker-comm-[^/]+/")
TIMEOUT = 600  # seconds for one tool command (a copy takes ~5 s at scale 1): fail loudly rather than hang
LS_TRACE = "ls-requests.json"  # in the ls scenario's folder: the S3 requests one drmodel ls made
TRACE, REPLAY = PROBES / "trace_requests.py", PROBES / "boto3_replay.py"  # records those requests; replays them
BATCH = 20  # models in the `many` scenarios (a batch copied in one command)


@dataclass(frozen=True)
class Model:
    """A model's sizes: as a folder (import layout) and as the objects in A's bucket (legacy layout)."""

    prefix: str  # its training prefix in A's bucket ("" for a batch of models)
    files: dict[str, int]  # {path: size} ({} for a batch: it exists only as objects)
    objects: dict[str, int]  # {key: size}
    places: tuple[str, ...] = ()  # its key prefixes in A's bucket; () = the one model's three (Bench.places)

    @property
    def bytes(self) -> int:
        return sum(self.objects.values())

    def enlarged(self, total: int) -> Model:
        """The same model with BIG_FILE grown so that the whole model holds `total` bytes."""
        if total < self.bytes:
            raise ValueError(f"--big-gb must be at least the model's size, {self.bytes / 1e9:.2f} GB")
        size = total - self.bytes + self.files[BIG_FILE]
        return Model(self.prefix, {**self.files, BIG_FILE: size}, {**self.objects, f"{self.prefix}/{BIG_FILE}": size})


@dataclass
class Bench:
    """One scenario's world: the two accounts, a fresh server, the model and the scenario's folders."""

    a: Identity
    b: Identity
    model: Model
    model_dir: Path  # the model as a folder (import layout), written once for all scenarios
    work: Path  # this scenario's folder: server data, downloads; deleted after the scenario
    server: SeaweedS3
    profiles: dict[str, str]  # AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE: profiles A and B, for drmodel
    link: str = "loopback"  # the line the tools reach the server through (drbench.shaper's profiles)
    tools_endpoint: str = ""  # the shaper's, when the link is not loopback
    shaper_pid: int | None = None  # the shaper's process, whose CPU is measured

    @property
    def src(self) -> str:
        return self.a.buckets[0]

    @property
    def dst(self) -> str:
        return self.b.buckets[0]

    @property
    def endpoint(self) -> str:
        """Where the tools send their requests: through the shaper on a shaped link."""
        return self.tools_endpoint or self.server.endpoint

    # The benchmark's own clients (preparation, checks, emptying B) talk to the server directly: never shaped.
    @cached_property
    def client_a(self) -> Any:
        return s3_client(self.server.endpoint, self.a.access_key, self.a.secret_key)

    @cached_property
    def client_b(self) -> Any:
        return s3_client(self.server.endpoint, self.b.access_key, self.b.secret_key)

    @property
    def download(self) -> Path:
        """Where the tools download to; deleted before every run."""
        return self.work / "download"

    @property
    def pulled(self) -> Path:
        """The folder the push scenario uploads, made once by drmodel pull."""
        return self.work / "pulled"

    @property
    def big(self) -> Path:
        """The enlarged model's folder (big scenario)."""
        return self.work / "big"

    @property
    def places(self) -> list[str]:
        """The model's three places in the source bucket (key prefixes); a batch's, all of its models'."""
        return list(self.model.places) or [self.model.prefix + "/", f"model-metadata/{NAME}/",
                                           f"reward-functions/{NAME}/"]


def identity(name: str) -> Identity:
    """An identity with random keys, owning one bucket named like a DeepRacer one."""
    return Identity(name, "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30),
                    (f"aws-deepracer-{uuid.uuid4()}",))


def write_model(folder: Path, bucket: str, scale: float) -> Model:
    """The benchmark model of `bucket`, written as a folder (import layout); returns its sizes."""
    prefix = legacy_prefix(SOURCE_ACCOUNT, TIMESTAMP, str(uuid.uuid4()))
    files = synth_model(NAME, bucket=bucket, prefix=prefix, timestamp=TIMESTAMP,
                        checkpoints=CHECKPOINTS, scale=scale, seed=7)
    for path, data in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    return Model(prefix, {p: len(d) for p, d in files.items()},
                 {k: len(d) for k, d in legacy_keys(NAME, prefix, files).items()})


def write_batch(folder: Path, bucket: str, scale: float, count: int = BATCH) -> Model:
    """`count` models of `bucket` in the legacy layout, written as their objects (folder/KEY); their sizes.

    Each has only the best and the last checkpoint, so that drmodel's default copy (best and last) moves every
    byte, as rclone does: `drmodel copy --all` runs without --checkpoint all, as a user would type it.
    """
    objects: dict[str, int] = {}
    places: list[str] = []
    for i in range(count):
        name = f"{NAME}-{i + 1:02d}"
        prefix = legacy_prefix(SOURCE_ACCOUNT, TIMESTAMP, str(uuid.uuid4()))
        files = synth_model(name, bucket=bucket, prefix=prefix, timestamp=TIMESTAMP,
                            checkpoints=(CHECKPOINTS[0], CHECKPOINTS[-1]), scale=scale, seed=100 + i)
        for key, data in legacy_keys(name, prefix, files).items():
            (folder / key).parent.mkdir(parents=True, exist_ok=True)
            (folder / key).write_bytes(data)
            objects[key] = len(data)
        places += [prefix + "/", f"model-metadata/{name}/", f"reward-functions/{name}/"]
    return Model("", {}, objects, tuple(places))
