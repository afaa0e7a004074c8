"""Extension processors: negotiate an offered extension and set up the stream.

Layer 0. The handshake asks ``get_extension_processors`` for one processor
per offer it understands (unknown offers are ignored), lets the handler's
``web_socket_do_extra_handshake`` edit ``request.ws_extension_processors``,
then calls ``accept_extensions`` on what is left.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from mod_pywebsocket import common, http_header_util, util

__all__ = [
    "DeflateFrameExtensionProcessor",
    "DeflateStreamExtensionProcessor",
    "ExtensionProcessorInterface",
    "PerMessageDeflateCodec",
    "PerMessageDeflateExtensionProcessor",
    "accept_extensions",
    "get_extension_processor",
    "get_extension_processors",
]

_LOGGER = logging.getLogger(__name__)


class ExtensionProcessorInterface:
    """Base of extension processors.

    Subclasses override ``name``, ``_get_extension_response_internal`` and
    ``_setup_stream_options_internal``.
    """

    def __init__(self, request: common.ExtensionParameter) -> None:
        self._request = request
        self._active = True

    def request(self) -> common.ExtensionParameter:
        """Return the offer this processor answers."""
        return self._request

    def name(self) -> str | None:
        """Return the extension's name."""
        return None

    def check_consistency_with_other_processors(self, processors: list[Any]) -> None:
        """Deactivate this processor if an accepted one conflicts with it."""

    def set_active(self, active: bool) -> None:
        """Accept (True) or refuse (False) the offer."""
        self._active = active

    def is_active(self) -> bool:
        """Return whether the offer will be accepted."""
        return self._active

    def _get_extension_response_internal(self) -> common.ExtensionParameter | None:
        return None

    def get_extension_response(self) -> common.ExtensionParameter | None:
        """Return the response to the offer, or None to refuse it."""
        if not self._active:
            _LOGGER.debug("extension %s is deactivated", self.name())
            return None
        response = self._get_extension_response_internal()
        if response is None:
            self._active = False
        return response

    def _setup_stream_options_internal(self, stream_options: Any) -> None:
        pass

    def setup_stream_options(self, stream_options: Any) -> None:
        """Configure the stream for the accepted extension."""
        if self._active:
            self._setup_stream_options_internal(stream_options)


_WINDOW_BITS = re.compile(r"[1-9][0-9]?\Z")
_COMPRESSION_NAMES = ("deflate", common.DEFLATE_FRAME_EXTENSION, common.DEFLATE_STREAM_EXTENSION)


def _parse_window_bits(value: str | None) -> int | None:
    """Return 8-15 from a ``*_max_window_bits`` value, else None."""
    if value is None or not _WINDOW_BITS.match(value):
        return None
    bits = int(value)
    return bits if 8 <= bits <= 15 else None


class _CompressionProcessor(ExtensionProcessorInterface):
    """Shared rule: one compression extension per connection, the first accepted."""

    def check_consistency_with_other_processors(self, processors: list[Any]) -> None:
        """Deactivate this offer if a compression extension is accepted already."""
        if any(p.name() in _COMPRESSION_NAMES for p in processors):
            self.set_active(False)


class PerMessageDeflateCodec:
    """Compresses outgoing and inflates incoming messages (RFC 7692 §7.2).

    The stream calls ``compress`` for each outgoing message or fragment and
    ``decompress`` for each incoming frame of a compressed message.

    Attributes:
        compress_outgoing: False sends messages uncompressed (RSV1 clear).
        bfinal: end each compressed message with a final DEFLATE block.
    """

    def __init__(self, window_bits: int | None, no_context_takeover: bool) -> None:
        self._deflater = util._RFC1979Deflater(window_bits, no_context_takeover)
        self._inflater = util._RFC1979Inflater()
        self.compress_outgoing = True
        self.bfinal = False

    def compress(self, data: bytes, end: bool) -> bytes:
        """Return the compressed form of a message, or of a fragment if not ``end``."""
        return self._deflater.filter(data, end, self.bfinal)

    def decompress(self, data: bytes, end: bool, max_size: int) -> bytes:
        """Inflate one frame's payload of a compressed message.

        Raises:
            util.DeflateSizeError: the message would exceed ``max_size`` bytes.
            zlib.error: invalid DEFLATE data.
        """
        return self._inflater.filter(data, end, max_size)


class PerMessageDeflateExtensionProcessor(_CompressionProcessor):
    """``permessage-deflate`` (RFC 7692).

    Accepts an offer whose parameters are valid (each at most once;
    ``server_max_window_bits`` with a value of 8-15, ``client_max_window_bits``
    with or without one), and declines it otherwise. A handler may tune the
    response in ``web_socket_do_extra_handshake`` with
    ``set_client_max_window_bits`` and ``set_client_no_context_takeover``, and
    switch compression of outgoing messages with
    ``enable_outgoing_compression`` / ``disable_outgoing_compression`` at any
    time.
    """

    def __init__(self, request: common.ExtensionParameter) -> None:
        super().__init__(request)
        self._client_max_window_bits: int | None = None
        self._client_no_context_takeover = False
        self._bfinal = False
        self._compress_outgoing = True
        self._codec: PerMessageDeflateCodec | None = None
        self._window_bits: int | None = None
        self._no_context_takeover = False

    def name(self) -> str:
        """Return ``'deflate'`` (the 0.7 name of the permessage compression method)."""
        return "deflate"

    def set_client_max_window_bits(self, value: int | None) -> None:
        """Ask the client to use at most ``2**value`` bytes of window (8-15).

        Raises:
            ValueError: ``value`` is outside 8-15.
        """
        if value is not None and not 8 <= value <= 15:
            raise ValueError(f"client_max_window_bits must be 8-15, not {value}")
        self._client_max_window_bits = value

    def set_client_no_context_takeover(self, value: bool) -> None:
        """Ask the client to compress each message with a fresh window."""
        self._client_no_context_takeover = value

    def set_bfinal(self, value: bool) -> None:
        """End each compressed message with a final DEFLATE block (RFC 7692 §7.2.3.4)."""
        self._bfinal = value
        if self._codec is not None:
            self._codec.bfinal = value

    def enable_outgoing_compression(self) -> None:
        """Compress the messages sent from now on."""
        self._compress_outgoing = True
        if self._codec is not None:
            self._codec.compress_outgoing = True

    def disable_outgoing_compression(self) -> None:
        """Send the messages from now on uncompressed."""
        self._compress_outgoing = False
        if self._codec is not None:
            self._codec.compress_outgoing = False

    def _get_extension_response_internal(self) -> common.ExtensionParameter | None:
        seen: set[str] = set()
        server_no_context_takeover = False
        server_max_window_bits = None
        client_window_offered = False
        client_window_limit = None
        for name, value in self._request.get_parameters():
            if name in seen:
                _LOGGER.debug("permessage-deflate offer declined: %s repeated", name)
                return None
            seen.add(name)
            if name in ("server_no_context_takeover", "client_no_context_takeover"):
                if value is not None:
                    _LOGGER.debug("permessage-deflate offer declined: %s=%r", name, value)
                    return None
                server_no_context_takeover |= name == "server_no_context_takeover"
            elif name == "server_max_window_bits":
                server_max_window_bits = _parse_window_bits(value)
                if server_max_window_bits is None:
                    _LOGGER.debug("permessage-deflate offer declined: %s=%r", name, value)
                    return None
            elif name == "client_max_window_bits":
                client_window_offered = True
                if value is not None:
                    client_window_limit = _parse_window_bits(value)
                    if client_window_limit is None:
                        _LOGGER.debug("permessage-deflate offer declined: %s=%r", name, value)
                        return None
            else:
                _LOGGER.debug("permessage-deflate offer declined: unknown parameter %s", name)
                return None
        response = common.ExtensionParameter(common.PERMESSAGE_DEFLATE_EXTENSION)
        if server_no_context_takeover:
            response.add_parameter("server_no_context_takeover", None)
        if server_max_window_bits is not None:
            response.add_parameter("server_max_window_bits", str(server_max_window_bits))
        if self._client_no_context_takeover:
            response.add_parameter("client_no_context_takeover", None)
        if self._client_max_window_bits is not None:
            # RFC 7692 §7.1.2.2: the server must not send client_max_window_bits
            # to a client that did not offer it.
            if not client_window_offered:
                _LOGGER.debug("permessage-deflate offer declined: client cannot limit its window")
                return None
            bits = self._client_max_window_bits
            if client_window_limit is not None:
                bits = min(bits, client_window_limit)
            response.add_parameter("client_max_window_bits", str(bits))
        self._window_bits = server_max_window_bits
        self._no_context_takeover = server_no_context_takeover
        return response

    def _setup_stream_options_internal(self, stream_options: Any) -> None:
        codec = PerMessageDeflateCodec(self._window_bits, self._no_context_takeover)
        codec.bfinal = self._bfinal
        codec.compress_outgoing = self._compress_outgoing
        self._codec = codec
        stream_options.permessage_deflate = codec


class _DeflateFrameOutgoingFilter:
    def __init__(self, deflater: util._RFC1979Deflater) -> None:
        self._deflater = deflater
        self.enabled = True

    def filter(self, frame: Any) -> None:
        if not self.enabled or frame.opcode >> 3:
            return
        frame.payload = self._deflater.filter(frame.payload)
        frame.rsv1 = 1


class _DeflateFrameIncomingFilter:
    def __init__(self, stream_options: Any) -> None:
        self._inflater = util._RFC1979Inflater()
        self._stream_options = stream_options

    def filter(self, frame: Any) -> None:
        # Control frames are never compressed: one with RSV1 keeps it, and the
        # stream rejects it.
        if not frame.rsv1 or frame.opcode >> 3:
            return
        frame.payload = self._inflater.filter(frame.payload, True, self._stream_options.max_message_size)
        frame.rsv1 = 0


class DeflateFrameExtensionProcessor(_CompressionProcessor):
    """``deflate-frame`` and ``x-webkit-deflate-frame``: each frame compressed alone.

    The offer's ``max_window_bits`` and ``no_context_takeover`` bind our
    compressor; ``set_response_window_bits`` / ``set_response_no_context_takeover``
    ask the same of the client.
    """

    def __init__(self, request: common.ExtensionParameter) -> None:
        super().__init__(request)
        self._response_window_bits: int | None = None
        self._response_no_context_takeover = False
        self._window_bits: int | None = None
        self._no_context_takeover = False
        self._outgoing_filter: _DeflateFrameOutgoingFilter | None = None
        self._compress_outgoing = True

    def name(self) -> str:
        """Return the offered name (``deflate-frame`` or ``x-webkit-deflate-frame``)."""
        return common.DEFLATE_FRAME_EXTENSION

    def set_response_window_bits(self, value: int | None) -> None:
        """Ask the client to use at most ``2**value`` bytes of window."""
        self._response_window_bits = value

    def set_response_no_context_takeover(self, value: bool) -> None:
        """Ask the client to compress each frame with a fresh window."""
        self._response_no_context_takeover = value

    def enable_outgoing_compression(self) -> None:
        """Compress the frames sent from now on."""
        self._compress_outgoing = True
        if self._outgoing_filter is not None:
            self._outgoing_filter.enabled = True

    def disable_outgoing_compression(self) -> None:
        """Send the frames from now on uncompressed."""
        self._compress_outgoing = False
        if self._outgoing_filter is not None:
            self._outgoing_filter.enabled = False

    def _get_extension_response_internal(self) -> common.ExtensionParameter | None:
        for name, value in self._request.get_parameters():
            if name == "max_window_bits":
                self._window_bits = _parse_window_bits(value)
                if self._window_bits is None:
                    return None
            elif name == "no_context_takeover" and value is None:
                self._no_context_takeover = True
            else:
                return None
        response = common.ExtensionParameter(self._request.name())
        if self._response_window_bits is not None:
            response.add_parameter("max_window_bits", str(self._response_window_bits))
        if self._response_no_context_takeover:
            response.add_parameter("no_context_takeover", None)
        return response

    def _setup_stream_options_internal(self, stream_options: Any) -> None:
        outgoing = _DeflateFrameOutgoingFilter(util._RFC1979Deflater(self._window_bits, self._no_context_takeover))
        outgoing.enabled = self._compress_outgoing
        self._outgoing_filter = outgoing
        stream_options.deflate_frame = True
        stream_options.outgoing_frame_filters.append(outgoing)
        stream_options.incoming_frame_filters.append(_DeflateFrameIncomingFilter(stream_options))


class DeflateStreamExtensionProcessor(_CompressionProcessor):
    """``deflate-stream``: every byte after the handshake is deflated, both ways."""

    def name(self) -> str:
        """Return ``deflate-stream``."""
        return common.DEFLATE_STREAM_EXTENSION

    def _get_extension_response_internal(self) -> common.ExtensionParameter | None:
        if self._request.get_parameters():
            return None
        return common.ExtensionParameter(common.DEFLATE_STREAM_EXTENSION)

    def _setup_stream_options_internal(self, stream_options: Any) -> None:
        stream_options.deflate_stream = True


# Extension name -> processor class. Extensions that are not listed here are
# ignored when offered.
_PROCESSOR_CLASSES: dict[str, type[ExtensionProcessorInterface]] = {
    common.PERMESSAGE_DEFLATE_EXTENSION: PerMessageDeflateExtensionProcessor,
    common.DEFLATE_FRAME_EXTENSION: DeflateFrameExtensionProcessor,
    common.X_WEBKIT_DEFLATE_FRAME_EXTENSION: DeflateFrameExtensionProcessor,
    common.DEFLATE_STREAM_EXTENSION: DeflateStreamExtensionProcessor,
}


def get_extension_processor(extension_request: common.ExtensionParameter) -> ExtensionProcessorInterface | None:
    """Return a processor for an offered extension, or None if it is unknown or unusable.

    RFC 6455 §9.1: a quoted parameter value "MUST conform to the 'token'
    ABNF" once unescaped. An offer with another value is unusable: it gets
    no processor, and the next offer is looked at (the handshake goes on).
    """
    processor_class = _PROCESSOR_CLASSES.get(extension_request.name())
    if processor_class is None:
        return None
    for name, value in extension_request.get_parameters():
        if value is not None and not http_header_util.is_token(value):
            _LOGGER.debug("%s offer ignored: parameter %s=%r is not a token", extension_request.name(), name, value)
            return None
    return processor_class(extension_request)


def get_extension_processors(
    requested: list[common.ExtensionParameter] | None,
) -> list[ExtensionProcessorInterface]:
    """Return the processors for the offers this server understands, in order."""
    processors = []
    for extension_request in requested or ():
        processor = get_extension_processor(extension_request)
        if processor is not None:
            processors.append(processor)
    return processors


def accept_extensions(request: Any, stream_options: Any) -> list[common.ExtensionParameter]:
    """Accept what ``request.ws_extension_processors`` still holds.

    Entries a handler set to None, or deactivated, are skipped.

    Returns:
        The extension responses, in order, for ``Sec-WebSocket-Extensions``.
    """
    processors = [p for p in (getattr(request, "ws_extension_processors", None) or ()) if p is not None]
    accepted: list[common.ExtensionParameter] = []
    active: list[ExtensionProcessorInterface] = []
    for processor in processors:
        if not processor.is_active():
            continue
        processor.check_consistency_with_other_processors(active)
        response = processor.get_extension_response()
        if response is None:
            continue
        processor.setup_stream_options(stream_options)
        accepted.append(response)
        active.append(processor)
    return accepted
