"""Would a lean request lane for small objects pay? The client CPU of small GETs, PUTs and HEADs, four ways.

drmodel sends every S3 request through botocore. The idea measured here: for a small object, let botocore only
resolve the endpoint and sign (its public `generate_presigned_url`, with the request's parameters) and send the
request with a plain connection pool. On a fresh local SeaweedFS, with drmodel's own client (stores.s3client), it
times 360 PUTs, 360 GETs (body read whole, its CRC32 checked) and 40 HEADs of 160 KB objects, from THREADS threads:

- `botocore`: the client's put_object / get_object / head_object, as drmodel sends them;
- `lane, URLLib3Session`: a presigned URL per request, sent with botocore's public `URLLib3Session` (what the
  lane would use, configured like the client: timeouts, pool size, proxies, CA bundle);
- `lane, urllib3`: the same URL sent with a bare urllib3 PoolManager (the least a lane could cost);
- `header-signed`: the endpoint resolved once per bucket, each request signed with `botocore.auth.S3SigV4Auth`
  (no per-request endpoint resolution; it needs the credentials apart from the client);
- `HTTP only`: URLs presigned beforehand, just the HTTP exchange (the floor under any lane).

    PYTHONPATH=src .venv/bin/python bench/lane_probe.py [--threads 16] [--rounds 3]

It prints the process CPU of each way per request (best of the rounds) and its saving against botocore; only
this process's CPU is counted (SeaweedFS runs in its own). Loopback only.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

N, HEADS, SIZE = 360, 40, 160_000
SHA = "ab" * 32


def crc32_of(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def timed(fn: Callable[[int], Any], n: int, threads: int) -> float:
    start = time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(fn, range(n)))
    return time.process_time() - start


def ways(client: Any, bucket: str, creds: Any, region: str) -> dict[str, tuple[Callable[[int], Any], ...]]:
    """Each way's (put, get, head), every one asserting its answer."""
    import urllib3
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSPreparedRequest, AWSRequest
    from botocore.httpsession import URLLib3Session

    data = os.urandom(SIZE)
    crc = crc32_of(data)
    cfg = client.meta.config
    http = URLLib3Session(proxies=cfg.proxies, timeout=(cfg.connect_timeout, cfg.read_timeout),
                          max_pool_connections=cfg.max_pool_connections, proxies_config=cfg.proxies_config)
    pool = urllib3.PoolManager(maxsize=cfg.max_pool_connections)
    put_headers = {"x-amz-checksum-crc32": crc, "x-amz-meta-drmodel-sha256": SHA}
    mode = {"x-amz-checksum-mode": "ENABLED"}

    def url(op: str, key: str) -> str:
        params = ({"ChecksumCRC32": crc, "Metadata": {"drmodel-sha256": SHA}} if op == "put_object"
                  else {"ChecksumMode": "ENABLED"})
        return str(client.generate_presigned_url(op, Params={"Bucket": bucket, "Key": key, **params}, ExpiresIn=900))

    def check_get(status: int, headers: Any, body: bytes) -> None:
        assert status == 200 and len(body) == SIZE, status
        assert headers.get("x-amz-checksum-crc32") in (None, crc32_of(body))

    def b_put(i: int) -> None:
        client.put_object(Bucket=bucket, Key=f"b/{i}", Body=data, ChecksumCRC32=crc, Metadata={"drmodel-sha256": SHA})

    def b_get(i: int) -> None:
        assert len(client.get_object(Bucket=bucket, Key=f"b/{i}")["Body"].read()) == SIZE

    def b_head(i: int) -> None:
        client.head_object(Bucket=bucket, Key=f"b/{i}", ChecksumMode="ENABLED")

    def session(method: str, op: str, key: str, headers: dict[str, str], body: bytes | None = None) -> Any:
        r = http.send(AWSPreparedRequest(method, url(op, key), headers, body, stream_output=True))
        got = r.raw.read()
        assert r.status_code == 200, (r.status_code, got)
        return r, got

    def l_get(i: int) -> None:
        r, got = session("GET", "get_object", f"l/{i}", mode)
        check_get(r.status_code, r.headers, got)

    def bare(method: str, target: str, headers: dict[str, str], body: bytes | None = None) -> Any:
        r = pool.request(method, target, body=body, headers=headers, retries=False)
        assert r.status == 200, (r.status, r.data)
        if method == "GET":
            check_get(r.status, r.headers, r.data)
        return r

    base = url("head_object", "KEY-HERE").split("KEY-HERE")[0]

    def signed(method: str, key: str, headers: dict[str, str], body: bytes | None = None) -> Any:
        target = base + quote(key, safe="/~")
        request = AWSRequest(method=method, url=target, data=body,
                             headers={**headers, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
        S3SigV4Auth(creds, "s3", region).add_auth(request)
        return bare(method, target, dict(request.headers.items()), body)

    urls = {(op, i): url(op, f"u/{i}") for i in range(N) for op in ("put_object", "get_object", "head_object")}
    return {
        "botocore": (b_put, b_get, b_head),
        "lane, URLLib3Session": (lambda i: session("PUT", "put_object", f"l/{i}", put_headers, data), l_get,
                                 lambda i: session("HEAD", "head_object", f"l/{i}", mode)),
        "lane, urllib3": (lambda i: bare("PUT", url("put_object", f"r/{i}"), put_headers, data),
                          lambda i: bare("GET", url("get_object", f"r/{i}"), mode),
                          lambda i: bare("HEAD", url("head_object", f"r/{i}"), mode)),
        "header-signed": (lambda i: signed("PUT", f"s/{i}", put_headers, data),
                          lambda i: signed("GET", f"s/{i}", mode), lambda i: signed("HEAD", f"s/{i}", mode)),
        "HTTP only": (lambda i: bare("PUT", urls["put_object", i], put_headers, data),
                      lambda i: bare("GET", urls["get_object", i], mode),
                      lambda i: bare("HEAD", urls["head_object", i], mode)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from botocore.credentials import Credentials

    from drbench.world import identity
    from drmodel.access import Access
    from drmodel.options import TransferOptions
    from drmodel.stores.s3client import make_client
    from drmodel.testing.localserver import SeaweedS3

    a = identity("A")
    work = Path(tempfile.mkdtemp(prefix="lane-probe-"))
    with SeaweedS3(work / "seaweedfs", [a], list(a.buckets)) as server:
        os.environ.update(AWS_ACCESS_KEY_ID=a.access_key, AWS_SECRET_ACCESS_KEY=a.secret_key)
        client = make_client(Access(endpoint_url=server.endpoint, region="us-east-1"), TransferOptions())
        creds = Credentials(a.access_key, a.secret_key).get_frozen_credentials()
        best: dict[str, list[float]] = {}
        for _ in range(args.rounds):  # the ways interleaved, so that another load on the machine hits each alike
            for name, (put, get, head) in ways(client, a.buckets[0], creds, "us-east-1").items():
                cpu = [timed(put, N, args.threads), timed(get, N, args.threads), timed(head, HEADS, args.threads)]
                if name not in best or sum(cpu) < sum(best[name]):
                    best[name] = cpu
        print(f"load average {os.getloadavg()[0]:.2f}; {args.threads} threads; best of {args.rounds}; ms CPU/request")
        print(f"{'way':22s} {'PUT':>6s} {'GET':>6s} {'HEAD':>6s} {'all':>6s}  saving")
        total = sum(best["botocore"])
        for name, (put_s, get_s, head_s) in best.items():
            every = (put_s + get_s + head_s) / (2 * N + HEADS) * 1e3
            print(f"{name:22s} {put_s / N * 1e3:6.2f} {get_s / N * 1e3:6.2f} {head_s / HEADS * 1e3:6.2f} "
                  f"{every:6.2f}  {1 - (put_s + get_s + head_s) / total:5.0%}")


if __name__ == "__main__":
    main()
