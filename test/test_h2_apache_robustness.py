"""Robustness of WebSockets over HTTP/2 through Apache's mod_http2: bad streams end alone.

The raw HTTP/2 client (``H2Client`` of test_h2_standalone.py, on the ``h2``
library) sends what the Node.js client would not: malformed extended
CONNECTs, oversized header blocks, resets mid-message, a GOAWAY with
WebSockets open, streams whose data it never reads. The answers are
mod_http2's and ours, measured on Apache 2.4.71; every test checks that the
other streams, or the next client, are still served. Without the raw
client, Apache, mod_http2 or Node.js the module skips and says which.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from test import h2ws, httpd
from test.servers import APACHE_HANDLERS, ROBUST_HANDLERS

pytest.importorskip("h2", reason="HTTP/2 NOT RUN: the h2 package is not installed (requirements/test.txt)")
import h2.errors
import h2.events

from test import h2client
from test.h2client import H2Client, assert_refused_beside_a_websocket, echo_still_works, reset_mid_message

pytestmark = pytest.mark.timeout(120)

TIMEOUT = 10.0
EXTENDED_CONNECT = [
    (":method", "CONNECT"),
    (":protocol", "websocket"),
    (":scheme", "http"),
    (":authority", "127.0.0.1"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[httpd.Httpd]:
    """Apache with mod_http2 on cleartext, serving test_apache.py's handlers."""
    httpd.require_http2()
    with httpd.Httpd(APACHE_HANDLERS, mpm="event", http2=True) as instance:
        yield instance


def closed_count(server: httpd.Httpd, path: str, start: int) -> int:
    pattern = rf"WebSocket connection to {re.escape(path)} from \S+ closed"
    return len(re.findall(pattern, server.error_log_text()[start:]))


def wait_closed(server: httpd.Httpd, path: str, start: int, count: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while closed_count(server, path, start) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert closed_count(server, path, start) == count


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([(":method", "CONNECT"), (":authority", "127.0.0.1:443")], "405"),
        ([*EXTENDED_CONNECT[:1], (":protocol", "chat"), *EXTENDED_CONNECT[2:], (":path", "/echo")], "501"),
        ([*EXTENDED_CONNECT, (":path", "/echo")], "400"),
        ([*EXTENDED_CONNECT, (":path", "/echo"), ("sec-websocket-version", "12")], "400"),
        ([*EXTENDED_CONNECT, (":path", "/nothing"), ("sec-websocket-version", "13")], "404"),
        (
            [*EXTENDED_CONNECT, (":path", "/echo"), ("sec-websocket-version", "13")]
            + [(f"x-h{i}", "v") for i in range(101)],
            "431",
        ),
        # A plain HTTP/2 GET dressed as an RFC 6455 handshake is no upgrade: the handshake refuses HTTP/2.0.
        (
            [
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/echo"),
                (":authority", "127.0.0.1"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
            "400",
        ),
    ],
    ids=["plain-connect", "other-protocol", "no-version", "version-12", "no-handler", "101-fields", "get-with-key"],
)
def test_bad_extended_connect_gets_its_status_and_other_streams_go_on(
    server: httpd.Httpd, headers: list[tuple[str, str]], status: str
) -> None:
    assert_refused_beside_a_websocket(server.port, headers, status)


@pytest.mark.parametrize(
    "headers",
    [
        h2client.PROTOCOL_ON_GET,
        [*EXTENDED_CONNECT, ("sec-websocket-version", "13")],
        # Only mod_http2 may put an Upgrade header on an HTTP/2 request (RFC 9113 §8.2.2).
        [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/echo"),
            (":authority", "127.0.0.1"),
            ("upgrade", "websocket"),
        ],
    ],
    ids=["protocol-on-get", "no-path", "upgrade-on-get"],
)
def test_malformed_request_is_a_stream_error_and_the_connection_serves_on(
    server: httpd.Httpd, headers: list[tuple[str, str]]
) -> None:
    client = H2Client(server.port)
    try:
        good = client.websocket("/echo")
        assert client.response(good)[":status"] == "200"
        # h2 checks what it sends; send the malformed block without its checks.
        client.conn.config.validate_outbound_headers = False
        client.conn.config.normalize_outbound_headers = False
        bad = client.request(headers)
        client.pump_stream(bad, h2.events.StreamReset)
        reset = next(e for e in client.events if isinstance(e, h2.events.StreamReset) and e.stream_id == bad)
        assert reset.error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
        echo_still_works(client, good, "still here")
    finally:
        client.close()


def test_oversized_header_block_gets_431_and_the_connection_serves_on(server: httpd.Httpd) -> None:
    client = H2Client(server.port)
    try:
        good = client.websocket("/echo")
        assert client.response(good)[":status"] == "200"
        bad = client.websocket("/echo", [("x-big", "a" * 70000)])
        assert client.response(bad)[":status"] == "431"
        echo_still_works(client, good, "still here")
    finally:
        client.close()


def test_reset_mid_message_ends_that_handler_only(server: httpd.Httpd) -> None:
    start = len(server.error_log_text())
    client = H2Client(server.port)
    try:
        _, kept = reset_mid_message(client, "/echo?doomed", "/echo?kept")
        wait_closed(server, "/echo?doomed", start, 1)
        echo_still_works(client, kept, "kept")
        assert closed_count(server, "/echo?kept", start) == 0
    finally:
        client.close()
    assert "Traceback" not in server.error_log_text()[start:]


def test_goaway_from_the_client_leaves_open_streams_and_closing_ends_their_handlers(
    server: httpd.Httpd,
) -> None:
    start = len(server.error_log_text())
    client = H2Client(server.port)
    try:
        ids = [client.websocket("/echo?goaway") for _ in range(3)]
        for stream_id in ids:
            assert client.response(stream_id)[":status"] == "200"
        client.conn.close_connection()
        client.flush()
        # A GOAWAY stops new streams, not the open ones (RFC 9113 §6.8): mod_http2 keeps them.
        time.sleep(1)
        assert closed_count(server, "/echo?goaway", start) == 0
    finally:
        client.close()
    wait_closed(server, "/echo?goaway", start, 3)
    assert "Traceback" not in server.error_log_text()[start:]


def test_streams_that_are_never_read_hold_no_one_else_up_and_end_with_the_connection() -> None:
    httpd.require_http2()
    with httpd.Httpd(ROBUST_HANDLERS, mpm="event", http2=True) as server:
        start = len(server.error_log_text())
        opened = re.compile(r"WebSocket connection to /flood from \S+ opened \(HTTP/2 stream")
        # The client never acknowledges: its windows stay at 65535 bytes.
        client = H2Client(server.port)
        try:
            for _ in range(10):
                client.websocket("/flood")
            # mod_http2 runs at most 6 of them (docs/apache.md step 7), fewer
            # once it sees them blocked on flow control; each blocks in its write.
            # At least one stream's window full (several streams' data may come in one read).
            client.pump(lambda c: sum(len(e.data) for e in c.events if isinstance(e, h2.events.DataReceived)) >= 65535)
            time.sleep(1)
            running = len(opened.findall(server.error_log_text(), start))
            assert 1 <= running <= 6
            # Another client, on its own connection, is served at once.
            script: list[dict[str, Any]] = [{"text": "unaffected"}, {"recv": 1}, {"close": 1000}, {"wait_close": True}]
            result = h2ws.run(server.url("/echo"), script)
            assert result.stream.messages == ["unaffected"]
            assert closed_count(server, "/flood", start) == 0
        finally:
            client.close()
        # Closing the connection ends the blocked writers (and any stream mod_http2 started meanwhile).
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            started = len(opened.findall(server.error_log_text(), start))
            if closed_count(server, "/flood", start) == started:
                break
            time.sleep(0.05)
        assert closed_count(server, "/flood", start) == len(opened.findall(server.error_log_text(), start)) >= running


def test_a_client_that_stops_reading_does_not_freeze_the_other_handlers_of_its_apache_child() -> None:
    # One child: every stream runs in the same Python interpreter. A stream's
    # write waits once the client's window is used up; it must not hold the GIL
    # meanwhile (mod_python's connection.write would, request.write does not).
    httpd.require_http2()
    one_child = "StartServers 1\nServerLimit 1\nMinSpareThreads 1\nMaxSpareThreads 32\nMaxRequestWorkers 32\n"
    with httpd.Httpd(ROBUST_HANDLERS, mpm="event", http2=True, extra_config=one_child) as server:
        start = len(server.error_log_text())
        client = H2Client(server.port)
        try:
            client.websocket("/flood")
            client.pump(lambda c: sum(len(e.data) for e in c.events if isinstance(e, h2.events.DataReceived)) == 65535)
            script: list[dict[str, Any]] = [{"text": "unaffected"}, {"recv": 1}, {"close": 1000}, {"wait_close": True}]
            result = h2ws.run(server.url("/echo"), script, timeout=5)
            assert (result.error, result.stream.messages) == (None, ["unaffected"])
        finally:
            client.close()
        wait_closed(server, "/flood", start, 1)
