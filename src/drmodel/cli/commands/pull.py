"""`drmodel pull`: download a model into a local folder or archive, with drmodel-manifest.json."""

from __future__ import annotations

import argparse

from drmodel.cli.options import access_of, checkpoint_options, model_options, write_options
from drmodel.cli.streams import IO
from drmodel.cli.transfer import plan_transfer, run_plan
from drmodel.errors import ExitCode

HELP = "download a model into a local folder (import layout) with drmodel-manifest.json"
EXAMPLE = "drmodel pull s3://aws-deepracer-6f1c.../Apex-Hunter ./Apex-Hunter --profile racer"


def add_arguments(p: argparse.ArgumentParser) -> None:
    model_options(p)
    p.add_argument("dir", help="the folder to write (or NAME.tar.gz: one bundle with the manifest inside)")
    checkpoint_options(p)
    write_options(p, target=False)


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    plan = plan_transfer("pull", args.model, args.dir, args, source_profile=access_of(args),
                         target_profile=None)
    return run_plan(plan, args, io)
