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
from functools import lru_cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from drmodel.testing.droa_standin import TRACK_IDS, DroaStandIn
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


def call(standin: DroaStandIn, creds: Credentials | None, method: str, path: str, body: Any = None, *,
         secret: str | None = None, service: str = "execute-api", wire_body: bytes | None = None,
         token: str | None = None) -> tuple[int, Any]:
    """One REST call; signed with SigV4 unless creds is None. wire_body replaces the body after signing."""
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
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


# ---------------------------------------------------------------- models to upload

@lru_cache(maxsize=None)
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


def wait_import(standin: DroaStandIn, session: Session, model_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, model = call(standin, session.creds, "GET", f"/models/{model_id}")
        assert status == 200, model
        if model["status"] in ("READY", "ERROR") or time.monotonic() > deadline:
            return model
        time.sleep(0.05)


def import_files(standin: DroaStandIn, session: Session, files: dict[str, bytes], name: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    s3_path = upload(session, files)
    status, doc = call(standin, session.creds, "POST", "/importmodel",
                       {"s3Bucket": session.env["uploadBucketName"], "s3Path": s3_path,
                        "modelName": name or f"m-{uuid.uuid4().hex[:12]}", **extra})
    assert status == 200, doc
    return wait_import(standin, session, doc["modelId"])


def bucket_objects(s3: Any, bucket: str, prefix: str) -> dict[str, bytes]:
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
    assert text.startswith("window.EnvironmentConfig = {") and text.rstrip().endswith("};")
    assert _parse_env_js(text) == {
        "region": "us-east-1", "userPoolId": droa.user_pool_id, "userPoolClientId": droa.client_id,
        "identityPoolId": droa.identity_pool_id, "apiEndpointUrl": droa.api_url,
        "uploadBucketName": droa.upload_bucket}
    assert droa.api_url == droa.site_url + "api" and droa.upload_bucket.startswith("droa-test-upload-")
    assert droa.model_bucket.startswith("droa-test-models-")
    assert alice.creds.access_key == "TESTACCESSKEY12345" and alice.creds.token == "ABC12345"
    assert alice.identity_id.startswith("us-east-1:")

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
    assert status == 200 and isinstance(doc["models"], list) and "token" in doc
    assert droa.requests[-1] == ("GET", "/api/models")
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
    assert status_of(urllib.request.Request(droa.api_url + "/models/x", headers=dict(req.headers.items()))) == 403

    droa.expire_next(1)
    assert call(droa, alice.creds, "GET", "/models") == (
        403, {"message": "The security token included in the request is expired"})
    assert call(droa, alice.creds, "GET", "/models")[0] == 200


# ---------------------------------------------------------------- import

def test_import_to_ready_and_storage_layout(droa: DroaStandIn, alice: Session) -> None:
    files = valid_files()
    s3_path = upload(alice, files)
    name = f"Layout-{uuid.uuid4().hex[:8]}"
    droa.import_delay = 0.4  # long enough to see QUEUED
    try:
        status, doc = call(droa, alice.creds, "POST", "/importmodel",
                           {"s3Bucket": droa.upload_bucket, "s3Path": s3_path + "/", "modelName": name,
                            "modelDescription": "First upload - test 1"})
        assert status == 200 and uuid.UUID(doc["modelId"])
        model_id = doc["modelId"]
        status, model = call(droa, alice.creds, "GET", f"/models/{model_id}")
        assert status == 200 and model["status"] == "QUEUED"
    finally:
        droa.import_delay = 0.05
    model = wait_import(droa, alice, model_id)
    assert model["status"] == "READY", model
    assert model["name"] == name and model["description"] == "First upload - test 1"
    assert model["modelId"] == model_id and "importErrorMessage" not in model and model["createdAt"].endswith("Z")

    root = f"{droa.profile_id('alice')}/models/{model_id}/"
    assert droa.model_prefix(model_id) == root
    stored = bucket_objects(alice.s3, droa.model_bucket, root)
    expected = {("" if rel in ("model_metadata.json", "reward_function.py") else "sagemaker-artifacts/") + rel: data
                for rel, data in files.items()}
    assert stored == expected
    assert "sagemaker-artifacts/training_params.yaml" in stored
    assert "sagemaker-artifacts/model/model_140.pb" in stored


def _set_yaml(key: str, value: str) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        text = files["training_params.yaml"].decode()
        text, n = re.subn(rf"(?m)^{key}: .*$", f"{key}: {value}", text)
        assert n == 1
        files["training_params.yaml"] = text.encode()
    return change


def _set_meta(**changes: Any) -> Callable[[dict[str, bytes]], None]:
    def change(files: dict[str, bytes]) -> None:
        meta = json.loads(files["model_metadata.json"])
        meta.update(changes)
        files["model_metadata.json"] = files["model/model_metadata.json"] = json.dumps(meta).encode()
    return change


CONTINUOUS = {"steering_angle": {"low": -30.0, "high": 30.0}, "speed": {"low": 0.5, "high": 4.0}}


def _sac_episodes(n: int) -> Callable[[dict[str, bytes]], None]:
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


CANARY = Path("/tmp") / f"droa-standin-canary-{uuid.uuid4().hex}"
HOSTILE_REWARD = f"import os\nopen({str(CANARY)!r}, 'w').write('ran')\n\ndef reward_function(params):\n    return 1.0\n"

RULES = [
    ("unknown track", _set_yaml("WORLD_NAME", "Nowhere_track"), "WORLD_NAME is not a known track: Nowhere_track"),
    ("track with direction suffix", _set_yaml("WORLD_NAME", "reInvent2019_track_cw"), "_cw/_ccw suffix"),
    ("direction as a string", _set_yaml("TRACK_DIRECTION_CLOCKWISE", '"true"'),
     "TRACK_DIRECTION_CLOCKWISE must be a boolean"),
    ("SAC with discrete actions", _set_meta(training_algorithm="sac"), "SAC requires a continuous action space"),
    ("SAC with 20 episodes", _sac_episodes(20), "SAC requires num_episodes_between_training to be 1"),
    ("continuous speed 5", _set_meta(action_space_type="continuous",
                                     action_space={**CONTINUOUS, "speed": {"low": 1.0, "high": 5.0}}),
     "speed must be within 0.5 and 4"),
    ("continuous steering 35", _set_meta(action_space_type="continuous",
                                         action_space={**CONTINUOUS, "steering_angle": {"low": -35, "high": 35}}),
     "steering_angle must be within -30 and 30"),
    ("reward imports os", _reward(HOSTILE_REWARD), "imports a module that is not allowed: os"),
    ("reward imports from subprocess", _reward("import math\nfrom subprocess import run\n"),
     "not allowed: subprocess"),
    ("missing best .pb", _drop("model/model_140.pb"), "model/model_140.pb is missing"),
    ("missing hyperparameters", _drop("ip/hyperparameters.json"), "ip/hyperparameters.json is missing"),
    ("missing model/model_metadata.json", _drop("model/model_metadata.json"), "model/model_metadata.json is missing"),
    ("missing checkpoint pointers", _drop("model/deepracer_checkpoints.json", "model/.coach_checkpoint"),
     "model/deepracer_checkpoints.json"),
]


@pytest.mark.parametrize(("change", "message"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_import_rules(droa: DroaStandIn, alice: Session, change: Callable[[dict[str, bytes]], None],
                      message: str) -> None:
    files = valid_files()
    change(files)
    model = import_files(droa, alice, files)
    assert model["status"] == "ERROR", model
    assert message in model["importErrorMessage"]
    assert bucket_objects(alice.s3, droa.model_bucket, droa.model_prefix(model["modelId"])) == {}
    assert not CANARY.exists(), "the reward function was executed"


@pytest.mark.parametrize(("change", "why"), [
    (_drop("model/deepracer_checkpoints.json"), "best from .coach_checkpoint (145), whose .pb is there"),
    (_sac_episodes(1), "SAC, continuous, one episode between trainings"),
    (_reward("import math\nimport numpy as np\nfrom scipy import stats\nimport shapely.geometry\n"
             "def reward_function(params):\n    return 1.0\n"), "allowed imports"),
    (_set_yaml("TRACK_DIRECTION_CLOCKWISE", "true"), "a YAML boolean"),
], ids=["coach-checkpoint", "sac-ok", "allowed-imports", "clockwise-true"])
def test_import_accepts(droa: DroaStandIn, alice: Session, change: Callable[[dict[str, bytes]], None],
                        why: str) -> None:
    files = valid_files()
    change(files)
    model = import_files(droa, alice, files)
    assert model["status"] == "READY", (why, model)


def test_single_list_call_drops_objects_past_1000(droa: DroaStandIn, alice: Session) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    s3_path = upload(alice, valid_files())
    # 1000 more objects that sort before model/ and the root files (inserted straight into moto: fast).
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for i in range(1000):
        backend.put_object(droa.upload_bucket, f"{s3_path}/logs/{i:04d}.log", b"log line\n")
    pages = alice.s3.get_paginator("list_objects_v2").paginate(Bucket=droa.upload_bucket, Prefix=s3_path + "/")
    everything = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert len(everything) > 1000 and f"{s3_path}/training_params.yaml" in everything
    status, doc = call(droa, alice.creds, "POST", "/importmodel",
                       {"s3Bucket": droa.upload_bucket, "s3Path": s3_path, "modelName": f"big-{uuid.uuid4().hex[:8]}"})
    assert status == 200
    model = wait_import(droa, alice, doc["modelId"])
    # Present in the bucket, but past the first 1000 keys of the one listing: reported missing.
    assert model["status"] == "ERROR"
    assert model["importErrorMessage"] == "Required file training_params.yaml is missing from the model files"


# ---------------------------------------------------------------- requests refused

def test_import_request_refusals(droa: DroaStandIn, alice: Session) -> None:
    s3_path = upload(alice, valid_files())

    def post(**body: Any) -> tuple[int, Any]:
        return call(droa, alice.creds, "POST", "/importmodel",
                    {"s3Bucket": droa.upload_bucket, "s3Path": s3_path, **body})

    for bad in ("has space", "under_score", "dot.name", "", "x" * 65, "ünï"):
        status, doc = post(modelName=bad)
        assert status == 400 and doc["message"], bad
    assert post(modelName="x" * 64, modelDescription="x" * 256)[0] == 400
    assert post(modelName="desc-bad", modelDescription="no_underscores")[0] == 400
    status, doc = call(droa, alice.creds, "POST", "/importmodel",
                       {"s3Bucket": droa.model_bucket, "s3Path": s3_path, "modelName": "wrong-bucket"})
    assert status == 400 and droa.upload_bucket in doc["message"]
    assert call(droa, alice.creds, "POST", "/importmodel", {"modelName": "no-bucket"})[0] == 400

    name = f"Taken-{uuid.uuid4().hex[:8]}"
    status, doc = post(modelName=name, modelDescription="A fine model 2")
    assert status == 200
    assert post(modelName=name) == (409, {"message": "Model name already exists"})
    assert wait_import(droa, alice, doc["modelId"])["status"] == "READY"
    assert post(modelName=name) == (409, {"message": "Model name already exists"})

    # The name of a model that ended in ERROR can be used again.
    failed = f"Failed-{uuid.uuid4().hex[:8]}"
    broken = valid_files()
    del broken["reward_function.py"]
    assert import_files(droa, alice, broken, failed)["status"] == "ERROR"
    assert import_files(droa, alice, valid_files(), failed)["status"] == "READY"


def test_unknown_routes_and_methods(droa: DroaStandIn, alice: Session) -> None:
    assert call(droa, alice.creds, "GET", "/models/no-such-id") == (404, {"message": "Model not found"})
    assert call(droa, alice.creds, "DELETE", "/models/no-such-id")[0] == 404
    assert call(droa, alice.creds, "GET", "/nothing-here")[0] == 404
    assert call(droa, alice.creds, "PUT", "/models", {})[0] == 405
    assert call(droa, None, "GET", "/nothing-here")[0] == 403  # authentication comes first
    assert call(droa, alice.creds, "GET", "/models?token=bogus")[0] == 400


# ---------------------------------------------------------------- list, delete, export

def test_list_pages_of_two(droa: DroaStandIn, alice: Session) -> None:
    seeded = {droa.seed_model("bob", f"Page-{i}-{uuid.uuid4().hex[:6]}", valid_files()) for i in range(5)}
    pages, token = [], None
    while True:
        status, doc = call(droa, alice.creds, "GET", "/models" + (f"?token={token}" if token else ""))
        assert status == 200
        pages.append(doc["models"])
        token = doc["token"]
        if token is None:
            break
    assert len(pages) >= 3 and all(len(p) == 2 for p in pages[:-1]) and 1 <= len(pages[-1]) <= 2
    ids = [m["modelId"] for p in pages for m in p]
    assert len(ids) == len(set(ids)) and seeded <= set(ids)
    for model in (m for p in pages for m in p):
        assert set(model) >= {"modelId", "name", "description", "status", "createdAt"}
        assert ("importErrorMessage" in model) == (model["status"] == "ERROR")


def test_delete_removes_objects(droa: DroaStandIn, alice: Session) -> None:
    model_id = droa.seed_model("alice", f"Doomed-{uuid.uuid4().hex[:6]}", valid_files())
    root = droa.model_prefix(model_id)
    assert bucket_objects(alice.s3, droa.model_bucket, root)
    assert call(droa, alice.creds, "DELETE", f"/models/{model_id}") == (200, {})
    assert bucket_objects(alice.s3, droa.model_bucket, root) == {}
    assert call(droa, alice.creds, "GET", f"/models/{model_id}") == (404, {"message": "Model not found"})


def _export(droa: DroaStandIn, session: Session, model_id: str) -> tarfile.TarFile:
    for _ in range(2):
        assert call(droa, session.creds, "GET", f"/models/{model_id}/getasset?assetType=VIRTUAL_MODEL") == (
            200, {"status": "QUEUED"})
    status, doc = call(droa, session.creds, "GET", f"/models/{model_id}/getasset?assetType=VIRTUAL_MODEL")
    assert status == 200 and set(doc) == {"url"}
    assert doc["url"].startswith(droa.aws_endpoint + "/" + droa.model_bucket + "/")
    with urllib.request.urlopen(doc["url"], timeout=30) as resp:  # presigned: no credentials needed
        data = resp.read()
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")


def test_export_virtual_model(droa: DroaStandIn, alice: Session) -> None:
    files = valid_files()
    name = f"Export-{uuid.uuid4().hex[:6]}"
    model_id = droa.seed_model("alice", name, files)
    root = droa.model_prefix(model_id)
    for extra in ("sim-trace/training/0.csv", "videos/lap.mp4", "sagemaker-artifacts/output/model.tar.gz"):
        alice.s3.put_object(Bucket=droa.model_bucket, Key=root + extra, Body=b"not exported")

    assert call(droa, alice.creds, "GET", f"/models/{model_id}/getasset?assetType=PHYSICAL_CAR_MODEL")[0] == 400
    assert call(droa, alice.creds, "GET", f"/models/{model_id}/getasset")[0] == 400
    assert call(droa, alice.creds, "GET", "/models/no-such-id/getasset?assetType=VIRTUAL_MODEL")[0] == 404

    tar = _export(droa, alice, model_id)
    members = tar.getmembers()
    assert all(m.isreg() and not m.name.startswith("/") and ".." not in m.name for m in members)
    assert {m.name: tar.extractfile(m).read() for m in members} == files  # type: ignore[union-attr]
    listing = alice.s3.list_objects_v2(Bucket=droa.model_bucket, Prefix=droa.profile_id("alice") + "/exports/")
    assert any(o["Key"].endswith(f"/{model_id}/virtualmodel-{name}.tar.gz") for o in listing.get("Contents", []))
    # Later calls return the URL straight away.
    status, doc = call(droa, alice.creds, "GET", f"/models/{model_id}/getasset?assetType=VIRTUAL_MODEL")
    assert status == 200 and "url" in doc


def test_import_then_export_round_trip(droa: DroaStandIn, alice: Session) -> None:
    files = valid_files()
    model = import_files(droa, alice, files)
    assert model["status"] == "READY"
    tar = _export(droa, alice, model["modelId"])
    assert {m.name: tar.extractfile(m).read() for m in tar.getmembers()} == files  # type: ignore[union-attr]


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
            assert call(other, session.creds, "GET", "/models") == (200, {"models": [], "token": None})
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
