"""Text rendering of library results. Data goes to stdout; progress and notes go to stderr."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

from drmodel.progress import Progress
from drmodel.units import plural


def human(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def table(rows: list[list[str]], out: TextIO) -> None:
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")


def dump_json(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, indent=2, default=lambda o: sorted(o) if isinstance(o, set) else str(o)) + "\n")


OP_WORDS = {"create": "upload", "overwrite": "OVERWRITE", "skip": "skip (identical)", "delete": "DELETE"}


def render_plan(plan: Any, out: TextIO, *, dry_run: bool, verbose: bool = False) -> None:
    verb = "Would" if dry_run else "Will"
    tgt = plan.details.get("target", {})
    src = plan.details.get("source", {})
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
    if plan.backup_root:
        out.write(f"{verb} first back up the {plural(counts['overwrite'] + counts['delete'], 'replaced file')} to "
                  f"{plan.backup_root}\n")
    if plan.details.get("transfer"):
        out.write(f"Bytes: {plan.details['transfer']}\n")
    if plan.details.get("checkpoints"):
        out.write(f"Checkpoints: {plan.details['checkpoints']}\n")
    if plan.details.get("racing"):
        out.write(f"In the target, evaluation will load: {plan.details['racing']}\n")
    for note in plan.notes:
        out.write(f"  {note}\n")


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


class Bar(Progress):
    """A one-line progress bar on stderr: phase, bytes, rate, files. Silent when quiet or not a terminal."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.enabled = not quiet and (self.stream.isatty() if enabled is None else enabled)
        self.lock = threading.Lock()
        self.name, self.total, self.done, self.files, self.files_done = "", 0, 0, 0, 0
        self.started = self.last = time.monotonic()

    def phase(self, name: str, *, total_bytes: int = 0, total_files: int = 0, **kwargs: Any) -> None:
        with self.lock:
            self._end_line()
            self.name, self.total, self.files = name, total_bytes, total_files
            self.done = self.files_done = 0
            self.started = time.monotonic()
            self._draw(force=True)

    def advance(self, nbytes: int, **kwargs: Any) -> None:
        with self.lock:
            self.done += nbytes
            self._draw()

    def file_done(self, path: str, **kwargs: Any) -> None:
        with self.lock:
            self.files_done += 1
            self._draw(force=True)

    def note(self, text: str, **kwargs: Any) -> None:
        if self.quiet:
            return
        with self.lock:
            self._end_line()
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self, **kwargs: Any) -> None:
        with self.lock:
            self._end_line()

    def _end_line(self) -> None:
        if self.enabled and self.name:
            self._draw(force=True)
            self.stream.write("\n")
            self.name = ""

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or not self.name or (not force and now - self.last < 0.1):
            return
        self.last = now
        rate = self.done / max(now - self.started, 1e-6)
        pct = f"{100 * self.done / self.total:5.1f}%" if self.total else "      "
        self.stream.write(f"\r{self.name:<7} {pct} {human(self.done):>10} / {human(self.total):<10} "
                          f"{human(int(rate))}/s  files {self.files_done}/{self.files}\x1b[K")
        self.stream.flush()
