"""The RFC 6455 opening handshake (protocol versions 13 and 8).

Layer 1. ``Handshaker.do_handshake`` reads only the request's method,
protocol and headers, runs the handler's extra handshake through the
dispatcher, then writes the whole 101 response in one call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from typing import Any

from mod_pywebsocket import common, extensions
from mod_pywebsocket._stream_hybi import Stream, StreamOptions
from mod_pywebsocket.handshake._base import (
    HandshakeException,
    VersionException,
    check_request_line,
    format_header,
    get_header_values,
    get_mandatory_header,
    parse_token_list,
    prepare_request,
    validate_subprotocol,
)

__all__ = ["Handshaker", "build_response", "compute_accept", "compute_accept_from_unicode"]

_LOGGER = logging.getLogger(__name__)

# RFC 6455 §1.3.
_WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_SUPPORTED_VERSIONS = ", ".join(str(v) for v in common.SUPPORTED_HYBI_VERSIONS)
_BAD_REQUEST = common.HTTP_STATUS_BAD_REQUEST


def compute_accept(key: bytes) -> tuple[bytes, bytes]:
    """Return ``(base64 accept value, SHA-1 digest)`` for a Sec-WebSocket-Key."""
    digest = hashlib.sha1(key + _WEBSOCKET_GUID).digest()
    return base64.b64encode(digest), digest


def compute_accept_from_unicode(key: str) -> bytes:
    """Return the Sec-WebSocket-Accept value (bytes) for a str key."""
    return compute_accept(key.encode("ascii"))[0]


def _parse_version(request: Any) -> int:
    values = get_header_values(request, common.SEC_WEBSOCKET_VERSION_HEADER)
    if not values:
        # Not an RFC 6455 request: let the next handshaker look at it.
        raise HandshakeException("no Sec-WebSocket-Version header: not an RFC 6455 request")
    if len(values) > 1 or "," in values[0]:
        raise VersionException(f"several versions requested: {', '.join(values)!r}", _SUPPORTED_VERSIONS)
    value = values[0].strip()
    if value == "13":
        return common.VERSION_HYBI13
    if value == "8":
        return common.VERSION_HYBI08
    raise VersionException(f"unsupported version {value!r}", _SUPPORTED_VERSIONS)


def _check_key(key: str) -> None:
    # RFC 6455 §4.1: "a randomly selected 16-byte value that has been
    # base64-encoded"; §4.2.1 requires it to decode to 16 bytes.
    try:
        decoded = base64.b64decode(key.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise HandshakeException(f"Sec-WebSocket-Key {key!r} is not base64", _BAD_REQUEST) from exc
    if len(decoded) != 16 or len(key) != 24:
        raise HandshakeException(f"Sec-WebSocket-Key {key!r} does not encode 16 bytes", _BAD_REQUEST)


def _joined(request: Any, name: str) -> str | None:
    values = get_header_values(request, name)
    return ", ".join(values) if values else None


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


class Handshaker:
    """Performs the RFC 6455 opening handshake for one request."""

    def __init__(self, request: Any, dispatcher: Any) -> None:
        self._request = request
        self._dispatcher = dispatcher

    def do_handshake(self) -> None:
        """Validate the request, run the extra handshake, send the 101, set up ``ws_stream``.

        Raises:
            HandshakeException: status None when the request is not an RFC
                6455 one, else the HTTP status to answer with.
            VersionException: an unsupported or ambiguous version (400).
            AbortedByUserException: the handler aborted on purpose.
        """
        request = self._request
        version = _parse_version(request)
        check_request_line(request)
        get_mandatory_header(request, common.HOST_HEADER)
        upgrade = get_mandatory_header(request, common.UPGRADE_HEADER)
        if upgrade.strip().lower() != common.WEBSOCKET_UPGRADE_TYPE:
            raise HandshakeException(f"Upgrade header is {upgrade!r}, not 'websocket'", _BAD_REQUEST)
        connection = _joined(request, common.CONNECTION_HEADER) or ""
        try:
            connection_tokens = [token.lower() for token in parse_token_list(connection)]
        except HandshakeException:
            connection_tokens = []
        if "upgrade" not in connection_tokens:
            raise HandshakeException(f"Connection header {connection!r} has no 'Upgrade' token", _BAD_REQUEST)
        key = get_mandatory_header(request, common.SEC_WEBSOCKET_KEY_HEADER).strip()
        _check_key(key)

        origin_header = common.ORIGIN_HEADER if version == common.VERSION_HYBI13 else common.SEC_WEBSOCKET_ORIGIN_HEADER
        origins = get_header_values(request, origin_header)
        prepare_request(request, version, origins[0] if origins else None)

        protocol_header = _joined(request, common.SEC_WEBSOCKET_PROTOCOL_HEADER)
        try:
            request.ws_requested_protocols = parse_token_list(protocol_header) if protocol_header is not None else None
        except HandshakeException as exc:
            raise HandshakeException(f"bad Sec-WebSocket-Protocol header: {exc}", _BAD_REQUEST) from exc
        request.ws_protocol = None

        extension_header = _joined(request, common.SEC_WEBSOCKET_EXTENSIONS_HEADER)
        if extension_header is not None:
            try:
                # Quoted values reach the processors, which decline what they cannot use
                # (0.7.9's compression method lists are quoted-strings).
                request.ws_requested_extensions = common.parse_extensions(extension_header, allow_quoted_string=True)
            except common.ExtensionParsingException as exc:
                raise HandshakeException(f"bad Sec-WebSocket-Extensions header: {exc}", _BAD_REQUEST) from exc
        else:
            request.ws_requested_extensions = None
        request.ws_extension_processors = extensions.get_extension_processors(request.ws_requested_extensions)

        request._dispatcher = self._dispatcher
        self._dispatcher.do_extra_handshake(request)

        protocol = self._check_selected_protocol()
        options = StreamOptions()
        # Entry points may set a per-server limit (standalone --max-message-size).
        max_message_size = getattr(request, "max_message_size", None)
        if max_message_size is not None:
            options.max_message_size = max_message_size
        accepted = extensions.accept_extensions(request, options)
        request.ws_extensions = accepted
        request.ws_deflate = options.deflate_stream
        extension_value = common.format_extensions(accepted) if accepted else None
        accept = compute_accept(key.encode("ascii"))[0].decode("ascii")
        response = build_response(accept, protocol, extension_value, request.extra_headers)
        request.ws_stream = Stream(request, options)
        request.connection.write(response)
        _LOGGER.debug("sent 101 for %s (version %d, protocol %r)", request.ws_resource, version, protocol)

    def _check_selected_protocol(self) -> str | None:
        request = self._request
        protocol: str | None = request.ws_protocol
        # Read after the handler returned: it may have set this to None to
        # accept without a Sec-WebSocket-Protocol header.
        requested = request.ws_requested_protocols
        if requested:
            if protocol is None:
                raise HandshakeException(
                    f"no subprotocol selected from the requested {', '.join(requested)}", _BAD_REQUEST
                )
        elif protocol is not None:
            raise HandshakeException(f"subprotocol {protocol!r} selected but none was requested", _BAD_REQUEST)
        if protocol is not None:
            try:
                validate_subprotocol(protocol)
            except HandshakeException as exc:
                raise HandshakeException(str(exc), _BAD_REQUEST) from exc
        return protocol
