"""`drmodel copy CONTAINER CONTAINER --all | --only PATTERN...`: plan every model, show one table, ask once, run the
models (several at once), print each one's outcome as it ends, then the account, the report file and the exit
code (ExitCode.SOME_FAILED when some models failed and the others are done)."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from drmodel.cli.streams import IO
from drmodel.errors import ExitCode
from drmodel.progress import Progress


def run_batch(args: argparse.Namespace, io: IO, *, source_access: Any, target_access: Any) -> ExitCode:
    from drmodel import api
    from drmodel.cli.render import Bar, dump_json
    from drmodel.cli.transfer import confirm_or_refuse

    batch = api.plan_batch(api.BatchRequest(
        source=api.ModelRef(args.source, source_access, args.layout),
        target=api.ModelRef(args.target, target_access, args.target_layout),
        only=tuple(args.only or ()), archives=args.archives, checkpoint=args.checkpoint, force=args.force,
        relay=args.relay, backup_to=args.backup_to, account_id=args.account_id, parallel=args.parallel_models,
        grant_read=args.grant_read, grant_to=args.grant_to))
    if not args.json or args.dry_run or (batch.destructive and not args.yes):
        render_batch_plan(batch, io.err if args.json else io.out, dry_run=args.dry_run)
    if args.dry_run:
        if args.json:
            dump_json(batch_json(batch, None, dry_run=True), io.out)
        return ExitCode.OK
    if not batch.entries:
        if args.json:
            dump_json(batch_json(batch, None), io.out)
        return ExitCode.OK if not batch.unmatched else ExitCode.NOT_FOUND
    confirm_or_refuse(batch, args, io.stdin, io.err)
    bar = Bar(io.err, quiet=args.quiet)
    bar.phase("write", total_bytes=batch.bytes_to_write, total_files=sum(len(p.writes) for p in batch.plans))

    def done(outcome: Any) -> None:
        if args.quiet and outcome.status != "failed":
            return
        if args.json:
            bar.note(outcome_line(outcome))  # stderr: stdout is the JSON document
        else:
            bar.write_above(outcome_line(outcome), io.out)

    result = api.execute_batch(batch, lambda entry: ModelProgress(bar, entry.name), break_lock=args.break_lock,
                               on_done=done, on_note=bar.note)
    bar.close()
    doc = batch_json(batch, result)
    report = write_report(doc, args.report)
    doc["report"] = str(report)
    if args.json:
        dump_json(doc, io.out)
    else:
        io.out.write(summary_line(result) + "\n" + "".join(line + "\n" for line in grant_lines(result))
                     + f"Report: {report}\n")
    return result.exit_code


def grant_lines(result: Any) -> list[str]:
    """What the batch's read grant came to (--grant-read): its removal's proof and where the policy is saved, or
    why it could not be removed."""
    out = []
    if result.grant is not None and result.grant.removal is not None:
        out += result.grant.removal.lines() + [f"  the policy before the grant is saved in {result.grant.record}"]
    if result.grant_problem:
        out.append(f"Grant: {result.grant_problem}")
    return out


class ModelProgress(Progress):
    """One model's progress into the batch's one bar: its write phase's bytes and files; its notes, named."""

    def __init__(self, bar: Any, name: str) -> None:
        self.bar, self.name, self.current = bar, name, ""

    def phase(self, name: str, **kwargs: Any) -> None:
        self.current = name

    def advance(self, nbytes: int, **kwargs: Any) -> None:
        if self.current == "write":
            self.bar.advance(nbytes)

    def file_done(self, path: str, **kwargs: Any) -> None:
        if self.current == "write":
            self.bar.file_done(path)

    def note(self, text: str, **kwargs: Any) -> None:
        self.bar.note(f"{self.name}: {text}")


# -- the plan -----------------------------------------------------------------------------------------------
def plan_action(entry: Any) -> str:
    """What the batch will do to one model, in a few words."""
    plan = entry.plan
    if plan is None:
        return "refused"
    overwrite, delete = len(plan.by_op("overwrite")), len(plan.by_op("delete"))
    if not plan.writes and not delete:
        return "up to date"
    if not plan.target_exists:
        return "new"
    conflicts = [f"{overwrite} overwritten" if overwrite else "", f"{delete} deleted" if delete else ""]
    return "update" + (f" ({', '.join(c for c in conflicts if c)})" if overwrite or delete else "")


def render_batch_plan(batch: Any, out: TextIO, *, dry_run: bool) -> None:
    from drmodel.cli.render import table
    from drmodel.units import human, plural

    verb = "Would" if dry_run else "Will"
    out.write(f"Plan: copy {plural(len(batch.entries), 'model')} {batch.source_address} -> "
              f"{batch.target_address} ({batch.parallel} at a time)\n")
    rows = [["MODEL", "ACTION", "TO WRITE", "RACES", "TARGET"]]
    for e in batch.entries:
        p = e.plan
        rows.append([e.name, plan_action(e), human(p.bytes_to_write) if p else "-",
                     (p.racing or "-") if p else "-", e.target_address if p else f"{e.problem} - {e.fix}"])
    if len(rows) > 1:
        table(rows, out)
    for pattern in batch.unmatched:
        out.write(f"  --only {pattern!r} matched no model\n")
    plans = batch.plans
    how = sorted({p.transfer for p in plans if p.transfer and p.writes})
    backups = sum(1 for p in plans if p.destructive)
    refused = len(batch.entries) - len(plans)
    out.write(f"{verb} write {human(batch.bytes_to_write)} into "
              f"{plural(sum(1 for p in plans if p.writes or p.by_op('delete')), 'model')}"
              + (f" ({'; '.join(how)})" if how else "")
              + (f"; {plural(backups, 'model')} overwritten or pruned, each backed up first" if backups else "")
              + (f"; {refused} refused (see the reason on its line)" if refused else "") + ".\n")
    if batch.grant is not None:
        from drmodel.cli.render import render_grant

        render_grant(batch.grant, f"a new folder {batch.grant_folder}", out)
        out.write("  one grant for the whole batch: added before the first model starts, removed after the last one "
                  "ends\n")
    elif batch.grant_sweep is not None:
        out.write("  --grant-read: no grant needed (nothing to copy, or the target's credentials read the source "
                  "already); a grant a dead run of this batch left is removed\n")


# -- the account ------------------------------------------------------------------------------------------------
def outcome_line(o: Any) -> str:
    from drmodel.units import by_count, human, plural

    if o.result is not None:
        r, plan = o.result, o.entry.plan
        if o.status == "up to date":
            return f"  ok    {o.entry.name}: up to date (every file verified by checksum)"
        proofs = by_count(r.proofs.values())
        return (f"  ok    {o.entry.name}: {plural(len(r.written), 'file')} written and verified"
                f"{' (' + proofs + ')' if proofs else ''}, {human(plan.bytes_to_write)} in {o.seconds:.1f} s"
                + (f", {plural(len(r.deleted), 'stale file')} deleted" if r.deleted else "")
                + (f"; backup: {r.backup}" if r.backup else ""))
    label = {"failed": "FAILED", "interrupted": "STOPPED", "not started": "SKIPPED"}.get(o.status, o.status)
    return f"  {label:<5} {o.entry.name}: {o.problem}" + (f" - {o.fix}" if o.fix else "")


def summary_line(result: Any) -> str:
    from drmodel.units import human, plural

    parts = [f"{result.count(s)} {s}" for s in ("copied", "up to date", "failed", "interrupted", "not started")
             if result.count(s)]
    copied = [o for o in result.outcomes if o.status == "copied" and o.entry.plan]
    written = sum(o.entry.plan.bytes_to_write for o in copied)
    # a model stopped part-way says on its own line what it wrote; the total counts completed models only
    what = (f"{human(written)} written by the {plural(len(copied), 'model')} copied" if copied
            else "no model completed" if any(o.status in ("interrupted", "failed") for o in result.outcomes)
            else "nothing to write")
    return (f"Done: {', '.join(parts) or 'nothing'} of {plural(len(result.outcomes), 'model')} "
            f"({what}, {result.seconds:.1f} s).")


def batch_json(batch: Any, result: Any, *, dry_run: bool = False) -> dict[str, Any]:
    """The batch's --json document and report file (docs/json.md)."""
    from drmodel.backup import restore_command, store_spec

    outcomes = {id(o.entry): o for o in result.outcomes} if result is not None else {}
    models = []
    for e in batch.entries:
        o, p = outcomes.get(id(e)), e.plan
        r = o.result if o is not None else None
        models.append({
            "name": e.name, "source": e.source_address, "target": e.target_address, "action": plan_action(e),
            "status": o.status if o is not None else None, "bytes_to_write": p.bytes_to_write if p else 0,
            "racing": p.racing if p else None, "transfer": p.transfer if p else None,
            "written": len(r.written) if r else 0, "proofs": dict(Counter(r.proofs.values())) if r else {},
            "deleted": len(r.deleted) if r else 0, "backup": str(r.backup) if r and r.backup else None,
            "undo": restore_command(r.backup, store_spec(p.target_store)) if r and r.backup and p else None,
            "seconds": round(o.seconds, 3) if o else 0.0,
            "problem": (o.problem if o else e.problem), "fix": (o.fix if o else e.fix),
            "exit_code": (o.exit_code if o else e.exit_code)})
    code = result.exit_code.value if result is not None else ExitCode.OK.value
    seconds = round(result.seconds, 3) if result is not None else 0.0
    from drmodel.cli.jsonout import grant_json

    return {"kind": "copy-batch", "source": batch.source_address, "target": batch.target_address,
            "dry_run": dry_run, "parallel": batch.parallel, "unmatched": list(batch.unmatched), "models": models,
            "counts": {s: result.count(s) for s in ("copied", "up to date", "failed", "interrupted", "not started")}
            if result is not None else None,
            "seconds": seconds, "exit_code": code, "details": batch.summary(),
            "grant": grant_json(result.grant, result.grant_swept) if result is not None else None,
            "grant_problem": result.grant_problem if result is not None else None}


def write_report(doc: dict[str, Any], wanted: str | None) -> Path:
    """The report file: --report PATH (replaced if it exists), else ./drmodel-reports/copy-<UTC time>.json."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(wanted).expanduser() if wanted else Path("drmodel-reports") / f"copy-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path.absolute()
