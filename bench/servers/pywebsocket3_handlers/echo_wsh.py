"""Echo handler for pywebsocket3 4.0.2's standalone server (benchmark peer).

Sends every message back as it came (text as text, binary as binary) until
the client closes. Extensions the client offers (permessage-deflate) are
left as pywebsocket3 negotiates them.
"""


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    stream = request.ws_stream
    while True:
        message = stream.receive_message()
        if message is None:
            return
        stream.send_message(message, binary=not isinstance(message, str))
