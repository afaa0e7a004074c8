"""Fuzz target: the RFC 6455 Stream (with and without permessage-deflate) fed raw bytes."""

from __future__ import annotations

import email.message

import _driver  # puts the repository on sys.path

from mod_pywebsocket import extensions
from mod_pywebsocket._stream_base import (
    ConnectionTerminatedException,
    InvalidUTF8Exception,
    MessageTooBigException,
    UnsupportedFrameException,
)
from mod_pywebsocket._stream_hybi import Stream, StreamOptions

_ERRORS = (ConnectionTerminatedException, UnsupportedFrameException, InvalidUTF8Exception, MessageTooBigException)


class _Connection:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self.written = 0

    def read(self, length: int) -> bytes:
        result, self._data = self._data[:length], self._data[length:]
        return result

    def write(self, data: bytes) -> None:
        self.written += len(data)


class _Request:
    def __init__(self, data: bytes) -> None:
        self.connection = _Connection(data)
        self.headers_in = email.message.Message()


def test_one_input(data: bytes) -> None:
    options = StreamOptions()
    options.max_message_size = 4096
    if data[:1] and data[0] & 1:
        options.permessage_deflate = extensions.PerMessageDeflateCodec(None, False)
    stream = Stream(_Request(data[1:]), options)
    for _ in range(100):
        try:
            if stream.receive_message() is None:
                return
        except _ERRORS:
            return


if __name__ == "__main__":
    _driver.main(test_one_input)
