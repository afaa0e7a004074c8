"""Refuse every client in the extra handshake (the server answers 403)."""

from __future__ import annotations

from typing import Any


def web_socket_do_extra_handshake(request: Any) -> None:
    raise ValueError("reject_wsh refuses everyone")


def web_socket_transfer_data(request: Any) -> None:
    raise AssertionError("never reached")
