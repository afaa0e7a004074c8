"""The handlers and pages in example/, end to end through the standalone server.

Each handler is driven with the `websockets` client or a raw socket and the
exact close codes, HTTP statuses and messages are checked.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from mod_pywebsocket import dispatch
from test.conftest import EXAMPLE_DIR, EXAMPLE_RESOURCES, running_server
from test.wire import TIMEOUT, ws_connect

HANDLER_MAP = os.path.join(EXAMPLE_DIR, "handler_map.txt")


def handshake_request(resource: str, *extra_lines: str, version: int = 13) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {resource} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        f"Sec-WebSocket-Version: {version}",
        *extra_lines,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` and return everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_every_example_handler_loads_without_warnings():
    dispatcher = dispatch.Dispatcher(EXAMPLE_DIR)
    assert dispatcher.source_warnings() == []
    assert [r for r in EXAMPLE_RESOURCES if dispatcher.get_handler_suite(r) is None] == []


# -- echo_wsh.py and close_wsh.py (more in test_endtoend.py) --------------------


def test_echo_picks_first_subprotocol_and_echoes_both_types(example_server):
    with ws_connect(example_server.url("/echo"), subprotocols=["b", "a"]) as ws:
        assert ws.subprotocol == "b"
        ws.send("text")
        assert ws.recv(timeout=TIMEOUT) == "text"
        ws.send(b"\x00\xff")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\xff"


def test_close_answers_a_close_without_status_with_an_empty_close(example_server):
    # A masked close frame with an empty body: the server must not echo 1005 on the wire.
    response = raw_exchange(example_server.port, handshake_request("/close") + b"\x88\x80\x00\x00\x00\x00")
    head, _, frames = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    assert frames == b"\x88\x00"


# -- echo_noext_wsh.py ----------------------------------------------------------


def test_echo_negotiates_permessage_deflate_but_echo_noext_refuses_it(example_server):
    with ws_connect(example_server.url("/echo")) as ws:  # websockets offers permessage-deflate
        assert ws.response.headers.get("Sec-WebSocket-Extensions", "").startswith("permessage-deflate")
    with ws_connect(example_server.url("/echo_noext")) as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert ws.protocol.extensions == []
        ws.send("plain " * 100)
        assert ws.recv(timeout=TIMEOUT) == "plain " * 100
        ws.send(b"\x01\x02")
        assert ws.recv(timeout=TIMEOUT) == b"\x01\x02"


def test_echo_noext_ignores_every_offered_extension(example_server):
    response = raw_exchange(
        example_server.port,
        handshake_request(
            "/echo_noext",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits,"
            " deflate-frame, x-webkit-deflate-frame",
        )
        + b"\x88\x82\x00\x00\x00\x00\x03\xe8",  # then close 1000, unmasked by a zero key
    )
    head, _, frames = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"sec-websocket-extensions" not in head.lower()
    assert frames == b"\x88\x02\x03\xe8"


# -- origin_check_wsh.py --------------------------------------------------------


def test_origin_check_accepts_the_allowed_origin(example_server):
    with ws_connect(example_server.url("/origin_check"), origin="http://example.com") as ws:
        ws.send("from example.com")
        assert ws.recv(timeout=TIMEOUT) == "from example.com"


@pytest.mark.parametrize("origin", ["http://evil.example", "https://example.com", "http://example.com:8080", None])
def test_origin_check_refuses_other_origins_with_403(example_server, origin):
    with pytest.raises(InvalidStatus) as info, ws_connect(example_server.url("/origin_check"), origin=origin):
        pass
    assert info.value.response.status_code == 403


def test_origin_check_reads_sec_websocket_origin_for_version_8(example_server):
    accepted = raw_exchange(
        example_server.port,
        handshake_request("/origin_check", "Sec-WebSocket-Origin: http://example.com", version=8)
        + b"\x88\x82\x00\x00\x00\x00\x03\xe8",
    )
    assert accepted.startswith(b"HTTP/1.1 101 ")
    refused = raw_exchange(
        example_server.port, handshake_request("/origin_check", "Sec-WebSocket-Origin: http://other", version=8)
    )
    assert refused.startswith(b"HTTP/1.1 403 ")


# -- abort_wsh.py, abort_handshake_wsh.py, internal_error_wsh.py --------------------


def test_abort_drops_tcp_after_the_handshake_without_a_close_frame(example_server):
    with ws_connect(example_server.url("/abort")) as ws, pytest.raises(ConnectionClosedError) as info:
        ws.recv(timeout=TIMEOUT)
    assert info.value.rcvd is None  # no close frame from the server...
    assert ws.protocol.close_code == 1006  # ...so the connection closed abnormally


def test_abort_handshake_closes_tcp_without_any_response(example_server):
    assert raw_exchange(example_server.port, handshake_request("/abort_handshake")) == b""
    with ws_connect(example_server.url("/echo")) as ws:  # the server keeps serving
        ws.send("still here")
        assert ws.recv(timeout=TIMEOUT) == "still here"


def test_internal_error_logs_the_traceback_and_drops_tcp(example_server, caplog):
    caplog.set_level(logging.ERROR, logger="mod_pywebsocket.dispatch")
    with ws_connect(example_server.url("/internal_error")) as ws, pytest.raises(ConnectionClosedError) as info:
        ws.recv(timeout=TIMEOUT)
    assert info.value.rcvd is None
    assert ws.protocol.close_code == 1006
    (record,) = [r for r in caplog.records if r.name == "mod_pywebsocket.dispatch"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert str(record.exc_info[1]) == "internal_error_wsh.py fails on purpose"


# -- cookie_wsh.py --------------------------------------------------------------


def test_cookie_without_cookies_sends_empty_object_and_sets_first_visit(example_server):
    with ws_connect(example_server.url("/cookie")) as ws:
        assert ws.response.headers.get_all("Set-Cookie") == ["ws_visits=1; Path=/; SameSite=Strict"]
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {}


def test_cookie_reports_cookies_and_counts_visits(example_server):
    headers = {"Cookie": 'ws_visits=4; flavour=oatmeal; quoted="a b"'}
    with ws_connect(example_server.url("/cookie"), additional_headers=headers) as ws:
        assert ws.response.headers.get_all("Set-Cookie") == ["ws_visits=5; Path=/; SameSite=Strict"]
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"flavour": "oatmeal", "quoted": "a b", "ws_visits": "4"}
        ws.send("ignored")
    assert ws.protocol.close_rcvd.code == 1000


def test_cookie_restarts_the_count_on_a_bad_counter(example_server):
    with ws_connect(example_server.url("/cookie"), additional_headers={"Cookie": "ws_visits=many"}) as ws:
        assert ws.response.headers.get_all("Set-Cookie") == ["ws_visits=1; Path=/; SameSite=Strict"]
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"ws_visits": "many"}


# -- bench_wsh.py ---------------------------------------------------------------


def test_bench_download_sends_count_messages_of_size(example_server):
    with ws_connect(example_server.url("/bench"), max_size=None) as ws:
        ws.send("download 70000 3")
        messages = [ws.recv(timeout=TIMEOUT) for _ in range(3)]
        assert [(type(m), len(m)) for m in messages] == [(bytes, 70000)] * 3
        assert ws.recv(timeout=TIMEOUT) == "done 3 210000"
        ws.send("download 0 0")
        assert ws.recv(timeout=TIMEOUT) == "done 0 0"


def test_bench_stats_counts_uploaded_binary_messages_and_resets(example_server):
    with ws_connect(example_server.url("/bench")) as ws:
        for size in (10, 0, 1000):
            ws.send(b"x" * size)
        ws.send("stats")
        assert ws.recv(timeout=TIMEOUT) == "received 3 1010"
        ws.send("stats")
        assert ws.recv(timeout=TIMEOUT) == "received 0 0"


def test_bench_echo_mode_sends_binary_messages_back(example_server):
    with ws_connect(example_server.url("/bench")) as ws:
        ws.send("echo on")
        assert ws.recv(timeout=TIMEOUT) == "echo on"
        ws.send(b"\x01\x02\x03")
        assert ws.recv(timeout=TIMEOUT) == b"\x01\x02\x03"
        ws.send("echo off")
        assert ws.recv(timeout=TIMEOUT) == "echo off"
        ws.send(b"\x04")
        ws.send("stats")
        assert ws.recv(timeout=TIMEOUT) == "received 2 4"  # counted in both modes


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("download 10", "error: usage: download SIZE COUNT"),
        ("download ten 1", "error: usage: download SIZE COUNT"),
        ("download 16777217 1", "error: SIZE must be 0-16777216 and COUNT 0-1000000"),
        ("download 1 -1", "error: SIZE must be 0-16777216 and COUNT 0-1000000"),
        ("echo maybe", "error: unknown command 'echo maybe'"),
        ("", "error: unknown command ''"),
    ],
)
def test_bench_answers_bad_commands_with_an_error_line(example_server, command, reply):
    with ws_connect(example_server.url("/bench")) as ws:
        ws.send(command)
        assert ws.recv(timeout=TIMEOUT) == reply


# -- handler_map.txt ------------------------------------------------------------


def test_handler_map_aliases_load_cleanly_and_serve(caplog):
    caplog.set_level(logging.WARNING)
    with running_server("-d", EXAMPLE_DIR, "-m", HANDLER_MAP) as server:
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
        for alias in ("/ws", "/example/echo", "/echo/noext"):
            with ws_connect(server.url(alias)) as ws:
                ws.send(alias)
                assert ws.recv(timeout=TIMEOUT) == alias
        with ws_connect(server.url("/echo/noext")) as ws:
            assert ws.protocol.extensions == []


def test_handler_map_lines_are_alias_then_existing_resource():
    with open(HANDLER_MAP, encoding="utf-8") as lines:
        mappings = [line.split("#", 1)[0].split() for line in lines]
    mappings = [fields for fields in mappings if fields]
    assert mappings and all(len(fields) == 2 and fields[1] in EXAMPLE_RESOURCES for fields in mappings)


# -- console.html and benchmark.html as files -------------------------------------


@pytest.mark.parametrize("page", ["console.html", "benchmark.html"])
def test_pages_are_served_as_html_and_load_nothing_from_the_network(example_server, page):
    url = f"http://127.0.0.1:{example_server.port}/{page}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=TIMEOUT) as response:
        assert response.headers.get_content_type() == "text/html"
        text = response.read().decode("utf-8")
    assert re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", text) is None
    assert "@import" not in text and "url(http" not in text
