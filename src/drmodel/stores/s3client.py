"""How drmodel makes its botocore clients: one session per profile, one shared data loader, a faster timestamp
parser, and the few event handlers every S3 client gets (stores.s3 uses them; so do the DRoA client and the local
test servers)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

from drmodel import cancel
from drmodel.access import Access
from drmodel.errors import UsageError
from drmodel.options import TransferOptions
from drmodel.stores.s3errors import unknown_profile


def close_connection_on_empty_put(request: Any, **kwargs: Any) -> None:
    """botocore `before-send.s3.PutObject` handler: `Connection: close` on zero-length PUTs.

    SeaweedFS 4.48 was seen to stall the next request on a keep-alive connection after a zero-byte PUT.
    """
    headers = request.headers
    length = headers.get("X-Amz-Decoded-Content-Length") or headers.get("Content-Length")
    if isinstance(length, bytes):
        length = length.decode()
    body = request.body
    empty_body = body is None or (isinstance(body, (bytes, bytearray)) and len(body) == 0)
    if str(length) == "0" or (length is None and empty_body):
        headers["Connection"] = "close"


@lru_cache(maxsize=4)
def shared_loader(data_path: str | None) -> Any:
    """One botocore data loader for every session of the process with the same data path: botocore caches the
    models a loader has parsed, so S3's service model and endpoint rules (2.5 MB of JSON) are parsed once per
    process, not once per profile. Public API: `botocore.loaders.create_loader`, `Session.register_component`."""
    import botocore.loaders

    return botocore.loaders.create_loader(data_path)


def new_session(profile: str | None) -> Any:
    """A botocore session of a profile (or the environment), sharing the process's data loader and parsing
    timestamps with `parse_timestamp`."""
    import botocore.session  # botocore, not boto3: its import costs a third of a start-up

    session = botocore.session.Session(profile=profile)
    session.register_component("data_loader", shared_loader(session.get_config_variable("data_path")))
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    return session


def make_client(profile: Access | str | None, options: TransferOptions) -> Any:
    """A client from a profile (keys, region, role_arn, endpoint_url) or from the usual AWS environment; an Access's
    endpoint_url and region override the profile's."""
    from botocore.config import Config
    from botocore.exceptions import ProfileNotFound

    access = Access.of(profile)
    try:
        session = new_session(access.profile)
        config = Config(signature_version="s3v4", max_pool_connections=options.max_pool_connections,
                        retries={"max_attempts": 5, "mode": "standard"}, s3={"payload_signing_enabled": False},
                        request_checksum_calculation="when_required")
        region = access.region or session.get_config_variable("region") or "us-east-1"
        client = session.create_client("s3", config=config, region_name=region, endpoint_url=access.endpoint_url)
    except ProfileNotFound as exc:
        raise unknown_profile(exc.kwargs.get("profile") or access.profile or "") from None
    except ValueError as exc:  # botocore: "Invalid endpoint: ..."
        if access.endpoint_url and access.endpoint_url in str(exc):
            raise UsageError(f"the S3 endpoint {access.endpoint_url!r} is not a URL",
                             fix="give http(s)://HOST[:PORT], e.g. http://127.0.0.1:9000") from None
        raise
    client.meta.events.register("before-send.s3.PutObject", close_connection_on_empty_put)
    client.meta.events.register("before-call.s3", expect_continue_for_big_bodies_only)
    client.meta.events.register_first("needs-retry.s3", no_retry_once_cancelled)
    return client


def parse_timestamp(value: Any) -> Any:
    """botocore's timestamp parser for responses, faster on S3's two forms: ISO 8601 (each listed object's
    LastModified: 28 us with dateutil, 1 us here, a good part of a listing's cost) and HTTP dates (the
    Last-Modified header of every GET and HEAD: 38 us, 2.4 us here); anything else goes to botocore's own."""
    if isinstance(value, str) and len(value) >= 20 and value[10:11] == "T" and value.endswith("Z"):
        try:
            return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
        except ValueError:
            pass
    elif isinstance(value, str) and value.endswith(" GMT"):
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError):
            pass
    from botocore.utils import parse_timestamp as botocore_parse

    return botocore_parse(value)


def no_retry_once_cancelled(response: Any = None, caught_exception: Any = None, **kwargs: Any) -> None:
    """botocore `needs-retry.s3` handler, first in line: after a Ctrl-C (drmodel.cancel) a failed request is not
    retried. A body that stops at its next chunk fails its request, which botocore would otherwise retry with
    backoff up to five times, each retry stopping at its first chunk again. A request that succeeded is left
    alone: what it wrote landed, and the caller counts it."""
    failed = caught_exception is not None or (response is not None and response[0].status_code >= 400)
    if failed:
        cancel.check()


def expect_continue_for_big_bodies_only(params: Any, **kwargs: Any) -> None:
    """botocore `before-call.s3` handler: no `Expect: 100-continue` on bodies under 1 MiB, nor on relayed ones.

    botocore asks every PUT with a body to wait for the server's go-ahead first; that spares a big body sent to a
    server that refuses it, but a small body costs less than the wait, and SeaweedFS 4.48 was seen to answer the
    conditional PUT of drmodel's lock only after about 200 ms. A relayed body (a GET streamed into the PUT,
    s3bodies.StreamBody) goes without the wait too: its copy holds the model's lock, whose conditional PUT the
    server just accepted with the same credentials, and the wait is a round trip during which the GET's bytes pile
    up while the line idles (at the start of a copy; on a 40 ms line with its downlink full of GETs, 0.1 s). A
    refusal still ends the PUT (the server answers with its error, or the connection is cut and the request fails).
    """
    from botocore.utils import determine_content_length

    from drmodel.stores.s3bodies import StreamBody

    headers, body = params.get("headers", {}), params.get("body")
    if "Expect" in headers and body is not None and (
            isinstance(body, StreamBody) or (determine_content_length(body) or 0) < 1024 * 1024):
        del headers["Expect"]

