"""Protocol vocabulary: versions, opcodes, close codes, header names, extensions.

Layer 0: pure constants and the ``Sec-WebSocket-Extensions`` codec; no I/O.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar, Protocol

from mod_pywebsocket import http_header_util

__all__ = [
    "ConnectionLike",
    "ExtensionParameter",
    "ExtensionParsingException",
    "Opcode",
    "RequestLike",
    "StatusCode",
    "WebSocketException",
    "format_extension",
    "format_extensions",
    "is_control_opcode",
    "is_sendable_close_code",
    "parse_extensions",
]


class WebSocketException(Exception):
    """Root of every exception this package raises on purpose.

    Each exception names what it becomes in either direction, so that the
    entry points and the dispatcher look the answer up instead of keeping
    their own ladders of ``except`` clauses:

    - ``close_code``: the close code ``dispatch.Dispatcher.transfer_data``
      sends when the exception escapes a handler after the opening
      handshake; None sends no close frame (the TCP connection is dropped,
      or the peer is gone already).
    - ``status``: the HTTP status that answers an opening handshake failing
      with it (``handshake.failure_reply``); None means "no status of its
      own": a ``handshake.HandshakeException`` without one lets the next
      protocol version try the request (``handshake.do_handshake``), and
      the other exceptions without one send no HTTP answer at all.
    """

    close_code: ClassVar[int | None] = None
    status: int | None = None


# A logging level below DEBUG for the frame-by-frame trace (``--log-level fine``).
LOGLEVEL_FINE = 9

# Protocol versions, with 0.7.9's values: a draft that kept its predecessor's
# version number shares it (HyBi 03 is 2, HyBi 09-12 are 8, HyBi 14-17 are
# 13). Hixie-75 predates version numbers; HyBi-00 is hixie-76.
VERSION_HYBI17 = 13
VERSION_HYBI16 = 13
VERSION_HYBI15 = 13
VERSION_HYBI14 = 13
VERSION_HYBI13 = 13
VERSION_HYBI12 = 8
VERSION_HYBI11 = 8
VERSION_HYBI10 = 8
VERSION_HYBI09 = 8
VERSION_HYBI08 = 8
VERSION_HYBI07 = 7
VERSION_HYBI06 = 6
VERSION_HYBI05 = 5
VERSION_HYBI04 = 4
VERSION_HYBI03 = 2
VERSION_HYBI02 = 2
VERSION_HYBI01 = 1
VERSION_HYBI00 = 0
VERSION_HIXIE75 = -1
VERSION_HYBI_LATEST = VERSION_HYBI13
SUPPORTED_HYBI_VERSIONS = (VERSION_HYBI13, VERSION_HYBI08)

# URI schemes.
WEB_SOCKET_SCHEME = "ws"
WEB_SOCKET_SECURE_SCHEME = "wss"
DEFAULT_WEB_SOCKET_PORT = 80
DEFAULT_WEB_SOCKET_SECURE_PORT = 443


class Opcode(enum.IntEnum):
    """RFC 6455 §5.2 frame opcodes."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


OPCODE_CONTINUATION = Opcode.CONTINUATION
OPCODE_TEXT = Opcode.TEXT
OPCODE_BINARY = Opcode.BINARY
OPCODE_CLOSE = Opcode.CLOSE
OPCODE_PING = Opcode.PING
OPCODE_PONG = Opcode.PONG

_CONTROL_OPCODES = frozenset((Opcode.CLOSE, Opcode.PING, Opcode.PONG))
_KNOWN_OPCODES = frozenset(int(op) for op in Opcode)


def is_control_opcode(opcode: int) -> bool:
    """Return True for opcodes 0x8-0xF (RFC 6455 §5.5: the high bit marks control)."""
    return (opcode >> 3) == 1


def is_known_opcode(opcode: int) -> bool:
    """Return True for the opcodes RFC 6455 defines."""
    return opcode in _KNOWN_OPCODES


class StatusCode(enum.IntEnum):
    """RFC 6455 §7.4.1 close codes (plus the later IANA registrations)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RECEIVED = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ENDPOINT_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


# The 0.7.9+ spellings.
STATUS_NORMAL_CLOSURE = StatusCode.NORMAL_CLOSURE
STATUS_GOING_AWAY = StatusCode.GOING_AWAY
STATUS_PROTOCOL_ERROR = StatusCode.PROTOCOL_ERROR
STATUS_UNSUPPORTED_DATA = StatusCode.UNSUPPORTED_DATA
STATUS_NO_STATUS_RECEIVED = StatusCode.NO_STATUS_RECEIVED
STATUS_ABNORMAL_CLOSURE = StatusCode.ABNORMAL_CLOSURE
STATUS_INVALID_FRAME_PAYLOAD_DATA = StatusCode.INVALID_FRAME_PAYLOAD_DATA
STATUS_POLICY_VIOLATION = StatusCode.POLICY_VIOLATION
STATUS_MESSAGE_TOO_BIG = StatusCode.MESSAGE_TOO_BIG
STATUS_MANDATORY_EXTENSION = StatusCode.MANDATORY_EXTENSION
STATUS_INTERNAL_ENDPOINT_ERROR = StatusCode.INTERNAL_ENDPOINT_ERROR
STATUS_SERVICE_RESTART = StatusCode.SERVICE_RESTART
STATUS_TRY_AGAIN_LATER = StatusCode.TRY_AGAIN_LATER
STATUS_BAD_GATEWAY = StatusCode.BAD_GATEWAY
STATUS_TLS_HANDSHAKE = StatusCode.TLS_HANDSHAKE
# The 0.7 spellings.
STATUS_NORMAL = StatusCode.NORMAL_CLOSURE
STATUS_UNSUPPORTED = StatusCode.UNSUPPORTED_DATA
STATUS_CODE_NOT_AVAILABLE = StatusCode.NO_STATUS_RECEIVED
STATUS_ABNORMAL_CLOSE = StatusCode.ABNORMAL_CLOSURE
STATUS_INVALID_FRAME_PAYLOAD = StatusCode.INVALID_FRAME_PAYLOAD_DATA
STATUS_MANDATORY_EXT = StatusCode.MANDATORY_EXTENSION
STATUS_INTERNAL_SERVER_ERROR = StatusCode.INTERNAL_ENDPOINT_ERROR
STATUS_USER_REGISTERED_BASE = 3000
STATUS_USER_REGISTERED_MAX = 3999
STATUS_USER_PRIVATE_BASE = 4000
STATUS_USER_PRIVATE_MAX = 4999

# RFC 6455 §7.4.1: "MUST NOT be set as a status code in a Close control frame".
RESERVED_CLOSE_CODES = frozenset((1004, 1005, 1006, 1015))


def is_valid_close_code(code: int) -> bool:
    """Return True if a received Close frame may carry ``code`` (RFC 6455 §7.4).

    Only the codes RFC 6455 and the IANA registry define, and 3000-4999,
    are accepted from the peer; see ``is_sendable_close_code`` for what
    this server may send.
    """
    if 1000 <= code <= 1014:
        return code not in RESERVED_CLOSE_CODES
    return 3000 <= code <= 4999


# RFC 6455 §7.4.1: 1005, 1006 and 1015 "MUST NOT be set as a status code in a
# Close control frame by an endpoint".
_UNSENDABLE_CLOSE_CODES = frozenset((STATUS_NO_STATUS_RECEIVED, STATUS_ABNORMAL_CLOSURE, STATUS_TLS_HANDSHAKE))


def is_sendable_close_code(code: int) -> bool:
    """Return True if this server may send ``code`` in a Close frame.

    The one rule for every close the server sends (``Stream.close_connection``,
    the reply to the client's close, the dispatcher's close on an error):
    1000-4999 except the pseudo codes 1005, 1006 and 1015. It is wider than
    ``is_valid_close_code`` on purpose: test handlers send unassigned codes
    to see how clients react.
    """
    return 1000 <= code <= 4999 and code not in _UNSENDABLE_CLOSE_CODES


# HTTP statuses used by the handshakes and the entry points.
HTTP_STATUS_BAD_REQUEST = 400
HTTP_STATUS_FORBIDDEN = 403
HTTP_STATUS_NOT_FOUND = 404
HTTP_STATUS_INTERNAL_SERVER_ERROR = 500

# RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key before hashing.
WEBSOCKET_ACCEPT_UUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Header names and values.
HOST_HEADER = "Host"
ORIGIN_HEADER = "Origin"
UPGRADE_HEADER = "Upgrade"
CONNECTION_HEADER = "Connection"
SEC_WEBSOCKET_KEY_HEADER = "Sec-WebSocket-Key"
SEC_WEBSOCKET_ACCEPT_HEADER = "Sec-WebSocket-Accept"
SEC_WEBSOCKET_VERSION_HEADER = "Sec-WebSocket-Version"
SEC_WEBSOCKET_PROTOCOL_HEADER = "Sec-WebSocket-Protocol"
SEC_WEBSOCKET_EXTENSIONS_HEADER = "Sec-WebSocket-Extensions"
SEC_WEBSOCKET_DRAFT_HEADER = "Sec-WebSocket-Draft"
SEC_WEBSOCKET_ORIGIN_HEADER = "Sec-WebSocket-Origin"  # HyBi 08 and HyBi-00
SEC_WEBSOCKET_KEY1_HEADER = "Sec-WebSocket-Key1"
SEC_WEBSOCKET_KEY2_HEADER = "Sec-WebSocket-Key2"
SEC_WEBSOCKET_LOCATION_HEADER = "Sec-WebSocket-Location"
WEBSOCKET_ORIGIN_HEADER = "WebSocket-Origin"  # Hixie-75
WEBSOCKET_LOCATION_HEADER = "WebSocket-Location"
WEBSOCKET_PROTOCOL_HEADER = "WebSocket-Protocol"
WEBSOCKET_UPGRADE_TYPE = "websocket"
WEBSOCKET_UPGRADE_TYPE_HIXIE75 = "WebSocket"
UPGRADE_CONNECTION_TYPE = "Upgrade"

# Extension names.
DEFLATE_STREAM_EXTENSION = "deflate-stream"
DEFLATE_FRAME_EXTENSION = "deflate-frame"
PERFRAME_COMPRESSION_EXTENSION = "perframe-compress"
X_WEBKIT_DEFLATE_FRAME_EXTENSION = "x-webkit-deflate-frame"
PERMESSAGE_DEFLATE_EXTENSION = "permessage-deflate"
PERMESSAGE_COMPRESSION_EXTENSION = "permessage-compress"
X_WEBKIT_PERMESSAGE_COMPRESSION_EXTENSION = "x-webkit-permessage-compress"
MUX_EXTENSION = "mux_DO_NOT_USE"


class ConnectionLike(Protocol):
    """The connection contract the streams and handshakes read and write through.

    ``_connection.BufferedConnection`` implements it over two primitives
    (receive into a buffer, send); the standalone server's and Apache's
    connections are such, and so is the one a stream makes over any other
    ``request.connection`` (an object with ``read(n)`` that may return
    fewer bytes, and ``write(data)``). OSError from below reaches the
    caller of every method.
    """

    def read(self, length: int) -> bytes:
        """Return exactly ``length`` bytes, blocking; raise ConnectionTerminatedException at EOF."""
        ...

    def read_some(self, length: int) -> bytes:
        """Return 1 to ``length`` bytes, blocking only if none are buffered; b'' at EOF."""
        ...

    def peek(self, length: int) -> bytes:
        """Return up to ``length`` buffered bytes without consuming them, as ``read_some`` blocks; b'' at EOF."""
        ...

    def buffered(self) -> int:
        """Return how many bytes ``read`` can return without blocking."""
        ...

    def write(self, data: bytes) -> None:
        """Send all of ``data``."""
        ...

    def write_parts(self, parts: tuple[bytes, ...]) -> None:
        """Send the buffers in ``parts`` one after the other, as one ``write`` of them joined would."""
        ...

    def close(self) -> None:
        """Drop the read buffers; the transport below is closed by its owner."""
        ...


class RequestLike(Protocol):
    """What the handshake and the stream need from a request object.

    Besides these, the handshake sets the ``ws_*`` attributes (SPEC §3) and
    user handlers may set any attribute they like.
    """

    uri: str
    method: str
    headers_in: Any
    # Anything with read(n) and write(data); see ConnectionLike.
    connection: Any
    # Set by the stream: whether each side's close frame went by, and the
    # client's close code and reason.
    client_terminated: bool
    server_terminated: bool
    ws_close_code: int | None
    ws_close_reason: str | None

    def is_https(self) -> bool:
        """Return True when the request came over TLS."""
        ...


class ExtensionParsingException(WebSocketException):
    """A ``Sec-WebSocket-Extensions`` value does not follow RFC 6455 §9.1 (400)."""

    status = HTTP_STATUS_BAD_REQUEST


class ExtensionParameter:
    """One extension offer or response: a name and ordered parameters."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._parameters: list[tuple[str, str | None]] = []

    def name(self) -> str:
        """Return the extension token."""
        return self._name

    def add_parameter(self, name: str, value: str | None) -> None:
        """Append a parameter; ``value`` None means a parameter without value."""
        self._parameters.append((name, value))

    def get_parameters(self) -> list[tuple[str, str | None]]:
        """Return the parameters as ``(name, value)`` pairs, in order."""
        return self._parameters

    def get_parameter_names(self) -> list[str]:
        """Return the parameter names, in order."""
        return [name for name, _ in self._parameters]

    def has_parameter(self, name: str) -> bool:
        """Return True if a parameter called ``name`` is present."""
        return any(param == name for param, _ in self._parameters)

    def get_parameter_value(self, name: str) -> str | None:
        """Return the first value of parameter ``name``, or None."""
        for param, value in self._parameters:
            if param == name:
                return value
        return None

    def __repr__(self) -> str:
        # Not format_extension: a repr must not raise on a value no header can carry.
        return f"ExtensionParameter({self._name!r}, {self._parameters!r})"


def parse_extensions(data: str, allow_quoted_string: bool = True) -> list[ExtensionParameter]:
    """Parse a ``Sec-WebSocket-Extensions`` value (RFC 6455 §9.1).

    A parameter value is a token or, with ``allow_quoted_string``, a
    quoted-string (RFC 9110 §5.6.4), returned unescaped. RFC 6455 §9.1 wants
    the unescaped value to be a token too; this parser returns any value
    (as 0.7.9 and pywebsocket3 do), and ``extensions.get_extension_processor``
    treats an offer with another value as unusable.

    Args:
        data: the header value; several headers are joined with ``,``.
        allow_quoted_string: False makes a quoted value an error, as 0.7.9's
            default did. The default, True, is pywebsocket3's behaviour
            (whose ``parse_extensions`` has no such argument).

    Returns:
        The extensions in the order offered.

    Raises:
        ExtensionParsingException: the value is empty or malformed (an
            unterminated quoted-string, a control character in one...).
    """
    try:
        elements = http_header_util.parse_parameterized_list(data, allow_quoted_string)
    except ValueError as exc:
        raise ExtensionParsingException(str(exc)) from exc
    extensions = []
    for name, parameters in elements:
        extension = ExtensionParameter(name)
        extension._parameters = parameters
        extensions.append(extension)
    return extensions


def format_extension(extension: ExtensionParameter) -> str:
    """Format one extension for a ``Sec-WebSocket-Extensions`` header.

    A value that is not a token is sent as a quoted-string, which
    ``parse_extensions`` reads back to the same value.

    Raises:
        ValueError: a value holds a control character other than HTAB.
    """
    parts = [extension.name()]
    for name, value in extension.get_parameters():
        parts.append(name if value is None else f"{name}={http_header_util.quote_if_necessary(value)}")
    return "; ".join(parts)


def format_extensions(extension_list: list[ExtensionParameter]) -> str:
    """Format extensions for a ``Sec-WebSocket-Extensions`` header (see ``format_extension``).

    Raises:
        ValueError: a value holds a control character other than HTAB.
    """
    return ", ".join(format_extension(extension) for extension in extension_list)
