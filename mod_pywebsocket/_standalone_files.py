"""The standalone server's plain HTTP: files and CGI scripts from the document root, and request bodies.

Layer 3 (a private part of ``standalone``). ``FileRequestHandler`` is
``http.server.SimpleHTTPRequestHandler`` with the server's rules: the
socket read and written through one ``SocketConnection``, GET and HEAD
served from the document root (never outside it, symlinks resolved), CGI
scripts under ``--cgi-paths`` run by ``_standalone_cgi``, and request
bodies framed as RFC 9112 §6.3 says, read before the answer
(``_read_body``). ``standalone.WebSocketRequestHandler`` subclasses it and
adds the request head, admission and the WebSocket path.
"""

from __future__ import annotations

import contextlib
import http
import http.server
import logging
import os
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mod_pywebsocket import _standalone_cgi, _standalone_http, _standalone_io

if TYPE_CHECKING:
    from mod_pywebsocket.standalone import WebSocketServer

__all__ = ["SERVER_SOFTWARE", "FileRequestHandler"]

_LOGGER = logging.getLogger(__name__)

# The Server header's value, and CGI's SERVER_SOFTWARE.
SERVER_SOFTWARE = "mod_pywebsocket"
_MAX_LOCAL_REDIRECTS = 5
# A request body has --handshake-timeout seconds, plus one for each this many
# bytes received (mod_reqtimeout's MinRate): a client that sends one byte now
# and then cannot hold its thread for ever, whatever length it announces.
_MIN_BODY_RATE = 500

_peer = _standalone_http.peer


class FileRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files and CGI scripts from the document root (GET, HEAD and POST).

    ``do_GET`` and ``do_HEAD`` serve a file, a directory listing or a CGI
    script; ``do_POST`` runs a CGI script (405 for anything else). A body
    the request head announces is read, or refused with the connection
    closed, before the answer, whatever the method. Errors are answered as
    ``text/plain`` with ``Connection: close`` (``_send_plain_error``).

    This class reads no request head of its own: ``handle_one_request``
    (``standalone.WebSocketRequestHandler``'s) sets ``command``, ``path``,
    ``request_version`` and ``headers``, then calls ``new_request`` once
    per request before calling ``do_<method>``.

    Args:
        request: the connected socket (a TLS socket with ``--tls``).
        client_address: the client's address.
        server: the server (``server.options`` is its ``ServerOptions``).
    """

    server: WebSocketServer
    protocol_version = "HTTP/1.1"
    # Answer unparsable request lines with a real status line, not HTTP/0.9.
    default_request_version = "HTTP/1.0"
    # Replies leave as soon as they are written, or together (SocketConnection.hold_writes).
    disable_nagle_algorithm = True

    def __init__(self, request: Any, client_address: Any, server: WebSocketServer) -> None:
        self.requestline = ""
        self.request_version = self.default_request_version
        self.command = None  # type: ignore[assignment]
        self._body: bytes | None = None
        super().__init__(request, client_address, server, directory=server.options.document_root)

    def new_request(self) -> None:
        """Forget the previous request of the connection (its line, method, path and body)."""
        self.close_connection = True
        self.command = None  # type: ignore[assignment]
        self.request_version = self.default_request_version
        self.requestline = ""
        self.path = ""
        self._body = None

    def setup(self) -> None:
        """Read and write the socket through one ``SocketConnection`` (``rfile`` and ``wfile`` alike)."""
        self.connection = self.request
        if self.disable_nagle_algorithm:
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self.rfile = self.wfile = _standalone_io.SocketConnection(self.connection, self.client_address)  # type: ignore[assignment]

    def version_string(self) -> str:
        """Return the Server header's value."""
        return SERVER_SOFTWARE

    def log_message(self, format: str, *args: Any) -> None:
        """Log through the logging module instead of writing to stderr (the access log)."""
        if _LOGGER.isEnabledFor(logging.INFO):
            _LOGGER.info("%s - %s", _peer(self.client_address), format % args)

    def log_error(self, *args: Any) -> None:
        """Log protocol errors (bad request lines and the like): ``log_error(format, *values)``."""
        message = args[0] % args[1:] if args else ""
        _LOGGER.warning("%s - %s", _peer(self.client_address), message)

    def do_GET(self) -> None:
        """Serve a CGI script or a file."""
        self._serve_http()

    def do_HEAD(self) -> None:
        """Serve a CGI script or a file's headers."""
        self._serve_http()

    def do_POST(self) -> None:
        """Run a CGI script; other resources answer 405."""
        self._serve_http()

    def _serve_http(self, redirects: int = 0) -> None:
        url_path, _, query = self.path.split("#", 1)[0].partition("?")
        try:
            script = self._cgi_script(url_path)
        except _standalone_cgi.CgiError as exc:
            _LOGGER.info("%s - %s", _peer(self.client_address), exc)
            self._send_plain_error(exc.status, str(exc))
            return
        if script is None and self.command == "POST":
            self._send_plain_error(
                http.HTTPStatus.METHOD_NOT_ALLOWED, f"{self.path} is not a cgi script", [("Allow", "GET, HEAD")]
            )
            return
        # RFC 9112 §6.3: whatever the method, a body the head announces is
        # taken off the connection (or refused, and the connection closed)
        # before the answer: else it would be read as the next request.
        try:
            self._read_body()
        except _standalone_http.RequestError as exc:
            _LOGGER.info("%s - %s", _peer(self.client_address), exc)
            self._send_plain_error(exc.status, str(exc))
            return
        if script is not None:
            self._run_cgi(script, query, redirects)
            return
        if self.path.startswith("//"):
            # A directory redirect to "//host/" would send the client off-site.
            self.path = "/" + self.path.lstrip("/")
        if not self._inside_document_root(self.translate_path(self.path)):
            # SPEC §11: nothing a client sends may read a file outside the
            # document root; http.server follows symlinks and chokes on NUL.
            self._send_plain_error(http.HTTPStatus.NOT_FOUND, f"{self.path} not found")
            return
        if self.command == "HEAD":
            super().do_HEAD()
        else:
            super().do_GET()

    def _inside_document_root(self, path: str) -> bool:
        """Return True if ``path``, symlinks resolved, lies inside the document root."""
        if "\0" in path:
            return False
        root = os.path.realpath(self.directory)
        return os.path.commonpath([os.path.realpath(path), root]) == root

    def _cgi_script(self, url_path: str) -> _standalone_cgi.CgiScript | None:
        """Return the CGI script ``url_path`` (no query) runs, or None to serve it as a file.

        Raises:
            CgiError: a bad path under a CGI prefix (404), or a script whose
                real path leaves the document root (403).
        """
        cgi_paths = self.server.cgi_paths
        if not cgi_paths or not _standalone_cgi.is_cgi_path(url_path, cgi_paths):
            return None
        return _standalone_cgi.find_script(
            self.server.options.document_root, url_path, cgi_paths, self.server.is_executable
        )

    def is_cgi(self) -> bool:
        """Return True if ``self.path`` names a CGI script that runs (pywebsocket's name).

        A file under a CGI prefix that may not run is served as a plain file.
        """
        try:
            return self._cgi_script(self.path.split("#", 1)[0].partition("?")[0]) is not None
        except _standalone_cgi.CgiError:
            return False

    def _run_cgi(self, script: _standalone_cgi.CgiScript, query: str, redirects: int) -> None:
        """Run ``script`` and stream its output to the client (``_standalone_cgi`` says how)."""
        options = self.server.options
        try:
            body = self._read_body() if self.command == "POST" else b""
            env = self._cgi_environment(script, query)
            with _standalone_cgi.CgiProcess(script, env, body, options.cgi_timeout) as process:
                output = _standalone_cgi.read_output(process)
                if output.local_redirect is None:
                    framing = _standalone_cgi.choose_framing(output, self.request_version)
                    self.send_response(output.head.status, output.head.reason)
                    for name, value in (*output.head.headers, *framing.headers):
                        self.send_header(name, value)
                    self.end_headers()
                    write = self.wfile.write_parts  # type: ignore[attr-defined]
                    if not _standalone_cgi.send_body(process, output, framing, write, send=self.command != "HEAD"):
                        self.close_connection = True
                    return
        except (_standalone_cgi.CgiError, _standalone_http.RequestError) as exc:
            level = logging.WARNING if exc.status >= 500 else logging.INFO
            _LOGGER.log(level, "%s - %s", _peer(self.client_address), exc)
            self._send_plain_error(exc.status, str(exc))
            return
        if redirects >= _MAX_LOCAL_REDIRECTS:
            self._send_plain_error(http.HTTPStatus.INTERNAL_SERVER_ERROR, "too many cgi local redirects")
            return
        # RFC 3875 §6.2.2: serve the new path as if it had been requested
        # (with GET: the request body was for the first script).
        self.path = output.local_redirect
        if self.command == "POST":
            self.command = "GET"
        self._serve_http(redirects + 1)

    def _read_body(self) -> bytes:
        """Read the request body, once, framed as RFC 9112 §6.3 says; later calls return it again.

        A client that expects ``100 Continue`` (HTTP/1.1) gets it before the
        body is read; one that expects anything else gets 417. The body
        must arrive within ``--handshake-timeout`` seconds plus one per 500
        bytes received. A chunked body is decoded, and the header fields then say so
        as RFC 9112 §7.1.3 does: ``Content-Length`` its length, no
        ``Transfer-Encoding`` (a CGI script sees ``CONTENT_LENGTH``).

        Raises:
            RequestError: 400 (bad framing), 411 (a POST without
                Content-Length or chunked), 413 (over ``--max-request-body``),
                417, 431 or 501 when the body cannot be taken.
            IncompleteRequest: the client closed the connection early.
            OSError: reading failed, timed out or passed its deadline.
        """
        if self._body is not None:
            return self._body
        options = self.server.options
        headers = self.headers
        framing = _standalone_http.body_framing(headers, self.request_version, options.max_request_body)
        if framing == 0 and self.command == "POST" and headers.get("Content-Length") is None:
            raise _standalone_http.RequestError(http.HTTPStatus.LENGTH_REQUIRED, "the request needs a Content-Length")
        expectations = [value.strip().lower() for value in headers.get_all("Expect") or []]
        if self.request_version == "HTTP/1.1" and expectations:
            # RFC 9110 §10.1.1; an HTTP/1.0 client's expectation is ignored.
            if any(value != "100-continue" for value in expectations):
                raise _standalone_http.RequestError(
                    http.HTTPStatus.EXPECTATION_FAILED, f"unsupported expectation {', '.join(expectations)!r}"
                )
            if framing != 0:
                self.send_response_only(http.HTTPStatus.CONTINUE)
                self.end_headers()
                self.wfile.flush()
        if framing == 0:
            self._body = b""
            return self._body
        deadlines = self.server.deadlines
        deadlines.arm(self.connection, self.client_address, options.handshake_timeout, "request body")
        try:
            body = _standalone_http.read_body(
                self.rfile,
                framing,
                options.max_request_body,
                options.max_line_length,
                options.max_header_count,
                lambda size: deadlines.extend(self.connection, size / _MIN_BODY_RATE),
            )
        finally:
            deadlines.disarm(self.connection)
        if framing == _standalone_http.CHUNKED:
            del headers["Transfer-Encoding"]
            del headers["Trailer"]
            headers["Content-Length"] = str(len(body))
        self._body = body
        return body

    def _cgi_environment(self, script: _standalone_cgi.CgiScript, query: str) -> dict[str, str]:
        options = self.server.options
        server_name = self.server.server_name
        host = self.headers.get("Host")
        parsed = _standalone_http.split_host(host) if host else None
        if parsed is not None:
            server_name = parsed[0]
        credential = options.basic_auth_credential if options.basic_auth else None
        return _standalone_cgi.build_environment(
            script,
            document_root=options.document_root,
            method=self.command,
            query=query,
            protocol=self.request_version,
            headers=list(self.headers.items()),
            server_name=server_name,
            server_port=self.server.server_port,
            server_software=SERVER_SOFTWARE,
            remote_addr=str(self.client_address[0]),
            remote_port=int(self.client_address[1]),
            https=options.use_tls,
            remote_user=credential.split(":", 1)[0] if credential else None,
            request_uri=self.path,
            base=os.environ,
        )

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
