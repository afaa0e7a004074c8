"""A working stand-in for ``mod_python.apache`` and its request, connection and server objects.

``install(monkeypatch)`` puts a fake ``mod_python`` package in ``sys.modules``
so ``mod_pywebsocket.headerparserhandler`` runs in the test process, without
httpd. The fakes behave like mod_python 3.5 where the entry point relies on it;
what each one copies, and from where:

- ``mod_python/apache.py`` (grisha/mod_python, lib/python): the constants
  ``OK = 0``, ``DONE = -2``, ``DECLINED = -1``, ``HTTP_*`` (500...),
  ``APLOG_*`` (syslog's 2 CRIT ... 7 DEBUG), and ``apache.log_error(message,
  level, server)`` / ``apache.main_server``.
- ``src/connobject.c``: ``conn.read(n)`` returns None (not b'') at the end of
  the input, may return fewer than n bytes, raises OSError (IOError) on a
  read error; ``conn.write(data)`` flushes every call; ``keepalive`` is the one
  writable attribute, any other assignment raises AttributeError;
  ``client_ip`` / ``client_addr`` are the Apache 2.4 names. ``AP_CONN_CLOSE``
  is httpd's ``ap_conn_keepalive_e`` value 1 (UNKNOWN 0, CLOSE 1, KEEPALIVE 2).
- ``src/requestobject.c``: the request's Apache fields (``status``,
  ``assbackwards``, ``protocol``, ``uri``...) are descriptors on the type,
  ``connection`` and ``server`` are read-only, any other attribute goes to the
  instance's dict; ``get_options()`` returns a table of the PythonOptions;
  ``write(data, flush=1)``, ``flush()``, ``log_error(message, level)``.
- ``src/tableobject.c``: ``headers_in`` / ``headers_out`` / ``err_headers_out``
  are tables with case-insensitive keys, ``get``, item assignment and ``add``
  (which keeps repeated names), and no ``get_all``; on Python 3 a value is
  decoded as UTF-8 when read, so a field with other bytes raises
  UnicodeDecodeError there (a value given here as ``bytes`` does the same).
- SPEC §8 (measured on Apache 2.4 + Debian mod_python 3.5) for the same facts.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable
from typing import Any

import pytest

__all__ = ["FakeConnection", "FakeRequest", "FakeServer", "FakeTable", "install"]

# mod_python/apache.py values.
OK = 0
DONE = -2
DECLINED = -1
HTTP_INTERNAL_SERVER_ERROR = 500
APLOG_CRIT = 2
APLOG_ERR = 3
APLOG_WARNING = 4
APLOG_NOTICE = 5
APLOG_INFO = 6
APLOG_DEBUG = 7
# httpd.h ap_conn_keepalive_e.
AP_CONN_UNKNOWN = 0
AP_CONN_CLOSE = 1


class FakeTable:
    """An ``mp_table``: string keys compared without case, values kept in order, repeats allowed."""

    def __init__(self, items: Iterable[tuple[str, str | bytes]] = ()) -> None:
        self._items: list[tuple[str, str | bytes]] = []
        for name, value in items:
            self.add(name, value)

    def add(self, name: str, value: str | bytes) -> None:
        """Append a field, keeping any earlier one of the same name (bytes: the raw value, decoded when read)."""
        self._items.append((name, value))

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of ``name``, else ``default``.

        Raises:
            UnicodeDecodeError: the value was given as bytes that are not UTF-8.
        """
        for key, value in self._items:
            if key.lower() == name.lower():
                return value.decode("utf-8") if isinstance(value, bytes) else value
        return default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: str) -> None:
        self._items = [(key, old) for key, old in self._items if key.lower() != name.lower()]
        self._items.append((name, value))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def items(self) -> list[tuple[str, str | bytes]]:
        """Return every ``(name, value)`` in the order they were set."""
        return list(self._items)


class FakeServer:
    """An ``mp_server``: its ``loglevel`` (Apache's LogLevel, an APLOG_* value)."""

    def __init__(self, loglevel: int = APLOG_WARNING) -> None:
        self.loglevel = loglevel


class FakeConnection:
    """An ``mp_conn`` that serves preset bytes and records what is written.

    Args:
        data: what ``read`` returns, in order; after it, None (EOF).
        chunk: if set, each ``read`` returns at most this many bytes.
        read_error: raised by ``read`` once ``data`` is used up, instead of EOF.

    Attributes:
        write_error: if set, raised by every ``write`` once ``writes_before_error``
            writes went through (a peer that reset the connection).
    """

    __slots__ = (
        "_chunk",
        "_data",
        "_read_error",
        "keepalive",
        "read_sizes",
        "write_error",
        "writes_before_error",
        "written",
    )

    client_ip = "192.0.2.7"
    client_addr = ("192.0.2.7", 50123)
    local_addr = ("192.0.2.1", 80)

    def __init__(self, data: bytes = b"", chunk: int | None = None, read_error: BaseException | None = None) -> None:
        self._data = bytearray(data)
        self._chunk = chunk
        self._read_error = read_error
        self.keepalive = AP_CONN_UNKNOWN
        self.read_sizes: list[int] = []
        self.written: list[bytes] = []
        self.write_error: OSError | None = None
        self.writes_before_error = 0

    def read(self, length: int) -> bytes | None:
        """Return up to ``length`` bytes; None at the end, or raise ``read_error`` there."""
        self.read_sizes.append(length)
        if not self._data:
            if self._read_error is not None:
                raise self._read_error
            return None
        size = length if self._chunk is None else min(length, self._chunk)
        data = bytes(self._data[:size])
        del self._data[:size]
        return data

    def write(self, data: bytes) -> None:
        """Record ``data`` (one entry per call), or raise ``write_error``."""
        if self.write_error is not None and len(self.written) >= self.writes_before_error:
            raise self.write_error
        self.written.append(bytes(data))

    def written_bytes(self) -> bytes:
        """Return everything written, joined."""
        return b"".join(self.written)


class FakeRequest:
    """An ``mp_request`` for one request of the given head.

    Args:
        uri: the request-target, as ``unparsed_uri``; ``uri`` is its path.
        headers: the request's header fields.
        options: the PythonOptions ``get_options()`` returns.
        connection: defaults to an empty `FakeConnection`.
        protocol: ``HTTP/1.1``, or ``HTTP/2.0`` for mod_http2's streams.

    Attributes:
        logged: ``(message, level)`` of every ``log_error`` call.
        body: what ``write`` sent (mod_http2's stream data), one entry per call.
        flushes: how many times ``flush`` was called.
    """

    # Apache's request_rec fields: descriptors on the type, like mod_python's.
    __slots__ = (
        "__dict__",
        "_connection",
        "_options",
        "_server",
        "assbackwards",
        "body",
        "err_headers_out",
        "flush_error",
        "flushes",
        "headers_in",
        "headers_out",
        "logged",
        "method",
        "protocol",
        "status",
        "unparsed_uri",
        "uri",
        "write_error",
    )

    def __init__(
        self,
        uri: str = "/",
        headers: Iterable[tuple[str, str | bytes]] = (),
        options: Iterable[tuple[str, str]] = (),
        connection: FakeConnection | None = None,
        protocol: str = "HTTP/1.1",
        server: FakeServer | None = None,
    ) -> None:
        self.unparsed_uri = uri
        self.uri = uri.split("?", 1)[0]
        self.method = "GET"
        self.protocol = protocol
        self.status = 200
        self.assbackwards = 0
        self.headers_in = FakeTable(headers)
        self.headers_out = FakeTable()
        self.err_headers_out = FakeTable()
        self._options = FakeTable(options)
        self._connection = connection if connection is not None else FakeConnection()
        self._server = server if server is not None else FakeServer()
        self.logged: list[tuple[str, int]] = []
        self.body: list[bytes] = []
        self.flushes = 0
        self.flush_error: OSError | None = None
        self.write_error: OSError | None = None

    @property
    def connection(self) -> FakeConnection:
        """The request's connection (read-only, as in mod_python)."""
        return self._connection

    @property
    def server(self) -> FakeServer:
        """The virtual host's server object (read-only)."""
        return self._server

    def get_options(self) -> FakeTable:
        """Return the PythonOptions in effect for this request."""
        return self._options

    def is_https(self) -> int:
        """Return 0: these requests come over plain TCP."""
        return 0

    def log_error(self, message: str, level: int = APLOG_ERR) -> None:
        """Record one error-log line."""
        self.logged.append((message, level))

    def write(self, data: bytes, flush: int = 1) -> None:
        """Record response body data, or raise ``write_error``."""
        if self.write_error is not None:
            raise self.write_error
        self.body.append(bytes(data))

    def flush(self) -> None:
        """Count the flush (the response head goes out), or raise ``flush_error``."""
        if self.flush_error is not None:
            raise self.flush_error
        self.flushes += 1


def install(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Make ``from mod_python import apache`` import a fake for the test's duration.

    Returns:
        The fake ``apache`` module: mod_python's constants, ``main_server``,
        and ``log_error``, which records ``(message, level, server)`` in
        ``apache.logged``.
    """
    apache = types.ModuleType("mod_python.apache")
    values: dict[str, Any] = {
        "OK": OK,
        "DONE": DONE,
        "DECLINED": DECLINED,
        "HTTP_INTERNAL_SERVER_ERROR": HTTP_INTERNAL_SERVER_ERROR,
        "APLOG_CRIT": APLOG_CRIT,
        "APLOG_ERR": APLOG_ERR,
        "APLOG_WARNING": APLOG_WARNING,
        "APLOG_NOTICE": APLOG_NOTICE,
        "APLOG_INFO": APLOG_INFO,
        "APLOG_DEBUG": APLOG_DEBUG,
        "AP_CONN_UNKNOWN": AP_CONN_UNKNOWN,
        "AP_CONN_CLOSE": AP_CONN_CLOSE,
        "main_server": FakeServer(),
    }
    for name, value in values.items():
        setattr(apache, name, value)
    logged: list[tuple[str, int, Any]] = []

    def log_error(message: str, level: int = APLOG_ERR, server: Any = None) -> None:
        logged.append((message, level, server))

    apache.log_error = log_error  # type: ignore[attr-defined]
    apache.logged = logged  # type: ignore[attr-defined]
    package = types.ModuleType("mod_python")
    package.apache = apache  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mod_python", package)
    monkeypatch.setitem(sys.modules, "mod_python.apache", apache)
    return apache
