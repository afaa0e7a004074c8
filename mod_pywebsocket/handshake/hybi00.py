"""The HyBi-00 (hixie-76) opening handshake. (Being written: issue 3.)"""

from __future__ import annotations

from typing import Any

from mod_pywebsocket.handshake._base import HandshakeException

__all__ = ["Handshaker"]


class Handshaker:
    """Performs the HyBi-00 opening handshake."""

    def __init__(self, request: Any, dispatcher: Any) -> None:
        self._request = request
        self._dispatcher = dispatcher

    def do_handshake(self) -> None:
        """Not implemented yet: let the next handshaker try."""
        raise HandshakeException("HyBi-00 is not supported yet")
