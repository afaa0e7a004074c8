"""A raw HTTP/2 client on the ``h2`` package, for the requests the Node.js client (test/h2ws.py) will not send.

Import it after ``pytest.importorskip("h2")``: it needs the package.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings

from test.wire import TIMEOUT, client_frame

__all__ = [
    "PROTOCOL_ON_GET",
    "H2Client",
    "assert_refused_beside_a_websocket",
    "echo_still_works",
    "reset_mid_message",
    "stream_bytes",
]

# A malformed request every server must refuse: :protocol on a GET (RFC 8441 §4: it belongs to CONNECT).
PROTOCOL_ON_GET = [
    (":method", "GET"),
    (":protocol", "websocket"),
    (":scheme", "http"),
    (":path", "/echo"),
    (":authority", "127.0.0.1"),
]


class H2Client:
    """A raw HTTP/2 client on the h2 library, for requests Node would not send."""

    def __init__(
        self,
        port: int,
        context: ssl.SSLContext | None = None,
        settings: dict[int, int] | None = None,
        acknowledge: bool = True,
    ) -> None:
        self.acknowledge = acknowledge
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock = context.wrap_socket(raw, server_hostname="127.0.0.1") if context else raw
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config)
        if settings:
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings)
        self.conn.initiate_connection()
        self.events: list[Any] = []
        self.closed = False
        self.flush()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, until, timeout: float = TIMEOUT) -> None:
        """Receive until ``until(self)`` is true (or the connection ends)."""
        deadline = time.monotonic() + timeout
        while not until(self):
            if self.closed:
                return
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; events so far: {self.events}")
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            if not data:
                self.closed = True
                return
            events = self.conn.receive_data(data)
            self.events.extend(events)
            if self.acknowledge:
                for event in events:
                    if isinstance(event, h2.events.DataReceived):
                        self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            self.flush()

    def remote_settings(self) -> dict[int, int]:
        self.pump(lambda c: any(isinstance(e, h2.events.RemoteSettingsChanged) for e in c.events))
        return {code: self.conn.remote_settings[code] for code in self.conn.remote_settings}

    def request(self, headers: list[tuple[str, str]], end: bool = False) -> int:
        self.remote_settings()
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, headers, end_stream=end)
        self.flush()
        return stream_id

    def websocket(self, path: str = "/echo", extra: list[tuple[str, str]] = ()) -> int:
        return self.request(
            [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"), (":path", path),
             (":authority", "127.0.0.1"), ("sec-websocket-version", "13"), *extra]
        )  # fmt: skip

    def pump_stream(self, stream_id: int, *kinds: type) -> None:
        """Receive until an event of one of ``kinds`` arrives on ``stream_id`` (or the connection ends)."""
        self.pump(lambda c: any(getattr(e, "stream_id", None) == stream_id and isinstance(e, kinds) for e in c.events))

    def response(self, stream_id: int) -> dict[str, str]:
        self.pump_stream(stream_id, h2.events.ResponseReceived, h2.events.StreamReset)
        for event in self.events:
            if getattr(event, "stream_id", None) == stream_id and isinstance(event, h2.events.ResponseReceived):
                return dict(event.headers)
        raise AssertionError(f"no response on stream {stream_id}: {self.events}")

    def body(self, stream_id: int) -> bytes:
        self.pump_stream(stream_id, h2.events.StreamEnded, h2.events.StreamReset)
        return b"".join(
            e.data for e in self.events if isinstance(e, h2.events.DataReceived) and e.stream_id == stream_id
        )

    def data(self, stream_id: int, payload: bytes, end: bool = False) -> None:
        size = self.conn.max_outbound_frame_size
        for start in range(0, max(len(payload), 1), size):
            last = start + size >= len(payload)
            self.conn.send_data(stream_id, payload[start : start + size], end_stream=end and last)
        self.flush()

    def goaway(self) -> Any:
        self.pump(lambda c: any(isinstance(e, h2.events.ConnectionTerminated) for e in c.events))
        return next((e for e in self.events if isinstance(e, h2.events.ConnectionTerminated)), None)

    def close(self) -> None:
        self.sock.close()


def stream_bytes(client: H2Client, stream_id: int) -> bytes:
    """The DATA the client has received so far on a stream."""
    return b"".join(e.data for e in client.events if isinstance(e, h2.events.DataReceived) and e.stream_id == stream_id)


def echo_still_works(client: H2Client, stream_id: int, text: str) -> None:
    """Send ``text`` on the WebSocket of ``stream_id`` and wait for its echo."""
    client.data(stream_id, client_frame(0x1, text.encode()))
    client.pump(lambda c: text.encode() in stream_bytes(c, stream_id))


def assert_refused_beside_a_websocket(port: int, headers: list[tuple[str, str]], status: str) -> None:
    """Open /echo, send ``headers`` on a second stream: it gets ``status``, and the WebSocket still echoes."""
    client = H2Client(port)
    try:
        good = client.websocket("/echo")
        assert client.response(good)[":status"] == "200"
        bad = client.request(headers)
        assert client.response(bad)[":status"] == status
        echo_still_works(client, good, "still here")
    finally:
        client.close()


def reset_mid_message(client: H2Client, doomed_path: str = "/echo", kept_path: str = "/echo") -> tuple[int, int]:
    """Open two WebSockets, then reset the first in the middle of a message; return both stream ids.

    The first gets half of a 100-byte text frame, then RST_STREAM CANCEL; the
    second is left open, for the test to check that it still works.
    """
    doomed = client.websocket(doomed_path)
    kept = client.websocket(kept_path)
    assert client.response(doomed)[":status"] == "200"
    assert client.response(kept)[":status"] == "200"
    client.data(doomed, bytes([0x01, 0x80 | 100]) + b"\x00\x00\x00\x00" + b"x" * 50)
    client.conn.reset_stream(doomed, h2.errors.ErrorCodes.CANCEL)
    client.flush()
    return doomed, kept
