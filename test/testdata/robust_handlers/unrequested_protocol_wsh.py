"""Choose a subprotocol whether or not the client offered one (the server answers 400 if none was offered)."""


def web_socket_do_extra_handshake(request):
    request.ws_protocol = "chat"


def web_socket_transfer_data(request):
    request.ws_stream.receive_message()
