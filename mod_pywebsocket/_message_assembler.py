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
  (RFC 6455 §8.1);
- memory: with a ``MessageBudget`` (``StreamOptions.message_budget``, an
  account of the server-wide budget), a message is charged for what it
  holds before it holds it, and gives it back when it is finished. Its
  received bytes are charged by ``start`` once the message has more than
  ``UNCOUNTED_BYTES`` of them. Its inflated bytes are charged before they
  exist: the message is inflated in steps of at most 1 MiB of output, each
  reserved first (``_deflate._RFC1979Inflater.filter_within_budget``; the
  deflate-frame filter inflates a frame the same way, and the pieces of a
  fragmented message it inflated are counted as they are kept). A charge
  the budget cannot cover fails the message with
  ``MemoryBudgetExceededException`` (close code 1013).
"""

from __future__ import annotations

import codecs
import io
import logging
import threading
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mod_pywebsocket import _deflate, common
from mod_pywebsocket._stream_base import (
    InvalidFrameException,
    InvalidUTF8Exception,
    MemoryBudgetExceededException,
    MessageTooBigException,
)

if TYPE_CHECKING:
    from mod_pywebsocket._stream_hybi import HeaderFields, StreamOptions

__all__ = ["UNCOUNTED_BYTES", "BudgetAccount", "MessageAssembler", "MessageBudget", "decode_text"]

_LOGGER = logging.getLogger(__name__)

_TEXT = int(common.OPCODE_TEXT)  # a plain int compares faster than the enum member
# A message of more pieces than this is collected in one growing buffer.
_MAX_LISTED_PIECES = 256
# The decoder of a text message decoded on arrival before its first piece: a
# message that comes in one piece is decoded in one step, without an
# incremental decoder.
_NO_DECODER_YET: Any = object()
# A message that has received at most this many bytes is not charged for
# them (the usual case costs nothing); what escapes the budget is at most
# this much per connection.
UNCOUNTED_BYTES = 64 * 1024


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


class MessageBudget:
    """The memory that incoming messages of all connections together may hold (``--max-incoming-memory``).

    Each connection charges it through an account of its own
    (``account()``), so that whatever a connection still holds when it ends
    (a message cut short, a failed one) comes back when its account is
    closed. A refused charge is logged at WARNING.

    Args:
        limit: the most bytes charged at once, over all accounts.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held = 0
        self._lock = threading.Lock()

    def held(self) -> int:
        """Return the bytes charged now, over all accounts."""
        with self._lock:
            return self._held

    def available(self) -> int:
        """Return how many more bytes may be charged now (a hint: other accounts may take them first)."""
        return max(0, self.limit - self._held)

    def account(self) -> BudgetAccount:
        """Return a new account (one per connection) that charges this budget."""
        return BudgetAccount(self)

    def _reserve(self, account: BudgetAccount, size: int) -> int:
        with self._lock:
            granted = 0 if account.closed else max(0, min(size, self.limit - self._held))
            self._held += granted
            account.held += granted
            return granted

    def _charge(self, account: BudgetAccount, size: int) -> None:
        with self._lock:
            held = self._held
            if not account.closed and held + size <= self.limit:
                self._held = held + size
                account.held += size
                return
        raise self._refusal(account, size, held)

    def _refusal(self, account: BudgetAccount, size: int, held: int) -> MemoryBudgetExceededException:
        """Return the exception for a refused charge of ``size`` bytes; log the account's first one (if open)."""
        if not account.closed and not account.warned:
            account.warned = True
            _LOGGER.warning(
                "incoming messages hold %d of the %d bytes allowed (--max-incoming-memory); "
                "a message asking for %d more is refused with 1013",
                held,
                self.limit,
                size,
            )
        return MemoryBudgetExceededException(
            f"{size} more bytes for an incoming message would exceed the server's limit of {self.limit}"
        )

    def _release(self, account: BudgetAccount, size: int) -> None:
        with self._lock:
            size = min(size, account.held)
            account.held -= size
            self._held -= size

    def _close(self, account: BudgetAccount) -> None:
        with self._lock:
            account.closed = True
            self._held -= account.held
            account.held = 0


class BudgetAccount:
    """One connection's share of a ``MessageBudget``: what its incoming message holds.

    Attributes:
        held: the bytes this account has charged and not released.
        closed: True once ``close`` was called; charges are refused then.
        warned: True once a refusal was logged (one line per connection).
    """

    __slots__ = ("_budget", "closed", "held", "warned")

    def __init__(self, budget: MessageBudget) -> None:
        self._budget = budget
        self.held = 0
        self.closed = False
        self.warned = False

    def reserve(self, size: int) -> int:
        """Charge as much of ``size`` bytes as the budget can cover now (0 on a closed account); return it."""
        return self._budget._reserve(self, size)

    def charge(self, size: int) -> None:
        """Charge ``size`` more bytes.

        Raises:
            MemoryBudgetExceededException: the budget cannot cover them (or
                the account is closed); nothing is charged.
        """
        self._budget._charge(self, size)

    def refuse(self, size: int) -> MemoryBudgetExceededException:
        """Log that ``size`` more bytes cannot be covered and return the exception to raise."""
        budget = self._budget
        return budget._refusal(self, size, budget.limit - budget.available())

    def release(self, size: int) -> None:
        """Give back ``size`` bytes charged earlier."""
        self._budget._release(self, size)

    def close(self) -> None:
        """Give back everything still charged (the connection has ended); later charges are refused."""
        self._budget._close(self)


class MessageAssembler:
    """Assembles received data messages, one at a time.

    Args:
        options: the stream's ``StreamOptions``; ``max_message_size``,
            ``permessage_deflate``, ``incoming_message_filters`` and
            ``message_budget`` (a ``BudgetAccount`` or None) are read when a
            message starts or ends.

    Attributes:
        opcode: the opcode of the message in progress (its first frame's),
            None between messages.
    """

    __slots__ = (
        "_charged",
        "_compressed",
        "_decoder",
        "_fed",
        "_held",
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
        # With a budget: the bytes the message in progress has received (a
        # message in one frame of up to UNCOUNTED_BYTES is not counted), and
        # how many bytes (received and inflated) are charged to the budget.
        self._held = 0
        self._charged = 0

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
            MemoryBudgetExceededException: the memory budget cannot cover
                the frame's payload (a message in progress is dropped).
        """
        fin, rsv1, _, _, opcode, length, _ = header
        options = self._options
        if not opcode:
            if self.opcode is None:
                raise InvalidFrameException("continuation frame without a message to continue")
            total = length + self._wire_size
            if total > options.max_message_size:
                raise _too_big(total, options.max_message_size)
            if options.message_budget is not None:
                self._hold(length)
            self._wire_size = total
            return
        if self.opcode is not None:
            raise InvalidFrameException(f"new data frame (opcode {opcode:#x}) inside a fragmented message")
        if length > options.max_message_size:
            raise _too_big(length, options.max_message_size)
        if options.message_budget is not None and (length > UNCOUNTED_BYTES or not fin):
            self._hold(length)
        self.opcode = opcode
        if not fin:
            self._wire_size = length  # (a message in one frame needs no count)
        if rsv1 and options.permessage_deflate is not None:
            self._compressed = True
        if opcode == _TEXT and decode_text and not options.incoming_message_filters:
            self._decoder = _NO_DECODER_YET

    def _hold(self, size: int) -> None:
        """Count ``size`` more received bytes; once the message has over UNCOUNTED_BYTES, charge for all of them.

        Raises:
            MemoryBudgetExceededException: the budget cannot cover them
                (nothing is counted then).
        """
        held = self._held + size
        if held > UNCOUNTED_BYTES:
            charge = size if self._held > UNCOUNTED_BYTES else held
            try:
                self._options.message_budget.charge(charge)
            except MemoryBudgetExceededException:
                if self.opcode is not None:
                    self._abandon()
                raise
            self._charged += charge
        self._held = held

    def _abandon(self) -> None:
        """Drop the message in progress, which the budget refused, and give back what it held.

        The memory comes back now, not whenever the failed connection's
        objects are collected.
        """
        self._parts = _Pieces(b"")
        self._text = _Pieces("")
        self._whole = None
        self._decoder = None
        self.opcode = None
        self._wire_size = 0
        self._fed = False
        self._size = 0
        self._compressed = False
        self._discharge()

    def _join_within_budget(self, text: bool) -> Any:
        """Return the message's pieces joined; the copy is charged while the pieces still exist.

        Raises:
            MemoryBudgetExceededException: the budget cannot cover the copy
                (the message is dropped).
        """
        budget = self._options.message_budget
        charged = self._charged
        try:
            budget.charge(charged)
        except MemoryBudgetExceededException:
            self._abandon()
            raise
        try:
            return self._text.take() if text else self._parts.take()
        finally:
            budget.release(charged)

    def _discharge(self) -> None:
        """Give back what the finished message held."""
        if self._charged:
            self._options.message_budget.release(self._charged)
            self._charged = 0
        self._held = 0

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
            MemoryBudgetExceededException: the memory budget cannot cover
                what the piece inflates to.
        """
        if self._compressed:
            if self._options.message_budget is not None:
                # Each step's output is kept before the next is made (no
                # copy of the whole piece); one step waits to know if it is the last.
                pending = None
                try:
                    for part in self._inflate_within_budget(piece, final):
                        if pending is not None:
                            self._keep(pending, False)
                        pending = part
                except MemoryBudgetExceededException:
                    self._abandon()
                    raise
                self._keep(pending if pending is not None else b"", final)
                return
            piece = self._inflate(piece, final)
        elif self._options.incoming_frame_filters and self._options.message_budget is not None:
            # A frame filter (deflate-frame) inflated the piece: count what it holds.
            self._hold(len(piece))
        self._keep(piece, final)

    def _keep(self, piece: bytes, final: bool) -> None:
        """Keep a piece of the message's (inflated) payload.

        Raises:
            InvalidUTF8Exception: see ``feed``.
        """
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
        options = self._options
        limit = options.max_message_size - self._size
        try:
            data: bytes = options.permessage_deflate.decompress(piece, final, limit)
        except _deflate.DeflateSizeError as exc:
            raise MessageTooBigException(f"compressed message inflates past the limit of {limit} bytes") from exc
        except zlib.error as exc:
            raise InvalidFrameException(f"invalid compressed data: {exc}") from exc
        self._size += len(data)
        if self._size > options.max_message_size:
            raise MessageTooBigException(
                f"message of {self._size} bytes exceeds the limit of {options.max_message_size}"
            )
        return data

    def _inflate_within_budget(self, piece: bytes, final: bool) -> Iterator[bytes]:
        """Inflate ``piece`` in steps charged to the budget before they are made; yield each step's output.

        Raises:
            MemoryBudgetExceededException: the budget cannot cover a step.
            InvalidFrameException, MessageTooBigException: see ``feed``.
        """
        options = self._options
        limit = options.max_message_size - self._size
        try:
            for data in options.permessage_deflate.decompress_within_budget(
                piece, final, limit, options.message_budget
            ):
                self._charged += len(data)
                self._size += len(data)
                yield data
        except _deflate.DeflateSizeError as exc:
            raise MessageTooBigException(f"compressed message inflates past the limit of {limit} bytes") from exc
        except zlib.error as exc:
            raise InvalidFrameException(f"invalid compressed data: {exc}") from exc

    def finish(self, last: bytes | None = None, decode: bool = True) -> str | bytes:
        """End the message: return its text (str) or its bytes, after the incoming message filters.

        ``finish(last)`` is ``feed(last, True)`` then ``finish()`` in one
        call (a message in one frame takes two calls: ``start`` and this).
        With ``decode`` False a text message comes back as its UTF-8 bytes.

        Raises:
            InvalidUTF8Exception: a text message is not valid UTF-8.
            InvalidFrameException, MessageTooBigException: see ``feed``.
            MemoryBudgetExceededException: see ``feed``; also when the
                budget cannot cover the copy that joins a counted message's
                pieces (charged while it is made).
        """
        opcode = self.opcode
        if last is not None:
            if self._fed or self._compressed:
                self.feed(last, True)
            else:
                # All of an uncompressed message in one piece (so in one
                # frame: start counted no size).
                self.opcode = None
                if self._charged or self._held:
                    self._discharge()
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
        joined: Any = None
        if self._charged and whole is None:
            joined = self._join_within_budget(decoder is not None)
        self.opcode = None
        self._wire_size = 0
        self._fed = False
        if self._charged or self._held:
            self._discharge()
        if self._compressed:
            self._size = 0
            self._compressed = False
        if decoder is not None:
            self._decoder = None
            if whole is not None:
                self._whole = None
                text: str = whole
            else:
                text = joined if joined is not None else self._text.take()
            return text if decode else text.encode("utf-8")
        if whole is not None:
            self._whole = None
            message: bytes = whole
        else:
            message = joined if joined is not None else self._parts.take()
        for message_filter in self._options.incoming_message_filters:
            message = message_filter.filter(message)
        if decode and opcode == common.OPCODE_TEXT:
            return decode_text(message)
        return message
