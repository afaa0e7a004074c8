"""Lacks web_socket_transfer_data: skipped with a warning."""


def web_socket_do_extra_handshake(request):
    pass
