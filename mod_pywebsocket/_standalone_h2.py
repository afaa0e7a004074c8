"""HTTP/2 for the standalone server (``--http2``): RFC 8441 WebSockets, files and CGI over h2 and h2c.

Layer 3 (entry point, beside ``standalone``). Needs the ``h2`` package
(``pip install mod_pywebsocket[http2]``); ``available()`` says whether it
is there. ``standalone`` hands a connection here when TLS negotiated ALPN
``h2``, or when a cleartext one opens with the HTTP/2 preface (prior
knowledge); every other connection stays HTTP/1.1.

How this works:

- One thread per TCP connection (the one ``standalone`` started) is the
  only reader of the socket. It feeds the bytes to ``h2.H2Connection`` and
  handles the events: a new request starts a thread of its own
  (``_Stream``); DATA goes to that stream's buffer; END_STREAM and
  RST_STREAM end it; WINDOW_UPDATE and SETTINGS wake the writers.
- All use of the ``H2Connection`` happens under ``_Connection._state`` (a
  condition); what it has to send is taken and written under
  ``_send_lock``, which is always taken first, so bytes leave in order.
- An extended CONNECT with ``:protocol`` websocket runs the RFC 8441
  handshake (``handshake._http2``) and the handler with the usual request
  object; its ``connection`` reads the stream's DATA and acknowledges it
  (WINDOW_UPDATE) as the handler reads, and writes as the peer's windows
  allow. A reset stream, a GOAWAY or a lost connection ends the handler's
  reads and writes with ConnectionTerminatedException / OSError.
- Any other request is put into HTTP/1.0 form and answered by
  ``standalone``'s own request handler (files, directory index, CGI,
  errors), whose HTTP/1.x answer becomes HEADERS and DATA here.
- A connection without streams is dropped after ``--handshake-timeout``
  seconds, as an HTTP/1.1 connection that sends no request is.
- Limits: ``SETTINGS_MAX_CONCURRENT_STREAMS`` (``_MAX_STREAMS``),
  ``SETTINGS_MAX_HEADER_LIST_SIZE`` = ``--max-head-size``, at most
  ``--max-header-count`` fields (431), ``--max-message-size`` as on
  HTTP/1.1, request bodies up to ``--max-request-body`` (413); the
  streams of all connections together at most ``--max-connections``
  (``_Budget``; beyond: RST_STREAM REFUSED_STREAM).
"""

from __future__ import annotations

import collections
import contextlib
import email.message
import http
import http.client
import io
import logging
import socket
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from mod_pywebsocket import _connection, _standalone_http, common, handshake
from mod_pywebsocket.handshake import _http2

if TYPE_CHECKING:
    from mod_pywebsocket import standalone

try:
    import h2.config
    import h2.connection
    import h2.errors
    import h2.events
    import h2.exceptions
    import h2.settings
except ImportError:  # the optional dependency; available() says so
    h2 = None  # type: ignore[assignment]

__all__ = ["PREFACE", "available", "serve", "speaks_http2"]

_LOGGER = logging.getLogger(__name__)

# RFC 9113 §3.4: the client connection preface starts with these 24 octets.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8).
_ENABLE_CONNECT_PROTOCOL = 0x8
_MAX_STREAMS = 100
# Each stream may have this much unread data in flight; the connection all of them.
_STREAM_WINDOW = 1 << 20
_CONNECTION_WINDOW = 16 << 20
_RECEIVE_SIZE = 65536
# Read bytes are acknowledged (WINDOW_UPDATE) once this many have gathered.
_ACK_BATCH = 64 * 1024
# The most DATA one send puts on the wire.
_SEND_BATCH = 256 * 1024
# Answers of the HTTP/1.x handler that have no place in HTTP/2 (RFC 9113 §8.2.2).
_CONNECTION_SPECIFIC = _http2._CONNECTION_SPECIFIC


def available() -> bool:
    """Return True if the ``h2`` package is installed."""
    return h2 is not None


def speaks_http2(conn: Any, use_tls: bool, timeout: float) -> bool:
    """Return True if the client on ``conn`` chose HTTP/2.

    With TLS, ALPN says so; in cleartext the connection must open with the
    preface (prior knowledge; HTTP/1.1 request lines never start with it).

    Args:
        conn: the connected socket, TLS handshake done.
        use_tls: whether it is a TLS socket.
        timeout: how long to wait for the first bytes, in seconds.
    """
    if use_tls:
        return bool(conn.selected_alpn_protocol() == "h2")
    deadline = time.monotonic() + timeout
    while True:
        try:
            start = conn.recv(len(PREFACE), socket.MSG_PEEK)
        except OSError:
            return False
        if not start or not PREFACE.startswith(start):
            return False
        if len(start) == len(PREFACE):
            return True
        # A part of the preface came: wait for the rest (or for the deadline).
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.01, left))


def serve(server: standalone.WebSocketServer, conn: Any, client_address: Any) -> None:
    """Serve one HTTP/2 connection until it ends; called in the connection's thread."""
    _Connection(server, conn, client_address).run()


def _text(value: str | bytes) -> str:
    """Return a header name or value as str (h2 gives str, as configured; bytes only in theory)."""
    return value if isinstance(value, str) else value.decode("latin-1")


class _Budget:
    """How many more HTTP/2 streams the server may run at once: ``--max-connections``, less the running ones.

    HTTP/1.1 connections are counted apart, by ``standalone``; each HTTP/2
    connection counts there too, and its streams here.
    """

    def __init__(self, limit: int) -> None:
        self._left = limit
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._left += 1


_budgets: weakref.WeakKeyDictionary[Any, _Budget] = weakref.WeakKeyDictionary()
_budgets_lock = threading.Lock()


def _budget_of(server: standalone.WebSocketServer) -> _Budget:
    with _budgets_lock:
        budget = _budgets.get(server)
        if budget is None:
            budget = _budgets[server] = _Budget(server.options.max_connections)
        return budget


class _Connection:
    """One HTTP/2 connection: the socket, the ``H2Connection`` and its streams."""

    def __init__(self, server: standalone.WebSocketServer, sock: Any, client_address: Any) -> None:
        self.server = server
        self.socket = sock
        self.client_address = client_address
        self.use_tls = server.ssl_context is not None
        options = server.options
        config = h2.config.H2Configuration(client_side=False, header_encoding="latin-1")
        self._h2 = h2.connection.H2Connection(config)
        self._h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: _MAX_STREAMS,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: options.max_head_size,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _STREAM_WINDOW,
                h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1,
            },
        )
        # Settings given as initial values take effect at once, but h2 gave
        # its HPACK decoder the limit before we set it.
        self._h2.decoder.max_header_list_size = options.max_head_size
        self._state = threading.Condition()
        self._send_lock = threading.Lock()
        self._streams: dict[int, _Stream] = {}
        self._budget = _budget_of(server)
        self.ended = False

    # The reading thread.

    def run(self) -> None:
        with self._state:
            self._h2.initiate_connection()
            self._h2.increment_flow_control_window(_CONNECTION_WINDOW - 65535)
        try:
            self.flush()
            # Streams may be idle as long as they like (idle WebSockets are
            # normal); a connection without streams gets --handshake-timeout
            # to open one, as an HTTP/1.1 connection has for its next request.
            self.server.deadlines.disarm(self.socket)
            self.socket.settimeout(None)
            with self._state:
                if not self._streams:
                    self._arm_idle()
            self._read_loop()
        except OSError as exc:
            _LOGGER.info("%s - HTTP/2 connection lost: %s", _standalone_http.peer(self.client_address), exc)
        finally:
            self._end_all()

    def _read_loop(self) -> None:
        while True:
            data = self.socket.recv(_RECEIVE_SIZE)
            if not data:
                _LOGGER.debug("%s - HTTP/2 connection closed by the client", _standalone_http.peer(self.client_address))
                return
            try:
                with self._state:
                    events = self._h2.receive_data(data)
            except h2.exceptions.ProtocolError as exc:
                # h2 has queued a GOAWAY with the error code: send it, then close.
                _LOGGER.info("%s - HTTP/2 connection error: %s", _standalone_http.peer(self.client_address), exc)
                self.flush()
                return
            for event in events:
                if self._handle(event):
                    self.flush()
                    return
            self.flush()

    def _handle(self, event: Any) -> bool:
        """Act on one event; return True when the connection is over."""
        if isinstance(event, h2.events.RequestReceived):
            self._start_stream(
                event.stream_id, [(_text(n), _text(v)) for n, v in event.headers], event.stream_ended is not None
            )
        elif isinstance(event, h2.events.DataReceived):
            stream = self._streams.get(event.stream_id)
            padding = event.flow_controlled_length - len(event.data)
            with self._state:
                if stream is None:
                    self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif padding:
                    self._h2.acknowledge_received_data(padding, event.stream_id)
            if stream is not None:
                stream.feed(event.data)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                stream.feed_eof()
        elif isinstance(event, h2.events.StreamReset):
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                _LOGGER.info(
                    "%s - stream %d reset by the client (error code %s)",
                    _standalone_http.peer(self.client_address),
                    event.stream_id,
                    event.error_code,
                )
                stream.gone()
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            with self._state:
                self._state.notify_all()
        elif isinstance(event, h2.events.ConnectionTerminated):
            _LOGGER.info(
                "%s - GOAWAY from the client (error code %s)",
                _standalone_http.peer(self.client_address),
                event.error_code,
            )
            return True
        return False

    def _start_stream(self, stream_id: int, headers: list[tuple[str, str]], ended: bool) -> None:
        if not self._budget.take():
            # Each stream has a thread, as each HTTP/1.1 connection has: the
            # server-wide --max-connections bounds them together. RFC 9113
            # §8.7: REFUSED_STREAM tells the client it may retry.
            _LOGGER.warning(
                "%s - too many streams and connections; stream %d refused",
                _standalone_http.peer(self.client_address),
                stream_id,
            )
            self.reset(stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
            return
        stream = _Stream(self, stream_id, headers)
        if ended:
            stream.feed_eof()
        with self._state:
            self._streams[stream_id] = stream
            self.server.deadlines.disarm(self.socket)
        thread = threading.Thread(
            target=stream.run, name=f"stream {stream_id} of {_standalone_http.peer(self.client_address)}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError as exc:  # no more threads
            _LOGGER.error("%s - cannot start a thread: %s", _standalone_http.peer(self.client_address), exc)
            self.forget(stream_id)
            self.reset(stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)

    def _end_all(self) -> None:
        with self._state:
            self.ended = True
            streams = list(self._streams.values())
            self._state.notify_all()
        for stream in streams:
            stream.gone()

    def forget(self, stream_id: int) -> None:
        """Drop a stream whose thread has finished, and give its place back."""
        with self._state:
            if self._streams.pop(stream_id, None) is None:
                return
            if not self._streams and not self.ended:
                self._arm_idle()
        self._budget.give_back()

    def _arm_idle(self) -> None:
        self.server.deadlines.arm(
            self.socket,
            self.client_address,
            self.server.options.handshake_timeout,
            "stream on the idle HTTP/2 connection",
        )

    # Sending, from any thread.

    def flush(self) -> None:
        """Send what the ``H2Connection`` has queued."""
        with self._send_lock:
            with self._state:
                data = self._h2.data_to_send()
            if data:
                self.socket.sendall(data)

    def call(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Call an ``H2Connection`` method that queues frames, then send them.

        Raises:
            ConnectionResetError: the stream or the connection is closed.
        """
        with self._state:
            if self.ended:
                raise ConnectionResetError("the HTTP/2 connection has ended")
            try:
                getattr(self._h2, method)(*args, **kwargs)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError) as exc:
                raise ConnectionResetError(f"cannot {method} on stream: {exc}") from exc
        self.flush()

    def reset(self, stream_id: int, code: int) -> None:
        """Reset a stream (no error if it is closed already)."""
        with contextlib.suppress(OSError):
            self.call("reset_stream", stream_id, code)

    def send_data(self, stream_id: int, data: bytes | memoryview, stream: _Stream, end: bool = False) -> None:
        """Send ``data`` on a stream as the flow-control windows allow (blocking).

        Raises:
            ConnectionResetError: the stream was reset or the connection ended.
        """
        view = memoryview(data)
        while True:
            with self._state:
                while True:
                    if self.ended or stream.is_gone:
                        raise ConnectionResetError("the stream was reset or the HTTP/2 connection ended")
                    try:
                        window = self._h2.local_flow_control_window(stream_id)
                    except h2.exceptions.StreamClosedError as exc:
                        raise ConnectionResetError(f"stream {stream_id} is closed") from exc
                    if window > 0 or not view:
                        break
                    self._state.wait()
                # As many DATA frames as the window allows (up to _SEND_BATCH
                # bytes) go out in one send.
                batch = min(len(view), window, _SEND_BATCH)
                frame_size = self._h2.max_outbound_frame_size
                try:
                    for start in range(0, max(batch, 1), frame_size):
                        piece = view[start : min(batch, start + frame_size)]
                        last = start + len(piece) == len(view)
                        self._h2.send_data(stream_id, piece.tobytes(), end_stream=end and last)
                except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError) as exc:
                    raise ConnectionResetError(f"cannot send on stream {stream_id}: {exc}") from exc
            self.flush()
            view = view[batch:]
            if not view:
                return

    def acknowledge(self, stream_id: int, size: int) -> None:
        """Open the windows again by ``size`` bytes the handler has read."""
        with self._state:
            if self.ended:
                return
            with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                self._h2.acknowledge_received_data(size, stream_id)
        with contextlib.suppress(OSError):
            self.flush()


class _StreamConnection(_connection.BufferedConnection):
    """The ``connection`` of a request on an HTTP/2 stream: DATA frames in, DATA frames out.

    ``read`` blocks for the stream's DATA and acknowledges what it takes, so
    the client can send as fast as the handler reads and no faster; EOF is
    the client's END_STREAM; a reset stream raises ``ConnectionResetError``.
    ``socket`` is the HTTP/2 connection's (shutdown drops every stream).
    """

    def __init__(self, stream: _Stream) -> None:
        super().__init__()
        self._stream = stream
        self.socket = stream.owner.socket
        self.remote_addr = stream.owner.client_address

    @property
    def local_addr(self) -> Any:
        """The server's address."""
        return self.socket.getsockname()

    def get_remote_addr(self) -> Any:
        """Return the client's address."""
        return self.remote_addr

    def get_local_addr(self) -> Any:
        """Return the server's address."""
        return self.local_addr

    def _receive_into(self, view: _connection.ReceiveBuffer) -> int:
        data = self._stream.take(len(view))
        view[: len(data)] = data
        return len(data)

    def _send(self, data: bytes) -> None:
        self._stream.send(data)

    def flush(self) -> None:
        """Nothing is held back: writes go out at once."""


class _Stream:
    """One HTTP/2 stream and the thread that answers it."""

    def __init__(self, owner: _Connection, stream_id: int, headers: list[tuple[str, str]]) -> None:
        self.owner = owner
        self.stream_id = stream_id
        self.pseudo: dict[str, str] = {}
        self.fields: list[tuple[str, str]] = []
        for name, value in headers:
            if name.startswith(":"):
                self.pseudo[name] = value
            else:
                self.fields.append((name, value))
        # Received DATA not read yet: chunks, the first one read from _offset on.
        self._chunks: collections.deque[bytes] = collections.deque()
        self._offset = 0
        self._unacknowledged = 0  # bytes read but not acknowledged yet (only the stream's thread uses it)
        self._eof = False
        self.is_gone = False
        self._ready = threading.Condition()
        self.connection = _StreamConnection(self)
        self.response_started = False

    # Fed by the reading thread.

    def feed(self, data: bytes) -> None:
        with self._ready:
            self._chunks.append(data)
            self._ready.notify_all()

    def feed_eof(self) -> None:
        with self._ready:
            self._eof = True
            self._ready.notify_all()

    def gone(self) -> None:
        with self._ready:
            self.is_gone = True
            self._ready.notify_all()
        with self.owner._state:
            self.owner._state.notify_all()

    # Used by the stream's thread.

    def take(self, limit: int) -> bytes:
        """Return 1 to ``limit`` received bytes (blocking), b'' at END_STREAM.

        Raises:
            ConnectionResetError: the stream was reset or the connection ended.
        """
        with self._ready:
            while not self._chunks and not self._eof and not self.is_gone:
                self._ready.wait()
            if self._chunks:
                first = self._chunks[0]
                data = first[self._offset : self._offset + limit]
                self._offset += len(data)
                if self._offset == len(first):
                    self._chunks.popleft()
                    self._offset = 0
            elif self._eof:
                return b""
            else:
                raise ConnectionResetError("the stream was reset or the HTTP/2 connection ended")
        # Acknowledged in batches: the client's window (1 MiB) stays open far
        # beyond what is held back here.
        self._unacknowledged += len(data)
        if self._unacknowledged >= _ACK_BATCH:
            self.owner.acknowledge(self.stream_id, self._unacknowledged)
            self._unacknowledged = 0
        return data

    def send(self, data: bytes) -> None:
        self.owner.send_data(self.stream_id, data, self)

    def send_headers(self, fields: list[tuple[str, str]], end: bool = False) -> None:
        self.response_started = True
        self.owner.call("send_headers", self.stream_id, fields, end_stream=end)

    def end(self) -> None:
        """Send END_STREAM (our half of the stream is done)."""
        with contextlib.suppress(OSError):
            self.owner.call("end_stream", self.stream_id)

    def read_body(self, limit: int) -> bytes | None:
        """Read the request body up to END_STREAM; None if it is longer than ``limit``."""
        body = bytearray()
        while True:
            data = self.take(_RECEIVE_SIZE)
            if not data:
                return bytes(body)
            body += data
            if len(body) > limit:
                return None

    def run(self) -> None:
        peer = _standalone_http.peer(self.owner.client_address)
        try:
            if len(self.fields) > self.owner.server.options.max_header_count:
                self._send_error(
                    http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    f"more than {self.owner.server.options.max_header_count} header fields",
                )
            elif self.pseudo.get(":method") == "CONNECT":
                self._run_websocket()
            else:
                self._run_http()
        except OSError as exc:
            _LOGGER.info("%s - stream %d ended: %s", peer, self.stream_id, exc)
        except Exception:  # our own bug: log it, keep serving the other streams
            _LOGGER.error("%s - error while serving stream %d", peer, self.stream_id, exc_info=True)
            if not self.response_started:
                self.owner.reset(self.stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
        finally:
            self.owner.forget(self.stream_id)

    def _send_error(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        body = (message + "\n").encode("utf-8")
        fields = [(":status", str(int(status)))]
        fields += [(name.lower(), value) for name, value in headers]
        fields += [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body)))]
        self.send_headers(fields)
        self.owner.send_data(self.stream_id, body, self, end=True)

    # WebSockets (RFC 8441).

    def _request(self) -> _Http2Request:
        return _Http2Request(self)

    def _run_websocket(self) -> None:
        server = self.owner.server
        request: Any = self._request()
        path = self.pseudo.get(":path", "")
        peer = _standalone_http.peer(self.owner.client_address)
        if not self._authorized():
            self._send_error(
                http.HTTPStatus.UNAUTHORIZED,
                "authentication required",
                (("www-authenticate", 'Basic realm="mod_pywebsocket"'),),
            )
            return
        try:
            _http2.Handshaker(request, server.dispatcher).do_handshake()
        except Exception as exc:  # each failure has its answer in handshake.failure_reply
            reply = handshake.failure_reply(exc)
            _LOGGER.log(
                reply.log_level,
                "%s - opening handshake of %s over HTTP/2 failed: %s",
                peer,
                path,
                exc,
                exc_info=reply.log_level >= logging.ERROR,
            )
            if reply.status is None:
                self.owner.reset(self.stream_id, h2.errors.ErrorCodes.CANCEL)
            else:
                message = str(exc) if isinstance(exc, common.WebSocketException) else "internal server error"
                self._send_error(reply.status, message, reply.headers)
            return
        self.send_headers(request.headers_out)
        _LOGGER.info('%s - "CONNECT %s HTTP/2" 200 (websocket, stream %d)', peer, path, self.stream_id)
        started = time.monotonic()
        try:
            server.run_handler(request)
        finally:
            # RFC 8441 §5.2: END_STREAM is the TCP FIN of the WebSocket.
            self.end()
            _standalone_http.log_websocket_end(
                request, self.owner.client_address, path, time.monotonic() - started, " over HTTP/2"
            )

    def _authorized(self) -> bool:
        options = self.owner.server.options
        if not options.basic_auth:
            return True
        value = next((v for n, v in self.fields if n == "authorization"), None)
        return _standalone_http.basic_auth_matches(value, options.basic_auth_credential)

    # Everything else: standalone's HTTP/1.x handler, in HTTP/1.0 form.

    def _run_http(self) -> None:
        options = self.owner.server.options
        if ":protocol" in self.pseudo:
            # RFC 8441 §4: :protocol belongs to CONNECT only (h2 checks this too).
            self.owner.reset(self.stream_id, h2.errors.ErrorCodes.PROTOCOL_ERROR)
            return
        body = self.read_body(options.max_request_body)
        if body is None:
            self._send_error(
                http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body over {options.max_request_body} bytes"
            )
            self.owner.reset(self.stream_id, h2.errors.ErrorCodes.NO_ERROR)
            return
        head = self._http1_head(len(body))
        writer = _ResponseWriter(self)
        _in_memory_handler_class(self.owner.server.RequestHandlerClass)(
            (head + body, writer), self.owner.client_address, self.owner.server
        )
        writer.finish()

    def _http1_head(self, body_length: int) -> bytes:
        method = self.pseudo.get(":method", "GET")
        path = self.pseudo.get(":path", "/")
        lines = [f"{method} {path} HTTP/1.0"]
        authority = self.pseudo.get(":authority")
        if authority is not None and not any(name == "host" for name, _ in self.fields):
            lines.append(f"Host: {authority}")
        cookies = [value for name, value in self.fields if name == "cookie"]
        for name, value in self.fields:
            if name in ("cookie", "content-length") or name in _CONNECTION_SPECIFIC:
                continue
            lines.append(f"{name}: {value}")
        if cookies:
            # RFC 9113 §8.2.3: split cookie fields are joined with "; " for HTTP/1.1.
            lines.append("cookie: " + "; ".join(cookies))
        if body_length or method == "POST":
            lines.append(f"Content-Length: {body_length}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Http2Request(_standalone_http.StandaloneRequestBase):
    """The request object of a WebSocket over HTTP/2 (SPEC §3), as ``_StandaloneRequest`` is over HTTP/1.1.

    ``headers_in`` holds the request's header fields (lowercase names;
    ``Host`` from ``:authority`` when the client sent none),
    ``pseudo_headers`` its pseudo-header fields, ``method`` is CONNECT and
    ``protocol`` HTTP/2.
    """

    def __init__(self, stream: _Stream) -> None:
        self._stream = stream
        self.connection = stream.connection
        self.pseudo_headers = dict(stream.pseudo)
        self.uri = self.unparsed_uri = stream.pseudo.get(":path", "")
        self.method = stream.pseudo.get(":method", "")
        self.protocol = "HTTP/2"
        headers = _standalone_http.RequestHeaders()
        for name, value in stream.fields:
            headers.set_raw(name, value)
        authority = stream.pseudo.get(":authority")
        if authority is not None and "host" not in headers:
            headers["host"] = authority
        self.headers_in: email.message.Message = headers
        self.extra_headers: list[tuple[str, str]] = []
        self.max_message_size: int = stream.owner.server.options.max_message_size
        # This stream's account of the --max-incoming-memory budget (closed when the WebSocket ends).
        self.message_budget = stream.owner.server.message_budget.account()
        self._use_tls: bool = stream.owner.use_tls
        self.raw_request_lines: list[bytes] | None = None
        self.status: int | None = None
        self.headers_out: list[tuple[str, str]] = []


class _ResponseWriter:
    """The ``wfile`` of the HTTP/1.x handler: its answer's head becomes HEADERS, the rest DATA."""

    def __init__(self, stream: _Stream) -> None:
        self.stream = stream
        self._stream = stream
        self._head = bytearray()
        self._headers_sent = False
        self._head_only = stream.pseudo.get(":method") == "HEAD"

    def write(self, data: bytes) -> int:
        if self._headers_sent:
            if data and not self._head_only:
                self._stream.send(bytes(data))
            return len(data)
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end >= 0:
            rest = bytes(self._head[end + 4 :])
            self._send_head(bytes(self._head[:end]))
            if rest and not self._head_only:
                self._stream.send(rest)
        return len(data)

    def write_parts(self, parts: tuple[bytes, ...]) -> None:
        for part in parts:
            self.write(part)

    def flush(self) -> None:
        pass

    def _send_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)[1]
        fields = [(":status", status)]
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name and name not in _CONNECTION_SPECIFIC:
                fields.append((name, value.strip()))
        self._headers_sent = True
        self._stream.send_headers(fields)

    def finish(self) -> None:
        """End the stream (a handler that wrote nothing gets a 500)."""
        if not self._headers_sent:
            self._stream._send_error(http.HTTPStatus.INTERNAL_SERVER_ERROR, "no answer")
            return
        self._stream.end()


class _MemorySocket:
    """Stands for the socket of ``standalone``'s handler; nothing but its identity is used (deadlines)."""

    def setsockopt(self, *args: Any) -> None:
        """Do nothing (the handler sets TCP_NODELAY)."""


_handler_classes: dict[Any, Any] = {}
_handler_classes_lock = threading.Lock()


def _in_memory_handler_class(base: Any) -> Any:
    """Return a subclass of the server's request handler class that reads and writes memory.

    Its ``request`` is ``(request bytes, _ResponseWriter)``; one subclass is
    made per handler class (``standalone.WebSocketRequestHandler``, or an
    embedder's own).
    """
    with _handler_classes_lock:
        made = _handler_classes.get(base)
        if made is None:

            class _InMemoryHandler(base):  # type: ignore[misc]
                def setup(self) -> None:
                    request_bytes, writer = self.request
                    self.connection = _MemorySocket()
                    self.rfile = _BytesConnection(request_bytes)
                    self.wfile = writer

                def finish(self) -> None:
                    pass

                def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                    # The request line says HTTP/1.0 (the form it was given in): log what the client sent.
                    if _LOGGER.isEnabledFor(logging.INFO):
                        _LOGGER.info(
                            '%s - "%s %s HTTP/2" %s %s (stream %d)',
                            _standalone_http.peer(self.client_address),
                            self.command,
                            self.path,
                            int(code) if isinstance(code, http.HTTPStatus) else code,
                            size,
                            self.request[1].stream.stream_id,
                        )

            made = _handler_classes[base] = _InMemoryHandler
        return made


class _BytesConnection(_connection.BufferedConnection):
    """A ``BufferedConnection`` over bytes already received."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._source = io.BytesIO(data)

    def _receive_into(self, view: _connection.ReceiveBuffer) -> int:
        chunk = self._source.read(len(view))
        view[: len(chunk)] = chunk
        return len(chunk)

    def _send(self, data: bytes) -> None:
        raise OSError("this connection is read-only")
