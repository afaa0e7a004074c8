"""On the first message, start the closing handshake with 1000 and wait for the client's close."""


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    request.ws_stream.receive_message()
    request.ws_stream.close_connection(1000, "server closes")
