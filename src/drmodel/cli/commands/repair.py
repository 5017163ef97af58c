"""`drmodel repair`: fix what needs no guess, through the same plan, backup and --dry-run as a copy."""

from __future__ import annotations

import argparse

from drmodel.cli.options import access_of, model_options, write_options
from drmodel.cli.streams import IO
from drmodel.cli.transfer import run_plan
from drmodel.errors import ExitCode

HELP = "fix what can be fixed without guessing (pointer files, model/model_metadata.json)"
EXAMPLE = "drmodel repair ./Apex-Hunter --from root --dry-run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    model_options(p)
    p.add_argument("--from", dest="from_copy", choices=("root", "model"),
                   help="when the two model_metadata.json differ: which copy is right")
    write_options(p, target=False)


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel import api

    plan = api.plan_repair(args.model, profile=access_of(args), layout=args.layout, training_job=args.training_job,
                           from_copy=args.from_copy, backup_to=args.backup_to)
    return run_plan(plan, args, io)
