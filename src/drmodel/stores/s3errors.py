"""botocore errors translated in one table into drmodel errors whose message names the fix."""

from __future__ import annotations

import re
from typing import Any

from drmodel.errors import AccessDeniedError, DrmodelError, NotFoundError, TransferError, UsageError, VerificationError

PERMISSION = {
    "list_objects_v2": "s3:ListBucket", "head_object": "s3:GetObject", "get_object": "s3:GetObject",
    "put_object": "s3:PutObject", "upload_part": "s3:PutObject", "delete_object": "s3:DeleteObject",
    "delete_objects": "s3:DeleteObject", "copy_object": "s3:GetObject on the source and s3:PutObject",
    "create_multipart_upload": "s3:PutObject", "complete_multipart_upload": "s3:PutObject",
    "list_multipart_uploads": "s3:ListBucketMultipartUploads", "abort_multipart_upload": "s3:AbortMultipartUpload",
    "get_bucket_policy": "s3:GetBucketPolicy", "put_bucket_policy": "s3:PutBucketPolicy",
    "delete_bucket_policy": "s3:DeleteBucketPolicy",
}
ACTION_IN_MESSAGE = re.compile(r"not authorized to perform:?\s*([a-z0-9-]+:[A-Za-z0-9*]+)")

DENIED = {"AccessDenied", "AllAccessDisabled", "403", "Forbidden", "AccountProblem"}
BAD_KEYS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired",
            "InvalidClientTokenId", "AuthorizationHeaderMalformed"}


def unknown_profile(profile: str) -> UsageError:
    """A profile that no config file holds, in one line: the profiles that exist (closest first) and the files read
    (AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/config and ~/.aws/credentials)."""
    import difflib
    import os

    import botocore.session
    from botocore.exceptions import BotoCoreError

    session = botocore.session.Session()
    files = [os.path.expanduser(str(session.get_config_variable(name) or ""))
             for name in ("config_file", "credentials_file")]
    try:
        known = list(session.available_profiles)
    except BotoCoreError:  # a file that does not parse: its own error names it when the profile is fixed
        known = []
    closest = difflib.get_close_matches(profile, known, n=max(1, len(known)), cutoff=0.0)
    shown = ", ".join(closest[:8]) + (f" (and {len(closest) - 8} more)" if len(closest) > 8 else "")
    read = ", ".join(f if os.path.isfile(f) else f"{f} (missing)" for f in files)
    found = f"the profiles that do, closest first: {shown}" if closest else "no profile exists"
    source = " (from $AWS_PROFILE)" if os.environ.get("AWS_PROFILE") == profile else ""
    add = f"add [profile {profile}] to {files[0]} (aws configure --profile {profile})"
    return UsageError(f"profile {profile!r}{source} does not exist; {found}; read {read}",
                      fix=f"pass one of those to --profile, or {add}" if closest else add)


def translate(exc: Any, op: str, where: str, who: str) -> DrmodelError:
    """Map a botocore exception (or a DeleteObjects error entry) to a drmodel error, one line each."""
    if isinstance(exc, DrmodelError):
        return exc
    if isinstance(exc, dict):  # an entry of DeleteObjects' Errors
        code, msg = exc.get("Code", ""), exc.get("Message", "")
    else:
        import botocore.exceptions as bx

        if isinstance(exc, bx.NoCredentialsError):
            return AccessDeniedError(f"no AWS credentials found for {where}",
                                     fix="pass --profile NAME or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        if isinstance(exc, bx.ProfileNotFound):
            return unknown_profile(str(exc.kwargs.get("profile", "")))
        if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError)):
            return TransferError(f"cannot reach the S3 endpoint for {where} ({exc})",
                                 fix="check the network and the profile's endpoint_url, then rerun to resume")
        if isinstance(exc, (bx.ReadTimeoutError, bx.ConnectionClosedError, bx.ResponseStreamingError)):
            return TransferError(f"the connection broke during {op} on {where} ({exc.__class__.__name__})",
                                 fix="rerun the same command: it resumes and skips files already verified")
        if isinstance(exc, bx.ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            msg = err.get("Message", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("404", "NotFound") and op == "head_object":
                code = "NoSuchKey"
            if not code and status == 403:
                code = "AccessDenied"
        else:
            return TransferError(f"{op} on {where} failed: {exc}", fix="rerun the same command to resume")
    if code == "NoSuchBucket":
        return NotFoundError(f"bucket {where.split('/')[2]} does not exist (as seen by {who})",
                             fix="check the bucket name, the region and the profile's endpoint_url")
    if code in ("NoSuchKey", "404", "NotFound"):
        return NotFoundError(f"{where} does not exist", fix="check the model name (drmodel ls)")
    if code in DENIED:
        named = ACTION_IN_MESSAGE.search(msg or "")
        perm = named.group(1) if named else PERMISSION.get(op, op)
        return AccessDeniedError(f"{who} may not {op} on {where} (AccessDenied)",
                                 fix=f"use a profile of the account that owns it, or grant {perm}")
    if code in BAD_KEYS:
        return AccessDeniedError(f"{who} was refused by S3 on {where} ({code})",
                                 fix="check that profile's access key and secret, or refresh its session token")
    if code == "PreconditionFailed":
        return TransferError(f"{where} changed since the plan was made ({op}: PreconditionFailed)",
                             fix="run the same command again: it plans anew from what is there now")
    if code in ("BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"):
        return VerificationError(f"S3 refused the bytes sent to {where} ({code}: {msg})",
                                 fix="the data changed in transit; rerun the same command to resume")
    return TransferError(f"{op} on {where} failed ({code}: {msg})", fix="rerun with --debug for details")
