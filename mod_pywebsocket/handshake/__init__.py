"""The opening handshake: try each protocol version the server speaks.

Layer 1. ``do_handshake`` tries RFC 6455, then HyBi-00 (hixie-76), then,
only with ``allowDraft75``, Hixie-75, and uses the first that recognises the
request. A failure carrying an HTTP status ends the attempt; one without a
status lets the next handshaker try; if none accepts, the answer is 400.
"""

from __future__ import annotations

import logging
from typing import Any

from mod_pywebsocket import common
from mod_pywebsocket.handshake import hybi
from mod_pywebsocket.handshake._base import (
    AbortedByUserException,
    HandshakeException,
    VersionException,
)

__all__ = ["AbortedByUserException", "HandshakeException", "VersionException", "do_handshake"]

_LOGGER = logging.getLogger(__name__)


def _handshakers(allow_draft75: bool, strict: bool) -> list[tuple[str, Any]]:
    from mod_pywebsocket.handshake import draft75, hybi00

    chain: list[tuple[str, Any]] = [
        ("RFC 6455", hybi.Handshaker),
        ("HyBi-00", hybi00.Handshaker),
    ]
    if allow_draft75:
        chain.append(("Hixie-75", lambda request, dispatcher: draft75.Handshaker(request, dispatcher, strict)))
    return chain


def do_handshake(request: Any, dispatcher: Any, allowDraft75: bool = False, strict: bool = False) -> None:  # noqa: N803
    """Perform the opening handshake of ``request`` and set ``request.ws_stream``.

    Args:
        request: a mod_python or standalone request (SPEC §3).
        dispatcher: the ``dispatch.Dispatcher`` whose handler runs the extra handshake.
        allowDraft75: also accept Hixie-75 requests.
        strict: with Hixie-75, require the draft's exact header order.

    Raises:
        HandshakeException: with the HTTP status to answer with.
        VersionException: an unsupported version (400; add Sec-WebSocket-Version).
        AbortedByUserException: the handler aborted; send nothing, close.
    """
    failures = []
    for name, handshaker_class in _handshakers(allowDraft75, strict):
        try:
            handshaker_class(request, dispatcher).do_handshake()
            return
        except HandshakeException as exc:
            if exc.status is not None:
                _LOGGER.info("%s handshake failed with %d: %s", name, exc.status, exc)
                raise
            failures.append(f"{name}: {exc}")
    message = "no protocol version accepts the request (" + "; ".join(failures) + ")"
    _LOGGER.info("%s", message)
    raise HandshakeException(message, common.HTTP_STATUS_BAD_REQUEST)
