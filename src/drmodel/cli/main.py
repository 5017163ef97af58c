"""drmodel's entry point: argument parsing, the commands, and the one place that decides exit codes.

Imports of boto3 and the library happen inside the commands, so `drmodel --help` answers fast.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from typing import Any, NoReturn, TextIO

EXAMPLES = {
    "ls": "drmodel ls s3://aws-deepracer-6f1c3b2e-0a4d-4c8e-9b7f-2d5e8a1c9f30 --profile racer",
    "show": "drmodel show s3://aws-deepracer-6f1c.../Apex-Hunter --profile racer",
    "pull": "drmodel pull s3://aws-deepracer-6f1c.../Apex-Hunter ./Apex-Hunter --profile racer",
    "push": "drmodel push ./Apex-Hunter s3://aws-deepracer-9a8b.../Apex-Hunter --profile friend --dry-run",
    "copy": ("drmodel copy s3://aws-deepracer-6f1c.../Apex-Hunter s3://aws-deepracer-9a8b.../Apex-Hunter \\\n"
             "      --source-profile racer --target-profile friend"),
    "verify": ("drmodel verify s3://aws-deepracer-6f1c.../Apex-Hunter s3://aws-deepracer-9a8b.../Apex-Hunter \\\n"
               "      --source-profile racer --target-profile friend"),
    "check": "drmodel check s3://aws-deepracer-9a8b.../Apex-Hunter --profile friend",
    "diff": ("drmodel diff s3://aws-deepracer-6f1c.../Apex-Hunter s3://aws-deepracer-9a8b.../Apex-Hunter \\\n"
             "      --source-profile racer --target-profile friend"),
    "repair": "drmodel repair ./Apex-Hunter --from root --dry-run",
    "car": "drmodel car s3://aws-deepracer-6f1c.../Apex-Hunter Apex-Hunter-car.tar.gz --checkpoint best",
    "droa": "DRMODEL_DROA_PASSWORD_MINE=... drmodel droa login mine",
    "policy": ("drmodel policy --source s3://aws-deepracer-6f1c.../Apex-Hunter "
               "--target s3://aws-deepracer-9a8b.../Apex-Hunter"),
    "restore": "drmodel restore drmodel-backups/aws-deepracer-9a8b..._Apex-Hunter-20261128T101500Z --profile friend",
    "demo": "drmodel demo",
}

LAYOUT_HELP = "force a layout instead of detecting it (legacy, folder)"


COMMON = argparse.ArgumentParser(add_help=False)
COMMON.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                    help="show tracebacks and botocore's log")
COMMON.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS,
                    help="no progress bars or notes on stderr")


def _sub(subs: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    """A command; --debug and --quiet work before or after its name."""
    return subs.add_parser(name, help=help_text, description=help_text, epilog=f"example:\n  {EXAMPLES[name]}",
                           formatter_class=argparse.RawDescriptionHelpFormatter, parents=[COMMON])


class _NotBuilt:
    """The parser of a command this run does not give: its arguments are not built (see `build_parser`)."""

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        pass


def command_in(argv: list[str]) -> str | None:
    """The command argv names (the first word that is not a global flag), if it is one of drmodel's."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in EXAMPLES else None


def _model_options(p: argparse.ArgumentParser, positional: str = "model") -> None:
    """A model address and how to read it: credentials, forced layout, training job."""
    p.add_argument(positional)
    p.add_argument("--profile")
    p.add_argument("--layout", help=LAYOUT_HELP)
    p.add_argument("--training-job", metavar="JOB", help="choose among several training jobs of the model")


def _checkpoint_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default="both", metavar="best|last|both|all|N",
                   help="which checkpoints to copy (default both, as the console's import kept); narrowing rewrites "
                        ".coach_checkpoint and deepracer_checkpoints.json for what is kept")
    p.add_argument("--force", action="store_true", help="copy even when `drmodel check` finds errors")


def _write_options(p: argparse.ArgumentParser, *, target: bool = True) -> None:
    p.add_argument("--dry-run", action="store_true", help="show the plan and stop; nothing is written")
    p.add_argument("--yes", "-y", action="store_true", help="overwrite and delete without asking (required when "
                   "there is no terminal)")
    p.add_argument("--backup-to", metavar="DIR", help="where to save the target's replaced files "
                   "(default: ./drmodel-backups/<target>-<time>)")
    if target:
        p.add_argument("--create", action="store_true", help="create the model in the target when it has none "
                       "(a new training prefix DeepRacer-SageMaker-RoboMaker-comm-<account>-<UTC time>-<uuid4>)")
        p.add_argument("--account-id", help="the target account's id for a new training prefix (default: from STS, "
                       "else from the bucket's other training prefixes)")
        p.add_argument("--target-training-job", metavar="JOB", help="which of the target model's training "
                       "jobs to replace (a unique prefix of the job or its timestamp)")
        p.add_argument("--target-layout", help="force the target's layout (legacy, folder)")
        p.add_argument("--name", "--as", dest="name", help="the model's name in the target (default: the name in "
                       "the target address, else the source's); for DRoA, a new name when the first is taken")
        p.add_argument("--description", help="DRoA: the imported model's description")
        p.add_argument("--run-reward-function", action="store_true",
                       help="DRoA: also run DRoA's run-time reward check here before uploading (the reward function "
                       "is called on sample inputs and must return a float within +/-1e5), in a separate Python "
                       "process with a time limit and, on POSIX, a memory limit (Windows: time limit only). Without "
                       "it, drmodel never runs the model's code")
        p.add_argument("--allow-duplicate-name", action="store_true",
                       help="DRoA: import even when the deployment already has a model of that name (DRoA allows "
                       "it; the models are then addressed by id, droa://NAME/<modelId>)")
    p.add_argument("--verbose", "-v", action="store_true", help="list the files skipped as identical too")
    p.add_argument("--break-lock", action="store_true", help="take over the target's lock left by a run that died "
                   "on another machine")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """drmodel's parser; with `only`, the parser of that command alone (building all 14 took 2.45 ms of every
    start-up, one 0.42 ms: a run needs one; --help and an unknown command get them all)."""
    parser = argparse.ArgumentParser(
        prog="drmodel", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Move trained AWS DeepRacer models between AWS accounts and every place a model lives: "
                    "plan, back up, copy, verify.",
        epilog="examples:\n  " + "\n  ".join(EXAMPLES[k] for k in ("ls", "copy", "verify")) +
               "\n\nExit codes: 0 ok, 1 unexpected error, 2 usage, 3 not found, 4 access denied, 5 invalid model\n"
               "(check: errors found),"
               "6 ambiguous, 7 refused, 8 different/verification failed, 9 transfer failed, 10 locked, 130 interrupted.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and botocore's log")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars or notes on stderr")
    parser.add_argument("--version", action="store_true", help="print drmodel's version")
    real = parser.add_subparsers(dest="command", metavar="COMMAND")

    class subs:  # noqa: N801 - stands in for `real` in the calls below
        @staticmethod
        def add_parser(name: str, **kwargs: Any) -> Any:
            return real.add_parser(name, **kwargs) if only in (None, name) else _NotBuilt()

    p = _sub(subs, "ls", "list the models in a bucket or folder: name, training prefix, timestamp, checkpoints, size")
    p.add_argument("container")
    p.add_argument("--profile")
    p.add_argument("--layout", help=LAYOUT_HELP)
    p.add_argument("--json", action="store_true")

    p = _sub(subs, "show", "show one model: files, action space, sensors, algorithm, checkpoints")
    _model_options(p)
    p.add_argument("--json", action="store_true")

    p = _sub(subs, "pull", "download a model into a local folder (import layout) with drmodel-manifest.json")
    _model_options(p)
    p.add_argument("dir")
    _checkpoint_options(p)
    _write_options(p, target=False)

    p = _sub(subs, "push", "upload a local model folder into a bucket (replacing a placeholder, or --create)")
    p.add_argument("dir")
    p.add_argument("model")
    p.add_argument("--profile")
    p.add_argument("--layout", help=LAYOUT_HELP)
    _checkpoint_options(p)
    _write_options(p)

    p = _sub(subs, "copy", "copy a model between buckets, accounts or folders, streamed and verified")
    p.add_argument("source")
    p.add_argument("target")
    p.add_argument("--source-profile")
    p.add_argument("--target-profile")
    p.add_argument("--layout", help="force the source's layout")
    p.add_argument("--training-job", metavar="JOB", help="choose among several training jobs of the source model")
    p.add_argument("--relay", action="store_true", help="stream the bytes through this machine even when the "
                   "target's credentials can read the source (default: copy inside S3 then)")
    _checkpoint_options(p)
    _write_options(p)

    for name, text in (("verify", "compare two models file by file by sha256"),
                       ("diff", "compare two models and say whether the same weights will race, and if not why")):
        p = _sub(subs, name, text)
        p.add_argument("a")
        p.add_argument("b")
        p.add_argument("--source-profile", help="credentials for A")
        p.add_argument("--target-profile", help="credentials for B")
        p.add_argument("--layout", help="force A's layout")
        p.add_argument("--target-layout", help="force B's layout")
        p.add_argument("--training-job", metavar="JOB", help="A's training job")
        p.add_argument("--target-training-job", metavar="JOB", help="B's training job")
        if name == "diff":
            p.add_argument("--eval-checkpoint", choices=("best", "last"), default="best",
                           help="EVAL_CHECKPOINT evaluation uses (SimApp default best, DRfC default last)")
        p.add_argument("--json", action="store_true")

    p = _sub(subs, "check", "validate a model and say which checkpoint evaluation will load (exit 5 on errors)")
    _model_options(p)
    p.add_argument("--eval-checkpoint", choices=("best", "last"), default="best",
                   help="EVAL_CHECKPOINT evaluation uses (SimApp default best, DRfC default last)")
    p.add_argument("--json", action="store_true")

    p = _sub(subs, "repair", "fix what can be fixed without guessing (pointer files, model/model_metadata.json)")
    _model_options(p)
    p.add_argument("--from", dest="from_copy", choices=("root", "model"),
                   help="when the two model_metadata.json differ: which copy is right")
    _write_options(p, target=False)

    p = _sub(subs, "car", "write the physical car package: agent/model.pb of one checkpoint + model_metadata.json")
    _model_options(p)
    p.add_argument("out", help="the .tar.gz to write")
    p.add_argument("--checkpoint", default="best", metavar="best|last|N", help="which checkpoint (default best)")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.add_argument("--json", action="store_true")

    p = _sub(subs, "droa", "DeepRacer on AWS deployments: `drmodel droa login NAME` checks the config and password")
    p.add_argument("action", choices=("login",))
    p.add_argument("deployment", help="a [droa.NAME] section of drmodel's config file")

    p = _sub(subs, "policy", "print the least-privilege IAM policies each account needs for a copy")
    p.add_argument("--source", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--source-profile", help="read the source to narrow the policy to its training prefix")
    p.add_argument("--target-profile", help="read the target to narrow the policy to its training prefix")
    p.add_argument("--layout", help="force the source's layout")
    p.add_argument("--target-layout", help="force the target's layout")
    p.add_argument("--target-account", help="the target account id, for the optional bucket policy")

    p = _sub(subs, "restore", "undo a replace from the backup folder it saved")
    p.add_argument("backup")
    p.add_argument("--profile", help="credentials for the target (default: the profile used by the replace)")
    _write_options(p, target=False)

    p = _sub(subs, "demo", "run the main job on an embedded local S3 (SeaweedFS with two accounts)")
    p.add_argument("--droa", action="store_true", help="the DeepRacer on AWS demo: two local stand-in deployments")
    p.add_argument("--scale", type=float, default=0.1, help="checkpoint sizes relative to a real model (0.1)")
    p.add_argument("--workdir", help="keep the demo's files here (default: a temporary folder)")
    return parser


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


def _droa_options(args: argparse.Namespace) -> Any:
    if not (getattr(args, "run_reward_function", False) or getattr(args, "allow_duplicate_name", False)):
        return None
    from drmodel.droa.transfer import DroaPushOptions

    return DroaPushOptions(run_reward_function=args.run_reward_function,
                           allow_duplicate_name=args.allow_duplicate_name)


def run_transfer(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    from drmodel import api
    from drmodel.cli.render import Bar, dump_json, human, render_plan
    from drmodel.execute import restore_command, store_spec

    if args.command == "restore":
        plan = api.plan_restore(args.backup, profile=args.profile, backup_to=args.backup_to)
    elif args.command == "repair":
        plan = api.plan_repair(args.model, profile=args.profile, layout=args.layout, training_job=args.training_job,
                               from_copy=args.from_copy, backup_to=args.backup_to)
    else:
        src, dst = ((args.model, args.dir) if args.command == "pull" else (args.dir, args.model)
                    if args.command == "push" else (args.source, args.target))
        plan = api.plan_transfer(
            args.command, src, dst,
            source_profile=getattr(args, "source_profile", None) or (args.profile if args.command == "pull" else None),
            target_profile=getattr(args, "target_profile", None) or (args.profile if args.command == "push" else None),
            layout=args.layout, target_layout=getattr(args, "target_layout", None),
            training_job=getattr(args, "training_job", None),
            target_training_job=getattr(args, "target_training_job", None), create=getattr(args, "create", False),
            account_id=getattr(args, "account_id", None), name=getattr(args, "name", None), backup_to=args.backup_to,
            checkpoint=args.checkpoint, force=args.force, description=getattr(args, "description", None),
            relay=getattr(args, "relay", False), droa_options=_droa_options(args))
    if not args.json or args.dry_run:
        render_plan(plan, err if args.json else out, dry_run=args.dry_run, verbose=args.verbose)
    if args.dry_run:
        if args.json:
            dump_json({"plan": [vars(a) | {"data": None} for a in plan.actions], "details": plan.details}, out)
        return 0
    if not plan.writes and not plan.by_op("delete"):
        if plan.details.get("lock_key"):
            api.execute(plan, Bar(err, quiet=args.quiet), break_lock=args.break_lock)  # lock check, stale lock cleared
        out.write("Nothing to do: " + ("nothing can be repaired without guessing.\n" if plan.kind == "repair" else
                                       "the target already holds every file, verified by checksum.\n"))
        return 0
    confirm_or_refuse(plan, args, stdin, err)
    result = api.execute(plan, Bar(err, quiet=args.quiet), break_lock=args.break_lock)
    mb = plan.bytes_to_write / 1e6
    if args.json and "droa" not in plan.details:
        dump_json({"written": result.written, "deleted": result.deleted, "skipped": result.skipped,
                   "backup": result.backup, "seconds": result.seconds, "target": plan.target_address}, out)
        return 0
    out.write(f"Done: {len(result.written)} files written and verified by sha256 ({human(plan.bytes_to_write)} in "
              f"{result.seconds:.1f} s, {mb / max(result.seconds, 1e-6):.0f} MB/s), {len(result.skipped)} skipped, "
              f"{len(result.deleted)} stale files deleted" +
              (f", {result.retries} requests retried.\n" if result.retries else ".\n"))
    if "droa" in plan.details:
        from drmodel.droa.transfer import finish_import

        done = finish_import(plan, Bar(err, quiet=args.quiet, enabled=False))
        out.write(f"Imported {done['name']} into droa://{plan.details['droa']['deployment']}: model id "
                  f"{done['modelId']}, status {done['status']}.\n")
    if result.backup:
        out.write(f"Backup: {result.backup}\n  undo with: {restore_command(result.backup, store_spec(plan.target_store))}\n")
    return 0


def run_command(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    from drmodel.cli import views

    if args.command in ("pull", "push", "copy", "restore", "repair"):
        return run_transfer(args, out, err, stdin)
    if args.command == "demo":
        # The one place outside drmodel.testing that imports it: the demo runs on its stand-ins
        from drmodel.testing.demo import run_demo, run_droa_demo

        if args.droa:
            return run_droa_demo(main, out, scale=args.scale, workdir=args.workdir)
        return run_demo(main, out, err, scale=args.scale, workdir=args.workdir, quiet=args.quiet)
    return views.run(args, out)


def main(argv: list[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None,
         stdin: TextIO | None = None) -> int:
    out, err, stdin = out or sys.stdout, err or sys.stderr, stdin or sys.stdin
    parser = build_parser(only=command_in(sys.argv[1:] if argv is None else argv))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.version:
        from drmodel import __version__

        out.write(f"drmodel {__version__}\n")
        return 0
    if not args.command:
        parser.print_help(out)
        return 2
    from drmodel.redact import RedactingFormatter, redact

    if args.debug:
        import logging

        handler = logging.StreamHandler(err)
        handler.setFormatter(RedactingFormatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logging.basicConfig(level=logging.DEBUG, handlers=[handler], force=True)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    from drmodel.errors import DrmodelError, ExitCode

    try:
        return run_command(args, out, err, stdin)
    except DrmodelError as exc:
        if args.debug:
            err.write(redact(traceback.format_exc()))
        err.write(redact(f"drmodel: error: {exc.line()}\n"))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        err.write("drmodel: interrupted - nothing more was written; rerun the same command to resume\n")
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # a bug: one line unless --debug
        if args.debug:
            err.write(redact(traceback.format_exc()))
        err.write(redact(f"drmodel: unexpected error: {exc.__class__.__name__}: {exc} - rerun with --debug and "
                         "report it\n"))
        return int(ExitCode.ERROR)


def run() -> NoReturn:
    """The `drmodel` command."""
    sys.exit(main())


if __name__ == "__main__":
    run()
