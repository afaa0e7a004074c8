"""The request phase of the standalone server: read and check request heads and bodies.

Layer 3 (a private part of ``standalone``). ``read_request_head`` reads a
request line and header lines through a ``readline`` callable (or in one
piece from the buffer when they have all arrived), with the
line length, the number of lines and the head's size capped;
``body_framing`` applies RFC 9112 §6.3 to find where the body ends, and
``read_body`` reads it (``Content-Length`` or chunked); ``host_is_valid``,
``split_host``, ``check_host`` and ``basic_auth_matches`` check the Host
and Authorization headers; ``DeadlineWatch`` ends connections that take too long to send a
head or a body.
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
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from mod_pywebsocket import common, http_header_util
from mod_pywebsocket.http_header_util import _DIGITS, _EXCERPT, _TOKEN

if TYPE_CHECKING:
    from mod_pywebsocket._standalone_options import ServerOptions

__all__ = [
    "CHUNKED",
    "DeadlineWatch",
    "IncompleteRequest",
    "RequestError",
    "RequestHead",
    "RequestHeaders",
    "StandaloneRequestBase",
    "basic_auth_matches",
    "body_framing",
    "check_host",
    "describe_close",
    "host_is_valid",
    "log_websocket_end",
    "peer",
    "read_body",
    "read_request_head",
    "split_host",
]

_LOGGER = logging.getLogger(__name__)

_SEPARATORS = re.compile(r"[ \t]+")
_HTTP_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
_DEADLINE_POLL_SECONDS = 0.1
# How the line at a WebSocket's end names the protocol version.
_VERSION_NAMES = {
    common.VERSION_HYBI13: "13",
    common.VERSION_HYBI08: "8",
    common.VERSION_HYBI00: "hybi-00",
    common.VERSION_HIXIE75: "hixie-75",
}
# RFC 9112 §6.2: Content-Length = 1*DIGIT. Leading zeros are allowed; more
# than 18 other digits is more than any body limit (and than int() takes).
_CONTENT_LENGTH = re.compile(r"0*([0-9]{1,18})")
# RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF, with
#   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
# (names are tokens, values tokens or quoted-strings). Only CRLF ends these
# lines: a bare LF or CR is where parsers that disagree get desynchronised.
_BYTES_TOKEN = _TOKEN.pattern.encode("ascii")
_BYTES_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]+)(?:[ \t]*;[ \t]*"
    + _BYTES_TOKEN
    + rb"(?:[ \t]*=[ \t]*(?:"
    + _BYTES_TOKEN
    + rb"|"
    + _BYTES_QUOTED
    + rb"))?)*\r\n"
)
_FIELD_LINE = re.compile(_BYTES_TOKEN + rb":[\t -~\x80-\xff]*\r\n")
# Header names and values that most requests carry: every request holding
# one of these refers to this copy (an open WebSocket keeps its request's
# fields: ~0.5 KiB less per connection for a browser's handshake).
_COMMON = {
    text: text
    for text in (
        common.HOST_HEADER,
        common.UPGRADE_HEADER,
        common.CONNECTION_HEADER,
        common.ORIGIN_HEADER,
        common.SEC_WEBSOCKET_KEY_HEADER,
        common.SEC_WEBSOCKET_VERSION_HEADER,
        common.SEC_WEBSOCKET_EXTENSIONS_HEADER,
        common.SEC_WEBSOCKET_PROTOCOL_HEADER,
        "User-Agent",
        "Pragma",
        "Cache-Control",
        "Accept-Encoding",
        "Accept-Language",
        "Cookie",
        common.WEBSOCKET_UPGRADE_TYPE,
        str(common.VERSION_HYBI13),
        "no-cache",
        "keep-alive, Upgrade",
        "gzip, deflate",
        "gzip, deflate, br",
        "gzip, deflate, br, zstd",
        "permessage-deflate; client_max_window_bits",
    )
}
# Header lines (decoded) that _parse_header_lines takes as they are: a token,
# a colon, a value without CR, LF or NUL, then CRLF. Unlike _FIELD_LINE (a
# chunked body's trailer lines), other control characters pass, as the
# line by line loop lets them.
_PLAIN_FIELD_LINES = re.compile(rf"(?:{_TOKEN.pattern}:[^\r\n\0]*\r\n)*")
# RFC 9112 §3.2 and RFC 3986 §3.2.2: Host = uri-host [ ":" port ], where
# uri-host is an IP-literal in brackets, an IPv4 address or a reg-name (an
# empty one included).
_HOST = re.compile(r"(?:\[[0-9A-Za-z:.%_~-]+\]|(?:[0-9A-Za-z._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?")
# The most a body read asks for at once.
_READ_SIZE = 65536
CHUNKED = -1
"""What ``body_framing`` returns for a chunked body."""


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


class BufferedStream(Protocol):
    """A stream whose received bytes can be looked at before they are read (``BufferedConnection``)."""

    def peek(self, length: int = 1) -> bytes:
        """Return buffered bytes, at least 1 unless at EOF, blocking only if none are buffered."""

    def read(self, length: int = -1) -> bytes:
        """Read exactly ``length`` bytes."""


def read_request_head(
    readline: Callable[[int], bytes],
    max_line_length: int,
    max_header_count: int,
    max_head_size: int | None = None,
    *,
    buffer: BufferedStream | None = None,
) -> RequestHead | None:
    """Read a request line and header lines up to the empty line, and parse them.

    Args:
        readline: reads one line of at most the given number of bytes
            (``BufferedReader.readline``); b'' at EOF.
        max_line_length: the longest line allowed, line end included.
        max_header_count: the most header lines allowed.
        max_head_size: the most bytes the whole head may take, line ends
            and empty lines included (None: no cap beyond the two others).
        buffer: the stream ``readline`` reads from, if it can ``peek``: a
            head that has arrived whole and within the limits is then taken
            in one read instead of line by line (the same head either way).

    Returns:
        The head, or None if the connection ended before a new request.

    Raises:
        RequestError: 414 (request line too long), 431 (header line too
            long, too many header lines, head over ``max_head_size``), 400
            (malformed; an absolute-form target that is not ws, wss, http
            or https), 505 (not HTTP/1.x).
        IncompleteRequest: the connection ended inside the head.
        OSError: reading failed or timed out.
    """
    lines = None
    if buffer is not None:
        lines = _take_whole_head(buffer, max_line_length, max_header_count, max_head_size)
    if lines is None:
        lines = _read_head_lines(readline, max_line_length, max_header_count, max_head_size)
        if lines is None:
            return None
    request_line = lines[0].decode("latin-1").rstrip("\r\n")
    method, target, version = _parse_request_line(request_line)
    headers: http.client.HTTPMessage = _parse_header_lines(lines[1:-1], request_line)
    connection = {token.strip().lower() for value in headers.get_all("Connection", []) for token in value.split(",")}
    close = True if "close" in connection else version == "HTTP/1.0" and "keep-alive" not in connection
    return RequestHead(request_line, method, target, version, headers, lines, close)


def _take_whole_head(
    buffer: BufferedStream, max_line_length: int, max_header_count: int, max_head_size: int | None
) -> list[bytes] | None:
    r"""Read the head's lines at once if they are all buffered and ``_read_head_lines`` would take them as they are.

    That is: a non-empty first line, every line ending in CRLF, none
    longer than ``max_line_length``, at most ``max_header_count`` header
    lines, the whole within ``max_head_size``. Otherwise read nothing and
    return None: the line by line reader then says what is wrong.
    """
    limit = max_head_size if max_head_size is not None else (max_header_count + 2) * max_line_length
    data = buffer.peek(limit)
    end = data.find(b"\r\n\r\n", 0, limit)
    if end < 0 or data[:1] in (b"\r", b"\n"):
        return None
    head = data[: end + 4]
    # A bare LF would end a line (or the head) earlier for the line reader.
    if head.count(b"\n") != head.count(b"\r\n"):
        return None
    lines = [line + b"\n" for line in head.split(b"\n")[:-1]]
    if len(lines) - 2 > max_header_count or max(map(len, lines)) > max_line_length:
        return None
    buffer.read(end + 4)
    return lines


def _read_head_lines(
    readline: Callable[[int], bytes], max_line_length: int, max_header_count: int, max_head_size: int | None
) -> list[bytes] | None:
    """Read the request line and header lines, line ends included, then the empty line (``read_request_head``)."""
    lines: list[bytes] = []
    empty_lines = 0
    size = 0
    while True:
        line = readline(max_line_length + 1)
        size += len(line)
        if max_head_size is not None and size > max_head_size:
            raise RequestError(
                http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"request head over {max_head_size} bytes"
            )
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
                return lines
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


class RequestHeaders(http.client.HTTPMessage):
    """A request's header fields: the ``http.client.HTTPMessage`` that ``http.server`` gives, with quicker lookups.

    ``get``, ``[]``, ``in`` and ``get_all`` give what ``HTTPMessage``'s
    give for values decoded from bytes as ISO-8859-1 (all of ours: the
    email policy's fetch step then returns each value as it is), from an
    index by lower-case name made once, instead of lower-casing every
    field name and calling that step per field at each lookup: the opening
    handshake looks up about ten fields. The index is made again if the
    fields changed since (any ``Message`` method that changes them).
    It takes about 1.3 KiB: the server drops it (``drop_index``) when the
    WebSocket opens, so an open connection keeps it only if its handler
    looks a field up.
    """

    def __init__(self) -> None:
        super().__init__()
        self._indexed: list[tuple[str, str]] | None = None
        self._by_name: dict[str, list[str]] = {}

    @classmethod
    def from_fields(cls, fields: list[tuple[str, str]]) -> RequestHeaders:
        """Return the headers holding ``fields``, (name, value) pairs in order (the list is kept, not copied)."""
        headers = cls()
        headers._headers = fields  # type: ignore[attr-defined]  # what set_raw appends to
        return headers

    def _index(self) -> dict[str, list[str]]:
        fields: list[tuple[str, str]] = self._headers  # type: ignore[attr-defined]
        # Compares the (name, value) pairs, most of them by identity: ~0.1 µs.
        if self._indexed != fields:
            by_name: dict[str, list[str]] = {}
            for key, value in fields:
                by_name.setdefault(key.lower(), []).append(value)
            self._by_name = by_name
            self._indexed = list(fields)
        return self._by_name

    def drop_index(self) -> None:
        """Free the lookup index; the next lookup makes it again."""
        self._indexed = None
        self._by_name = {}

    def get(self, name: str, failobj: object = None) -> object:  # type: ignore[override]
        """Return the first value of field ``name`` (case-insensitive), or ``failobj``."""
        values = self._index().get(name.lower())
        return values[0] if values else failobj

    def get_all(self, name: str, failobj: object = None) -> object:  # type: ignore[override]
        """Return every value of field ``name`` (case-insensitive), in order, or ``failobj`` if none."""
        values = self._index().get(name.lower())
        return list(values) if values else failobj

    def __contains__(self, name: str) -> bool:
        """Say whether a field ``name`` (case-insensitive) is present."""
        return name.lower() in self._index()


def _parse_header_lines(lines: list[bytes], request_line: str) -> RequestHeaders:
    block = b"".join(lines).decode("latin-1")
    if _PLAIN_FIELD_LINES.fullmatch(block):
        # Checked in one pass: what the loop below would take as it is. The
        # loop says what is wrong with the others.
        fields = []
        for text in block.split("\r\n")[:-1]:
            name, _, value = text.partition(":")
            value = value.strip(" \t")
            fields.append((_COMMON.get(name, name), _COMMON.get(value, value)))
        return RequestHeaders.from_fields(fields)
    headers = RequestHeaders()
    for line in lines:
        text = line.decode("latin-1").rstrip("\r\n")
        if text[:1] in (" ", "\t"):
            # RFC 9112 §5.2: obsolete line folding may be rejected with 400.
            raise RequestError(http.HTTPStatus.BAD_REQUEST, f"folded header line {text!r}", request_line)
        name, colon, value = text.partition(":")
        value = value.strip(" \t")
        if not colon or not _TOKEN.fullmatch(name) or "\r" in value or "\0" in value:
            raise RequestError(http.HTTPStatus.BAD_REQUEST, f"malformed header line {text!r}", request_line)
        headers.set_raw(name, value)
    return headers


def body_framing(headers: email.message.Message, version: str, limit: int) -> int:
    """Return how a request's body is framed (RFC 9112 §6.3): its length, or ``CHUNKED``.

    A request with neither ``Transfer-Encoding`` nor ``Content-Length`` has
    no body (length 0). Every refusal here means the end of the body cannot
    be known: the connection must be closed after the answer.

    Args:
        headers: the request's header fields.
        version: the request's HTTP version (``HTTP/1.0`` or ``HTTP/1.1``).
        limit: the largest body taken, in bytes.

    Raises:
        RequestError: 400 (``Transfer-Encoding`` in HTTP/1.0, with
            ``Content-Length``, not ending in chunked, chunked twice; an
            invalid or conflicting ``Content-Length``), 501 (a transfer
            coding other than chunked), 413 (a length over ``limit``).
    """
    encodings = headers.get_all("Transfer-Encoding")
    lengths = headers.get_all("Content-Length")
    if encodings is not None:
        if version == "HTTP/1.0":
            # RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding "MUST
            # be treated as if the framing is faulty".
            raise RequestError(http.HTTPStatus.BAD_REQUEST, "Transfer-Encoding in an HTTP/1.0 request")
        if lengths is not None:
            # RFC 9112 §6.3: "might indicate an attempt to perform request
            # smuggling"; a server may reject it, and must close after it.
            raise RequestError(http.HTTPStatus.BAD_REQUEST, "both Transfer-Encoding and Content-Length")
        codings = [coding.strip(" \t").lower() for value in encodings for coding in value.split(",")]
        codings = [coding for coding in codings if coding]
        if not codings or codings[-1] != "chunked":
            # RFC 9112 §6.3: chunked not final: "the server MUST respond with
            # the 400 (Bad Request) status code and then close the connection".
            raise RequestError(
                http.HTTPStatus.BAD_REQUEST, f"Transfer-Encoding {', '.join(encodings)!r} does not end in chunked"
            )
        if len(codings) > 1:
            if "chunked" in codings[:-1]:
                # RFC 9112 §6.1: "A sender MUST NOT apply the chunked transfer coding more than once".
                raise RequestError(http.HTTPStatus.BAD_REQUEST, "chunked applied more than once")
            # RFC 9112 §6.1: an unknown transfer coding SHOULD get 501.
            raise RequestError(
                http.HTTPStatus.NOT_IMPLEMENTED, f"transfer codings {', '.join(codings[:-1])!r} are not supported"
            )
        return CHUNKED
    if lengths is None:
        return 0
    # RFC 9110 §8.6: a list of identical values may stand for one; anything
    # else is "an unrecoverable error" (RFC 9112 §6.3): 400, then close.
    values = {value.strip(" \t") for field in lengths for value in field.split(",")}
    value = values.pop() if len(values) == 1 else ""
    match = _CONTENT_LENGTH.fullmatch(value)
    if match is None:
        if _DIGITS.fullmatch(value):
            raise RequestError(http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body over {limit} bytes")
        shown = ", ".join(lengths)
        raise RequestError(http.HTTPStatus.BAD_REQUEST, f"bad Content-Length {shown[:_EXCERPT]!r}")
    length = int(match.group(1))
    if length > limit:
        raise RequestError(http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body of {length} bytes is over {limit}")
    return length


def read_body(
    connection: Any,
    framing: int,
    limit: int,
    max_line_length: int,
    max_trailer_count: int,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """Read a request body framed as ``body_framing`` said: ``framing`` bytes, or chunked.

    A chunked body is decoded (RFC 9112 §7.1); its trailer fields are read
    and dropped. Data is read as it comes (64 KiB at most at a time), so
    that ``progress`` hears of every byte as it arrives.

    Args:
        connection: what the body is read from: ``read1(n)`` gives 1 to n
            bytes (b'' at EOF) and ``readline(limit)`` one line, as
            ``BufferedConnection``'s and ``io.BufferedReader``'s.
        framing: the body's length, or ``CHUNKED``.
        limit: the largest chunked body taken, in bytes.
        max_line_length: the longest chunk-size or trailer line.
        max_trailer_count: the most trailer lines.
        progress: called with the number of bytes each read brought.

    Raises:
        RequestError: 400 (malformed chunked framing), 413 (a chunked body
            over ``limit``), 431 (a trailer line too long, too many).
        IncompleteRequest: the connection ended inside the body.
        OSError: reading failed or timed out.
    """
    reader = _BodyReader(connection, progress)
    if framing != CHUNKED:
        return reader.exactly(framing)
    parts = []
    total = 0
    while True:
        line = reader.line(max_line_length, "chunk-size line", http.HTTPStatus.BAD_REQUEST)
        match = _CHUNK_LINE.fullmatch(line)
        if match is None:
            raise RequestError(http.HTTPStatus.BAD_REQUEST, f"bad chunk-size line {line[:_EXCERPT]!r}")
        digits = match.group(1).lstrip(b"0")
        if not digits:
            break
        # More than 15 hex digits is over any limit (and int() need not see 8 KiB of them).
        total += int(digits, 16) if len(digits) <= 15 else limit + 1
        if total > limit:
            raise RequestError(http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body over {limit} bytes")
        parts.append(reader.exactly(int(digits, 16)))
        if reader.exactly(2) != b"\r\n":
            raise RequestError(http.HTTPStatus.BAD_REQUEST, "chunk data not followed by CRLF")
    trailers = 0
    while True:
        line = reader.line(max_line_length, "trailer line", http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        if line == b"\r\n":
            return b"".join(parts)
        trailers += 1
        if trailers > max_trailer_count:
            raise RequestError(
                http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"more than {max_trailer_count} trailer lines"
            )
        if _FIELD_LINE.fullmatch(line) is None:
            raise RequestError(http.HTTPStatus.BAD_REQUEST, f"bad trailer line {line[:_EXCERPT]!r}")


class _BodyReader:
    """Reads a body's lines and data, telling ``progress`` how many bytes each read brought."""

    def __init__(self, connection: Any, progress: Callable[[int], None] | None) -> None:
        self._connection = connection
        self._progress = progress

    def line(self, max_line_length: int, what: str, too_long: int) -> bytes:
        line: bytes = self._connection.readline(max_line_length + 1)
        if self._progress is not None:
            self._progress(len(line))
        if len(line) > max_line_length:
            raise RequestError(too_long, f"{what} over {max_line_length} bytes")
        if not line.endswith(b"\n"):
            raise IncompleteRequest(f"connection closed inside a {what}")
        return line

    def exactly(self, length: int) -> bytes:
        parts = []
        have = 0
        while have < length:
            part: bytes = self._connection.read1(min(length - have, _READ_SIZE))
            if not part:
                raise IncompleteRequest(f"connection closed after {have} of {length} body bytes")
            if self._progress is not None:
                self._progress(len(part))
            parts.append(part)
            have += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)


def host_is_valid(value: str) -> bool:
    """Return True if ``value`` is a valid Host field value (RFC 9112 §3.2: ``uri-host [ ":" port ]``)."""
    return _HOST.fullmatch(value) is not None


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


def check_host(values: list[str], version: str, options: ServerOptions) -> tuple[http.HTTPStatus, str] | None:
    """Check a request's Host header field values; return the error status and message, or None if right.

    RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status
    code to any HTTP/1.1 request message that lacks a Host header field
    and to any request message that contains more than one Host header
    field line or a Host header field with an invalid field value." With
    ``--strict`` and ``-V``/``-P`` it must also name that host and port
    (403 otherwise; without a port, 80 or 443 with ``--tls``).

    Args:
        values: the Host field values, in the order received.
        version: the request's HTTP version (``HTTP/1.0`` may omit Host).
        options: the server's options.
    """
    malformed = (http.HTTPStatus.BAD_REQUEST, f"request needs one valid Host header, not {values!r}")
    if len(values) > 1 or (not values and version != "HTTP/1.0") or (values and not host_is_valid(values[0])):
        return malformed
    if not options.strict or (options.validation_host is None and options.validation_port is None):
        return None
    parsed = split_host(values[0]) if values else None
    if parsed is None:
        return malformed
    host, port = parsed
    if port is None:
        port = common.DEFAULT_WEB_SOCKET_SECURE_PORT if options.use_tls else common.DEFAULT_WEB_SOCKET_PORT
    expected_host = options.validation_host
    if expected_host is not None and host.lower() != expected_host.strip("[]").lower():
        return http.HTTPStatus.FORBIDDEN, f"host {host!r} is not {expected_host!r}"
    if options.validation_port is not None and port != options.validation_port:
        return http.HTTPStatus.FORBIDDEN, f"port {port} is not {options.validation_port}"
    return None


class StandaloneRequestBase:
    """What the standalone server's request objects (HTTP/1.1 and HTTP/2) share: mod_python's getters (SPEC §3).

    A subclass sets ``connection``, ``uri``, ``unparsed_uri``, ``method``,
    ``protocol`` and ``_use_tls``, and the other SPEC §3 attributes.
    """

    __slots__ = ()  # a subclass may keep its attributes in slots

    connection: Any
    uri: str
    unparsed_uri: str
    method: str
    protocol: str
    _use_tls: bool

    def get_uri(self) -> str:
        """Return the request-target (HTTP/2: ``:path``), an absolute-form one reduced to its path and query."""
        return self.uri

    def get_unparsed_uri(self) -> str:
        """Return the request-target, as ``get_uri``."""
        return self.unparsed_uri

    def get_method(self) -> str:
        """Return the request method (HTTP/2: ``:method``, CONNECT)."""
        return self.method

    def get_protocol(self) -> str:
        """Return the HTTP version: the request line's, or ``HTTP/2``."""
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


def peer(address: object) -> str:
    """Return ``host:port`` (``[host]:port`` for IPv6) for a socket address, as the log shows clients."""
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address)


def basic_auth_matches(authorization: str | None, credential: str | None) -> bool:
    """Return True if an Authorization header carries ``credential`` ('user:password') by Basic auth (never if None)."""
    if credential is None:
        return False
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
        # socket -> (deadline, address, seconds given, what must arrive by then)
        self._deadlines: dict[Any, tuple[float, Any, float, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="request deadlines", daemon=True)
        self._thread.start()

    def arm(self, sock: Any, address: Any, seconds: float, what: str = "request") -> None:
        """Give ``sock`` ``seconds`` from now to finish its request phase, unless it has a deadline already.

        ``what`` names what must arrive by then, for the log line.
        """
        with self._lock:
            self._deadlines.setdefault(sock, (time.monotonic() + seconds, address, seconds, what))

    def extend(self, sock: Any, seconds: float) -> None:
        """Give ``sock`` ``seconds`` more, if it has a deadline."""
        with self._lock:
            entry = self._deadlines.get(sock)
            if entry is not None:
                deadline, address, given, what = entry
                self._deadlines[sock] = (deadline + seconds, address, given + seconds, what)

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
            for _, address, seconds, what in self._expire_due(time.monotonic()):
                _LOGGER.info("%s - no %s within %g s; connection dropped", self._describe(address), what, seconds)

    def _expire_due(self, now: float) -> list[tuple[float, Any, float, str]]:
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


def describe_close(request: Any) -> str:
    """Say how a WebSocket's closing handshake went, for the line logged at its end."""
    code = getattr(request, "ws_close_code", None)
    closed_by = getattr(getattr(request, "ws_stream", None), "closed_by", None)
    if closed_by == "client":
        return f"closed by the client with code {code}"
    if closed_by == "server":
        if code is None:
            return "closed by the server, no close frame from the client"
        return f"closed by the server, the client answered code {code}"
    if getattr(request, "client_terminated", False) or getattr(request, "server_terminated", False):
        return "closed (this protocol has no close codes)"
    return "no closing handshake"


def log_websocket_end(request: Any, client_address: object, path: str, duration: float, transport: str = "") -> None:
    """Log the one line that says how a WebSocket went, when it has ended (``transport``: e.g. " over HTTP/2")."""
    if not _LOGGER.isEnabledFor(logging.INFO):
        return
    version = getattr(request, "ws_version", None)
    accepted = getattr(request, "ws_extensions", None)
    _LOGGER.info(
        "%s - websocket %s%s ended after %.3f s: version %s, protocol %s, extensions %s, %s",
        peer(client_address),
        getattr(request, "ws_resource", path),
        transport,
        duration,
        _VERSION_NAMES.get(version, str(version)) if isinstance(version, int) else version,
        getattr(request, "ws_protocol", None) or "none",
        common.format_extensions(accepted) if accepted else "none",
        describe_close(request),
    )
