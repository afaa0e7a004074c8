"""WebSockets over HTTP/2 (RFC 8441) through Apache's mod_http2 and mod_python.

Each server comes from test/httpd.py with ``http2=True`` (mod_http2,
``H2WebSockets on``, mpm event), once on cleartext (prior-knowledge ``h2c``)
and once on TLS (ALPN ``h2``, a certificate from the test CA of
test/pki.py). The client is the independent Node.js one
(test/h2ws_client.js, through test/h2ws.py); the handlers are the ones
test_apache.py uses, unchanged. Without Apache, mod_http2 or Node.js the
tests skip with a reason that says so. The last section checks the HTTP/2
parts of the adapter with fakes, without Apache.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mod_pywebsocket import headerparserhandler
from mod_pywebsocket._stream_base import ConnectionTerminatedException
from test import h2ws, httpd
from test.browser import Chromium, click, connect, fact, require_chromium, wait_entry
from test.conftest import EXAMPLE_DIR
from test.mock import FakeMpConnection, FakeMpRequest
from test.pki import Pki
from test.servers import APACHE_HANDLERS
from test.wire import TIMEOUT, ws_connect

pytestmark = pytest.mark.timeout(120)

OPENED_OVER_HTTP2 = r"WebSocket connection to {} from 127\.0\.0\.1 opened \(HTTP/2 stream, version 13"


# -- fixtures and helpers ----------------------------------------------------


@pytest.fixture(scope="module")
def h2c_server() -> Iterator[httpd.Httpd]:
    """Apache with mod_http2 on cleartext: HTTP/1.1 and prior-knowledge h2c."""
    httpd.require_http2()
    instance = httpd.Httpd(APACHE_HANDLERS, mpm="event", http2=True)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="module")
def h2_server(pki: Pki) -> Iterator[httpd.Httpd]:
    """Apache with mod_http2 and mod_ssl: HTTP/1.1 and h2 by ALPN, on TLS."""
    httpd.require_http2()
    instance = httpd.Httpd(
        APACHE_HANDLERS, mpm="event", http2=True, tls=(pki.path("server.pem"), pki.path("server.key"))
    )
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@dataclasses.dataclass
class Site:
    """One of the servers, and the CA file its clients trust (None on cleartext)."""

    httpd: httpd.Httpd
    ca: str | None

    @property
    def tls(self) -> bool:
        return self.ca is not None


@pytest.fixture(params=["h2c", "h2"])
def site(request: pytest.FixtureRequest) -> Site:
    """Each of the two servers in turn."""
    if request.param == "h2c":
        return Site(request.getfixturevalue("h2c_server"), None)
    pki: Pki = request.getfixturevalue("pki")
    return Site(request.getfixturevalue("h2_server"), pki.path("ca.pem"))


def run(site: Site, path: str, script: list[dict[str, Any]], **kwargs: Any) -> h2ws.H2WsResult:
    """Run the Node.js client on path (over TLS trusting the test CA); it must end without error."""
    result = h2ws.run(site.httpd.url(path), script, ca=site.ca, **kwargs)
    assert result.error is None, (result.error, result.stderr)
    return result


CLOSE: list[dict[str, Any]] = [{"close": 1000}, {"wait_close": True}]


# -- echo through both servers -------------------------------------------------


def test_text_binary_and_fragmented_messages_are_echoed(site: Site) -> None:
    script: list[dict[str, Any]] = [
        {"text": "héllo"},
        {"binary": h2ws.binary(b"\x00\x01\xfe\xff")},
        {"text": "one message in three frames", "fragments": 3},
        {"recv": 3},
        *CLOSE,
    ]
    stream = run(site, "/echo", script).stream
    assert stream.status == 200
    assert stream.messages == ["héllo", b"\x00\x01\xfe\xff", "one message in three frames"]
    assert stream.close == (1000, "")
    assert stream.errors == []


def test_the_log_says_the_socket_ran_over_http2(site: Site) -> None:
    start = len(site.httpd.error_log_text())
    run(site, "/echo?over=h2", [{"text": "x"}, {"recv": 1}, *CLOSE])
    site.httpd.wait_for_log(OPENED_OVER_HTTP2.format(re.escape("/echo?over=h2")), start=start)


def test_one_mebibyte_message_is_echoed_intact_under_flow_control(site: Site) -> None:
    # Far beyond HTTP/2's initial 64 KiB windows, in both directions.
    payload = bytes(range(256)) * 4096
    stream = run(site, "/echo", [{"binary": h2ws.binary(payload)}, {"recv": 1}, *CLOSE], timeout=30).stream
    assert stream.messages == [payload]
    assert stream.close == (1000, "")


def test_permessage_deflate_is_negotiated_and_compressed_messages_are_echoed(site: Site) -> None:
    text = "compressible " * 200
    script: list[dict[str, Any]] = [{"text": text, "compress": True}, {"text": "plain"}, {"recv": 2}, *CLOSE]
    stream = run(site, "/echo", script, extensions="permessage-deflate").stream
    assert stream.extensions == "permessage-deflate"
    assert stream.messages == [text, "plain"]
    assert stream.errors == []


def test_offered_subprotocol_is_chosen_and_sent_back(site: Site) -> None:
    stream = run(site, "/subprotocol", CLOSE, protocols=["chat", "superchat"]).stream
    assert stream.status == 200
    assert stream.protocol == "chat"


def test_ping_is_answered_with_pong(site: Site) -> None:
    stream = run(site, "/echo", [{"ping": h2ws.binary(b"are you there")}, {"sleep": 300}, *CLOSE]).stream
    assert stream.pongs == [b"are you there"]


def test_server_closes_with_the_code_and_reason_it_was_asked_for(site: Site) -> None:
    stream = run(site, "/close", [{"text": "4001 done here"}, {"wait_close": True}]).stream
    assert stream.close == (4001, "done here")


def test_ten_streams_on_one_connection_are_served_side_by_side(site: Site) -> None:
    result = run(site, "/echo", [{"text": "same script"}, {"recv": 1}, *CLOSE], streams=10)
    assert [(s.status, s.messages, s.close) for s in result.streams] == [(200, ["same script"], (1000, ""))] * 10


def test_request_object_looks_as_on_http11_with_apache_values(site: Site) -> None:
    stream = run(site, "/info?x=1", [{"recv": 1}, *CLOSE], headers={"user-agent": "h2ws-test"}).stream
    facts = json.loads(stream.messages[0])
    assert facts["ws_resource"] == "/info?x=1"
    assert (facts["uri"], facts["unparsed_uri"]) == ("/info", "/info?x=1")
    assert facts["ws_version"] == 13
    assert facts["is_https"] is site.tls
    assert facts["client_ip"] == "127.0.0.1"
    assert facts["user_agent"] == "h2ws-test"
    assert (facts["hashable"], facts["custom_attribute"], facts["state_from_handshake"]) == ("hashable", 42, "kept")


# -- refusals pass through as HTTP/2 responses ---------------------------------


def test_unknown_resource_gets_apaches_404(site: Site) -> None:
    assert run(site, "/no_such_handler", []).stream.status == 404


def test_static_file_is_not_a_websocket_mod_http2_answers_502(site: Site) -> None:
    # Apache answers 200 with the file; mod_http2 turns that into 502 (RFC 8441 leaves it open).
    assert run(site, f"/{httpd.STATIC_FILE_NAME}", []).stream.status == 502


def test_handler_refusing_the_extra_handshake_gets_403(site: Site) -> None:
    assert run(site, "/reject", []).stream.status == 403


def test_unsupported_version_gets_400_with_the_supported_versions(site: Site) -> None:
    stream = run(site, "/echo", [], headers={"sec-websocket-version": "12"}).stream
    assert stream.status == 400
    assert stream.headers is not None
    assert stream.headers["sec-websocket-version"] == "13, 8"


def test_raw_response_written_by_the_handler_becomes_the_stream_response(site: Site) -> None:
    stream = run(site, "/raw_abort", []).stream
    assert stream.status == 418
    assert stream.headers is not None
    assert stream.headers["x-raw-handshake"] == "yes"


# -- the stream ending, from the client's side ------------------------------------


def test_stream_reset_mid_message_ends_the_handler_and_the_next_stream_works(site: Site) -> None:
    start = len(site.httpd.error_log_text())
    half_frame = base64.b64encode(b"\x81\x85abcd\x09").decode("ascii")
    run(site, "/echo?reset", [{"raw": half_frame}, {"sleep": 200}, {"reset": 8}])
    closed = r"WebSocket connection to /echo\?reset from \S+ closed \(close code received: None\)"
    site.httpd.wait_for_log(closed, start=start)
    assert run(site, "/echo", [{"text": "after"}, {"recv": 1}, *CLOSE]).stream.messages == ["after"]


def test_end_of_stream_without_close_frame_ends_the_handler(site: Site) -> None:
    start = len(site.httpd.error_log_text())
    stream = run(site, "/echo?end", [{"text": "a"}, {"recv": 1}, {"end": True}, {"wait_close": True}]).stream
    assert stream.messages == ["a"]
    assert stream.close is None  # EOF, as a TCP FIN on HTTP/1.1: no close frame to answer it
    closed = r"WebSocket connection to /echo\?end from \S+ closed \(close code received: None\)"
    site.httpd.wait_for_log(closed, start=start)


# -- what Apache's limits do to WebSocket streams ------------------------------------


def test_idle_stream_outlives_debians_default_reqtimeout() -> None:
    # Debian's default (body=10) kills an idle HTTP/1.1 WebSocket after ~10 s;
    # mod_reqtimeout watches the HTTP/2 connection, not its streams.
    install = httpd.require_http2()
    reqtimeout = (
        f'LoadModule reqtimeout_module "{install.modules_dir}/mod_reqtimeout.so"\n'
        "RequestReadTimeout header=20-40,MinRate=500 body=10,MinRate=500\n"
    )
    script: list[dict[str, Any]] = [{"sleep": 13000}, {"text": "after 13 s"}, {"recv": 1}, *CLOSE]
    with httpd.Httpd(APACHE_HANDLERS, mpm="event", http2=True, extra_config=reqtimeout) as server:
        stream = run(Site(server, None), "/echo", script, timeout=30).stream
    assert (stream.messages, stream.close) == (["after 13 s"], (1000, ""))


def test_idle_stream_ends_after_apaches_timeout() -> None:
    httpd.require_http2()
    closed = r"WebSocket connection to /echo\?idle from \S+ closed \(close code received: None\)"
    with httpd.Httpd(APACHE_HANDLERS, mpm="event", http2=True, timeout=2) as server:
        stream = run(Site(server, None), "/echo?idle", [{"sleep": 6000}], timeout=15).stream
        server.wait_for_log(closed)
    # The handler's read fails after Timeout; the stream ends without a close frame.
    assert stream.events[0] == {"type": "end"}


def test_a_seventh_stream_waits_until_one_of_six_open_ones_ends(h2c_server: httpd.Httpd) -> None:
    # mod_http2 runs at most 6 streams of a new connection at once (its log:
    # "workers_limit=6"); a WebSocket holds its stream until it closes.
    start = len(h2c_server.error_log_text())
    opened = re.compile(OPENED_OVER_HTTP2.format(re.escape("/echo?hold")))
    outcome: list[h2ws.H2WsResult] = []
    script: list[dict[str, Any]] = [{"sleep": 4000}, *CLOSE]
    client = threading.Thread(
        target=lambda: outcome.append(h2ws.run(h2c_server.url("/echo?hold"), script, streams=7, timeout=30))
    )
    client.start()
    try:
        deadline = time.monotonic() + 3
        while len(opened.findall(h2c_server.error_log_text(), start)) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert len(opened.findall(h2c_server.error_log_text(), start)) == 6
    finally:
        client.join(40)
    assert len(opened.findall(h2c_server.error_log_text(), start)) == 7
    assert [s.close for s in outcome[0].streams] == [(1000, "")] * 7


# -- HTTP/1.1 on the same server -------------------------------------------------------


def test_http11_websocket_clients_are_still_served(site: Site) -> None:
    start = len(site.httpd.error_log_text())
    kwargs: dict[str, Any] = {"compression": None, "ping_interval": None}
    if site.ca is not None:
        kwargs["ssl"] = ssl.create_default_context(cafile=site.ca)
    with ws_connect(site.httpd.ws_url("/echo?over=http11"), **kwargs) as ws:
        ws.send("over HTTP/1.1")
        assert ws.recv(timeout=TIMEOUT) == "over HTTP/1.1"
    site.httpd.wait_for_log(r"to /echo\?over=http11 from \S+ opened \(HTTP/1\.1, version 13", start=start)


def test_tls_server_offers_h2_and_http11_by_alpn(h2_server: httpd.Httpd, pki: Pki) -> None:
    protocols = []
    for offer in (["h2", "http/1.1"], ["http/1.1"]):
        context = ssl.create_default_context(cafile=pki.path("ca.pem"))
        context.set_alpn_protocols(offer)
        raw = socket.create_connection(("127.0.0.1", h2_server.port), timeout=TIMEOUT)
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:  # takes over raw's descriptor
            protocols.append(tls.selected_alpn_protocol())
    assert protocols == ["h2", "http/1.1"]


def test_worker_mpm_serves_websocket_streams_too() -> None:
    httpd.require_http2()
    payload = bytes(range(256)) * 4096
    script: list[dict[str, Any]] = [{"text": "worker"}, {"binary": h2ws.binary(payload)}, {"recv": 2}, *CLOSE]
    with httpd.Httpd(APACHE_HANDLERS, mpm="worker", http2=True) as server:
        result = run(Site(server, None), "/echo", script, streams=3, timeout=30)
    assert [(s.status, s.messages, s.close) for s in result.streams] == [(200, ["worker", payload], (1000, ""))] * 3


def test_http2_harness_refuses_prefork() -> None:
    with pytest.raises(ValueError, match=r"does not support mpm prefork \(AH10034\)"):
        httpd.Httpd(APACHE_HANDLERS, http2=True)


def test_example_apache_snippet_turns_on_websockets_over_http2_with_mod_http2_loaded() -> None:
    install = httpd.require_http2()
    snippet = (httpd.REPO_ROOT / "example" / "pywebsocket.conf").read_text(encoding="utf-8")
    config = f'LoadModule http2_module "{install.modules_dir}/mod_http2.so"\n' + snippet.replace(
        "/websock_lib", str(httpd.REPO_ROOT)
    ).replace("/websock_handlers", str(httpd.REPO_ROOT / "example"))
    # The snippet brings Protocols and H2WebSockets itself: http2 stays False.
    with httpd.Httpd(None, handler=None, mpm="event", extra_config=config) as server:
        stream = run(Site(server, None), "/echo", [{"text": "snippet"}, {"recv": 1}, *CLOSE]).stream
        # example/cookie_wsh.py: the Cookie header in, its extra_headers (Set-Cookie) out.
        cookie = run(Site(server, None), "/cookie", [{"recv": 1}, *CLOSE], headers={"cookie": "ws_visits=4"}).stream
    assert (stream.status, stream.messages, stream.close) == (200, ["snippet"], (1000, ""))
    assert cookie.headers is not None
    assert cookie.headers["set-cookie"] == ["ws_visits=5; Path=/; SameSite=Strict"]
    assert [json.loads(m) for m in cookie.messages] == [{"ws_visits": "4"}]


# -- a browser -----------------------------------------------------------------------------


@pytest.mark.browser
def test_chromium_opens_wss_from_console_html_as_a_stream_of_its_http2_connection(pki: Pki) -> None:
    chromium = require_chromium()
    httpd.require_http2()
    tls = (pki.path("server.pem"), pki.path("server.key"))
    with httpd.Httpd(EXAMPLE_DIR, document_root=EXAMPLE_DIR, mpm="event", http2=True, tls=tls) as server:
        with Chromium(chromium) as browser:
            page = browser.new_page()
            page.call("Security.setIgnoreCertificateErrors", ignore=True)  # the test CA is not the browser's
            page.navigate(server.url("/console.html"))
            assert page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol") == "h2"
            echo_url = server.ws_url("/echo")
            assert page.evaluate("document.getElementById('url').value") == echo_url
            start = connect(page, echo_url)
            assert fact(page, "extensions") == "permessage-deflate"
            page.focus("#text")
            page.type_text("over HTTP/2")
            page.press_enter()
            assert wait_entry(page, start, kind="message", type="text")["text"] == "over HTTP/2"
            click(page, "disconnect")
            assert wait_entry(page, start, kind="close")["code"] == "1000"
        server.wait_for_log(OPENED_OVER_HTTP2.format("/echo"))
        # Disconnect sends a close frame without a code: the server records 1005.
        server.wait_for_log(r"WebSocket connection to /echo from \S+ closed \(close code received: 1005\)")


# -- the HTTP/2 parts of the adapter, without Apache -----------------------------------


def test_response_head_is_split_into_status_fields_and_the_rest() -> None:
    data = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Twice: 1\r\nX-Twice:  2 \r\n\r\n\x81\x00"
    )
    assert headerparserhandler._split_response_head(data) == (
        101,
        [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ("X-Twice", "1"),
            ("X-Twice", "2"),
        ],
        b"\x81\x00",
    )
    assert headerparserhandler._split_response_head(b"HTTP/1.1 418\r\n\r\n") == (418, [], b"")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n", "no end of the response head"),
        (b"HTTP/1.0 101 Switching Protocols\r\n\r\n", "invalid status line 'HTTP/1.0 101 Switching Protocols'"),
        (b"HTTP/1.1 1O1 Switching\r\n\r\n", "invalid status line 'HTTP/1.1 1O1 Switching'"),
        (b"HTTP/1.1 1010\r\n\r\n", "invalid status line 'HTTP/1.1 1010'"),
        (b"\x81\x05hello", "no end of the response head"),
        (b"HTTP/1.1 101 OK\r\nno colon here\r\n\r\n", "invalid header line 'no colon here'"),
        (b"HTTP/1.1 101 OK\r\nBad Name: x\r\n\r\n", "invalid header line 'Bad Name: x'"),
    ],
)
def test_malformed_response_head_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        headerparserhandler._split_response_head(data)


class FakeHeadersOut:
    """mod_python's headers_out: ``add`` keeps repeated names."""

    def __init__(self) -> None:
        self.fields: list[tuple[str, str]] = []

    def add(self, name: str, value: str) -> None:
        self.fields.append((name, value))


class FakeMpHttp2Request(FakeMpRequest):
    """mod_http2's internal request for an extended CONNECT, as mod_python shows it."""

    protocol = "HTTP/2.0"

    def __init__(self, connection: FakeMpConnection, headers_in: dict[str, str] | None = None) -> None:
        super().__init__(connection)
        self.headers_in = {"Upgrade": "websocket", "Connection": "Upgrade"} if headers_in is None else headers_in
        self.headers_out = FakeHeadersOut()
        self.flushed: list[tuple[int, list[tuple[str, str]], int]] = []
        self.flush_error: Exception | None = None
        self.body: list[bytes] = []
        self.write_error: Exception | None = None

    def flush(self) -> None:
        if self.flush_error is not None:
            raise self.flush_error
        # What went down the filters: the status and fields, and how much data preceded them.
        self.flushed.append((self.status, list(self.headers_out.fields), len(self.body)))

    def write(self, data: bytes) -> None:
        if self.write_error is not None:
            raise self.write_error
        self.body.append(data)


@pytest.mark.parametrize(
    ("protocol", "headers_in", "expected"),
    [
        ("HTTP/2.0", {"Upgrade": "websocket", "Connection": "Upgrade"}, True),
        ("HTTP/2.0", {"Upgrade": " WebSocket "}, True),
        ("HTTP/2.0", {}, False),
        ("HTTP/2.0", {"Upgrade": "h2c"}, False),
        ("HTTP/1.1", {"Upgrade": "websocket", "Connection": "Upgrade"}, False),
    ],
)
def test_only_mod_http2_websocket_requests_take_the_http2_path(
    protocol: str, headers_in: dict[str, str], expected: bool
) -> None:
    request = FakeMpHttp2Request(FakeMpConnection([]), headers_in)
    request.protocol = protocol
    assert headerparserhandler._is_http2_websocket(request) is expected


def test_http2_request_shows_http11_to_the_handshake_and_keeps_the_rest() -> None:
    real = FakeMpHttp2Request(FakeMpConnection([]))
    proxy = headerparserhandler._ApacheRequest(real, http2=True)
    assert proxy.protocol == "HTTP/1.1"
    assert real.protocol == "HTTP/2.0"
    assert isinstance(proxy.connection, headerparserhandler._ApacheHttp2Connection)
    assert headerparserhandler._ApacheRequest(real).protocol == "HTTP/2.0"


def test_first_write_on_a_stream_becomes_the_response_head_and_the_rest_data() -> None:
    fake = FakeMpConnection([])
    real = FakeMpHttp2Request(fake)
    connection = headerparserhandler._ApacheRequest(real, http2=True).connection
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: abc=\r\n\r\n"
    connection.write(head + b"\x81\x02hi")
    connection.write(b"\x88\x02\x03\xe8")
    assert real.flushed == [(101, [("Upgrade", "websocket"), ("Sec-WebSocket-Accept", "abc=")], 0)]
    # Data goes through the request's write (which releases the GIL), not the connection's.
    assert real.body == [b"\x81\x02hi", b"\x88\x02\x03\xe8"]
    assert fake.written == []
    assert connection.bytes_written == len(head) + 4 + 4


def test_failed_stream_write_is_a_terminated_connection() -> None:
    real = FakeMpHttp2Request(FakeMpConnection([]))
    connection = headerparserhandler._ApacheRequest(real, http2=True).connection
    connection.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    real.write_error = OSError("Write failed, client closed connection.")
    with pytest.raises(ConnectionTerminatedException, match="stream write failed: Write failed, client closed"):
        connection.write(b"\x81\x00")


def test_first_write_that_is_no_response_head_ends_the_stream_unsent() -> None:
    fake = FakeMpConnection([])
    real = FakeMpHttp2Request(fake)
    connection = headerparserhandler._ApacheRequest(real, http2=True).connection
    with pytest.raises(ConnectionTerminatedException, match="cannot answer an HTTP/2 stream with it: no end"):
        connection.write(b"\x81\x05hello")
    assert (real.flushed, real.body, fake.written, connection.bytes_written) == ([], [], [], 0)


def test_failed_flush_of_the_response_head_is_a_terminated_connection() -> None:
    real = FakeMpHttp2Request(FakeMpConnection([]))
    real.flush_error = OSError("Write failed, client closed connection.")
    connection = headerparserhandler._ApacheRequest(real, http2=True).connection
    with pytest.raises(ConnectionTerminatedException, match="sending the response head failed: Write failed"):
        connection.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
