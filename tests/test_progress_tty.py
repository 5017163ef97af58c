"""The progress display as a user sees it: `python -m drmodel copy ...` with stderr on a real terminal (a pty), against
SeaweedFS (two accounts, the relay) and moto (one account, the server-side copy). No assertion on time: what is
drawn, its units, its width and its counts."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from drmodel.progress import Progress
from drmodel.testing.synth import legacy_bucket, placeholder, put_all

PHASES = ("backup", "write", "verify", "delete")
BAR = re.compile(r"^(backup|write|verify|delete) +\d+%[| ]")  # with its bar, or the numbers only (narrow)
RATE = re.compile(r"\d+(\.\d)? (B|KiB|MiB|GiB)/s")
ETA = re.compile(r"ETA +(\d+:)?\d\d:\d\d")
FILES = re.compile(r"files +(\d+)/(\d+)")


def run_drmodel(args: list[str], *, stderr_on: str = "pty", cols: int = 120, rows: int = 24) -> tuple[int, str, str]:
    """Run `python -m drmodel ARGS` as a user does: stdout a pipe, stderr a terminal of COLS x ROWS (or a pipe).
    Returns the exit code, stdout, and everything written on stderr (the terminal's output: "\\n" arrives as
    "\\r\\n")."""
    argv = [sys.executable, "-m", "drmodel", *args]
    if stderr_on == "pipe":
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=os.environ.copy(),
                              timeout=600)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                            env=os.environ.copy())
    os.close(slave)  # the child holds the only other end: reading the master ends (EIO) when it exits
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        out, _ = proc.communicate(timeout=600)
    finally:
        reader.join(timeout=60)
        os.close(master)
    return proc.returncode, out.decode(), b"".join(chunks).decode("utf-8", "replace")


def segments(terminal: str) -> list[str]:
    """What the terminal showed, redraw by redraw: the text between carriage returns and newlines."""
    return [s for s in re.split(r"[\r\n]+", terminal) if s.strip()]


def last_bars(terminal: str) -> dict[str, str]:
    """Each phase's last drawn line (its final state: a finished phase leaves it on the screen)."""
    bars: dict[str, str] = {}
    for seg in segments(terminal):
        m = BAR.match(seg)
        if m:
            bars[m.group(1)] = seg
    return bars


def plan_counts(out: str) -> dict[str, int]:
    """The plan's counts: files to upload and overwrite, to delete, and to back up."""
    m = re.search(r"upload (\d+) new and overwrite (\d+) files \(.*?\), skip (\d+) identical, delete (\d+) stale", out)
    assert m, out
    backup = re.search(r"first back up the (\d+) replaced files", out)
    return {"write": int(m.group(1)) + int(m.group(2)), "delete": int(m.group(4)),
            "backup": int(backup.group(1)) if backup else 0}


def copy_args(source: str, target: str, tmp_path: Path, *profiles: str) -> list[str]:
    return ["copy", source, target, *profiles, "--yes", "--backup-to", str(tmp_path / "bk"), "--checkpoint", "all"]


def _accounts(request: pytest.FixtureRequest, tmp_path: Path, store: str) -> list[str]:
    """Apex-Hunter in the source bucket and the console's placeholder in the target's: the copy's arguments."""
    if store == "seaweedfs":
        acc = request.getfixturevalue("two_accounts")
        src_client, src, dst_client, dst = (acc.source_client, acc.source_bucket, acc.target_client,
                                            acc.target_bucket)
        profiles = ["--source-profile", "src", "--target-profile", "dst"]
    else:
        client, src, dst = request.getfixturevalue("moto_buckets")
        src_client = dst_client = client
        profiles = []
    put_all(src_client, src, legacy_bucket(src, scale=0.1))
    put_all(dst_client, dst, placeholder(dst, "Apex-Hunter", scale=0.02))
    return copy_args(f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", tmp_path, *profiles)


@pytest.mark.parametrize("store", ["seaweedfs", "moto"])
def test_the_copy_draws_each_phase_with_its_rate_eta_and_counts_that_add_up_to_the_plan(request, tmp_path, store):
    code, out, terminal = run_drmodel(_accounts(request, tmp_path, store), cols=120)
    assert code == 0, terminal
    assert ("Bytes: relayed through this machine" if store == "seaweedfs" else "Bytes: server-side copy") in out
    plan = plan_counts(out)
    assert plan["write"] and plan["delete"] and plan["backup"]  # every phase has work in this copy
    bars = last_bars(terminal)
    assert set(bars) == set(PHASES), terminal
    # each phase ends complete, with the plan's count of files
    for phase in PHASES:
        done, total = map(int, FILES.search(bars[phase]).groups())  # type: ignore[union-attr]
        expected = plan["write"] if phase == "verify" else plan[phase]
        assert done == total == expected, (phase, bars[phase], plan)
        assert re.match(rf"{phase} +100%\|", bars[phase]), bars[phase]  # 120 columns: with its bar
    # the phases that move bytes show them, with a rate and an ETA, in binary units
    for phase in ("backup", "write"):
        assert RATE.search(bars[phase]) and ETA.search(bars[phase]), bars[phase]
        assert re.search(r"\d (KiB|MiB|GiB)/\d+\.\d (KiB|MiB|GiB) ", bars[phase]), bars[phase]
    # verify and delete move no bytes: files only
    for phase in ("verify", "delete"):
        assert "/s" not in bars[phase] and " B " not in bars[phase] and "iB" not in bars[phase], bars[phase]
    assert not re.search(r"\b0 B ?/ ?0 B", terminal) and not re.search(r"\bMB/s|\bkB/s|\bGB/s", terminal)
    assert "\x1b" not in terminal  # no terminal control sequence: carriage returns only
    assert all(len(s) <= 119 for s in segments(terminal) if BAR.match(s))  # a column short of the width: no wrap
    # the summary agrees, in the same units
    done = re.search(r"Done: (\d+) files written .* in [\d.]+ s, \d+(\.\d)? (B|KiB|MiB|GiB)/s\), (\d+) skipped, "
                     r"(\d+) stale files deleted", out)
    assert done, out
    assert int(done.group(1)) == plan["write"] and int(done.group(5)) == plan["delete"]


def test_a_copy_into_a_new_model_shows_no_backup_and_no_delete_phase(moto_buckets, tmp_path):
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.02))
    code, out, terminal = run_drmodel(copy_args(f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", tmp_path)
                                      + ["--create", "--relay"], cols=100)
    assert code == 0, terminal
    plan = plan_counts(out)
    assert plan["delete"] == plan["backup"] == 0 and plan["write"]
    bars = last_bars(terminal)
    assert set(bars) == {"write", "verify"}, terminal  # nothing to back up or delete: nothing shown for them
    for phase in ("write", "verify"):
        assert FILES.search(bars[phase]).groups() == (str(plan["write"]),) * 2, bars[phase]  # type: ignore[union-attr]
    assert RATE.search(bars["write"]) and ETA.search(bars["write"])


def test_the_display_fits_a_narrow_terminal(moto_buckets, tmp_path):
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.02))
    put_all(client, dst, placeholder(dst, "Apex-Hunter", scale=0.02))
    code, _, terminal = run_drmodel(copy_args(f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", tmp_path),
                                    cols=64)
    assert code == 0, terminal
    bars = last_bars(terminal)
    assert set(bars) == set(PHASES), terminal
    assert all(len(s) <= 63 for s in segments(terminal) if BAR.match(s)), terminal
    for phase in ("backup", "write"):  # too narrow for a bar next to the numbers: the numbers, whole
        assert "|" not in bars[phase] and RATE.search(bars[phase]) and ETA.search(bars[phase]), bars[phase]
        assert FILES.search(bars[phase]), bars[phase]
    for phase in ("verify", "delete"):
        assert "|" in bars[phase] and FILES.search(bars[phase]), bars[phase]


def test_a_terminal_that_does_not_tell_its_size_gets_80_columns(moto_buckets, tmp_path):
    """A pty left at 0 x 0 (some containers and CI runners): tqdm alone would draw nothing there."""
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.02))
    code, out, terminal = run_drmodel(copy_args(f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", tmp_path)
                                      + ["--create"], cols=0, rows=0)
    assert code == 0, terminal
    bars = last_bars(terminal)
    assert set(bars) == {"write", "verify"} and all(len(s) <= 79 for s in segments(terminal) if BAR.match(s))
    assert "|" in bars["write"] and FILES.search(bars["write"]) and RATE.search(bars["write"]), bars["write"]


def test_nothing_is_drawn_when_stderr_is_a_pipe(moto_buckets, tmp_path):
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.02))
    put_all(client, dst, placeholder(dst, "Apex-Hunter", scale=0.02))
    code, out, err = run_drmodel(copy_args(f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", tmp_path),
                                 stderr_on="pipe")
    assert code == 0, err
    assert "Done:" in out
    assert "backup of the target's" in err  # the notes still arrive, one per line
    assert "\r" not in err and "ETA" not in err and "\x1b" not in err
    assert not any(BAR.match(line) for line in err.splitlines())


def test_quiet_draws_nothing_on_a_terminal(moto_buckets, tmp_path):
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.02))
    put_all(client, dst, placeholder(dst, "Apex-Hunter", scale=0.02))
    code, out, terminal = run_drmodel(copy_args(f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", tmp_path)
                                      + ["--quiet"])
    assert code == 0, terminal
    assert "Done:" in out
    assert terminal == ""


class Recorder(Progress):
    """What the library reports, phase by phase: its totals, the bytes advanced and the files done."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.phases: dict[str, dict[str, int]] = {}
        self.current = ""

    def phase(self, name: str, *, total_bytes: int = 0, total_files: int = 0, **kwargs: object) -> None:
        self.current = name
        self.phases[name] = {"total_bytes": total_bytes, "total_files": total_files, "bytes": 0, "files": 0}

    def advance(self, nbytes: int, **kwargs: object) -> None:
        with self.lock:
            self.phases[self.current]["bytes"] += nbytes

    def file_done(self, path: str, **kwargs: object) -> None:
        with self.lock:
            self.phases[self.current]["files"] += 1


@pytest.mark.parametrize("relay", [True, False])
def test_the_library_reports_the_work_of_each_phase_as_it_does_it(moto_buckets, tmp_path, relay):
    """Every phase's bytes and files add up to its totals, and the totals are the plan's: backup the replaced
    files, write and verify the written ones, delete the stale ones."""
    from drmodel import api

    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.02))
    put_all(client, dst, placeholder(dst, "Apex-Hunter", scale=0.02))
    plan = api.plan_transfer("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", checkpoint="all",
                             backup_to=str(tmp_path / "bk"), relay=relay)
    recorder = Recorder()
    api.execute(plan, recorder)
    replaced = [a for a in plan.actions if a.op in ("overwrite", "delete")]
    assert list(recorder.phases) == list(PHASES)
    assert recorder.phases["backup"]["total_files"] == recorder.phases["backup"]["files"] == len(replaced)
    assert recorder.phases["backup"]["total_bytes"] == recorder.phases["backup"]["bytes"] > 0
    for phase in ("write", "verify"):
        assert recorder.phases[phase]["total_files"] == recorder.phases[phase]["files"] == len(plan.writes)
    assert recorder.phases["write"]["total_bytes"] == recorder.phases["write"]["bytes"] == plan.bytes_to_write
    assert recorder.phases["delete"]["total_files"] == recorder.phases["delete"]["files"] == len(plan.by_op("delete"))
    assert recorder.phases["verify"]["bytes"] == recorder.phases["delete"]["bytes"] == 0


def test_help_and_the_read_only_commands_do_not_import_the_progress_library(tmp_path):
    code = ("import sys; from drmodel.cli.main import main; main(['--help']); main(['copy', '--help']); "
            f"main(['--quiet', 'ls', {str(tmp_path)!r}]); "
            "print('RENDER', 'drmodel.cli.render' in sys.modules, 'TQDM', 'tqdm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "RENDER True TQDM False" in out
    importtime = subprocess.run([sys.executable, "-X", "importtime", "-m", "drmodel", "--help"],
                                capture_output=True, text=True)
    assert importtime.returncode == 0 and "tqdm" not in importtime.stderr
