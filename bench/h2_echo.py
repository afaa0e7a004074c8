"""Echo throughput of the standalone server over HTTP/2 (RFC 8441) against HTTP/1.1, in the same run.

Starts ``python -m mod_pywebsocket.standalone -d example --http2`` once and
measures, alternating the two transports ``--reps`` times, the same client
frames (built by one function) sent with ``--window`` messages in flight to
``/echo``: over a plain TCP connection after an HTTP/1.1 upgrade, and as
DATA frames on one extended CONNECT stream (the ``h2`` library as client).

    .venv/bin/python -m bench.h2_echo             # small (16 B) and large (1 MiB) messages
    .venv/bin/python -m bench.h2_echo --reps 5 --tls
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import h2.config
import h2.connection
import h2.events
import h2.settings

from bench import REPO
from bench.loadgen import OP_BINARY, mask_frame
from bench.processes import cpu_seconds

__all__ = ["main"]


def client_frame(payload: bytes) -> bytes:
    """A masked binary frame with mask key 0 (the payload is sent as is; the server unmasks it all the same)."""
    return mask_frame(OP_BINARY, payload, b"\x00\x00\x00\x00")


class Frames:
    """Counts the server's whole frames in the bytes fed to it."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.count = 0

    def feed(self, data: bytes) -> None:
        self.buffer += data
        pos = 0
        buf = self.buffer
        while len(buf) - pos >= 2:
            size = buf[pos + 1] & 0x7F
            head = 2
            if size == 126:
                if len(buf) - pos < 4:
                    break
                size, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif size == 127:
                if len(buf) - pos < 10:
                    break
                size, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if len(buf) - pos < head + size:
                break
            pos += head + size
            self.count += 1
        del self.buffer[:pos]


def start_server(tls: tuple[str, str] | None) -> tuple[subprocess.Popen[str], int]:
    args = [sys.executable, "-m", "mod_pywebsocket.standalone", "-H", "127.0.0.1", "-p", "0", "-d", "example",
            "--http2", "--log-level", "info"]  # fmt: skip
    if tls:
        args += ["-t", "-k", tls[0], "-c", tls[1]]
    proc = subprocess.Popen(args, cwd=REPO, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if found:
            return proc, int(found.group(1))
    raise RuntimeError("the server did not start")


def connect(port: int, context: ssl.SSLContext | None, alpn: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if context is None:
        return sock
    context.set_alpn_protocols([alpn])
    return context.wrap_socket(sock, server_hostname="127.0.0.1")


def run_http11(port: int, context: ssl.SSLContext | None, payload: bytes, count: int, window: int) -> float:
    sock = connect(port, context, "http/1.1")
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    frames = Frames()
    frames.feed(head.split(b"\r\n\r\n", 1)[1])
    frame = client_frame(payload)
    return _pump(
        lambda: sock.sendall(frame), lambda: frames.feed(sock.recv(1 << 20)), frames, count, window, sock.close
    )


def run_http2(port: int, context: ssl.SSLContext | None, payload: bytes, count: int, window: int) -> float:
    sock = connect(port, context, "h2")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    conn.increment_flow_control_window(64 << 20)
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 64 << 20})
    sock.sendall(conn.data_to_send())
    frames = Frames()
    stream_id = 1
    opened = False

    def receive() -> None:
        nonlocal opened
        data = sock.recv(1 << 20)
        if not data:
            raise RuntimeError("connection closed")
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RemoteSettingsChanged) and not opened:
                opened = True
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                frames.feed(event.data)
        pending = conn.data_to_send()
        if pending:
            sock.sendall(pending)

    while not opened:
        receive()
    scheme = "https" if context else "http"
    conn.send_headers(stream_id, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", scheme),
                                  (":path", "/echo"), (":authority", "127.0.0.1"), ("sec-websocket-version", "13")])  # fmt: skip
    sock.sendall(conn.data_to_send())
    frame = client_frame(payload)

    def send() -> None:
        view = memoryview(frame)
        while view:
            size = min(len(view), conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
            if size <= 0:
                receive()
                continue
            conn.send_data(stream_id, bytes(view[:size]))
            sock.sendall(conn.data_to_send())
            view = view[size:]

    return _pump(send, receive, frames, count, window, sock.close)


def _pump(
    send: Callable[[], None],
    receive: Callable[[], None],
    frames: Frames,
    count: int,
    window: int,
    close: Callable[[], None],
) -> float:
    start = time.perf_counter()
    sent = 0
    while frames.count < count:
        while sent < count and sent - frames.count < window:
            send()
            sent += 1
        receive()
    elapsed = time.perf_counter() - start
    close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--tls", action="store_true", help="measure over TLS (h2 against http/1.1 by ALPN)")
    args = parser.parse_args()
    tls_files = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.tls:
            key, cert = os.path.join(tmp, "k.pem"), os.path.join(tmp, "c.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)  # fmt: skip
            tls_files = (key, cert)
        proc, port = start_server(tls_files)
        try:
            print(
                f"echo over {'TLS' if args.tls else 'cleartext'}, 16 B: {args.window} in flight, 1 MiB: one at a time; median of {args.reps}"
            )
            print(
                "| message | HTTP/1.1 | HTTP/2 (RFC 8441) | HTTP/2 / HTTP/1.1 | server CPU per message, HTTP/1.1 / HTTP/2 |"
            )
            print("|---|---:|---:|---:|---:|")
            # A 1 MiB message goes one at a time: a client that writes while the
            # server writes back would deadlock on the socket buffers.
            cases = (("16 B", b"x" * 16, 20000, "msg/s", args.window), ("1 MiB", b"x" * (1 << 20), 200, "MB/s", 1))
            for label, payload, count, unit, window in cases:
                results: dict[str, list[float]] = {"h1": [], "h2": []}
                cpu: dict[str, list[float]] = {"h1": [], "h2": []}
                for _ in range(args.reps):
                    for name, run in (("h1", run_http11), ("h2", run_http2)):
                        ctx = ssl.create_default_context(cafile=tls_files[1]) if tls_files else None
                        before = cpu_seconds([proc.pid])[proc.pid]
                        elapsed = run(port, ctx, payload, count, window)
                        cpu[name].append((cpu_seconds([proc.pid])[proc.pid] - before) / count * 1e6)
                        rate = count / elapsed if unit == "msg/s" else count * len(payload) / elapsed / 1e6
                        results[name].append(rate)
                h1, h2_rate = statistics.median(results["h1"]), statistics.median(results["h2"])
                cpu1, cpu2 = statistics.median(cpu["h1"]), statistics.median(cpu["h2"])
                print(
                    f"| {label} | {h1:,.0f} {unit} | {h2_rate:,.0f} {unit} | {h2_rate / h1:.2f} | {cpu1:,.0f} µs / {cpu2:,.0f} µs |"
                )
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
