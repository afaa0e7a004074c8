"""Close with the code and reason the client sends as ``"<code> <reason>"``.

When the client starts the closing handshake instead, reply with the code and
reason it sent.
"""

from __future__ import annotations

from typing import Any


def web_socket_do_extra_handshake(request: Any) -> None:
    pass


def web_socket_transfer_data(request: Any) -> None:
    message = request.ws_stream.receive_message()
    if message is None:
        return
    code, _, reason = message.partition(" ")
    request.ws_stream.close_connection(int(code), reason)


def web_socket_passive_closing_handshake(request: Any) -> tuple[int, str]:
    return request.ws_close_code, request.ws_close_reason
