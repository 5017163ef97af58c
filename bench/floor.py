"""What bounds drmodel's transfers on this machine: each piece of the work, measured alone.

The benchmark (run.py) times whole commands. This script takes one apart, on a fresh local SeaweedFS and with
drmodel's own S3 client: the CPU the server spends to store and to serve the bytes, the client CPU of a GET
(urllib3 and botocore's CRC32 check), of a PUT, of the sha256 that proves every byte, of writing a file, and of
a drmodel process's start-up. The start-up comes first, on one CPU; then client and server share this
machine's CPUs, so a transfer cannot take less wall time than start-up + (client CPU + server CPU) / CPUs: the
floors printed at the end, to set beside the figures run.py measures for drmodel and its peers.

    .venv/bin/python bench/floor.py [--mib 360] [--out bench/results/floor.json]

Loopback only, no peer tool runs here; the bytes are random, in 45 MiB objects (a checkpoint's size).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from drbench.steps import process_cpu  # noqa: E402
from drbench.world import identity  # noqa: E402
from drmodel.options import TransferOptions  # noqa: E402
from drmodel.stores.s3 import make_client  # noqa: E402
from drmodel.testing.localserver import SeaweedS3, s3_client  # noqa: E402

OBJECT = 45 * 1024 * 1024
CHUNK = 1024 * 1024  # what drmodel reads and writes at a time


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(label: str, fn: Callable[[int], Any], n: int, server_pid: int | None, workers: int = 4) -> dict[str, float]:
    os.sync()  # the writes of the step before are flushed first, not charged to this one
    c0, s0, t0 = own_cpu(), process_cpu(server_pid) if server_pid else 0.0, time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(fn, range(n)))
    row = {"wall_s": time.perf_counter() - t0, "client_cpu_s": own_cpu() - c0,
           "server_cpu_s": (process_cpu(server_pid) - s0) if server_pid else 0.0}
    print(f"  {label:<44} wall {row['wall_s']:5.2f} s   client CPU {row['client_cpu_s']:5.2f} s   "
          f"server CPU {row['server_cpu_s']:5.2f} s", flush=True)
    return row


def startup_cpu(env: dict[str, str]) -> float:
    """CPU of a process that imports what a drmodel copy imports and makes its two S3 clients, then exits as the
    command does: drmodel's fixed cost before the first request (and its interpreter's teardown)."""
    probe = str(HERE / "probes" / "startup.py")
    best = None
    for _ in range(5):
        before = os.times()
        subprocess.run([sys.executable, probe], env=env, check=True)
        after = os.times()
        spent = after.children_user - before.children_user + after.children_system - before.children_system
        best = spent if best is None else min(best, spent)
    return best or 0.0


def local_pieces(work: Path, view: memoryview, n: int) -> dict[str, dict[str, float]]:
    """The client's work that needs no server: sha256, CRC32, writing and reading files."""
    rows = {}

    def sha256(i: int) -> None:
        h = hashlib.sha256()
        for off in range(0, OBJECT, CHUNK):
            h.update(view[off:off + CHUNK])

    def crc32(i: int) -> None:
        c = 0
        for off in range(0, OBJECT, CHUNK):
            c = zlib.crc32(view[off:off + CHUNK], c)

    def read_file(i: int) -> None:
        with open(work / f"file{i}", "rb") as f:
            while f.read(CHUNK):
                pass

    def write_file(i: int) -> None:  # as drmodel: the file's blocks reserved first, then 1 MiB writes
        with open(work / f"file{i}", "wb") as f:
            os.posix_fallocate(f.fileno(), 0, OBJECT)
            for off in range(0, OBJECT, CHUNK):
                f.write(view[off:off + CHUNK])

    rows["sha256"] = timed("sha256 of the bytes (hashlib)", sha256, n, None)
    rows["crc32"] = timed("CRC32 of the bytes (zlib; part of the GET below)", crc32, n, None)
    rows["write_file"] = timed("write the bytes to new files (one at a time)", write_file, n, None, workers=1)
    rows["read_file"] = timed("read those files (page cache)", read_file, n, None)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=360, help="bytes to move per measurement, MiB (default 360)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "floor.json")
    args = parser.parse_args()
    n = max(1, round(args.mib * 1024 * 1024 / OBJECT))
    total_mib = n * OBJECT / 1024 / 1024
    data = os.urandom(OBJECT)
    view = memoryview(data)  # slices of it copy nothing
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    work = Path(tempfile.mkdtemp(prefix="drmodel-floor-"))
    a = identity("account-a")
    bucket = a.buckets[0]
    rows: dict[str, dict[str, float]] = {}
    print(f"{n} objects of 45 MiB ({total_mib:.0f} MiB) per measurement; {os.cpu_count()} CPUs", flush=True)
    try:
        print("each piece alone:", flush=True)
        rows.update(local_pieces(work, view, n))  # before the server writes anything: no page-cache pressure yet
        with SeaweedS3(work / "seaweedfs", [a], [bucket]) as server:
            env = dict(os.environ, AWS_ACCESS_KEY_ID=a.access_key, AWS_SECRET_ACCESS_KEY=a.secret_key,
                       AWS_ENDPOINT_URL=server.endpoint, AWS_DEFAULT_REGION="us-east-1",
                       AWS_EC2_METADATA_DISABLED="true")
            os.environ.update(env)
            plain = s3_client(server.endpoint, a.access_key, a.secret_key)  # boto3 defaults: CRC32, as run.py's sources
            for i in range(n):
                plain.put_object(Bucket=bucket, Key=f"src{i}", Body=data)
            ours = make_client(None, TransferOptions())
            pid = server.pid

            def get(i: int) -> None:
                body = ours.get_object(Bucket=bucket, Key=f"src{i}")["Body"]  # botocore checks the CRC32
                while body.read(CHUNK):
                    pass

            def put(i: int) -> None:  # as drmodel: one PUT, UNSIGNED-PAYLOAD, a CRC32 checked by the server
                ours.put_object(Bucket=bucket, Key=f"dst{i}", Body=data, ChecksumCRC32=crc,
                                Metadata={"drmodel-sha256": sha})

            def put_sha(i: int) -> None:  # the same with a SHA256 for the server to check instead
                ours.put_object(Bucket=bucket, Key=f"sha{i}", Body=data, ChecksumSHA256=sha)

            def put_bare(i: int) -> None:  # no checksum at all: what the server's checks cost
                ours.put_object(Bucket=bucket, Key=f"bare{i}", Body=data)

            rows["get"] = timed("GET (urllib3 + botocore's CRC32 check)", get, n, pid)
            # each PUT kind twice, interleaved, the cheaper run kept: the server's first writes also grow its
            # volumes, and its cost per byte drifts as it fills
            for name, label, fn in (("put", "PUT with ChecksumCRC32 (as drmodel)", put),
                                    ("put_sha256", "PUT with ChecksumSHA256", put_sha),
                                    ("put_bare", "PUT without any checksum", put_bare)) * 2:
                row = timed(label, fn, n, pid)
                if name not in rows or row["server_cpu_s"] < rows[name]["server_cpu_s"]:
                    rows[name] = row
            start = startup_cpu(env)
            print(f"  {'drmodel start-up: imports + 2 clients':<44} client CPU {start:5.2f} s (best of 5)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cpus = os.cpu_count() or 1
    g, p, h = rows["get"], rows["put"], rows["sha256"]
    # the start-up comes first, on one CPU, while the server waits; then client and server share the CPUs
    transfers = {
        "relay": (g["client_cpu_s"] + h["client_cpu_s"] + p["client_cpu_s"], g["server_cpu_s"] + p["server_cpu_s"]),
        "pull": (g["client_cpu_s"] + h["client_cpu_s"] + rows["write_file"]["client_cpu_s"], g["server_cpu_s"]),
        "push": (rows["read_file"]["client_cpu_s"] + h["client_cpu_s"] + rows["crc32"]["client_cpu_s"]
                 + p["client_cpu_s"], p["server_cpu_s"]),
    }
    print(f"floors for {total_mib:.0f} MiB: wall >= start-up + (client CPU + server CPU of the transfer) / {cpus} "
          "CPUs", flush=True)
    floors = {}
    for name, (client, server_cpu) in transfers.items():
        floors[name] = {"startup_s": start, "client_cpu_s": client, "server_cpu_s": server_cpu,
                        "wall_floor_s": start + (client + server_cpu) / cpus}
        print(f"  {name:<6} start-up {start:4.2f} s + (client {client:4.2f} s + server {server_cpu:4.2f} s) / {cpus} "
              f"-> at least {floors[name]['wall_floor_s']:4.2f} s", flush=True)
    sha_cost = rows["put_sha256"]["server_cpu_s"] - p["server_cpu_s"]
    print(f"  a SHA256 for the server to check instead of the CRC32 would cost it {sha_cost:.2f} CPU-s more "
          f"(PUT with CRC32: {p['server_cpu_s']:.2f}, with nothing: {rows['put_bare']['server_cpu_s']:.2f})",
          flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"mib": total_mib, "cpus": cpus, "pieces": rows, "startup_cpu_s": start,
                                    "floors": floors, "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                   indent=1))
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
