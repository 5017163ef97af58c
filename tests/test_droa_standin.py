"""The local DeepRacer-on-AWS stand-in, driven by hand the way a client must: env.js, Cognito user pool login,
identity-pool credentials, S3 upload with them, SigV4-signed REST calls (service execute-api)."""

from __future__ import annotations

import io
import json
import re
import socket
import tarfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from drmodel.testing.droa_standin import TRACK_IDS, DroaStandIn, new_id
from drmodel.testing.synth import synth_model

USERS = {"alice": "Alice-Passw0rd!", "bob": "Bob-Passw0rd!"}
AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID",
           "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
           "AWS_WEB_IDENTITY_TOKEN_FILE")


@dataclass
class Session:
    """What a client holds after logging in."""

    env: dict[str, str]
    id_token: str
    identity_id: str
    creds: Credentials
    s3: Any


def _threads_started_by(before: set[threading.Thread]) -> list[threading.Thread]:
    deadline = time.monotonic() + 5
    while True:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@pytest.fixture(scope="module")
def droa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DroaStandIn]:
    before = set(threading.enumerate())
    with pytest.MonkeyPatch.context() as mp:
        for name in AWS_ENV:
            mp.delenv(name, raising=False)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        standin = DroaStandIn(tmp_path_factory.mktemp("droa"), users=USERS, name="droa-test",
                              export_queued_polls=2, import_delay=0.05)
        with standin:
            yield standin
    assert _threads_started_by(before) == [], "the stand-in left threads running"


def _aws(standin: DroaStandIn, service: str, creds: Credentials | None = None) -> Any:
    keys = (creds.access_key, creds.secret_key, creds.token) if creds else ("unused", "unused", None)
    return boto3.session.Session().client(
        service, endpoint_url=standin.aws_endpoint, region_name=standin.region, aws_access_key_id=keys[0],
        aws_secret_access_key=keys[1], aws_session_token=keys[2],
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=16))


def _parse_env_js(text: str) -> dict[str, str]:
    m = re.fullmatch(r"\s*window\.EnvironmentConfig\s*=\s*(\{.*\});\s*", text, re.S)
    assert m, text
    return json.loads(m.group(1))


def login(standin: DroaStandIn, user: str, password: str) -> Session:
    with urllib.request.urlopen(standin.site_url + "env.js", timeout=10) as resp:
        assert resp.status == 200
        env = _parse_env_js(resp.read().decode())
    idp = _aws(standin, "cognito-idp")
    identity = _aws(standin, "cognito-identity")
    try:
        auth = idp.initiate_auth(ClientId=env["userPoolClientId"], AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": user, "PASSWORD": password})
        id_token = auth["AuthenticationResult"]["IdToken"]
        logins = {f"cognito-idp.{env['region']}.amazonaws.com/{env['userPoolId']}": id_token}
        identity_id = identity.get_id(IdentityPoolId=env["identityPoolId"], Logins=logins)["IdentityId"]
        c = identity.get_credentials_for_identity(IdentityId=identity_id, Logins=logins)["Credentials"]
    finally:
        idp.close()
        identity.close()
    creds = Credentials(c["AccessKeyId"], c["SecretKey"], c["SessionToken"])
    return Session(env, id_token, identity_id, creds, _aws(standin, "s3", creds))


@pytest.fixture(scope="module")
def alice(droa: DroaStandIn) -> Iterator[Session]:
    session = login(droa, "alice", USERS["alice"])
    yield session
    session.s3.close()


def status_of(req: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code


def call_full(standin: DroaStandIn, creds: Credentials | None, method: str, path: str, body: Any = None, *,
              secret: str | None = None, service: str = "execute-api", wire_body: bytes | None = None,
              token: str | None = None) -> tuple[int, Any, dict[str, str]]:
    """One REST call; signed with SigV4 unless creds is None. wire_body replaces the body after signing.
    Returns (status, the JSON answer or None for an empty body, the headers with lower-case names)."""
    url = standin.api_url + path
    data = json.dumps(body).encode() if body is not None else None
    req = AWSRequest(method=method, url=url, data=data,
                     headers={"Content-Type": "application/json"} if data is not None else {})
    if creds is not None:
        signing = Credentials(creds.access_key, secret or creds.secret_key, token or creds.token)
        SigV4Auth(signing, service, standin.region).add_auth(req)
    sent = wire_body if wire_body is not None else data
    http_req = urllib.request.Request(url, data=sent, method=method, headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(http_req, timeout=30) as resp:
            raw, status, headers = resp.read(), resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        with exc:
            raw, status, headers = exc.read(), exc.code, exc.headers
    return status, json.loads(raw) if raw else None, {k.lower(): v for k, v in headers.items()}


def call(standin: DroaStandIn, creds: Credentials | None, method: str, path: str, body: Any = None,
         **kw: Any) -> tuple[int, Any]:
    status, doc, _ = call_full(standin, creds, method, path, body, **kw)
    return status, doc


# ---------------------------------------------------------------- models to upload

@cache
def _base_files() -> tuple[tuple[str, bytes], ...]:
    files = synth_model("Upload-Me", bucket="bucket-a", prefix="prefix-a", timestamp="20200427103015",
                        checkpoints=((140, 123889), (145, 136982)), scale=0.001)
    params = files.pop("training_params_1.yaml").decode()
    params = params.replace('TRACK_DIRECTION_CLOCKWISE: "false"', "TRACK_DIRECTION_CLOCKWISE: false")
    params = params.replace('WORLD_NAME: "reInvent2019_track"', "WORLD_NAME: 2022_april_open")
    assert "TRACK_DIRECTION_CLOCKWISE: false\n" in params and "WORLD_NAME: 2022_april_open\n" in params
    files["training_params.yaml"] = params.encode()
    return tuple(sorted(files.items()))


def valid_files() -> dict[str, bytes]:
    return dict(_base_files())


def upload(session: Session, files: dict[str, bytes]) -> str:
    """Upload to uploads/models/<uuid>/ with the identity pool credentials; returns that s3Path."""
    prefix = f"uploads/models/{uuid.uuid4()}"
    for rel, data in files.items():
        session.s3.put_object(Bucket=session.env["uploadBucketName"], Key=f"{prefix}/{rel}", Body=data)
    return prefix


def wait_import(standin: DroaStandIn, session: Session, model_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, doc = call(standin, session.creds, "GET", f"/models/{model_id}")
        assert status == 200 and set(doc) == {"model"}, doc
        model = doc["model"]
        if model["status"] in ("READY", "ERROR") or time.monotonic() > deadline:
            return model
        time.sleep(0.05)


def post_import(standin: DroaStandIn, session: Session, files: dict[str, bytes], name: str | None = None,
                **extra: Any) -> tuple[int, Any, dict[str, str]]:
    s3_path = upload(session, files)
    return call_full(standin, session.creds, "POST", "/importmodel",
                     {"s3Bucket": session.env["uploadBucketName"], "s3Path": s3_path,
                      "modelName": name or f"m-{uuid.uuid4().hex[:12]}", **extra})


def import_files(standin: DroaStandIn, session: Session, files: dict[str, bytes], name: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    status, doc, _ = post_import(standin, session, files, name, **extra)
    assert status == 200, doc
    return wait_import(standin, session, doc["modelId"])


def model_ids(standin: DroaStandIn, session: Session) -> set[str]:
    ids, token = set(), None
    while True:
        status, doc = call(standin, session.creds, "GET", "/models" + (f"?token={token}" if token else ""))
        assert status == 200, doc
        ids |= {m["modelId"] for m in doc["models"]}
        token = doc.get("token")
        if not token:
            return ids


def bucket_objects(s3: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    """Every object under the prefix (read with the deployment's own rights: its users may not read)."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"][len(prefix):]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


# ---------------------------------------------------------------- auth

def test_env_js_and_cognito_login(droa: DroaStandIn, alice: Session) -> None:
    with urllib.request.urlopen(droa.site_url + "env.js", timeout=10) as resp:
        text = resp.read().decode()
        assert "javascript" in resp.headers["Content-Type"]
    # compact JSON, as website.ts writes it, with every key the real env.js has
    assert text.startswith("window.EnvironmentConfig = {") and text.endswith("};") and "\n" not in text
    assert _parse_env_js(text) == {
        "region": "us-east-1", "userPoolId": droa.user_pool_id, "userPoolClientId": droa.client_id,
        "identityPoolId": droa.identity_pool_id, "apiEndpointUrl": droa.api_url + "/",
        "uploadBucketName": droa.upload_bucket, "iotEndpoint": "local-ats.iot.us-east-1.amazonaws.com",
        "solutionVersion": "v1.2.5", "namespace": "droa-test"}
    assert droa.api_url == droa.site_url + "api/prod" and droa.upload_bucket.startswith("droa-test-upload-")
    assert droa.model_bucket.startswith("droa-test-models-")
    assert alice.creds.access_key == "TESTACCESSKEY12345" and alice.creds.token == "ABC12345"
    assert alice.identity_id.startswith("us-east-1:")
    assert re.fullmatch(r"[A-Za-z0-9]{15}", droa.profile_id("alice"))

    idp = _aws(droa, "cognito-idp")
    try:
        with pytest.raises(ClientError) as err:
            idp.initiate_auth(ClientId=droa.client_id, AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": "alice", "PASSWORD": "not-her-password"})
        assert err.value.response["Error"]["Code"] == "NotAuthorizedException"
        ok = idp.initiate_auth(ClientId=droa.client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": "bob", "PASSWORD": USERS["bob"]})
        assert ok["AuthenticationResult"]["IdToken"]
    finally:
        idp.close()


def test_signed_requests_are_verified(droa: DroaStandIn, alice: Session) -> None:
    status, doc = call(droa, alice.creds, "GET", "/models")
    assert status == 200 and isinstance(doc["models"], list)
    assert droa.requests[-1] == ("GET", "/api/prod/models")
    verified = len(droa.requests)

    refusals = {
        "unsigned": call(droa, None, "GET", "/models"),
        "bad secret": call(droa, alice.creds, "GET", "/models", secret="not-the-secret"),
        "tampered body": call(droa, alice.creds, "POST", "/importmodel", {"modelName": "a"},
                              wire_body=json.dumps({"modelName": "b"}).encode()),
        "other service": call(droa, alice.creds, "GET", "/models", service="s3"),
        "other token": call(droa, alice.creds, "GET", "/models", token="ABC99999"),
    }
    assert refusals["unsigned"] == (403, {"message": "Missing Authentication Token"})
    for what in ("bad secret", "tampered body"):
        status, doc = refusals[what]
        assert status == 403 and doc["message"].startswith(
            "The request signature we calculated does not match the signature you provided"), what
    assert refusals["other service"][0] == 403 and "execute-api" in refusals["other service"][1]["message"]
    assert refusals["other token"] == (403, {"message": "The security token included in the request is invalid."})
    assert len(droa.requests) == verified  # refused requests are not counted
    assert len(droa.rejections) >= len(refusals)

    # A signature over a path other than the one sent does not verify either.
    req = AWSRequest(method="GET", url=droa.api_url + "/models")
    SigV4Auth(alice.creds, "execute-api", droa.region).add_auth(req)
    other = droa.api_url + f"/models/{new_id()}"
    assert status_of(urllib.request.Request(other, headers=dict(req.headers.items()))) == 403

    droa.expire_next(1)
    assert call(droa, alice.creds, "GET", "/models") == (
        403, {"message": "The security token included in the request is expired"})
    assert call(droa, alice.creds, "GET", "/models")[0] == 200


# ---------------------------------------------------------------- import

MODEL_KEYS = {"carCustomization", "createdAt", "description", "fileSizeInBytes", "metadata", "modelId", "name",
              "status", "trainingConfig", "trainingStatus", "trainingMetricsUrl"}


def test_import_to_ready_and_storage_layout(droa: DroaStandIn, alice: Session) -> None:
    files = valid_files()
    s3_path = upload(alice, files)
    name = f"Layout-{uuid.uuid4().hex[:8]}"
    droa.import_delay = 0.4  # long enough to see IMPORTING
    try:
        status, doc = call(droa, alice.creds, "POST", "/importmodel",
                           {"s3Bucket": droa.upload_bucket, "s3Path": s3_path, "modelName": name,
                            "modelDescription": "First upload - test 1"})
        assert status == 200 and set(doc) == {"modelId"} and re.fullmatch(r"[A-Za-z0-9]{15}", doc["modelId"])
        model_id = doc["modelId"]
        status, doc = call(droa, alice.creds, "GET", f"/models/{model_id}")
        assert status == 200 and doc["model"]["status"] == "IMPORTING"  # never QUEUED
    finally:
        droa.import_delay = 0.05
    model = wait_import(droa, alice, model_id)
    assert model["status"] == "READY", model
    assert set(model) == MODEL_KEYS
    assert model["name"] == name and model["description"] == "First upload - test 1"
    assert model["modelId"] == model_id and model["createdAt"].endswith("Z")
    assert model["carCustomization"] == {"carColor": "BLACK", "carShell": "DEEPRACER"}
    assert model["trainingConfig"]["trackConfig"] == {"trackId": "2022_april_open",
                                                     "trackDirection": "COUNTER_CLOCKWISE"}
    assert model["metadata"]["agentAlgorithm"] == "PPO" and "discrete" in model["metadata"]["actionSpace"]
    assert model["metadata"]["rewardFunction"] == files["reward_function.py"].decode()
    assert model["metadata"]["sensors"] == {"camera": "FRONT_FACING_CAMERA"}
    assert model["trainingStatus"] == "COMPLETED" and model["trainingMetricsUrl"].startswith("http")

    root = f"{droa.profile_id('alice')}/models/{model_id}/"
    assert droa.model_prefix(model_id) == root
    stored = bucket_objects(droa.admin_s3, droa.model_bucket, root)
    expected = {("" if rel in ("model_metadata.json", "reward_function.py") else "sagemaker-artifacts/") + rel: data
                for rel, data in files.items()}
    # the model validator wrote the best checkpoint's name into .coach_checkpoint (the upload had the last one)
    assert files["model/.coach_checkpoint"] == b"145_Step-136982.ckpt"
    expected["sagemaker-artifacts/model/.coach_checkpoint"] = b"140_Step-123889.ckpt"
    assert stored == expected


def _set_yaml(key: str, value: str) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        text = files["training_params.yaml"].decode()
        text, n = re.subn(rf"(?m)^{key}: .*$", f"{key}: {value}", text)
        if n == 0:
            text += f"{key}: {value}\n"
        files["training_params.yaml"] = text.encode()
    return change


def _set_meta(**changes: Any) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        meta = json.loads(files["model_metadata.json"])
        meta.update(changes)
        files["model_metadata.json"] = files["model/model_metadata.json"] = json.dumps(meta).encode()
    return change


CONTINUOUS = {"steering_angle": {"low": -30.0, "high": 30.0}, "speed": {"low": 0.5, "high": 4.0}}


def _sac_episodes(n: Any) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        _set_meta(training_algorithm="sac", action_space_type="continuous", action_space=CONTINUOUS)(files)
        hyper = json.loads(files["ip/hyperparameters.json"])
        hyper["num_episodes_between_training"] = n
        files["ip/hyperparameters.json"] = json.dumps(hyper).encode()
    return change


def _reward(source: str) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        files["reward_function.py"] = source.encode()
    return change


def _drop(*rels: str) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        for rel in rels:
            del files[rel]
    return change


def _put(rel: str, data: bytes) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        files[rel] = data
    return change


def _both(*changes: Callable[[dict[str, bytes]], None]) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        for c in changes:
            c(files)
    return change


OA = _both(_set_yaml("RACE_TYPE", "OBJECT_AVOIDANCE"), _set_yaml("NUMBER_OF_OBSTACLES", "3"))

# POST /importmodel refuses these at once: (status, body) and no model is created
SYNC = [
    ("unknown track", _set_yaml("WORLD_NAME", "Nowhere_track"),
     400, "Invalid track configuration. Track Nowhere_track is not available in direction COUNTER_CLOCKWISE."),
    ("track with a direction suffix", _set_yaml("WORLD_NAME", "reInvent2019_track_cw"),
     400, "Invalid track configuration. Track reInvent2019_track_cw is not available in direction COUNTER_CLOCKWISE."),
    ("car colour the shell lacks", _set_yaml("CAR_COLOR", "Yellow"),
     400, "Invalid car customization. Car shell DEEPRACER is not available in color YELLOW."),
    ("object avoidance without obstacles", _both(OA, _set_yaml("NUMBER_OF_OBSTACLES", "0")),
     400, "Number of obstacle positions is invalid."),
    ("obstacle count quoted", _both(OA, _set_yaml("NUMBER_OF_OBSTACLES", '"3"'),
                                    _set_yaml("OBJECT_POSITIONS", '["0.2,1", "0.5,-1", "0.8,1"]')),
     400, "Obstacle positions must be equal to number of objects."),
    ("first obstacle too early", _both(OA, _set_yaml("OBJECT_POSITIONS", '["0.05,1", "0.5,-1", "0.8,1"]')),
     400, "First obstacle position is invalid."),
    ("obstacles too close", _both(OA, _set_yaml("OBJECT_POSITIONS", '["0.2,1", "0.3,-1", "0.8,1"]')),
     400, "Obstacle position distances are invalid."),
    ("SAC with discrete actions", _set_meta(training_algorithm="sac", action_space_type="discrete"),
     400, "Agent algorithm SAC does not work with discrete action space."),
    ("SAC with 20 episodes", _sac_episodes(20),
     400, "Invalid hyperparameter number of episodes between training for SAC agent algorithm."),
    ("SAC with episodes true", _sac_episodes(True),
     400, "Invalid hyperparameter number of episodes between training for SAC agent algorithm."),
    ("continuous low == high", _set_meta(action_space_type="continuous",
                                         action_space={**CONTINUOUS, "speed": {"low": 2.0, "high": 2.0}}),
     400, "Invalid action space speeds."),
    ("missing hyperparameters", _drop("ip/hyperparameters.json"), 500, None),
    ("empty reward function", _put("reward_function.py", b""), 500, None),
    ("metadata with a byte order mark", lambda f: f.update({"model_metadata.json": b"\xef\xbb\xbf" +
                                                            f["model_metadata.json"]}), 500, None),
    ("NaN in the metadata", _put("model_metadata.json", b'{"action_space": [], "x": NaN}'), 500, None),
    ("a repeated YAML key", lambda f: f.update({"training_params.yaml": f["training_params.yaml"] +
                                                b"WORLD_NAME: Albert\n"}), 500, None),
]


@pytest.mark.parametrize(("change", "status", "message"), [r[1:] for r in SYNC], ids=[r[0] for r in SYNC])
def test_import_refused_synchronously(droa: DroaStandIn, alice: Session, change: Callable[[dict[str, bytes]], None],
                                      status: int, message: str | None) -> None:
    files = valid_files()
    change(files)
    before = model_ids(droa, alice)
    got, doc, headers = post_import(droa, alice, files)
    assert got == status, doc
    if status == 400:
        assert doc == {"message": message} and headers["x-amzn-errortype"] == "BadRequestError"
    else:
        assert doc == {} and headers["x-amzn-errortype"] == "InternalFailure"
    assert model_ids(droa, alice) == before  # nothing was created


CANARY = Path("/tmp") / f"droa-standin-canary-{uuid.uuid4().hex}"
HOSTILE_REWARD = (f"import os\n\n\ndef reward_function(params):\n    os.system('touch {CANARY}')\n"
                  "    return 1.0\n")

# The model is created, then the import workflow ends it in ERROR with this importErrorMessage
ASYNC = [
    ("reward imports os", _reward(HOSTILE_REWARD),
     "Reward Function Validation The reward function contains illegal import(s): ['os']"),
    ("unused import", _reward("import math\n\n\ndef reward_function(params):\n    return 1.0\n"),
     "Reward Function Validation 'math' imported but unused"),
    ("one blank line", _reward("import math\n\ndef reward_function(params):\n    return math.sqrt(1.0)\n"),
     "Reward Function Validation expected 2 blank lines, found 1"),
    ("forbidden string in a comment", _reward("def reward_function(params):\n    # reload the weights\n"
                                              "    return 1.0\n"),
     'Reward Function Validation Your code snippet contains a restricted string "load" that is not allowed. Please '
     "remove or replace the string and try again."),
    ("forbidden call", _reward("def reward_function(params):\n    return float(eval('1.0'))\n"),
     "Reward Function Validation The reward function contains forbidden builtins: ['eval']"),
    ("left camera", _set_meta(sensor=["LEFT_CAMERA"]), "Model validation failed"),
    ("no .coach_checkpoint", _drop("model/.coach_checkpoint"), "Model validation failed: Checkpoint not found"),
    ("no model/model_metadata.json", _drop("model/model_metadata.json"),
     "Model validation failed: Failed to parse model_metadata file: An error occurred (404) when calling the "
     "HeadObject operation: Not Found"),
    ("a checkpoint without its index", _drop("model/145_Step-136982.ckpt.index"), "Model validation failed"),
]


@pytest.mark.parametrize(("change", "message"), [r[1:] for r in ASYNC], ids=[r[0] for r in ASYNC])
def test_import_ends_in_error(droa: DroaStandIn, alice: Session, change: Callable[[dict[str, bytes]], None],
                              message: str) -> None:
    files = valid_files()
    change(files)
    model = import_files(droa, alice, files)
    assert model["status"] == "ERROR", model
    assert model["importErrorMessage"] == message
    assert bucket_objects(droa.admin_s3, droa.model_bucket, droa.model_prefix(model["modelId"])) == {}
    assert not CANARY.exists(), "the reward function was executed"


@pytest.mark.parametrize(("change", "why"), [
    (_drop("model/deepracer_checkpoints.json"), "only .coach_checkpoint"),
    (_sac_episodes(1), "SAC, continuous, one episode between trainings"),
    (_sac_episodes(1.0), "JSON 1.0 is the number 1"),
    (_reward("import math\nimport numpy as np\nfrom scipy import stats\nimport shapely.geometry\n\n\n"
             "def reward_function(params):\n    return float(math.sqrt(np.float64(stats.norm.pdf(0)) + 1.0)) + "
             "shapely.geometry.Point(0, 0).x\n"), "allowed imports"),
    (_set_yaml("TRACK_DIRECTION_CLOCKWISE", "true"), "a YAML boolean"),
    (_set_yaml("TRACK_DIRECTION_CLOCKWISE", '"true"'), "a string: read as counter-clockwise, not refused"),
    (_set_meta(action_space_type="continuous", action_space={**CONTINUOUS, "speed": {"low": 1.0, "high": 5.0}}),
     "no range limit on continuous speeds"),
    (_drop("model/model_140.pb", "model/model_145.pb"), "DRoA never reads model_N.pb"),
    (_set_yaml("WORLD_NAME", "Albert"), "a one-direction track ignores TRACK_DIRECTION_CLOCKWISE"),
    (_set_yaml("BODY_SHELL_TYPE", "f1_car_tron_08"), "another shell"),
], ids=["coach-checkpoint", "sac-ok", "sac-float-one", "allowed-imports", "clockwise-true", "clockwise-string",
        "speed-5", "no-pb", "one-direction", "tron"])
def test_import_accepts(droa: DroaStandIn, alice: Session, change: Callable[[dict[str, bytes]], None],
                        why: str) -> None:
    files = valid_files()
    change(files)
    model = import_files(droa, alice, files)
    assert model["status"] == "READY", (why, model)


def test_import_records_what_it_read(droa: DroaStandIn, alice: Session) -> None:
    files = valid_files()
    _set_yaml("TRACK_DIRECTION_CLOCKWISE", '"true"')(files)
    _set_yaml("BODY_SHELL_TYPE", "f1_car_tron_08")(files)
    _set_meta(action_space_type="continuous", action_space=CONTINUOUS, sensor=["FRONT_FACING_CAMERA", "LIDAR"])(files)
    model = import_files(droa, alice, files)
    assert model["trainingConfig"]["trackConfig"]["trackDirection"] == "COUNTER_CLOCKWISE"  # "true" is not true
    assert model["carCustomization"] == {"carColor": "YELLOW", "carShell": "TRON"}
    assert model["metadata"]["actionSpace"] == {"continous": {"lowSpeed": 0.5, "highSpeed": 4.0,
                                                              "lowSteeringAngle": -30.0, "highSteeringAngle": 30.0}}
    assert model["metadata"]["sensors"] == {"camera": "FRONT_FACING_CAMERA", "lidar": "LIDAR"}


def test_single_list_call_copies_only_the_first_1000_keys(droa: DroaStandIn, alice: Session) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    s3_path = upload(alice, valid_files())
    # 1000 more objects that sort before model/ and the root files (inserted straight into moto: fast).
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for i in range(1000):
        backend.put_object(droa.upload_bucket, f"{s3_path}/logs/{i:04d}.log", b"log line\n")
    status, doc = call(droa, alice.creds, "POST", "/importmodel",
                       {"s3Bucket": droa.upload_bucket, "s3Path": s3_path, "modelName": f"big-{uuid.uuid4().hex[:8]}"})
    assert status == 200
    model = wait_import(droa, alice, doc["modelId"])
    # The four files are read by key: the import succeeds, and copies only what the one listing returned.
    assert model["status"] == "READY", model
    stored = bucket_objects(droa.admin_s3, droa.model_bucket, droa.model_prefix(doc["modelId"]))
    assert len(stored) == 1000 and "reward_function.py" not in stored and "model_metadata.json" not in stored


# ---------------------------------------------------------------- requests refused

def test_import_request_refusals(droa: DroaStandIn, alice: Session) -> None:
    s3_path = upload(alice, valid_files())

    def post(**body: Any) -> tuple[int, Any, dict[str, str]]:
        return call_full(droa, alice.creds, "POST", "/importmodel",
                         {"s3Bucket": droa.upload_bucket, "s3Path": s3_path, **body})

    for bad in ("has space", "under_score", "dot.name", "", "x" * 65, "ünï"):
        status, doc, headers = post(modelName=bad)
        assert status == 400 and doc["errorMessage"].startswith("Invalid request body"), bad
        assert "x-amzn-errortype" not in headers  # API Gateway's own validation
    assert post(modelName="x" * 64, modelDescription="x" * 256)[0] == 400
    assert post(modelName="desc-bad", modelDescription="")[0] == 400
    status, doc, _ = call_full(droa, alice.creds, "POST", "/importmodel", {"modelName": "no-bucket"})
    assert status == 400 and "missing required properties" in doc["errorMessage"]
    status, doc, headers = post(modelName="empty-path", s3Path="")
    assert (status, doc, headers["x-amzn-errortype"]) == (400, {"message": "Missing required fields"},
                                                          "BadRequestError")
    # s3Path is used as sent: with a trailing slash the files are at "...//name": a 500
    status, doc, _ = post(modelName="trailing-slash", s3Path=s3_path + "/")
    assert (status, doc) == (500, {})

    # Names are not unique in DRoA: the same name twice gives two models
    name = f"Twice-{uuid.uuid4().hex[:8]}"
    first, second = post(modelName=name), post(modelName=name)
    assert first[0] == second[0] == 200 and first[1]["modelId"] != second[1]["modelId"]
    for answer in (first, second):
        assert wait_import(droa, alice, answer[1]["modelId"])["status"] == "READY"


def test_unknown_routes_and_methods(droa: DroaStandIn, alice: Session) -> None:
    pattern = "^[A-Za-z0-9]{15}$"
    status, doc, headers = call_full(droa, alice.creds, "GET", "/models/no-such-id")
    assert status == 400 and headers["x-amzn-errortype"] == "ValidationException"
    assert doc["message"] == ("1 validation error detected. Value at '/modelId' failed to satisfy constraint: Member "
                              f"must satisfy regular expression pattern: {pattern}")
    assert doc["fieldList"] == [{"path": "/modelId", "message": doc["message"][len("1 validation error detected. "):]}]
    status, doc, headers = call_full(droa, alice.creds, "GET", f"/models/{new_id()}")
    assert (status, doc, headers["x-amzn-errortype"]) == (404, {"message": "Item not found."}, "NotFoundError")
    assert call(droa, alice.creds, "DELETE", f"/models/{new_id()}") == (404, {"message": "Item not found."})
    for method, path in (("GET", "/nothing-here"), ("PUT", "/models"), ("POST", "/models")):
        assert call(droa, alice.creds, method, path, {} if method != "GET" else None) == (
            403, {"message": "Missing Authentication Token"}), path
    status, doc, headers = call_full(droa, alice.creds, "GET", "/models?token=bogus")
    assert (status, doc, headers["x-amzn-errortype"]) == (500, {}, "InternalFailure")


# ---------------------------------------------------------------- list, delete, export

def test_list_pages(droa: DroaStandIn, alice: Session) -> None:
    seeded = {droa.seed_model("alice", f"Page-{i}-{uuid.uuid4().hex[:6]}", valid_files()) for i in range(5)}
    hidden = droa.seed_model("bob", f"Bobs-{uuid.uuid4().hex[:6]}", valid_files())
    droa.page_size = 2
    try:
        pages, token = [], None
        while True:
            status, doc = call(droa, alice.creds, "GET", "/models" + (f"?token={token}" if token else ""))
            assert status == 200
            pages.append(doc["models"])
            if "token" not in doc:  # absent, not null, on the last page
                break
            token = doc["token"]
            assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    finally:
        droa.page_size = 100
    assert len(pages) >= 3 and all(len(p) == 2 for p in pages[:-1]) and 1 <= len(pages[-1]) <= 2
    ids = [m["modelId"] for p in pages for m in p]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) and seeded <= set(ids) and hidden not in ids
    for model in (m for p in pages for m in p):
        assert set(model) >= MODEL_KEYS
        assert ("importErrorMessage" in model) == (model["status"] == "ERROR")
    status, doc = call(droa, alice.creds, "GET", "/models")
    assert status == 200 and "token" not in doc  # fewer than 100 models: one page


def test_delete_needs_ready_or_error(droa: DroaStandIn, alice: Session) -> None:
    model_id = droa.seed_model("alice", f"Doomed-{uuid.uuid4().hex[:6]}", valid_files())
    root = droa.model_prefix(model_id)
    assert bucket_objects(droa.admin_s3, droa.model_bucket, root)
    assert call(droa, alice.creds, "DELETE", f"/models/{model_id}") == (200, None)  # an empty body
    assert bucket_objects(droa.admin_s3, droa.model_bucket, root) == {}
    assert call(droa, alice.creds, "GET", f"/models/{model_id}") == (404, {"message": "Item not found."})

    droa.import_delay = 2.0
    try:
        status, doc, _ = post_import(droa, alice, valid_files())
        assert status == 200
        assert call(droa, alice.creds, "DELETE", f"/models/{doc['modelId']}") == (
            400, {"message": "This resource cannot be deleted at this time. Try again later."})
    finally:
        droa.import_delay = 0.05
    assert wait_import(droa, alice, doc["modelId"])["status"] == "READY"


def _export(droa: DroaStandIn, session: Session, model_id: str) -> tuple[tarfile.TarFile, str]:
    path = f"/models/{model_id}/getasset?assetType=VIRTUAL_MODEL"
    for _ in range(2):
        assert call(droa, session.creds, "GET", path) == (200, {"status": "QUEUED"})
    status, doc = call(droa, session.creds, "GET", path)
    assert status == 200 and set(doc) == {"url"}
    assert doc["url"].startswith(droa.aws_endpoint + "/" + droa.virtual_model_bucket + "/")
    with urllib.request.urlopen(doc["url"], timeout=30) as resp:  # presigned: no credentials needed
        data = resp.read()
        disposition = resp.headers.get("Content-Disposition", "")
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:gz"), disposition


def test_export_virtual_model(droa: DroaStandIn, alice: Session) -> None:
    files = valid_files()
    name = f"Export-{uuid.uuid4().hex[:6]}"
    model_id = droa.seed_model("alice", name, files)
    root = droa.model_prefix(model_id)
    for extra in ("sim-trace/training/0.csv", "videos/lap.mp4", "sagemaker-artifacts/output/model.tar.gz",
                  "sagemaker-artifacts/x/sim-trace/y.csv"):
        droa.admin_s3.put_object(Bucket=droa.model_bucket, Key=root + extra, Body=b"not exported")
    droa.admin_s3.put_object(Bucket=droa.model_bucket, Key=root + "metrics/training/t.json", Body=b"{}")
    # both X and sagemaker-artifacts/X: DRoA archives both under the name X
    droa.admin_s3.put_object(Bucket=droa.model_bucket, Key=root + "training_params.yaml", Body=b"root copy\n")

    tar, disposition = _export(droa, alice, model_id)
    assert disposition == f'attachment; filename="virtualmodel-{name}.tar.gz"'
    assert droa.packaging_invocations(model_id) == 2  # each call before the package existed started packaging
    members = tar.getmembers()
    assert all(m.isreg() and not m.name.startswith("/") and ".." not in m.name for m in members)
    names = [m.name for m in members]
    assert names.count("training_params.yaml") == 2 and "metrics/training/t.json" in names
    assert not [n for n in names if "sim-trace" in n or "videos" in n or n.startswith("output/")]
    contents = {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]
    # key order puts sagemaker-artifacts/training_params.yaml first: the root copy comes later and wins, as in tar
    assert contents.pop("training_params.yaml") == b"root copy\n"
    assert {k: v for k, v in contents.items() if k in files} == {k: v for k, v in files.items()
                                                                 if k != "training_params.yaml"}
    # Later calls return the URL straight away, and start no packaging.
    status, doc = call(droa, alice.creds, "GET", f"/models/{model_id}/getasset?assetType=VIRTUAL_MODEL")
    assert status == 200 and "url" in doc and droa.packaging_invocations(model_id) == 2


def test_export_failure_and_other_asset_types(droa: DroaStandIn, alice: Session) -> None:
    model_id = droa.seed_model("alice", f"Assets-{uuid.uuid4().hex[:6]}", valid_files())
    base = f"/models/{model_id}/getasset"
    status, doc, headers = call_full(droa, alice.creds, "GET", base)
    assert (status, doc, headers.get("x-amzn-errortype")) == (
        400, {"errorMessage": "Missing required request parameters: [assetType]"}, None)
    status, doc, headers = call_full(droa, alice.creds, "GET", base + "?assetType=SOUNDS")
    assert status == 400 and headers["x-amzn-errortype"] == "ValidationException" and "enum value set" in doc["message"]
    assert call(droa, alice.creds, "GET", base + "?assetType=VIDEOS") == (
        400, {"message": "This asset type is not supported."})
    assert call(droa, alice.creds, "GET", base + "?assetType=PHYSICAL_CAR_MODEL") == (
        404, {"message": "Unable to find physical model artifact."})
    assert call(droa, alice.creds, "GET", base + "?assetType=EVALUATION_LOGS") == (
        400, {"message": "evaluationId is required for evaluation logs."})
    assert call(droa, alice.creds, "GET", base + f"?assetType=EVALUATION_LOGS&evaluationId={new_id()}") == (
        404, {"message": "Item not found."})
    assert call(droa, alice.creds, "GET", base + "?assetType=TRAINING_LOGS") == (
        404, {"message": "No log files found."})
    droa.admin_s3.put_object(Bucket=droa.model_bucket, Key=droa.model_prefix(model_id) + "metrics/training/m.json",
                             Body=b'{"metrics": []}')
    status, doc = call(droa, alice.creds, "GET", base + "?assetType=TRAINING_LOGS")
    assert status == 200 and set(doc) == {"url"}
    with urllib.request.urlopen(doc["url"], timeout=30) as resp:
        with tarfile.open(fileobj=io.BytesIO(resp.read()), mode="r:gz") as tar:
            assert tar.getnames() == ["metrics/training/m.json"]

    droa.fail_next_packaging(model_id)
    virtual = base + "?assetType=VIRTUAL_MODEL"
    assert call(droa, alice.creds, "GET", virtual) == (200, {"status": "QUEUED"})
    assert call(droa, alice.creds, "GET", virtual) == (200, {"status": "QUEUED"})  # packaging fails now
    status, doc = call(droa, alice.creds, "GET", virtual)
    assert status == 404 and re.fullmatch(r"Asset Packaging Failed: RequestID [0-9a-f-]+\. Please try again later or "
                                          r"check logs for more details\.", doc["message"])
    assert call(droa, alice.creds, "GET", virtual) == (200, {"status": "QUEUED"})  # the next call starts anew


def test_import_then_export_round_trip(droa: DroaStandIn, alice: Session) -> None:
    files = valid_files()
    model = import_files(droa, alice, files)
    assert model["status"] == "READY"
    tar, _ = _export(droa, alice, model["modelId"])
    files["model/.coach_checkpoint"] = b"140_Step-123889.ckpt"  # rewritten by the model validator: the best one
    assert {m.name: tar.extractfile(m).read() for m in tar.getmembers()} == files  # type: ignore[union-attr]


# ---------------------------------------------------------------- the upload bucket

def test_users_may_only_write_to_the_upload_bucket(droa: DroaStandIn, alice: Session) -> None:
    import base64
    import hashlib
    import zlib

    s3, bucket = alice.s3, droa.upload_bucket
    key = f"uploads/models/{uuid.uuid4()}/file.bin"
    data = b"weights" * 1000
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    answer = s3.put_object(Bucket=bucket, Key=key, Body=data, ChecksumCRC32=crc)
    assert answer["ChecksumCRC32"] == crc  # echoed, as S3 does
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key=key, Body=data, ChecksumCRC32="AAAAAA==")
    assert err.value.response["Error"]["Code"] == "BadDigest"
    for refused in (lambda: s3.head_object(Bucket=bucket, Key=key), lambda: s3.get_object(Bucket=bucket, Key=key),
                    lambda: s3.list_objects_v2(Bucket=bucket), lambda: s3.list_multipart_uploads(Bucket=bucket),
                    lambda: s3.delete_object(Bucket=bucket, Key=key),
                    lambda: s3.copy_object(Bucket=bucket, Key=key + "2", CopySource={"Bucket": bucket, "Key": key}),
                    lambda: s3.list_objects_v2(Bucket=droa.model_bucket),
                    lambda: s3.put_object(Bucket=droa.model_bucket, Key="x", Body=b"x")):
        with pytest.raises(ClientError) as err:
            refused()
        assert err.value.response["Error"]["Code"] in ("AccessDenied", "403")

    parts = [b"a" * (5 << 20), b"b" * 100]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key + ".mp", ChecksumAlgorithm="SHA256")["UploadId"]
    sent = []
    for number, part in enumerate(parts, 1):
        digest = hashlib.sha256(part).digest()
        r = s3.upload_part(Bucket=bucket, Key=key + ".mp", UploadId=upload_id, PartNumber=number, Body=part,
                           ChecksumSHA256=base64.b64encode(digest).decode())
        sent.append({"PartNumber": number, "ETag": r["ETag"], "ChecksumSHA256": base64.b64encode(digest).decode()})
    assert s3.list_parts(Bucket=bucket, Key=key + ".mp", UploadId=upload_id)["Parts"]
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key + ".mp", UploadId=upload_id,
                                        MultipartUpload={"Parts": sent})
    composite = hashlib.sha256(b"".join(base64.b64decode(p["ChecksumSHA256"]) for p in sent)).digest()
    assert done["ChecksumSHA256"] == base64.b64encode(composite).decode() + "-2"
    stored = droa.admin_s3.get_object(Bucket=bucket, Key=key + ".mp")["Body"].read()
    assert stored == b"".join(parts)


def test_seed_model_checks(droa: DroaStandIn) -> None:
    with pytest.raises(KeyError):
        droa.seed_model("mallory", "Nope", {})
    with pytest.raises(ValueError):
        droa.seed_model("alice", "bad name", {})
    assert "reInvent2019_track" in TRACK_IDS and len(TRACK_IDS) == 62


# ---------------------------------------------------------------- life cycle

def test_second_standin_is_separate_and_stops_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    before = set(threading.enumerate())
    with DroaStandIn(tmp_path, users={"carol": "Carol-Passw0rd!"}, name="other", region="eu-west-1") as other:
        port = int(other.site_url.rsplit(":", 1)[1].strip("/"))
        session = login(other, "carol", "Carol-Passw0rd!")
        try:
            assert session.env["region"] == "eu-west-1"
            assert call(other, session.creds, "GET", "/models") == (200, {"models": []})
            # Signed for another region: refused.
            req = AWSRequest(method="GET", url=other.api_url + "/models")
            SigV4Auth(session.creds, "execute-api", "us-east-1").add_auth(req)
            assert status_of(urllib.request.Request(other.api_url + "/models",
                                                    headers=dict(req.headers.items()))) == 403
        finally:
            session.s3.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert _threads_started_by(before) == []
