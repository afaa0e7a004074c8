"""What the two legacy handshakers (handshake/draft75.py and handshake/hybi00.py) do alike.

Each test runs over both samples of test/legacy_handshake.py: Hixie-75's and
HyBi-00's, each with its own request and exact answer. What only one of them
does is tested in test_handshake_draft75.py or test_handshake_hybi00.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from mod_pywebsocket._stream_hixie75 import StreamHixie75
from mod_pywebsocket.handshake._base import AbortedByUserException, HandshakeException
from test import mock
from test.legacy_handshake import HIXIE75, HYBI00, LEGACY, Legacy


def legacy_id(value: Any) -> str | None:
    """Name a ``Legacy`` parameter by its handshake; other parameters get pytest's ids."""
    return value.name if isinstance(value, Legacy) else None


over_both = pytest.mark.parametrize("legacy", LEGACY, ids=legacy_id)


@over_both
def test_do_handshake_sets_the_request_attributes(legacy):
    request = legacy.make_request(data=legacy.challenge + b"\x00Hi\xff")
    dispatcher = legacy.do_handshake(request)
    assert request.ws_version == legacy.version
    assert request.ws_resource == "/demo"
    assert request.ws_origin == "http://example.com"
    assert request.ws_location == "ws://example.com/demo"
    assert request.ws_protocol == "sample"
    assert request.ws_requested_protocols is None
    assert request.ws_extensions is None
    assert request.ws_requested_extensions is None
    assert request.ws_extension_processors == []
    assert request.ws_deflate is False
    assert {name: getattr(request, name) for name in legacy.attributes} == legacy.attributes
    assert request._dispatcher is dispatcher
    assert dispatcher.calls == ["do_extra_handshake"]
    assert isinstance(request.ws_stream, StreamHixie75)
    # Nothing after the challenge (Hixie-75 has none) was read.
    assert request.connection.remaining() == b"\x00Hi\xff"


@pytest.mark.parametrize(("legacy", "uri"), [(HIXIE75, "/demo?q=1"), (HYBI00, "/demo")], ids=legacy_id)
def test_do_handshake_over_tls_answers_a_wss_location(legacy, uri):
    request = legacy.make_request(uri=uri, is_https=True)
    legacy.do_handshake(request)
    assert request.ws_location == f"wss://example.com{uri}"
    assert request.connection.written == [legacy.expected(f"wss://example.com{uri}")]


@over_both
def test_do_handshake_without_protocol_sends_no_protocol_header(legacy):
    protocol_header = legacy.protocol_line.split(b":")[0].decode()
    request = legacy.make_request(mock.replace_header(legacy.headers, protocol_header, None))
    legacy.do_handshake(request)
    assert request.ws_protocol is None
    assert request.connection.written == [legacy.expected(protocol=False)]


@pytest.mark.parametrize(("legacy", "protocol"), [(HIXIE75, ""), (HYBI00, "two words")], ids=legacy_id)
def test_do_handshake_handler_choosing_an_invalid_protocol_gets_400(legacy, protocol):
    def bad(request):
        request.ws_protocol = protocol

    request = legacy.make_request()
    with pytest.raises(HandshakeException, match="invalid subprotocol") as info:
        legacy.do_handshake(request, mock.FakeDispatcher(bad))
    assert info.value.status == 400
    assert request.connection.written == []


@over_both
def test_do_handshake_gives_a_request_without_extra_headers_an_empty_list(legacy):
    request = legacy.make_request()
    del request.extra_headers
    legacy.do_handshake(request)
    assert request.extra_headers == []
    assert request.connection.written == [legacy.response]


@over_both
def test_do_handshake_bytes_the_handler_writes_go_out_before_the_response(legacy):
    def write_raw(request):
        request.connection.write(b"raw bytes first")

    request = legacy.make_request()
    legacy.do_handshake(request, mock.FakeDispatcher(write_raw))
    assert request.connection.written == [b"raw bytes first", legacy.response]


@over_both
@pytest.mark.parametrize(
    "error", [HandshakeException("go away", 403), AbortedByUserException("aborted")], ids=["handshake-403", "aborted"]
)
def test_do_handshake_handler_refusal_propagates_and_nothing_is_written(legacy, error):
    def refuse(request):
        raise error

    request = legacy.make_request()
    with pytest.raises(type(error)) as info:
        legacy.do_handshake(request, mock.FakeDispatcher(refuse))
    assert info.value is error
    assert request.connection.written == []


@pytest.mark.parametrize(
    ("legacy", "change", "error"),
    [
        (HIXIE75, {"Connection": None}, "no 'Upgrade' token"),
        (HIXIE75, {"Connection": "close"}, "no 'Upgrade' token"),
        (HIXIE75, {"Host": None}, "header Host is not defined"),
        (HIXIE75, {"Origin": None}, "header Origin is not defined"),
        (HIXIE75, {"WebSocket-Protocol": "caf\u00e9"}, "invalid subprotocol"),
        (HYBI00, {"Sec-WebSocket-Key2": None}, "header Sec-WebSocket-Key2 is not defined"),
        (HYBI00, {"Sec-WebSocket-Key1": "829309203"}, "has no spaces"),
        (HYBI00, {"Sec-WebSocket-Key2": "1 2 3"}, "not a multiple of 2 spaces"),
        (HYBI00, {"Sec-WebSocket-Key1": "4294967296 "}, "exceeds 4294967295"),
        (HYBI00, {"Sec-WebSocket-Key1": "no digits here"}, "has no digits"),
        (HYBI00, {"Upgrade": None}, "header Upgrade is not defined"),
        (HYBI00, {"Upgrade": "HTTP/2"}, "Upgrade header is 'HTTP/2'"),
        (HYBI00, {"Connection": None}, "no 'Upgrade' token"),
        (HYBI00, {"Connection": "keep-alive"}, "no 'Upgrade' token"),
        (HYBI00, {"Connection": "Upgrade;x"}, "no 'Upgrade' token"),
        (HYBI00, {"Host": None}, "header Host is not defined"),
        (HYBI00, {"Origin": None}, "header Origin is not defined"),
        (HYBI00, {"Sec-WebSocket-Protocol": "two words"}, "invalid subprotocol 'two words'"),
    ],
    ids=legacy_id,
)
def test_do_handshake_with_malformed_request_returns_400(legacy, change, error):
    headers = legacy.headers
    for name, value in change.items():
        headers = mock.replace_header(headers, name, value)
    request = legacy.make_request(headers)
    dispatcher = mock.FakeDispatcher()
    with pytest.raises(HandshakeException, match=error) as info:
        legacy.do_handshake(request, dispatcher)
    assert info.value.status == 400
    assert dispatcher.calls == []
    assert request.connection.written == []
    # A rejected request leaves the challenge unread.
    assert request.connection.remaining() == legacy.challenge


@pytest.mark.parametrize(
    ("legacy", "kwargs", "error"),
    [
        (HIXIE75, {"method": "HEAD"}, "method 'HEAD' is not GET"),
        (HIXIE75, {"protocol": "HTTP/1.0"}, "'HTTP/1.0' is not HTTP/1.1"),
        (HYBI00, {"method": "POST"}, "method 'POST' is not GET"),
        (HYBI00, {"protocol": "HTTP/1.0"}, "'HTTP/1.0' is not HTTP/1.1"),
    ],
    ids=legacy_id,
)
def test_do_handshake_with_bad_request_line_returns_400(legacy, kwargs, error):
    request = legacy.make_request(**kwargs)
    with pytest.raises(HandshakeException, match=error) as info:
        legacy.do_handshake(request)
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("legacy", "target"),
    [
        (HIXIE75, "ws://example.com/demo"),
        (HIXIE75, "https://other.example/demo"),
        (HYBI00, "ws://example.com/demo"),
        (HYBI00, "http://other.example:8080/demo"),
    ],
    ids=legacy_id,
)
def test_do_handshake_with_absolute_form_target_builds_location_from_host_and_path(legacy, target):
    request = legacy.make_request(uri=target)
    legacy.do_handshake(request)
    assert request.ws_resource == "/demo"
    assert request.connection.written == [legacy.response]
