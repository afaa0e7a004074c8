"""Tests for the compression extensions: negotiation, RFC 7692 vectors, limits."""

from __future__ import annotations

import os
import zlib

import pytest
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect

from mod_pywebsocket import common, extensions, handshake, util
from mod_pywebsocket._stream_hybi import Frame, Stream, StreamOptions, serialize_frame
from mod_pywebsocket.stream import InvalidFrameException, MessageTooBigException
from test import mock

KEY = b"\x00\x00\x00\x00"  # a zero mask keeps the RFC vectors readable
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def offer(header: str) -> extensions.PerMessageDeflateExtensionProcessor:
    (extension,) = common.parse_extensions(header)
    processor = extensions.get_extension_processor(extension)
    assert isinstance(processor, extensions.PerMessageDeflateExtensionProcessor)
    return processor


def pmd_stream(data: bytes = b"", header: str = "permessage-deflate", max_size: int | None = None):
    options = StreamOptions()
    if max_size is not None:
        options.max_message_size = max_size
    processor = offer(header)
    assert processor.get_extension_response() is not None
    processor.setup_stream_options(options)
    request = mock.FakeRequest(connection=mock.FakeConnection(data))
    return Stream(request, options), request, processor


def masked(wire: bytes) -> bytes:
    """Turn an unmasked server frame of the RFC into the client's masked form."""
    first, second = wire[0], wire[1]
    assert second < 126
    return bytes((first, second | 0x80)) + KEY + wire[2:]


# RFC 7692 §7.2.3: the compressed forms of "Hello".
HELLO_COMPRESSED = b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00"


def test_send_compresses_hello_as_rfc_7692_example():
    stream, request, _ = pmd_stream()
    stream.send_message("Hello")
    stream.send_message("Hello")
    # §7.2.3.2: the second message reuses the LZ77 window of the first.
    assert request.connection.written == [HELLO_COMPRESSED, b"\xc1\x05\xf2\x00\x11\x00\x00"]


def test_server_no_context_takeover_compresses_each_message_afresh():
    stream, request, _ = pmd_stream(header="permessage-deflate; server_no_context_takeover")
    stream.send_message("Hello")
    stream.send_message("Hello")
    assert request.connection.written == [HELLO_COMPRESSED, HELLO_COMPRESSED]


@pytest.mark.parametrize(
    "frames",
    [
        [HELLO_COMPRESSED],  # §7.2.3.1
        [b"\x41\x03\xf2\x48\xcd", b"\x80\x04\xc9\xc9\x07\x00"],  # §7.2.3.1, fragmented
        [b"\xc1\x0b\x00\x05\x00\xfa\xffHello\x00"],  # §7.2.3.3, a stored block
        [b"\xc1\x08\xf3\x48\xcd\xc9\xc9\x07\x00\x00"],  # §7.2.3.4, BFINAL set
        [b"\xc1\x0d\xf2\x48\x05\x00\x00\x00\xff\xff\xca\xc9\xc9\x07\x00"],  # §7.2.3.5, two blocks
    ],
    ids=["one-frame", "fragmented", "stored-block", "bfinal", "two-blocks"],
)
def test_receive_inflates_rfc_7692_examples(frames):
    stream, _, _ = pmd_stream(b"".join(masked(f) for f in frames) * 2)
    assert stream.receive_message() == "Hello"
    assert stream.receive_message() == "Hello"


def test_receive_shares_window_across_messages():
    stream, _, _ = pmd_stream(masked(HELLO_COMPRESSED) + masked(b"\xc1\x05\xf2\x00\x11\x00\x00"))
    assert [stream.receive_message(), stream.receive_message()] == ["Hello", "Hello"]


def test_uncompressed_message_without_rsv1_is_read_as_is():
    stream, _, _ = pmd_stream(masked(b"\x82\x03abc"))
    assert stream.receive_message() == b"abc"


def test_ping_between_compressed_fragments_is_answered():
    data = masked(b"\x41\x03\xf2\x48\xcd") + masked(b"\x89\x01p") + masked(b"\x80\x04\xc9\xc9\x07\x00")
    stream, request, _ = pmd_stream(data)
    assert stream.receive_message() == "Hello"
    assert request.connection.written == [b"\x8a\x01p"]


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (masked(b"\x41\x03\xf2\x48\xcd") + masked(b"\xc0\x04\xc9\xc9\x07\x00"), "reserved bits set"),
        (masked(b"\xc9\x00"), "reserved bits set"),
        (masked(b"\xa1\x01a"), "reserved bits set"),
        (masked(b"\xc1\x02\xff\xff"), "invalid compressed data"),
    ],
    ids=["rsv1-on-continuation", "rsv1-on-ping", "rsv2", "garbage"],
)
def test_invalid_compressed_frames_fail_with_1002(wire, message):
    stream, _, _ = pmd_stream(wire)
    with pytest.raises(InvalidFrameException, match=message):
        stream.receive_message()


def test_zip_bomb_fails_with_1009_without_inflating_everything():
    bomb = util._RFC1979Deflater(None, False).filter(b"\x00" * (64 << 20))
    assert len(bomb) < 100_000
    frame = serialize_frame(Frame(1, 1, 0, 0, 2, bomb), KEY)
    stream, _, _ = pmd_stream(frame, max_size=1 << 20)
    with pytest.raises(MessageTooBigException, match="inflates past the limit of 1048576 bytes"):
        stream.receive_message()


def test_compressed_text_with_invalid_utf8_fails_with_1007():
    payload = util._RFC1979Deflater(None, False).filter(b"ok\xff")
    stream, _, _ = pmd_stream(serialize_frame(Frame(1, 1, 0, 0, 1, payload), KEY))
    from mod_pywebsocket.stream import InvalidUTF8Exception

    with pytest.raises(InvalidUTF8Exception):
        stream.receive_message()


def test_fragmented_send_is_one_compressed_message():
    stream, request, _ = pmd_stream()
    stream.send_message("Hel", end=False)
    stream.send_message("lo", end=True)
    first, second = request.connection.written
    assert first[0] == 0x41 and second[0] == 0x80  # RSV1 on the first frame only
    inflater = util._RFC1979Inflater()
    assert inflater.filter(first[2:], end=False) + inflater.filter(second[2:], end=True) == b"Hello"


def test_disable_outgoing_compression_sends_plain_frames():
    stream, request, processor = pmd_stream()
    processor.disable_outgoing_compression()
    stream.send_message("Hello")
    processor.enable_outgoing_compression()
    stream.send_message("Hello")
    assert request.connection.written == [b"\x81\x05Hello", HELLO_COMPRESSED]


def test_set_bfinal_ends_messages_with_a_final_block():
    stream, request, processor = pmd_stream()
    processor.set_bfinal(True)
    stream.send_message("Hello")
    stream.send_message("Hello")
    assert request.connection.written == [b"\xc1\x07\xf3\x48\xcd\xc9\xc9\x07\x00"] * 2
    receiver, _, _ = pmd_stream(b"".join(masked(w) for w in request.connection.written))
    assert [receiver.receive_message(), receiver.receive_message()] == ["Hello", "Hello"]


def test_processor_surface_of_0_7():
    processor = offer("permessage-deflate; client_max_window_bits")
    assert processor.name() == "deflate"
    assert processor._request.name() == "permessage-deflate"
    processor._request.add_parameter("x-added", None)
    assert processor._request.has_parameter("x-added")


@pytest.mark.parametrize(
    ("header", "response"),
    [
        ("permessage-deflate", "permessage-deflate"),
        ("permessage-deflate; client_max_window_bits", "permessage-deflate"),
        ("permessage-deflate; server_no_context_takeover", "permessage-deflate; server_no_context_takeover"),
        ("permessage-deflate; client_no_context_takeover", "permessage-deflate"),
        ("permessage-deflate; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10"),
        ("permessage-deflate; server_max_window_bits=8", "permessage-deflate; server_max_window_bits=8"),
        ("permessage-deflate; client_max_window_bits=12", "permessage-deflate"),
        ("permessage-deflate; server_max_window_bits", None),
        ("permessage-deflate; server_max_window_bits=16", None),
        ("permessage-deflate; server_max_window_bits=7", None),
        ("permessage-deflate; server_max_window_bits=09", None),
        ("permessage-deflate; client_max_window_bits=16", None),
        ("permessage-deflate; server_no_context_takeover=1", None),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", None),
        ("permessage-deflate; unknown", None),
    ],
)
def test_negotiation_table(header, response):
    result = offer(header).get_extension_response()
    assert (common.format_extension(result) if result is not None else None) == response


def test_handler_can_ask_client_for_smaller_window_and_no_context_takeover():
    processor = offer("permessage-deflate; client_max_window_bits=12")
    processor.set_client_max_window_bits(10)
    processor.set_client_no_context_takeover(True)
    response = processor.get_extension_response()
    assert common.format_extension(response) == (
        "permessage-deflate; client_no_context_takeover; client_max_window_bits=10"
    )


def test_client_window_limit_is_never_sent_to_a_client_that_did_not_offer_it():
    processor = offer("permessage-deflate")
    processor.set_client_max_window_bits(10)
    assert processor.get_extension_response() is None


def handshake_with(extension_header: str, extra_handshake=None):
    request = mock.FakeRequest(
        uri="/echo",
        headers={
            "Host": "h",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": SAMPLE_KEY,
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Extensions": extension_header,
        },
    )
    handshake.do_handshake(request, mock.FakeDispatcher(extra_handshake))
    return request


def response_extensions(request) -> str | None:
    for line in request.connection.written[0].split(b"\r\n"):
        if line.startswith(b"Sec-WebSocket-Extensions: "):
            return line.split(b": ", 1)[1].decode()
    return None


def test_first_acceptable_of_several_offers_is_accepted():
    request = handshake_with(
        "permessage-deflate; server_max_window_bits=20, permessage-deflate; server_no_context_takeover, "
        "permessage-deflate"
    )
    assert response_extensions(request) == "permessage-deflate; server_no_context_takeover"
    assert [common.format_extension(e) for e in request.ws_extensions] == [
        "permessage-deflate; server_no_context_takeover"
    ]


def test_handler_emptying_processors_gets_uncompressed_connection():
    request = handshake_with("permessage-deflate", lambda r: setattr(r, "ws_extension_processors", []))
    assert response_extensions(request) is None
    assert request.ws_extensions == []
    request.ws_stream.send_message("Hello")
    assert request.connection.written[-1] == b"\x81\x05Hello"


def test_handler_removing_processor_or_setting_none_refuses_it():
    def remove(request):
        request.ws_extension_processors.remove(request.ws_extension_processors[0])

    assert response_extensions(handshake_with("permessage-deflate", remove)) is None

    def set_none(request):
        request.ws_extension_processors[0] = None

    assert response_extensions(handshake_with("permessage-deflate", set_none)) is None


def test_handler_reordering_processors_changes_the_choice():
    def reorder(request):
        request.ws_extension_processors.reverse()

    request = handshake_with("deflate-frame, permessage-deflate", reorder)
    assert response_extensions(request) == "permessage-deflate"


def test_only_one_compression_extension_is_accepted():
    assert response_extensions(handshake_with("deflate-frame, permessage-deflate")) == "deflate-frame"


@pytest.mark.parametrize("name", ["deflate-frame", "x-webkit-deflate-frame"])
def test_deflate_frame_compresses_each_frame_and_inflates_rsv1_frames(name):
    request = handshake_with(name)
    assert response_extensions(request) == name
    deflater = util._RFC1979Deflater(None, False)
    incoming = serialize_frame(Frame(1, 1, 0, 0, 1, deflater.filter(b"Hello")), KEY)
    incoming += serialize_frame(Frame(1, 0, 0, 0, 1, b"plain"), KEY)
    request.connection.feed(incoming)
    assert request.ws_stream.receive_message() == "Hello"
    assert request.ws_stream.receive_message() == "plain"
    request.ws_stream.send_message("Hello")
    assert request.connection.written[-1] == HELLO_COMPRESSED


def test_deflate_frame_offer_with_bad_window_is_declined():
    assert response_extensions(handshake_with("deflate-frame; max_window_bits=30")) is None


def test_deflate_stream_deflates_every_byte_both_ways():
    request = handshake_with("deflate-stream")
    assert response_extensions(request) == "deflate-stream"
    assert request.ws_deflate is True
    client = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    wire = serialize_frame(Frame(1, 0, 0, 0, 1, b"Hello"), KEY)
    request.connection.feed(client.compress(wire) + client.flush(zlib.Z_SYNC_FLUSH))
    assert request.ws_stream.receive_message() == "Hello"
    request.ws_stream.send_message("Hello")
    inflater = zlib.decompressobj(-15)
    assert inflater.decompress(request.connection.written[-1]) == b"\x81\x05Hello"


# End to end with the websockets client, which offers permessage-deflate by default.


@pytest.mark.parametrize(
    "factory_kwargs",
    [
        {},
        {"server_no_context_takeover": True},
        {"client_no_context_takeover": True},
        {"server_max_window_bits": 8},
        {"server_max_window_bits": 12},
        {"client_max_window_bits": 9},
    ],
    ids=["defaults", "server-nct", "client-nct", "server-window-8", "server-window-12", "client-window-9"],
)
def test_websockets_client_round_trips_compressed_messages(example_server, factory_kwargs):
    factory = ClientPerMessageDeflateFactory(**factory_kwargs)
    with connect(
        example_server.url("/echo"), extensions=[factory], compression=None, max_size=None, open_timeout=10
    ) as ws:
        assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
        for message in ["Hello", "text " * 200_000, os.urandom(200_000), ""]:
            ws.send(message)
            assert ws.recv(timeout=10) == message
        ws.send(["frag", "mented"])
        assert ws.recv(timeout=10) == "fragmented"


def test_websockets_default_compression_negotiates_and_round_trips_1_mib_text(example_server):
    text = ("compressible text " * 60000)[: 1 << 20]
    with connect(example_server.url("/echo"), compression="deflate", max_size=None, open_timeout=10) as ws:
        assert ws.response.headers["Sec-WebSocket-Extensions"] == "permessage-deflate"
        ws.send(text)
        assert ws.recv(timeout=10) == text
