"""`drmodel car`: the physical car package of one checkpoint."""

from __future__ import annotations

import argparse

from drmodel.cli.options import JSON_HELP, access_of, model_options
from drmodel.cli.streams import IO
from drmodel.errors import ExitCode

HELP = "write the physical car package: agent/model.pb of one checkpoint + model_metadata.json"
EXAMPLE = "drmodel car s3://aws-deepracer-6f1c.../Apex-Hunter Apex-Hunter-car.tar.gz --checkpoint best"


def add_arguments(p: argparse.ArgumentParser) -> None:
    model_options(p)
    p.add_argument("out", help="the .tar.gz to write")
    p.add_argument("--checkpoint", default="best", metavar="best|last|N", help="which checkpoint (default best)")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel import api
    from drmodel.cli.render import dump_json, human

    pkg = api.car(args.model, args.out, profile=access_of(args), layout=args.layout, training_job=args.training_job,
                  checkpoint=args.checkpoint, overwrite=args.force)
    if args.json:
        dump_json(vars(pkg), io.out)
        return ExitCode.OK
    for note in pkg.notes:
        io.out.write(f"  note: {note}\n")
    io.out.write(f"Wrote {pkg.path} ({human(pkg.size)}): agent/model.pb from {pkg.pb_source} "
                 f"(checkpoint {pkg.checkpoint}, sha256 {pkg.pb_sha256}) and model_metadata.json\n")
    return ExitCode.OK
