"""Message helpers for handlers: send, receive, close, ping; background threads.

Layer 1. Each function takes the request and uses ``request.ws_stream``.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

from mod_pywebsocket import common
from mod_pywebsocket._stream_base import (
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
    InvalidUTF8Exception,
    MessageTooBigException,
    UnsupportedFrameException,
)

__all__ = [
    "BadOperationException",
    "ConnectionTerminatedException",
    "InvalidFrameException",
    "InvalidUTF8Exception",
    "MessageReceiver",
    "MessageSender",
    "MessageTooBigException",
    "UnsupportedFrameException",
    "close_connection",
    "receive_message",
    "send_message",
    "send_ping",
]


def close_connection(request: Any) -> None:
    """Start the closing handshake (1000) and wait for the client's close."""
    request.ws_stream.close_connection()


def send_message(request: Any, message: str | bytes, end: bool = True, binary: bool = False) -> None:
    """Send a message (see ``Stream.send_message``).

    Raises:
        BadOperationException: after the closing handshake, or a str with ``binary=True``.
    """
    request.ws_stream.send_message(message, end, binary)


def receive_message(request: Any) -> str | bytes | None:
    """Receive a message: str (text), bytes (binary), or None once the client closed."""
    message: str | bytes | None = request.ws_stream.receive_message()
    return message


def send_ping(request: Any, body: str | bytes = b"") -> None:
    """Send a ping with ``body``."""
    request.ws_stream.send_ping(body)


class MessageReceiver(threading.Thread):
    """Receives messages on a background thread.

    With ``onmessage``, each message is passed to it; otherwise messages are
    queued for ``receive`` / ``receive_nowait``. The thread ends when the
    client closes or the connection ends.
    """

    def __init__(self, request: Any, onmessage: Callable[[Any], None] | None = None) -> None:
        super().__init__(name="MessageReceiver", daemon=True)
        self._request = request
        self._queue: queue.Queue[Any] = queue.Queue()
        self._onmessage = onmessage
        self._stop_requested = False
        self.start()

    def run(self) -> None:
        """Receive until the stream ends or ``stop`` is called."""
        try:
            while not self._stop_requested:
                message = receive_message(self._request)
                if self._onmessage is not None:
                    self._onmessage(message)
                else:
                    self._queue.put(message)
                if message is None:
                    break
        except ConnectionTerminatedException:
            pass
        finally:
            # The peer is gone or broke the protocol: nothing to close.
            with contextlib.suppress(common.WebSocketException):
                close_connection(self._request)

    def receive(self) -> Any:
        """Return the next message, waiting for it (None once the client closed)."""
        return self._queue.get()

    def receive_nowait(self) -> Any:
        """Return the next message, or None if none has arrived."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def stop(self) -> None:
        """Stop after the current message and close the connection."""
        self._stop_requested = True


class MessageSender(threading.Thread):
    """Sends messages from a queue on a background thread."""

    def __init__(self, request: Any) -> None:
        super().__init__(name="MessageSender", daemon=True)
        self._request = request
        self._queue: queue.Queue[tuple[Any, threading.Event | None]] = queue.Queue()
        self.start()

    def run(self) -> None:
        """Send queued messages until the connection ends."""
        while True:
            message, done = self._queue.get()
            try:
                send_message(self._request, message)
            finally:
                if done is not None:
                    done.set()

    def send(self, message: str | bytes) -> None:
        """Queue ``message`` and wait until it has been sent."""
        done = threading.Event()
        self._queue.put((message, done))
        done.wait()

    def send_nowait(self, message: str | bytes) -> None:
        """Queue ``message`` and return at once."""
        self._queue.put((message, None))
