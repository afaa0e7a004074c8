"""Stream exceptions and the I/O half every stream shares.

Layer 1. Exception tree (each stream exception names the close code that the
dispatcher sends when a handler lets it escape; None means "send nothing")::

    common.WebSocketException
     +-- ConnectionTerminatedException      None (the peer is gone)
     |    +-- InvalidFrameException         1002
     +-- UnsupportedFrameException          1003
     +-- InvalidUTF8Exception               1007
     +-- MessageTooBigException             1009
     |    +-- MemoryBudgetExceededException 1013 (the server's budget, not the message)
     +-- BadOperationException              1011 (misuse by a handler)

All reads and writes of frames go through ``StreamBase.receive_bytes`` /
``_read_some`` and ``_write``, over the connection contract of
``common.ConnectionLike`` (``ConnectionTerminatedException`` is defined in
``_connection``, where a connection raises it, and stays importable here).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar, cast

from mod_pywebsocket import common
from mod_pywebsocket._connection import ConnectionTerminatedException, as_buffered

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "BadOperationException",
    "ConnectionTerminatedException",
    "InvalidFrameException",
    "InvalidUTF8Exception",
    "MemoryBudgetExceededException",
    "MessageTooBigException",
    "ReadExact",
    "StreamBase",
    "UnsupportedFrameException",
]

_LOGGER = logging.getLogger(__name__)

# What a frame parser reads through: exactly n bytes, else ConnectionTerminatedException.
ReadExact = Callable[[int], bytes]
# The largest message a stream assembles unless told otherwise (``max_message_size``).
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024


class InvalidFrameException(ConnectionTerminatedException):
    """The peer sent a frame that breaks RFC 6455 (close with 1002)."""

    close_code = common.STATUS_PROTOCOL_ERROR


class UnsupportedFrameException(common.WebSocketException):
    """The peer sent data this endpoint cannot accept (close with 1003)."""

    close_code: ClassVar[int | None] = common.STATUS_UNSUPPORTED_DATA


class InvalidUTF8Exception(common.WebSocketException):
    """A text message or close reason is not valid UTF-8 (close with 1007)."""

    close_code: ClassVar[int | None] = common.STATUS_INVALID_FRAME_PAYLOAD_DATA


class MessageTooBigException(common.WebSocketException):
    """A message exceeds the configured maximum size (close with 1009)."""

    close_code: ClassVar[int | None] = common.STATUS_MESSAGE_TOO_BIG


class MemoryBudgetExceededException(MessageTooBigException):
    """Incoming messages of all connections hold the memory the server allows (close with 1013, try again later)."""

    close_code: ClassVar[int | None] = common.STATUS_TRY_AGAIN_LATER


class BadOperationException(common.WebSocketException):
    """A handler asked for something the stream's state forbids (1011)."""

    close_code: ClassVar[int | None] = common.STATUS_INTERNAL_ENDPOINT_ERROR


class _EndedRequest:
    """A stream's request once its connection has ended, held weakly.

    ``request.ws_stream`` and the stream's ``_request`` make a reference
    cycle, which only the cyclic garbage collector frees: one whole
    connection (socket, buffers, zlib state) per cycle until it runs. Held
    weakly, the request goes as soon as nobody else holds it, and its stream
    with it. While someone still holds the request (a handler's thread),
    attributes pass through to it as before; once it is gone, using the
    stream raises ConnectionTerminatedException.
    """

    __slots__ = ("_ref",)

    def __init__(self, request: object) -> None:
        object.__setattr__(self, "_ref", weakref.ref(request))

    def _target(self) -> Any:
        request = self._ref()
        if request is None:
            raise ConnectionTerminatedException("the connection has ended")
        return request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target(), name, value)


class StreamBase:
    """The connection I/O shared by the HyBi and Hixie-75 streams.

    The stream reads and writes ``request.connection`` through the contract
    of ``common.ConnectionLike``: as it is when it is a
    ``BufferedConnection`` (the standalone server's, Apache's), else
    through a ``PlainConnection`` made once here, over its ``read(n)`` and
    ``write(data)`` (an embedder's object; ``read`` may return fewer bytes
    than asked).

    Args:
        request: the request whose connection the stream uses.
    """

    def __init__(self, request: common.RequestLike) -> None:
        self._logger = _LOGGER
        self._request = request
        self._connection: common.ConnectionLike = as_buffered(request.connection)
        self._write_lock = threading.Lock()

    def release_request(self) -> None:
        """Hold the request weakly from now on: its connection has ended (for the entry points).

        This breaks the reference cycle between the request and its stream
        (``request.ws_stream``), so that both are freed, with what they hold,
        as soon as nobody else holds them. Calling it again does nothing.
        """
        request = self._request
        if not isinstance(request, _EndedRequest):
            self._request = cast(common.RequestLike, _EndedRequest(request))

    def _read(self, length: int) -> bytes:
        """Read exactly ``length`` bytes.

        Raises:
            ConnectionTerminatedException: the connection ended first.
        """
        data = self._read_buffer(length)
        return data if isinstance(data, bytes) else bytes(data)

    def _read_buffer(self, length: int) -> bytes | bytearray:
        """Read exactly ``length`` bytes, as bytes or a bytearray (no copy for a large read).

        Raises:
            ConnectionTerminatedException: the connection ended first.
        """
        try:
            return self._connection.read(length)
        except OSError as exc:
            raise ConnectionTerminatedException(f"receiving {length} bytes failed: {exc}") from exc

    def _read_some(self, length: int) -> bytes:
        """Read between 1 and ``length`` bytes, as soon as any are available.

        Raises:
            ConnectionTerminatedException: the connection ended first.
        """
        try:
            data = self._connection.read_some(length)
        except OSError as exc:
            raise ConnectionTerminatedException(f"receiving failed: {exc}") from exc
        if not data:
            raise ConnectionTerminatedException("connection closed by peer")
        return data

    def receive_bytes(self, length: int) -> bytes:
        """Read exactly ``length`` raw bytes from the connection.

        Raises:
            ConnectionTerminatedException: the connection ended first.
        """
        return self._read(length)

    def _read_until(self, delim_char: bytes) -> bytes:
        """Read bytes up to ``delim_char`` (one byte), which is consumed, not returned.

        Raises:
            ConnectionTerminatedException: the connection ended first.
        """
        chunks: list[bytes] = []
        while True:
            ch = self._read(1)
            if ch == delim_char:
                return b"".join(chunks)
            chunks.append(ch)

    def _write_parts(self, header: bytes, payload: bytes) -> None:
        """Write a frame header and a large payload, without joining them where the connection can.

        Raises:
            ConnectionTerminatedException: the write failed.
        """
        try:
            with self._write_lock:
                self._connection.write_parts((header, payload))
        except OSError as exc:
            raise ConnectionTerminatedException(f"sending failed: {exc}") from exc

    def _write(self, data: bytes) -> None:
        """Write ``data`` in one call; frames from several threads never interleave.

        Raises:
            ConnectionTerminatedException: the write failed.
        """
        try:
            with self._write_lock:
                self._connection.write(data)
        except OSError as exc:
            raise ConnectionTerminatedException(f"sending failed: {exc}") from exc
