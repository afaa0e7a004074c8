"""Helpers: frame masking, hex dumps, loggers, stack traces, DEFLATE wrappers.

Layer 0: nothing here imports ``socket``; ``DeflateSocket`` and
``drain_received_data`` work on a socket the caller passes in.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import re
import traceback
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from mod_pywebsocket import common
from mod_pywebsocket._connection import BufferedConnection, ReceiveBuffer, as_buffered

__all__ = [
    "DeflateConnection",
    "DeflateRequest",
    "DeflateSizeError",
    "DeflateSocket",
    "NoopMasker",
    "RepeatedXorMasker",
    "drain_received_data",
    "get_class_logger",
    "get_script_interp",
    "get_stack_trace",
    "hexify",
    "mask",
    "md5_hash",
    "pack_byte",
    "prepend_message_to_exception",
    "sha1_hash",
    "shorten",
]

# The hash constructors under their 0.7 names: ``sha1_hash(data).digest()``.
md5_hash = hashlib.md5
sha1_hash = hashlib.sha1

# Masking XORs the data with the 4-byte key repeated. The fastest pure-stdlib
# way measured here is big-integer XOR over 4 KiB slices of a memoryview
# (~750 MB/s on 1 MiB; one int over the whole MiB is half that speed because
# it falls out of the cache, and per-byte loops are ~100x slower).
_CHUNK = 4096
_KEY_REPEATS = _CHUNK // 4

# Set to a non-empty value to keep the pure-Python masking even when an
# accelerator is installed (the benchmark measures both).
NO_ACCELERATOR_ENV = "MOD_PYWEBSOCKET_NO_ACCELERATOR"


def _mask_pure(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    n = len(data)
    from_bytes = int.from_bytes
    if n <= _CHUNK:
        repeated = (key * ((n >> 2) + 1))[:n]
        return (from_bytes(data, "little") ^ from_bytes(repeated, "little")).to_bytes(n, "little")
    view = memoryview(data)
    key_int = from_bytes(key * _KEY_REPEATS, "little")
    full = n - n % _CHUNK
    parts = [
        (from_bytes(view[offset : offset + _CHUNK], "little") ^ key_int).to_bytes(_CHUNK, "little")
        for offset in range(0, full, _CHUNK)
    ]
    if full < n:
        rest = n - full
        tail = from_bytes(view[full:], "little") ^ from_bytes((key * _KEY_REPEATS)[:rest], "little")
        parts.append(tail.to_bytes(rest, "little"))
    return b"".join(parts)


def _load_accelerated_mask() -> Callable[[Any, bytes], bytes] | None:
    """Return ``apply_mask`` from the ``websockets`` package's C extension, if installed.

    It masks at memory speed (~25 GB/s here against ~0.75 GB/s for the pure
    version). The extension module is loaded from its file without running
    ``websockets/__init__.py``, which would add ~40 ms to every start.
    """
    if os.environ.get(NO_ACCELERATOR_ENV):
        return None
    try:
        spec = importlib.util.find_spec("websockets")
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        for location in locations:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = os.path.join(location, "speedups" + suffix)
                if os.path.isfile(path):
                    extension_spec = importlib.util.spec_from_file_location("websockets.speedups", path)
                    assert extension_spec is not None and extension_spec.loader is not None
                    module = importlib.util.module_from_spec(extension_spec)
                    extension_spec.loader.exec_module(module)
                    apply_mask: Callable[[Any, bytes], bytes] = module.apply_mask
                    if apply_mask(b"\x7f\x9f\x4d\x51\x58", b"\x37\xfa\x21\x3d") == b"Hello":
                        return apply_mask
    except Exception:  # a broken or foreign install: the pure version works everywhere
        logging.getLogger(__name__).debug("masking accelerator not usable", exc_info=True)
    return None


_mask_in_use = _load_accelerated_mask() or _mask_pure

# The masking in use: "websockets.speedups" or "pure-python".
MASK_IMPLEMENTATION = "pure-python" if _mask_in_use is _mask_pure else "websockets.speedups"


def mask(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """Return ``data`` XORed with the 4-byte ``key`` repeated (RFC 6455 §5.3).

    Uses the C ``apply_mask`` of the ``websockets`` package when it is
    installed (see ``MASK_IMPLEMENTATION``), else pure Python.

    Args:
        data: the payload.
        key: exactly 4 bytes; ``key[0]`` applies to ``data[0]``.

    Returns:
        The masked (or unmasked: the operation is its own inverse) bytes.
    """
    return _mask_in_use(data, key)


class RepeatedXorMasker:
    """Masks a stream of data with one key, remembering the key position.

    Successive ``mask`` calls continue where the previous one stopped, so a
    payload can be unmasked in pieces as it arrives.
    """

    def __init__(self, masking_key: bytes) -> None:
        if len(masking_key) != 4:
            raise ValueError(f"masking key must be 4 bytes, not {len(masking_key)}")
        self._masking_key = bytes(masking_key)
        self._position = 0

    def mask(self, s: bytes | bytearray | memoryview) -> bytes:
        """Return ``s`` XORed with the key, continuing at the current position."""
        position = self._position
        key = self._masking_key[position:] + self._masking_key[:position] if position else self._masking_key
        self._position = (position + len(s)) & 3
        return mask(s, key)


class NoopMasker:
    """A masker that returns its input unchanged (for unmasked frames)."""

    def __init__(self, masking_key: bytes | None = None) -> None:
        self._masking_key = masking_key

    def mask(self, s: bytes | bytearray | memoryview) -> bytes:
        """Return ``s`` as bytes."""
        return bytes(s)


def pack_byte(b: int) -> bytes:
    """Return the single byte with value ``b``."""
    return bytes((b,))


def hexify(s: bytes | bytearray) -> str:
    """Return ``s`` as space-separated hex pairs, e.g. ``'88 80'``."""
    return " ".join(f"{b:02x}" for b in s)


def shorten(data: bytes | str, limit: int = 75) -> str:
    """Return a repr of ``data`` cut to about ``limit`` characters for logs."""
    text = repr(data)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}...{text[-12:]} ({len(data)} {'bytes' if isinstance(data, bytes) else 'chars'})"


def get_stack_trace() -> str:
    """Return the traceback of the exception being handled, as text."""
    return traceback.format_exc()


def prepend_message_to_exception(message: str, exc: BaseException) -> None:
    """Prefix the first argument of ``exc`` with ``message`` (0.7 compatibility)."""
    args = exc.args
    if args and isinstance(args[0], str):
        exc.args = (message + args[0], *args[1:])
    else:
        exc.args = (message, *args)


def get_script_interp(script_path: str, cygwin_path: str | None = None) -> str | None:
    """Return the interpreter command line of a ``#!`` script, or None for another file.

    Args:
        script_path: the script.
        cygwin_path: a directory of Cygwin binaries (a Windows Python running
            Cygwin scripts): the interpreter's directory is replaced by it,
            ``#!/usr/bin/perl -wT`` giving ``<cygwin_path>/perl -wT``.

    Raises:
        OSError: the file cannot be read.
    """
    with open(script_path, encoding="latin-1") as script:
        first_line = script.readline().rstrip("\r\n")
    if not first_line.startswith("#!"):
        return None
    interp = first_line[2:]
    if cygwin_path:
        match = re.match(r"[^ ]*/([^ ]+)( .*)?", interp)
        if match:
            return os.path.join(cygwin_path, match.group(1)) + (match.group(2) or "")
    return interp


def get_class_logger(o: Any) -> logging.Logger:
    """Return the logger named after the module and class of ``o``."""
    cls = o if isinstance(o, type) else type(o)
    return logging.getLogger(f"{cls.__module__}.{cls.__name__}")


# DEFLATE helpers (RFC 1951 raw streams), used by the compression extensions.

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
            data: compressed input; ``end`` as for ``filter``.
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


_INFLATE_STEP = 65536


class DeflateConnection(BufferedConnection):
    """Wraps a connection for ``deflate-stream``: what is written is deflated
    (sync-flushed per write) and what is read is inflated.

    A ``BufferedConnection`` whose receive inflates what the wrapped
    connection gives (a plain ``read``/``write`` object is adapted with
    ``_connection.as_buffered``). ``read(n)`` returns exactly n inflated
    bytes or raises ConnectionTerminatedException. Other attributes are the
    wrapped connection's.

    Args:
        connection: the connection to wrap.
    """

    def __init__(self, connection: Any) -> None:
        super().__init__()
        self._connection = connection
        self._source = as_buffered(connection)
        self._deflater = _Deflater(zlib.MAX_WBITS)
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def _receive_into(self, view: ReceiveBuffer) -> int:
        # 0 at EOF; loop until inflating gives at least one byte. Each step
        # inflates at most _INFLATE_STEP bytes, so a small input that
        # inflates hugely is consumed only as fast as the stream reads it.
        while True:
            data = self._inflater.unconsumed_tail
            if not data:
                # What has arrived, or what a receive would take: never more
                # than a connection that does not read ahead has (one byte).
                source = self._source
                data = source.read_some(max(source.buffered(), source.read_ahead, 1))
                if not data:
                    return 0
            inflated = self._inflater.decompress(data, min(len(view), _INFLATE_STEP))
            if inflated:
                view[: len(inflated)] = inflated
                return len(inflated)

    def _send(self, data: bytes) -> None:
        self._source.write(self._deflater.compress_and_flush(data))

    def read(self, size: int = -1) -> bytes:
        """Return exactly ``size`` inflated bytes; -1 reads up to EOF (0.7's parameter name).

        Raises:
            ConnectionTerminatedException: EOF came first.
        """
        return super().read(size)

    def get_remote_addr(self) -> Any:
        """Return the wrapped connection's ``remote_addr``."""
        return self._connection.remote_addr

    remote_addr = property(get_remote_addr)

    put_bytes = BufferedConnection.write


class DeflateRequest:
    """A request whose ``connection`` is wrapped in a ``DeflateConnection``.

    Every other attribute, read or set, is the wrapped request's.
    """

    def __init__(self, request: Any) -> None:
        object.__setattr__(self, "_request", request)
        object.__setattr__(self, "connection", DeflateConnection(request.connection))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_request", "connection"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._request, name, value)


class DeflateSocket:
    """Wraps a socket for ``deflate-stream``: ``send`` deflates (sync-flushed
    per call) and ``recv`` inflates.
    """

    # Compressed bytes asked of the socket per recv.
    _RECV_SIZE = 4096

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._deflater = _Deflater(zlib.MAX_WBITS)
        self._inflater = _Inflater(zlib.MAX_WBITS)

    def recv(self, size: int) -> bytes:
        """Return 1 to ``size`` inflated bytes, waiting for some; b'' at EOF.

        Raises:
            ValueError: ``size`` is not positive.
            zlib.error: the peer sent invalid DEFLATE data.
        """
        if size <= 0:
            raise ValueError(f"recv size must be positive, not {size}")
        while True:
            data = self._inflater.decompress(size)
            if data:
                return data
            received = self._socket.recv(self._RECV_SIZE)
            if not received:
                return b""
            self._inflater.append(received)

    def send(self, data: bytes) -> int:
        """Deflate ``data``, send all of it with a sync flush, return ``len(data)``."""
        self._socket.sendall(self._deflater.compress_and_flush(data))
        return len(data)

    def sendall(self, data: bytes) -> None:
        """Same as ``send``, returning None like ``socket.sendall``."""
        self.send(data)


def drain_received_data(raw_socket: Any) -> bytes:
    """Return what has arrived on a socket and can be read without waiting.

    Reads until the peer closed or nothing more is buffered, with the socket
    made non-blocking meanwhile; its timeout is restored afterwards.

    Raises:
        OSError: receiving failed for another reason than "would block".
    """
    timeout = raw_socket.gettimeout()
    raw_socket.settimeout(0.0)
    drained = []
    try:
        while True:
            try:
                data = raw_socket.recv(65536)
            except OSError as exc:
                if isinstance(exc, BlockingIOError) or exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    break
                raise
            if not data:
                break
            drained.append(data)
    finally:
        raw_socket.settimeout(timeout)
    return b"".join(drained)
