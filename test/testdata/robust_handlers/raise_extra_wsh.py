"""Raise a plain exception in the extra handshake (the server answers 403)."""


def web_socket_do_extra_handshake(request):
    raise RuntimeError("robustness fixture: extra handshake fails")


def web_socket_transfer_data(request):
    raise AssertionError("never reached")
