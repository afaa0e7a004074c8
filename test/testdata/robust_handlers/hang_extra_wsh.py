"""Never return from the extra handshake until the test sets RELEASE (at most 60 s)."""

import threading

RELEASE = threading.Event()


def web_socket_do_extra_handshake(request):
    RELEASE.wait(60)


def web_socket_transfer_data(request):
    pass
