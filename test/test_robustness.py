"""Robustness: hostile opening handshakes, limits and misbehaving handlers.

Every bad input gets its documented answer (SPEC §4, §5, §11) within a
bounded time, and the server keeps serving afterwards. The raw-socket client
is test/wire.py, written independently of mod_pywebsocket's codec so that a
codec bug cannot hide itself.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import struct
import time
import zlib
from collections.abc import Iterator

import pytest

from test import httpd
from test.conftest import running_server
from test.servers import ROBUST_HANDLERS, ServerProcess, start_apache
from test.wire import (
    ANSWER_BOUND,
    HIXIE75,
    KEY1,
    KEY2,
    KEY3,
    SAMPLE_ACCEPT,
    SAMPLE_KEY,
    TIMEOUT,
    FrameReader,
    client_frame,
    deflate_bomb,
    echo_works,
    exchange,
    hybi00_request,
    open_socket,
    read_head,
    read_until_eof,
    status_of,
    upgrade_request,
    ws_open,
)

pytestmark = pytest.mark.timeout(120)

CLOSE = None  # the server closes without answering
LONG = 9000  # over the default --max-line-length of 8192


def _replace_header(name: str, line: str | None) -> bytes:
    """A valid request with header ``name`` replaced by ``line`` (None removes it)."""
    lines = upgrade_request().decode("latin-1").split("\r\n")
    out = []
    for current in lines:
        if current.lower().startswith(name.lower() + ":"):
            if line is not None:
                out.append(line)
        else:
            out.append(current)
    return "\r\n".join(out).encode("latin-1")


def _hybi00_without(line: str) -> bytes:
    return hybi00_request(KEY1, KEY2).replace(line.encode("latin-1"), b"") + KEY3


def _hybi00_with(lines: str) -> bytes:
    return hybi00_request(KEY1, KEY2, extra=lines) + KEY3


def _with_request_line(line: bytes) -> bytes:
    return line + b"\r\n" + upgrade_request().split(b"\r\n", 1)[1]


# (id, request bytes, half-close after sending, expected status or CLOSE).
BAD_HANDSHAKES: list[tuple[str, bytes, bool, int | None]] = [
    # The request line.
    ("two-word-request-line", _with_request_line(b"GET /echo"), False, 400),
    ("four-word-request-line", _with_request_line(b"GET /echo HTTP/1.1 extra"), False, 400),
    ("one-word-request-line", _with_request_line(b"GET"), False, 400),
    ("http-1.0", _with_request_line(b"GET /echo HTTP/1.0"), False, 400),
    ("http-0.9-no-version", b"GET /echo\r\n\r\n", False, 400),
    ("http-2.0", _with_request_line(b"GET /echo HTTP/2.0"), False, 505),
    ("http-version-letters", _with_request_line(b"GET /echo HTTP/1.x"), False, 400),
    ("not-http", _with_request_line(b"GET /echo FOO/1.1"), False, 400),
    ("lowercase-http", _with_request_line(b"GET /echo http/1.1"), False, 400),
    # A handler's resource is an opening handshake whatever the method (as behind Apache).
    ("post-method", _with_request_line(b"POST /echo HTTP/1.1"), False, 400),
    ("put-method", _with_request_line(b"PUT /echo HTTP/1.1"), False, 400),
    ("post-method-fragment-in-resource", _with_request_line(b"POST /echo#fragment HTTP/1.1"), False, 400),
    ("lowercase-get", _with_request_line(b"get /echo HTTP/1.1"), False, 400),
    ("method-with-separator", _with_request_line(b"G@T /echo HTTP/1.1"), False, 400),
    ("nul-in-method", _with_request_line(b"\x00GET /echo HTTP/1.1"), False, 400),
    ("non-ascii-method", _with_request_line(b"G\xc3\x89T /echo HTTP/1.1"), False, 400),
    ("request-line-too-long", _with_request_line(b"GET /" + b"a" * LONG + b" HTTP/1.1"), False, 414),
    ("fragment-in-resource", upgrade_request("/echo#fragment"), False, 400),
    ("unknown-resource", upgrade_request("/no/such/handler"), False, 404),
    ("non-ascii-resource", upgrade_request("/ech\xc3\xa9"), False, 404),
    ("nul-in-resource", upgrade_request("/echo\x00"), False, 404),
    # RFC 9112 §3.2.2: absolute-form is accepted (its path and query name the resource).
    ("absolute-form-target", upgrade_request("http://127.0.0.1/echo"), False, 101),
    ("absolute-form-target-ftp", upgrade_request("ftp://127.0.0.1/echo"), False, 400),
    ("absolute-form-target-without-host", upgrade_request("ws:///echo"), False, 400),
    ("asterisk-target", upgrade_request("*"), False, 404),
    ("tls-client-hello-on-plain-port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", False, 400),
    ("too-many-empty-lines-first", b"\r\n" * 200, False, 400),
    # Headers: syntax and limits.
    ("header-without-colon", upgrade_request(extra="NoColonHere\r\n"), False, 400),
    ("header-name-with-space", upgrade_request(extra="Bad Name: x\r\n"), False, 400),
    ("space-before-colon", upgrade_request(extra="X-Thing : x\r\n"), False, 400),
    ("empty-header-name", upgrade_request(extra=": value\r\n"), False, 400),
    ("nul-in-header-name", upgrade_request(extra="X-N\x00l: x\r\n"), False, 400),
    ("nul-in-header-value", upgrade_request(extra="X-Nul: a\x00b\r\n"), False, 400),
    ("cr-in-header-value", upgrade_request(extra="X-Cr: a\rb\r\n"), False, 400),
    ("folded-header", upgrade_request(extra="X-Folded: a\r\n  continued\r\n"), False, 400),
    ("header-line-too-long", upgrade_request(extra="X-Long: " + "a" * LONG + "\r\n"), False, 431),
    ("101-headers", upgrade_request(extra="".join(f"X-H{i}: {i}\r\n" for i in range(96))), False, 431),
    ("5000-headers", upgrade_request(extra="".join(f"X-H{i}: {i}\r\n" for i in range(5000))), False, 431),
    # Truncated requests.
    ("eof-inside-request-line", b"GET /ec", True, CLOSE),
    ("eof-after-request-line", b"GET /echo HTTP/1.1\r\n", True, CLOSE),
    ("eof-inside-headers", upgrade_request()[:-20], True, CLOSE),
    ("eof-before-empty-line", upgrade_request()[:-2], True, CLOSE),
    ("only-empty-lines-then-eof", b"\r\n\r\n", True, CLOSE),
    ("eof-without-bytes", b"", True, CLOSE),
    # RFC 6455: mandatory headers and values.
    ("missing-host", _replace_header("Host", None), False, 400),
    ("duplicated-host", _replace_header("Host", "Host: a\r\nHost: b"), False, 400),
    ("missing-upgrade", _replace_header("Upgrade", None), False, 400),
    ("upgrade-h2c", _replace_header("Upgrade", "Upgrade: h2c"), False, 400),
    ("upgrade-websocket2", _replace_header("Upgrade", "Upgrade: websocket2"), False, 400),
    ("upgrade-non-ascii", _replace_header("Upgrade", "Upgrade: w\xe9bsocket"), False, 400),
    ("duplicated-upgrade", _replace_header("Upgrade", "Upgrade: websocket\r\nUpgrade: websocket"), False, 400),
    ("missing-connection", _replace_header("Connection", None), False, 400),
    ("connection-keep-alive", _replace_header("Connection", "Connection: keep-alive"), False, 400),
    ("connection-upgraded-prefix", _replace_header("Connection", "Connection: Upgraded"), False, 400),
    ("connection-not-a-token-list", _replace_header("Connection", "Connection: Upgrade;;"), False, 400),
    ("missing-key", _replace_header("Sec-WebSocket-Key", None), False, 400),
    ("empty-key", _replace_header("Sec-WebSocket-Key", "Sec-WebSocket-Key: "), False, 400),
    ("key-not-base64", _replace_header("Sec-WebSocket-Key", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!!!"), False, 400),
    ("key-15-bytes", upgrade_request(key=base64.b64encode(b"x" * 15).decode()), False, 400),
    ("key-17-bytes", upgrade_request(key=base64.b64encode(b"x" * 17).decode()), False, 400),
    ("key-bad-padding", upgrade_request(key="dGhlIHNhbXBsZSBub25jZQ=a"), False, 400),
    ("key-inner-space", upgrade_request(key="dGhlIHNhbXBs ZSBub25jZQ=="), False, 400),
    ("key-non-ascii", upgrade_request(key="dGhlIHNhbXBsZSBub25jZ\xe9=="), False, 400),
    ("duplicated-key", upgrade_request(extra=f"Sec-WebSocket-Key: {SAMPLE_KEY}\r\n"), False, 400),
    ("version-12", upgrade_request(version="12"), False, 400),
    ("version-0", upgrade_request(version="0"), False, 400),
    ("version-letters", upgrade_request(version="abc"), False, 400),
    ("version-list", upgrade_request(version="13, 8"), False, 400),
    ("version-huge", upgrade_request(version="9" * 100), False, 400),
    ("duplicated-version", upgrade_request(extra="Sec-WebSocket-Version: 13\r\n"), False, 400),
    ("missing-version", _replace_header("Sec-WebSocket-Version", None), False, 400),
    ("empty-protocol", upgrade_request(extra="Sec-WebSocket-Protocol: \r\n"), False, 400),
    ("protocol-not-a-token", upgrade_request(extra="Sec-WebSocket-Protocol: chat, ??\r\n"), False, 400),
    ("protocol-not-chosen", upgrade_request(extra="Sec-WebSocket-Protocol: chat\r\n"), False, 400),
    ("extensions-empty", upgrade_request(extra="Sec-WebSocket-Extensions: \r\n"), False, 400),
    ("extensions-bad-parameter", upgrade_request(extra="Sec-WebSocket-Extensions: a; =x\r\n"), False, 400),
    ("extensions-unclosed-quote", upgrade_request(extra='Sec-WebSocket-Extensions: a; b="c\r\n'), False, 400),
    ("extensions-trailing-semicolon", upgrade_request(extra="Sec-WebSocket-Extensions: a;\r\n"), False, 400),
    # Non-ASCII bytes (headers are read as latin-1): harmless where no grammar applies.
    ("origin-non-ascii", upgrade_request(extra="Origin: http://\xe9\r\n"), False, 101),
    ("unknown-header-non-ascii", upgrade_request(extra="X-Whatever: \xff\xfe\r\n"), False, 101),
    # RFC 9112 §3.2: an invalid Host value gets 400 (the host is a reg-name, an IP address or literal).
    ("host-non-ascii", upgrade_request(host="\xe9\xe9"), False, 400),
    ("protocol-non-ascii", upgrade_request(extra="Sec-WebSocket-Protocol: ch\xe9t\r\n"), False, 400),
    ("extensions-non-ascii", upgrade_request(extra="Sec-WebSocket-Extensions: d\xe9flate\r\n"), False, 400),
    # Unknown extensions are ignored, however many.
    (
        "800-unknown-extensions",
        upgrade_request(extra="Sec-WebSocket-Extensions: " + ", ".join(f"x{i};p" for i in range(800)) + "\r\n"),
        False,
        101,
    ),
    # Handlers that refuse.
    ("extra-handshake-raises", upgrade_request("/raise_extra"), False, 403),
    ("extra-handshake-status-401", upgrade_request("/reject_status"), False, 401),
    ("extra-handshake-aborts", upgrade_request("/abort_extra"), False, CLOSE),
    # HyBi-00 (hixie-76).
    ("hybi00-keys-without-spaces", hybi00_request("155712099", "173347027") + KEY3, False, 400),
    ("hybi00-key-with-remainder", hybi00_request("1 2 3", KEY2) + KEY3, False, 400),
    ("hybi00-key-without-digits", hybi00_request("a b c", KEY2) + KEY3, False, 400),
    ("hybi00-key-number-over-32-bits", hybi00_request("42949672960 ", KEY2) + KEY3, False, 400),
    ("hybi00-missing-key2", _hybi00_without(f"Sec-WebSocket-Key2: {KEY2}\r\n"), False, 400),
    ("hybi00-missing-origin", _hybi00_without("Origin: http://127.0.0.1\r\n"), False, 400),
    ("hybi00-missing-key3-eof", hybi00_request(KEY1, KEY2), True, CLOSE),
    ("hybi00-half-key3-eof", hybi00_request(KEY1, KEY2) + KEY3[:4], True, CLOSE),
    ("hybi00-http-1.0", hybi00_request(KEY1, KEY2).replace(b"HTTP/1.1", b"HTTP/1.0", 1) + KEY3, False, 400),
    ("hybi00-two-protocols", _hybi00_with("Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\n"), False, 400),
    ("hybi00-unprintable-protocol", _hybi00_with("Sec-WebSocket-Protocol: a\x01b\r\n"), False, 400),
    # Hixie-75 without --allow-draft75.
    ("hixie75-not-allowed", HIXIE75, False, 400),
]


@pytest.fixture(scope="module")
def robust_server() -> Iterator[object]:
    """A standalone server on the robustness handlers with a 3 s handshake timeout."""
    with running_server("-d", ROBUST_HANDLERS, "--handshake-timeout", "3") as server:
        yield server


def test_corpus_has_at_least_60_bad_handshakes():
    assert len(BAD_HANDSHAKES) >= 60
    assert len({case[0] for case in BAD_HANDSHAKES}) == len(BAD_HANDSHAKES)


@pytest.mark.parametrize(
    ("request_bytes", "half_close", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_HANDSHAKES],
)
def test_bad_handshake_gets_its_status_quickly_and_server_keeps_serving(
    robust_server, request_bytes, half_close, expected
):
    status, answer, seconds = exchange(robust_server.port, request_bytes, shutdown_write=half_close)
    assert status == expected, answer[:300]
    if expected is CLOSE:
        assert answer == b""
    assert seconds < ANSWER_BOUND
    assert echo_works(robust_server.port)


def test_unsupported_version_400_names_the_supported_versions(robust_server):
    status, answer, _ = exchange(robust_server.port, upgrade_request(version="12"))
    assert status == 400
    assert b"\r\nSec-WebSocket-Version: 13, 8\r\n" in answer


def test_hybi00_request_whose_key3_never_comes_is_dropped_at_the_handshake_timeout(robust_server):
    started = time.monotonic()
    with open_socket(robust_server.port) as sock:
        sock.sendall(hybi00_request(KEY1, KEY2))
        answer = read_until_eof(sock, started + 3 + ANSWER_BOUND)
    assert answer == b""
    assert 2.5 < time.monotonic() - started < 3 + ANSWER_BOUND
    assert echo_works(robust_server.port)


def test_junk_after_the_headers_is_read_as_frames_and_fails_with_1002(robust_server):
    with open_socket(robust_server.port) as sock:
        sock.sendall(upgrade_request() + b"\x00\x00junk that is no frame\r\n")
        head, rest = read_head(sock, time.monotonic() + TIMEOUT)
        assert status_of(head) == 101
        assert FrameReader(sock, rest).close_code() == 1002
    assert echo_works(robust_server.port)


# -- Hixie-75 with --allow-draft75 ----------------------------------------------

HIXIE75_CASES = [
    ("hixie75-missing-origin", HIXIE75.replace(b"Origin: http://127.0.0.1\r\n", b""), 400),
    ("hixie75-missing-host", HIXIE75.replace(b"Host: 127.0.0.1\r\n", b""), 400),
    ("hixie75-http-1.0", HIXIE75.replace(b"HTTP/1.1", b"HTTP/1.0"), 400),
    ("hixie75-connection-close", HIXIE75.replace(b"Connection: Upgrade", b"Connection: close"), 400),
    ("hixie75-two-protocols", HIXIE75[:-2] + b"WebSocket-Protocol: a\r\nWebSocket-Protocol: b\r\n\r\n", 400),
    ("hixie75-unprintable-protocol", HIXIE75[:-2] + b"WebSocket-Protocol: a\x01\r\n\r\n", 400),
]


@pytest.fixture(scope="module")
def draft75_server() -> Iterator[object]:
    with running_server("-d", ROBUST_HANDLERS, "--allow-draft75", "--handshake-timeout", "3") as server:
        yield server


@pytest.mark.parametrize(("request_bytes", "expected"), [pytest.param(*case[1:], id=case[0]) for case in HIXIE75_CASES])
def test_bad_hixie75_handshake_with_allow_draft75_gets_400(draft75_server, request_bytes, expected):
    status, answer, seconds = exchange(draft75_server.port, request_bytes)
    assert status == expected, answer[:300]
    assert seconds < ANSWER_BOUND
    assert echo_works(draft75_server.port)


def test_hixie75_with_allow_draft75_still_works_after_the_bad_ones(draft75_server):
    with open_socket(draft75_server.port) as sock:
        sock.sendall(HIXIE75)
        head, rest = read_head(sock, time.monotonic() + TIMEOUT)
        assert head.startswith(b"HTTP/1.1 101 ")
        sock.sendall(b"\x00hello\xff")
        while len(rest) < 7:
            rest += sock.recv(100)
        assert rest == b"\x00hello\xff"


# -- the same through Apache and mod_python -------------------------------------

# The cases mod_pywebsocket answers itself behind Apache (Apache answers the
# HTTP-level ones, such as a bad request line, with its own statuses).
APACHE_SUBSET = {
    "http-1.0": 400,
    "unknown-resource": 404,  # DECLINED: Apache serves the URL, which is no file
    "missing-upgrade": 400,
    "upgrade-h2c": 400,
    "duplicated-upgrade": 400,
    "connection-keep-alive": 400,
    "connection-not-a-token-list": 400,
    "missing-key": 400,
    "key-not-base64": 400,
    "key-15-bytes": 400,
    "key-non-ascii": 400,
    # mod_python cannot decode a header value that is not UTF-8, so Apache
    # answers 400 where the standalone server (latin-1 headers) accepts.
    "origin-non-ascii": 400,
    "protocol-non-ascii": 400,
    "extensions-non-ascii": 400,
    "duplicated-key": 400,
    "version-12": 400,
    "version-list": 400,
    "duplicated-version": 400,
    "missing-version": 400,
    "protocol-not-chosen": 400,
    "extensions-bad-parameter": 400,
    "extra-handshake-raises": 403,
    "extra-handshake-status-401": 401,
    "extra-handshake-aborts": CLOSE,
    "hybi00-keys-without-spaces": 400,
    "hybi00-key-with-remainder": 400,
    "hybi00-missing-origin": 400,
    "hybi00-missing-key3-eof": CLOSE,
    "hixie75-not-allowed": 400,
    "header-line-too-long": 400,  # Apache's LimitRequestFieldSize answers 400
    "5000-headers": 400,  # Apache's LimitRequestFields answers 400
}


APACHE_BUGS: dict[str, pytest.MarkDecorator] = {}


@pytest.fixture(scope="module")
def apache_server() -> Iterator[httpd.Httpd]:
    """One Apache for the subset of bad handshakes (skips without Apache)."""
    factory = httpd.HttpdFactory()
    try:
        yield start_apache(factory)
    finally:
        factory.close()


def test_apache_subset_names_corpus_cases():
    assert set(APACHE_SUBSET) <= {case[0] for case in BAD_HANDSHAKES}


_CASES = {case[0]: case for case in BAD_HANDSHAKES}


@pytest.mark.apache
@pytest.mark.parametrize(
    ("request_bytes", "half_close", "expected"),
    [
        pytest.param(*_CASES[name][1:3], expected, id=name, marks=APACHE_BUGS.get(name, ()))
        for name, expected in APACHE_SUBSET.items()
    ],
)
def test_bad_handshake_through_apache_gets_its_status_and_apache_keeps_serving(
    apache_server, request_bytes, half_close, expected
):
    status, answer, seconds = exchange(apache_server.port, request_bytes, shutdown_write=half_close, bound=10.0)
    assert status == expected, answer[:300]
    assert seconds < 10.0
    assert echo_works(apache_server.port)


# -- one answer table: the standalone server and Apache answer alike -------------

# handshake.failure_reply is the one table from a failed opening handshake to
# its answer; both entry points use it. Each row goes through both servers and
# must get the same status and the same Sec-WebSocket-* header fields.
TABLE_APACHE_PORTS = range(19600, 19700)
SUPPORTED_VERSIONS = {"sec-websocket-version": "13, 8"}

# (id, request bytes, status or CLOSE, the answer's Sec-WebSocket-* fields).
ANSWER_TABLE: list[tuple[str, bytes, int | None, dict[str, str]]] = [
    ("valid", upgrade_request(), 101, {"sec-websocket-accept": SAMPLE_ACCEPT}),
    ("method-post", _with_request_line(b"POST /echo HTTP/1.1"), 400, {}),
    ("method-put", _with_request_line(b"PUT /echo HTTP/1.1"), 400, {}),
    ("http-1.0", _with_request_line(b"GET /echo HTTP/1.0"), 400, {}),
    ("missing-host", _replace_header("Host", None), 400, {}),
    ("missing-upgrade", _replace_header("Upgrade", None), 400, {}),
    ("connection-keep-alive", _replace_header("Connection", "Connection: keep-alive"), 400, {}),
    ("missing-key", _replace_header("Sec-WebSocket-Key", None), 400, {}),
    ("key-not-base64", _replace_header("Sec-WebSocket-Key", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!!!"), 400, {}),
    ("key-15-bytes", upgrade_request(key=base64.b64encode(b"x" * 15).decode()), 400, {}),
    ("version-12", upgrade_request(version="12"), 400, SUPPORTED_VERSIONS),
    ("version-letters", upgrade_request(version="abc"), 400, SUPPORTED_VERSIONS),
    ("version-list", upgrade_request(version="13, 8"), 400, SUPPORTED_VERSIONS),
    ("duplicated-version", upgrade_request(extra="Sec-WebSocket-Version: 13\r\n"), 400, SUPPORTED_VERSIONS),
    ("missing-version", _replace_header("Sec-WebSocket-Version", None), 400, {}),
    ("hybi00-key-with-remainder", hybi00_request("1 2 3", KEY2) + KEY3, 400, {}),
    ("hixie75-not-allowed", HIXIE75, 400, {}),
    ("unknown-resource", upgrade_request("/no/such/handler"), 404, {}),
    ("fragment-in-resource", upgrade_request("/echo#fragment"), 400, {}),
    ("protocol-not-a-token", upgrade_request(extra="Sec-WebSocket-Protocol: chat, ??\r\n"), 400, {}),
    ("protocol-not-chosen", upgrade_request(extra="Sec-WebSocket-Protocol: chat\r\n"), 400, {}),
    ("protocol-chosen-not-offered", upgrade_request("/unrequested_protocol"), 400, {}),
    (
        "protocol-chosen",
        upgrade_request("/unrequested_protocol", extra="Sec-WebSocket-Protocol: chat\r\n"),
        101,
        {"sec-websocket-accept": SAMPLE_ACCEPT, "sec-websocket-protocol": "chat"},
    ),
    ("extensions-bad-parameter", upgrade_request(extra="Sec-WebSocket-Extensions: a; =x\r\n"), 400, {}),
    ("extra-handshake-raises", upgrade_request("/raise_extra"), 403, {}),
    ("extra-handshake-status-401", upgrade_request("/reject_status"), 401, {}),
    ("extra-handshake-without-status", upgrade_request("/reject_nostatus"), 403, {}),
    ("extra-handshake-aborts", upgrade_request("/abort_extra"), CLOSE, {}),
    ("unsendable-extra-header", upgrade_request("/unsendable_header"), 500, {}),
]


def websocket_fields(head: bytes) -> dict[str, str]:
    """Return the Sec-WebSocket-* fields of a response head, names lowercased."""
    fields = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower().startswith("sec-websocket-"):
            fields[name.lower()] = value.strip()
    return fields


@pytest.fixture(scope="module", params=["standalone", pytest.param("apache", marks=pytest.mark.apache)])
def table_server(request) -> Iterator[object]:
    """The robustness handlers served by the standalone server, then by Apache (skips without Apache)."""
    if request.param == "standalone":
        with running_server("-d", ROBUST_HANDLERS) as server:
            yield server
        return
    factory = httpd.HttpdFactory()
    try:
        yield start_apache(factory, ports=TABLE_APACHE_PORTS)
    finally:
        factory.close()


@pytest.mark.parametrize(
    ("request_bytes", "expected_status", "expected_fields"),
    [pytest.param(*case[1:], id=case[0]) for case in ANSWER_TABLE],
)
def test_standalone_and_apache_answer_each_handshake_failure_alike(
    table_server, request_bytes, expected_status, expected_fields
):
    status, answer, _ = exchange(table_server.port, request_bytes, bound=10.0)
    assert status == expected_status, answer[:300]
    head = answer.partition(b"\r\n\r\n")[0]
    assert websocket_fields(head) == expected_fields


# -- limits: frame lengths, message sizes, decompression bombs -------------------


@pytest.fixture(scope="module")
def small_limit_server() -> Iterator[object]:
    """A server whose maximum message size is 1024 bytes."""
    with running_server("-d", ROBUST_HANDLERS, "--max-message-size", "1024") as server:
        yield server


@pytest.mark.parametrize("length", [65536, 64 * 1024 * 1024 + 1, 2**32, 2**62, 2**63 - 1], ids=lambda n: f"length-{n}")
def test_huge_length_field_closes_with_1009_without_waiting_for_the_payload(robust_server, length):
    # The default limit is 64 MiB; 65536 bytes only goes over the small limit below.
    port = robust_server.port
    sock, reader = ws_open(port)
    with sock:
        sock.sendall(client_frame(0x2, b"x" * 16, length=length))
        expected = 1009 if length > 64 * 1024 * 1024 else None
        if expected is None:
            sock.sendall(b"x" * (length - 16))
            fin, opcode, payload = reader.frame()
            assert (fin, opcode, len(payload)) == (True, 0x2, length)
        else:
            started = time.monotonic()
            assert reader.close_code() == 1009
            assert time.monotonic() - started < ANSWER_BOUND
    assert echo_works(port)


@pytest.mark.parametrize("length", [1025, 65536, 2**63 - 1], ids=lambda n: f"length-{n}")
def test_length_field_over_max_message_size_closes_with_1009(small_limit_server, length):
    sock, reader = ws_open(small_limit_server.port)
    with sock:
        sock.sendall(client_frame(0x1, b"abc", length=length))
        assert reader.close_code() == 1009
    assert echo_works(small_limit_server.port)


def test_length_field_with_the_top_bit_set_closes_with_1002(robust_server):
    sock, reader = ws_open(robust_server.port)
    with sock:
        sock.sendall(struct.pack("!BBQ", 0x82, 0xFF, 2**63) + os.urandom(4))
        assert reader.close_code() == 1002
    assert echo_works(robust_server.port)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        (struct.pack("!BBH", 0x82, 0xFE, 125), "16-bit-length-under-126"),
        (struct.pack("!BBQ", 0x82, 0xFF, 65535), "64-bit-length-under-65536"),
        (struct.pack("!BB", 0x89, 0xFE) + struct.pack("!H", 126), "ping-of-126-bytes"),
        (struct.pack("!BB", 0x09, 0x80), "fragmented-ping"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_malformed_length_encodings_close_with_1002(robust_server, header, name):
    sock, reader = ws_open(robust_server.port)
    with sock:
        sock.sendall(header + os.urandom(4))
        assert reader.close_code() == 1002, name
    assert echo_works(robust_server.port)


def test_message_at_max_message_size_is_echoed(small_limit_server):
    sock, reader = ws_open(small_limit_server.port)
    with sock:
        sock.sendall(client_frame(0x2, b"m" * 1024))
        assert reader.frame() == (True, 0x2, b"m" * 1024)


@pytest.mark.parametrize("fragments", [1, 2, 11], ids=lambda n: f"{n}-fragments")
def test_message_over_max_message_size_closes_with_1009(small_limit_server, fragments):
    sock, reader = ws_open(small_limit_server.port)
    payload = b"m" * 1025
    size = -(-len(payload) // fragments)
    pieces = [payload[i : i + size] for i in range(0, len(payload), size)]
    with sock:
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            sock.sendall(client_frame(0x2 if index == 0 else 0x0, piece, fin=last))
        assert reader.close_code() == 1009
    assert echo_works(small_limit_server.port)


BOMB_SIZE = 256 * 1024 * 1024
BOMB_LIMIT = 1024 * 1024
# What the server may grow by while refusing the bomb (it is 256 times that limit inflated).
BOMB_MEMORY_BOUND_KIB = 16 * 1024


@pytest.fixture(scope="module")
def bomb_server() -> Iterator[ServerProcess]:
    with ServerProcess("-d", ROBUST_HANDLERS, "--max-message-size", str(BOMB_LIMIT)) as server:
        # Warm up: one compressed echo, so that the baseline includes zlib's buffers.
        sock, reader = ws_open(server.port, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
        with sock:
            sock.sendall(client_frame(0x2, deflate_bomb(BOMB_LIMIT), rsv1=True))
            fin, opcode, _ = reader.frame()
            assert (fin, opcode) == (True, 0x2)
        yield server


def _bomb_frames(data: bytes, opcode: int, fragments: int) -> bytes:
    size = -(-len(data) // fragments)
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(
        client_frame(opcode if i == 0 else 0x0, piece, fin=i == len(pieces) - 1, rsv1=i == 0)
        for i, piece in enumerate(pieces)
    )


@pytest.mark.parametrize(("opcode", "fragments"), [(0x2, 1), (0x1, 1), (0x2, 16)], ids=["binary", "text", "fragmented"])
def test_permessage_deflate_bomb_closes_with_1009_in_bounded_memory(bomb_server, opcode, fragments):
    bomb = deflate_bomb(BOMB_SIZE)
    before = bomb_server.status_kib("VmHWM")
    sock, reader = ws_open(bomb_server.port, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
    with sock:
        # The server may fail the connection before reading it all.
        with contextlib.suppress(OSError):
            sock.sendall(_bomb_frames(bomb, opcode, fragments))
        assert reader.close_code() == 1009
    grown = bomb_server.status_kib("VmHWM") - before
    assert grown < BOMB_MEMORY_BOUND_KIB, f"peak RSS grew by {grown} KiB"
    assert echo_works(bomb_server.port)


def test_deflate_frame_bomb_closes_with_1009_in_bounded_memory(bomb_server):
    bomb = deflate_bomb(BOMB_SIZE)
    before = bomb_server.status_kib("VmHWM")
    sock, reader = ws_open(bomb_server.port, extra="Sec-WebSocket-Extensions: deflate-frame\r\n")
    with sock:
        with contextlib.suppress(OSError):
            sock.sendall(client_frame(0x2, bomb, rsv1=True))
        assert reader.close_code() == 1009
    grown = bomb_server.status_kib("VmHWM") - before
    assert grown < BOMB_MEMORY_BOUND_KIB, f"peak RSS grew by {grown} KiB"
    assert echo_works(bomb_server.port)


def test_deflate_stream_bomb_is_refused_in_bounded_memory(bomb_server):
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    # A binary frame of 1000 zero bytes masked with a zero key, then 256 MiB of
    # zeros: after the echo, the next "frame header" is 00 00 (unmasked): 1002.
    data = compressor.compress(struct.pack("!BBH", 0x82, 0xFE, 1000) + bytes(4))
    zeros = bytes(1 << 20)
    data += b"".join(compressor.compress(zeros) for _ in range(BOMB_SIZE >> 20))
    data += compressor.flush(zlib.Z_SYNC_FLUSH)
    before = bomb_server.status_kib("VmHWM")
    sock, reader = ws_open(bomb_server.port, extra="Sec-WebSocket-Extensions: deflate-stream\r\n")
    with sock:
        assert not reader.buffer
        with contextlib.suppress(OSError):
            sock.sendall(data)
        inflater = zlib.decompressobj(-15)
        received = read_until_eof(sock, time.monotonic() + TIMEOUT)
        frames = FrameReader(sock, inflater.decompress(received))
        assert frames.frame() == (True, 0x2, bytes(1000))
        assert frames.close_code() == 1002
    grown = bomb_server.status_kib("VmHWM") - before
    assert grown < BOMB_MEMORY_BOUND_KIB, f"peak RSS grew by {grown} KiB"


# -- handlers that fail -----------------------------------------------------------


def _records(caplog, level: str, text: str) -> list[object]:
    return [r for r in caplog.records if r.levelname == level and text in r.getMessage()]


def _wait_for_record(caplog, level: str, text: str, timeout: float = ANSWER_BOUND) -> object:
    deadline = time.monotonic() + timeout
    while not _records(caplog, level, text):
        assert time.monotonic() < deadline, f"no {level} record with {text!r}"
        time.sleep(0.02)
    return _records(caplog, level, text)[0]


def test_handler_raising_in_extra_handshake_gets_403_and_is_logged(robust_server, caplog):
    caplog.set_level("INFO")
    status, _answer, _ = exchange(robust_server.port, upgrade_request("/raise_extra"))
    assert status == 403
    record = _wait_for_record(caplog, "INFO", "extra handshake of /raise_extra failed")
    assert record.exc_info is not None
    assert echo_works(robust_server.port)


def test_handler_raising_in_transfer_data_drops_tcp_without_close_frame(robust_server, caplog):
    sock, reader = ws_open(robust_server.port, "/raise_transfer")
    with sock:
        sock.sendall(client_frame(0x1, b"go"))
        assert reader.close_code() == 1006
    record = _wait_for_record(caplog, "ERROR", "handler for /raise_transfer raised")
    assert "transfer_data fails" in str(record.exc_info[1])
    assert echo_works(robust_server.port)


def test_handler_raising_in_passive_closing_handshake_drops_tcp_without_close_reply(robust_server, caplog):
    sock, reader = ws_open(robust_server.port, "/raise_passive")
    with sock:
        sock.sendall(client_frame(0x8, struct.pack("!H", 1000)))
        assert reader.close_code() == 1006
    _wait_for_record(caplog, "ERROR", "handler for /raise_passive raised")
    assert echo_works(robust_server.port)


def test_handler_aborting_in_passive_closing_handshake_drops_tcp_without_close_reply(robust_server, caplog):
    caplog.set_level("INFO")
    sock, reader = ws_open(robust_server.port, "/abort_passive")
    with sock:
        sock.sendall(client_frame(0x8, struct.pack("!H", 1000)))
        assert reader.close_code() == 1006
    _wait_for_record(caplog, "INFO", "handler for /abort_passive aborted the connection")
    assert not _records(caplog, "ERROR", "/abort_passive")
    assert echo_works(robust_server.port)


def _release(server, resource: str) -> None:
    suite = server.server.dispatcher.get_handler_suite(resource)
    suite.transfer_data.__globals__["RELEASE"].set()


@pytest.mark.parametrize("resource", ["/hang", "/hang_extra"])
def test_handler_that_never_returns_does_not_stop_others(resource):
    with running_server("-d", ROBUST_HANDLERS) as server:
        hung = []
        try:
            for _ in range(3):
                sock = open_socket(server.port)
                hung.append(sock)
                sock.sendall(upgrade_request(resource))
            if resource == "/hang":
                for sock in hung:
                    assert status_of(read_head(sock, time.monotonic() + TIMEOUT)[0]) == 101
            started = time.monotonic()
            assert echo_works(server.port)
            assert time.monotonic() - started < ANSWER_BOUND
        finally:
            _release(server, resource)
            for sock in hung:
                sock.close()


def test_handler_writing_garbage_then_returning_sends_it_then_closes_with_1000(robust_server):
    from test.testdata.robust_handlers.garbage_wsh import GARBAGE

    sock, reader = ws_open(robust_server.port, "/garbage")
    with sock:
        reader._fill(len(GARBAGE), time.monotonic() + TIMEOUT)
        assert bytes(reader.buffer[: len(GARBAGE)]) == GARBAGE
        del reader.buffer[: len(GARBAGE)]
        assert reader.frame() == (True, 0x8, struct.pack("!H", 1000))
        sock.sendall(client_frame(0x8, struct.pack("!H", 1000)))
        assert read_until_eof(sock, time.monotonic() + TIMEOUT) == b""
    assert echo_works(robust_server.port)


def test_handler_writing_garbage_then_raising_drops_tcp_after_the_garbage(robust_server, caplog):
    from test.testdata.robust_handlers.garbage_raise_wsh import GARBAGE

    sock, reader = ws_open(robust_server.port, "/garbage_raise")
    with sock:
        received = bytes(reader.buffer) + read_until_eof(sock, time.monotonic() + TIMEOUT)
    assert received == GARBAGE
    _wait_for_record(caplog, "ERROR", "handler for /garbage_raise raised")
    assert echo_works(robust_server.port)


def test_handler_writing_a_garbage_handshake_then_aborting_sends_only_the_garbage(robust_server):
    from test.testdata.robust_handlers.garbage_handshake_wsh import GARBAGE

    status, _answer, _ = exchange(robust_server.port, upgrade_request("/garbage_handshake"))
    assert status is None
    with open_socket(robust_server.port) as sock:
        sock.sendall(upgrade_request("/garbage_handshake"))
        assert read_until_eof(sock, time.monotonic() + TIMEOUT) == GARBAGE
    assert echo_works(robust_server.port)


@pytest.fixture(scope="module")
def small_limit_legacy_server() -> Iterator[object]:
    """A server whose maximum message size is 1024 bytes, with Hixie-75 allowed."""
    with running_server("-d", ROBUST_HANDLERS, "--max-message-size", "1024", "--allow-draft75") as server:
        yield server


def _legacy_exchange(port: int, request_bytes: bytes, frame: bytes) -> bytes:
    """Open a HyBi-00 or Hixie-75 connection, send ``frame``, return what comes back until EOF or 2 s."""
    with open_socket(port) as sock:
        sock.sendall(request_bytes)
        head, rest = read_head(sock, time.monotonic() + TIMEOUT)
        assert status_of(head) == 101
        if request_bytes.endswith(KEY3):
            rest = rest[16:]  # the challenge answer
        sock.sendall(frame)
        data = rest
        deadline = time.monotonic() + 2.0
        with contextlib.suppress(TimeoutError):
            while True:
                sock.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    return data


@pytest.mark.parametrize("request_bytes", [hybi00_request(KEY1, KEY2) + KEY3, HIXIE75], ids=["hybi00", "hixie75"])
def test_legacy_message_at_max_message_size_is_echoed(small_limit_legacy_server, request_bytes):
    frame = b"\x00" + b"a" * 1024 + b"\xff"
    assert _legacy_exchange(small_limit_legacy_server.port, request_bytes, frame).startswith(frame)


@pytest.mark.parametrize(
    ("request_bytes", "ending"),
    [(hybi00_request(KEY1, KEY2) + KEY3, b"\xff\x00"), (HIXIE75, b"")],
    ids=["hybi00", "hixie75"],
)
def test_legacy_message_over_max_message_size_ends_the_connection(small_limit_legacy_server, request_bytes, ending):
    received = _legacy_exchange(small_limit_legacy_server.port, request_bytes, b"\x00" + b"a" * 2000 + b"\xff")
    # No echo: HyBi-00 gets the closing handshake, Hixie-75 only the TCP close.
    assert received == ending


# -- bad frames end to end ---------------------------------------------------------------

# (id, frames the client sends after the handshake, the close code the server answers with)
BAD_FRAMES = [
    ("unmasked-frame", client_frame(0x1, b"hi", mask=False), 1002),
    ("rsv1-without-extension", client_frame(0x1, b"hi", rsv1=True), 1002),
    ("rsv2", bytes([0xA1, 0x80]) + bytes(4), 1002),
    ("rsv3", bytes([0x91, 0x80]) + bytes(4), 1002),
    ("opcode-3", client_frame(0x3, b"x"), 1002),
    ("opcode-7", client_frame(0x7, b"x"), 1002),
    ("opcode-11", client_frame(0xB, b"x"), 1002),
    ("opcode-15", client_frame(0xF, b"x"), 1002),
    ("continuation-without-start", client_frame(0x0, b"x"), 1002),
    ("text-inside-fragmented-binary", client_frame(0x2, b"a", fin=False) + client_frame(0x1, b"b"), 1002),
    ("close-body-of-1-byte", client_frame(0x8, b"\x03"), 1002),
    ("close-code-999", client_frame(0x8, struct.pack("!H", 999)), 1002),
    ("close-code-1004", client_frame(0x8, struct.pack("!H", 1004)), 1002),
    ("close-code-1005", client_frame(0x8, struct.pack("!H", 1005)), 1002),
    ("close-code-1006", client_frame(0x8, struct.pack("!H", 1006)), 1002),
    ("close-code-1015", client_frame(0x8, struct.pack("!H", 1015)), 1002),
    ("close-code-5000", client_frame(0x8, struct.pack("!H", 5000)), 1002),
    ("close-reason-not-utf8", client_frame(0x8, struct.pack("!H", 1000) + b"\xff"), 1007),
    ("text-not-utf8", client_frame(0x1, b"\xc3\x28"), 1007),
    ("text-surrogate", client_frame(0x1, b"\xed\xa0\x80"), 1007),
    ("text-overlong", client_frame(0x1, b"\xc0\xaf"), 1007),
    ("text-not-utf8-across-fragments", client_frame(0x1, b"ok \xe2\x82", fin=False) + client_frame(0x0, b"\x28"), 1007),
    ("text-truncated-at-fin", client_frame(0x1, b"\xe2\x82"), 1007),
    ("close-of-126-bytes", struct.pack("!BB", 0x88, 0xFE) + struct.pack("!H", 126) + bytes(4) + bytes(126), 1002),
]


@pytest.mark.parametrize(("data", "code"), [pytest.param(*case[1:], id=case[0]) for case in BAD_FRAMES])
def test_bad_frame_closes_with_its_code_and_server_keeps_serving(robust_server, data, code):
    sock, reader = ws_open(robust_server.port)
    with sock:
        sock.sendall(data)
        started = time.monotonic()
        assert reader.close_code() == code
        assert time.monotonic() - started < ANSWER_BOUND
    assert echo_works(robust_server.port)


# -- handler faults and vanishing clients through Apache --------------------------------


@pytest.mark.apache
def test_handler_raising_in_transfer_data_through_apache_drops_tcp_without_a_500_page(apache_server):
    sock, reader = ws_open(apache_server.port, "/raise_transfer")
    with sock:
        sock.sendall(client_frame(0x1, b"go"))
        rest = bytes(reader.buffer) + read_until_eof(sock, time.monotonic() + TIMEOUT)
    # Nothing at all after the 101: no close frame and no HTTP error page in the stream.
    assert rest == b""
    assert echo_works(apache_server.port)


@pytest.mark.apache
def test_handler_that_raises_in_passive_closing_through_apache_drops_tcp(apache_server):
    sock, reader = ws_open(apache_server.port, "/raise_passive")
    with sock:
        sock.sendall(client_frame(0x8, struct.pack("!H", 1000)))
        rest = bytes(reader.buffer) + read_until_eof(sock, time.monotonic() + TIMEOUT)
    assert rest == b""
    assert echo_works(apache_server.port)


@pytest.mark.apache
def test_garbage_handshake_through_apache_sends_only_the_garbage(apache_server):
    with open_socket(apache_server.port) as sock:
        sock.sendall(upgrade_request("/garbage_handshake"))
        assert read_until_eof(sock, time.monotonic() + TIMEOUT) == b"NOT HTTP AT ALL\x00\xff\r\n\r\n"
    assert echo_works(apache_server.port)


@pytest.mark.apache
@pytest.mark.parametrize("how", ["fin", "rst"])
def test_clients_vanishing_mid_frame_through_apache_leave_it_serving(apache_server, how):
    for _ in range(5):
        sock, _ = ws_open(apache_server.port)
        sock.sendall(client_frame(0x2, b"x" * 70000)[:3000])
        if how == "rst":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    assert echo_works(apache_server.port)


@pytest.mark.apache
@pytest.mark.parametrize(("data", "code"), [pytest.param(*case[1:], id=case[0]) for case in BAD_FRAMES[::3]])
def test_bad_frame_through_apache_closes_with_its_code(apache_server, data, code):
    sock, reader = ws_open(apache_server.port)
    with sock:
        sock.sendall(data)
        assert reader.close_code() == code


@pytest.mark.parametrize(
    ("payload", "count"), [(b"", 1_000_000), (b"a", 1_000_000)], ids=["empty-fragments", "one-byte-fragments"]
)
def test_many_tiny_fragments_stay_within_bounded_memory(bomb_server, payload, count):
    # RFC 6455 puts no limit on the number of fragments, but the memory they
    # take must stay of the order of the maximum message size (1 MiB here),
    # not grow with the number of frames.
    before = bomb_server.status_kib("VmHWM")
    sock, reader = ws_open(bomb_server.port)
    with sock:
        sock.sendall(client_frame(0x2, payload, fin=False))
        batch = client_frame(0x0, payload, fin=False) * 10_000
        for _ in range(count // 10_000 - 1):
            sock.sendall(batch)
        sock.sendall(client_frame(0x0, payload, fin=False) * 9_999 + client_frame(0x0, b""))
        fin, opcode, echoed = reader.frame(timeout=60)
        assert (fin, opcode, echoed) == (True, 0x2, payload * count)
    grown = bomb_server.status_kib("VmHWM") - before
    assert grown < BOMB_MEMORY_BOUND_KIB, f"peak RSS grew by {grown} KiB for {count} fragments"
