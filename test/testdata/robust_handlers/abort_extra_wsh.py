"""Abort in the extra handshake: the server closes TCP without a response."""

from mod_pywebsocket import handshake


def web_socket_do_extra_handshake(request):
    raise handshake.AbortedByUserException("robustness fixture: abort the handshake")


def web_socket_transfer_data(request):
    raise AssertionError("never reached")
