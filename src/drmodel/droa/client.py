"""A DRoA deployment's API: env.js, Cognito USER_PASSWORD_AUTH, identity-pool credentials, SigV4 (`execute-api`).

Temporary credentials are refreshable: they are renewed before they expire, and an API call refused as
expired is retried once with fresh ones, so a long transfer survives an expiry. The password stays in
memory for the life of the process (to log in again if the id token expires) and is never written.

The calls follow the real API (aws-solutions/deepracer-on-aws @ 61af778f): GET /models/{id} answers
`{"model": {...}}`; an import goes IMPORTING -> READY or ERROR (`importErrorMessage`); errors carry `message`
(DRoA's), `Message` (an IAM deny), `errorMessage` (API Gateway's request validation) or a ValidationException's
`fieldList`, with the type in `x-amzn-errortype`; ids are 15-character nanoids; ListModels pages with a token that
is absent on the last page; every export request made while packaging runs starts the packaging again. Nothing
is retried but a request API Gateway refused as expired, so POST /importmodel is sent once.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

from drmodel.droa.config import Deployment, password
from drmodel.errors import (
    AccessDeniedError,
    AmbiguousError,
    DrmodelError,
    InvalidModelError,
    NotFoundError,
    TransferError,
    UsageError,
)

ENV_KEYS = ("region", "userPoolId", "userPoolClientId", "identityPoolId", "apiEndpointUrl", "uploadBucketName")


def parse_env_js(text: str) -> dict[str, str]:
    """The deployment's settings from env.js, whatever its exact JavaScript (keys quoted or not)."""
    found = {}
    for key in ENV_KEYS:
        m = re.search(rf"""["']?{key}["']?\s*:\s*["']([^"']+)["']""", text)
        if m:
            found[key] = m.group(1)
    missing = [k for k in ENV_KEYS if k not in found]
    if missing:
        raise UsageError(f"env.js lacks {', '.join(missing)}", fix="check the deployment's site URL in the config")
    return found


def _http(method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None,
          timeout: float = 60) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers with lower-case names). Sends an honest User-Agent (not signed: SigV4 leaves it out)."""
    from drmodel import __version__

    sent = {"User-Agent": f"drmodel/{__version__} (+python-urllib)", **(headers or {})}
    req = urllib.request.Request(url, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310  # URLs come from the config
            return resp.status, resp.read(), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(), {k.lower(): v for k, v in (exc.headers or {}).items()}
    except (urllib.error.URLError, OSError) as exc:
        raise TransferError(f"cannot reach {urllib.parse.urlsplit(url).netloc} ({exc})",
                            fix="check the network and the deployment's site URL") from None


class _GivenCredentials:
    """A botocore credential provider (`CredentialResolver.insert_before`) that answers with the deployment's
    refreshable Cognito credentials, ahead of the environment and the AWS config files."""

    METHOD = CANONICAL_NAME = "drmodel-droa-cognito"

    def __init__(self, credentials: Any) -> None:
        self.credentials = credentials

    def load(self) -> Any:
        return self.credentials


class DroaClient:
    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        status, body, _ = _http("GET", dep.site.rstrip("/") + "/env.js")
        if status != 200:
            raise NotFoundError(f"{dep.site} has no env.js (HTTP {status})", fix="check the site URL in the config")
        self.env = parse_env_js(body.decode("utf-8", "replace"))
        self.region = self.env["region"]
        self.api_url = self.env["apiEndpointUrl"].rstrip("/")
        self.upload_bucket = self.env["uploadBucketName"]
        self._password: str | None = None
        self._id_token: str | None = None
        self._identity_id: str | None = None
        self._credentials: Any = None
        self.refreshes = 0

    # -- auth -------------------------------------------------------------------------------------------
    def _aws(self, service: str, *, unsigned: bool = False) -> Any:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        config = Config(signature_version=UNSIGNED) if unsigned else None
        return boto3.session.Session().client(service, region_name=self.region, endpoint_url=self.dep.endpoint_url,
                                              config=config, aws_access_key_id="unused" if unsigned else None,
                                              aws_secret_access_key="unused" if unsigned else None)

    def login(self) -> str:
        """USER_PASSWORD_AUTH against the user pool; returns the id token."""
        from botocore.exceptions import ClientError

        from drmodel.redact import register_secret

        if self._password is None:
            self._password = password(self.dep)
            register_secret(self._password)
        try:
            r = self._aws("cognito-idp", unsigned=True).initiate_auth(
                AuthFlow="USER_PASSWORD_AUTH", ClientId=self.env["userPoolClientId"],
                AuthParameters={"USERNAME": self.dep.username, "PASSWORD": self._password})
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            self._password = None
            if code in ("NotAuthorizedException", "UserNotFoundException"):
                raise AccessDeniedError(f"DRoA deployment {self.dep.name!r} refused {self.dep.username}: wrong "
                                        "username or password", fix=f"check ${self.dep.password_variable} or the "
                                        "username in the config") from None
            raise AccessDeniedError(f"login to DRoA deployment {self.dep.name!r} failed ({code})",
                                    fix="check the deployment in the config") from None
        result = r.get("AuthenticationResult")
        if not result:
            raise AccessDeniedError(f"login to {self.dep.name!r} needs a challenge ({r.get('ChallengeName')})",
                                    fix="sign in once in the deployment's web site to finish it")
        self._id_token = result["IdToken"]
        from drmodel.redact import register_secret

        register_secret(self._id_token)
        return self._id_token

    def _fetch_credentials(self) -> dict[str, str]:
        from botocore.exceptions import ClientError

        token = self._id_token or self.login()
        logins = {f"cognito-idp.{self.region}.amazonaws.com/{self.env['userPoolId']}": token}
        identity = self._aws("cognito-identity", unsigned=True)
        try:
            if self._identity_id is None:
                self._identity_id = identity.get_id(IdentityPoolId=self.env["identityPoolId"],
                                                    Logins=logins)["IdentityId"]
            c = identity.get_credentials_for_identity(IdentityId=self._identity_id, Logins=logins)["Credentials"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotAuthorizedException" and self._id_token:
                self._id_token = None  # the id token expired: log in again once
                return self._fetch_credentials()
            raise AccessDeniedError(f"the identity pool of {self.dep.name!r} refused credentials ({exc})",
                                    fix="check the deployment") from None
        self.refreshes += 1
        from drmodel.redact import register_secret

        for value in (c["SecretKey"], c["SessionToken"], c["AccessKeyId"]):
            register_secret(value)
        expiry = c["Expiration"]
        if not isinstance(expiry, datetime):
            expiry = datetime.fromtimestamp(float(expiry), tz=UTC)
        return {"access_key": c["AccessKeyId"], "secret_key": c["SecretKey"], "token": c["SessionToken"],
                "expiry_time": expiry.isoformat()}

    @property
    def credentials(self) -> Any:
        """botocore RefreshableCredentials: renewed shortly before they expire."""
        if self._credentials is None:
            from botocore.credentials import RefreshableCredentials

            # renewed 20 s before they expire, and no later than 10 s before (Cognito's last an hour; moto's 90 s)
            self._credentials = RefreshableCredentials.create_from_metadata(
                metadata=self._fetch_credentials(), refresh_using=self._fetch_credentials, method="cognito-identity",
                advisory_timeout=20, mandatory_timeout=10)
        return self._credentials

    def force_refresh(self) -> None:
        """New credentials for the next API call (the API said they expired). S3 clients made earlier keep theirs,
        which renew themselves before they expire."""
        self._credentials = None

    def s3_client(self) -> Any:
        """An S3 client with the deployment's temporary credentials (for the upload bucket)."""
        import boto3
        import botocore.session

        from drmodel.stores.s3 import close_connection_on_empty_put

        bs = botocore.session.Session()
        bs.get_component("credential_provider").insert_before("env", _GivenCredentials(self.credentials))
        client = boto3.Session(botocore_session=bs, region_name=self.region).client(
            "s3", endpoint_url=self.dep.endpoint_url)
        client.meta.events.register("before-send.s3.PutObject", close_connection_on_empty_put)
        return client

    # -- the REST API -----------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Any = None, *, retry_expired: bool = True
                 ) -> tuple[int, Any, str]:
        """One signed call: (HTTP status, the JSON answer, the error type). A 403 "security token ... expired"
        (API Gateway's, before DRoA saw the request) is sent again once with fresh credentials; nothing else is
        ever retried, so a POST is never sent twice."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        data = json.dumps(body).encode() if body is not None else None
        url = self.api_url + path
        req = AWSRequest(method=method, url=url, data=data,
                         headers={"Content-Type": "application/json"} if data is not None else {})
        SigV4Auth(self.credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(req)
        status, raw, headers = _http(method, url, dict(req.headers.items()), data)
        try:
            doc = json.loads(raw.decode() or "{}")
        except ValueError:
            doc = {"message": raw[:200].decode("utf-8", "replace")}
        error_type = headers.get("x-amzn-errortype", "").split(":")[0]
        if status == 403 and "expired" in message_of(doc).lower() and retry_expired:
            self.force_refresh()
            return self._request(method, path, body, retry_expired=False)
        return status, doc, error_type

    def call(self, method: str, path: str, body: Any = None) -> Any:
        status, doc, error_type = self._request(method, path, body)
        if status >= 400:
            raise _api_error(status, message_of(doc), error_type, self.dep.name, method, path)
        return doc

    def list_models(self) -> list[dict[str, Any]]:
        """Every model of the signed-in user, page after page (DRoA: 100 a page; `token` absent on the last)."""
        models: list[dict[str, Any]] = []
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = self.call("GET", "/models" + (f"?token={urllib.parse.quote(token, safe='')}" if token else ""))
            models += page.get("models") or []
            token = page.get("token")
            if not token:
                return models
            if token in seen:
                raise TransferError(f"DRoA deployment {self.dep.name!r} sent the same page token twice",
                                    fix="try again later; if it persists, report it to the deployment's admin")
            seen.add(token)

    def find(self, name: str) -> dict[str, Any]:
        """The model named `name`, or whose id is `name`. DRoA does not keep names unique: when several models not in
        ERROR have the name, they are listed with their ids, and the address must give the id."""
        models = self.list_models()
        if MODEL_ID_RE.match(name):
            for m in models:
                if m.get("modelId") == name:
                    return m
        named = [m for m in models if m.get("name") == name]
        if len(named) == 1:
            return named[0]
        alive = [m for m in named if m.get("status") != "ERROR"]  # failed imports keep their name until deleted
        if len(alive) == 1:
            return alive[0]
        if named:
            listed = "; ".join(f"{m.get('modelId')} ({m.get('status')}, created {m.get('createdAt')})" for m in named)
            raise AmbiguousError(f"droa://{self.dep.name}/{name} names {len(named)} models (DRoA allows a name more "
                                 f"than once): {listed}", fix=f"give the model's id: droa://{self.dep.name}/<modelId>")
        from drmodel.layouts.names import not_found

        raise not_found(name, [m.get("name", "") for m in models], f"droa://{self.dep.name}")

    def models_named(self, name: str) -> list[dict[str, Any]]:
        return [m for m in self.list_models() if m.get("name") == name]

    def export_url(self, model_id: str, *, first_wait: float = 10.0, poll: float = 20.0, timeout: float = 900.0,
                   progress: Any = None) -> str:
        """GET .../getasset?assetType=VIRTUAL_MODEL until it answers a URL. Each request made while DRoA is still
        packaging starts its packaging Lambda again, so drmodel asks at the web site's pace: once, again after
        `first_wait` s, then every `poll` s (the web site polls every 20 s), for up to `timeout` s (the packaging
        Lambda's limit is 15 min). The URL is good for 900 s: download it at once."""
        _check_id(model_id, self.dep.name)
        path = f"/models/{model_id}/getasset?assetType=VIRTUAL_MODEL"
        started = time.monotonic()
        requests = 0
        while True:
            status, doc, error_type = self._request("GET", path)
            requests += 1
            message = message_of(doc)
            if status == 404 and "Packaging Failed" in message:
                raise TransferError(f"DRoA's packaging of the model failed: {message}",
                                    fix="run the command again; the next request starts packaging anew")
            if status >= 400:
                raise _api_error(status, message, error_type, self.dep.name, "GET", path)
            if doc.get("url"):
                return str(doc["url"])
            waited = time.monotonic() - started
            if waited > timeout:
                raise TransferError(f"DRoA was still packaging model {model_id} after {waited:.0f} s "
                                    f"({requests} requests)", fix="run the command again later")
            if progress:
                progress.note(f"export: DRoA is packaging the model ({waited:.0f} s; request {requests}; each request "
                              "restarts the packaging, so drmodel asks at the web site's pace)")
            time.sleep(first_wait if requests == 1 else poll)

    def import_model(self, prefix: str, name: str, description: str | None) -> str:
        """POST /importmodel, sent once. A 400 means DRoA refused the upload and created nothing. After a 5xx or a
        lost answer, drmodel does not send it again (a second POST could create a second model): it looks for a
        model of that name left IMPORTING and reports it."""
        body = {"s3Bucket": self.upload_bucket, "s3Path": prefix, "modelName": name}
        if description:
            body["modelDescription"] = description
        try:
            status, doc, error_type = self._request("POST", "/importmodel", body)
        except TransferError as exc:
            raise TransferError(f"POST /importmodel got no answer ({exc.message}); drmodel did not send it again"
                                + self._orphans(name), fix=f"check `drmodel ls droa://{self.dep.name}` before "
                                "pushing again") from None
        message = message_of(doc)
        if status == 200 and isinstance(doc, dict) and doc.get("modelId"):
            return str(doc["modelId"])
        if status == 400:
            kind = error_type or "API Gateway's request validation"
            fix = ("check the name (--as) and --description" if "errorMessage" in doc or error_type ==
                   "ValidationException" else "fix the model as the message says (drmodel check shows its files), "
                   "then push again")
            raise InvalidModelError(f"DRoA refused the import: {message or 'no message'} (HTTP 400 {kind}; no model "
                                    "was created)", fix=fix)
        if status >= 500:
            detail = f": {message}" if message else " with no detail"
            raise TransferError(f"DRoA could not import the upload (HTTP {status} {error_type or ''}".rstrip() +
                                f"{detail}): usually a required file is missing or empty, or its JSON or YAML does "
                                "not parse; drmodel did not send it again" + self._orphans(name),
                                fix="run `drmodel check` on the source and push again")
        raise _api_error(status, message, error_type, self.dep.name, "POST", "/importmodel")

    def _orphans(self, name: str) -> str:
        """A note naming the models called `name` that are IMPORTING (one a failed POST may have left)."""
        try:
            left = [m for m in self.models_named(name) if m.get("status") == "IMPORTING"]
        except DrmodelError:
            return ""
        if not left:
            return ""
        ids = ", ".join(str(m.get("modelId")) for m in left)
        return f"; droa://{self.dep.name} holds a model {name!r} in IMPORTING ({ids}) that this POST may have left"

    def wait_import(self, model_id: str, *, poll: float = 5.0, timeout: float = 1800, progress: Any = None) -> dict:
        """GET /models/{id} (`{"model": {...}}`) until the import ends: IMPORTING -> READY, or ERROR with its
        importErrorMessage. DRoA's import can take 20 minutes (model validation up to 15, the copy up to 5)."""
        _check_id(model_id, self.dep.name)
        started = time.monotonic()
        last = None
        while True:
            doc = self.call("GET", f"/models/{model_id}")
            m = doc.get("model", doc) if isinstance(doc, dict) else {}
            status = m.get("status")
            if status != last and progress:
                progress.note(f"import {status} ({time.monotonic() - started:.0f} s)")
            last = status
            if status == "READY":
                return m
            if status == "ERROR":
                message = m.get("importErrorMessage") or "no message"
                raise InvalidModelError(f"DRoA refused the import: {message} (model {model_id} is in ERROR)",
                                        fix=_import_error_fix(message))
            if status not in ("IMPORTING", "QUEUED"):
                raise TransferError(f"model {model_id} went {status} while importing",
                                    fix=f"look at it with `drmodel ls droa://{self.dep.name}`")
            if time.monotonic() - started > timeout:
                raise TransferError(f"the import of model {model_id} is still {status} after {timeout:.0f} s",
                                    fix="check it later with `drmodel ls`; DRoA leaves an import IMPORTING for good "
                                    "when its reward-function check times out (a function that never returns): then "
                                    "delete it in the web site and push again")
            time.sleep(poll)


MODEL_ID_RE = re.compile(r"^[A-Za-z0-9]{15}\Z")  # DRoA's ids: 15-character nanoids (common.smithy#L5-L6)


def _check_id(model_id: str, deployment: str) -> None:
    if not MODEL_ID_RE.match(model_id):
        raise UsageError(f"{model_id!r} is not a DRoA model id (15 letters and digits)",
                         fix=f"see the ids with `drmodel ls droa://{deployment}`")


def message_of(doc: Any) -> str:
    """The error text of any DRoA answer: `message` (DRoA's errors, API Gateway's), `Message` (an IAM deny),
    `errorMessage` (API Gateway's request validation), or a ValidationException's first field."""
    if not isinstance(doc, dict):
        return ""
    for key in ("message", "Message", "errorMessage"):
        if isinstance(doc.get(key), str) and doc[key]:
            return str(doc[key])
    fields = doc.get("fieldList")
    if isinstance(fields, list) and fields and isinstance(fields[0], dict):
        return str(fields[0].get("message", ""))
    return ""


def _import_error_fix(message: str) -> str:
    if message.startswith("Reward Function Validation"):
        return ("fix reward_function.py (drmodel's pre-flight checks it; --run-reward-function also runs it), delete "
                "the ERROR model in the web site, then push again")
    if message.startswith("Model validation failed"):
        return ("DRoA's model validator refused model/ (a sensor it cannot feed such as LEFT_CAMERA, a checkpoint it "
                "cannot restore, model/model_metadata.json); run `drmodel check`, then push again")
    if message.startswith("Unexpected error"):
        return "a failure inside DRoA: push again in a few minutes"
    return "fix the model (drmodel check) and push again"


def _api_error(status: int, message: str, error_type: str, name: str, method: str, path: str) -> DrmodelError:
    where = f"{method} {path} on DRoA deployment {name!r}"
    kind = f"HTTP {status}" + (f" {error_type}" if error_type else "")
    if status in (401, 403):
        if "Missing Authentication Token" in message:
            return AccessDeniedError(f"{where} was refused ({kind}: {message}): API Gateway says this when the route "
                                     "does not exist or the call is not signed",
                                     fix="check the deployment's site URL in the config (its env.js apiEndpointUrl)")
        if "not authorized to perform" in message:
            return AccessDeniedError(f"{where} was refused ({kind}): {message}",
                                     fix="ask the deployment's administrator for a racer account")
        if not message or message == "Forbidden":
            return AccessDeniedError(f"{where} was refused ({kind}{': ' + message if message else ''}): the "
                                     "deployment's web application firewall (AWS WAF Bot Control) may block clients "
                                     "that are not browsers", fix="ask its administrator to set the rule "
                                     "SignalNonBrowserUserAgent (or CategoryHttpLibrary) to Count")
        return AccessDeniedError(f"{where} was refused ({kind}): {message}",
                                 fix="check the user's rights in that deployment")
    if status == 404:
        return NotFoundError(f"{where}: {message or 'not found'} ({kind})", fix=f"drmodel ls droa://{name}")
    if 400 <= status < 500:
        return UsageError(f"{where} was refused ({kind}): {message or 'no message'}",
                          fix="check the model address and the options")
    if status == 500 and not message:
        return TransferError(f"{where}: DeepRacer on AWS failed internally ({kind}, no detail)",
                             fix="try again later; the deployment's logs hold the cause")
    return TransferError(f"{where} failed ({kind}): {message or 'no message'}", fix="try again later")
