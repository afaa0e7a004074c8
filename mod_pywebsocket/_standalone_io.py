"""The standalone server's socket I/O: a read buffer of its own, and replies held back while input waits.

Layer 3 (a private part of ``standalone``).

How this works. ``SocketConnection`` is a ``_connection.BufferedConnection``
over ``recv_into`` and ``sendall``: one ``recv`` of up to 64 KiB into a
mapping of its own (only the pages data was written to become resident)
when the buffer is empty, and a read of a large frame goes straight into a
buffer of the frame's size. Unlike ``io.BufferedReader`` it can say how
many bytes are waiting (``buffered``) without blocking.

Once a WebSocket is open, ``hold_writes`` lets writes be held back while the
client has already sent more: a client that pipelines 64 messages then gets
its 64 replies in one ``send`` instead of 64. A held reply leaves

- with the next write that finds no input waiting,
- before the connection blocks in ``recv`` (the handler wants more input),
- when 64 KiB or 32 writes are held,
- at the latest after ``FLUSH_DELAY`` seconds, from the server's
  ``WriteFlusher`` thread, so a handler that sends and then does something
  else never holds a reply back for long.

A reply written when no input waits (one message at a time) is sent at once.

Write deadline. An open WebSocket's socket has no timeout (an idle
WebSocket is normal), so a client that stops reading would hold a blocked
send, its thread and its buffers for ever. Every blocking send notes when
it started (``_sending_since``; large data goes in pieces of
``SEND_PIECE`` bytes, each noted anew, so the deadline is one of progress,
like Apache's ``Timeout``). ``WriteWatch``, one thread per server, looks at
the watched connections a few times per deadline and drops any whose send
has made no progress for ``--write-timeout`` seconds: it shuts the socket
down, which makes the blocked send fail at once (over TLS too), and sets
``SO_LINGER`` 0, so that closing the socket resets it and the kernel frees
the unread data.
"""

from __future__ import annotations

import ctypes
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from mod_pywebsocket import _connection

__all__ = [
    "FLUSH_DELAY",
    "MALLOC_ARENAS",
    "SEND_PIECE",
    "HeapTrimmer",
    "SocketConnection",
    "WriteFlusher",
    "WriteWatch",
]

_LOGGER = logging.getLogger(__name__)

# One recv asks for up to 64 KiB (``_connection.RECEIVE_SIZE``), into a
# mapping of that size per connection: memory that only becomes resident
# where data was written, and that stays put. (A new bytes object per recv,
# shrunk to what arrived, left the heap so fragmented that a 60 s soak of
# 1000 clients grew to 1 GB instead of 390 MB; a buffer that follows the
# traffic, 4 KiB when idle, cost a third of the 16-fragment throughput.)
# Held replies leave once they add up to this many bytes, or this many writes.
# (A cap on the count lets a pipelining client start on the first replies
# while the server works on the rest: +30% for 64 messages in flight.)
_MAX_HELD = 65536
_MAX_HELD_WRITES = 32
# The longest a reply is held back, in seconds.
FLUSH_DELAY = 0.001
# The most one blocking send call is given: the write deadline counts from
# the start of the last call, so it measures progress, not the whole message.
SEND_PIECE = 1 << 20


class SocketConnection(_connection.BufferedConnection):
    """A socket with a read buffer; the ``connection`` of a standalone request (SPEC §3).

    The reading is ``BufferedConnection``'s, over ``recv_into``: ``read(n)``
    returns exactly n bytes or raises ConnectionTerminatedException;
    ``read1``/``read_some``, ``readline`` and ``peek`` follow
    ``io.BufferedReader``. ``write`` sends everything, or holds it back
    (``hold_writes``). OSError from the socket reaches the caller.

    Args:
        sock: the connected socket (plain or TLS).
        remote_addr: the client's address.
    """

    # The first receive is a request head, most often whole in one segment:
    # making the mapping for it would cost more than the receive (a system
    # call, a page fault, and more to give the page back and unmap it).
    first_receive_size = 4096

    def __init__(self, sock: socket.socket, remote_addr: Any = None) -> None:
        super().__init__()
        self.socket = sock
        self.remote_addr = remote_addr
        self._local_addr: Any = None
        self._flusher: WriteFlusher | None = None
        self._held: list[bytes] = []
        self._held_size = 0
        self._flush_scheduled = False
        self._held_lock = threading.Lock()  # guards _held, _held_size, _flush_scheduled
        self._send_lock = threading.Lock()  # one thread at a time puts bytes on the wire
        # When the blocking send in progress started (0.0: none), for WriteWatch.
        self._sending_since = 0.0
        # Set by WriteWatch.drop: the client read nothing for the write timeout.
        self.write_timed_out = False

    @property
    def local_addr(self) -> Any:
        """The server's address."""
        if self._local_addr is None:
            self._local_addr = self.socket.getsockname()
        return self._local_addr

    def get_remote_addr(self) -> Any:
        """Return the client's address."""
        return self.remote_addr

    def get_local_addr(self) -> Any:
        """Return the server's address."""
        return self.local_addr

    def _receive_into(self, view: _connection.ReceiveBuffer) -> int:
        if self._held:
            # The handler wants more input: what it sent must not wait for it.
            self._send_held()
        return self.socket.recv_into(view)

    def _send(self, data: bytes) -> None:
        self._send_held(data)

    # Writing.

    def hold_writes(self, flusher: WriteFlusher | None) -> None:
        """Hold writes back while input waits, sent at the latest by ``flusher``; None sends each write at once."""
        self._flusher = flusher
        if flusher is None:
            self.flush()

    def write(self, data: bytes) -> None:
        """Send all of ``data``, or hold it back while more input waits (``hold_writes``)."""
        if self._flusher is not None and self._pos < len(self._data):
            with self._held_lock:
                self._held.append(data)
                self._held_size += len(data)
                if self._held_size < _MAX_HELD and len(self._held) < _MAX_HELD_WRITES:
                    if self._flush_scheduled:
                        return
                    self._flush_scheduled = True
                    schedule = True
                else:
                    schedule = False
            if schedule:
                self._flusher.schedule(self)
                return
            data = b""
        self._send_held(data)

    def write_parts(self, parts: tuple[bytes, ...]) -> None:
        """Send the buffers in ``parts`` one after the other, without joining them when nothing is held."""
        if self._held or (self._flusher is not None and self._pos < len(self._data)):
            self.write(b"".join(parts))
            return
        with self._send_lock:
            if self._held:
                parts = (*self._take_held(), *parts)
            try:
                self._sendmsg_all(parts)
            except NotImplementedError:  # TLS sockets have no sendmsg
                self._sendall(b"".join(parts))

    def _take_held(self) -> list[bytes]:
        """Return the held writes and hold none (call with ``_send_lock``, to keep their order)."""
        with self._held_lock:
            held = self._held
            self._held = []
            self._held_size = 0
        return held

    def _sendmsg_all(self, parts: tuple[bytes, ...]) -> None:
        views = [memoryview(part) for part in parts if part]
        sendmsg = self.socket.sendmsg
        try:
            while views:
                # At most SEND_PIECE bytes per call (a blocking sendmsg returns only once all is sent).
                batch: list[memoryview] = []
                size = 0
                for view in views:
                    if size + len(view) > SEND_PIECE:
                        if not batch:
                            batch.append(view[:SEND_PIECE])
                        break
                    batch.append(view)
                    size += len(view)
                self._sending_since = time.monotonic()
                sent = sendmsg(batch)
                while views and sent >= len(views[0]):
                    sent -= len(views[0])
                    del views[0]
                if sent:
                    views[0] = views[0][sent:]
        finally:
            self._sending_since = 0.0

    def _sendall(self, data: bytes) -> None:
        """Send all of ``data`` in pieces of ``SEND_PIECE`` bytes, each noted for the write deadline."""
        sendall = self.socket.sendall
        try:
            if len(data) <= SEND_PIECE:
                self._sending_since = time.monotonic()
                sendall(data)
                return
            with memoryview(data) as view:
                for start in range(0, len(view), SEND_PIECE):
                    self._sending_since = time.monotonic()
                    sendall(view[start : start + SEND_PIECE])
        finally:
            self._sending_since = 0.0

    def _send_held(self, data: bytes = b"") -> None:
        with self._send_lock:
            if self._held:
                data = b"".join([*self._take_held(), data])
            if data:
                self._sendall(data)

    def flush(self) -> None:
        """Send what is held back, blocking until it is sent."""
        if self._held:
            self._send_held()

    def flush_nowait(self) -> bool:
        """Send what is held back as far as the socket takes it now; True if nothing is left.

        For the flusher thread: it never blocks on a client that does not read.
        On False the connection counts as scheduled again: the caller must
        ``schedule`` it.
        """
        with self._held_lock:
            self._flush_scheduled = False
        if not self._held:
            return True
        if not self._send_lock.acquire(blocking=False):
            # Another thread is sending; it may have taken everything, or not.
            with self._held_lock:
                self._flush_scheduled = True  # the caller schedules it again
            return False
        try:
            data = b"".join(self._take_held())
            try:
                sent = self.socket.send(data, socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                # The connection is gone; the handler sees it on its next read or write.
                _LOGGER.debug("dropping %d held bytes: %s", len(data), exc)
                return True
            if sent == len(data):
                return True
            with self._held_lock:
                self._held.insert(0, data[sent:])
                self._held_size += len(data) - sent
                self._flush_scheduled = True  # the caller schedules it again
            return False
        finally:
            self._send_lock.release()


class WriteFlusher:
    """One thread per server that sends held-back replies ``FLUSH_DELAY`` after they were held.

    Args:
        delay: how long a reply may be held, in seconds.
    """

    def __init__(self, delay: float = FLUSH_DELAY) -> None:
        self._delay = delay
        self._due: list[SocketConnection] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="write flusher", daemon=True)
        self._thread.start()

    def schedule(self, connection: SocketConnection) -> None:
        """Send ``connection``'s held writes within the delay."""
        with self._lock:
            self._due.append(connection)
        self._wake.set()

    def close(self) -> None:
        """Stop the thread (held writes of open connections leave with their next read or write)."""
        self._stopped = True
        self._wake.set()
        self._thread.join(1.0)

    def _run(self) -> None:
        wait, clear = self._wake.wait, self._wake.clear
        while True:
            wait()
            if self._stopped:
                return
            time.sleep(self._delay)
            clear()
            self._flush_due()

    def _flush_due(self) -> None:
        # A method of its own: its locals go when it returns, so the thread,
        # waiting for the next wake-up, holds no ended connection.
        with self._lock:
            due, self._due = self._due, []
        for connection in due:
            try:
                done = connection.flush_nowait()
            except Exception:  # our own bug: log it, keep flushing the others
                _LOGGER.error("error while flushing held writes", exc_info=True)
                continue
            if not done:
                self.schedule(connection)


class WriteWatch:
    """One thread per server that drops connections whose send made no progress for ``timeout`` seconds.

    ``watch`` a connection while its WebSocket is open (its socket has no
    timeout then), ``unwatch`` it when it ends. A connection past the
    deadline is dropped (``drop``): its blocked send fails at once, its
    ``write_timed_out`` is True, and closing its socket resets the TCP
    connection.

    Args:
        timeout: the write deadline, in seconds.
        describe: turns a client address into text for the log.
    """

    def __init__(self, timeout: float, describe: Callable[[Any], str] = str) -> None:
        self.timeout = timeout
        self._describe = describe
        # A few looks per deadline: a stalled client is dropped within 1.25 times the deadline (at most 1 s late).
        self._interval = min(timeout / 4, 1.0)
        self._watched: set[SocketConnection] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="write deadlines", daemon=True)
        self._thread.start()

    def watch(self, connection: SocketConnection) -> None:
        """Hold ``connection``'s sends to the deadline."""
        with self._lock:
            self._watched.add(connection)

    def unwatch(self, connection: SocketConnection) -> None:
        """Stop watching ``connection``."""
        with self._lock:
            self._watched.discard(connection)

    def close(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(1.0)

    def drop(self, connection: SocketConnection) -> None:
        """Disconnect ``connection``: its pending and later sends fail, closing its socket resets TCP."""
        connection.write_timed_out = True
        _LOGGER.info(
            "%s - the client read nothing for %g s; connection dropped",
            self._describe(connection.remote_addr),
            self.timeout,
        )
        sock = connection.socket
        try:
            # Closing then resets the connection: the kernel drops the data the client never read.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # The plain socket's shutdown, also for TLS: it wakes the blocked send at once.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError as exc:
            _LOGGER.debug("dropping a stalled connection: %s", exc)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._drop_stalled()

    def _drop_stalled(self) -> None:
        # A method of its own: its locals go when it returns, so the thread,
        # waiting for the next look, holds no ended connection.
        now = time.monotonic()
        with self._lock:
            watched = list(self._watched)
        for connection in watched:
            since = connection._sending_since
            if since and now - since > self.timeout and not connection.write_timed_out:
                self.drop(connection)


def _c_library_function(name: str, argtypes: list[type]) -> Callable[..., int] | None:
    """Return the C library's function ``name`` (returning an int), or None where it has none (musl, macOS, Windows)."""
    try:
        # The symbols the process has loaded, the C library's among them.
        function = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return cast(Callable[..., int], function)


_malloc_trim = _c_library_function("malloc_trim", [ctypes.c_size_t])
_mallopt = _c_library_function("mallopt", [ctypes.c_int, ctypes.c_int])

# glibc's mallopt parameter for the most arenas (malloc.h).
_M_ARENA_MAX = -8
# How many arenas the server lets glibc have (see HeapTrimmer).
MALLOC_ARENAS = 2


def _limit_malloc_arenas() -> bool:
    """Cap glibc's arenas at ``MALLOC_ARENAS``, unless the environment chose a number; True if done."""
    if _malloc_trim is None or _mallopt is None:  # malloc_trim: glibc's, not another library's mallopt
        return False
    if "MALLOC_ARENA_MAX" in os.environ or "glibc.malloc.arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    return bool(_mallopt(_M_ARENA_MAX, MALLOC_ARENAS))


class HeapTrimmer:
    """One thread per server that gives freed C heap back to the system (glibc's ``malloc_trim``).

    With one thread per connection, glibc keeps freed memory in many arenas
    and returns little of it by itself: after 1000 clients left, the RSS
    stayed at 64 MiB instead of 39 MiB (26 MiB idle). The thread trims
    (``malloc_trim(0)``, without the GIL; 0.8 ms measured after 200 threads
    left a 47 MiB process):

    - soon after the server went idle (``went_idle``: its last connection
      ended, and the connection threads that were to exit have exited, so
      what they held is free), at most once per ``MIN_GAP`` seconds, so
      that a client that connects again and again does not pay a trim per
      connection;
    - every ``INTERVAL`` seconds while connections are open or have ended
      since the last trim.

    Trimming gives back the free memory inside an arena, but not the free
    top of any arena but the first: glibc keeps up to twice the largest
    block it has lately freed to the system there (a few MiB once 1 MiB
    messages went by), and by default makes eight arenas per CPU for a
    process with many threads. Made first among the server's threads, the
    trimmer therefore caps the arenas at ``MALLOC_ARENAS`` (``mallopt``),
    unless ``MALLOC_ARENA_MAX`` or ``GLIBC_TUNABLES`` chose a number: the
    server's threads allocate under the GIL, so more arenas would hardly
    ever be used at once. Measured (200 clients for 10 s, then 5 s idle,
    ``tools/soak.py``): RSS back within 5-6 MiB of idle, against 16-24 MiB
    with 16 arenas; in same-run A/Bs of the benchmark no row moved beyond
    its run-to-run spread (docs/standalone.md has the figures).

    Without glibc (musl, macOS, Windows) it does nothing and starts no thread.
    """

    INTERVAL = 10.0
    MIN_GAP = 1.0

    def __init__(self) -> None:
        self._trim = _malloc_trim
        self._idle = True
        self._ended = False
        self._last = 0.0
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        if _limit_malloc_arenas():
            _LOGGER.debug("at most %d glibc malloc arenas", MALLOC_ARENAS)
        if self._trim is not None:
            self._thread = threading.Thread(target=self._run, name="heap trimmer", daemon=True)
            self._thread.start()

    def connection_started(self) -> None:
        """Note that a connection started."""
        self._idle = False

    def connection_ended(self) -> None:
        """Note that a connection ended."""
        self._ended = True

    def went_idle(self) -> None:
        """Note that no connection is left: trim soon."""
        self._idle = True
        self._wake.set()

    def close(self) -> None:
        """Stop the thread."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(1.0)

    def trim(self) -> None:
        """Trim now."""
        if self._trim is None:
            return
        self._ended = False
        started = self._last = time.monotonic()
        self._trim(0)
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("heap trimmed in %.1f ms", (time.monotonic() - started) * 1000)

    def _run(self) -> None:
        while not self._stopped.is_set():
            idle = self._wake.wait(self.INTERVAL)
            self._wake.clear()
            if self._stopped.is_set():
                return
            if idle:
                # Connections that end one after the other share one trim.
                self._stopped.wait(self._last + self.MIN_GAP - time.monotonic())
            if idle or self._ended or not self._idle:
                self.trim()
