"""Reject the extra handshake with HandshakeException(status=401)."""

from mod_pywebsocket import handshake


def web_socket_do_extra_handshake(request):
    raise handshake.HandshakeException("robustness fixture: not authorised", 401)


def web_socket_transfer_data(request):
    raise AssertionError("never reached")
