"""Reads one frame with the private ``_receive_frame``, then one message with ``receive_message``.

Browser test handlers read a frame this way to see its flags (SPEC §12).
Both are described back to the client as text messages.
"""

from __future__ import annotations

from typing import Any


def web_socket_do_extra_handshake(request: Any) -> None:
    request.ws_extension_processors = []  # frames exactly as the client sent them


def web_socket_transfer_data(request: Any) -> None:
    opcode, payload, fin, rsv1, rsv2, rsv3 = request.ws_stream._receive_frame()
    request.ws_stream.send_message(f"frame opcode={opcode} fin={fin} rsv={rsv1}{rsv2}{rsv3} payload={payload!r}")
    message = request.ws_stream.receive_message()
    request.ws_stream.send_message(f"message {message!r}")
