"""Handshake exceptions, the header checks shared by the handshakers, and ``HandshakerBase``.

Layer 1: pure functions over the request's method, protocol and headers, and
the template of the RFC 6455 family of handshakes (``hybi.Handshaker``,
RFC 8441 subclasses such as wptserve's). ``handshake.base`` is pywebsocket3's
name for this module.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from mod_pywebsocket import common, extensions, http_header_util
from mod_pywebsocket._stream_hybi import Stream, StreamOptions

__all__ = [
    "AbortedByUserException",
    "HandshakeException",
    "HandshakerBase",
    "ProtocolMismatchException",
    "VersionException",
    "build_location",
    "check_request_line",
    "format_header",
    "get_default_port",
    "get_header_values",
    "get_mandatory_header",
    "parse_host_header",
    "parse_token_list",
    "prepare_request",
    "validate_mandatory_header",
    "validate_subprotocol",
]

_LOGGER = logging.getLogger(__name__)

# RFC 6455 §4.4: the Sec-WebSocket-Version value that answers an unsupported version.
_SUPPORTED_VERSIONS_VALUE = ", ".join(str(version) for version in common.SUPPORTED_HYBI_VERSIONS)

# The CRLF of folded whitespace (LWS = [CRLF] 1*( SP | HT ), RFC 2616 §2.2).
_FOLD = re.compile(r"\r\n(?=[ \t])")


class AbortedByUserException(common.WebSocketException):
    """A handler ends the connection on purpose: send nothing more, close TCP.

    No HTTP status, no close code: wherever it escapes, the connection is
    closed without another byte.
    """


class HandshakeException(common.WebSocketException):
    """The opening handshake failed.

    Attributes:
        status: the HTTP status to answer with. None means "no status of
            its own": a handshaker answers 400 (``HandshakerBase``), the
            dispatcher 403 when a handler raised it in
            ``web_socket_do_extra_handshake`` (SPEC §4), and
            ``handshake.do_handshake`` 400 when it escapes a handshaker.
            "Not my protocol" is ``ProtocolMismatchException``.
    """

    def __init__(self, msg: str, status: int | None = None) -> None:
        super().__init__(msg)
        self.status = status


class ProtocolMismatchException(HandshakeException):
    """The request is not one of this handshaker's protocol version; the next one may take it.

    ``handshake.do_handshake`` then tries the next protocol version, and
    answers 400 when none recognises the request. Its status is always None.
    """

    def __init__(self, msg: str) -> None:
        super().__init__(msg, None)


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


def _join_header_values(request: Any, name: str) -> str | None:
    """Return the values of header ``name`` joined by ``', '``, or None if it is absent."""
    values = get_header_values(request, name)
    return ", ".join(values) if values else None


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


def parse_host_header(request: Any) -> tuple[str, int]:
    """Return the host and the port of the ``Host`` header.

    Without a port, the port is 443 when ``request.is_https()``, else 80. An
    IPv6 literal keeps its brackets: ``'[::1]:8080'`` gives ``('[::1]', 8080)``.

    Raises:
        HandshakeException: no single Host header, or a port that is not a
            decimal number up to 65535 (400).
    """
    value = get_mandatory_header(request, common.HOST_HEADER)
    # RFC 9110 §7.2: Host = uri-host [ ":" port ], where an IPv6 uri-host is
    # bracketed, so only a colon after the closing bracket starts the port.
    colon = value.rfind(":")
    if colon <= value.rfind("]"):
        return value, get_default_port(request.is_https())
    port = value[colon + 1 :]
    # The length check first: int() refuses very long digit strings (CPython's int_max_str_digits).
    if not (port.isascii() and port.isdigit()) or len(port) > 5 or int(port) > 65535:
        raise HandshakeException(f"invalid port {port!r} in Host header {value!r}", common.HTTP_STATUS_BAD_REQUEST)
    return value[:colon], int(port)


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
    r"""Return ``'name: value\r\n'``."""
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


class HandshakerBase:
    """The opening handshake of RFC 6455 and of RFC 8441 (WebSockets over HTTP/2).

    Both bootstraps negotiate the same things (version, origin,
    subprotocol, extensions) and differ in how the request opens and how
    the answer goes out. ``do_handshake`` runs the shared steps and calls
    the hooks below for the rest; ``hybi.Handshaker`` is the RFC 6455
    subclass, and wptserve's ``WsH2Handshaker`` an RFC 8441 one.

    Method for the caller: ``do_handshake()``.

    Methods a subclass must override:

    - ``_protocol_rfc()``: the name of the RFC, for the log (``'RFC 6455'``).
    - ``_transform_header(name)``: how a header name is spelled in
      ``request.headers_in`` (HTTP/2 field names are lowercase).
    - ``_validate_request()``: check the method and the headers that open
      this kind of handshake.
    - ``_set_accept()``: compute what the answer must prove, if anything
      (RFC 6455's ``Sec-WebSocket-Accept``; RFC 8441 has none).
    - ``_send_handshake()``: build the success answer from the ``ws_*``
      attributes and ``request.extra_headers`` and send it, or leave it on
      the request for an HTTP/2 server to send (``request.status``,
      ``request.headers_out``).

    Methods a subclass may override: ``_check_version()``,
    ``_get_origin()``, ``_set_protocol()`` and ``_parse_extensions()`` (all
    four spell header names through ``_transform_header``),
    ``_get_extension_processors_requested()`` and
    ``_process_extensions(stream_options)``.

    Attributes for subclasses: ``_request``, ``_dispatcher`` and
    ``_logger`` (this module's logger; the package's
    subclasses log through their own module's).

    Args:
        request: the request (SPEC §3): ``method``, ``uri``, ``headers_in``
            and a ``connection`` the stream reads and writes.
        dispatcher: the ``dispatch.Dispatcher`` that runs the handler's
            ``web_socket_do_extra_handshake``.
    """

    def __init__(self, request: Any, dispatcher: Any) -> None:
        self._logger = _LOGGER
        self._request = request
        self._dispatcher = dispatcher

    def _protocol_rfc(self) -> str:
        """Return the name of the RFC this handshake implements."""
        raise NotImplementedError(f"{type(self).__name__} must override _protocol_rfc")

    def _transform_header(self, header: str) -> str:
        """Return header name ``header`` as ``request.headers_in`` spells it."""
        raise NotImplementedError(f"{type(self).__name__} must override _transform_header")

    def _validate_request(self) -> None:
        """Check the request line and the headers this handshake requires.

        Raises:
            HandshakeException: the request is malformed (400 if no status).
        """
        raise NotImplementedError(f"{type(self).__name__} must override _validate_request")

    def _set_accept(self) -> None:
        """Compute the proof the answer carries, if this handshake has one."""
        raise NotImplementedError(f"{type(self).__name__} must override _set_accept")

    def _send_handshake(self) -> None:
        """Build the success answer and send it (or leave it for the caller to send)."""
        raise NotImplementedError(f"{type(self).__name__} must override _send_handshake")

    def do_handshake(self) -> None:
        """Negotiate the WebSocket, answer the client and set ``request.ws_stream``.

        The steps, in order: ``_check_version`` (``ws_version``);
        ``_validate_request``; every ``ws_*`` attribute of SPEC §3 reset
        (``prepare_request``); ``_get_origin``, ``_set_protocol``,
        ``_parse_extensions``, ``_set_accept``;
        ``ws_extension_processors`` from
        ``_get_extension_processors_requested``; the handler's extra
        handshake; the subprotocol check (SPEC §3);
        ``_process_extensions``; ``ws_stream``; ``_send_handshake``.

        Raises:
            ProtocolMismatchException: the request lacks the version
                header (``handshake.do_handshake`` then tries the next
                protocol).
            HandshakeException: the handshake failed, always with a
                status (400 unless one was given).
            VersionException: an unsupported or ambiguous version (400).
            AbortedByUserException: the handler aborted on purpose.
        """
        request = self._request
        version = self._check_version()
        try:
            self._validate_request()
            prepare_request(request, version, None)
            self._get_origin()
            self._set_protocol()
            self._parse_extensions()
            self._set_accept()
            _LOGGER.debug("%s handshake for %s", self._protocol_rfc(), request.ws_resource)
            request.ws_extension_processors = self._get_extension_processors_requested()
            # 0.7.9's entry points set this; handlers and embedders may read it.
            # Nothing in this package does: the stream gets its callback below.
            request._dispatcher = self._dispatcher
            self._dispatcher.do_extra_handshake(request)
            self._check_selected_protocol()
            stream_options = StreamOptions()
            # Entry points may set a per-server limit (standalone --max-message-size).
            max_message_size = getattr(request, "max_message_size", None)
            if max_message_size is not None:
                stream_options.max_message_size = max_message_size
            # ... and a server-wide memory budget (standalone --max-incoming-memory).
            stream_options.message_budget = getattr(request, "message_budget", None)
            self._process_extensions(stream_options)
            # 0.7.9 asks only do_extra_handshake of a dispatcher: without
            # passive_closing_handshake, the client's close gets (1000, '').
            passive_closing_handshake = getattr(self._dispatcher, "passive_closing_handshake", None)
            request.ws_stream = Stream(request, stream_options, passive_closing_handshake)
            self._send_handshake()
        except ProtocolMismatchException:
            raise
        except HandshakeException as exc:
            if exc.status is None:
                exc.status = common.HTTP_STATUS_BAD_REQUEST
            raise

    def _check_version(self) -> int:
        """Return the version the client asked for: ``VERSION_HYBI13`` or ``VERSION_HYBI08``.

        Raises:
            ProtocolMismatchException: no version header (not a request
                for this handshake).
            VersionException: several versions, or one this server does
                not speak.
        """
        name = self._transform_header(common.SEC_WEBSOCKET_VERSION_HEADER)
        values = get_header_values(self._request, name)
        if not values:
            raise ProtocolMismatchException(f"no {name} header: not an {self._protocol_rfc()} request")
        if len(values) > 1 or "," in values[0]:
            raise VersionException(f"several versions requested: {', '.join(values)!r}", _SUPPORTED_VERSIONS_VALUE)
        value = values[0].strip()
        for version in common.SUPPORTED_HYBI_VERSIONS:
            if value == str(version):
                return version
        raise VersionException(f"unsupported version {value!r}", _SUPPORTED_VERSIONS_VALUE)

    def _get_origin(self) -> None:
        """Set ``ws_origin``: ``Origin``, or ``Sec-WebSocket-Origin`` for version 8 (None if absent)."""
        request = self._request
        header = (
            common.ORIGIN_HEADER if request.ws_version == common.VERSION_HYBI13 else common.SEC_WEBSOCKET_ORIGIN_HEADER
        )
        values = get_header_values(request, self._transform_header(header))
        request.ws_origin = values[0] if values else None

    def _set_protocol(self) -> None:
        """Set ``ws_requested_protocols`` from ``Sec-WebSocket-Protocol`` (None if absent).

        Raises:
            HandshakeException: the header is not a list of tokens (400).
        """
        request = self._request
        name = self._transform_header(common.SEC_WEBSOCKET_PROTOCOL_HEADER)
        value = _join_header_values(request, name)
        request.ws_protocol = None
        if value is None:
            request.ws_requested_protocols = None
            return
        try:
            request.ws_requested_protocols = parse_token_list(value)
        except HandshakeException as exc:
            raise HandshakeException(f"bad {name} header: {exc}", common.HTTP_STATUS_BAD_REQUEST) from exc

    def _parse_extensions(self) -> None:
        """Set ``ws_requested_extensions`` from ``Sec-WebSocket-Extensions`` (None if absent).

        Raises:
            HandshakeException: the header does not parse (400).
        """
        request = self._request
        name = self._transform_header(common.SEC_WEBSOCKET_EXTENSIONS_HEADER)
        value = _join_header_values(request, name)
        if value is None:
            request.ws_requested_extensions = None
            return
        try:
            # Quoted values reach the processors, which decline what they cannot use
            # (0.7.9's compression method lists are quoted-strings).
            request.ws_requested_extensions = common.parse_extensions(value, allow_quoted_string=True)
        except common.ExtensionParsingException as exc:
            raise HandshakeException(f"bad {name} header: {exc}", common.HTTP_STATUS_BAD_REQUEST) from exc

    def _get_extension_processors_requested(self) -> list[extensions.ExtensionProcessorInterface]:
        """Return a processor for each offered extension this server knows, in order."""
        return extensions.get_extension_processors(self._request.ws_requested_extensions)

    def _process_extensions(self, stream_options: StreamOptions) -> None:
        """Accept what ``ws_extension_processors`` still holds; set ``ws_extensions`` and ``ws_deflate``."""
        request = self._request
        request.ws_extensions = extensions.accept_extensions(request, stream_options)
        request.ws_deflate = stream_options.deflate_stream

    def _check_selected_protocol(self) -> None:
        """Check ``ws_protocol`` against ``ws_requested_protocols`` after the extra handshake.

        Raises:
            HandshakeException: a subprotocol was offered and none chosen,
                one was chosen and none offered, or it is not a token (400).
        """
        request = self._request
        protocol: str | None = request.ws_protocol
        # Read after the handler returned: it may have set this to None to
        # accept without a Sec-WebSocket-Protocol header.
        requested = request.ws_requested_protocols
        if requested:
            if protocol is None:
                raise HandshakeException(f"no subprotocol selected from the requested {', '.join(requested)}")
        elif protocol is not None:
            raise HandshakeException(f"subprotocol {protocol!r} selected but none was requested")
        if protocol is not None:
            validate_subprotocol(protocol)
