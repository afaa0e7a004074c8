"""``handshake.base.get_header_values`` over every kind of headers object, and ``validate_subprotocol``."""

from __future__ import annotations

import email.message
from types import SimpleNamespace

import pytest

from mod_pywebsocket.handshake.base import HandshakeException, get_header_values, validate_subprotocol
from test.fake_mod_python import FakeTable


def request_with(headers: object) -> SimpleNamespace:
    return SimpleNamespace(headers_in=headers)


def test_headers_with_get_all_give_every_value_in_order():
    headers = email.message.Message()
    headers["Sec-WebSocket-Protocol"] = "chat"
    headers["sec-websocket-protocol"] = "superchat"
    assert get_header_values(request_with(headers), "Sec-WebSocket-Protocol") == ["chat", "superchat"]
    assert get_header_values(request_with(headers), "Origin") == []


def test_mod_python_table_without_get_all_gives_the_value_it_returns():
    headers = FakeTable([("Sec-WebSocket-Protocol", "chat")])
    assert get_header_values(request_with(headers), "sec-websocket-protocol") == ["chat"]
    assert get_header_values(request_with(headers), "Origin") == []


def test_mapping_whose_get_returns_a_list_gives_that_list():
    headers = {"Sec-WebSocket-Protocol": ("chat", "superchat")}
    assert get_header_values(request_with(headers), "Sec-WebSocket-Protocol") == ["chat", "superchat"]


def test_value_mod_python_cannot_decode_raises_400():
    headers = FakeTable([("Sec-WebSocket-Protocol", b"\xe9t\xe9")])
    with pytest.raises(HandshakeException) as info:
        get_header_values(request_with(headers), "Sec-WebSocket-Protocol")
    assert str(info.value) == (
        "header Sec-WebSocket-Protocol is not valid text: "
        "'utf-8' codec can't decode byte 0xe9 in position 0: invalid continuation byte"
    )
    assert info.value.status == 400


def test_validate_subprotocol_accepts_a_token():
    validate_subprotocol("chat.v2")


@pytest.mark.parametrize("name", ["", "two words", "semi;colon", "caf\u00e9"])
def test_validate_subprotocol_refuses_anything_but_a_token(name):
    with pytest.raises(HandshakeException, match=r"^invalid subprotocol name ") as info:
        validate_subprotocol(name)
    assert str(info.value) == f"invalid subprotocol name {name!r}"
