"""Raw DEFLATE (RFC 1951) compressors and decompressors for the compression extensions.

Layer 0. ``_RFC1979Deflater``/``_RFC1979Inflater`` frame the output as RFC
7692 §7.2 says; inflating is bounded in size (``DeflateSizeError``) and,
with ``filter_within_budget``, charged to a memory budget step by step.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from mod_pywebsocket import common

__all__ = ["BUDGET_STEP", "DeflateSizeError"]

# The bytes a sync flush ends with: an empty stored block (RFC 7692 §7.2.1).
_SYNC_FLUSH_TAIL = b"\x00\x00\xff\xff"


class DeflateSizeError(common.WebSocketException, ValueError):
    """Inflating would produce more than the allowed number of bytes (close with 1009)."""

    close_code = common.STATUS_MESSAGE_TOO_BIG


def _deflate_parameters(window_bits: int) -> tuple[int, int]:
    # zlib cannot compress with an 8-bit window. Huffman-only output has no
    # back-references at all, so it is valid for a peer that keeps 256 bytes.
    if window_bits == 8:
        return -9, zlib.Z_HUFFMAN_ONLY
    return -window_bits, zlib.Z_DEFAULT_STRATEGY


class _Deflater:
    """A raw DEFLATE compressor with an LZ77 window of ``2**window_bits`` bytes."""

    def __init__(self, window_bits: int = zlib.MAX_WBITS) -> None:
        if not 8 <= window_bits <= 15:
            raise ValueError(f"window bits must be 8-15, not {window_bits}")
        self._window_bits = window_bits
        self._compress = self._new()

    def _new(self) -> Any:
        wbits, strategy = _deflate_parameters(self._window_bits)
        return zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, wbits, 8, strategy)

    def compress(self, data: bytes) -> bytes:
        """Compress ``data``; output may be held back until a flush."""
        result: bytes = self._compress.compress(data)
        return result

    def compress_and_flush(self, data: bytes) -> bytes:
        """Compress ``data`` and sync-flush: the output ends with 00 00 ff ff."""
        result: bytes = self._compress.compress(data) + self._compress.flush(zlib.Z_SYNC_FLUSH)
        return result

    def compress_and_finish(self, data: bytes) -> bytes:
        """Compress ``data`` into a final block (BFINAL=1) and start a new stream."""
        result: bytes = self._compress.compress(data) + self._compress.flush(zlib.Z_FINISH)
        self._compress = self._new()
        return result


class _Inflater:
    """A raw DEFLATE decompressor that returns its output in bounded pieces."""

    def __init__(self, window_bits: int = zlib.MAX_WBITS) -> None:
        if not 8 <= window_bits <= 15:
            raise ValueError(f"window bits must be 8-15, not {window_bits}")
        self._window_bits = window_bits
        self._decompress = zlib.decompressobj(-window_bits)
        self._unconsumed = b""

    def append(self, data: bytes) -> None:
        """Add compressed input."""
        self._unconsumed += data

    def decompress(self, size: int) -> bytes:
        """Return up to ``size`` bytes of output (all of it for ``size`` -1).

        Raises:
            zlib.error: the input is not valid DEFLATE data.
        """
        data, self._unconsumed = self._unconsumed, b""
        if self._decompress.eof:
            # The peer ended the stream with BFINAL=1: the next data starts a new one.
            data = self._decompress.unused_data + data
            self._decompress = zlib.decompressobj(-self._window_bits)
        if size < 0:
            result: bytes = self._decompress.decompress(data)
            return result
        result = self._decompress.decompress(data, size) if size else b""
        self._unconsumed = self._decompress.unconsumed_tail + (data if not size else b"")
        return result

    def finished(self) -> bool:
        """Return True once the input ended with a final block (BFINAL=1)."""
        return bool(self._decompress.eof)

    def reset(self) -> None:
        """Forget the LZ77 window (no context takeover)."""
        self._decompress = zlib.decompressobj(-self._window_bits)
        self._unconsumed = b""


class _RFC1979Deflater:
    """Compresses messages or frames as RFC 7692 §7.2.1 says.

    Each call's output is a sync-flushed DEFLATE block sequence; with
    ``end`` the trailing 00 00 ff ff is removed.
    """

    def __init__(self, window_bits: int | None, no_context_takeover: bool) -> None:
        self._window_bits = window_bits if window_bits is not None else zlib.MAX_WBITS
        self._no_context_takeover = no_context_takeover
        self._deflater = _Deflater(self._window_bits)

    def filter(self, data: bytes, end: bool = True, bfinal: bool = False, *, flush: bool | None = None) -> bytes:
        """Compress ``data``, a whole message or (``end`` False) a fragment of one.

        Args:
            data: the payload.
            end: ``data`` ends the message: the output is complete (sync
                flushed) without its trailing 00 00 ff ff. A fragment's output
                is sync flushed and keeps it.
            bfinal: end the message with a final block (BFINAL=1).
            flush: 0.7.9's spelling, which wins over ``end``: True is
                ``end=True``; False compresses without flushing, so the output
                may hold back data until a later call.
        """
        if flush is not None:
            if not flush and not bfinal:
                return self._deflater.compress(data)
            end = flush
        if bfinal and end:
            result = self._deflater.compress_and_finish(data)
            # RFC 7692 §7.2.3.4: a final block may end a message; the stream
            # restarts, so the next message has a fresh window anyway.
            return result if result else b"\x00"
        result = self._deflater.compress_and_flush(data)
        if end:
            if result.endswith(_SYNC_FLUSH_TAIL):
                result = result[: -len(_SYNC_FLUSH_TAIL)]
            if self._no_context_takeover:
                self._deflater = _Deflater(self._window_bits)
        return result


class _RFC1979Inflater:
    """Decompresses what ``_RFC1979Deflater`` made, within a size limit."""

    def __init__(self, window_bits: int = zlib.MAX_WBITS, no_context_takeover: bool = False) -> None:
        # A larger window than the sender's reads its output fine, so the
        # decompressor always keeps the maximum.
        self._inflater = _Inflater(zlib.MAX_WBITS)
        self._no_context_takeover = no_context_takeover
        # True between feed(..., end=True) and the pull that empties it.
        self._end_pending = False

    def filter(self, data: bytes, end: bool = True, max_size: int = -1) -> bytes:
        """Decompress ``data``; with ``end``, the message's last piece.

        Raises:
            DeflateSizeError: the output would exceed ``max_size`` bytes.
            zlib.error: invalid DEFLATE data.
        """
        self._inflater.append(data + _SYNC_FLUSH_TAIL if end else data)
        if max_size < 0:
            result = self._inflater.decompress(-1)
        else:
            result = self._inflater.decompress(max_size + 1)
            if len(result) > max_size:
                raise DeflateSizeError(f"inflated data exceeds {max_size} bytes")
        # After a final block the stream is over (RFC 7692 §7.2.3.4): the
        # appended 00 00 ff ff is left over, and the next message starts anew.
        if end and (self._no_context_takeover or self._inflater.finished()):
            self._inflater.reset()
        return result

    def feed(self, data: bytes, end: bool = True) -> None:
        """Take compressed ``data`` whose output ``pull`` then returns in bounded pieces; ``end`` as for ``filter``."""
        self._inflater.append(data + _SYNC_FLUSH_TAIL if end else data)
        self._end_pending = end

    def pull(self, size: int) -> bytes:
        """Return up to ``size`` bytes (``size`` > 0) of what ``feed`` gave; fewer once all of it is out.

        Raises:
            zlib.error: invalid DEFLATE data.
        """
        result = self._inflater.decompress(size)
        if len(result) < size and self._end_pending:
            self._end_pending = False
            if self._no_context_takeover or self._inflater.finished():
                self._inflater.reset()
        return result

    def filter_within_budget(self, data: bytes, end: bool, max_size: int, budget: Any) -> Iterator[bytes]:
        """Decompress ``data`` as ``filter`` does, in pieces each charged to ``budget`` before it is made.

        Each step reserves at most ``BUDGET_STEP`` bytes (less for a small
        input: DEFLATE gives at most 1032 bytes per input byte), pulls at
        most that much output and gives back the rest of the reservation;
        the input goes in slices of the same size. Each piece yielded stays
        charged: the caller releases it. A step the budget grants less
        than 64 KiB of (and less than asked) is refused.

        Args:
            data: compressed input.
            end: as for ``filter``: ``data`` ends a message.
            max_size: the most output in all (-1: no limit).
            budget: an object with ``reserve(n) -> int``, ``release(n)``
                and ``refuse(n) -> Exception`` (a ``BudgetAccount``).

        Raises:
            DeflateSizeError: the output would exceed ``max_size`` bytes.
            zlib.error: invalid DEFLATE data.
            MemoryBudgetExceededException: (``budget.refuse``) a step the
                budget cannot cover.
        """
        room = max_size if max_size >= 0 else 1 << 62
        size = len(data)
        produced = 0
        for offset in range(0, size or 1, BUDGET_STEP):
            if size <= BUDGET_STEP:
                self.feed(data, end)
                most = min(BUDGET_STEP, size * _MAX_INFLATE_RATIO + _INFLATE_SLACK)
            else:
                self.feed(data[offset : offset + BUDGET_STEP], end and offset + BUDGET_STEP >= size)
                most = BUDGET_STEP
            while True:
                want = min(most, room - produced + 1)
                granted = budget.reserve(want)
                if granted < want and granted < _MIN_BUDGET_GRANT:
                    budget.release(granted)
                    raise budget.refuse(want)
                try:
                    result = self.pull(granted)
                except BaseException:
                    budget.release(granted)
                    raise
                budget.release(granted - len(result))
                produced += len(result)
                if produced > room:
                    budget.release(len(result))
                    raise DeflateSizeError(f"inflated data exceeds {max_size} bytes")
                yield result
                if len(result) < granted:
                    break


# filter_within_budget: the most output (reserved first) and input of one step.
BUDGET_STEP = 1024 * 1024
# A step the budget grants less than this (and less than asked) refuses the data.
_MIN_BUDGET_GRANT = 64 * 1024
# DEFLATE's densest code gives 258 bytes for 2 bits: a byte of input makes at
# most 1032 of output (plus the few bits zlib may hold back).
_MAX_INFLATE_RATIO = 1032
_INFLATE_SLACK = 4096
