"""Answers the client's close with its own code and reason."""


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    request.ws_stream.receive_message()


def web_socket_passive_closing_handshake(request):
    return 4000, f"passive:{request.ws_close_code:d}"
