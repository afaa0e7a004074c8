"""The RFC 8441 opening handshake: a WebSocket bootstrapped by an HTTP/2 extended CONNECT.

Layer 1. ``Handshaker`` fills in the RFC 8441 steps of ``HandshakerBase``:
it checks the CONNECT request's pseudo-header fields, and leaves the 200
answer's header fields (``build_response_headers``) on the request for the
HTTP/2 server to send. No I/O.
"""

from __future__ import annotations

import logging

from mod_pywebsocket import common
from mod_pywebsocket.handshake._base import HandshakeException, HandshakerBase

__all__ = ["Handshaker", "build_response_headers"]

_LOGGER = logging.getLogger(__name__)

_BAD_REQUEST = common.HTTP_STATUS_BAD_REQUEST
# RFC 9110 §15.5.6 "405 Method Not Allowed"; 501 for a :protocol we do not speak.
_METHOD_NOT_ALLOWED = 405
_NOT_IMPLEMENTED = 501


def build_response_headers(
    protocol: str | None, extension_header: str | None, extra_headers: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Return the header fields of the 200 answer, ``:status`` first, names in lowercase.

    RFC 9113 §8.2.2: field names are lowercase in HTTP/2, and connection-specific
    fields (``Connection``, ``Upgrade``...) must not be sent: the handler's
    ``extra_headers`` of those names are dropped.
    """
    fields = [(":status", "200")]
    if protocol is not None:
        fields.append((common.SEC_WEBSOCKET_PROTOCOL_HEADER.lower(), protocol))
    if extension_header:
        fields.append((common.SEC_WEBSOCKET_EXTENSIONS_HEADER.lower(), extension_header))
    for name, value in extra_headers:
        lowered = name.lower()
        if lowered not in _CONNECTION_SPECIFIC:
            fields.append((lowered, value))
    return fields


# RFC 9113 §8.2.2: connection-specific header fields, which HTTP/2 forbids.
_CONNECTION_SPECIFIC = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"})


class Handshaker(HandshakerBase):
    """Performs the RFC 8441 opening handshake for one HTTP/2 stream.

    The request carries the stream's pseudo-header fields in
    ``request.pseudo_headers`` (``{':method': 'CONNECT', ':protocol':
    'websocket', ...}``) and its other fields, lowercase, in
    ``request.headers_in``. On success ``request.status`` is 200 and
    ``request.headers_out`` holds the answer's fields for the server's
    HEADERS frame; nothing is written on the connection.

    ``do_handshake`` (from ``HandshakerBase``) raises HandshakeException
    with the HTTP status to answer with: 405 for another method, 501 for a
    ``:protocol`` other than websocket, 400 for a missing pseudo-header field
    or ``Sec-WebSocket-Version`` (here, unlike RFC 6455, the request can be
    nothing else), VersionException for an unsupported version.
    """

    def _protocol_rfc(self) -> str:
        return "RFC 8441"

    def _transform_header(self, header: str) -> str:
        return header.lower()

    def _check_version(self) -> int:
        # An extended CONNECT for websocket is a WebSocket request or nothing:
        # its missing version is a 400, not a cue to try another handshake.
        self._validate_request()
        name = self._transform_header(common.SEC_WEBSOCKET_VERSION_HEADER)
        if not self._request.headers_in.get(name):
            raise HandshakeException(f"no {name} header", _BAD_REQUEST)
        return super()._check_version()

    def _validate_request(self) -> None:
        pseudo: dict[str, str] = self._request.pseudo_headers
        method = pseudo.get(":method")
        if method != "CONNECT":
            raise HandshakeException(f":method is {method!r}, not 'CONNECT'", _METHOD_NOT_ALLOWED)
        protocol = pseudo.get(":protocol")
        if protocol is None:
            raise HandshakeException("CONNECT without :protocol (this server opens no tunnels)", _METHOD_NOT_ALLOWED)
        # RFC 8441 §4: the :protocol value is the Upgrade token of RFC 6455, "websocket".
        if protocol.lower() != common.WEBSOCKET_UPGRADE_TYPE:
            raise HandshakeException(f":protocol is {protocol!r}, not 'websocket'", _NOT_IMPLEMENTED)
        # RFC 8441 §4: a request with :protocol also carries :scheme and :path.
        for name in (":scheme", ":path", ":authority"):
            if not pseudo.get(name):
                raise HandshakeException(f"extended CONNECT without {name}", _BAD_REQUEST)

    def _set_accept(self) -> None:
        # RFC 8441 §5: Sec-WebSocket-Key and Sec-WebSocket-Accept are not used.
        pass

    def _send_handshake(self) -> None:
        request = self._request
        accepted = request.ws_extensions
        extension_value = common.format_extensions(accepted) if accepted else None
        request.status = 200
        request.headers_out = build_response_headers(request.ws_protocol, extension_value, request.extra_headers)
        _LOGGER.debug(
            "answering 200 for %s (version %d, protocol %r)",
            request.ws_resource,
            request.ws_version,
            request.ws_protocol,
        )
