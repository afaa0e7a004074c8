"""``StreamBase._read_until``, the 0.7 reader subclasses kept (0.7.9's hixie-75 stream read frames with it)."""

from __future__ import annotations

import pytest

from mod_pywebsocket._stream_base import StreamBase
from mod_pywebsocket.stream import ConnectionTerminatedException
from test import mock


def stream_over(data: bytes) -> tuple[StreamBase, mock.FakeConnection]:
    connection = mock.FakeConnection(data)
    return StreamBase(mock.FakeRequest(connection=connection)), connection


def test_read_until_returns_the_bytes_before_the_delimiter_and_consumes_it():
    stream, _ = stream_over(b"\x00abc\xffrest")
    assert stream._read_until(b"\xff") == b"\x00abc"
    assert stream.receive_bytes(4) == b"rest"


def test_read_until_with_the_delimiter_first_returns_nothing():
    stream, _ = stream_over(b"\xff")
    assert stream._read_until(b"\xff") == b""


def test_read_until_at_eof_before_the_delimiter_raises_connection_terminated():
    stream, _ = stream_over(b"abc")
    with pytest.raises(ConnectionTerminatedException):
        stream._read_until(b"\xff")
