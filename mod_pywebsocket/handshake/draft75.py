"""The Hixie-75 (draft-hixie-thewebsocketprotocol-75) opening handshake.

Layer 1. ``Handshaker.do_handshake`` recognises a request with ``Upgrade:
WebSocket`` and none of the headers of the later protocols, runs the
handler's extra handshake and writes the 101 response (built by the pure
``build_response``) in one call. Hixie-75 has no challenge, so nothing is
read from the connection.

With ``strict``, the request must start exactly as the draft's client sends
it (see ``check_strict_request_lines``). That needs the raw request lines,
which a request offers as the optional attribute ``raw_request_lines``: the
request line and header lines exactly as received, as bytes with their line
ends (the standalone server sets it; mod_python cannot, so there the check
falls back to the parsed values).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from mod_pywebsocket import common
from mod_pywebsocket._stream_hixie75 import StreamHixie75
from mod_pywebsocket.handshake._base import (
    HandshakeException,
    ProtocolMismatchException,
    build_location,
    check_request_line,
    get_header_values,
    get_mandatory_header,
    prepare_request,
)
from mod_pywebsocket.handshake.hybi00 import (
    build_legacy_response,
    check_upgrade_headers,
    get_legacy_protocol,
    validate_legacy_subprotocol,
)

__all__ = ["Handshaker", "build_response", "check_strict_request_lines"]

_LOGGER = logging.getLogger(__name__)

_BAD_REQUEST = common.HTTP_STATUS_BAD_REQUEST
_STATUS_LINE = "HTTP/1.1 101 Web Socket Protocol Handshake\r\n"
# Headers that mark a request of a later protocol version.
_LATER_PROTOCOL_HEADERS = (
    common.SEC_WEBSOCKET_KEY1_HEADER,
    common.SEC_WEBSOCKET_KEY2_HEADER,
    common.SEC_WEBSOCKET_KEY_HEADER,
    common.SEC_WEBSOCKET_VERSION_HEADER,
)


def build_response(origin: str, location: str, protocol: str | None, extra_headers: list[tuple[str, str]]) -> bytes:
    """Return the bytes of the 101 response."""
    return build_legacy_response(_STATUS_LINE, "WebSocket-", origin, location, protocol, extra_headers)


def check_strict_request_lines(lines: Sequence[bytes], resource: str) -> None:
    """Check that a request starts exactly as a Hixie-75 client sends it.

    draft-hixie-thewebsocketprotocol-75 §4.1 has the client send, in this
    order and spelling, each line ending in CRLF: ``GET <resource>
    HTTP/1.1``, ``Upgrade: WebSocket``, ``Connection: Upgrade``, then the
    ``Host`` and ``Origin`` fields; §5.1 lets a server reject a handshake
    that does not match it.

    Args:
        lines: the request line and the header lines, as received.
        resource: the request-target.

    Raises:
        HandshakeException: (400) a line is missing or differs.
    """
    expected = (
        (f"GET {resource} HTTP/1.1\r\n", True),
        ("Upgrade: WebSocket\r\n", True),
        ("Connection: Upgrade\r\n", True),
        ("Host: ", False),
        ("Origin: ", False),
    )
    if len(lines) < len(expected):
        raise HandshakeException(f"request has {len(lines)} lines, expected at least {len(expected)}", _BAD_REQUEST)
    for number, ((want, whole), raw) in enumerate(zip(expected, lines), 1):
        line = raw.decode("latin-1")
        matches = line == want if whole else line.startswith(want) and line.endswith("\r\n")
        if not matches:
            raise HandshakeException(f"request line {number} is {line!r}, expected {want!r}", _BAD_REQUEST)


class Handshaker:
    """Performs the Hixie-75 opening handshake for one request.

    Args:
        request: the request (SPEC §3), optionally with ``raw_request_lines``.
        dispatcher: runs the handler's extra handshake.
        strict: require the draft's exact request line and header order.
    """

    def __init__(self, request: Any, dispatcher: Any, strict: bool = False) -> None:
        self._request = request
        self._dispatcher = dispatcher
        self._strict = strict

    def do_handshake(self) -> None:
        """Validate the request, run the extra handshake, send the 101, set up ``ws_stream``.

        Raises:
            ProtocolMismatchException: the request is not a Hixie-75 one.
            HandshakeException: the HTTP status to answer with.
            AbortedByUserException: the handler aborted on purpose.
        """
        request = self._request
        self._check_recognised()
        check_request_line(request)
        if self._strict:
            self._check_strict()
        else:
            check_upgrade_headers(request)
        get_mandatory_header(request, common.HOST_HEADER)
        origin = get_mandatory_header(request, common.ORIGIN_HEADER)
        protocol = get_legacy_protocol(request, common.WEBSOCKET_PROTOCOL_HEADER, lowest=" ")

        prepare_request(request, common.VERSION_HIXIE75, origin)
        request.ws_location = build_location(request)
        request.ws_protocol = protocol

        request._dispatcher = self._dispatcher  # as 0.7.9's entry points set it (for handlers)
        self._dispatcher.do_extra_handshake(request)

        protocol = request.ws_protocol
        if protocol is not None:
            validate_legacy_subprotocol(protocol, lowest=" ")
        response = build_response(origin, request.ws_location, protocol, request.extra_headers)
        request.ws_stream = StreamHixie75(request)
        request.connection.write(response)
        _LOGGER.debug("sent 101 for %s (Hixie-75, protocol %r)", request.ws_resource, protocol)

    def _check_recognised(self) -> None:
        request = self._request
        upgrade = get_header_values(request, common.UPGRADE_HEADER)
        if len(upgrade) != 1 or upgrade[0].strip().lower() != common.WEBSOCKET_UPGRADE_TYPE:
            raise ProtocolMismatchException("no 'Upgrade: WebSocket' header: not a Hixie-75 request")
        for name in _LATER_PROTOCOL_HEADERS:
            if get_header_values(request, name):
                raise ProtocolMismatchException(f"header {name} present: not a Hixie-75 request")

    def _check_strict(self) -> None:
        request = self._request
        lines = getattr(request, "raw_request_lines", None)
        if lines is not None:
            check_strict_request_lines(lines, getattr(request, "unparsed_uri", None) or request.uri)
            return
        # Without the raw lines (mod_python), check what the parsed headers show.
        for name, value in (
            (common.UPGRADE_HEADER, common.WEBSOCKET_UPGRADE_TYPE_HIXIE75),
            (common.CONNECTION_HEADER, common.UPGRADE_CONNECTION_TYPE),
        ):
            actual = get_mandatory_header(request, name)
            if actual != value:
                raise HandshakeException(f"expected {value!r} for header {name} but found {actual!r}", _BAD_REQUEST)
