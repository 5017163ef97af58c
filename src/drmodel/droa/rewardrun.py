"""DRoA's run-time reward check, run here only when asked (`--run-reward-function`).

DeepRacer on AWS runs the uploaded reward function during the import: once on a valid sample with imports
forbidden, then on sample cars, requiring a Python float within [-1e5, 1e5] each time (5 s per call; the
validator Lambda stops after 60 s and then leaves the model IMPORTING for good). drmodel never runs a model's code
on its own: with the flag it runs the function in a separate Python process (`python -I`, an empty temporary
folder as working directory, an empty environment), with a time limit for the whole run and for each call, and on
POSIX a memory limit (RLIMIT_AS). On Windows there is no memory limit and no per-call timer: only the whole run's
time limit holds (the process is killed). It is not a sandbox: the function runs with your user's rights.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CHILD = Path(__file__).with_name("reward_child.py")
RUN_SECONDS = 60.0  # DRoA's reward-validation Lambda's timeout
CALL_SECONDS = 5.0  # DRoA's per-test limit (RFV/constants.py#L25)
MEMORY_BYTES = 2 << 30


@dataclass
class RunResult:
    failures: list[str] = field(default_factory=list)  # DRoA-style messages; the first is what DRoA would show
    notes: list[str] = field(default_factory=list)


def run_reward_function(source: bytes, *, run_seconds: float = RUN_SECONDS, call_seconds: float = CALL_SECONDS,
                        memory_bytes: int = MEMORY_BYTES) -> RunResult:
    request = json.dumps({"source": source.decode("utf-8", "replace"), "per_call_seconds": call_seconds,
                          "memory_bytes": memory_bytes})
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    if sys.platform == "win32":
        import os

        env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", "")  # Python cannot start on Windows without it
    with tempfile.TemporaryDirectory(prefix="drmodel-reward-run-") as folder:
        try:
            done = subprocess.run([sys.executable, "-I", str(CHILD)], input=request, capture_output=True, text=True,
                                  cwd=folder, env=env, timeout=run_seconds, check=False)
        except subprocess.TimeoutExpired:
            return RunResult([f"Timed Out (the reward function ran longer than {run_seconds:.0f} s; DRoA's validator "
                              "stops at 60 s and the import then stays IMPORTING)"])
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    try:
        doc = json.loads(lines[-1])
        return RunResult(list(doc["failures"]), list(doc.get("notes", [])))
    except (IndexError, ValueError, KeyError, TypeError):
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return RunResult([f"the reward function's process died ({tail[0]})"])
