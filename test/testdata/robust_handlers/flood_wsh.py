"""Send 64 MiB in 1 MiB binary messages, ignoring what the client sends."""

TOTAL = 64 * 1024 * 1024
CHUNK = b"\xa5" * (1024 * 1024)


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    for _ in range(TOTAL // len(CHUNK)):
        request.ws_stream.send_message(CHUNK, binary=True)
