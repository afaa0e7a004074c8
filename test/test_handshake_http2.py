"""The RFC 8441 handshaker of the standalone server's HTTP/2 mode (``handshake._http2``), without I/O."""

from __future__ import annotations

import pytest

from mod_pywebsocket import common, stream
from mod_pywebsocket.handshake import HandshakeException, VersionException
from mod_pywebsocket.handshake._http2 import Handshaker, build_response_headers
from test import mock

PSEUDO = {
    ":method": "CONNECT",
    ":protocol": "websocket",
    ":scheme": "https",
    ":path": "/echo?room=1",
    ":authority": "a.test",
}
FIELDS = {
    "sec-websocket-version": "13",
    "sec-websocket-protocol": "chat, superchat",
    "sec-websocket-extensions": "permessage-deflate; client_max_window_bits",
    "origin": "https://a.test",
}


def h2_request(
    pseudo: dict[str, str | None] | None = None, fields: dict[str, str | None] | None = None
) -> mock.FakeRequest:
    """A request as ``_standalone_h2`` builds it: pseudo-header fields apart, the others in ``headers_in``."""
    merged_pseudo = {k: v for k, v in {**PSEUDO, **(pseudo or {})}.items() if v is not None}
    merged_fields = {k: v for k, v in {**FIELDS, **(fields or {})}.items() if v is not None}
    request = mock.FakeRequest(
        merged_pseudo.get(":path", ""), merged_fields, method=merged_pseudo.get(":method", ""), protocol="HTTP/2"
    )
    request.pseudo_headers = merged_pseudo  # type: ignore[attr-defined]
    return request


def choose_chat(request) -> None:
    request.ws_protocol = "chat"


def test_success_leaves_status_200_and_exact_fields_and_writes_nothing():
    request = h2_request()
    Handshaker(request, mock.FakeDispatcher(choose_chat)).do_handshake()
    assert request.status == 200
    assert request.headers_out == [
        (":status", "200"),
        ("sec-websocket-protocol", "chat"),
        ("sec-websocket-extensions", "permessage-deflate"),
    ]
    assert request.connection.written == []
    assert (request.ws_version, request.ws_resource, request.ws_origin) == (13, "/echo?room=1", "https://a.test")
    assert isinstance(request.ws_stream, stream.Stream)


@pytest.mark.parametrize(
    ("pseudo", "fields", "status", "message"),
    [
        ({":method": "GET"}, {}, 405, ":method is 'GET', not 'CONNECT'"),
        ({":protocol": None}, {}, 405, "CONNECT without :protocol"),
        ({":protocol": "webtransport"}, {}, 501, ":protocol is 'webtransport', not 'websocket'"),
        ({":path": None}, {}, 400, "extended CONNECT without :path"),
        ({":scheme": None}, {}, 400, "extended CONNECT without :scheme"),
        ({":authority": None}, {}, 400, "extended CONNECT without :authority"),
        ({}, {"sec-websocket-version": None}, 400, "no sec-websocket-version header"),
        ({}, {"sec-websocket-protocol": "chat, bad/token"}, 400, "bad sec-websocket-protocol header"),
    ],
)
def test_bad_extended_connect_gets_its_status(pseudo, fields, status, message):
    request = h2_request(pseudo, fields)
    with pytest.raises(HandshakeException, match=message) as info:
        Handshaker(request, mock.FakeDispatcher(choose_chat)).do_handshake()
    assert info.value.status == status
    assert not hasattr(request, "headers_out")


def test_unsupported_version_is_a_version_exception_naming_the_supported_ones():
    with pytest.raises(VersionException) as info:
        Handshaker(h2_request(fields={"sec-websocket-version": "7"}), mock.FakeDispatcher(choose_chat)).do_handshake()
    assert (info.value.status, info.value.supported_versions) == (400, "13, 8")


def test_protocol_token_is_case_insensitive():
    request = h2_request({":protocol": "WebSocket"})
    Handshaker(request, mock.FakeDispatcher(choose_chat)).do_handshake()
    assert request.status == 200


def test_response_fields_drop_connection_specific_extra_headers_and_lowercase_the_rest():
    assert build_response_headers(
        None, None, [("Set-Cookie", "a=1"), ("Connection", "x"), ("Upgrade", "websocket")]
    ) == [
        (":status", "200"),
        ("set-cookie", "a=1"),
    ]


def test_version_8_uses_sec_websocket_origin():
    request = h2_request(
        fields={"sec-websocket-version": "8", "origin": None, "sec-websocket-origin": "https://b.test"}
    )
    Handshaker(request, mock.FakeDispatcher(choose_chat)).do_handshake()
    assert (request.ws_version, request.ws_origin) == (common.VERSION_HYBI08, "https://b.test")
