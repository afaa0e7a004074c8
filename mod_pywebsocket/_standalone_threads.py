"""The standalone server's connection threads: one per connection, kept a while to serve the next.

Layer 3 (a private part of ``standalone``).

How this works. Every connection runs on a thread of its own, for as long
as it lasts, so a handler may block as it likes. Starting a thread is most
of what an opening handshake costs, though: the system call, and
``Thread.start`` waiting until the new thread runs, which takes the
accepting thread off the CPU once per connection. So a thread whose
connection ended does not exit: it waits, idle, for the next connection,
and ``ConnectionThreads.serve`` hands a new connection to the most
recently idle thread (whose stack and caches are warm) with one lock
release. A new thread is started only when none is idle.

Idle threads exit: all of them at ``close``; all but the
``SPARE_WHEN_IDLE`` most recently idle when no thread serves a
connection any more (after which ``on_idle`` runs: the server trims its
heap then); and, while connections come and go, those idle for
more than ``IDLE_SECONDS``, a few each time a thread becomes idle. An idle
thread keeps its stack pages and glibc's cache of freed blocks (up to
about 230 KiB after heavy traffic), which go back to the system only when
it exits. Clients that connect one after the other keep reusing the spare
ones. No idle thread waits with a timeout: 10,000 threads parked within a
few seconds of each other would all wake within those seconds and fight
for the GIL.

This is how Apache's worker MPM and Java's cached thread pools treat their
threads too. What a handler leaves in a ``threading.local`` (or a
``contextvars`` variable it sets without a context of its own) can be seen
by a later connection served by the same thread.

Memory: the deepest point a connection's C stack ever reached decides how
many of its stack pages stay resident while the thread lives. Each call
that Python makes from C (``target(*args)``, a class instantiated with an
``__init__`` in Python) adds an interpreter frame of about 1.5 KiB under
everything below it. ``_ConnectionThread.run`` calls the serving function
from Python, and the server calls its request handler's ``__init__`` as a
method: an open WebSocket then keeps two stack pages (8 KiB) instead of
three (CPython 3.11, x86-64).
"""

from __future__ import annotations

import collections
import socket
import threading
import time
from collections.abc import Callable

__all__ = ["IDLE_SECONDS", "SPARE_WHEN_IDLE", "ConnectionThreads"]

# How long a thread may stay idle while connections come and go.
IDLE_SECONDS = 60.0
# How many idle threads stay when no thread serves a connection any more (``park``).
SPARE_WHEN_IDLE = 8
# Most threads told to exit each time a thread becomes idle (exits are spread out).
_RETIRED_PER_PARK = 2


class _ConnectionThread(threading.Thread):
    """Serves connections one after the other, waiting idle in between (see the module docstring)."""

    def __init__(self, threads: ConnectionThreads, name: str, sock: socket.socket, address: object) -> None:
        super().__init__(name=name, daemon=True)
        self._threads = threads
        self.job: tuple[socket.socket, object] | None = (sock, address)
        # Released to hand this thread its next job (or None: exit).
        self.wake = threading.Lock()
        self.wake.acquire()
        self.idle_since = 0.0

    def run(self) -> None:
        """Serve the job given, then each job handed over while idle, until None comes."""
        threads = self._threads
        serve = threads.serve_connection
        while self.job is not None:
            sock, address = self.job
            self.job = None
            serve(sock, address)
            # No reference to the ended connection while waiting.
            del sock, address
            if not threads.park(self):
                return
            self.wake.acquire()


class ConnectionThreads:
    """The threads that run connections, each with ``serve_connection(sock, address)``.

    Args:
        serve_connection: serves one connection, in the calling thread.
        idle_seconds: how long a thread may stay idle while connections come and go.
        clock: the time in seconds (``time.monotonic``).
        on_idle: called when no thread serves a connection any more, once the
            idle threads beyond the spare ones have exited (the server trims
            its heap then).
    """

    def __init__(
        self,
        serve_connection: Callable[[socket.socket, object], None],
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self.serve_connection = serve_connection
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._on_idle = on_idle
        self._lock = threading.Lock()
        self._idle: collections.deque[_ConnectionThread] = collections.deque()  # the most recently idle last
        self._busy = 0  # threads serving a connection
        self._closed = False

    def serve(self, sock: socket.socket, address: object, name: str) -> None:
        """Serve the connection ``sock`` on an idle thread, or a new one (``name``d) if none is idle.

        Raises:
            RuntimeError: no thread could be started (the connection is still the caller's then).
        """
        with self._lock:
            thread = self._idle.pop() if self._idle else None
            self._busy += 1
        if thread is None:
            try:
                _ConnectionThread(self, name, sock, address).start()
            except BaseException:
                with self._lock:
                    self._busy -= 1
                raise
            return
        thread.name = name
        thread.job = (sock, address)
        thread.wake.release()

    def idle_count(self) -> int:
        """Return how many threads wait idle for a connection."""
        with self._lock:
            return len(self._idle)

    def park(self, thread: _ConnectionThread) -> bool:
        """Put ``thread``, whose connection ended, among the idle ones; False: it is to exit.

        Up to ``_RETIRED_PER_PARK`` threads idle for over ``idle_seconds``
        exit. When ``thread`` was the last one serving a connection, all
        idle threads but the ``SPARE_WHEN_IDLE`` most recently idle exit
        too, and ``on_idle`` is called once they have (the last one serving
        decides, not the last whose connection ended: threads whose
        connection ended earlier may park later).
        """
        now = self._clock()
        with self._lock:
            self._busy -= 1
            if self._closed:
                return False
            thread.idle_since = now
            self._idle.append(thread)  # never stale itself: the loop below stops at it
            retired: list[_ConnectionThread] = []
            stale = now - self.idle_seconds
            while len(retired) < _RETIRED_PER_PARK and self._idle[0].idle_since < stale:
                retired.append(self._idle.popleft())
            last = self._busy == 0
            if last:
                retired += self._take_idle_beyond(SPARE_WHEN_IDLE)
        for old in retired:
            old.wake.release()
        if last and self._on_idle is not None:
            for old in retired:
                old.join()
            self._on_idle()
        return True

    def shrink(self, keep: int) -> None:
        """Make all idle threads but the ``keep`` most recently idle exit now."""
        with self._lock:
            retired = self._take_idle_beyond(keep)
        for thread in retired:
            thread.wake.release()

    def close(self) -> None:
        """Make the idle threads exit now, and the busy ones when their connection ends."""
        with self._lock:
            self._closed = True  # from now on, park() adds none
        self.shrink(0)

    def _take_idle_beyond(self, keep: int) -> list[_ConnectionThread]:
        """Take the idle threads but the ``keep`` most recently idle out of the pool (the lock held)."""
        retired: list[_ConnectionThread] = []
        while len(self._idle) > keep:
            retired.append(self._idle.popleft())
        return retired
