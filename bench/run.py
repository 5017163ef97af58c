"""Benchmark: drmodel against the usual S3 tools on every target of issue 7, on a local SeaweedFS.

The model: one legacy-console DeepRacer model - five checkpoints at real sizes, about 359 MB (342 MiB) in
30 objects spread over the training prefix, model-metadata/NAME and reward-functions/NAME - in the bucket
of account A. Two SeaweedFS identities stand for two AWS accounts (A and B), on one server on 127.0.0.1.

Scenarios (`--scenarios`, default all nine), each on a fresh server:
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
  many    a batch of 20 models (--many-scale) copied A -> B in one command: drmodel copy --all, rclone
          with the batch's 60 key prefixes (a drmodel without --all exits 2: its row says "not available")
  many-rerun  drmodel's batch copy, then the identical command again onto its result
  big     (--big-gb N) drmodel push then copy of a model grown to about N GB, once, for its peak memory

Links (`--link`, default loopback): every scenario but help runs once per link; on `home` (100 Mbit/s down,
40 up, 40 ms RTT) and `region` (1 Gbit/s both ways, 2 ms RTT) the tools reach the server through
drbench/shaper.py, a proxy that shapes all their connections together like one line (results `relay@home`,
...); the benchmark's own preparation and checks go to the server directly.

Every figure is wall clock from process start to exit; tools run interleaved after the warm-up rounds, the
order turning and reversing from round to round, each run after a `sync`, and the median, min and max of
`--runs` runs are reported, with MB/s, the CPU seconds of the tool and of the server, and each tool's peak RSS.
After every run the target (bucket or folder) must hold the model's files with their sizes, or the benchmark
stops. On loopback the numbers show CPU cost, not network speed; the shaped links show the line's.

    .venv/bin/python bench/run.py [--runs 5] [--scale 1.0] [--warmup 1] [--scenarios relay,server,...]
                                  [--link loopback,home,region] [--tools drmodel,rclone] [--many-scale 0.34]
                                  [--big-gb 0]
                                  [--out bench/results/latest.json]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from drbench.report import at, link_targets, machine, table, targets, targets_table
from drbench.rounds import run_scenario
from drbench.scenarios import BIG, SCENARIOS, Scenario
from drbench.shaper import LINKS, PROFILES, ShaperProcess
from drbench.world import BATCH, BIN, CHECKPOINTS, HERE, NAME, Bench, Model, identity, write_batch, write_model
from drmodel.testing.localserver import HOST, Identity, SeaweedS3, write_aws_profiles


def check_disk(folder: Path, needed: int) -> None:
    """Stop before filling the disk: SeaweedFS keeps every byte written until its folder is deleted."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise RuntimeError(f"about {needed / 1e9:.1f} GB must be free in {folder}, only {free / 1e9:.1f} GB are")


def scenario_on_server(name: str, sc: Scenario, accounts: tuple[Identity, Identity], which: tuple[Model, Path],
                       work: Path, rounds: tuple[int, int], link: str = "loopback") -> dict[str, Any]:
    """Run one scenario on its own server and folder, both deleted afterwards (this frees the disk); on a
    shaped link, the tools reach the server through a shaper process of its own, stopped afterwards too."""
    (a, b), (warmup, runs), (model, model_dir) = accounts, rounds, which
    # Worst case on disk: every run writes the model once, plus the source and one local copy.
    check_disk(work, (len(sc.tools) * (warmup + runs) + 2) * model.bytes)
    folder = work / name
    folder.mkdir()
    (folder / "rclone.conf").write_text("")
    (folder / "aws-cli-config").write_text("[plugins]\nbench_empty_put = awscli_empty_put\n")
    try:
        with SeaweedS3(folder / "seaweedfs", [a, b], [*a.buckets, *b.buckets]) as server, \
                contextlib.ExitStack() as stack:
            shaper = None
            if link != "loopback":
                port = int(server.endpoint.rsplit(":", 1)[1])
                shaper = stack.enter_context(ShaperProcess(PROFILES[link], (HOST, port), folder / "shaper.log"))
            endpoint = shaper.endpoint if shaper else server.endpoint
            profiles = write_aws_profiles(folder / "aws", {"A": (a, endpoint), "B": (b, endpoint)})
            s = Bench(a, b, model, model_dir, folder, server, profiles, link=link,
                      tools_endpoint=shaper.endpoint if shaper else "", shaper_pid=shaper.pid if shaper else None)
            return run_scenario(name, sc, s, warmup, runs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    accounts = identity("account-a"), identity("account-b")
    model = write_model(work / "model", accounts[0].buckets[0], args.scale)
    print(f"model {NAME}: {len(model.objects)} objects, {model.bytes / 1e6:.1f} MB; {args.runs} runs per tool "
          f"after {args.warmup} warm-up round(s); work dir {work}", flush=True)
    big = model.enlarged(int(args.big_gb * 1e9)) if args.big_gb else None  # fails early if too small
    batch = None
    if any(SCENARIOS[name].batch for name in args.scenarios):
        (work / "batch").mkdir()
        batch = write_batch(work / "batch", accounts[0].buckets[0], args.many_scale)
        print(f"batch: {BATCH} models, {len(batch.objects)} objects, {batch.bytes / 1e6:.1f} MB (best and last "
              f"checkpoints only, --many-scale {args.many_scale:g})", flush=True)
    scenarios = {}
    for link in args.link:
        if link != "loopback":
            print(f"link {PROFILES[link]} (through drbench/shaper.py)", flush=True)
        for name in args.scenarios:
            sc = only_tools(SCENARIOS[name], args.tools)
            if link != "loopback" and not sc.shaped:
                continue
            which = (batch, work / "batch") if sc.batch and batch else (model, work / "model")
            scenarios[at(name, link)] = scenario_on_server(at(name, link), sc, accounts, which, work,
                                                           (args.warmup, args.runs), link)
    if big:
        scenarios["big"] = scenario_on_server("big", BIG, accounts, (big, work / "model"), work, (0, 1))
    return {"model": {"name": NAME, "objects": len(model.objects), "bytes": model.bytes, "scale": args.scale,
                      "checkpoints": CHECKPOINTS},
            "batch": {"models": BATCH, "objects": len(batch.objects), "bytes": batch.bytes,
                      "scale": args.many_scale, "checkpoints": [CHECKPOINTS[0], CHECKPOINTS[-1]]} if batch else None,
            "links": {link: str(PROFILES[link]) if link in PROFILES else "no proxy" for link in args.link},
            "runs": args.runs, "warmup": args.warmup, "server": "SeaweedFS weed mini on 127.0.0.1, one per scenario",
            "notes": ["aws-cli uploads with bench/awscli_empty_put.py (Connection: close on zero-byte PUTs) to "
                      "avoid SeaweedFS 4.48's 60 s stall, which drmodel also avoids; real S3 needs neither",
                      "seconds are wall clock incl. process start; tool_cpu_s = user+sys of the tool's processes; "
                      "server_cpu_s = the weed process during the run; proxy_cpu_s = the shaper process during the "
                      "run (shaped links); peak_rss_mb = the largest ru_maxrss of the tool's processes over the runs; "
                      "MB = 10^6 B"],
            "scenarios": scenarios}


def only_tools(sc: Scenario, tools: list[str] | None) -> Scenario:
    """The scenario with only the tools `--tools` names (all of them without --tools), in its own order; a rerun
    keeps the run it repeats."""
    if not tools:
        return sc
    kept = {name: tool for name, tool in sc.tools.items() if name in tools}
    if any(tool.rerun for tool in kept.values()):
        kept = {name: tool for name, tool in sc.tools.items() if name in tools or not tool.rerun}
    return dataclasses.replace(sc, tools=kept or sc.tools)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (median reported; default 5)")
    parser.add_argument("--scale", type=float, default=1.0, help="checkpoint size factor (1.0 = real sizes)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first, per scenario (default 1)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)} (default all)")
    parser.add_argument("--link", default="loopback",
                        help=f"comma-separated lines to run the scenarios on, among {','.join(LINKS)} (default "
                             "loopback: no proxy)")
    parser.add_argument("--many-scale", type=float, default=0.34,
                        help=f"checkpoint size factor of the {BATCH} models of the many scenarios (default 0.34: about "
                        "49 MB each, 1 GB in all; 0.02 gives 2.9 MB models, the per-object overhead)")
    parser.add_argument("--tools", default="",
                        help="comma-separated tools to time in each scenario, e.g. drmodel,rclone (default all; a "
                             "scenario with none of them keeps all of its own)")
    parser.add_argument("--big-gb", type=float, default=0,
                        help="also push and copy a model grown to about this many GB, once (default 0: skip)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json", help="JSON results file")
    args = parser.parse_args()
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}: choose among {', '.join(SCENARIOS)}")
    args.tools = [name.strip() for name in args.tools.split(",") if name.strip()] or None
    known = {tool for sc in (*SCENARIOS.values(), BIG) for tool in sc.tools}
    if args.tools and (strange := [name for name in args.tools if name not in known]):
        parser.error(f"unknown tool(s) {', '.join(strange)}: choose among {', '.join(sorted(known))}")
    args.link = [link.strip() for link in args.link.split(",") if link.strip()]
    bad = [link for link in args.link if link not in LINKS]
    if bad or not args.link:
        parser.error(f"--link {','.join(bad) or '(none)'}: choose among {', '.join(LINKS)}")
    if args.runs < 1 or args.warmup < 0 or args.scale <= 0 or args.many_scale <= 0 or args.big_gb < 0:
        parser.error("--runs must be >= 1, --warmup >= 0, --scale and --many-scale > 0 and --big-gb >= 0")
    if not args.scenarios and not args.big_gb:
        parser.error("nothing to run: no scenario and no --big-gb")
    return args


def main() -> int:
    args = parse_args()
    for tool in ("drmodel", "rclone", "aws", "weed"):
        if not (BIN / tool).exists():
            sys.exit(f"{BIN / tool} is missing: run `python3 tasks.py bench` or `{BIN / 'pip'} install "
                     f"--require-hashes --only-binary :all: -r {HERE.parent / 'requirements' / 'bench.txt'}`")
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
    report["targets"] = targets(report["scenarios"], link_targets(args.link))
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
