"""Echo handler that refuses every extension (permessage-deflate included).

Same as /echo, but the 101 response never carries Sec-WebSocket-Extensions,
whatever the client offers: handy to compare compressed and plain traffic.
"""


def web_socket_do_extra_handshake(request):
    # The handshake re-reads this list after we return: an empty list means
    # that no offered extension is accepted.
    request.ws_extension_processors = []
    if request.ws_requested_protocols:
        request.ws_protocol = request.ws_requested_protocols[0]


def web_socket_transfer_data(request):
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return  # the client closed the connection
        request.ws_stream.send_message(message, binary=isinstance(message, bytes))
