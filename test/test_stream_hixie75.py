"""Tests for _stream_hixie75: the Hixie-75 / HyBi-00 frame codec and stream."""

from __future__ import annotations

import pytest

from mod_pywebsocket import stream as stream_module
from mod_pywebsocket._stream_base import (
    BadOperationException,
    ConnectionTerminatedException,
    InvalidUTF8Exception,
    MessageTooBigException,
)
from mod_pywebsocket._stream_hixie75 import (
    CLOSING_FRAME,
    StreamHixie75,
    build_text_frame,
    parse_frame_length,
)
from test import mock


class PeekingConnection(mock.BufferedFakeConnection):
    """A buffered fake whose ``peek`` counts its calls, may fail, and shows at most ``chunk`` bytes."""

    def __init__(self, data: bytes = b"", chunk: int | None = None, fail: bool = False) -> None:
        super().__init__(data, chunk=chunk)
        self._fail = fail
        self.peek_calls = 0

    def peek(self, length: int) -> bytes:
        self.peek_calls += 1
        if self._fail:
            raise ConnectionResetError("reset by peer")
        if self._chunk is not None:
            length = min(length, self._chunk)
        return self.remaining()[:length]


# Each way a connection may hand the stream its bytes.
CONNECTIONS = {
    "whole": lambda data: mock.FakeConnection(data),
    "one-byte-reads": lambda data: mock.FakeConnection(data, chunk=1, partial_reads=True),
    "peek": lambda data: PeekingConnection(data),
    "peek-one-byte": lambda data: PeekingConnection(data, chunk=1),
}


@pytest.fixture(params=sorted(CONNECTIONS))
def make_connection(request):
    return CONNECTIONS[request.param]


def make_stream(data: bytes = b"", closing: bool = True, connection=None, **kwargs):
    connection = connection if connection is not None else mock.FakeConnection(data)
    request = mock.FakeRequest(connection=connection)
    return StreamHixie75(request, enable_closing_handshake=closing, **kwargs), request, connection


# The pure codec.


@pytest.mark.parametrize(
    ("payload", "frame"),
    [
        (b"", b"\x00\xff"),
        (b"Hello", b"\x00Hello\xff"),
        ("h\u00e9llo \u20ac".encode(), b"\x00h\xc3\xa9llo \xe2\x82\xac\xff"),
        (b"\x00\x7f\xfe", b"\x00\x00\x7f\xfe\xff"),
    ],
)
def test_build_text_frame_wraps_payload_in_0x00_and_0xff(payload, frame):
    assert build_text_frame(payload) == frame


def test_build_text_frame_rejects_payload_containing_0xff():
    with pytest.raises(ValueError, match="0xff at offset 2"):
        build_text_frame(b"ab\xffcd")


@pytest.mark.parametrize(
    ("data", "length"),
    [
        (b"\x00", 0),
        (b"\x05", 5),
        (b"\x7f", 127),
        (b"\x81\x00", 128),
        (b"\x81\x7f", 255),
        (b"\xff\x7f", 16383),
        (b"\x81\x80\x00", 16384),
        (b"\x8f\xff\xff\xff\x7f", 0xFFFFFFFF),
    ],
)
def test_parse_frame_length_reads_7_bit_groups_and_leaves_trailing_bytes(data, length):
    connection = mock.FakeConnection(data + b"rest")
    assert parse_frame_length(connection.read) == length
    assert connection.remaining() == b"rest"


def test_parse_frame_length_over_limit_raises_before_reading_further():
    connection = mock.FakeConnection(b"\x81\x80\x80\x00")
    with pytest.raises(MessageTooBigException, match="at least 16384 bytes exceeds the limit of 1000"):
        parse_frame_length(connection.read, max_length=1000)
    assert connection.remaining() == b"\x00"


def test_stream_module_reexports_stream_hixie75():
    assert stream_module.StreamHixie75 is StreamHixie75


def test_constructor_resets_terminated_flags():
    _, request, _ = make_stream()
    assert request.client_terminated is False
    assert request.server_terminated is False


# Sending.


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        ("Hello", b"\x00Hello\xff"),
        ("", b"\x00\xff"),
        ("h\u00e9llo \u20ac", b"\x00h\xc3\xa9llo \xe2\x82\xac\xff"),
        (b"\xc3\x28 raw", b"\x00\xc3\x28 raw\xff"),
    ],
)
def test_send_message_writes_one_text_frame(message, wire):
    stream, _, connection = make_stream()
    stream.send_message(message)
    assert connection.written == [wire]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"binary": True}, "binary messages are not supported"),
        ({"end": False}, "fragmented messages are not supported"),
    ],
)
def test_send_message_refuses_what_the_drafts_lack(kwargs, error):
    stream, _, connection = make_stream()
    with pytest.raises(BadOperationException, match=error):
        stream.send_message(b"data" if kwargs.get("binary") else "data", **kwargs)
    assert connection.written == []


def test_send_message_refuses_bytes_containing_0xff():
    stream, _, connection = make_stream()
    with pytest.raises(BadOperationException, match="0xff at offset 1"):
        stream.send_message(b"a\xffb")
    assert connection.written == []


@pytest.mark.parametrize("closing", [True, False], ids=["hybi00", "hixie75"])
def test_send_message_after_close_connection_raises(closing):
    stream, _, connection = make_stream(closing=closing)
    stream.close_connection(wait_response=False)
    written = list(connection.written)
    with pytest.raises(BadOperationException, match="after sending out a closing handshake"):
        stream.send_message("late")
    assert connection.written == written


def test_send_ping_is_not_supported():
    stream, _, connection = make_stream()
    with pytest.raises(BadOperationException, match="ping is not supported"):
        stream.send_ping(b"x")
    assert connection.written == []


def test_send_message_write_failure_raises_connection_terminated():
    class BrokenConnection(mock.FakeConnection):
        def write(self, data: bytes) -> None:
            raise BrokenPipeError("broken pipe")

    stream, _, _ = make_stream(connection=BrokenConnection())
    with pytest.raises(ConnectionTerminatedException, match="sending failed"):
        stream.send_message("x")


# Receiving.


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00Hello\xff", "Hello"),
        (b"\x00\xff", ""),
        (b"\x00h\xc3\xa9llo \xe2\x82\xac\xff", "h\u00e9llo \u20ac"),
    ],
)
def test_receive_message_returns_text_and_leaves_trailing_bytes(make_connection, data, message):
    connection = make_connection(data + b"\x00next")
    stream, _, _ = make_stream(connection=connection)
    assert stream.receive_message() == message
    assert connection.remaining() == b"\x00next"


def test_receive_message_returns_messages_in_order(make_connection):
    connection = make_connection(b"\x00one\xff\x00two\xff\x00three\xff")
    stream, _, _ = make_stream(connection=connection)
    assert [stream.receive_message() for _ in range(3)] == ["one", "two", "three"]
    assert connection.remaining() == b""


def test_receive_message_reads_long_text_in_few_calls_with_peek():
    payload = b"x" * 200000
    connection = PeekingConnection(b"\x00" + payload + b"\xff")
    stream, _, _ = make_stream(connection=connection)
    assert stream.receive_message() == payload.decode()
    assert connection.read_calls < 10


@pytest.mark.parametrize(
    "skipped",
    [
        b"\x80\x00",
        b"\x80\x03abc",
        b"\x81\x81\x00" + b"y" * 128,
        b"\xfe\x02\xff\xff",
    ],
    ids=["empty", "short", "two-byte-length", "0xff-in-payload"],
)
def test_receive_message_skips_length_prefixed_frames(make_connection, skipped):
    connection = make_connection(skipped + b"\x00after\xff")
    stream, _, _ = make_stream(connection=connection)
    assert stream.receive_message() == "after"
    assert connection.remaining() == b""


@pytest.mark.parametrize("frame_type", [b"\x01", b"\x42", b"\x7f"])
def test_receive_message_discards_text_frames_of_other_types(make_connection, frame_type):
    # draft-hixie-thewebsocketprotocol-76 §5.3: only type 0x00 is a text message.
    connection = make_connection(frame_type + b"ignored\xff\x00kept\xff")
    stream, _, _ = make_stream(connection=connection)
    assert stream.receive_message() == "kept"


def test_receive_message_logs_text_at_debug_level(caplog):
    stream, _, _ = make_stream(b"\x00Hello\xff")
    with caplog.at_level("DEBUG", logger="mod_pywebsocket._stream_hixie75"):
        assert stream.receive_message() == "Hello"
    assert caplog.messages == ["< text 'Hello'"]


def test_receive_message_rejects_invalid_utf8(make_connection):
    stream, _, _ = make_stream(connection=make_connection(b"\x00\xc3\x28\xff"))
    with pytest.raises(InvalidUTF8Exception, match="not valid UTF-8"):
        stream.receive_message()


def test_receive_message_rejects_text_over_max_size(make_connection):
    stream, _, _ = make_stream(connection=make_connection(b"\x00" + b"a" * 11 + b"\xff"), max_message_size=10)
    with pytest.raises(MessageTooBigException, match="over 10 bytes"):
        stream.receive_message()


def test_receive_message_accepts_text_of_exactly_max_size(make_connection):
    stream, _, _ = make_stream(connection=make_connection(b"\x00" + b"a" * 10 + b"\xff"), max_message_size=10)
    assert stream.receive_message() == "a" * 10


def test_receive_message_rejects_length_prefixed_frame_over_max_size(make_connection):
    stream, _, _ = make_stream(connection=make_connection(b"\x80\x0b" + b"a" * 11), max_message_size=10)
    with pytest.raises(MessageTooBigException, match="at least 11 bytes exceeds the limit of 10"):
        stream.receive_message()


def test_default_max_message_size_is_64_mib():
    stream, _, _ = make_stream(b"\x80\x84\x80\x80\x80\x01")  # 2**26 + 1
    with pytest.raises(MessageTooBigException, match="limit of 67108864"):
        stream.receive_message()


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"\x00partial", b"\x80", b"\x81", b"\x80\x05ab"],
    ids=["nothing", "type-only", "unterminated-text", "no-length", "partial-length", "short-payload"],
)
def test_receive_message_at_eof_raises_connection_terminated(make_connection, data):
    stream, _, _ = make_stream(connection=make_connection(data))
    with pytest.raises(ConnectionTerminatedException):
        stream.receive_message()


def test_receive_message_peek_failure_raises_connection_terminated():
    stream, _, _ = make_stream(connection=PeekingConnection(b"\x00abc\xff", fail=True))
    with pytest.raises(ConnectionTerminatedException, match="receiving failed: reset by peer"):
        stream.receive_message()


# The HyBi-00 closing handshake.


def test_receive_message_answers_client_close_and_returns_none(make_connection):
    connection = make_connection(CLOSING_FRAME + b"trailing")
    stream, request, _ = make_stream(connection=connection)
    assert stream.receive_message() is None
    assert connection.written == [b"\xff\x00"]
    assert request.client_terminated is True
    assert request.server_terminated is True
    assert connection.remaining() == b"trailing"


def test_receive_message_delivers_messages_before_the_close():
    stream, _, connection = make_stream(b"\x00a\xff\x00b\xff\xff\x00")
    assert stream.receive_message() == "a"
    assert stream.receive_message() == "b"
    assert stream.receive_message() is None
    assert connection.written == [b"\xff\x00"]


def test_receive_message_after_client_close_raises():
    stream, _, _ = make_stream(CLOSING_FRAME + b"\x00more\xff")
    assert stream.receive_message() is None
    with pytest.raises(BadOperationException, match="after receiving a closing handshake"):
        stream.receive_message()


def test_send_message_after_client_close_raises():
    stream, _, connection = make_stream(CLOSING_FRAME)
    assert stream.receive_message() is None
    with pytest.raises(BadOperationException):
        stream.send_message("late")
    assert connection.written == [b"\xff\x00"]


def test_close_connection_sends_close_and_waits_for_the_clients(make_connection):
    connection = make_connection(b"\x00dropped\xff" + CLOSING_FRAME + b"after")
    stream, request, _ = make_stream(connection=connection)
    stream.close_connection()
    assert connection.written == [b"\xff\x00"]
    assert request.server_terminated is True
    assert request.client_terminated is True
    assert connection.remaining() == b"after"


def test_close_connection_ignores_rfc6455_code_and_reason():
    # Dispatcher.transfer_data calls close_connection(code, wait_response=False).
    stream, request, connection = make_stream(CLOSING_FRAME)
    stream.close_connection(1002, "protocol error", wait_response=False)
    assert connection.written == [b"\xff\x00"]
    assert connection.remaining() == CLOSING_FRAME
    assert request.client_terminated is False


def test_close_connection_twice_sends_one_close():
    stream, _, connection = make_stream(CLOSING_FRAME)
    stream.close_connection()
    stream.close_connection()
    assert connection.written == [b"\xff\x00"]


def test_close_connection_after_client_close_sends_nothing_more():
    stream, _, connection = make_stream(CLOSING_FRAME)
    assert stream.receive_message() is None
    stream.close_connection()
    assert connection.written == [b"\xff\x00"]


def test_client_close_after_server_close_is_not_answered_again():
    stream, request, connection = make_stream(b"\x00late\xff" + CLOSING_FRAME)
    stream.close_connection(wait_response=False)
    assert stream.receive_message() == "late"
    assert stream.receive_message() is None
    assert connection.written == [b"\xff\x00"]
    assert request.client_terminated is True


def test_close_connection_when_client_vanishes_raises_connection_terminated():
    stream, request, connection = make_stream(b"\x00unanswered\xff")
    with pytest.raises(ConnectionTerminatedException):
        stream.close_connection()
    assert connection.written == [b"\xff\x00"]
    assert request.server_terminated is True


# Hixie-75: no closing handshake.


def test_hixie75_close_connection_sends_nothing():
    stream, request, connection = make_stream(b"\x00unread\xff", closing=False)
    stream.close_connection()
    assert connection.written == []
    assert request.server_terminated is True
    assert connection.remaining() == b"\x00unread\xff"


def test_hixie75_treats_0xff_0x00_as_an_empty_frame_to_skip(make_connection):
    connection = make_connection(CLOSING_FRAME + b"\x00still open\xff")
    stream, request, _ = make_stream(connection=connection, closing=False)
    assert stream.receive_message() == "still open"
    assert connection.written == []
    assert request.client_terminated is False


def test_hixie75_receive_message_at_eof_raises_connection_terminated():
    stream, _, _ = make_stream(b"\x00last\xff", closing=False)
    assert stream.receive_message() == "last"
    with pytest.raises(ConnectionTerminatedException, match="closed by peer"):
        stream.receive_message()


@pytest.mark.parametrize(
    ("wire", "length"),
    [(b"\x00", 0), (b"\x7f", 0x7F), (b"\x81\x00", 0x80), (b"\x80\xa4\x34", 0x1234)],
)
def test_read_payload_length_hixie75_reads_7_bit_groups(wire, length):
    request = mock.FakeRequest(connection=mock.FakeConnection(wire + b"rest"))
    stream = StreamHixie75(request)
    assert stream._read_payload_length_hixie75() == length
    assert request.connection.read(4) == b"rest"
