"""Abort (no close reply, TCP dropped) when the client starts the closing handshake."""

from mod_pywebsocket import handshake


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    while request.ws_stream.receive_message() is not None:
        pass


def web_socket_passive_closing_handshake(request):
    raise handshake.AbortedByUserException("robustness fixture: abort the closing handshake")
