"""A handler with a bug: web_socket_transfer_data raises after the handshake.

The server logs the traceback (level ERROR) and drops the TCP connection
without a close frame; the client sees 1006. Other connections and the server
itself are not affected.
"""


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    raise RuntimeError("internal_error_wsh.py fails on purpose")
