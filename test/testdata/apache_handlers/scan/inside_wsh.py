"""Say ``inside`` (used to check mod_pywebsocket.handler_scan)."""

from __future__ import annotations

from typing import Any


def web_socket_do_extra_handshake(request: Any) -> None:
    pass


def web_socket_transfer_data(request: Any) -> None:
    request.ws_stream.send_message("inside")
