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
    [
        (999, False),
        (1000, True),
        (1003, True),
        (1004, False),
        (1005, False),
        (1006, False),
        (1007, True),
        (1011, True),
        (1014, True),
        (1015, False),
        (1016, False),
        (2999, False),
        (3000, True),
        (4999, True),
        (5000, False),
    ],
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
        # Quoted values that are not tokens are returned unescaped (RFC 9110 §5.6.4).
        ('x-custom; a="b c"; d="e\\"f"', [("x-custom", [("a", "b c"), ("d", 'e"f')])]),
        ('foo; bar=""', [("foo", [("bar", "")])]),
        ('foo; bar=",baz;", next', [("foo", [("bar", ",baz;")]), ("next", [])]),
        ('foo; bar="\\\\"', [("foo", [("bar", "\\")])]),
        ('foo; bar="\t \\\t\\ "', [("foo", [("bar", "\t \t ")])]),
        ('foo; bar="\xbb\\\xbb"', [("foo", [("bar", "\xbb\xbb")])]),  # obs-text, plain and escaped
        ('foo; bar="\u00e9\u20ac"', [("foo", [("bar", "\u00e9\u20ac")])]),  # mod_python decodes UTF-8
        ('foo; bar="\r\n \r\n\tbaz"', [("foo", [("bar", "  baz")])]),  # obs-fold reads as SP
    ],
)
def test_parse_extensions(header, expected):
    parsed = common.parse_extensions(header)
    assert [(e.name(), e.get_parameters()) for e in parsed] == expected


@pytest.mark.parametrize(
    "header",
    [
        "",
        ",",
        "foo;",
        "foo; =1",
        "foo bar",
        "foo; a=",
        "f\u00e9",
        'foo; bar="unterminated',
        'foo; bar="escaped end\\"',
        'foo; bar="a\rb"',
        'foo; bar="a\nb"',
        'foo; bar="\r\nno white space after the fold"',
        'foo; bar="a\x00b"',
        'foo; bar="a\x7fb"',
        'foo; bar="\\\r"',  # RFC 9110: a quoted-pair cannot hold a CTL
        'foo; bar="\\\x00"',
        'foo; bar="a"b',
        "foo; bar=\ra",
    ],
)
def test_parse_extensions_rejects_malformed_values(header):
    with pytest.raises(common.ExtensionParsingException):
        common.parse_extensions(header)


def test_parse_extensions_without_quoted_strings_takes_tokens_only_as_0_7_9_did():
    (parsed,) = common.parse_extensions("foo; bar=baz; q", allow_quoted_string=False)
    assert parsed.get_parameters() == [("bar", "baz"), ("q", None)]
    with pytest.raises(common.ExtensionParsingException, match=r"^no valid parameter value for 'bar' at position 9$"):
        common.parse_extensions('foo; bar="baz"', allow_quoted_string=False)
    with pytest.raises(common.ExtensionParsingException):
        common.parse_extensions('foo; bar="baz"', False)  # 0.7.9 passed it positionally


@pytest.mark.parametrize(
    ("value", "formatted"),
    [
        ("10", "10"),
        ("", '""'),
        ("b c", '"b c"'),
        ('e"f', '"e\\"f"'),
        ("back\\slash", '"back\\\\slash"'),
        (",;=", '",;="'),
        ("\ttab", '"\ttab"'),
        ("\xbb\u00e9", '"\xbb\u00e9"'),
    ],
)
def test_format_extensions_quotes_values_that_are_not_tokens_and_parses_back(value, formatted):
    extension = common.ExtensionParameter("x")
    extension.add_parameter("v", value)
    header = common.format_extensions([extension])
    assert header == f"x; v={formatted}"
    (parsed,) = common.parse_extensions(header)
    assert parsed.get_parameters() == [("v", value)]


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "\x00", "\x1f", "\x7f"])
def test_format_extensions_refuses_a_value_no_quoted_string_can_carry(value):
    extension = common.ExtensionParameter("x")
    extension.add_parameter("v", value)
    with pytest.raises(ValueError, match="holds a control character"):
        common.format_extensions([extension])
    assert repr(extension) == f"ExtensionParameter('x', [('v', {value!r})])"


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
    ("data", "value", "head"),
    [
        ('"" rest', "", 2),
        ('"a b"rest', "a b", 5),
        ('"\\"x" rest', '"x', 5),
        ('"\\\\" rest', "\\", 4),
        ('"\\a\\ \\\t"', "a \t", 8),
        ('"\x80\xff\\\xff"', "\x80\xff\xff", 6),
        ('"\r\n \t x"', " x", 8),
        ('"open', None, 0),
        ('"bad\\', None, 0),
        ('"a\r\nb"', None, 0),
        ('"\\\n"', None, 0),
        ("token", None, 0),
    ],
)
def test_consume_quoted_string_unescapes_and_stops_after_the_closing_quote(data, value, head):
    state = http_header_util.ParsingState(data)
    assert http_header_util.consume_quoted_string(state) == value
    assert state.head == head


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        # Not an absolute ws/wss/http/https URI: returned as the resource, unparsed (0.7.9, pywebsocket3).
        ("/ws/test", (None, None, "/ws/test")),
        ("*", (None, None, "*")),
        ("ftp://h/p", (None, None, "ftp://h/p")),
        ("ws:/no-authority", (None, None, "ws:/no-authority")),
        ("ws://example.com/chat?x=1", ("example.com", 80, "/chat?x=1")),
        ("ws://localhost:10080/ws/test", ("localhost", 10080, "/ws/test")),
        ("wss://example.com:8443", ("example.com", 8443, "/")),
        ("wss://example.com/", ("example.com", 443, "/")),
        ("http://h/p", ("h", 80, "/p")),
        ("https://h/p", ("h", 443, "/p")),
        ("WS://H:0/p", ("h", 0, "/p")),
        ("ws://h?x", ("h", 80, "/?x")),
        ("ws://h/p?#f", ("h", 80, "/p?#f")),
        ("ws://user@[::1]:9/p", ("::1", 9, "/p")),
        ("ws:///", (None, None, None)),
        ("ws://h:99999/", (None, None, None)),
        ("ws://localhost:INVALID_PORT", (None, None, None)),
        ("ws://localhost:-1/ws", (None, None, None)),
    ],
)
def test_parse_uri(uri, expected):
    assert http_header_util.parse_uri(uri) == expected


@pytest.mark.parametrize(
    ("target", "resource"),
    [
        ("/echo?x=1", "/echo?x=1"),
        ("/", "/"),
        ("*", "*"),
        ("//double", "//double"),
        ("ws://127.0.0.1:8880/echo?x=1", "/echo?x=1"),
        ("wss://host/echo", "/echo"),
        ("http://host/a/b?", "/a/b?"),
        ("HTTPS://HOST:443/Echo", "/Echo"),
        ("ws://host", "/"),
        ("ws://host?x", "/?x"),
        ("ws://host/echo#f", "/echo#f"),  # the dispatcher refuses the fragment, as in origin-form
    ],
)
def test_parse_request_target_gives_path_and_query(target, resource):
    assert http_header_util.parse_request_target(target) == resource


@pytest.mark.parametrize("target", ["ftp://host/echo", "urn:echo", "http:/echo", "ws:///echo", "ws://host:x/echo"])
def test_parse_request_target_refuses_absolute_form_naming_no_resource_here(target):
    with pytest.raises(ValueError, match=r"^absolute-form request-target .* is not a ws, wss, http or https URI"):
        http_header_util.parse_request_target(target)


def test_websocket_accept_uuid_gives_the_rfc_6455_sample_accept():
    # RFC 6455 §1.3: key dGhlIHNhbXBsZSBub25jZQ== is answered with s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
    digest = hashlib.sha1(b"dGhlIHNhbXBsZSBub25jZQ==" + common.WEBSOCKET_ACCEPT_UUID).digest()
    assert base64.b64encode(digest) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_loglevel_fine_sits_between_notset_and_debug():
    assert logging.NOTSET < common.LOGLEVEL_FINE < logging.DEBUG


@pytest.mark.parametrize(
    ("code", "sendable"),
    [
        (999, False),
        (1000, True),
        (1004, True),
        (1005, False),
        (1006, False),
        (1014, True),
        (1015, False),
        (1016, True),
        (2999, True),
        (3000, True),
        (4999, True),
        (5000, False),
        (65535, False),
    ],
)
def test_is_sendable_close_code_allows_1000_to_4999_but_the_pseudo_codes(code, sendable):
    assert common.is_sendable_close_code(code) is sendable


def _exception_table():
    from mod_pywebsocket import (
        _standalone_cgi,
        _standalone_http,
        _stream_hybi,
        dispatch,
        handshake,
        headerparserhandler,
        stream,
        util,
    )

    # (exception, close_code, status) as STYLE §2.4 and SPEC §4, §5 say.
    return [
        (stream.ConnectionTerminatedException("x"), None, None),
        (stream.InvalidFrameException("x"), 1002, None),
        (stream.UnsupportedFrameException("x"), 1003, None),
        (stream.InvalidUTF8Exception("x"), 1007, None),
        (stream.MessageTooBigException("x"), 1009, None),
        (stream.MemoryBudgetExceededException("x"), 1013, None),
        (stream.BadOperationException("x"), 1011, None),
        (util.DeflateSizeError("x"), 1009, None),
        (handshake.AbortedByUserException("x"), None, None),
        (handshake.HandshakeException("x"), None, None),
        (handshake.HandshakeException("x", 401), None, 401),
        (handshake.ProtocolMismatchException("x"), None, None),
        (handshake.VersionException("x", "13, 8"), None, 400),
        (dispatch.DispatchException("x"), None, 404),
        (common.ExtensionParsingException("x"), None, 400),
        (headerparserhandler.ConfigurationError("x"), None, 500),
        (_standalone_http.RequestError(431, "x"), None, 431),
        (_standalone_http.IncompleteRequest("x"), None, None),
        (_standalone_cgi.CgiError(403, "x"), None, 403),
        (_stream_hybi._IncompleteHeader("x"), None, None),  # the fast path's signal, caught where raised
    ]


def test_every_exception_of_the_package_is_in_the_table():
    import importlib
    import pkgutil

    import mod_pywebsocket

    found = set()
    for info in pkgutil.walk_packages(mod_pywebsocket.__path__, "mod_pywebsocket."):
        for value in vars(importlib.import_module(info.name)).values():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == info.name:
                found.add(value)
    assert found - {common.WebSocketException} == {type(exc) for exc, _, _ in _exception_table()}


@pytest.mark.parametrize(
    ("exc", "close_code", "status"),
    [pytest.param(*row, id=f"{type(row[0]).__name__}-{row[2]}") for row in _exception_table()],
)
def test_every_exception_carries_its_close_code_and_status_under_one_root(exc, close_code, status):
    assert isinstance(exc, common.WebSocketException)
    assert (exc.close_code, exc.status) == (close_code, status)
    if close_code is not None:
        assert common.is_sendable_close_code(close_code)
