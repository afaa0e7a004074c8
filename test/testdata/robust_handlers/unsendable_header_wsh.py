"""Add an extra header that the 101 response cannot carry (not latin-1): a bug, so the server answers 500."""


def web_socket_do_extra_handshake(request):
    request.extra_headers.append(("X-Price", "\u20ac"))


def web_socket_transfer_data(request):
    raise AssertionError("never reached")
