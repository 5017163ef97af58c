"""A DRoA deployment's API: env.js, Cognito USER_PASSWORD_AUTH, identity-pool credentials, SigV4 (`execute-api`).

Temporary credentials are refreshable: they are renewed before they expire, and an API call refused as
expired is retried once with fresh ones, so a long transfer survives an expiry. The password stays in
memory for the life of the process (to log in again if the id token expires) and is never written.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from typing import Any

from drmodel.droa.config import Deployment, password
from drmodel.errors import AccessDeniedError, DrmodelError, NotFoundError, TransferError, UsageError

ENV_KEYS = ("region", "userPoolId", "userPoolClientId", "identityPoolId", "apiEndpointUrl", "uploadBucketName")


def parse_env_js(text: str) -> dict[str, str]:
    """The deployment's settings from env.js, whatever its exact JavaScript (keys quoted or not)."""
    found = {}
    for key in ENV_KEYS:
        m = re.search(r"""["']?%s["']?\s*:\s*["']([^"']+)["']""" % key, text)
        if m:
            found[key] = m.group(1)
    missing = [k for k in ENV_KEYS if k not in found]
    if missing:
        raise UsageError(f"env.js lacks {', '.join(missing)}", fix="check the deployment's site URL in the config")
    return found


def _http(method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None,
          timeout: float = 60) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (URLs come from the config)
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
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
        status, body = _http("GET", dep.site.rstrip("/") + "/env.js")
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
            expiry = datetime.fromtimestamp(float(expiry), tz=timezone.utc)
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
    def call(self, method: str, path: str, body: Any = None, *, retry_expired: bool = True) -> Any:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        data = json.dumps(body).encode() if body is not None else None
        url = self.api_url + path
        req = AWSRequest(method=method, url=url, data=data,
                         headers={"Content-Type": "application/json"} if data is not None else {})
        SigV4Auth(self.credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(req)
        status, raw = _http(method, url, dict(req.headers.items()), data)
        try:
            doc = json.loads(raw.decode() or "{}")
        except ValueError:
            doc = {"message": raw[:200].decode("utf-8", "replace")}
        message = doc.get("message", "") if isinstance(doc, dict) else ""
        if status == 403 and "expired" in message.lower() and retry_expired:
            self.force_refresh()
            return self.call(method, path, body, retry_expired=False)
        if status >= 400:
            raise _api_error(status, message, self.dep.name, method, path)
        return doc

    def list_models(self) -> list[dict[str, Any]]:
        models: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.call("GET", "/models" + (f"?token={urllib.parse.quote(token)}" if token else ""))
            models += page.get("models", [])
            token = page.get("token")
            if not token:
                return models

    def find(self, name: str) -> dict[str, Any]:
        models = self.list_models()
        for m in models:
            if m.get("name") == name:
                return m
        from drmodel.layouts.names import not_found

        raise not_found(name, [m.get("name", "") for m in models], f"droa://{self.dep.name}")

    def export_url(self, model_id: str, *, poll: float = 1.0, timeout: float = 600, progress: Any = None) -> str:
        started = time.monotonic()
        while True:
            r = self.call("GET", f"/models/{model_id}/getasset?assetType=VIRTUAL_MODEL")
            if r.get("url"):
                return str(r["url"])
            if time.monotonic() - started > timeout:
                raise TransferError(f"the export of model {model_id} is still {r.get('status')}",
                                    fix="try again later")
            if progress:
                progress.note(f"export {r.get('status', 'QUEUED')} ({time.monotonic() - started:.0f} s)")
            time.sleep(poll)

    def import_model(self, prefix: str, name: str, description: str | None) -> str:
        body = {"s3Bucket": self.upload_bucket, "s3Path": prefix, "modelName": name}
        if description:
            body["modelDescription"] = description
        return str(self.call("POST", "/importmodel", body)["modelId"])

    def wait_import(self, model_id: str, *, poll: float = 1.0, timeout: float = 1800, progress: Any = None) -> dict:
        started = time.monotonic()
        last = None
        while True:
            m = self.call("GET", f"/models/{model_id}")
            status = m.get("status")
            if status != last and progress:
                progress.note(f"import {status} ({time.monotonic() - started:.0f} s)")
            last = status
            if status == "READY":
                return m
            if status == "ERROR":
                from drmodel.errors import InvalidModelError

                raise InvalidModelError(f"DRoA refused the import: {m.get('importErrorMessage') or 'no message'}",
                                        fix="fix the model (drmodel check) and push again")
            if time.monotonic() - started > timeout:
                raise TransferError(f"the import of model {model_id} is still {status}", fix="check it later")
            time.sleep(poll)


def _api_error(status: int, message: str, name: str, method: str, path: str) -> DrmodelError:
    where = f"{method} {path} on DRoA deployment {name!r}"
    if status in (401, 403):
        return AccessDeniedError(f"{where} was refused: {message}", fix="check the user's rights in that deployment")
    if status == 404:
        return NotFoundError(f"{where}: {message or 'not found'}", fix=f"drmodel ls droa://{name}")
    if status == 409:
        return UsageError(f"{where}: {message}", fix="choose another name with --as NEWNAME")
    if 400 <= status < 500:
        return UsageError(f"{where}: {message}", fix="fix the request (see the message)")
    return TransferError(f"{where} failed (HTTP {status}): {message}", fix="try again later")
