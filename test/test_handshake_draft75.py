"""Tests for handshake/draft75.py: the Hixie-75 opening handshake."""

from __future__ import annotations

import socket

import pytest

from mod_pywebsocket import common, handshake
from mod_pywebsocket.handshake import draft75
from mod_pywebsocket.handshake._base import HandshakeException
from test import mock
from test.conftest import running_server
from test.legacy_handshake import HIXIE75
from test.servers import LEGACY_HANDLERS
from test.wire import TIMEOUT, read_until_eof, recv_exactly

# draft-hixie-thewebsocketprotocol-75 §1.2: the sample handshake (test/legacy_handshake.py).
SAMPLE_HEADERS = HIXIE75.headers
SAMPLE_LINES = [
    b"GET /demo HTTP/1.1\r\n",
    b"Upgrade: WebSocket\r\n",
    b"Connection: Upgrade\r\n",
    b"Host: example.com\r\n",
    b"Origin: http://example.com\r\n",
    b"WebSocket-Protocol: sample\r\n",
    b"\r\n",
]
SAMPLE_RESPONSE = HIXIE75.response
make_request = HIXIE75.make_request
do_handshake = HIXIE75.do_handshake


# The pure half.


def test_build_response_matches_the_drafts_sample():
    response = draft75.build_response("http://example.com", "ws://example.com/demo", "sample", [])
    assert response == SAMPLE_RESPONSE


def test_build_response_without_protocol_and_with_extra_headers():
    response = draft75.build_response("o", "ws://h/r", None, [("X-A", "1"), ("X-A", "2")])
    assert response == (
        b"HTTP/1.1 101 Web Socket Protocol Handshake\r\n"
        b"Upgrade: WebSocket\r\n"
        b"Connection: Upgrade\r\n"
        b"WebSocket-Origin: o\r\n"
        b"WebSocket-Location: ws://h/r\r\n"
        b"X-A: 1\r\n"
        b"X-A: 2\r\n"
        b"\r\n"
    )


def test_check_strict_request_lines_accepts_the_drafts_sample():
    draft75.check_strict_request_lines(SAMPLE_LINES, "/demo")


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        (SAMPLE_LINES[:4], "request has 4 lines, expected at least 5"),
        ([b"GET /other HTTP/1.1\r\n", *SAMPLE_LINES[1:]], "line 1 is 'GET /other HTTP/1.1\\\\r\\\\n'"),
        ([b"GET /demo HTTP/1.1\n", *SAMPLE_LINES[1:]], "line 1"),
        ([SAMPLE_LINES[0], b"upgrade: WebSocket\r\n", *SAMPLE_LINES[2:]], "line 2 is 'upgrade: WebSocket"),
        ([SAMPLE_LINES[0], b"Upgrade: websocket\r\n", *SAMPLE_LINES[2:]], "line 2"),
        ([SAMPLE_LINES[0], b"Upgrade:  WebSocket\r\n", *SAMPLE_LINES[2:]], "line 2"),
        ([*SAMPLE_LINES[:2], b"Connection: upgrade\r\n", *SAMPLE_LINES[3:]], "line 3"),
        ([SAMPLE_LINES[0], SAMPLE_LINES[2], SAMPLE_LINES[1], *SAMPLE_LINES[3:]], "line 2 is 'Connection: Upgrade"),
        ([*SAMPLE_LINES[:3], SAMPLE_LINES[4], SAMPLE_LINES[3], *SAMPLE_LINES[5:]], "line 4 is 'Origin: "),
        ([*SAMPLE_LINES[:3], b"Host: example.com\n", *SAMPLE_LINES[4:]], "line 4"),
        ([*SAMPLE_LINES[:4], b"Cookie: a=b\r\n", *SAMPLE_LINES[4:]], "line 5 is 'Cookie: a=b"),
    ],
    ids=[
        "too-few-lines",
        "other-resource",
        "bare-lf-request-line",
        "lower-case-name",
        "lower-case-value",
        "extra-space",
        "connection-value-case",
        "upgrade-after-connection",
        "origin-before-host",
        "bare-lf-host",
        "cookie-before-origin",
    ],
)
def test_check_strict_request_lines_rejects_other_order_or_spelling_with_400(lines, error):
    with pytest.raises(HandshakeException, match=error) as info:
        draft75.check_strict_request_lines(lines, "/demo")
    assert info.value.status == 400


# The handshaker.


def test_do_handshake_writes_the_drafts_sample_response_in_one_write():
    request = make_request()
    do_handshake(request)
    assert request.connection.written == [SAMPLE_RESPONSE]


def test_do_handshake_stream_has_no_closing_handshake():
    request = make_request(data=b"\xff\x00\x00after\xff")
    do_handshake(request)
    assert request.ws_stream.receive_message() == "after"
    request.ws_stream.close_connection()
    assert request.connection.written == [SAMPLE_RESPONSE]


def test_do_handshake_accepts_a_protocol_with_spaces():
    request = make_request(mock.replace_header(SAMPLE_HEADERS, "WebSocket-Protocol", "chat v2"))
    do_handshake(request)
    assert b"WebSocket-Protocol: chat v2\r\n" in request.connection.written[0]


def test_do_handshake_sends_the_protocol_and_extra_headers_the_handler_set():
    def tune(request):
        request.ws_protocol = None
        request.extra_headers.append(("Set-Cookie", "a=b"))

    request = make_request()
    do_handshake(request, mock.FakeDispatcher(tune))
    assert request.connection.written == [
        SAMPLE_RESPONSE.replace(b"WebSocket-Protocol: sample\r\n", b"Set-Cookie: a=b\r\n")
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"Upgrade": None},
        {"Upgrade": "h2c"},
        {"Sec-WebSocket-Key1": "1 2"},
        {"Sec-WebSocket-Key2": "1 2"},
        {"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
        {"Sec-WebSocket-Version": "13"},
    ],
    ids=["no-upgrade", "other-upgrade", "key1", "key2", "rfc6455-key", "version"],
)
def test_do_handshake_of_another_protocols_request_is_not_mine(change):
    headers = SAMPLE_HEADERS
    for name, value in change.items():
        headers = mock.replace_header(headers, name, value)
    request = make_request(headers)
    with pytest.raises(HandshakeException, match="not a Hixie-75 request") as info:
        do_handshake(request)
    assert info.value.status is None


def test_do_handshake_with_two_upgrade_headers_is_not_mine():
    request = make_request([*SAMPLE_HEADERS, ("Upgrade", "WebSocket")])
    with pytest.raises(HandshakeException) as info:
        do_handshake(request)
    assert info.value.status is None


def test_do_handshake_with_two_protocol_headers_returns_400():
    request = make_request([*SAMPLE_HEADERS, ("WebSocket-Protocol", "other")])
    with pytest.raises(HandshakeException, match="2 WebSocket-Protocol headers") as info:
        do_handshake(request)
    assert info.value.status == 400


def test_do_handshake_non_strict_accepts_any_case_and_header_order():
    headers = mock.replace_header(
        mock.replace_header(SAMPLE_HEADERS, "Upgrade", "websocket"), "Connection", "keep-alive, upgrade"
    )
    lines = [SAMPLE_LINES[0], SAMPLE_LINES[4], b"upgrade: websocket\r\n", *SAMPLE_LINES[5:]]
    request = make_request(headers, raw_lines=lines)
    do_handshake(request)
    assert request.connection.written == [SAMPLE_RESPONSE]


def test_do_handshake_strict_accepts_the_drafts_request_lines():
    request = make_request(raw_lines=SAMPLE_LINES)
    do_handshake(request, strict=True)
    assert request.connection.written == [SAMPLE_RESPONSE]


def test_do_handshake_strict_rejects_headers_out_of_order_with_400():
    lines = [SAMPLE_LINES[0], SAMPLE_LINES[3], *SAMPLE_LINES[1:3], *SAMPLE_LINES[4:]]
    request = make_request(raw_lines=lines)
    dispatcher = mock.FakeDispatcher()
    with pytest.raises(HandshakeException, match=r"line 2 is 'Host: example.com") as info:
        do_handshake(request, dispatcher, strict=True)
    assert info.value.status == 400
    assert dispatcher.calls == []


def test_do_handshake_strict_without_raw_lines_checks_the_parsed_spelling():
    request = make_request()
    do_handshake(request, strict=True)
    assert request.connection.written == [SAMPLE_RESPONSE]


@pytest.mark.parametrize(
    ("name", "value"), [("Upgrade", "websocket"), ("Connection", "upgrade"), ("Connection", "Upgrade, close")]
)
def test_do_handshake_strict_without_raw_lines_rejects_other_spelling_with_400(name, value):
    request = make_request(mock.replace_header(SAMPLE_HEADERS, name, value))
    with pytest.raises(HandshakeException, match=f"for header {name} but found") as info:
        do_handshake(request, strict=True)
    assert info.value.status == 400


# Through handshake.do_handshake.


def test_handshake_chain_without_allow_draft75_answers_400_naming_the_options_that_enable_it():
    request = make_request()
    with pytest.raises(HandshakeException) as info:
        handshake.do_handshake(request, mock.FakeDispatcher())
    assert info.value.status == 400
    assert str(info.value) == (
        "no protocol version accepts the request (RFC 6455: no Sec-WebSocket-Version header: not an RFC 6455 "
        "request; HyBi-00: no Sec-WebSocket-Key1 header: not a HyBi-00 request; Hixie-75: not enabled "
        "(standalone server: --allow-draft75; Apache: PythonOption mod_pywebsocket.allow_draft75 On))"
    )
    assert request.connection.written == []


def test_handshake_chain_with_allow_draft75_accepts_hixie75():
    request = make_request()
    handshake.do_handshake(request, mock.FakeDispatcher(), allowDraft75=True)
    assert request.ws_version == common.VERSION_HIXIE75
    assert request.connection.written == [SAMPLE_RESPONSE]


def test_handshake_chain_passes_strict_to_hixie75():
    request = make_request(raw_lines=[SAMPLE_LINES[0], SAMPLE_LINES[2], SAMPLE_LINES[1], *SAMPLE_LINES[3:]])
    with pytest.raises(HandshakeException) as info:
        handshake.do_handshake(request, mock.FakeDispatcher(), allowDraft75=True, strict=True)
    assert info.value.status == 400


# End to end, over a socket to the standalone server.


def hixie75_request(port: int, resource: str = "/echo", swap_host_and_origin: bool = False) -> bytes:
    host = f"Host: 127.0.0.1:{port}\r\n"
    origin = "Origin: http://example.com\r\n"
    fields = origin + host if swap_host_and_origin else host + origin
    return (f"GET {resource} HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n{fields}\r\n").encode()


def hixie75_response(port: int, resource: str = "/echo") -> bytes:
    return HIXIE75.expected(f"ws://127.0.0.1:{port}{resource}", protocol=False)


def test_standalone_with_allow_draft75_echoes_over_a_raw_socket():
    with running_server("-d", LEGACY_HANDLERS, "--allow-draft75") as server:
        port = server.port
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(hixie75_request(port))
            response = hixie75_response(port)
            assert recv_exactly(sock, len(response)) == response
            sock.sendall(b"\x00Hello\xff\x80\x02ab\x00<>\xff")
            assert recv_exactly(sock, 11) == b"\x00Hello\xff\x00<>\xff"


def test_standalone_hixie75_server_side_end_closes_tcp_without_a_close_frame():
    with running_server("-d", LEGACY_HANDLERS, "--allow-draft75") as server:
        port = server.port
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(hixie75_request(port, "/info"))
            response = hixie75_response(port, "/info")
            assert recv_exactly(sock, len(response)) == response
            info = f"-1|ws://127.0.0.1:{port}/info|http://example.com|None|/info".encode()
            assert read_until_eof(sock) == b"\x00" + info + b"\xff"


def test_standalone_without_allow_draft75_answers_400():
    with running_server("-d", LEGACY_HANDLERS) as server:
        port = server.port
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(hixie75_request(port))
            assert read_until_eof(sock).startswith(b"HTTP/1.1 400 ")


def test_standalone_strict_accepts_the_drafts_header_order():
    with running_server("-d", LEGACY_HANDLERS, "--allow-draft75", "--strict") as server:
        port = server.port
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(hixie75_request(port))
            response = hixie75_response(port)
            assert recv_exactly(sock, len(response)) == response


def test_standalone_strict_rejects_headers_out_of_order_with_400():
    with running_server("-d", LEGACY_HANDLERS, "--allow-draft75", "--strict") as server:
        port = server.port
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(hixie75_request(port, swap_host_and_origin=True))
            reply = read_until_eof(sock)
            assert reply.startswith(b"HTTP/1.1 400 ")
            assert b"line 4 is 'Origin: http://example.com" in reply
