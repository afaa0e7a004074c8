"""Echo handler: sends every message back; the text message 'Goodbye' closes."""

_GOODBYE_MESSAGE = "Goodbye"


def web_socket_do_extra_handshake(request):
    # Accept every connection, and the first subprotocol offered, if any.
    if request.ws_requested_protocols:
        request.ws_protocol = request.ws_requested_protocols[0]


def web_socket_transfer_data(request):
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return  # the client closed the connection
        request.ws_stream.send_message(message, binary=isinstance(message, bytes))
        if message == _GOODBYE_MESSAGE:
            return  # returning closes the connection with 1000
