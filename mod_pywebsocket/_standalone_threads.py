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
release. A new thread is started only when none is idle. A thread idle for
``IDLE_SECONDS`` exits; so do all idle ones at ``close``, and all but the
``SPARE_WHEN_IDLE`` most recently idle when the server's last connection
ends (``shrink``): an idle thread keeps its stack pages and glibc's cache
of freed blocks (up to about 230 KiB after heavy traffic), which go back
to the system only when it exits. Clients that connect one after the
other keep reusing the spare ones.

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

import socket
import threading
from collections.abc import Callable

__all__ = ["IDLE_SECONDS", "SPARE_WHEN_IDLE", "ConnectionThreads"]

# How long a thread whose connection ended waits for another before it exits.
IDLE_SECONDS = 60.0
# How many idle threads stay when the server has no connection left (``shrink``).
SPARE_WHEN_IDLE = 8


class _ConnectionThread(threading.Thread):
    """Serves connections one after the other, waiting idle in between (see the module docstring)."""

    def __init__(self, threads: ConnectionThreads, name: str, sock: socket.socket, address: object) -> None:
        super().__init__(name=name, daemon=True)
        self._threads = threads
        self.job: tuple[socket.socket, object] | None = (sock, address)
        # Released to hand this thread its next job (or None: exit).
        self.wake = threading.Lock()
        self.wake.acquire()

    def run(self) -> None:
        """Serve the job given, then each job handed over while idle, until none comes."""
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
            if not self.wake.acquire(timeout=threads.idle_seconds):
                if threads.retire(self):
                    return
                # Taken off the idle ones as it timed out: its wake-up comes at once.
                self.wake.acquire()


class ConnectionThreads:
    """The threads that run connections, each with ``serve_connection(sock, address)``.

    Args:
        serve_connection: serves one connection, in the calling thread.
        idle_seconds: how long an idle thread waits for a connection before it exits.
    """

    def __init__(
        self, serve_connection: Callable[[socket.socket, object], None], idle_seconds: float = IDLE_SECONDS
    ) -> None:
        self.serve_connection = serve_connection
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._idle: list[_ConnectionThread] = []  # the most recently idle last
        self._closed = False

    def serve(self, sock: socket.socket, address: object, name: str) -> None:
        """Serve the connection ``sock`` on an idle thread, or a new one (``name``d) if none is idle.

        Raises:
            RuntimeError: no thread could be started (the connection is still the caller's then).
        """
        with self._lock:
            thread = self._idle.pop() if self._idle else None
        if thread is None:
            _ConnectionThread(self, name, sock, address).start()
            return
        thread.name = name
        thread.job = (sock, address)
        thread.wake.release()

    def idle_count(self) -> int:
        """Return how many threads wait idle for a connection."""
        with self._lock:
            return len(self._idle)

    def shrink(self, keep: int) -> None:
        """Make all idle threads but the ``keep`` most recently idle exit now."""
        with self._lock:
            if len(self._idle) <= keep:
                return
            cut = len(self._idle) - keep
            retired, self._idle = self._idle[:cut], self._idle[cut:]
        for thread in retired:
            thread.wake.release()

    def close(self) -> None:
        """Make the idle threads exit now, and the busy ones when their connection ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for thread in idle:
            thread.wake.release()

    def park(self, thread: _ConnectionThread) -> bool:
        """Put ``thread``, whose connection ended, among the idle ones; False: it is to exit."""
        with self._lock:
            if self._closed:
                return False
            self._idle.append(thread)
            return True

    def retire(self, thread: _ConnectionThread) -> bool:
        """Take ``thread``, idle for ``idle_seconds``, off the idle ones; False: it was just handed a job."""
        with self._lock:
            if thread in self._idle:
                self._idle.remove(thread)
                return True
            return False
