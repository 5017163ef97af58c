"""Conventions users expect (issue 19), each driven through the CLI as a user runs it: --profile, --endpoint-url and
--region as in the AWS CLI, per side; --json everywhere with a documented shape; a misspelt profile; instance
roles; platform folders; shell completion; the plan behind a --json refusal; singular and plural."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from drmodel.errors import ExitCode
from helpers import cli, rows_for, write_folder, write_report

ROOT = Path(__file__).resolve().parents[1]
AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID",
           "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
           "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")
KEYS = {"racer": "AKIATESTRACER0000000", "friend": "AKIATESTFRIEND000000"}
SOURCE, TARGET = "s3://aws-deepracer-aaaa1111/Apex-Hunter", "s3://aws-deepracer-bbbb2222/Apex-Hunter"


# -- a loopback S3 that records who asked, in which region, and answers NoSuchBucket ----------------------------
class _Recorder(http.server.ThreadingHTTPServer):
    seen: list[tuple[str, str, str]]  # (bucket, access key, signing region) of every request

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Recorder
    NO_BUCKET = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code>'
                 b"<Message>The specified bucket does not exist</Message></Error>")

    def answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        signed = re.search(r"Credential=([^/]+)/\d{8}/([^/]+)/s3/", self.headers.get("Authorization", ""))
        bucket = self.path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        self.server.seen.append((bucket, *(signed.groups() if signed else ("", ""))))
        self.send_response(404)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(self.NO_BUCKET)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(self.NO_BUCKET)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def s3s() -> Iterator[SimpleNamespace]:
    """Recording S3 endpoints on loopback: `profile` (the one the profiles name), `a`, `b`, `c` and `d`. One run
    each: a run that fails may leave reads in flight (they land after it returns)."""
    servers = {}
    for name in ("profile", "a", "b", "c", "d"):
        server = _Recorder(("127.0.0.1", 0), _Handler)
        server.seen = []
        # a short poll: shutdown() below waits for the loop to notice (0.5 s by default, per server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers[name] = server
    yield SimpleNamespace(**servers)
    for server in servers.values():
        server.shutdown()
        server.server_close()


@pytest.fixture
def profiles(s3s: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Profiles `racer` and `friend` (region us-east-1, endpoint_url the `profile` recorder), nothing else."""
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    config, credentials = tmp_path / "aws-config", tmp_path / "aws-credentials"
    config.write_text("".join(f"[profile {name}]\nregion = us-east-1\nendpoint_url = {s3s.profile.url}\n"
                              "s3 =\n    addressing_style = path\n\n" for name in KEYS))
    credentials.write_text("".join(f"[{name}]\naws_access_key_id = {key}\naws_secret_access_key = x\n\n"
                                   for name, key in KEYS.items()))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    return config


# -- 1, 2: --profile, --endpoint-url, --region --------------------------------------------------------------------
def test_endpoint_url_and_region_override_the_profiles(s3s, profiles):
    bucket = "s3://aws-deepracer-aaaa1111"
    for extra in (["--endpoint-url", s3s.a.url], ["--region", "eu-west-3"],
                  ["--endpoint-url", s3s.b.url, "--region", "ap-east-1"]):
        code, _, err = cli("ls", bucket, "--profile", "racer", *extra)
        assert code == ExitCode.NOT_FOUND and "does not exist" in err, err
    assert set(s3s.a.seen) == {("aws-deepracer-aaaa1111", KEYS["racer"], "us-east-1")}  # the profile's region
    assert set(s3s.profile.seen) == {("aws-deepracer-aaaa1111", KEYS["racer"], "eu-west-3")}  # its endpoint
    assert set(s3s.b.seen) == {("aws-deepracer-aaaa1111", KEYS["racer"], "ap-east-1")}
    code, _, err = cli("ls", bucket, "--profile", "racer", "--endpoint-url", "localhost:9000")
    assert code == ExitCode.USAGE and "the S3 endpoint 'localhost:9000' is not a URL - give http(s)://" in err, err


def test_the_plain_forms_mean_both_sides_and_the_side_forms_override_them(s3s, profiles):
    """copy looks at both sides (the target while the source is opened): each side's requests show its key,
    endpoint and region."""
    code, _, err = cli("copy", SOURCE, TARGET, "--profile", "racer", "--endpoint-url", s3s.a.url,
                       "--target-endpoint-url", s3s.b.url, "--target-region", "eu-west-3", "--yes")
    assert code == ExitCode.NOT_FOUND, err
    assert set(s3s.a.seen) == {("aws-deepracer-aaaa1111", KEYS["racer"], "us-east-1")}
    assert set(s3s.b.seen) == {("aws-deepracer-bbbb2222", KEYS["racer"], "eu-west-3")}
    code, _, err = cli("copy", SOURCE, TARGET, "--profile", "racer", "--target-profile", "friend",
                       "--source-endpoint-url", s3s.c.url, "--target-endpoint-url", s3s.d.url, "--region",
                       "ap-south-1", "--source-region", "us-west-2", "--yes")
    assert code == ExitCode.NOT_FOUND, err
    assert set(s3s.c.seen) == {("aws-deepracer-aaaa1111", KEYS["racer"], "us-west-2")}
    assert set(s3s.d.seen) == {("aws-deepracer-bbbb2222", KEYS["friend"], "ap-south-1")}
    assert not s3s.profile.seen


@pytest.mark.parametrize("command", ["verify", "diff"])
def test_verify_and_diff_read_a_as_the_source_side(s3s, profiles, command):
    code, _, err = cli(command, SOURCE, TARGET, "--profile", "friend", "--source-profile", "racer",
                       "--source-endpoint-url", s3s.a.url, "--source-region", "eu-north-1")
    assert code == ExitCode.NOT_FOUND, err
    assert set(s3s.a.seen) == {("aws-deepracer-aaaa1111", KEYS["racer"], "eu-north-1")}


def test_policy_reads_both_sides_with_the_plain_profile(s3s, profiles):
    code, out, err = cli("policy", "--source", SOURCE, "--target", TARGET, "--profile", "friend",
                         "--source-endpoint-url", s3s.a.url, "--target-endpoint-url", s3s.b.url)
    assert code == ExitCode.OK, err
    assert {key for _, key, _ in s3s.a.seen} == {key for _, key, _ in s3s.b.seen} == {KEYS["friend"]}
    assert json.loads(out)["source_account_policy"]["Statement"]


def test_every_command_that_reaches_s3_takes_the_access_options():
    from drmodel.cli.main import build_parser

    parsers = build_parser().commands
    one = {"--profile", "--endpoint-url", "--region"}
    two = one | {f"--{side}-{opt}" for side in ("source", "target") for opt in ("profile", "endpoint-url", "region")}
    for name in ("ls", "show", "pull", "push", "check", "repair", "car", "restore"):
        assert one <= set(parsers[name]._option_string_actions), name
    for name in ("copy", "verify", "diff", "policy"):
        assert two <= set(parsers[name]._option_string_actions), name
        assert "both sides" in parsers[name]._option_string_actions["--profile"].help


def test_the_library_takes_an_access_wherever_it_takes_a_profile(s3s, profiles):
    from drmodel import api
    from drmodel.access import Access
    from drmodel.errors import NotFoundError

    with pytest.raises(NotFoundError):
        api.list_models("s3://aws-deepracer-aaaa1111", profile=Access("friend", s3s.a.url, "sa-east-1"))
    with pytest.raises(NotFoundError):
        api.list_models("s3://aws-deepracer-aaaa1111", profile="racer")  # a name, as before
    assert set(s3s.a.seen) == {("aws-deepracer-aaaa1111", KEYS["friend"], "sa-east-1")}
    assert {key for _, key, _ in s3s.profile.seen} == {KEYS["racer"]}


# -- 4: a misspelt profile ---------------------------------------------------------------------------------------
def test_a_misspelt_profile_names_the_profiles_that_exist_and_the_files_read(s3s, profiles, monkeypatch):
    code, out, err = cli("ls", "s3://aws-deepracer-aaaa1111", "--profile", "racr")
    assert code == ExitCode.USAGE and not out and err.count("\n") == 1, err
    assert "profile 'racr' does not exist" in err and "closest first: racer, friend" in err
    assert str(profiles) in err and os.environ["AWS_SHARED_CREDENTIALS_FILE"] in err
    code, _, err = cli("diff", SOURCE, TARGET, "--profile", "racer", "--source-profile", "frend")
    assert code == ExitCode.USAGE and "profile 'frend' does not exist" in err and "first: friend, racer" in err
    monkeypatch.setenv("AWS_PROFILE", "fiend")
    code, _, err = cli("show", SOURCE)
    assert code == ExitCode.USAGE and "profile 'fiend' (from $AWS_PROFILE) does not exist" in err, err
    assert not s3s.profile.seen  # nothing was asked of any server


def test_a_profile_with_no_config_file_at_all_says_so(tmp_path, monkeypatch):
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    code, _, err = cli("ls", "s3://aws-deepracer-aaaa1111", "--profile", "racer")
    assert code == ExitCode.USAGE and err.count("\n") == 1, err
    assert (f"no profile exists; read {tmp_path / 'config'} (missing), {tmp_path / 'credentials'} (missing) - add "
            f"[profile racer] to {tmp_path / 'config'}") in err


# -- 5: instance roles -------------------------------------------------------------------------------------------
def test_drmodel_leaves_the_instance_metadata_service_to_the_aws_defaults(tmp_path, monkeypatch):
    """The tests turn the instance metadata service off, for themselves and their subprocesses (conftest.py);
    drmodel does not, so an EC2 instance role works as in the AWS CLI."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ['AWS_EC2_METADATA_DISABLED'])"],
                           capture_output=True, text=True, check=True)
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true" and child.stdout == "true\n"
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    _models(tmp_path)
    code, _, err = cli("ls", str(tmp_path / "models"))
    assert code == ExitCode.OK, err
    assert "AWS_EC2_METADATA_DISABLED" not in os.environ


# -- 6: platform folders -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("platform, env, expected", [
    ("linux", {}, "HOME/.config/drmodel"),
    ("linux", {"XDG_CONFIG_HOME": "TMP/xdg"}, "TMP/xdg/drmodel"),
    ("linux", {"XDG_CONFIG_HOME": "relative/xdg"}, "HOME/.config/drmodel"),  # XDG: a relative path is ignored
    ("freebsd13", {"XDG_CONFIG_HOME": "TMP/xdg"}, "TMP/xdg/drmodel"),
    ("darwin", {"XDG_CONFIG_HOME": "TMP/xdg"}, "HOME/Library/Application Support/drmodel"),
    ("win32", {"APPDATA": "TMP/Roaming"}, "TMP/Roaming/drmodel"),
    ("win32", {}, "HOME/AppData/Roaming/drmodel"),
])
def test_the_config_file_lives_in_the_platforms_folder(platform, env, expected, tmp_path, monkeypatch):
    from drmodel.droa import config

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "APPDATA", "DRMODEL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value.replace("TMP", str(tmp_path)))
    monkeypatch.setattr(sys, "platform", platform)
    want = Path(expected.replace("HOME", str(home)).replace("TMP", str(tmp_path)))
    assert config.config_dir() == want and config.config_path() == want / "config.toml"
    monkeypatch.setenv("DRMODEL_CONFIG", str(tmp_path / "mine.toml"))
    assert config.config_path() == tmp_path / "mine.toml"


def test_an_earlier_config_file_is_still_read_on_macos(tmp_path, monkeypatch):
    from drmodel.droa import config

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DRMODEL_CONFIG", raising=False)
    monkeypatch.setattr(sys, "platform", "darwin")
    earlier = write_folder(tmp_path / ".config" / "drmodel", {"config.toml": b"[droa]\n"}) / "config.toml"
    assert config.config_path() == earlier
    (config.config_dir()).mkdir(parents=True)
    (config.config_dir() / "config.toml").write_text("[droa]\n")
    assert config.config_path() == config.config_dir() / "config.toml"


def test_a_missing_config_file_is_named_where_drmodel_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DRMODEL_CONFIG", raising=False)
    code, _, err = cli("droa", "login", "mine")
    assert code == ExitCode.NOT_FOUND and f"no drmodel config file at {tmp_path / 'xdg'}/drmodel/config.toml" in err


# -- 7: shell completion -----------------------------------------------------------------------------------------
def _complete(line: str, **env: str) -> list[str]:
    """What the shell's completion function gets: argcomplete's protocol (COMP_LINE, COMP_POINT, _ARGCOMPLETE),
    the completions written to file descriptor 8, separated by a vertical tab."""
    done = subprocess.run(["sh", "-c", 'exec "$@" 8>&1 9>/dev/null 1>/dev/null', "sh", sys.executable, "-m",
                           "drmodel"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env, "COMP_LINE": line, "COMP_POINT": str(len(line)),
                               "_ARGCOMPLETE": "1"})
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\v")


def test_the_shell_completes_commands_options_and_profiles(profiles):
    assert [c.strip() for c in _complete("drmodel co")] == ["copy"]
    assert "--target-endpoint-url" in [c.strip() for c in _complete("drmodel copy --target-e")]
    assert [c.strip() for c in _complete("drmodel ls s3://b --profile fr")] == ["friend"]


def test_completion_costs_a_normal_run_nothing():
    code = ("import sys; from drmodel.cli.main import main; main(['--help']); main(['copy', '--help']); "
            "print('ARGCOMPLETE', 'argcomplete' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "ARGCOMPLETE False" in out
    for entry in ("cli/main.py", "__main__.py"):  # argcomplete's global completion looks for the marker there
        assert "# PYTHON_ARGCOMPLETE_OK" in (ROOT / "src" / "drmodel" / entry).read_text()[:1024]


# -- 3, 8: --json ------------------------------------------------------------------------------------------------
def documented_keys() -> dict[str, set[str]]:
    """docs/json.md: each command's top-level keys, from the table of its section."""
    keys: dict[str, set[str]] = {}
    text = (ROOT / "docs" / "json.md").read_text()
    for section in text.split("\n## ")[1:]:
        title, _, body = section.partition("\n")
        found = set(re.findall(r"^\| `([a-z0-9_]+)` \|", body, re.M))
        for name in title.split(", "):
            keys[name.strip()] = found
    return keys


def _models(tmp_path: Path) -> SimpleNamespace:
    from drmodel.testing.synth import legacy_prefix, synth_model

    prefix = legacy_prefix("123456789012", "20200427103015", "4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17")
    files = synth_model("Apex-Hunter", bucket="aws-deepracer-x", prefix=prefix, timestamp="20200427103015",
                        scale=0.002)
    reward = b"def reward_function(params):\n    return 2.0\n"
    return SimpleNamespace(files=files, src=str(write_folder(tmp_path / "models" / "Apex-Hunter", files)),
                           other=str(write_folder(tmp_path / "other", files | {"reward_function.py": reward})))


def test_every_command_prints_the_json_docs_json_md_documents(tmp_path, monkeypatch):
    import drmodel.droa.transfer
    import drmodel.testing.demo

    client = SimpleNamespace(list_models=lambda: [{}], region="us-east-1",
                             dep=SimpleNamespace(site="https://example.org/", username="racer"))
    monkeypatch.setattr(drmodel.droa.transfer, "client_for", lambda name: client)
    monkeypatch.setattr(drmodel.testing.demo, "run_demo",
                        lambda main, out, err, **kw: 0 if main(["--version"], out=out, err=err) == 0 else 1)
    m, dst = _models(tmp_path), str(tmp_path / "dst")
    runs = [("ls", str(tmp_path / "models")), ("show", m.src), ("check", m.src),
            ("pull", m.src, str(tmp_path / "pulled"), "--dry-run"), ("pull", m.src, str(tmp_path / "pulled")),
            ("push", str(tmp_path / "pulled"), str(tmp_path / "pushed"), "--checkpoint", "all"),
            ("copy", m.src, dst, "--checkpoint", "all"), ("copy", m.src, dst, "--checkpoint", "all"),  # nothing to do
            ("verify", m.src, dst), ("diff", m.src, m.other), ("repair", dst, "--dry-run"),
            ("car", m.src, str(tmp_path / "car.tar.gz")), ("droa", "login", "mine"), ("demo",),
            ("policy", "--source", SOURCE, "--target", TARGET),
            ("batch", "--verify-report", str(write_report(tmp_path / "report", rows_for("b", ["k"])))),
            ("copy", m.other, dst, "--yes", "--backup-to", str(tmp_path / "bk"), "--checkpoint", "all")]
    documented, seen = documented_keys(), set()
    for argv in runs:
        code, out, err = cli(*argv, "--json")
        assert code == ExitCode.OK, (argv, err)
        doc = json.loads(out)
        rows = doc if argv[0] == "ls" else [doc]
        assert rows and all(set(row) == documented[argv[0]] for row in rows), (argv, sorted(rows[0]))
        seen.add(argv[0])
    assert doc["backup"] and doc["undo"].startswith("drmodel restore ") and doc["written"] and not doc["dry_run"]
    code, out, err = cli("restore", doc["backup"], "--yes", "--backup-to", str(tmp_path / "bk2"), "--json")
    assert code == ExitCode.OK and set(json.loads(out)) == documented["restore"], err
    from drmodel.cli.commands import COMMANDS

    assert seen | {"restore"} == set(COMMANDS) == set(documented)


def test_the_demo_tells_its_story_on_stderr_with_json(monkeypatch):
    import drmodel.testing.demo

    def demo(main, out, err, **kw):
        out.write("== a step\n")
        return 0 if main(["--version"], out=out, err=err) == 0 else 1
    monkeypatch.setattr(drmodel.testing.demo, "run_demo", demo)
    code, out, err = cli("demo", "--json")
    assert code == ExitCode.OK and "== a step" in err and "drmodel " in err
    assert json.loads(out) == {"demo": "s3", "ok": True, "steps": [{"command": "drmodel --version", "exit_code": 0}]}


def test_a_json_run_refused_for_want_of_yes_shows_the_plan_on_stderr(tmp_path):
    m, dst = _models(tmp_path), str(tmp_path / "dst")
    assert cli("copy", m.src, dst, "--json")[0] == ExitCode.OK
    code, out, err = cli("copy", m.other, dst, "--json")  # overwrites reward_function.py: needs --yes
    assert code == ExitCode.REFUSED and out == ""
    assert "Plan: copy" in err and re.search(r"^OVERWRITE .* reward_function\.py", err, re.M), err
    assert err.index("Plan: copy") < err.index("check the plan above")


# -- 9: singular and plural --------------------------------------------------------------------------------------
def test_plural():
    from drmodel.units import plural

    assert [plural(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]
    assert plural(1, "entry", "entries") == "1 entry" and plural(3, "entry", "entries") == "3 entries"


def test_counts_agree_with_their_nouns_and_local_targets_are_written(tmp_path):
    m, dst = _models(tmp_path), str(tmp_path / "dst")
    code, out, _ = cli("ls", str(tmp_path / "models"))
    assert code == 0 and out.startswith("1 model in ")
    code, out, err = cli("copy", m.src, dst, "--dry-run", "--checkpoint", "all")
    assert code == 0 and "Would write " in out and "target file" in out, out
    assert "upload" not in out and "target key" not in out
    cli("copy", m.src, dst, "--checkpoint", "all")
    code, out, err = cli("copy", m.other, dst, "--yes", "--backup-to", str(tmp_path / "bk"), "--checkpoint", "all")
    assert code == 0, err
    assert "overwrite 1 file (" in out and "back up the 1 replaced file to" in out, out
    assert "Done: 1 file written and verified (1 by sha256 of the bytes written; " in out, out
    assert "0 stale files deleted" in out
    code, out, _ = cli("diff", m.src, dst)
    assert "Files: 1 of " in out and " files differs." in out, out
    code, out, _ = cli("verify", m.src, dst)
    assert code == ExitCode.DIFFERENT and re.search(r"DIFFERENT: 1 of \d+ files differs or is missing\.", out), out
    code, out, _ = cli("check", m.src)
    assert re.search(r"^\d+ errors?, \d+ warnings?\.$", out, re.M) and "1 errors" not in out, out
