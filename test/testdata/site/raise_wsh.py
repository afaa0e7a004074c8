"""Raise ValueError in web_socket_transfer_data (the server logs it with its traceback)."""

from __future__ import annotations

from typing import Any


def web_socket_do_extra_handshake(request: Any) -> None:
    pass


def web_socket_transfer_data(request: Any) -> None:
    raise ValueError("raised on purpose")
