"""`drmodel restore`: undo a replace from the backup folder it saved."""

from __future__ import annotations

import argparse

from drmodel.cli.options import access_of, access_options, write_options
from drmodel.cli.streams import IO
from drmodel.cli.transfer import run_plan
from drmodel.errors import ExitCode

HELP = "undo a replace from the backup folder it saved"
EXAMPLE = "drmodel restore drmodel-backups/aws-deepracer-9a8b..._Apex-Hunter-20261128T101500Z --profile friend"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("backup", help="the backup folder a copy, push or repair named (with drmodel-backup.json)")
    access_options(p, profile_help="the AWS profile for the target (default: the profile the replace used; so for "
                   "--endpoint-url and --region)")
    write_options(p, target=False)


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel import api

    plan = api.plan_restore(args.backup, profile=access_of(args), backup_to=args.backup_to)
    return run_plan(plan, args, io)
