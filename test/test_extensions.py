"""Tests for the compression extensions: negotiation, RFC 7692 vectors, limits."""

from __future__ import annotations

import logging
import os
import time
import zlib

import pytest
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect

from mod_pywebsocket import common, extensions, handshake, util
from mod_pywebsocket._stream_hybi import Frame, Stream, StreamOptions, serialize_frame
from mod_pywebsocket.stream import InvalidFrameException, MessageTooBigException
from test import mock
from test.conftest import running_server
from test.wire import TIMEOUT, FrameReader, client_frame, open_socket, read_head, status_of, upgrade_request

KEY = b"\x00\x00\x00\x00"  # a zero mask keeps the RFC vectors readable
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def processor_for(header: str) -> extensions.ExtensionProcessorInterface:
    """Return the processor for the one offer in ``header`` (quoted values kept as the 0.7.9 drafts need)."""
    (extension,) = common.parse_extensions(header, allow_quoted_string=True)
    processor = extensions.get_extension_processor(extension)
    assert processor is not None
    return processor


def offer(header: str) -> extensions.PerMessageDeflateExtensionProcessor:
    processor = processor_for(header)
    assert isinstance(processor, extensions.PerMessageDeflateExtensionProcessor)
    return processor


def response_to(header: str) -> str | None:
    """Return the formatted response to the one offer in ``header``, None if declined."""
    response = processor_for(header).get_extension_response()
    return common.format_extension(response) if response is not None else None


def stream_for(header: str, data: bytes = b"", max_size: int | None = None):
    """Return ``(stream, request, processor)`` for a server stream that accepted ``header``, reading ``data``."""
    options = StreamOptions()
    if max_size is not None:
        options.max_message_size = max_size
    processor = processor_for(header)
    assert processor.get_extension_response() is not None
    processor.setup_stream_options(options)
    request = mock.FakeRequest(connection=mock.FakeConnection(data))
    return Stream(request, options), request, processor


def pmd_stream(data: bytes = b"", header: str = "permessage-deflate", max_size: int | None = None):
    return stream_for(header, data, max_size)


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
    assert response_to(header) == response


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


def extensions_line(head: bytes) -> str | None:
    """Return the value of the Sec-WebSocket-Extensions line of a response head, None without one."""
    for line in head.split(b"\r\n"):
        if line.startswith(b"Sec-WebSocket-Extensions: "):
            return line.split(b": ", 1)[1].decode()
    return None


def response_extensions(request) -> str | None:
    return extensions_line(request.connection.written[0])


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


# 0.7.9's perframe-compress and permessage-compress: negotiation, without I/O.


@pytest.mark.parametrize(
    ("header", "response"),
    [
        ("perframe-compress; method=deflate", "perframe-compress; method=deflate"),
        ('perframe-compress; method="deflate"', "perframe-compress; method=deflate"),
        ('perframe-compress; method="deflate; max_window_bits=10"', "perframe-compress; method=deflate"),
        ('perframe-compress; method="deflate; max_window_bits=8"', "perframe-compress; method=deflate"),
        ('perframe-compress; method="deflate; no_context_takeover"', "perframe-compress; method=deflate"),
        ('perframe-compress; method="x-unknown; a=1, deflate"', "perframe-compress; method=deflate"),
        # A declined method does not stop the next one from being chosen.
        ('perframe-compress; method="deflate; max_window_bits=7, deflate"', "perframe-compress; method=deflate"),
        ("perframe-compress", None),
        ("perframe-compress; method", None),
        ("perframe-compress; method=x-unknown", None),
        ("perframe-compress; method=deflate; method=deflate", None),
        ("perframe-compress; method=deflate; unknown", None),
        ('perframe-compress; method="deflate; max_window_bits"', None),
        ('perframe-compress; method="deflate; max_window_bits=16"', None),
        ('perframe-compress; method="deflate; max_window_bits=010"', None),
        ('perframe-compress; method="deflate; no_context_takeover=1"', None),
        ('perframe-compress; method="deflate; no_context_takeover; no_context_takeover"', None),
        ('perframe-compress; method="deflate; unknown"', None),
        ('perframe-compress; method="deflate;"', None),
        ('perframe-compress; method=","', None),
    ],
)
def test_perframe_compress_negotiation_table(header, response):
    assert response_to(header) == response


@pytest.mark.parametrize(
    ("header", "response"),
    [
        ("permessage-compress; method=deflate", "permessage-compress; method=deflate"),
        ("x-webkit-permessage-compress; method=deflate", "x-webkit-permessage-compress; method=deflate"),
        (
            'permessage-compress; method="deflate; s2c_max_window_bits=10"',
            'permessage-compress; method="deflate; s2c_max_window_bits=10"',
        ),
        (
            'permessage-compress; method="deflate; s2c_no_context_takeover"',
            'permessage-compress; method="deflate; s2c_no_context_takeover"',
        ),
        (
            'permessage-compress; method="deflate; s2c_no_context_takeover; s2c_max_window_bits=15"',
            'permessage-compress; method="deflate; s2c_max_window_bits=15; s2c_no_context_takeover"',
        ),
        ('permessage-compress; method="deflate; c2s_max_window_bits"', "permessage-compress; method=deflate"),
        ('permessage-compress; method="deflate; c2s_max_window_bits=12"', "permessage-compress; method=deflate"),
        ('permessage-compress; method="deflate; c2s_no_context_takeover"', "permessage-compress; method=deflate"),
        ('permessage-compress; method="x-unknown, deflate"', "permessage-compress; method=deflate"),
        ("permessage-compress", None),
        ("permessage-compress; method=x-unknown", None),
        ("permessage-compress; method=deflate; s2c_no_context_takeover", None),
        ('permessage-compress; method="deflate; s2c_max_window_bits"', None),
        ('permessage-compress; method="deflate; s2c_max_window_bits=7"', None),
        ('permessage-compress; method="deflate; s2c_max_window_bits=08"', None),
        ('permessage-compress; method="deflate; s2c_no_context_takeover=1"', None),
        ('permessage-compress; method="deflate; c2s_max_window_bits=16"', None),
        ('permessage-compress; method="deflate; c2s_no_context_takeover=1"', None),
        ('permessage-compress; method="deflate; s2c_max_window_bits=9; s2c_max_window_bits=9"', None),
        ('permessage-compress; method="deflate; server_max_window_bits=10"', None),
    ],
)
def test_permessage_compress_negotiation_table(header, response):
    assert response_to(header) == response


def test_permessage_compress_hook_asks_the_client_for_its_window_and_no_context_takeover():
    processor = processor_for("permessage-compress; method=deflate")
    assert isinstance(processor, extensions.PerMessageCompressionExtensionProcessor)

    def tune(method_processor):
        method_processor.set_c2s_max_window_bits(8)
        method_processor.set_c2s_no_context_takeover(True)

    processor.set_compression_processor_hook(tune)
    response = processor.get_extension_response()
    assert common.format_extension(response) == (
        'permessage-compress; method="deflate; c2s_max_window_bits=8; c2s_no_context_takeover"'
    )
    assert response.get_parameter_value("method") == "deflate; c2s_max_window_bits=8; c2s_no_context_takeover"
    assert isinstance(processor.get_compression_processor(), extensions.DeflateMessageProcessor)


def test_perframe_compress_hook_asks_the_client_for_its_window():
    processor = processor_for("perframe-compress; method=deflate")
    processor.set_compression_processor_hook(lambda method: method.set_response_window_bits(10))
    response = processor.get_extension_response()
    assert common.format_extension(response) == 'perframe-compress; method="deflate; max_window_bits=10"'
    assert isinstance(processor.get_compression_processor(), extensions.DeflateFrameExtensionProcessor)


def test_hook_that_deactivates_the_method_declines_the_offer():
    processor = processor_for("perframe-compress; method=deflate")
    processor.set_compression_processor_hook(lambda method: method.set_active(False))
    assert processor.get_extension_response() is None
    assert processor.get_compression_processor() is None


def test_c2s_window_outside_8_to_15_is_refused():
    method = extensions.DeflateMessageProcessor(common.ExtensionParameter("deflate"))
    with pytest.raises(ValueError, match="c2s_max_window_bits must be 8-15, not 16"):
        method.set_c2s_max_window_bits(16)


@pytest.mark.parametrize(
    ("header", "name", "method_class"),
    [
        ("perframe-compress; method=deflate", "perframe-compress", extensions.DeflateFrameExtensionProcessor),
        ("permessage-compress; method=deflate", "permessage-compress", extensions.DeflateMessageProcessor),
        ("x-webkit-permessage-compress; method=deflate", "permessage-compress", extensions.DeflateMessageProcessor),
    ],
)
def test_compress_processor_names_itself_and_its_method(header, name, method_class):
    processor = processor_for(header)
    assert processor.name() == name
    assert processor.get_compression_processor() is None
    assert processor.get_extension_response() is not None
    assert type(processor.get_compression_processor()) is method_class
    assert processor.get_compression_processor().request().name() == "deflate"


@pytest.mark.parametrize(
    "header",
    [
        'permessage-deflate; server_max_window_bits="1 0"',
        'permessage-deflate; client_max_window_bits="a b"',
        'permessage-deflate; x="a b"',
        'deflate-frame; max_window_bits="1 0"',
        'x-webkit-deflate-frame; no_context_takeover="a b"',
        'deflate-stream; x="a b"',
        'perframe-compress; method="deflate; max_window_bits=\\"1 0\\""',
        'permessage-compress; method="deflate; s2c_max_window_bits=\\"a b\\""',
        'mux_DO_NOT_USE; quota="a b"',
    ],
)
def test_offer_with_a_non_token_value_is_declined_by_its_processor(header):
    # SPEC §5: such a value makes only that offer unusable. get_extension_processor
    # already gives most of these no processor; each processor declines them too.
    (extension,) = common.parse_extensions(header, allow_quoted_string=True)
    processor = extensions._available_processors[extension.name()](extension)
    assert processor.get_extension_response() is None


@pytest.mark.parametrize(
    ("header", "has_processor"),
    [
        ('permessage-deflate; server_max_window_bits="1 0"', False),
        ('deflate-frame; max_window_bits="1 0"', False),
        ('mux_DO_NOT_USE; quota="a b"', False),
        ('permessage-deflate; server_max_window_bits="10"', True),
        ('perframe-compress; method="deflate; max_window_bits=10"', True),
        ('permessage-compress; method="deflate; s2c_max_window_bits=10"', True),
    ],
)
def test_get_extension_processor_gives_none_for_non_token_values_but_quoted_method_lists(header, has_processor):
    (extension,) = common.parse_extensions(header, allow_quoted_string=True)
    assert (extensions.get_extension_processor(extension) is not None) is has_processor


# 0.7.9's compress extensions on a stream, byte for byte, without I/O.

HELLO_AGAIN = b"\xc1\x05\xf2\x00\x11\x00\x00"  # RFC 7692 §7.2.3.2: "Hello" after "Hello"


@pytest.mark.parametrize("header", ["permessage-compress; method=deflate", "perframe-compress; method=deflate"])
def test_compress_extensions_send_hello_twice_with_a_shared_window(header):
    stream, request, _ = stream_for(header)
    stream.send_message("Hello")
    stream.send_message("Hello")
    assert request.connection.written == [HELLO_COMPRESSED, HELLO_AGAIN]


def test_permessage_compress_s2c_no_context_takeover_compresses_each_message_afresh():
    stream, request, _ = stream_for('permessage-compress; method="deflate; s2c_no_context_takeover"')
    stream.send_message("Hello")
    stream.send_message("Hello")
    assert request.connection.written == [HELLO_COMPRESSED, HELLO_COMPRESSED]


def test_perframe_compress_no_context_takeover_compresses_each_frame_afresh():
    stream, request, _ = stream_for('perframe-compress; method="deflate; no_context_takeover"')
    stream.send_message("Hello")
    stream.send_message("Hello")
    assert request.connection.written == [HELLO_COMPRESSED, HELLO_COMPRESSED]


def test_permessage_compress_s2c_max_window_bits_sizes_the_compressor():
    _, _, processor = stream_for('permessage-compress; method="deflate; s2c_max_window_bits=9"')
    assert processor.get_compression_processor()._rfc1979_deflater._window_bits == 9


def test_permessage_compress_sends_empty_and_nul_messages_as_0_7_9_does():
    stream, request, _ = stream_for("permessage-compress; method=deflate")
    stream.send_message("")
    stream.send_message("\x00")
    # RFC 7692 §7.2.3.6 (an empty message is one 0x00 byte); 0.7.9's vector for "\x00".
    assert request.connection.written == [b"\xc1\x01\x00", b"\xc1\x03\x62\x00\x00"]


def test_permessage_compress_fragmented_send_sets_rsv1_on_the_first_frame_only():
    stream, request, _ = stream_for("permessage-compress; method=deflate")
    stream.send_message("Hello", end=False)
    stream.send_message("World", end=True)
    assert request.connection.written == [
        b"\x41\x0b\xf2\x48\xcd\xc9\xc9\x07\x00\x00\x00\xff\xff",
        b"\x80\x07\x0a\xcf\x2f\xca\x49\x01\x00",
    ]


def test_perframe_compress_fragmented_send_compresses_every_frame():
    stream, request, _ = stream_for("perframe-compress; method=deflate")
    stream.send_message("Hel", end=False)
    stream.send_message("lo", end=True)
    stream.send_ping(b"p")
    first, second, ping = request.connection.written
    assert (first[0], second[0], ping) == (0x41, 0xC0, b"\x89\x01p")
    inflater = util._RFC1979Inflater()
    assert inflater.filter(first[2:]) + inflater.filter(second[2:]) == b"Hello"


def test_permessage_compress_receives_fragments_with_a_ping_between_then_close():
    data = masked(b"\x41\x03\xf2\x48\xcd") + masked(b"\x89\x01p") + masked(b"\x80\x04\xc9\xc9\x07\x00")
    data += masked(HELLO_AGAIN) + masked(b"\x88\x02\x03\xe8")
    stream, request, _ = stream_for("permessage-compress; method=deflate", data)
    assert stream.receive_message() == "Hello"
    assert stream.receive_message() == "Hello"
    assert stream.receive_message() is None
    assert request.connection.written == [b"\x8a\x01p", b"\x88\x02\x03\xe8"]


def test_perframe_compress_receives_compressed_and_plain_frames_of_one_message():
    deflater = util._RFC1979Deflater(None, False)
    data = serialize_frame(Frame(0, 1, 0, 0, 1, deflater.filter(b"Hel")), KEY)
    data += masked(b"\x89\x01p")
    data += serialize_frame(Frame(0, 0, 0, 0, 0, b"lo, "), KEY)
    data += serialize_frame(Frame(1, 1, 0, 0, 0, deflater.filter(b"World")), KEY)
    stream, request, _ = stream_for("perframe-compress; method=deflate", data)
    assert stream.receive_message() == "Hello, World"
    assert request.connection.written == [b"\x8a\x01p"]


@pytest.mark.parametrize("header", ["permessage-compress; method=deflate", "perframe-compress; method=deflate"])
def test_compress_method_processor_can_stop_and_restart_outgoing_compression(header):
    stream, request, processor = stream_for(header)
    processor.get_compression_processor().disable_outgoing_compression()
    stream.send_message("Hello")
    processor.get_compression_processor().enable_outgoing_compression()
    stream.send_message("Hello")
    assert request.connection.written == [b"\x81\x05Hello", HELLO_COMPRESSED]


@pytest.mark.parametrize("header", ["permessage-compress; method=deflate", "perframe-compress; method=deflate"])
def test_compress_method_processor_set_bfinal_ends_with_a_final_block(header):
    stream, request, processor = stream_for(header)
    processor.get_compression_processor().set_bfinal(True)
    stream.send_message("Hello")
    stream.send_message("Hello")
    assert request.connection.written == [b"\xc1\x07\xf3\x48\xcd\xc9\xc9\x07\x00"] * 2
    receiver, _, _ = stream_for(header, b"".join(masked(w) for w in request.connection.written))
    assert [receiver.receive_message(), receiver.receive_message()] == ["Hello", "Hello"]


# 0.7.9's compress extensions in the opening handshake, without I/O.


@pytest.mark.parametrize(
    ("header", "response", "processor_classes"),
    [
        (
            "perframe-compress; method=deflate",
            "perframe-compress; method=deflate",
            [extensions.PerFrameCompressionExtensionProcessor],
        ),
        (
            "permessage-compress; method=deflate",
            "permessage-compress; method=deflate",
            [extensions.PerMessageCompressionExtensionProcessor],
        ),
        (
            "permessage-compress; method=deflate, permessage-deflate",
            "permessage-compress; method=deflate",
            [extensions.PerMessageCompressionExtensionProcessor, extensions.PerMessageDeflateExtensionProcessor],
        ),
        (
            "permessage-deflate, perframe-compress; method=deflate",
            "permessage-deflate",
            [extensions.PerMessageDeflateExtensionProcessor, extensions.PerFrameCompressionExtensionProcessor],
        ),
        (
            "perframe-compress; method=x-unknown, permessage-compress; method=deflate",
            "permessage-compress; method=deflate",
            [extensions.PerFrameCompressionExtensionProcessor, extensions.PerMessageCompressionExtensionProcessor],
        ),
        (
            "mux_DO_NOT_USE, permessage-compress; method=deflate",
            "permessage-compress; method=deflate",
            [extensions.MuxExtensionProcessor, extensions.PerMessageCompressionExtensionProcessor],
        ),
        (
            "permessage-compress; method=deflate, mux_DO_NOT_USE; quota=10",
            "permessage-compress; method=deflate",
            [extensions.PerMessageCompressionExtensionProcessor, extensions.MuxExtensionProcessor],
        ),
        ("mux_DO_NOT_USE", None, [extensions.MuxExtensionProcessor]),
        (
            'permessage-compress; method="deflate; s2c_max_window_bits=10"',
            'permessage-compress; method="deflate; s2c_max_window_bits=10"',
            [extensions.PerMessageCompressionExtensionProcessor],
        ),
        (
            'perframe-compress; method="deflate; max_window_bits=\\"1 0\\"", permessage-deflate',
            "permessage-deflate",
            [extensions.PerFrameCompressionExtensionProcessor, extensions.PerMessageDeflateExtensionProcessor],
        ),
    ],
)
def test_handshake_answers_compress_offers(header, response, processor_classes):
    request = handshake_with(header)
    assert response_extensions(request) == response
    assert [type(p) for p in request.ws_extension_processors] == processor_classes
    assert [common.format_extension(e) for e in request.ws_extensions] == ([response] if response else [])


def test_handler_tunes_permessage_compress_in_the_extra_handshake():
    def tune(request):
        (processor,) = request.ws_extension_processors
        processor.set_compression_processor_hook(lambda method: method.set_c2s_no_context_takeover(True))

    request = handshake_with("permessage-compress; method=deflate", tune)
    assert response_extensions(request) == 'permessage-compress; method="deflate; c2s_no_context_takeover"'


@pytest.mark.parametrize("header", ["perframe-compress; method=deflate", "permessage-compress; method=deflate"])
def test_handler_removing_a_compress_processor_gets_an_uncompressed_connection(header):
    request = handshake_with(header, lambda r: r.ws_extension_processors.remove(r.ws_extension_processors[0]))
    assert response_extensions(request) is None
    request.ws_stream.send_message("Hello")
    assert request.connection.written[-1] == b"\x81\x05Hello"


# The names both originals' extensions.py define (0.7.9 and pywebsocket3 4.0.2).


def test_registry_maps_every_known_extension_name_to_its_processor():
    assert extensions._available_processors == {
        "permessage-deflate": extensions.PerMessageDeflateExtensionProcessor,
        "deflate-frame": extensions.DeflateFrameExtensionProcessor,
        "x-webkit-deflate-frame": extensions.DeflateFrameExtensionProcessor,
        "deflate-stream": extensions.DeflateStreamExtensionProcessor,
        "perframe-compress": extensions.PerFrameCompressionExtensionProcessor,
        "permessage-compress": extensions.PerMessageCompressionExtensionProcessor,
        "x-webkit-permessage-compress": extensions.PerMessageCompressionExtensionProcessor,
        "mux_DO_NOT_USE": extensions.MuxExtensionProcessor,
    }
    assert extensions.get_extension_processor(common.ExtensionParameter("x-unknown")) is None
    assert extensions.PerMessageCompressExtensionProcessor is extensions.PerMessageCompressionExtensionProcessor


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("deflate", True),
        ("permessage-deflate", True),
        ("deflate-frame", True),
        ("x-webkit-deflate-frame", True),
        ("deflate-stream", True),
        ("perframe-compress", True),
        ("permessage-compress", True),
        ("x-webkit-permessage-compress", True),
        ("mux_DO_NOT_USE", False),
        ("x-unknown", False),
        (None, False),
    ],
)
def test_is_compression_extension(name, expected):
    assert extensions.is_compression_extension(name) is expected


@pytest.mark.parametrize(("bits", "value"), [("8", 8), ("9", 9), ("12", 12), ("15", 15)])
def test_parse_window_bits_accepts_8_to_15(bits, value):
    assert extensions._parse_window_bits(bits) == value


@pytest.mark.parametrize(
    "bits",
    [
        None,
        "",
        "foobar",
        " 8 ",
        "a8a",
        "00000",
        "00008",
        "08",
        "0x8",
        "+8",
        "9.5",
        "8.0",
        "-8",
        "0",
        "7",
        "16",
        "10000000",
        "\uff18",
    ],
)
def test_parse_window_bits_raises_value_error_for_anything_else(bits):
    with pytest.raises(ValueError):
        extensions._parse_window_bits(bits)


@pytest.mark.parametrize(("bits", "valid"), [(None, True), ("8", True), ("15", True), ("7", False), ("x", False)])
def test_validate_window_bits(bits, valid):
    assert extensions._validate_window_bits(bits) is valid


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("foo", [("foo", [])]),
        ("foo; x; y=10", [("foo", [("x", None), ("y", "10")])]),
        ('foo; x="Hello World"; y=10', [("foo", [("x", "Hello World"), ("y", "10")])]),
        ("foo, bar", [("foo", []), ("bar", [])]),
        ('foo; x="Hello World", bar; y=10', [("foo", [("x", "Hello World")]), ("bar", [("y", "10")])]),
    ],
)
def test_parse_compression_method(data, expected):
    methods = extensions._parse_compression_method(data)
    assert [(m.name(), m.get_parameters()) for m in methods] == expected


@pytest.mark.parametrize("data", ["", "foo;", "foo; x=", 'foo; x="open'])
def test_parse_compression_method_rejects_malformed_lists(data):
    with pytest.raises(common.ExtensionParsingException):
        extensions._parse_compression_method(data)


@pytest.mark.parametrize(
    ("params", "desc"),
    [
        ([], "foo"),
        ([("x", "Hello, World"), ("y", "10")], 'foo; x="Hello, World"; y=10'),
        ([("x", None), ("q", 'a"b')], 'foo; x; q="a\\"b"'),
    ],
)
def test_create_accepted_method_desc(params, desc):
    assert extensions._create_accepted_method_desc("foo", params) == desc


@pytest.mark.parametrize(
    ("header", "window_bits", "no_context_takeover"),
    [
        ("permessage-deflate", zlib.MAX_WBITS, False),
        ("permessage-deflate; server_max_window_bits=10", 10, False),
        ("permessage-deflate; server_no_context_takeover", zlib.MAX_WBITS, True),
    ],
)
def test_permessage_deflate_processor_exposes_its_deflater_as_pywebsocket3_does(
    header, window_bits, no_context_takeover
):
    processor = offer(header)
    assert processor.get_extension_response() is not None
    assert processor._rfc1979_deflater._window_bits == window_bits
    assert processor._rfc1979_deflater._no_context_takeover is no_context_takeover
    assert processor._CLIENT_MAX_WINDOW_BITS_PARAM == "client_max_window_bits"


def client_stream(framer) -> tuple[Stream, mock.FakeRequest]:
    options = StreamOptions()
    options.mask_send = True
    options.unmask_receive = False
    framer.setup_stream_options(options)
    request = mock.FakeRequest(connection=mock.FakeConnection())
    return Stream(request, options), request


def test_pywebsocket3_framer_lets_a_client_stream_talk_to_the_server():
    # pywebsocket3's echo_client: build a framer, enable compression, set up a client stream.
    framer = extensions._PerMessageDeflateFramer(None, False)
    framer.set_compress_outgoing_enabled(True)
    client, client_request = client_stream(framer)
    client.send_message("Hello")
    client.send_message("Hello", end=False)
    client.send_message(" again")
    sent = b"".join(client_request.connection.written)
    assert sent[0] == 0xC1 and sent[1] & 0x80  # compressed and masked
    server, server_request, _ = pmd_stream(sent)
    assert [server.receive_message(), server.receive_message()] == ["Hello", "Hello again"]
    server.send_message("Hi")
    client_request.connection.feed(b"".join(server_request.connection.written))
    assert client.receive_message() == "Hi"


def test_pywebsocket3_framer_starts_with_outgoing_compression_disabled():
    framer = extensions._PerMessageDeflateFramer(None, False)
    client, request = client_stream(framer)
    client.send_message("Hello")
    (frame,) = request.connection.written
    assert frame[0] == 0x81 and len(frame) == 2 + 4 + 5  # plain, masked


def test_codec_framer_steps_transform_one_message_or_frame():
    codec = extensions.PerMessageDeflateCodec(None, False)
    assert codec._process_outgoing_message("Hello", True, False) == HELLO_COMPRESSED[2:]
    codec.set_compress_outgoing_enabled(False)
    assert codec._process_outgoing_message(b"\x00\x01", True, True) == b"\x00\x01"
    assert codec._process_incoming_message(HELLO_COMPRESSED[2:], True) == b"Hello"
    assert codec._process_incoming_message(b"plain", False) == b"plain"
    text, ping = Frame(1, 1, 0, 0, 1, b""), Frame(1, 1, 0, 0, 9, b"")
    assert (codec._process_incoming_frame(text), text.rsv1) == (True, 0)
    assert (codec._process_incoming_frame(ping), ping.rsv1) == (False, 1)
    text, pong = Frame(1, 0, 0, 0, 1, b""), Frame(1, 0, 0, 0, 10, b"")
    codec._process_outgoing_frame(text, True)
    codec._process_outgoing_frame(pong, True)
    assert (text.rsv1, pong.rsv1) == (1, 0)
    codec.set_bfinal(True)
    assert codec.bfinal is True


def test_deflate_message_processor_filter_steps_need_the_method_accepted():
    processor = processor_for("permessage-compress; method=deflate")
    assert processor.get_extension_response() is not None
    method = processor.get_compression_processor()
    assert method._process_outgoing_message("Hello", True, False) == HELLO_COMPRESSED[2:]
    assert method._process_incoming_message(HELLO_COMPRESSED[2:], True) == b"Hello"
    frame = Frame(1, 1, 0, 0, 1, b"")
    assert method._process_incoming_frame(frame) is True
    method._process_outgoing_frame(frame, True)
    assert frame.rsv1 == 1
    fresh = extensions.DeflateMessageProcessor(common.ExtensionParameter("deflate"))
    with pytest.raises(ValueError, match="not been accepted"):
        fresh._process_incoming_message(b"", False)


def test_deflate_frame_filters_deflate_and_inflate_one_frame():
    processor = processor_for("deflate-frame")
    assert processor.get_extension_response() is not None
    frame = Frame(1, 0, 0, 0, 1, b"Hello")
    processor._outgoing_filter(frame)
    assert (frame.rsv1, frame.payload) == (1, HELLO_COMPRESSED[2:])
    incoming = Frame(1, 1, 0, 0, 1, HELLO_COMPRESSED[2:])
    processor._incoming_filter(incoming)
    assert (incoming.rsv1, incoming.payload) == (0, b"Hello")


def test_mux_processor_keeps_0_7_9_accessors_and_never_accepts():
    processor = processor_for("mux_DO_NOT_USE; quota=100")
    assert isinstance(processor, extensions.MuxExtensionProcessor)
    assert processor.name() == "mux_DO_NOT_USE"
    assert processor.quota() == 0
    processor.set_quota(5)
    offered = [common.ExtensionParameter("deflate-frame")]
    processor.set_extensions(offered)
    assert (processor.quota(), processor.extensions()) == (5, offered)
    assert processor.get_extension_response() is None
    assert processor.is_active() is False


def test_average_ratio_calculator():
    calculator = extensions._AverageRatioCalculator()
    assert calculator.get_average_ratio() == float("inf")
    calculator.add_original_bytes(100)
    calculator.add_result_bytes(20)
    calculator.add_original_bytes(100)
    calculator.add_result_bytes(30)
    assert calculator.get_average_ratio() == 0.25


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda lg: extensions._log_compression_ratio(lg, 100, 400, 25, 200),
            "outgoing compression ratio: 0.250000 (average: 0.500000)",
        ),
        (
            lambda lg: extensions._log_compression_ratio(lg, 0, 0, 3, 3),
            "outgoing compression ratio: inf (average: inf)",
        ),
        (
            lambda lg: extensions._log_decompression_ratio(lg, 25, 200, 100, 400),
            "incoming compression ratio: 0.250000 (average: 0.500000)",
        ),
        (
            lambda lg: extensions._log_outgoing_compression_ratio(lg, 100, 25, 0.5),
            "outgoing compression ratio: 0.250000 (average: 0.500000)",
        ),
        (
            lambda lg: extensions._log_incoming_compression_ratio(lg, 25, 0, 0.5),
            "incoming compression ratio: inf (average: 0.500000)",
        ),
    ],
)
def test_ratio_loggers_log_at_debug(caplog, call, message):
    logger = logging.getLogger("test.ratio")
    with caplog.at_level(logging.DEBUG, logger="test.ratio"):
        call(logger)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.DEBUG, message)]


# 0.7.9's compress extensions end to end: a raw client with zlib against the
# standalone server's example echo handler.


class RawCompressClient:
    """A raw-socket client that compresses with zlib itself (independent of our codec)."""

    def __init__(self, port: int, offer: str, resource: str = "/echo") -> None:
        self.sock = open_socket(port)
        self.sock.sendall(upgrade_request(resource, extra=f"Sec-WebSocket-Extensions: {offer}\r\n"))
        self.head, rest = read_head(self.sock, time.monotonic() + TIMEOUT)
        self.reader = FrameReader(self.sock, rest)
        self._compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._decompressor = zlib.decompressobj(-zlib.MAX_WBITS)

    def close(self) -> None:
        self.sock.close()

    def deflate(self, data: bytes) -> bytes:
        """Compress and sync-flush; drop the 00 00 ff ff tail (the window goes on)."""
        compressed = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        assert compressed.endswith(b"\x00\x00\xff\xff")
        return compressed[:-4]

    def inflate(self, payload: bytes) -> bytes:
        return self._decompressor.decompress(payload + b"\x00\x00\xff\xff")

    def send(self, *frames: bytes) -> None:
        self.sock.sendall(b"".join(frames))

    def receive(self) -> tuple[int, bytes]:
        """Return the first header byte and the payload of the server's next frame."""
        return self.reader.raw_frame()


@pytest.fixture
def raw_compress_client(example_server):
    """Open raw clients (closed at teardown): to /echo on the example server by default."""
    clients: list[RawCompressClient] = []

    def connect_with(offer: str, resource: str = "/echo", server=example_server) -> RawCompressClient:
        client = RawCompressClient(server.port, offer, resource)
        clients.append(client)
        return client

    yield connect_with
    for client in clients:
        client.close()


@pytest.mark.parametrize(
    "offer", ["permessage-compress; method=deflate", "x-webkit-permessage-compress; method=deflate"]
)
def test_permessage_compress_echoes_compressed_messages_end_to_end(raw_compress_client, offer):
    client = raw_compress_client(offer)
    assert status_of(client.head) == 101
    assert extensions_line(client.head) == offer
    # A whole compressed message.
    client.send(client_frame(0x1, client.deflate(b"Hello"), rsv1=True))
    first, payload = client.receive()
    assert first == 0xC1  # FIN, RSV1, text
    assert client.inflate(payload) == b"Hello"
    # One compressed message in two frames (RSV1 on the first only), a ping between.
    message = "compressed message in two fragments \u00e9".encode()
    compressed = client.deflate(message)
    client.send(
        client_frame(0x1, compressed[:10], fin=False, rsv1=True),
        client_frame(0x9, b"ping body"),
        client_frame(0x0, compressed[10:]),
    )
    assert client.receive() == (0x8A, b"ping body")
    first, payload = client.receive()
    assert first == 0xC1
    assert client.inflate(payload) == message
    # An uncompressed binary message is read as is; the echo comes back compressed.
    client.send(client_frame(0x2, b"\x00\xff\x00"))
    first, payload = client.receive()
    assert first == 0xC2
    assert client.inflate(payload) == b"\x00\xff\x00"
    client.send(client_frame(0x8, b"\x03\xe8"))
    assert client.receive() == (0x88, b"\x03\xe8")


def test_perframe_compress_echoes_compressed_frames_end_to_end(raw_compress_client):
    client = raw_compress_client("perframe-compress; method=deflate")
    assert status_of(client.head) == 101
    assert extensions_line(client.head) == "perframe-compress; method=deflate"
    client.send(client_frame(0x1, client.deflate(b"Hello"), rsv1=True))
    first, payload = client.receive()
    assert first == 0xC1
    assert client.inflate(payload) == b"Hello"
    # Each frame is compressed on its own (or not at all): RSV1 per frame.
    client.send(
        client_frame(0x1, client.deflate(b"per-frame "), fin=False, rsv1=True),
        client_frame(0x9, b"p"),
        client_frame(0x0, b"plain ", fin=False),
        client_frame(0x0, client.deflate(b"compression"), rsv1=True),
    )
    assert client.receive() == (0x8A, b"p")
    first, payload = client.receive()
    assert first == 0xC1
    assert client.inflate(payload) == b"per-frame plain compression"
    client.send(client_frame(0x8, b"\x03\xe8"))
    assert client.receive() == (0x88, b"\x03\xe8")


def test_permessage_compress_with_method_parameters_in_the_handshake_end_to_end(raw_compress_client):
    # s2c_no_context_takeover: every message from the server starts a fresh window.
    client = raw_compress_client('permessage-compress; method="deflate; s2c_no_context_takeover"')
    assert status_of(client.head) == 101
    assert extensions_line(client.head) == 'permessage-compress; method="deflate; s2c_no_context_takeover"'
    for _ in range(2):
        client.send(client_frame(0x1, client.deflate(b"Hello"), rsv1=True))
        assert client.receive() == (0xC1, HELLO_COMPRESSED[2:])


INSPECTING_HANDLER = """
def web_socket_do_extra_handshake(request):
    request.seen = [type(p).__name__ for p in request.ws_extension_processors]


def web_socket_transfer_data(request):
    (processor,) = request.ws_extension_processors
    method = type(processor.get_compression_processor()).__name__
    request.ws_stream.send_message(" ".join(request.seen + [method]))
"""

REMOVING_HANDLER = """
def web_socket_do_extra_handshake(request):
    for processor in list(request.ws_extension_processors):
        if processor.name() in ("perframe-compress", "permessage-compress"):
            request.ws_extension_processors.remove(processor)


def web_socket_transfer_data(request):
    request.ws_stream.send_message("plain")
"""


@pytest.fixture
def processor_handlers_server(tmp_path):
    (tmp_path / "inspect_wsh.py").write_text(INSPECTING_HANDLER)
    (tmp_path / "remove_wsh.py").write_text(REMOVING_HANDLER)
    with running_server("-d", str(tmp_path)) as server:
        yield server


@pytest.mark.parametrize(
    ("offer", "names"),
    [
        ("perframe-compress; method=deflate", "PerFrameCompressionExtensionProcessor DeflateFrameExtensionProcessor"),
        ("permessage-compress; method=deflate", "PerMessageCompressionExtensionProcessor DeflateMessageProcessor"),
    ],
)
def test_handler_sees_the_compress_processor_end_to_end(processor_handlers_server, raw_compress_client, offer, names):
    client = raw_compress_client(offer, "/inspect", processor_handlers_server)
    assert extensions_line(client.head) == offer
    first, payload = client.receive()
    assert first == 0xC1
    assert client.inflate(payload) == names.encode()


@pytest.mark.parametrize("offer", ["perframe-compress; method=deflate", "permessage-compress; method=deflate"])
def test_handler_removing_the_compress_processor_end_to_end(processor_handlers_server, raw_compress_client, offer):
    client = raw_compress_client(offer, "/remove", processor_handlers_server)
    assert status_of(client.head) == 101
    assert extensions_line(client.head) is None
    assert client.receive() == (0x81, b"plain")
