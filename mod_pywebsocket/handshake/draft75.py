"""The Hixie-75 opening handshake. (Being written: issue 3.)"""

from __future__ import annotations

from typing import Any

from mod_pywebsocket.handshake._base import HandshakeException

__all__ = ["Handshaker"]


class Handshaker:
    """Performs the Hixie-75 opening handshake."""

    def __init__(self, request: Any, dispatcher: Any, strict: bool = False) -> None:
        self._request = request
        self._dispatcher = dispatcher
        self._strict = strict

    def do_handshake(self) -> None:
        """Not implemented yet: let the next handshaker try."""
        raise HandshakeException("Hixie-75 is not supported yet")
