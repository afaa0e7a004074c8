"""Send ``ab`` ``cd`` ``ef`` as three fragments of one text message, then close."""

from __future__ import annotations

from typing import Any


def web_socket_do_extra_handshake(request: Any) -> None:
    pass


def web_socket_transfer_data(request: Any) -> None:
    request.ws_stream.send_message("ab", end=False)
    request.ws_stream.send_message("cd", end=False)
    request.ws_stream.send_message("ef", end=True)
