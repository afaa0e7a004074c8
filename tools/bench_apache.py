"""Measure the echo round-trip rate through Apache + mod_python.

Starts a private httpd (test/httpd.py) with test/testdata/apache_handlers as
the handler root, opens one WebSocket to /echo with a minimal raw-socket
client and sends 16-byte text messages one after the other, each waiting for
its echo, for a few seconds. Prints round trips per second.

    .venv/bin/python tools/bench_apache.py [--seconds 5] [--size 16]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import struct
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _load_harness():  # type: ignore[no-untyped-def]
    # By path: the repository's test/ directory is not importable as "test"
    # from a script (the standard library owns that name).
    spec = importlib.util.spec_from_file_location("_pywebsocket_httpd", REPO_ROOT / "test" / "httpd.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _recv_exactly(sock: socket.socket, count: int, buffer: bytearray) -> bytes:
    while len(buffer) < count:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk
    data = bytes(buffer[:count])
    del buffer[:count]
    return data


def run(port: int, seconds: float, size: int) -> tuple[int, float]:
    """Echo size-byte messages for about seconds; return (count, elapsed)."""
    assert size < 126
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(
        b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    buffer = bytearray()
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("no handshake response")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101 "):
        raise ConnectionError(f"handshake failed: {head!r}")
    buffer = bytearray(rest)
    payload = b"x" * size
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    frame = struct.pack("!BB", 0x81, 0x80 | size) + mask + masked
    expected = struct.pack("!BB", 0x81, size) + payload
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        sock.sendall(frame)
        if _recv_exactly(sock, len(expected), buffer) != expected:
            raise AssertionError("bad echo")
        count += 1
    elapsed = time.perf_counter() - started
    sock.sendall(struct.pack("!BB", 0x88, 0x82) + mask + bytes(b ^ mask[i] for i, b in enumerate(b"\x03\xe8")))
    sock.close()
    return count, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--log-level", default="warn", help="Apache LogLevel during the run")
    args = parser.parse_args(argv)
    harness = _load_harness()
    server = harness.Httpd(REPO_ROOT / "test" / "testdata" / "apache_handlers", log_level=args.log_level)
    server.start()
    try:
        run(server.port, 0.5, args.size)  # warm up the child and the handler
        count, elapsed = run(server.port, args.seconds, args.size)
    finally:
        server.stop()
    print(
        f"{count} round trips of {args.size}-byte text messages in {elapsed:.2f} s:"
        f" {count / elapsed:.0f} per second ({elapsed / count * 1e6:.1f} us each)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
