"""Raise a plain exception in transfer_data (TCP dropped, no close frame)."""


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    request.ws_stream.receive_message()
    raise RuntimeError("robustness fixture: transfer_data fails")
