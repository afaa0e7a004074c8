"""Tests for the RFC 6455 opening handshake (handshake/hybi.py, handshake/__init__.py)."""

from __future__ import annotations

import pytest

from mod_pywebsocket import common, handshake
from mod_pywebsocket.handshake import hybi
from mod_pywebsocket.handshake._base import AbortedByUserException, HandshakeException, VersionException
from test import mock

SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def request_headers(**overrides):
    headers = {
        "Host": "server.example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": SAMPLE_KEY,
        "Origin": "http://example.com",
        "Sec-WebSocket-Version": "13",
    }
    for name, value in overrides.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return headers


def make_request(uri="/chat?x=1", method="GET", protocol="HTTP/1.1", headers=None, **overrides):
    return mock.FakeRequest(
        uri=uri,
        headers=headers if headers is not None else request_headers(**overrides),
        method=method,
        protocol=protocol,
    )


def test_compute_accept_matches_rfc_sample():
    accept, digest = hybi.compute_accept(SAMPLE_KEY.encode())
    assert accept == SAMPLE_ACCEPT.encode()
    assert len(digest) == 20
    assert hybi.compute_accept_from_unicode(SAMPLE_KEY) == SAMPLE_ACCEPT.encode()


def test_build_response_with_every_optional_header_in_order():
    response = hybi.build_response(
        SAMPLE_ACCEPT, "chat", "permessage-deflate; server_no_context_takeover", [("Set-Cookie", "a=1")]
    )
    assert response == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: chat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
        b"Set-Cookie: a=1\r\n"
        b"\r\n"
    )


def test_build_response_sends_no_extensions_header_for_an_empty_value():
    response = hybi.build_response(SAMPLE_ACCEPT, None, "", [])
    assert response == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"\r\n"
    )


def test_handshake_writes_exact_101_response_and_sets_request_attributes():
    request = make_request()
    dispatcher = mock.FakeDispatcher()
    handshake.do_handshake(request, dispatcher)
    assert request.connection.written == [
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"\r\n"
    ]
    assert dispatcher.calls == ["do_extra_handshake"]
    assert request.ws_version == common.VERSION_HYBI13
    assert request.ws_resource == "/chat?x=1"
    assert request.ws_origin == "http://example.com"
    assert request.ws_protocol is None
    assert request.ws_requested_protocols is None
    assert request.ws_requested_extensions is None
    assert request.ws_extensions == []
    assert request.ws_stream is not None
    assert request.client_terminated is False and request.server_terminated is False


def test_version_8_reads_origin_from_sec_websocket_origin():
    request = make_request(Sec_WebSocket_Version="8", Origin=None, Sec_WebSocket_Origin="http://old.example")
    handshake.do_handshake(request, mock.FakeDispatcher())
    assert request.ws_version == common.VERSION_HYBI08
    assert request.ws_origin == "http://old.example"


def test_header_names_and_upgrade_values_are_case_insensitive():
    headers = {
        "host": "h",
        "UPGRADE": "WebSocket",
        "connection": "keep-alive, UPGRADE",
        "sec-websocket-key": SAMPLE_KEY,
        "SEC-WEBSOCKET-VERSION": "13",
    }
    request = make_request(headers=headers)
    handshake.do_handshake(request, mock.FakeDispatcher())
    assert request.ws_origin is None


@pytest.mark.parametrize(
    ("overrides", "kwargs", "message"),
    [
        ({}, {"method": "POST"}, "method 'POST' is not GET"),
        ({}, {"protocol": "HTTP/1.0"}, "protocol 'HTTP/1.0' is not HTTP/1.1"),
        ({"Host": None}, {}, "header Host is not defined"),
        ({"Upgrade": None}, {}, "header Upgrade is not defined"),
        ({"Upgrade": "h2c"}, {}, "Upgrade header is 'h2c'"),
        ({"Connection": None}, {}, "no 'Upgrade' token"),
        ({"Connection": "keep-alive"}, {}, "no 'Upgrade' token"),
        ({"Connection": "Upgradex"}, {}, "no 'Upgrade' token"),
        ({"Sec-WebSocket-Key": None}, {}, "header Sec-WebSocket-Key is not defined"),
        ({"Sec-WebSocket-Key": "not base64!"}, {}, "is not base64"),
        ({"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25j"}, {}, "does not encode 16 bytes"),
        ({"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ"}, {}, "is not base64"),
        ({"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, {}, "does not encode 16 bytes"),
        ({"Sec-WebSocket-Key": "\u00e9" * 24}, {}, "is not base64"),
        ({"Sec-WebSocket-Protocol": "chat, bad/token"}, {}, "bad Sec-WebSocket-Protocol header"),
        ({"Sec-WebSocket-Protocol": ""}, {}, "bad Sec-WebSocket-Protocol header"),
        ({"Sec-WebSocket-Extensions": "foo; =bar"}, {}, "bad Sec-WebSocket-Extensions header"),
        ({"Sec-WebSocket-Extensions": ";"}, {}, "bad Sec-WebSocket-Extensions header"),
    ],
)
def test_malformed_request_gets_400(overrides, kwargs, message):
    request = make_request(**kwargs, **overrides)
    with pytest.raises(HandshakeException, match=message) as info:
        handshake.do_handshake(request, mock.FakeDispatcher())
    assert info.value.status == 400
    assert request.connection.written == []


@pytest.mark.parametrize("version", ["7", "14", "0", "abc", "13, 8", ""])
def test_unsupported_version_gets_400_with_supported_versions(version):
    request = make_request(Sec_WebSocket_Version=version)
    with pytest.raises(VersionException) as info:
        handshake.do_handshake(request, mock.FakeDispatcher())
    assert info.value.status == 400
    assert info.value.supported_versions == "13, 8"


def test_repeated_version_header_gets_400():
    headers = [*list(request_headers().items()), ("Sec-WebSocket-Version", "8")]
    with pytest.raises(VersionException, match="several versions requested"):
        handshake.do_handshake(make_request(headers=headers), mock.FakeDispatcher())


def test_repeated_key_header_gets_400():
    headers = [*list(request_headers().items()), ("Sec-WebSocket-Key", SAMPLE_KEY)]
    with pytest.raises(HandshakeException, match="appears 2 times") as info:
        handshake.do_handshake(make_request(headers=headers), mock.FakeDispatcher())
    assert info.value.status == 400


def test_request_for_no_known_protocol_gets_400():
    request = make_request(Sec_WebSocket_Version=None)
    with pytest.raises(HandshakeException, match="no protocol version accepts the request") as info:
        handshake.do_handshake(request, mock.FakeDispatcher())
    assert info.value.status == 400


def test_handler_selects_subprotocol_sent_back_exactly():
    def select(request):
        assert request.ws_protocol is None
        assert request.ws_requested_protocols == ["chat", "Superchat"]
        request.ws_protocol = "Superchat"

    request = make_request(Sec_WebSocket_Protocol="chat, Superchat")
    handshake.do_handshake(request, mock.FakeDispatcher(select))
    assert b"Sec-WebSocket-Protocol: Superchat\r\n" in request.connection.written[0]


def test_protocols_from_repeated_headers_are_joined():
    headers = [*list(request_headers().items()), ("Sec-WebSocket-Protocol", "a"), ("Sec-WebSocket-Protocol", "b")]
    request = make_request(headers=headers)
    handshake.do_handshake(request, mock.FakeDispatcher(lambda r: setattr(r, "ws_protocol", "b")))
    assert request.ws_requested_protocols == ["a", "b"]


def test_offered_subprotocols_without_selection_get_400():
    request = make_request(Sec_WebSocket_Protocol="chat")
    with pytest.raises(HandshakeException, match="no subprotocol selected") as info:
        handshake.do_handshake(request, mock.FakeDispatcher())
    assert info.value.status == 400


def test_selected_subprotocol_without_offer_gets_400():
    request = make_request()
    with pytest.raises(HandshakeException, match="selected but none was requested") as info:
        handshake.do_handshake(request, mock.FakeDispatcher(lambda r: setattr(r, "ws_protocol", "chat")))
    assert info.value.status == 400


def test_handler_clearing_requested_protocols_accepts_without_protocol_header():
    request = make_request(Sec_WebSocket_Protocol="chat")
    handshake.do_handshake(request, mock.FakeDispatcher(lambda r: setattr(r, "ws_requested_protocols", None)))
    assert b"Sec-WebSocket-Protocol" not in request.connection.written[0]


def test_extra_headers_are_written_after_websocket_headers_in_order_with_duplicates():
    def add_headers(request):
        request.extra_headers.append(("Set-Cookie", "a=1"))
        request.extra_headers.append(("Set-Cookie", "b=2"))
        request.extra_headers.append(("X-Odd", " spaced value "))

    request = make_request()
    handshake.do_handshake(request, mock.FakeDispatcher(add_headers))
    assert request.connection.written[0].endswith(
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Odd:  spaced value \r\n\r\n"
    )


def test_unknown_extensions_are_ignored_but_listed_as_requested():
    request = make_request(Sec_WebSocket_Extensions="x-foo; a=1, x-bar")
    handshake.do_handshake(request, mock.FakeDispatcher())
    assert [e.name() for e in request.ws_requested_extensions] == ["x-foo", "x-bar"]
    assert b"Sec-WebSocket-Extensions" not in request.connection.written[0]


def test_handshake_exception_from_handler_keeps_its_status():
    def refuse(request):
        raise HandshakeException("go away", 401)

    with pytest.raises(HandshakeException) as info:
        handshake.do_handshake(make_request(), mock.FakeDispatcher(refuse))
    assert info.value.status == 401


def test_handshake_exception_from_handler_without_status_gets_400_and_no_second_protocol_try():
    def refuse(request):
        raise HandshakeException("go away")

    dispatcher = mock.FakeDispatcher(refuse)
    with pytest.raises(HandshakeException, match=r"^go away$") as info:
        handshake.do_handshake(make_request(), dispatcher)
    assert info.value.status == 400
    assert dispatcher.calls == ["do_extra_handshake"]


def test_raw_handshake_idiom_writes_handler_bytes_and_nothing_else():
    def raw(request):
        request.connection.write(b"HTTP/1.1 101 Custom\r\n\r\n")
        raise AbortedByUserException("raw")

    request = make_request()
    with pytest.raises(AbortedByUserException):
        handshake.do_handshake(request, mock.FakeDispatcher(raw))
    assert request.connection.written == [b"HTTP/1.1 101 Custom\r\n\r\n"]


def test_ws_resource_uses_unparsed_uri_when_uri_is_only_the_path():
    request = make_request(uri="/chat")
    request.unparsed_uri = "/chat?room=1"
    handshake.do_handshake(request, mock.FakeDispatcher())
    assert request.ws_resource == "/chat?room=1"


# Quoted-string extension parameters (RFC 6455 §9.1, RFC 9110 §5.6.4): an offer
# whose value is not a token once unescaped is unusable, never a 400.

QUOTED_OFFERS = (
    'x-custom; a="b c"; d="e\\"f", '
    'permessage-deflate; server_max_window_bits="1 0", '
    'permessage-deflate; server_max_window_bits="10"'
)


def offered(request):
    return [(e.name(), e.get_parameters()) for e in request.ws_requested_extensions]


@pytest.mark.parametrize("version", ["13", "8"])
def test_offer_with_a_quoted_value_that_is_no_token_is_skipped_for_the_next_offer(version):
    request = make_request(Sec_WebSocket_Version=version, Sec_WebSocket_Extensions=QUOTED_OFFERS)
    handshake.do_handshake(request, mock.FakeDispatcher())
    assert request.connection.written == [
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n"
        b"\r\n"
    ]
    assert offered(request) == [
        ("x-custom", [("a", "b c"), ("d", 'e"f')]),
        ("permessage-deflate", [("server_max_window_bits", "1 0")]),
        ("permessage-deflate", [("server_max_window_bits", "10")]),
    ]
    assert [p.request() for p in request.ws_extension_processors] == [request.ws_requested_extensions[2]]


def test_unusable_offers_alone_leave_the_handshake_without_extensions():
    request = make_request(Sec_WebSocket_Extensions='x-unknown; v="\\\\", permessage-deflate; x="a,b"')
    handshake.do_handshake(request, mock.FakeDispatcher())
    assert b"Sec-WebSocket-Extensions" not in request.connection.written[0]
    assert request.ws_extensions == []
    assert offered(request) == [("x-unknown", [("v", "\\")]), ("permessage-deflate", [("x", "a,b")])]


@pytest.mark.parametrize("value", ['x; a="open', 'x; a="\\\r"', 'x; a="b"c'])
def test_malformed_quoted_string_in_extensions_header_gets_400(value):
    with pytest.raises(HandshakeException, match=r"^bad Sec-WebSocket-Extensions header: ") as info:
        handshake.do_handshake(make_request(Sec_WebSocket_Extensions=value), mock.FakeDispatcher())
    assert info.value.status == 400


# RFC 9112 §3.2.2: a request-target in absolute form names the resource of its
# path and query.


@pytest.mark.parametrize(
    "target",
    [
        "ws://server.example.com/chat?x=1",
        "wss://server.example.com:8443/chat?x=1",
        "http://server.example.com/chat?x=1",
        "HTTPS://other.example/chat?x=1",
    ],
)
def test_absolute_form_target_gives_ws_resource_its_path_and_query(target):
    request = make_request(uri=target)
    handshake.do_handshake(request, mock.FakeDispatcher())
    assert request.ws_resource == "/chat?x=1"
    assert request.connection.written[0].startswith(b"HTTP/1.1 101 Switching Protocols\r\n")


def test_absolute_form_target_without_path_is_the_root_resource():
    request = make_request(uri="ws://server.example.com")
    handshake.do_handshake(request, mock.FakeDispatcher())
    assert request.ws_resource == "/"


@pytest.mark.parametrize("target", ["ftp://server.example.com/chat", "ws:///chat"])
def test_absolute_form_target_naming_no_resource_here_gets_400(target):
    request = make_request(uri=target)
    dispatcher = mock.FakeDispatcher()
    with pytest.raises(HandshakeException, match=r"^absolute-form request-target ") as info:
        handshake.do_handshake(request, dispatcher)
    assert info.value.status == 400
    assert dispatcher.calls == []
    assert request.connection.written == []
