"""Running one command: started by the measuring process (probes/measure.py), which reports its wall time,
CPU time and peak RSS."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .world import PROBES, TIMEOUT

# The measuring process: a bare interpreter that spawns one command, waits for it and writes its wall time, CPU
# time and peak RSS (why a process of its own: see that file).
MEASURE = PROBES / "measure.py"


class ExitError(RuntimeError):
    """A command exited non-zero (its code in .code): the benchmark stops, unless the tool is optional."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Step:
    """One command of a tool's run."""

    argv: list[str]
    env: dict[str, str]
    stdin: str = ""

    def __str__(self) -> str:
        return shlex.join(self.argv) + (f" <<< {self.stdin!r}" if self.stdin else "")


def execute(step: Step, cwd: Path) -> dict[str, float]:
    """Run one command to the end; return its wall seconds, CPU seconds (user + system) and peak RSS in KiB.

    Any failure (exit code, timeout) stops the benchmark with the command's output.
    """
    with tempfile.TemporaryDirectory() as tmp:
        stdin_file, out_file, result = Path(tmp, "stdin"), Path(tmp, "out"), Path(tmp, "result.json")
        stdin_file.write_text(step.stdin)
        with stdin_file.open("rb") as stdin, out_file.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-I", "-S", str(MEASURE), str(result), *step.argv],
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
            raise ExitError(f"exit {usage['exit']}: {step}\n{out_file.read_text(errors='replace')[-6000:]}",
                            usage["exit"] or proc.returncode)
    return usage


def process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a running process (the server), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
