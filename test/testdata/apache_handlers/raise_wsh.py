"""Send this process's pid, then fail with an exception on the next message."""

from __future__ import annotations

import os
from typing import Any


def web_socket_do_extra_handshake(request: Any) -> None:
    pass


def web_socket_transfer_data(request: Any) -> None:
    request.ws_stream.send_message(f"pid={os.getpid()}")
    request.ws_stream.receive_message()
    raise RuntimeError("raise_wsh fails on purpose")
