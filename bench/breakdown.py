"""Where a drmodel command's time and CPU go, on the benchmark's world: the profile behind the targets of issue 7
that run.py shows failing (and behind those it passes narrowly).

For each scenario asked, on a fresh SeaweedFS holding the benchmark's model, drmodel's command of that scenario
(the very argv run.py times) runs inside a small wrapper (probes/milestones.py), after one untimed run as
run.py's warm-up round (drmodel keeps no cache of its own since issue 16: that run warms the server and the
page cache):

1. `--runs` runs marking milestones, each with the wall time since the process was spawned and the CPU the
   process has used: the interpreter ready, the imports done (the modules a transfer uses, imported first
   here: the same work, moved to the front), the S3 clients made, the first S3 request (botocore's public
   `provide-client-params` event), the plan made (the transfer starts), the transfer done, the end. The
   medians are printed.
2. One run under cProfile, every thread with its own profiler counting that thread's CPU time
   (`time.thread_time`: waiting for the GIL, a lock or the server costs nothing), the functions summed by what
   they are: imports (module bodies, unmarshalling code, the import machinery), regular expressions compiled,
   botocore and urllib3 (building, signing, sending and parsing requests), sha256 and CRC32, socket and file
   I/O, drmodel's own code, the rest (a built-in such as `isinstance` counts for its callers). The profiler
   slows Python code down several times (not the C work: hashing, copies), so it overstates Python's share;
   the milestones above are the unprofiled figures. File writes vary with the page cache: on this VM a write
   into memory the host took back costs the kernel 10-20x more (see drbench/rounds.py). `--prof-dir` keeps
   each profile for `python -m pstats` or snakeviz.

    .venv/bin/python bench/breakdown.py [--scenarios relay,server,pull,rerun] [--runs 5]
                                        [--out bench/results/breakdown.json] [--prof-dir DIR]

Loopback only; one scenario at a time, each on its own server (about 20 s each).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from drbench.report import machine  # noqa: E402
from drbench.rounds import reset  # noqa: E402
from drbench.scenarios import SCENARIOS  # noqa: E402
from drbench.steps import Step, execute  # noqa: E402
from drbench.world import TIMEOUT, Bench, Model, identity, write_model  # noqa: E402
from drmodel.testing.localserver import SeaweedS3, write_aws_profiles  # noqa: E402

PROFILED = ("relay", "server", "pull", "rerun")

# Runs drmodel's `main` as the `drmodel` command does, with milestones, or under per-thread cProfile.
WRAPPER = HERE / "probes" / "milestones.py"

# What a profiled function is, from where its code lives (the first rule that matches wins).
IMPORT_BUILTINS = {f"<built-in method {name}>" for name in (
    "marshal.loads", "builtins.exec", "builtins.__build_class__", "io.open_code", "_imp.create_dynamic",
    "_imp.exec_dynamic")}
CATEGORIES: list[tuple[str, Any]] = [
    ("imports: module bodies, unmarshalling, import machinery",
     lambda f, n: n == "<module>" or "importlib._bootstrap" in f or n in IMPORT_BUILTINS or "dataclasses.py" in f),
    ("regular expressions compiled (most at import)", lambda f, n: "/re/_" in f),
    ("sha256 (drmodel's proof of every byte)", lambda f, n: "_hashlib.HASH" in n or "openssl_sha256" in n),
    ("CRC32 (botocore's check of a GET, the PUT's checksum)", lambda f, n: n.endswith("crc32>")),
    ("socket I/O (send, receive, connect)", lambda f, n: "_socket.socket" in n or "select." in n),
    ("file I/O (write, read, fallocate)", lambda f, n: "_io." in n or "posix." in n),
    ("botocore, urllib3, http.client, email (requests)",
     lambda f, n: any(p in f for p in ("/botocore/", "/urllib3/", "/http/", "/email/", "/dateutil/", "/jmespath/"))),
    ("drmodel's own code", lambda f, n: "/drmodel/" in f),
]


def categorise(prof: Path) -> dict[str, Any]:
    """The profile's thread-CPU seconds by category, and its top functions by own time."""
    import pstats

    stats = pstats.Stats(str(prof)).stats  # type: ignore[attr-defined]
    rest = "the rest (Python's own)"

    def category(func: tuple[str, int, str]) -> str:
        return next((label for label, match in CATEGORIES if match(func[0], func[2])), rest)

    totals: dict[str, float] = {}
    rows = []
    for func, (_, _, tottime, _, callers) in stats.items():
        filename, line, name = func
        what = category(func)
        if what == rest and filename == "~" and callers:
            # a built-in (isinstance, dict.get, len...) counts for whoever called it, in proportion
            spent = {caller: entry[2] for caller, entry in callers.items()}
            whole = sum(spent.values()) or 1.0
            for caller, t in spent.items():
                totals[category(caller)] = totals.get(category(caller), 0.0) + tottime * t / whole
        else:
            totals[what] = totals.get(what, 0.0) + tottime
        rows.append((tottime, f"{Path(filename).name}:{line}({name})" if filename != "~" else name))
    total = sum(totals.values()) or 1.0
    order = [label for label, _ in CATEGORIES] + [rest]
    return {"total_s": total,
            "by_category": [{"what": k, "s": totals.get(k, 0.0), "share": totals.get(k, 0.0) / total} for k in order],
            "top_functions": [{"s": s, "function": f} for s, f in sorted(rows, reverse=True)[:12]]}


def run_wrapped(step: Step, work: Path, profile_to: Path | None, clients: int) -> list[Any]:
    marks_to = work / "marks.json"
    env = {**step.env, "MARKS_TO": str(marks_to), "SPAWNED_AT": repr(time.time()), "CLIENTS": str(clients)}
    if profile_to:
        env["DRMODEL_PROFILE"] = str(profile_to)
    p = subprocess.run([sys.executable, str(WRAPPER), *step.argv[1:]], env=env, capture_output=True, text=True,
                       timeout=TIMEOUT)
    if p.returncode:
        raise RuntimeError(f"{' '.join(step.argv)} exited {p.returncode}: {p.stderr[-2000:]}")
    return json.loads(marks_to.read_text())  # type: ignore[no-any-return]


def profile_scenario(name: str, accounts: tuple[Any, Any], model: Model, work: Path, runs: int,
                     prof_dir: Path | None) -> dict[str, Any]:
    sc = SCENARIOS[name]
    tool = sc.tools["drmodel rerun" if name == "rerun" else "drmodel"]
    folder = work / name
    folder.mkdir()
    a, b = accounts
    with SeaweedS3(folder / "seaweedfs", [a, b], [*a.buckets, *b.buckets]) as server:
        profiles = write_aws_profiles(folder / "aws", {"A": (a, server.endpoint), "B": (b, server.endpoint)})
        s = Bench(a, b, model, work / "model", folder, server, profiles)
        sc.prepare(s)
        [step] = tool.steps(s)
        clients = 1 if name == "pull" else 2

        def once(profile_to: Path | None = None) -> list[Any]:
            reset(s)
            if name == "rerun":
                execute(step, s.work)  # the first copy, which the rerun repeats
            os.sync()
            marks = run_wrapped(step, folder, profile_to, clients)
            tool.check(s)
            return marks

        once()  # untimed, as run.py's warm-up round
        timed = [once() for _ in range(runs)]
        prof = (prof_dir or folder) / f"{name}.prof"
        profiled = {m[0]: m[1:] for m in once(prof)}
        profile = {**categorise(prof), "profiled_run": {"wall_s": profiled["end"][0], "cpu_s": profiled["end"][1]}}
    by_name = [{m[0]: m[1:] for m in marks} for marks in timed]  # threads may reach some in either order
    names = sorted({n for marks in by_name for n in marks}, key=lambda n: statistics.median(
        marks[n][0] for marks in by_name if n in marks))
    milestones = [{"milestone": n, "wall_s": statistics.median(m[n][0] for m in by_name if n in m),
                   "cpu_s": statistics.median(m[n][1] for m in by_name if n in m)} for n in names]
    return {"about": sc.about, "command": str(step), "runs": runs, "milestones": milestones, "profile": profile}


def report(name: str, result: dict[str, Any]) -> str:
    lines = [f"{name}: {result['about']}", f"  {result['command']}",
             f"  milestones (median of {result['runs']}; from the process's spawn)      wall s    CPU s"]
    lines += [f"    {m['milestone']:<52} {m['wall_s']:7.3f}  {m['cpu_s']:7.3f}" for m in result["milestones"]]
    p = result["profile"]
    lines.append(f"  CPU by what runs (cProfile, thread CPU: one run of {p['profiled_run']['wall_s']:.2f} s and "
                 f"{p['profiled_run']['cpu_s']:.2f} CPU-s under the profiler, {result['milestones'][-1]['cpu_s']:.2f} "
                 "without)")
    lines += [f"    {c['what']:<58} {c['s']:6.3f} s {100 * c['share']:5.1f}%" for c in p["by_category"]]
    lines.append("  top functions by own CPU")
    lines += [f"    {f['s']:6.3f} s  {f['function']}" for f in p["top_functions"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default=",".join(PROFILED),
                        help=f"comma-separated subset of {','.join(PROFILED)} (default all)")
    parser.add_argument("--runs", type=int, default=5, help="runs with milestones per scenario (default 5)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "breakdown.json", help="JSON results file")
    parser.add_argument("--prof-dir", type=Path, help="keep the cProfile files (NAME.prof) in this folder")
    args = parser.parse_args()
    names = [n for n in args.scenarios.split(",") if n]
    unknown = [n for n in names if n not in PROFILED]
    if unknown or args.runs < 1:
        parser.error(f"unknown scenario {', '.join(unknown)}: choose from {', '.join(PROFILED)}" if unknown
                     else "--runs must be at least 1")
    if args.prof_dir:
        args.prof_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="drmodel-profile-"))
    try:
        accounts = identity("account-a"), identity("account-b")
        model = write_model(work / "model", accounts[0].buckets[0], 1.0)
        results = {}
        for name in names:
            results[name] = profile_scenario(name, accounts, model, work, args.runs, args.prof_dir)
            print(report(name, results[name]) + "\n", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine(), "model_bytes": model.bytes, "scenarios": results},
                                   indent=2))
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
