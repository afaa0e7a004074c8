"""RFC 6455 (HyBi 08+) frames and the stream that sends and receives them.

Layer 1. The codec half is pure: ``parse_frame_header`` / ``parse_frame`` pull
bytes through an injected ``read_exact(n)``, ``serialize_frame`` and the 0.7
``create_*`` builders return bytes, and the mask key is a parameter. The
``Stream`` class is the I/O half; it reads and writes only through
``StreamBase``.

How ``Stream.receive_message`` works: each frame header is parsed and checked
(opcode, control-frame rules, continuation sequencing, the message size limit)
before its payload is read. Text payloads without compression are read as
they arrive and fed to an incremental UTF-8 decoder, so invalid UTF-8 fails
the connection as early as possible (RFC 6455 §8.1), even mid-frame. Data
frames accumulate until FIN; control frames may arrive between fragments and
are handled on the spot (ping -> pong, pong -> matched against our pings,
close -> closing handshake, then None is returned).

Who owns what: the frame readers (``_receive_frame_header``,
``_receive_payload``, and the private ``_receive_frame`` /
``_receive_frame_as_frame_object`` that test handlers call) return frames and
change nothing else. The message assembler (``_accept_data_frame``,
``_start_message``, ``_add_frame``, ``_complete_message``) alone holds the
message in progress: its opcode, pieces, sizes and UTF-8 decoder. So a
handler may read frames itself and then call ``receive_message``, which
returns the next message (a first fragment read that way starts no message).
"""

from __future__ import annotations

import codecs
import io
import logging
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mod_pywebsocket import common, util
from mod_pywebsocket._stream_base import (
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
    InvalidUTF8Exception,
    MessageTooBigException,
    StreamBase,
    UnsupportedFrameException,
)

__all__ = [
    "BadOperationException",
    "ConnectionTerminatedException",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "FragmentedFrameBuilder",
    "Frame",
    "FrameHeader",
    "InvalidFrameException",
    "InvalidUTF8Exception",
    "Stream",
    "StreamBase",
    "StreamOptions",
    "UnsupportedFrameException",
    "create_binary_frame",
    "create_close_frame",
    "create_closing_handshake_body",
    "create_header",
    "create_length_header",
    "create_ping_frame",
    "create_pong_frame",
    "create_text_frame",
    "parse_close_body",
    "parse_frame",
    "parse_frame_header",
    "serialize_frame",
]

_LOGGER = logging.getLogger(__name__)

ReadExact = Callable[[int], bytes]

DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024
_MAX_CONTROL_PAYLOAD = 125
# A message of more pieces than this is collected in one growing buffer.
_MAX_LISTED_PIECES = 256
# The decoder of a text message that receive_message decodes on arrival, until
# an incremental decoder is needed (a message in one frame is decoded in one step).
_NO_DECODER_YET: Any = object()
_UINT16 = struct.Struct("!H")
_UINT64 = struct.Struct("!Q")
_TWO_BYTES = struct.Struct("!BB")
_HEADER16 = struct.Struct("!BBH")
_HEADER64 = struct.Struct("!BBQ")
# Returned by Stream._receive_buffered_frame when it leaves the frame to the general path.
_NOT_TAKEN: Any = object()
# parse_frame's expect_mask when the caller did not pass it.
_UNSET: Any = object()


@dataclass
class Frame:
    """One RFC 6455 frame; ``payload`` is unmasked."""

    fin: int = 1
    rsv1: int = 0
    rsv2: int = 0
    rsv3: int = 0
    opcode: int | None = None
    payload: bytes = b""

    def __iter__(self) -> Iterator[Any]:
        """Yield ``(opcode, payload, fin, rsv1, rsv2, rsv3)``, the tuple 0.7's ``parse_frame`` returned."""
        return iter((self.opcode, self.payload, self.fin, self.rsv1, self.rsv2, self.rsv3))


@dataclass
class FrameHeader:
    """The fields before a frame's payload; ``mask_key`` None means unmasked."""

    fin: int
    rsv1: int
    rsv2: int
    rsv3: int
    opcode: int
    payload_length: int
    mask_key: bytes | None


def parse_frame_header(
    read_exact: ReadExact,
    *,
    expect_mask: bool | None = True,
    max_payload_length: int | None = None,
    require_minimal_length: bool = True,
) -> FrameHeader:
    """Read and check one frame header.

    Args:
        read_exact: returns exactly n bytes or raises.
        expect_mask: True for frames from a client, False for frames from a
            server, None to accept both.
        max_payload_length: a longer payload raises MessageTooBigException
            before anything of it is read.
        require_minimal_length: refuse a payload length not in its shortest
            encoding (RFC 6455 §5.2); False accepts it, as HyBi 08 peers may
            send it.

    Raises:
        InvalidFrameException: wrong mask bit, an unknown opcode, a length not
            in its minimal encoding, or a control frame that is fragmented or
            longer than 125 bytes.
        MessageTooBigException: the payload exceeds ``max_payload_length``.
    """
    first, second = _TWO_BYTES.unpack(read_exact(2))
    fin = first >> 7
    opcode = first & 0x0F
    masked = second >> 7
    if expect_mask is not None and bool(masked) is not expect_mask:
        # RFC 6455 §5.1: "The server MUST close the connection upon receiving
        # a frame that is not masked."
        raise InvalidFrameException(f"mask bit is {masked}, expected {int(expect_mask)}")
    if not common.is_known_opcode(opcode):
        raise InvalidFrameException(f"invalid opcode {opcode:#x}")
    length = second & 0x7F
    # The extended length and the mask key are read in one call.
    extra = (2 if length == 126 else 8 if length == 127 else 0) + (4 if masked else 0)
    rest = read_exact(extra) if extra else b""
    if length == 126:
        (length,) = _UINT16.unpack_from(rest)
        if length < 126 and require_minimal_length:
            # RFC 6455 §5.2: "the minimal number of bytes MUST be used".
            raise InvalidFrameException(f"payload length {length} not in minimal encoding")
    elif length == 127:
        (length,) = _UINT64.unpack_from(rest)
        if length >> 63:
            raise InvalidFrameException("most significant bit of 64-bit payload length is set")
        if length < 0x10000 and require_minimal_length:
            raise InvalidFrameException(f"payload length {length} not in minimal encoding")
    if opcode >> 3:
        # RFC 6455 §5.5: "All control frames MUST have a payload length of 125
        # bytes or less and MUST NOT be fragmented."
        if length > _MAX_CONTROL_PAYLOAD:
            raise InvalidFrameException(f"control frame payload of {length} bytes exceeds 125")
        if not fin:
            raise InvalidFrameException(f"fragmented control frame (opcode {opcode:#x})")
    if max_payload_length is not None and length > max_payload_length:
        raise MessageTooBigException(f"frame payload of {length} bytes exceeds the limit of {max_payload_length}")
    mask_key = rest[-4:] if masked else None
    return FrameHeader(fin, (first >> 6) & 1, (first >> 5) & 1, (first >> 4) & 1, opcode, length, mask_key)


def parse_frame(
    receive_bytes: ReadExact,
    logger: logging.Logger | None = None,
    ws_version: int = common.VERSION_HYBI_LATEST,
    unmask_receive: bool = True,
    *,
    expect_mask: bool | None = _UNSET,
    max_payload_length: int | None = None,
) -> Frame:
    """Read one whole frame and unmask its payload.

    The returned ``Frame`` unpacks as 0.7's result did:
    ``opcode, payload, fin, rsv1, rsv2, rsv3 = parse_frame(...)``.

    Args:
        receive_bytes: returns exactly n bytes or raises (e.g.
            ConnectionTerminatedException).
        logger: if given, each frame header is logged to it at
            ``common.LOGLEVEL_FINE``.
        ws_version: the protocol version; below 13 (HyBi 08) a payload
            length not in its minimal encoding is accepted.
        unmask_receive: 0.7's spelling of ``expect_mask``: True for frames
            from a client (masked), False for frames from a server.
        expect_mask: True or False as ``unmask_receive``, None to accept
            both; wins over ``unmask_receive``.
        max_payload_length: see ``parse_frame_header``.

    Raises:
        InvalidFrameException: see ``parse_frame_header``.
        MessageTooBigException: see ``parse_frame_header``.
    """
    header = parse_frame_header(
        receive_bytes,
        expect_mask=unmask_receive if expect_mask is _UNSET else expect_mask,
        max_payload_length=max_payload_length,
        require_minimal_length=ws_version >= common.VERSION_HYBI13,
    )
    if logger is not None and logger.isEnabledFor(common.LOGLEVEL_FINE):
        logger.log(
            common.LOGLEVEL_FINE,
            "frame opcode=%#x fin=%d rsv=%d%d%d payload_length=%d masked=%s",
            header.opcode,
            header.fin,
            header.rsv1,
            header.rsv2,
            header.rsv3,
            header.payload_length,
            header.mask_key is not None,
        )
    payload = receive_bytes(header.payload_length) if header.payload_length else b""
    if header.mask_key is not None and payload:
        payload = util.mask(payload, header.mask_key)
    return Frame(header.fin, header.rsv1, header.rsv2, header.rsv3, header.opcode, payload)


def create_length_header(length: int, mask: bool) -> bytes:
    """Return the payload length bytes of a header (second byte onwards).

    Raises:
        ValueError: ``length`` is negative or not below 2**63.
    """
    mask_bit = 0x80 if mask else 0
    if length < 0 or length >> 63:
        raise ValueError(f"payload length {length} out of range")
    if length < 126:
        return bytes((mask_bit | length,))
    if length < 0x10000:
        return bytes((mask_bit | 126,)) + _UINT16.pack(length)
    return bytes((mask_bit | 127,)) + _UINT64.pack(length)


def create_header(
    opcode: int, payload_length: int, fin: int, rsv1: int, rsv2: int, rsv3: int, mask: bool | int
) -> bytes:
    """Return a frame header; with ``mask`` the mask bit is set but no key added.

    Raises:
        ValueError: a field is out of range.
    """
    if not 0 <= opcode <= 0xF:
        raise ValueError(f"opcode {opcode} out of range")
    for name, bit in (("fin", fin), ("rsv1", rsv1), ("rsv2", rsv2), ("rsv3", rsv3)):
        if bit not in (0, 1):
            raise ValueError(f"{name} must be 0 or 1, not {bit!r}")
    first = (fin << 7) | (rsv1 << 6) | (rsv2 << 5) | (rsv3 << 4) | opcode
    return bytes((first,)) + create_length_header(payload_length, bool(mask))


def _plain_header(first: int, length: int) -> bytes:
    """Return an unmasked frame header: ``first`` (FIN, RSV, opcode) and the minimal length encoding."""
    if length < 126:
        return bytes((first, length))
    if length < 0x10000:
        return _HEADER16.pack(first, 126, length)
    return _HEADER64.pack(first, 127, length)


def serialize_frame(frame: Frame, mask_key: bytes | None = None) -> bytes:
    """Return the wire bytes of ``frame``, masked with ``mask_key`` if given.

    Raises:
        ValueError: a field is out of range.
    """
    payload = frame.payload
    opcode = frame.opcode if frame.opcode is not None else common.OPCODE_TEXT
    fin, rsv1, rsv2, rsv3 = frame.fin, frame.rsv1, frame.rsv2, frame.rsv3
    length = len(payload)
    if mask_key is None and (fin | rsv1 | rsv2 | rsv3) in (0, 1) and 0 <= opcode <= 0xF:
        # The hot path of a server: no mask, plain flags.
        first = (fin << 7) | (rsv1 << 6) | (rsv2 << 5) | (rsv3 << 4) | opcode
        return _plain_header(first, length) + payload
    header = create_header(opcode, length, fin, rsv1, rsv2, rsv3, mask_key is not None)
    if mask_key is None:
        return header + payload
    return header + mask_key + util.mask(payload, mask_key)


def _build(opcode: int, payload: bytes, fin: int, mask: bool, frame_filters: Iterable[Any], rsv1: int = 0) -> bytes:
    """Return the wire bytes of a frame after ``frame_filters``, masked with a random key if ``mask``."""
    frame = Frame(fin, rsv1, 0, 0, opcode, payload)
    for frame_filter in frame_filters:
        frame_filter.filter(frame)
    return serialize_frame(frame, os.urandom(4) if mask else None)


def create_text_frame(
    message: str | bytes,
    opcode: int = common.OPCODE_TEXT,
    fin: int = 1,
    mask: bool = False,
    frame_filters: Iterable[Any] = (),
) -> bytes:
    """Return a text frame (a str is UTF-8 encoded, bytes are sent as they are)."""
    payload = message.encode("utf-8") if isinstance(message, str) else bytes(message)
    return _build(opcode, payload, fin, mask, frame_filters)


def create_binary_frame(
    message: bytes,
    opcode: int = common.OPCODE_BINARY,
    fin: int = 1,
    mask: bool = False,
    frame_filters: Iterable[Any] = (),
) -> bytes:
    """Return a binary frame."""
    return _build(opcode, bytes(message), fin, mask, frame_filters)


def create_ping_frame(body: bytes, mask: bool = False, frame_filters: Iterable[Any] = ()) -> bytes:
    """Return a ping frame."""
    return _build(common.OPCODE_PING, body, 1, mask, frame_filters)


def create_pong_frame(body: bytes, mask: bool = False, frame_filters: Iterable[Any] = ()) -> bytes:
    """Return a pong frame."""
    return _build(common.OPCODE_PONG, body, 1, mask, frame_filters)


def create_close_frame(body: bytes, mask: bool = False, frame_filters: Iterable[Any] = ()) -> bytes:
    """Return a close frame with ``body`` (see ``create_closing_handshake_body``)."""
    return _build(common.OPCODE_CLOSE, body, 1, mask, frame_filters)


def create_closing_handshake_body(code: int | None, reason: str | bytes) -> bytes:
    """Return a close frame body: the 2-byte code and the UTF-8 reason.

    Raises:
        BadOperationException: a reason without a code, or a code that does
            not fit in two bytes.
    """
    if code is None:
        if reason:
            raise BadOperationException("close reason given without a close code")
        return b""
    if not 0 <= code <= 0xFFFF:
        raise BadOperationException(f"close code {code} does not fit in 2 bytes")
    encoded = reason.encode("utf-8") if isinstance(reason, str) else bytes(reason)
    return _UINT16.pack(code) + encoded


def parse_close_body(body: bytes) -> tuple[int | None, str | None]:
    """Return the code and reason of a received close frame body.

    An empty body gives ``(None, None)`` (no status received, 1005).

    Raises:
        InvalidFrameException: a 1-byte body or a code not allowed on the wire.
        InvalidUTF8Exception: the reason is not valid UTF-8.
    """
    if not body:
        return None, None
    if len(body) == 1:
        raise InvalidFrameException("close frame body of 1 byte")
    (code,) = _UINT16.unpack_from(body)
    if not common.is_valid_close_code(code):
        raise InvalidFrameException(f"invalid close code {code}")
    try:
        reason = body[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidUTF8Exception(f"close reason is not valid UTF-8: {exc}") from exc
    return code, reason


def _decode_text(data: bytes) -> str:
    """Return a whole text message decoded.

    Raises:
        InvalidUTF8Exception: it is not valid UTF-8.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidUTF8Exception(f"text message is not valid UTF-8: {exc}") from exc


class _Pieces:
    """Collects the pieces of one message (bytes or str).

    Memory grows with the message's size, not with its number of pieces: empty
    pieces are dropped, up to ``_MAX_LISTED_PIECES`` are kept in a list and
    joined once at the end, and a message of more pieces goes on in one
    growing buffer (a million 1-byte fragments must not become a million
    objects). A list is faster while it is short: ``StringIO.getvalue`` of
    64 KiB costs more than decoding it.
    """

    __slots__ = ("_buffer", "_empty", "_pieces")

    def __init__(self, empty: Any) -> None:
        self._empty = empty
        self._pieces: list[Any] = []
        self._buffer: Any = None

    def add(self, piece: Any) -> None:
        if not piece:
            return
        if self._buffer is not None:
            self._buffer.write(piece)
            return
        pieces = self._pieces
        pieces.append(piece)
        if len(pieces) >= _MAX_LISTED_PIECES:
            self._buffer = io.BytesIO() if isinstance(self._empty, bytes) else io.StringIO(newline="")
            self._buffer.write(self._empty.join(pieces))
            pieces.clear()

    def take(self) -> Any:
        """Return the whole message and start a new one."""
        if self._buffer is not None:
            result = self._buffer.getvalue()
            self._buffer = None
            return result
        pieces = self._pieces
        result = pieces[0] if len(pieces) == 1 else self._empty.join(pieces)
        pieces.clear()
        return result


class StreamOptions:
    """Settings of a ``Stream``; extension processors adjust them."""

    def __init__(self) -> None:
        self.deflate_stream = False
        self.deflate_frame = False
        self.mask_send = False
        self.unmask_receive = True
        self.encode_text_message_to_utf8 = True
        self.max_message_size = DEFAULT_MAX_MESSAGE_SIZE
        # A ``extensions.PerMessageDeflateCodec`` once permessage-deflate is accepted.
        self.permessage_deflate: Any = None
        # Objects with ``filter(frame)``, applied in order.
        self.outgoing_frame_filters: list[Any] = []
        self.incoming_frame_filters: list[Any] = []
        # Objects with ``filter(message, end=True, binary=False)`` (outgoing)
        # and ``filter(message)`` (incoming), applied in order.
        self.outgoing_message_filters: list[Any] = []
        self.incoming_message_filters: list[Any] = []


class FragmentedFrameBuilder:
    """Builds the frames of messages sent whole or in fragments.

    ``build(payload, end, binary)`` returns the wire bytes of the next frame;
    the first frame of a message carries its opcode, later ones are
    continuations, and ``end`` sets FIN.
    """

    def __init__(self, mask: bool, frame_filters: Iterable[Any] = (), encode_utf8: bool = True) -> None:
        self._mask = mask
        self._frame_filters = list(frame_filters)
        self._encode_utf8 = encode_utf8
        self._opcode_in_progress: int | None = None

    def message_in_progress(self) -> bool:
        """Return True between the first and the last fragment of a message."""
        return self._opcode_in_progress is not None

    def build(self, payload_data: str | bytes, end: bool, binary: bool, rsv1: int = 0) -> bytes:
        """Return the next frame; ``rsv1`` is set on the first frame of a message only.

        Raises:
            BadOperationException: a text fragment continues a binary message
                or the other way round.
        """
        opcode = common.OPCODE_BINARY if binary else common.OPCODE_TEXT
        if self._opcode_in_progress is not None:
            if self._opcode_in_progress != opcode:
                raise BadOperationException(
                    f"message types are different in fragments ({self._opcode_in_progress:#x} then {opcode:#x})"
                )
            frame_opcode = common.OPCODE_CONTINUATION
        else:
            frame_opcode = opcode
        self._opcode_in_progress = None if end else opcode
        if isinstance(payload_data, str):
            payload = payload_data.encode("utf-8")
        else:
            payload = payload_data if isinstance(payload_data, bytes) else bytes(payload_data)
        fin = 1 if end else 0
        if frame_opcode == common.OPCODE_CONTINUATION:
            rsv1 = 0
        return _build(frame_opcode, payload, fin, self._mask, self._frame_filters, rsv1)


class Stream(StreamBase):
    """An RFC 6455 stream over a request's connection.

    Args:
        request: the request (SPEC §3) whose ``connection`` carries the frames.
        options: the stream's settings, as the negotiated extensions left them.
        passive_closing_handshake: called with the request when the client
            starts the closing handshake; returns the ``(code, reason)`` to
            answer with (the handshake passes the dispatcher's
            ``passive_closing_handshake``). None answers ``(1000, '')``.
    """

    def __init__(
        self,
        request: Any,
        options: StreamOptions,
        passive_closing_handshake: Callable[[Any], tuple[int | None, str | None]] | None = None,
    ) -> None:
        super().__init__(request)
        self._options = options
        self._passive_closing_handshake = passive_closing_handshake
        if options.deflate_stream:
            self._connection = util.DeflateConnection(self._connection)
        request.client_terminated = False
        request.server_terminated = False
        self._frame_builder = FragmentedFrameBuilder(
            options.mask_send, options.outgoing_frame_filters, options.encode_text_message_to_utf8
        )
        # Bodies of the pings sent and not answered yet (a list: a deque costs 600 bytes per connection).
        self._ping_queue: list[bytes] = []
        self._last_received_opcode: int | None = None
        # The message being received (owned by the message assembler).
        self._incoming_opcode: int | None = None
        self._incoming_parts = _Pieces(b"")
        self._incoming_size = 0  # after decompression
        self._incoming_wire_size = 0  # as received
        self._incoming_compressed = False
        self._outgoing_compressed = False
        # Not None while a text message is decoded as it arrives (its text
        # then goes to _text_parts, and its bytes are not kept).
        self._decoder: codecs.IncrementalDecoder | None = None
        self._text_parts = _Pieces("")
        self._decoded_text: str | None = None

    # Sending.

    def send_message(self, message: str | bytes, end: bool = True, binary: bool = False) -> None:
        """Send a message, or a fragment of one when ``end`` is False.

        A str is sent as a text message (UTF-8). Bytes are sent as a binary
        message with ``binary=True``, else as the raw payload of a text message
        (which lets test handlers send invalid UTF-8 on purpose).

        Raises:
            BadOperationException: the closing handshake was sent already, a
                str was given with ``binary=True``, or fragments mix types.
            ConnectionTerminatedException: the write failed.
        """
        if self._request.server_terminated:
            raise BadOperationException("requested send_message after sending out a closing handshake")
        if binary and isinstance(message, str):
            raise BadOperationException("message for binary=True must be bytes, not str")
        options = self._options
        if (
            end
            and not options.outgoing_message_filters
            and not options.outgoing_frame_filters
            and not options.mask_send
            and (options.permessage_deflate is None or not options.permessage_deflate.compress_outgoing)
            and not self._frame_builder.message_in_progress()
        ):
            # The common case, a whole message in one plain frame.
            if isinstance(message, str):
                payload: Any = message.encode("utf-8")
                first = 0x80 | common.OPCODE_TEXT
            else:
                payload = message
                first = 0x80 | (common.OPCODE_BINARY if binary else common.OPCODE_TEXT)
            length = len(payload)
            if length < 0x10000:
                self._write(_plain_header(first, length) + payload)
            else:
                self._write_parts(_plain_header(first, length), payload)
            return
        for message_filter in self._options.outgoing_message_filters:
            message = message_filter.filter(message, end, binary)
        codec = self._options.permessage_deflate
        if codec is None:
            self._write(self._frame_builder.build(message, end, binary))
            return
        starting = not self._frame_builder.message_in_progress()
        if starting:
            self._outgoing_compressed = codec.compress_outgoing
        if not self._outgoing_compressed:
            self._write(self._frame_builder.build(message, end, binary))
            return
        payload = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        # RFC 7692 §6.1: RSV1 on the first frame of a compressed message only.
        self._write(self._frame_builder.build(codec.compress(payload, end), end, binary, rsv1=1 if starting else 0))

    def _send_frame(self, opcode: int, body: bytes) -> None:
        self._write(_build(opcode, body, 1, self._options.mask_send, self._options.outgoing_frame_filters))

    def send_ping(self, body: str | bytes = b"", binary: bool = False) -> None:
        """Send a ping; the matching pong is consumed by ``receive_message``.

        A str body is sent UTF-8 encoded; ``binary=True`` says the body is
        bytes already.

        Raises:
            BadOperationException: after the closing handshake, a str with
                ``binary=True``, or a body over 125 bytes.
        """
        if self._request.server_terminated:
            raise BadOperationException("requested send_ping after sending out a closing handshake")
        if binary and isinstance(body, str):
            raise BadOperationException("ping body for binary=True must be bytes, not str")
        payload = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        if len(payload) > _MAX_CONTROL_PAYLOAD:
            raise BadOperationException(f"ping body of {len(payload)} bytes exceeds 125")
        self._ping_queue.append(payload)
        self._send_frame(common.OPCODE_PING, payload)

    def _send_pong(self, body: bytes) -> None:
        self._send_frame(common.OPCODE_PONG, body)

    def _send_closing_handshake(self, code: int | None, reason: str | bytes) -> None:
        """Send a close frame: the one way out for every close the stream sends.

        Raises:
            BadOperationException: ``code`` fails ``common.is_sendable_close_code``
                (1005, 1006, 1015, outside 1000-4999), or a reason without a code.
        """
        if code is not None and not common.is_sendable_close_code(code):
            raise BadOperationException(f"close code {code} must not be sent")
        body = create_closing_handshake_body(code, reason)
        self._request.server_terminated = True
        self._send_frame(common.OPCODE_CLOSE, body)

    def close_connection(
        self, code: int | None = common.STATUS_NORMAL_CLOSURE, reason: str = "", wait_response: bool = True
    ) -> None:
        """Start the closing handshake and wait for the client's close frame.

        Data messages that arrive while waiting are discarded. The wait is
        skipped for 1001 and 1002, and with ``wait_response=False``.

        Raises:
            BadOperationException: a reserved code (1005, 1006, 1015), a code
                outside 1000-4999, or a reason without a code.
            ConnectionTerminatedException: the connection ended.
        """
        if self._request.server_terminated:
            _LOGGER.debug("close_connection called after the closing handshake was sent")
            return
        self._send_closing_handshake(code, reason)
        if not wait_response or code in (common.STATUS_GOING_AWAY, common.STATUS_PROTOCOL_ERROR):
            return
        while not self._request.client_terminated:
            message = self.receive_message()
            if message is not None:
                _LOGGER.debug("discarding a message received while closing: %s", util.shorten(message))

    # Receiving.

    def receive_message(self) -> str | bytes | None:
        """Receive the next data message.

        Returns:
            A str for a text message, bytes for a binary one, or None once the
            client's close frame arrived (the reply close was sent first).

        Raises:
            BadOperationException: the client's close frame was received already.
            ConnectionTerminatedException: the connection ended.
            InvalidFrameException: the client broke the protocol (1002).
            InvalidUTF8Exception: invalid UTF-8 in a text message (1007).
            MessageTooBigException: a message over the maximum size (1009).
        """
        if self._request.client_terminated:
            raise BadOperationException("requested receive_message after receiving a closing handshake")
        options = self._options
        take_buffered = (
            options.unmask_receive
            and not options.incoming_frame_filters
            and not options.incoming_message_filters
        )
        while True:
            if take_buffered:
                taken = self._receive_buffered_frame()
                if taken is None:
                    continue  # a fragment; the message goes on
                if taken is not _NOT_TAKEN:
                    return taken  # type: ignore[no-any-return]
            message = self._add_frame(self._receive_message_frame())
            if message is None:
                continue
            opcode = self._last_received_opcode
            if opcode == common.OPCODE_TEXT:
                return self._take_text(message)
            if opcode == common.OPCODE_BINARY:
                return message
            if opcode == common.OPCODE_CLOSE:
                self._process_close_message(message)
                return None
            if opcode == common.OPCODE_PING:
                self._process_ping_message(message)
            else:
                self._process_pong_message(message)

    def _receive_buffered_frame(self) -> Any:
        """Take the next frame in one step if it is a plain data frame that has arrived whole.

        This is the common case made short: a text, binary or continuation
        frame, masked, no reserved bits, shorter than 64 KiB, that fits the
        message being received (or starts one), all of it in the
        connection's buffer. Anything else is left for the general path,
        which checks and reports every error; the state of a fragmented
        message is the same on both paths, so they can take turns.

        Returns:
            ``_NOT_TAKEN`` (nothing consumed), None (a fragment was taken and
            the message goes on), or the completed message (str or bytes).

        Raises:
            InvalidUTF8Exception: invalid UTF-8 in a text message (1007).
        """
        connection = self._connection
        buffered = connection.buffered
        try:
            head = connection.peek(4)
        except OSError:
            return _NOT_TAKEN
        if len(head) < 2:
            return _NOT_TAKEN
        first = head[0]
        second = head[1]
        opcode = first & 0x0F
        if first & 0x70 or second < 0x80 or opcode > common.OPCODE_BINARY:
            return _NOT_TAKEN
        if opcode == common.OPCODE_CONTINUATION:
            if self._incoming_opcode is None or self._incoming_compressed:
                return _NOT_TAKEN
        elif self._incoming_opcode is not None:
            return _NOT_TAKEN
        length = second & 0x7F
        if length < 126:
            start = 6
        elif length == 126 and len(head) == 4:
            length = (head[2] << 8) | head[3]
            if length < 126:
                return _NOT_TAKEN
            start = 8
        else:
            return _NOT_TAKEN
        end = start + length
        wire_size = self._incoming_wire_size + length
        if wire_size > self._options.max_message_size or buffered() < end:
            return _NOT_TAKEN
        data = connection.read(end)
        payload = util.mask(memoryview(data)[start:], data[start - 4 : start]) if length else b""
        fin = first >> 7
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("< frame opcode=%#x fin=%d %s", opcode, fin, util.shorten(payload))
        if fin and opcode:
            # A whole message in one frame.
            self._last_received_opcode = opcode
            if opcode == common.OPCODE_BINARY:
                return payload
            return _decode_text(payload)
        if opcode:
            self._start_message(opcode, 0, decode_text=True)
        self._incoming_wire_size = wire_size
        self._incoming_size += length
        if self._decoder is not None:
            self._add_text(payload, bool(fin))
        else:
            self._incoming_parts.add(payload)
        if not fin:
            return None
        message = self._complete_message()
        if self._last_received_opcode == common.OPCODE_TEXT:
            return self._take_text(message)
        return message

    def receive_filtered_frame(self) -> Frame:
        """Receive one whole data frame with the extensions' processing applied.

        For tests: the frame must be unfragmented text or binary. Its payload
        comes back as the extensions leave it (decompressed, filtered); a
        text payload stays bytes.

        Raises:
            InvalidFrameException: a fragment or a control frame arrived, or
                see ``receive_message``.
            ConnectionTerminatedException, InvalidUTF8Exception,
            MessageTooBigException: see ``receive_message``.
        """
        frame = self._receive_frame_as_frame_object()
        if frame.opcode not in (common.OPCODE_TEXT, common.OPCODE_BINARY):
            raise InvalidFrameException(f"receive_filtered_frame takes data frames, not opcode {frame.opcode:#x}")
        if not frame.fin:
            raise InvalidFrameException("receive_filtered_frame takes unfragmented frames")
        compressed = bool(frame.rsv1) and self._options.permessage_deflate is not None
        message = self._get_message_from_frame(frame)
        assert message is not None  # a whole frame completes its message
        frame.payload = message
        if compressed:
            frame.rsv1 = 0
        return frame

    def get_last_received_opcode(self) -> int | None:
        """Return the opcode of the last message received (the first frame's for fragments)."""
        return self._last_received_opcode

    # Reading frames: nothing here touches the message in progress.

    def _receive_frame_header(self, max_payload_length: int | None = None) -> FrameHeader:
        """Read and check the next frame header (see ``parse_frame_header``) and its reserved bits.

        Raises:
            ConnectionTerminatedException, InvalidFrameException,
            MessageTooBigException: see ``receive_message``.
        """
        options = self._options
        header = parse_frame_header(
            self._read,
            expect_mask=True if options.unmask_receive else None,
            max_payload_length=max_payload_length,
        )
        if not options.incoming_frame_filters and (header.rsv1 or header.rsv2 or header.rsv3):
            # RFC 7692 §6.1: permessage-deflate claims RSV1 on the first frame
            # of a data message; any other reserved bit fails the connection.
            if (
                header.rsv2
                or header.rsv3
                or options.permessage_deflate is None
                or header.opcode not in (common.OPCODE_TEXT, common.OPCODE_BINARY)
            ):
                raise InvalidFrameException(
                    f"reserved bits set without a negotiated extension (rsv {header.rsv1}{header.rsv2}{header.rsv3})"
                )
        return header

    def _receive_payload(self, header: FrameHeader) -> bytes:
        """Read the payload that follows ``header`` and unmask it."""
        if not header.payload_length:
            return b""
        if header.mask_key is not None:
            return util.mask(self._read_buffer(header.payload_length), header.mask_key)
        return self._read(header.payload_length)

    def _filter_frame(self, header: FrameHeader, payload: bytes) -> Frame:
        """Return the frame of ``header`` and ``payload`` after the incoming frame filters.

        Raises:
            InvalidFrameException: invalid compressed data, or reserved bits
                that no filter took.
            MessageTooBigException: a filter inflated past the size limit.
        """
        frame = Frame(header.fin, header.rsv1, header.rsv2, header.rsv3, header.opcode, payload)
        options = self._options
        if options.incoming_frame_filters:
            try:
                for frame_filter in options.incoming_frame_filters:
                    frame_filter.filter(frame)
            except util.DeflateSizeError as exc:
                raise MessageTooBigException(str(exc)) from exc
            except zlib.error as exc:
                raise InvalidFrameException(f"invalid compressed data: {exc}") from exc
            if frame.rsv1 or frame.rsv2 or frame.rsv3:
                raise InvalidFrameException("reserved bits set that no extension uses")
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("< frame opcode=%#x fin=%d %s", frame.opcode, frame.fin, util.shorten(frame.payload))
        return frame

    def _receive_frame_as_frame_object(self) -> Frame:
        """Read, check and filter the next frame; return it with its payload unmasked.

        The frame is the caller's: a ping is not answered, a close not
        processed, and the message ``receive_message`` assembles is left as
        it was (a data frame read here starts or continues no message).

        Raises:
            ConnectionTerminatedException, InvalidFrameException,
            MessageTooBigException: see ``receive_message`` (a frame longer
            than the maximum message size raises the latter).
        """
        header = self._receive_frame_header(self._options.max_message_size)
        return self._filter_frame(header, self._receive_payload(header))

    def _receive_frame(self) -> tuple[int, bytes, int, int, int, int]:
        """Receive a frame as ``_receive_frame_as_frame_object`` does.

        Returns:
            ``(opcode, payload, fin, rsv1, rsv2, rsv3)``.
        """
        frame = self._receive_frame_as_frame_object()
        assert frame.opcode is not None
        return frame.opcode, frame.payload, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3

    # Assembling messages: the one owner of the message in progress.

    def _receive_message_frame(self) -> Frame:
        """Read the next frame for ``receive_message``.

        A data frame is checked against the message in progress (and may
        start one) before its payload is read.
        """
        header = self._receive_frame_header()
        if header.opcode >> 3:
            payload = self._receive_payload(header)
        else:
            self._accept_data_frame(header.opcode, header.rsv1, header.payload_length, decode_text=True)
            if self._decoder is not None and not self._incoming_compressed:
                payload = self._receive_text_payload(header)
            else:
                payload = self._receive_payload(header)
        return self._filter_frame(header, payload)

    def _accept_data_frame(self, opcode: int, rsv1: int, payload_length: int, decode_text: bool) -> None:
        """Check that a data frame fits the message in progress; a first frame starts a message.

        Raises:
            InvalidFrameException: a continuation without a message, or a new
                message inside a fragmented one.
            MessageTooBigException: the message would exceed the size limit.
        """
        if opcode == common.OPCODE_CONTINUATION:
            if self._incoming_opcode is None:
                raise InvalidFrameException("continuation frame without a message to continue")
        elif self._incoming_opcode is not None:
            raise InvalidFrameException(f"new data frame (opcode {opcode:#x}) inside a fragmented message")
        if self._incoming_wire_size + payload_length > self._options.max_message_size:
            raise MessageTooBigException(
                f"message of at least {self._incoming_wire_size + payload_length} bytes"
                f" exceeds the limit of {self._options.max_message_size}"
            )
        if opcode != common.OPCODE_CONTINUATION:
            self._start_message(opcode, rsv1, decode_text)

    def _start_message(self, opcode: int, rsv1: int, decode_text: bool) -> None:
        """Start a message with a first frame of ``opcode``.

        With ``decode_text`` (receive_message, not a handler's frames), a text
        message is decoded as it arrives unless a filter stands between the
        wire and the message.
        """
        options = self._options
        self._incoming_opcode = opcode
        self._incoming_compressed = bool(rsv1) and options.permessage_deflate is not None
        if (
            decode_text
            and opcode == common.OPCODE_TEXT
            and not options.incoming_frame_filters
            and not options.incoming_message_filters
        ):
            self._decoder = _NO_DECODER_YET

    def _receive_text_payload(self, header: FrameHeader) -> bytes:
        """Read a text payload as it arrives, validating its UTF-8 on the way."""
        remaining = header.payload_length
        if self._decoder is _NO_DECODER_YET and header.fin and remaining:
            # The common case, a whole message in one frame: when it has all
            # arrived already, decode it in one step.
            chunk = self._read_some(remaining)
            if header.mask_key is not None:
                chunk = util.mask(chunk, header.mask_key)
            if len(chunk) == remaining:
                self._text_parts.add(_decode_text(chunk))
                return chunk
            return chunk + self._receive_text_rest(header, chunk)
        return self._receive_text_rest(header, b"")

    def _receive_text_rest(self, header: FrameHeader, first: bytes) -> bytes:
        """Read the rest of a text payload of which ``first`` (unmasked) has arrived."""
        self._text_decoder()
        remaining = header.payload_length - len(first)
        if first:
            self._add_text(first, False)
        masker = util.RepeatedXorMasker(header.mask_key) if header.mask_key is not None else None
        if masker is not None and first:
            masker.mask(first)  # advance the key position past what was read
        chunks = []
        while remaining:
            chunk = self._read_some(remaining)
            remaining -= len(chunk)
            if masker is not None:
                chunk = masker.mask(chunk)
            self._add_text(chunk, bool(header.fin) and not remaining)
            chunks.append(chunk)
        if header.fin and not header.payload_length:
            self._add_text(b"", True)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _text_decoder(self) -> codecs.IncrementalDecoder:
        """Return the incremental UTF-8 decoder of the text message being received (made if need be)."""
        decoder = self._decoder
        if not isinstance(decoder, codecs.IncrementalDecoder):  # None or _NO_DECODER_YET
            decoder = self._decoder = codecs.getincrementaldecoder("utf-8")()
        return decoder

    def _add_text(self, data: bytes, final: bool) -> None:
        """Decode the next piece of the text message being received; invalid UTF-8 fails at once (RFC 6455 §8.1).

        Raises:
            InvalidUTF8Exception: ``data`` (or the message ending with it) is not valid UTF-8.
        """
        try:
            self._text_parts.add(self._text_decoder().decode(data, final=final))
        except UnicodeDecodeError as exc:
            raise InvalidUTF8Exception(f"text message is not valid UTF-8: {exc}") from exc

    def _get_message_from_frame(self, frame: Frame) -> bytes | None:
        """Add a frame a handler read itself to the message it belongs to.

        Returns:
            The payload of a control frame, the whole message's bytes when
            ``frame`` completes one, else None.

        Raises:
            InvalidFrameException: the frame does not fit the message in
                progress, or has invalid compressed data.
            MessageTooBigException: the message exceeds the size limit.
        """
        opcode = frame.opcode if frame.opcode is not None else common.OPCODE_TEXT
        if not opcode >> 3:
            self._accept_data_frame(opcode, frame.rsv1, len(frame.payload), decode_text=False)
        return self._add_frame(frame)

    def _add_frame(self, frame: Frame) -> bytes | None:
        """Add a frame (a data frame ``_accept_data_frame`` accepted) to the message in progress.

        Returns:
            The payload of a control frame, the whole message when ``frame``
            completes one (its bytes; for a text message decoded on arrival
            b'', its text is taken by ``_take_text``), else None.
        """
        opcode = frame.opcode if frame.opcode is not None else common.OPCODE_TEXT
        if opcode >> 3:
            self._last_received_opcode = opcode
            return frame.payload
        payload = frame.payload
        self._incoming_wire_size += len(payload)
        max_size = self._options.max_message_size
        if self._incoming_compressed:
            payload = self._inflate(payload, bool(frame.fin), max_size - self._incoming_size)
        if self._decoder is None:
            self._incoming_parts.add(payload)
        self._incoming_size += len(payload)
        if self._incoming_size > max_size:
            raise MessageTooBigException(f"message of {self._incoming_size} bytes exceeds the limit of {max_size}")
        if not frame.fin:
            return None
        message = self._complete_message()
        for message_filter in self._options.incoming_message_filters:
            message = message_filter.filter(message)
        return message

    def _complete_message(self) -> bytes:
        """End the message being received: return its bytes (and keep decoded text for ``_take_text``)."""
        message: bytes = self._incoming_parts.take()
        self._last_received_opcode = self._incoming_opcode
        self._incoming_opcode = None
        self._incoming_size = 0
        self._incoming_wire_size = 0
        self._incoming_compressed = False
        self._decoded_text = self._text_parts.take() if self._decoder is not None else None
        self._decoder = None
        return message

    def _inflate(self, payload: bytes, fin: bool, max_size: int) -> bytes:
        """Inflate a frame of a compressed message, validating text as it comes."""
        try:
            data: bytes = self._options.permessage_deflate.decompress(payload, fin, max_size)
        except util.DeflateSizeError as exc:
            raise MessageTooBigException(f"compressed message inflates past the limit of {max_size} bytes") from exc
        except zlib.error as exc:
            raise InvalidFrameException(f"invalid compressed data: {exc}") from exc
        if self._decoder is not None:
            self._add_text(data, fin)
        return data

    def _take_text(self, message: bytes) -> str:
        text = self._decoded_text
        if text is not None:
            self._decoded_text = None
            return text
        return _decode_text(message)

    def _process_close_message(self, message: bytes) -> None:
        """Handle a received close frame body and answer it unless we closed first.

        The answer is what the ``passive_closing_handshake`` callback
        returns. 1005 (what ``ws_close_code`` holds after an empty close)
        is answered with an empty close body, so that a handler echoing
        ``(ws_close_code, ws_close_reason)`` echoes "no status". As in
        0.7.9, a None reason is sent as '' and a reason given without a
        code is dropped with a warning.

        Raises:
            InvalidFrameException: a malformed close body.
            InvalidUTF8Exception: a reason that is not UTF-8.
            BadOperationException: the callback chose a code that must not
                be sent (``common.is_sendable_close_code``).
        """
        code, reason = parse_close_body(message)
        request = self._request
        request.ws_close_code = code if code is not None else common.STATUS_NO_STATUS_RECEIVED
        request.ws_close_reason = reason if reason is not None else ""
        request.client_terminated = True
        _LOGGER.debug("received close code=%s reason=%r", code, reason)
        if request.server_terminated:
            return
        reply_code: int | None = common.STATUS_NORMAL_CLOSURE
        reply_reason: str | None = ""
        if self._passive_closing_handshake is not None:
            reply_code, reply_reason = self._passive_closing_handshake(request)
        if reply_code == common.STATUS_NO_STATUS_RECEIVED:
            reply_code = None
        if reply_code is None and reply_reason:
            _LOGGER.warning("close reason %r given without a close code; sending none", reply_reason)
            reply_reason = ""
        self._send_closing_handshake(reply_code, reply_reason or "")

    def _process_ping_message(self, message: bytes) -> None:
        handler = getattr(self._request, "on_ping_handler", None)
        if handler is not None:
            handler(self._request, message)
        elif not self._request.server_terminated:
            self._send_pong(message)

    def _process_pong_message(self, message: bytes) -> None:
        queue = self._ping_queue
        if message in queue:
            # A pong answers the ping with its body and, implicitly, the earlier ones.
            del queue[: queue.index(message) + 1]
        handler = getattr(self._request, "on_pong_handler", None)
        if handler is not None:
            handler(self._request, message)
