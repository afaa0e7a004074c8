"""Write garbage on the raw connection, then raise (TCP dropped)."""

GARBAGE = b"\x0f\xff garbage that is not a frame \x00\x01\x02" * 4


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    request.connection.write(GARBAGE)
    raise RuntimeError("robustness fixture: garbage then raise")
