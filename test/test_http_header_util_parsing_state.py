"""The 0.7 cursor functions of ``http_header_util`` (``ParsingState``, ``peek``, ``consume*``) at their edges."""

from __future__ import annotations

import pytest

from mod_pywebsocket.http_header_util import ParsingState, consume, consume_lws, consume_lwses, consume_string, peek


def test_peek_looks_ahead_without_moving_and_returns_none_past_the_end():
    state = ParsingState("ab")
    assert (peek(state), peek(state, 1), peek(state, 2)) == ("a", "b", None)
    assert state.head == 0


def test_consume_more_than_remains_returns_none_and_does_not_move():
    state = ParsingState("abc")
    assert consume(state, 2) == "ab"
    assert consume(state, 2) is None
    assert state.head == 2
    assert consume(state) == "c"
    assert consume(state) is None
    assert state.head == 3


def test_consume_string_takes_only_a_match_at_the_head():
    state = ParsingState("key=value")
    assert consume_string(state, "=") is False
    assert consume_string(state, "key") is True
    assert consume_string(state, "=v") is True
    assert state.head == 5


@pytest.mark.parametrize(
    ("data", "taken", "head"),
    [
        (" x", True, 1),
        ("\t \tx", True, 3),
        ("\r\n x", True, 3),  # a folded line: CRLF then white space
        ("\r\nx", False, 0),  # CRLF alone ends the field: not LWS
        ("x ", False, 0),
        ("", False, 0),
    ],
)
def test_consume_lws_takes_one_linear_white_space(data, taken, head):
    state = ParsingState(data)
    assert consume_lws(state) is taken
    assert state.head == head


def test_consume_lwses_takes_white_space_across_folded_lines():
    state = ParsingState(" \r\n\t \r\n x")
    consume_lwses(state)
    assert peek(state) == "x"
    assert state.head == 8
