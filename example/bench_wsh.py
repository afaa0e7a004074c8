"""Throughput benchmark endpoint, driven by benchmark.html (or any client).

Binary messages from the client are counted (and sent back while echo is
on). Text messages are commands; the server answers each with one line:

    download SIZE COUNT   send COUNT binary messages of SIZE bytes, then
                          "done COUNT BYTES"
    stats                 "received COUNT BYTES": the binary messages
                          received since the last stats (then reset)
    echo on | echo off    "echo on" / "echo off": send binary messages back
    anything else         "error: ..."

The payload is random, so compression (if negotiated) does not flatter it.
"""

import os

MAX_SIZE = 16 * 1024 * 1024
MAX_COUNT = 1_000_000


def web_socket_do_extra_handshake(request):
    pass


def _download(stream, args):
    try:
        size, count = (int(arg) for arg in args)
    except ValueError:
        return "error: usage: download SIZE COUNT"
    if not (0 <= size <= MAX_SIZE and 0 <= count <= MAX_COUNT):
        return f"error: SIZE must be 0-{MAX_SIZE} and COUNT 0-{MAX_COUNT}"
    payload = os.urandom(size)
    for _ in range(count):
        stream.send_message(payload, binary=True)
    return f"done {count} {size * count}"


def web_socket_transfer_data(request):
    stream = request.ws_stream
    echo = False
    received_count = received_bytes = 0
    while True:
        message = stream.receive_message()
        if message is None:
            return
        if isinstance(message, bytes):
            received_count += 1
            received_bytes += len(message)
            if echo:
                stream.send_message(message, binary=True)
            continue
        command, *args = message.split() or [""]
        if command == "download":
            reply = _download(stream, args)
        elif command == "stats" and not args:
            reply = f"received {received_count} {received_bytes}"
            received_count = received_bytes = 0
        elif command == "echo" and args in (["on"], ["off"]):
            echo = args == ["on"]
            reply = f"echo {args[0]}"
        else:
            reply = f"error: unknown command {message!r}"
        stream.send_message(reply)
