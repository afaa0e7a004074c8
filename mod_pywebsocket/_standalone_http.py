"""The request phase of the standalone server: read and check request heads.

Layer 3 (a private part of ``standalone``). ``read_request_head`` reads a
request line and header lines through a ``readline`` callable, with the
line length and the number of lines capped; ``split_host`` and
``basic_auth_matches`` check the Host and Authorization headers;
``DeadlineWatch`` ends connections that take too long to send a head.
"""

from __future__ import annotations

import base64
import binascii
import email.message
import hmac
import http
import http.client
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from mod_pywebsocket import common, http_header_util

__all__ = [
    "DeadlineWatch",
    "IncompleteRequest",
    "RequestError",
    "RequestHead",
    "basic_auth_matches",
    "body_length",
    "read_request_head",
    "split_host",
]

_LOGGER = logging.getLogger("mod_pywebsocket.standalone")

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SEPARATORS = re.compile(r"[ \t]+")
_HTTP_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
_DEADLINE_POLL_SECONDS = 0.1


class RequestError(common.WebSocketException):
    """The request is malformed or over a limit.

    Attributes:
        status: the HTTP status to answer with.
        request_line: the request line, if it was read ('' otherwise).
    """

    status: int

    def __init__(self, status: int, message: str, request_line: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.request_line = request_line


class IncompleteRequest(common.WebSocketException):
    """The client closed the connection before the end of its request (no answer: status None)."""


class RequestHead(NamedTuple):
    """A parsed request head."""

    request_line: str
    method: str
    target: str
    """The request-target in origin form (an absolute-form one, ``ws://host/echo?x``, reduced to ``/echo?x``)."""
    version: str
    headers: http.client.HTTPMessage
    raw_lines: list[bytes]
    """The request line and header lines as received, the empty line included."""
    close_connection: bool
    """False if the connection may carry another request (HTTP/1.1 keep-alive)."""


def read_request_head(
    readline: Callable[[int], bytes], max_line_length: int, max_header_count: int
) -> RequestHead | None:
    """Read a request line and header lines up to the empty line, and parse them.

    Args:
        readline: reads one line of at most the given number of bytes
            (``BufferedReader.readline``); b'' at EOF.
        max_line_length: the longest line allowed, line end included.
        max_header_count: the most header lines allowed.

    Returns:
        The head, or None if the connection ended before a new request.

    Raises:
        RequestError: 414 (request line too long), 431 (header line too
            long, too many header lines), 400 (malformed; an absolute-form
            target that is not ws, wss, http or https), 505 (not HTTP/1.x).
        IncompleteRequest: the connection ended inside the head.
        OSError: reading failed or timed out.
    """
    lines: list[bytes] = []
    empty_lines = 0
    while True:
        line = readline(max_line_length + 1)
        if len(line) > max_line_length:
            if not lines:
                raise RequestError(http.HTTPStatus.REQUEST_URI_TOO_LONG, f"request line over {max_line_length} bytes")
            raise RequestError(
                http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"header line over {max_line_length} bytes"
            )
        if not line:
            if not lines and not empty_lines:
                return None
            raise IncompleteRequest("connection closed inside the request head")
        if not line.endswith(b"\n"):
            raise IncompleteRequest("connection closed inside a request line")
        if line in (b"\r\n", b"\n"):
            if lines:
                lines.append(line)
                break
            # RFC 9112 §2.2: a server SHOULD ignore at least one empty line
            # received before the request-line.
            empty_lines += 1
            if empty_lines > max_header_count:
                raise RequestError(http.HTTPStatus.BAD_REQUEST, f"{empty_lines} empty lines before the request line")
            continue
        lines.append(line)
        if len(lines) - 1 > max_header_count:
            raise RequestError(
                http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"more than {max_header_count} header lines"
            )
    request_line = lines[0].decode("latin-1").rstrip("\r\n")
    method, target, version = _parse_request_line(request_line)
    headers = _parse_header_lines(lines[1:-1], request_line)
    connection = {token.strip().lower() for value in headers.get_all("Connection", []) for token in value.split(",")}
    close = True if "close" in connection else version == "HTTP/1.0" and "keep-alive" not in connection
    return RequestHead(request_line, method, target, version, headers, lines, close)


def _parse_request_line(text: str) -> tuple[str, str, str]:
    # RFC 9112 §3: method SP request-target SP HTTP-version. Runs of spaces
    # and tabs are tolerated; str.split() would also split on \x1c-\x1f,
    # \x85 and \xa0, which are not separators in HTTP.
    words = [word for word in _SEPARATORS.split(text) if word]
    if len(words) != 3:
        raise RequestError(http.HTTPStatus.BAD_REQUEST, f"bad request line {text!r}", text)
    method, target, version = words
    match = _HTTP_VERSION.fullmatch(version)
    if match is None:
        raise RequestError(http.HTTPStatus.BAD_REQUEST, f"bad HTTP version {version!r}", text)
    if match.group(1) != "1":
        raise RequestError(
            http.HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"HTTP version {version!r} is not supported", text
        )
    if not _TOKEN.fullmatch(method):
        raise RequestError(http.HTTPStatus.BAD_REQUEST, f"bad method {method!r}", text)
    try:
        # RFC 9112 §3.2.2: absolute-form is accepted; the resource is its path and query.
        target = http_header_util.parse_request_target(target)
    except ValueError as exc:
        raise RequestError(http.HTTPStatus.BAD_REQUEST, str(exc), text) from exc
    return method, target, version


def _parse_header_lines(lines: list[bytes], request_line: str) -> http.client.HTTPMessage:
    headers = http.client.HTTPMessage()
    for line in lines:
        text = line.decode("latin-1").rstrip("\r\n")
        if text[:1] in (" ", "\t"):
            # RFC 9112 §5.2: obsolete line folding may be rejected with 400.
            raise RequestError(http.HTTPStatus.BAD_REQUEST, f"folded header line {text!r}", request_line)
        name, colon, value = text.partition(":")
        value = value.strip(" \t")
        if not colon or not _TOKEN.fullmatch(name) or "\r" in value or "\0" in value:
            raise RequestError(http.HTTPStatus.BAD_REQUEST, f"malformed header line {text!r}", request_line)
        headers[name] = value
    return headers


def body_length(headers: email.message.Message, limit: int) -> int:
    """Return the Content-Length of a request that needs a body (chunked bodies are not supported).

    Raises:
        RequestError: 501 (Transfer-Encoding), 411 (no Content-Length), 400
            (a malformed or repeated one), 413 (over ``limit`` bytes).
    """
    if headers.get("Transfer-Encoding") is not None:
        raise RequestError(http.HTTPStatus.NOT_IMPLEMENTED, "chunked request bodies are not supported")
    values = headers.get_all("Content-Length") or []
    if not values:
        raise RequestError(http.HTTPStatus.LENGTH_REQUIRED, "the request needs a Content-Length")
    if len(values) != 1 or not values[0].isdigit():
        raise RequestError(http.HTTPStatus.BAD_REQUEST, f"bad Content-Length {', '.join(values)!r}")
    length = int(values[0])
    if length > limit:
        raise RequestError(http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body of {length} bytes is over {limit}")
    return length


def split_host(value: str) -> tuple[str, int | None] | None:
    """Split a Host header value into host and port (None if absent); None if it is malformed."""
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else ""
    else:
        host, _, port_text = value.partition(":")
    if not host or (port_text and (not port_text.isdigit() or int(port_text) > 65535)):
        return None
    return host, int(port_text) if port_text else None


def basic_auth_matches(authorization: str | None, credential: str) -> bool:
    """Return True if an Authorization header carries ``credential`` ('user:password') by Basic auth."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    try:
        given = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return scheme.lower() == "basic" and hmac.compare_digest(given, credential.encode("utf-8"))


class DeadlineWatch:
    """Ends connections that do not finish their request phase in time.

    A per-read socket timeout alone lets a client that sends one byte now
    and then hold a thread for ever. This watch's thread checks, every
    0.1 s, the deadlines armed for the request phase, and calls ``expire``
    (which shuts the socket down) for each connection past its deadline.
    Arming, disarming and expiring happen under one lock, and a connection
    disarms before its socket is closed, so ``expire`` never sees a socket
    that was closed and whose descriptor may have been reused.

    Args:
        expire: called with the socket of a connection past its deadline.
        describe: turns a connection's address into text for the log.
    """

    def __init__(self, expire: Callable[[Any], None], describe: Callable[[Any], str] = str) -> None:
        self._expire = expire
        self._describe = describe
        self._lock = threading.Lock()
        self._deadlines: dict[Any, tuple[float, Any, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="request deadlines", daemon=True)
        self._thread.start()

    def arm(self, sock: Any, address: Any, seconds: float) -> None:
        """Give ``sock`` ``seconds`` from now to finish its request phase, unless it has a deadline already."""
        with self._lock:
            self._deadlines.setdefault(sock, (time.monotonic() + seconds, address, seconds))

    def disarm(self, sock: Any) -> None:
        """Forget ``sock``'s deadline."""
        with self._lock:
            self._deadlines.pop(sock, None)

    def replace(self, sock: Any, make_new: Callable[[], Any]) -> Any:
        """Return ``make_new()``, a socket that takes over ``sock`` and its deadline."""
        with self._lock:
            new = make_new()
            entry = self._deadlines.pop(sock, None)
            if entry is not None:
                self._deadlines[new] = entry
            return new

    def close(self) -> None:
        """Stop the watch's thread."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(1.0)

    def _run(self) -> None:
        while not self._stop.wait(_DEADLINE_POLL_SECONDS):
            for _, address, seconds in self._expire_due(time.monotonic()):
                _LOGGER.info("%s - no request within %g s; connection dropped", self._describe(address), seconds)

    def _expire_due(self, now: float) -> list[tuple[float, Any, float]]:
        # A method of its own: its locals go when it returns, so the thread,
        # waiting for the next look, holds no socket of an ended connection.
        expired = []
        with self._lock:
            for sock, entry in list(self._deadlines.items()):
                if entry[0] <= now:
                    del self._deadlines[sock]
                    self._expire(sock)
                    expired.append(entry)
        return expired
