"""Send 64 KiB binary messages until the connection fails."""

from __future__ import annotations

from typing import Any


def web_socket_do_extra_handshake(request: Any) -> None:
    pass


def web_socket_transfer_data(request: Any) -> None:
    while True:
        request.ws_stream.send_message(b"\x5a" * 65536, binary=True)
