"""Write garbage instead of a handshake response, then abort (raw-handshake idiom)."""

from mod_pywebsocket import handshake

GARBAGE = b"NOT HTTP AT ALL\x00\xff\r\n\r\n"


def web_socket_do_extra_handshake(request):
    request.connection.write(GARBAGE)
    raise handshake.AbortedByUserException("robustness fixture: garbage handshake")


def web_socket_transfer_data(request):
    raise AssertionError("never reached")
