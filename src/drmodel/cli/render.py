"""Text rendering of library results. Data goes to stdout; progress and notes go to stderr."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any, TextIO

from drmodel.progress import Progress
from drmodel.units import human, plural  # the one formatter of sizes and rates (binary units); commands use it here


def table(rows: list[list[str]], out: TextIO) -> None:
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() + "\n")


def dump_json(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, indent=2, default=lambda o: sorted(o) if isinstance(o, set) else str(o)) + "\n")


OP_WORDS = {"create": "upload", "overwrite": "OVERWRITE", "skip": "skip (identical)", "delete": "DELETE"}


def render_plan(plan: Any, out: TextIO, *, dry_run: bool, verbose: bool = False) -> None:
    verb = "Would" if dry_run else "Will"
    tgt, src = plan.target, plan.source
    layouts = (f" ({src['layout']} layout -> {tgt['layout']} layout)" if src.get("layout") and tgt.get("layout")
               else "")
    out.write(f"Plan: {plan.kind} {plan.source_address} -> {plan.target_address}{layouts}\n")
    if src.get("training_prefix"):
        out.write(f"  source training job: {src['training_prefix']} (tied by {src.get('tied_by')})\n")
    if tgt.get("training_prefix"):
        state = "NEW, will be created" if tgt.get("created") else "existing"
        out.write(f"  target training prefix ({state}): {tgt['training_prefix']}  (<prefix> below)\n")
    prefix = tgt.get("training_prefix")
    local = plan.local_target  # a folder or an archive here: files are written, not uploaded, and have no key
    words = OP_WORDS | {"create": "write"} if local else OP_WORDS
    rows = [["action", "size", "was", "target file" if local else "target key", "note"]]
    for a in plan.actions:
        if a.op == "skip" and not verbose:
            continue
        key = "<prefix>/" + a.key[len(prefix) + 1:] if prefix and a.key.startswith(prefix + "/") else a.key
        rows.append([words[a.op], human(a.size), human(a.old_size) if a.op == "overwrite" else "", key, a.note])
    if len(rows) > 1:
        table(rows, out)
    counts = {op: len(plan.by_op(op)) for op in ("create", "overwrite", "skip", "delete")}
    out.write(f"{verb} {words['create']} {counts['create']} new and overwrite {plural(counts['overwrite'], 'file')} "
              f"({human(plan.bytes_to_write)}), skip {counts['skip']} identical, delete {counts['delete']} stale.\n")
    if plan.backup_root and plan.destructive:
        out.write(f"{verb} first back up the {plural(counts['overwrite'] + counts['delete'], 'replaced file')} to "
                  f"{plan.backup_root}\n")
    if plan.transfer:
        out.write(f"Bytes: {plan.transfer}\n")
    if plan.grant:
        render_grant(plan.grant, plan.backup_root, out)
    if plan.checkpoints:
        out.write(f"Checkpoints: {plan.checkpoints}\n")
    if plan.racing:
        out.write(f"In the target, evaluation will load: {plan.racing}\n")
    for note in plan.notes:
        out.write(f"  {note}\n")


def render_grant(grant: Any, saved_in: Any, out: TextIO) -> None:
    """The read grant a copy (or a batch) adds to the source bucket's policy (--grant-read): the statement as it
    will be put, its expiry rule, and where the policy is saved first."""
    from drmodel.plan import expiry_rule

    out.write(grant.lines()[0] + "\n")
    out.write(f"  the grant {expiry_rule(grant)}\n")
    out.write(f"  the source bucket's policy is saved first in {saved_in}, and compared with the policy "
              "after the removal\n  the statement (its time is counted again when it is added):\n")
    for line in json.dumps(grant.statements, indent=2).splitlines():
        out.write(f"  {line}\n")


def check_json(report: Any) -> dict[str, Any]:
    """A `drmodel check` report as JSON (`check --json`, and each side of `diff --json`)."""
    e = report.evaluation
    return {"address": report.address, "layout": report.layout, "ok": not report.errors,
            "findings": [vars(f) for f in report.findings],
            "evaluation": {"checkpoint": e.name if e else None, "number": e.number if e else None,
                           "kind": e.kind if e else None, "reason": e.reason if e else None,
                           "sha256": report.evaluation_sha256, "files": report.file_sha256}}


def render_check(report: Any, out: TextIO) -> None:
    out.write(f"Check of {report.address} ({report.layout} layout)\n")
    order = {"error": 0, "warning": 1, "info": 2}
    for f in sorted(report.findings, key=lambda f: order[f.severity]):
        out.write(f"  {f.line()}\n")
    e = report.evaluation
    if e and e.name:
        out.write(f"Evaluation will load: {e.name} ({e.kind}), sha256 {report.evaluation_sha256}\n")
    n_err = len(report.errors)
    n_warn = sum(f.severity == "warning" for f in report.findings)
    out.write(f"{plural(n_err, 'error')}, {plural(n_warn, 'warning')}.\n")


# The progress display is tqdm's (https://tqdm.github.io): the bar, its smoothed rate (an exponential moving average)
# and ETA, the terminal's width, and drawing with carriage returns only (one bar at a time needs no ANSI sequence,
# so no terminal depends on colorama's translation). tqdm rather than rich, both well kept, for start-up cost:
# measured with `python -X importtime` (minimum of 15 runs), once boto3 is loaded (it always is when a bar is drawn)
# `import tqdm` costs about 5 ms and `import rich.progress` 20 to 30 ms. In a bare interpreter tqdm costs more (about
# 65 ms against 45 ms), all of it logging and importlib.metadata, which boto3 has already loaded. tqdm is also one
# package without dependencies but colorama on Windows (rich brings pygments and markdown-it-py). tqdm is imported
# when the first bar is drawn: `--help`, the read-only commands, --quiet and a stderr that is not a terminal never
# import it.

BAR_REFRESH = 0.2  # seconds between redraws at most (tqdm's mininterval)
BAR_SMOOTHING = 0.1  # the weight of the latest interval in the rate's moving average: about the last 2 seconds


class Bar(Progress):
    """The transfer's progress on stderr, one tqdm bar per phase: the phase (backup, write, verify, delete), its
    bytes with a smoothed rate and an ETA, and its files. A phase without bytes to move shows its files only; a
    phase with nothing to do shows nothing. Each finished phase leaves its last line (its average rate).
    Nothing is drawn when quiet or when the stream is not a terminal; notes are written unless quiet."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.enabled = not quiet and (_isatty(self.stream) if enabled is None else enabled)
        self.lock = threading.RLock()  # hooks are called from the writer threads
        self.bar: Any = None  # the current phase's tqdm bar, if it is drawn
        self.drawn = 0.0

    def phase(self, name: str, *, total_bytes: int = 0, total_files: int = 0, **kwargs: Any) -> None:
        with self.lock:
            self._finish()
            if not self.enabled or not (total_bytes or total_files):
                return
            bar_class = _phase_bar_class()
            bar_class.set_lock(self.lock)  # one lock; tqdm's default would create a multiprocessing lock too
            self.bar = bar_class(name, total_bytes=total_bytes, total_files=total_files, file=self.stream)
            self.drawn = time.monotonic()

    def advance(self, nbytes: int, **kwargs: Any) -> None:
        with self.lock:
            if self.bar is not None and self.bar.bytes:
                self.bar.update(nbytes)

    def file_done(self, path: str, **kwargs: Any) -> None:
        with self.lock:
            bar = self.bar
            if bar is None:
                return
            bar.files_done += 1
            if not bar.bytes:
                bar.update(1)  # a files-only phase counts files
            elif time.monotonic() - self.drawn >= BAR_REFRESH:
                self.drawn = time.monotonic()
                bar.refresh()  # the files count, between the byte updates' redraws

    def note(self, text: str, **kwargs: Any) -> None:
        if not self.quiet:
            self.write_above(text, self.stream)

    def write_above(self, text: str, out: TextIO) -> None:
        """A line on `out` (the bar's stream or another one), the bar cleared first and drawn again after it."""
        with self.lock:
            if self.bar is not None:
                self.bar.clear()
            out.write(text + "\n")
            out.flush()
            if self.bar is not None:
                self.bar.refresh()

    def close(self, **kwargs: Any) -> None:
        with self.lock:
            self._finish()

    def _finish(self) -> None:
        if self.bar is not None:
            self.bar.close()  # leaves the phase's last line, with its average rate
            self.bar = None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


COLUMNS, ROWS = 80, 24  # the size of a terminal that does not tell it


def terminal_shape(stream: Any) -> tuple[int, int]:
    """The columns a bar may fill (one less than the terminal's: no line wraps) and the terminal's rows; a terminal
    that does not tell its size (a pty left at 0 x 0) counts as 80 x 24 (tqdm's own reading would draw nothing)."""
    cols = rows = 0
    try:
        cols, rows = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):  # no file descriptor (a test's stream), or not a terminal
        pass
    usable = (cols or COLUMNS) - 1
    return usable, rows or ROWS


_PHASE_BAR: Any = None


def _phase_bar_class() -> Any:
    """tqdm's bar with drmodel's fields: sizes and rates in binary units by drmodel.units.human, and the files."""
    global _PHASE_BAR
    if _PHASE_BAR is not None:
        return _PHASE_BAR
    from tqdm import tqdm

    class PhaseBar(tqdm):
        monitor_interval = 0  # no monitor thread: it tunes miniters, fixed at 1 here (a redraw every BAR_REFRESH)
        # fixed-width fields: the bar keeps its width as the numbers change
        BYTES = ("{desc:<6} {percentage:3.0f}%|{bar}| {done_h:>10}/{total_h} {rate_h:>12} ETA {remaining:>5} "
                 "files {files}")
        BYTES_NARROW = "{desc} {percentage:3.0f}% {done_h}/{total_h} {rate_h} ETA {remaining} files {files}"
        FILES = "{desc:<6} {percentage:3.0f}%|{bar}| files {files} ETA {remaining:>5}"
        MIN_BAR = 10  # columns: in a terminal too narrow for a bar this wide, the numbers only

        def __init__(self, name: str, *, total_bytes: int, total_files: int, file: TextIO) -> None:
            self.bytes = total_bytes > 0
            self.files_done, self.files_total = 0, total_files
            cols, rows = terminal_shape(file)
            super().__init__(desc=name, total=total_bytes if self.bytes else total_files, file=file, leave=True,
                             ncols=cols, nrows=rows, mininterval=BAR_REFRESH, miniters=1, smoothing=BAR_SMOOTHING,
                             bar_format=self.BYTES if self.bytes else self.FILES, unit="B" if self.bytes else "file")

        @property
        def format_dict(self) -> dict[str, Any]:
            self.ncols, self.nrows = terminal_shape(self.fp)  # at every redraw: the terminal may have been resized
            d = super().format_dict
            rate = d["rate"]
            if rate is None and d["elapsed"]:  # no moving average yet (or the final line): the average
                rate = (d["n"] - d["initial"]) / d["elapsed"]
            files = self.n if not self.bytes else self.files_done
            fields = {"done_h": human(self.n), "total_h": human(self.total),
                      "rate_h": f"{human(rate) if rate else '? B'}/s",
                      "files": f"{files:>{len(str(self.files_total))}}/{self.files_total}"}
            if self.bytes:
                widest = self.BYTES.replace("{bar}", "").format(
                    desc=self.desc, percentage=100.0, remaining="00:00", **fields | {"rate_h": "1023.9 MiB/s"})
                if self.ncols - len(widest) < self.MIN_BAR:
                    d["bar_format"] = self.BYTES_NARROW
            d.update(fields)
            return d

    _PHASE_BAR = PhaseBar
    return PhaseBar
