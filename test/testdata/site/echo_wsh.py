"""Echo every message back, text as text and binary as binary; choose the first subprotocol offered."""

from __future__ import annotations

from typing import Any


def web_socket_do_extra_handshake(request: Any) -> None:
    if getattr(request, "ws_requested_protocols", None):
        request.ws_protocol = request.ws_requested_protocols[0]


def web_socket_transfer_data(request: Any) -> None:
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        request.ws_stream.send_message(message, binary=isinstance(message, bytes))
