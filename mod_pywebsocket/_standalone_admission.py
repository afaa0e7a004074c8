"""Admission under load for the standalone server: 503 without a thread, and accept back-off.

Layer 3 (a private part of ``standalone``).

How this works. A connection accepted while ``--max-connections``
connections are being served gets no thread of its own: ``Refuser`` takes
it. Its one thread runs a selector over every such connection and, for
each,

- with TLS, completes the TLS handshake without blocking;
- waits for the first bytes of the request (clients that read while they
  write, such as the ``websockets`` library, would take an answer that
  comes before their request for a broken connection), and then sends
  ``503 Service Unavailable`` with ``Retry-After`` and
  ``Connection: close`` at once, without waiting for the rest: the answer
  does not depend on it;
- half-closes and reads (and drops) what the client still sends until it
  closes, for at most ``LINGER_SECONDS``. RFC 9112 §9.6: a server that
  closes at once risks a reset that "might erase the client's
  unacknowledged input buffers before they can be read", so it "performs a
  half-close by closing only the write side" and "continues to read from
  the connection until it receives a corresponding close by the client".

A connection that sends nothing is closed without an answer after the
handshake timeout. It holds at most ``capacity`` connections. One more
closes the oldest (after reading what it has sent), so connections that
never send or never close can neither fill it up nor delay anyone's
answer: a client gets its 503 as soon as its request starts to arrive.

``AcceptBackoff`` paces the accept loop when ``accept`` fails for lack of
a resource (out of file descriptors: ``EMFILE``, ``ENFILE``; out of
kernel memory: ``ENOBUFS``, ``ENOMEM``). The listening socket stays
readable then, and retrying at once would spin. Accepting pauses for
10 ms, doubling up to 0.5 s while the failures go on; one WARNING is logged
when they start and one INFO line when accepting works again. Clients wait
in the listen backlog meanwhile and are served once descriptors are free.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import logging
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["LINGER_SECONDS", "AcceptBackoff", "Refuser", "is_resource_error"]

_LOGGER = logging.getLogger(__name__)

# How long a refused connection is kept open after its 503, for the client to read it and close.
LINGER_SECONDS = 2.0
# Most bytes read from a refused client before it is closed anyway.
_MAX_DRAIN_BYTES = 1 << 20
_POLL_SECONDS = 0.1
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_FIRST_PAUSE_SECONDS = 0.01
_MAX_PAUSE_SECONDS = 0.5


def is_resource_error(exc: OSError) -> bool:
    """Return True if ``exc`` says the system lacks a resource (descriptors, memory) rather than a client being gone."""
    return exc.errno in _RESOURCE_ERRNOS


class AcceptBackoff:
    """Paces an accept loop through an episode of resource errors (see the module docstring).

    ``failed(exc)`` after each failed ``accept``, ``succeeded()`` after each
    successful one; ``paused_for()`` says how long the loop must wait
    before its next ``accept``.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures = 0
        self._started = 0.0
        self._resume_at = 0.0

    def paused_for(self) -> float:
        """Return the seconds left before accepting may be tried again (0.0: now)."""
        if not self._failures:
            return 0.0
        return max(0.0, self._resume_at - self._clock())

    def failed(self, exc: OSError) -> None:
        """Count a failed ``accept`` and pause: the first failure of an episode is logged."""
        now = self._clock()
        if not self._failures:
            self._started = now
            _LOGGER.warning(
                "cannot accept connections: %s; pausing accept (retried every %g to %g s) until it works again",
                exc.strerror or exc,
                _FIRST_PAUSE_SECONDS,
                _MAX_PAUSE_SECONDS,
            )
        self._failures += 1
        pause = min(_MAX_PAUSE_SECONDS, _FIRST_PAUSE_SECONDS * 2 ** min(self._failures - 1, 16))
        self._resume_at = now + pause

    def succeeded(self) -> None:
        """End an episode of failures, if one is going on (logged)."""
        if self._failures:
            _LOGGER.info(
                "accepting connections again after %.1f s (%d failed attempts)",
                self._clock() - self._started,
                self._failures,
            )
            self._failures = 0


class _Refused:
    """A refused connection and where it stands."""

    __slots__ = ("address", "deadline", "drained", "fd", "handshaking", "output", "sock", "waiting")

    def __init__(self, sock: Any, address: Any, deadline: float, handshaking: bool) -> None:
        self.sock = sock
        self.fd: int = sock.fileno()
        self.address = address
        self.deadline = deadline
        self.handshaking = handshaking  # the TLS handshake is not done yet
        self.waiting = True  # no byte of the request yet
        self.output = b""  # the 503 still to send; empty once sent (then draining)
        self.drained = 0


class Refuser:
    """Answers connections over the limit with 503 from one thread, holding at most ``capacity`` of them.

    Args:
        ssl_context: the server's TLS context (None for plain HTTP).
        handshake_timeout: seconds a TLS client has to finish its handshake.
        retry_after: the ``Retry-After`` value, in seconds.
        server_software: the ``Server`` header's value.
        describe: turns a client's address into text for the log.
        capacity: most refused connections held at once.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None,
        handshake_timeout: float,
        retry_after: int,
        server_software: str,
        describe: Callable[[Any], str] = str,
        capacity: int = 256,
    ) -> None:
        self._ssl_context = ssl_context
        self._handshake_timeout = handshake_timeout
        self._retry_after = retry_after
        self._server_software = server_software
        self._describe = describe
        self._capacity = capacity
        self._lock = threading.Lock()
        self._incoming: list[tuple[Any, Any]] = []
        self._held: dict[int, _Refused] = {}  # by file descriptor, oldest first
        self._selector = selectors.DefaultSelector()
        self._wakeup_read, self._wakeup_write = socket.socketpair()
        self._wakeup_read.setblocking(False)
        self._wakeup_write.setblocking(False)
        self._selector.register(self._wakeup_read, selectors.EVENT_READ)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="refuser", daemon=True)
        self._thread.start()

    def refuse(self, sock: Any, address: Any) -> None:
        """Answer the connection ``sock`` (just accepted, now this object's) with 503 and close it."""
        with self._lock:
            if self._closed:
                sock.close()
                return
            if len(self._incoming) >= self._capacity:
                # The thread lags behind: the oldest waiting gets no answer.
                oldest, _ = self._incoming.pop(0)
                oldest.close()
            self._incoming.append((sock, address))
        with contextlib.suppress(OSError):  # BlockingIOError: a wake-up is pending already
            self._wakeup_write.send(b"\0")

    def held_count(self) -> int:
        """Return the number of refused connections held now (waiting for their 503 or lingering)."""
        with self._lock:
            return len(self._held) + len(self._incoming)

    def close(self) -> None:
        """Stop the thread and close every connection held."""
        with self._lock:
            self._closed = True
        with contextlib.suppress(OSError):
            self._wakeup_write.send(b"\0")
        if self._thread is not threading.current_thread():
            self._thread.join(2.0)

    def _response(self) -> bytes:
        body = b"too many connections\n"
        head = (
            "HTTP/1.1 503 Service Unavailable\r\n"
            f"Server: {self._server_software}\r\n"
            f"Date: {email.utils.formatdate(usegmt=True)}\r\n"
            f"Retry-After: {self._retry_after}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        return head.encode("ascii") + body

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._closed:
                        break
                    incoming, self._incoming = self._incoming, []
                try:
                    self._serve(incoming)
                except Exception:  # our own bug: log it, keep answering
                    _LOGGER.error("error while refusing connections", exc_info=True)
        finally:
            for refused in list(self._held.values()):
                self._drop(refused)
            with self._lock:
                incoming, self._incoming = self._incoming, []
            for sock, _ in incoming:
                sock.close()
            self._selector.close()
            self._wakeup_read.close()
            self._wakeup_write.close()

    def _serve(self, incoming: list[tuple[Any, Any]]) -> None:
        """Take in the new connections, move on those that are ready, drop those past their deadline."""
        for sock, address in incoming:
            self._admit(sock, address)
        for key, _ in self._selector.select(_POLL_SECONDS):
            if key.fileobj is self._wakeup_read:
                with contextlib.suppress(OSError):
                    self._wakeup_read.recv(4096)
                continue
            refused = self._held.get(key.fd)
            if refused is not None:
                self._step(refused)
        now = time.monotonic()
        for refused in [r for r in self._held.values() if r.deadline <= now]:
            self._drop(refused)

    def _admit(self, sock: Any, address: Any) -> None:
        if len(self._held) >= self._capacity:
            self._drop(next(iter(self._held.values())))
        try:
            sock.setblocking(False)
            if self._ssl_context is not None:
                sock = self._ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            tls = self._ssl_context is not None
            refused = _Refused(sock, address, time.monotonic() + self._handshake_timeout, tls)
            self._selector.register(sock, selectors.EVENT_READ)
        except (OSError, ValueError) as exc:
            _LOGGER.debug("%s - refused connection failed: %s", self._describe(address), exc)
            sock.close()
            return
        self._held[refused.fd] = refused
        self._step(refused)

    def _step(self, refused: _Refused) -> None:
        """Move ``refused`` on as far as it goes without blocking."""
        sock = refused.sock
        try:
            if refused.handshaking:
                sock.do_handshake()
                refused.handshaking = False
            if refused.waiting:
                data = sock.recv(65536)  # through TLS, if any: the request's first bytes
                if not data:
                    self._drop(refused)
                    return
                refused.waiting = False
                refused.drained = len(data)
                refused.output = self._response()
            if refused.output:
                try:
                    sent = sock.send(refused.output)
                except BlockingIOError:
                    sent = 0
                refused.output = refused.output[sent:]
                if refused.output:
                    self._selector.modify(sock, selectors.EVENT_WRITE)
                    return
                _LOGGER.debug("%s - too many connections; answered 503", self._describe(refused.address))
                socket.socket.shutdown(sock, socket.SHUT_WR)
                refused.deadline = time.monotonic() + LINGER_SECONDS
                self._selector.modify(sock, selectors.EVENT_READ)
            self._drain(refused)
        except (ssl.SSLWantReadError, BlockingIOError):
            self._selector.modify(sock, selectors.EVENT_READ)
        except ssl.SSLWantWriteError:
            self._selector.modify(sock, selectors.EVENT_WRITE)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            _LOGGER.debug("%s - refused connection failed: %s", self._describe(refused.address), exc)
            self._drop(refused)

    def _drain(self, refused: _Refused) -> None:
        """Read and drop what the client sends; close it at its EOF (or past the byte limit).

        The plain socket's ``recv`` is used under TLS too: the records are
        dropped unread.
        """
        while True:
            try:
                data = socket.socket.recv(refused.sock, 65536)
            except BlockingIOError:
                return
            if not data:
                self._drop(refused)
                return
            refused.drained += len(data)
            if refused.drained > _MAX_DRAIN_BYTES:
                self._drop(refused)
                return

    def _drop(self, refused: _Refused) -> None:
        """Close ``refused`` (after reading what is there, so that the close is a FIN rather than a reset)."""
        sock = refused.sock
        if not refused.handshaking:
            with contextlib.suppress(OSError):
                while socket.socket.recv(sock, 65536):
                    pass
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(sock)
        self._held.pop(refused.fd, None)
        sock.close()
