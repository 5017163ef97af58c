"""What the writing commands (pull, push, copy, repair, restore) share once they have a plan: render it, ask,
execute it, and summarise what was done."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from drmodel.cli.streams import IO
from drmodel.errors import ExitCode


def plan_transfer(kind: str, source: str, target: str, args: argparse.Namespace, *, source_profile: str | None,
                  target_profile: str | None) -> Any:
    """The plan of a pull, push or copy from the command's arguments (each command has its own subset)."""
    from drmodel import api

    return api.plan_transfer(
        kind, source, target, source_profile=source_profile, target_profile=target_profile,
        layout=args.layout, target_layout=getattr(args, "target_layout", None),
        training_job=getattr(args, "training_job", None),
        target_training_job=getattr(args, "target_training_job", None), create=getattr(args, "create", False),
        account_id=getattr(args, "account_id", None), name=getattr(args, "name", None), backup_to=args.backup_to,
        checkpoint=args.checkpoint, force=args.force, description=getattr(args, "description", None),
        relay=getattr(args, "relay", False), droa_options=_droa_options(args),
        grant_read=getattr(args, "grant_read", False), grant_to=getattr(args, "grant_to", None))


def _droa_options(args: argparse.Namespace) -> Any:
    """DRoA's push options, when any was given (None: the defaults)."""
    if not (getattr(args, "run_reward_function", False) or getattr(args, "allow_duplicate_name", False)):
        return None
    from drmodel.droa.transfer import DroaPushOptions

    return DroaPushOptions(run_reward_function=args.run_reward_function,
                           allow_duplicate_name=args.allow_duplicate_name)


def confirm_or_refuse(plan: Any, args: argparse.Namespace, stdin: TextIO, err: TextIO) -> None:
    from drmodel.errors import RefusedError

    if not plan.destructive or args.yes:
        return
    if stdin.isatty():
        err.write("This overwrites or deletes files in the target (a backup is taken first). Proceed? [y/N] ")
        err.flush()
        if stdin.readline().strip().lower() in ("y", "yes"):
            return
        raise RefusedError("nothing was changed: you answered no", fix="rerun when ready")
    raise RefusedError("refusing to overwrite or delete without confirmation (no terminal to ask)",
                       fix="check the plan above, then rerun with --yes (or --dry-run to only show it)")


def run_plan(plan: Any, args: argparse.Namespace, io: IO) -> ExitCode:
    """Show the plan (or only print it with --dry-run), ask when it overwrites or deletes, run it, summarise."""
    from drmodel import api
    from drmodel.cli.jsonout import transfer_json
    from drmodel.cli.render import Bar, dump_json, render_plan

    # with --json the plan goes to stderr when it is what --dry-run shows, or what a refusal or a question refers to
    if not args.json or args.dry_run or (plan.destructive and not args.yes):
        render_plan(plan, io.err if args.json else io.out, dry_run=args.dry_run, verbose=args.verbose)
    if args.dry_run:
        if args.json:
            dump_json(transfer_json(plan, dry_run=True), io.out)
        return ExitCode.OK
    if not plan.writes and not plan.by_op("delete"):
        result = None
        if plan.lock:  # lock check, stale lock cleared
            result = api.execute(plan, Bar(io.err, quiet=args.quiet), break_lock=args.break_lock)
        if args.json:
            dump_json(transfer_json(plan, result), io.out)
            return ExitCode.OK
        io.out.write("Nothing to do: " + ("nothing can be repaired without guessing.\n" if plan.kind == "repair" else
                                          "the target already holds every file, verified by checksum.\n"))
        return ExitCode.OK
    confirm_or_refuse(plan, args, io.stdin, io.err)
    result = api.execute(plan, Bar(io.err, quiet=args.quiet), break_lock=args.break_lock)
    if args.json:
        dump_json(transfer_json(plan, result), io.out)
        return ExitCode.OK
    summarise(plan, result, args, io)
    return ExitCode.OK


def summarise(plan: Any, result: Any, args: argparse.Namespace, io: IO) -> None:
    """What was written, the DRoA import's outcome (execute ran it), and where the backup is with its undo command."""
    from drmodel.backup import restore_command, store_spec
    from drmodel.cli.render import human
    from drmodel.units import by_count, plural

    rate = plan.bytes_to_write / max(result.seconds, 1e-6)
    proofs = by_count(result.proofs.values())
    io.out.write(f"Done: {plural(len(result.written), 'file')} written and verified ({proofs + '; ' if proofs else ''}"
                 f"{human(plan.bytes_to_write)} in {result.seconds:.1f} s, {human(rate)}/s), "
                 f"{len(result.skipped)} skipped, {plural(len(result.deleted), 'stale file')} deleted" +
                 (f", {plural(result.retries, 'request')} retried.\n" if result.retries else ".\n"))
    if plan.droa is not None and result.imported is not None:
        done = result.imported
        io.out.write(f"Imported {done['name']} into droa://{plan.droa.deployment}: model id "
                     f"{done['modelId']}, status {done['status']}.\n")
    if result.backup:
        io.out.write(f"Backup: {result.backup}\n  undo with: "
                     f"{restore_command(result.backup, store_spec(plan.target_store))}\n")
    if result.grant is not None and result.grant.removal is not None:
        io.out.write("\n".join(result.grant.removal.lines())
                     + f"\n  the policy before the grant is saved in {result.grant.record}\n")
