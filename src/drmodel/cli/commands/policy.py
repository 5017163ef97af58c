"""`drmodel policy`: the least-privilege IAM policies each account needs for a copy."""

from __future__ import annotations

import argparse

from drmodel.cli.options import access_of, layout_help, two_sided_access_options
from drmodel.cli.streams import IO
from drmodel.errors import ExitCode

HELP = "print the least-privilege IAM policies each account needs for a copy (JSON)"
EXAMPLE = ("drmodel policy --source s3://aws-deepracer-6f1c.../Apex-Hunter "
           "--target s3://aws-deepracer-9a8b.../Apex-Hunter")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, help="the model the copy reads")
    p.add_argument("--target", required=True, help="the model the copy writes")
    two_sided_access_options(p)  # given for a side, that side is read to narrow its policy to its training prefix
    p.add_argument("--layout", help=layout_help("the source's"))
    p.add_argument("--target-layout", help=layout_help("the target's"))
    p.add_argument("--target-account", help="the target account id, for the optional bucket policy")
    p.add_argument("--grant-read", action="store_true", help="also print what each side needs for the grant "
                   "path: a temporary, expiring statement in the source bucket's policy lets the target read the "
                   "model's keys during the copy")
    p.add_argument("--json", action="store_true", help="the output is JSON with or without it (accepted, as by every "
                   "command)")


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel.cli.render import dump_json
    from drmodel.policy import policies

    doc = policies(args.source, args.target, source_profile=access_of(args, "source"),
                   target_profile=access_of(args, "target"), layout=args.layout, target_layout=args.target_layout,
                   target_account=args.target_account, grant_read=args.grant_read)
    dump_json(doc, io.out)
    return ExitCode.OK
