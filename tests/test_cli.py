"""The command line itself: help with examples, usage errors, lazy imports."""

from __future__ import annotations

import os
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


def test_the_command_exits_fast_with_all_its_output_and_its_code(tmp_path):
    """`drmodel` leaves through os._exit (no interpreter teardown): stdout and stderr must still arrive whole,
    through a pipe or a file, with the command's exit code."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "model_metadata.json").write_text('{"action_space": [], "sensor": ["FRONT_FACING_CAMERA"]}')
    expected_code, expected_out, _ = cli("show", str(model), "--json")
    env = dict(os.environ)
    argv = [sys.executable, "-m", "drmodel.cli.main", "show", str(model), "--json"]
    piped = subprocess.run(argv, capture_output=True, text=True, env=env)
    assert expected_code == 0 and len(expected_out) > 500
    assert (piped.returncode, piped.stdout) == (expected_code, expected_out)
    with open(tmp_path / "out.txt", "w") as out, open(tmp_path / "err.txt", "w") as err:
        code = subprocess.run(argv, stdout=out, stderr=err, env=env).returncode
    assert (code, (tmp_path / "out.txt").read_text()) == (expected_code, expected_out)
    failed = subprocess.run([sys.executable, "-m", "drmodel.cli.main", "show", str(tmp_path / "nothing")],
                            capture_output=True, text=True, env=env)
    assert failed.returncode != 0 and failed.stderr.startswith("drmodel: error:") and failed.stderr.endswith("\n")


def test_a_run_builds_the_parser_of_its_command_only_and_help_lists_them_all():
    """Parsing builds the given command's arguments only; --help, no command and an unknown one see every command."""
    from drmodel.cli.main import EXAMPLES, build_parser, command_in

    assert command_in(["--quiet", "copy", "s3://a/ls", "x"]) == "copy"
    assert command_in(["--debug"]) is None and command_in(["nosuch", "ls"]) is None
    sub = next(a for a in build_parser(only="copy")._actions if a.dest == "command")
    assert list(sub.choices) == ["copy"]
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(EXAMPLES)
    code, out, _ = cli("--help")
    assert code == 0 and all(f"    {name} " in out for name in EXAMPLES)
    code, _, err = cli("nosuch")
    assert code == 2 and "invalid choice" in err and "'demo'" in err
    code, _, err = cli("--quiet", "copy")
    assert code == 2 and "drmodel copy: error: the following arguments are required: source, target" in err
