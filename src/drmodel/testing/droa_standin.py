"""A local stand-in for one "DeepRacer on AWS" (DRoA) deployment, for the tests and `drmodel demo --droa`.

What it runs, all on 127.0.0.1:
- its own moto server (`aws_endpoint`): a Cognito user pool with an app client (USER_PASSWORD_AUTH) and the given
  users (permanent passwords), an identity pool whose provider is that user pool, the upload bucket and the
  model data bucket;
- a small HTTP server (`site_url`): `GET /env.js` like the DRoA web site, and the REST API under `/api`.

Every `/api` request must carry a real AWS SigV4 signature (service `execute-api`, the stand-in's region) made
with the temporary credentials moto's identity pool hands out, and that session token. The signature is
recomputed with botocore from the request as received (method, path, query, signed headers, body).

The import behaves like DRoA's (reference section 4): one ListObjectsV2 call on the uploaded prefix (objects past
the first 1000 are silently dropped), the required files, the WORLD_NAME / TRACK_DIRECTION_CLOCKWISE / SAC /
action-space / reward-import / best-.pb rules, then a copy into `<model bucket>/<profileId>/models/<modelId>/`.
The reward function is parsed with `ast`, never imported or run; nothing from a model is ever executed.

Limits of the stand-in (moto's identity pool issues the same credentials to everybody, so a request does not say
who sent it): every API caller acts as the first user of `users`, and every caller sees every model.
"""

from __future__ import annotations

import ast
import hmac
import http.server
import json
import logging
import re
import secrets
import tarfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

__all__ = ["DroaStandIn", "TRACK_IDS", "ALLOWED_REWARD_IMPORTS", "MODEL_NAME_RE", "DESCRIPTION_RE"]

from drmodel.droa.tracks import TRACK_IDS  # noqa: E402  (the data; the rules below are the stand-in's own)

ALLOWED_REWARD_IMPORTS: frozenset[str] = frozenset({"math", "random", "numpy", "scipy", "shapely"})
MODEL_NAME_RE = re.compile(r"^[a-zA-Z0-9-]+\Z")
DESCRIPTION_RE = re.compile(r"^[a-zA-Z0-9- ]+\Z")
BEST_RE = re.compile(r"^(\d+)_")

# What moto's cognito-identity GetCredentialsForIdentity returns (moto/cognitoidentity/models.py).
MOTO_IDENTITY_CREDENTIALS = {"TESTACCESSKEY12345": ("ABCSECRETKEY", "ABC12345")}
_ADMIN_KEY, _ADMIN_SECRET = "testing", "testing"  # the stand-in's own calls to its moto server
PAGE_SIZE = 2
SIGNATURE_WINDOW = timedelta(minutes=15)
SIGV4_FORMAT = "%Y%m%dT%H%M%SZ"
LIST_MAX_KEYS = 1000

MSG_MISSING_TOKEN = "Missing Authentication Token"
MSG_BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your "
                     "AWS Secret Access Key and signing method. Consult the service documentation for details.")
MSG_INVALID_TOKEN = "The security token included in the request is invalid."
MSG_EXPIRED = "The security token included in the request is expired"

_log = logging.getLogger(__name__)


class _ApiError(Exception):
    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.error_type = status, message, error_type


class _ImportRefused(Exception):
    """An import rule failed: the model ends in ERROR with this message."""


@dataclass
class _Model:
    model_id: str
    name: str
    description: str
    profile_id: str
    created_at: str
    seq: int
    status: str = "QUEUED"
    error: str | None = None
    export_polls: int = 0
    asset_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"modelId": self.model_id, "name": self.name, "description": self.description,
                               "status": self.status, "createdAt": self.created_at}
        if self.status == "ERROR":
            doc["importErrorMessage"] = self.error or "Import failed"
        return doc


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class DroaStandIn:
    """One DRoA deployment on loopback. Use as a context manager, or call start() and stop()."""

    def __init__(self, workdir: Path, *, users: Mapping[str, str], name: str = "droa", region: str = "us-east-1",
                 account_id: str = "111111111111", export_queued_polls: int = 2, import_delay: float = 0.3) -> None:
        if not users:
            raise ValueError("a DRoA stand-in needs at least one user")
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", name):
            raise ValueError(f"stand-in name {name!r}: lower-case letters, digits and '-' (it prefixes bucket names)")
        self.workdir = Path(workdir)
        self.users: dict[str, str] = dict(users)
        self.name = name
        self._region = region
        # moto keeps one state per process; separating accounts would need a header on every client call, so the
        # resources live in moto's default account whatever this says (kept for ARNs-to-be and for the record).
        self.account_id = account_id
        self.export_queued_polls = export_queued_polls
        self.import_delay = import_delay
        rand = secrets.token_hex(4)
        self._upload_bucket = f"{name}-upload-{rand}"
        self._model_bucket = f"{name}-models-{rand}"
        self.requests: list[tuple[str, str]] = []  # verified /api requests: (method, path without query)
        self.rejections: list[tuple[str, str, int, str]] = []  # refused /api requests: (method, path, status, msg)
        self._lock = threading.RLock()
        self._models: dict[str, _Model] = {}
        self._seq = 0
        self._expire = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._moto: Any = None
        self._aws_endpoint: str | None = None
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._clients: list[Any] = []
        self._user_pool_id = self._client_id = self._identity_pool_id = ""
        self._profiles: dict[str, str] = {}

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
        return self.site_url + "api"

    @property
    def aws_endpoint(self) -> str:
        return self._need(self._aws_endpoint)

    @property
    def upload_bucket(self) -> str:
        return self._upload_bucket

    @property
    def model_bucket(self) -> str:
        return self._model_bucket

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

    def env(self) -> dict[str, str]:
        """The settings env.js publishes."""
        return {"region": self.region, "userPoolId": self.user_pool_id, "userPoolClientId": self.client_id,
                "identityPoolId": self.identity_pool_id, "apiEndpointUrl": self.api_url,
                "uploadBucketName": self.upload_bucket}

    def env_js(self) -> str:
        return "window.EnvironmentConfig = " + json.dumps(self.env(), indent=2) + ";\n"

    def profile_id(self, username: str) -> str:
        """The fixed profile id (shaped like a Cognito identity id) that owns `username`'s models."""
        if username not in self.users:
            raise KeyError(f"no user {username!r} in this stand-in")
        return self._profiles[username]

    def model_prefix(self, model_id: str) -> str:
        """`<profileId>/models/<modelId>/`: where the model's files are in the model bucket."""
        with self._lock:
            model = self._models[model_id]
            return f"{model.profile_id}/models/{model.model_id}/"

    def expire_next(self, n: int) -> None:
        """Make the next n otherwise-valid /api requests fail with 403 'security token ... expired'."""
        with self._lock:
            self._expire = max(0, int(n))

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
        self._aws_endpoint = f"http://{host}:{port}"
        try:
            self._provision()
            self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
            self._httpd.daemon_threads = True
            self._http_thread = threading.Thread(target=self._httpd.serve_forever, name=f"droa-standin-{self.name}",
                                                 kwargs={"poll_interval": 0.1}, daemon=True)
            self._http_thread.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=30)
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._http_thread is not None:
                self._http_thread.join(timeout=10)
            self._httpd = self._http_thread = None
        for client in self._clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - best effort
                pass
        self._clients = []
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        self._aws_endpoint = None

    # ------------------------------------------------------------------ AWS side
    def _client(self, service: str) -> Any:
        import boto3
        import botocore.session
        from botocore.config import Config

        # No profile from the environment: the stand-in talks to its own moto with fixed keys.
        core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        session = boto3.session.Session(botocore_session=core, aws_access_key_id=_ADMIN_KEY,
                                        aws_secret_access_key=_ADMIN_SECRET, region_name=self.region)
        client = session.client(service, endpoint_url=self.aws_endpoint, config=Config(
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
            self._profiles[user] = f"{self.region}:{uuid.uuid5(uuid.NAMESPACE_URL, f'{self._user_pool_id}/{user}')}"
        provider = f"cognito-idp.{self.region}.amazonaws.com/{self._user_pool_id}"
        self._identity_pool_id = identity.create_identity_pool(
            IdentityPoolName=f"{self.name.replace('-', '_')}_identities", AllowUnauthenticatedIdentities=False,
            CognitoIdentityProviders=[{"ProviderName": provider, "ClientId": self._client_id,
                                       "ServerSideTokenCheck": False}])["IdentityPoolId"]
        for bucket in (self._upload_bucket, self._model_bucket):
            if self.region == "us-east-1":
                self._s3.create_bucket(Bucket=bucket)
            else:
                self._s3.create_bucket(Bucket=bucket,
                                       CreateBucketConfiguration={"LocationConstraint": self.region})

    def _caller_profile(self) -> str:
        return self._profiles[next(iter(self.users))]

    # ------------------------------------------------------------------ test helpers
    def seed_model(self, owner: str, name: str, files: Mapping[str, bytes]) -> str:
        """Put a model straight into storage as READY (canonical relative paths in `files`); returns its id."""
        profile = self.profile_id(owner)
        if not MODEL_NAME_RE.match(name) or len(name) > 64:
            raise ValueError(f"invalid model name {name!r}")
        try:
            model = self._new_model(name, "", profile, status="READY")
        except _ApiError as exc:
            raise ValueError(f"{name}: {exc.message}") from None
        root = f"{profile}/models/{model.model_id}/"
        for rel, data in files.items():
            self._s3.put_object(Bucket=self._model_bucket, Key=root + _storage_path(rel), Body=bytes(data))
        return model.model_id

    def _new_model(self, name: str, description: str, profile: str, status: str = "QUEUED") -> _Model:
        with self._lock:
            if any(m.name == name and m.status != "ERROR" for m in self._models.values()):
                raise _ApiError(409, "Model name already exists", "ConflictException")
            self._seq += 1
            model = _Model(model_id=str(uuid.uuid4()), name=name, description=description, profile_id=profile,
                           created_at=_now_iso(), seq=self._seq, status=status)
            self._models[model.model_id] = model
            return model

    # ------------------------------------------------------------------ SigV4
    def _authenticate(self, method: str, raw_path: str, headers: Message, body: bytes) -> None:
        """Raise _ApiError(403) unless the request is signed with the identity pool's credentials."""
        auth = headers.get("Authorization")
        if not auth:
            raise _ApiError(403, MSG_MISSING_TOKEN, "MissingAuthenticationTokenException")
        algorithm, _, rest = auth.strip().partition(" ")
        params: dict[str, str] = {}
        for part in rest.split(","):
            key, eq, value = part.strip().partition("=")
            if eq:
                params[key.strip()] = value.strip()
        missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in params]
        if algorithm != "AWS4-HMAC-SHA256" or missing:
            raise _ApiError(403, " ".join(f"Authorization header requires '{k}' parameter." for k in missing)
                            or f"Unsupported authorization algorithm {algorithm!r}.", "IncompleteSignatureException")
        amz_date = headers.get("X-Amz-Date") or ""
        try:
            signed_at = datetime.strptime(amz_date, SIGV4_FORMAT).replace(tzinfo=timezone.utc)
        except ValueError:
            raise _ApiError(403, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                                 "header.", "IncompleteSignatureException") from None
        scope = params["Credential"].split("/")
        if len(scope) != 5:
            raise _ApiError(403, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/"
                                 "service/term", "IncompleteSignatureException")
        access_key, day, region, service, terminator = scope
        if day != amz_date[:8]:
            raise _ApiError(403, f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                                 f"from HTTP: '{day}' != '{amz_date[:8]}'", "InvalidSignatureException")
        if region != self.region:
            raise _ApiError(403, f"Credential should be scoped to a valid region, not '{region}'.",
                            "InvalidSignatureException")
        if service != "execute-api":
            raise _ApiError(403, "Credential should be scoped to correct service: 'execute-api'.",
                            "InvalidSignatureException")
        if terminator != "aws4_request":
            raise _ApiError(403, f"Credential should be scoped with a valid terminator: 'aws4_request', not "
                                 f"'{terminator}'.", "InvalidSignatureException")
        now = datetime.now(timezone.utc)
        if abs(now - signed_at) > SIGNATURE_WINDOW:
            raise _ApiError(403, f"Signature expired: {amz_date} is now earlier than "
                                 f"{(now - SIGNATURE_WINDOW).strftime(SIGV4_FORMAT)}", "InvalidSignatureException")
        known = MOTO_IDENTITY_CREDENTIALS.get(access_key)
        if known is None:
            raise _ApiError(403, MSG_INVALID_TOKEN, "UnrecognizedClientException")
        secret, session_token = known
        if headers.get("X-Amz-Security-Token") != session_token:
            raise _ApiError(403, MSG_INVALID_TOKEN, "UnrecognizedClientException")
        signed_names = params["SignedHeaders"].split(";")
        if "host" not in signed_names or any(n != n.lower() or not n for n in signed_names):
            raise _ApiError(403, MSG_BAD_SIGNATURE, "InvalidSignatureException")
        expected = _signature(method, raw_path, headers, body, signed_names, amz_date, access_key, secret,
                              session_token, self.region)
        if expected is None or not hmac.compare_digest(expected, params["Signature"]):
            raise _ApiError(403, MSG_BAD_SIGNATURE, "InvalidSignatureException")
        with self._lock:
            if self._expire > 0:
                self._expire -= 1
                raise _ApiError(403, MSG_EXPIRED, "ExpiredTokenException")

    # ------------------------------------------------------------------ API
    def _api(self, method: str, raw_path: str, headers: Message, body: bytes) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        path = parts.path
        try:
            self._authenticate(method, raw_path, headers, body)
        except _ApiError as exc:
            with self._lock:
                self.rejections.append((method, path, exc.status, exc.message))
            raise
        with self._lock:
            self.requests.append((method, path))
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        segments = [s for s in path[len("/api"):].split("/") if s]
        if segments == ["models"]:
            _allow(method, "GET")
            return 200, self._list(query.get("token"))
        if segments == ["importmodel"]:
            _allow(method, "POST")
            return 200, self._import(body)
        if len(segments) == 2 and segments[0] == "models":
            _allow(method, "GET", "DELETE")
            if method == "GET":
                return 200, self._get(segments[1]).to_json()
            self._delete(segments[1])
            return 200, {}
        if len(segments) == 3 and segments[0] == "models" and segments[2] == "getasset":
            _allow(method, "GET")
            return 200, self._getasset(segments[1], query.get("assetType"))
        raise _ApiError(404, "Not Found", "NotFoundException")

    def _get(self, model_id: str) -> _Model:
        with self._lock:
            model = self._models.get(model_id)
        if model is None:
            raise _ApiError(404, "Model not found", "ResourceNotFoundException")
        return model

    def _list(self, token: str | None) -> dict[str, Any]:
        after = 0
        if token:
            if not re.fullmatch(r"p[0-9a-f]{8}", token):
                raise _ApiError(400, "Invalid pagination token", "BadRequestException")
            after = int(token[1:], 16)
        with self._lock:
            rest = sorted((m for m in self._models.values() if m.seq > after), key=lambda m: m.seq)
        page = rest[:PAGE_SIZE]
        next_token = f"p{page[-1].seq:08x}" if len(rest) > PAGE_SIZE else None
        return {"models": [m.to_json() for m in page], "token": next_token}

    def _delete(self, model_id: str) -> None:
        model = self._get(model_id)
        with self._lock:
            self._models.pop(model_id, None)
        for prefix in (f"{model.profile_id}/models/{model_id}/", f"{model.profile_id}/exports/{model_id}/"):
            self._delete_prefix(self._model_bucket, prefix)

    def _delete_prefix(self, bucket: str, prefix: str) -> None:
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self._s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})

    def _import(self, body: bytes) -> dict[str, Any]:
        try:
            doc = json.loads(body.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError):
            raise _ApiError(400, "Invalid request body: not JSON", "BadRequestException") from None
        if not isinstance(doc, dict):
            raise _ApiError(400, "Invalid request body: expected a JSON object", "BadRequestException")
        for key in ("s3Bucket", "s3Path", "modelName"):
            if not isinstance(doc.get(key), str) or not doc[key]:
                raise _ApiError(400, f"Missing required field: {key}", "BadRequestException")
        name, description = doc["modelName"], doc.get("modelDescription")
        if not MODEL_NAME_RE.match(name) or len(name) > 64:
            raise _ApiError(400, "Invalid modelName: it must match ^[a-zA-Z0-9-]+$ and have at most 64 characters",
                            "BadRequestException")
        if description is not None and description != "":
            if not isinstance(description, str) or not DESCRIPTION_RE.match(description) or len(description) > 255:
                raise _ApiError(400, "Invalid modelDescription: it must match ^[a-zA-Z0-9- ]+$ and have at most "
                                     "255 characters", "BadRequestException")
        if doc["s3Bucket"] != self._upload_bucket:
            raise _ApiError(400, f"s3Bucket must be the upload bucket {self._upload_bucket}", "BadRequestException")
        model = self._new_model(name, description or "", self._caller_profile())
        prefix = doc["s3Path"].strip("/") + "/"
        thread = threading.Thread(target=self._run_import, args=(model, prefix), daemon=True,
                                  name=f"droa-import-{model.model_id[:8]}")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return {"modelId": model.model_id}

    def _set_status(self, model: _Model, status: str, error: str | None = None) -> None:
        with self._lock:
            model.status, model.error = status, error

    def _run_import(self, model: _Model, prefix: str) -> None:
        if self._stopping.wait(self.import_delay):
            return
        self._set_status(model, "IMPORTING")
        try:
            self._do_import(model, prefix)
        except _ImportRefused as exc:
            self._set_status(model, "ERROR", str(exc))
        except Exception as exc:  # noqa: BLE001 - the model ends in ERROR, as a failed step function would
            _log.exception("stand-in import failed")
            self._set_status(model, "ERROR", f"Internal error during import: {exc}")
        else:
            self._set_status(model, "READY")

    def _do_import(self, model: _Model, prefix: str) -> None:
        s3, bucket = self._s3, self._upload_bucket
        # DRoA lists once: MaxKeys defaults to 1000 and the continuation token is ignored.
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        keys = [o["Key"] for o in listing.get("Contents", [])]
        rels = {k[len(prefix):] for k in keys if not k.endswith("/")}
        if not rels:
            raise _ImportRefused(f"No files found at s3://{bucket}/{prefix}")

        def read(rel: str) -> bytes:
            if rel not in rels:
                raise _ImportRefused(f"Required file {rel} is missing from the model files")
            return s3.get_object(Bucket=bucket, Key=prefix + rel)["Body"].read()

        params_raw = read("training_params.yaml")
        meta_raw = read("model_metadata.json")
        reward_raw = read("reward_function.py")
        hyper_raw = read("ip/hyperparameters.json")
        read("model/model_metadata.json")
        if "model/deepracer_checkpoints.json" in rels:
            best = _best_from_json(read("model/deepracer_checkpoints.json"))
        elif "model/.coach_checkpoint" in rels:
            best = read("model/.coach_checkpoint").decode("utf-8", "replace").strip()
        else:
            raise _ImportRefused("Required file model/deepracer_checkpoints.json (or model/.coach_checkpoint) is "
                                 "missing from the model files")
        _check_training_params(params_raw)
        meta = _load_json(meta_raw, "model_metadata.json")
        hyper = _load_json(hyper_raw, "ip/hyperparameters.json")
        _check_action_space(meta, hyper)
        _check_reward(reward_raw)
        m = BEST_RE.match(best)
        if not m:
            raise _ImportRefused(f"Cannot read the best checkpoint's iteration from {best!r}")
        pb = f"model/model_{int(m.group(1))}.pb"
        if pb not in rels:
            raise _ImportRefused(f"The best checkpoint's frozen graph {pb} is missing from the model files")
        if self._stopping.is_set():
            raise _ImportRefused("The import was interrupted")
        root = f"{model.profile_id}/models/{model.model_id}/"
        for rel in sorted(rels):
            with self._lock:
                if model.model_id not in self._models:  # deleted meanwhile
                    return
            s3.copy_object(Bucket=self._model_bucket, Key=root + _storage_path(rel),
                           CopySource={"Bucket": bucket, "Key": prefix + rel})

    def _getasset(self, model_id: str, asset_type: str | None) -> dict[str, Any]:
        model = self._get(model_id)
        if asset_type != "VIRTUAL_MODEL":
            raise _ApiError(400, f"Unsupported assetType: {asset_type!r} (the stand-in exports VIRTUAL_MODEL)",
                            "BadRequestException")
        if model.status != "READY":
            raise _ApiError(400, f"Model is {model.status}: only READY models can be exported", "BadRequestException")
        with self._lock:
            model.export_polls += 1
            if model.export_polls <= self.export_queued_polls:
                return {"status": "QUEUED"}
            asset_key = model.asset_key
        if asset_key is None:
            asset_key = self._build_export(model)
            with self._lock:
                model.asset_key = asset_key
        url = self._s3.generate_presigned_url("get_object", Params={"Bucket": self._model_bucket, "Key": asset_key},
                                              ExpiresIn=3600)
        return {"url": url}

    def _build_export(self, model: _Model) -> str:
        root = f"{model.profile_id}/models/{model.model_id}/"
        members: dict[str, str] = {}  # archive name -> key
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._model_bucket, Prefix=root):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(root):]
                if not rel or rel.endswith("/") or rel.split("/")[0] in ("sim-trace", "videos"):
                    continue
                if rel.startswith("sagemaker-artifacts/"):
                    rel = rel[len("sagemaker-artifacts/"):]
                    if rel.startswith("output/"):
                        continue
                    members.setdefault(rel, obj["Key"])
                else:
                    members[rel] = obj["Key"]
        out_dir = self.workdir / "exports"
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{model.model_id}.tar.gz"
        mtime = int(time.time())
        with tarfile.open(path, "w:gz") as tar:
            for rel in sorted(members):
                obj = self._s3.get_object(Bucket=self._model_bucket, Key=members[rel])
                info = tarfile.TarInfo(rel)
                info.size, info.mode, info.mtime, info.type = obj["ContentLength"], 0o644, mtime, tarfile.REGTYPE
                tar.addfile(info, obj["Body"])
                obj["Body"].close()
        key = f"{model.profile_id}/exports/{model.model_id}/virtualmodel-{model.name}.tar.gz"
        self._s3.upload_file(str(path), self._model_bucket, key)
        path.unlink()
        return key


# ---------------------------------------------------------------------- helpers
def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise _ApiError(405, f"Method {method} not allowed here (allowed: {', '.join(allowed)})",
                        "MethodNotAllowedException")


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


def _load_json(raw: bytes, name: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _ImportRefused(f"{name} is not valid JSON: {exc}") from None


def _best_from_json(raw: bytes) -> str:
    doc = _load_json(raw, "model/deepracer_checkpoints.json")
    name = doc.get("best_checkpoint", {}).get("name") if isinstance(doc, dict) else None
    if not isinstance(name, str):
        raise _ImportRefused("model/deepracer_checkpoints.json has no best_checkpoint name")
    return name


def _check_training_params(raw: bytes) -> None:
    try:
        params = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _ImportRefused(f"training_params.yaml is not valid YAML: {exc}") from None
    if not isinstance(params, dict):
        raise _ImportRefused("training_params.yaml is not a YAML mapping")
    world = params.get("WORLD_NAME")
    if not isinstance(world, str) or not world:
        raise _ImportRefused("WORLD_NAME is missing from training_params.yaml")
    if world.endswith(("_cw", "_ccw")):
        raise _ImportRefused(f"WORLD_NAME must be a track id without a _cw/_ccw suffix: {world}")
    if world not in TRACK_IDS:
        raise _ImportRefused(f"WORLD_NAME is not a known track: {world}")
    if not isinstance(params.get("TRACK_DIRECTION_CLOCKWISE"), bool):
        raise _ImportRefused("TRACK_DIRECTION_CLOCKWISE must be a boolean")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _check_action_space(meta: Any, hyper: Any) -> None:
    if not isinstance(meta, dict):
        raise _ImportRefused("model_metadata.json is not a JSON object")
    space_type = meta.get("action_space_type", "discrete")
    algorithm = meta.get("training_algorithm", "clipped_ppo")
    if space_type not in ("discrete", "continuous"):
        raise _ImportRefused(f"Unknown action_space_type: {space_type}")
    if algorithm not in ("clipped_ppo", "sac"):
        raise _ImportRefused(f"Unknown training_algorithm: {algorithm}")
    if algorithm == "sac":
        if space_type != "continuous":
            raise _ImportRefused("SAC requires a continuous action space")
        episodes = hyper.get("num_episodes_between_training") if isinstance(hyper, dict) else None
        if episodes != 1 or isinstance(episodes, bool):
            raise _ImportRefused("SAC requires num_episodes_between_training to be 1")
    if space_type == "continuous":
        space = meta.get("action_space")
        try:
            speed = (_number(space["speed"]["low"]), _number(space["speed"]["high"]))
            steer = (_number(space["steering_angle"]["low"]), _number(space["steering_angle"]["high"]))
        except (TypeError, KeyError):
            raise _ImportRefused("A continuous action space needs speed and steering_angle low/high") from None
        if None in speed or not 0.5 <= speed[0] <= speed[1] <= 4:  # type: ignore[operator]
            raise _ImportRefused("Continuous action space: speed must be within 0.5 and 4 (low <= high)")
        if None in steer or not -30 <= steer[0] <= steer[1] <= 30:  # type: ignore[operator]
            raise _ImportRefused("Continuous action space: steering_angle must be within -30 and 30 (low <= high)")


def _check_reward(raw: bytes) -> None:
    """Only the allowed modules may be imported. The file is parsed, never imported or run."""
    try:
        tree = ast.parse(raw.decode("utf-8"), filename="reward_function.py")
    except (UnicodeDecodeError, SyntaxError, ValueError) as exc:
        raise _ImportRefused(f"reward_function.py is not valid Python: {exc}") from None
    allowed = ", ".join(sorted(ALLOWED_REWARD_IMPORTS))
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = ["." * node.level + (node.module or "")]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            modules = ["__import__"]
        for module in modules:
            if module.split(".")[0] not in ALLOWED_REWARD_IMPORTS:
                raise _ImportRefused(f"reward_function.py imports a module that is not allowed: {module} "
                                     f"(allowed: {allowed})")


def _make_handler(standin: DroaStandIn) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "DroaStandIn/1.0"
        protocol_version = "HTTP/1.0"  # one request per connection: no handler thread outlives stop()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _send(self, status: int, body: bytes, content_type: str, extra: Mapping[str, str] = {}) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, doc: Any, extra: Mapping[str, str] = {}) -> None:
            self._send(status, json.dumps(doc).encode(), "application/json", extra)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            path = urlsplit(self.path).path
            if path == "/api" or path.startswith("/api/"):
                try:
                    status, doc = standin._api(self.command, self.path, self.headers, body)
                except _ApiError as exc:
                    extra = {"x-amzn-ErrorType": exc.error_type} if exc.error_type else {}
                    self._json(exc.status, {"message": exc.message}, extra)
                except Exception as exc:  # noqa: BLE001 - a 500 like API Gateway's, never a dropped connection
                    _log.exception("stand-in API error")
                    self._json(500, {"message": f"Internal server error: {exc}"})
                else:
                    self._json(status, doc, {"x-amzn-RequestId": str(uuid.uuid4())})
                return
            if self.command not in ("GET", "HEAD"):
                self._json(405, {"message": "Method Not Allowed"})
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
