"""A TCP proxy that makes loopback look like a user's line: a rate limit shared by every connection through it,
per direction, and a one-way delay per direction. Pure Python (asyncio), no kernel feature (no tc/netem).

    python bench/drbench/shaper.py --listen 9000 --to 127.0.0.1:8333 --profile home   # until Ctrl-C
    python bench/drbench/shaper.py --selfcheck [--profile home,region]                  # measures itself

The line, per direction (upstream = client -> server bytes, downstream = server -> client):

- a token bucket shared by all connections (one household line, not a limit per connection): a chunk read from
  one side takes `len / rate` seconds of the line, after the chunks already scheduled on it (depth `burst`
  bytes: an idle line lends no more than that);
- a one-way delay of RTT/2: a chunk leaves the proxy `RTT/2` after the line has carried its last byte. Data is
  delayed, not just the connection's set-up; each connection's bytes keep their order (one FIFO per connection
  and direction, whose times only grow).
- a connection's set-up costs one RTT, as TCP's handshake does: the client is connected to the proxy at once
  (the kernel answers its SYN), so its first bytes are held until one RTT after the accept, then delayed as any.

Not modelled: TCP's slow start and congestion control, loss, jitter, header overhead (the rate counts payload
bytes). The proxy reads 256 KiB at a time and does no per-byte Python work; the kernel's socket buffers still
hold what the proxy has not read yet, as a modem's would.

As a library: `Shaper(PROFILES["home"], ("127.0.0.1", 8333)).start()` runs it in a thread of the calling
process (`.port`, `.stop()`); `ShaperProcess` runs it as a process of its own (`.port`, `.pid`, `.stop()`),
which is what bench/run.py does, so that its CPU is its own and is measured apart. Standard library only: the
file also runs as a script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CHUNK = 256 * 1024  # bytes read at a time
BURST = 64 * 1024  # token bucket depth: at least this many bytes ...
BURST_S = 0.005  # ... and at least this much line time (asyncio wakes up to ~1 ms late: no rate lost to that)
QUEUE = 64  # chunks waiting in one connection's delay line (per direction) before its reader waits
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Profile:
    """A line: rates in Mbit/s (10^6 bits), round-trip time in ms (half of it each way)."""

    name: str
    down_mbit: float
    up_mbit: float
    rtt_ms: float

    def __str__(self) -> str:
        return f"{self.name}: {self.down_mbit:g} Mbit/s down, {self.up_mbit:g} Mbit/s up, {self.rtt_ms:g} ms RTT"


PROFILES = {
    "home": Profile("home", down_mbit=100, up_mbit=40, rtt_ms=40),
    "region": Profile("region", down_mbit=1000, up_mbit=1000, rtt_ms=2),
}
LINKS = ("loopback", *PROFILES)  # loopback: no proxy


class Line:
    """One direction of the line: a token bucket shared by every connection, and a one-way delay."""

    def __init__(self, mbit: float, delay_s: float, burst: int = BURST) -> None:
        self.rate = mbit * 1e6 / 8  # bytes per second
        self.delay = delay_s
        self.burst_s = max(burst / self.rate, BURST_S)
        self.free_at = 0.0  # when the line has carried everything scheduled on it so far
        self.bytes = 0

    def carry(self, n: int, now: float) -> float:
        """Schedule n bytes at `now`; return when the line has carried their last byte (>= now)."""
        self.free_at = max(self.free_at, now - self.burst_s) + n / self.rate
        self.bytes += n
        return max(now, self.free_at)


class Shaper:
    """The proxy on an asyncio loop in a thread of its own: start(), .port, stop()."""

    def __init__(self, profile: Profile, target: tuple[str, int], listen: tuple[str, int] = (HOST, 0),
                 chunk: int = CHUNK, burst: int = BURST) -> None:
        self.profile, self.target, self.listen, self.chunk = profile, target, listen, chunk
        delay = profile.rtt_ms / 2000
        self.up, self.down = Line(profile.up_mbit, delay, burst), Line(profile.down_mbit, delay, burst)
        self.connections = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def endpoint(self) -> str:
        return f"http://{self.listen[0]}:{self.port}"

    # --- on the loop --------------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Listen (sets .port); the caller keeps the loop running."""
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._accepted, self.listen[0], self.listen[1],
                                                  limit=4 * self.chunk, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and cut every connection."""
        if self._server:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()  # the connections' tasks then end by themselves
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=2)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._server:
            await self._server.wait_closed()

    async def _accepted(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        loop = asyncio.get_running_loop()
        ready = loop.time() + self.profile.rtt_ms / 1000  # the handshake a real line would cost
        self._writers.add(client_w)
        server_w: asyncio.StreamWriter | None = None
        try:
            server_r, server_w = await asyncio.open_connection(*self.target, limit=4 * self.chunk)
            self._writers.add(server_w)
            up_q: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE)
            down_q: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE)
            parts = {asyncio.ensure_future(self._pump(client_r, up_q, self.up, ready)),
                     asyncio.ensure_future(self._deliver(up_q, server_w)),
                     asyncio.ensure_future(self._pump(server_r, down_q, self.down, 0.0)),
                     asyncio.ensure_future(self._deliver(down_q, client_w))}
            done, pending = await asyncio.wait(parts, return_when=asyncio.FIRST_EXCEPTION)
            if pending:  # one side failed (a reset, a broken pipe): cut both
                for writer in (client_w, server_w):
                    writer.transport.abort()
                for p in pending:
                    p.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            for d in done:
                d.exception()  # retrieved: a reset peer is an ordinary end here
        except OSError:
            pass  # the server refused or a peer reset: the client sees the connection close
        except asyncio.CancelledError:
            pass  # close(): ended here, so that asyncio's server callback finds a finished task
        finally:
            for end in (client_w, server_w):
                if end is not None:
                    self._writers.discard(end)
                    end.close()
            self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes]], line: Line,
                    ready: float) -> None:
        """One direction of one connection: read, take the line's time, hand to the delay line (the queue)."""
        loop = asyncio.get_running_loop()
        while True:
            data = await reader.read(self.chunk)
            now = max(loop.time(), ready)
            if not data:
                await queue.put((now + line.delay, b""))  # the queue keeps it after the data before it
                return
            carried = line.carry(len(data), now)
            await queue.put((carried + line.delay, data))
            wait = carried - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)

    @staticmethod
    async def _deliver(queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while True:
            at, data = await queue.get()
            wait = at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof() and not writer.is_closing():
                    writer.write_eof()  # half-close: the other direction may still be carrying data
                return
            writer.write(data)
            await writer.drain()

    # --- from another thread ------------------------------------------------------------------------------
    def start(self) -> Shaper:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.serve())
            except BaseException as exc:
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.close())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"shaper-{self.profile.name}", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Shaper:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ShaperProcess:
    """This file run as a process of its own (`--listen 0`): .port, .pid, stop() (SIGTERM, then SIGKILL).

    log: a file for its stderr (its summary when it stops, or a traceback); None: the caller's stderr."""

    def __init__(self, profile: Profile, target: tuple[str, int], log: Path | None = None) -> None:
        self.profile, self.target, self.log = profile, target, log
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> ShaperProcess:
        p = self.profile
        stderr = self.log.open("ab") if self.log else None
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--listen", "0",
             "--to", f"{self.target[0]}:{self.target[1]}", "--down-mbit", str(p.down_mbit),
             "--up-mbit", str(p.up_mbit), "--rtt-ms", str(p.rtt_ms), "--name", p.name],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, stderr=stderr, text=True, start_new_session=True)
        if stderr:
            stderr.close()  # the child has its own copy
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()  # "listening on HOST:PORT ..."
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"the shaper did not start: {line!r}")
        self.port = int(line.split()[2].rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        from drmodel.testing.localserver import stop_process

        stop_process(proc)
        if proc.stdout:
            proc.stdout.close()

    def __enter__(self) -> ShaperProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the self-check ---------------------------------------------------------------------------------------------
class ThreadedServer:
    """A TCP server on loopback: a thread per connection, each one handled by `serve` (the self-check's Endpoint,
    and the tests' backend)."""

    def __init__(self) -> None:
        self.sock = socket.create_server((HOST, 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError


class Endpoint(ThreadedServer):
    """A plain threaded TCP server behind the proxy. A connection's first byte says what it does:
    E echo; S + 8-byte n: send n bytes; R + 8-byte n: receive n bytes (arrival times noted), then answer K."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, float]] = []  # per R connection: first and last byte's arrival
        self.lock = threading.Lock()
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            head = recv_exactly(conn, 1)
            if head == b"E":
                while data := conn.recv(65536):
                    conn.sendall(data)
            elif head == b"S":
                n = int.from_bytes(recv_exactly(conn, 8), "big")
                block = memoryview(bytes(CHUNK))
                while n > 0:
                    n -= conn.send(block[:n])
                conn.shutdown(socket.SHUT_WR)
                conn.recv(1)  # until the client closes
            elif head == b"R":
                n = int.from_bytes(recv_exactly(conn, 8), "big")
                buf = bytearray(CHUNK)
                first = 0.0
                while n > 0:
                    got = conn.recv_into(buf, min(n, CHUNK))
                    if not got:
                        return
                    first = first or time.perf_counter()
                    n -= got
                with self.lock:
                    self.arrivals.append((first, time.perf_counter()))
                conn.sendall(b"K")

    def close(self) -> None:
        self.sock.close()


def recv_exactly(conn: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        got = conn.recv(n - len(out))
        if not got:
            raise ConnectionError(f"closed after {len(out)} of {n} bytes")
        out += got
    return out


def connect(port: int) -> socket.socket:
    conn = socket.create_connection((HOST, port))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def measure_rtt(port: int, pings: int = 20) -> tuple[float, float]:
    """(set-up: connect to first echo, median round trip of `pings` one-byte echoes) in seconds."""
    start = time.perf_counter()
    with connect(port) as conn:
        conn.sendall(b"E.")
        recv_exactly(conn, 1)
        setup = time.perf_counter() - start
        times = []
        for _ in range(pings):
            t = time.perf_counter()
            conn.sendall(b".")
            recv_exactly(conn, 1)
            times.append(time.perf_counter() - t)
    return setup, statistics.median(times)


def download(port: int, n: int, spans: list[tuple[float, float, int]]) -> None:
    """Receive n bytes; note (first byte's time, last byte's time, bytes after the first read)."""
    with connect(port) as conn:
        conn.sendall(b"S" + n.to_bytes(8, "big"))
        buf = bytearray(CHUNK)
        first, after, got = 0.0, 0, 0
        while got < n:
            k = conn.recv_into(buf)
            if not k:
                raise ConnectionError(f"closed after {got} of {n} bytes")
            if not first:
                first = time.perf_counter()
            else:
                after += k
            got += k
        spans.append((first, time.perf_counter(), after))


def upload(port: int, n: int) -> None:
    with connect(port) as conn:
        conn.sendall(b"R" + n.to_bytes(8, "big"))
        block = memoryview(bytes(CHUNK))
        left = n
        while left > 0:
            left -= conn.send(block[:left])
        if recv_exactly(conn, 1) != b"K":
            raise ConnectionError("no acknowledgement")


def parallel(jobs: int, target: Callable[..., None], *args: object) -> None:
    threads = [threading.Thread(target=target, args=args) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def selfcheck(profile: Profile, seconds: float = 3.0, jobs: tuple[int, ...] = (1, 4)) -> dict[str, object]:
    """Throughput each way (1 and 4 connections at once, aggregate), RTT and the proxy's CPU, through a
    ShaperProcess in front of a local Endpoint. Throughput is timed from first to last byte, so RTT and
    set-up are left out of it."""
    endpoint = Endpoint()
    out: dict[str, object] = {"profile": str(profile)}
    try:
        with ShaperProcess(profile, (HOST, endpoint.port)) as shaper:
            assert shaper.pid is not None
            setup, rtt = measure_rtt(shaper.port)
            out |= {"rtt_ms": rtt * 1000, "setup_ms": setup * 1000}
            print(f"  RTT {rtt * 1000:7.1f} ms (profile {profile.rtt_ms:g}); connect to first echo "
                  f"{setup * 1000:.1f} ms (a handshake and one round trip: {2 * profile.rtt_ms:g})", flush=True)
            for way, mbit in (("down", profile.down_mbit), ("up", profile.up_mbit)):
                for n_jobs in jobs:
                    n = int(mbit * 1e6 / 8 * seconds / n_jobs)
                    cpu, wall = process_cpu(shaper.pid), time.perf_counter()
                    if way == "down":
                        spans: list[tuple[float, float, int]] = []
                        parallel(n_jobs, download, shaper.port, n, spans)
                        span = max(s[1] for s in spans) - min(s[0] for s in spans)
                        nbytes = n * n_jobs - (n - spans[0][2] if n_jobs == 1 else 0)
                    else:
                        endpoint.arrivals.clear()
                        parallel(n_jobs, upload, shaper.port, n)
                        span = max(a[1] for a in endpoint.arrivals) - min(a[0] for a in endpoint.arrivals)
                        nbytes = n * n_jobs
                    cpu, wall = process_cpu(shaper.pid) - cpu, time.perf_counter() - wall
                    got = nbytes * 8 / span / 1e6
                    out[f"{way}_{n_jobs}_mbit"] = got
                    out[f"{way}_{n_jobs}_cpu_pct"] = 100 * cpu / wall
                    print(f"  {way:<4} {n_jobs} conn.: {got:7.1f} Mbit/s (profile {mbit:g}, {100 * got / mbit:5.1f}%);"
                          f" {n * n_jobs / 1e6:.0f} MB in {span:.2f} s; proxy CPU {cpu:.2f} s = "
                          f"{100 * cpu / wall:.0f}% of a core", flush=True)
    finally:
        endpoint.close()
    return out


# --- the command line -------------------------------------------------------------------------------------------
def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or HOST, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", type=address, help="[HOST:]PORT to listen on (port 0: any free one)")
    parser.add_argument("--to", type=address, help="HOST:PORT of the server")
    parser.add_argument("--profile", default="home", help=f"one of {', '.join(PROFILES)} (--selfcheck: a list)")
    parser.add_argument("--down-mbit", type=float, help="instead of a profile: downstream Mbit/s ...")
    parser.add_argument("--up-mbit", type=float, help="... upstream Mbit/s ...")
    parser.add_argument("--rtt-ms", type=float, help="... and round-trip time in ms")
    parser.add_argument("--name", default="custom", help="the custom line's name")
    parser.add_argument("--selfcheck", action="store_true", help="measure the proxy against the profile(s)")
    parser.add_argument("--seconds", type=float, default=3.0, help="--selfcheck: seconds per transfer")
    args = parser.parse_args(argv)
    custom = (args.down_mbit, args.up_mbit, args.rtt_ms)
    if any(v is not None for v in custom):
        if any(v is None for v in custom):
            parser.error("--down-mbit, --up-mbit and --rtt-ms go together")
        profiles = [Profile(args.name, args.down_mbit, args.up_mbit, args.rtt_ms)]
    else:
        names = [n.strip() for n in args.profile.split(",") if n.strip()]
        if unknown := [n for n in names if n not in PROFILES]:
            parser.error(f"unknown profile(s) {', '.join(unknown)}: choose among {', '.join(PROFILES)}")
        profiles = [PROFILES[n] for n in names]
    if args.selfcheck:
        print(f"self-check: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; the proxy is a process of its "
              f"own, the test client and server another; {args.seconds:g} s per transfer", flush=True)
        for profile in profiles:
            print(profile, flush=True)
            selfcheck(profile, args.seconds)
        return 0
    if not args.listen or not args.to or len(profiles) != 1:
        parser.error("--listen, --to and one profile are needed (or --selfcheck)")
    shaper = Shaper(profiles[0], args.to, args.listen)

    async def run() -> None:
        await shaper.serve()
        print(f"listening on {shaper.listen[0]}:{shaper.port} -> {args.to[0]}:{args.to[1]}; {profiles[0]}",
              flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        await shaper.close()

    asyncio.run(run())
    print(f"stopped: {shaper.connections} connections, {shaper.up.bytes} B up, {shaper.down.bytes} B down",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
