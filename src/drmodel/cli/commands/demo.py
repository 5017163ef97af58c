"""`drmodel demo`: the main job on an embedded local S3, or the DeepRacer on AWS demo on local stand-ins."""

from __future__ import annotations

import argparse

from drmodel.cli.streams import IO
from drmodel.errors import ExitCode

HELP = "run the main job on an embedded local S3 (SeaweedFS with two accounts)"
EXAMPLE = "drmodel demo"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--droa", action="store_true", help="the DeepRacer on AWS demo: two local stand-in deployments")
    p.add_argument("--scale", type=float, default=0.1, help="checkpoint sizes relative to a real model (0.1)")
    p.add_argument("--workdir", help="keep the demo's files here (default: a temporary folder)")


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    # The one place outside drmodel.testing that imports it: the demo runs on its stand-ins, and drives drmodel
    # through the `main` passed in (drmodel.testing never imports the CLI).
    from drmodel.cli.main import main
    from drmodel.testing.demo import run_demo, run_droa_demo

    if args.droa:
        return ExitCode(run_droa_demo(main, io.out, scale=args.scale, workdir=args.workdir))
    return ExitCode(run_demo(main, io.out, io.err, scale=args.scale, workdir=args.workdir, quiet=args.quiet))
