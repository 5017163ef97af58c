"""DeepRacer on AWS end to end against local stand-ins: login, import from every layout, DRoA to DRoA, pre-flight."""

from __future__ import annotations

import json

import pytest
from helpers import cli, write_folder

from drmodel.droa import preflight as preflight_module
from drmodel.droa import transfer
from drmodel.testing.droa_standin import DroaStandIn
from drmodel.stores import s3 as s3store
from drmodel.testing.synth import console_export, legacy_keys, legacy_prefix, put_all, synth_model

P1 = legacy_prefix("123456789012", "20200427103015", "4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17")
USERS = {"mine": ("racer@example.com", "Corr3ct-Horse!"), "club": ("friend@example.com", "An0ther-Secret!")}


@pytest.fixture
def deployments(tmp_path, monkeypatch):
    """Two stand-in deployments, `mine` and `club`, with different users, described in drmodel's config."""
    transfer._clients.clear()
    started = {}
    lines = []
    for name, (user, password) in USERS.items():
        s = DroaStandIn(tmp_path / name, users={user: password}, name=name, export_queued_polls=1,
                        import_delay=0.05).start()
        started[name] = s
        lines += [f"[droa.{name}]", f'site = "{s.site_url}"', f'username = "{user}"',
                  f'endpoint_url = "{s.aws_endpoint}"', ""]
        monkeypatch.setenv(f"DRMODEL_DROA_PASSWORD_{name.upper()}", password)
    config = tmp_path / "config.toml"
    config.write_text("\n".join(lines))
    monkeypatch.setenv("DRMODEL_CONFIG", str(config))
    monkeypatch.delenv("DRMODEL_DROA_PASSWORD", raising=False)
    monkeypatch.setattr(transfer.DroaClient, "wait_import", _fast(transfer.DroaClient.wait_import))
    monkeypatch.setattr(transfer.DroaClient, "export_url", _fast(transfer.DroaClient.export_url))
    yield started
    transfer._clients.clear()
    for s in started.values():
        s.stop()


def _fast(method):
    def wrapper(self, *args, **kwargs):
        kwargs["poll"] = 0.05
        return method(self, *args, **kwargs)
    return wrapper


def model_files(**kw) -> dict[str, bytes]:
    return synth_model("Apex-Hunter", bucket="aws-deepracer-x", prefix=P1, timestamp="20200427103015", scale=0.002,
                       **kw)


def test_login_and_wrong_password(deployments, monkeypatch):
    code, out, err = cli("droa", "login", "mine")
    assert code == 0, err
    assert "Logged in to DRoA deployment mine" in out and "racer@example.com" in out
    transfer._clients.clear()
    monkeypatch.setenv("DRMODEL_DROA_PASSWORD_MINE", "wrong-password")
    code, _, err = cli("droa", "login", "mine")
    assert code == 4 and "wrong username or password" in err and "wrong-password" not in err
    transfer._clients.clear()
    monkeypatch.delenv("DRMODEL_DROA_PASSWORD_MINE")
    code, _, err = cli("droa", "login", "mine")
    assert code == 4 and "DRMODEL_DROA_PASSWORD_MINE" in err
    code, _, err = cli("droa", "login", "nowhere")
    assert code == 3 and "mine" in err


def test_push_folder_applies_fixes_and_imports(deployments, tmp_path):
    folder = write_folder(tmp_path / "Apex-Hunter", model_files())
    code, out, err = cli("push", str(folder), "droa://mine/Apex-Hunter", "--description", "my best")
    assert code == 0, err
    assert "renamed from training_params_1.yaml" in out and "quoted booleans made booleans" in out
    assert "Imported Apex-Hunter into droa://mine" in out and "status READY" in out
    stand = deployments["mine"]
    code, out, _ = cli("ls", "droa://mine")
    assert code == 0 and "Apex-Hunter" in out and "READY" in out
    code, out, _ = cli("check", "droa://mine/Apex-Hunter")
    assert code == 0, out
    code, _, err = cli("push", str(folder), "droa://mine/Apex-Hunter")
    assert code == 2 and "--as" in err
    code, out, err = cli("push", str(folder), "droa://mine/Apex-Hunter", "--as", "Apex-Hunter-Copy")
    assert code == 0, err
    assert ("POST", "/api/importmodel") in stand.requests


@pytest.mark.parametrize("kind", ["legacy", "prefix", "export", "archive"])
def test_import_from_each_layout(deployments, moto_buckets, tmp_path, kind):
    client, bucket, _ = moto_buckets
    files = model_files()
    if kind == "legacy":
        put_all(client, bucket, legacy_keys("Apex-Hunter", P1, files))
        source = f"s3://{bucket}/Apex-Hunter"
    elif kind == "prefix":
        put_all(client, bucket, {f"drfc/rl-deepracer-1/{p}": d for p, d in files.items()})
        source = f"s3://{bucket}/drfc/rl-deepracer-1"
    elif kind == "export":
        put_all(client, bucket, console_export("", "Apex-Hunter", "Wed, 27 Oct 2021 19:42:10 GMT", files))
        source = f"s3://{bucket}/Apex-Hunter/Wed, 27 Oct 2021 19:42:10 GMT"
    else:
        folder = write_folder(tmp_path / "f", files)
        source = str(tmp_path / "bundle.tar.gz")
        assert cli("copy", str(folder), source, "--checkpoint", "all")[0] == 0
    code, out, err = cli("copy", source, "droa://mine/Imported")
    assert code == 0, err
    assert "status READY" in out
    code, out, _ = cli("diff", source, "droa://mine/Imported")
    assert code == 0 and "the same weights will race" in out


def test_droa_to_droa_between_two_accounts(deployments, tmp_path):
    folder = write_folder(tmp_path / "Apex-Hunter", model_files())
    assert cli("push", str(folder), "droa://mine/Apex-Hunter")[0] == 0
    code, out, err = cli("copy", "droa://mine/Apex-Hunter", "droa://club/Apex-Hunter")
    assert code == 0, err
    assert "(droa layout -> droa layout)" in out
    code, out, _ = cli("diff", "droa://mine/Apex-Hunter", "droa://club/Apex-Hunter")
    assert code == 0 and "the same weights will race" in out
    assert cli("pull", "droa://club/Apex-Hunter", str(tmp_path / "pulled"))[0] == 0
    assert (tmp_path / "pulled" / "model" / "model_140.pb").exists()


def _training_params(files: dict[str, bytes], **values: str) -> dict[str, bytes]:
    from drmodel import paramsfile

    files["training_params_1.yaml"] = paramsfile.rewrite(files["training_params_1.yaml"], values)
    return files


REFUSALS = {
    "unknown track": (lambda f: _training_params(f, WORLD_NAME="Nowhere_track"), "is not a track"),
    "sac discrete": (lambda f: f | {"model_metadata.json": json.dumps(
        json.loads(f["model_metadata.json"]) | {"training_algorithm": "sac"}).encode()}, "SAC with a discrete"),
    "reward import": (lambda f: f | {"reward_function.py": b"import os\n\ndef reward_function(params):\n    return 1.0\n"},
                      "imports os"),
    "missing best pb": (lambda f: {k: v for k, v in f.items() if k != "model/model_140.pb"}, "model_140.pb"),
    "no hyperparameters": (lambda f: {k: v for k, v in f.items() if k != "ip/hyperparameters.json"},
                           "ip/hyperparameters.json is missing"),
    "over 1000 files": (lambda f: f | {f"model/extra-{i:04d}.txt": b"x" for i in range(1000)}, "at most 1000"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_preflight_refusals_upload_nothing(deployments, tmp_path, case):
    change, needle = REFUSALS[case]
    folder = write_folder(tmp_path / "m", change(model_files()))
    code, _, err = cli("push", str(folder), "droa://mine/Apex-Hunter", "--checkpoint", "all", "--force")
    assert code == 5 and needle in err, err
    assert "DeepRacer on AWS would refuse" in err and len(err.strip().splitlines()) == 1
    stand = deployments["mine"]
    listed = stand._s3.list_objects_v2(Bucket=stand.upload_bucket).get("KeyCount", 0)
    assert listed == 0


def test_preflight_refuses_over_one_gib(deployments, tmp_path):
    folder = write_folder(tmp_path / "m", model_files())
    with open(folder / "model" / "model_145.pb", "r+b") as f:
        f.truncate((1 << 30) + 1)  # sparse: costs no disk
    code, _, err = cli("push", str(folder), "droa://mine/Apex-Hunter", "--checkpoint", "all")
    assert code == 5 and "1 GiB" in err


def test_names_and_world_name_fixes(deployments, tmp_path):
    folder = write_folder(tmp_path / "m", _training_params(model_files(), WORLD_NAME="reInvent2019_track_cw"))
    code, _, err = cli("push", str(folder), "droa://mine/bad_name!")
    assert code == 2 and "not a DRoA model name" in err
    code, out, err = cli("push", str(folder), "droa://mine/Clockwise", "--dry-run")
    assert code == 0, err
    assert "WORLD_NAME reInvent2019_track_cw -> reInvent2019_track, TRACK_DIRECTION_CLOCKWISE: true" in out


def test_import_rejected_by_the_server_shows_its_message(deployments, tmp_path, monkeypatch):
    monkeypatch.setattr(preflight_module, "TRACK_IDS", frozenset({"Nowhere_track"}))
    folder = write_folder(tmp_path / "m", _training_params(model_files(), WORLD_NAME="Nowhere_track"))
    code, _, err = cli("push", str(folder), "droa://mine/Apex-Hunter")
    assert code == 5 and "DRoA refused the import:" in err and "Nowhere_track" in err


def test_expired_credentials_are_refreshed_mid_transfer(deployments, tmp_path, monkeypatch):
    stand = deployments["mine"]
    real = s3store.S3Store.write_stream
    calls = []

    def write_stream(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        if not calls:
            stand.expire_next(1)  # the API's next call (the import) finds the credentials expired
        calls.append(1)
        return result

    monkeypatch.setattr(s3store.S3Store, "write_stream", write_stream)
    folder = write_folder(tmp_path / "m", model_files())
    code, out, err = cli("push", str(folder), "droa://mine/Apex-Hunter")
    assert code == 0, err
    assert any("expired" in r[3] for r in stand.rejections)
    assert transfer.client_for("mine").refreshes >= 2


def test_debug_log_never_shows_the_password_or_tokens(deployments, tmp_path):
    folder = write_folder(tmp_path / "m", model_files())
    code, out, err = cli("--debug", "push", str(folder), "droa://mine/Apex-Hunter")
    assert code == 0, err[-3000:]
    assert "InitiateAuth" in err or "cognito" in err.lower()  # the log was verbose enough to leak
    client = transfer.client_for("mine")
    secrets = [USERS["mine"][1], client._id_token, client.credentials.get_frozen_credentials().secret_key]
    for secret in secrets:
        assert secret and secret not in out + err
