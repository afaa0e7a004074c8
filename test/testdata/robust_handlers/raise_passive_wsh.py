"""Raise a plain exception when the client starts the closing handshake."""


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    while request.ws_stream.receive_message() is not None:
        pass


def web_socket_passive_closing_handshake(request):
    raise RuntimeError("robustness fixture: passive closing handshake fails")
