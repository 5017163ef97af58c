"""A local stand-in for one "DeepRacer on AWS" (DRoA) deployment, for the tests and `drmodel demo --droa`.

Over the size limit: test code that plays a whole deployment (web config, Cognito, the API, the import and export
workflows, the S3 permissions proxy) around one shared state; `_make_proxy_handler` and `_authenticate` follow
the real request flow step by step. To be split into a package when it next grows.

It follows the real DRoA, aws-solutions/deepracer-on-aws @ 61af778f ("D:" below), and the model validator DRoA's
import runs, aws-deepracer-community/deepracer-simapp @ 01f5f015. What it runs, all on 127.0.0.1:
- its own moto server: a Cognito user pool with an app client (USER_PASSWORD_AUTH) and the given users, an
  identity pool whose provider is that user pool, the upload bucket, the model data bucket and the virtual model
  bucket;
- an AWS endpoint for the users (`aws_endpoint`): a proxy in front of moto that lets the identity pool's
  credentials do on S3 only what DRoA's user roles may (PutObject, PutObjectAcl and the multipart-upload calls on
  the upload bucket's objects: D source/apps/infra/lib/constructs/auth/userRolePolicies.ts#L38-L54), answering
  403 AccessDenied to anything else (HEAD, GET, LIST...), and that adds to the answers of those writes the
  checksums S3 returns and moto does not (x-amz-checksum-* of a PUT or part, the composite ChecksumSHA256 of
  CompleteMultipartUpload), after checking them against the bytes as S3 does;
- a small HTTP server (`site_url`): `GET /env.js` like the DRoA web site (compact JSON, every key the real one
  has, apiEndpointUrl with a stage and a trailing slash), and the REST API under `/api/prod/`.

The REST API behaves like DRoA's:
- every request needs a real SigV4 signature (service execute-api) by the identity pool's credentials; an unknown
  route or method answers 403 "Missing Authentication Token", as API Gateway does;
- errors carry `x-amzn-errortype` and DRoA's bodies: BadRequestError/NotFoundError `{"message"}`, an input that
  breaks the API's patterns (a model id that is not 15 letters and digits, an unknown asset type) 400
  ValidationException with `fieldList`, API Gateway's request validation 400 `{"errorMessage"}` without a type,
  an unmodelled failure 500 InternalFailure with `{}`, a crash of the stand-in 502 `{"message": "Internal server
  error"}`;
- ids are 15-character nanoids; GET /models/{id} answers `{"model": {...}}` with the full Model shape; GET /models
  pages of 100 (`page_size`), with an opaque token left out on the last page, and only the caller's models;
- POST /importmodel checks what DRoA checks synchronously, in its order (drmodel.droa.rules: the request, the four
  files read from `s3Path + "/" + name` in any bucket it can read, car, track, object avoidance, SAC, continuous
  action space) and answers 400 or 500 before creating anything; it never checks name uniqueness; then the model
  is IMPORTING, and the import workflow runs: the reward function's static checks (flake8 with DRoA's selection,
  imports, forbidden calls and strings) -> ERROR "Reward Function Validation ...", the model validator's rules ->
  ERROR "Model validation failed[: ...]", one ListObjectsV2 of the upload (the first 1000 keys) copied into
  `<profileId>/models/<modelId>/` -> READY;
- DELETE /models/{id} works on READY or ERROR models only, and answers 200 with an empty body;
- GET .../getasset: VIRTUAL_MODEL starts ("invokes") packaging on every call until a package exists (counted in
  `packaging_invocations`), then answers a URL presigned for 900 s with DRoA's Content-Disposition; the archive is
  built as DRoA's packaging Lambda builds it; `fail_next_packaging` makes packaging fail once (a 404 "Asset
  Packaging Failed: ..."). TRAINING_LOGS archives the model's metrics/, sim-trace/training/ and logs/training/
  files; EVALUATION_LOGS needs an evaluationId (imported models have no evaluations: 404); PHYSICAL_CAR_MODEL is
  404 for an imported model; VIDEOS is refused.

Where it still differs from the real DRoA:
- moto's identity pool issues the same credentials to everybody, so a request does not say who sent it: every
  API caller acts as the first user of `users` (seed_model can still give models to the others; the API never
  shows them);
- the model validator's rewrite of the upload's model/.coach_checkpoint (to the JSON's best, else last,
  checkpoint) is modelled, but not the model/.ready and .coach_checkpoint it writes for models older than
  metadata version 2;
- the reward function is never run: DRoA's run-time checks (a float within +/-1e5 on sample inputs, imports
  blocked, 5 s per call) are not applied, and a function that loops does not leave the model IMPORTING;
- the model validator is drmodel's reading of the SimApp's code (drmodel.droa.rules): TensorFlow never restores
  the weights, so a checkpoint that does not match model/model_metadata.json (action count, sensors, network)
  is accepted; an incomplete checkpoint gives a bare "Model validation failed" whatever TensorFlow would say;
- the messages of API Gateway's request validation and of ValidationException follow the documented forms, not
  texts captured from AWS; WAF (Bot Control) is not there; the buckets do not demand HTTPS, have no versioning and
  do not expire uploads after a day; the API's Lambdas have no time limits;
- the proxy checks CRC32, SHA1 and SHA256 checksums (CRC32C and CRC64NVME are echoed unchecked), and buffers
  every request in memory;
- illegal imports are listed sorted (DRoA lists them in a set's order, which varies), and a flake8 run happens
  on this machine's Python (DRoA's is 3.12: f-string contents are only checked there).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import http.server
import io
import json
import logging
import re
import secrets
import string
import tarfile
import threading
import time
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["DroaStandIn", "TRACK_IDS", "ALLOWED_REWARD_IMPORTS", "MODEL_NAME_RE", "DESCRIPTION_RE", "new_id"]

from drmodel.droa import rules  # noqa: E402  # after __all__; DRoA's rules and words, shared with the pre-flight
from drmodel.droa.tracks import TRACK_IDS  # noqa: E402  # after __all__, with the import above

ALLOWED_REWARD_IMPORTS: frozenset[str] = frozenset(rules.ALLOWED_IMPORTS)
MODEL_NAME_RE = re.compile(r"^[a-zA-Z0-9-]+\Z")
DESCRIPTION_RE = re.compile(r"^[a-zA-Z0-9- ]+\Z")
ID_RE = re.compile(r"^[A-Za-z0-9]{15}\Z")
ID_PATTERN = "^[A-Za-z0-9]{15}$"
ID_ALPHABET = string.ascii_letters + string.digits
ASSET_TYPES = ("EVALUATION_LOGS", "PHYSICAL_CAR_MODEL", "TRAINING_LOGS", "VIDEOS", "VIRTUAL_MODEL")

# What moto's cognito-identity GetCredentialsForIdentity returns (moto/cognitoidentity/models.py).
MOTO_IDENTITY_CREDENTIALS = {"TESTACCESSKEY12345": ("ABCSECRETKEY", "ABC12345")}
_ADMIN_KEY, _ADMIN_SECRET = "testing", "testing"  # the stand-in's own calls to its moto server
PAGE_SIZE = 100  # D: source/libs/database/src/constants/defaults.ts#L4
SIGNATURE_WINDOW = timedelta(minutes=15)
SIGV4_FORMAT = "%Y%m%dT%H%M%SZ"
STAGE = "prod"
PACKAGE_URL_SECONDS = 900  # D: getAssetUrl.ts#L210-L214
LOGS_URL_SECONDS = 3600
PACKAGING_TIME_DELTA = 60.0  # D: getAssetUrl.ts#L192

MSG_MISSING_TOKEN = "Missing Authentication Token"
MSG_BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your "
                     "AWS Secret Access Key and signing method. Consult the service documentation for details.")
MSG_INVALID_TOKEN = "The security token included in the request is invalid."
MSG_EXPIRED = "The security token included in the request is expired"
MSG_NOT_FOUND = "Item not found."  # D: source/libs/database/src/constants/errorMessages.ts#L5
MSG_CANNOT_DELETE = "This resource cannot be deleted at this time. Try again later."  # deleteModel.ts#L33
MSG_UNEXPECTED = ("Unexpected error occurred while importing a model. Please try again in few minutes or contact "
                  "support if issue persists with Request ID: {}")  # importModelCompletion.ts#L167

_log = logging.getLogger(__name__)


def new_id() -> str:
    """A 15-character nanoid over [A-Za-z0-9], like DRoA's generateResourceId (resourceUtils.ts#L13-L14)."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(15))


def _iso(t: float) -> str:
    """Date.toISOString() as Smithy serialises it: milliseconds only when they are not zero."""
    text = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return text.replace(".000Z", "Z")


class _ApiError(Exception):
    """An error answer: status, body document, x-amzn-errortype (None: API Gateway's own, no such header)."""

    def __init__(self, status: int, doc: Any, error_type: str | None = None) -> None:
        super().__init__(str(doc))
        self.status, self.doc, self.error_type = status, doc, error_type

    @property
    def message(self) -> str:
        if isinstance(self.doc, dict):
            return str(self.doc.get("message") or self.doc.get("errorMessage") or "")
        return ""


def _bad_request(message: str) -> _ApiError:
    return _ApiError(400, {"message": message}, "BadRequestError")


def _not_found(message: str = MSG_NOT_FOUND) -> _ApiError:
    return _ApiError(404, {"message": message}, "NotFoundError")


def _internal() -> _ApiError:
    return _ApiError(500, {}, "InternalFailure")


def _gateway_validation(message: str) -> _ApiError:
    return _ApiError(400, {"errorMessage": message}, None)


def _validation(path: str, constraint: str) -> _ApiError:
    text = f"Value at '{path}' failed to satisfy constraint: Member must satisfy {constraint}"
    return _ApiError(400, {"message": f"1 validation error detected. {text}",
                           "fieldList": [{"path": path, "message": text}]}, "ValidationException")


class _ImportFailed(Exception):
    """The import workflow ends the model in ERROR with this importErrorMessage."""


@dataclass
class _Model:
    model_id: str
    name: str
    description: str
    profile_id: str
    created: float
    status: str = "IMPORTING"
    error: str | None = None
    car: tuple[str, str] = ("DEEPRACER", "WHITE")
    track: tuple[Any, str] = ("reInvent2019_track", "COUNTER_CLOCKWISE")
    race_type: str = "TIME_TRIAL"
    object_avoidance: dict[str, Any] | None = None
    algorithm: str = "PPO"
    reward_function: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    action_space: dict[str, Any] = field(default_factory=dict)
    sensors: dict[str, str] = field(default_factory=dict)
    job_name: str = ""
    updated: float = 0.0
    packaging_status: str | None = None
    packaging_request: str | None = None
    packaged: float = 0.0
    package_key: str | None = None
    packaging_invocations: int = 0
    fail_packaging: bool = False
    logs_key: str | None = None

    def touch(self) -> None:
        self.updated = time.time()

    def to_json(self, metrics_url: str) -> dict[str, Any]:
        """The Model shape (D: source/libs/model/src/main/smithy/types/model.smithy#L5-L49, getModel.ts#L30-L52)."""
        training: dict[str, Any] = {"trackConfig": {"trackId": self.track[0], "trackDirection": self.track[1]},
                                    "maxTimeInMinutes": 0, "raceType": self.race_type}
        if self.object_avoidance is not None:
            training["objectAvoidanceConfig"] = self.object_avoidance
        doc: dict[str, Any] = {
            "carCustomization": {"carColor": self.car[1], "carShell": self.car[0]},
            "createdAt": _iso(self.created), "description": self.description, "fileSizeInBytes": 0,
            "metadata": {"agentAlgorithm": self.algorithm, "rewardFunction": self.reward_function,
                         "hyperparameters": self.hyperparameters, "actionSpace": self.action_space,
                         "sensors": self.sensors},
            "modelId": self.model_id, "name": self.name, "status": self.status, "trainingConfig": training,
            "trainingStatus": "COMPLETED", "trainingMetricsUrl": metrics_url,
        }
        if self.error is not None:
            doc["importErrorMessage"] = self.error
        return doc


class DroaStandIn:
    """One DRoA deployment on loopback. Use as a context manager, or call start() and stop()."""

    def __init__(self, workdir: Path, *, users: Mapping[str, str], name: str = "droa", region: str = "us-east-1",
                 account_id: str = "111111111111", export_queued_polls: int = 2, import_delay: float = 0.3,
                 page_size: int = PAGE_SIZE) -> None:
        if not users:
            raise ValueError("a DRoA stand-in needs at least one user")
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", name):
            raise ValueError(f"stand-in name {name!r}: lower-case letters, digits and '-' (it prefixes bucket names)")
        self.workdir = Path(workdir)
        self.users: dict[str, str] = dict(users)
        self.name = name
        self._region = region
        # moto keeps one state per process; separating accounts would need a header on every client call, so the
        # resources live in moto's default account whatever this says (kept for the record).
        self.account_id = account_id
        self.export_queued_polls = export_queued_polls  # packaging "invocations" before the package exists
        self._initial_export_queued_polls = export_queued_polls  # reset() restores it
        self.import_delay = import_delay
        self.page_size = page_size
        rand = secrets.token_hex(4)
        self._upload_bucket = f"{name}-upload-{rand}"
        self._model_bucket = f"{name}-models-{rand}"
        self._virtual_bucket = f"{name}-virtual-{rand}"
        self.requests: list[tuple[str, str]] = []  # verified /api requests: (method, path without query)
        self.rejections: list[tuple[str, str, int, str]] = []  # refused /api requests: (method, path, status, msg)
        self.s3_requests: list[tuple[str, str, str, int]] = []  # users' S3 calls: (method, bucket, operation, status)
        self._lock = threading.RLock()
        self._models: dict[str, _Model] = {}
        self._expire = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._moto: Any = None
        self._moto_endpoint: str | None = None
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._proxy: http.server.ThreadingHTTPServer | None = None
        self._server_threads: list[threading.Thread] = []
        self._clients: list[Any] = []
        self._user_pool_id = self._client_id = self._identity_pool_id = ""
        self._profiles: dict[str, str] = {}
        self._parts: dict[str, dict[int, bytes]] = {}  # uploadId -> part number -> sha256 digest (the proxy's)
        self._presigner: Any = None

    # ------------------------------------------------------------------ properties
    def _need(self, value: str | None) -> str:
        if not value:
            raise RuntimeError("the DRoA stand-in is not started")
        return value

    @property
    def site_url(self) -> str:
        assert self._httpd is not None, "the DRoA stand-in is not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    @property
    def api_url(self) -> str:
        """The API's base URL, without the trailing slash env.js has."""
        return self.site_url + "api/" + STAGE

    @property
    def aws_endpoint(self) -> str:
        """Cognito and S3 for the users (and drmodel's `endpoint_url`): the checking proxy."""
        assert self._proxy is not None, "the DRoA stand-in is not started"
        return f"http://127.0.0.1:{self._proxy.server_address[1]}"

    @property
    def upload_bucket(self) -> str:
        return self._upload_bucket

    @property
    def model_bucket(self) -> str:
        return self._model_bucket

    @property
    def virtual_model_bucket(self) -> str:
        return self._virtual_bucket

    @property
    def region(self) -> str:
        return self._region

    @property
    def user_pool_id(self) -> str:
        return self._need(self._user_pool_id)

    @property
    def client_id(self) -> str:
        return self._need(self._client_id)

    @property
    def identity_pool_id(self) -> str:
        return self._need(self._identity_pool_id)

    @property
    def admin_s3(self) -> Any:
        """An S3 client with the deployment's own rights (every bucket), for tests to look inside."""
        return self._s3

    def env(self) -> dict[str, str]:
        """The settings env.js publishes (D: source/apps/infra/lib/constructs/website/website.ts#L213-L225)."""
        return {"apiEndpointUrl": self.api_url + "/", "userPoolId": self.user_pool_id,
                "userPoolClientId": self.client_id, "identityPoolId": self.identity_pool_id, "region": self.region,
                "uploadBucketName": self.upload_bucket,
                "iotEndpoint": f"local-ats.iot.{self.region}.amazonaws.com", "solutionVersion": "v1.2.5",
                "namespace": self.name}

    def env_js(self) -> str:
        return f"window.EnvironmentConfig = {json.dumps(self.env(), separators=(',', ':'))};"

    def profile_id(self, username: str) -> str:
        """The profile id (a 15-character id, the Cognito username DRoA creates) that owns `username`'s models."""
        if username not in self.users:
            raise KeyError(f"no user {username!r} in this stand-in")
        return self._profiles[username]

    def model_prefix(self, model_id: str) -> str:
        """`<profileId>/models/<modelId>/`: where the model's files are in the model bucket."""
        with self._lock:
            model = self._models[model_id]
            return f"{model.profile_id}/models/{model.model_id}/"

    def status_of(self, model_id: str) -> str:
        with self._lock:
            return self._models[model_id].status

    def packaging_invocations(self, model_id: str) -> int:
        """How many times GET .../getasset?assetType=VIRTUAL_MODEL started packaging this model."""
        with self._lock:
            return self._models[model_id].packaging_invocations

    def fail_next_packaging(self, model_id: str) -> None:
        """Make the model's next packaging fail (the next call then answers 404 'Asset Packaging Failed')."""
        with self._lock:
            self._models[model_id].fail_packaging = True

    def expire_next(self, n: int) -> None:
        """Make the next n otherwise-valid /api requests fail with 403 'security token ... expired'."""
        with self._lock:
            self._expire = max(0, int(n))

    def reset(self) -> None:
        """Back to the state start() left, without restarting: waits for the running imports, forgets every model,
        request and rejection, empties the three buckets (unfinished multipart uploads too) and restores
        `export_queued_polls`. Users, passwords, the pools and the endpoints stay (tests share one stand-in)."""
        with self._lock:
            threads, self._threads = list(self._threads), []
        for t in threads:
            t.join(timeout=30)
        for bucket in (self._upload_bucket, self._model_bucket, self._virtual_bucket):
            self._delete_prefix(bucket, "")
            for page in self._s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
                for upload in page.get("Uploads", []):
                    self._s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        with self._lock:
            self._models.clear()
            self._parts.clear()
            self._expire = 0
            self.export_queued_polls = self._initial_export_queued_polls
            self.requests.clear()
            self.rejections.clear()
            self.s3_requests.clear()

    # ------------------------------------------------------------------ life cycle
    def __enter__(self) -> DroaStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> DroaStandIn:
        from moto.server import ThreadedMotoServer

        if self._moto is not None:
            raise RuntimeError("the DRoA stand-in is already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        werkzeug_log = logging.getLogger("werkzeug")  # moto's request log would flood the terminal
        if werkzeug_log.level == logging.NOTSET:
            werkzeug_log.setLevel(logging.ERROR)
        self._stopping.clear()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self._moto_endpoint = f"http://{host}:{port}"
        try:
            self._provision()
            self._httpd = self._serve(_make_handler(self), "site")
            self._proxy = self._serve(_make_proxy_handler(self), "aws")
        except BaseException:
            self.stop()
            raise
        return self

    def _serve(self, handler: type, what: str) -> http.server.ThreadingHTTPServer:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name=f"droa-standin-{self.name}-{what}",
                                  kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        self._server_threads.append(thread)
        return server

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=30)
        for server in (self._httpd, self._proxy):
            if server is not None:
                server.shutdown()
                server.server_close()
        for thread in self._server_threads:
            thread.join(timeout=10)
        self._httpd = self._proxy = None
        self._server_threads = []
        for client in self._clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001  # best effort
                pass
        self._clients = []
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        self._moto_endpoint = None

    # ------------------------------------------------------------------ AWS side
    def _client(self, service: str, endpoint: str | None = None) -> Any:
        import boto3
        import botocore.session
        from botocore.config import Config

        # No profile from the environment: the stand-in talks to its own moto with fixed keys.
        core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        session = boto3.session.Session(botocore_session=core, aws_access_key_id=_ADMIN_KEY,
                                        aws_secret_access_key=_ADMIN_SECRET, region_name=self.region)
        client = session.client(service, endpoint_url=endpoint or self._need(self._moto_endpoint), config=Config(
            s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10, read_timeout=60))
        self._clients.append(client)
        return client

    def _provision(self) -> None:
        self._s3 = self._client("s3")
        idp = self._client("cognito-idp")
        identity = self._client("cognito-identity")
        pool = idp.create_user_pool(PoolName=f"{self.name}-users")["UserPool"]
        self._user_pool_id = pool["Id"]
        app = idp.create_user_pool_client(
            UserPoolId=self._user_pool_id, ClientName=f"{self.name}-web", GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]
        self._client_id = app["ClientId"]
        for user, password in self.users.items():
            idp.admin_create_user(UserPoolId=self._user_pool_id, Username=user, MessageAction="SUPPRESS")
            idp.admin_set_user_password(UserPoolId=self._user_pool_id, Username=user, Password=password,
                                        Permanent=True)
            self._profiles[user] = new_id()
        provider = f"cognito-idp.{self.region}.amazonaws.com/{self._user_pool_id}"
        self._identity_pool_id = identity.create_identity_pool(
            IdentityPoolName=f"{self.name.replace('-', '_')}_identities", AllowUnauthenticatedIdentities=False,
            CognitoIdentityProviders=[{"ProviderName": provider, "ClientId": self._client_id,
                                       "ServerSideTokenCheck": False}])["IdentityPoolId"]
        for bucket in (self._upload_bucket, self._model_bucket, self._virtual_bucket):
            if self.region == "us-east-1":
                self._s3.create_bucket(Bucket=bucket)
            else:
                self._s3.create_bucket(Bucket=bucket,
                                       CreateBucketConfiguration={"LocationConstraint": self.region})

    def _presign(self, bucket: str, key: str, seconds: int, filename: str | None = None) -> str:
        """A presigned GET through the users' endpoint (the stand-in's own rights), like S3Helper.getPresignedUrl
        (D: source/libs/utils/src/s3/S3Helper.ts#L109-L134)."""
        with self._lock:
            if self._presigner is None:
                self._presigner = self._client("s3", self.aws_endpoint)
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if filename:
            safe = re.sub(r'[\r\n"\\;]', "_", filename)
            params["ResponseContentDisposition"] = f'attachment; filename="{safe}"'
        return str(self._presigner.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds))

    def _caller_profile(self) -> str:
        return self._profiles[next(iter(self.users))]

    # ------------------------------------------------------------------ test helpers
    def seed_model(self, owner: str, name: str, files: Mapping[str, bytes]) -> str:
        """Put a model straight into storage as READY (canonical relative paths in `files`); returns its id."""
        profile = self.profile_id(owner)
        if not MODEL_NAME_RE.match(name) or len(name) > 64:
            raise ValueError(f"invalid model name {name!r}")
        model = self._new_model(name, "", profile, status="READY")
        root = f"{profile}/models/{model.model_id}/"
        for rel, data in files.items():
            self._s3.put_object(Bucket=self._model_bucket, Key=root + _storage_path(rel), Body=bytes(data))
        return model.model_id

    def _new_model(self, name: str, description: str, profile: str, status: str = "IMPORTING") -> _Model:
        with self._lock:
            model_id = new_id()
            while model_id in self._models:
                model_id = new_id()
            now = time.time()
            model = _Model(model_id=model_id, name=name, description=description, profile_id=profile, created=now,
                           status=status, updated=now, job_name=f"training-{new_id()}")
            self._models[model_id] = model
            return model

    # ------------------------------------------------------------------ SigV4
    def _authenticate(self, method: str, raw_path: str, headers: Message, body: bytes) -> None:
        # Over the size limit: the request flow of the real service, step by step (see the module docstring)
        """Raise _ApiError(403) unless the request is signed with the identity pool's credentials."""
        auth = headers.get("Authorization")
        if not auth:
            raise _ApiError(403, {"message": MSG_MISSING_TOKEN}, "MissingAuthenticationTokenException")
        algorithm, _, rest = auth.strip().partition(" ")
        params: dict[str, str] = {}
        for part in rest.split(","):
            key, eq, value = part.strip().partition("=")
            if eq:
                params[key.strip()] = value.strip()
        missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in params]
        if algorithm != "AWS4-HMAC-SHA256" or missing:
            text = " ".join(f"Authorization header requires '{k}' parameter." for k in missing)
            raise _ApiError(403, {"message": text or f"Unsupported authorization algorithm {algorithm!r}."},
                            "IncompleteSignatureException")
        amz_date = headers.get("X-Amz-Date") or ""
        try:
            signed_at = datetime.strptime(amz_date, SIGV4_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise _ApiError(403, {"message": "Authorization header requires existence of either a 'X-Amz-Date' or a "
                                             "'Date' header."}, "IncompleteSignatureException") from None
        scope = params["Credential"].split("/")
        if len(scope) != 5:
            raise _ApiError(403, {"message": "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/"
                                             "region/service/term"}, "IncompleteSignatureException")
        access_key, day, region, service, terminator = scope

        def invalid(message: str, kind: str = "InvalidSignatureException") -> _ApiError:
            return _ApiError(403, {"message": message}, kind)

        if day != amz_date[:8]:
            raise invalid(f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                          f"'{day}' != '{amz_date[:8]}'")
        if region != self.region:
            raise invalid(f"Credential should be scoped to a valid region, not '{region}'.")
        if service != "execute-api":
            raise invalid("Credential should be scoped to correct service: 'execute-api'.")
        if terminator != "aws4_request":
            raise invalid(f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'.")
        now = datetime.now(UTC)
        if abs(now - signed_at) > SIGNATURE_WINDOW:
            raise invalid(f"Signature expired: {amz_date} is now earlier than "
                          f"{(now - SIGNATURE_WINDOW).strftime(SIGV4_FORMAT)}")
        known = MOTO_IDENTITY_CREDENTIALS.get(access_key)
        if known is None:
            raise invalid(MSG_INVALID_TOKEN, "UnrecognizedClientException")
        secret, session_token = known
        if headers.get("X-Amz-Security-Token") != session_token:
            raise invalid(MSG_INVALID_TOKEN, "UnrecognizedClientException")
        signed_names = params["SignedHeaders"].split(";")
        if "host" not in signed_names or any(n != n.lower() or not n for n in signed_names):
            raise invalid(MSG_BAD_SIGNATURE)
        expected = _signature(method, raw_path, headers, body, signed_names, amz_date, access_key, secret,
                              session_token, self.region)
        if expected is None or not hmac.compare_digest(expected, params["Signature"]):
            raise invalid(MSG_BAD_SIGNATURE)
        with self._lock:
            if self._expire > 0:
                self._expire -= 1
                raise invalid(MSG_EXPIRED, "ExpiredTokenException")

    # ------------------------------------------------------------------ API
    def _route(self, method: str, segments: list[str]) -> str | None:
        """The operation API Gateway routes to, or None (then it answers 403 Missing Authentication Token)."""
        if segments == ["models"] and method == "GET":
            return "ListModels"
        if segments == ["importmodel"] and method == "POST":
            return "ImportModel"
        if len(segments) == 2 and segments[0] == "models" and method in ("GET", "DELETE"):
            return "GetModel" if method == "GET" else "DeleteModel"
        if len(segments) == 3 and segments[0] == "models" and segments[2] == "getasset" and method == "GET":
            return "GetAssetUrl"
        return None

    def _api(self, method: str, raw_path: str, headers: Message, body: bytes) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        path = parts.path
        base = f"/api/{STAGE}"
        segments = [s for s in path[len(base):].split("/") if s] if path.startswith(base + "/") else None
        try:
            operation = self._route(method, segments) if segments is not None else None
            if operation is None:
                raise _ApiError(403, {"message": MSG_MISSING_TOKEN}, "MissingAuthenticationTokenException")
            self._authenticate(method, raw_path, headers, body)
        except _ApiError as exc:
            with self._lock:
                self.rejections.append((method, path, exc.status, exc.message))
            raise
        with self._lock:
            self.requests.append((method, path))
        assert segments is not None
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if operation == "ListModels":
            return 200, self._list(query.get("token"))
        if operation == "ImportModel":
            return 200, self._import(body)
        model_id = segments[1]
        if not ID_RE.match(model_id):  # D: types/common.smithy#L5-L6, checked before the handler
            raise _validation("/modelId", f"regular expression pattern: {ID_PATTERN}")
        if operation == "GetModel":
            model = self._get(model_id)
            return 200, {"model": self._model_json(model)}
        if operation == "DeleteModel":
            self._delete(model_id)
            return 200, None
        return 200, self._getasset(model_id, query)

    def _model_json(self, model: _Model) -> dict[str, Any]:
        metrics = f"{model.profile_id}/models/{model.model_id}/metrics/training/{model.job_name}.json"
        return model.to_json(self._presign(self._model_bucket, metrics, LOGS_URL_SECONDS))

    def _get(self, model_id: str) -> _Model:
        with self._lock:
            model = self._models.get(model_id)
            if model is None or model.profile_id != self._caller_profile():
                raise _not_found()
            return model

    def _list(self, token: str | None) -> dict[str, Any]:
        """D: listModels.ts#L20-L75: the caller's models in key order, `page_size` a page; the token is the last
        key, base64url-encoded JSON (ElectroDB's cursor); an unreadable token is an unmodelled error."""
        profile = self._caller_profile()
        after = ""
        if token:
            try:
                padded = token + "=" * (-len(token) % 4)
                after = str(json.loads(base64.urlsafe_b64decode(padded))["sk"])
            except (ValueError, KeyError, TypeError):
                raise _internal() from None
        with self._lock:
            mine = sorted((m for m in self._models.values() if m.profile_id == profile),
                          key=lambda m: f"MODEL_{m.model_id}")
        rest = [m for m in mine if f"MODEL_{m.model_id}" > after]
        page = rest[: self.page_size]
        doc: dict[str, Any] = {"models": [self._model_json(m) for m in page]}
        if len(rest) > self.page_size:
            key = json.dumps({"pk": profile, "sk": f"MODEL_{page[-1].model_id}"}, separators=(",", ":"))
            doc["token"] = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
        return doc

    def _delete(self, model_id: str) -> None:
        """D: deleteModel.ts#L23-L43: READY or ERROR only; DELETING while the data goes."""
        model = self._get(model_id)
        with self._lock:
            if model.status not in ("READY", "ERROR"):
                raise _bad_request(MSG_CANNOT_DELETE)
            model.status = "DELETING"
            model.touch()
        self._delete_prefix(self._model_bucket, f"{model.profile_id}/models/{model_id}/")
        self._delete_prefix(self._virtual_bucket, f"{model.profile_id}/models/{model_id}/")
        with self._lock:
            self._models.pop(model_id, None)

    def _delete_prefix(self, bucket: str, prefix: str) -> None:
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self._s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})

    # ------------------------------------------------------------------ import: the synchronous part
    def _import(self, body: bytes) -> dict[str, Any]:
        doc = self._import_request(body)
        name, description = doc["modelName"], doc.get("modelDescription")
        # D: importModel.ts#L164-L191 (validateRequest)
        if not name or not doc["s3Bucket"] or not doc["s3Path"]:
            raise _bad_request("Missing required fields")
        if not MODEL_NAME_RE.match(name) or len(name) > 64:
            raise _bad_request("Model name must contain only alphanumeric characters and hyphens; and must be less "
                               "than or equal to 64 characters in length")
        if description and (not DESCRIPTION_RE.match(description) or len(description) > 255):
            raise _bad_request("Model description must contain only alphanumeric characters, spaces, and hyphen; and "
                               "must be less than or equal to 255 characters in length")
        bucket, location = doc["s3Bucket"], doc["s3Path"]  # s3://{bucket}/{path}/<file>: no slash is stripped
        try:  # D: ImportHelper.ts#L154-L168: the four files, read now; any failure is a 500
            texts = {rel: self._read_required(bucket, f"{location}/{rel}") for rel in
                     ("training_params.yaml", "model_metadata.json", "reward_function.py", "ip/hyperparameters.json")}
            params = rules.parse_yaml_droa(texts["training_params.yaml"])
            meta = rules.parse_json_strict(texts["model_metadata.json"], "model_metadata.json")
            hyper = rules.parse_json_strict(texts["ip/hyperparameters.json"], "ip/hyperparameters.json")
        except rules.ReadProblem:
            raise _internal() from None
        refusal = rules.sync_refusal(params, meta, hyper)  # importModel.ts#L47-L86, in that order
        if refusal is not None:
            raise _bad_request(refusal.droa) if refusal.stage == rules.REQUEST else _internal()
        model = self._new_model(name, description or "", self._caller_profile())
        self._fill_record(model, params, meta, hyper)
        try:
            self._copy_metrics(bucket, location, model)  # importModel.ts#L125-L129: after the records exist
        except rules.ReadProblem:
            raise _internal() from None  # the model stays IMPORTING for good, as in DRoA
        thread = threading.Thread(target=self._run_import, args=(model, bucket, location), daemon=True,
                                  name=f"droa-import-{model.model_id}")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return {"modelId": model.model_id}

    @staticmethod
    def _import_request(body: bytes) -> dict[str, Any]:
        """API Gateway's request validation of the body against the ImportModel input shape (D:
        source/apps/infra/lib/constructs/api/api.ts#L310-L332: 400 with an errorMessage)."""
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _gateway_validation("Invalid request body: [the body is not JSON]") from None
        if not isinstance(doc, dict):
            raise _gateway_validation("Invalid request body: [instance type does not match any allowed primitive "
                                      "type (allowed: [\"object\"])]")
        absent = [k for k in ("modelName", "s3Bucket", "s3Path") if k not in doc]
        if absent:
            listed = ",".join(f'"{k}"' for k in sorted(absent))
            raise _gateway_validation(f"Invalid request body: [object has missing required properties ([{listed}])]")
        for key in ("modelName", "s3Bucket", "s3Path", "modelDescription"):
            if key in doc and not isinstance(doc[key], str):
                raise _gateway_validation(f"Invalid request body: [/{key}: instance type does not match \"string\"]")
        checks = [("modelName", r"^[a-zA-Z0-9-]+$", 64), ("modelDescription", r"^[a-zA-Z0-9- ]+$", 255)]
        for key, pattern, longest in checks:
            value = doc.get(key)
            if value is None:
                continue
            if not 1 <= len(value) <= longest:
                raise _gateway_validation(f"Invalid request body: [/{key}: string \"{value}\" is too "
                                          f"{'short (length: 0, required minimum: 1)' if not value else 'long'}]")
            if not re.fullmatch(pattern.rstrip("$").lstrip("^"), value):
                raise _gateway_validation(f"Invalid request body: [/{key}: ECMA 262 regex \"{pattern}\" does not "
                                          f"match input string \"{value}\"]")
        return doc

    def _read_required(self, bucket: str, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            data = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError:
            raise rules.ReadProblem(f"cannot read s3://{bucket}/{key}") from None
        if not data:  # ImportHelper.ts#L40-L42: an empty file counts as missing
            raise rules.ReadProblem(f"s3://{bucket}/{key} is empty")
        return bytes(data)

    def _fill_record(self, model: _Model, params: Any, meta: Any, hyper: Any) -> None:
        """The model and training records importModel.ts#L85-L117 writes."""
        model.car = rules.car_customization(params)
        model.track = rules.track_config(params)
        if rules.js_get(params, "RACE_TYPE") == "OBJECT_AVOIDANCE":
            model.race_type = "OBJECT_AVOIDANCE"
            config: dict[str, Any] = {"numberOfObjects": params.get("NUMBER_OF_OBSTACLES")}
            positions = rules.object_positions(params)
            if positions:
                config["objectPositions"] = [{"trackPercentage": p, "laneNumber": int(lane) if lane == lane else None}
                                             for p, lane in positions]
            model.object_avoidance = config
        model.algorithm = "SAC" if rules.js_get(meta, "training_algorithm") == "sac" else "PPO"
        model.hyperparameters = hyper if isinstance(hyper, dict) else {}
        space = meta.get("action_space")
        if isinstance(space, list):
            model.action_space = {"discrete": [{"speed": a.get("speed"), "steeringAngle": a.get("steering_angle")}
                                               for a in space if isinstance(a, dict)]}
        else:  # the member is spelled `continous` in DRoA's model (model.smithy#L147-L150)
            def value(part: str, end: str) -> Any:
                found = rules.js_get(rules.js_get(space, part), end)
                return None if found is rules.UNDEFINED else found

            model.action_space = {"continous": {"lowSpeed": value("speed", "low"), "highSpeed": value("speed", "high"),
                                                "lowSteeringAngle": value("steering_angle", "low"),
                                                "highSteeringAngle": value("steering_angle", "high")}}
        sensors: dict[str, str] = {}
        for sensor in meta.get("sensor") or []:  # ImportHelper.ts#L343-L368: unknown names are dropped
            if sensor in ("FRONT_FACING_CAMERA", "LEFT_CAMERA", "STEREO_CAMERAS", "OBSERVATION_CAMERA"):
                sensors["camera"] = sensor
            elif sensor in rules.LIDARS:
                sensors["lidar"] = sensor
        model.sensors = sensors

    def _copy_metrics(self, bucket: str, location: str, model: _Model) -> None:
        """D: ImportHelper.ts#L84-L131: the first `training-*.json` under metrics/training/, parsed, then copied."""
        listing = self._s3.list_objects_v2(Bucket=bucket, Prefix=f"{location}/metrics/training/")
        found = next((o["Key"] for o in listing.get("Contents", [])
                      if "training-" in o["Key"] and o["Key"].endswith(".json")), None)
        if found is None:
            return
        data = self._s3.get_object(Bucket=bucket, Key=found)["Body"].read()
        try:
            json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise rules.ReadProblem(f"{found} is not JSON") from None
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"  # Date.toISOString()
        self._s3.copy_object(Bucket=self._model_bucket, CopySource={"Bucket": bucket, "Key": found},
                             Key=f"{model.profile_id}/models/{model.model_id}/metrics/training/{stamp}-"
                                 f"{model.job_name}.json")

    def _set_status(self, model: _Model, status: str, error: str | None = None) -> None:
        with self._lock:
            model.status, model.error = status, error
            model.touch()

    # ------------------------------------------------------------------ import: the workflow
    def _run_import(self, model: _Model, bucket: str, location: str) -> None:
        if self._stopping.wait(self.import_delay):
            return
        try:
            self._workflow(model, bucket, location)
        except _ImportFailed as exc:
            self._set_status(model, "ERROR", str(exc))
        except Exception:  # noqa: BLE001  # an unexpected failure ends in ERROR, as DRoA's completion step does
            _log.exception("stand-in import failed")
            self._set_status(model, "ERROR", MSG_UNEXPECTED.format(uuid.uuid4()))
        else:
            self._set_status(model, "READY")

    def _workflow(self, model: _Model, bucket: str, location: str) -> None:
        """D: source/apps/infra/lib/constructs/import-workflow/importWorkflow.ts#L193-L256: reward validation, model
        validation, asset copy, completion."""
        reward = self._s3.get_object(Bucket=bucket, Key=f"{location}/reward_function.py")["Body"].read()
        finding, _, _ = rules.reward_static_findings(reward)
        finding = finding or rules.reward_shape_finding(reward)
        if finding is not None and finding.droa:
            raise _ImportFailed(f"Reward Function Validation {finding.droa}")
        if finding is not None:
            raise _ImportFailed("Model validation failed")  # importModelCompletion.ts#L108-L117: an empty message
        keys: dict[str, None] = {}  # the validator reads by key: everything under the upload
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=location + "/"):
            keys.update({o["Key"][len(location) + 1:]: None for o in page.get("Contents", [])})

        def read(rel: str) -> bytes:
            return bytes(self._s3.get_object(Bucket=bucket, Key=f"{location}/{rel}")["Body"].read())

        refusal = rules.model_validator_refusal(set(keys), read)
        if refusal is not None:
            raise _ImportFailed(refusal.droa)
        self._validator_writes_pointer(bucket, location, keys, read)
        if self._stopping.is_set():
            raise _ImportFailed("The import was interrupted")
        # importModelAssets: ImportHelper.ts#L176-L231, ONE listing (at most 1000 keys), Prefix = s3Path as sent
        listing = self._s3.list_objects_v2(Bucket=bucket, Prefix=location)
        root = f"{model.profile_id}/models/{model.model_id}/"
        for obj in listing.get("Contents", []):
            with self._lock:
                if model.model_id not in self._models:  # deleted meanwhile
                    return
            relative = obj["Key"][len(location):]
            relative = relative[1:] if relative.startswith("/") else relative
            file_name = obj["Key"].split("/")[-1]
            if file_name in ("model_metadata.json", "reward_function.py") and "/" not in relative:
                target = root + file_name
            else:
                target = f"{root}sagemaker-artifacts/{relative}"
            self._s3.copy_object(Bucket=self._model_bucket, Key=target, CopySource={"Bucket": bucket,
                                                                                    "Key": obj["Key"]})
        with self._lock:
            model.reward_function = reward.decode("utf-8", "replace")

    def _validator_writes_pointer(self, bucket: str, location: str, keys: Mapping[str, None],
                                  read: Any) -> None:
        """The model validator writes deepracer_checkpoints.json's last, then best, checkpoint name into the upload's
        model/.coach_checkpoint before validating each (S: bundle/markov/validation_worker.py#L68-L93,
        rl_coach_checkpoint.py#L159-L182); an unreadable JSON is ignored (deepracer_checkpoint_json.py)."""
        pointer = rules.validator_pointer(set(keys), read)
        if pointer is not None:
            self._s3.put_object(Bucket=bucket, Key=f"{location}/model/.coach_checkpoint", Body=pointer)

    # ------------------------------------------------------------------ assets
    def _getasset(self, model_id: str, query: dict[str, str]) -> dict[str, Any]:
        """D: getAssetUrl.ts#L37-L259."""
        asset = query.get("assetType")
        if asset is None:
            raise _gateway_validation("Missing required request parameters: [assetType]")
        if asset not in ASSET_TYPES:
            raise _validation("/assetType", f"enum value set: [{', '.join(ASSET_TYPES)}]")
        evaluation = query.get("evaluationId")
        if evaluation is not None and not ID_RE.match(evaluation):
            raise _validation("/evaluationId", f"regular expression pattern: {ID_PATTERN}")
        model = self._get(model_id)
        if asset == "EVALUATION_LOGS":
            if not evaluation:
                raise _bad_request("evaluationId is required for evaluation logs.")
            raise _not_found()  # an imported model has no evaluations
        if asset == "TRAINING_LOGS":
            return {"url": self._training_logs(model)}
        if asset == "PHYSICAL_CAR_MODEL":
            raise _not_found("Unable to find physical model artifact.")  # nothing sets it for imported models
        if asset == "VIDEOS":
            raise _bad_request("This asset type is not supported.")
        return self._virtual_model(model)

    def _virtual_model(self, model: _Model) -> dict[str, Any]:
        with self._lock:
            valid = (model.package_key is not None and model.packaging_status == "READY" and model.packaged
                     and (model.packaged >= model.updated or model.updated - model.packaged <= PACKAGING_TIME_DELTA))
            if valid:
                key = model.package_key
            elif model.packaging_status == "ERROR":
                request, model.packaging_status, model.packaging_request = model.packaging_request, None, None
                raise _not_found(f"Asset Packaging Failed: RequestID {request}. Please try again later or check logs "
                                 "for more details.")
            else:
                model.packaging_invocations += 1  # the packaging Lambda is invoked (again) on every such call
                done = model.packaging_invocations >= max(1, self.export_queued_polls)
                fail, model.fail_packaging = model.fail_packaging and done, model.fail_packaging and not done
        if valid:
            assert key is not None
            return {"url": self._presign(self._virtual_bucket, key, PACKAGE_URL_SECONDS,
                                         f"virtualmodel-{model.name}.tar.gz")}
        if done:
            if fail:
                with self._lock:
                    model.packaging_status, model.packaging_request = "ERROR", str(uuid.uuid4())
            else:
                key = self._package(model)
                with self._lock:
                    model.package_key, model.packaging_status = key, "READY"
                    model.packaged = model.updated = time.time()
        return {"status": "QUEUED"}

    def _package(self, model: _Model) -> str:
        """D: source/libs/lambda/src/async/assetpackaging.ts: one listing of the model root (at most 1000 keys);
        keys holding /sim-trace/, /videos/ or /output/ left out; each named by its path under the root with every
        `sagemaker-artifacts/` removed, duplicates kept; the S3 modification time; a gzip tar in the virtual model
        bucket."""
        root = f"{model.profile_id}/models/{model.model_id}/"
        listing = self._s3.list_objects_v2(Bucket=self._model_bucket, Prefix=root)
        out_dir = self.workdir / "exports"
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{model.model_id}.tar.gz"
        with tarfile.open(path, "w:gz", compresslevel=6) as tar:
            for obj in listing.get("Contents", []):
                key = obj["Key"]
                if any(part in key for part in ("/sim-trace/", "/videos/", "/output/")):
                    continue
                name = re.sub(r"sagemaker-artifacts/", "", key[len(root):])
                got = self._s3.get_object(Bucket=self._model_bucket, Key=key)
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.type = got["ContentLength"], 0o644, tarfile.REGTYPE
                info.mtime = int(obj["LastModified"].timestamp())
                tar.addfile(info, got["Body"])
                got["Body"].close()
        key = f"{root}virtualmodel.tar.gz"
        self._s3.upload_file(str(path), self._virtual_bucket, key, ExtraArgs={"ContentType": "application/gzip"})
        path.unlink()
        return key

    def _training_logs(self, model: _Model) -> str:
        """D: getAssetUrl.ts#L86-L173 for the imported training job (COMPLETED): its metrics, sim-trace and logs."""
        with self._lock:
            key = model.logs_key
        if key is None:
            root = f"{model.profile_id}/models/{model.model_id}/"
            key = f"{root}logs/training/{model.job_name}-logs.tar.gz"
            wanted = [f"{root}metrics/training/", f"{root}sim-trace/training/", f"{root}logs/training/"]
            listing = self._s3.list_objects_v2(Bucket=self._model_bucket, Prefix=root)
            found = [o["Key"] for o in listing.get("Contents", [])
                     if o["Key"].startswith(tuple(wanted)) and o["Key"] != key]
            if not found:
                raise _not_found("No log files found.")
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
                for item in found:
                    data = self._s3.get_object(Bucket=self._model_bucket, Key=item)["Body"].read()
                    info = tarfile.TarInfo(item[len(root):])
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
            self._s3.put_object(Bucket=self._model_bucket, Key=key, Body=buffer.getvalue())
            with self._lock:
                model.logs_key = key
        return self._presign(self._model_bucket, key, LOGS_URL_SECONDS)

    # ------------------------------------------------------------------ the users' S3 endpoint
    def _s3_operation(self, method: str, path: str, query: dict[str, str], headers: Message) -> tuple[str, str]:
        """(bucket, the S3 operation) of a path-style request."""
        bucket, _, key = path.lstrip("/").partition("/")
        query = {k: v for k, v in query.items() if k != "x-id"}  # botocore names the operation: not a sub-resource
        copy = headers.get("x-amz-copy-source")
        if not key:
            return bucket, "ListMultipartUploads" if "uploads" in query and method == "GET" else f"Bucket{method}"
        if method == "PUT":
            if "uploadId" in query:
                return bucket, "UploadPartCopy" if copy else "UploadPart"
            if "acl" in query:
                return bucket, "PutObjectAcl"
            if query:
                return bucket, "PutObject" + "".join(sorted(query))
            return bucket, "CopyObject" if copy else "PutObject"
        if method == "POST":
            if "uploads" in query:
                return bucket, "CreateMultipartUpload"
            if "uploadId" in query:
                return bucket, "CompleteMultipartUpload"
        if method == "DELETE" and "uploadId" in query:
            return bucket, "AbortMultipartUpload"
        if method == "GET" and "uploadId" in query:
            return bucket, "ListParts"
        return bucket, {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, method)

    ALLOWED_UPLOAD_OPERATIONS = frozenset({"PutObject", "PutObjectAcl", "CreateMultipartUpload", "UploadPart",
                                           "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts"})


# ---------------------------------------------------------------------- helpers
def _storage_path(rel: str) -> str:
    """Canonical relative path -> path under the DRoA model root."""
    if rel in ("model_metadata.json", "reward_function.py") or rel.startswith("sagemaker-artifacts/"):
        return rel
    return "sagemaker-artifacts/" + rel


def _signature(method: str, raw_path: str, headers: Message, body: bytes, signed_names: list[str], amz_date: str,
               access_key: str, secret: str, token: str, region: str) -> str | None:
    """The SigV4 signature of the request as received, recomputed with botocore, or None if it cannot be."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest, HTTPHeaders
    from botocore.credentials import Credentials

    signed = HTTPHeaders()
    for name in signed_names:
        values = headers.get_all(name)
        if not values:
            return None  # a header named in SignedHeaders is absent
        for value in values:
            signed[name] = value

    class _AsReceived(SigV4Auth):
        """SigV4Auth signing exactly the headers the client named, at the client's date."""

        def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
            return signed

    parts = urlsplit(raw_path)
    host = headers.get("Host", "")
    request = AWSRequest(method=method, url=f"http://{host}{parts.path}", data=body or b"",
                         params=parse_qsl(parts.query, keep_blank_values=True) or None)
    request.context["timestamp"] = amz_date
    signer = _AsReceived(Credentials(access_key, secret, token), "execute-api", region)
    if signer.signed_headers(signed) != ";".join(signed_names):
        return None  # SignedHeaders not sorted, or repeated
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))


def _make_handler(standin: DroaStandIn) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "DroaStandIn/1.0"
        protocol_version = "HTTP/1.0"  # one request per connection: no handler thread outlives stop()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # http.server's parameter name
            pass

        def _send(self, status: int, body: bytes, content_type: str | None, extra: Mapping[str, str] = {}) -> None:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, doc: Any, extra: Mapping[str, str] = {}) -> None:
            if doc is None:  # an operation without output members: an empty body
                self._send(status, b"", "application/json", extra)
            else:
                self._json_body(status, doc, extra)

        def _json_body(self, status: int, doc: Any, extra: Mapping[str, str]) -> None:
            self._send(status, json.dumps(doc).encode(), "application/json", extra)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            path = urlsplit(self.path).path
            request_id = {"x-amzn-RequestId": str(uuid.uuid4())}
            if path == "/api" or path.startswith("/api/"):
                try:
                    status, doc = standin._api(self.command, self.path, self.headers, body)
                except _ApiError as exc:
                    extra = {"x-amzn-errortype": exc.error_type} if exc.error_type else {}
                    self._json_body(exc.status, exc.doc, {**request_id, **extra})
                except Exception:  # noqa: BLE001  # a crashed Lambda: API Gateway's 502
                    _log.exception("stand-in API error")
                    self._json_body(502, {"message": "Internal server error"}, request_id)
                else:
                    self._json(status, doc, request_id)
                return
            if self.command not in ("GET", "HEAD"):
                self._json_body(405, {"message": "Method Not Allowed"}, {})
            elif path == "/env.js":
                self._send(200, standin.env_js().encode(), "application/javascript")
            elif path in ("/", "/index.html"):
                page = (f"<!doctype html><html><head><title>DeepRacer on AWS ({standin.name}, local stand-in)"
                        f"</title><script src=\"/env.js\"></script></head><body>DeepRacer on AWS stand-in "
                        f"{standin.name}</body></html>")
                self._send(200, page.encode(), "text/html; charset=utf-8")
            else:
                self._send(404, b"Not Found", "text/plain")

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _handle

    return Handler


# ---------------------------------------------------------------------- the checking proxy in front of moto
CHECKSUM_HEADERS = {"x-amz-checksum-crc32": "crc32", "x-amz-checksum-sha256": "sha256",
                    "x-amz-checksum-sha1": "sha1", "x-amz-checksum-crc32c": None, "x-amz-checksum-crc64nvme": None}
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade",
                "proxy-connection", "expect"}


def _checksum(kind: str, data: bytes) -> str:
    if kind == "crc32":
        return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    return base64.b64encode(hashlib.new(kind, data).digest()).decode()


def _access_key(headers: Message, query: dict[str, str]) -> str:
    auth = headers.get("Authorization") or ""
    m = re.search(r"Credential=([^/,\s]+)/", auth)
    if m:
        return m.group(1)
    return (query.get("X-Amz-Credential") or "").split("/")[0]


def _decode_aws_chunked(body: bytes) -> tuple[bytes, dict[str, str]]:
    """The payload and the trailers of an aws-chunked body."""
    out, trailers, pos = bytearray(), {}, 0
    while pos < len(body):
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0], 16)
        pos = end + 2
        if size == 0:
            for line in body[pos:].split(b"\r\n"):
                name, sep, value = line.decode("latin-1").partition(":")
                if sep:
                    trailers[name.strip().lower()] = value.strip()
            break
        out += body[pos:pos + size]
        pos += size + 2
    return bytes(out), trailers


def _s3_error(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>").encode()


def _make_proxy_handler(standin: DroaStandIn) -> type[http.server.BaseHTTPRequestHandler]:
    # Over the size limit: the request flow of the real service, step by step (see the module docstring)
    class Proxy(http.server.BaseHTTPRequestHandler):
        server_version = "AmazonS3"
        protocol_version = "HTTP/1.1"  # for Expect: 100-continue; every answer closes the connection

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # http.server's parameter name
            pass

        def _body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                data = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return bytes(data)
                    data += self.rfile.read(size)
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
            self.send_response(status)
            length = str(len(body))
            for name, value in headers:
                if name.lower() == "content-length" and self.command == "HEAD":
                    length = value  # a HEAD's length is the object's
                elif name.lower() not in _HOP_HEADERS:
                    self.send_header(name, value)
            self.send_header("Content-Length", length)
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.close_connection = True

        def _handle(self) -> None:
            body = self._body()
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            identity = _access_key(self.headers, query) in MOTO_IDENTITY_CREDENTIALS
            is_s3 = not self.headers.get("X-Amz-Target") and parts.path not in ("", "/")
            echo: list[tuple[str, str]] = []
            completing: str | None = None
            if identity and is_s3:
                bucket, operation = standin._s3_operation(self.command, parts.path, query, self.headers)
                allowed = bucket == standin.upload_bucket and operation in standin.ALLOWED_UPLOAD_OPERATIONS
                with standin._lock:
                    standin.s3_requests.append((self.command, bucket, operation, 200 if allowed else 403))
                if not allowed:
                    self._answer(403, _s3_error("AccessDenied", "Access Denied"), [("Content-Type", "application/xml")])
                    return
                refused, echo = self._check_checksums(operation, query, body)
                if refused:
                    self._answer(400, refused, [("Content-Type", "application/xml")])
                    return
                if operation == "CompleteMultipartUpload":
                    completing, refused = self._composite(query, body)
                    if refused:
                        self._answer(400, refused, [("Content-Type", "application/xml")])
                        return
            status, answer, headers = self._forward(body)
            if status == 200 and completing:
                answer = answer.replace(b"</CompleteMultipartUploadResult>",
                                        f"<ChecksumSHA256>{completing}</ChecksumSHA256><ChecksumType>COMPOSITE"
                                        "</ChecksumType></CompleteMultipartUploadResult>".encode())
            self._answer(status, answer, headers + (echo if status == 200 else []))

        def _check_checksums(self, operation: str, query: dict[str, str], body: bytes
                             ) -> tuple[bytes | None, list[tuple[str, str]]]:
            """S3 checks an x-amz-checksum-* of a PUT or a part against the bytes, and echoes it."""
            if operation not in ("PutObject", "UploadPart"):
                return None, []
            trailers: dict[str, str]
            payload, trailers = body, {}
            encoding = (self.headers.get("Content-Encoding") or "") + (self.headers.get("x-amz-content-sha256") or "")
            if "aws-chunked" in encoding or "STREAMING" in encoding:
                payload, trailers = _decode_aws_chunked(body)
            sent = {k.lower(): v for k, v in self.headers.items() if k.lower() in CHECKSUM_HEADERS}
            sent.update({k: v for k, v in trailers.items() if k in CHECKSUM_HEADERS})
            echo = []
            for name, value in sent.items():
                kind = CHECKSUM_HEADERS[name]
                if kind and _checksum(kind, payload) != value:
                    return _s3_error("BadDigest", f"The {kind.upper()} you specified did not match the calculated "
                                     "checksum."), []
                echo.append((name, value))
            if operation == "UploadPart":
                with standin._lock:
                    standin._parts.setdefault(query.get("uploadId", ""), {})[int(query.get("partNumber", "0"))] = \
                        hashlib.sha256(payload).digest()
            return None, echo

        def _composite(self, query: dict[str, str], body: bytes) -> tuple[str | None, bytes | None]:
            """CompleteMultipartUpload: each part's ChecksumSHA256 must match the part received; the answer then
            holds the composite SHA256 (sha256 of the parts' digests, "-N")."""
            with standin._lock:
                received = standin._parts.pop(query.get("uploadId", ""), {})
            listed = re.findall(rb"<Part>(.*?)</Part>", body, re.S)
            digests = []
            invalid = _s3_error("InvalidPart", "One or more of the specified parts could not be found. The part may "
                                "not have been uploaded, or the specified entity tag may not match the part's entity "
                                "tag.")
            for part in listed:
                number = re.search(rb"<PartNumber>(\d+)</PartNumber>", part)
                claimed = re.search(rb"<ChecksumSHA256>([^<]+)</ChecksumSHA256>", part)
                got = received.get(int(number.group(1))) if number else None
                if got is None:
                    return None, invalid
                if claimed is None:
                    return None, None  # no checksum asked for: no composite in the answer
                if base64.b64decode(claimed.group(1)) != got:
                    return None, invalid
                digests.append(got)
            if not digests:
                return None, None
            composite = base64.b64encode(hashlib.sha256(b"".join(digests)).digest()).decode()
            return f"{composite}-{len(digests)}", None

        def _forward(self, body: bytes) -> tuple[int, bytes, list[tuple[str, str]]]:
            target = urlsplit(standin._need(standin._moto_endpoint))
            connection = http.client.HTTPConnection(target.netloc, timeout=120)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                headers["Host"] = target.netloc
                headers["Content-Length"] = str(len(body))
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.read(), list(response.getheaders())
            finally:
                connection.close()

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _handle

    return Proxy
