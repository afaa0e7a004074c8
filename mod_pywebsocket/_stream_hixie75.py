"""The Hixie-75 and HyBi-00 (hixie-76) stream: ``0x00 text 0xFF`` frames.

Layer 1. The codec half is pure (``build_text_frame``, ``parse_frame_length``
and the ``CLOSING_FRAME`` constant); ``StreamHixie75`` is the I/O half and
reads and writes only through ``StreamBase``.

How ``StreamHixie75.receive_message`` works (draft-hixie-thewebsocketprotocol-76
§5.3, the same framing as -75 §4.2 plus the closing handshake): each frame
starts with a frame type byte.

- High bit clear (0x00-0x7F): the payload runs up to the next 0xFF byte. A
  type 0x00 frame is a text message, checked for UTF-8 and returned as str;
  the draft says to discard the data of the other types, so they are read and
  dropped.
- High bit set (0x80-0xFF): a length follows in 7-bit groups, most
  significant first, each byte but the last with its high bit set; that many
  bytes are skipped. With the closing handshake enabled (HyBi-00), type 0xFF
  with length 0 (the bytes ``0xFF 0x00``) is the client's close: the stream
  answers ``0xFF 0x00`` unless it closed first, and returns None.

Neither draft has binary messages, fragments, pings or close codes: sending
those raises BadOperationException, and the arguments of
``close_connection`` that carry a code are accepted and ignored.

Reading a text payload never reads past its 0xFF: the stream peeks at what
the connection has buffered (``common.ConnectionLike.peek``) and takes whole
runs of text at once, up to the 0xFF.
"""

from __future__ import annotations

import logging

from mod_pywebsocket import _diagnostics, common
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
    "BadOperationException",
    "ConnectionTerminatedException",
    "InvalidFrameException",
    "StreamBase",
    "StreamHixie75",
    "UnsupportedFrameException",
]

_LOGGER = logging.getLogger(__name__)

# draft-hixie-thewebsocketprotocol-76 §5.3 / §4.2: the closing handshake is
# a 0xFF frame with length 0.
CLOSING_FRAME = b"\xff\x00"
_TEXT_FRAME_TYPE = 0x00
_TERMINATOR = 0xFF
_PEEK_SIZE = 65536


def build_text_frame(payload: bytes) -> bytes:
    """Return the text frame ``0x00 payload 0xFF``.

    Args:
        payload: the UTF-8 text (or raw bytes meant as text).

    Raises:
        ValueError: ``payload`` contains 0xFF, which would end the frame early.
    """
    if _TERMINATOR in payload:
        raise ValueError(f"text payload contains 0xff at offset {payload.index(_TERMINATOR)}")
    return b"\x00" + payload + b"\xff"


def parse_frame_length(read_exact: ReadExact, max_length: int | None = None) -> int:
    """Read the length of a frame whose type has the high bit set.

    The length is a big-endian sequence of 7-bit groups; every byte but the
    last has its high bit set.

    Args:
        read_exact: returns exactly n bytes or raises.
        max_length: a longer length raises as soon as it is known to be longer.

    Raises:
        MessageTooBigException: the length exceeds ``max_length``.
    """
    length = 0
    while True:
        (byte,) = read_exact(1)
        length = (length << 7) | (byte & 0x7F)
        if max_length is not None and length > max_length:
            raise MessageTooBigException(f"frame of at least {length} bytes exceeds the limit of {max_length}")
        if not byte & 0x80:
            return length


class StreamHixie75(StreamBase):
    """A Hixie-75 or HyBi-00 stream over a request's connection.

    Args:
        request: the request after its opening handshake.
        enable_closing_handshake: True for HyBi-00 (``0xFF 0x00`` both ways);
            False for Hixie-75, which ends by closing TCP.
        max_message_size: longer messages and frames raise
            MessageTooBigException; None takes the entry point's limit
            (``request.max_message_size``), else 64 MiB.
    """

    def __init__(
        self,
        request: common.RequestLike,
        enable_closing_handshake: bool = False,
        *,
        max_message_size: int | None = None,
    ) -> None:
        super().__init__(request)
        self._enable_closing_handshake = enable_closing_handshake
        if max_message_size is None:
            max_message_size = getattr(request, "max_message_size", None) or DEFAULT_MAX_MESSAGE_SIZE
        self._max_message_size = max_message_size
        request.client_terminated = False
        request.server_terminated = False

    # Sending.

    def send_message(self, message: str | bytes, end: bool = True, binary: bool = False) -> None:
        """Send a text message.

        A str is sent as UTF-8; bytes are sent as the raw payload of a text
        frame (test handlers may send invalid UTF-8 on purpose).

        Raises:
            BadOperationException: after the closing handshake was sent, for
                ``binary=True`` or ``end=False`` (these drafts have neither
                binary messages nor fragments), or for bytes containing 0xFF.
            ConnectionTerminatedException: the write failed.
        """
        if self._request.server_terminated:
            raise BadOperationException("requested send_message after sending out a closing handshake")
        if binary:
            raise BadOperationException("binary messages are not supported by hixie-75 and hybi-00")
        if not end:
            raise BadOperationException("fragmented messages are not supported by hixie-75 and hybi-00")
        payload = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        try:
            frame = build_text_frame(payload)
        except ValueError as exc:
            raise BadOperationException(str(exc)) from exc
        self._write(frame)

    def send_ping(self, body: str | bytes = b"") -> None:
        """Refuse: these drafts have no ping.

        Raises:
            BadOperationException: always.
        """
        raise BadOperationException("ping is not supported by hixie-75 and hybi-00")

    # Receiving.

    def receive_message(self) -> str | None:
        """Receive the next text message.

        Returns:
            The message, or None once the client's closing handshake arrived
            (HyBi-00 only; the reply was sent first).

        Raises:
            BadOperationException: the client's closing handshake was received already.
            ConnectionTerminatedException: the connection ended.
            InvalidUTF8Exception: a text message is not valid UTF-8.
            MessageTooBigException: a message or frame over the maximum size.
        """
        request = self._request
        if request.client_terminated:
            raise BadOperationException("requested receive_message after receiving a closing handshake")
        while True:
            (frame_type,) = self._read(1)
            if frame_type & 0x80:
                length = self._read_payload_length_hixie75()
                if frame_type == _TERMINATOR and length == 0 and self._enable_closing_handshake:
                    self._process_closing_handshake()
                    return None
                self._skip(length)
                _LOGGER.debug("< skipped frame type %#x of %d bytes", frame_type, length)
                continue
            payload = self._read_text_payload()
            if frame_type != _TEXT_FRAME_TYPE:
                _LOGGER.debug("< discarded frame type %#x of %d bytes", frame_type, len(payload))
                continue
            try:
                message = payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidUTF8Exception(f"text message is not valid UTF-8: {exc}") from exc
            if _LOGGER.isEnabledFor(logging.DEBUG):
                _LOGGER.debug("< text %s", _diagnostics.shorten(message))
            return message

    def _read_payload_length_hixie75(self) -> int:
        """Read the length of a frame whose type has the high bit set (``parse_frame_length``).

        Raises:
            ConnectionTerminatedException: the connection ended.
            MessageTooBigException: the length exceeds the maximum message size.
        """
        return parse_frame_length(self._read, self._max_message_size)

    def _skip(self, length: int) -> None:
        while length:
            length -= len(self._read(min(length, _PEEK_SIZE)))

    def _read_text_payload(self) -> bytes:
        """Read up to the next 0xFF, which is consumed and not returned.

        Raises:
            ConnectionTerminatedException: the connection ended first.
            MessageTooBigException: the payload exceeds the maximum size.
        """
        peek = self._connection.peek
        limit = self._max_message_size
        parts = []
        size = 0
        while True:
            try:
                buffered = peek(_PEEK_SIZE)
            except OSError as exc:
                raise ConnectionTerminatedException(f"receiving failed: {exc}") from exc
            if not buffered:
                raise ConnectionTerminatedException("connection closed by peer")
            end = buffered.find(b"\xff")
            take = end if end >= 0 else len(buffered)
            size += take
            if size > limit:
                raise MessageTooBigException(f"text message of over {limit} bytes exceeds the limit")
            if take:
                parts.append(self._read(take))
            if end >= 0:
                self._read(1)
                return b"".join(parts)

    # Closing.

    def _process_closing_handshake(self) -> None:
        request = self._request
        request.client_terminated = True
        _LOGGER.debug("< closing handshake")
        if not request.server_terminated:
            self._send_closing_handshake()

    def _send_closing_handshake(self) -> None:
        self._request.server_terminated = True
        self._write(CLOSING_FRAME)
        _LOGGER.debug("> closing handshake")

    def close_connection(self, code: int | None = None, reason: str = "", wait_response: bool = True) -> None:
        """End the connection from the server side.

        HyBi-00 sends ``0xFF 0x00`` and, with ``wait_response``, reads until
        the client's ``0xFF 0x00`` (messages that arrive meanwhile are
        dropped). Hixie-75 has no closing handshake: it only marks the stream
        as finished, and closing TCP ends the connection. ``code`` and
        ``reason`` exist for callers written for RFC 6455 streams and are
        ignored: neither draft carries them.

        Raises:
            ConnectionTerminatedException: the connection ended while sending or waiting.
            InvalidUTF8Exception, MessageTooBigException: see ``receive_message``.
        """
        request = self._request
        if request.server_terminated:
            _LOGGER.debug("close_connection called after the closing handshake was sent")
            return
        if not self._enable_closing_handshake:
            request.server_terminated = True
            return
        self._send_closing_handshake()
        if not wait_response:
            return
        while not request.client_terminated:
            message = self.receive_message()
            if message is not None:
                _LOGGER.debug("discarding a message received while closing: %s", _diagnostics.shorten(message))
