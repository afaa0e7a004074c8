"""The deflate-stream wrappers: a connection, request or socket whose bytes are deflated both ways.

Layer 0: nothing here imports ``socket``; ``DeflateSocket`` wraps a socket
the caller passes in.
"""

from __future__ import annotations

import zlib
from typing import Any

from mod_pywebsocket._connection import BufferedConnection, ReceiveBuffer, as_buffered
from mod_pywebsocket._deflate import _Deflater, _Inflater

__all__ = ["DeflateConnection", "DeflateRequest", "DeflateSocket"]

_INFLATE_STEP = 65536


class DeflateConnection(BufferedConnection):
    """Wraps a connection for ``deflate-stream``, deflating what is written and inflating what is read.

    Each write is sync-flushed.

    A ``BufferedConnection`` whose receive inflates what the wrapped
    connection gives (a plain ``read``/``write`` object is adapted with
    ``_connection.as_buffered``). ``read(n)`` returns exactly n inflated
    bytes or raises ConnectionTerminatedException. Other attributes are the
    wrapped connection's.

    Args:
        connection: the connection to wrap.
    """

    def __init__(self, connection: Any) -> None:
        super().__init__()
        self._connection = connection
        self._source = as_buffered(connection)
        self._deflater = _Deflater(zlib.MAX_WBITS)
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def _receive_into(self, view: ReceiveBuffer) -> int:
        # 0 at EOF; loop until inflating gives at least one byte. Each step
        # inflates at most _INFLATE_STEP bytes, so a small input that
        # inflates hugely is consumed only as fast as the stream reads it.
        while True:
            data = self._inflater.unconsumed_tail
            if not data:
                # What has arrived, or what a receive would take: never more
                # than a connection that does not read ahead has (one byte).
                source = self._source
                data = source.read_some(max(source.buffered(), source.read_ahead, 1))
                if not data:
                    return 0
            inflated = self._inflater.decompress(data, min(len(view), _INFLATE_STEP))
            if inflated:
                view[: len(inflated)] = inflated
                return len(inflated)

    def _send(self, data: bytes) -> None:
        self._source.write(self._deflater.compress_and_flush(data))

    def read(self, size: int = -1) -> bytes:
        """Return exactly ``size`` inflated bytes; -1 reads up to EOF (0.7's parameter name).

        Raises:
            ConnectionTerminatedException: EOF came first.
        """
        return super().read(size)

    def get_remote_addr(self) -> Any:
        """Return the wrapped connection's ``remote_addr``."""
        return self._connection.remote_addr

    remote_addr = property(get_remote_addr)

    put_bytes = BufferedConnection.write


class DeflateRequest:
    """A request whose ``connection`` is wrapped in a ``DeflateConnection``.

    Every other attribute, read or set, is the wrapped request's.
    """

    def __init__(self, request: Any) -> None:
        object.__setattr__(self, "_request", request)
        object.__setattr__(self, "connection", DeflateConnection(request.connection))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_request", "connection"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._request, name, value)


class DeflateSocket:
    """Wraps a socket for ``deflate-stream``: ``send`` deflates and ``recv`` inflates.

    Each ``send`` is sync-flushed.
    """

    # Compressed bytes asked of the socket per recv.
    _RECV_SIZE = 4096

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._deflater = _Deflater(zlib.MAX_WBITS)
        self._inflater = _Inflater(zlib.MAX_WBITS)

    def recv(self, size: int) -> bytes:
        """Return 1 to ``size`` inflated bytes, waiting for some; b'' at EOF.

        Raises:
            ValueError: ``size`` is not positive.
            zlib.error: the peer sent invalid DEFLATE data.
        """
        if size <= 0:
            raise ValueError(f"recv size must be positive, not {size}")
        while True:
            data = self._inflater.decompress(size)
            if data:
                return data
            received = self._socket.recv(self._RECV_SIZE)
            if not received:
                return b""
            self._inflater.append(received)

    def send(self, data: bytes) -> int:
        """Deflate ``data``, send all of it with a sync flush, return ``len(data)``."""
        self._socket.sendall(self._deflater.compress_and_flush(data))
        return len(data)

    def sendall(self, data: bytes) -> None:
        """Same as ``send``, returning None like ``socket.sendall``."""
        self.send(data)
