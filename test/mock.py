"""Small working fakes for tests: a connection, a request, a dispatcher, mod_python's objects.

They are typed against the duck types of SPEC §3 (``common.ConnectionLike``
and ``common.RequestLike``); nothing here patches real code.
"""

from __future__ import annotations

import email.message
from typing import Any

from mod_pywebsocket._connection import BufferedConnection, ReceiveBuffer

__all__ = [
    "BufferedFakeConnection",
    "FakeConnection",
    "FakeDispatcher",
    "FakeMpConnection",
    "FakeMpRequest",
    "FakeRequest",
    "replace_header",
]


def replace_header(headers: list[tuple[str, str]], name: str, value: str | None) -> list[tuple[str, str]]:
    """Return ``headers`` with ``name`` (any case) set to ``value`` at the end; None removes it."""
    result = [(n, v) for n, v in headers if n.lower() != name.lower()]
    if value is not None:
        result.append((name, value))
    return result


class _Recorder:
    """What both fake connections record: each write, the read calls; and the addresses they report."""

    def _start_recording(self) -> None:
        self.written: list[bytes] = []
        self.remote_addr = ("127.0.0.1", 54321)
        self.local_addr = ("127.0.0.1", 80)
        self.read_calls = 0

    def written_bytes(self) -> bytes:
        """Return everything written, joined."""
        return b"".join(self.written)


class FakeConnection(_Recorder):
    """A plain connection (like mod_python's, or an embedder's) that serves preset bytes and records writes.

    It has only ``read`` and ``write`` (and ``read_some``, which the stream
    does not use): a stream reads it through a ``PlainConnection`` that
    asks for no more than it needs, so ``remaining`` is what the stream
    left unread.

    Args:
        data: the bytes ``read`` returns, in order.
        chunk: if set, each ``read``/``read_some`` returns at most this many
            bytes (1 simulates the slowest network).
        partial_reads: if True, ``read(n)`` may return fewer than n bytes
            (like mod_python's) instead of only at EOF.
    """

    def __init__(self, data: bytes = b"", chunk: int | None = None, partial_reads: bool = False) -> None:
        self._data = bytearray(data)
        self._chunk = chunk
        self._partial_reads = partial_reads
        self._start_recording()

    def feed(self, data: bytes) -> None:
        """Append bytes for later reads."""
        self._data += data

    def _take(self, length: int) -> bytes:
        self.read_calls += 1
        if self._chunk is not None:
            length = min(length, self._chunk)
        data = bytes(self._data[:length])
        del self._data[:length]
        return data

    def read(self, length: int) -> bytes:
        """Return ``length`` bytes, fewer at the end of the data."""
        if self._partial_reads or self._chunk is None:
            return self._take(length)
        parts = []
        while length:
            part = self._take(length)
            if not part:
                break
            parts.append(part)
            length -= len(part)
        return b"".join(parts)

    def read_some(self, length: int) -> bytes:
        """Return 1 to ``length`` bytes, b'' at the end of the data."""
        return self._take(length)

    def write(self, data: bytes) -> None:
        """Record ``data``."""
        self.written.append(bytes(data))

    def remaining(self) -> bytes:
        """Return the bytes not read yet."""
        return bytes(self._data)


class BufferedFakeConnection(_Recorder, BufferedConnection):
    """A ``BufferedConnection`` over preset bytes, reading ahead like the standalone server's.

    Its receive takes everything left (at most 64 KiB, or ``chunk``), so a
    message that arrived whole is taken in one step
    (``Stream._receive_buffered_frame``).

    Args:
        data: the bytes the connection receives, in order.
        chunk: if set, each receive takes at most this many bytes.

    Attributes:
        written: what was written, one entry per ``write``.
        read_calls: how many ``read``/``read_some`` calls the stream made.
    """

    def __init__(self, data: bytes = b"", chunk: int | None = None) -> None:
        super().__init__()
        self._incoming = bytearray(data)
        self._chunk = chunk
        self._start_recording()

    def _receive_into(self, view: ReceiveBuffer) -> int:
        length = len(view) if self._chunk is None else min(len(view), self._chunk)
        data = self._incoming[:length]
        del self._incoming[:length]
        view[: len(data)] = data
        return len(data)

    def _send(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def read(self, length: int = -1) -> bytes:
        """Count the call, then read as a ``BufferedConnection`` does."""
        self.read_calls += 1
        return super().read(length)

    def read_some(self, length: int = -1) -> bytes:
        """Count the call, then read as a ``BufferedConnection`` does."""
        self.read_calls += 1
        return super().read_some(length)

    def feed(self, data: bytes) -> None:
        """Append bytes for later receives."""
        self._incoming += data

    def remaining(self) -> bytes:
        """Return the bytes not read yet (buffered or not received yet)."""
        return self.peek_buffered() + bytes(self._incoming)

    def peek_buffered(self) -> bytes:
        """Return what was received and not read yet."""
        return self._data[self._pos :]


class FakeRequest:
    """A request like the standalone server's (SPEC §3).

    Args:
        uri: the request-target.
        headers: ``(name, value)`` pairs or a mapping; lookups are
            case-insensitive and a missing name reads as None.
        connection: defaults to an empty ``FakeConnection``.
    """

    def __init__(
        self,
        uri: str = "/",
        headers: Any = (),
        connection: FakeConnection | None = None,
        method: str = "GET",
        protocol: str = "HTTP/1.1",
        is_https: bool = False,
    ) -> None:
        self.uri = uri
        self.unparsed_uri = uri
        self.method = method
        self.protocol = protocol
        self.headers_in = email.message.Message()
        items = headers.items() if hasattr(headers, "items") else headers
        for name, value in items:
            self.headers_in[name] = value
        self.connection = connection if connection is not None else FakeConnection()
        self.extra_headers: list[tuple[str, str]] = []
        self._is_https = is_https
        self.errors: list[str] = []

    def is_https(self) -> bool:
        """Return whether the fake connection is "TLS"."""
        return self._is_https

    def log_error(self, message: str) -> None:
        """Record ``message``."""
        self.errors.append(message)


class FakeDispatcher:
    """A dispatcher that records calls and runs optional callables.

    Args:
        extra_handshake: called with the request by ``do_extra_handshake``.
        passive_closing: the ``(code, reason)`` ``passive_closing_handshake`` returns.
    """

    def __init__(self, extra_handshake: Any = None, passive_closing: tuple[int | None, str] = (1000, "")) -> None:
        self._extra_handshake = extra_handshake
        self._passive_closing = passive_closing
        self.calls: list[str] = []

    def do_extra_handshake(self, request: Any) -> None:
        """Record the call and run ``extra_handshake``."""
        self.calls.append("do_extra_handshake")
        if self._extra_handshake is not None:
            self._extra_handshake(request)

    def passive_closing_handshake(self, request: Any) -> tuple[int | None, str]:
        """Record the call and return the preset answer."""
        self.calls.append("passive_closing_handshake")
        return self._passive_closing


# mod_python's objects, for the adapters of headerparserhandler.


class FakeMpConnection:
    """Behaves like mod_python's connection: short reads, None at EOF."""

    def __init__(self, chunks: list[bytes | Exception | None]) -> None:
        self.chunks = list(chunks)
        self.read_sizes: list[int] = []
        self.written: list[bytes] = []
        self.write_error: Exception | None = None
        self.client_ip = "192.0.2.7"
        self.client_addr = ("192.0.2.7", 4242)
        self.keepalive = 0

    def read(self, size: int) -> bytes | None:
        self.read_sizes.append(size)
        chunk = self.chunks.pop(0)
        if isinstance(chunk, Exception):
            raise chunk
        if chunk is None:
            return None
        if len(chunk) > size:
            self.chunks.insert(0, chunk[size:])
            chunk = chunk[:size]
        return chunk

    def write(self, data: bytes) -> None:
        if self.write_error is not None:
            raise self.write_error
        self.written.append(data)


class FakeMpRequest:
    """The attributes of mod_python's request are defined on its type."""

    status = 200
    assbackwards = 0
    uri = "/path"
    unparsed_uri = "/path?query"

    def __init__(self, connection: FakeMpConnection) -> None:
        self.connection = connection
