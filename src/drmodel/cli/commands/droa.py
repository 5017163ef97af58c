"""`drmodel droa`: DeepRacer on AWS deployments (`login` checks a deployment's config and password)."""

from __future__ import annotations

import argparse

from drmodel.cli.options import JSON_HELP
from drmodel.cli.streams import IO
from drmodel.errors import ExitCode

HELP = "DeepRacer on AWS deployments: `drmodel droa login NAME` checks the config and password"
EXAMPLE = "DRMODEL_DROA_PASSWORD_MINE=... drmodel droa login mine"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("login",), help="login: sign in and list the deployment's models")
    p.add_argument("deployment", help="a [droa.NAME] section of drmodel's config file")
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel.droa.transfer import client_for
    from drmodel.units import plural

    client = client_for(args.deployment)
    models = client.list_models()
    if args.json:
        from drmodel.cli.render import dump_json

        dump_json({"deployment": args.deployment, "site": client.dep.site, "username": client.dep.username,
                   "region": client.region, "models": len(models)}, io.out)
        return ExitCode.OK
    io.out.write(f"Logged in to DRoA deployment {args.deployment} ({client.dep.site}) as {client.dep.username}: "
                 f"{plural(len(models), 'model')}, region {client.region}.\n")
    return ExitCode.OK
