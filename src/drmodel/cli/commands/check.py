"""`drmodel check`: validate a model and say which checkpoint evaluation will load."""

from __future__ import annotations

import argparse

from drmodel.cli.options import JSON_HELP, access_of, eval_checkpoint_option, model_options
from drmodel.cli.streams import IO
from drmodel.errors import ExitCode

HELP = ("validate a model and say which checkpoint evaluation will load (exit 5 on errors); given a bucket or folder "
        "of models, every model (exit 12 when some have errors)")
EXAMPLE = "drmodel check s3://aws-deepracer-9a8b.../Apex-Hunter --profile friend"


def add_arguments(p: argparse.ArgumentParser) -> None:
    model_options(p)
    eval_checkpoint_option(p)
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel import api
    from drmodel.cli.render import check_json, dump_json, render_check

    if args.training_job is not None:  # one model's training job
        report = api.check(args.model, profile=access_of(args), layout=args.layout, training_job=args.training_job,
                           eval_checkpoint=args.eval_checkpoint)
    else:  # a model, or a bucket, folder or deployment (every model in it): its layout detected once
        place = api.open_place(args.model, profile=access_of(args), layout=args.layout)
        if isinstance(place, api.Container):
            from drmodel.cli.containers import check_all

            return check_all(place, args, io)
        report = api.check_model(place, eval_checkpoint=args.eval_checkpoint)
    if args.json:
        dump_json(check_json(report), io.out)
    else:
        render_check(report, io.out)
    return ExitCode.INVALID_MODEL if report.errors else ExitCode.OK
