"""Tests for common.py and http_header_util.py: constants and header grammar."""

from __future__ import annotations

import base64
import hashlib
import logging

import pytest

from mod_pywebsocket import common, http_header_util


def test_old_and_new_status_spellings_are_the_same_codes():
    assert common.STATUS_NORMAL == common.STATUS_NORMAL_CLOSURE == 1000
    assert common.STATUS_UNSUPPORTED == common.STATUS_UNSUPPORTED_DATA == 1003
    assert common.STATUS_CODE_NOT_AVAILABLE == common.STATUS_NO_STATUS_RECEIVED == 1005
    assert common.STATUS_ABNORMAL_CLOSE == common.STATUS_ABNORMAL_CLOSURE == 1006
    assert common.STATUS_INVALID_FRAME_PAYLOAD == common.STATUS_INVALID_FRAME_PAYLOAD_DATA == 1007
    assert common.STATUS_MANDATORY_EXT == common.STATUS_MANDATORY_EXTENSION == 1010
    assert common.STATUS_INTERNAL_ENDPOINT_ERROR == 1011


def test_opcodes_and_versions():
    assert [common.OPCODE_CONTINUATION, common.OPCODE_TEXT, common.OPCODE_BINARY] == [0, 1, 2]
    assert [common.OPCODE_CLOSE, common.OPCODE_PING, common.OPCODE_PONG] == [8, 9, 10]
    assert (common.VERSION_HYBI13, common.VERSION_HYBI08, common.VERSION_HYBI00, common.VERSION_HIXIE75) == (
        13,
        8,
        0,
        -1,
    )
    assert common.is_control_opcode(8) and not common.is_control_opcode(2)


@pytest.mark.parametrize(
    ("code", "valid"),
    [(999, False), (1000, True), (1003, True), (1004, False), (1005, False), (1006, False), (1007, True),
     (1011, True), (1014, True), (1015, False), (1016, False), (2999, False), (3000, True), (4999, True),
     (5000, False)],
)
def test_is_valid_close_code(code, valid):
    assert common.is_valid_close_code(code) is valid


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("permessage-deflate", [("permessage-deflate", [])]),
        (
            "permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=10",
            [
                ("permessage-deflate", [("client_max_window_bits", None)]),
                ("permessage-deflate", [("server_max_window_bits", "10")]),
            ],
        ),
        ('foo; a="b" ;c = d,,bar', [("foo", [("a", "b"), ("c", "d")]), ("bar", [])]),
        ('x; q="1\\0"', [("x", [("q", "10")])]),
    ],
)
def test_parse_extensions(header, expected):
    parsed = common.parse_extensions(header)
    assert [(e.name(), e.get_parameters()) for e in parsed] == expected


@pytest.mark.parametrize("header", ["", ",", "foo;", "foo; =1", "foo bar", 'foo; a="not token"', "foo; a=", "f\u00e9"])
def test_parse_extensions_rejects_malformed_values(header):
    with pytest.raises(common.ExtensionParsingException):
        common.parse_extensions(header)


def test_format_extensions_quotes_only_when_needed():
    first = common.ExtensionParameter("permessage-deflate")
    first.add_parameter("server_no_context_takeover", None)
    first.add_parameter("client_max_window_bits", "10")
    second = common.ExtensionParameter("x")
    second.add_parameter("v", "a b")
    assert common.format_extensions([first, second]) == (
        'permessage-deflate; server_no_context_takeover; client_max_window_bits=10, x; v="a b"'
    )


def test_extension_parameter_accessors():
    extension = common.ExtensionParameter("e")
    extension.add_parameter("a", None)
    extension.add_parameter("b", "2")
    assert extension.name() == "e"
    assert extension.get_parameter_names() == ["a", "b"]
    assert extension.has_parameter("b") and not extension.has_parameter("c")
    assert extension.get_parameter_value("b") == "2"
    assert extension.get_parameter_value("a") is None


def test_token_and_quoted_string_consumers():
    state = http_header_util.ParsingState('tok "q\\"s" rest')
    assert http_header_util.consume_token(state) == "tok"
    http_header_util.consume_lwses(state)
    assert http_header_util.consume_token_or_quoted_string(state) == 'q"s'
    assert http_header_util.consume_string(state, " ")
    assert http_header_util.consume(state, 4) == "rest"
    assert http_header_util.peek(state) is None
    assert http_header_util.consume_quoted_string(http_header_util.ParsingState('"open')) is None


def test_quote_if_necessary():
    assert http_header_util.quote_if_necessary("token") == "token"
    assert http_header_util.quote_if_necessary('a "b"') == '"a \\"b\\""'


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("ws://example.com/chat?x=1", ("example.com", 80, "/chat?x=1")),
        ("wss://example.com:8443", ("example.com", 8443, "/")),
        ("https://h/p", ("h", 443, "/p")),
        ("ftp://h/p", (None, None, None)),
        ("ws://h:99999/", (None, None, None)),
    ],
)
def test_parse_uri(uri, expected):
    assert http_header_util.parse_uri(uri) == expected


def test_websocket_accept_uuid_gives_the_rfc_6455_sample_accept():
    # RFC 6455 §1.3: key dGhlIHNhbXBsZSBub25jZQ== is answered with s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
    digest = hashlib.sha1(b"dGhlIHNhbXBsZSBub25jZQ==" + common.WEBSOCKET_ACCEPT_UUID).digest()
    assert base64.b64encode(digest) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_loglevel_fine_sits_between_notset_and_debug():
    assert logging.NOTSET < common.LOGLEVEL_FINE < logging.DEBUG
