"""Keeps module-level state shared by every connection."""

connections = 0


def web_socket_do_extra_handshake(request):
    global connections
    connections += 1


def web_socket_transfer_data(request):
    request.ws_stream.send_message(str(connections))
