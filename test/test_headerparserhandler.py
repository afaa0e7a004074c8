"""The mod_python entry point run in this process, against a fake ``mod_python.apache`` (no httpd).

``test_apache.py`` and ``test_h2_apache*.py`` run the same module inside a real
Apache; these tests reach every branch of it in a second, with exact values.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

import pytest

from mod_pywebsocket import _masking, dispatch, headerparserhandler
from mod_pywebsocket.headerparserhandler import ApacheLogHandler, ConfigurationError
from mod_pywebsocket.msgutil import ConnectionTerminatedException
from test import fake_mod_python
from test.fake_mod_python import FakeConnection, FakeRequest, FakeServer

HANDLERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata", "handlers")

# RFC 6455 §1.3's sample key and the accept value that answers it.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
RESPONSE_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: " + ACCEPT.encode() + b"\r\n"
    b"\r\n"
)
# A client's close frame with code 1001 and no reason, masked with a zero key (so the payload reads as is).
CLIENT_CLOSE_1001 = b"\x88\x82\x00\x00\x00\x00\x03\xe9"
# RFC 6455 §5.7: a masked "Hello" from a client, and the unmasked one a server sends.
CLIENT_HELLO = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
SERVER_HELLO = b"\x81\x05Hello"
SERVER_CLOSE_1000 = b"\x88\x02\x03\xe8"


def upgrade_headers(*, version: str = "13", key: str = KEY, **extra: str) -> list[tuple[str, str]]:
    """Return the header fields of an RFC 6455 opening handshake request."""
    fields = [
        ("Host", "example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", version),
    ]
    return fields + [(name.replace("_", "-"), value) for name, value in extra.items()]


def handler_options(**extra: str) -> list[tuple[str, str]]:
    """Return PythonOptions with the test handler root and any ``mod_pywebsocket.<name>`` given."""
    return [(headerparserhandler.OPTION_HANDLER_ROOT, HANDLERS)] + [
        (f"mod_pywebsocket.{name}", value) for name, value in extra.items()
    ]


def serve(request: FakeRequest) -> int:
    return headerparserhandler.headerparserhandler(request)


def websocket_request(uri: str, data: bytes = b"", loglevel: int = fake_mod_python.APLOG_WARNING, **kw: Any) -> Any:
    """Return a request for ``uri`` with an RFC 6455 handshake, whose connection then carries ``data``."""
    return FakeRequest(
        uri,
        upgrade_headers(),
        handler_options(**kw),
        connection=FakeConnection(data),
        server=FakeServer(loglevel),
    )


def messages(request: FakeRequest, level: int | None = None) -> list[str]:
    return [message for message, at in request.logged if level is None or at == level]


# -- configuration -----------------------------------------------------------


def test_missing_handler_root_returns_500_and_logs_what_to_add(apache):
    request = FakeRequest("/blank", upgrade_headers())
    assert serve(request) == 500
    assert request.logged == [
        (
            "mod_pywebsocket: PythonOption mod_pywebsocket.handler_root is not set: add 'PythonOption "
            "mod_pywebsocket.handler_root /path/to/handlers' next to 'PythonHeaderParserHandler "
            "mod_pywebsocket.headerparserhandler'",
            fake_mod_python.APLOG_ERR,
        )
    ]
    assert request.connection.written == []


def test_handler_root_that_is_not_a_directory_returns_500(apache, tmp_path):
    missing = str(tmp_path / "nowhere")
    request = FakeRequest("/blank", upgrade_headers(), [(headerparserhandler.OPTION_HANDLER_ROOT, missing)])
    assert serve(request) == 500
    assert messages(request) == [
        f"mod_pywebsocket: PythonOption mod_pywebsocket.handler_root is {missing!r}, which is not a directory"
        " (or Apache's user cannot reach it)"
    ]


def test_handler_scan_outside_the_root_returns_500_naming_both(apache, tmp_path):
    request = websocket_request("/blank", handler_scan=str(tmp_path))
    assert serve(request) == 500
    [message] = messages(request, fake_mod_python.APLOG_ERR)
    assert message.startswith(
        f"mod_pywebsocket: cannot use handler_root {HANDLERS!r} / handler_scan {str(tmp_path)!r}: "
    )


@pytest.mark.parametrize("option", ["allow_draft75", "allow_handlers_outside_root_dir"])
def test_on_off_option_with_another_word_returns_500(apache, option):
    request = websocket_request("/blank", **{option: "maybe"})
    assert serve(request) == 500
    assert messages(request) == [
        f"mod_pywebsocket: PythonOption mod_pywebsocket.{option} must be On or Off (Yes/No also work), not 'maybe'"
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("On", True), ("yes", True), (" ON ", True), ("Off", False), ("NO", False)],
)
def test_parse_bool_option_reads_on_off_yes_no_in_any_case(value, expected):
    assert headerparserhandler.parse_bool_option("x", value, default=False) is expected


def test_parse_bool_option_without_value_returns_the_default():
    assert headerparserhandler.parse_bool_option("x", None, default=True) is True


def test_parse_bool_option_with_an_unknown_word_raises_configuration_error_with_500():
    with pytest.raises(ConfigurationError, match=r"^PythonOption x must be On or Off \(Yes/No also work\), not '1'$"):
        headerparserhandler.parse_bool_option("x", "1", default=False)
    assert ConfigurationError.status == 500


def test_dispatcher_is_built_once_per_option_set_and_shared(apache, monkeypatch):
    built = []
    real = dispatch.Dispatcher

    def counting(*args: Any, **kwargs: Any) -> dispatch.Dispatcher:
        built.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(dispatch, "Dispatcher", counting)
    for _ in range(3):
        assert serve(websocket_request("/nothing")) == fake_mod_python.DECLINED
    assert serve(websocket_request("/nothing", allow_handlers_outside_root_dir="Off")) == fake_mod_python.DECLINED
    assert built == [
        ((HANDLERS, None), {"allow_handlers_outside_root_dir": True}),
        ((HANDLERS, None), {"allow_handlers_outside_root_dir": False}),
    ]
    assert sorted(headerparserhandler._dispatchers) == [(HANDLERS, None, False), (HANDLERS, None, True)]


def test_dispatcher_built_by_another_thread_while_waiting_for_the_lock_is_used(apache):
    # The state a second thread finds once the first released the lock: a dispatcher, and (here) no log handler yet.
    ready = dispatch.Dispatcher(HANDLERS)
    headerparserhandler._dispatchers[(HANDLERS, None, True)] = ready
    assert headerparserhandler._set_up(websocket_request("/blank")) == (ready, False, False)
    assert isinstance(headerparserhandler._log_handler, ApacheLogHandler)


def test_handler_scan_option_limits_the_handlers_loaded(apache):
    sub = os.path.join(HANDLERS, "sub")
    assert serve(websocket_request("/blank", handler_scan=sub)) == fake_mod_python.DECLINED
    request = websocket_request("/sub/Mixed_Case", handler_scan=sub)
    assert serve(request) == fake_mod_python.DONE
    assert request.connection.written_bytes() == RESPONSE_101 + b"\x81\x03sub" + SERVER_CLOSE_1000


def test_first_request_sets_root_logger_to_apache_loglevel(apache):
    serve(websocket_request("/nothing", loglevel=fake_mod_python.APLOG_INFO))
    root = logging.getLogger()
    assert root.level == logging.INFO
    assert [type(h) for h in root.handlers].count(ApacheLogHandler) == 1
    # Later requests do not set it up again.
    serve(websocket_request("/nothing", loglevel=fake_mod_python.APLOG_DEBUG))
    assert root.level == logging.INFO
    assert [type(h) for h in root.handlers].count(ApacheLogHandler) == 1


def test_server_without_an_integer_loglevel_leaves_the_root_level(apache):
    root = logging.getLogger()
    before = root.level
    request = websocket_request("/nothing")
    request.server.loglevel = "warn"  # type: ignore[assignment]
    serve(request)
    assert root.level == before


# -- requests Apache keeps ---------------------------------------------------


def test_request_for_a_url_without_handler_is_declined_untouched(apache):
    request = websocket_request("/no_such_handler")
    assert serve(request) == fake_mod_python.DECLINED
    assert request.connection.written == []
    assert request.assbackwards == 0
    assert request.connection.keepalive == fake_mod_python.AP_CONN_UNKNOWN


def test_request_target_that_is_not_a_websocket_uri_is_declined(apache):
    request = FakeRequest("ftp://example.com/blank", upgrade_headers(), handler_options())
    assert serve(request) == fake_mod_python.DECLINED
    assert request.connection.written == []


def test_absolute_form_target_is_served_by_its_path(apache):
    request = FakeRequest("ws://example.com/blank", upgrade_headers(), handler_options(), FakeConnection())
    assert serve(request) == fake_mod_python.DONE
    assert request.connection.written_bytes() == RESPONSE_101 + SERVER_CLOSE_1000


def test_plain_get_of_a_handler_url_returns_400(apache):
    request = FakeRequest("/blank", [("Host", "example.com")], handler_options())
    assert serve(request) == 400
    assert request.connection.written == []
    assert request.err_headers_out.items() == []


# -- the opening handshake ---------------------------------------------------


def test_handshake_writes_the_exact_101_and_runs_the_handler(apache):
    request = websocket_request("/request_info", CLIENT_HELLO + CLIENT_CLOSE_1001)
    assert serve(request) == fake_mod_python.DONE
    info = (
        '{"unparsed_uri": "/request_info", "uri": "/request_info", "ws_location": null, '
        '"ws_requested_extensions": null, "ws_resource": "/request_info"}'
    )
    assert request.connection.written == [
        RESPONSE_101[:-2] + b"X-Request-Info: " + info.encode() + b"\r\n\r\n",
        SERVER_HELLO,
        SERVER_CLOSE_1000,
    ]
    # Apache's own response is suppressed and TCP closes after the request.
    assert request.assbackwards == 1
    assert request.connection.keepalive == fake_mod_python.AP_CONN_CLOSE
    assert request.status == 200


def test_handshake_of_a_handler_without_extra_headers_writes_exactly_the_101(apache):
    request = websocket_request("/blank")
    assert serve(request) == fake_mod_python.DONE
    assert request.connection.written == [RESPONSE_101, SERVER_CLOSE_1000]


def test_opened_and_closed_connection_is_logged_at_info(apache):
    request = websocket_request("/blank", loglevel=fake_mod_python.APLOG_INFO)
    serve(request)
    prefix = "mod_pywebsocket.headerparserhandler: WebSocket connection to /blank from 192.0.2.7"
    info = messages(request, fake_mod_python.APLOG_INFO)
    assert f"{prefix} opened (HTTP/1.1, version 13, protocol None)" in info
    assert f"{prefix} closed (close code received: None)" in info


def test_unsupported_version_returns_400_with_the_supported_versions(apache):
    request = FakeRequest("/blank", upgrade_headers(version="7"), handler_options())
    assert serve(request) == 400
    assert request.err_headers_out.items() == [("Sec-WebSocket-Version", "13, 8")]
    assert request.connection.written == []


def test_bad_key_returns_400(apache):
    request = FakeRequest("/blank", upgrade_headers(key="short"), handler_options())
    assert serve(request) == 400
    assert request.err_headers_out.items() == []


def test_header_value_that_is_not_utf8_returns_400(apache):
    # mod_python decodes header values as UTF-8 when they are read.
    headers = [*upgrade_headers(), ("Sec-WebSocket-Protocol", b"chat\xff")]
    request = FakeRequest("/blank", headers, handler_options(), server=FakeServer(fake_mod_python.APLOG_INFO))
    assert serve(request) == 400
    assert request.connection.written == []
    assert [m for m in messages(request) if "opening handshake" in m] == [
        "mod_pywebsocket.headerparserhandler: opening handshake of /blank failed: header Sec-WebSocket-Protocol is "
        "not valid text: 'utf-8' codec can't decode byte 0xff in position 4: invalid start byte"
    ]


def test_handler_refusing_in_extra_handshake_returns_403(apache):
    request = websocket_request("/raise?in_extra")
    assert serve(request) == 403
    assert request.connection.written == []
    assert request.assbackwards == 0


def test_handler_refusing_without_a_status_returns_403(apache):
    assert serve(websocket_request("/raise?refuse_without_status")) == 403


def test_resource_with_a_fragment_returns_400(apache):
    assert serve(websocket_request("/blank#part")) == 400


def test_handshake_failure_is_logged_at_info_without_traceback(apache):
    request = websocket_request("/raise?in_extra", loglevel=fake_mod_python.APLOG_INFO)
    serve(request)
    refused = [m for m in messages(request) if "opening handshake" in m]
    assert refused == [
        "mod_pywebsocket.headerparserhandler: opening handshake of /raise?in_extra failed: handler for "
        "/raise?in_extra rejected the handshake: ValueError('refused in extra handshake')"
    ]


def test_client_gone_during_handshake_returns_done_with_apache_response_suppressed(apache):
    # A HyBi-00 request whose 8-byte challenge never arrives (mod_python's read returns None).
    headers = [
        ("Host", "example.com"),
        ("Upgrade", "WebSocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key1", "4 @1  46546xW%0l 1 5"),
        ("Sec-WebSocket-Key2", "12998 5 Y3 1  .P00"),
        ("Origin", "http://example.com"),
    ]
    request = FakeRequest("/blank", headers, handler_options(), FakeConnection(b"tooshort"[:3]))
    assert serve(request) == fake_mod_python.DONE
    assert request.connection.written == []
    assert request.assbackwards == 1
    assert request.connection.keepalive == fake_mod_python.AP_CONN_CLOSE


def test_hixie75_request_returns_400_unless_allow_draft75(apache):
    headers = [
        ("Host", "example.com"),
        ("Upgrade", "WebSocket"),
        ("Connection", "Upgrade"),
        ("Origin", "http://example.com"),
    ]
    refused = FakeRequest("/blank", headers, handler_options())
    assert serve(refused) == 400
    allowed = FakeRequest("/blank", headers, handler_options(allow_draft75="On"))
    assert serve(allowed) == fake_mod_python.DONE
    assert allowed.connection.written[0] == (
        b"HTTP/1.1 101 Web Socket Protocol Handshake\r\n"
        b"Upgrade: WebSocket\r\n"
        b"Connection: Upgrade\r\n"
        b"WebSocket-Origin: http://example.com\r\n"
        b"WebSocket-Location: ws://example.com/blank\r\n"
        b"\r\n"
    )


# -- after the handshake -----------------------------------------------------


def test_passive_closing_handshake_answers_with_the_handlers_code_and_reason(apache):
    request = websocket_request("/passive", CLIENT_CLOSE_1001)
    assert serve(request) == fake_mod_python.DONE
    reason = b"passive:1001"
    assert request.connection.written == [RESPONSE_101, b"\x88" + bytes([2 + len(reason)]) + b"\x0f\xa0" + reason]


def test_handler_exception_is_logged_with_its_traceback_one_line_per_log_error(apache):
    request = websocket_request("/raise?value_error")
    assert serve(request) == fake_mod_python.DONE
    errors = messages(request, fake_mod_python.APLOG_ERR)
    assert errors[0] == "mod_pywebsocket.dispatch: handler for /raise?value_error raised"
    assert errors[1] == "Traceback (most recent call last):"
    assert errors[-1] == "ValueError: raised on purpose"
    assert all("\n" not in line for line in errors)
    # No close frame: the connection is dropped (clients see 1006).
    assert request.connection.written == [RESPONSE_101]


def test_exception_escaping_the_dispatcher_is_logged_and_returns_done(apache):
    # SystemExit from mod_python's read is not an Exception: the dispatcher lets it through.
    request = FakeRequest(
        "/passive", upgrade_headers(), handler_options(), FakeConnection(read_error=SystemExit("exiting"))
    )
    assert serve(request) == fake_mod_python.DONE
    errors = messages(request, fake_mod_python.APLOG_ERR)
    assert errors[0] == "mod_pywebsocket.headerparserhandler: WebSocket connection to /passive failed"
    assert errors[-1] == "SystemExit: exiting"
    assert request.assbackwards == 1


def test_read_error_ends_the_connection_quietly(apache):
    request = FakeRequest(
        "/passive", upgrade_headers(), handler_options(), FakeConnection(read_error=OSError("Connection read error"))
    )
    assert serve(request) == fake_mod_python.DONE
    assert messages(request, fake_mod_python.APLOG_ERR) == []
    assert request.connection.written == [RESPONSE_101]


def test_reads_ask_for_64_kib_and_take_what_mod_python_returns(apache):
    request = FakeRequest(
        "/request_info",
        upgrade_headers(),
        handler_options(),
        FakeConnection(CLIENT_HELLO + CLIENT_CLOSE_1001, chunk=3),
    )
    assert serve(request) == fake_mod_python.DONE
    assert set(request.connection.read_sizes) == {64 * 1024}
    assert request.connection.written_bytes().endswith(SERVER_HELLO + SERVER_CLOSE_1000)


def test_write_error_after_the_handshake_ends_the_connection_quietly(apache):
    # The handler's reply to the client's close is the write that fails.
    connection = FakeConnection(CLIENT_CLOSE_1001)
    request = FakeRequest("/passive", upgrade_headers(), handler_options(), connection)
    connection.write_error = OSError("Broken pipe")
    connection.writes_before_error = 1
    assert serve(request) == fake_mod_python.DONE
    assert connection.written == [RESPONSE_101]
    assert messages(request, fake_mod_python.APLOG_ERR) == []


def test_handler_sees_one_request_object_with_mod_pythons_fields(apache):
    connection = FakeConnection()
    request = FakeRequest("/blank?x=1", upgrade_headers(), handler_options(), connection)
    wrapped = headerparserhandler._ApacheRequest(request)
    # Fields mod_python defines go to the real request; new ones stay on the proxy.
    wrapped.status = 101
    wrapped.ws_custom = "mine"
    assert request.status == 101
    assert "ws_custom" not in vars(request)
    assert wrapped.ws_custom == "mine"
    assert wrapped.uri == "/blank"
    assert wrapped.protocol == "HTTP/1.1"
    # Attributes a handler sets on mod_python's own dict can be deleted through the proxy too.
    request.note = "n"
    del wrapped.note
    assert not hasattr(request, "note")
    del wrapped.ws_custom
    assert not hasattr(wrapped, "ws_custom")
    assert repr(wrapped) == "<_ApacheRequest '/blank?x=1'>"
    assert {wrapped: 1}[wrapped] == 1


def test_connection_proxy_reads_and_sets_mod_pythons_attributes(apache):
    connection = FakeConnection()
    wrapped = headerparserhandler._ApacheConnection(connection)
    assert wrapped.remote_addr == ("192.0.2.7", 50123)
    assert wrapped.remote_ip == "192.0.2.7"
    assert wrapped.local_addr == ("192.0.2.1", 80)
    wrapped.keepalive = fake_mod_python.AP_CONN_CLOSE
    assert connection.keepalive == fake_mod_python.AP_CONN_CLOSE
    with pytest.raises(AttributeError):
        wrapped.no_such_field = 1
    wrapped.write(b"abc")
    assert (connection.written, wrapped.bytes_written) == ([b"abc"], 3)


def test_connection_proxy_reads_at_most_1_mib_per_call(apache):
    connection = FakeConnection(b"x" * (2 * 1024 * 1024))
    wrapped = headerparserhandler._ApacheConnection(connection)
    assert len(wrapped.read(2 * 1024 * 1024)) == 2 * 1024 * 1024
    assert connection.read_sizes == [1024 * 1024, 1024 * 1024]


# -- HTTP/2 (mod_http2 with H2WebSockets on) ---------------------------------


def http2_request(uri: str, data: bytes = b"", **kw: Any) -> FakeRequest:
    """Return mod_http2's internal Upgrade request for an RFC 8441 stream."""
    return FakeRequest(uri, upgrade_headers(), handler_options(), FakeConnection(data), protocol="HTTP/2.0", **kw)


def test_http2_stream_gets_101_as_status_and_headers_and_frames_through_request_write(apache):
    request = http2_request("/request_info", CLIENT_HELLO + CLIENT_CLOSE_1001)
    assert serve(request) == fake_mod_python.DONE
    assert request.status == 101
    assert request.headers_out.items()[:3] == [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", ACCEPT),
    ]
    assert request.flushes == 1
    assert request.connection.written == []
    assert request.body == [SERVER_HELLO, SERVER_CLOSE_1000]


def test_http2_stream_is_logged_as_such(apache):
    request = http2_request("/blank", server=FakeServer(fake_mod_python.APLOG_INFO))
    serve(request)
    assert (
        "mod_pywebsocket.headerparserhandler: WebSocket connection to /blank from 192.0.2.7 opened "
        "(HTTP/2 stream, version 13, protocol None)"
    ) in messages(request)


def test_http2_flag_needs_both_http2_protocol_and_websocket_upgrade():
    assert headerparserhandler._is_http2_websocket(FakeRequest("/", upgrade_headers(), protocol="HTTP/2.0"))
    assert not headerparserhandler._is_http2_websocket(FakeRequest("/", upgrade_headers(), protocol="HTTP/1.1"))
    assert not headerparserhandler._is_http2_websocket(FakeRequest("/", [("Upgrade", "h2c")], protocol="HTTP/2.0"))
    assert not headerparserhandler._is_http2_websocket(FakeRequest("/", [], protocol="HTTP/2.0"))


def test_http2_head_with_a_body_sends_the_rest_as_stream_data(apache):
    request = http2_request("/blank")
    connection = headerparserhandler._ApacheHttp2Connection(request)
    connection.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-A:  1 \r\nX-A: 2\r\n\r\nrest")
    assert request.status == 101
    assert request.headers_out.items() == [("Upgrade", "websocket"), ("X-A", "1"), ("X-A", "2")]
    assert request.body == [b"rest"]
    assert connection.bytes_written == len(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-A:  1 \r\nX-A: 2\r\n\r\nrest"
    )


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 101 Switching Protocols\r\n",  # no end of the head
        b"HTTP/1.0 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 1O1 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 1011 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 101 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 101 OK\r\nbad name: x\r\n\r\n",
    ],
)
def test_http2_head_that_is_not_an_http11_response_head_terminates_the_connection(apache, head):
    request = http2_request("/blank")
    connection = headerparserhandler._ApacheHttp2Connection(request)
    with pytest.raises(ConnectionTerminatedException, match=r"^cannot answer an HTTP/2 stream with it: "):
        connection.write(head)
    assert request.flushes == 0
    assert request.status == 200


def test_split_response_head_accepts_a_status_line_without_reason():
    assert headerparserhandler._split_response_head(b"HTTP/1.1 101\r\nA: b\r\n\r\n") == (101, [("A", "b")], b"")


def test_http2_flush_failure_terminates_the_connection(apache):
    request = http2_request("/blank")
    request.flush_error = OSError("stream reset")
    connection = headerparserhandler._ApacheHttp2Connection(request)
    with pytest.raises(ConnectionTerminatedException, match=r"^sending the response head failed: stream reset$"):
        connection.write(RESPONSE_101)


def test_http2_stream_write_failure_terminates_the_connection(apache):
    request = http2_request("/blank")
    connection = headerparserhandler._ApacheHttp2Connection(request)
    connection.write(RESPONSE_101)
    request.write_error = OSError("stream reset")
    with pytest.raises(ConnectionTerminatedException, match=r"^stream write failed: stream reset$"):
        connection.write(SERVER_HELLO)
    assert request.body == []


def test_http2_refused_handshake_returns_its_status(apache):
    request = FakeRequest(
        "/raise?in_extra", upgrade_headers(), handler_options(), FakeConnection(), protocol="HTTP/2.0"
    )
    assert serve(request) == 403
    assert request.flushes == 0


# -- logging to Apache's error log -------------------------------------------


@pytest.mark.parametrize(
    ("python_level", "aplog_level"),
    [
        (logging.CRITICAL, 2),
        (logging.ERROR, 3),
        (logging.WARNING, 4),
        (logging.INFO, 6),
        (logging.DEBUG, 7),
        (5, 7),
    ],
)
def test_log_handler_maps_python_levels_to_apache_levels(python_level, aplog_level):
    request = FakeRequest()
    handler = ApacheLogHandler(request)
    record = logging.LogRecord("some.logger", python_level, __file__, 1, "a %s", ("message",), None)
    handler.emit(record)
    assert request.logged == [("some.logger: a message", aplog_level)]


@pytest.mark.parametrize(
    ("aplog_level", "python_level"),
    [
        (0, logging.CRITICAL),
        (2, logging.CRITICAL),
        (3, logging.ERROR),
        (4, logging.WARNING),
        (5, logging.WARNING),
        (6, logging.INFO),
        (7, logging.DEBUG),
        (8, logging.DEBUG),
    ],
)
def test_apache_loglevel_maps_to_the_lowest_python_level_it_prints(aplog_level, python_level):
    assert headerparserhandler._python_level(aplog_level) == python_level


def warning_record(message: str, name: str = "root") -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, None, None)


def test_log_handler_outside_a_request_writes_to_the_main_server_log(apache):
    handler = ApacheLogHandler()
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "one\ntwo", None, None)
    handler.emit(record)
    assert apache.logged == [
        ("x: one", fake_mod_python.APLOG_WARNING, apache.main_server),
        ("two", fake_mod_python.APLOG_WARNING, apache.main_server),
    ]


def test_log_handler_uses_the_request_this_thread_serves(apache):
    handler = ApacheLogHandler()
    request = FakeRequest()
    other: list[tuple[str, int, Any]] = []
    headerparserhandler._current.request = request
    try:
        thread = threading.Thread(target=lambda: handler.emit(warning_record("elsewhere")))
        thread.start()
        thread.join(5)
        handler.emit(warning_record("here", "n"))
    finally:
        headerparserhandler._current.request = None
    other.extend(apache.logged)
    assert request.logged == [("n: here", fake_mod_python.APLOG_WARNING)]
    assert other == [("root: elsewhere", fake_mod_python.APLOG_WARNING, apache.main_server)]


def test_log_handler_never_raises_when_apache_refuses_the_line(monkeypatch):
    class Refusing(FakeRequest):
        def log_error(self, message: str, level: int = 3) -> None:
            raise RuntimeError("no log")

    handled: list[logging.LogRecord] = []
    handler = ApacheLogHandler(Refusing())
    monkeypatch.setattr(handler, "handleError", handled.append)
    record = warning_record("lost")
    handler.emit(record)
    assert handled == [record]


def test_current_request_is_forgotten_after_the_request(apache):
    serve(websocket_request("/nothing"))
    assert headerparserhandler._current.request is None


def test_entry_point_without_mod_python_raises_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "mod_python", None)
    with pytest.raises(ImportError):
        headerparserhandler.headerparserhandler(FakeRequest())


def test_first_request_logs_which_frame_masking_runs_and_later_ones_do_not(apache):
    first = websocket_request("/nothing", loglevel=fake_mod_python.APLOG_INFO)
    second = websocket_request("/nothing", loglevel=fake_mod_python.APLOG_INFO)
    serve(first)
    serve(second)
    line = f"mod_pywebsocket._masking: frame masking: {_masking.MASK_IMPLEMENTATION} ({_masking._REASON})"
    assert [entry for entry in first.logged if "frame masking" in entry[0]] == [(line, fake_mod_python.APLOG_INFO)]
    assert [entry for entry in second.logged if "frame masking" in entry[0]] == []
