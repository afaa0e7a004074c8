"""A WebSocket load generator for loopback benchmarks (bench tool, not runtime).

Raw sockets and nothing else: every client frame is built and masked before
the clock starts (one mask key per connection, reused for all its frames),
writes are pipelined (a window of messages in flight per connection, refilled
with one ``send`` per batch of replies), and replies are checked with a
single bytes comparison per ``recv`` where their shape is fixed. Many
connections run on one ``selectors`` loop in one thread.

Each scenario function returns a dict whose ``value`` is the headline figure;
``client_cpu`` is the CPU time this process used divided by the wall time of
the measurement (above ~0.9 the generator, not the server, may be the limit).

Run ``python -m bench.loadgen --help`` (from the repository root) to drive
one scenario by hand against any server; ``python -m bench`` drives all of
them against all servers.
"""

from __future__ import annotations

import argparse
import base64
import errno
import gc
import hashlib
import os
import selectors
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BenchError",
    "Target",
    "big_echo",
    "churn",
    "close_many",
    "connect",
    "deflate_echo",
    "fragmented_echo",
    "handshakes",
    "latency",
    "mask_frame",
    "open_many",
    "pipelined",
]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_RECV_SIZE = 1 << 20
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class BenchError(Exception):
    """A server misbehaved (wrong reply, refused connection) or a run timed out."""


@dataclass(frozen=True)
class Target:
    """Where the server listens and which resource echoes."""

    host: str
    port: int
    path: str = "/echo"

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)


# -- frames and handshakes ------------------------------------------------------


def _xor(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if not n:
        return b""
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")).to_bytes(n, "little")


def mask_frame(opcode: int, payload: bytes, key: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """Return a masked client frame."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, 0x80 | n)
    elif n < 0x10000:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    return header + key + _xor(payload, key)


def server_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """Return the unmasked frame a server sends for ``payload``."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", first, n) + payload
    if n < 0x10000:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


def _close_frame(key: bytes) -> bytes:
    return mask_frame(OP_CLOSE, struct.pack("!H", 1000), key)


def _new_key() -> tuple[bytes, bytes]:
    """Return a Sec-WebSocket-Key and its expected Sec-WebSocket-Accept."""
    key = base64.b64encode(os.urandom(16))
    return key, base64.b64encode(hashlib.sha1(key + _GUID).digest())


def _request(target: Target, key: bytes, extensions: str | None) -> bytes:
    lines = [
        f"GET {target.path} HTTP/1.1",
        f"Host: {target.host}:{target.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode()}",
        "Sec-WebSocket-Version: 13",
        f"Origin: http://{target.host}:{target.port}",
    ]
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _check_response(head: bytes, accept: bytes) -> dict[str, str]:
    """Check a 101 response head; return its headers (lower-case names)."""
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 101"):
        raise BenchError(f"handshake refused: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
    if headers.get("sec-websocket-accept", "").encode() != accept:
        raise BenchError(f"bad Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r}")
    return headers


@dataclass
class Connection:
    """An open WebSocket: its socket, bytes read past the 101, its headers."""

    sock: socket.socket
    leftover: bytes
    headers: dict[str, str]
    mask_key: bytes = field(default_factory=lambda: os.urandom(4))


def connect(target: Target, *, extensions: str | None = None, timeout: float = 10.0) -> Connection:
    """Open a WebSocket with a blocking handshake (TCP_NODELAY on)."""
    sock = socket.create_connection(target.address, timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key, accept = _new_key()
        sock.sendall(_request(target, key, extensions))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise BenchError(f"connection closed during the handshake after {data[:200]!r}")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        headers = _check_response(head, accept)
    except BaseException:
        sock.close()
        raise
    return Connection(sock, rest, headers)


def close(conn: Connection, timeout: float = 3.0) -> None:
    """Send a close frame, read until the server closes TCP (or ``timeout``), close."""
    sock = conn.sock
    try:
        sock.setblocking(True)
        sock.settimeout(timeout)
        sock.sendall(_close_frame(conn.mask_key))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and sock.recv(65536):
            pass
    except OSError:
        pass
    finally:
        sock.close()


# -- reply checkers -----------------------------------------------------------------


class FixedReplies:
    """Counts replies that must be exactly ``reply`` repeated, one compare per chunk."""

    def __init__(self, reply: bytes, chunk_limit: int = _RECV_SIZE) -> None:
        self.size = len(reply)
        self.expected = reply * (chunk_limit // len(reply) + 2)
        self.pos = 0

    def feed(self, data: memoryview) -> int:
        n = len(data)
        pos = self.pos
        if bytes(data) != self.expected[pos : pos + n]:
            raise BenchError(f"unexpected reply bytes {bytes(data[:40])!r} at offset {pos} of a reply")
        total = pos + n
        self.pos = total % self.size
        return total // self.size


class FrameReplies:
    """Parses server frames; counts whole data messages and checks each one.

    ``check(opcode, rsv1, payload)`` gets the reassembled (still compressed,
    if RSV1) payload of each message and raises BenchError if it is wrong.
    """

    def __init__(self, check: Callable[[int, bool, bytes], None]) -> None:
        self.check = check
        self.buf = bytearray()
        self.parts: list[bytearray] = []
        self.opcode = 0
        self.rsv1 = False

    def feed(self, data: memoryview) -> int:
        buf = self.buf
        buf += data
        done = 0
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            length = second & 0x7F
            offset = pos + 2
            if length == 126:
                if end - offset < 2:
                    break
                (length,) = struct.unpack_from("!H", buf, offset)
                offset += 2
            elif length == 127:
                if end - offset < 8:
                    break
                (length,) = struct.unpack_from("!Q", buf, offset)
                offset += 8
            if second & 0x80:
                raise BenchError("server sent a masked frame")
            if end - offset < length:
                break
            opcode = first & 0x0F
            payload = buf[offset : offset + length]
            pos = offset + length
            if opcode == OP_CLOSE:
                raise BenchError(f"server closed the connection: {payload[:2].hex()} {payload[2:80]!r}")
            if opcode >= 0x8:
                continue  # ping/pong: ignored by the benchmark
            if opcode != OP_CONT:
                self.opcode = opcode
                self.rsv1 = bool(first & 0x40)
                self.parts = []
            self.parts.append(payload)
            if first & 0x80:
                message = self.parts[0] if len(self.parts) == 1 else bytearray().join(self.parts)
                self.parts = []
                self.check(self.opcode, self.rsv1, message)
                done += 1
        del buf[:pos]
        return done


def _exact_check(opcode: int, message: bytes) -> Callable[[int, bool, bytes], None]:
    def check(got_opcode: int, rsv1: bool, payload: bytes) -> None:
        if got_opcode != opcode or rsv1 or payload != message:
            raise BenchError(f"wrong echo: opcode {got_opcode} rsv1 {rsv1} {len(payload)} bytes {payload[:40]!r}")

    return check


# -- the pipelined loop ----------------------------------------------------------------


class _Pipe:
    """One connection that keeps ``window`` messages in flight."""

    def __init__(self, conn: Connection, unit: bytes, window: int, replies: Any) -> None:
        self.conn = conn
        self.sock = conn.sock
        self.unit = unit
        self.window = window
        self.replies = replies
        self.batches = {k: unit * k for k in range(1, window + 1)} if len(unit) * window <= 1 << 20 else {}
        self.out = bytearray()
        self.in_flight = 0
        self.writing = False

    def refill(self, count: int) -> None:
        if count <= 0:
            return
        self.out += self.batches.get(count) or self.unit * count
        self.in_flight += count


def pipelined_run(
    conns: Sequence[Connection],
    unit: bytes,
    make_replies: Callable[[], Any],
    *,
    window: int,
    duration: float,
    warmup: float,
    timeout: float = 30.0,
) -> dict[str, float]:
    """Echo ``unit`` (one message's frames) on every connection, ``window`` in flight each.

    Returns messages per second over ``duration`` seconds after ``warmup``,
    and the generator's CPU share.
    """
    sel = selectors.DefaultSelector()
    pipes = []
    for conn in conns:
        conn.sock.setblocking(False)
        pipe = _Pipe(conn, unit, window, make_replies())
        pipes.append(pipe)
        sel.register(conn.sock, selectors.EVENT_READ, pipe)
    rbuf = bytearray(_RECV_SIZE)
    rview = memoryview(rbuf)
    read_only = selectors.EVENT_READ
    read_write = selectors.EVENT_READ | selectors.EVENT_WRITE

    def flush(pipe: _Pipe) -> None:
        out = pipe.out
        if out:
            try:
                sent = pipe.sock.send(out)
            except BlockingIOError:
                sent = 0
            if sent:
                del out[:sent]
        if out and not pipe.writing:
            sel.modify(pipe.sock, read_write, pipe)
            pipe.writing = True
        elif not out and pipe.writing:
            sel.modify(pipe.sock, read_only, pipe)
            pipe.writing = False

    for pipe in pipes:
        if pipe.conn.leftover:
            pipe.replies.feed(memoryview(pipe.conn.leftover))
        pipe.refill(window)
        flush(pipe)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        measure_from = started + warmup
        measure_to = measure_from + duration
        hard_stop = started + warmup + duration + timeout
        counting = False
        sending = True
        counted = 0
        cpu0 = wall0 = 0.0
        cpu1 = wall1 = 0.0
        select = sel.select
        perf = time.perf_counter
        while True:
            events = select(1.0)
            now = perf()
            if not events and now > hard_stop:
                raise BenchError(f"no progress: {sum(p.in_flight for p in pipes)} messages still in flight")
            for key, mask in events:
                pipe = key.data
                if mask & read_only:
                    try:
                        n = pipe.sock.recv_into(rbuf)
                    except BlockingIOError:
                        n = -1
                    if n == 0:
                        raise BenchError("server closed the connection")
                    if n > 0:
                        done = pipe.replies.feed(rview[:n])
                        if done:
                            pipe.in_flight -= done
                            if counting:
                                counted += done
                            if sending:
                                pipe.refill(done)
                if pipe.out or pipe.writing:
                    flush(pipe)
            if not counting and sending and now >= measure_from:
                counting = True
                counted = 0
                wall0, cpu0 = perf(), time.process_time()
            elif counting and now >= measure_to:
                counting = False
                sending = False
                wall1, cpu1 = perf(), time.process_time()
            if not sending and not counting and all(p.in_flight == 0 for p in pipes):
                break
            if now > hard_stop:
                raise BenchError("timed out")
    finally:
        if gc_was_enabled:
            gc.enable()
        sel.close()
    elapsed = wall1 - wall0
    return {
        "value": counted / elapsed,
        "messages": counted,
        "seconds": elapsed,
        "client_cpu": (cpu1 - cpu0) / elapsed,
    }


def _open_conns(target: Target, count: int, extensions: str | None = None) -> list[Connection]:
    conns: list[Connection] = []
    try:
        for _ in range(count):
            conns.append(connect(target, extensions=extensions))
    except BaseException:
        for conn in conns:
            conn.sock.close()
        raise
    return conns


def pipelined(
    target: Target, *, conns: int = 1, window: int = 64, size: int = 16, duration: float = 2.0, warmup: float = 0.5
) -> dict[str, float]:
    """``size``-byte text echo, ``window`` messages in flight on each of ``conns`` connections (msg/s)."""
    payload = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    reply = server_frame(OP_TEXT, payload)
    opened = _open_conns(target, conns)
    try:
        units = {conn.mask_key: mask_frame(OP_TEXT, payload, conn.mask_key) for conn in opened}
        # One unit for all: give every connection the first connection's key.
        unit = units[opened[0].mask_key]
        for conn in opened:
            conn.mask_key = opened[0].mask_key
        result = pipelined_run(
            opened, unit, lambda: FixedReplies(reply), window=window, duration=duration, warmup=warmup
        )
    finally:
        for conn in opened:
            close(conn)
    result["conns"] = conns
    result["window"] = window
    return result


def _exact_echo(
    target: Target, frames: Callable[[bytes], bytes], opcode: int, message: bytes, **timing: Any
) -> dict[str, float]:
    """One connection, ``frames(mask_key)`` sent and ``message`` expected back, pipelined (msg/s)."""
    (conn,) = _open_conns(target, 1)
    try:
        unit = frames(conn.mask_key)
        return pipelined_run([conn], unit, lambda: FrameReplies(_exact_check(opcode, message)), **timing)
    finally:
        close(conn)


def big_echo(
    target: Target, *, size: int = 1 << 20, window: int = 2, duration: float = 2.0, warmup: float = 0.5
) -> dict[str, float]:
    """``size``-byte binary echo on one connection; value in MB/s (10**6 bytes, one direction)."""
    message = os.urandom(size)
    result = _exact_echo(
        target,
        lambda key: mask_frame(OP_BINARY, message, key),
        OP_BINARY,
        message,
        window=window,
        duration=duration,
        warmup=warmup,
    )
    result["messages_per_s"] = result["value"]
    result["value"] = result["value"] * size / 1e6
    return result


def fragmented_echo(
    target: Target,
    *,
    size: int = 64 * 1024,
    fragments: int = 16,
    window: int = 2,
    duration: float = 2.0,
    warmup: float = 0.5,
) -> dict[str, float]:
    """A ``size``-byte text message sent in ``fragments`` frames, echoed (msg/s)."""
    text = (b"The quick brown fox jumps over the lazy dog. " * (size // 45 + 1))[:size]
    step = size // fragments

    def frames(key: bytes) -> bytes:
        pieces = [text[i * step : (i + 1) * step if i < fragments - 1 else size] for i in range(fragments)]
        return b"".join(
            mask_frame(OP_TEXT if i == 0 else OP_CONT, piece, key, fin=i == fragments - 1)
            for i, piece in enumerate(pieces)
        )

    result = _exact_echo(target, frames, OP_TEXT, text, window=window, duration=duration, warmup=warmup)
    result["mb_per_s"] = result["value"] * size / 1e6
    return result


def compressible_text(size: int) -> bytes:
    """Return ``size`` bytes of JSON-like text that deflates about 10:1."""
    rows = []
    index = 0
    while sum(len(r) for r in rows) < size:
        rows.append(
            f'{{"id": {index}, "name": "sensor-{index % 97}", "status": "ok", '
            f'"value": {index * 7 % 1000}.{index % 10}, "tags": ["alpha", "beta"]}},\n'
        )
        index += 1
    return "".join(rows).encode()[:size]


def deflate_echo(
    target: Target, *, size: int = 16 * 1024, window: int = 8, duration: float = 2.0, warmup: float = 0.5
) -> dict[str, float]:
    """Compressible text echo with permessage-deflate negotiated (msg/s).

    Each client message is compressed on its own (no context takeover on
    our side, always allowed by RFC 7692), so one precompressed frame is
    reused; the server's replies are inflated and compared.
    """
    text = compressible_text(size)
    (conn,) = _open_conns(target, 1, extensions="permessage-deflate; client_max_window_bits")
    try:
        accepted = conn.headers.get("sec-websocket-extensions", "")
        if "permessage-deflate" not in accepted:
            raise BenchError(f"permessage-deflate not accepted (got {accepted!r})")
        bits = 15
        for param in accepted.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "client_max_window_bits" and value:
                bits = int(value.strip('"'))
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -bits)
        compressed = compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert compressed.endswith(b"\x00\x00\xff\xff")
        unit = mask_frame(OP_TEXT, compressed[:-4], conn.mask_key, rsv1=True)
        inflater = zlib.decompressobj(-15)
        wire = {"bytes": 0}

        def check(opcode: int, rsv1: bool, payload: bytes) -> None:
            wire["bytes"] += len(payload)
            data = inflater.decompress(payload + b"\x00\x00\xff\xff") if rsv1 else payload
            if opcode != OP_TEXT or data != text:
                raise BenchError(f"wrong echo: opcode {opcode} rsv1 {rsv1} {len(data)} bytes")

        result = pipelined_run(
            [conn], unit, lambda: FrameReplies(check), window=window, duration=duration, warmup=warmup
        )
    finally:
        close(conn)
    result["mb_per_s"] = result["value"] * size / 1e6
    result["ratio"] = len(text) / len(compressed)
    result["extensions"] = accepted  # type: ignore[assignment]
    return result


# -- latency ------------------------------------------------------------------------------


def latency(target: Target, *, count: int = 20000, warmup: int = 2000, size: int = 16) -> dict[str, float]:
    """Round-trip times of ``size``-byte text echoes, one at a time on one connection."""
    conn = connect(target)
    try:
        return latency_on(conn, count=count, warmup=warmup, size=size)
    finally:
        close(conn)


def latency_on(conn: Connection, *, count: int, warmup: int, size: int = 16) -> dict[str, float]:
    """``latency`` on an open connection (left open)."""
    payload = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    frame = mask_frame(OP_TEXT, payload, conn.mask_key)
    reply = server_frame(OP_TEXT, payload)
    rsize = len(reply)
    sock = conn.sock
    sock.setblocking(True)
    sock.settimeout(10.0)
    if conn.leftover:
        raise BenchError(f"unexpected bytes after the handshake: {conn.leftover[:40]!r}")
    buf = bytearray(65536)
    view = memoryview(buf)
    send = sock.send
    recv_into = sock.recv_into
    perf = time.perf_counter_ns
    samples = [0] * count
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for index in range(warmup + count):
            t0 = perf()
            send(frame)
            got = recv_into(buf)
            while got < rsize:
                more = recv_into(view[got:])
                if not more:
                    raise BenchError("server closed the connection")
                got += more
            t1 = perf()
            if got != rsize or buf[:rsize] != reply:
                raise BenchError(f"unexpected reply {bytes(buf[:got][:40])!r}")
            if index >= warmup:
                samples[index - warmup] = t1 - t0
        cpu_wall = sum(samples) / 1e9
    finally:
        if gc_was_enabled:
            gc.enable()
    samples.sort()

    def pct(p: float) -> float:
        return samples[min(count - 1, int(p * count))] / 1000.0

    return {
        "value": pct(0.50),
        "p50": pct(0.50),
        "p99": pct(0.99),
        "p999": pct(0.999),
        "count": count,
        "mean": cpu_wall / count * 1e6,
    }


# -- many connections ------------------------------------------------------------------------


def open_many(
    target: Target,
    count: int,
    *,
    window: int = 64,
    timeout: float = 120.0,
    into: list[Connection] | None = None,
) -> dict[str, float]:
    """Open ``count`` WebSockets, ``window`` handshakes in progress at once; keep them open in ``into``.

    Returns the handshake rate (from the first connect to the last 101).
    Raises BenchError if any handshake fails (those already open stay in ``into``).
    """
    held = into if into is not None else []
    keys = [_new_key() for _ in range(count)]
    requests = [_request(target, key, None) for key, _ in keys]
    sel = selectors.DefaultSelector()
    started = done = 0
    in_progress = 0
    failures: list[str] = []
    t0 = time.perf_counter()
    deadline = t0 + timeout
    try:
        while done + len(failures) < count:
            while started < count and in_progress < window:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                code = sock.connect_ex(target.address)
                if code not in (0, errno.EINPROGRESS):
                    sock.close()
                    failures.append(f"connect: {os.strerror(code)}")
                    started += 1
                    continue
                sel.register(sock, selectors.EVENT_WRITE, [started, b""])
                started += 1
                in_progress += 1
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise BenchError(f"timed out with {done} of {count} connections open")
            for key, mask in sel.select(min(remaining, 1.0)):
                sock = key.fileobj  # type: ignore[assignment]
                state = key.data
                index = state[0]
                try:
                    if mask & selectors.EVENT_WRITE:
                        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if error:
                            raise OSError(error, os.strerror(error))
                        sock.send(requests[index])
                        sel.modify(sock, selectors.EVENT_READ, state)
                        continue
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise BenchError(f"closed during the handshake after {state[1][:80]!r}")
                    state[1] += chunk
                    if b"\r\n\r\n" not in state[1]:
                        continue
                    head, _, rest = state[1].partition(b"\r\n\r\n")
                    headers = _check_response(head, keys[index][1])
                except (OSError, BenchError) as exc:
                    sel.unregister(sock)
                    sock.close()
                    in_progress -= 1
                    failures.append(str(exc))
                    continue
                sel.unregister(sock)
                in_progress -= 1
                done += 1
                sock.setblocking(True)
                held.append(Connection(sock, rest, headers))
        elapsed = time.perf_counter() - t0
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        sel.close()
    if failures:
        raise BenchError(f"{len(failures)} of {count} handshakes failed; first: {failures[0]}")
    return {"value": count / elapsed, "seconds": elapsed, "count": count}


def close_many(conns: list[Connection], *, timeout: float = 30.0) -> int:
    """Close every connection with a close frame; wait (bounded) for the server to close TCP.

    Returns how many the server closed in time. Empties ``conns``.
    """
    sel = selectors.DefaultSelector()
    for conn in conns:
        try:
            conn.sock.setblocking(False)
            conn.sock.send(_close_frame(conn.mask_key))
            sel.register(conn.sock, selectors.EVENT_READ, conn)
        except OSError:
            conn.sock.close()
    closed = 0
    deadline = time.monotonic() + timeout
    try:
        while sel.get_map() and time.monotonic() < deadline:
            for key, _ in sel.select(0.5):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(sock)
                    sock.close()  # type: ignore[union-attr]
                    closed += 1
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        sel.close()
        conns.clear()
    return closed


def handshakes(target: Target, *, count: int = 1000, window: int = 32, batch: int | None = None) -> dict[str, float]:
    """Opening handshakes per second for ``count`` connections, ``window`` in progress at once.

    Connections stay open until the last one is up (or until the end of a
    ``batch``, for servers that cannot hold ``count`` at once); only the
    opening phases are timed.
    """
    batch = batch or count
    opened = 0
    elapsed = 0.0
    cpu = 0.0
    while opened < count:
        this = min(batch, count - opened)
        held: list[Connection] = []
        cpu0 = time.process_time()
        try:
            result = open_many(target, this, window=window, into=held)
        finally:
            cpu += time.process_time() - cpu0
            close_many(held)
        elapsed += result["seconds"]
        opened += this
    return {"value": count / elapsed, "seconds": elapsed, "count": count, "client_cpu": cpu / elapsed}


def churn(target: Target, *, count: int = 2000, clients: int = 8, warmup: int = 50) -> dict[str, float]:
    """Connections one after another from ``clients`` threads, each opened, used for one 16-byte echo and closed.

    What a browser test suite run in parallel does: a new WebSocket per
    test, closed at its end. The figure is connections per second.
    """
    for _ in range(warmup):
        _churn_cycle(target)
    left = [count]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            while True:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                _churn_cycle(target)
        except BaseException as exc:  # reported below, in the measuring thread
            errors.append(exc)

    threads = [threading.Thread(target=client, name=f"churn client {n}") for n in range(clients)]
    cpu0, started = time.process_time(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise BenchError(f"{len(errors)} churn clients failed; first: {errors[0]!r}")
    return {
        "value": count / elapsed,
        "seconds": elapsed,
        "count": count,
        "clients": clients,
        "client_cpu": (time.process_time() - cpu0) / elapsed,
    }


_CHURN_PAYLOAD = b"0123456789abcdef"
_CHURN_REPLY = server_frame(OP_TEXT, _CHURN_PAYLOAD)


def _churn_cycle(target: Target) -> None:
    # One echo written out rather than latency_on(count=1): that one turns the
    # collector off and on, which is not safe from several threads at once.
    conn = connect(target)
    try:
        sock = conn.sock
        sock.sendall(mask_frame(OP_TEXT, _CHURN_PAYLOAD, conn.mask_key))
        reply = conn.leftover
        while len(reply) < len(_CHURN_REPLY):
            chunk = sock.recv(65536)
            if not chunk:
                raise BenchError("server closed the connection")
            reply += chunk
        if reply != _CHURN_REPLY:
            raise BenchError(f"unexpected reply {reply[:40]!r}")
    finally:
        close(conn)


# -- command line ------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[..., dict[str, float]]] = {
    "latency": latency,
    "pipe1": lambda t: pipelined(t, conns=1),
    "pipe8": lambda t: pipelined(t, conns=8),
    "big": big_echo,
    "frag": fragmented_echo,
    "deflate": deflate_echo,
    "handshake": handshakes,
    "churn": churn,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one load scenario against a WebSocket echo server.")
    parser.add_argument("url", help="ws://127.0.0.1:PORT/echo")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    args = parser.parse_args(argv)
    if not args.url.startswith("ws://"):
        parser.error("only ws:// URLs")
    hostport, _, path = args.url[5:].partition("/")
    host, _, port = hostport.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("loopback only")
    result = SCENARIOS[args.scenario](Target(host, int(port), "/" + path))
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
