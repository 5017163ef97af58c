"""`drmodel check`: validate a model and say which checkpoint evaluation will load."""

from __future__ import annotations

import argparse

from drmodel.cli.options import JSON_HELP, access_of, eval_checkpoint_option, model_options
from drmodel.cli.streams import IO
from drmodel.errors import ExitCode

HELP = "validate a model and say which checkpoint evaluation will load (exit 5 on errors)"
EXAMPLE = "drmodel check s3://aws-deepracer-9a8b.../Apex-Hunter --profile friend"


def add_arguments(p: argparse.ArgumentParser) -> None:
    model_options(p)
    eval_checkpoint_option(p)
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel import api
    from drmodel.cli.render import check_json, dump_json, render_check

    report = api.check(args.model, profile=access_of(args), layout=args.layout, training_job=args.training_job,
                       eval_checkpoint=args.eval_checkpoint)
    if args.json:
        dump_json(check_json(report), io.out)
    else:
        render_check(report, io.out)
    return ExitCode.INVALID_MODEL if report.errors else ExitCode.OK
