"""Reject the extra handshake with HandshakeException and no status (the server answers 403, SPEC §4)."""

from mod_pywebsocket import handshake


def web_socket_do_extra_handshake(request):
    raise handshake.HandshakeException("robustness fixture: refused without a status")


def web_socket_transfer_data(request):
    raise AssertionError("never reached")
