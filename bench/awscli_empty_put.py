"""aws-cli v1 plugin used by bench/run.py: `Connection: close` on zero-length PutObject requests.

SeaweedFS 4.48 stalls the next request on a keep-alive connection after a zero-byte PUT until the client's
read timeout (60 s), and this model has two empty files (ip/done, model/.ready). drmodel sends this header
for the same reason; real S3 needs neither. Kept free of imports so it costs aws-cli nothing to load.
Loaded through an AWS config file with `[plugins]` `bench_empty_put = awscli_empty_put` and this folder on
PYTHONPATH.
"""

from typing import Any


def close_on_empty_put(request: Any, **kwargs: Any) -> None:
    length = request.headers.get("Content-Length")
    if isinstance(length, bytes):
        length = length.decode()
    if length is not None and str(length).strip() == "0":
        request.headers["Connection"] = "close"


def awscli_initialize(cli: Any) -> None:
    cli.register("before-send.s3.PutObject", close_on_empty_put)
