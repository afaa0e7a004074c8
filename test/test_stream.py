"""Tests for the RFC 6455 frame codec and Stream (_stream_hybi, _stream_base)."""

from __future__ import annotations

import gc
import logging
import struct
import weakref

import pytest

from mod_pywebsocket import common
from mod_pywebsocket._message_assembler import MessageAssembler
from mod_pywebsocket._stream_hybi import (
    Frame,
    FrameHeader,
    Stream,
    StreamOptions,
    _decode_header,
    _IncompleteHeader,
    create_binary_frame,
    create_close_frame,
    create_closing_handshake_body,
    create_header,
    create_ping_frame,
    create_pong_frame,
    create_text_frame,
    parse_close_body,
    parse_frame,
    serialize_frame,
)
from mod_pywebsocket.extensions import PerMessageDeflateCodec
from mod_pywebsocket.stream import (
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
    InvalidUTF8Exception,
    MessageTooBigException,
)
from test import mock

KEY = b"\x37\xfa\x21\x3d"  # the masking key of RFC 6455 §5.7


def client_frame(opcode: int, payload: bytes, fin: int = 1, rsv1: int = 0, key: bytes = KEY) -> bytes:
    return serialize_frame(Frame(fin, rsv1, 0, 0, opcode, payload), key)


def reader(data: bytes, chunk: int | None = None):
    connection = mock.FakeConnection(data, chunk=chunk)

    def read_exact(n: int) -> bytes:
        result = connection.read(n)
        if len(result) < n:
            raise ConnectionTerminatedException("eof")
        return result

    return read_exact, connection


def make_stream(data: bytes = b"", chunk: int | None = None, options: StreamOptions | None = None, dispatcher=None):
    request = mock.FakeRequest(connection=mock.FakeConnection(data, chunk=chunk))
    passive = dispatcher.passive_closing_handshake if dispatcher is not None else None
    return Stream(request, options or StreamOptions(), passive), request


# RFC 6455 §5.7 examples: (wire bytes, frame, mask key).
RFC_EXAMPLES = [
    pytest.param(b"\x81\x05Hello", Frame(1, 0, 0, 0, 1, b"Hello"), None, id="unmasked-text"),
    pytest.param(
        b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", Frame(1, 0, 0, 0, 1, b"Hello"), KEY, id="masked-text"
    ),
    pytest.param(b"\x01\x03Hel", Frame(0, 0, 0, 0, 1, b"Hel"), None, id="first-fragment"),
    pytest.param(b"\x80\x02lo", Frame(1, 0, 0, 0, 0, b"lo"), None, id="last-fragment"),
    pytest.param(b"\x89\x05Hello", Frame(1, 0, 0, 0, 9, b"Hello"), None, id="unmasked-ping"),
    pytest.param(
        b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", Frame(1, 0, 0, 0, 10, b"Hello"), KEY, id="masked-pong"
    ),
    pytest.param(b"\x82\x7e\x01\x00" + b"\xaa" * 256, Frame(1, 0, 0, 0, 2, b"\xaa" * 256), None, id="256-binary"),
    pytest.param(
        b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00" + b"\x55" * 65536,
        Frame(1, 0, 0, 0, 2, b"\x55" * 65536),
        None,
        id="64k-binary",
    ),
]


@pytest.mark.parametrize(("wire", "frame", "key"), RFC_EXAMPLES)
def test_serialize_frame_matches_rfc_example(wire, frame, key):
    assert serialize_frame(frame, key) == wire


@pytest.mark.parametrize(("wire", "frame", "key"), RFC_EXAMPLES)
@pytest.mark.parametrize("chunk", [None, 1])
def test_parse_frame_reads_rfc_example_whole_or_byte_by_byte_leaving_trailing_data(wire, frame, key, chunk):
    read_exact, connection = reader(wire + b"TRAILING", chunk)
    assert parse_frame(read_exact, expect_mask=key is not None) == frame
    assert connection.remaining() == b"TRAILING"


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, b"\x82\x00"),
        (125, b"\x82\x7d"),
        (126, b"\x82\x7e\x00\x7e"),
        (65535, b"\x82\x7e\xff\xff"),
        (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_length_boundaries_round_trip_with_minimal_encoding(length, header):
    payload = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    frame = Frame(1, 0, 0, 0, 2, payload)
    assert serialize_frame(frame) == header + payload
    masked = serialize_frame(frame, KEY)
    read_exact, _ = reader(masked)
    assert parse_frame(read_exact) == frame


def test_create_header_accepts_positional_and_keyword_arguments():
    assert create_header(common.OPCODE_TEXT, 5, 1, 0, 0, 0, False) == b"\x81\x05"
    assert create_header(opcode=2, payload_length=126, fin=0, rsv1=1, rsv2=0, rsv3=1, mask=True) == b"\x52\xfe\x00\x7e"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"opcode": 16, "payload_length": 0, "fin": 1, "rsv1": 0, "rsv2": 0, "rsv3": 0, "mask": False},
        {"opcode": 1, "payload_length": -1, "fin": 1, "rsv1": 0, "rsv2": 0, "rsv3": 0, "mask": False},
        {"opcode": 1, "payload_length": 1 << 63, "fin": 1, "rsv1": 0, "rsv2": 0, "rsv3": 0, "mask": False},
        {"opcode": 1, "payload_length": 0, "fin": 2, "rsv1": 0, "rsv2": 0, "rsv3": 0, "mask": False},
    ],
)
def test_create_header_rejects_out_of_range_fields(kwargs):
    with pytest.raises(ValueError):
        create_header(**kwargs)


def test_frame_builders_produce_exact_unmasked_bytes():
    assert create_text_frame("Hello") == b"\x81\x05Hello"
    assert create_text_frame("Hel", fin=0) == b"\x01\x03Hel"
    assert create_text_frame("lo", opcode=common.OPCODE_CONTINUATION) == b"\x80\x02lo"
    assert create_binary_frame(b"\x00\xff") == b"\x82\x02\x00\xff"
    assert create_ping_frame(b"hi") == b"\x89\x02hi"
    assert create_pong_frame(b"hi") == b"\x8a\x02hi"
    assert create_close_frame(create_closing_handshake_body(1000, "bye")) == b"\x88\x05\x03\xe8bye"


def test_masked_frame_builder_output_parses_back():
    read_exact, _ = reader(create_text_frame("h\u00e9llo", mask=True))
    assert parse_frame(read_exact) == Frame(1, 0, 0, 0, 1, "h\u00e9llo".encode())


def test_frame_builders_apply_frame_filters():
    class SetRsv3:
        def filter(self, frame):
            frame.rsv3 = 1

    assert create_text_frame("a", frame_filters=[SetRsv3()]) == b"\x91\x01a"


@pytest.mark.parametrize(
    ("code", "reason", "body"),
    [(None, "", b""), (1000, "", b"\x03\xe8"), (4999, "\u00e9", b"\x13\x87\xc3\xa9"), (1001, b"raw", b"\x03\xe9raw")],
)
def test_create_closing_handshake_body(code, reason, body):
    assert create_closing_handshake_body(code, reason) == body


def test_create_closing_handshake_body_rejects_reason_without_code():
    with pytest.raises(BadOperationException, match="reason given without a close code"):
        create_closing_handshake_body(None, "why")


@pytest.mark.parametrize(
    ("body", "expected"),
    [(b"", (None, None)), (b"\x03\xe8", (1000, "")), (b"\x0f\xa0bye", (4000, "bye")), (b"\x03\xf3", (1011, ""))],
)
def test_parse_close_body_accepts_valid_bodies(body, expected):
    assert parse_close_body(body) == expected


@pytest.mark.parametrize(
    ("body", "exception", "message"),
    [
        (b"\x03", InvalidFrameException, "close frame body of 1 byte"),
        (b"\x03\xe7", InvalidFrameException, "invalid close code 999"),
        (b"\x03\xed", InvalidFrameException, "invalid close code 1005"),
        (b"\x03\xee", InvalidFrameException, "invalid close code 1006"),
        (b"\x03\xf7", InvalidFrameException, "invalid close code 1015"),
        (b"\x07\xd0", InvalidFrameException, "invalid close code 2000"),
        (b"\x13\x88", InvalidFrameException, "invalid close code 5000"),
        (b"\x03\xe8\xff", InvalidUTF8Exception, "close reason is not valid UTF-8"),
    ],
)
def test_parse_close_body_rejects_invalid_bodies(body, exception, message):
    with pytest.raises(exception, match=message):
        parse_close_body(body)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x81\x05Hello", "mask bit is 0, expected 1"),
        (b"\x83\x80" + KEY, "invalid opcode 0x3"),
        (b"\x8b\x80" + KEY, "invalid opcode 0xb"),
        (b"\x89\xfe\x00\x7e" + KEY, "control frame payload of 126 bytes exceeds 125"),
        (b"\x09\x80" + KEY, "fragmented control frame"),
        (b"\x82\xfe\x00\x05" + KEY, "payload length 5 not in minimal encoding"),
        (b"\x82\xff" + struct.pack("!Q", 0xFFFF) + KEY, "payload length 65535 not in minimal encoding"),
        (b"\x82\xff" + struct.pack("!Q", 1 << 63) + KEY, "most significant bit"),
    ],
)
def test_parse_frame_rejects_malformed_headers(wire, message):
    read_exact, _ = reader(wire)
    with pytest.raises(InvalidFrameException, match=message):
        parse_frame(read_exact, expect_mask=True)


def test_parse_frame_rejects_huge_length_before_reading_payload():
    read_exact, connection = reader(b"\x82\xff" + struct.pack("!Q", (1 << 63) - 1) + KEY + b"PAYLOAD")
    with pytest.raises(MessageTooBigException, match="exceeds the limit of 1024"):
        parse_frame(read_exact, max_payload_length=1024)
    assert connection.remaining() == b"PAYLOAD"  # the payload was never read


# Stream: receiving.


@pytest.mark.parametrize("chunk", [None, 1])
def test_receive_message_returns_text_and_binary_and_leaves_trailing_bytes(chunk):
    data = client_frame(1, "h\u00e9".encode()) + client_frame(2, b"\x00\xff") + b"\x81"
    stream, request = make_stream(data, chunk)
    assert stream.receive_message() == "h\u00e9"
    assert stream.get_last_received_opcode() == common.OPCODE_TEXT
    assert stream.receive_message() == b"\x00\xff"
    assert stream.get_last_received_opcode() == common.OPCODE_BINARY
    assert request.connection.remaining() == b"\x81"


@pytest.mark.parametrize("chunk", [None, 1])
def test_receive_message_reassembles_fragments_with_ping_between_and_answers_pong(chunk):
    data = (
        client_frame(1, b"He", fin=0)
        + client_frame(common.OPCODE_PING, b"ping!")
        + client_frame(0, "l\u20ac"[0].encode() + "\u20ac".encode()[:1], fin=0)
        + client_frame(0, "\u20ac".encode()[1:] + b"lo")
    )
    stream, request = make_stream(data, chunk)
    assert stream.receive_message() == "Hel\u20aclo"
    assert stream.get_last_received_opcode() == common.OPCODE_TEXT
    assert request.connection.written == [b"\x8a\x05ping!"]


def test_receive_message_reassembles_binary_fragments():
    data = client_frame(2, b"\x01", fin=0) + client_frame(0, b"", fin=0) + client_frame(0, b"\x02")
    stream, _ = make_stream(data)
    assert stream.receive_message() == b"\x01\x02"


def test_receive_message_answers_close_with_passive_closing_handshake_and_returns_none():
    dispatcher = mock.FakeDispatcher(passive_closing=(4000, "bye"))
    stream, request = make_stream(client_frame(8, b"\x03\xe9gone"), dispatcher=dispatcher)
    assert stream.receive_message() is None
    assert (request.ws_close_code, request.ws_close_reason) == (1001, "gone")
    assert request.connection.written == [b"\x88\x05\x0f\xa0bye"]
    assert request.client_terminated and request.server_terminated
    with pytest.raises(BadOperationException, match="after receiving a closing handshake"):
        stream.receive_message()
    with pytest.raises(BadOperationException, match="after sending out a closing handshake"):
        stream.send_message("late")


def test_receive_message_answers_empty_close_with_1000_by_default():
    stream, request = make_stream(client_frame(8, b""))
    assert stream.receive_message() is None
    assert request.ws_close_code == common.STATUS_NO_STATUS_RECEIVED
    assert request.connection.written == [b"\x88\x02\x03\xe8"]


def test_messages_before_close_are_all_delivered():
    data = client_frame(1, b"one") + client_frame(2, b"two") + client_frame(8, b"\x03\xe8")
    stream, _ = make_stream(data)
    assert [stream.receive_message() for _ in range(3)] == ["one", b"two", None]


@pytest.mark.parametrize(
    ("data", "exception", "message"),
    [
        (b"\x81\x02hi", InvalidFrameException, "mask bit is 0"),
        (client_frame(1, b"x", rsv1=1), InvalidFrameException, "reserved bits set"),
        (client_frame(0, b"x"), InvalidFrameException, "continuation frame without a message"),
        (
            client_frame(1, b"a", fin=0) + client_frame(2, b"b"),
            InvalidFrameException,
            "new data frame \\(opcode 0x2\\) inside a fragmented message",
        ),
        (client_frame(1, b"\xff"), InvalidUTF8Exception, "not valid UTF-8"),
        (client_frame(1, b"\xe2\x82"), InvalidUTF8Exception, "not valid UTF-8"),
        (client_frame(1, b"\xe2", fin=0) + client_frame(0, b"\x82"), InvalidUTF8Exception, "not valid UTF-8"),
        (client_frame(8, b"\x03\xe8\xc0"), InvalidUTF8Exception, "close reason"),
        (client_frame(8, b"\x00"), InvalidFrameException, "close frame body of 1 byte"),
        (b"", ConnectionTerminatedException, "closed by peer"),
        (client_frame(2, b"abcd")[:-1], ConnectionTerminatedException, "connection closed"),
    ],
)
def test_receive_message_rejects_protocol_violations(data, exception, message):
    stream, _ = make_stream(data)
    with pytest.raises(exception, match=message):
        stream.receive_message()


def test_invalid_utf8_fails_before_the_rest_of_a_fragmented_message_arrives():
    # Only the first (invalid) fragment has arrived; the stream must not wait.
    stream, _ = make_stream(client_frame(1, b"ok\xc0\xaf", fin=0))
    with pytest.raises(InvalidUTF8Exception):
        stream.receive_message()


def test_invalid_utf8_fails_before_the_rest_of_a_frame_arrives():
    # A 20-byte text frame of which only 6 payload bytes have arrived, the
    # fifth invalid: the stream fails on them instead of waiting for more.
    full = client_frame(1, b"abcd\xff" + b"x" * 15)
    stream, _ = make_stream(full[: 2 + 4 + 6])
    with pytest.raises(InvalidUTF8Exception):
        stream.receive_message()


def test_message_over_maximum_size_fails_before_payload_is_read():
    options = StreamOptions()
    options.max_message_size = 10
    stream, request = make_stream(client_frame(2, b"x" * 11), options=options)
    with pytest.raises(MessageTooBigException, match="exceeds the limit of 10"):
        stream.receive_message()
    assert len(request.connection.remaining()) == 11  # the payload was never read


def test_fragmented_message_over_maximum_size_fails():
    options = StreamOptions()
    options.max_message_size = 10
    stream, _ = make_stream(client_frame(2, b"x" * 6, fin=0) + client_frame(0, b"y" * 6), options=options)
    with pytest.raises(MessageTooBigException, match="at least 12 bytes"):
        stream.receive_message()


def test_default_maximum_message_size_is_64_mib():
    assert StreamOptions().max_message_size == 64 * 1024 * 1024


def test_pong_matching_a_sent_ping_clears_it_and_earlier_ones():
    stream, request = make_stream(client_frame(10, b"2") + client_frame(1, b"after"))
    stream.send_ping(b"1")
    stream.send_ping(b"2")
    stream.send_ping(b"3")
    assert stream.receive_message() == "after"
    assert list(stream._ping_queue) == [b"3"]
    assert request.connection.written == [b"\x89\x011", b"\x89\x012", b"\x89\x013"]


def test_on_ping_and_on_pong_handlers_replace_automatic_pong():
    seen = []
    stream, request = make_stream(client_frame(9, b"p") + client_frame(10, b"q") + client_frame(1, b"m"))
    request.on_ping_handler = lambda req, body: seen.append(("ping", body))
    request.on_pong_handler = lambda req, body: seen.append(("pong", body))
    assert stream.receive_message() == "m"
    assert seen == [("ping", b"p"), ("pong", b"q")]
    assert request.connection.written == []


def test_private_receive_frame_returns_tuple_and_frame_object():
    stream, _ = make_stream(client_frame(1, b"a", fin=0) + client_frame(0, b"b"))
    assert stream._receive_frame() == (1, b"a", 0, 0, 0, 0)
    frame = stream._receive_frame_as_frame_object()
    assert (frame.opcode, frame.payload, frame.fin) == (0, b"b", 1)


def test_parse_frame_takes_the_0_7_arguments_and_unpacks_as_the_0_7_tuple():
    read_exact, _ = reader(b"\x81\x05Hello")
    opcode, payload, fin, rsv1, rsv2, rsv3 = parse_frame(read_exact, None, common.VERSION_HYBI13, False)
    assert (opcode, payload, fin, rsv1, rsv2, rsv3) == (1, b"Hello", 1, 0, 0, 0)
    read_exact, _ = reader(b"\x81\x05Hello")
    with pytest.raises(InvalidFrameException, match="mask bit is 0, expected 1"):
        parse_frame(receive_bytes=read_exact, unmask_receive=True)


def test_parse_frame_accepts_non_minimal_length_for_hybi_08_only():
    wire = b"\x82\x7e\x00\x03abc"
    read_exact, _ = reader(wire)
    assert parse_frame(read_exact, ws_version=common.VERSION_HYBI08, unmask_receive=False).payload == b"abc"
    read_exact, _ = reader(wire)
    with pytest.raises(InvalidFrameException, match="payload length 3 not in minimal encoding"):
        parse_frame(read_exact, ws_version=common.VERSION_HYBI13, unmask_receive=False)


def test_parse_frame_logs_each_header_to_the_given_logger_at_fine(caplog):
    logger = logging.getLogger("test_stream.parse_frame")
    read_exact, _ = reader(client_frame(common.OPCODE_BINARY, b"\x00\x01"))
    with caplog.at_level(common.LOGLEVEL_FINE, logger=logger.name):
        parse_frame(read_exact, logger)
    assert [(record.levelno, record.getMessage()) for record in caplog.records] == [
        (common.LOGLEVEL_FINE, "frame opcode=0x2 fin=1 rsv=000 payload_length=2 masked=True")
    ]


def test_receive_filtered_frame_returns_a_whole_data_frame_with_bytes_payload():
    stream, _ = make_stream(client_frame(1, "h\u00e9".encode()) + client_frame(2, b"\x00") + client_frame(1, b"next"))
    assert stream.receive_filtered_frame() == Frame(1, 0, 0, 0, 1, "h\u00e9".encode())
    assert stream.receive_filtered_frame() == Frame(1, 0, 0, 0, 2, b"\x00")
    assert stream.receive_message() == "next"


def test_receive_filtered_frame_applies_permessage_deflate_and_message_filters():
    class Upper:
        def filter(self, message):
            return message.upper()

    options = StreamOptions()
    options.permessage_deflate = PerMessageDeflateCodec(None, False)
    options.incoming_message_filters.append(Upper())
    compressed = PerMessageDeflateCodec(None, False).compress(b"squeeze me", True)
    stream, _ = make_stream(client_frame(2, compressed, rsv1=1), options=options)
    assert stream.receive_filtered_frame() == Frame(1, 0, 0, 0, 2, b"SQUEEZE ME")


def test_receive_filtered_frame_returns_compressed_text_inflated_as_bytes():
    options = StreamOptions()
    options.permessage_deflate = PerMessageDeflateCodec(None, False)
    compressed = PerMessageDeflateCodec(None, False).compress("caf\u00e9".encode(), True)
    stream, _ = make_stream(client_frame(1, compressed, rsv1=1) + client_frame(1, b"plain"), options=options)
    assert stream.receive_filtered_frame() == Frame(1, 0, 0, 0, 1, "caf\u00e9".encode())
    assert stream.receive_message() == "plain"


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (client_frame(1, b"a", fin=0), "receive_filtered_frame takes unfragmented frames"),
        (client_frame(9, b"p"), "receive_filtered_frame takes data frames, not opcode 0x9"),
    ],
)
def test_receive_filtered_frame_rejects_fragments_and_control_frames(wire, message):
    stream, _ = make_stream(wire)
    with pytest.raises(InvalidFrameException, match=message):
        stream.receive_filtered_frame()


def test_send_ping_encodes_str_and_refuses_str_with_binary_true():
    stream, request = make_stream()
    stream.send_ping("\u00e9")
    stream.send_ping(b"\xff", binary=True)
    assert request.connection.written == [b"\x89\x02\xc3\xa9", b"\x89\x01\xff"]
    with pytest.raises(BadOperationException, match="ping body for binary=True must be bytes, not str"):
        stream.send_ping("text", binary=True)


def test_get_message_from_frame_assembles_handler_supplied_frames():
    stream, _ = make_stream()
    assert stream._get_message_from_frame(Frame(0, 0, 0, 0, 2, b"a")) is None
    assert stream._get_message_from_frame(Frame(1, 0, 0, 0, 0, b"b")) == b"ab"
    assert stream.get_last_received_opcode() == common.OPCODE_BINARY


def test_receive_bytes_reads_raw_bytes():
    stream, _ = make_stream(b"\x01\x02\x03")
    assert stream.receive_bytes(2) == b"\x01\x02"


def test_incoming_frame_filter_may_claim_reserved_bits():
    class ClearRsv1:
        def filter(self, frame):
            frame.rsv1 = 0

    options = StreamOptions()
    options.incoming_frame_filters.append(ClearRsv1())
    stream, _ = make_stream(client_frame(1, b"ok", rsv1=1), options=options)
    assert stream.receive_message() == "ok"


@pytest.mark.parametrize("wire", [client_frame(1, b"abc"), client_frame(1, b"a", fin=0) + client_frame(0, b"bc")])
def test_incoming_message_filter_output_is_the_text_message(wire):
    class Upper:
        def filter(self, message):
            return message.upper()

    options = StreamOptions()
    options.incoming_message_filters.append(Upper())
    stream, _ = make_stream(wire, options=options)
    assert stream.receive_message() == "ABC"


# Stream: sending.


def test_send_message_writes_exact_frames():
    stream, request = make_stream()
    stream.send_message("Hello")
    stream.send_message(b"\x00\x01", binary=True)
    stream.send_message(b"raw", binary=False)
    assert request.connection.written == [b"\x81\x05Hello", b"\x82\x02\x00\x01", b"\x81\x03raw"]


def test_send_message_fragments_with_continuation_frames():
    stream, request = make_stream()
    stream.send_message("Hel", end=False)
    stream.send_message("l", end=False)
    stream.send_message("o", end=True)
    stream.send_message(b"\x01", end=False, binary=True)
    stream.send_message(b"\x02", end=True, binary=True)
    assert request.connection.written == [
        b"\x01\x03Hel",
        b"\x00\x01l",
        b"\x80\x01o",
        b"\x02\x01\x01",
        b"\x80\x01\x02",
    ]


def test_send_message_rejects_mixed_fragment_types():
    stream, _ = make_stream()
    stream.send_message("a", end=False)
    with pytest.raises(BadOperationException, match="message types are different in fragments"):
        stream.send_message(b"b", binary=True)


def test_send_message_rejects_str_with_binary_true():
    stream, _ = make_stream()
    with pytest.raises(BadOperationException, match="binary=True must be bytes, not str"):
        stream.send_message("text", binary=True)


def test_send_ping_rejects_body_over_125_bytes():
    stream, _ = make_stream()
    with pytest.raises(BadOperationException, match="ping body of 126 bytes exceeds 125"):
        stream.send_ping(b"x" * 126)


def test_close_connection_sends_close_and_waits_for_the_client_close():
    data = client_frame(1, b"discarded") + client_frame(8, b"\x03\xe8")
    stream, request = make_stream(data)
    stream.close_connection(1000, "done")
    assert request.connection.written == [b"\x88\x06\x03\xe8done"]
    assert request.ws_close_code == 1000
    assert request.client_terminated and request.server_terminated
    assert request.connection.remaining() == b""


@pytest.mark.parametrize("code", [1001, 1002])
def test_close_connection_does_not_wait_for_going_away_or_protocol_error(code):
    stream, request = make_stream(client_frame(8, b"\x03\xe8"))
    stream.close_connection(code)
    assert request.connection.written == [b"\x88\x02" + struct.pack("!H", code)]
    assert not request.client_terminated


def test_close_connection_with_none_code_sends_empty_body():
    stream, request = make_stream()
    stream.close_connection(None, wait_response=False)
    assert request.connection.written == [b"\x88\x00"]


@pytest.mark.parametrize("code", [999, 1005, 1006, 1015, 5000])
def test_close_connection_rejects_codes_that_must_not_be_sent(code):
    stream, request = make_stream()
    with pytest.raises(BadOperationException, match=f"close code {code} must not be sent"):
        stream.close_connection(code)
    assert request.connection.written == []


def test_close_connection_twice_sends_one_close():
    stream, request = make_stream()
    stream.close_connection(1000, wait_response=False)
    stream.close_connection(1000, wait_response=False)
    assert request.connection.written == [b"\x88\x02\x03\xe8"]
    with pytest.raises(BadOperationException):
        stream.send_ping()


def test_mask_send_option_masks_outgoing_frames():
    options = StreamOptions()
    options.mask_send = True
    stream, request = make_stream(options=options)
    stream.send_message("Hello")
    wire = request.connection.written[0]
    assert wire[:2] == b"\x81\x85"
    read_exact, _ = reader(wire)
    assert parse_frame(read_exact).payload == b"Hello"


def test_write_failure_becomes_connection_terminated():
    class BrokenConnection(mock.FakeConnection):
        def write(self, data):
            raise BrokenPipeError("gone")

    request = mock.FakeRequest(connection=BrokenConnection())
    stream = Stream(request, StreamOptions())
    with pytest.raises(ConnectionTerminatedException, match="sending failed"):
        stream.send_message("x")


def test_short_reads_are_completed():
    connection = mock.FakeConnection(client_frame(2, b"abcdef"), chunk=1, partial_reads=True)
    request = mock.FakeRequest(connection=connection)
    assert Stream(request, StreamOptions()).receive_message() == b"abcdef"


# The buffered fast path (a connection with peek/buffered, like the standalone
# server's) must give exactly what the general path gives, errors included.

FAST_PATH_CASES = [
    pytest.param(client_frame(1, b"Hello"), None, id="text"),
    pytest.param(client_frame(2, bytes(range(256)) * 2), None, id="binary-16-bit-length"),
    pytest.param(client_frame(1, b""), None, id="empty-text"),
    pytest.param(client_frame(2, b"\x00" * 70000), None, id="binary-64-bit-length"),
    pytest.param(client_frame(1, b"caf\xc3\xa9") + b"trailing", None, id="text-then-trailing-bytes"),
    pytest.param(client_frame(1, b"\xc3\x28"), None, id="invalid-utf8"),
    pytest.param(b"\x81\x05Hello", None, id="unmasked"),
    pytest.param(client_frame(1, b"Hello", rsv1=1), None, id="rsv1-without-extension"),
    pytest.param(b"\x81\xfe\x00\x05" + KEY + b"Hello", None, id="non-minimal-16-bit-length"),
    pytest.param(client_frame(2, b"x" * 20), 10, id="over-the-size-limit"),
    pytest.param(client_frame(1, b"Hello")[:8], None, id="truncated"),
    pytest.param(client_frame(0, b"lo"), None, id="continuation-without-start"),
    pytest.param(client_frame(1, b"Hel", fin=0) + client_frame(0, b"lo"), None, id="fragments"),
    pytest.param(client_frame(9, b"hi") + client_frame(1, b"after ping"), None, id="ping-then-text"),
    pytest.param(client_frame(8, struct.pack("!H", 1000)), None, id="close"),
    pytest.param(
        client_frame(1, b"Hel", fin=0)
        + client_frame(9, b"ping")
        + client_frame(0, b"lo", fin=0)
        + client_frame(0, b"!"),
        None,
        id="text-fragments-with-ping-between",
    ),
    pytest.param(client_frame(2, b"\x00" * 300, fin=0) + client_frame(0, b"\x01" * 5), None, id="binary-fragments"),
    pytest.param(client_frame(1, b"caf\xc3", fin=0) + client_frame(0, b"\xa9!"), None, id="utf8-split-over-fragments"),
    pytest.param(client_frame(1, b"ok", fin=0) + client_frame(0, b"\xff", fin=0), None, id="invalid-utf8-in-fragment"),
    pytest.param(client_frame(1, b"caf\xc3", fin=0) + client_frame(0, b""), None, id="text-ends-mid-character"),
    pytest.param(client_frame(2, b"x" * 6, fin=0) + client_frame(0, b"y" * 6), 10, id="fragments-over-the-limit"),
    pytest.param(client_frame(1, b"a", fin=0) + client_frame(1, b"b"), None, id="new-message-inside-fragments"),
    pytest.param(client_frame(1, b"a", fin=0) + client_frame(0, b"bcdef")[:7], None, id="last-fragment-truncated"),
    pytest.param(client_frame(1, b"a", fin=0) + client_frame(0, b"b", rsv1=1), None, id="rsv1-on-continuation"),
]


def receive_outcome(connection, max_message_size=None, raw_frames=0):
    """Read ``raw_frames`` frames with ``_receive_frame``, then one message; return what happened."""
    options = StreamOptions()
    if max_message_size is not None:
        options.max_message_size = max_message_size
    request = mock.FakeRequest(connection=connection)
    stream = Stream(request, options)
    raw = []
    try:
        for _ in range(raw_frames):
            raw.append(stream._receive_frame())
        result = ("message", raw, stream.receive_message(), stream.get_last_received_opcode())
    except Exception as exc:  # compared below, type and text
        result = ("error", raw, type(exc), str(exc))
    return result, connection.written_bytes(), connection.remaining()


@pytest.mark.parametrize("wire, max_message_size", FAST_PATH_CASES)
def test_buffered_connection_receives_exactly_what_the_general_path_receives(wire, max_message_size):
    general = receive_outcome(mock.FakeConnection(wire), max_message_size)
    buffered = receive_outcome(mock.BufferedFakeConnection(wire), max_message_size)
    assert buffered == general


# A handler may read frames itself (``_receive_frame``, as browser test
# handlers do to see a frame's flags) and then call receive_message: the raw
# reader leaves the message assembly alone, so the next message comes whole
# (pywebsocket3 does the same). A first fragment read raw starts no message,
# so its continuation reaching receive_message is a protocol error (1002).

TEXT_NEXT = client_frame(1, "next \u00e9".encode())
FRAGMENTED_NEXT = client_frame(1, b"ne", fin=0) + client_frame(0, b"xt \xc3", fin=0) + client_frame(0, b"\xa9")

RAW_THEN_MESSAGE_CASES = [
    pytest.param(
        client_frame(1, b"raw") + TEXT_NEXT,
        1,
        ("message", [(1, b"raw", 1, 0, 0, 0)], "next \u00e9", common.OPCODE_TEXT),
        id="text-then-text",
    ),
    pytest.param(
        client_frame(1, b"raw") + FRAGMENTED_NEXT,
        1,
        ("message", [(1, b"raw", 1, 0, 0, 0)], "next \u00e9", common.OPCODE_TEXT),
        id="text-then-fragmented-text",
    ),
    pytest.param(
        client_frame(1, b"") + client_frame(2, b"\x00\xff"),
        1,
        ("message", [(1, b"", 1, 0, 0, 0)], b"\x00\xff", common.OPCODE_BINARY),
        id="empty-text-then-binary",
    ),
    pytest.param(
        client_frame(2, b"\x01" * 300) + FRAGMENTED_NEXT,
        1,
        ("message", [(2, b"\x01" * 300, 1, 0, 0, 0)], "next \u00e9", common.OPCODE_TEXT),
        id="binary-then-fragmented-text",
    ),
    pytest.param(
        client_frame(9, b"ping") + TEXT_NEXT,
        1,
        ("message", [(9, b"ping", 1, 0, 0, 0)], "next \u00e9", common.OPCODE_TEXT),
        id="ping-read-raw-is-not-answered",
    ),
    pytest.param(
        client_frame(1, b"Hel", fin=0) + client_frame(9, b"p") + client_frame(0, b"lo") + TEXT_NEXT,
        3,
        ("message", [(1, b"Hel", 0, 0, 0, 0), (9, b"p", 1, 0, 0, 0), (0, b"lo", 1, 0, 0, 0)], "next \u00e9", 1),
        id="whole-fragmented-message-read-raw",
    ),
    pytest.param(
        client_frame(1, b"Hel", fin=0) + client_frame(0, b"lo") + TEXT_NEXT,
        1,
        (
            "error",
            [(1, b"Hel", 0, 0, 0, 0)],
            InvalidFrameException,
            "continuation frame without a message to continue",
        ),
        id="first-fragment-read-raw-leaves-its-continuation-without-a-message",
    ),
]


@pytest.mark.parametrize("wire, raw_frames, expected", RAW_THEN_MESSAGE_CASES)
def test_receive_message_after_private_receive_frame_gets_the_next_message_on_both_paths(wire, raw_frames, expected):
    general = receive_outcome(mock.FakeConnection(wire), raw_frames=raw_frames)
    buffered = receive_outcome(mock.BufferedFakeConnection(wire), raw_frames=raw_frames)
    # Nothing is written (a ping read raw is the handler's to answer), and an
    # error stops reading at the offending frame's header.
    unread = client_frame(0, b"lo")[6:] + TEXT_NEXT if expected[0] == "error" else b""
    assert general == (expected, b"", unread)
    assert buffered == general


@pytest.mark.parametrize("connection_class", [mock.FakeConnection, mock.BufferedFakeConnection])
def test_get_message_from_frame_returns_the_payload_of_a_text_frame_read_raw(connection_class):
    connection = connection_class(client_frame(1, "caf\u00e9".encode()) + client_frame(1, b"after"))
    stream = Stream(mock.FakeRequest(connection=connection), StreamOptions())
    frame = stream._receive_frame_as_frame_object()
    assert stream._get_message_from_frame(frame) == "caf\u00e9".encode()
    assert stream.get_last_received_opcode() == common.OPCODE_TEXT
    assert stream.receive_message() == "after"


@pytest.mark.parametrize("connection_class", [mock.FakeConnection, mock.BufferedFakeConnection])
def test_receive_message_completes_a_message_begun_through_get_message_from_frame(connection_class):
    wire = client_frame(1, b"caf\xc3", fin=0) + client_frame(0, b"\xa9!") + client_frame(2, b"\x07")
    stream = Stream(mock.FakeRequest(connection=connection_class(wire)), StreamOptions())
    assert stream._get_message_from_frame(stream._receive_frame_as_frame_object()) is None
    assert stream.receive_message() == "caf\u00e9!"
    assert stream.receive_message() == b"\x07"


def test_private_receive_frame_still_checks_the_frame_and_its_size():
    options = StreamOptions()
    options.max_message_size = 4
    stream, _ = make_stream(client_frame(2, b"12345"), options=options)
    with pytest.raises(MessageTooBigException, match=r"^frame payload of 5 bytes exceeds the limit of 4$"):
        stream._receive_frame()
    stream, _ = make_stream(b"\x81\x03abc")
    with pytest.raises(InvalidFrameException, match=r"^mask bit is 0, expected 1$"):
        stream._receive_frame()


def test_buffered_whole_frame_is_read_in_one_call():
    connection = mock.BufferedFakeConnection(client_frame(1, "héllo".encode()) + client_frame(2, b"\x01" * 300))
    stream = Stream(mock.FakeRequest(connection=connection), StreamOptions())
    assert stream.receive_message() == "héllo"
    assert stream.get_last_received_opcode() == common.OPCODE_TEXT
    assert connection.read_calls == 1
    assert stream.receive_message() == b"\x01" * 300
    assert stream.get_last_received_opcode() == common.OPCODE_BINARY
    assert connection.read_calls == 2


def test_buffered_fragments_are_read_one_call_per_frame():
    wire = client_frame(1, "hé".encode(), fin=0) + client_frame(0, b"l", fin=0) + client_frame(0, b"lo")
    connection = mock.BufferedFakeConnection(wire + client_frame(2, b"\x00", fin=0) + client_frame(0, b"\x01"))
    stream = Stream(mock.FakeRequest(connection=connection), StreamOptions())
    assert stream.receive_message() == "héllo"
    assert connection.read_calls == 3
    assert stream.receive_message() == b"\x00\x01"
    assert stream.get_last_received_opcode() == common.OPCODE_BINARY
    assert connection.read_calls == 5


def test_buffered_invalid_utf8_fails_with_1007():
    connection = mock.BufferedFakeConnection(client_frame(1, b"ok \xff"))
    stream = Stream(mock.FakeRequest(connection=connection), StreamOptions())
    with pytest.raises(InvalidUTF8Exception, match="text message is not valid UTF-8") as info:
        stream.receive_message()
    assert info.value.close_code == 1007


@pytest.mark.parametrize(
    "message, binary, wire",
    [
        ("Hello", False, b"\x81\x05Hello"),
        (b"\x00\x01", True, b"\x82\x02\x00\x01"),
        (b"raw text bytes", False, b"\x81\x0eraw text bytes"),
        (bytearray(b"ba"), True, b"\x82\x02ba"),
        ("é" * 100, False, b"\x81\x7e\x00\xc8" + "é".encode() * 100),
        (b"z" * 70000, True, b"\x82\x7f" + struct.pack("!Q", 70000) + b"z" * 70000),
    ],
)
def test_send_message_writes_one_exact_frame(message, binary, wire):
    stream, request = make_stream()
    stream.send_message(message, binary=binary)
    assert request.connection.written == [wire]


# The message assembler on its own: headers and payload pieces in, messages
# and errors out, no stream and no I/O.


def header(opcode: int, length: int, fin: int = 1, rsv1: int = 0) -> FrameHeader:
    return FrameHeader(fin, rsv1, 0, 0, opcode, length, None)


def assembler(max_message_size: int | None = None, deflate: bool = False, message_filters=()) -> MessageAssembler:
    options = StreamOptions()
    if max_message_size is not None:
        options.max_message_size = max_message_size
    if deflate:
        options.permessage_deflate = PerMessageDeflateCodec(None, False)
    options.incoming_message_filters.extend(message_filters)
    return MessageAssembler(options)


@pytest.mark.parametrize(
    "frames, expected",
    [
        pytest.param([(1, [b"caf\xc3\xa9"], 1)], "caf\u00e9", id="text-in-one-piece"),
        pytest.param([(2, [b"\x00\xff"], 1)], b"\x00\xff", id="binary-in-one-piece"),
        pytest.param([(1, [b""], 1)], "", id="empty-text"),
        pytest.param([(2, [b""], 1)], b"", id="empty-binary"),
        pytest.param([(1, [b"ca", b"f\xc3", b"\xa9"], 1)], "caf\u00e9", id="text-in-pieces-split-mid-character"),
        pytest.param([(1, [b"caf\xc3"], 0), (0, [b"\xa9!"], 1)], "caf\u00e9!", id="text-in-fragments"),
        pytest.param([(2, [b"\x01"], 0), (0, [b""], 0), (0, [b"\x02", b"\x03"], 1)], b"\x01\x02\x03", id="binary"),
    ],
)
def test_assembler_joins_pieces_into_the_message(frames, expected):
    asm = assembler()
    for opcode, pieces, fin in frames:
        asm.start(header(opcode, sum(map(len, pieces)), fin))
        for index, piece in enumerate(pieces):
            asm.feed(piece, bool(fin) and index == len(pieces) - 1)
    assert asm.opcode == frames[0][0]
    message = asm.finish()
    assert (type(message), message) == (type(expected), expected)
    assert asm.opcode is None


@pytest.mark.parametrize(
    "frames, expected",
    [
        pytest.param([(1, b"caf\xc3\xa9", 1)], "caf\u00e9", id="text-in-one-frame"),
        pytest.param([(2, b"\x00\xff", 1)], b"\x00\xff", id="binary-in-one-frame"),
        pytest.param([(1, b"caf\xc3", 0), (0, b"\xa9!", 1)], "caf\u00e9!", id="text-in-fragments"),
        pytest.param([(2, b"\x01", 0), (0, b"", 0), (0, b"\x02\x03", 1)], b"\x01\x02\x03", id="binary-in-fragments"),
    ],
)
def test_assembler_finish_with_the_last_piece_is_feed_then_finish(frames, expected):
    asm = assembler()
    for opcode, payload, fin in frames:
        asm.start(header(opcode, len(payload), fin))
        if not fin:
            asm.feed(payload, False)
    message = asm.finish(frames[-1][1])
    assert (type(message), message) == (type(expected), expected)
    assert asm.opcode is None


@pytest.mark.parametrize("opcode", [1, 2])
def test_assembler_finish_with_the_last_piece_refuses_invalid_utf8_in_text_only(opcode):
    asm = assembler()
    asm.start(header(opcode, 2))
    if opcode == 1:
        with pytest.raises(InvalidUTF8Exception, match=r"^text message is not valid UTF-8: "):
            asm.finish(b"\xc3(")
    else:
        assert asm.finish(b"\xc3(") == b"\xc3("


def test_assembler_keeps_the_first_fragment_when_the_last_inflates_to_the_bytes_received():
    # The last piece, inflated, is exactly as long as the message's frames
    # were on the wire: it must still be joined to what came before.
    for size in range(1, 64):
        codec = PerMessageDeflateCodec(None, False)
        first, last = codec.compress(b"x", False), codec.compress(b"y" * size, True)
        if size == len(first) + len(last):
            break
    else:
        pytest.fail("no such size")
    for finish_with_last in (False, True):
        asm = assembler(deflate=True)
        asm.start(header(2, len(first), fin=0, rsv1=1))
        asm.feed(first, False)
        asm.start(header(0, len(last)))
        if finish_with_last:
            message = asm.finish(last)
        else:
            asm.feed(last, True)
            message = asm.finish()
        assert message == b"x" + b"y" * size


def test_assembler_finish_without_decoding_gives_the_text_bytes():
    for decode_text in (True, False):
        asm = assembler()
        asm.start(header(1, 4, fin=0), decode_text=decode_text)
        asm.feed(b"caf\xc3", False)
        asm.start(header(0, 1))
        asm.feed(b"\xa9", True)
        assert asm.finish(decode=False) == b"caf\xc3\xa9"


def test_assembler_fails_at_the_first_invalid_utf8_piece_not_at_the_end():
    asm = assembler()
    asm.start(header(1, 10, fin=0))
    asm.feed(b"ok", False)
    with pytest.raises(InvalidUTF8Exception, match=r"^text message is not valid UTF-8: 'utf-8' codec can't decode"):
        asm.feed(b"\xff", False)


def test_assembler_refuses_text_ending_mid_character():
    asm = assembler()
    asm.start(header(1, 4, fin=0))
    asm.feed(b"caf\xc3", False)
    asm.start(header(0, 0))
    with pytest.raises(InvalidUTF8Exception, match="unexpected end of data"):
        asm.feed(b"", True)


def test_assembler_decodes_text_at_the_end_when_message_filters_come_first():
    class Upper:
        def filter(self, message):
            return message.upper()

    asm = assembler(message_filters=[Upper()])
    asm.start(header(1, 3, fin=0))
    asm.feed(b"ab", False)
    asm.feed(b"c", False)
    asm.start(header(0, 0))
    asm.feed(b"", True)
    assert asm.finish() == "ABC"


@pytest.mark.parametrize(
    "first, second, message",
    [
        (None, header(0, 1), "^continuation frame without a message to continue$"),
        (header(1, 1, fin=0), header(2, 1), r"^new data frame \(opcode 0x2\) inside a fragmented message$"),
        (header(2, 1, fin=0), header(1, 1, fin=0), r"^new data frame \(opcode 0x1\) inside a fragmented message$"),
    ],
)
def test_assembler_refuses_frames_out_of_sequence_and_changes_nothing(first, second, message):
    asm = assembler()
    if first is not None:
        asm.start(first)
        asm.feed(b"a", False)
    before = asm.opcode
    with pytest.raises(InvalidFrameException, match=message):
        asm.start(second)
    assert asm.opcode == before


def test_assembler_refuses_a_message_over_the_limit_before_its_payload():
    asm = assembler(max_message_size=10)
    asm.start(header(2, 6, fin=0))
    asm.feed(b"x" * 6, False)
    with pytest.raises(MessageTooBigException, match=r"^message of at least 12 bytes exceeds the limit of 10$"):
        asm.start(header(0, 6))
    asm.start(header(0, 4))  # the refused frame counted for nothing
    asm.feed(b"y" * 4, True)
    assert asm.finish() == b"x" * 6 + b"y" * 4


def test_assembler_inflates_a_compressed_message_across_fragments():
    compressed = PerMessageDeflateCodec(None, False).compress("caf\u00e9 ".encode() * 50, True)
    asm = assembler(deflate=True)
    asm.start(header(1, 5, fin=0, rsv1=1))
    asm.feed(compressed[:5], False)
    asm.start(header(0, len(compressed) - 5))
    asm.feed(compressed[5:], True)
    assert asm.finish() == "caf\u00e9 " * 50
    asm.start(header(2, 3))  # RSV1 clear: not compressed
    asm.feed(b"raw", True)
    assert asm.finish() == b"raw"


def test_assembler_refuses_a_message_that_inflates_past_the_limit():
    compressed = PerMessageDeflateCodec(None, False).compress(b"\x00" * 1000, True)
    asm = assembler(max_message_size=100, deflate=True)
    asm.start(header(2, len(compressed), rsv1=1))
    with pytest.raises(MessageTooBigException, match=r"^compressed message inflates past the limit of 100 bytes$"):
        asm.feed(compressed, True)


def test_assembler_refuses_invalid_compressed_data():
    asm = assembler(deflate=True)
    asm.start(header(2, 2, rsv1=1))
    with pytest.raises(InvalidFrameException, match=r"^invalid compressed data: "):
        asm.feed(b"\xff\xff", True)


# The one header decoder, given the bytes at hand (as the buffered path) or
# the first two and a reader (as parse_frame_header).


@pytest.mark.parametrize("length", [0, 125, 126, 0xFFFF, 0x10000])
def test_decode_header_gives_the_same_header_from_buffered_bytes_and_from_a_reader(length):
    wire = client_frame(2, b"\x00" * length, fin=0)
    size = len(wire) - length
    expected = FrameHeader(0, 0, 0, 0, 2, length, KEY)
    assert _decode_header(wire[:14], None, True, None, True) == (expected, size)
    read_exact, connection = reader(wire[2:])
    assert _decode_header(wire[:2], read_exact, True, None, True) == (expected, size)
    assert connection.remaining() == wire[size:]


def test_decode_header_without_a_reader_needs_the_whole_header():
    wire = client_frame(2, b"\x00" * 200)
    for cut in (2, 3, 7):
        with pytest.raises(_IncompleteHeader):
            _decode_header(wire[:cut], None, True, None, True)


# Once the connection ends, the stream holds its request weakly (no cycle with request.ws_stream).


def test_released_stream_and_its_request_go_by_reference_counting_alone():
    stream, request = make_stream()
    request.ws_stream = stream
    stream.release_request()
    request_gone, stream_gone = weakref.ref(request), weakref.ref(stream)
    gc.disable()
    try:
        del stream, request
        assert request_gone() is None and stream_gone() is None
    finally:
        gc.enable()


def test_released_stream_works_while_its_request_is_held():
    stream, request = make_stream()
    stream.release_request()
    stream.release_request()  # a second call changes nothing
    stream.send_message("still here")
    assert request.connection.written == [b"\x81\x0astill here"]
    stream.close_connection(wait_response=False)
    assert request.server_terminated


def test_released_stream_whose_request_is_gone_raises_connection_terminated():
    stream, request = make_stream()
    stream.release_request()
    del request
    with pytest.raises(ConnectionTerminatedException, match="the connection has ended"):
        stream.send_message("too late")
