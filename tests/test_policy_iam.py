"""`drmodel policy` is exactly enough: a copy on moto with IAM enforcement on, each account holding only its
printed policy, works; removing any one action makes drmodel fail with a message naming that permission."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest
from helpers import cli

from drmodel.synth import legacy_bucket, placeholder, placeholder_prefix, put_all

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
