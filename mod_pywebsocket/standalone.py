"""The standalone WebSocket server: ``python3 -m mod_pywebsocket.standalone``.

Layer 3 (entry point). One thread per connection. Requests whose resource
has a handler go through the opening handshake to the dispatcher; other
requests run CGI scripts (``-x``) or are served as files from the document
root. ``--help`` and docs/standalone.md describe the options. Private
helpers: ``_standalone_options`` (``ServerOptions``, the command line,
``--config``), ``_standalone_http`` (request heads, Host and Basic auth
checks, deadlines), ``_standalone_files`` (files, CGI and request bodies:
``FileRequestHandler``) and ``_standalone_cgi`` (the CGI runner). The
docstrings of ``WebSocketServer`` and ``WebSocketRequestHandler`` list the
hooks a subclass may override. Programs that embed the server use
pywebsocket3's API: ``_parse_args_and_config``, ``WebSocketServer``,
``_sockets``, ``serve_forever``, ``shutdown``, ``server_close``.

How this works:

- The server listens on one socket per address of ``--server-host``, all
  on one port. The accept loop (``serve_forever``) waits on all of them and
  never waits on a client; the listening sockets do not block, and each
  wake-up accepts every connection waiting (up to 32).
  ``process_request`` counts the connection against ``--max-connections``
  and runs it on a thread of ``connection_threads``: an idle one whose
  connection ended, else a new one (``_standalone_threads``); a
  connection over the limit gets no thread: the
  refuser (``_standalone_admission.Refuser``) answers it 503 with
  ``Retry-After`` as soon as its request starts. When ``accept`` fails for lack of file
  descriptors, accepting pauses (``AcceptBackoff``) instead of spinning.
- The connection thread (``_serve_connection``) sets the socket timeout to
  ``--handshake-timeout`` and arms a deadline (``DeadlineWatch``), does
  the TLS handshake (``--tls``), then hands the socket to
  ``WebSocketRequestHandler``. A failed TLS handshake is logged and ends
  only that connection.
- ``WebSocketRequestHandler.handle_one_request`` reads one request head
  (request line and header lines, both capped in length and number, and
  the whole head in size) before the deadline; the watch shuts down the
  socket of a client too slow to send one, which frees its thread. Then, in
  order: the Host check (RFC 9112 §3.2; with ``--strict`` and
  ``-V``/``-P`` the host and port too), Basic authentication, and the
  method: GET goes to the WebSocket handshake or to files and CGI
  (``FileRequestHandler``, its base class).
- A request that is not a WebSocket handshake has its body framed as RFC
  9112 §6.3 says (``_standalone_http.body_framing``): read (and decoded if
  chunked) under its own deadline before the answer, or refused with the
  connection closed, so that no body is ever read as the next request.
- Once a WebSocket is open its socket timeout is cleared (idle WebSockets
  are normal) and the server keeps it in a set, so that SIGINT/SIGTERM can
  send close 1001 to each and wait a bounded time for the closing
  handshakes (``close_websockets``). One line is logged when it ends.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import http
import http.server
import logging
import logging.handlers
import os
import selectors
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

# Run as a script (``python -u .../mod_pywebsocket/standalone.py``, as
# Chromium's blinkpy starts pywebsocket), Python puts this package's own
# directory first on sys.path: its modules would then also be importable as
# top-level ``common``, ``util``, ``stream``... (second copies, and names that
# shadow other modules, handlers' imports included). Put the directory that
# holds the package there instead, which also makes the imports below work
# without PYTHONPATH.
if __name__ == "__main__" and not __package__:
    _PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _PACKAGE_DIR:
        sys.path[0] = os.path.dirname(_PACKAGE_DIR)

from mod_pywebsocket import (
    _masking,
    _pywebsocket3_alias,
    _standalone_admission,
    _standalone_files,
    _standalone_h2,
    _standalone_http,
    _standalone_io,
    _standalone_options,
    _standalone_threads,
    common,
    dispatch,
    handshake,
)
from mod_pywebsocket._message_assembler import MessageBudget
from mod_pywebsocket._standalone_options import _TLS_MODULES, ServerOptions, build_parser
from mod_pywebsocket._stream_base import StreamBase

__all__ = [
    "ServerOptions",
    "ThreadMonitor",
    "WebSocketRequestHandler",
    "WebSocketServer",
    "build_parser",
    "create_dispatcher",
    "create_ssl_context",
    "main",
    "parse_options",
]

# Run as ``python -m`` or as a script, this module is ``__main__``: its logger
# keeps the module's import name all the same.
_LOGGER = logging.getLogger(__name__ if __name__ != "__main__" else "mod_pywebsocket.standalone")

# 0.7.9's names for the --tls-module values; TLS always uses the ssl module here.
_TLS_BY_STANDARD_MODULE, _TLS_BY_PYOPENSSL = _TLS_MODULES

_DEFAULT_LOG_FORMAT = "[%(asctime)s] [%(levelname)s] %(name)s: %(message)s"
_SERVER_SOFTWARE = _standalone_files.SERVER_SOFTWARE
# How long a closed WebSocket connection waits for the client to close TCP
# after our FIN, so that unread client bytes never turn our close into a reset.
_LINGER_SECONDS = 2.0
_LINGER_MAX_BYTES = 1 << 20
# The most connections accepted per wake-up of the accept loop (one
# select, then accept until none waits): under a burst of connections the
# loop pays one select for many.
_ACCEPT_BATCH = 32
# How long shutdown waits for the closing handshakes of open WebSockets.
_SHUTDOWN_WAIT_SECONDS = 5.0
# Connections over --max-connections held at once while they get their 503;
# one more closes the oldest of them.
_MAX_REFUSED = 256
_RETRY_AFTER_SECONDS = 5
_BASIC_AUTH_REALM = "mod_pywebsocket"
_SUPPORTED_METHODS = frozenset({"GET", "HEAD", "POST"})


def _import_ssl() -> bool:
    """Return True: TLS uses Python's ``ssl`` module, always there (0.7.9's probe, which WPT called)."""
    return True


def _import_pyopenssl() -> bool:
    """Return False: this server never uses pyOpenSSL (0.7.9's probe; ``--tls-module`` has no effect)."""
    return False


_peer = _standalone_http.peer


def _shutdown_socket(sock: Any) -> None:
    """Shut down both directions of ``sock``'s TCP connection; a blocked read or write then returns.

    This calls the plain socket's ``shutdown`` also for TLS sockets:
    ``SSLSocket.shutdown`` would drop its TLS state, which another thread
    may be using.
    """
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _linger(sock: Any) -> None:
    """Half-close ``sock``, then read until the client closes (bounded in time and size)."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(_LINGER_SECONDS)
        deadline = time.monotonic() + _LINGER_SECONDS
        drained = 0
        while drained < _LINGER_MAX_BYTES and time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            drained += len(data)
    except OSError:
        pass


def _release_stream(request: Any) -> None:
    """Break the request <-> ``ws_stream`` cycle of a connection that ended (nothing of it waits for the collector)."""
    stream = getattr(request, "ws_stream", None)
    if isinstance(stream, StreamBase):
        stream.release_request()


class _StandaloneRequest(_standalone_http.StandaloneRequestBase):
    """The request object handlers see under the standalone server (SPEC §3).

    Besides the SPEC §3 attributes it has ``max_message_size`` (the
    ``--max-message-size`` limit, which the RFC 6455 handshake copies into
    the stream's options), ``message_budget`` (this connection's account of
    the ``--max-incoming-memory`` budget, copied there too, and closed when
    the WebSocket ends) and ``raw_request_lines`` (the request line and
    header lines as received, for the Hixie-75 strict check).
    """

    # Slots for what the server, the handshake and the stream set (a slot
    # costs 8 bytes, a key of a per-instance dict about 50), and a dict for
    # whatever else a handler sets.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_dispatcher",
        "_use_tls",
        "client_terminated",
        "connection",
        "extra_headers",
        "headers_in",
        "max_message_size",
        "message_budget",
        "method",
        "protocol",
        "raw_request_lines",
        "server_terminated",
        "unparsed_uri",
        "uri",
        "ws_challenge",
        "ws_challenge_md5",
        "ws_close_code",
        "ws_close_reason",
        "ws_deflate",
        "ws_extension_processors",
        "ws_extensions",
        "ws_location",
        "ws_origin",
        "ws_protocol",
        "ws_requested_extensions",
        "ws_requested_protocols",
        "ws_resource",
        "ws_stream",
        "ws_version",
    )

    def __init__(
        self, handler: WebSocketRequestHandler, connection: _standalone_io.SocketConnection, use_tls: bool
    ) -> None:
        self.connection = connection
        self.uri = handler.path
        self.unparsed_uri = handler.path
        self.method = handler.command
        self.protocol = handler.request_version
        self.headers_in = handler.headers
        self.extra_headers: list[tuple[str, str]] = []
        self.max_message_size: int = handler.server.options.max_message_size
        self.message_budget = handler.server.message_budget.account()
        # The request line and header lines exactly as received (bytes, line
        # ends included), for the Hixie-75 strict check (handshake/draft75.py).
        self.raw_request_lines: list[bytes] | None = handler.raw_request_lines
        self._use_tls = use_tls


class WebSocketRequestHandler(_standalone_files.FileRequestHandler):
    """Serves one connection's requests: WebSocket upgrades through the dispatcher, the rest as files and CGI.

    One instance per HTTP/1.x connection, made by the server with the
    connected socket (a TLS socket with ``--tls``), as socketserver's
    handlers are; its ``handle`` answers requests until the connection
    closes. Files, CGI scripts and request bodies are its base class's
    (``FileRequestHandler``, on ``http.server.SimpleHTTPRequestHandler``);
    this class reads each request head, admits the request, and runs the
    WebSocket path. Over HTTP/2 the same class serves the streams that are
    no WebSocket, reading and writing memory.

    Hooks a subclass may override (each calls the next one down):

    - ``handle_one_request()``: read one request head within
      ``--handshake-timeout`` (line length, line count and head size
      capped), check its Host header (RFC 9112 §3.2; with ``--strict`` and
      ``-V``/``-P`` its host and port) and Basic authentication, then call
      ``do_<method>`` (501 for other methods). A request for a handler's
      resource is an opening handshake whatever its method.
    - ``do_GET()``: ``handle_websocket()`` if ``is_websocket_request()``,
      else the base class's ``do_GET`` (a file or a CGI script);
      ``do_HEAD()`` and ``do_POST()`` are the base class's.
    - ``is_websocket_request()``: True if a handler serves the resource or
      the request asks for an upgrade to WebSocket (or is a HyBi-00 one).
    - ``handle_websocket()``: run the opening handshake
      (``handshake.do_handshake``), then the handler
      (``WebSocketServer.run_handler``); a failed handshake is answered
      with its HTTP error.
    - ``is_cgi()``: True if ``path`` names a CGI script that runs
      (pywebsocket's name; the base class's).
    - ``setup()``, ``log_message()``, ``version_string()``: as in
      ``http.server``; the socket is read and written through one
      ``SocketConnection`` and logs go to the ``logging`` module.

    Attributes besides ``http.server``'s: ``raw_request_lines``, the request
    line and header lines as received (bytes, line ends included).

    Args:
        request: the connected socket (a TLS socket with ``--tls``).
        client_address: the client's address.
        server: the server.
    """

    def __init__(self, request: Any, client_address: Any, server: WebSocketServer) -> None:
        self.raw_request_lines: list[bytes] = []
        super().__init__(request, client_address, server)

    # Reading the request.

    def handle_one_request(self) -> None:
        """Read one request head and answer it.

        The head must arrive within ``--handshake-timeout``; on a timeout or
        an early EOF the connection is closed without an answer.
        """
        self.new_request()
        deadlines = self.server.deadlines
        deadlines.arm(self.connection, self.client_address, self.server.options.handshake_timeout)
        try:
            ready = self._read_request_head()
        except _standalone_http.RequestError as exc:
            self._send_plain_error(exc.status, str(exc))
            return
        except (OSError, _standalone_http.IncompleteRequest) as exc:
            _LOGGER.info("%s - request not received: %s", _peer(self.client_address), exc or type(exc).__name__)
            return
        finally:
            deadlines.disarm(self.connection)
        if not ready:
            return
        try:
            self._answer()
            self.wfile.flush()
        except (OSError, _standalone_http.IncompleteRequest) as exc:
            _LOGGER.info("%s - connection lost answering %r: %s", _peer(self.client_address), self.requestline, exc)
            self.close_connection = True

    def _read_request_head(self) -> bool:
        options = self.server.options
        connection: _standalone_io.SocketConnection = self.rfile  # type: ignore[assignment]
        try:
            head = _standalone_http.read_request_head(
                connection.readline,
                options.max_line_length,
                options.max_header_count,
                options.max_head_size,
                buffer=connection,
            )
        except _standalone_http.RequestError as exc:
            self.requestline = exc.request_line
            raise
        if head is None:
            return False
        self.requestline = head.request_line
        self.command, self.path, self.request_version = head.method, head.target, head.version
        self.headers = head.headers
        self.raw_request_lines = head.raw_lines
        self.close_connection = head.close_connection
        return True

    # Admitting it.

    def _answer(self) -> None:
        if not self._host_is_valid() or not self._is_authorized():
            return
        if self.command != "GET" and self._has_handler():
            # As behind Apache: a request for a handler's resource is an
            # opening handshake whatever its method, and fails with 400.
            self.handle_websocket()
            return
        if self.command not in _SUPPORTED_METHODS:
            self._send_plain_error(http.HTTPStatus.NOT_IMPLEMENTED, f"method {self.command!r} is not supported")
            return
        getattr(self, "do_" + self.command)()

    def _host_is_valid(self) -> bool:
        """Check the Host header (``_standalone_http.check_host``); answer 400 or 403 if wrong."""
        values = self.headers.get_all("Host") or []
        error = _standalone_http.check_host(values, self.request_version, self.server.options)
        if error is not None:
            self._send_plain_error(*error)
        return error is None

    def _is_authorized(self) -> bool:
        """With ``--basic-auth``: check the credential; answer 401 if it is missing or wrong."""
        options = self.server.options
        if not options.basic_auth:
            return True
        if _standalone_http.basic_auth_matches(self.headers.get("Authorization"), options.basic_auth_credential):
            return True
        self._send_plain_error(
            http.HTTPStatus.UNAUTHORIZED,
            "authentication required",
            [("WWW-Authenticate", f'Basic realm="{_BASIC_AUTH_REALM}"')],
        )
        return False

    def _has_handler(self) -> bool:
        """Return True if a handler serves the request's resource (a fragment counts: it gets its 400 there)."""
        try:
            return self.server.dispatcher.get_handler_suite(self.path) is not None
        except dispatch.DispatchException:
            return True

    def is_websocket_request(self) -> bool:
        """Return True if the request must go through the WebSocket path.

        Raises:
            DispatchException: the resource has a fragment.
        """
        if self.server.dispatcher.get_handler_suite(self.path) is not None:
            return True
        upgrade = self.headers.get(common.UPGRADE_HEADER, "")
        return upgrade.strip().lower() == common.WEBSOCKET_UPGRADE_TYPE or "Sec-WebSocket-Key1" in self.headers

    def do_GET(self) -> None:
        """Serve a WebSocket upgrade, a CGI script or a file."""
        try:
            websocket = self.is_websocket_request()
        except dispatch.DispatchException as exc:
            self._refuse_websocket(exc)
            return
        if websocket:
            self.handle_websocket()
        else:
            super().do_GET()

    # WebSockets.

    def handle_websocket(self) -> None:
        """Run the opening handshake, then the handler; answer failures with HTTP errors."""
        self.close_connection = True
        server = self.server
        connection: _standalone_io.SocketConnection = self.rfile  # type: ignore[assignment]
        request = _StandaloneRequest(self, connection, server.options.use_tls)
        try:
            try:
                handshake.do_handshake(
                    request, server.dispatcher, allowDraft75=server.options.allow_draft75, strict=server.options.strict
                )
            except Exception as exc:  # each failure has its answer in handshake.failure_reply
                self._refuse_websocket(exc)
                return
            self._run_websocket(request, connection)
        finally:
            _release_stream(request)  # also when the handshake failed after making the stream

    def _run_websocket(self, request: _StandaloneRequest, connection: _standalone_io.SocketConnection) -> None:
        """Run the handler of an open WebSocket, then end the connection."""
        server = self.server
        # The WebSocket is open: an idle connection is normal from now on,
        # a client that does not read for --write-timeout is not.
        self.connection.settimeout(None)
        # The receive buffer's pages go back while the connection waits for
        # its first message.
        connection.release_idle_pages()
        server.write_watch.watch(connection)
        if server.ssl_context is None:
            connection.hold_writes(server.flusher)
        self.log_request(101)
        started = time.monotonic()
        try:
            server.run_handler(request)
        finally:
            with contextlib.suppress(OSError):
                connection.hold_writes(None)
            server.write_watch.unwatch(connection)
            _standalone_http.log_websocket_end(request, self.client_address, self.path, time.monotonic() - started)
            _linger(self.connection)

    def _refuse_websocket(self, exc: Exception) -> None:
        """Log a failed opening handshake and answer it as ``handshake.failure_reply`` says."""
        reply = handshake.failure_reply(exc)
        why = ""
        if isinstance(exc, dispatch.DispatchException) and exc.status == common.HTTP_STATUS_NOT_FOUND:
            why = ": " + self.server.dispatcher.explain_missing(self.path)
        _LOGGER.log(
            reply.log_level,
            "%s - opening handshake of %s failed: %s%s",
            _peer(self.client_address),
            self.path,
            exc,
            why,
            exc_info=reply.log_level >= logging.ERROR,
        )
        if reply.status is not None:
            message = str(exc) if isinstance(exc, common.WebSocketException) else "internal server error"
            self._send_plain_error(reply.status, message, reply.headers)


class ThreadMonitor(threading.Thread):
    """Log how many threads are alive every ``interval_in_sec`` seconds (``--thread-monitor-interval-in-sec``).

    Args:
        interval_in_sec: seconds between two log lines.
        server: if given, its connection and WebSocket counts are logged too.
    """

    daemon = True

    def __init__(self, interval_in_sec: float, server: WebSocketServer | None = None) -> None:
        super().__init__(name="ThreadMonitor")
        self._interval_in_sec = interval_in_sec
        self._server = server
        self._stopped = threading.Event()

    def run(self) -> None:
        """Log a line per interval until ``stop()``."""
        while not self._stopped.wait(self._interval_in_sec):
            if self._server is None:
                _LOGGER.info("%d threads alive", threading.active_count())
            else:
                _LOGGER.info(
                    "%d threads alive (%d idle, waiting for a connection), %d connections, %d websockets",
                    threading.active_count(),
                    self._server.connection_threads.idle_count(),
                    self._server.connection_count(),
                    self._server.open_websocket_count(),
                )

    def stop(self) -> None:
        """Make ``run`` return at its next wake-up (at once if it is waiting)."""
        self._stopped.set()


class WebSocketServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """A threaded HTTP server that also speaks WebSocket, on one or more listening sockets.

    It listens on every address of ``--server-host`` (``_sockets``, one
    ``(socket, addrinfo)`` pair each, all on one port); ``serve_forever``
    accepts on all of them, ``shutdown`` stops it, ``server_close`` closes
    them. This is the embedding API of pywebsocket3's ``WebSocketServer``,
    as WPT's ``tools/serve/serve.py`` uses it (docs/standalone.md).

    The options are read once into a frozen ``ServerOptions``
    (``options``), which is all the server, its handlers, CGI, HTTP/2 and
    admission read afterwards; the object given is kept, unchanged, as
    ``websocket_server_options`` (pywebsocket's name). An object built by
    hand, as embedders of pywebsocket3 do, may lack attributes: they take
    the command line's defaults; and these pywebsocket3 attributes are
    honoured too:

    - ``cgi_directories``: the CGI URL path prefixes, instead of
      ``cgi_paths`` (WPT sets ``[]``);
    - ``is_executable_method``: called with a CGI script's path, instead
      of checking its execute bit; None for the check;
    - ``use_basic_auth``: same as ``basic_auth``; ``basic_auth_credential``
      may also be the header value ``Basic <base64 of user:password>``;
    - ``handler_encoding``, ``tls_client_cert_optional``: as the options.

    Hooks a subclass may override, besides socketserver's:

    - ``server_bind()``: bind a socket to each address of the host, all on
      one port (no reverse DNS lookup); ``server_activate()`` listens on
      each;
    - ``process_request(request, client_address)``: admit a connection
      (``--max-connections``; 503 over it) and run it on a thread (an
      idle one if any, see ``_standalone_threads``), which
      does the TLS handshake and runs ``RequestHandlerClass``
      (``WebSocketRequestHandler``) on it;
    - ``run_handler(request)``: run an open WebSocket's handler (HTTP/1.1
      and HTTP/2), counted among the open ones;
    - ``close_websockets(code, wait)``: close every open WebSocket (on
      SIGINT/SIGTERM with 1001).

    Args:
        options: a ``ServerOptions``, or an ``argparse.Namespace`` from
            ``parse_options`` or ``_parse_args_and_config`` (perhaps
            changed since), or any object with some of their attributes.
        dispatcher: the handler dispatcher; built from the options if None.

    Raises:
        OSError: no address can be bound, the host does not resolve, or a
            TLS file cannot be read.
        ssl.SSLError: a TLS file is not a valid certificate or key.
        ValueError: the private key is encrypted, or a CGI prefix does not
            start with ``/``.
        DispatchException: the scan directory is not under the handler root.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, options: ServerOptions | argparse.Namespace, dispatcher: dispatch.Dispatcher | None = None
    ) -> None:
        # The object as given, under pywebsocket's name (code written for it reads its own attributes there).
        self.websocket_server_options = options
        self.options = _standalone_options.complete_options(_standalone_options.to_server_options(options))
        options = self.options
        self.cgi_paths: list[str] = list(options.cgi_paths)
        self.is_executable: Callable[[str], object] | None = options.is_executable_method
        self.dispatcher = dispatcher if dispatcher is not None else create_dispatcher(options)
        context = options.ssl_context
        if context is None and options.use_tls:
            context = create_ssl_context(options)
        if options.http2:
            if not _standalone_h2.available():
                raise ValueError("--http2 needs the h2 package: pip install 'mod_pywebsocket[http2]'")
            if context is not None:
                context.set_alpn_protocols(["h2", "http/1.1"])
        self.ssl_context: ssl.SSLContext | None = context
        self.request_queue_size = options.request_queue_size
        self._sockets: list[tuple[socket.socket, tuple[Any, ...]]] = []
        self._stop_serving = False
        self._serving_stopped = threading.Event()
        self._websockets: set[Any] = set()
        self._websockets_lock = threading.Lock()
        self._closing_code: int | None = None
        self._connections_lock = threading.Lock()
        self._connection_count = 0
        # Connections refused in a row since the last one admitted (for the log).
        self._refused_in_a_row = 0
        self._accept_backoff = _standalone_admission.AcceptBackoff()
        self.message_budget = MessageBudget(options.max_incoming_memory)
        for name, reason in _standalone_options.NO_EFFECT.items():
            value = getattr(options, name.replace("-", "_"), None)
            if value is not None:
                _LOGGER.info("--%s %s is accepted for compatibility and has no effect: %s", name, value, reason)
        # Started before binding: a failed bind calls server_close, which stops them.
        # The heap trimmer first: it caps glibc's arenas before other threads allocate.
        self.heap_trimmer = _standalone_io.HeapTrimmer()
        self.deadlines = _standalone_http.DeadlineWatch(_shutdown_socket, _peer)
        self.flusher = _standalone_io.WriteFlusher()
        self.refuser = _standalone_admission.Refuser(
            context, options.handshake_timeout, _RETRY_AFTER_SECONDS, _SERVER_SOFTWARE, _peer, _MAX_REFUSED
        )
        self.write_watch = _standalone_io.WriteWatch(options.write_timeout, _peer)
        self.connection_threads = _standalone_threads.ConnectionThreads(
            self._serve_connection, on_idle=self.heap_trimmer.went_idle
        )
        self._monitor: ThreadMonitor | None = None
        if options.thread_monitor_interval_in_sec > 0:
            self._monitor = ThreadMonitor(options.thread_monitor_interval_in_sec, self)
            self._monitor.start()
        super().__init__((options.server_host or "", options.port), WebSocketRequestHandler)
        # Once bound: a server that cannot listen says only that.
        _log_resources(self.dispatcher, options)

    def server_bind(self) -> None:
        """Bind a socket to each address of the host, all on one port (no reverse DNS lookup).

        An IP address listens on itself; a name on each address it resolves
        to (``localhost``: 127.0.0.1 and ::1 where both are configured); no
        host on every local address, IPv4 and IPv6. With port 0 the first
        bind picks the port and the others take the same. An address that
        cannot be bound is skipped with a warning, unless none can.

        Raises:
            OSError: the host does not resolve, or no address can be bound.
        """
        # TCPServer made one socket before knowing the addresses; bind our own.
        self.socket.close()
        host, port = self.options.server_host or "", self.options.port
        try:
            addresses = _listening_addresses(host, port)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on host {host!r}: {exc.strerror or exc}") from exc
        both_families = {info[0] for info in addresses} == {socket.AF_INET, socket.AF_INET6}
        failures: list[tuple[tuple[Any, ...], OSError]] = []
        for family, socktype, proto, canonname, sockaddr in addresses:
            address = (sockaddr[0], port, *sockaddr[2:])
            try:
                sock = socket.socket(family, socktype, proto)
            except OSError as exc:
                failures.append((address, exc))
                continue
            try:
                if self.allow_reuse_address:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6 and both_families:
                    # Else a dual-stack "::" would take the IPv4 port too.
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
            except OSError as exc:
                sock.close()
                failures.append((address, exc))
                continue
            bound = sock.getsockname()
            port = bound[1]
            self._sockets.append((sock, (family, socktype, proto, canonname, bound)))
        if not self._sockets:
            address, error = failures[0]
            raise OSError(
                error.errno, f"cannot listen on {_peer(address)}: {error.strerror or error}{_bind_hint(error, address)}"
            )
        for address, error in failures:
            _LOGGER.warning("cannot listen on %s: %s", _peer(address), error)
        self.socket = self._sockets[0][0]
        self.server_address = self.socket.getsockname()
        self.server_name = str(self.server_address[0])
        self.server_port = self.server_address[1]

    def server_activate(self) -> None:
        """Listen on every bound socket, in non-blocking mode (``serve_forever`` accepts until none waits)."""
        for sock, _ in self._sockets:
            sock.listen(self.request_queue_size)
            sock.setblocking(False)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Accept connections on every listening socket until ``shutdown`` is called.

        While ``accept`` fails for lack of file descriptors (or kernel
        memory), accepting pauses, 10 ms at first and up to 0.5 s, instead
        of spinning; clients wait in the listen backlog meanwhile.

        Args:
            poll_interval: how often, in seconds, to check for ``shutdown``.
        """
        self._serving_stopped.clear()
        backoff = self._accept_backoff
        try:
            with selectors.DefaultSelector() as selector:
                for sock, _ in self._sockets:
                    selector.register(sock, selectors.EVENT_READ)
                while not self._stop_serving:
                    pause = backoff.paused_for()
                    if pause:
                        time.sleep(min(pause, poll_interval))
                    else:
                        for key, _ in selector.select(poll_interval):
                            if self._stop_serving or backoff.paused_for():
                                break
                            self._accept(key.fileobj)
                    self.service_actions()
        finally:
            self._stop_serving = False
            self._serving_stopped.set()

    def shutdown(self) -> None:
        """Stop ``serve_forever`` and wait until it has returned; call it from another thread."""
        self._stop_serving = True
        self._serving_stopped.wait()

    def _accept(self, listener: Any) -> None:
        """Accept the connections waiting on ``listener``: up to ``_ACCEPT_BATCH`` per wake-up, one if it blocks."""
        batch = _ACCEPT_BATCH if listener.gettimeout() == 0.0 else 1
        for _ in range(batch):
            try:
                request, client_address = listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if _standalone_admission.is_resource_error(exc):
                    self._accept_backoff.failed(exc)
                    return
                continue  # the client left before we accepted it
            self._accept_one(request, client_address)
            if self._stop_serving:
                return

    def _accept_one(self, request: socket.socket, client_address: object) -> None:
        self._accept_backoff.succeeded()
        if not self.verify_request(request, client_address):
            self.shutdown_request(request)
            return
        try:
            self.process_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            self.shutdown_request(request)

    def server_close(self) -> None:
        """Close every listening socket and stop the helper threads (open connections go on)."""
        super().server_close()
        for sock, _ in self._sockets:
            sock.close()
        self.deadlines.close()
        self.flusher.close()
        self.refuser.close()
        self.write_watch.close()
        self.heap_trimmer.close()
        self.connection_threads.close()
        if self._monitor is not None:
            self._monitor.stop()
            self._monitor.join(1.0)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Run the connection on a thread of ``connection_threads``, counted against ``--max-connections``.

        Over the limit, answer 503.

        A connection over the limit gets no thread: the refuser answers it
        503 with ``Retry-After`` as soon as its request starts to arrive.
        The first one refused in a row is
        logged at WARNING, and how many were refused at INFO once a
        connection is admitted again.
        """
        limit = self.options.max_connections
        with self._connections_lock:
            admitted = self._connection_count < limit
            if admitted:
                self._connection_count += 1
                refused, self._refused_in_a_row = self._refused_in_a_row, 0
            else:
                self._refused_in_a_row += 1
                refused = self._refused_in_a_row
        if not admitted:
            if refused == 1:
                _LOGGER.warning("%d connections are being served (--max-connections); answering new ones 503", limit)
            self.refuser.refuse(request, client_address)
            return
        if refused:
            _LOGGER.info("admitting connections again; %d were answered 503", refused)
        try:
            self.connection_threads.serve(request, client_address, f"connection {_peer(client_address)}")
        except RuntimeError as exc:  # no more threads
            _LOGGER.error("%s - cannot start a thread: %s", _peer(client_address), exc)
            self._release()
            self.refuser.refuse(request, client_address)

    def _release(self) -> None:
        with self._connections_lock:
            self._connection_count -= 1

    def connection_count(self) -> int:
        """Return the number of connections being served (those answered 503 not included)."""
        with self._connections_lock:
            return self._connection_count

    def _serve_connection(self, sock: socket.socket, client_address: Any) -> None:
        """Run one connection, in its own thread: TLS handshake, then requests."""
        conn: Any = sock
        self.heap_trimmer.connection_started()
        try:
            sock.settimeout(self.options.handshake_timeout)
            self.deadlines.arm(sock, client_address, self.options.handshake_timeout)
            context = self.ssl_context
            if context is not None:
                conn = self.deadlines.replace(
                    sock, lambda: context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                )
                try:
                    conn.do_handshake()
                except (OSError, ValueError) as exc:
                    _LOGGER.info("%s - TLS handshake failed: %s", _peer(client_address), exc)
                    return
            if self.options.http2 and _standalone_h2.speaks_http2(
                conn, context is not None, self.options.handshake_timeout
            ):
                _standalone_h2.serve(self, conn, client_address)
                return
            handler_class: Any = self.RequestHandlerClass
            # handler_class(...) as type.__call__ does it, minus the C-level
            # frame that call adds under everything the connection runs,
            # the WebSocket handler included (see _standalone_threads).
            handler = handler_class.__new__(handler_class, conn, client_address, self)
            handler.__init__(conn, client_address, self)
        except OSError as exc:
            _LOGGER.info("%s - connection failed: %s", _peer(client_address), exc)
        except Exception:  # our own bug: log it, keep serving the others
            _LOGGER.error("%s - error while serving the connection", _peer(client_address), exc_info=True)
        finally:
            self.deadlines.disarm(sock)
            self.deadlines.disarm(conn)
            self._release()
            self.shutdown_request(conn)
            if conn is not sock:
                sock.close()
            self.heap_trimmer.connection_ended()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log an error of a connection with its traceback (not on stderr)."""
        _LOGGER.error("%s - error while serving the connection", _peer(client_address), exc_info=True)

    def run_handler(self, request: Any) -> None:
        """Run an open WebSocket's handler (HTTP/1.1 or HTTP/2), counted among the open ones.

        When it ends, the request's memory-budget account is closed and no
        reference cycle (request <-> stream) is left.
        """
        headers = getattr(request, "headers_in", None)
        if isinstance(headers, _standalone_http.RequestHeaders):
            headers.drop_index()  # the handshake's lookups are done
        self.register_websocket(request)
        try:
            self.dispatcher.transfer_data(request)
        finally:
            self.unregister_websocket(request)
            request.message_budget.close()
            _release_stream(request)

    def register_websocket(self, request: Any) -> None:
        """Remember an open WebSocket so that shutdown can close it (at once if shutdown has begun)."""
        with self._websockets_lock:
            self._websockets.add(request)
            code = self._closing_code
        if code is not None:
            self._start_close(request, code)

    def unregister_websocket(self, request: Any) -> None:
        """Forget a WebSocket that has ended."""
        with self._websockets_lock:
            self._websockets.discard(request)

    def open_websocket_count(self) -> int:
        """Return the number of open WebSocket connections."""
        with self._websockets_lock:
            return len(self._websockets)

    def _open_websockets(self) -> list[Any]:
        with self._websockets_lock:
            return list(self._websockets)

    def close_websockets(self, code: int = common.STATUS_GOING_AWAY, wait: float = _SHUTDOWN_WAIT_SECONDS) -> None:
        """Send close ``code`` on every open WebSocket and wait up to ``wait`` seconds for them to end.

        Each close is sent from its own thread, so that a client that does
        not read cannot hold the others up; WebSockets that open while this
        runs are closed as soon as they open; connections still open after
        ``wait`` have their sockets shut down.
        """
        with self._websockets_lock:
            self._closing_code = code
            requests = list(self._websockets)
        try:
            for request in requests:
                self._start_close(request, code)
            deadline = time.monotonic() + wait
            while self.open_websocket_count() and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            with self._websockets_lock:
                self._closing_code = None
        left = self._open_websockets()
        if left:
            _LOGGER.info("%d websockets did not finish the closing handshake; dropping them", len(left))
        for request in left:
            _shutdown_socket(request.connection.socket)

    def _start_close(self, request: Any, code: int) -> None:
        threading.Thread(target=self._send_close, args=(request, code), name="closing", daemon=True).start()

    @staticmethod
    def _send_close(request: Any, code: int) -> None:
        stream = getattr(request, "ws_stream", None)
        try:
            if stream is not None:
                stream.close_connection(code, wait_response=False)
        except (common.WebSocketException, OSError) as exc:
            _LOGGER.debug("closing a connection on shutdown failed: %s", exc)
        if getattr(request, "ws_version", None) == common.VERSION_HIXIE75:
            # Hixie-75 has no closing handshake: closing TCP is the close.
            _shutdown_socket(request.connection.socket)


def _bind_hint(error: OSError, address: tuple[Any, ...]) -> str:
    """Return what to do about a failed bind, for the error line."""
    if error.errno == errno.EACCES and 0 < address[1] < 1024:
        return " (ports below 1024 need root; choose another with -p, such as -p 8880)"
    if error.errno == errno.EADDRINUSE:
        return " (another program listens there; choose another port with -p, or -p 0 for a free one)"
    return ""


def _exposure_warning(options: ServerOptions | argparse.Namespace) -> str | None:
    """Return the warning for a server that listens on every interface, or None when it does not."""
    if (options.server_host or "").strip("[]") not in ("", "0.0.0.0", "::"):
        return None
    return (
        f"listening on every network interface: anyone who can reach this machine can use its WebSocket "
        f"handlers and read every file under {options.document_root} (with directory listings); "
        "give -H 127.0.0.1 to serve this machine only"
    )


def _listening_addresses(host: str, port: int) -> list[tuple[Any, ...]]:
    """Return the addrinfo of each address to listen on for ``host`` (every local one for ``""``).

    Raises:
        OSError: ``host`` does not resolve (``socket.gaierror``).
    """
    infos = socket.getaddrinfo(
        host.strip("[]") or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, socket.IPPROTO_TCP, socket.AI_PASSIVE
    )
    seen = set()
    addresses = []
    for info in infos:
        family, sockaddr = info[0], info[4]
        if family not in (socket.AF_INET, socket.AF_INET6) or (family, sockaddr[0]) in seen:
            continue
        seen.add((family, sockaddr[0]))
        addresses.append(info)
    return addresses


def create_dispatcher(options: ServerOptions | argparse.Namespace) -> dispatch.Dispatcher:
    """Build the dispatcher from the options, with the handler map's aliases."""
    options = _standalone_options.complete_options(_standalone_options.to_server_options(options))
    dispatcher = dispatch.Dispatcher(
        options.websock_handlers or options.document_root,
        options.scan_dir,
        options.allow_handlers_outside_root_dir,
        handler_encoding=options.handler_encoding,
        reload=options.reload,
    )
    if options.websock_handlers_map_file:
        _alias_handlers(dispatcher, options.websock_handlers_map_file)
    return dispatcher


def _log_resources(dispatcher: dispatch.Dispatcher, options: ServerOptions) -> None:
    """Log how many resources the handlers serve (each one at DEBUG); warn when there is none."""
    resources = dispatcher.resources()
    root = options.scan_dir or options.websock_handlers
    failed = len(dispatcher.source_warnings())
    problems = f"; {failed} problem{'s' if failed > 1 else ''} loading handlers (warnings above)" if failed else ""
    reload = options.reload
    if resources:
        _LOGGER.info(
            "serving %d WebSocket resource%s from %s%s%s",
            len(resources),
            "s" if len(resources) > 1 else "",
            root,
            problems,
            "; --reload picks up new and changed handler files" if reload else "",
        )
    else:
        _LOGGER.warning(
            "no WebSocket resources: no *_wsh.py handler under %s loaded%s; %s",
            root,
            problems,
            "--reload loads the ones added there later"
            if reload
            else "every WebSocket request gets 404 (give the directory of your handlers with -w)",
        )
    if _LOGGER.isEnabledFor(logging.DEBUG):
        for resource, path in resources.items():
            _LOGGER.debug("resource %s: %s", resource, path)


def _alias_handlers(dispatcher: dispatch.Dispatcher, map_file: str) -> None:
    with open(map_file, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2:
                _LOGGER.warning("%s:%d: expected 'alias existing', got %r", map_file, number, line)
                continue
            try:
                dispatcher.add_resource_path_alias(parts[0], parts[1])
            except dispatch.DispatchException as exc:
                _LOGGER.warning("%s:%d: %s", map_file, number, exc)


def _no_password() -> bytes:
    raise ValueError("the private key is encrypted; give an unencrypted key")


def create_ssl_context(options: ServerOptions | argparse.Namespace) -> ssl.SSLContext:
    """Return the server's TLS context: TLS 1.2 or newer, client certificates with ``--tls-client-auth``.

    With ``--tls-client-cert-optional`` too, a client may send no
    certificate; one it sends must still be signed by ``--tls-client-ca``.

    Raises:
        OSError: a file cannot be read.
        ssl.SSLError: a file is not a valid certificate, key or CA bundle.
        ValueError: the private key is encrypted, or a file is not given.
    """
    options = _standalone_options.to_server_options(options)
    if options.certificate is None:
        raise ValueError("--tls needs --private-key and --certificate")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(options.certificate, options.private_key, password=_no_password)
    if options.tls_client_auth:
        context.verify_mode = ssl.CERT_OPTIONAL if options.tls_client_cert_optional else ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=options.tls_client_ca)
    return context


def parse_options(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (and ``--config``), check values, load the TLS files.

    Exits with status 2 and one error line on a bad value or an unreadable
    certificate. The result has ``ssl_context`` (None without ``--tls``).
    """
    parser = build_parser()
    options = _standalone_options.parse_args(parser, argv)
    options.ssl_context = None
    if options.use_tls:
        try:
            options.ssl_context = create_ssl_context(options)
        except (OSError, ValueError) as exc:
            files = f"certificate {options.certificate!r}, private key {options.private_key!r}"
            if options.tls_client_auth:
                files += f" or client CA {options.tls_client_ca!r}"
            parser.error(f"cannot load {files}: {exc}")
    return options


def _parse_args_and_config(args: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """Parse a command line the way pywebsocket3's ``standalone`` does, for programs that embed it.

    This is ``parse_options`` under pywebsocket3's name and return shape
    (WPT's ``tools/serve/serve.py`` calls it): ``--config`` is read, values
    are checked, TLS files are loaded. The caller may then set
    ``cgi_directories`` and ``is_executable_method`` on the options before
    passing them to ``WebSocketServer``.

    Args:
        args: the arguments, without the program name (default: ``sys.argv[1:]``).

    Returns:
        ``(options, remaining_args)``; ``remaining_args`` is always empty,
        since anything the parser does not know is an error.

    Raises:
        SystemExit: (status 2, one line on stderr) an unknown option or a bad value.
    """
    return parse_options(args), []


def _build_option_parser() -> _standalone_options.OptionParser:
    """Return the command-line parser (pywebsocket's name for ``build_parser``)."""
    return build_parser()


def _configure_logging(options: ServerOptions | argparse.Namespace) -> None:
    """Send the log to stderr or the rotated log file, at the chosen level.

    Raises:
        OSError: the log file cannot be opened.
    """
    handler: logging.Handler
    if options.log_file:
        handler = logging.handlers.RotatingFileHandler(
            options.log_file, maxBytes=options.log_max, backupCount=options.log_count, encoding="utf-8"
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_DEFAULT_LOG_FORMAT))
    logging.addLevelName(_standalone_options.LOG_LEVELS["fine"], "FINE")
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(_standalone_options.LOG_LEVELS[options.log_level])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGINT or SIGTERM; return the exit status.

    On a signal: stop accepting, send close 1001 to every open WebSocket,
    wait up to 5 seconds for the closing handshakes, return 0.
    """
    options = _standalone_options.to_server_options(parse_options(argv))
    try:
        _configure_logging(options)
    except OSError as exc:
        sys.stderr.write(f"mod_pywebsocket.standalone: error: cannot open log file {options.log_file!r}: {exc}\n")
        return 2
    try:
        server = WebSocketServer(options)
    except (OSError, dispatch.DispatchException) as exc:
        sys.stderr.write(f"mod_pywebsocket.standalone: error: {exc}\n")
        return 2
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        if stopping.is_set():
            return
        stopping.set()
        _LOGGER.info("received signal %d, shutting down", signum)
        threading.Thread(target=server.shutdown, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if (options.validation_host is not None or options.validation_port is not None) and not options.strict:
        _LOGGER.warning("--validation-host and --validation-port take effect only with --strict")
    _pywebsocket3_alias.warn_if_foreign_pywebsocket3()
    _masking.log_implementation()
    for sock, _ in server._sockets:
        _LOGGER.info("listening on %s (%s)", _peer(sock.getsockname()), "TLS" if options.use_tls else "plain")
    exposure = _exposure_warning(options)
    if exposure is not None:
        _LOGGER.warning("%s", exposure)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        server.close_websockets(common.STATUS_GOING_AWAY, _SHUTDOWN_WAIT_SECONDS)
    _LOGGER.info("stopped")
    return 0


def _main(args: Sequence[str] | None = None) -> None:
    """Run the server as pywebsocket3's ``standalone._main`` does: exit only on an error.

    Raises:
        SystemExit: with ``main``'s status when it is not 0.
    """
    status = main(args)
    if status:
        sys.exit(status)


if __name__ == "__main__":
    sys.exit(main())
