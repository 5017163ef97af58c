"""Shared fixtures: a moto server (fast, permissive) and a SeaweedFS server with two accounts (real auth)."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from drmodel.testing.localserver import Identity, MotoS3, SeaweedS3, s3_client, write_aws_profiles

# No test may ask the EC2 instance metadata service (169.254.169.254) for credentials: drmodel itself no longer turns
# it off (instance roles work as in the AWS CLI), so the tests do, here and for every subprocess they start.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
import logging

logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server request log

from hypothesis import settings as _hypothesis_settings  # noqa: E402

# No deadline: a test's time is no verdict (a loaded 2-core machine once took 422 ms for a 3 ms example).
# CI explores the same examples every run (a landing is not left to chance); developers' runs stay random.
_hypothesis_settings.register_profile("dev", deadline=None)
_hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
_hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

BUCKET_A = "aws-deepracer-aaaaaaaa-1111-4111-8111-111111111111"
BUCKET_B = "aws-deepracer-bbbbbbbb-2222-4222-8222-222222222222"

# Variables that would point boto3 somewhere else than the server under test.
_AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")


def _clear_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _AWS_ENV:
        monkeypatch.delenv(name, raising=False)


def _new_identity(name: str, bucket: str) -> Identity:
    return Identity(name=name, access_key="AKIA" + secrets.token_hex(8).upper(),
                    secret_key=secrets.token_urlsafe(30), buckets=(bucket,))


def empty_bucket(client: Any, bucket: str) -> None:
    """Delete every object and abort every unfinished multipart upload in bucket."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])


# ---------------------------------------------------------------- moto


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoS3]:
    with MotoS3() as server:
        yield server


@pytest.fixture
def moto_s3(moto_server: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A client to moto; the environment is set so that a plain `boto3.Session()` reaches moto too."""
    _clear_aws_env(monkeypatch)
    aws = tmp_path / "aws-moto"
    aws.mkdir()
    (aws / "config").write_text("")
    (aws / "credentials").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws / "credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_client(moto_server.endpoint, "testing", "testing")


@pytest.fixture
def moto_buckets(moto_s3: Any) -> tuple[Any, str, str]:
    """(client, source_bucket, target_bucket): two fresh, empty, uniquely named moto buckets."""
    source, target = f"aws-deepracer-{uuid.uuid4()}", f"aws-deepracer-{uuid.uuid4()}"
    moto_s3.create_bucket(Bucket=source)
    moto_s3.create_bucket(Bucket=target)
    return moto_s3, source, target


# ---------------------------------------------------------------- SeaweedFS


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS server for the session: `acct-a` owns BUCKET_A, `acct-b` owns BUCKET_B.

    A missing `weed` binary raises (the test errors): it is never skipped.
    """
    identities = [_new_identity("acct-a", BUCKET_A), _new_identity("acct-b", BUCKET_B)]
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"), identities, [BUCKET_A, BUCKET_B])
    with server:
        yield server


@dataclass
class TwoAccounts:
    endpoint: str
    source: Identity
    target: Identity
    source_bucket: str
    target_bucket: str
    source_client: Any
    target_client: Any
    env: dict[str, str]
    source_profile: str = "src"
    target_profile: str = "dst"


@pytest.fixture
def two_accounts(seaweed: SeaweedS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TwoAccounts:
    """Two accounts on SeaweedFS, as AWS profiles `src` (acct-a) and `dst` (acct-b), both buckets empty."""
    source, target = seaweed.identities
    env = write_aws_profiles(tmp_path / "aws", {"src": (source, seaweed.endpoint),
                                                 "dst": (target, seaweed.endpoint)})
    _clear_aws_env(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    accounts = TwoAccounts(
        endpoint=seaweed.endpoint, source=source, target=target,
        source_bucket=source.buckets[0], target_bucket=target.buckets[0],
        source_client=s3_client(seaweed.endpoint, source.access_key, source.secret_key),
        target_client=s3_client(seaweed.endpoint, target.access_key, target.secret_key), env=env)
    for client, bucket in ((accounts.source_client, accounts.source_bucket),
                           (accounts.target_client, accounts.target_bucket)):
        try:  # a test may have granted the other account access
            client.delete_bucket_policy(Bucket=bucket)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchBucketPolicy":
                raise
        empty_bucket(client, bucket)
    return accounts
