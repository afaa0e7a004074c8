"""The connection contract: ``BufferedConnection``, ``PlainConnection`` and ``as_buffered`` (no sockets)."""

from __future__ import annotations

import zlib

import pytest

from mod_pywebsocket import util
from mod_pywebsocket._connection import BufferedConnection, PlainConnection, as_buffered
from mod_pywebsocket._stream_hybi import Stream, StreamOptions
from mod_pywebsocket.stream import ConnectionTerminatedException
from test import mock

# A masked client text frame "Hello" (RFC 6455 §5.7).
MASKED_HELLO = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"


class ReadWriteOnly:
    """An embedder's connection: only ``read`` and ``write``; ``read`` returns at most ``chunk`` bytes, None at EOF."""

    def __init__(self, data: bytes, chunk: int = 3) -> None:
        self.data = bytearray(data)
        self.chunk = chunk
        self.asked: list[int] = []
        self.written: list[bytes] = []

    def read(self, length: int) -> bytes | None:
        self.asked.append(length)
        part = bytes(self.data[: min(length, self.chunk)])
        del self.data[: len(part)]
        return part or None

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))


def test_as_buffered_returns_a_buffered_connection_itself():
    connection = mock.BufferedFakeConnection(b"x")
    assert as_buffered(connection) is connection


def test_as_buffered_wraps_a_read_write_object_once_in_a_plain_connection():
    raw = ReadWriteOnly(b"")
    adapted = as_buffered(raw)
    assert isinstance(adapted, PlainConnection) and adapted.raw is raw
    assert as_buffered(adapted) is adapted


def test_plain_connection_completes_short_reads_and_never_reads_ahead():
    raw = ReadWriteOnly(b"abcdefgh-rest", chunk=3)
    connection = PlainConnection(raw)
    assert connection.read(8) == b"abcdefgh"
    assert raw.asked == [8, 5, 2]
    assert bytes(raw.data) == b"-rest"
    assert connection.buffered() == 0


def test_plain_connection_read_at_eof_raises_and_keeps_what_came():
    connection = PlainConnection(ReadWriteOnly(b"abc"))
    with pytest.raises(ConnectionTerminatedException, match=r"^connection closed after 3 of 8 bytes$"):
        connection.read(8)
    assert connection.read(3) == b"abc"
    with pytest.raises(ConnectionTerminatedException, match=r"^connection closed by peer$"):
        connection.read(1)
    assert connection.read_some(4) == b""
    assert connection.peek(4) == b""


def test_plain_connection_peek_takes_one_byte_and_read_returns_it_first():
    raw = ReadWriteOnly(b"xyz")
    connection = PlainConnection(raw)
    assert connection.peek(4) == b"x"
    assert bytes(raw.data) == b"yz"
    assert connection.read(3) == b"xyz"


def test_plain_connection_write_and_write_parts_go_to_the_object():
    raw = ReadWriteOnly(b"")
    connection = PlainConnection(raw)
    connection.write(b"one")
    connection.write_parts((b"t", b"wo"))
    assert raw.written == [b"one", b"two"]


def test_stream_over_a_read_write_object_receives_and_sends():
    raw = ReadWriteOnly(MASKED_HELLO + b"unread", chunk=2)
    request = mock.FakeRequest(connection=raw)  # type: ignore[arg-type]
    stream = Stream(request, StreamOptions())
    assert stream.receive_message() == "Hello"
    stream.send_message("Hi")
    assert raw.written == [b"\x81\x02Hi"]
    assert bytes(raw.data) == b"unread"


@pytest.mark.parametrize("chunk", [None, 1000, 70000])
def test_large_read_returns_exactly_the_bytes_asked_for(chunk):
    data = bytes(range(256)) * 1024  # 256 KiB: beyond what one receive asks for
    connection = mock.BufferedFakeConnection(b"ab" + data + b"tail", chunk=chunk)
    assert connection.read(2) == b"ab"
    assert bytes(connection.read(len(data))) == data
    assert connection.read(4) == b"tail"


def test_large_read_at_eof_raises_and_keeps_what_came():
    connection = mock.BufferedFakeConnection(b"z" * 100000)
    with pytest.raises(ConnectionTerminatedException, match=r"^connection closed after 100000 of 200000 bytes$"):
        connection.read(200000)
    assert connection.buffered() == 100000


def test_read_some_returns_what_is_buffered_without_receiving():
    connection = mock.BufferedFakeConnection(b"0123456789", chunk=4)
    assert connection.read_some(100) == b"0123"
    assert connection.peek(2) == b"45"
    assert connection.buffered() == 4
    assert connection.read_some(3) == b"456"
    assert connection.read_some(100) == b"7"
    assert connection.read_some(100) == b"89"


def test_readline_stops_at_newline_and_limit():
    connection = mock.BufferedFakeConnection(b"GET / HTTP/1.1\r\nHost: x\r\n", chunk=5)
    assert connection.readline() == b"GET / HTTP/1.1\r\n"
    assert connection.readline(4) == b"Host"
    assert connection.readline() == b": x\r\n"
    assert connection.readline() == b""


def test_close_releases_the_receive_buffer():
    connection = mock.BufferedFakeConnection(b"abc")
    assert connection.read(1) == b"a"
    connection.close()
    assert connection.closed and connection.buffered() == 0


def test_base_class_primitives_must_be_supplied():
    connection = BufferedConnection()
    with pytest.raises(NotImplementedError):
        connection.read(1)
    with pytest.raises(NotImplementedError):
        connection.write(b"x")


def test_deflate_connection_over_a_read_write_object_inflates_and_deflates():
    deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
    wire = deflater.compress(b"hello world" * 10) + deflater.flush(zlib.Z_SYNC_FLUSH)
    raw = ReadWriteOnly(wire, chunk=7)
    connection = util.DeflateConnection(raw)
    assert connection.read(110) == b"hello world" * 10
    assert max(raw.asked) == 1  # a plain connection is read one byte at a time: nothing beyond the stream
    connection.write(b"reply")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    assert inflater.decompress(b"".join(raw.written)) == b"reply"


def test_deflate_connection_read_at_eof_raises_connection_terminated():
    connection = util.DeflateConnection(mock.BufferedFakeConnection(b""))
    with pytest.raises(ConnectionTerminatedException, match=r"^connection closed by peer$"):
        connection.read(1)
