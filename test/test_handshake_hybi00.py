"""Tests for handshake/hybi00.py: the HyBi-00 (hixie-76) opening handshake."""

from __future__ import annotations

import socket
import time

import pytest

from mod_pywebsocket import common, handshake
from mod_pywebsocket._stream_base import ConnectionTerminatedException
from mod_pywebsocket.handshake import hybi00
from mod_pywebsocket.handshake._base import HandshakeException
from test import mock
from test.conftest import running_server
from test.legacy_handshake import HYBI00, SAMPLE_KEY1, SAMPLE_KEY2, SAMPLE_KEY3, SAMPLE_RESPONSE_BODY
from test.servers import LEGACY_HANDLERS
from test.wire import TIMEOUT, read_until_eof, recv_exactly

# draft-hixie-thewebsocketprotocol-76 §1.3 (and §5.2): the sample handshake (test/legacy_handshake.py).
SAMPLE_HEADERS = HYBI00.headers
SAMPLE_RESPONSE = HYBI00.response
make_request = HYBI00.make_request
do_handshake = HYBI00.do_handshake

# The draft's worked examples: (key1, key2, key3, response body).
CHALLENGE_VECTORS = [
    (SAMPLE_KEY1, SAMPLE_KEY2, SAMPLE_KEY3, SAMPLE_RESPONSE_BODY),
    ("18x 6]8vM;54 *(5:  {   U1]8  z [  8", "1_ tx7X d  <  nw  334J702) 7]o}` 0", b"Tm[K T2u", b"fQJ,fN/4F4!~K~MH"),
]


# The pure half.


@pytest.mark.parametrize(
    ("key", "part"),
    [
        (SAMPLE_KEY1, 4146546015 // 5),
        (SAMPLE_KEY2, 1299853100 // 5),
        (CHALLENGE_VECTORS[1][0], 1868545188 // 12),
        (CHALLENGE_VECTORS[1][1], 1733470270 // 10),
        ("0 ", 0),
        ("4294967295 ", 4294967295),
        ("1 2 4", 62),
    ],
)
def test_parse_key_divides_the_digits_by_the_spaces(key, part):
    assert hybi00.parse_key(key) == part


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ("12345", "has no spaces"),
        ("1 2 3", "123 of key '1 2 3' is not a multiple of 2 spaces"),
        ("x y", "has no digits"),
        ("4294967296 ", "key number 4294967296 of key '4294967296 ' exceeds 4294967295"),
        ("\u0661\u0662 ", "has no digits"),  # Arabic-Indic digits are not digits here
    ],
)
def test_parse_key_rejects_malformed_keys_with_400(key, error):
    with pytest.raises(HandshakeException, match=error) as info:
        hybi00.parse_key(key)
    assert info.value.status == 400


@pytest.mark.parametrize(("key1", "key2", "key3", "body"), CHALLENGE_VECTORS)
def test_challenge_response_matches_the_drafts_examples(key1, key2, key3, body):
    challenge = hybi00.compute_challenge(hybi00.parse_key(key1), hybi00.parse_key(key2), key3)
    assert len(challenge) == 16
    assert challenge[8:] == key3
    assert hybi00.compute_challenge_response(challenge) == body


def test_compute_challenge_packs_parts_big_endian():
    assert hybi00.compute_challenge(0x01020304, 0xA0B0C0D0, b"12345678") == b"\x01\x02\x03\x04\xa0\xb0\xc0\xd012345678"


def test_build_response_without_protocol_has_no_protocol_header():
    response = hybi00.build_response("null", "ws://h/r", None, [], b"0123456789abcdef")
    assert response == (
        b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
        b"Upgrade: WebSocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Origin: null\r\n"
        b"Sec-WebSocket-Location: ws://h/r\r\n"
        b"\r\n"
        b"0123456789abcdef"
    )


@pytest.mark.parametrize("protocol", ["", "a b", "caf\u00e9", "tab\t"])
def test_validate_legacy_subprotocol_rejects_non_printable_or_empty(protocol):
    with pytest.raises(HandshakeException, match="invalid subprotocol") as info:
        hybi00.validate_legacy_subprotocol(protocol)
    assert info.value.status == 400


# The handshaker.


@pytest.mark.parametrize(("key1", "key2", "key3", "body"), CHALLENGE_VECTORS)
def test_do_handshake_writes_the_exact_response_in_one_write(key1, key2, key3, body):
    headers = mock.replace_header(
        mock.replace_header(SAMPLE_HEADERS, "Sec-WebSocket-Key1", key1), "Sec-WebSocket-Key2", key2
    )
    request = make_request(headers, key3)
    do_handshake(request)
    assert request.connection.written == [SAMPLE_RESPONSE[: -len(SAMPLE_RESPONSE_BODY)] + body]


def test_do_handshake_stream_has_the_closing_handshake():
    request = make_request(data=SAMPLE_KEY3 + b"\xff\x00")
    do_handshake(request)
    assert request.ws_stream.receive_message() is None
    assert request.connection.written[1:] == [b"\xff\x00"]


def test_do_handshake_keeps_the_query_in_resource_and_location():
    request = make_request(uri="/demo?a=1&b=2")
    do_handshake(request)
    assert request.ws_resource == "/demo?a=1&b=2"
    assert request.ws_location == "ws://example.com/demo?a=1&b=2"


def test_do_handshake_accepts_lower_case_upgrade_and_connection_lists():
    headers = mock.replace_header(SAMPLE_HEADERS, "Upgrade", "websocket")
    headers = mock.replace_header(headers, "Connection", "keep-alive, upgrade")
    request = make_request(headers)
    do_handshake(request)
    assert request.connection.written == [SAMPLE_RESPONSE]


def test_do_handshake_sends_the_protocol_the_handler_chose():
    def choose(request):
        request.ws_protocol = "other"

    request = make_request()
    do_handshake(request, mock.FakeDispatcher(choose))
    assert b"Sec-WebSocket-Protocol: other\r\n" in request.connection.written[0]


def test_do_handshake_handler_clearing_the_protocol_sends_none():
    def clear(request):
        request.ws_protocol = None

    request = make_request()
    do_handshake(request, mock.FakeDispatcher(clear))
    assert b"Sec-WebSocket-Protocol" not in request.connection.written[0]


def test_do_handshake_writes_extra_headers_after_the_websocket_headers_in_order():
    def add_headers(request):
        request.extra_headers.append(("X-One", "1"))
        request.extra_headers.append(("X-One", "again"))
        request.extra_headers.append(("Bad Header", "kept as given"))

    request = make_request()
    do_handshake(request, mock.FakeDispatcher(add_headers))
    assert request.connection.written == [
        SAMPLE_RESPONSE.replace(b"\r\n\r\n", b"\r\nX-One: 1\r\nX-One: again\r\nBad Header: kept as given\r\n\r\n")
    ]


def test_do_handshake_challenge_is_ready_for_the_extra_handshake():
    seen = {}

    def record(request):
        seen["md5"] = request.ws_challenge_md5
        seen["unread"] = request.connection.remaining()

    request = make_request(data=SAMPLE_KEY3 + b"\x00frame\xff")
    do_handshake(request, mock.FakeDispatcher(record))
    assert seen == {"md5": SAMPLE_RESPONSE_BODY, "unread": b"\x00frame\xff"}


def test_do_handshake_leaves_bytes_after_the_challenge_unread():
    request = make_request(data=SAMPLE_KEY3 + b"\x00Hello\xff")
    do_handshake(request)
    assert request.connection.remaining() == b"\x00Hello\xff"
    assert request.ws_stream.receive_message() == "Hello"


def test_do_handshake_reads_a_challenge_that_arrives_one_byte_per_read():
    connection = mock.FakeConnection(SAMPLE_KEY3 + b"tail", chunk=1, partial_reads=True)
    request = make_request(connection=connection)
    do_handshake(request)
    assert connection.written == [SAMPLE_RESPONSE]
    assert connection.read_calls == 8
    assert connection.remaining() == b"tail"


def test_do_handshake_reads_a_challenge_split_in_uneven_parts():
    class SplitConnection(mock.FakeConnection):
        """Serve the challenge as 3, then 5 bytes, like a slow network."""

        def __init__(self) -> None:
            super().__init__()
            self._parts = [SAMPLE_KEY3[:3], SAMPLE_KEY3[3:]]

        def read(self, length: int) -> bytes:
            self.read_calls += 1
            part = self._parts.pop(0)
            assert len(part) <= length
            return part

    connection = SplitConnection()
    request = make_request(connection=connection)
    do_handshake(request)
    assert connection.written == [SAMPLE_RESPONSE]
    assert connection.read_calls == 2


@pytest.mark.parametrize("data", [b"", b"^n:ds"], ids=["no-bytes", "five-bytes"])
def test_do_handshake_with_a_short_challenge_raises_connection_terminated(data):
    request = make_request(data=data)
    dispatcher = mock.FakeDispatcher()
    with pytest.raises(ConnectionTerminatedException, match=f"after {len(data)} of 8 challenge bytes"):
        do_handshake(request, dispatcher)
    assert dispatcher.calls == []
    assert request.connection.written == []


def test_do_handshake_with_mod_python_none_at_eof_raises_connection_terminated():
    class ModPythonConnection(mock.FakeConnection):
        def read(self, length: int):
            data = super().read(length)
            return data or None

    request = make_request(connection=ModPythonConnection(b"^n:"))
    with pytest.raises(ConnectionTerminatedException, match="after 3 of 8"):
        do_handshake(request)


def test_do_handshake_with_a_reset_while_reading_the_challenge_raises_connection_terminated():
    class ResetConnection(mock.FakeConnection):
        def read(self, length: int) -> bytes:
            raise ConnectionResetError("reset by peer")

    request = make_request(connection=ResetConnection())
    with pytest.raises(ConnectionTerminatedException, match="challenge failed: reset by peer"):
        do_handshake(request)


def test_do_handshake_without_key1_is_not_mine():
    request = make_request(mock.replace_header(SAMPLE_HEADERS, "Sec-WebSocket-Key1", None))
    with pytest.raises(HandshakeException, match="not a HyBi-00 request") as info:
        do_handshake(request)
    assert info.value.status is None
    assert request.connection.remaining() == SAMPLE_KEY3


@pytest.mark.parametrize(
    "name", ["Sec-WebSocket-Key1", "Sec-WebSocket-Key2", "Origin", "Host", "Sec-WebSocket-Protocol"]
)
def test_do_handshake_with_a_repeated_header_returns_400(name):
    value = dict(SAMPLE_HEADERS)[name]
    request = make_request([*SAMPLE_HEADERS, (name, value)])
    with pytest.raises(HandshakeException) as info:
        do_handshake(request)
    assert info.value.status == 400


# Through handshake.do_handshake.


def test_handshake_chain_picks_hybi00_for_a_key1_request():
    request = make_request()
    handshake.do_handshake(request, mock.FakeDispatcher())
    assert request.ws_version == common.VERSION_HYBI00
    assert request.connection.written == [SAMPLE_RESPONSE]


def test_handshake_chain_answers_400_for_a_malformed_hybi00_request():
    request = make_request(mock.replace_header(SAMPLE_HEADERS, "Sec-WebSocket-Key1", "nospaces1"))
    with pytest.raises(HandshakeException) as info:
        handshake.do_handshake(request, mock.FakeDispatcher())
    assert info.value.status == 400


def test_do_handshake_answers_a_failure_without_status_with_400_instead_of_trying_the_next_protocol():
    # A HyBi-00 request whose extra handshake raises HandshakeException
    # without a status: the failure is the answer, not "try Hixie-75".
    def refuse(request):
        raise HandshakeException("refused")

    with pytest.raises(HandshakeException, match=r"^refused$") as info:
        handshake.do_handshake(make_request(), mock.FakeDispatcher(refuse), allowDraft75=True)
    assert info.value.status == 400


# End to end, over a socket to the standalone server.


def sample_request(port: int, resource: str = "/echo", key1: str = SAMPLE_KEY1) -> bytes:
    return (
        f"GET {resource} HTTP/1.1\r\n"
        "Upgrade: WebSocket\r\n"
        "Connection: Upgrade\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Origin: http://example.com\r\n"
        f"Sec-WebSocket-Key1: {key1}\r\n"
        f"Sec-WebSocket-Key2: {SAMPLE_KEY2}\r\n"
        "Sec-WebSocket-Protocol: sample\r\n"
        "\r\n"
    ).encode("latin-1")


def expected_response(port: int, resource: str = "/echo") -> bytes:
    return HYBI00.expected(f"ws://127.0.0.1:{port}{resource}")


@pytest.fixture
def legacy_server():
    with running_server("-d", LEGACY_HANDLERS) as server:
        yield server


def test_standalone_echo_over_a_raw_socket(legacy_server):
    port = legacy_server.port
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(sample_request(port) + SAMPLE_KEY3)
        response = expected_response(port)
        assert recv_exactly(sock, len(response)) == response
        sock.sendall(b"\x00Hello\xff\x00h\xc3\xa9llo\xff")
        assert recv_exactly(sock, 15) == b"\x00Hello\xff\x00h\xc3\xa9llo\xff"
        sock.sendall(b"\xff\x00")
        assert read_until_eof(sock) == b"\xff\x00"


def test_standalone_reads_a_challenge_sent_late_and_in_pieces(legacy_server):
    port = legacy_server.port
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(sample_request(port))
        time.sleep(0.2)
        sock.sendall(SAMPLE_KEY3[:3])
        time.sleep(0.2)
        sock.sendall(SAMPLE_KEY3[3:])
        response = expected_response(port)
        assert recv_exactly(sock, len(response)) == response


def test_standalone_server_closes_with_0xff_0x00_and_waits_for_the_client(legacy_server):
    port = legacy_server.port
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(sample_request(port, "/info?x=1") + SAMPLE_KEY3)
        response = expected_response(port, "/info?x=1")
        assert recv_exactly(sock, len(response)) == response
        info = f"0|ws://127.0.0.1:{port}/info?x=1|http://example.com|sample|/info?x=1".encode()
        assert recv_exactly(sock, len(info) + 4) == b"\x00" + info + b"\xff\xff\x00"
        sock.sendall(b"\xff\x00")
        assert read_until_eof(sock) == b""


def test_standalone_malformed_key_gets_400(legacy_server):
    port = legacy_server.port
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(sample_request(port, key1="1 2 3") + SAMPLE_KEY3)
        assert read_until_eof(sock).startswith(b"HTTP/1.1 400 ")


def test_standalone_handler_may_write_its_own_response_from_the_challenge(legacy_server):
    port = legacy_server.port
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(sample_request(port, "/raw") + SAMPLE_KEY3)
        assert read_until_eof(sock) == (
            b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
            b"Upgrade: WebSocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Origin: http://example.com\r\n"
            + f"Sec-WebSocket-Location: ws://127.0.0.1:{port}/raw\r\n".encode()
            + b"X-Written-By: raw_wsh\r\n"
            b"\r\n" + SAMPLE_RESPONSE_BODY + b"\x00raw\xff"
        )


@pytest.mark.parametrize("protocol", ["sample", "Sample", "sample\x7eprotocol", "sample\x20protocol"])
def test_validate_subprotocol_of_0_7_9_accepts_printable_ascii_and_space(protocol):
    hybi00._validate_subprotocol(protocol)


@pytest.mark.parametrize("protocol", ["", "sample\x19protocol", "sample\x7fprotocol", "sample\u3042protocol"])
def test_validate_subprotocol_of_0_7_9_rejects_empty_and_other_characters(protocol):
    with pytest.raises(HandshakeException, match="invalid subprotocol") as info:
        hybi00._validate_subprotocol(protocol)
    assert info.value.status == 400
