"""Abort after the handshake: the server drops TCP without a close frame.

The handshake succeeds; then web_socket_transfer_data raises
AbortedByUserException. The server logs it and closes the TCP connection
without a closing handshake, so a browser reports close code 1006 with
wasClean == false. Useful to test how a client copes with a dead server.
"""

from mod_pywebsocket import handshake


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    raise handshake.AbortedByUserException("aborted on purpose by abort_wsh.py")
