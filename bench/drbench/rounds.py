"""The rounds of one scenario: every tool interleaved, each run timed and checked, then summarised."""

from __future__ import annotations

import os
import shutil
import statistics
from typing import Any

from .checks import listing, snapshot
from .scenarios import Scenario, Tool
from .steps import ExitError, execute, process_cpu
from .world import Bench


def measure(s: Bench, tool: Tool) -> dict[str, float]:
    """One timed run of one tool, checked; a fresh target unless it is a rerun."""
    before = snapshot(s.client_b, s.dst) if tool.rerun else None
    if before is None:
        reset(s)
    os.sync()  # what the previous run wrote reaches the disk now, not during this run
    steps = tool.steps(s)
    server_cpu = process_cpu(s.server.pid)
    proxy_cpu = process_cpu(s.shaper_pid) if s.shaper_pid else 0.0
    usages = [execute(step, s.work) for step in steps]
    server_cpu = process_cpu(s.server.pid) - server_cpu
    run = {"s": sum(u["s"] for u in usages), "tool_cpu_s": sum(u["cpu_s"] for u in usages),
           "server_cpu_s": server_cpu, "peak_rss_mb": max(u["rss_kib"] for u in usages) * 1024 / 1e6}
    if s.shaper_pid:
        run["proxy_cpu_s"] = process_cpu(s.shaper_pid) - proxy_cpu
    tool.check(s)
    if before is not None and snapshot(s.client_b, s.dst) != before:
        raise RuntimeError(f"the rerun changed s3://{s.dst}: it wrote or deleted objects")
    return run


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
    unavailable: dict[str, str] = {}  # optional tools that answered with a usage error: why
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
            if tool_name in unavailable:
                continue
            if tool.rerun and unavailable:
                unavailable[tool_name] = "the run it repeats is not available"
                continue
            try:
                run = measure(s, tool)
            except ExitError as exc:
                if not (tool.optional and exc.code == 2):
                    raise
                unavailable[tool_name] = "usage error (exit 2): " + str(exc).splitlines()[-1][:200]
                print(f"  {label:<10} {tool_name:<16} not available: {unavailable[tool_name]}", flush=True)
                continue
            speed = f"{nbytes / run['s'] / 1e6:7.1f} MB/s" if nbytes else ""
            proxy = f", proxy {run['proxy_cpu_s']:5.2f} s" if "proxy_cpu_s" in run else ""
            print(f"  {label:<10} {tool_name:<16} {run['s']:7.2f} s {speed:>12}  CPU: tool {run['tool_cpu_s']:5.2f} s, "
                  f"server {run['server_cpu_s']:5.2f} s{proxy}  peak RSS {run['peak_rss_mb']:5.0f} MB", flush=True)
            if round_no >= 0:
                results[tool_name].append(run)
    return {"about": sc.about, "link": s.link, "bytes": nbytes, "objects": len(s.model.objects),
            "commands": {tool_name: [str(step) for step in tool.steps(s)] for tool_name, tool in sc.tools.items()},
            "results": summarise(results, nbytes, unavailable), **(sc.details(s) if sc.details else {})}


def summarise(runs: dict[str, list[dict[str, float]]], nbytes: int,
              unavailable: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Per tool: median/min/max seconds, MB/s, time relative to the first measured tool, median CPU (tool,
    server, and the shaper's on a shaped link), peak RSS; a tool that could not run: why."""
    unavailable = unavailable or {}
    measured = [rs for tool, rs in runs.items() if rs and tool not in unavailable]
    first = statistics.median(r["s"] for r in measured[0]) if measured else 0.0
    out: dict[str, dict[str, Any]] = {}
    for tool, rs in runs.items():
        if tool in unavailable or not rs:
            out[tool] = {"available": False, "why": unavailable.get(tool, "no run")}
            continue
        ts = [r["s"] for r in rs]
        med = statistics.median(ts)
        out[tool] = {"median_s": med, "min_s": min(ts), "max_s": max(ts),
                     "mb_per_s": nbytes / med / 1e6 if nbytes else None, "relative_time": med / first,
                     "tool_cpu_s": statistics.median(r["tool_cpu_s"] for r in rs),
                     "server_cpu_s": statistics.median(r["server_cpu_s"] for r in rs),
                     "peak_rss_mb": max(r["peak_rss_mb"] for r in rs), "runs": rs}
        if "proxy_cpu_s" in rs[0]:
            out[tool]["proxy_cpu_s"] = statistics.median(r["proxy_cpu_s"] for r in rs)
    return out
