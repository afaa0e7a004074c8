"""Extension processors: negotiate an offered extension and set up the stream.

Layer 0. The handshake asks ``get_extension_processors`` for one processor
per offer it understands (unknown offers are ignored), lets the handler's
``web_socket_do_extra_handshake`` edit ``request.ws_extension_processors``,
then calls ``accept_extensions`` on what is left.
"""

# How this works
#
# A processor answers one offer. ``get_extension_response`` validates the
# offer's parameters and returns the response parameters (None declines);
# ``setup_stream_options`` then plugs the compression into the stream:
#
# - per-message compression (permessage-deflate, and 0.7.9's
#   permessage-compress with method=deflate) hands a PerMessageDeflateCodec
#   to the stream, which sets RSV1 on the first frame of a compressed message
#   and inflates the frames of one (RFC 7692 §6);
# - per-frame compression (deflate-frame, x-webkit-deflate-frame, and 0.7.9's
#   perframe-compress with method=deflate) adds frame filters that deflate
#   each outgoing data frame and inflate each incoming one with RSV1;
# - deflate-stream deflates the whole byte stream (_deflate_stream.DeflateConnection).
#
# Both 0.7.9 drafts put a "method" parameter in front of a method processor:
# CompressionExtensionProcessorBase parses the method list and delegates to
# DeflateFrameExtensionProcessor (perframe) or DeflateMessageProcessor
# (permessage), which reuse the same machinery as deflate-frame and
# permessage-deflate. One compression extension at most is accepted per
# connection: the first acceptable one in the order of the processor list.

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from mod_pywebsocket import _deflate, common, http_header_util
from mod_pywebsocket.http_header_util import quote_if_necessary  # noqa: F401 (both originals expose it)

__all__ = [
    "CompressionExtensionProcessorBase",
    "DeflateFrameExtensionProcessor",
    "DeflateMessageProcessor",
    "DeflateStreamExtensionProcessor",
    "ExtensionProcessorInterface",
    "MuxExtensionProcessor",
    "PerFrameCompressionExtensionProcessor",
    "PerMessageCompressExtensionProcessor",
    "PerMessageCompressionExtensionProcessor",
    "PerMessageDeflateCodec",
    "PerMessageDeflateExtensionProcessor",
    "accept_extensions",
    "get_extension_processor",
    "get_extension_processors",
    "is_compression_extension",
]

_LOGGER = logging.getLogger(__name__)


class ExtensionProcessorInterface:
    """Base of extension processors.

    Subclasses override ``name``, ``_get_extension_response_internal`` and
    ``_setup_stream_options_internal``.
    """

    # Parameters whose value is a quoted list rather than a token (RFC 6455
    # §9.1 allows no such value; an extension's own grammar may).
    _QUOTED_LIST_PARAMETERS: frozenset[str] = frozenset()

    def __init__(self, request: common.ExtensionParameter) -> None:
        self._logger = _LOGGER
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


# Compression statistics, as 0.7.9 and pywebsocket3 log them. The stream
# does not call these on its data path; they are kept for code written
# against the originals.


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("inf")


def _log_compression_ratio(
    logger: logging.Logger,
    original_bytes: int,
    total_original_bytes: int,
    filtered_bytes: int,
    total_filtered_bytes: int,
) -> None:
    """Log (DEBUG) compressed/original for one payload and for the totals (inf when undefined)."""
    logger.debug(
        "outgoing compression ratio: %f (average: %f)",
        _ratio(filtered_bytes, original_bytes),
        _ratio(total_filtered_bytes, total_original_bytes),
    )


def _log_decompression_ratio(
    logger: logging.Logger,
    received_bytes: int,
    total_received_bytes: int,
    filtered_bytes: int,
    total_filtered_bytes: int,
) -> None:
    """Log (DEBUG) received/inflated for one payload and for the totals (inf when undefined)."""
    logger.debug(
        "incoming compression ratio: %f (average: %f)",
        _ratio(received_bytes, filtered_bytes),
        _ratio(total_received_bytes, total_filtered_bytes),
    )


def _log_outgoing_compression_ratio(
    logger: logging.Logger, original_bytes: int, filtered_bytes: int, average_ratio: float
) -> None:
    """Log (DEBUG) compressed/original for one payload, with a given average."""
    logger.debug("outgoing compression ratio: %f (average: %f)", _ratio(filtered_bytes, original_bytes), average_ratio)


def _log_incoming_compression_ratio(
    logger: logging.Logger, received_bytes: int, filtered_bytes: int, average_ratio: float
) -> None:
    """Log (DEBUG) received/inflated for one payload, with a given average."""
    logger.debug("incoming compression ratio: %f (average: %f)", _ratio(received_bytes, filtered_bytes), average_ratio)


class _AverageRatioCalculator:
    """Sums original and result sizes; the average ratio is result / original."""

    def __init__(self) -> None:
        self._total_original_bytes = 0
        self._total_result_bytes = 0

    def add_original_bytes(self, value: int) -> None:
        self._total_original_bytes += value

    def add_result_bytes(self, value: int) -> None:
        self._total_result_bytes += value

    def get_average_ratio(self) -> float:
        """Return the total result bytes over the total original bytes (inf before any original byte)."""
        return _ratio(self._total_result_bytes, self._total_original_bytes)


# Window bits values: a plain decimal number (no sign, leading zero or space).
_WINDOW_BITS = re.compile(r"[1-9][0-9]?\Z")


def _parse_window_bits(bits: str | None) -> int:
    """Return the value of a ``*max_window_bits`` parameter: 8-15, written plainly.

    Raises:
        ValueError: ``bits`` is None, not a plain decimal number, or outside 8-15.
    """
    if bits is None:
        raise ValueError("window bits value is required")
    if not _WINDOW_BITS.match(bits) or not 8 <= int(bits) <= 15:
        raise ValueError(f"invalid window bits {bits!r}")
    return int(bits)


def _validate_window_bits(bits: str | None) -> bool:
    """Return True if ``bits`` is None (parameter absent) or a valid window bits value."""
    if bits is None:
        return True
    try:
        _parse_window_bits(bits)
    except ValueError:
        return False
    return True


# Names of the extensions that compress, as offered and as their processors'
# name() returns them. At most one of them is accepted per connection.
_compression_extension_names = [
    "deflate",  # PerMessageDeflateExtensionProcessor.name() and DeflateMessageProcessor.name()
    common.PERMESSAGE_DEFLATE_EXTENSION,
    common.DEFLATE_FRAME_EXTENSION,
    common.X_WEBKIT_DEFLATE_FRAME_EXTENSION,
    common.DEFLATE_STREAM_EXTENSION,
    common.PERFRAME_COMPRESSION_EXTENSION,
    common.PERMESSAGE_COMPRESSION_EXTENSION,
    common.X_WEBKIT_PERMESSAGE_COMPRESSION_EXTENSION,
]


def is_compression_extension(extension_name: str | None) -> bool:
    """Return True if ``extension_name`` names a compression extension (or its processor)."""
    return extension_name in _compression_extension_names


class _CompressionProcessor(ExtensionProcessorInterface):
    """Shared rule: one compression extension per connection, the first accepted."""

    def check_consistency_with_other_processors(self, processors: list[Any]) -> None:
        """Deactivate this offer if a compression extension is accepted already."""
        if any(is_compression_extension(p.name()) for p in processors):
            self.set_active(False)


class PerMessageDeflateCodec:
    """Compresses outgoing and inflates incoming messages (RFC 7692 §7.2).

    The stream calls ``compress`` for each outgoing message or fragment and
    ``decompress`` for each incoming frame of a compressed message.
    ``_PerMessageDeflateFramer`` is pywebsocket3's name for it (client code
    builds one and calls ``setup_stream_options``).

    Attributes:
        compress_outgoing: False sends messages uncompressed (RSV1 clear).
        bfinal: end each compressed message with a final DEFLATE block.
    """

    def __init__(self, window_bits: int | None, no_context_takeover: bool) -> None:
        self._rfc1979_deflater = _deflate._RFC1979Deflater(window_bits, no_context_takeover)
        self._rfc1979_inflater = _deflate._RFC1979Inflater()
        self.compress_outgoing = True
        self.bfinal = False

    def compress(self, data: bytes, end: bool) -> bytes:
        """Return the compressed form of a message, or of a fragment if not ``end``."""
        return self._rfc1979_deflater.filter(data, end, self.bfinal)

    def decompress(self, data: bytes, end: bool, max_size: int) -> bytes:
        """Inflate one frame's payload of a compressed message (``max_size`` -1: no limit).

        Raises:
            _deflate.DeflateSizeError: the message would exceed ``max_size`` bytes.
            zlib.error: invalid DEFLATE data.
        """
        return self._rfc1979_inflater.filter(data, end, max_size)

    def decompress_within_budget(self, data: bytes, end: bool, max_size: int, budget: Any) -> Iterator[bytes]:
        """Inflate one frame's payload as ``decompress`` does, in pieces charged to ``budget`` first.

        See ``_deflate._RFC1979Inflater.filter_within_budget``: each piece
        yielded stays charged, for the caller to release.

        Raises:
            _deflate.DeflateSizeError: the message would exceed ``max_size`` bytes.
            zlib.error: invalid DEFLATE data.
            MemoryBudgetExceededException: the budget cannot cover a step.
        """
        return self._rfc1979_inflater.filter_within_budget(data, end, max_size, budget)

    def setup_stream_options(self, stream_options: Any) -> None:
        """Make a stream built with ``stream_options`` compress its messages with this codec."""
        stream_options.permessage_deflate = self

    def set_bfinal(self, value: bool) -> None:
        """Set ``bfinal`` (pywebsocket3's spelling)."""
        self.bfinal = value

    def set_compress_outgoing_enabled(self, value: bool) -> None:
        """Set ``compress_outgoing`` (pywebsocket3's spelling)."""
        self.compress_outgoing = value

    # The steps of pywebsocket3's framer filters, one message or frame at a
    # time; the stream does the same through compress/decompress.

    def _process_outgoing_message(self, message: str | bytes, end: bool, binary: bool) -> bytes:
        """Return the payload of an outgoing message or fragment: UTF-8 for str, compressed if enabled."""
        data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        return self.compress(data, end) if self.compress_outgoing else data

    def _process_incoming_message(self, message: bytes, decompress: bool) -> bytes:
        """Return a whole received message, inflated if ``decompress``."""
        return self.decompress(message, True, -1) if decompress else message

    def _process_incoming_frame(self, frame: Any) -> bool:
        """Clear RSV1 of a data frame; return True if it was set (its message is compressed)."""
        if frame.rsv1 and not common.is_control_opcode(frame.opcode):
            frame.rsv1 = 0
            return True
        return False

    def _process_outgoing_frame(self, frame: Any, compression_bit: bool) -> None:
        """Set RSV1 on a data frame that starts a compressed message."""
        if compression_bit and not common.is_control_opcode(frame.opcode):
            frame.rsv1 = 1


class _PerMessageDeflateFramer(PerMessageDeflateCodec):
    """pywebsocket3's per-message framer: a codec whose outgoing compression starts disabled."""

    def __init__(self, deflate_max_window_bits: int | None, deflate_no_context_takeover: bool) -> None:
        super().__init__(deflate_max_window_bits, deflate_no_context_takeover)
        self.compress_outgoing = False


def _read_deflate_offer(
    offer: common.ExtensionParameter,
    window_param: str,
    no_context_param: str,
    peer_window_param: str,
    peer_no_context_param: str,
) -> tuple[int | None, bool, bool, int | None] | None:
    """Check the parameters of a per-message DEFLATE offer.

    The four names are the offer's parameters for our compressor's window
    and reset, and for the client's (RFC 7692: server_max_window_bits,
    server_no_context_takeover, client_max_window_bits,
    client_no_context_takeover). Each may appear once; the no-context ones
    take no value, our window needs one (8-15) and the client's may have one.

    Returns:
        ``(window_bits, no_context_takeover, peer_window_offered,
        peer_window_limit)``, or None if the offer must be declined.
    """
    seen: set[str] = set()
    window_bits = None
    no_context_takeover = False
    peer_window_offered = False
    peer_window_limit = None
    for name, value in offer.get_parameters():
        if name in seen:
            _LOGGER.debug("%s offer declined: %s repeated", offer.name(), name)
            return None
        seen.add(name)
        try:
            if name in (no_context_param, peer_no_context_param):
                if value is not None:
                    raise ValueError(f"value {value!r} given")
                no_context_takeover |= name == no_context_param
            elif name == window_param:
                window_bits = _parse_window_bits(value)
            elif name == peer_window_param:
                peer_window_offered = True
                if value is not None:
                    peer_window_limit = _parse_window_bits(value)
            else:
                raise ValueError("unknown parameter")
        except ValueError as exc:
            _LOGGER.debug("%s offer declined: %s: %s", offer.name(), name, exc)
            return None
    return window_bits, no_context_takeover, peer_window_offered, peer_window_limit


class _PerMessageProcessor(_CompressionProcessor):
    """Per-message compression: the codec and the switches a handler may use on it.

    Subclasses name the four parameters of their offers: ours (the server's
    compressor) and the peer's (the client's), which a handler may ask the
    client to limit.
    """

    _OUR_MAX_WINDOW_BITS_PARAM: str
    _OUR_NO_CONTEXT_TAKEOVER_PARAM: str
    _PEER_MAX_WINDOW_BITS_PARAM: str
    _PEER_NO_CONTEXT_TAKEOVER_PARAM: str

    def __init__(self, request: common.ExtensionParameter) -> None:
        super().__init__(request)
        self._peer_max_window_bits: int | None = None
        self._peer_no_context_takeover = False
        self._bfinal = False
        self._compress_outgoing = True
        # Made when the offer is accepted.
        self._framer: PerMessageDeflateCodec | None = None
        self._rfc1979_deflater: _deflate._RFC1979Deflater | None = None

    def set_bfinal(self, value: bool) -> None:
        """End each compressed message with a final DEFLATE block (RFC 7692 §7.2.3.4)."""
        self._bfinal = value
        if self._framer is not None:
            self._framer.bfinal = value

    def enable_outgoing_compression(self) -> None:
        """Compress the messages sent from now on."""
        self._set_compress_outgoing(True)

    def disable_outgoing_compression(self) -> None:
        """Send the messages from now on uncompressed."""
        self._set_compress_outgoing(False)

    def _set_compress_outgoing(self, value: bool) -> None:
        self._compress_outgoing = value
        if self._framer is not None:
            self._framer.compress_outgoing = value

    def _set_peer_max_window_bits(self, value: int | None) -> None:
        if value is not None and not 8 <= value <= 15:
            raise ValueError(f"{self._PEER_MAX_WINDOW_BITS_PARAM} must be 8-15, not {value}")
        self._peer_max_window_bits = value

    def _read_offer(self) -> tuple[int | None, bool, bool, int | None] | None:
        """Return ``_read_deflate_offer``'s answer for this processor's parameter names."""
        return _read_deflate_offer(
            self._request,
            self._OUR_MAX_WINDOW_BITS_PARAM,
            self._OUR_NO_CONTEXT_TAKEOVER_PARAM,
            self._PEER_MAX_WINDOW_BITS_PARAM,
            self._PEER_NO_CONTEXT_TAKEOVER_PARAM,
        )

    def _make_framer(self, window_bits: int | None, no_context_takeover: bool) -> None:
        framer = PerMessageDeflateCodec(window_bits, no_context_takeover)
        framer.bfinal = self._bfinal
        framer.compress_outgoing = self._compress_outgoing
        self._framer = framer
        self._rfc1979_deflater = framer._rfc1979_deflater

    def _setup_stream_options_internal(self, stream_options: Any) -> None:
        if self._framer is not None:
            self._framer.setup_stream_options(stream_options)


class PerMessageDeflateExtensionProcessor(_PerMessageProcessor):
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

    _SERVER_MAX_WINDOW_BITS_PARAM = _OUR_MAX_WINDOW_BITS_PARAM = "server_max_window_bits"
    _SERVER_NO_CONTEXT_TAKEOVER_PARAM = _OUR_NO_CONTEXT_TAKEOVER_PARAM = "server_no_context_takeover"
    _CLIENT_MAX_WINDOW_BITS_PARAM = _PEER_MAX_WINDOW_BITS_PARAM = "client_max_window_bits"
    _CLIENT_NO_CONTEXT_TAKEOVER_PARAM = _PEER_NO_CONTEXT_TAKEOVER_PARAM = "client_no_context_takeover"

    def name(self) -> str:
        """Return ``'deflate'`` (the 0.7 name of the permessage compression method)."""
        return "deflate"

    def set_client_max_window_bits(self, value: int | None) -> None:
        """Ask the client to use at most ``2**value`` bytes of window (8-15).

        Raises:
            ValueError: ``value`` is outside 8-15.
        """
        self._set_peer_max_window_bits(value)

    def set_client_no_context_takeover(self, value: bool) -> None:
        """Ask the client to compress each message with a fresh window."""
        self._peer_no_context_takeover = value

    def _get_extension_response_internal(self) -> common.ExtensionParameter | None:
        offer = self._read_offer()
        if offer is None:
            return None
        window_bits, no_context_takeover, client_window_offered, client_window_limit = offer
        response = common.ExtensionParameter(common.PERMESSAGE_DEFLATE_EXTENSION)
        if no_context_takeover:
            response.add_parameter(self._SERVER_NO_CONTEXT_TAKEOVER_PARAM, None)
        if window_bits is not None:
            response.add_parameter(self._SERVER_MAX_WINDOW_BITS_PARAM, str(window_bits))
        if self._peer_no_context_takeover:
            response.add_parameter(self._CLIENT_NO_CONTEXT_TAKEOVER_PARAM, None)
        if self._peer_max_window_bits is not None:
            # RFC 7692 §7.1.2.2: the server must not send client_max_window_bits
            # to a client that did not offer it.
            if not client_window_offered:
                _LOGGER.debug("permessage-deflate offer declined: client cannot limit its window")
                return None
            bits = self._peer_max_window_bits
            if client_window_limit is not None:
                bits = min(bits, client_window_limit)
            response.add_parameter(self._CLIENT_MAX_WINDOW_BITS_PARAM, str(bits))
        self._make_framer(window_bits, no_context_takeover)
        return response


class DeflateMessageProcessor(_PerMessageProcessor):
    """The ``deflate`` method of 0.7.9's ``permessage-compress``.

    Parameters of the method description: ``s2c_max_window_bits=N`` (8-15)
    limits our compressor's window and ``s2c_no_context_takeover`` makes it
    start afresh for each message; both are echoed in the response.
    ``c2s_max_window_bits`` (with or without a value 8-15) and
    ``c2s_no_context_takeover`` are the client's and are not echoed. A
    repeated or unknown parameter, or a bad value, declines the method. A
    handler asks the client to limit its compressor with
    ``set_c2s_max_window_bits`` / ``set_c2s_no_context_takeover``. Messages
    are compressed as with permessage-deflate (RSV1 on the first frame).
    """

    _S2C_MAX_WINDOW_BITS_PARAM = _OUR_MAX_WINDOW_BITS_PARAM = "s2c_max_window_bits"
    _S2C_NO_CONTEXT_TAKEOVER_PARAM = _OUR_NO_CONTEXT_TAKEOVER_PARAM = "s2c_no_context_takeover"
    _C2S_MAX_WINDOW_BITS_PARAM = _PEER_MAX_WINDOW_BITS_PARAM = "c2s_max_window_bits"
    _C2S_NO_CONTEXT_TAKEOVER_PARAM = _PEER_NO_CONTEXT_TAKEOVER_PARAM = "c2s_no_context_takeover"

    def name(self) -> str:
        """Return ``'deflate'``, the method's name."""
        return "deflate"

    def set_c2s_max_window_bits(self, value: int | None) -> None:
        """Ask the client to use at most ``2**value`` bytes of window (8-15).

        Raises:
            ValueError: ``value`` is outside 8-15.
        """
        self._set_peer_max_window_bits(value)

    def set_c2s_no_context_takeover(self, value: bool) -> None:
        """Ask the client to compress each message with a fresh window."""
        self._peer_no_context_takeover = value

    def _get_extension_response_internal(self) -> common.ExtensionParameter | None:
        offer = self._read_offer()
        if offer is None:
            return None
        window_bits, no_context_takeover, _, _ = offer
        # 0.7.9's order: s2c_max_window_bits, s2c_no_context_takeover, then c2s_*.
        response = common.ExtensionParameter(self._request.name())
        if window_bits is not None:
            response.add_parameter(self._S2C_MAX_WINDOW_BITS_PARAM, str(window_bits))
        if no_context_takeover:
            response.add_parameter(self._S2C_NO_CONTEXT_TAKEOVER_PARAM, None)
        if self._peer_max_window_bits is not None:
            response.add_parameter(self._C2S_MAX_WINDOW_BITS_PARAM, str(self._peer_max_window_bits))
        if self._peer_no_context_takeover:
            response.add_parameter(self._C2S_NO_CONTEXT_TAKEOVER_PARAM, None)
        self._make_framer(window_bits, no_context_takeover)
        return response

    # 0.7.9's filter steps, done by the codec once the method is accepted.

    def _codec(self) -> PerMessageDeflateCodec:
        if self._framer is None:
            raise ValueError("the deflate method has not been accepted")
        return self._framer

    def _process_incoming_message(self, message: bytes, decompress: bool) -> bytes:
        """Return a whole received message, inflated if ``decompress``."""
        return self._codec()._process_incoming_message(message, decompress)

    def _process_outgoing_message(self, message: str | bytes, end: bool, binary: bool) -> bytes:
        """Return the payload of an outgoing message or fragment."""
        return self._codec()._process_outgoing_message(message, end, binary)

    def _process_incoming_frame(self, frame: Any) -> bool:
        """Clear RSV1 of a data frame; return True if it was set."""
        return self._codec()._process_incoming_frame(frame)

    def _process_outgoing_frame(self, frame: Any, compression_bit: bool) -> None:
        """Set RSV1 on a data frame that starts a compressed message."""
        self._codec()._process_outgoing_frame(frame, compression_bit)


class _FrameFilter:
    """Adapts a function of a frame to the stream's ``filter(frame)`` protocol."""

    __slots__ = ("filter",)

    def __init__(self, function: Callable[[Any], None]) -> None:
        self.filter = function


class DeflateFrameExtensionProcessor(_CompressionProcessor):
    """``deflate-frame`` and ``x-webkit-deflate-frame``: each frame compressed alone.

    Also the ``deflate`` method of 0.7.9's ``perframe-compress``. The offer's
    ``max_window_bits`` (8-15) and ``no_context_takeover`` (no value) bind
    our compressor; a repeated or unknown parameter, or a bad value, declines
    the offer. ``set_response_window_bits`` / ``set_response_no_context_takeover``
    ask the same of the client. Outgoing data frames are deflated and get
    RSV1 (unless outgoing compression is disabled); incoming ones with RSV1
    are inflated. Control frames are never compressed.
    """

    _WINDOW_BITS_PARAM = "max_window_bits"
    _NO_CONTEXT_TAKEOVER_PARAM = "no_context_takeover"

    def __init__(self, request: common.ExtensionParameter) -> None:
        super().__init__(request)
        self._response_window_bits: int | None = None
        self._response_no_context_takeover = False
        self._bfinal = False
        self._compress_outgoing = True
        # Made when the offer is accepted.
        self._deflater: _deflate._RFC1979Deflater | None = None
        self._inflater: _deflate._RFC1979Inflater | None = None
        self._stream_options: Any = None

    def name(self) -> str:
        """Return ``deflate-frame`` (also for the x-webkit- and perframe-compress forms)."""
        return common.DEFLATE_FRAME_EXTENSION

    def set_response_window_bits(self, value: int | None) -> None:
        """Ask the client to use at most ``2**value`` bytes of window."""
        self._response_window_bits = value

    def set_response_no_context_takeover(self, value: bool) -> None:
        """Ask the client to compress each frame with a fresh window."""
        self._response_no_context_takeover = value

    def set_bfinal(self, value: bool) -> None:
        """End each compressed frame with a final DEFLATE block."""
        self._bfinal = value

    def enable_outgoing_compression(self) -> None:
        """Compress the frames sent from now on."""
        self._compress_outgoing = True

    def disable_outgoing_compression(self) -> None:
        """Send the frames from now on uncompressed."""
        self._compress_outgoing = False

    def _get_extension_response_internal(self) -> common.ExtensionParameter | None:
        window_bits = None
        no_context_takeover = False
        seen: set[str] = set()
        for name, value in self._request.get_parameters():
            if name in seen:
                _LOGGER.debug("%s offer declined: %s repeated", self._request.name(), name)
                return None
            seen.add(name)
            if name == self._WINDOW_BITS_PARAM:
                try:
                    window_bits = _parse_window_bits(value)
                except ValueError as exc:
                    _LOGGER.debug("%s offer declined: %s", self._request.name(), exc)
                    return None
            elif name == self._NO_CONTEXT_TAKEOVER_PARAM and value is None:
                no_context_takeover = True
            else:
                _LOGGER.debug("%s offer declined: parameter %s=%r", self._request.name(), name, value)
                return None
        response = common.ExtensionParameter(self._request.name())
        if self._response_window_bits is not None:
            response.add_parameter(self._WINDOW_BITS_PARAM, str(self._response_window_bits))
        if self._response_no_context_takeover:
            response.add_parameter(self._NO_CONTEXT_TAKEOVER_PARAM, None)
        self._deflater = _deflate._RFC1979Deflater(window_bits, no_context_takeover)
        self._inflater = _deflate._RFC1979Inflater()
        return response

    def _setup_stream_options_internal(self, stream_options: Any) -> None:
        self._stream_options = stream_options
        stream_options.deflate_frame = True
        stream_options.outgoing_frame_filters.append(_FrameFilter(self._outgoing_filter))
        stream_options.incoming_frame_filters.append(_FrameFilter(self._incoming_filter))

    def _outgoing_filter(self, frame: Any) -> None:
        """Deflate a data frame's payload and set RSV1, unless outgoing compression is off."""
        deflater = self._deflater
        if deflater is None or not self._compress_outgoing or frame.opcode >> 3:
            return
        frame.payload = deflater.filter(frame.payload, True, self._bfinal)
        frame.rsv1 = 1

    def _incoming_filter(self, frame: Any) -> None:
        """Inflate a data frame with RSV1 and clear the bit.

        A control frame keeps its RSV1, for the stream to reject it.

        Raises:
            _deflate.DeflateSizeError: the payload inflates past the stream's maximum message size.
            zlib.error: invalid DEFLATE data.
            MemoryBudgetExceededException: the stream's memory budget
                (``StreamOptions.message_budget``) cannot cover the payload.
        """
        inflater = self._inflater
        if inflater is None or not frame.rsv1 or frame.opcode >> 3:
            return
        options = self._stream_options
        max_size = options.max_message_size if options is not None else -1
        budget = getattr(options, "message_budget", None)
        if budget is None:
            frame.payload = inflater.filter(frame.payload, True, max_size)
        else:
            # Inflated under the memory budget; the message assembler then
            # counts what it keeps of the payload.
            parts = []
            charged = 0
            try:
                for part in inflater.filter_within_budget(frame.payload, True, max_size, budget):
                    charged += len(part)
                    parts.append(part)
                if len(parts) > 1:
                    # The joined copy exists beside the pieces for a moment: charged too.
                    budget.charge(charged)
                    charged *= 2
                frame.payload = parts[0] if len(parts) == 1 else b"".join(parts)
            finally:
                budget.release(charged)
        frame.rsv1 = 0


def _parse_compression_method(data: str) -> list[common.ExtensionParameter]:
    """Parse the value of a ``method`` parameter: method descriptions, in extension syntax.

    Raises:
        common.ExtensionParsingException: ``data`` is not such a list.
    """
    return common.parse_extensions(data, allow_quoted_string=True)


def _create_accepted_method_desc(method_name: str, method_params: list[tuple[str, str | None]]) -> str:
    """Format a method description from a method name and its response parameters."""
    extension = common.ExtensionParameter(method_name)
    for name, value in method_params:
        extension.add_parameter(name, value)
    return common.format_extension(extension)


class CompressionExtensionProcessorBase(_CompressionProcessor):
    """Base of 0.7.9's perframe-compress and permessage-compress.

    The offer's only parameter is ``method``: a list of method descriptions
    in the extension syntax (``method=deflate``, or quoted with parameters,
    ``method="deflate; s2c_max_window_bits=10, other"``). The first method
    this server knows whose parameters its processor accepts is chosen, and
    the response names it with that processor's response parameters
    (``perframe-compress; method=deflate``). Subclasses name the methods
    in ``_lookup_compression_processor``.
    """

    _METHOD_PARAM = "method"
    _QUOTED_LIST_PARAMETERS = frozenset({_METHOD_PARAM})

    def __init__(self, request: common.ExtensionParameter) -> None:
        super().__init__(request)
        self._compression_method_name: str | None = None
        self._compression_processor: ExtensionProcessorInterface | None = None
        self._compression_processor_hook: Callable[[Any], object] | None = None

    def name(self) -> str:
        """Return the extension's name (set by subclasses)."""
        return ""

    def _lookup_compression_processor(
        self, method_desc: common.ExtensionParameter
    ) -> ExtensionProcessorInterface | None:
        """Return a processor for a method description, or None for an unknown method."""
        return None

    def _get_compression_processor_response(self) -> common.ExtensionParameter | None:
        """Choose the method; return its processor's response, or None to decline the offer."""
        parameters = self._request.get_parameters()
        if len(parameters) != 1 or parameters[0][0] != self._METHOD_PARAM or parameters[0][1] is None:
            _LOGGER.debug("%s offer declined: parameters %r", self._request.name(), parameters)
            return None
        try:
            methods = _parse_compression_method(parameters[0][1])
        except common.ExtensionParsingException as exc:
            _LOGGER.debug("%s offer declined: %s", self._request.name(), exc)
            return None
        for method_desc in methods:
            processor = self._lookup_compression_processor(method_desc)
            if processor is None:
                continue
            if self._compression_processor_hook is not None:
                self._compression_processor_hook(processor)
            response = processor.get_extension_response()
            if response is not None:
                self._compression_method_name = method_desc.name()
                self._compression_processor = processor
                return response
        _LOGGER.debug("%s offer declined: no acceptable method", self._request.name())
        return None

    def _get_extension_response_internal(self) -> common.ExtensionParameter | None:
        processor_response = self._get_compression_processor_response()
        if processor_response is None or self._compression_method_name is None:
            return None
        response = common.ExtensionParameter(self._request.name())
        response.add_parameter(
            self._METHOD_PARAM,
            _create_accepted_method_desc(self._compression_method_name, processor_response.get_parameters()),
        )
        return response

    def _setup_stream_options_internal(self, stream_options: Any) -> None:
        if self._compression_processor is not None:
            self._compression_processor.setup_stream_options(stream_options)

    def set_compression_processor_hook(self, hook: Callable[[Any], object] | None) -> None:
        """Call ``hook(processor)`` with each method processor before it answers.

        A handler uses it in ``web_socket_do_extra_handshake`` to tune the
        method, e.g. ``set_c2s_no_context_takeover(True)``.
        """
        self._compression_processor_hook = hook

    def get_compression_processor(self) -> ExtensionProcessorInterface | None:
        """Return the accepted method's processor (None before acceptance)."""
        return self._compression_processor


class PerFrameCompressionExtensionProcessor(CompressionExtensionProcessorBase):
    """``perframe-compress`` (0.7.9): per-frame compression; method ``deflate`` is deflate-frame."""

    _DEFLATE_METHOD = "deflate"

    def name(self) -> str:
        """Return ``perframe-compress``."""
        return common.PERFRAME_COMPRESSION_EXTENSION

    def _lookup_compression_processor(
        self, method_desc: common.ExtensionParameter
    ) -> ExtensionProcessorInterface | None:
        """Return a ``DeflateFrameExtensionProcessor`` for ``deflate``, else None."""
        if method_desc.name() == self._DEFLATE_METHOD:
            return DeflateFrameExtensionProcessor(method_desc)
        return None


class PerMessageCompressionExtensionProcessor(CompressionExtensionProcessorBase):
    """``permessage-compress`` and ``x-webkit-permessage-compress`` (0.7.9): method ``deflate``."""

    _DEFLATE_METHOD = "deflate"

    def name(self) -> str:
        """Return ``permessage-compress`` (also for the x-webkit- form)."""
        return common.PERMESSAGE_COMPRESSION_EXTENSION

    def _lookup_compression_processor(
        self, method_desc: common.ExtensionParameter
    ) -> ExtensionProcessorInterface | None:
        """Return a ``DeflateMessageProcessor`` for ``deflate``, else None."""
        if method_desc.name() == self._DEFLATE_METHOD:
            return DeflateMessageProcessor(method_desc)
        return None


# The spelling of later 0.8 releases.
PerMessageCompressExtensionProcessor = PerMessageCompressionExtensionProcessor


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


class MuxExtensionProcessor(ExtensionProcessorInterface):
    """``mux_DO_NOT_USE`` (0.7.9's multiplexing draft): always declined.

    The multiplexing draft was abandoned and this server does not
    multiplex: the offer gets this processor (so handlers still find it in
    ``request.ws_extension_processors``), which never accepts it, and the
    handshake goes on as if it had not been made. The 0.7.9 accessors
    (``quota``, ``extensions``) only store what they are given.
    """

    _QUOTA_PARAM = "quota"

    def __init__(self, request: common.ExtensionParameter) -> None:
        super().__init__(request)
        self._quota = 0
        self._extensions: list[common.ExtensionParameter] = []

    def name(self) -> str:
        """Return ``mux_DO_NOT_USE``."""
        return common.MUX_EXTENSION

    def _get_extension_response_internal(self) -> common.ExtensionParameter | None:
        _LOGGER.debug("%s offer declined: multiplexing is not supported", self._request.name())
        return None

    def set_quota(self, quota: int) -> None:
        """Store a quota (unused: nothing is multiplexed)."""
        self._quota = quota

    def quota(self) -> int:
        """Return the stored quota."""
        return self._quota

    def set_extensions(self, extensions: list[common.ExtensionParameter]) -> None:
        """Store logical-channel extensions (unused: nothing is multiplexed)."""
        self._extensions = extensions

    def extensions(self) -> list[common.ExtensionParameter]:
        """Return the stored logical-channel extensions."""
        return self._extensions


# Extension name -> processor class. Extensions that are not listed here are
# ignored when offered.
_available_processors: dict[str, type[ExtensionProcessorInterface]] = {
    common.PERMESSAGE_DEFLATE_EXTENSION: PerMessageDeflateExtensionProcessor,
    common.DEFLATE_FRAME_EXTENSION: DeflateFrameExtensionProcessor,
    common.X_WEBKIT_DEFLATE_FRAME_EXTENSION: DeflateFrameExtensionProcessor,
    common.DEFLATE_STREAM_EXTENSION: DeflateStreamExtensionProcessor,
    common.PERFRAME_COMPRESSION_EXTENSION: PerFrameCompressionExtensionProcessor,
    common.PERMESSAGE_COMPRESSION_EXTENSION: PerMessageCompressionExtensionProcessor,
    common.X_WEBKIT_PERMESSAGE_COMPRESSION_EXTENSION: PerMessageCompressionExtensionProcessor,
    common.MUX_EXTENSION: MuxExtensionProcessor,
}


def get_extension_processor(extension_request: common.ExtensionParameter) -> ExtensionProcessorInterface | None:
    """Return a processor for an offered extension, or None if it is unknown or unusable.

    RFC 6455 §9.1: a quoted parameter value "MUST conform to the 'token'
    ABNF" once unescaped. An offer with another value is unusable: it gets
    no processor, and the next offer is looked at (the handshake goes on).
    The one exception is a parameter the extension itself defines as a
    quoted list (``_QUOTED_LIST_PARAMETERS``: 0.7.9's compression ``method``).
    """
    processor_class = _available_processors.get(extension_request.name())
    if processor_class is None:
        return None
    for name, value in extension_request.get_parameters():
        if value is None or name in processor_class._QUOTED_LIST_PARAMETERS:
            continue
        if not http_header_util.is_token(value):
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
