"""DeepRacer on AWS end to end against local stand-ins: login, import from every layout, DRoA to DRoA, pre-flight."""

from __future__ import annotations

import json

import pytest

from drmodel.droa import preflight as preflight_module
from drmodel.droa import transfer
from drmodel.stores import s3 as s3store
from drmodel.testing.droa_standin import DroaStandIn
from drmodel.testing.synth import console_export, legacy_keys, legacy_prefix, put_all, synth_model
from helpers import cli, write_folder

P1 = legacy_prefix("123456789012", "20200427103015", "4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17")
REAL_EXPORT_URL = transfer.DroaClient.export_url
USERS = {"mine": ("racer@example.com", "Corr3ct-Horse!"), "club": ("friend@example.com", "An0ther-Secret!")}


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    """Two stand-in deployments, `mine` and `club`, with different users: started once for the module."""
    started = {}
    try:
        for name, (user, password) in USERS.items():
            started[name] = DroaStandIn(tmp_path_factory.mktemp(name), users={user: password}, name=name,
                                        export_queued_polls=1, import_delay=0.05).start()
        yield started
    finally:
        for s in started.values():
            s.stop()


@pytest.fixture
def deployments(standins, tmp_path, monkeypatch):
    """The two stand-ins, reset to their freshly started state (no model, empty buckets, no request recorded),
    described in drmodel's config."""
    transfer._clients.clear()
    lines = []
    for name, (user, password) in USERS.items():
        s = standins[name]
        s.reset()
        lines += [f"[droa.{name}]", f'site = "{s.site_url}"', f'username = "{user}"',
                  f'endpoint_url = "{s.aws_endpoint}"', ""]
        monkeypatch.setenv(f"DRMODEL_DROA_PASSWORD_{name.upper()}", password)
    config = tmp_path / "config.toml"
    config.write_text("\n".join(lines))
    monkeypatch.setenv("DRMODEL_CONFIG", str(config))
    monkeypatch.delenv("DRMODEL_DROA_PASSWORD", raising=False)
    monkeypatch.setattr(transfer.DroaClient, "wait_import", _fast(transfer.DroaClient.wait_import, "poll"))
    monkeypatch.setattr(transfer.DroaClient, "export_url", _fast(transfer.DroaClient.export_url, "poll",
                                                                 "first_wait"))
    yield standins
    transfer._clients.clear()


def _fast(method, *names):
    """The same polling, 100 times faster than DRoA's pace (5 s for imports; 10 s then 20 s for exports)."""
    def wrapper(self, *args, **kwargs):
        for name in names:
            kwargs[name] = 0.05
        return method(self, *args, **kwargs)
    return wrapper


def model_files(**kw) -> dict[str, bytes]:
    return synth_model("Apex-Hunter", bucket="aws-deepracer-x", prefix=P1, timestamp="20200427103015", scale=0.002,
                       **kw)


def test_a_library_caller_of_execute_imports_as_the_cli_does(deployments, tmp_path):
    """The import is a step of the plan that execute runs: a library caller gets the model imported, as the CLI's
    user does, with nothing left to call."""
    from drmodel import api

    folder = write_folder(tmp_path / "Apex-Hunter", model_files())
    plan = api.plan_request(api.TransferRequest("push", api.ModelRef(str(folder)),
                                                api.ModelRef("droa://mine/Apex-Hunter")))
    assert plan.droa is not None and plan.droa.deployment == "mine" and plan.droa.model == "Apex-Hunter"
    result = api.execute(plan)
    assert result.imported is not None and result.imported["status"] == "READY"
    assert transfer.client_for("mine").find("Apex-Hunter")["modelId"] == result.imported["modelId"]


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


REWARD_OTHER = b"def reward_function(params):\n    return float(params['speed'])\n"


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
    code, out, err = cli("push", str(folder), "droa://mine/Apex-Hunter")  # the same files again: a rerun
    assert code == 0 and "Nothing to do" in out, out + err
    other = write_folder(tmp_path / "Other", model_files() | {"reward_function.py": REWARD_OTHER})
    code, _, err = cli("push", str(other), "droa://mine/Apex-Hunter")
    assert code == 2 and "--as" in err and "DRoA itself would accept a second one" in err
    assert "reward_function.py" in err and "--allow-duplicate-name" in err
    code, out, err = cli("push", str(folder), "droa://mine/Apex-Hunter", "--as", "Apex-Hunter-Copy")
    assert code == 0, err
    assert ("POST", "/api/prod/importmodel") in stand.requests
    # drmodel never read the upload bucket back (its users may only write there)
    assert stand.s3_requests and {op for _, _, op, _ in stand.s3_requests} <= {"PutObject", "CreateMultipartUpload",
                                                                              "UploadPart", "CompleteMultipartUpload"}


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
        json.loads(f["model_metadata.json"]) | {"training_algorithm": "sac"}).encode()},
                     "SAC does not work with discrete action space"),
    "reward import": (lambda f: f | {"reward_function.py": b"import os\n\n\ndef reward_function(params):\n"
                                                           b"    return float(len(os.sep))\n"},
                      "illegal import(s): ['os']"),
    "reward unused import": (lambda f: f | {"reward_function.py": b"import math\n\n\ndef reward_function(params):\n"
                                                                  b"    return 1.0\n"},
                             "'math' imported but unused"),
    "no hyperparameters": (lambda f: {k: v for k, v in f.items() if k != "ip/hyperparameters.json"},
                           "ip/hyperparameters.json is missing"),
    "left camera": (lambda f: f | {p: json.dumps(json.loads(f[p]) | {"sensor": ["LEFT_CAMERA"]}).encode()
                                   for p in ("model_metadata.json", "model/model_metadata.json")},
                    "Sensor not supported"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_preflight_refusals_upload_nothing(deployments, tmp_path, case):
    change, needle = REFUSALS[case]
    folder = write_folder(tmp_path / "m", change(model_files()))
    code, _, err = cli("push", str(folder), "droa://mine/Apex-Hunter", "--checkpoint", "all", "--force")
    assert code == 5 and needle in err, err
    assert "DeepRacer on AWS would refuse" in err and len(err.strip().splitlines()) == 1
    stand = deployments["mine"]
    listed = stand.admin_s3.list_objects_v2(Bucket=stand.upload_bucket).get("KeyCount", 0)
    assert listed == 0


def test_drmodel_refuses_over_1000_files_as_its_own_rule(deployments, tmp_path):
    folder = write_folder(tmp_path / "m", model_files() | {f"model/extra-{i:04d}.txt": b"x" for i in range(1000)})
    code, _, err = cli("push", str(folder), "droa://mine/Apex-Hunter", "--checkpoint", "all", "--force")
    assert code == 5 and "drmodel refuses this model" in err and "at most 1000" in err, err
    assert "DeepRacer on AWS would refuse" not in err  # DRoA would import the first 1000 files


def test_over_one_gib_is_a_warning(deployments, tmp_path):
    folder = write_folder(tmp_path / "m", model_files())
    with open(folder / "model" / "model_145.pb", "r+b") as f:
        f.truncate((1 << 30) + 1)  # sparse: costs no disk
    code, out, err = cli("push", str(folder), "droa://mine/Apex-Hunter", "--checkpoint", "all", "--dry-run")
    assert code == 0, err
    assert "warning (DRoA accepts it; drmodel advises against)" in out and "1 GiB" in out


def test_names_and_world_name_fixes(deployments, tmp_path):
    folder = write_folder(tmp_path / "m", _training_params(model_files(), WORLD_NAME="reInvent2019_track_cw"))
    code, _, err = cli("push", str(folder), "droa://mine/bad_name!")
    assert code == 2 and "not a DRoA model name" in err
    code, out, err = cli("push", str(folder), "droa://mine/Clockwise", "--dry-run")
    assert code == 0, err
    assert "WORLD_NAME reInvent2019_track_cw -> reInvent2019_track, TRACK_DIRECTION_CLOCKWISE: true" in out


def _without(monkeypatch, **checks):
    """drmodel's pre-flight without some of its rules (the stand-in keeps them): what the server then says."""
    from types import SimpleNamespace

    from drmodel.droa import rules

    monkeypatch.setattr(preflight_module, "rules", SimpleNamespace(**{**vars(rules), **checks}))


def test_import_refused_at_once_by_the_server_shows_its_message(deployments, tmp_path, monkeypatch):
    _without(monkeypatch, sync_refusal=lambda *a: None)
    folder = write_folder(tmp_path / "m", _training_params(model_files(), WORLD_NAME="Nowhere_track"))
    code, _, err = cli("push", str(folder), "droa://mine/Apex-Hunter")
    assert code == 5 and len(err.strip().splitlines()) == 1, err
    assert ("DRoA refused the import: Invalid track configuration. Track Nowhere_track is not available in direction "
            "COUNTER_CLOCKWISE. (HTTP 400 BadRequestError; no model was created)") in err
    assert transfer.client_for("mine").models_named("Apex-Hunter") == []


def test_import_ending_in_error_shows_its_message(deployments, tmp_path, monkeypatch):
    _without(monkeypatch, reward_static_findings=lambda source: (None, [], True))
    files = model_files() | {"reward_function.py": b"def reward_function(params):\n    # reload\n    return 1.0\n"}
    folder = write_folder(tmp_path / "m", files)
    code, _, err = cli("push", str(folder), "droa://mine/Apex-Hunter")
    last = err.strip().splitlines()[-1]  # the lines before it are the import's progress notes
    assert code == 5 and last.startswith("drmodel: error: "), err
    assert ('DRoA refused the import: Reward Function Validation Your code snippet contains a restricted string '
            '"load"') in last and "is in ERROR" in last and "fix reward_function.py" in last


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


def test_duplicate_names_only_with_the_flag_then_addressed_by_id(deployments, tmp_path):
    folder = write_folder(tmp_path / "Apex-Hunter", model_files())
    assert cli("push", str(folder), "droa://mine/Apex-Hunter")[0] == 0
    code, out, err = cli("push", str(folder), "droa://mine/Apex-Hunter", "--allow-duplicate-name")
    assert code == 0, err
    assert "DRoA accepts a second one" in out
    models = transfer.client_for("mine").models_named("Apex-Hunter")
    assert len(models) == 2 and all(len(m["modelId"]) == 15 for m in models)
    code, out, _ = cli("ls", "droa://mine")
    assert code == 0 and all(m["modelId"] in out for m in models)
    code, _, err = cli("pull", "droa://mine/Apex-Hunter", str(tmp_path / "pulled"))
    assert code == 6 and "names 2 models" in err and all(m["modelId"] in err for m in models)
    code, _, err = cli("pull", f"droa://mine/{models[0]['modelId']}", str(tmp_path / "pulled"))
    assert code == 0, err


def test_export_asks_at_the_web_sites_pace_and_each_ask_restarts_packaging(deployments, tmp_path, monkeypatch):
    stand = deployments["mine"]
    stand.export_queued_polls = 3
    folder = write_folder(tmp_path / "Apex-Hunter", model_files())
    assert cli("push", str(folder), "droa://mine/Apex-Hunter")[0] == 0
    sleeps = []
    monkeypatch.setattr(transfer.DroaClient, "export_url", REAL_EXPORT_URL)  # DRoA's pace, sleeps recorded
    from drmodel.droa import client as client_module

    monkeypatch.setattr(client_module.time, "sleep", lambda s: sleeps.append(s))
    code, _, err = cli("pull", "droa://mine/Apex-Hunter", str(tmp_path / "pulled"))
    assert code == 0, err
    model_id = transfer.client_for("mine").find("Apex-Hunter")["modelId"]
    assert stand.packaging_invocations(model_id) == 3  # one packaging per request made before the package existed
    assert sleeps == [10.0, 20.0, 20.0]  # the web site's pace: not once a second


def test_packaging_failure_says_so(deployments, tmp_path):
    stand = deployments["mine"]
    folder = write_folder(tmp_path / "Apex-Hunter", model_files())
    assert cli("push", str(folder), "droa://mine/Apex-Hunter")[0] == 0
    stand.fail_next_packaging(transfer.client_for("mine").find("Apex-Hunter")["modelId"])
    code, _, err = cli("pull", "droa://mine/Apex-Hunter", str(tmp_path / "pulled"))
    assert code == 9 and "DRoA's packaging of the model failed: Asset Packaging Failed: RequestID" in err
    assert "the next request starts packaging anew" in err
    assert cli("pull", "droa://mine/Apex-Hunter", str(tmp_path / "pulled"))[0] == 0


def test_big_files_are_confirmed_without_reading_the_upload_bucket(deployments, tmp_path, monkeypatch):
    monkeypatch.setenv("DRMODEL_PART_SIZE_MIB", "5")  # multipart above 5 MiB
    folder = write_folder(tmp_path / "Apex-Hunter", synth_model("Apex-Hunter", bucket="aws-deepracer-x", prefix=P1,
                                                                timestamp="20200427103015", scale=0.15))
    code, out, err = cli("push", str(folder), "droa://mine/Apex-Hunter")
    assert code == 0, err
    ops = [op for _, _, op, _ in deployments["mine"].s3_requests]
    assert "CompleteMultipartUpload" in ops and "HeadObject" not in ops and "GetObject" not in ops
    assert all(status == 200 for *_, status in deployments["mine"].s3_requests)


def test_accepted_but_advised_against_are_warnings_and_model_metadata_stays(deployments, tmp_path):
    files = model_files()
    meta = json.loads(files["model_metadata.json"])
    continuous = {"action_space_type": "continuous",
                  "action_space": {"speed": {"low": 1.0, "high": 5.0}, "steering_angle": {"low": -35, "high": 35}}}
    files["model_metadata.json"] = json.dumps(meta | continuous | {"neural_network": "DEEP_CONVOLUTIONAL_NETWORK"}
                                              ).encode()
    files["model/model_metadata.json"] = json.dumps(meta | continuous).encode()
    files = {k: v for k, v in files.items() if k != "model/model_140.pb"}
    folder = write_folder(tmp_path / "m", files)
    code, out, err = cli("push", str(folder), "droa://mine/Apex-Hunter", "--force")
    assert code == 0, err
    for needle in ("continuous speed 1..5 goes beyond 0.5..4", "continuous steering -35..35 goes beyond -30..30",
                   "model/model_140.pb (the best checkpoint's frozen graph) is missing: DRoA never reads it",
                   "model/model_metadata.json differs from model_metadata.json (neural_network)",
                   "note: DRoA will run the reward function on sample inputs"):
        assert needle in out, needle
    assert "status READY" in out
    stand = deployments["mine"]
    model_id = transfer.client_for("mine").find("Apex-Hunter")["modelId"]
    stored = stand.admin_s3.get_object(Bucket=stand.model_bucket, Key=stand.model_prefix(model_id) +
                                       "sagemaker-artifacts/model/model_metadata.json")["Body"].read()
    assert stored == files["model/model_metadata.json"]  # not replaced by the root copy


def test_run_reward_function_only_when_asked(deployments, tmp_path):
    bad = model_files() | {"reward_function.py": b"def reward_function(params):\n    return 1\n"}
    folder = write_folder(tmp_path / "m", bad)
    code, out, err = cli("push", str(folder), "droa://mine/Apex-Hunter", "--dry-run")
    assert code == 0 and "drmodel did not (--run-reward-function runs it here)" in out, err
    code, _, err = cli("push", str(folder), "droa://mine/Apex-Hunter", "--dry-run", "--run-reward-function")
    assert code == 5 and "Method returned non-floating type value: 1" in err, err
    good = write_folder(tmp_path / "g", model_files())
    code, out, err = cli("push", str(good), "droa://mine/Apex-Hunter", "--dry-run", "--run-reward-function")
    assert code == 0 and "returned a float within +/-1e5 for each" in out, err


def test_every_model_of_a_console_bucket_into_a_deployment_then_between_deployments(deployments, moto_buckets,
                                                                                     tmp_path):
    """Issue 20: a console bucket's models into DRoA in one command, each imported under its name; then a
    deployment as a container, copied into another deployment; the rerun skips what is there."""
    client, bucket, _ = moto_buckets
    names = ("Apex-Hunter", "Slowpoke")
    for n, name in enumerate(names):
        prefix = legacy_prefix("123456789012", f"2020042710301{n}", f"4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a1{n}")
        put_all(client, bucket, legacy_keys(name, prefix, synth_model(
            name, bucket=bucket, prefix=prefix, timestamp=f"2020042710301{n}", scale=0.002, seed=n)))
    code, out, err = cli("copy", f"s3://{bucket}", "droa://mine", "--all", "--report", str(tmp_path / "r.json"))
    assert code == 0, out + err
    assert "Done: 2 copied of 2 models" in out
    for name in names:
        code, diff_out, _ = cli("diff", f"s3://{bucket}/{name}", f"droa://mine/{name}")
        assert code == 0 and "the same weights will race" in diff_out
    code, out, err = cli("copy", "droa://mine", "droa://club", "--only", "Apex-*", "--report",
                         str(tmp_path / "r2.json"))
    assert code == 0, out + err
    code, out, _ = cli("ls", "droa://club")
    assert "Apex-Hunter" in out and "Slowpoke" not in out
    # a rerun into the same deployment: DRoA itself would import a second model of the same name (its import handler
    # checks the name's pattern only, not that it is unused: aws-solutions/deepracer-on-aws,
    # source/libs/lambda/src/api/handlers/importModel.ts#L164-L191); drmodel exports the deployment's model of that
    # name and proves it holds every file the push would upload: up to date, nothing uploaded or imported
    club = deployments["club"]
    imports = club.requests.count(("POST", "/api/prod/importmodel"))
    code, out, err = cli("copy", "droa://mine", "droa://club", "--only", "Apex-*", "--report",
                         str(tmp_path / "r3.json"))
    assert code == 0, out + err
    assert "Apex-Hunter: up to date" in out and "Done: 1 up to date of 1 model" in out
    report = json.loads((tmp_path / "r3.json").read_text())
    assert report["counts"]["up to date"] == 1 and report["counts"]["failed"] == 0
    assert [m["status"] for m in report["models"]] == ["up to date"] and report["exit_code"] == 0
    assert club.requests.count(("POST", "/api/prod/importmodel")) == imports
    assert [m["name"] for m in transfer.client_for("club").list_models()] == ["Apex-Hunter"]
    # the first run took --only Apex-*: the rerun of every model imports the one missing and skips the one there
    code, out, err = cli("copy", "droa://mine", "droa://club", "--all", "--dry-run")
    assert code == 0, out + err
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[2:4]}
    assert rows == {"Apex-Hunter": "up", "Slowpoke": "new"}, out
    code, out, err = cli("copy", "droa://mine", "droa://club", "--all", "--report", str(tmp_path / "r4.json"))
    assert code == 0, out + err
    assert "Done: 1 copied, 1 up to date of 2 models" in out and "Apex-Hunter: up to date" in out
    statuses = {m["name"]: m["status"] for m in json.loads((tmp_path / "r4.json").read_text())["models"]}
    assert statuses == {"Apex-Hunter": "up to date", "Slowpoke": "copied"}
    assert club.requests.count(("POST", "/api/prod/importmodel")) == imports + 1
    assert sorted(m["name"] for m in transfer.client_for("club").list_models()) == ["Apex-Hunter", "Slowpoke"]
    # from the console bucket: DRoA's model validator rewrote each model's model/.coach_checkpoint (it named the
    # last checkpoint) to the best one at import (deepracer-simapp bundle/markov/validation_worker.py#L68-L93):
    # the rerun compares DRoA's copy with that prediction (rules.validator_pointer), and every other file with the
    # upload, so the console models are up to date and nothing is imported
    mine = deployments["mine"]
    before = mine.requests.count(("POST", "/api/prod/importmodel"))
    code, out, err = cli("copy", f"s3://{bucket}", "droa://mine", "--all")
    assert code == 0, out + err
    assert "Done: 2 up to date of 2 models" in out, out
    assert mine.requests.count(("POST", "/api/prod/importmodel")) == before


def _pointer_at_best(files: dict[str, bytes]) -> dict[str, bytes]:
    """The model with its .coach_checkpoint naming the best checkpoint: what DRoA's model validator writes there at
    import, so DRoA stores the file as uploaded."""
    best = json.loads(files["model/deepracer_checkpoints.json"])["best_checkpoint"]["name"]
    return files | {"model/.coach_checkpoint": best.encode()}


def test_a_push_rerun_is_up_to_date_when_the_deployment_holds_its_files(deployments, tmp_path):
    stand = deployments["mine"]
    folder = write_folder(tmp_path / "Apex-Hunter", _pointer_at_best(model_files()))
    assert cli("push", str(folder), "droa://mine/Apex-Hunter")[0] == 0
    model_id = transfer.client_for("mine").find("Apex-Hunter")["modelId"]
    code, out, err = cli("push", str(folder), "droa://mine/Apex-Hunter", "--dry-run")
    assert code == 0, err
    assert f"up to date: droa://mine/Apex-Hunter (model id {model_id}, READY)" in out
    assert "each rerun does so once per model already imported" in out
    code, out, err = cli("push", str(folder), "droa://mine/Apex-Hunter")
    assert code == 0, err
    assert "Nothing to do: the target already holds every file" in out and "Imported" not in out
    assert stand.requests.count(("POST", "/api/prod/importmodel")) == 1
    assert len(transfer.client_for("mine").models_named("Apex-Hunter")) == 1


def test_a_rerun_refuses_a_model_of_that_name_holding_other_files(deployments, tmp_path):
    """The deployment's model of that name was replaced by another model (one checkpoint file of other bytes, of the
    same size): that model fails naming the file; the others are copied."""
    for n, name in enumerate(("Apex-Hunter", "Slowpoke")):
        folder = write_folder(tmp_path / name, _pointer_at_best(synth_model(
            name, bucket="aws-deepracer-x", prefix=P1, timestamp="20200427103015", scale=0.002, seed=n)))
        assert cli("push", str(folder), f"droa://mine/{name}")[0] == 0
    assert cli("pull", "droa://mine/Apex-Hunter", str(tmp_path / "pulled"))[0] == 0
    pulled = tmp_path / "pulled"
    files = {p.relative_to(pulled).as_posix(): p.read_bytes() for p in pulled.rglob("*") if p.is_file()}
    files.pop("drmodel-manifest.json", None)
    weights = files["model/model_140.pb"]
    files["model/model_140.pb"] = bytes(b ^ 0xFF for b in weights)
    club = deployments["club"]
    club.seed_model(USERS["club"][0], "Apex-Hunter", files)
    code, out, err = cli("copy", "droa://mine", "droa://club", "--all", "--report", str(tmp_path / "r.json"))
    assert code == 12, out + err
    assert ("FAILED Apex-Hunter: droa://club already has a model named 'Apex-Hunter'" in out
            and "whose files are not this push's: model/model_140.pb: the source's file and the deployment's differ"
            in out), out
    assert "ok    Slowpoke: " in out and "Done: 1 copied, 1 failed of 2 models" in out
    statuses = {m["name"]: m["status"] for m in json.loads((tmp_path / "r.json").read_text())["models"]}
    assert statuses == {"Apex-Hunter": "failed", "Slowpoke": "copied"}
    assert sorted(m["name"] for m in transfer.client_for("club").list_models()) == ["Apex-Hunter", "Slowpoke"]


def test_a_model_of_that_name_still_importing_is_refused_with_a_wait(deployments, tmp_path, monkeypatch):
    folder = write_folder(tmp_path / "Apex-Hunter", model_files())
    importing = [{"modelId": "a" * 15, "name": "Apex-Hunter", "status": "IMPORTING"}]
    monkeypatch.setattr(transfer.DroaClient, "models_named", lambda self, name: importing)
    code, _, err = cli("push", str(folder), "droa://mine/Apex-Hunter")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "is importing a model named 'Apex-Hunter'" in err and "wait until" in err


def test_the_droa_demo_tells_its_story_and_every_step_ends_as_it_says(tmp_path):
    """`drmodel demo --droa` (README quick start): its own two stand-ins, every step's exit code as expected, among
    them the rerun that is up to date and the other model refused under a taken name."""
    import io

    from drmodel.cli.main import main
    from drmodel.droa.transfer import forget_clients
    from drmodel.testing.demo import run_droa_demo

    out = io.StringIO()
    forget_clients()
    try:
        code = run_droa_demo(main, out, scale=0.01, workdir=str(tmp_path / "demo"))
    finally:
        forget_clients()
    text = out.getvalue()
    assert code == 0 and text.rstrip().endswith("Demo OK."), text
    assert "Nothing to do: the target already holds every file" in text
    assert "whose files are not this push's: reward_function.py" in text
