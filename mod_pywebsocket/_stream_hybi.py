"""RFC 6455 (HyBi 08+) frames and the stream that sends and receives them.

Layer 1. The codec half is pure: ``parse_frame_header`` / ``parse_frame`` pull
bytes through an injected ``read_exact(n)``, ``serialize_frame`` and the 0.7
``create_*`` builders return bytes, and the mask key is a parameter. The
``Stream`` class is the I/O half; it reads and writes only through
``StreamBase``.

How ``Stream.receive_message`` works: each frame header is decoded and
checked by the one header decoder (``_decode_header``: opcode, mask bit,
length encoding, control-frame rules), then its reserved bits, before its
payload is read. The header travels as a plain tuple of ``FrameHeader``'s
fields (``parse_frame_header`` names them; a tuple is the cheapest thing to
make per frame). A data frame's header goes to the message assembler
(``_message_assembler.MessageAssembler``), which checks continuation
sequencing and the size limit and, from the payload fed to it, inflates
(permessage-deflate), validates UTF-8 and collects the message; a message
in one frame takes two calls, ``start(header)`` and ``finish(payload)``. Text
payloads without compression are fed as they arrive, so invalid UTF-8 fails
the connection as early as possible (RFC 6455 §8.1), even mid-frame. Control
frames may arrive between fragments and are handled on the spot (ping ->
pong, pong -> matched against our pings, close -> closing handshake, then
None is returned).

Two ways to read a frame, one set of checks: when the connection can say
what it has buffered (``peek``/``buffered``) and a whole frame is there, the
frame is taken in one read (its header decoded from the peeked bytes by the
same decoder); anything else, errors included, goes the general way, so
both give the same messages, errors and unread bytes.

Who owns what: the frame readers (``_receive_frame_header``,
``_receive_payload``, and the private ``_receive_frame`` /
``_receive_frame_as_frame_object`` that test handlers call) return frames and
change nothing else. The assembler alone holds the message in progress; a
frame a handler read itself joins it only through ``_get_message_from_frame``.
So a handler may read frames itself and then call ``receive_message``, which
returns the next message (a first fragment read that way starts no message).

Sending: ``FragmentedFrameBuilder`` is the one frame builder of a stream,
over the one serializer ``_frame_parts`` (``serialize_frame`` and the
``create_*`` functions use it too).
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from mod_pywebsocket import _deflate, _deflate_stream, _diagnostics, _masking, common
from mod_pywebsocket._message_assembler import MessageAssembler
from mod_pywebsocket._stream_base import (
    DEFAULT_MAX_MESSAGE_SIZE,
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
    InvalidUTF8Exception,
    MessageTooBigException,
    ReadExact,
    StreamBase,
    UnsupportedFrameException,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "BadOperationException",
    "ConnectionTerminatedException",
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

if TYPE_CHECKING:
    # A header as ``_decode_header`` returns it: ``FrameHeader``'s fields in
    # order; every ``FrameHeader`` is one.
    HeaderFields = tuple[int, int, int, int, int, int, bytes | None]

_MAX_CONTROL_PAYLOAD = 125
_UINT16 = struct.Struct("!H")
_UINT64 = struct.Struct("!Q")
_pack_header = struct.Struct("!BB").pack  # the two bytes of a short header, faster than bytes((a, b))
_HEADER16 = struct.Struct("!BBH")
_HEADER64 = struct.Struct("!BBQ")
# Returned by Stream._receive_buffered_frame when it leaves the frame to the general path.
_NOT_TAKEN: Any = object()
# Returned by Stream._take_frame for a close frame.
_CLOSED: Any = object()
# parse_frame's expect_mask when the caller did not pass it.
_UNSET: Any = object()
# What Stream._receive_buffered_frame peeks at: any header (at most 14
# bytes: 2, an 8-byte length and a mask key) and all of a small frame, which
# then needs no look at how much is buffered.
_PEEK_SIZE = 128
_TEXT = int(common.OPCODE_TEXT)  # plain ints: they compare and combine faster than the enum members
_BINARY = int(common.OPCODE_BINARY)
# A received payload shorter than this is unmasked from a copy, a longer one from a memoryview.
_COPY_BELOW = 1024


class _IncompleteHeader(common.WebSocketException):
    """The bytes at hand end before the frame header does (``_decode_header`` without ``read_exact``).

    A signal inside this module, never an error: the fast path catches it and
    leaves the frame to the general path (no close code, no status).
    """


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


class FrameHeader(NamedTuple):
    """The fields before a frame's payload; ``mask_key`` None means unmasked.

    A named tuple: the stream passes headers around as plain tuples of these
    fields in this order (``HeaderFields``), cheaper to make than any object,
    and ``parse_frame_header`` names them.
    """

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
    if expect_mask is not None:
        expect_mask = bool(expect_mask)  # the decoder compares it by identity
    header, _ = _decode_header(read_exact(2), read_exact, expect_mask, max_payload_length, require_minimal_length)
    return FrameHeader._make(header)


def _decode_header(
    head: bytes,
    read_exact: ReadExact | None,
    expect_mask: bool | None,
    max_payload_length: int | None,
    require_minimal_length: bool,
) -> tuple[HeaderFields, int]:
    """Decode and check a frame header that starts ``head`` (at least 2 bytes).

    The one header decoder: ``parse_frame_header`` gives it the first two
    bytes and ``read_exact`` for the rest; ``Stream`` gives it the bytes
    already buffered and no ``read_exact``. ``expect_mask`` is True, False
    or None (not another true or false value).

    Returns:
        The header's fields (see ``FrameHeader``) and its size in bytes.

    Raises:
        _IncompleteHeader: ``head`` ends before the header and there is no
            ``read_exact``.
        InvalidFrameException, MessageTooBigException: see
            ``parse_frame_header``.
    """
    first = head[0]
    second = head[1]
    opcode = first & 0x0F
    masked = second > 0x7F
    if expect_mask is not None and masked is not expect_mask:
        # RFC 6455 §5.1: "The server MUST close the connection upon receiving
        # a frame that is not masked."
        raise InvalidFrameException(f"mask bit is {int(masked)}, expected {int(expect_mask)}")
    if opcode & 7 > 2:
        # common.is_known_opcode without a call: the known opcodes are 0-2
        # and 8-10, the unknown ones end in 3-7.
        raise InvalidFrameException(f"invalid opcode {opcode:#x}")
    length = second & 0x7F
    if length < 126:
        size = 6 if masked else 2
        if len(head) < size:
            head = _rest_of_header(head, size, read_exact)
    else:
        size = (4 if length == 126 else 10) + (4 if masked else 0)
        if len(head) < size:
            head = _rest_of_header(head, size, read_exact)
        if length == 126:
            (length,) = _UINT16.unpack_from(head, 2)
            if length < 126 and require_minimal_length:
                # RFC 6455 §5.2: "the minimal number of bytes MUST be used".
                raise InvalidFrameException(f"payload length {length} not in minimal encoding")
        else:
            (length,) = _UINT64.unpack_from(head, 2)
            if length >> 63:
                raise InvalidFrameException("most significant bit of 64-bit payload length is set")
            if length < 0x10000 and require_minimal_length:
                raise InvalidFrameException(f"payload length {length} not in minimal encoding")
    if opcode >> 3:
        # RFC 6455 §5.5: "All control frames MUST have a payload length of 125
        # bytes or less and MUST NOT be fragmented."
        if length > _MAX_CONTROL_PAYLOAD:
            raise InvalidFrameException(f"control frame payload of {length} bytes exceeds 125")
        if not first & 0x80:
            raise InvalidFrameException(f"fragmented control frame (opcode {opcode:#x})")
    if max_payload_length is not None and length > max_payload_length:
        raise MessageTooBigException(f"frame payload of {length} bytes exceeds the limit of {max_payload_length}")
    mask_key = head[size - 4 : size] if masked else None
    if first & 0x70:
        return (first >> 7, (first >> 6) & 1, (first >> 5) & 1, (first >> 4) & 1, opcode, length, mask_key), size
    return (first >> 7, 0, 0, 0, opcode, length, mask_key), size


def _rest_of_header(head: bytes, size: int, read_exact: ReadExact | None) -> bytes:
    """Return ``head`` completed to ``size`` bytes by ``read_exact`` (the extended length and mask key in one read).

    Raises:
        _IncompleteHeader: there is no ``read_exact``.
    """
    if read_exact is None:
        raise _IncompleteHeader
    return head + read_exact(size - len(head))


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
        payload = _masking.mask(payload, header.mask_key)
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
        return _pack_header(first, length)
    if length < 0x10000:
        return _HEADER16.pack(first, 126, length)
    return _HEADER64.pack(first, 127, length)


def serialize_frame(frame: Frame, mask_key: bytes | None = None) -> bytes:
    """Return the wire bytes of ``frame``, masked with ``mask_key`` if given.

    Raises:
        ValueError: a field is out of range.
    """
    header, payload = _frame_parts(frame, mask_key)
    return header + payload


def _frame_parts(frame: Frame, mask_key: bytes | None) -> tuple[bytes, bytes]:
    """Return the header (with the mask key) and the payload (masked) of ``frame``: the one frame serializer."""
    payload = frame.payload
    opcode = frame.opcode if frame.opcode is not None else common.OPCODE_TEXT
    fin, rsv1, rsv2, rsv3 = frame.fin, frame.rsv1, frame.rsv2, frame.rsv3
    length = len(payload)
    if mask_key is None and (fin | rsv1 | rsv2 | rsv3) in (0, 1) and 0 <= opcode <= 0xF:
        # The hot path of a server: no mask, plain flags.
        first = (fin << 7) | (rsv1 << 6) | (rsv2 << 5) | (rsv3 << 4) | opcode
        return _plain_header(first, length), payload
    header = create_header(opcode, length, fin, rsv1, rsv2, rsv3, mask_key is not None)
    if mask_key is None:
        return header, payload
    return header + mask_key, _masking.mask(payload, mask_key)


def _build(opcode: int, payload: bytes, fin: int, mask: bool, frame_filters: Iterable[Any], rsv1: int = 0) -> bytes:
    """Return the wire bytes of a frame after ``frame_filters``, masked with a random key if ``mask``."""
    header, payload = _filtered_frame_parts(Frame(fin, rsv1, 0, 0, opcode, payload), mask, frame_filters)
    return header + payload


def _filtered_frame_parts(frame: Frame, mask: bool, frame_filters: Iterable[Any]) -> tuple[bytes, bytes]:
    """Return the header and payload of ``frame`` after ``frame_filters``, masked with a random key if ``mask``."""
    for frame_filter in frame_filters:
        frame_filter.filter(frame)
    return _frame_parts(frame, os.urandom(4) if mask else None)


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


class StreamOptions:
    """Settings of a ``Stream``; extension processors adjust them."""

    def __init__(self) -> None:
        self.deflate_stream = False
        self.deflate_frame = False
        self.mask_send = False
        self.unmask_receive = True
        self.encode_text_message_to_utf8 = True
        self.max_message_size = DEFAULT_MAX_MESSAGE_SIZE
        # A ``_message_assembler.BudgetAccount`` charged for the memory
        # incoming messages hold (the standalone server's --max-incoming-memory).
        self.message_budget: Any = None
        # A ``extensions.PerMessageDeflateCodec`` once permessage-deflate is accepted.
        self.permessage_deflate: Any = None
        # Objects with ``filter(frame)``, applied in order.
        self.outgoing_frame_filters: list[Any] = []
        self.incoming_frame_filters: list[Any] = []
        # Objects with ``filter(message, end=True, binary=False)`` (outgoing)
        # and ``filter(message)`` (incoming), applied in order.
        self.outgoing_message_filters: list[Any] = []
        self.incoming_message_filters: list[Any] = []


def _check_reserved_bits(header: HeaderFields, options: StreamOptions) -> None:
    """Refuse reserved bits that no negotiated extension uses (frame filters check them after filtering).

    Raises:
        InvalidFrameException: such a bit is set.
    """
    _, rsv1, rsv2, rsv3, opcode, _, _ = header
    # RFC 7692 §6.1: permessage-deflate claims RSV1 on the first frame of a
    # data message; any other reserved bit fails the connection.
    if (
        not options.incoming_frame_filters
        and (rsv1 or rsv2 or rsv3)
        and (
            rsv2
            or rsv3
            or options.permessage_deflate is None
            or opcode not in (common.OPCODE_TEXT, common.OPCODE_BINARY)
        )
    ):
        raise InvalidFrameException(f"reserved bits set without a negotiated extension (rsv {rsv1}{rsv2}{rsv3})")


def _filter_frame(header: HeaderFields, payload: bytes, options: StreamOptions) -> Frame:
    """Return the frame of ``header`` and ``payload`` after the incoming frame filters.

    Raises:
        InvalidFrameException: invalid compressed data, or reserved bits
            that no filter took.
        MessageTooBigException: a filter inflated past the size limit.
    """
    fin, rsv1, rsv2, rsv3, opcode, _, _ = header
    frame = Frame(fin, rsv1, rsv2, rsv3, opcode, payload)
    if options.incoming_frame_filters:
        try:
            for frame_filter in options.incoming_frame_filters:
                frame_filter.filter(frame)
        except _deflate.DeflateSizeError as exc:
            raise MessageTooBigException(str(exc)) from exc
        except zlib.error as exc:
            raise InvalidFrameException(f"invalid compressed data: {exc}") from exc
        if frame.rsv1 or frame.rsv2 or frame.rsv3:
            raise InvalidFrameException("reserved bits set that no extension uses")
    if _LOGGER.isEnabledFor(logging.DEBUG):
        _LOGGER.debug("< frame opcode=%#x fin=%d %s", frame.opcode, frame.fin, _diagnostics.shorten(frame.payload))
    return frame


class FragmentedFrameBuilder:
    """Builds the frames of messages sent whole or in fragments: the stream's one frame builder.

    ``build(payload, end, binary)`` returns the wire bytes of the next frame
    (``build_parts`` its header and payload apart); the first frame of a
    message carries its opcode, later ones are continuations, and ``end``
    sets FIN.
    """

    def __init__(self, mask: bool, frame_filters: Iterable[Any] = (), encode_utf8: bool = True) -> None:
        self._mask = mask
        self._frame_filters = list(frame_filters)
        self._encode_utf8 = encode_utf8
        self._opcode_in_progress: int | None = None
        self._plain = not mask and not self._frame_filters

    def message_in_progress(self) -> bool:
        """Return True between the first and the last fragment of a message."""
        return self._opcode_in_progress is not None

    def build(self, payload_data: str | bytes, end: bool, binary: bool, rsv1: int = 0) -> bytes:
        """Return the next frame; ``rsv1`` is set on the first frame of a message only.

        Raises:
            BadOperationException: a text fragment continues a binary message
                or the other way round.
        """
        header, payload = self.build_parts(payload_data, end, binary, rsv1)
        return header + payload

    def build_parts(self, payload_data: str | bytes, end: bool, binary: bool, rsv1: int = 0) -> tuple[bytes, bytes]:
        """Return the next frame as ``build`` does, as its header and its payload (sent without a copy).

        Raises:
            BadOperationException: see ``build``.
        """
        opcode = _BINARY if binary else _TEXT
        in_progress = self._opcode_in_progress
        if in_progress is None:
            frame_opcode = opcode
        else:
            if in_progress != opcode:
                raise BadOperationException(
                    f"message types are different in fragments ({in_progress:#x} then {opcode:#x})"
                )
            frame_opcode = 0  # continuation
            rsv1 = 0
        self._opcode_in_progress = None if end else opcode
        if isinstance(payload_data, str):
            payload = payload_data.encode("utf-8")
        else:
            payload = payload_data if isinstance(payload_data, bytes) else bytes(payload_data)
        if not self._plain:
            frame = Frame(1 if end else 0, rsv1, 0, 0, frame_opcode, payload)
            return _filtered_frame_parts(frame, self._mask, self._frame_filters)
        first = 0x80 | frame_opcode if end else frame_opcode
        if rsv1:
            first |= 0x40
        length = len(payload)
        # _plain_header's first case inline: the common frame, made without a call.
        return _pack_header(first, length) if length < 126 else _plain_header(first, length), payload


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
            self._connection = _deflate_stream.DeflateConnection(self._connection)
        request.client_terminated = False
        request.server_terminated = False
        self._frame_builder = FragmentedFrameBuilder(
            options.mask_send, options.outgoing_frame_filters, options.encode_text_message_to_utf8
        )
        self._outgoing_compressed = False
        # Bodies of the pings sent and not answered yet (a list: a deque costs 600 bytes per connection).
        self._ping_queue: list[bytes] = []
        self._last_received_opcode: int | None = None
        self._assembler = MessageAssembler(options)
        # Who sent the first close frame: "server", "client" or None (no close yet).
        self.closed_by: str | None = None

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
        if options.outgoing_message_filters:
            for message_filter in options.outgoing_message_filters:
                message = message_filter.filter(message, end, binary)
        codec = options.permessage_deflate
        rsv1 = 0
        if codec is not None:
            starting = not self._frame_builder.message_in_progress()
            if starting:
                self._outgoing_compressed = codec.compress_outgoing
            if self._outgoing_compressed:
                payload = message.encode("utf-8") if isinstance(message, str) else bytes(message)
                message = codec.compress(payload, end)
                # RFC 7692 §6.1: RSV1 on the first frame of a compressed message only.
                rsv1 = 1 if starting else 0
        header, data = self._frame_builder.build_parts(message, end, binary, rsv1)
        if len(data) < 0x10000:
            self._write(header + data)
        else:
            self._write_parts(header, data)

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
        if self.closed_by is None:
            self.closed_by = "server"
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
                _LOGGER.debug("discarding a message received while closing: %s", _diagnostics.shorten(message))

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
        take_buffered = options.unmask_receive and not options.incoming_frame_filters
        while True:
            taken = self._receive_buffered_frame() if take_buffered else _NOT_TAKEN
            if taken is _NOT_TAKEN:
                taken = self._receive_message_frame()
            if taken is None:
                continue  # a fragment, or a ping or pong
            if taken is _CLOSED:
                return None
            return taken  # type: ignore[no-any-return]

    def _receive_buffered_frame(self) -> Any:
        """Take the next frame in one read if all of it is in the connection's buffer.

        The same header decoder and checks as the general path; on anything
        they refuse, or a frame that has not arrived whole, nothing is
        consumed and ``_NOT_TAKEN`` returned, so the general path reads the
        frame and reports the error exactly as without a buffer.

        Returns:
            ``_NOT_TAKEN``, or what ``_take_frame`` returns.

        Raises:
            InvalidUTF8Exception, InvalidFrameException,
            MessageTooBigException: see ``receive_message`` (the payload's
            own errors: UTF-8, inflation).
        """
        connection = self._connection
        assembler = self._assembler
        try:
            head = connection.peek(_PEEK_SIZE)
            header, size = _decode_header(head, None, True, None, True)
            fin, rsv1, rsv2, rsv3, opcode, length, mask_key = header
            if rsv1 or rsv2 or rsv3:
                _check_reserved_bits(header, self._options)
            end = size + length
            if len(head) < end and connection.buffered() < end:
                return _NOT_TAKEN
            if opcode < 8:
                assembler.start(header)
        except (common.WebSocketException, _IncompleteHeader, OSError, IndexError):
            # IndexError: fewer than 2 bytes at hand (the decoder's first two reads).
            return _NOT_TAKEN
        data = connection.read(end)
        if length:
            # A small payload is cheaper to copy than to view.
            # (mask_key is bytes: the decoder was told to expect a mask.)
            payload = _masking.mask(
                data[size:] if length < _COPY_BELOW else memoryview(data)[size:],
                mask_key,  # type: ignore[arg-type]
            )
        else:
            payload = b""
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("< frame opcode=%#x fin=%d %s", opcode, fin, _diagnostics.shorten(payload))
        if fin and opcode < 8:
            # The last frame of a message (_take_frame's own case, without the call).
            self._last_received_opcode = opcode or assembler.opcode
            return assembler.finish(payload)
        return self._take_frame(fin, opcode, payload)

    def _receive_message_frame(self) -> Any:
        """Read the next frame for ``receive_message``, its payload as it arrives.

        A data frame is checked against the message in progress (and may
        start one) before its payload is read; the pieces of a text payload
        are validated as they arrive.

        Returns:
            What ``_take_frame`` returns.
        """
        header = self._receive_frame_header()
        fin, _, _, _, opcode, length, mask_key = header
        if opcode >> 3:
            return self._take_frame(
                fin, opcode, _filter_frame(header, self._receive_payload(header), self._options).payload
            )
        filtered = bool(self._options.incoming_frame_filters)
        assembler = self._assembler
        assembler.start(header, decode_text=not filtered)
        if filtered or length < 2 or not assembler.decodes_on_arrival():
            return self._take_frame(
                fin, opcode, _filter_frame(header, self._receive_payload(header), self._options).payload
            )
        remaining = length
        masker = _masking.RepeatedXorMasker(mask_key) if mask_key is not None else None
        while True:
            chunk = self._read_some(remaining)
            remaining -= len(chunk)
            if masker is not None:
                chunk = masker.mask(chunk)
            if not remaining:
                if _LOGGER.isEnabledFor(logging.DEBUG):
                    _LOGGER.debug("< frame opcode=%#x fin=%d ...%s", opcode, fin, _diagnostics.shorten(chunk))
                return self._take_frame(fin, opcode, chunk)
            assembler.feed(chunk, False)

    def _take_frame(self, fin: int, opcode: int, payload: bytes) -> Any:
        """Hand on the (last piece of the) payload of a frame whose data header the assembler has.

        Returns:
            None for a fragment, a ping or a pong (answered or matched),
            ``_CLOSED`` for a close frame (answered), else the completed
            message (str or bytes).
        """
        if opcode >> 3:
            self._last_received_opcode = opcode
            if opcode == common.OPCODE_CLOSE:
                self._process_close_message(payload)
                return _CLOSED
            if opcode == common.OPCODE_PING:
                self._process_ping_message(payload)
            else:
                self._process_pong_message(payload)
            return None
        assembler = self._assembler
        if not fin:
            assembler.feed(payload, False)
            return None
        self._last_received_opcode = assembler.opcode
        return assembler.finish(payload)

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

    # Reading frames for a handler: nothing here touches the message in progress.

    def _receive_frame_header(self, max_payload_length: int | None = None) -> HeaderFields:
        """Read and check the next frame header (as ``parse_frame_header`` does) and its reserved bits.

        Raises:
            ConnectionTerminatedException, InvalidFrameException,
            MessageTooBigException: see ``receive_message``.
        """
        expect_mask = True if self._options.unmask_receive else None
        header, _ = _decode_header(self._read(2), self._read, expect_mask, max_payload_length, True)
        _check_reserved_bits(header, self._options)
        return header

    def _receive_payload(self, header: HeaderFields) -> bytes:
        """Read the payload that follows ``header`` and unmask it."""
        _, _, _, _, _, length, mask_key = header
        if not length:
            return b""
        if mask_key is not None:
            return _masking.mask(self._read_buffer(length), mask_key)
        return self._read(length)

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
        return _filter_frame(header, self._receive_payload(header), self._options)

    def _receive_frame(self) -> tuple[int, bytes, int, int, int, int]:
        """Receive a frame as ``_receive_frame_as_frame_object`` does.

        Returns:
            ``(opcode, payload, fin, rsv1, rsv2, rsv3)``.
        """
        frame = self._receive_frame_as_frame_object()
        assert frame.opcode is not None
        return frame.opcode, frame.payload, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3

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
        if opcode >> 3:
            self._last_received_opcode = opcode
            return frame.payload
        assembler = self._assembler
        assembler.start((frame.fin, frame.rsv1, 0, 0, opcode, len(frame.payload), None), decode_text=False)
        if not frame.fin:
            assembler.feed(frame.payload, False)
            return None
        self._last_received_opcode = assembler.opcode
        message = assembler.finish(frame.payload, decode=False)
        assert isinstance(message, bytes)
        return message

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
        if self.closed_by is None:
            self.closed_by = "client"
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
