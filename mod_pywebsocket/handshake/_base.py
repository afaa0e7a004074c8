"""Handshake exceptions and the header checks shared by the handshakers.

Layer 1: pure functions over the request's method, protocol and headers.
"""

from __future__ import annotations

import re
from typing import Any

from mod_pywebsocket import common, http_header_util

__all__ = [
    "AbortedByUserException",
    "HandshakeException",
    "VersionException",
    "build_location",
    "check_request_line",
    "format_header",
    "get_default_port",
    "get_header_values",
    "get_mandatory_header",
    "parse_token_list",
    "prepare_request",
    "validate_mandatory_header",
    "validate_subprotocol",
]

# The CRLF of folded whitespace (LWS = [CRLF] 1*( SP | HT ), RFC 2616 §2.2).
_FOLD = re.compile(r"\r\n(?=[ \t])")


class AbortedByUserException(common.WebSocketException):
    """A handler ends the connection on purpose: send nothing more, close TCP."""


class HandshakeException(common.WebSocketException):
    """The opening handshake failed.

    Attributes:
        status: the HTTP status to answer with; None lets the next protocol
            version try the request (``handshake.do_handshake``).
    """

    def __init__(self, msg: str, status: int | None = None) -> None:
        super().__init__(msg)
        self.status = status


class VersionException(HandshakeException):
    """The client asked for a protocol version this server does not speak.

    Attributes:
        supported_versions: the value for the ``Sec-WebSocket-Version``
            header of the 400 response, e.g. ``'13, 8'``.
    """

    def __init__(self, msg: str, supported_versions: str | None = None) -> None:
        super().__init__(msg, status=common.HTTP_STATUS_BAD_REQUEST)
        self.supported_versions = supported_versions


def get_default_port(is_secure: bool) -> int:
    """Return 443 for secure connections, else 80."""
    return common.DEFAULT_WEB_SOCKET_SECURE_PORT if is_secure else common.DEFAULT_WEB_SOCKET_PORT


def get_header_values(request: Any, name: str) -> list[str]:
    """Return every value of header ``name`` (case-insensitive), in order."""
    headers = request.headers_in
    get_all = getattr(headers, "get_all", None)
    try:
        if get_all is not None:
            return list(get_all(name) or [])
        value = headers.get(name)
    except UnicodeError as exc:
        # mod_python decodes header values as UTF-8 and fails on other bytes.
        raise HandshakeException(f"header {name} is not valid text: {exc}", common.HTTP_STATUS_BAD_REQUEST) from exc
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def get_mandatory_header(request: Any, name: str, status: int | None = common.HTTP_STATUS_BAD_REQUEST) -> str:
    """Return the single value of header ``name``.

    Raises:
        HandshakeException: the header is missing or repeated.
    """
    values = get_header_values(request, name)
    if not values:
        raise HandshakeException(f"header {name} is not defined", status)
    if len(values) > 1:
        raise HandshakeException(f"header {name} appears {len(values)} times", status)
    return values[0]


def validate_mandatory_header(
    request: Any, name: str, expected_value: str, fail_status: int | None = None, *, case_sensitive: bool = False
) -> None:
    """Check that header ``name`` holds exactly ``expected_value``.

    Raises:
        HandshakeException: with ``fail_status``, if it does not.
    """
    value = get_mandatory_header(request, name, fail_status)
    matches = value == expected_value if case_sensitive else value.lower() == expected_value.lower()
    if not matches:
        raise HandshakeException(f"expected {expected_value!r} for header {name} but found {value!r}", fail_status)


def check_request_line(request: Any, status: int | None = common.HTTP_STATUS_BAD_REQUEST) -> None:
    """Check for ``GET`` and ``HTTP/1.1`` (RFC 6455 §4.1, the drafts alike).

    Raises:
        HandshakeException: with ``status``, for another method or version.
    """
    if request.method != "GET":
        raise HandshakeException(f"method {request.method!r} is not GET", status)
    protocol = getattr(request, "protocol", "HTTP/1.1")
    if protocol != "HTTP/1.1":
        raise HandshakeException(f"protocol {protocol!r} is not HTTP/1.1", status)


def parse_token_list(data: str) -> list[str]:
    """Parse a comma-separated list of tokens (``1#token``); empty elements are skipped.

    Raises:
        HandshakeException: an element is not a token (no status).
    """
    # LWS is [CRLF] 1*(SP | HT): drop the CRLF of folded whitespace, then
    # strip spaces and tabs around each element.
    unfolded = _FOLD.sub("", data) if "\r" in data else data
    tokens: list[str] = []
    for element in unfolded.split(","):
        element = element.strip(" \t")
        if not element:
            continue
        if not http_header_util.is_token(element):
            raise HandshakeException(f"expected a comma-separated token list but found {data!r}")
        tokens.append(element)
    if not tokens:
        raise HandshakeException(f"no token in {data!r}")
    return tokens


def validate_subprotocol(subprotocol: str) -> None:
    """Check that ``subprotocol`` is a non-empty token (RFC 6455 §4.1).

    Raises:
        HandshakeException: it is not.
    """
    if not http_header_util.is_token(subprotocol):
        raise HandshakeException(f"invalid subprotocol name {subprotocol!r}")


def format_header(name: str, value: str) -> str:
    """Return ``'name: value\\r\\n'``."""
    return f"{name}: {value}\r\n"


def build_location(request: Any) -> str:
    """Return the ws:// or wss:// URL of the request (for the legacy drafts)."""
    secure = request.is_https()
    scheme = common.WEB_SOCKET_SECURE_SCHEME if secure else common.WEB_SOCKET_SCHEME
    host = get_mandatory_header(request, common.HOST_HEADER)
    return f"{scheme}://{host}{request.ws_resource}"


def prepare_request(request: Any, version: int, origin: str | None) -> None:
    """Set the ``ws_*`` attributes every handshake sets before the extra handshake.

    ``ws_resource`` is the path and query of the request-target as the
    client sent it (mod_python's ``uri`` lacks the query, its
    ``unparsed_uri`` has it); an absolute-form target is reduced to them
    (``http_header_util.parse_request_target``). The handshaker then sets
    what its protocol adds (location, protocols, extensions).

    Raises:
        HandshakeException: 400 for an absolute-form target that names no
            resource here (another scheme, no host).
    """
    request.ws_version = version
    target = getattr(request, "unparsed_uri", None) or request.uri
    try:
        request.ws_resource = http_header_util.parse_request_target(target)
    except ValueError as exc:
        raise HandshakeException(str(exc), common.HTTP_STATUS_BAD_REQUEST) from exc
    request.ws_origin = origin
    request.ws_location = None
    request.ws_protocol = None
    request.ws_requested_protocols = None
    request.ws_extensions = None
    request.ws_requested_extensions = None
    request.ws_extension_processors = []
    request.ws_deflate = False
    request.ws_close_code = None
    request.ws_close_reason = None
    if not hasattr(request, "extra_headers"):
        request.extra_headers = []
