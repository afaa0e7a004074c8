"""The mod_python entry point: WebSocket endpoints inside Apache httpd (layer 3).

Configure it with::

    PythonPath "sys.path+['/path/to/the/directory/holding/mod_pywebsocket']"
    PythonOption mod_pywebsocket.handler_root /websock_handlers
    PythonHeaderParserHandler mod_pywebsocket.headerparserhandler

How this works: Apache calls `headerparserhandler` for every request, in the
header parser phase. A URL with no ``*_wsh.py`` handler is DECLINED, so Apache
serves it as usual. Otherwise the opening handshake runs (it writes the 101
response straight to the connection), then the handler's
``web_socket_transfer_data`` runs on the hijacked connection in this Apache
child (or thread), and the function returns DONE with Apache's own response
suppressed. The `Dispatcher` and the logging bridge are set up on the first
request, under a lock; importing this module has no side effects and works
without mod_python.

Each mod_python ``connection.write`` flushes, so each message sent is one
trip through Apache's output filters and one TCP send. With ``PythonOption
mod_pywebsocket.hold_replies On``, once the handshake is done, a message
sent while more input is already buffered waits, and what waited leaves in
one write before the next read that would block (or at 64 KiB, or when the
handler returns): the replies to pipelined messages leave together. It is
off by default because a reply also waits while a handler with unread input
does something other than read (see `_ApacheConnection`).

Over HTTP/2 (RFC 8441, mod_http2 with ``H2WebSockets on``, threaded MPM):
mod_http2 turns an extended CONNECT stream into an internal ``GET`` with
``Upgrade: websocket``, ``Connection: Upgrade``, a ``Sec-WebSocket-Key`` of
its own and ``protocol`` ``HTTP/2.0``, on a secondary connection whose
``read``/``write`` carry the stream's DATA. It wants the 101 as the request's
status and headers, not as bytes, and turns a 101 with the right
``Sec-WebSocket-Accept`` into the stream's ``200``. So for such a request the
handshake sees ``protocol`` ``HTTP/1.1``, and the first ``write`` (the
handshake's response head) is parsed into ``request.status`` and
``headers_out`` and flushed through Apache's output filters; the frames that
follow go out through the request's ``write``, which, unlike the
connection's, releases the GIL while a stream waits for its client's
flow-control window. Reads come from the connection as on HTTP/1.1.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from mod_pywebsocket import _masking, common, dispatch, handshake, http_header_util
from mod_pywebsocket._connection import BufferedConnection, ConnectionTerminatedException, ReceiveBuffer

__all__ = [
    "ApacheLogHandler",
    "ConfigurationError",
    "headerparserhandler",
]

_LOGGER = logging.getLogger(__name__)

# PythonOption names read from the Apache configuration.
OPTION_HANDLER_ROOT = "mod_pywebsocket.handler_root"
OPTION_HANDLER_SCAN = "mod_pywebsocket.handler_scan"
OPTION_ALLOW_DRAFT75 = "mod_pywebsocket.allow_draft75"
OPTION_ALLOW_HANDLERS_OUTSIDE_ROOT_DIR = "mod_pywebsocket.allow_handlers_outside_root_dir"
OPTION_HOLD_REPLIES = "mod_pywebsocket.hold_replies"

_TRUE_WORDS = ("on", "yes")
_FALSE_WORDS = ("off", "no")

# mod_python's connection.read(n) allocates n bytes before it reads and may
# return fewer; each call also takes ~60 bytes of the connection's memory pool
# until the connection closes. So read in large chunks, keep the surplus, and
# never ask for more than _MAX_READ_SIZE in one call.
_READ_SIZE = 64 * 1024
_MAX_READ_SIZE = 1024 * 1024

# With hold_replies, held bytes go out once they reach this many, even while
# more input waits to be read.
_HOLD_LIMIT = 64 * 1024

# Python logging level -> Apache log level (APLOG_* values from syslog.h).
_APLOG_CRIT = 2
_APLOG_ERR = 3
_APLOG_WARNING = 4
_APLOG_NOTICE = 5
_APLOG_INFO = 6
_APLOG_DEBUG = 7

_lock = threading.Lock()
# One Dispatcher per distinct (handler_root, handler_scan, allow_outside) in
# this process: built on first use, then shared by every connection.
_dispatchers: dict[_DispatcherKey, dispatch.Dispatcher] = {}
_log_handler: ApacheLogHandler | None = None
# The mod_python request this thread is serving, for ApacheLogHandler.
_current = threading.local()


class ConfigurationError(common.WebSocketException):
    """A PythonOption for mod_pywebsocket is missing or has a bad value (500)."""

    status = common.HTTP_STATUS_INTERNAL_SERVER_ERROR


def _apache() -> Any:
    """Import mod_python's apache module (only present inside httpd)."""
    # Imported here, not at the top: this module must import without mod_python.
    from mod_python import apache  # type: ignore[import-not-found]  # only inside httpd

    return apache


# -- logging -----------------------------------------------------------------


def _aplog_level(levelno: int) -> int:
    """Map a Python logging level to the Apache log level that matches it."""
    if levelno >= logging.CRITICAL:
        return _APLOG_CRIT
    if levelno >= logging.ERROR:
        return _APLOG_ERR
    if levelno >= logging.WARNING:
        return _APLOG_WARNING
    if levelno >= logging.INFO:
        return _APLOG_INFO
    return _APLOG_DEBUG


def _python_level(aplog_level: int) -> int:
    """Map Apache's LogLevel to the lowest Python level it would print."""
    if aplog_level <= _APLOG_CRIT:
        return logging.CRITICAL
    if aplog_level == _APLOG_ERR:
        return logging.ERROR
    if aplog_level in (_APLOG_WARNING, _APLOG_NOTICE):
        return logging.WARNING
    if aplog_level == _APLOG_INFO:
        return logging.INFO
    return logging.DEBUG


class ApacheLogHandler(logging.Handler):
    """Send Python log records to Apache's error log at the matching level.

    A record logged while this thread serves a request goes through that
    request's ``log_error`` (Apache adds the client's address, and uses the
    virtual host's log); any other goes to the main server's log. mod_python's
    ``apache.log_error`` without a server would drop everything below
    APLOG_NOTICE. Apache escapes line breaks in one message, so each line of a
    record (a traceback, say) is logged on its own.
    """

    def __init__(self, request: Any = None, apache: Any = None) -> None:
        """Create the handler.

        Args:
            request: a mod_python request: every record goes through its
                ``log_error(message, level)`` (0.7's form); None picks the
                request being served, as said above.
            apache: ``mod_python.apache`` or a stand-in with ``log_error``
                and ``main_server``; None imports it when it is needed.
        """
        super().__init__()
        self._request = request
        self._apache = apache if apache is not None or request is not None else _apache()
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record to the error log."""
        try:
            level = _aplog_level(record.levelno)
            request = self._request if self._request is not None else getattr(_current, "request", None)
            for line in self.format(record).splitlines():
                if request is not None:
                    request.log_error(line, level)
                else:
                    self._apache.log_error(line, level, self._apache.main_server)
        except Exception:  # Logging must never break the connection.
            self.handleError(record)


def _install_log_handler(request: Any) -> None:
    """Forward Python logging to Apache and log which masking runs, once per interpreter (lock held)."""
    global _log_handler
    if _log_handler is not None:
        return
    handler = ApacheLogHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    # Let records through that Apache's LogLevel would print, and no more:
    # mod_python drops the rest anyway, after they cost formatting.
    aplog_level = getattr(getattr(request, "server", None), "loglevel", _APLOG_WARNING)
    if isinstance(aplog_level, int):
        root.setLevel(_python_level(aplog_level))
    _log_handler = handler
    _masking.log_implementation()


# -- options and the dispatcher ---------------------------------------------


def parse_bool_option(name: str, value: str | None, default: bool) -> bool:
    """Read an On/Off PythonOption.

    Args:
        name: the option's name, for the error message.
        value: its value as configured, or None when absent.
        default: the result when the option is absent.

    Returns:
        True for On/Yes, False for Off/No (any case).

    Raises:
        ConfigurationError: any other value.
    """
    if value is None:
        return default
    word = value.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ConfigurationError(f"PythonOption {name} must be On or Off (Yes/No also work), not {value!r}")


_DispatcherKey = tuple[str, "str | None", bool]


def _dispatcher_key(options: Any) -> _DispatcherKey:
    """Read the options that define a Dispatcher.

    Returns:
        ``(handler_root, handler_scan, allow_handlers_outside_root_dir)``.

    Raises:
        ConfigurationError: handler_root is missing or an On/Off value is bad.
    """
    handler_root = options.get(OPTION_HANDLER_ROOT)
    if not handler_root:
        raise ConfigurationError(
            f"PythonOption {OPTION_HANDLER_ROOT} is not set: add "
            f"'PythonOption {OPTION_HANDLER_ROOT} /path/to/handlers' next to "
            "'PythonHeaderParserHandler mod_pywebsocket.headerparserhandler'"
        )
    allow_outside = parse_bool_option(
        OPTION_ALLOW_HANDLERS_OUTSIDE_ROOT_DIR,
        options.get(OPTION_ALLOW_HANDLERS_OUTSIDE_ROOT_DIR),
        True,
    )
    return handler_root, options.get(OPTION_HANDLER_SCAN) or None, allow_outside


def _build_dispatcher(key: _DispatcherKey) -> dispatch.Dispatcher:
    """Load the handlers for key and remember the Dispatcher (lock held).

    Raises:
        ConfigurationError: the handler root is not a directory, or the
            Dispatcher refused the directories.
    """
    handler_root, handler_scan, allow_outside = key
    if not os.path.isdir(handler_root):
        raise ConfigurationError(
            f"PythonOption {OPTION_HANDLER_ROOT} is {handler_root!r}, which is not a directory"
            " (or Apache's user cannot reach it)"
        )
    try:
        dispatcher = dispatch.Dispatcher(
            handler_root,
            handler_scan,
            allow_handlers_outside_root_dir=allow_outside,
        )
    except dispatch.DispatchException as exc:
        raise ConfigurationError(
            f"cannot use handler_root {handler_root!r} / handler_scan {handler_scan!r}: {exc}"
        ) from exc
    _LOGGER.info(
        "dispatcher ready: handler_root=%s handler_scan=%s allow_handlers_outside_root_dir=%s",
        handler_root,
        handler_scan,
        allow_outside,
    )
    _dispatchers[key] = dispatcher
    return dispatcher


def _set_up(request: Any) -> tuple[dispatch.Dispatcher, bool, bool]:
    """Read this request's options; on first use, set up logging and load handlers.

    Returns:
        The Dispatcher, whether hixie-75 is allowed and whether replies are
        held (``hold_replies``).

    Raises:
        ConfigurationError: a missing handler_root, a bad option value, or a
            handler root the Dispatcher cannot use.
    """
    options = request.get_options()
    key = _dispatcher_key(options)
    allow_draft75 = parse_bool_option(OPTION_ALLOW_DRAFT75, options.get(OPTION_ALLOW_DRAFT75), False)
    hold_replies = parse_bool_option(OPTION_HOLD_REPLIES, options.get(OPTION_HOLD_REPLIES), False)
    # Every request of the site comes here: take the lock only the first time.
    dispatcher = _dispatchers.get(key)
    if dispatcher is None or _log_handler is None:
        with _lock:
            _install_log_handler(request)
            dispatcher = _dispatchers.get(key)
            if dispatcher is None:
                dispatcher = _build_dispatcher(key)
    return dispatcher, allow_draft75, hold_replies


# -- the request and connection seen by the protocol layer -------------------


class _ApacheConnection(BufferedConnection):
    """mod_python's connection as a ``BufferedConnection`` (the exact-length ``read`` the streams need).

    Its primitives: a receive is one mod_python ``read`` (64 KiB, or what
    a large read still needs up to 1 MiB), copied into the buffer; a send
    is one mod_python ``write``, which flushes on every call. EOF (None from
    mod_python) and resets become ConnectionTerminatedException. Every other
    attribute (``client_ip``, ``local_addr``, ``keepalive``...) is
    mod_python's, read and set.

    Holding replies (`start_holding`, the ``hold_replies`` option): a send
    made while more input is already buffered is kept back, and the kept
    bytes leave in one ``write`` when the next receive would block, when
    they reach 64 KiB, or at `stop_holding`. So the replies to a burst of
    pipelined messages leave together, and every write still happens on a
    thread of the handler, under the lock that orders them: no thread of
    ours ever touches mod_python's connection. The cost: a reply waits
    while the handler, with unread input buffered, does something other
    than read the stream.

    Attributes:
        bytes_written: how many bytes went through ``write`` so far (held
            bytes count when they are sent).
    """

    read_ahead = _READ_SIZE

    def __init__(self, connection: Any) -> None:
        object.__setattr__(self, "_connection", connection)
        object.__setattr__(self, "bytes_written", 0)
        # While holding: the lock ordering writes, the bytes kept back, and
        # whether a receive is under way (then nothing is kept back).
        self._hold_lock: threading.Lock | None = None
        self._held = bytearray()
        self._receiving = False
        super().__init__()

    def start_holding(self) -> None:
        """Keep sends back while more input is buffered, as said above (once, before any frame)."""
        self._hold_lock = threading.Lock()

    def stop_holding(self) -> None:
        """Send what is held now, and every later send at once.

        Raises:
            ConnectionTerminatedException: the write failed.
        """
        lock = self._hold_lock
        if lock is not None:
            with lock:
                self._hold_lock = None
                self._send_held()

    def _receive_into(self, view: ReceiveBuffer) -> int:
        lock = self._hold_lock
        if lock is None:
            return self._read_into(view)
        # object.__setattr__: the flag flips twice per receive, and this
        # class's own __setattr__ costs a Python call each time.
        with lock:
            # About to block: what was held must not wait for the peer.
            if self._held:
                self._send_held()
            object.__setattr__(self, "_receiving", True)
        try:
            return self._read_into(view)
        finally:
            object.__setattr__(self, "_receiving", False)

    def _read_into(self, view: ReceiveBuffer) -> int:
        try:
            data = self._connection.read(min(len(view), _MAX_READ_SIZE))
        except OSError as exc:
            raise ConnectionTerminatedException(f"connection read failed: {exc}") from exc
        if not data:
            return 0
        view[: len(data)] = data
        return len(data)

    def _send(self, data: bytes) -> None:
        lock = self._hold_lock
        if lock is None:
            self._send_now(data)
            return
        with lock:
            # More input waits to be read (self.buffered(), inlined: this runs for every message).
            waiting = not self._receiving and self._pos < len(self._data)
            held = self._held
            if waiting or held:
                held += data
                if not waiting or len(held) >= _HOLD_LIMIT:
                    self._send_held()
            else:
                self._send_now(data)

    def _send_held(self) -> None:
        """Send the held bytes in one write (lock held)."""
        held = self._held
        if held:
            # mod_python's write takes bytes, not a bytearray.
            data = bytes(held)
            held.clear()
            self._send_now(data)

    def _send_now(self, data: bytes) -> None:
        object.__setattr__(self, "bytes_written", self.bytes_written + len(data))
        try:
            self._connection.write(data)
        except OSError as exc:
            raise ConnectionTerminatedException(f"connection write failed: {exc}") from exc

    @property
    def remote_addr(self) -> Any:
        """The peer's ``(host, port)`` (mod_python's client_addr)."""
        return self._connection.client_addr

    @property
    def remote_ip(self) -> Any:
        """The peer's address (mod_python's client_ip, the Apache 2.4 name)."""
        return self._connection.client_ip

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # The buffer's own state stays here; the rest is mod_python's.
        if name.startswith("_") or name == "closed":
            object.__setattr__(self, name, value)
        else:
            setattr(self._connection, name, value)


def _split_response_head(data: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Split an HTTP/1.1 response into its status, header fields and the bytes after the head.

    Args:
        data: ``HTTP/1.1 NNN reason`` CRLF, header lines, CRLF, then any body.

    Returns:
        ``(status, [(name, value), ...], rest)``; names as written, values
        without surrounding whitespace, repeated names kept in order.

    Raises:
        ValueError: data does not start with a complete HTTP/1.1 response head.
    """
    head, separator, rest = data.partition(b"\r\n\r\n")
    if not separator:
        raise ValueError(f"no end of the response head in {data[:60]!r}")
    lines = head.decode("latin-1").split("\r\n")
    version, _, status_reason = lines[0].partition(" ")
    status = status_reason[:3]
    if version != "HTTP/1.1" or len(status) != 3 or not status.isdigit() or status_reason[3:4] not in ("", " "):
        raise ValueError(f"invalid status line {lines[0]!r}")
    fields = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not http_header_util.is_token(name):
            raise ValueError(f"invalid header line {line!r}")
        fields.append((name, value.strip(" \t")))
    return int(status), fields, rest


def _is_http2_websocket(request: Any) -> bool:
    """Tell whether request is mod_http2's internal Upgrade for an RFC 8441 stream.

    Only mod_http2 (``H2WebSockets on``) makes an HTTP/2 request with an
    ``Upgrade`` header: clients may not send one over HTTP/2 (RFC 9113
    §8.2.2), and mod_http2 refuses the stream when they do.
    """
    protocol = getattr(request, "protocol", "") or ""
    upgrade = request.headers_in.get(common.UPGRADE_HEADER) or ""
    return protocol.startswith("HTTP/2") and upgrade.strip().lower() == common.WEBSOCKET_UPGRADE_TYPE


class _ApacheHttp2Connection(_ApacheConnection):
    """The secondary connection of an RFC 8441 stream in mod_http2.

    Its first write is the handshake's response head: it becomes the
    request's status and ``headers_out``, flushed through the request's
    output filters, where mod_http2 checks it and answers the stream with
    200 (a 101 with the right accept value) or passes it on (an error
    status). What follows the head, and every later write, is stream data,
    written with the request's ``write``: unlike the connection's, it lets
    go of the GIL while it waits, and a stream's write waits whenever its
    client's flow-control window is used up (without this, one client that
    stops reading freezes every handler of the Apache child).
    """

    def __init__(self, request: Any) -> None:
        object.__setattr__(self, "_request", request)
        object.__setattr__(self, "_head_sent", False)
        super().__init__(request.connection)

    def _send_now(self, data: bytes) -> None:
        if self._head_sent:
            self._send_data(data)
            return
        object.__setattr__(self, "_head_sent", True)
        try:
            status, fields, rest = _split_response_head(data)
        except ValueError as exc:
            raise ConnectionTerminatedException(f"cannot answer an HTTP/2 stream with it: {exc}") from exc
        request = self._request
        request.status = status
        for name, value in fields:
            request.headers_out.add(name, value)
        object.__setattr__(self, "bytes_written", self.bytes_written + len(data) - len(rest))
        try:
            request.flush()
        except OSError as exc:
            raise ConnectionTerminatedException(f"sending the response head failed: {exc}") from exc
        if rest:
            self._send_data(rest)

    def _send_data(self, data: bytes) -> None:
        object.__setattr__(self, "bytes_written", self.bytes_written + len(data))
        try:
            self._request.write(data)
        except OSError as exc:
            raise ConnectionTerminatedException(f"stream write failed: {exc}") from exc


# Attributes that the proxy keeps itself rather than in mod_python's request.
_PROXY_ATTRIBUTES = frozenset({"_request", "connection", "protocol"})


class _ApacheRequest:
    """mod_python's request as the protocol layer and the handlers see it.

    mod_python does not let ``request.connection`` be replaced, so this proxy
    holds an `_ApacheConnection` there and delegates the rest. Attributes
    mod_python defines (``status``, ``assbackwards``, ``headers_in``...) are
    read and written on the real request; new ones (``ws_*``, whatever a
    handler adds) live on the proxy, which every handler function receives,
    so all of them see the same values. The proxy is hashable (by identity).
    """

    def __init__(self, request: Any, http2: bool = False) -> None:
        """Wrap request; with http2, as the HTTP/1.1 Upgrade of an RFC 8441 stream (``protocol`` ``HTTP/1.1``)."""
        object.__setattr__(self, "_request", request)
        if http2:
            object.__setattr__(self, "protocol", "HTTP/1.1")
            object.__setattr__(self, "connection", _ApacheHttp2Connection(request))
        else:
            object.__setattr__(self, "connection", _ApacheConnection(request.connection))

    def __getattr__(self, name: str) -> Any:
        # Only called for names the proxy does not hold itself.
        return getattr(self._request, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _PROXY_ATTRIBUTES and hasattr(type(self._request), name):
            setattr(self._request, name, value)
        else:
            object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if name in self.__dict__:
            object.__delattr__(self, name)
        else:
            delattr(self._request, name)

    def __repr__(self) -> str:
        return f"<_ApacheRequest {getattr(self._request, 'unparsed_uri', '?')!r}>"


# -- the entry point ---------------------------------------------------------


def _hijack(request: Any, apache: Any) -> None:
    """Suppress Apache's own response and close TCP after this request.

    Without assbackwards, Apache appends an HTTP/1.1 response to the bytes
    already written; without AP_CONN_CLOSE it keeps the connection for
    KeepAliveTimeout after the WebSocket closing handshake.
    """
    request.assbackwards = 1
    request.connection.keepalive = apache.AP_CONN_CLOSE


def headerparserhandler(request: Any) -> int:
    """Handle one request in Apache's header parser phase.

    Args:
        request: mod_python's request object.

    Returns:
        ``apache.DECLINED`` when no handler serves the URL; an HTTP status
        when the opening handshake fails (or the configuration is broken:
        500); ``apache.DONE`` once a WebSocket connection has been served.
    """
    apache = _apache()
    _current.request = request
    try:
        return _handle(request, apache)
    finally:
        _current.request = None


def _refuse(request: Any, apache: Any, resource: str, exc: Exception, response_started: bool) -> int:
    """Log a failed opening handshake and answer it as ``handshake.failure_reply`` says.

    Returns:
        The HTTP status for Apache to answer with (its error page, plus the
        reply's headers), or ``apache.DONE`` with Apache's response
        suppressed when no answer is due.
    """
    reply = handshake.failure_reply(exc, response_started)
    _LOGGER.log(
        reply.log_level,
        "opening handshake of %s failed: %s",
        resource,
        exc,
        exc_info=reply.log_level >= logging.ERROR,
    )
    if reply.status is None:
        _hijack(request, apache)
        return int(apache.DONE)
    for name, value in reply.headers:
        request.err_headers_out[name] = value
    return reply.status


def _handle(request: Any, apache: Any) -> int:
    """Do the work of `headerparserhandler`."""
    try:
        dispatcher, allow_draft75, hold_replies = _set_up(request)
    except ConfigurationError as exc:
        request.log_error(f"mod_pywebsocket: {exc}", apache.APLOG_ERR)
        return int(apache.HTTP_INTERNAL_SERVER_ERROR)

    target = getattr(request, "unparsed_uri", None) or request.uri
    try:
        resource = http_header_util.parse_request_target(target)
    except ValueError:
        # Not a URI this module serves (Apache itself refuses most of them).
        return int(apache.DECLINED)
    http2 = _is_http2_websocket(request)
    wrapped = _ApacheRequest(request, http2)
    try:
        if dispatcher.get_handler_suite(resource) is None:
            return int(apache.DECLINED)
        handshake.do_handshake(wrapped, dispatcher, allowDraft75=allow_draft75)
    except Exception as exc:  # each failure has its answer in handshake.failure_reply
        return _refuse(request, apache, resource, exc, response_started=wrapped.connection.bytes_written > 0)

    # From here on the 101 is out: anything escaping would make Apache write
    # an HTTP error page into the WebSocket stream.
    _hijack(request, apache)
    _LOGGER.info(
        "WebSocket connection to %s from %s opened (%s, version %s, protocol %r)",
        resource,
        request.connection.client_ip,
        "HTTP/2 stream" if http2 else "HTTP/1.1",
        getattr(wrapped, "ws_version", None),
        getattr(wrapped, "ws_protocol", None),
    )
    connection = wrapped.connection
    if hold_replies:
        connection.start_holding()
    try:
        dispatcher.transfer_data(wrapped)
    except BaseException:
        _LOGGER.exception("WebSocket connection to %s failed", resource)
    # Replies still held leave now, also after a failure (only hold_replies holds any).
    try:
        connection.stop_holding()
    except ConnectionTerminatedException as exc:
        _LOGGER.debug("WebSocket connection to %s ended before its last bytes left: %s", resource, exc)
    _LOGGER.info(
        "WebSocket connection to %s from %s closed (close code received: %s)",
        resource,
        request.connection.client_ip,
        getattr(wrapped, "ws_close_code", None),
    )
    return int(apache.DONE)
