"""The opening handshake: try each protocol version the server speaks; answer failures.

Layer 1. ``do_handshake`` tries RFC 6455, then HyBi-00 (hixie-76), then,
only with ``allowDraft75``, Hixie-75, and uses the first that recognises the
request: a handshaker that does not raises ``ProtocolMismatchException``
and the next one tries; any other failure ends the attempt; if none
recognises the request, the answer is 400. ``failure_reply`` turns a
failure into the answer, for both entry points (``standalone`` and
``headerparserhandler``).
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from mod_pywebsocket import common
from mod_pywebsocket._stream_base import ConnectionTerminatedException
from mod_pywebsocket.handshake import hybi
from mod_pywebsocket.handshake._base import (
    AbortedByUserException,
    HandshakeException,
    ProtocolMismatchException,
    VersionException,
)

__all__ = [
    "AbortedByUserException",
    "FailureReply",
    "HandshakeException",
    "ProtocolMismatchException",
    "VersionException",
    "do_handshake",
    "failure_reply",
]

_LOGGER = logging.getLogger(__name__)

# Where a Hixie-75 request that nothing accepted is told how to turn Hixie-75 on.
_DRAFT75_DISABLED = (
    "not enabled (standalone server: --allow-draft75; Apache: PythonOption mod_pywebsocket.allow_draft75 On)"
)


def _handshakers(allow_draft75: bool, strict: bool) -> list[tuple[str, Any]]:
    from mod_pywebsocket.handshake import draft75, hybi00

    chain: list[tuple[str, Any]] = [
        ("RFC 6455", hybi.Handshaker),
        ("HyBi-00", hybi00.Handshaker),
    ]
    if allow_draft75:
        chain.append(("Hixie-75", lambda request, dispatcher: draft75.Handshaker(request, dispatcher, strict)))
    return chain


def do_handshake(request: Any, dispatcher: Any, allowDraft75: bool = False, strict: bool = False) -> None:
    """Perform the opening handshake of ``request`` and set ``request.ws_stream``.

    Args:
        request: a mod_python or standalone request (SPEC §3).
        dispatcher: the ``dispatch.Dispatcher`` whose handler runs the extra handshake.
        allowDraft75: also accept Hixie-75 requests.
        strict: with Hixie-75, require the draft's exact header order.

    Raises:
        HandshakeException: with the HTTP status to answer with (400 when
            no protocol version recognises the request).
        VersionException: an unsupported version (400; add Sec-WebSocket-Version).
        AbortedByUserException: the handler aborted; send nothing, close.
        DispatchException: no handler for the resource (404).
        ConnectionTerminatedException: the connection ended during the handshake.
    """
    failures = []
    for name, handshaker_class in _handshakers(allowDraft75, strict):
        try:
            handshaker_class(request, dispatcher).do_handshake()
            return
        except ProtocolMismatchException as exc:
            failures.append(f"{name}: {exc}")
        except HandshakeException as exc:
            if exc.status is None:
                exc.status = common.HTTP_STATUS_BAD_REQUEST
            raise
    if not allowDraft75:
        failures.append(f"Hixie-75: {_DRAFT75_DISABLED}")
    raise HandshakeException(
        "no protocol version accepts the request (" + "; ".join(failures) + ")", common.HTTP_STATUS_BAD_REQUEST
    )


class FailureReply(NamedTuple):
    """How an entry point answers an opening handshake that failed.

    Attributes:
        status: the HTTP status to answer with; None sends no answer and
            closes the connection.
        headers: header fields to add to the answer, ``(name, value)``.
        log_level: the ``logging`` level to log the failure at; at ERROR,
            log the traceback too.
    """

    status: int | None
    headers: tuple[tuple[str, str], ...]
    log_level: int


def failure_reply(exc: BaseException, response_started: bool = False) -> FailureReply:
    """Return the answer to an opening handshake that failed with ``exc``.

    The one table from exceptions to HTTP answers, used by the standalone
    server and by the Apache entry point alike, in this order:

    - ``AbortedByUserException`` (the handler aborted, SPEC §4),
      ``ConnectionTerminatedException`` and ``OSError`` from the
      connection (the peer is gone): no answer, INFO;
    - a ``HandshakeException`` without a status: 400 (no handshaker took it);
    - any other ``common.WebSocketException`` with a status: that status,
      plus ``Sec-WebSocket-Version`` for a ``VersionException`` (RFC 6455
      §4.4); INFO, or ERROR for a 5xx (a broken configuration);
    - anything else is a bug (ours, or a handler's outside
      ``web_socket_do_extra_handshake``): 500, ERROR with the traceback.

    Args:
        exc: what the handshake raised.
        response_started: bytes of an answer went out already (a handler
            wrote on the connection): no status can follow them.
    """
    if isinstance(exc, (AbortedByUserException, ConnectionTerminatedException, OSError)):
        return FailureReply(None, (), logging.INFO)
    status = exc.status if isinstance(exc, common.WebSocketException) else None
    if status is None:
        bad_request = isinstance(exc, HandshakeException)
        status = common.HTTP_STATUS_BAD_REQUEST if bad_request else common.HTTP_STATUS_INTERNAL_SERVER_ERROR
    level = logging.ERROR if status >= common.HTTP_STATUS_INTERNAL_SERVER_ERROR else logging.INFO
    if response_started:
        return FailureReply(None, (), level)
    headers: tuple[tuple[str, str], ...] = ()
    if isinstance(exc, VersionException) and exc.supported_versions:
        headers = ((common.SEC_WEBSOCKET_VERSION_HEADER, exc.supported_versions),)
    return FailureReply(status, headers, level)
