"""End-to-end tests: the standalone server against the `websockets` client and raw sockets."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zlib

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mod_pywebsocket.common import OPCODE_CONTINUATION, OPCODE_TEXT
from test.conftest import EXAMPLE_DIR, REPO_ROOT, running_server
from test.servers import HANDLERS, cli_server
from test.wire import (
    HIXIE75,
    KEY1,
    KEY2,
    KEY3,
    TIMEOUT,
    FrameReader,
    client_frame,
    exchange,
    hybi00_request,
    open_socket,
    read_head,
    request_info,
    roundtrip,
    status_of,
    upgrade_request,
    ws_connect,
    ws_open,
)


def test_text_and_binary_round_trip(example_server):
    with ws_connect(example_server.url("/echo")) as ws:
        ws.send("h\u00e9llo \u20ac")
        assert ws.recv(timeout=TIMEOUT) == "h\u00e9llo \u20ac"
        ws.send(b"\x00\x01\xfe\xff")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\x01\xfe\xff"
        ws.send("")
        assert ws.recv(timeout=TIMEOUT) == ""


@pytest.mark.parametrize("message", ["t" * (1 << 20), os.urandom(1 << 20)], ids=["text", "binary"])
def test_one_mib_message_round_trips(example_server, message):
    with ws_connect(example_server.url("/echo")) as ws:
        ws.send(message)
        assert ws.recv(timeout=TIMEOUT) == message


def test_fragmented_message_is_reassembled(example_server):
    with ws_connect(example_server.url("/echo")) as ws:
        ws.send(["frag", "men", "ted \u00e9"])
        assert ws.recv(timeout=TIMEOUT) == "fragmented \u00e9"
        ws.send([b"\x01", b"\x02"])
        assert ws.recv(timeout=TIMEOUT) == b"\x01\x02"


def test_ping_gets_pong(example_server):
    with ws_connect(example_server.url("/echo")) as ws:
        pong = ws.ping(b"are you there")
        assert pong.wait(TIMEOUT)


def test_goodbye_closes_with_1000(example_server):
    with ws_connect(example_server.url("/echo")) as ws:
        ws.send("Goodbye")
        assert ws.recv(timeout=TIMEOUT) == "Goodbye"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=TIMEOUT)
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (1000, "")


@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (1001, "away"), (4000, "custom \u00e9"), (3999, "")])
def test_server_closes_with_requested_code_and_reason(example_server, code, reason):
    with ws_connect(example_server.url("/close")) as ws:
        ws.send(f"{code} {reason}")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=TIMEOUT)
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (code, reason)


def test_client_close_code_is_echoed_by_close_handler(example_server):
    with ws_connect(example_server.url("/close")) as ws:
        ws.close(4321, "client says bye")
    assert (ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason) == (4321, "client says bye")


def test_client_close_gets_1000_from_echo(example_server):
    with ws_connect(example_server.url("/echo")) as ws:
        ws.close(4001, "bye")
    assert ws.protocol.close_rcvd.code == 1000


def test_subprotocol_selected_by_handler(example_server):
    with ws_connect(example_server.url("/echo"), subprotocols=["chat", "superchat"]) as ws:
        assert ws.subprotocol == "chat"


def test_unknown_resource_gets_404(example_server):
    with pytest.raises(InvalidStatus) as info:
        ws_connect(example_server.url("/no/such/handler"))
    assert info.value.response.status_code == 404


def test_unsupported_version_gets_400_with_supported_versions(example_server):
    response = roundtrip(
        example_server.port,
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n",
    )
    head = response.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"\r\nSec-WebSocket-Version: 13, 8\r\n" in head + b"\r\n"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /echo#frag HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n",
        b"NONSENSE\r\n\r\n",
    ],
    ids=["bad-key", "plain-get-to-handler", "fragment", "garbage-request-line"],
)
def test_malformed_handshake_gets_400_and_server_keeps_serving(example_server, request_bytes):
    response = roundtrip(example_server.port, request_bytes)
    assert response.startswith(b"HTTP/1.") and b" 400 " in response.split(b"\r\n", 1)[0]
    with ws_connect(example_server.url("/echo")) as ws:
        ws.send("still here")
        assert ws.recv(timeout=TIMEOUT) == "still here"


def test_raw_socket_handshake_and_masked_frame_echo(example_server):
    key = base64.b64encode(os.urandom(16))
    with socket.create_connection(("127.0.0.1", example_server.port), timeout=TIMEOUT) as sock:
        sock.sendall(
            b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += sock.recv(4096)
        head, rest = response.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        sock.sendall(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")  # RFC 6455 §5.7 masked "Hello"
        while len(rest) < 7:
            rest += sock.recv(4096)
        assert rest == b"\x81\x05Hello"
        sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")
        tail = b""
        while True:
            data = sock.recv(4096)
            if not data:
                break
            tail += data
        assert tail == b"\x88\x02\x03\xe8"


def test_static_file_is_served_and_directory_escape_is_not(example_server):
    with urllib.request.urlopen(f"http://127.0.0.1:{example_server.port}/echo_wsh.py", timeout=TIMEOUT) as response:
        with open(os.path.join(EXAMPLE_DIR, "echo_wsh.py"), "rb") as source:
            assert response.read() == source.read()
    escaped = roundtrip(example_server.port, b"GET /../README.md HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert escaped.startswith(b"HTTP/1.0 404 ") or escaped.startswith(b"HTTP/1.1 404 ")


def test_unmasked_client_frame_closes_with_1002(example_server):
    with socket.create_connection(("127.0.0.1", example_server.port), timeout=TIMEOUT) as sock:
        sock.sendall(
            b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        sock.sendall(b"\x81\x02hi")
        rest = data.split(b"\r\n\r\n", 1)[1]
        while len(rest) < 4:
            chunk = sock.recv(4096)
            if not chunk:
                break
            rest += chunk
        assert rest == b"\x88\x02\x03\xea"


def test_handler_that_raises_drops_connection_and_server_keeps_serving():
    with running_server("-d", HANDLERS) as server:
        with ws_connect(server.url("/raise?value_error")) as ws:
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=TIMEOUT)
            assert info.value.rcvd is None  # no close frame: the client sees 1006
        with ws_connect(server.url("/sub/Mixed_Case")) as ws:
            assert ws.recv(timeout=TIMEOUT) == "sub"


def test_concurrent_connections_each_get_their_own_echo(example_server):
    errors = []

    def client(n: int) -> None:
        try:
            with ws_connect(example_server.url("/echo")) as ws:
                for i in range(20):
                    ws.send(f"{n}-{i}")
                    assert ws.recv(timeout=TIMEOUT) == f"{n}-{i}"
        except Exception as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert errors == []


def test_handler_map_file_aliases_a_resource(tmp_path):
    map_file = tmp_path / "map.txt"
    map_file.write_text("# alias existing\n/alias/echo /echo\n\n")
    with running_server("-d", EXAMPLE_DIR, "-m", str(map_file)) as server:
        with ws_connect(server.url("/alias/echo")) as ws:
            ws.send("via alias")
            assert ws.recv(timeout=TIMEOUT) == "via alias"


def test_command_line_server_serves_examples_and_stops_on_sigterm_with_1001(tmp_path):
    with cli_server(tmp_path, "-d", "example") as (process, port, _):
        with ws_connect(f"ws://127.0.0.1:{port}/echo") as ws:
            ws.send("cli")
            assert ws.recv(timeout=TIMEOUT) == "cli"
            process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=TIMEOUT)
            assert info.value.rcvd.code == 1001
        assert process.wait(TIMEOUT) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "http"], "port must be a number, not 'http'"),
        (["-p", "70000"], "port 70000 is not in 0-65535"),
        (["-d", "/no/such/dir"], "document root '/no/such/dir' is not a directory"),
        (["--log-level", "loud"], "log level must be one of"),
        (["-q", "0"], "expected a positive number, not 0"),
        (["--no-such-option"], "unrecognized arguments: --no-such-option"),
    ],
)
def test_bad_option_gets_one_error_line_and_status_2(args, message):
    result = subprocess.run(
        [sys.executable, "-m", "mod_pywebsocket.standalone", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_long_options_accept_underscore_spelling():
    from mod_pywebsocket import standalone

    options = standalone.parse_options(["--document_root", EXAMPLE_DIR, "--log_level", "warn", "--server_host", "::1"])
    assert options.document_root == EXAMPLE_DIR
    assert options.log_level == "warn"
    assert options.server_host == "::1"


def test_receive_message_after_a_private_frame_read_gets_the_next_message():
    with running_server("-d", HANDLERS) as server, ws_connect(server.url("/raw_frame")) as ws:
        ws.send("first")
        ws.send(b"\x00second")
        assert ws.recv(timeout=TIMEOUT) == "frame opcode=1 fin=1 rsv=000 payload=b'first'"
        assert ws.recv(timeout=TIMEOUT) == "message b'\\x00second'"


def test_continuation_of_a_first_fragment_read_privately_closes_with_1002():
    # The handler took the first fragment itself: receive_message has no
    # message to continue (as in pywebsocket3).
    # Raw frames: a client library may add an empty final fragment, which races the server's close.
    with running_server("-d", HANDLERS) as server:
        sock, frames = ws_open(server.port, "/raw_frame")
        with sock:
            sock.sendall(client_frame(OPCODE_TEXT, b"frag", fin=False) + client_frame(OPCODE_CONTINUATION, b"ment"))
            assert frames.frame() == (True, OPCODE_TEXT, b"frame opcode=1 fin=0 rsv=000 payload=b'frag'")
            assert frames.close_code() == 1002


# Extension parameters may be quoted-strings (RFC 6455 §9.1); one whose value
# is not a token once unescaped makes only its offer unusable (SPEC §5).

QUOTED_OFFERS = (
    'x-custom; a="b c"; d="e\\"f", '
    'permessage-deflate; server_max_window_bits="1 0", '
    'permessage-deflate; server_max_window_bits="10"'
)
QUOTED_OFFERS_AS_PARSED = [
    ["x-custom", [["a", "b c"], ["d", 'e"f']]],
    ["permessage-deflate", [["server_max_window_bits", "1 0"]]],
    ["permessage-deflate", [["server_max_window_bits", "10"]]],
]


def test_quoted_extension_parameters_make_only_their_offer_unusable():
    with running_server("-d", HANDLERS) as server, open_socket(server.port) as sock:
        sock.sendall(upgrade_request("/request_info", extra=f"Sec-WebSocket-Extensions: {QUOTED_OFFERS}\r\n"))
        head, rest = read_head(sock, time.monotonic() + TIMEOUT)
        assert status_of(head) == 101, head
        sock.sendall(client_frame(1, b"echo me"))
        _, opcode, payload = FrameReader(sock, rest).frame()
    assert b"\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n" in head
    assert request_info(head)["ws_requested_extensions"] == QUOTED_OFFERS_AS_PARSED
    # The echo is compressed: permessage-deflate (the third offer) is in use.
    assert opcode == 1
    assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") == b"echo me"


# RFC 9112 §3.2.2: a request-target in absolute form names the resource of its
# path and query (SPEC §5), for every protocol version and for files.


@pytest.fixture(scope="module")
def handlers_server():
    with running_server("-d", HANDLERS, "--allow-draft75") as server:
        yield server


@pytest.mark.parametrize("scheme", ["ws", "wss", "http", "https"])
def test_rfc6455_handshake_with_absolute_form_target_reaches_the_handler(handlers_server, scheme):
    target = f"{scheme}://127.0.0.1:{handlers_server.port}/request_info?x=1"
    with open_socket(handlers_server.port) as sock:
        sock.sendall(upgrade_request(target))
        head, rest = read_head(sock, time.monotonic() + TIMEOUT)
        assert status_of(head) == 101, head
        sock.sendall(client_frame(1, b"echo me"))
        assert FrameReader(sock, rest).frame() == (True, 1, b"echo me")
    info = request_info(head)
    assert (info["ws_resource"], info["uri"], info["unparsed_uri"]) == ("/request_info?x=1",) * 3


def test_hybi00_handshake_with_absolute_form_target_builds_location_from_host(handlers_server):
    request = hybi00_request(KEY1, KEY2, resource=f"ws://localhost:{handlers_server.port}/request_info?x=1")
    with open_socket(handlers_server.port) as sock:
        sock.sendall(request + KEY3)
        head, _ = read_head(sock, time.monotonic() + TIMEOUT)
    assert status_of(head) == 101, head
    assert b"\r\nSec-WebSocket-Location: ws://127.0.0.1/request_info?x=1\r\n" in head
    assert request_info(head)["ws_resource"] == "/request_info?x=1"


def test_hixie75_handshake_with_absolute_form_target_builds_location_from_host(handlers_server):
    request = HIXIE75.replace(b"GET /echo ", b"GET http://localhost/request_info?x=1 ")
    with open_socket(handlers_server.port) as sock:
        sock.sendall(request)
        head, _ = read_head(sock, time.monotonic() + TIMEOUT)
    assert status_of(head) == 101, head
    assert b"\r\nWebSocket-Location: ws://127.0.0.1/request_info?x=1\r\n" in head
    assert request_info(head)["ws_resource"] == "/request_info?x=1"


def test_file_request_with_absolute_form_target_serves_the_file(handlers_server):
    request = b"GET http://127.0.0.1/counter_wsh.py HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    answer = roundtrip(handlers_server.port, request)
    with open(os.path.join(HANDLERS, "counter_wsh.py"), "rb") as source:
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n" + source.read())


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/request_info", "ws:///request_info"])
def test_absolute_form_target_naming_no_resource_here_gets_400(handlers_server, target):
    status, answer, _ = exchange(handlers_server.port, upgrade_request(target))
    assert status == 400
    assert b"is not a ws, wss, http or https URI with a host" in answer


def test_strict_hixie75_refuses_absolute_form_which_the_draft_never_sends():
    request = HIXIE75.replace(b"GET /echo ", b"GET ws://127.0.0.1/request_info ")
    with running_server("-d", HANDLERS, "--allow-draft75", "--strict") as server:
        status, answer, _ = exchange(server.port, request)
    assert status == 400
    assert b"request line 1 is 'GET ws://127.0.0.1/request_info HTTP/1.1\\r\\n'" in answer
