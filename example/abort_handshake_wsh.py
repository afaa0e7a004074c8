"""Abort the opening handshake: the server closes TCP without any response.

web_socket_do_extra_handshake raises AbortedByUserException, so no HTTP
status line at all is written: the client sees the connection end before a
response (a browser fires error, then close with 1006).
"""

from mod_pywebsocket import handshake


def web_socket_do_extra_handshake(request):
    raise handshake.AbortedByUserException("aborted on purpose by abort_handshake_wsh.py")


def web_socket_transfer_data(request):
    pass  # never reached
