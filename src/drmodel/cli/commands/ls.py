"""`drmodel ls`: the models in a bucket, a prefix, a folder or a DRoA deployment."""

from __future__ import annotations

import argparse

from drmodel.cli.options import JSON_HELP, LAYOUT_HELP, access_of, access_options
from drmodel.cli.streams import IO
from drmodel.errors import ExitCode

HELP = "list the models in a bucket or folder: name, training prefix, timestamp, checkpoints, size"
EXAMPLE = "drmodel ls s3://aws-deepracer-6f1c3b2e-0a4d-4c8e-9b7f-2d5e8a1c9f30 --profile racer"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", help="where to look: s3://BUCKET, s3://BUCKET/PREFIX/, a folder or droa://DEPLOYMENT")
    access_options(p)
    p.add_argument("--layout", help=LAYOUT_HELP)
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel import api
    from drmodel.cli.render import dump_json, human, table
    from drmodel.units import plural

    rows = api.list_models(args.container, profile=access_of(args), layout=args.layout)
    if args.json:
        dump_json([vars(r) for r in rows], io.out)
        return ExitCode.OK
    if not rows:
        io.out.write(f"No models in {args.container}.\n")
        return ExitCode.OK
    kinds = ", ".join(sorted({r.layout for r in rows}))
    io.out.write(f"{plural(len(rows), 'model')} in {args.container} ({kinds} layout)\n")
    droa = all(r.layout == "droa" for r in rows)
    header = ["NAME", "MODEL ID", "CREATED", "CHECKPOINTS", "STATUS"] if droa else [
        "NAME", "TRAINING PREFIX", "TIMESTAMP", "CHECKPOINTS", "SIZE"]
    table([header] + [
        [r.name, r.details.get("training_prefix") or "-", r.details.get("training_timestamp") or "-",
         str(r.checkpoints) if r.layout != "droa" else "-",
         human(r.size) if r.layout != "droa" else r.details.get("status") or "-"] for r in rows], io.out)
    return ExitCode.OK
