"""Answer the handshake with raw bytes of its own, then abort (raw-handshake idiom)."""

from __future__ import annotations

from typing import Any

from mod_pywebsocket import handshake

RAW_RESPONSE = b"HTTP/1.1 418 I'm a teapot\r\nX-Raw-Handshake: yes\r\n\r\nraw body"


def web_socket_do_extra_handshake(request: Any) -> None:
    request.connection.write(RAW_RESPONSE)
    raise handshake.AbortedByUserException("raw_abort_wsh wrote its own response")


def web_socket_transfer_data(request: Any) -> None:
    raise AssertionError("never reached")
