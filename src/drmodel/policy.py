"""`drmodel policy`: the least-privilege IAM policies each account needs for a copy, and the optional bucket
policy that lets the target account read the source directly (server-side copy).

Derived from the addresses alone; with a profile (or an endpoint or region), the model's real training prefix narrows
the resources.
"""

from __future__ import annotations

import json
from typing import Any

from drmodel.access import Access, AccessLike
from drmodel.address import parse
from drmodel.errors import UsageError

LEGACY_JOBS = "DeepRacer-SageMaker-RoboMaker-comm-*"


def _model_resources(bucket: str, path: str, layout: str, prefix: str | None) -> list[str]:
    arn = f"arn:aws:s3:::{bucket}"
    if layout == "legacy":
        jobs = f"{prefix}/*" if prefix else LEGACY_JOBS
        name = f"{path.strip('/')}/" if path.strip("/") else ""  # no name: the bucket, every model of a batch
        return [f"{arn}/model-metadata/{name}*", f"{arn}/reward-functions/{name}*", f"{arn}/{jobs}"]
    base = f"{path.strip('/')}/" if path.strip("/") else ""
    return [f"{arn}/{base}*"]


def _side(address: str, profile: AccessLike, layout: str | None) -> tuple[str, str, str, str | None]:
    addr = parse(address)
    if addr.scheme != "s3" or not addr.bucket:
        raise UsageError(f"{address} is not an S3 address: no IAM policy applies", fix="give s3://BUCKET/MODEL")
    from drmodel.layouts import default_target_layout

    chosen = layout or default_target_layout(addr.bucket, addr.path)
    prefix = None
    if Access.of(profile).given:
        from drmodel import api

        try:
            loc = api.open_model(address, profile=profile, layout=layout)
            chosen, prefix = loc.layout, loc.details.get("training_prefix")
        except Exception:  # not readable yet (a new target): the wildcard stands
            pass
    return addr.bucket, addr.path, chosen, prefix


def grant_read_policies(source_bucket: str, source_keys: list[str], target_policy: dict[str, Any],
                        principal: str) -> dict[str, Any]:
    """What each side needs for the grant path (`--grant-read`): the source owner adds a temporary, expiring
    statement to the source bucket's policy and removes it after the copy (drmodel.grant); the target reads the
    granted keys through it and writes its own."""
    from datetime import UTC, datetime

    from drmodel.grant import MAX_GRANT, grant_statement

    example = grant_statement(source_bucket, ["KEY"], "000000000000", datetime(2030, 1, 1, tzinfo=UTC),
                              "drmodel-grant-SCOPE-RUN-until-20300101T000000Z")
    example["Principal"] = {"AWS": principal}
    example["Resource"] = source_keys  # the prefix form; a copy names the model's exact keys when they fit
    target = json.loads(json.dumps(target_policy))
    target["Statement"].append({"Sid": "ReadSourceModelThroughTheGrant", "Effect": "Allow",
                                "Action": ["s3:GetObject"], "Resource": source_keys})
    hours = int(MAX_GRANT.total_seconds() // 3600)
    return {
        "grant_source_account_policy": {"Version": "2012-10-17", "Statement": [
            {"Sid": "ManageTheTemporaryGrant", "Effect": "Allow",
             "Action": ["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"],
             "Resource": f"arn:aws:s3:::{source_bucket}"}]},
        "grant_target_account_policy": target,
        "grant_statement_example": example,
        "grant_notes": [
            "grant path: the source account needs grant_source_account_policy and source_account_policy (drmodel "
            "lists and reads the source to plan); the target account needs grant_target_account_policy",
            "drmodel adds one statement (grant_statement_example) to the source bucket's policy, naming the model's "
            "exact keys (its prefixes when they are too many), copies inside S3 with the target's credentials, "
            "then removes it and checks that the policy is as it was",
            f"the statement ends by itself at its DateLessThan aws:CurrentTime: now + the copy's expected time x 1.5 "
            f"+ 15 minutes, at most {hours} h; a rerun removes one a killed run left (Sid drmodel-grant-...)",
            "cross-account reads need both sides: the grant in the source bucket's policy and s3:GetObject on the "
            "source keys in the target identity's own policy (in grant_target_account_policy)",
            "the grant's principal: `drmodel copy --grant-read --grant-to ACCOUNT_OR_ARN`, else the target "
            "credentials' account from sts:GetCallerIdentity (then the target identity needs it; an S3 service "
            "without STS needs --grant-to)"]}


def policies(source: str, target: str, *, source_profile: AccessLike = None, target_profile: AccessLike = None,
             layout: str | None = None, target_layout: str | None = None,
             target_account: str | None = None, grant_read: bool = False) -> dict[str, Any]:
    sb, sp, sl, spre = _side(source, source_profile, layout)
    tb, tp, tl, tpre = _side(target, target_profile, target_layout)
    source_keys = _model_resources(sb, sp, sl, spre)
    target_keys = _model_resources(tb, tp or sp, tl, tpre)
    source_policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "ListSourceBucket", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{sb}"},
        {"Sid": "ReadSourceModel", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": source_keys},
    ]}
    target_policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "ListTargetBucket", "Effect": "Allow",
         "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"], "Resource": f"arn:aws:s3:::{tb}"},
        {"Sid": "ReplaceTargetModel", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
         "Resource": target_keys},
    ]}
    principal = f"arn:aws:iam::{target_account or 'TARGET_ACCOUNT_ID'}:root"
    bucket_policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "LetTargetAccountListModel", "Effect": "Allow", "Principal": {"AWS": principal},
         "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{sb}"},
        {"Sid": "LetTargetAccountReadModel", "Effect": "Allow", "Principal": {"AWS": principal},
         "Action": ["s3:GetObject"], "Resource": source_keys},
    ]}
    grant = grant_read_policies(sb, source_keys, target_policy, principal) if grant_read else {}
    return {"source_account_policy": source_policy, "target_account_policy": target_policy,
            "optional_source_bucket_policy": bucket_policy, **grant,
            "notes": ["sts:GetCallerIdentity is optional: with --create it names the account of a new training "
                      "prefix (else --account-id, or the bucket's other prefixes)",
                      "the bucket policy is optional: it lets the target account read the source directly "
                      "(server-side copy) instead of relaying the bytes"]}
