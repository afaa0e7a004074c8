"""The ceiling: the least a Python thread-per-connection WebSocket echo server can do.

One thread per connection, a minimal opening handshake, then a loop that
parses client frames out of a receive buffer and echoes each one (same
opcode and FIN, unmasked) with its own ``sendall``: one recv + one sendall
per message when messages come one at a time. It checks nothing the
benchmark does not need and is not a WebSocket server for anything else.

``--batch`` echoes every complete frame of one ``recv`` with a single
``sendall``: the cheapest server possible, used to find the load
generator's own ceiling.

    python bench/servers/trivial.py [--port 0] [--batch]

Prints ``listening on 127.0.0.1:PORT``. Its open-file limit is the one it
inherits (the benchmark raises its own before starting servers).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import socket
import struct
import sys
import threading

__all__ = ["main", "serve"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_KEY = re.compile(rb"\r\nsec-websocket-key:[ \t]*([^\r\n]+)", re.IGNORECASE)


_CHUNK = 4096  # XOR as ints of this many bytes: big ints convert slowly


def _unmask(data: memoryview, key: bytes) -> bytes:
    n = len(data)
    if n <= _CHUNK:
        return (int.from_bytes(data, "little") ^ int.from_bytes((key * (n // 4 + 1))[:n], "little")).to_bytes(
            n, "little"
        )
    key_int = int.from_bytes(key * (_CHUNK // 4), "little")
    parts = []
    for start in range(0, n, _CHUNK):
        piece = data[start : start + _CHUNK]
        size = len(piece)
        mask = key_int if size == _CHUNK else int.from_bytes(key * (size // 4 + 1), "little") & ((1 << 8 * size) - 1)
        parts.append((int.from_bytes(piece, "little") ^ mask).to_bytes(size, "little"))
    return b"".join(parts)


def _header(first: int, n: int) -> bytes:
    if n < 126:
        return struct.pack("!BB", first, n)
    if n < 0x10000:
        return struct.pack("!BBH", first, 126, n)
    return struct.pack("!BBQ", first, 127, n)


def serve(sock: socket.socket, batch: bool) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return
        buf += chunk
    end = buf.index(b"\r\n\r\n") + 4
    match = _KEY.search(bytes(buf[:end]))
    if match is None:
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
    accept = base64.b64encode(hashlib.sha1(match.group(1).strip() + _GUID).digest())
    sock.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    del buf[:end]
    # recv, not recv_into a buffer of our own: an idle connection then holds
    # no receive buffer (the figure of the RSS scenario).
    recv = sock.recv
    sendall = sock.sendall
    pos = 0
    while True:
        out = []
        while True:
            avail = len(buf) - pos
            if avail < 2:
                break
            first, second = buf[pos], buf[pos + 1]
            length = second & 0x7F
            offset = pos + 2
            if length == 126:
                if avail < 8:
                    break
                (length,) = struct.unpack_from("!H", buf, offset)
                offset += 2
            elif length == 127:
                if avail < 14:
                    break
                (length,) = struct.unpack_from("!Q", buf, offset)
                offset += 8
            if len(buf) - offset < 4 + length:
                break
            key = bytes(buf[offset : offset + 4])
            with memoryview(buf) as view:
                payload = _unmask(view[offset + 4 : offset + 4 + length], key)
            pos = offset + 4 + length
            opcode = first & 0x0F
            if opcode == 0x8:
                sendall(b"".join(out) + _header(0x88, len(payload[:2])) + payload[:2])
                sock.shutdown(socket.SHUT_WR)
                while recv(65536):
                    pass
                return
            reply = _header(first & 0x8F if opcode != 0x9 else 0x8A, length) + payload
            if batch:
                out.append(reply)
            else:
                sendall(reply)
        if out:
            sendall(b"".join(out))
        if pos:
            del buf[:pos]
            pos = 0
        chunk = recv(65536)
        if not chunk:
            return
        buf += chunk


def _run(sock: socket.socket, batch: bool) -> None:
    try:
        serve(sock, batch)
    except OSError:
        pass
    finally:
        sock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--batch", action="store_true")
    args = parser.parse_args(argv)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(1024)
    print(f"listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_run, args=(conn, args.batch), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
