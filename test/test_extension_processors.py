"""Extension processors at the edges ``test_extensions.py`` leaves: defaults, settings made before acceptance, skips."""

from __future__ import annotations

import zlib

from mod_pywebsocket import common, extensions
from mod_pywebsocket._stream_hybi import Stream, StreamOptions
from test import mock


def processor_for(header: str) -> extensions.ExtensionProcessorInterface:
    (offer,) = common.parse_extensions(header)
    processor = extensions.get_extension_processor(offer)
    assert processor is not None
    return processor


def accepted_stream(processor: extensions.ExtensionProcessorInterface) -> tuple[Stream, mock.FakeRequest]:
    options = StreamOptions()
    assert processor.get_extension_response() is not None
    processor.setup_stream_options(options)
    request = mock.FakeRequest()
    return Stream(request, options), request


def test_base_processor_has_no_name_declines_and_deactivates_itself():
    processor = extensions.ExtensionProcessorInterface(common.ExtensionParameter("x-unknown"))
    assert processor.name() is None
    assert processor.is_active() is True
    assert processor.get_extension_response() is None
    assert processor.is_active() is False


def test_deactivated_processor_leaves_the_stream_options_alone():
    processor = processor_for("permessage-deflate")
    processor.set_active(False)
    options = StreamOptions()
    before = dict(vars(options))
    processor.setup_stream_options(options)
    assert vars(options) == before
    assert processor.get_extension_response() is None


def test_permessage_deflate_settings_made_before_acceptance_apply_to_the_accepted_stream():
    processor = processor_for("permessage-deflate")
    assert isinstance(processor, extensions.PerMessageDeflateExtensionProcessor)
    processor.set_bfinal(True)
    processor.disable_outgoing_compression()
    stream, request = accepted_stream(processor)
    stream.send_message("Hello")
    processor.enable_outgoing_compression()
    stream.send_message("Hello")
    # Uncompressed first; then compressed, ending with a final block (RFC 7692 §7.2.3.4).
    assert request.connection.written == [b"\x81\x05Hello", b"\xc1\x07\xf3\x48\xcd\xc9\xc9\x07\x00"]
    assert zlib.decompressobj(-15).decompress(request.connection.written[1][2:]) == b"Hello"


def test_permessage_deflate_sends_the_handlers_window_limit_to_a_client_that_offered_one_without_value():
    processor = processor_for("permessage-deflate; client_max_window_bits")
    assert isinstance(processor, extensions.PerMessageDeflateExtensionProcessor)
    processor.set_client_max_window_bits(9)
    response = processor.get_extension_response()
    assert response is not None
    assert common.format_extension(response) == "permessage-deflate; client_max_window_bits=9"


def test_deflate_frame_response_asks_the_client_for_a_window_and_no_context_takeover():
    processor = processor_for("deflate-frame")
    assert isinstance(processor, extensions.DeflateFrameExtensionProcessor)
    processor.set_response_window_bits(10)
    processor.set_response_no_context_takeover(True)
    response = processor.get_extension_response()
    assert response is not None
    assert common.format_extension(response) == "deflate-frame; max_window_bits=10; no_context_takeover"


def test_processor_names():
    assert processor_for("deflate-stream").name() == "deflate-stream"
    assert extensions.DeflateMessageProcessor(common.ExtensionParameter("deflate")).name() == "deflate"
    assert processor_for("x-webkit-deflate-frame").name() == "deflate-frame"


def test_accept_extensions_skips_none_and_deactivated_processors():
    refused = processor_for("permessage-deflate")
    refused.set_active(False)
    kept = processor_for("deflate-frame")
    request = mock.FakeRequest()
    request.ws_extension_processors = [None, refused, kept]  # type: ignore[attr-defined]
    options = StreamOptions()
    accepted = extensions.accept_extensions(request, options)
    assert [common.format_extension(e) for e in accepted] == ["deflate-frame"]
    assert options.deflate_frame is True
