"""The message assembler: a received data message from its frames' payloads.

Layer 1, pure: no I/O. ``Stream`` reads frames and hands each data frame's
header to ``start`` and its unmasked payload (whole or in pieces) to
``feed``; after the last piece of a FIN frame ``finish`` returns the message.
The assembler alone holds the message in progress (opcode, pieces, sizes,
UTF-8 decoder, inflater state) and makes every check that concerns the
message rather than one frame:

- sequencing: a continuation needs a message, a new message must wait for
  the end of the one in progress (RFC 6455 §5.4);
- size: the received bytes (checked by ``start``, before the payload is
  read) and the inflated bytes (checked by ``feed``) stay within
  ``max_message_size``;
- permessage-deflate (RFC 7692): a message whose first frame has RSV1 is
  inflated as it arrives;
- UTF-8: a text message decoded on arrival fails at the first invalid byte
  (RFC 6455 §8.1).
"""

from __future__ import annotations

import codecs
import io
import zlib
from typing import TYPE_CHECKING, Any

from mod_pywebsocket import common, util
from mod_pywebsocket._stream_base import InvalidFrameException, InvalidUTF8Exception, MessageTooBigException

if TYPE_CHECKING:
    from mod_pywebsocket._stream_hybi import HeaderFields, StreamOptions

__all__ = ["MessageAssembler", "decode_text"]

_TEXT = int(common.OPCODE_TEXT)  # a plain int compares faster than the enum member
# A message of more pieces than this is collected in one growing buffer.
_MAX_LISTED_PIECES = 256
# The decoder of a text message decoded on arrival before its first piece: a
# message that comes in one piece is decoded in one step, without an
# incremental decoder.
_NO_DECODER_YET: Any = object()


def decode_text(data: bytes) -> str:
    """Return a whole text message decoded.

    Raises:
        InvalidUTF8Exception: it is not valid UTF-8.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidUTF8Exception(f"text message is not valid UTF-8: {exc}") from exc


def _too_big(size: int, limit: int) -> MessageTooBigException:
    return MessageTooBigException(f"message of at least {size} bytes exceeds the limit of {limit}")


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


class MessageAssembler:
    """Assembles received data messages, one at a time.

    Args:
        options: the stream's ``StreamOptions``; ``max_message_size``,
            ``permessage_deflate`` and ``incoming_message_filters`` are read
            when a message starts or ends.

    Attributes:
        opcode: the opcode of the message in progress (its first frame's),
            None between messages.
    """

    __slots__ = (
        "_compressed",
        "_decoder",
        "_fed",
        "_options",
        "_parts",
        "_size",
        "_text",
        "_whole",
        "_wire_size",
        "opcode",
    )

    def __init__(self, options: StreamOptions) -> None:
        self._options = options
        self.opcode: int | None = None
        self._parts = _Pieces(b"")
        self._size = 0  # after inflation
        self._wire_size = 0  # as received
        self._compressed = False
        # Not None while a text message is decoded as it arrives: its text
        # then goes to _text, and its bytes are not kept.
        self._decoder: codecs.IncrementalDecoder | None = None
        self._text = _Pieces("")
        # A message that came in one piece, kept as it is (neither _parts nor _text).
        self._whole: Any = None
        # True once a piece of the message in progress was fed.
        self._fed = False

    def start(self, header: HeaderFields, decode_text: bool = True) -> None:
        """Take the header of the next data frame (a ``FrameHeader`` or its fields); a first frame starts a message.

        Nothing changes when it raises. With ``decode_text`` a text message
        (without incoming message filters) is decoded as it arrives;
        otherwise its bytes are kept and decoded, if at all, by ``finish``.

        Raises:
            InvalidFrameException: a continuation without a message, or a new
                message inside a fragmented one.
            MessageTooBigException: the message's received bytes would exceed
                the size limit.
        """
        fin, rsv1, _, _, opcode, length, _ = header
        options = self._options
        if not opcode:
            if self.opcode is None:
                raise InvalidFrameException("continuation frame without a message to continue")
            length += self._wire_size
            if length > options.max_message_size:
                raise _too_big(length, options.max_message_size)
            self._wire_size = length
            return
        if self.opcode is not None:
            raise InvalidFrameException(f"new data frame (opcode {opcode:#x}) inside a fragmented message")
        if length > options.max_message_size:
            raise _too_big(length, options.max_message_size)
        self.opcode = opcode
        if not fin:
            self._wire_size = length  # (a message in one frame needs no count)
        if rsv1 and options.permessage_deflate is not None:
            self._compressed = True
        if opcode == _TEXT and decode_text and not options.incoming_message_filters:
            self._decoder = _NO_DECODER_YET

    def decodes_on_arrival(self) -> bool:
        """Return True if the message in progress is text validated piece by piece as it arrives (not inflated)."""
        return self._decoder is not None and not self._compressed

    def feed(self, piece: bytes, final: bool) -> None:
        """Add the next piece of payload (unmasked); ``final`` for the last piece of the message.

        Raises:
            InvalidFrameException: invalid compressed data.
            InvalidUTF8Exception: invalid UTF-8 in a text message decoded on
                arrival (as soon as it is seen).
            MessageTooBigException: the message inflates past the size limit.
        """
        if self._compressed:
            piece = self._inflate(piece, final)
        decoder = self._decoder
        fed = self._fed
        self._fed = True
        if decoder is None:
            if final and not fed:
                self._whole = piece  # all of the message in one piece
            else:
                self._parts.add(piece)
        elif decoder is _NO_DECODER_YET and final:
            # The whole text in one piece (an earlier piece would have made a
            # decoder): decoded in one step.
            self._whole = decode_text(piece)
        else:
            if decoder is _NO_DECODER_YET:
                decoder = self._decoder = codecs.getincrementaldecoder("utf-8")()
            try:
                self._text.add(decoder.decode(piece, final=final))
            except UnicodeDecodeError as exc:
                raise InvalidUTF8Exception(f"text message is not valid UTF-8: {exc}") from exc

    def _inflate(self, piece: bytes, final: bool) -> bytes:
        """Inflate a piece of a compressed message and count its size."""
        limit = self._options.max_message_size - self._size
        try:
            data: bytes = self._options.permessage_deflate.decompress(piece, final, limit)
        except util.DeflateSizeError as exc:
            raise MessageTooBigException(f"compressed message inflates past the limit of {limit} bytes") from exc
        except zlib.error as exc:
            raise InvalidFrameException(f"invalid compressed data: {exc}") from exc
        self._size += len(data)
        if self._size > self._options.max_message_size:
            raise MessageTooBigException(
                f"message of {self._size} bytes exceeds the limit of {self._options.max_message_size}"
            )
        return data

    def finish(self, last: bytes | None = None, decode: bool = True) -> str | bytes:
        """End the message: return its text (str) or its bytes, after the incoming message filters.

        ``finish(last)`` is ``feed(last, True)`` then ``finish()`` in one
        call (a message in one frame takes two calls: ``start`` and this).
        With ``decode`` False a text message comes back as its UTF-8 bytes.

        Raises:
            InvalidUTF8Exception: a text message is not valid UTF-8.
            InvalidFrameException, MessageTooBigException: see ``feed``.
        """
        opcode = self.opcode
        if last is not None:
            if self._fed or self._compressed:
                self.feed(last, True)
            else:
                # All of an uncompressed message in one piece (so in one
                # frame: start counted no size).
                self.opcode = None
                if self._decoder is not None:
                    self._decoder = None
                    try:
                        whole_text = last.decode("utf-8")
                    except UnicodeDecodeError:
                        decode_text(last)  # raises the error
                        raise
                    return whole_text if decode else last
                if self._options.incoming_message_filters:
                    for message_filter in self._options.incoming_message_filters:
                        last = message_filter.filter(last)
                if opcode == _TEXT and decode:
                    try:
                        return last.decode("utf-8")
                    except UnicodeDecodeError:
                        decode_text(last)  # raises the error
                        raise
                return last
        decoder = self._decoder
        whole = self._whole
        self.opcode = None
        self._wire_size = 0
        self._fed = False
        if self._compressed:
            self._size = 0
            self._compressed = False
        if decoder is not None:
            self._decoder = None
            if whole is not None:
                self._whole = None
                text: str = whole
            else:
                text = self._text.take()
            return text if decode else text.encode("utf-8")
        if whole is not None:
            self._whole = None
            message: bytes = whole
        else:
            message = self._parts.take()
        for message_filter in self._options.incoming_message_filters:
            message = message_filter.filter(message)
        if decode and opcode == common.OPCODE_TEXT:
            return decode_text(message)
        return message
