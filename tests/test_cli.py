"""The command line itself: help with examples, usage errors, lazy imports."""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from drmodel.errors import ExitCode
from helpers import cli, rows_for, write_folder, write_report

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "src" / "drmodel" / "cli"

COMMAND_NAMES = ["ls", "show", "pull", "push", "copy", "verify", "diff", "check", "repair", "car", "droa", "policy",
                 "batch", "restore", "demo"]


@pytest.mark.parametrize("command", COMMAND_NAMES)
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
            "print('BOTO3', 'boto3' in sys.modules, 'botocore' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "BOTO3 False False" in out


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
    from drmodel.cli.commands import COMMANDS
    from drmodel.cli.main import build_parser, command_in

    assert command_in(["--quiet", "copy", "s3://a/ls", "x"]) == "copy"
    assert command_in(["--debug"]) is None and command_in(["nosuch", "ls"]) is None
    assert command_in(["--help", "copy"]) is None and command_in(["copy", "--help"]) == "copy"
    sub = next(a for a in build_parser(only="copy")._actions if a.dest == "command")
    assert list(sub.choices) == ["copy"] and list(build_parser(only="copy").commands) == ["copy"]
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS) == sorted(build_parser().commands)
    code, out, _ = cli("--help")
    assert code == 0 and all(f"    {name} " in out for name in COMMANDS)
    code, _, err = cli("nosuch")
    assert code == 2 and "invalid choice" in err and "'demo'" in err
    code, _, err = cli("--quiet", "copy")
    assert code == 2 and "drmodel copy: error: the following arguments are required: source, target" in err


def test_a_run_imports_the_module_of_its_command_only():
    code = ("import sys; from drmodel.cli.main import main; main(['copy', '--help']); "
            "print('LOADED', sorted(m for m in sys.modules if m.startswith('drmodel.cli.commands.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "LOADED ['drmodel.cli.commands.copy']" in out


def test_the_command_table_is_the_set_of_command_modules():
    """One registry: every module in cli/commands/ is in COMMANDS under its own name, and nothing else is; each has
    a one-line HELP, an EXAMPLE of itself, add_arguments and run."""
    from drmodel.cli.commands import COMMANDS, load

    modules = {p.stem for p in (CLI / "commands").glob("*.py") if p.stem != "__init__"}
    assert set(COMMANDS) == modules == set(COMMAND_NAMES)
    for name, path in COMMANDS.items():
        assert path == f"drmodel.cli.commands.{name}"
        module = load(name)
        assert isinstance(module.HELP, str) and module.HELP and "\n" not in module.HELP
        assert module.EXAMPLE.split("drmodel ", 1)[1].startswith(f"{name}"), name
        assert callable(module.add_arguments) and callable(module.run)


def _parsers():
    from drmodel.cli.main import build_parser

    parser = build_parser()
    return [("drmodel", parser)] + list(parser.commands.items())


def test_every_parser_refuses_abbreviations_and_documents_every_argument():
    for name, parser in _parsers():
        assert parser.allow_abbrev is False, name
        for action in parser._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)


def test_an_abbreviated_option_is_refused_with_the_commands_usage():
    code, _, err = cli("copy", "s3://aws-deepracer-a/M", "s3://aws-deepracer-b/M", "--source-prof", "racer", "--yes")
    assert code == 2 and "drmodel copy: error: unrecognized arguments: --source-prof racer" in err
    assert err.startswith("usage: drmodel copy ")
    code, _, err = cli("--vers")
    assert code == 2 and "drmodel: error: unrecognized arguments: --vers" in err


def test_a_usage_error_shows_the_usage_of_its_command():
    code, _, err = cli("verify", "only-a")
    assert code == 2 and err.startswith("usage: drmodel verify ") and "drmodel verify: error:" in err
    code, _, err = cli("diff", "a", "b", "--eval-checkpoint")  # any value is one (as in the SimApp), none is not
    assert code == 2 and err.startswith("usage: drmodel diff ") and "expected one argument" in err


def test_layout_help_lists_the_layouts_that_exist():
    from drmodel.cli.options import LAYOUT_NAMES
    from drmodel.layouts import LAYOUTS

    assert LAYOUT_NAMES == tuple(LAYOUTS)
    seen = 0
    for name, parser in _parsers():
        for action in parser._actions:
            if action.dest in ("layout", "target_layout"):
                seen += 1
                assert all(layout in action.help for layout in LAYOUTS), (name, action.help)
    assert seen >= 15


def test_every_command_has_a_json_option():
    with_json = {name for name, parser in _parsers() if any(a.dest == "json" for a in parser._actions)}
    assert with_json == set(COMMAND_NAMES)


def test_the_help_lists_every_exit_code_from_the_enum():
    code, out, _ = cli("--help")
    listed = dict(re.findall(r"^  (\d+) +(.+)$", out.split("\nexit codes:\n", 1)[1], re.M))
    assert {int(k): v for k, v in listed.items()} == {c.value: c.meaning for c in ExitCode}
    assert all(c.meaning for c in ExitCode)


def test_the_readme_exit_code_table_matches_the_enum():
    section = (ROOT / "README.md").read_text().split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    codes = [int(c) for c in re.findall(r"^\| (\d+) \|", section, re.M)]
    assert codes == sorted(c.value for c in ExitCode)


def test_the_cli_returns_no_bare_exit_numbers():
    """Every `return` in cli/ that returns a number returns an ExitCode member; every command's run says so."""
    for path in CLI.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Return) and node.value is not None:
                for sub in ast.walk(node.value):
                    bare = isinstance(sub, ast.Constant) and type(sub.value) is int
                    cast = isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "int"
                    assert not (bare or cast), f"{path.relative_to(CLI)}:{node.lineno}"
            if path.parent.name == "commands" and isinstance(node, ast.FunctionDef) and node.name == "run":
                assert ast.unparse(node.returns) == "ExitCode", path.name


def test_every_command_returns_an_exit_code(tmp_path, monkeypatch):
    """Each command's run, driven through `main` on local folders (DRoA and the demo's servers stood in for),
    returns an ExitCode member, and so does main."""
    import drmodel.droa.transfer
    import drmodel.testing.demo
    from drmodel.cli.commands import COMMANDS, load
    from drmodel.testing.synth import legacy_prefix, synth_model

    returned: dict[str, list] = {}
    for name in COMMANDS:
        module = load(name)

        def spy(args, io, real=module.run, name=name):
            returned.setdefault(name, []).append(code := real(args, io))
            return code
        monkeypatch.setattr(module, "run", spy)
    monkeypatch.setattr(drmodel.testing.demo, "run_demo", lambda *a, **k: 0)
    monkeypatch.setattr(drmodel.testing.demo, "run_droa_demo", lambda *a, **k: 1)
    client = SimpleNamespace(list_models=lambda: [], region="us-east-1",
                             dep=SimpleNamespace(site="https://example.org/", username="racer"))
    monkeypatch.setattr(drmodel.droa.transfer, "client_for", lambda name: client)
    prefix = legacy_prefix("123456789012", "20200427103015", "4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17")
    files = synth_model("Apex-Hunter", bucket="aws-deepracer-x", prefix=prefix, timestamp="20200427103015",
                        scale=0.002)
    src = str(write_folder(tmp_path / "models" / "Apex-Hunter", files))
    reward = b"def reward_function(params):\n    return 2.0\n"
    other = str(write_folder(tmp_path / "other", files | {"reward_function.py": reward}))
    dst, pulled = str(tmp_path / "dst"), str(tmp_path / "pulled")
    ok, different = ExitCode.OK, ExitCode.DIFFERENT
    runs = [(ok, "ls", str(tmp_path / "models")), (ok, "show", src), (ok, "check", src), (ok, "pull", src, pulled),
            (ok, "push", pulled, str(tmp_path / "pushed"), "--checkpoint", "all"),
            (ok, "copy", src, dst, "--checkpoint", "all"), (ok, "verify", src, dst), (different, "verify", src, other),
            (ok, "diff", src, other), (ok, "repair", dst, "--dry-run"), (ok, "car", src, str(tmp_path / "car.tar.gz")),
            (ok, "droa", "login", "mine"), (ok, "demo"), (ExitCode.ERROR, "demo", "--droa"),
            (ok, "policy", "--source", "s3://aws-deepracer-a/Apex-Hunter", "--target", "s3://aws-deepracer-b/M"),
            (ok, "batch", "--verify-report", str(write_report(tmp_path / "report", rows_for("b", ["k"])))),
            (ok, "copy", other, dst, "--yes", "--backup-to", str(tmp_path / "bk"))]
    for expected, *argv in runs:
        code, out, err = cli(*argv)
        assert type(code) is ExitCode and code == expected, (argv, out, err)
    backup = re.search(r"^Backup: (.+)$", out, re.M)
    assert backup, out
    code, out, err = cli("restore", backup[1], "--yes", "--backup-to", str(tmp_path / "bk2"))
    assert type(code) is ExitCode and code == ok, (out, err)
    assert set(returned) == set(COMMANDS)
    assert all(type(code) is ExitCode for codes in returned.values() for code in codes), returned
    assert returned["verify"] == [ok, different] and returned["demo"] == [ok, ExitCode.ERROR]
    for argv in (["--help"], [], ["--version"], ["copy"], ["ls", str(tmp_path / "nothing")]):
        assert type(cli(*argv)[0]) is ExitCode


def test_the_cli_stays_small():
    """Every function in cli/ under 60 lines, every module under 500."""
    for path in CLI.rglob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) < 500, path.name
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno + 1 < 60, f"{path.relative_to(CLI)}:{node.name}"
