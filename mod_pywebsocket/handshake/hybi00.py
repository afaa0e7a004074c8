"""The HyBi-00 (draft-hixie-thewebsocketprotocol-76) opening handshake.

Layer 1. The pure half turns ``Sec-WebSocket-Key1``/``Key2`` into numbers
(``parse_key``), the challenge into its MD5 answer
(``compute_challenge_response``) and builds the response
(``build_response``). ``Handshaker.do_handshake`` validates the headers,
reads the 8 challenge bytes that follow them (its one read point), runs the
handler's extra handshake, then writes the whole 101 response in one call.

The challenge is read before the extra handshake, so that a handler which
writes its own response (the raw-handshake idiom) finds the expected answer
in ``request.ws_challenge_md5``.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from typing import Any

from mod_pywebsocket import common
from mod_pywebsocket._connection import BufferedConnection, RawConnection, as_buffered
from mod_pywebsocket._stream_base import ConnectionTerminatedException
from mod_pywebsocket._stream_hixie75 import StreamHixie75
from mod_pywebsocket.handshake._base import (
    HandshakeException,
    ProtocolMismatchException,
    build_location,
    check_request_line,
    format_header,
    get_default_port,
    get_header_values,
    get_mandatory_header,
    parse_host_header,
    parse_token_list,
    prepare_request,
    validate_mandatory_header,
)

__all__ = [
    "CHALLENGE_KEY3_LENGTH",
    "HandshakeException",
    "Handshaker",
    "build_legacy_response",
    "build_response",
    "check_request_line",
    "check_upgrade_headers",
    "compute_challenge",
    "compute_challenge_response",
    "format_header",
    "get_default_port",
    "get_legacy_protocol",
    "get_mandatory_header",
    "parse_host_header",
    "parse_key",
    "validate_legacy_subprotocol",
    "validate_mandatory_header",
]

_LOGGER = logging.getLogger(__name__)

_BAD_REQUEST = common.HTTP_STATUS_BAD_REQUEST
_STATUS_LINE = "HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
_MAX_KEY_NUMBER = 0xFFFFFFFF
_UINT32 = struct.Struct("!I")
# draft-hixie-thewebsocketprotocol-76 §4.1: /key3/ is "eight random bytes"
# sent right after the header fields.
CHALLENGE_KEY3_LENGTH = 8


def parse_key(key: str) -> int:
    """Return the 32-bit part a ``Sec-WebSocket-Key1``/``Key2`` value encodes.

    draft-hixie-thewebsocketprotocol-76 §5.2: the key number is the key's
    digits read as a base ten integer; "If either /spaces_1/ or /spaces_2/ is
    zero, then abort"; "If /key-number_1/ is not an integral multiple of
    /spaces_1/, then abort"; the part is the quotient. A client never builds
    a key number over 4,294,967,295 (§4.1), so a larger one is refused too.

    Args:
        key: the header value.

    Returns:
        The key number divided by the number of spaces.

    Raises:
        HandshakeException: (400) no digits, no spaces, a remainder, or a
            key number over 2**32 - 1.
    """
    digits = "".join(ch for ch in key if "0" <= ch <= "9")
    if not digits:
        raise HandshakeException(f"key {key!r} has no digits", _BAD_REQUEST)
    number = int(digits)
    if number > _MAX_KEY_NUMBER:
        raise HandshakeException(f"key number {number} of key {key!r} exceeds 4294967295", _BAD_REQUEST)
    spaces = key.count(" ")
    if spaces == 0:
        raise HandshakeException(f"key {key!r} has no spaces", _BAD_REQUEST)
    if number % spaces:
        raise HandshakeException(
            f"key number {number} of key {key!r} is not a multiple of {spaces} spaces", _BAD_REQUEST
        )
    return number // spaces


def compute_challenge(part1: int, part2: int, key3: bytes) -> bytes:
    """Return the 16-byte challenge: both parts as big-endian uint32, then ``key3``."""
    return _UINT32.pack(part1) + _UINT32.pack(part2) + key3


def compute_challenge_response(challenge: bytes) -> bytes:
    """Return the MD5 digest of ``challenge`` (the body of the 101 response, §5.2)."""
    return hashlib.md5(challenge).digest()


def validate_legacy_subprotocol(protocol: str, lowest: str = "\x21") -> None:
    """Check a Hixie-75/HyBi-00 subprotocol: non-empty, printable ASCII.

    draft-hixie-thewebsocketprotocol-76 §4.1 allows characters U+0021 to
    U+007E; Hixie-75 also allows U+0020 (pass ``lowest=' '``).

    Raises:
        HandshakeException: (400) the value is empty or has another character.
    """
    if not protocol or any(not lowest <= ch <= "\x7e" for ch in protocol):
        raise HandshakeException(f"invalid subprotocol {protocol!r}", _BAD_REQUEST)


def _validate_subprotocol(subprotocol: str) -> None:
    """Check a subprotocol as 0.7.9's HyBi-00 handshake did: non-empty, U+0020 to U+007E.

    The handshake itself is stricter (``get_legacy_protocol``: no space, as
    the draft says); this is the check 0.7.9's tests call.

    Raises:
        HandshakeException: (400) the value is empty or has another character.
    """
    validate_legacy_subprotocol(subprotocol, " ")


def get_legacy_protocol(request: Any, header: str, lowest: str = "\x21") -> str | None:
    """Return the subprotocol a Hixie-75/HyBi-00 client asked for, or None.

    Raises:
        HandshakeException: (400) the header is repeated or its value invalid.
    """
    protocols = get_header_values(request, header)
    if len(protocols) > 1:
        raise HandshakeException(f"{len(protocols)} {header} headers", _BAD_REQUEST)
    if not protocols:
        return None
    validate_legacy_subprotocol(protocols[0], lowest)
    return protocols[0]


def build_legacy_response(
    status_line: str,
    header_prefix: str,
    origin: str,
    location: str,
    protocol: str | None,
    extra_headers: list[tuple[str, str]],
) -> bytes:
    """Return the header bytes of a Hixie-75 / HyBi-00 101 response.

    The drafts differ only in the status line and in naming the origin,
    location and protocol headers ``WebSocket-*`` (75) or ``Sec-WebSocket-*`` (76).
    """
    lines = [
        status_line,
        format_header(common.UPGRADE_HEADER, common.WEBSOCKET_UPGRADE_TYPE_HIXIE75),
        format_header(common.CONNECTION_HEADER, common.UPGRADE_CONNECTION_TYPE),
        format_header(header_prefix + "Origin", origin),
        format_header(header_prefix + "Location", location),
    ]
    if protocol is not None:
        lines.append(format_header(header_prefix + "Protocol", protocol))
    lines.extend(format_header(name, value) for name, value in extra_headers)
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


def build_response(
    origin: str, location: str, protocol: str | None, extra_headers: list[tuple[str, str]], challenge_response: bytes
) -> bytes:
    """Return the bytes of the 101 response, the 16-byte challenge answer included."""
    return (
        build_legacy_response(_STATUS_LINE, "Sec-WebSocket-", origin, location, protocol, extra_headers)
        + challenge_response
    )


def check_upgrade_headers(request: Any) -> None:
    """Check ``Upgrade: WebSocket`` and ``Connection: Upgrade`` (ASCII case-insensitive).

    Raises:
        HandshakeException: (400) either header is missing or different.
    """
    upgrade = get_mandatory_header(request, common.UPGRADE_HEADER)
    if upgrade.strip().lower() != common.WEBSOCKET_UPGRADE_TYPE:
        raise HandshakeException(f"Upgrade header is {upgrade!r}, not 'WebSocket'", _BAD_REQUEST)
    connection = ", ".join(get_header_values(request, common.CONNECTION_HEADER))
    try:
        tokens = [token.lower() for token in parse_token_list(connection)]
    except HandshakeException:
        tokens = []
    if "upgrade" not in tokens:
        raise HandshakeException(f"Connection header {connection!r} has no 'Upgrade' token", _BAD_REQUEST)


def _read_key3(connection: BufferedConnection | RawConnection) -> bytes:
    """Read the 8 bytes after the header fields, however the connection splits them.

    Raises:
        ConnectionTerminatedException: the connection ended or failed first.
    """
    buffered = as_buffered(connection)
    try:
        return buffered.read(CHALLENGE_KEY3_LENGTH)
    except ConnectionTerminatedException as exc:
        # What arrived before EOF stays buffered: say how much it was.
        raise ConnectionTerminatedException(
            f"connection closed after {buffered.buffered()} of {CHALLENGE_KEY3_LENGTH} challenge bytes"
        ) from exc
    except OSError as exc:
        raise ConnectionTerminatedException(f"receiving the challenge failed: {exc}") from exc


class Handshaker:
    """Performs the HyBi-00 opening handshake for one request."""

    def __init__(self, request: Any, dispatcher: Any) -> None:
        self._request = request
        self._dispatcher = dispatcher

    def do_handshake(self) -> None:
        """Validate the request, read the challenge, run the extra handshake, send the 101.

        Sets the ``ws_*`` attributes (SPEC §3) and ``request.ws_stream``, a
        ``StreamHixie75`` with the closing handshake enabled.

        Raises:
            ProtocolMismatchException: the request has no
                ``Sec-WebSocket-Key1`` (not a HyBi-00 request).
            HandshakeException: the HTTP status to answer with (400 for a
                malformed request, or the status the handler chose).
            ConnectionTerminatedException: the connection ended before the
                8 challenge bytes arrived.
            AbortedByUserException: the handler aborted on purpose.
        """
        request = self._request
        if not get_header_values(request, common.SEC_WEBSOCKET_KEY1_HEADER):
            raise ProtocolMismatchException("no Sec-WebSocket-Key1 header: not a HyBi-00 request")
        check_request_line(request)
        check_upgrade_headers(request)
        get_mandatory_header(request, common.HOST_HEADER)
        origin = get_mandatory_header(request, common.ORIGIN_HEADER)
        part1 = parse_key(get_mandatory_header(request, common.SEC_WEBSOCKET_KEY1_HEADER))
        part2 = parse_key(get_mandatory_header(request, common.SEC_WEBSOCKET_KEY2_HEADER))
        protocol = get_legacy_protocol(request, common.SEC_WEBSOCKET_PROTOCOL_HEADER)

        prepare_request(request, common.VERSION_HYBI00, origin)
        request.ws_location = build_location(request)
        request.ws_protocol = protocol

        key3 = _read_key3(request.connection)
        request.ws_challenge = compute_challenge(part1, part2, key3)
        request.ws_challenge_md5 = compute_challenge_response(request.ws_challenge)

        request._dispatcher = self._dispatcher  # as 0.7.9's entry points set it (for handlers)
        self._dispatcher.do_extra_handshake(request)

        # -76 §5.2: the subprotocol field is echoed back; the handler may
        # have changed it (or set it to None to send none).
        protocol = request.ws_protocol
        if protocol is not None:
            validate_legacy_subprotocol(protocol)
        response = build_response(
            origin, request.ws_location, protocol, request.extra_headers, request.ws_challenge_md5
        )
        request.ws_stream = StreamHixie75(request, enable_closing_handshake=True)
        request.connection.write(response)
        _LOGGER.debug("sent 101 for %s (HyBi-00, protocol %r)", request.ws_resource, protocol)
