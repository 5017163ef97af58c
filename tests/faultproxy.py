"""A small threaded TCP proxy on 127.0.0.1 that injects transport faults between a client and an upstream server.

Bytes pass unchanged (SigV4 signatures stay valid). Each accepted connection gets a number (1, 2, ...); a
`Fault` says which connections it applies to (`conn=k`, or `match=predicate(k)`, or every connection), after
how many bytes in which direction it fires, what it does, and at most how many times it fires in all:

- `cut`: shutdown() then close() both sockets (the client sees EOF / a broken pipe);
- `reset`: SO_LINGER 0 then close() on the client side (the client sees a TCP RST);
- `stall`: stop forwarding in that direction for `seconds` (bounded; `stop()` and `set_faults()` end it).

The faults are read at every chunk, so `set_faults()` also arms (or disarms) connections already open.

    with FaultProxy("127.0.0.1", 8333, [Fault("reset", "down", after=100_000, times=2)]) as proxy:
        ... point the client at proxy.endpoint ...
    proxy.connections, proxy.fired  # counters

Every loop is bounded: recv() wakes on shutdown(), stalls wait on an Event with a timeout, `stop()` joins
every thread with a deadline.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

UP = "up"  # client -> upstream
DOWN = "down"  # upstream -> client
KINDS = ("cut", "reset", "stall")


@dataclass
class Fault:
    kind: str  # cut | reset | stall
    direction: str = DOWN  # up: client -> upstream; down: upstream -> client
    after: int = 0  # bytes forwarded in that direction on the connection before the fault fires
    conn: int | None = None  # only connection number k (1-based)
    match: Callable[[int], bool] | None = None  # or every connection whose number matches
    seconds: float = 0.0  # stall duration
    times: int | None = None  # fire at most this many times in all (None: no limit)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.direction not in (UP, DOWN):
            raise ValueError(f"unknown direction {self.direction!r}")

    def applies_to(self, number: int) -> bool:
        if self.conn is not None and number != self.conn:
            return False
        return self.match is None or bool(self.match(number))


class _Conn:
    def __init__(self, proxy: FaultProxy, number: int, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.number = number
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.used: set[int] = set()  # ids of the faults that already fired (or were passed over) here
        self.counts = {UP: 0, DOWN: 0}

    def close(self, *, reset: bool = False) -> None:
        with self.lock:
            if self.closed.is_set():
                return
            self.closed.set()
        if reset:
            try:
                self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        for sock in (self.client, self.upstream):
            try:  # wakes the other pump's recv(); SHUT_RD sends no FIN, so a reset stays a bare RST
                sock.shutdown(socket.SHUT_RD if reset and sock is self.client else socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass

    def _next_fault(self, direction: str) -> Fault | None:
        """The proxy's current faults are read at every chunk: `set_faults` also arms open connections."""
        pending = [f for f in self.proxy.faults
                   if f.direction == direction and id(f) not in self.used and f.applies_to(self.number)]
        return min(pending, key=lambda f: f.after) if pending else None

    def pump(self, direction: str) -> None:
        src, dst = (self.client, self.upstream) if direction == UP else (self.upstream, self.client)
        try:
            while not self.closed.is_set() and not self.proxy.stopping.is_set():
                data = src.recv(65536)
                if not data:
                    break
                while data:
                    fault = self._next_fault(direction)
                    if fault is None:
                        dst.sendall(data)
                        self.counts[direction] += len(data)
                        break
                    room = fault.after - self.counts[direction]
                    if room >= len(data):
                        dst.sendall(data)
                        self.counts[direction] += len(data)
                        break
                    head, data = data[:max(room, 0)], data[max(room, 0):]
                    if head:
                        dst.sendall(head)
                        self.counts[direction] += len(head)
                    self.used.add(id(fault))
                    if not self.proxy._claim(fault):
                        continue  # its budget is spent: forward as if it did not exist
                    if fault.kind == "stall":
                        self.proxy._wake.wait(fault.seconds)  # set by stop() and set_faults()
                        continue
                    self.close(reset=fault.kind == "reset")
                    return
        except OSError:
            pass
        finally:
            if direction == DOWN or self.closed.is_set():
                self.close()
            else:  # the client finished sending: pass the half-close on
                try:
                    self.upstream.shutdown(socket.SHUT_WR)
                except OSError:
                    self.close()


class FaultProxy:
    """`FaultProxy(host, port, faults)`: listen on 127.0.0.1 (a free port), forward to host:port."""

    def __init__(self, upstream_host: str, upstream_port: int, faults: list[Fault] | None = None,
                 *, max_connections: int = 2000) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.faults: list[Fault] = list(faults or [])
        self.max_connections = max_connections
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self.connections = 0
        self.fired: Counter[str] = Counter()  # kind -> times fired
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._conns: list[_Conn] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept, name="faultproxy-accept", daemon=True)

    @classmethod
    def for_endpoint(cls, endpoint: str, faults: list[Fault] | None = None) -> FaultProxy:
        """In front of an `http://host:port` endpoint."""
        hostport = endpoint.split("://", 1)[-1].rstrip("/")
        host, port = hostport.rsplit(":", 1)
        return cls(host, int(port), faults)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def total_fired(self) -> int:
        return sum(self.fired.values())

    def set_faults(self, faults: list[Fault]) -> None:
        """Replace the faults, for open connections too; stalls in progress end now."""
        with self._lock:
            self.faults = list(faults)
            wake, self._wake = self._wake, threading.Event()
        wake.set()

    def _claim(self, fault: Fault) -> bool:
        with self._lock:
            if fault.times is not None and fault.fired >= fault.times:
                return False
            fault.fired += 1
            self.fired[fault.kind] += 1
            return True

    def start(self) -> FaultProxy:
        self._acceptor.start()
        return self

    def _accept(self) -> None:
        while not self.stopping.is_set() and self.connections < self.max_connections:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.stopping.is_set():
                client.close()
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                conn = _Conn(self, self.connections, client, upstream)
                self._conns.append(conn)
                # drop the bookkeeping of finished connections
                self._conns = [c for c in self._conns if not c.closed.is_set()]
                self._threads = [t for t in self._threads if t.is_alive()]
            for direction in (UP, DOWN):
                t = threading.Thread(target=conn.pump, args=(direction,), daemon=True,
                                     name=f"faultproxy-{conn.number}-{direction}")
                with self._lock:
                    self._threads.append(t)
                t.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self._wake.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            conn.close()
        deadline = time.monotonic() + timeout
        if self._acceptor.is_alive() or self._acceptor.ident is not None:
            self._acceptor.join(max(0.0, deadline - time.monotonic()))
        with self._lock:  # connections accepted while stopping
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            conn.close()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in threads if t.is_alive()]
        if alive or self._acceptor.is_alive():
            raise RuntimeError(f"faultproxy threads still running after {timeout} s: {alive}")

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
