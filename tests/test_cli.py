"""The command line itself: help with examples, usage errors, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import cli

COMMANDS = ["ls", "show", "pull", "push", "copy", "verify", "diff", "check", "repair", "car", "droa", "policy", "restore", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    code, out, _ = cli(command, "--help")
    assert code == 0 and "example:" in out and f"drmodel {command}" in out


def test_no_command_prints_help_and_fails():
    code, out, _ = cli()
    assert code == 2 and "COMMAND" in out


def test_usage_errors_are_exit_2(tmp_path):
    code, _, err = cli("copy", "only-one-argument")
    assert code == 2 and "usage:" in err or code == 2
    code, _, err = cli("ls", "s3://Not_A_Bucket")
    assert code == 2 and "not a valid S3 bucket name" in err
    code, _, err = cli("show", "s3://aws-deepracer-x1/../escape")
    assert code == 2


def test_help_does_not_import_boto3():
    code = ("import sys; from drmodel.cli.main import main; main(['--help']); "
            "print('BOTO3', 'boto3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "BOTO3 False" in out


def test_version():
    code, out, _ = cli("--version")
    assert code == 0 and out.startswith("drmodel ")


def test_global_flags_work_after_the_command(tmp_path):
    code, _, err = cli("ls", str(tmp_path / "missing"), "--quiet", "--debug")
    assert code == 3 and "Traceback" in err
    code, _, err = cli("--quiet", "ls", str(tmp_path / "missing"))
    assert code == 3 and "Traceback" not in err
