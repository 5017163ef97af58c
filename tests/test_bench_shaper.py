"""bench/drbench/shaper.py, the benchmark's line-shaping TCP proxy: bytes pass unchanged and in order, half-closes
pass, stop() ends every connection, and the line's schedule is shared by all connections. Correctness only: no
timed assertion (its rates and delays are measured by `python bench/drbench/shaper.py --selfcheck`)."""

from __future__ import annotations

import hashlib
import importlib.util
import random
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SHAPER_FILE = Path(__file__).resolve().parents[1] / "bench" / "drbench" / "shaper.py"


def load_shaper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_shaper", SHAPER_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


shaper = load_shaper()
FAST = shaper.Profile("fast", down_mbit=2000, up_mbit=2000, rtt_ms=1)


class Backend(shaper.ThreadedServer):  # shaper is loaded from its file at run time
    """A threaded server: echoes every connection; on the client's EOF it sends the sha256 of all it got, then
    closes."""

    def serve(self, conn: socket.socket) -> None:
        digest = hashlib.sha256()
        with conn:
            try:
                while data := conn.recv(65536):
                    digest.update(data)
                    conn.sendall(data)
                conn.sendall(b"#" + digest.digest())
            except OSError:
                pass


@pytest.fixture
def backend() -> Iterator[Backend]:
    b = Backend()
    yield b
    b.sock.close()


@pytest.fixture
def proxy(backend: Backend) -> Iterator[object]:
    with shaper.Shaper(FAST, ("127.0.0.1", backend.port)) as s:
        yield s


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)  # a hang fails instead of blocking


def exchange(port: int, payload: bytes, seed: int) -> bytes:
    """Send payload in random-sized pieces while reading the echo, half-close, read everything back."""
    rng = random.Random(seed)
    received = bytearray()
    with connect(port) as conn:
        def reader() -> None:
            while data := conn.recv(65536):
                received.extend(data)
        t = threading.Thread(target=reader)
        t.start()
        sent = 0
        while sent < len(payload):
            n = rng.choice((1, 7, 1000, 65536, 300_000))
            conn.sendall(payload[sent:sent + n])
            sent += n
        conn.shutdown(socket.SHUT_WR)
        t.join(timeout=30)
        assert not t.is_alive()
    return bytes(received)


def test_bytes_pass_unchanged_and_in_order_on_several_connections_at_once(proxy: object) -> None:
    payloads = [random.Random(i).randbytes(n) for i, n in enumerate((1_000_000, 333_333, 1))]
    results: dict[int, bytes] = {}
    threads = [threading.Thread(target=lambda i=i, p=p: results.__setitem__(i, exchange(proxy.port, p, i)))
               for i, p in enumerate(payloads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, payload in enumerate(payloads):
        # the echo, then (after our half-close reached the server) its digest: order kept, nothing lost or added
        assert results[i] == payload + b"#" + hashlib.sha256(payload).digest()
    assert proxy.up.bytes == proxy.down.bytes - 3 * 33 == sum(map(len, payloads))
    assert proxy.connections == 3


def test_stop_ends_open_connections(backend: Backend) -> None:
    s = shaper.Shaper(FAST, ("127.0.0.1", backend.port)).start()
    conn = connect(s.port)
    conn.sendall(b"ping")
    got = b""
    while len(got) < 4:
        got += conn.recv(4 - len(got))
    assert got == b"ping"
    s.stop()
    try:
        assert conn.recv(10) == b""  # closed (or reset, below): never left hanging
    except ConnectionResetError:
        pass
    conn.close()
    with pytest.raises(ConnectionRefusedError):
        connect(s.port)  # no longer listening


def test_a_refused_server_closes_the_client_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        dead_port = placeholder.getsockname()[1]
    with shaper.Shaper(FAST, ("127.0.0.1", dead_port)) as s, connect(s.port) as conn:
        try:
            assert conn.recv(10) == b""
        except ConnectionResetError:
            pass


def test_the_line_is_shared_by_all_connections() -> None:
    line = shaper.Line(8, delay_s=0.02)  # 8 Mbit/s = 1 MB/s
    first = line.carry(1_000_000, now=100.0)  # one connection's MB takes the line for a second ...
    second = line.carry(500_000, now=100.0)  # ... and another connection's bytes come after it, not beside it
    assert first == pytest.approx(100.0 - line.burst_s + 1.0)  # an idle line lends its burst
    assert second == pytest.approx(first + 0.5)
    assert line.carry(10, now=200.0) == 200.0  # small writes on an idle line pass at once
    assert line.bytes == 1_500_010


def test_profiles_are_the_issues_lines() -> None:
    assert (shaper.PROFILES["home"].down_mbit, shaper.PROFILES["home"].up_mbit, shaper.PROFILES["home"].rtt_ms) == (
        100, 40, 40)
    assert (shaper.PROFILES["region"].down_mbit, shaper.PROFILES["region"].up_mbit,
            shaper.PROFILES["region"].rtt_ms) == (1000, 1000, 2)
    assert shaper.LINKS == ("loopback", "home", "region")
