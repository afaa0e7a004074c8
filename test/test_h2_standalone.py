"""The standalone server's HTTP/2 mode (``--http2``): RFC 8441 WebSockets, files, and HTTP/1.1 beside them.

WebSockets are driven by the independent Node.js client (``test/h2ws.py``);
the protocol edge cases by a raw client on the ``h2`` library
(``H2Client``), which can send what Node refuses to. Without ``h2`` or Node
the tests skip, saying so.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mod_pywebsocket import _standalone_h2
from test import h2ws
from test.conftest import EXAMPLE_DIR, REPO_ROOT, running_server
from test.servers import ROBUST_HANDLERS as HANDLERS
from test.servers import make_site

pytest.importorskip("h2", reason="HTTP/2 NOT RUN: the h2 package is not installed (requirements/test.txt)")
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings

from test.h2client import (
    PROTOCOL_ON_GET,
    H2Client,
    assert_refused_beside_a_websocket,
    echo_still_works,
    reset_mid_message,
    stream_bytes,
)

TIMEOUT = 10.0


@pytest.fixture
def h2c_server() -> Iterator[Any]:
    with running_server("-d", HANDLERS, "--http2") as server:
        yield server


@pytest.fixture
def tls_server(pki) -> Iterator[Any]:
    with running_server("-d", HANDLERS, "--http2", *pki.server_args()) as server:
        yield server


@pytest.fixture(params=["h2c", "h2"])
def any_server(request, pki) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(base URL, h2ws.run keyword arguments)`` of a server over cleartext or TLS."""
    tls = request.param == "h2"
    with running_server("-d", HANDLERS, "--http2", *(pki.server_args() if tls else [])) as server:
        scheme = "https" if tls else "http"
        yield f"{scheme}://127.0.0.1:{server.port}", ({"ca": pki.path("ca.pem")} if tls else {})


def open_websockets(running: Any, count: int) -> int:
    """Wait (up to TIMEOUT) until the server counts ``count`` open WebSockets; return its count."""
    deadline = time.monotonic() + TIMEOUT
    while running.server.open_websocket_count() != count and time.monotonic() < deadline:
        time.sleep(0.01)
    return int(running.server.open_websocket_count())


# Echo through the independent client.


def test_node_client_echoes_text_binary_fragmented_and_compressed(any_server):
    base, tls = any_server
    blob = bytes(range(256)) * 40
    result = h2ws.run(
        base + "/echo",
        [
            {"text": "héllo"},
            {"binary": h2ws.binary(blob)},
            {"text": "fragmented " * 100, "fragments": 4},
            {"text": "compressed " * 1000, "compress": True},
            {"binary": h2ws.binary(blob), "compress": True, "fragments": 3},
            {"recv": 5},
            {"close": 1000, "reason": "done"},
            {"wait_close": True},
        ],
        extensions="permessage-deflate",
        **tls,
    )
    stream = result.stream
    assert result.error is None
    assert stream.status == 200
    assert stream.extensions == "permessage-deflate"
    assert stream.messages == ["héllo", blob, "fragmented " * 100, "compressed " * 1000, blob]
    assert stream.close == (1000, "")
    assert stream.errors == []
    assert stream.events[-1] == {"type": "end"}


def test_ping_gets_pong_with_the_same_payload(h2c_server):
    result = h2ws.run(
        f"http://127.0.0.1:{h2c_server.port}/echo",
        [
            {"ping": h2ws.binary(b"are you there")},
            {"text": "after"},
            {"recv": 1},
            {"close": 1000},
            {"wait_close": True},
        ],
    )
    assert result.stream.pongs == [b"are you there"]
    assert result.stream.messages == ["after"]


def test_request_object_subprotocol_and_extensions_as_on_http11(any_server):
    base, tls = any_server
    result = h2ws.run(
        base + "/info?x=1",
        [{"recv": 1}, {"close": 1000}, {"wait_close": True}],
        protocols=["other", "chat"],
        extensions="permessage-deflate; client_max_window_bits",
        headers={"origin": "https://example.test"},
        **tls,
    )
    stream = result.stream
    assert stream.status == 200
    assert stream.protocol == "chat"
    assert stream.extensions == "permessage-deflate"
    assert stream.headers["x-handler"] == "info"
    assert json.loads(stream.messages[0]) == {
        "method": "CONNECT",
        "protocol": "HTTP/2",
        "is_https": base.startswith("https"),
        "host": base.split("//", 1)[1],
        "origin": "https://example.test",
        "ws_resource": "/info?x=1",
        "ws_protocol": "chat",
        "ws_requested_protocols": ["other", "chat"],
        "ws_extensions": ["permessage-deflate"],
        "ws_version": 13,
    }


def test_offering_only_unknown_subprotocols_gets_400(h2c_server):
    result = h2ws.run(f"http://127.0.0.1:{h2c_server.port}/info", [], protocols=["other"])
    assert result.stream.status == 400


def test_four_mib_messages_cross_the_flow_control_windows_both_ways(any_server):
    base, tls = any_server
    big = os.urandom(4 << 20)
    result = h2ws.run(
        base + "/echo",
        [
            {"binary": h2ws.binary(big)},
            {"binary": h2ws.binary(big[::-1])},
            {"recv": 2},
            {"close": 1000},
            {"wait_close": True},
        ],
        timeout=30,
        **tls,
    )
    assert result.stream.messages == [big, big[::-1]]


def test_data_the_handler_does_not_read_is_not_acknowledged(h2c_server):
    # /flood_forever never reads: the client may send one stream window (1 MiB), then must wait.
    client = H2Client(h2c_server.port)
    try:
        stream_id = client.websocket("/flood_forever")
        assert client.response(stream_id)[":status"] == "200"
        assert client.conn.local_flow_control_window(stream_id) == 1 << 20
        client.data(stream_id, bytes(1 << 20))
        # Meanwhile the flood keeps coming (and is acknowledged): no WINDOW_UPDATE for our stream.
        end = time.monotonic() + 1.0
        client.pump(lambda c: time.monotonic() > end)
        assert client.conn.local_flow_control_window(stream_id) == 0
    finally:
        client.close()


def test_many_websockets_share_one_http2_connection(h2c_server):
    result = h2ws.run(
        f"http://127.0.0.1:{h2c_server.port}/echo",
        [{"text": "one"}, {"text": "two"}, {"recv": 2}, {"close": 1000}, {"wait_close": True}],
        streams=20,
    )
    assert result.error is None
    assert [s.messages for s in result.streams] == [["one", "two"]] * 20
    assert [s.close_code for s in result.streams] == [1000] * 20


def test_unknown_resource_gets_404_on_its_stream(h2c_server):
    result = h2ws.run(f"http://127.0.0.1:{h2c_server.port}/nothing", [])
    assert result.stream.status == 404


# The connection: settings, files, HTTP/1.1 beside HTTP/2.


def test_server_sends_enable_connect_protocol_and_its_limits(h2c_server):
    client = H2Client(h2c_server.port)
    try:
        settings = client.remote_settings()
    finally:
        client.close()
    assert settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL] == 1
    assert settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] == 100
    assert settings[h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE] == 65536


def test_files_are_served_over_h2c_and_over_tls_with_alpn(h2c_server, tls_server, pki):
    with open(os.path.join(HANDLERS, "index.html"), "rb") as f:
        expected = f.read()
    context = pki.client_context()
    context.set_alpn_protocols(["h2"])
    for port, ctx in ((h2c_server.port, None), (tls_server.port, context)):
        client = H2Client(port, ctx)
        try:
            if ctx is not None:
                assert client.sock.selected_alpn_protocol() == "h2"
            scheme = "https" if ctx else "http"
            get = client.request(
                [(":method", "GET"), (":scheme", scheme), (":path", "/index.html"), (":authority", "127.0.0.1")],
                end=True,
            )
            head = client.request(
                [(":method", "HEAD"), (":scheme", scheme), (":path", "/index.html"), (":authority", "127.0.0.1")],
                end=True,
            )
            missing = client.request(
                [(":method", "GET"), (":scheme", scheme), (":path", "/missing.txt"), (":authority", "127.0.0.1")],
                end=True,
            )
            response = client.response(get)
            assert response[":status"] == "200"
            assert response["content-length"] == str(len(expected))
            assert "connection" not in response
            assert client.body(get) == expected
            assert client.response(head)[":status"] == "200"
            assert client.body(head) == b""
            assert client.response(missing)[":status"] == "404"
        finally:
            client.close()


def test_cgi_post_over_http2_gets_its_body_and_environment(tmp_path):
    with running_server("-d", make_site(tmp_path), "-x", "/cgi-bin", "--http2") as server:
        client = H2Client(server.port)
        try:
            body = b"name=value&x=" + b"y" * 100000
            stream_id = client.request(
                [
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", "/cgi-bin/env.py?q=1"),
                    (":authority", "127.0.0.1"),
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("cookie", "a=1"),
                    ("cookie", "b=2"),
                ]
            )
            client.data(stream_id, body, end=True)
            response = client.response(stream_id)
            report = json.loads(client.body(stream_id))
        finally:
            client.close()
    assert (response[":status"], response["content-type"], response["x-script"]) == ("200", "application/json", "env")
    assert report["body"].encode("latin-1") == body
    env = report["env"]
    assert (env["REQUEST_METHOD"], env["QUERY_STRING"], env["CONTENT_LENGTH"]) == ("POST", "q=1", str(len(body)))
    assert (env["HTTP_HOST"], env["HTTP_COOKIE"]) == ("127.0.0.1", "a=1; b=2")


def test_basic_auth_guards_websockets_over_http2(h2c_server):
    with running_server("-d", HANDLERS, "--http2", "--basic-auth", "--basic-auth-credential", "u:p") as server:
        url = f"http://127.0.0.1:{server.port}/echo"
        refused = h2ws.run(url, [])
        admitted = h2ws.run(url, [{"text": "in"}, {"recv": 1}, {"close": 1000}, {"wait_close": True}],
                            headers={"authorization": "Basic dTpw"})  # fmt: skip
    assert refused.stream.status == 401
    assert refused.stream.headers["www-authenticate"] == 'Basic realm="mod_pywebsocket"'
    assert admitted.stream.messages == ["in"]


def test_streams_count_against_max_connections_and_beyond_are_refused(caplog):
    caplog.set_level(logging.WARNING, logger="mod_pywebsocket")
    with running_server("-d", HANDLERS, "--http2", "--max-connections", "2") as server:
        client = H2Client(server.port)
        try:
            first, second = client.websocket("/echo"), client.websocket("/echo")
            assert client.response(first)[":status"] == client.response(second)[":status"] == "200"
            third = client.websocket("/echo")
            client.pump_stream(third, h2.events.StreamReset)
            reset = next(e for e in client.events if isinstance(e, h2.events.StreamReset))
            assert (reset.stream_id, reset.error_code) == (third, h2.errors.ErrorCodes.REFUSED_STREAM)
            # A stream's end gives its place back.
            client.data(first, b"\x88\x82\x00\x00\x00\x00\x03\xe8")
            client.body(first)
            assert open_websockets(server, 1) == 1
            fourth = client.websocket("/echo")
            assert client.response(fourth)[":status"] == "200"
        finally:
            client.close()
    assert f"too many streams and connections; stream {third} refused" in caplog.text


def test_a_preface_that_arrives_in_pieces_still_gets_http2(h2c_server):
    with socket.create_connection(("127.0.0.1", h2c_server.port), timeout=TIMEOUT) as sock:
        sock.sendall(_standalone_h2.PREFACE[:5])
        time.sleep(0.2)
        sock.sendall(_standalone_h2.PREFACE[5:] + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # an empty SETTINGS
        head = sock.recv(9)
    # The server's first frame is its SETTINGS (type 4) on stream 0.
    assert (head[3], head[5:9]) == (0x04, b"\x00\x00\x00\x00")


def test_a_connection_without_streams_is_dropped_after_the_handshake_timeout_and_one_with_a_websocket_is_not(caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", HANDLERS, "--http2", "--handshake-timeout", "0.5") as server:
        idle, busy = H2Client(server.port), H2Client(server.port)
        try:
            idle.remote_settings()
            stream_id = busy.websocket("/echo")
            assert busy.response(stream_id)[":status"] == "200"
            started = time.monotonic()
            idle.pump(lambda c: False)
            assert idle.closed and time.monotonic() - started < 3
            time.sleep(0.5)
            echo_still_works(busy, stream_id, "still open")
        finally:
            idle.close()
            busy.close()
    assert "no stream on the idle HTTP/2 connection within 0.5 s; connection dropped" in caplog.text


def test_http11_clients_are_still_served_on_the_http2_port(h2c_server, tls_server, pki):
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{h2c_server.port}/echo", open_timeout=TIMEOUT) as ws:
        ws.send("over HTTP/1.1")
        assert ws.recv(timeout=TIMEOUT) == "over HTTP/1.1"
    with connect(f"wss://127.0.0.1:{tls_server.port}/echo", ssl=pki.client_context(), open_timeout=TIMEOUT) as ws:
        ws.send("over TLS, ALPN http/1.1 or none")
        assert ws.recv(timeout=TIMEOUT) == "over TLS, ALPN http/1.1 or none"
    with socket.create_connection(("127.0.0.1", h2c_server.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert reply.endswith(b"<p>served over HTTP/2</p>\n")


def test_http2_option_without_h2_is_one_error_line(tmp_path):
    code = (
        "import sys; sys.modules['h2'] = None; from mod_pywebsocket import standalone; standalone._main(sys.argv[1:])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "-p", "0", "-d", str(tmp_path), "--http2"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "mod_pywebsocket.standalone: error: --http2 needs the h2 package: pip install 'mod_pywebsocket[http2]'"
    )


def test_http2_is_in_help():
    proc = subprocess.run(
        [sys.executable, "-m", "mod_pywebsocket.standalone", "--help"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=True,
    )  # fmt: skip
    assert "--http2" in proc.stdout


def test_shutdown_closes_http2_websockets_with_1001(h2c_server):
    client = H2Client(h2c_server.port)
    closer = threading.Thread(target=h2c_server.server.close_websockets, kwargs={"wait": TIMEOUT})
    try:
        stream_id = client.websocket("/echo")
        assert client.response(stream_id)[":status"] == "200"
        # The 200 leaves just before the server counts the WebSocket as open.
        assert open_websockets(h2c_server, 1) == 1
        closer.start()
        client.pump(lambda c: len(stream_bytes(c, stream_id)) >= 4)
        data = stream_bytes(client, stream_id)
    finally:
        client.close()
        if closer.is_alive():
            closer.join(TIMEOUT)
    assert data[:4] == b"\x88\x02\x03\xe9"


# Robustness (issue 18, Deliver 5): bad extended CONNECTs, resets, GOAWAY, greedy clients.


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        # A plain CONNECT (RFC 9113 §8.5): no :protocol, no :scheme or :path.
        ([(":method", "CONNECT"), (":authority", "127.0.0.1:443")], "405"),
        (
            [
                (":method", "CONNECT"),
                (":protocol", "chat"),
                (":scheme", "http"),
                (":path", "/echo"),
                (":authority", "127.0.0.1"),
                ("sec-websocket-version", "13"),
            ],
            "501",
        ),
        (
            [
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":scheme", "http"),
                (":path", "/echo"),
                (":authority", "127.0.0.1"),
            ],
            "400",
        ),
        (
            [
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":scheme", "http"),
                (":path", "/echo"),
                (":authority", "127.0.0.1"),
                ("sec-websocket-version", "12"),
            ],
            "400",
        ),
        (
            [
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":scheme", "http"),
                (":path", "/nothing"),
                (":authority", "127.0.0.1"),
                ("sec-websocket-version", "13"),
            ],
            "404",
        ),
    ],
    ids=["plain-connect", "other-protocol", "no-version", "version-12", "no-handler"],
)
def test_bad_extended_connect_gets_its_status_and_other_streams_go_on(h2c_server, headers, status):
    assert_refused_beside_a_websocket(h2c_server.port, headers, status)


@pytest.mark.parametrize(
    "headers",
    [
        PROTOCOL_ON_GET,
        # :protocol without :path (RFC 8441 §4 requires :scheme and :path).
        [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"), (":authority", "127.0.0.1")],
    ],
    ids=["protocol-on-get", "no-path"],
)
def test_malformed_extended_connect_is_a_protocol_error_and_the_server_serves_on(h2c_server, headers):
    client = H2Client(h2c_server.port)
    try:
        client.remote_settings()
        # h2 checks what it sends; send the malformed block without its checks.
        client.conn.config.validate_outbound_headers = False
        client.conn.config.normalize_outbound_headers = False
        client.conn.send_headers(1, headers)
        client.flush()
        event = client.goaway()
    finally:
        client.close()
    assert event is not None and event.error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
    result = h2ws.run(
        f"http://127.0.0.1:{h2c_server.port}/echo",
        [{"text": "next"}, {"recv": 1}, {"close": 1000}, {"wait_close": True}],
    )
    assert result.stream.messages == ["next"]


def test_header_block_over_max_head_size_ends_the_connection_and_the_server_serves_on():
    with running_server("-d", HANDLERS, "--http2", "--max-head-size", "8192") as server:
        client = H2Client(server.port)
        try:
            assert client.remote_settings()[h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE] == 8192
            client.websocket("/echo", [("x-big", "a" * 9000)])
            event = client.goaway()
        finally:
            client.close()
        assert event is not None
        assert event.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
        result = h2ws.run(
            f"http://127.0.0.1:{server.port}/echo",
            [{"text": "next"}, {"recv": 1}, {"close": 1000}, {"wait_close": True}],
        )
        assert result.stream.messages == ["next"]


def test_too_many_header_fields_get_431(h2c_server):
    client = H2Client(h2c_server.port)
    try:
        stream_id = client.websocket("/echo", [(f"x-h{i}", "v") for i in range(101)])
        assert client.response(stream_id)[":status"] == "431"
    finally:
        client.close()


def test_reset_mid_message_ends_that_handler_only(h2c_server, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    client = H2Client(h2c_server.port)
    try:
        doomed, kept = reset_mid_message(client)
        echo_still_works(client, kept, "kept")
        assert open_websockets(h2c_server, 1) == 1
    finally:
        client.close()
    assert f"stream {doomed} reset by the client (error code {h2.errors.ErrorCodes.CANCEL})" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_goaway_from_the_client_ends_its_handlers_cleanly(h2c_server, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    client = H2Client(h2c_server.port)
    try:
        ids = [client.websocket("/echo") for _ in range(3)]
        for stream_id in ids:
            assert client.response(stream_id)[":status"] == "200"
        assert open_websockets(h2c_server, 3) == 3
        client.conn.close_connection()
        client.flush()
        assert open_websockets(h2c_server, 0) == 0
    finally:
        client.close()
    assert "GOAWAY from the client (error code 0)" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_client_that_opens_many_streams_and_never_reads_holds_no_one_else_up(h2c_server):
    # The client's windows stay at 65535 bytes per stream and for the connection: it never acknowledges.
    client = H2Client(h2c_server.port, acknowledge=False)
    try:
        ids = [client.websocket("/flood_forever") for _ in range(50)]
        for stream_id in ids:
            assert client.response(stream_id)[":status"] == "200"
        received = sum(len(e.data) for e in client.events if isinstance(e, h2.events.DataReceived))
        assert received <= 65535
        # Meanwhile another client is served at once.
        result = h2ws.run(
            f"http://127.0.0.1:{h2c_server.port}/echo",
            [{"text": "unaffected"}, {"recv": 1}, {"close": 1000}, {"wait_close": True}],
        )
        assert result.stream.messages == ["unaffected"]
        assert open_websockets(h2c_server, 50) == 50
    finally:
        client.close()
    # Closing the connection ends the 50 blocked writers.
    assert open_websockets(h2c_server, 0) == 0


def test_more_streams_than_the_limit_end_the_connection_and_the_server_serves_on(h2c_server):
    # RFC 9113 §5.1.2 allows a stream error (REFUSED_STREAM) here; the h2
    # library makes it a connection error, PROTOCOL_ERROR, before we see it.
    client = H2Client(h2c_server.port)
    try:
        ids = [client.websocket("/echo") for _ in range(100)]
        for stream_id in ids:
            assert client.response(stream_id)[":status"] == "200"
        # h2 on our side would refuse to open a 101st: make it believe the limit is higher.
        client.conn.remote_settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = 1000
        client.conn.remote_settings.acknowledge()
        client.websocket("/echo")
        event = client.goaway()
    finally:
        client.close()
    assert event is not None
    assert (event.error_code, event.last_stream_id) == (h2.errors.ErrorCodes.PROTOCOL_ERROR, 199)
    result = h2ws.run(
        f"http://127.0.0.1:{h2c_server.port}/echo",
        [{"text": "next"}, {"recv": 1}, {"close": 1000}, {"wait_close": True}],
    )
    assert result.stream.messages == ["next"]


# A real browser.


@pytest.mark.browser
def test_chromium_loads_the_console_over_h2_and_its_websocket_runs_over_http2(pki, caplog):
    from test.browser import Chromium, require_chromium

    binary = require_chromium()
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", EXAMPLE_DIR, "--http2", *pki.server_args()) as server, Chromium(binary) as browser:
        page = browser.new_page()
        # The test CA is not in Chromium's store; TLS is still TLS, ALPN still h2.
        page.call("Security.setIgnoreCertificateErrors", ignore=True)
        page.navigate(f"https://127.0.0.1:{server.port}/console.html")
        assert page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol") == "h2"
        reply = page.evaluate(
            """new Promise((resolve) => {
                const ws = new WebSocket(location.origin.replace('https:', 'wss:') + '/echo');
                ws.onopen = () => ws.send('from chromium');
                ws.onmessage = (e) => { ws.close(1000); resolve([e.data, ws.extensions]); };
                ws.onclose = (e) => resolve(['closed', e.code]);
            })""",
            await_promise=True,
        )
        deadline = time.monotonic() + TIMEOUT
        while "websocket /echo over HTTP/2 ended" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    assert reply == ["from chromium", "permessage-deflate"]
    assert '"GET /console.html HTTP/2" 200' in caplog.text
    assert '"CONNECT /echo HTTP/2" 200 (websocket, stream' in caplog.text
    assert "websocket /echo over HTTP/2 ended" in caplog.text


def test_websocket_over_http2_counts_against_the_incoming_memory_budget(caplog):
    caplog.set_level(logging.WARNING, logger="mod_pywebsocket")
    with running_server("-d", HANDLERS, "--http2", "--max-incoming-memory", "1048576") as server:
        base = f"http://127.0.0.1:{server.port}"
        refused = h2ws.run(base + "/echo", [{"binary": h2ws.binary(b"r" * 2_000_000)}, {"wait_close": True}]).stream
        assert refused.close is not None and refused.close[0] == 1013
        assert server.server.message_budget.held() == 0
        script = [{"binary": h2ws.binary(b"w" * 700_000)}, {"recv": 1}, {"close": 1000}, {"wait_close": True}]
        within = h2ws.run(base + "/echo", script).stream
        assert within.messages == [b"w" * 700_000]
    assert "a message asking for 2000000 more is refused with 1013" in caplog.text


def test_the_line_at_a_websockets_end_over_http2_says_who_closed_it(h2c_server, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    client = H2Client(h2c_server.port)
    try:
        stream = client.websocket("/echo")
        assert client.response(stream)[":status"] == "200"
        # A masked close frame with code 1000 (a zero mask leaves the payload as it is).
        client.data(stream, b"\x88\x82\x00\x00\x00\x00\x03\xe8")
        client.flush()
        deadline = time.monotonic() + TIMEOUT
        while "over HTTP/2 ended" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        client.close()
    [line] = [record.getMessage() for record in caplog.records if "over HTTP/2 ended" in record.getMessage()]
    assert re.fullmatch(
        r"127\.0\.0\.1:\d+ - websocket /echo over HTTP/2 ended after \d+\.\d{3} s: version 13, protocol none, "
        r"extensions none, closed by the client with code 1000",
        line,
    ), line
