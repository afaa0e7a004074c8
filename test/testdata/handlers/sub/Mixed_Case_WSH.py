"""Loaded although its suffix is upper case; serves /sub/Mixed_Case."""

from __future__ import annotations


def web_socket_do_extra_handshake(request):
    request.visited = "sub/Mixed_Case"


def web_socket_transfer_data(request):
    request.ws_stream.send_message("sub")
