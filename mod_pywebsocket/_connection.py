"""The one buffered connection every stream reads and writes through.

Layer 0: no ``socket`` import; a subclass supplies the two primitives.

How this works. ``BufferedConnection`` keeps what was received and not read
yet in ``_data[_pos:]``. Its subclasses give it two primitives:

- ``_receive_into(view)``: receive at least one byte into ``view`` (a
  memoryview, or the mapping itself, of up to ``len(view)`` bytes) and
  return how many; 0 at EOF.
  It may block. OSError reaches the caller.
- ``_send(data)``: send all of ``data``.

Everything else (exact reads, ``read_some``, ``peek``, ``buffered``,
``readline``, ``write_parts``) is built here, once. A receive asks for
``read_ahead`` bytes more than the read needs (64 KiB for a socket, nothing
for a connection its owner may also read directly), into one anonymous
mapping per connection of which only the pages data was written to become
resident (``release_idle_pages`` gives them back before a long wait). A
read that needs more than 64 KiB beyond what is buffered goes straight into
a buffer of its size. A subclass whose first receive is small and does not
wait (the standalone server's sockets: a request head) makes its first
receive into a small buffer of its own instead (``first_receive_size``).

``as_buffered`` adapts a plain object with ``read(n)``/``write(data)`` (an
embedder's connection, mod_python's raw one) once, where a stream or a
handshake starts reading it.
"""

from __future__ import annotations

import mmap
from typing import ClassVar, Protocol, Union

from mod_pywebsocket import common

__all__ = [
    "BufferedConnection",
    "ConnectionTerminatedException",
    "PlainConnection",
    "RawConnection",
    "ReceiveBuffer",
    "as_buffered",
]

# The most one receive asks for into the connection's own buffer, and the
# largest read served through it: a read that needs more than this beyond
# what is buffered goes straight into a buffer of its own size.
RECEIVE_SIZE = 65536

# Where the system can take back a mapping's pages (Linux, the BSDs, macOS).
_MADV_DONTNEED: int | None = getattr(mmap, "MADV_DONTNEED", None)

# What ``_receive_into`` writes into: a view, or the receive mapping itself.
ReceiveBuffer = Union[memoryview, mmap.mmap]


class ConnectionTerminatedException(common.WebSocketException):
    """The connection ended (EOF, reset) or must end without more frames.

    Importable as ``stream.ConnectionTerminatedException`` (its 0.7 place).
    """

    close_code: ClassVar[int | None] = None


class RawConnection(Protocol):
    """What an object needs to be adapted by ``as_buffered``: mod_python's connection, an embedder's."""

    def read(self, length: int) -> bytes | None: ...

    def write(self, data: bytes) -> None: ...


class BufferedConnection:
    """A connection with a read buffer, over ``_receive_into`` and ``_send`` (``common.ConnectionLike``).

    ``read(n)`` returns exactly n bytes or raises; ``read_some``, ``peek``
    and ``readline`` block only when the buffer cannot satisfy them and give
    b'' at EOF, like ``io.BufferedReader``. OSError from the primitives
    reaches the caller.

    Attributes:
        read_ahead: how many bytes one receive asks for beyond what the
            read needs (at most 64 KiB).
        first_receive_size: if not 0, the first receive asks for at most
            this many bytes, into a buffer of its own rather than the
            mapping, which the next receive makes (for a connection whose
            first receive is small and does not wait: a request head).
        closed: True once ``close`` was called.
    """

    read_ahead: ClassVar[int] = RECEIVE_SIZE
    first_receive_size: ClassVar[int] = 0

    def __init__(self) -> None:
        self._data = b""
        self._pos = 0
        # Where receives write: an anonymous mapping, made on the first receive.
        self._recv_buffer: mmap.mmap | None = None
        self._first_receive_size = self.first_receive_size  # 0 once used; it matters only while there is no mapping
        self.closed = False

    # The two primitives.

    def _receive_into(self, view: ReceiveBuffer) -> int:
        """Receive 1 to ``len(view)`` bytes into ``view``, blocking; return how many, 0 at EOF."""
        raise NotImplementedError

    def _send(self, data: bytes) -> None:
        """Send all of ``data``."""
        raise NotImplementedError

    # Reading.

    def buffered(self) -> int:
        """Return how many bytes can be read without blocking."""
        return len(self._data) - self._pos

    def _fill(self, need: int) -> bool:
        """Receive once, ``need`` bytes plus the read-ahead at most; False at EOF."""
        buffer = self._recv_buffer
        limit = need + self.read_ahead
        if buffer is None and need <= self._first_receive_size:
            # A small first receive (first_receive_size), into a buffer of its own.
            self._first_receive_size = 0
            with memoryview(bytearray(min(limit, self.first_receive_size))) as view:
                received = self._receive_into(view)
                chunk = view[:received].tobytes()
        else:
            if buffer is None:
                buffer = self._recv_buffer = mmap.mmap(-1, RECEIVE_SIZE, flags=mmap.MAP_PRIVATE)
            if limit >= RECEIVE_SIZE:
                # The mapping itself: no view to make (the socket's case, every time).
                received = self._receive_into(buffer)
            else:
                # A view made for this receive (a kept one would cost every idle
                # connection its size), released before the mapping can be closed.
                with memoryview(buffer) as view, view[:limit] as part:
                    received = self._receive_into(part)
            chunk = buffer[:received]
        if not received:
            return False
        if self._pos < len(self._data):
            self._data = self._data[self._pos :] + chunk
        else:
            self._data = chunk
        self._pos = 0
        return True

    def _take(self, length: int) -> bytes:
        data, pos = self._data, self._pos
        end = pos + length
        if end >= len(data):
            self._data = b""
            self._pos = 0
            return data if pos == 0 else data[pos:]
        self._pos = end
        return data[pos:end]

    def read(self, length: int = -1) -> bytes:
        """Read exactly ``length`` bytes, blocking; -1 reads to EOF.

        A read of more than 64 KiB beyond what is buffered returns a bytearray.

        Raises:
            ConnectionTerminatedException: EOF came first (the bytes received
                stay buffered).
            OSError: receiving failed.
        """
        if length < 0:
            parts = [self._take(self.buffered())]
            while self._fill(RECEIVE_SIZE):
                parts.append(self._take(self.buffered()))
            return b"".join(parts)
        have = len(self._data) - self._pos
        if length <= have:
            return self._take(length)
        if length - have > RECEIVE_SIZE:
            return self._read_large(length)
        while have < length:
            if not self._fill(length - have):
                raise _closed(have, length)
            have = len(self._data) - self._pos
        return self._take(length)

    def _read_large(self, length: int) -> bytes:
        # Straight into one buffer of the frame's size: no concatenation.
        buffer = bytearray(length)
        have = self.buffered()
        with memoryview(buffer) as view:
            view[:have] = memoryview(self._data)[self._pos :]
            self._data = b""
            self._pos = 0
            while have < length:
                received = self._receive_into(view[have:])
                if not received:
                    # Keep what came, as a short read from the buffer would.
                    self._data = bytes(view[:have])
                    raise _closed(have, length)
                have += received
        return buffer  # type: ignore[return-value]  # bytes-like; copying a large frame costs

    def read_some(self, length: int = -1) -> bytes:
        """Read 1 to ``length`` bytes (-1: what is buffered), blocking only if none are buffered; b'' at EOF.

        Raises:
            OSError: receiving failed.
        """
        if self._pos >= len(self._data) and not self._fill(max(length, 1)):
            return b""
        return self._take(length if 0 <= length < self.buffered() else self.buffered())

    read1 = read_some

    def peek(self, length: int = 1) -> bytes:
        """Return up to ``length`` bytes without consuming them, blocking only if none are buffered; b'' at EOF.

        Raises:
            OSError: receiving failed.
        """
        if self._pos >= len(self._data) and not self._fill(1):
            return b""
        pos = self._pos
        return self._data[pos : pos + length]

    def readline(self, limit: int = -1) -> bytes:
        r"""Read a line up to and including b'\n', at most ``limit`` bytes; b'' at EOF.

        Raises:
            OSError: receiving failed.
        """
        while True:
            data, pos = self._data, self._pos
            stop = len(data) if limit < 0 else min(len(data), pos + limit)
            end = data.find(b"\n", pos, stop)
            if end >= 0:
                return self._take(end + 1 - pos)
            if stop - pos == limit:
                return self._take(limit)
            if not self._fill(1):
                return self._take(len(data) - pos)

    # Writing.

    def write(self, data: bytes) -> None:
        """Send all of ``data``.

        Raises:
            OSError: sending failed.
        """
        self._send(data)

    def write_parts(self, parts: tuple[bytes, ...]) -> None:
        """Send the buffers in ``parts`` one after the other (a subclass may avoid joining them).

        Raises:
            OSError: sending failed.
        """
        self.write(b"".join(parts))

    def release_idle_pages(self) -> bool:
        """Give the receive mapping's resident pages back to the system if nothing is buffered.

        For a connection about to wait, perhaps for long (an open WebSocket
        after its handshake): the mapping stays, and the next receive
        touches fresh zeroed pages. Returns True if pages were released.
        """
        buffer = self._recv_buffer
        if buffer is None or self._pos < len(self._data) or _MADV_DONTNEED is None:
            return False
        buffer.madvise(_MADV_DONTNEED)
        return True

    def close(self) -> None:
        """Drop the read buffers (whatever lies below is closed by its owner)."""
        self.closed = True
        self._data = b""
        self._pos = 0
        buffer, self._recv_buffer = self._recv_buffer, None
        if buffer is not None:
            buffer.close()


def _closed(have: int, length: int) -> ConnectionTerminatedException:
    if not have:
        return ConnectionTerminatedException("connection closed by peer")
    return ConnectionTerminatedException(f"connection closed after {have} of {length} bytes")


class PlainConnection(BufferedConnection):
    """A plain ``read(n)``/``write(data)`` object as a ``BufferedConnection``; see ``as_buffered``.

    It never reads ahead: its owner (a handler, the embedder) may read the
    object directly too, so nothing beyond what the stream consumes (or
    peeks at) is taken from it. ``read(n)`` of the object may return fewer
    than n bytes, and b'' or None at EOF (mod_python's does).

    Args:
        connection: the object adapted.
    """

    read_ahead = 0

    def __init__(self, connection: RawConnection) -> None:
        super().__init__()
        self.raw = connection

    def _receive_into(self, view: ReceiveBuffer) -> int:
        data = self.raw.read(len(view))
        if not data:
            return 0
        view[: len(data)] = data
        return len(data)

    def _send(self, data: bytes) -> None:
        self.raw.write(data)


def as_buffered(connection: BufferedConnection | RawConnection) -> BufferedConnection:
    """Return ``connection`` if it is a ``BufferedConnection``, else a ``PlainConnection`` over it."""
    if isinstance(connection, BufferedConnection):
        return connection
    return PlainConnection(connection)
