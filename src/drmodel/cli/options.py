"""Argument groups several commands share: --debug/--quiet, a model's address, checkpoints, writing.

Kept free of the library's imports: `drmodel --help` builds every command's parser.
"""

from __future__ import annotations

import argparse
from typing import Any

# The names of drmodel.layouts.LAYOUTS, written out so that `--help` does not import the layouts (test_cli checks
# that the two agree).
LAYOUT_NAMES = ("legacy", "prefix", "export", "folder")
LAYOUT_LIST = ", ".join(LAYOUT_NAMES)
LAYOUT_HELP = f"force a layout instead of detecting it ({LAYOUT_LIST})"
TARGET_LAYOUT_HELP = f"force the target's layout ({LAYOUT_LIST}; exports are read-only)"
MODEL_HELP = ("the model: s3://BUCKET/NAME, s3://BUCKET/PREFIX/, a console export, a folder, an archive or "
              "droa://DEPLOYMENT/NAME")
PROFILE_HELP = "the AWS profile to use (default: the AWS environment variables and default chain)"
ENDPOINT_HELP = "the S3 endpoint (MinIO, SeaweedFS, ...); overrides the profile's endpoint_url"
REGION_HELP = "the AWS region; overrides the profile's region"
JSON_HELP = "print the result as JSON (docs/json.md lists each command's keys)"


def layout_help(whose: str) -> str:
    """The help of a --layout that forces one side's layout, e.g. "the source's"."""
    return f"force {whose} layout ({LAYOUT_LIST})"


COMMON = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
COMMON.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                    help="show tracebacks and botocore's log")
COMMON.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS,
                    help="no progress bars or notes on stderr")


def profile_names(**kwargs: Any) -> list[str]:
    """The profiles of the AWS config files, for shell completion of --profile (argcomplete calls it)."""
    import botocore.session

    return list(botocore.session.Session().available_profiles)


def access_options(p: argparse.ArgumentParser, *, profile_help: str = PROFILE_HELP) -> None:
    """How a one-sided command reaches S3: --profile, --endpoint-url, --region (as the AWS CLI has them)."""
    action = p.add_argument("--profile", help=profile_help)
    action.completer = profile_names  # type: ignore[attr-defined]  # argcomplete's hook
    p.add_argument("--endpoint-url", metavar="URL", help=ENDPOINT_HELP)
    p.add_argument("--region", help=REGION_HELP)


def two_sided_access_options(p: argparse.ArgumentParser, source: str = "the source", target: str = "the target"
                             ) -> None:
    """How a two-sided command reaches S3: the plain forms mean both sides, --source-*/--target-* one side."""
    profiles = [
        p.add_argument("--profile", help="the AWS profile for both sides (default: the AWS environment variables and "
                       "default chain); --source-profile and --target-profile override it per side"),
        p.add_argument("--source-profile", metavar="PROFILE", help=f"the AWS profile for {source}"),
        p.add_argument("--target-profile", metavar="PROFILE", help=f"the AWS profile for {target}")]
    for action in profiles:
        action.completer = profile_names  # type: ignore[attr-defined]  # argcomplete's hook
    p.add_argument("--endpoint-url", metavar="URL", help=f"{ENDPOINT_HELP}, on both sides")
    p.add_argument("--source-endpoint-url", metavar="URL", help=f"the S3 endpoint of {source}")
    p.add_argument("--target-endpoint-url", metavar="URL", help=f"the S3 endpoint of {target}")
    p.add_argument("--region", help=f"{REGION_HELP}, on both sides")
    p.add_argument("--source-region", metavar="REGION", help=f"the AWS region of {source}")
    p.add_argument("--target-region", metavar="REGION", help=f"the AWS region of {target}")


def access_of(args: argparse.Namespace, side: str | None = None) -> Any:
    """The drmodel.access.Access of one side ("source", "target"; None: a one-sided command): each of --profile,
    --endpoint-url and --region from the side's own flag, else the plain one."""
    from drmodel.access import Access

    def pick(name: str) -> str | None:
        own = getattr(args, f"{side}_{name}", None) if side else None
        return own or getattr(args, name, None)

    return Access(pick("profile"), pick("endpoint_url"), pick("region"))


def model_options(p: argparse.ArgumentParser, positional: str = "model") -> None:
    """A model address and how to read it: credentials, forced layout, training job."""
    p.add_argument(positional, help=MODEL_HELP)
    access_options(p)
    p.add_argument("--layout", help=LAYOUT_HELP)
    p.add_argument("--training-job", metavar="JOB", help="choose among several training jobs of the model")


def pair_options(p: argparse.ArgumentParser) -> None:
    """Two models A and B to compare, each with its credentials, layout and training job."""
    p.add_argument("a", help="model A (any address `drmodel show` takes)")
    p.add_argument("b", help="model B (any address `drmodel show` takes)")
    two_sided_access_options(p, "A", "B")
    p.add_argument("--layout", help=layout_help("A's"))
    p.add_argument("--target-layout", help=layout_help("B's"))
    p.add_argument("--training-job", metavar="JOB", help="A's training job")
    p.add_argument("--target-training-job", metavar="JOB", help="B's training job")


def pair_of(args: argparse.Namespace) -> dict[str, Any]:
    """How to open models A and B, from `pair_options`' flags: the keyword arguments of api.verify and api.diff."""
    return {"a_profile": access_of(args, "source"), "b_profile": access_of(args, "target"),
            "layout": args.layout, "b_layout": args.target_layout, "training_job": args.training_job,
            "b_training_job": args.target_training_job}


def eval_checkpoint_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--eval-checkpoint", metavar="VALUE", default="best",
                   help="EVAL_CHECKPOINT evaluation uses (SimApp default best, DRfC default last; as in the SimApp, "
                        "best in any case means best, any other value last)")


def checkpoint_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default="both", metavar="best|last|both|all|N",
                   help="which checkpoints to copy (default both, as the console's import kept); narrowing rewrites "
                        ".coach_checkpoint and deepracer_checkpoints.json for what is kept")
    p.add_argument("--force", action="store_true", help="copy even when `drmodel check` finds errors")


def write_options(p: argparse.ArgumentParser, *, target: bool = True) -> None:
    """The options of every command that writes; with `target`, those of a command that may create the model."""
    p.add_argument("--dry-run", action="store_true", help="show the plan and stop; nothing is written")
    p.add_argument("--yes", "-y", action="store_true", help="overwrite and delete without asking (required when "
                   "there is no terminal)")
    p.add_argument("--backup-to", metavar="DIR", help="where to save the target's replaced files "
                   "(default: ./drmodel-backups/<target>-<time>)")
    if target:
        _target_options(p)
    p.add_argument("--verbose", "-v", action="store_true", help="list the files skipped as identical too")
    p.add_argument("--break-lock", action="store_true", help="take over the target's lock left by a run that died "
                   "on another machine")
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def _target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--create", action="store_true", help="create the model in the target when it has none "
                   "(a new training prefix DeepRacer-SageMaker-RoboMaker-comm-<account>-<UTC time>-<uuid4>)")
    p.add_argument("--account-id", help="the target account's id for a new training prefix (default: from STS, "
                   "else from the bucket's other training prefixes)")
    p.add_argument("--target-training-job", metavar="JOB", help="which of the target model's training "
                   "jobs to replace (a unique prefix of the job or its timestamp)")
    p.add_argument("--target-layout", help=TARGET_LAYOUT_HELP)
    p.add_argument("--name", "--as", dest="name", help="the model's name in the target (default: the name in "
                   "the target address, else the source's); for DRoA, a new name when the first is taken")
    p.add_argument("--description", help="DRoA: the imported model's description")
    p.add_argument("--run-reward-function", action="store_true",
                   help="DRoA: also run DRoA's run-time reward check here before uploading (the reward function "
                   "is called on sample inputs and must return a float within +/-1e5), in a separate Python "
                   "process with a time limit and, on POSIX, a memory limit (Windows: time limit only). Without "
                   "it, drmodel never runs the model's code")
    p.add_argument("--allow-duplicate-name", action="store_true",
                   help="DRoA: import even when the deployment already has a model of that name (DRoA allows "
                   "it; the models are then addressed by id, droa://NAME/<modelId>)")
