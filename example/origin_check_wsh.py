"""Origin check: accept only pages from ALLOWED_ORIGIN, answer 403 to others.

Browsers send the origin of the page that opens the WebSocket (``Origin``,
or ``Sec-WebSocket-Origin`` for protocol version 8); the handshake puts it in
``request.ws_origin``. Edit ALLOWED_ORIGIN to the site your pages come from.
An accepted connection echoes text messages.
"""

from mod_pywebsocket import common, handshake

ALLOWED_ORIGIN = "http://example.com"


def web_socket_do_extra_handshake(request):
    if request.ws_origin != ALLOWED_ORIGIN:
        raise handshake.HandshakeException(f"origin {request.ws_origin!r} is not allowed", common.HTTP_STATUS_FORBIDDEN)


def web_socket_transfer_data(request):
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        request.ws_stream.send_message(message, binary=isinstance(message, bytes))
