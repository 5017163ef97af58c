"""`drmodel show`: one model's files, action space, sensors, network, algorithm and checkpoints."""

from __future__ import annotations

import argparse

from drmodel.cli.options import JSON_HELP, access_of, model_options
from drmodel.cli.streams import IO
from drmodel.errors import ExitCode

HELP = "show one model: files, action space, sensors, algorithm, checkpoints"
EXAMPLE = "drmodel show s3://aws-deepracer-6f1c.../Apex-Hunter --profile racer"


def add_arguments(p: argparse.ArgumentParser) -> None:
    model_options(p)
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel import api
    from drmodel.cli.render import dump_json, human, table
    from drmodel.units import plural

    info = api.show(args.model, profile=access_of(args), layout=args.layout, training_job=args.training_job)
    if args.json:
        dump_json(info, io.out)
        return ExitCode.OK
    m, ck, out = info["metadata"], info["checkpoints"], io.out
    out.write(f"{info['name']}  ({info['layout']} layout)  {info['address']}\n")
    if info["details"].get("training_prefix"):
        out.write(f"  training job:  {info['details']['training_prefix']}\n")
    out.write(f"  action space:  {m['action_space']}\n  sensors:       {', '.join(m['sensor'])}\n"
              f"  network:       {m['neural_network']}\n  algorithm:     {m['training_algorithm']}\n"
              f"  checkpoints:   best {ck['best'] or '-'}, last {ck['last'] or '-'}, "
              f".coach_checkpoint {ck['coach_checkpoint'] or '-'}, iterations "
              f"{', '.join(map(str, ck['iterations'])) or '-'}\n")
    if info["evaluation_metadata_copy"]:
        out.write(f"  model/model_metadata.json: {info['evaluation_metadata_copy']}\n")
    out.write(f"  {plural(len(info['files']), 'file')}, {human(info['size'])}:\n")
    table([[human(f["size"]).rjust(10), f["path"], f["role"]] for f in info["files"]], out)
    return ExitCode.OK
