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
    p.add_argument("--json", action="store_true", help="tell the demo on stderr, and print the commands it ran with "
                   "their exit codes as JSON")


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    # The one place outside drmodel.testing that imports it: the demo runs on its stand-ins, and drives drmodel
    # through the `main` passed in (drmodel.testing never imports the CLI).
    import shlex

    from drmodel.cli.main import main
    from drmodel.testing.demo import run_demo, run_droa_demo

    steps: list[dict[str, object]] = []

    def recorded(argv: list[str], **kwargs: object) -> ExitCode:
        code = main(argv, **kwargs)  # type: ignore[arg-type]  # the demo passes out= and err= streams
        steps.append({"command": shlex.join(["drmodel", *argv]), "exit_code": code.value})
        return code

    cli, out = (recorded, io.err) if args.json else (main, io.out)
    if args.droa:
        code = ExitCode(run_droa_demo(cli, out, scale=args.scale, workdir=args.workdir))
    else:
        code = ExitCode(run_demo(cli, out, io.err, scale=args.scale, workdir=args.workdir, quiet=args.quiet))
    if args.json:
        from drmodel.cli.render import dump_json

        dump_json({"demo": "droa" if args.droa else "s3", "ok": code == ExitCode.OK, "steps": steps}, io.out)
    return code
