"""Accept subprotocol ``chat`` when offered, then report the choice."""

from __future__ import annotations

from typing import Any


def web_socket_do_extra_handshake(request: Any) -> None:
    # Offering only other protocols leaves ws_protocol None: the handshake fails.
    if request.ws_requested_protocols and "chat" in request.ws_requested_protocols:
        request.ws_protocol = "chat"


def web_socket_transfer_data(request: Any) -> None:
    request.ws_stream.send_message(
        "protocol={} requested={}".format(request.ws_protocol, ",".join(request.ws_requested_protocols or []))
    )
    request.ws_stream.receive_message()
