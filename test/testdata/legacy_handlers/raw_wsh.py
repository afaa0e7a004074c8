"""Write a HyBi-00 101 response by hand, then a text frame, then abort.

The raw-handshake idiom: bytes written in the extra handshake go out before
(here: instead of) the server's response; AbortedByUserException makes the
server close the connection without writing anything more.
"""

from __future__ import annotations

from mod_pywebsocket import handshake


def web_socket_do_extra_handshake(request):
    response = (
        "HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
        "Upgrade: WebSocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Origin: {request.ws_origin}\r\n"
        f"Sec-WebSocket-Location: {request.ws_location}\r\n"
        "X-Written-By: raw_wsh\r\n"
        "\r\n"
    ).encode("latin-1")
    request.connection.write(response + request.ws_challenge_md5 + b"\x00raw\xff")
    raise handshake.AbortedByUserException("raw handshake done")


def web_socket_transfer_data(request):
    raise AssertionError("never reached")
