"""The standalone server's request head reader and its limits.

Line length, header count, head size, handshake timeout, message size and
connection count; the bad values of those options.

Servers run in this process (``running_server``) or as a subprocess
(``servers.cli_server``); clients are the ``websockets`` library and raw
sockets (test/wire.py). The ``site`` and ``pki`` fixtures are in conftest.py.
"""

from __future__ import annotations

import io
import json
import random
import socket
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mod_pywebsocket import _standalone_http, common, standalone
from test.conftest import EXAMPLE_DIR, running_server
from test.servers import assert_option_error, run_cli
from test.wire import HYBI00_REQUEST, TIMEOUT, get, parse_response, read_until, roundtrip, ws_connect

# The request head parser.


def test_read_request_head_leaves_the_body_unread_and_keeps_header_spellings():
    stream = io.BytesIO(b"POST /x?y HTTP/1.1\r\nHost: h\r\nX-Dup: 1\nx-dup: 2\r\nContent-Length: 4\r\n\r\nbody")
    head = _standalone_http.read_request_head(stream.readline, 100, 10)
    assert (head.method, head.target, head.version) == ("POST", "/x?y", "HTTP/1.1")
    assert head.headers.get_all("x-DUP") == ["1", "2"]
    assert head.headers["Missing"] is None
    assert [name for name, _ in head.headers.items()] == ["Host", "X-Dup", "x-dup", "Content-Length"]
    assert head.raw_lines[0] == b"POST /x?y HTTP/1.1\r\n" and head.raw_lines[-1] == b"\r\n"
    assert head.close_connection is False
    assert stream.read() == b"body"


@pytest.mark.parametrize(
    ("head", "close"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", False),
    ],
)
def test_read_request_head_decides_keep_alive(head, close):
    assert _standalone_http.read_request_head(io.BytesIO(head).readline, 100, 10).close_connection is close


class Trickle(io.RawIOBase):
    """A raw stream giving at most ``piece`` bytes per read, as a socket may."""

    def __init__(self, data: bytes, piece: int) -> None:
        self._data = data
        self._piece = piece

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk, self._data = self._data[: self._piece], self._data[self._piece :]
        buffer[: len(chunk)] = chunk
        return len(chunk)


def head_or_error(read):
    """What reading a head gives: its parts and the bytes left, or the error's type, status and message."""
    try:
        head, rest = read()
    except (_standalone_http.RequestError, _standalone_http.IncompleteRequest) as exc:
        return type(exc).__name__, getattr(exc, "status", None), str(exc)
    if head is None:
        return None, rest
    fields = list(head.headers.items())
    return (
        head.request_line,
        head.method,
        head.target,
        head.version,
        fields,
        head.raw_lines,
        head.close_connection,
        rest,
    )


def both_readers(data: bytes, piece: int, max_line_length: int, max_header_count: int, max_head_size):
    """What reading ``data`` gives from a buffer receiving ``piece`` bytes at a time, and line by line."""

    def line_by_line():
        stream = io.BytesIO(data)
        head = _standalone_http.read_request_head(stream.readline, max_line_length, max_header_count, max_head_size)
        return head, stream.read()

    def from_buffer():
        stream = io.BufferedReader(Trickle(data, piece))
        head = _standalone_http.read_request_head(
            stream.readline, max_line_length, max_header_count, max_head_size, buffer=stream
        )
        return head, stream.read()

    return head_or_error(from_buffer), head_or_error(line_by_line)


REQUEST = b"GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nX:  a\tb \t\r\nEmpty:\r\n\r\n"


@pytest.mark.parametrize(
    "data",
    [
        REQUEST + b"after",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\nHost: h\n\n",  # bare LF line ends
        b"GET / HTTP/1.1\r\nA: 1\nB: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: 1\n\r\nB: 2\r\n\r\n",  # an empty line ended by LF ends the head early
        b"GET / HTTP/1.1\r\nA: 1\r\n\nB: 2\r\n\r\n",
        b"\r\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",  # empty lines before the request line
        b"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n",  # CR inside a value
        b"GET / HTTP/1.1\r\nA: x\r\r\n\r\n",  # CR CR LF
        b"GET / HTTP/1.1\r\nA: x\0y\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: x\x01y\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nNo colon\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad name: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
        b"GET / HTTP/1.1\r\nA:1:2\r\nLatin: caf\xe9\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET  /  HTTP/1.1\r\n\r\n",
        b"GET ws://h/x?y HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"H: v\r\n" * 10 + b"\r\n",  # at the header count limit
        b"GET / HTTP/1.1\r\n" + b"H: v\r\n" * 11 + b"\r\n",  # over it
        b"GET / HTTP/1.1\r\nL: " + b"v" * 95 + b"\r\n\r\n",  # a line of 100 bytes: the limit
        b"GET / HTTP/1.1\r\nL: " + b"v" * 96 + b"\r\n\r\n",
        b"GET /" + b"p" * 84 + b" HTTP/1.1\r\n\r\n",  # a request line of 100 bytes
        b"GET /" + b"p" * 85 + b" HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n",  # the connection ends inside the head
        b"",
    ],
)
@pytest.mark.parametrize("max_head_size", [None, 60, 1000])
@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_read_request_head_from_a_buffer_gives_what_reading_line_by_line_gives(data, max_head_size, piece):
    from_buffer, line_by_line = both_readers(data, piece, 100, 10, max_head_size)
    assert from_buffer == line_by_line


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"A: x\ry", "malformed header line 'A: x\\ry'"),
        (b"A: x\0y", "malformed header line 'A: x\\x00y'"),
        (b"A x: 1", "malformed header line 'A x: 1'"),
        (b": 1", "malformed header line ': 1'"),
        (b"No colon", "malformed header line 'No colon'"),
        (b" folded", "folded header line ' folded'"),
        (b"A: x\r", [("A", "x")]),  # CR CR LF: the line reader strips both
        (b"A:\t x \t", [("A", "x")]),
        (b"A: x\x01y", [("A", "x\x01y")]),
        (b"A:1:2", [("A", "1:2")]),
    ],
)
def test_header_lines_are_taken_or_refused_alike_whole_or_line_by_line(line, expected):
    data = b"GET / HTTP/1.1\r\n" + line + b"\r\n\r\n"
    from_buffer, line_by_line = both_readers(data, 4096, 100, 10, None)
    assert from_buffer == line_by_line
    if isinstance(expected, str):
        assert from_buffer == ("RequestError", 400, expected)
    else:
        assert from_buffer[4] == expected


def test_read_request_head_from_a_buffer_agrees_on_random_heads():
    # Lines of pieces that matter to the two readers: line ends, blanks,
    # colons, NUL, non-ASCII, long runs; in random arrival patterns.
    rng = random.Random(19)
    pieces = [
        b"\r\n",
        b"\n",
        b"\r",
        b" ",
        b"\t",
        b":",
        b"\0",
        b"\xe9",
        b"a",
        b"Host",
        b"X-Y",
        b"v" * 40,
        b"GET / HTTP/1.1",
    ]
    for _ in range(2000):
        data = b"GET / HTTP/1.1\r\n" if rng.random() < 0.8 else b""
        data += b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 30)))
        if rng.random() < 0.7:
            data += b"\r\n\r\n"
        from_buffer, line_by_line = both_readers(data, rng.choice([1, 3, 64, 4096]), 60, 5, rng.choice([None, 50, 200]))
        assert from_buffer == line_by_line, data


def test_request_head_received_whole_is_read_at_once_with_its_values_between_the_blanks():
    stream = io.BufferedReader(io.BytesIO(REQUEST + b"after"))

    def no_readline(limit: int) -> bytes:
        raise AssertionError("read line by line")

    head = _standalone_http.read_request_head(no_readline, 100, 10, 1000, buffer=stream)
    assert list(head.headers.items()) == [("Host", "h"), ("Upgrade", "websocket"), ("X", "a\tb"), ("Empty", "")]
    assert head.raw_lines == REQUEST.splitlines(keepends=True)
    assert stream.read() == b"after"


@pytest.mark.parametrize("data", [b"", b"\r\n\r\nGET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n", b"GET / HT"])
def test_read_request_head_at_eof(data):
    if data:
        with pytest.raises(_standalone_http.IncompleteRequest):
            _standalone_http.read_request_head(io.BytesIO(data).readline, 100, 10)
    else:
        assert _standalone_http.read_request_head(io.BytesIO(data).readline, 100, 10) is None


def test_keep_alive_connection_serves_pipelined_requests_then_idles_out(site):
    with running_server("-d", site, "--handshake-timeout", "1") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            request = b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"
            sock.sendall(request * 2)
            started = time.monotonic()
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            assert data.count(b"HTTP/1.1 200 OK\r\n") == 2
            assert 0.9 < time.monotonic() - started < 3


def test_hybi00_challenge_after_the_head_reaches_the_handshake(site):
    with running_server("-d", site) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(HYBI00_REQUEST)
            data = read_until(sock, lambda data: data.endswith(b"fQJ,fN/4F4!~K~MH"))
            assert data.startswith(b"HTTP/1.1 101 ")
            sock.sendall(b"\x00hybi-00\xff")
            assert read_until(sock, lambda data: len(data) >= 9) == b"\x00hybi-00\xff"


# Limits.


def test_request_line_over_max_line_length_gets_414(site):
    with running_server("-d", site, "--max-line-length", "100") as server:
        assert get(server.port, "/" + "a" * 100)[0] == 414
        assert get(server.port, "/index.html")[0] == 200


def test_header_line_over_max_line_length_gets_431(site):
    with running_server("-d", site, "--max-line-length", "100") as server:
        assert get(server.port, "/index.html", "X-Long: " + "b" * 100 + "\r\n")[0] == 431
        assert get(server.port, "/index.html", "X-Short: " + "b" * 80 + "\r\n")[0] == 200


def test_more_headers_than_max_header_count_gets_431(site):
    with running_server("-d", site, "--max-header-count", "5") as server:
        # Host and Connection are two of them.
        assert get(server.port, "/index.html", "X-A: 1\r\nX-B: 1\r\nX-C: 1\r\nX-D: 1\r\n")[0] == 431
        assert get(server.port, "/index.html", "X-A: 1\r\nX-B: 1\r\nX-C: 1\r\n")[0] == 200


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /index.html HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET /index.html HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
        (b"GET /index.html HTTP/1.1\r\nHost x\r\n\r\n", 400),
        (b"GET /index.html HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
        (b"GET /index.html\r\n\r\n", 400),
        (b"G(T /index.html HTTP/1.1\r\n\r\n", 400),
        (b"DELETE /index.html HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        (b"\r\nGET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200),
    ],
    ids=["http2", "folded", "no-colon", "space-in-name", "http09", "bad-method", "delete", "leading-empty-line"],
)
def test_malformed_request_heads_get_the_right_status(site, request_bytes, status):
    with running_server("-d", site) as server:
        assert parse_response(roundtrip(server.port, request_bytes))[0] == status


@pytest.mark.parametrize("drip", [False, True], ids=["silent", "one-byte-at-a-time"])
def test_client_that_never_finishes_its_request_is_dropped_without_holding_others(site, drip):
    with running_server("-d", site, "--handshake-timeout", "2") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as slow:
            started = time.monotonic()
            stop = threading.Event()

            def dripper() -> None:
                for byte in b"GET /index.html HTTP/1.1\r\nX-Slow: " + b"y" * 1000:
                    if stop.wait(0.2):
                        return
                    try:
                        slow.send(bytes([byte]))
                    except OSError:
                        return

            thread = threading.Thread(target=dripper)
            if drip:
                thread.start()
            try:
                with ws_connect(server.url("/echo")) as ws:
                    ws.send("others are served")
                    assert ws.recv(timeout=TIMEOUT) == "others are served"
                assert get(server.port, "/index.html")[0] == 200
                assert time.monotonic() - started < 1.5
                slow.settimeout(TIMEOUT)
                while slow.recv(65536):
                    pass
                assert 1.9 < time.monotonic() - started < 6
            finally:
                stop.set()
                if drip:
                    thread.join(TIMEOUT)


def test_open_websocket_outlives_the_handshake_timeout(site):
    with running_server("-d", site, "--handshake-timeout", "0.3") as server, ws_connect(server.url("/echo")) as ws:
        time.sleep(1)
        ws.send("still open")
        assert ws.recv(timeout=TIMEOUT) == "still open"


def test_max_message_size_is_given_to_handlers(site):
    with running_server("-d", site, "--max-message-size", "1000") as server, ws_connect(server.url("/info")) as ws:
        assert json.loads(ws.recv(timeout=TIMEOUT))["max_message_size"] == 1000


def test_max_message_size_defaults_to_64_mib():
    assert standalone.parse_options(["-d", EXAMPLE_DIR]).max_message_size == 64 * 1024 * 1024


def test_message_over_max_message_size_closes_with_1009(site):
    with running_server("-d", site, "--max-message-size", "1000") as server:
        with ws_connect(server.url("/echo"), compression=None) as ws:
            ws.send("a" * 1000)
            assert ws.recv(timeout=TIMEOUT) == "a" * 1000
            ws.send(b"b" * 1001)
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=TIMEOUT)
        assert info.value.rcvd.code == common.STATUS_MESSAGE_TOO_BIG


def test_hybi00_message_over_max_message_size_ends_the_connection(site):
    with running_server("-d", site, "--max-message-size", "10") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(HYBI00_REQUEST)
            read_until(sock, lambda data: data.endswith(b"fQJ,fN/4F4!~K~MH"))
            sock.sendall(b"\x00" + b"a" * 10 + b"\xff")
            assert read_until(sock, lambda data: len(data) >= 12) == b"\x00" + b"a" * 10 + b"\xff"
            sock.sendall(b"\x00" + b"b" * 11 + b"\xff")
            received = b""
            while chunk := sock.recv(4096):
                received += chunk
            assert received == b"\xff\x00"


def test_connections_over_max_connections_get_503_with_retry_after(site):
    with running_server("-d", site, "--max-connections", "1") as server:
        with ws_connect(server.url("/echo")) as ws:
            status, headers, _ = get(server.port, "/index.html")
            assert status == 503 and headers["retry-after"] == ["5"]
            with pytest.raises(InvalidStatus) as info:
                ws_connect(server.url("/echo"))
            assert info.value.response.status_code == 503
            ws.send("the first is served")
            assert ws.recv(timeout=TIMEOUT) == "the first is served"
        deadline = time.monotonic() + TIMEOUT
        while server.server.connection_count() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert get(server.port, "/index.html")[0] == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-line-length", "65537"], "expected at most 65536, not 65537"),
        (["--max-header-count", "0"], "expected a positive number, not 0"),
        (["--handshake-timeout", "-1"], "expected a positive number of seconds, not '-1'"),
        (["--handshake-timeout", "soon"], "expected a number of seconds, not 'soon'"),
        (["--max-message-size", "big"], "expected a number, not 'big'"),
        (["--max-connections", "0"], "expected a positive number, not 0"),
        (["--thread-monitor-interval-in-sec", "often"], "expected a number of seconds, not 'often'"),
        (["-P", "70000"], "port 70000 is not in 0-65535"),
        (["--log-max", "0"], "expected a positive number, not 0"),
        (["--log-count", "x"], "expected a number, not 'x'"),
        (["-w", "no-such-dir"], "handler root 'no-such-dir' is not a directory"),
        (["-s", "no-such-dir"], "is not a directory"),
        (["-m", "/no/such/map"], "handler map file '/no/such/map' does not exist"),
    ],
)
def test_bad_option_values_get_one_error_line_and_status_2(capsys, args, message):
    assert_option_error(capsys, ["-d", EXAMPLE_DIR, *args], message)


def test_port_in_use_exits_2_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_cli("-H", "127.0.0.1", "-p", str(taken.getsockname()[1]), "-d", "example")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Address already in use" in result.stderr


def test_default_port_is_80():
    options = standalone.parse_options(["-d", EXAMPLE_DIR])
    assert options.port == 80 and options.server_host == ""


def test_common_header_names_and_values_are_one_copy_for_every_request():
    # An open WebSocket keeps its request's fields: ~0.5 KiB less per connection.
    data = b"GET / HTTP/1.1\r\nHost: example.org\r\nUpgrade: websocket\r\nX-Custom: some value\r\n\r\n"
    first, second = (
        list(_standalone_http.read_request_head(io.BytesIO(data).readline, 100, 10).headers.items()) for _ in range(2)
    )
    assert first == second
    assert [(a[0] is b[0], a[1] is b[1]) for a, b in zip(first, second)] == [
        (True, False),  # Host: the name is common, its value not
        (True, True),  # Upgrade: websocket
        (False, False),  # X-Custom
    ]
