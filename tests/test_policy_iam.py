"""`drmodel policy` is exactly enough: a copy on moto with IAM enforcement on, each account holding only its
printed policy, works; removing any one action makes drmodel fail with a message naming that permission.

moto's IAM enforcement (server mode, boto3/botocore 1.44.18), measured with a user allowed `s3:ListBucket` on a
bucket and `s3:GetObject` on one prefix (`iam_moto_evaluates_correctly` below repeats the check on every run):
- 5.0.28, 5.1.0 to 5.1.22, 5.2.0 to 5.2.3: ListObjectsV2 with a `Prefix` or a `Delimiter` fails with
  SignatureDoesNotMatch: moto recomputes the signature over the query string as werkzeug decoded it (`prefix=a/`)
  where the client signed `prefix=a%2F`;
- 5.2.4 and 5.2.5: right for every call this test makes (the lock pins 5.2.5, requirements/constraints.in);
- 5.2.6: ListObjects and ListObjectsV2 are refused (AccessDenied) although the policy allows s3:ListBucket.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest

from drmodel.testing.synth import legacy_bucket, placeholder, placeholder_prefix, put_all
from helpers import cli

SRC, DST = "aws-deepracer-policy-src", "aws-deepracer-policy-dst"
PT = placeholder_prefix("Apex-Hunter")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def iam_moto(tmp_path_factory):
    """A moto server in its own process (auth settings are process-wide), IAM enforcement switched on later."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("moto server did not start")
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


def _client(service: str, endpoint: str, key: str, secret: str):
    return boto3.session.Session().client(service, endpoint_url=endpoint, region_name="us-east-1",
                                          aws_access_key_id=key, aws_secret_access_key=secret)


def iam_moto_evaluates_correctly(endpoint: str, admin: tuple[str, str], iam) -> None:
    """Fail with moto's version unless it allows and refuses this test's calls as AWS does: a user with
    `s3:ListBucket` lists with a Prefix and a Delimiter, reads the prefix it may read and nothing else; without
    `s3:ListBucket` it cannot list. (A wrong engine would make the proof below prove nothing.)"""
    import moto

    bucket = "aws-deepracer-moto-canary"
    admin_s3 = _client("s3", endpoint, *admin)
    admin_s3.create_bucket(Bucket=bucket)
    admin_s3.put_object(Bucket=bucket, Key="a/b", Body=b"x")
    admin_s3.put_object(Bucket=bucket, Key="z/b", Body=b"x")
    iam.create_user(UserName="canary")
    key = iam.create_access_key(UserName="canary")["AccessKey"]
    user = _client("s3", endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    results = {}
    for allowed in (True, False):
        actions = [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::{bucket}/a/*"}]
        if allowed:
            actions.append({"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{bucket}"})
        iam.put_user_policy(UserName="canary", PolicyName="p",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": actions}))
        for name, call in (("list", lambda: user.list_objects_v2(Bucket=bucket)),
                           ("list with Prefix", lambda: user.list_objects_v2(Bucket=bucket, Prefix="a/")),
                           ("list with Delimiter", lambda: user.list_objects_v2(Bucket=bucket, Delimiter="/")),
                           ("get allowed key", lambda: user.get_object(Bucket=bucket, Key="a/b")),
                           ("get other key", lambda: user.get_object(Bucket=bucket, Key="z/b"))):
            try:
                call()
                results[(allowed, name)] = "ok"
            except Exception as exc:  # noqa: BLE001 - the error code is the answer
                results[(allowed, name)] = getattr(exc, "response", {}).get("Error", {}).get("Code", repr(exc))
    expected = {(allowed, name): ("ok" if (allowed or not name.startswith("list")) and name != "get other key"
                                  else "AccessDenied")
                for allowed, name in results}
    wrong = {f"{name} ({'with' if allowed else 'without'} s3:ListBucket)": got
             for (allowed, name), got in results.items() if got != expected[(allowed, name)]}
    assert not wrong, (f"moto {moto.__version__} evaluates IAM wrongly, so this test could prove nothing: {wrong}; "
                       "use the locked version (requirements/test.txt)")


def test_printed_policies_are_exactly_enough(iam_moto, tmp_path, monkeypatch):
    endpoint = iam_moto
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    code, out, err = cli("policy", "--source", f"s3://{SRC}/Apex-Hunter", "--target", f"s3://{DST}/Apex-Hunter")
    assert code == 0, err
    doc = json.loads(out)
    boot_s3, iam = _client("s3", endpoint, "boot", "boot"), _client("iam", endpoint, "boot", "boot")
    boot_s3.create_bucket(Bucket=SRC)
    boot_s3.create_bucket(Bucket=DST)
    put_all(boot_s3, SRC, legacy_bucket(SRC, scale=0.002))
    keys = {}
    for user, policy in (("admin", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
            ("racer", doc["source_account_policy"]), ("friend", doc["target_account_policy"])):
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="drmodel", PolicyDocument=json.dumps(policy))
        k = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = (k["AccessKeyId"], k["SecretAccessKey"])
    config, creds = tmp_path / "config", tmp_path / "credentials"
    config.write_text("".join(f"[profile {u}]\nregion = us-east-1\nendpoint_url = {endpoint}\ns3 =\n"
                              "    addressing_style = path\n\n" for u in keys))
    creds.write_text("".join(f"[{u}]\naws_access_key_id = {a}\naws_secret_access_key = {s}\n\n"
                             for u, (a, s) in keys.items()))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                                  headers={"Content-Type": "text/plain"}))
    admin_s3, admin_iam = _client("s3", endpoint, *keys["admin"]), _client("iam", endpoint, *keys["admin"])
    iam_moto_evaluates_correctly(endpoint, keys["admin"], admin_iam)

    def reset_target() -> None:
        for page in admin_s3.get_paginator("list_objects_v2").paginate(Bucket=DST):
            for obj in page.get("Contents", []):
                admin_s3.delete_object(Bucket=DST, Key=obj["Key"])
        put_all(admin_s3, DST, placeholder(DST, "Apex-Hunter", scale=0.002))
        # an unfinished multipart upload on a key of the model: drmodel must abort it
        admin_s3.create_multipart_upload(Bucket=DST, Key=f"{PT}/model/145_Step-136982.ckpt.index")

    def copy() -> tuple[int, str]:
        code, _, err = cli("copy", f"s3://{SRC}/Apex-Hunter", f"s3://{DST}/Apex-Hunter", "--source-profile",
                           "racer", "--target-profile", "friend", "--yes", "--checkpoint", "all",
                           "--backup-to", str(tmp_path / "bk"))
        return code, err

    reset_target()
    code, err = copy()
    assert code == 0, err
    assert not admin_s3.list_multipart_uploads(Bucket=DST).get("Uploads")
    for user, policy_name in (("racer", "source_account_policy"), ("friend", "target_account_policy")):
        for i, statement in enumerate(doc[policy_name]["Statement"]):
            for action in statement["Action"]:
                reduced = json.loads(json.dumps(doc[policy_name]))
                reduced["Statement"][i]["Action"] = [a for a in statement["Action"] if a != action]
                reduced["Statement"] = [s for s in reduced["Statement"] if s["Action"]]
                admin_iam.put_user_policy(UserName=user, PolicyName="drmodel", PolicyDocument=json.dumps(reduced))
                reset_target()
                code, err = copy()
                assert code == 4, f"without {action} for {user}: exit {code}: {err}"
                assert action in err and f"profile '{user}'" in err, err
                assert "Traceback" not in err
            admin_iam.put_user_policy(UserName=user, PolicyName="drmodel",
                                      PolicyDocument=json.dumps(doc[policy_name]))
