"""`drmodel push`: upload a local model folder or archive into a bucket or a DRoA deployment."""

from __future__ import annotations

import argparse

from drmodel.cli.options import LAYOUT_HELP, access_of, access_options, checkpoint_options, write_options
from drmodel.cli.streams import IO
from drmodel.cli.transfer import plan_transfer, run_plan
from drmodel.errors import ExitCode

HELP = "upload a local model folder into a bucket (replacing a placeholder, or --create)"
EXAMPLE = "drmodel push ./Apex-Hunter s3://aws-deepracer-9a8b.../Apex-Hunter --profile friend --dry-run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="the local model: a folder or an archive")
    p.add_argument("model", help="where it goes: s3://BUCKET/NAME, s3://BUCKET/PREFIX/ or droa://DEPLOYMENT/NAME")
    access_options(p)
    p.add_argument("--layout", help=LAYOUT_HELP)
    checkpoint_options(p)
    write_options(p)


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    plan = plan_transfer("push", args.dir, args.model, args, source_profile=None,
                         target_profile=access_of(args))
    return run_plan(plan, args, io)
