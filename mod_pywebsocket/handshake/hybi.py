"""The RFC 6455 opening handshake (protocol versions 13 and 8).

Layer 1. ``Handshaker`` fills in the RFC 6455 steps of ``HandshakerBase``:
it checks the GET request and its ``Sec-WebSocket-Key``, and writes the
whole 101 response, built by ``build_response``, in one call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from typing import Any

from mod_pywebsocket import common

# 0.7.9's handshake.hybi module namespace had these names; handler code reaches them there.
from mod_pywebsocket._stream_hybi import Stream, StreamOptions  # noqa: F401
from mod_pywebsocket.extensions import get_extension_processor  # noqa: F401
from mod_pywebsocket.handshake._base import (  # noqa: F401
    HandshakeException,
    HandshakerBase,
    VersionException,
    _join_header_values,
    check_request_line,
    format_header,
    get_mandatory_header,
    parse_token_list,
    validate_mandatory_header,
    validate_subprotocol,
)

__all__ = ["Handshaker", "build_response", "compute_accept", "compute_accept_from_unicode"]

_LOGGER = logging.getLogger(__name__)

_BAD_REQUEST = common.HTTP_STATUS_BAD_REQUEST


def compute_accept(key: bytes) -> tuple[bytes, bytes]:
    """Return ``(base64 accept value, SHA-1 digest)`` for a Sec-WebSocket-Key."""
    digest = hashlib.sha1(key + common.WEBSOCKET_ACCEPT_UUID).digest()
    return base64.b64encode(digest), digest


def compute_accept_from_unicode(key: str) -> bytes:
    """Return the Sec-WebSocket-Accept value (bytes) for a str key."""
    return compute_accept(key.encode("ascii"))[0]


def _check_key(key: str) -> None:
    # RFC 6455 §4.1: "a randomly selected 16-byte value that has been
    # base64-encoded"; §4.2.1 requires it to decode to 16 bytes.
    try:
        decoded = base64.b64decode(key.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise HandshakeException(f"Sec-WebSocket-Key {key!r} is not base64", _BAD_REQUEST) from exc
    if len(decoded) != 16 or len(key) != 24:
        raise HandshakeException(f"Sec-WebSocket-Key {key!r} does not encode 16 bytes", _BAD_REQUEST)


def build_response(
    accept: str, protocol: str | None, extension_header: str | None, extra_headers: list[tuple[str, str]]
) -> bytes:
    """Return the bytes of the 101 response."""
    lines = [
        "HTTP/1.1 101 Switching Protocols\r\n",
        format_header(common.UPGRADE_HEADER, common.WEBSOCKET_UPGRADE_TYPE),
        format_header(common.CONNECTION_HEADER, common.UPGRADE_CONNECTION_TYPE),
        format_header(common.SEC_WEBSOCKET_ACCEPT_HEADER, accept),
    ]
    if protocol is not None:
        lines.append(format_header(common.SEC_WEBSOCKET_PROTOCOL_HEADER, protocol))
    if extension_header:
        lines.append(format_header(common.SEC_WEBSOCKET_EXTENSIONS_HEADER, extension_header))
    lines.extend(format_header(name, value) for name, value in extra_headers)
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


class Handshaker(HandshakerBase):
    """Performs the RFC 6455 opening handshake for one request.

    ``do_handshake`` (from ``HandshakerBase``) raises HandshakeException
    with status None when the request has no ``Sec-WebSocket-Version``
    (not an RFC 6455 request), and with the HTTP status to answer with
    otherwise; VersionException for an unsupported or ambiguous version;
    AbortedByUserException when the handler aborts on purpose.
    """

    def __init__(self, request: Any, dispatcher: Any) -> None:
        super().__init__(request, dispatcher)
        self._key = ""
        self._accept = ""

    def _protocol_rfc(self) -> str:
        return "RFC 6455"

    def _transform_header(self, header: str) -> str:
        return header

    def _validate_request(self) -> None:
        request = self._request
        check_request_line(request)
        get_mandatory_header(request, common.HOST_HEADER)
        upgrade = get_mandatory_header(request, common.UPGRADE_HEADER)
        if upgrade.strip().lower() != common.WEBSOCKET_UPGRADE_TYPE:
            raise HandshakeException(f"Upgrade header is {upgrade!r}, not 'websocket'", _BAD_REQUEST)
        self._validate_connection_header()
        self._key = self._get_key()

    def _validate_connection_header(self) -> None:
        connection = _join_header_values(self._request, common.CONNECTION_HEADER) or ""
        try:
            connection_tokens = [token.lower() for token in parse_token_list(connection)]
        except HandshakeException:
            connection_tokens = []
        if "upgrade" not in connection_tokens:
            raise HandshakeException(f"Connection header {connection!r} has no 'Upgrade' token", _BAD_REQUEST)

    def _get_key(self) -> str:
        """Return the validated ``Sec-WebSocket-Key``.

        Raises:
            HandshakeException: it is missing, repeated or not base64 of 16 bytes (400).
        """
        key = get_mandatory_header(self._request, common.SEC_WEBSOCKET_KEY_HEADER).strip()
        _check_key(key)
        return key

    def _set_accept(self) -> None:
        self._accept = compute_accept(self._key.encode("ascii"))[0].decode("ascii")

    def _send_handshake(self) -> None:
        request = self._request
        accepted = request.ws_extensions
        extension_value = common.format_extensions(accepted) if accepted else None
        response = build_response(self._accept, request.ws_protocol, extension_value, request.extra_headers)
        request.connection.write(response)
        _LOGGER.debug(
            "sent 101 for %s (version %d, protocol %r)", request.ws_resource, request.ws_version, request.ws_protocol
        )
