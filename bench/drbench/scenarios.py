"""The scenarios: what each measures, its untimed preparation on a fresh server and its tools in run order."""

from __future__ import annotations

import json
import random
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drmodel.testing.synth import legacy_keys, put_all

from .checks import (
    a_holds_copy,
    b_holds_batch_copy,
    b_holds_copy,
    b_holds_objects,
    b_holds_pushed_folder,
    download_holds_model,
    download_holds_objects,
    exit_status_only,
    listing,
)
from .steps import Step, execute
from .tools import (
    awscli_relay,
    boto3_requests,
    drmodel_copy,
    drmodel_copy_all,
    drmodel_help,
    drmodel_ls,
    drmodel_pull,
    drmodel_push,
    drmodel_push_big,
    rclone_copy,
    rclone_download,
    s5cmd_relay,
    s5cmd_server_copy,
    s5cmd_upload,
)
from .world import BIG_FILE, LS_TRACE, NAME, TRACE, Bench


@dataclass(frozen=True)
class Tool:
    """A tool's run: its commands and the check after it.

    rerun: the run starts from the previous run's target instead of an empty one, and must leave it unchanged.
    optional: a usage error (exit 2) means the tool cannot do this yet: its row says "not available" and the
    benchmark goes on (drmodel's batch copy, built in another branch).
    """

    steps: Callable[[Bench], list[Step]]
    check: Callable[[Bench], None]
    rerun: bool = False
    optional: bool = False


@dataclass(frozen=True)
class Scenario:
    """What one scenario measures, its untimed preparation on a fresh server, and its tools in run order."""

    about: str
    prepare: Callable[[Bench], None]
    tools: dict[str, Tool]
    moves_model: bool = True  # False: no MB/s
    details: Callable[[Bench], dict[str, Any]] | None = None  # more for the JSON, read after the runs
    batch: bool = False  # runs on the batch of models (world.write_batch) instead of the one model
    shaped: bool = True  # also runs on shaped links (`help` does not: it makes no request)


def upload_model(s: Bench) -> None:
    """Put the model into A's bucket in the legacy console layout, one single-part PUT per file."""
    for path in s.model.files:
        put_all(s.client_a, s.src, legacy_keys(NAME, s.model.prefix, {path: (s.model_dir / path).read_bytes()}))
    if listing(s.client_a, s.src) != s.model.objects:
        raise RuntimeError("the source bucket does not hold the model just uploaded")


def upload_batch(s: Bench) -> None:
    """Put the batch's objects (written once as model_dir/KEY) into A's bucket."""
    put_all(s.client_a, s.src, {key: (s.model_dir / key).read_bytes() for key in s.model.objects})
    if listing(s.client_a, s.src) != s.model.objects:
        raise RuntimeError("the source bucket does not hold the batch just uploaded")


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
    step = drmodel_ls(s)[0]
    execute(Step([sys.executable, str(TRACE), str(s.work / LS_TRACE), *step.argv[1:]], step.env), s.work)
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
        "drmodel": Tool(drmodel_help, exit_status_only)}, moves_model=False, shaped=False),
    "ls": Scenario("`drmodel ls` of A's bucket vs importing boto3 and making the same S3 requests",
                   upload_and_trace_ls, {
                       "drmodel ls": Tool(drmodel_ls, exit_status_only),
                       "boto3 + requests": Tool(boto3_requests, exit_status_only)},
                   moves_model=False, details=ls_details),
    "many": Scenario("copy a batch of models A -> B in one command (B cannot read A)", upload_batch, {
        "drmodel": Tool(drmodel_copy_all, b_holds_batch_copy, optional=True),
        "rclone": Tool(rclone_copy, b_holds_objects)}, batch=True),
    "many-rerun": Scenario("a drmodel batch copy A -> B, then the identical command onto its result", upload_batch, {
        "drmodel": Tool(drmodel_copy_all, b_holds_batch_copy, optional=True),
        "drmodel rerun": Tool(drmodel_copy_all, b_holds_batch_copy, rerun=True, optional=True)}, batch=True),
}
BIG = Scenario("drmodel push of the enlarged model's folder into A's bucket, then copy A -> B; once", write_big_model, {
    "drmodel push": Tool(drmodel_push_big, a_holds_copy),
    "drmodel copy": Tool(drmodel_copy, b_holds_copy)})
