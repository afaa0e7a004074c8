"""The standalone WebSocket server: ``python3 -m mod_pywebsocket.standalone``.

Layer 3 (entry point). One thread per connection. Requests whose resource
has a handler go through the opening handshake to the dispatcher; other
requests are served as files from the document root.

Hooks, for those who subclass:

- ``WebSocketServer.server_bind`` binds without a DNS lookup of the host;
- ``WebSocketRequestHandler.is_websocket_request`` decides which path a
  request takes; ``handle_websocket`` runs the handshake and the handler;
- ``WebSocketServer.close_websockets(code)`` closes every open WebSocket
  (used on SIGINT/SIGTERM with 1001).
"""

from __future__ import annotations

import argparse
import http.server
import logging
import logging.handlers
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from mod_pywebsocket import common, dispatch, handshake, memorizingfile
from mod_pywebsocket._stream_base import ConnectionTerminatedException

__all__ = ["WebSocketRequestHandler", "WebSocketServer", "build_parser", "main"]

_LOGGER = logging.getLogger("mod_pywebsocket.standalone")

_DEFAULT_LOG_FORMAT = "[%(asctime)s] [%(levelname)s] %(name)s: %(message)s"
_LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
# How long a closed WebSocket connection waits for the client to close TCP
# after our FIN, so that unread client bytes never turn our close into a reset.
_LINGER_SECONDS = 2.0
_LINGER_MAX_BYTES = 1 << 20
_SHUTDOWN_WAIT_SECONDS = 5.0


class _StandaloneConnection:
    """The raw connection of a standalone request (SPEC §3 ``connection``)."""

    def __init__(self, sock: socket.socket, rfile: Any, remote_addr: Any) -> None:
        self._socket = sock
        self._rfile = rfile
        self.remote_addr = remote_addr
        self.local_addr = sock.getsockname()

    def read(self, length: int) -> bytes:
        """Read ``length`` bytes, blocking; fewer only at EOF."""
        data: bytes = self._rfile.read(length)
        return data

    def read_some(self, length: int) -> bytes:
        """Read 1 to ``length`` bytes as soon as some are available; b'' at EOF."""
        data: bytes = self._rfile.read1(length)
        return data

    def write(self, data: bytes) -> None:
        """Send all of ``data``."""
        self._socket.sendall(data)

    def get_remote_addr(self) -> Any:
        """Return the client's address."""
        return self.remote_addr

    def get_local_addr(self) -> Any:
        """Return the server's address."""
        return self.local_addr


class _StandaloneRequest:
    """The request object handlers see under the standalone server (SPEC §3)."""

    def __init__(self, handler: WebSocketRequestHandler, connection: _StandaloneConnection, use_tls: bool) -> None:
        self._handler = handler
        self.connection = connection
        self.uri = handler.path
        self.unparsed_uri = handler.path
        self.method = handler.command
        self.protocol = handler.request_version
        self.headers_in = handler.headers
        self.extra_headers: list[tuple[str, str]] = []
        # The request line and header lines exactly as received (bytes, line
        # ends included), for the Hixie-75 strict check (handshake/draft75.py).
        memorized = getattr(handler.rfile, "get_memorized_lines", None)
        self.raw_request_lines: list[bytes] | None = list(memorized()) if memorized is not None else None
        self._use_tls = use_tls

    def get_uri(self) -> str:
        """Return the request-target as sent."""
        return self.uri

    def get_unparsed_uri(self) -> str:
        """Return the request-target as sent."""
        return self.unparsed_uri

    def get_method(self) -> str:
        """Return the request method."""
        return self.method

    def get_protocol(self) -> str:
        """Return the HTTP version of the request line."""
        return self.protocol

    def get_remote_addr(self) -> Any:
        """Return the client's address."""
        return self.connection.remote_addr

    def is_https(self) -> bool:
        """Return True if the connection uses TLS."""
        return self._use_tls

    def log_error(self, message: str) -> None:
        """Log ``message`` at the error level."""
        _LOGGER.error("%s", message)


class WebSocketRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Serves WebSocket upgrades through the dispatcher and files from the document root."""

    server: WebSocketServer
    protocol_version = "HTTP/1.1"
    # Answer unparsable request lines with a real status line, not HTTP/0.9.
    default_request_version = "HTTP/1.0"
    rbufsize = 65536

    def __init__(self, request: Any, client_address: Any, server: WebSocketServer) -> None:
        super().__init__(request, client_address, server, directory=server.options.document_root)

    def setup(self) -> None:
        """Wrap the input so that the raw request lines are remembered."""
        super().setup()
        self._raw_rfile = self.rfile
        self.rfile = memorizingfile.MemorizingFile(self.rfile, max_memorized_lines=128)  # type: ignore[assignment]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Log through the logging module instead of writing to stderr."""
        _LOGGER.info("%s - %s", self.address_string(), format % args)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        """Log protocol errors (bad request lines and the like)."""
        _LOGGER.warning("%s - %s", self.address_string(), format % args)

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
        """Serve a WebSocket upgrade or a file."""
        try:
            websocket = self.is_websocket_request()
        except dispatch.DispatchException as exc:
            self._send_plain_error(exc.status, str(exc))
            return
        if websocket:
            self.handle_websocket()
        else:
            super().do_GET()

    def _send_plain_error(self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        body = (message + "\n").encode("utf-8", "replace")
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def handle_websocket(self) -> None:
        """Run the opening handshake, then the handler; answer failures with HTTP errors."""
        self.close_connection = True
        server = self.server
        connection = _StandaloneConnection(self.connection, self._raw_rfile, self.client_address)
        request = _StandaloneRequest(self, connection, server.options.use_tls)
        try:
            handshake.do_handshake(
                request, server.dispatcher, allowDraft75=server.options.allow_draft75, strict=server.options.strict
            )
        except handshake.VersionException as exc:
            headers = [(common.SEC_WEBSOCKET_VERSION_HEADER, exc.supported_versions or "")]
            self._send_plain_error(exc.status or 400, str(exc), headers)
            return
        except handshake.HandshakeException as exc:
            self._send_plain_error(exc.status or 400, str(exc))
            return
        except dispatch.DispatchException as exc:
            self._send_plain_error(exc.status, str(exc))
            return
        except handshake.AbortedByUserException:
            _LOGGER.info("%s - handler aborted the handshake of %s", self.address_string(), self.path)
            return
        except ConnectionTerminatedException as exc:
            _LOGGER.info("%s - connection ended during the handshake: %s", self.address_string(), exc)
            return
        self.log_request(101)
        server.register_websocket(request)
        try:
            server.dispatcher.transfer_data(request)
        finally:
            server.unregister_websocket(request)
            self._linger()

    def _linger(self) -> None:
        """Half-close, then read until the client closes (bounded in time and size)."""
        sock = self.connection
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


class WebSocketServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """A threaded HTTP server that also speaks WebSocket.

    Args:
        options: an ``argparse.Namespace`` from ``build_parser`` (or any
            object with the same attributes).
        dispatcher: the handler dispatcher; built from the options if None.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, options: Any, dispatcher: dispatch.Dispatcher | None = None) -> None:
        self.options = options
        self.dispatcher = dispatcher if dispatcher is not None else create_dispatcher(options)
        self.request_queue_size = options.request_queue_size
        self._websockets: set[Any] = set()
        self._websockets_lock = threading.Lock()
        host = options.server_host or ""
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, options.port), WebSocketRequestHandler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup ``HTTPServer.server_bind`` does."""
        socketserver.TCPServer.server_bind(self)
        address = self.socket.getsockname()
        self.server_name = address[0]
        self.server_port = address[1]

    def register_websocket(self, request: Any) -> None:
        """Remember an open WebSocket so that shutdown can close it."""
        with self._websockets_lock:
            self._websockets.add(request)

    def unregister_websocket(self, request: Any) -> None:
        """Forget a WebSocket that has ended."""
        with self._websockets_lock:
            self._websockets.discard(request)

    def open_websocket_count(self) -> int:
        """Return the number of open WebSocket connections."""
        with self._websockets_lock:
            return len(self._websockets)

    def close_websockets(self, code: int = common.STATUS_GOING_AWAY, wait: float = _SHUTDOWN_WAIT_SECONDS) -> None:
        """Send close ``code`` on every open WebSocket and wait for them to end."""
        with self._websockets_lock:
            requests = list(self._websockets)
        for request in requests:
            stream = getattr(request, "ws_stream", None)
            try:
                if hasattr(stream, "close_connection"):
                    stream.close_connection(code, wait_response=False)
            except common.WebSocketException as exc:
                _LOGGER.debug("closing a connection on shutdown failed: %s", exc)
        deadline = time.monotonic() + wait
        while self.open_websocket_count() and time.monotonic() < deadline:
            time.sleep(0.05)


def create_dispatcher(options: Any) -> dispatch.Dispatcher:
    """Build the dispatcher from the options, with the handler map's aliases."""
    dispatcher = dispatch.Dispatcher(
        options.websock_handlers, options.scan_dir, options.allow_handlers_outside_root_dir
    )
    if options.websock_handlers_map_file:
        _alias_handlers(dispatcher, options.websock_handlers_map_file)
    for warning in dispatcher.source_warnings():
        _LOGGER.warning("handler warning: %s", warning)
    return dispatcher


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


class _OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> Any:
        """Print ``message`` as one line and exit with status 2."""
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, not {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not in 0-65535")
    return port


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, not {number}")
    return number


def _log_level(value: str) -> str:
    if value.lower() not in _LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"log level must be one of {', '.join(_LOG_LEVELS)}, not {value!r}")
    return value.lower()


def _spellings(*names: str) -> list[str]:
    """Return each option name, plus its ``_`` spelling for long names."""
    result = []
    for name in names:
        result.append(name)
        if name.startswith("--") and "-" in name[2:]:
            result.append("--" + name[2:].replace("-", "_"))
    return result


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser (long options accept ``-`` and ``_``)."""
    parser = _OneLineErrorParser(
        prog="mod_pywebsocket.standalone",
        description="A standalone WebSocket server: files from a document root, "
        "WebSocket resources from *_wsh.py handlers.",
    )
    add = parser.add_argument
    add(*_spellings("-H", "--server-host"), dest="server_host", default="",
        help="address to listen on (default: all; an IPv6 address such as ::1 works)")
    add(*_spellings("-p", "--port"), dest="port", type=_port, default=common.DEFAULT_WEB_SOCKET_PORT,
        help="port to listen on (default: %(default)s; 0 picks a free one)")
    add(*_spellings("-w", "--websock-handlers"), dest="websock_handlers", default=None,
        help="handler root: *_wsh.py files under it are loaded (default: the document root; "
        "relative to the document root)")
    add(*_spellings("-m", "--websock-handlers-map-file"), dest="websock_handlers_map_file", default=None,
        help="file of 'alias existing' lines that give handlers more resource names")
    add(*_spellings("-s", "--scan-dir"), dest="scan_dir", default=None,
        help="load only the handlers under this directory, which must lie under the handler root")
    add(*_spellings("--allow-handlers-outside-root-dir"), dest="allow_handlers_outside_root_dir",
        action="store_true", default=False,
        help="load handler files whose real path (symlinks resolved) leaves the handler root")
    add(*_spellings("-d", "--document-root"), dest="document_root", default=".",
        help="directory the plain HTTP files are served from (default: .)")
    add(*_spellings("--allow-draft75"), dest="allow_draft75", action="store_true", default=False,
        help="accept the Hixie-75 protocol too")
    add(*_spellings("--strict"), dest="strict", action="store_true", default=False,
        help="with Hixie-75, require the draft's exact request line and header order")
    add(*_spellings("-l", "--log-file"), dest="log_file", default=None,
        help="write the log to this file instead of stderr")
    add(*_spellings("--log-level"), dest="log_level", type=_log_level, default="info",
        help="debug, info, warning (warn), error or critical (default: info)")
    add(*_spellings("--log-max"), dest="log_max", type=_positive_int, default=256 * 1024 * 1024,
        help="rotate the log file at this many bytes")
    add(*_spellings("--log-count"), dest="log_count", type=_positive_int, default=5,
        help="how many rotated log files to keep")
    add(*_spellings("-q", "--queue"), dest="request_queue_size", type=_positive_int, default=128,
        help="listen backlog (default: %(default)s)")
    return parser


def parse_options(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line; resolve the directories.

    Exits with status 2 and one error line on a bad value.
    """
    parser = build_parser()
    options = parser.parse_args(argv)
    options.use_tls = False
    document_root = os.path.abspath(options.document_root)
    if not os.path.isdir(document_root):
        parser.error(f"document root {options.document_root!r} is not a directory")
    options.document_root = document_root
    handlers = options.websock_handlers or document_root
    options.websock_handlers = os.path.join(document_root, handlers)
    if not os.path.isdir(options.websock_handlers):
        parser.error(f"handler root {handlers!r} is not a directory")
    if options.scan_dir is not None:
        options.scan_dir = os.path.join(document_root, options.scan_dir)
        if not os.path.isdir(options.scan_dir):
            parser.error(f"scan directory {options.scan_dir!r} is not a directory")
    if options.websock_handlers_map_file and not os.path.isfile(options.websock_handlers_map_file):
        parser.error(f"handler map file {options.websock_handlers_map_file!r} does not exist")
    return options


def _configure_logging(options: argparse.Namespace) -> None:
    handler: logging.Handler
    if options.log_file:
        handler = logging.handlers.RotatingFileHandler(
            options.log_file, maxBytes=options.log_max, backupCount=options.log_count
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_DEFAULT_LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LOG_LEVELS[options.log_level])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGINT or SIGTERM; return the exit status."""
    options = parse_options(argv)
    _configure_logging(options)
    try:
        server = WebSocketServer(options)
    except (OSError, dispatch.DispatchException) as exc:
        sys.stderr.write(f"mod_pywebsocket.standalone: error: {exc}\n")
        return 2

    def stop(signum: int, frame: Any) -> None:
        _LOGGER.info("received signal %d, shutting down", signum)
        threading.Thread(target=server.shutdown, name="shutdown").start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    _LOGGER.info("listening on %s:%d", host, port)
    try:
        server.serve_forever()
    finally:
        server.close_websockets(common.STATUS_GOING_AWAY)
        server.server_close()
    _LOGGER.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
