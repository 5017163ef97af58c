"""`drmodel copy`: a model from any place to any other, across accounts, inside S3 or streamed."""

from __future__ import annotations

import argparse

from drmodel.cli.options import access_of, checkpoint_options, layout_help, two_sided_access_options, write_options
from drmodel.cli.streams import IO
from drmodel.cli.transfer import plan_transfer, run_plan
from drmodel.errors import ExitCode

HELP = "copy a model between buckets, accounts or folders, streamed and verified"
EXAMPLE = ("drmodel copy s3://aws-deepracer-6f1c.../Apex-Hunter s3://aws-deepracer-9a8b.../Apex-Hunter \\\n"
           "      --source-profile racer --target-profile friend")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="the model to copy (any address `drmodel show` takes)")
    p.add_argument("target", help="where it goes: s3://BUCKET/NAME, s3://BUCKET/PREFIX/, a folder, "
                   "NAME.tar.gz or droa://DEPLOYMENT/NAME")
    two_sided_access_options(p)
    p.add_argument("--layout", help=layout_help("the source's"))
    p.add_argument("--training-job", metavar="JOB", help="choose among several training jobs of the source model")
    p.add_argument("--relay", action="store_true", help="stream the bytes through this machine even when the "
                   "target's credentials can read the source (default: copy inside S3 then)")
    p.add_argument("--grant-read", action="store_true", help="with the source owner's credentials, add a "
                   "temporary, expiring statement to the source bucket's policy that lets the target read exactly "
                   "the model's keys, copy inside S3 with the target's credentials, then remove it and check the "
                   "policy is as it was; with --all/--only, one grant for the whole batch (README: \"A temporary, "
                   "expiring read grant\")")
    p.add_argument("--grant-to", metavar="ACCOUNT_OR_ARN", help="the principal --grant-read lets read: an account "
                   "id or an IAM user or role ARN (default: the target credentials' account, from STS)")
    checkpoint_options(p)
    write_options(p)
    many = p.add_argument_group("many models at once (SOURCE and TARGET are containers: a bucket, a DRfC bucket or "
                                "prefix, a folder of models or archives, droa://DEPLOYMENT)")
    which = many.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="copy every model of SOURCE into TARGET, each to its own "
                       "place, named as TARGET's layout expects (a rerun skips what verifies, finishes the rest)")
    which.add_argument("--only", nargs="+", metavar="PATTERN", help="copy the models whose names match one of these "
                       "shell patterns (e.g. 'Apex-*' Slowpoke)")
    many.add_argument("--parallel-models", type=int, default=4, metavar="N", help="models in flight at once, sharing "
                      "one connection pool and one memory budget per side (default 4)")
    many.add_argument("--archives", action="store_true", help="into a local folder: each model as NAME.tar.gz")
    many.add_argument("--report", metavar="FILE", help="where the batch's JSON report goes (default "
                      "./drmodel-reports/copy-<UTC time>.json)")


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    if args.all or args.only:
        from drmodel.cli.batch import run_batch

        one_model = [flag for flag, value in (("--name", args.name), ("--training-job", args.training_job),
                                              ("--target-training-job", args.target_training_job)) if value]
        if one_model:
            from drmodel.errors import UsageError

            raise UsageError(f"{' and '.join(one_model)} {'goes' if len(one_model) == 1 else 'go'} with one model, "
                             "not with --all or --only", fix="copy that model alone, or drop "
                             + ("it" if len(one_model) == 1 else "them"))

        return run_batch(args, io, source_access=access_of(args, "source"), target_access=access_of(args, "target"))
    if args.archives or args.report:
        from drmodel.errors import UsageError

        raise UsageError("--archives and --report go with --all or --only", fix="add --all, or drop them")
    plan = plan_transfer("copy", args.source, args.target, args, source_profile=access_of(args, "source"),
                         target_profile=access_of(args, "target"))
    return run_plan(plan, args, io)
