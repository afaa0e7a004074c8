"""Client-side wire helpers shared by the server tests: raw sockets, request bytes, frames.

One place for what the tests send and how they read the answers. The frame
and handshake helpers are written independently of mod_pywebsocket's codec,
so that a codec bug cannot hide itself behind the test that should catch it.
Every read is bounded: by ``TIMEOUT`` or by the deadline the caller gives.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import ssl
import struct
import time
import zlib
from collections.abc import Callable
from typing import Any

from websockets.sync.client import ClientConnection, connect

__all__ = [
    "ANSWER_BOUND",
    "HIXIE75",
    "HYBI00_ANSWER",
    "HYBI00_KEY1",
    "HYBI00_KEY2",
    "HYBI00_KEY3",
    "HYBI00_REQUEST",
    "KEY1",
    "KEY2",
    "KEY3",
    "SAMPLE_ACCEPT",
    "SAMPLE_KEY",
    "TIMEOUT",
    "FrameReader",
    "basic",
    "client_frame",
    "deflate_bomb",
    "echo_works",
    "exchange",
    "get",
    "header_fields",
    "hybi00_request",
    "mask_payload",
    "open_socket",
    "parse_response",
    "post",
    "read_head",
    "read_until",
    "read_until_eof",
    "recv_exactly",
    "request_info",
    "roundtrip",
    "status_of",
    "upgrade_request",
    "wait_until",
    "ws_connect",
    "ws_open",
]

TIMEOUT = 10.0
# How long any single bad request may take to be answered (or closed).
ANSWER_BOUND = 5.0
# RFC 6455 §1.3: the sample key and its Sec-WebSocket-Accept.
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
# draft-hixie-thewebsocketprotocol-76 §1.3: a valid pair of keys and the eight key bytes.
KEY1 = "4 @1  46546xW%0l 1 5"
KEY2 = "12998 5 Y3 1  .P00"
KEY3 = b"^n:ds[4U"
# The draft's other worked example: its keys, its eight key bytes and the answer to them.
HYBI00_KEY1 = "18x 6]8vM;54 *(5:  {   U1]8  z [  8"
HYBI00_KEY2 = "1_ tx7X d  <  nw  334J702) 7]o}` 0"
HYBI00_KEY3 = b"Tm[K T2u"
HYBI00_ANSWER = b"fQJ,fN/4F4!~K~MH"
# A draft-hixie-thewebsocketprotocol-75 opening handshake for /echo.
HIXIE75 = (
    b"GET /echo HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: 127.0.0.1\r\n"
    b"Origin: http://127.0.0.1\r\n\r\n"
)


# -- requests -------------------------------------------------------------------


def upgrade_request(
    resource: str = "/echo",
    *,
    key: str = SAMPLE_KEY,
    version: str = "13",
    extra: str = "",
    host: str = "127.0.0.1",
) -> bytes:
    """Return an RFC 6455 opening handshake request, with ``extra`` header lines appended.

    An empty ``key`` leaves the Sec-WebSocket-Key line out.
    """
    key_line = f"Sec-WebSocket-Key: {key}\r\n" if key else ""
    return (
        f"GET {resource} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"{key_line}Sec-WebSocket-Version: {version}\r\n{extra}\r\n"
    ).encode("latin-1")


def hybi00_request(key1: str, key2: str, *, resource: str = "/echo", extra: str = "") -> bytes:
    """Return a HyBi-00 (hixie-76) request head, without the eight key bytes that follow it."""
    return (
        f"GET {resource} HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: 127.0.0.1\r\n"
        f"Origin: http://127.0.0.1\r\nSec-WebSocket-Key1: {key1}\r\nSec-WebSocket-Key2: {key2}\r\n{extra}\r\n"
    ).encode("latin-1")


def basic(credential: str) -> str:
    """Return the ``Authorization: Basic`` header line (with its CRLF) for ``user:password``."""
    return "Authorization: Basic " + base64.b64encode(credential.encode()).decode() + "\r\n"


# A HyBi-00 opening handshake for /echo with its eight key bytes; the server answers HYBI00_ANSWER.
HYBI00_REQUEST = hybi00_request(HYBI00_KEY1, HYBI00_KEY2) + HYBI00_KEY3


# -- sockets --------------------------------------------------------------------


def open_socket(port: int, timeout: float = TIMEOUT, host: str = "127.0.0.1") -> socket.socket:
    """Connect to ``host:port`` with ``timeout`` on the connect and on every later call."""
    return socket.create_connection((host, port), timeout=timeout)


def read_head(sock: socket.socket, deadline: float | None = None) -> tuple[bytes, bytes]:
    """Read up to the end of an HTTP response head by ``deadline`` (default: ``TIMEOUT`` from now).

    Returns:
        The head and what followed it; what was read so far (possibly b'')
        and b'' if the peer closed first.
    """
    if deadline is None:
        deadline = time.monotonic() + TIMEOUT
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            return data, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def status_of(head: bytes) -> int | None:
    """Return the status code of an HTTP/1.x response head, None if it is no such head."""
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return int(match.group(1)) if match else None


def read_until_eof(sock: socket.socket, deadline: float | None = None, *, reset_is_eof: bool = False) -> bytes:
    """Read until the peer closes; the whole read must end by ``deadline`` (default: ``TIMEOUT`` from now).

    With ``reset_is_eof``, a connection reset ends the read like a FIN.
    """
    if deadline is None:
        deadline = time.monotonic() + TIMEOUT
    data = b""
    while True:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            if not reset_is_eof:
                raise
            return data
        if not chunk:
            return data
        data += chunk


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    """Receive exactly ``count`` bytes and not one more; fail on EOF (the socket's timeout bounds each read)."""
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, f"EOF after {len(data)} of {count} bytes: {data!r}"
        data += chunk
    return data


def read_until(sock: socket.socket, done: Callable[[bytes], bool], data: bytes = b"", size: int = 4096) -> bytes:
    """Receive until ``done(data)``; fail on EOF (the socket's timeout bounds each read)."""
    while not done(data):
        chunk = sock.recv(size)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def exchange(
    port: int, data: bytes, *, shutdown_write: bool = False, bound: float = ANSWER_BOUND
) -> tuple[int | None, bytes, float]:
    """Send ``data`` and read the answer.

    Returns:
        ``(status, bytes received, seconds)``. status is None when the
        server closed the connection without a byte of answer. For an error
        status the connection must also be closed by the server (read to EOF).
    """
    started = time.monotonic()
    deadline = started + bound
    with open_socket(port) as sock:
        try:
            sock.sendall(data)
            if shutdown_write:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before reading it all
        head, rest = read_head(sock, deadline)
        status = status_of(head)
        if status is None or status >= 400:
            rest += read_until_eof(sock, deadline)
        return status, head + rest, time.monotonic() - started


def roundtrip(port: int, data: bytes, *, host: str = "127.0.0.1", context: ssl.SSLContext | None = None) -> bytes:
    """Send ``data`` (over TLS with ``context``) and return all that comes back until the server closes."""
    with open_socket(port, host=host) as raw:
        sock = context.wrap_socket(raw, server_hostname=host) if context else raw
        with contextlib.closing(sock):
            sock.sendall(data)
            return read_until_eof(sock, reset_is_eof=True)


def header_fields(head: bytes) -> dict[str, list[str]]:
    """Return the fields of an HTTP/1.x response head (after its status line), by lower-case name."""
    fields: dict[str, list[str]] = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if line:
            name, _, value = line.partition(":")
            fields.setdefault(name.strip().lower(), []).append(value.strip())
    return fields


def parse_response(data: bytes) -> tuple[int, dict[str, list[str]], bytes]:
    """Split an HTTP/1.x response into its status, its fields (lower-case names) and its body."""
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b"\r\n", 1)[0].split()[1])
    return status, header_fields(head), body


def request_info(head: bytes) -> Any:
    """Return what testdata/handlers/request_info_wsh.py put in its X-Request-Info response header."""
    match = re.search(rb"\r\nX-Request-Info: ([^\r]*)\r\n", head)
    assert match, head
    return json.loads(match.group(1))


def get(port: int, target: str, headers: str = "", **kwargs: Any) -> tuple[int, dict[str, list[str]], bytes]:
    """GET ``target`` with ``Connection: close``; ``kwargs`` go to `roundtrip`."""
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{headers}\r\n"
    return parse_response(roundtrip(port, request.encode("latin-1"), **kwargs))


def post(port: int, target: str, body: bytes, headers: str = "") -> tuple[int, dict[str, list[str]], bytes]:
    """POST ``body`` to ``target`` with ``Connection: close``."""
    request = (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\n{headers}\r\n"
    ).encode("latin-1")
    return parse_response(roundtrip(port, request + body))


def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT, interval: float = 0.02) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


# -- RFC 6455 frames ------------------------------------------------------------


def mask_payload(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the four-byte masking ``key`` (RFC 6455 §5.3)."""
    if not payload:
        return b""
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big")


def client_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bool = True,
    length: int | None = None,
) -> bytes:
    """Build a client frame; ``length`` overrides the length field (the payload is sent as given)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    size = len(payload) if length is None else length
    mask_bit = 0x80 if mask else 0
    if size < 126:
        header = struct.pack("!BB", first, mask_bit | size)
    elif size < 0x10000:
        header = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, size)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + mask_payload(payload, key)


def deflate_bomb(inflated_size: int, chunk: int = 1 << 20) -> bytes:
    """Return raw DEFLATE data (sync-flushed, 00 00 ff ff removed) of ``inflated_size`` zero bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(chunk)
    parts = [compressor.compress(zeros) for _ in range(inflated_size // chunk)]
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    data = b"".join(parts)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


class FrameReader:
    """Reads the server's bytes and (unmasked) frames from a socket, after what was ``already`` read."""

    def __init__(self, sock: socket.socket, already: bytes = b"") -> None:
        self.sock = sock
        self.buffer = bytearray(already)

    def _fill(self, count: int, deadline: float) -> None:
        while len(self.buffer) < count:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError(f"EOF with {len(self.buffer)} of {count} bytes")
            self.buffer += chunk

    def _take(self, count: int, deadline: float) -> bytes:
        self._fill(count, deadline)
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def read_exactly(self, count: int, timeout: float = TIMEOUT) -> bytes:
        """Return the next ``count`` bytes (EOFError at EOF)."""
        return self._take(count, time.monotonic() + timeout)

    def read_through(self, marker: bytes, timeout: float = TIMEOUT) -> bytes:
        """Return the bytes up to and including the next ``marker`` (EOFError at EOF)."""
        deadline = time.monotonic() + timeout
        while marker not in self.buffer:
            self._fill(len(self.buffer) + 1, deadline)
        return self._take(self.buffer.index(marker) + len(marker), deadline)

    def read_to_eof(self, timeout: float = TIMEOUT) -> bytes:
        """Return what is buffered and all that comes until the peer closes."""
        data = bytes(self.buffer) + read_until_eof(self.sock, time.monotonic() + timeout)
        self.buffer.clear()
        return data

    def frame(self, timeout: float = TIMEOUT) -> tuple[bool, int, bytes]:
        """Return ``(fin, opcode, payload)`` of the next frame (EOFError at EOF)."""
        first, payload = self.raw_frame(timeout)
        return bool(first & 0x80), first & 0x0F, payload

    def raw_frame(self, timeout: float = TIMEOUT) -> tuple[int, bytes]:
        """Return the first header byte (FIN, RSV1-3, opcode) and the unmasked payload of the next frame."""
        deadline = time.monotonic() + timeout
        first, second = self._take(2, deadline)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2, deadline))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8, deadline))
        key = self._take(4, deadline) if second & 0x80 else None
        payload = self._take(length, deadline)
        if key is not None:
            payload = mask_payload(payload, key)
        return first, payload

    def close_code(self, timeout: float = TIMEOUT) -> int | None:
        """Skip data frames; return the code of the server's close frame, 1005 for an empty one,
        1006 when TCP ends (EOF or reset) without a close frame."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                _, opcode, payload = self.frame(max(0.05, deadline - time.monotonic()))
                if opcode == 0x8:
                    return struct.unpack("!H", payload[:2])[0] if payload else 1005
        except (EOFError, ConnectionResetError):
            return 1006


def ws_open(port: int, resource: str = "/echo", extra: str = "") -> tuple[socket.socket, FrameReader]:
    """Open an RFC 6455 connection over a raw socket; return it and a reader."""
    sock = open_socket(port)
    try:
        sock.sendall(upgrade_request(resource, extra=extra))
        head, rest = read_head(sock, time.monotonic() + TIMEOUT)
        assert status_of(head) == 101, head
    except BaseException:
        sock.close()
        raise
    return sock, FrameReader(sock, rest)


# -- the websockets client --------------------------------------------------------


def ws_connect(url: str, **kwargs: Any) -> ClientConnection:
    """Open a ``websockets`` client connection with bounded timeouts, no size limit and no proxy.

    ``kwargs`` go to ``websockets.sync.client.connect`` and win over these defaults.
    """
    kwargs.setdefault("open_timeout", TIMEOUT)
    kwargs.setdefault("close_timeout", TIMEOUT)
    kwargs.setdefault("max_size", None)
    kwargs.setdefault("proxy", None)
    return connect(url, **kwargs)


def echo_works(port: int, resource: str = "/echo", timeout: float = TIMEOUT) -> bool:
    """Tell whether a fresh connection echoes a text and a binary message within ``timeout``."""
    with ws_connect(
        f"ws://127.0.0.1:{port}{resource}",
        open_timeout=timeout,
        close_timeout=timeout,
        max_size=2**20,
        compression=None,
        ping_interval=None,
    ) as ws:
        ws.send("still serving \u00e9")
        text = ws.recv(timeout=timeout)
        ws.send(b"\x00\xff")
        data = ws.recv(timeout=timeout)
    return text == "still serving \u00e9" and data == b"\x00\xff"
