"""Tests for _standalone_io: the standalone server's read buffer and held-back replies.

Unit tests drive ``SocketConnection`` over a ``socket.socketpair()``; the
end-to-end tests run a standalone server and speak raw RFC 6455 frames to it.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import textwrap
import threading
import time
import weakref
from collections.abc import Iterator

import pytest

from mod_pywebsocket._standalone_io import SEND_PIECE, SocketConnection, WriteFlusher, WriteWatch
from mod_pywebsocket.stream import ConnectionTerminatedException
from test.conftest import EXAMPLE_DIR, running_server
from test.wire import recv_exactly

KEY = b"\x37\xfa\x21\x3d"


@pytest.fixture
def pair() -> Iterator[tuple[SocketConnection, socket.socket]]:
    server_side, client = socket.socketpair()
    client.settimeout(5)
    connection = SocketConnection(server_side, ("127.0.0.1", 1))
    yield connection, client
    server_side.close()
    client.close()


@pytest.fixture
def slow_flusher() -> Iterator[WriteFlusher]:
    """A flusher that never fires within a test: what leaves, leaves for another reason."""
    flusher = WriteFlusher(delay=3600)
    yield flusher
    flusher.close()


def readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


# Reading.


def test_readline_returns_lines_with_their_ends_and_the_rest_at_eof(pair):
    connection, client = pair
    client.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\ntail")
    client.shutdown(socket.SHUT_WR)
    assert connection.readline(100) == b"GET / HTTP/1.1\r\n"
    assert connection.readline() == b"Host: a\r\n"
    assert connection.readline(100) == b"\r\n"
    assert connection.readline(100) == b"tail"
    assert connection.readline(100) == b""


def test_readline_stops_at_the_limit_when_the_line_is_longer(pair):
    connection, client = pair
    client.sendall(b"abcdefgh\nxy\n")
    assert connection.readline(5) == b"abcde"
    assert connection.readline(5) == b"fgh\n"
    assert connection.readline(3) == b"xy\n"


def test_readline_waits_for_a_line_split_over_several_sends(pair):
    connection, client = pair

    def send_slowly() -> None:
        for piece in (b"Up", b"grade: web", b"socket\r", b"\nnext"):
            client.sendall(piece)
            time.sleep(0.02)

    sender = threading.Thread(target=send_slowly)
    sender.start()
    assert connection.readline(100) == b"Upgrade: websocket\r\n"
    sender.join()
    assert connection.read(4) == b"next"


def test_peek_and_buffered_do_not_consume(pair):
    connection, client = pair
    assert connection.buffered() == 0
    client.sendall(b"\x81\x85abcdefghi")
    assert connection.peek(2) == b"\x81\x85"
    assert connection.buffered() == 11
    assert connection.peek(100) == b"\x81\x85abcdefghi"
    assert connection.read(3) == b"\x81\x85a"
    assert connection.buffered() == 8
    assert connection.read1(100) == b"bcdefghi"
    assert connection.buffered() == 0


def test_read_blocks_for_exactly_the_length_and_leaves_the_rest(pair):
    connection, client = pair
    client.sendall(b"12345")
    threading.Timer(0.05, client.sendall, (b"6789",)).start()
    assert connection.read(7) == b"1234567"
    assert connection.read(2) == b"89"


def test_large_read_arrives_whole_after_buffered_bytes(pair):
    connection, client = pair
    payload = os.urandom(3 * 1024 * 1024 + 5)
    sender = threading.Thread(target=client.sendall, args=(b"xy" + payload + b"end",))
    sender.start()
    assert connection.read(2) == b"xy"
    assert connection.peek(1) == payload[:1]  # some of the payload is buffered now
    assert connection.read(len(payload)) == payload
    assert connection.read(3) == b"end"
    sender.join()


def test_read_at_eof_raises_connection_terminated_and_keeps_what_came(pair):
    connection, client = pair
    client.sendall(b"abc")
    client.shutdown(socket.SHUT_WR)
    with pytest.raises(ConnectionTerminatedException, match=r"^connection closed after 3 of 10 bytes$"):
        connection.read(10)
    assert connection.buffered() == 3
    assert connection.read(3) == b"abc"
    with pytest.raises(ConnectionTerminatedException, match=r"^connection closed by peer$"):
        connection.read(1)


def test_read_some_peek_and_readline_return_empty_at_eof(pair):
    connection, client = pair
    client.shutdown(socket.SHUT_WR)
    assert connection.read1(10) == b""
    assert connection.peek(1) == b""
    assert connection.readline() == b""


def test_every_recv_after_the_first_goes_into_one_mapping_that_close_releases(pair):
    # A new 64 KiB bytes object per recv fragmented the heap (a 1000-client
    # soak grew to 1 GB); one buffer per connection does not. The first recv
    # (a request head) asks for 4 KiB, into a buffer of its own.
    connection, client = pair
    client.sendall(b"head")
    assert connection.read1(100) == b"head"
    assert connection._recv_buffer is None
    client.sendall(b"first")
    assert connection.read1(100) == b"first"
    buffer = connection._recv_buffer
    assert buffer is not None and len(buffer) == 65536
    client.sendall(b"second")
    assert connection.read1(100) == b"second"
    assert connection._recv_buffer is buffer
    connection.close()
    assert connection._recv_buffer is None and buffer.closed and connection.closed


def test_read_to_eof_with_minus_one(pair):
    connection, client = pair
    client.sendall(b"a" * 10000)
    client.shutdown(socket.SHUT_WR)
    assert connection.read(-1) == b"a" * 10000


# Writing.


def hold_with_input_waiting(connection: SocketConnection, client: socket.socket, flusher: WriteFlusher) -> None:
    """Let ``connection`` hold writes, with one byte of client input waiting unread."""
    connection.hold_writes(flusher)
    client.sendall(b"ab")
    assert connection.read(1) == b"a"


def test_write_sends_at_once_when_no_input_waits(pair, slow_flusher):
    connection, client = pair
    connection.hold_writes(slow_flusher)
    connection.write(b"reply")
    assert recv_exactly(client, 5) == b"reply"


def test_writes_are_held_while_input_waits_and_leave_together(pair, slow_flusher):
    connection, client = pair
    connection.hold_writes(slow_flusher)
    client.sendall(b"abc")
    assert connection.read(1) == b"a"
    connection.write(b"A")
    assert connection.read(1) == b"b"
    connection.write(b"B")
    time.sleep(0.05)
    assert not readable(client)  # both replies held: the client already sent more
    assert connection.read(1) == b"c"
    connection.write(b"C")  # no input waits now: everything leaves, in order
    assert recv_exactly(client, 3) == b"ABC"


def test_held_writes_leave_before_a_read_blocks(pair, slow_flusher):
    connection, client = pair
    hold_with_input_waiting(connection, client, slow_flusher)
    connection.write(b"reply to a")

    def answer() -> None:
        # The client waits for the reply before it sends more.
        assert recv_exactly(client, 10) == b"reply to a"
        client.sendall(b"cd")

    responder = threading.Thread(target=answer)
    responder.start()
    assert connection.read(3) == b"bcd"
    responder.join()


def test_held_writes_leave_within_the_flush_delay_when_the_handler_does_nothing(pair):
    connection, client = pair
    flusher = WriteFlusher(delay=0.01)
    try:
        hold_with_input_waiting(connection, client, flusher)
        connection.write(b"held")
        assert recv_exactly(client, 4) == b"held"  # within the 5 s socket timeout
    finally:
        flusher.close()


def test_held_writes_leave_once_64_kib_are_held(pair, slow_flusher):
    connection, client = pair
    hold_with_input_waiting(connection, client, slow_flusher)
    connection.write(b"x" * 40000)
    assert not readable(client)
    connection.write(b"y" * 30000)
    assert recv_exactly(client, 70000) == b"x" * 40000 + b"y" * 30000


def test_held_writes_leave_once_32_are_held(pair, slow_flusher):
    connection, client = pair
    hold_with_input_waiting(connection, client, slow_flusher)
    for index in range(31):
        connection.write(b"%02d" % index)
    assert not readable(client)
    connection.write(b"31")
    assert recv_exactly(client, 64) == b"".join(b"%02d" % index for index in range(32))
    connection.write(b"32")
    time.sleep(0.05)
    assert not readable(client)


def test_hold_writes_none_sends_what_is_held(pair, slow_flusher):
    connection, client = pair
    hold_with_input_waiting(connection, client, slow_flusher)
    connection.write(b"last")
    connection.hold_writes(None)
    assert recv_exactly(client, 4) == b"last"
    connection.write(b"now")
    assert recv_exactly(client, 3) == b"now"


def test_flush_nowait_never_blocks_on_a_client_that_does_not_read(pair, slow_flusher):
    connection, client = pair
    connection.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    hold_with_input_waiting(connection, client, slow_flusher)
    data = os.urandom(60000)  # under 64 KiB, in fewer than 32 writes: all of it held
    for offset in range(0, len(data), 3000):
        connection.write(data[offset : offset + 3000])
    started = time.monotonic()
    while not connection.flush_nowait():
        assert time.monotonic() - started < 0.5, "flush_nowait blocked or never gave up"
        break
    assert connection._held, "a client that reads nothing cannot have taken 60000 bytes"
    received = []
    reader = threading.Thread(target=lambda: received.append(recv_exactly(client, len(data))))
    reader.start()
    connection.flush()
    reader.join()
    assert received == [data]


def test_flush_nowait_after_the_socket_closed_drops_the_held_bytes(pair, slow_flusher):
    connection, client = pair
    hold_with_input_waiting(connection, client, slow_flusher)
    connection.write(b"lost")
    connection.socket.close()
    assert connection.flush_nowait() is True
    assert not connection._held


def test_write_parts_sends_the_buffers_in_order_even_when_sendmsg_is_partial(pair):
    connection, client = pair
    connection.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    header, payload = b"\x82\x7f" + struct.pack("!Q", 3_000_000), os.urandom(3_000_000)
    received = []
    reader = threading.Thread(target=lambda: received.append(recv_exactly(client, 10 + 3_000_000)))
    reader.start()
    connection.write_parts((header, payload))
    reader.join()
    assert received == [header + payload]


def test_write_parts_goes_after_held_writes(pair, slow_flusher):
    connection, client = pair
    hold_with_input_waiting(connection, client, slow_flusher)
    connection.write(b"first ")
    connection.write_parts((b"second ", b"third"))  # input still waits: held too
    assert not readable(client)
    connection.read(1)
    connection.write_parts((b" fourth", b""))
    assert recv_exactly(client, 25) == b"first second third fourth"


def test_large_read_returns_the_bytes_whole(pair):
    connection, client = pair
    payload = os.urandom(200_000)
    sender = threading.Thread(target=client.sendall, args=(payload,))
    sender.start()
    data = connection.read(200_000)
    sender.join()
    assert bytes(data) == payload


# The write deadline.


@pytest.fixture
def watch() -> Iterator[WriteWatch]:
    """A write watch with a 1 s deadline."""
    watch = WriteWatch(1.0)
    yield watch
    watch.close()


def send_in_thread(connection: SocketConnection, data: bytes) -> tuple[threading.Thread, list[OSError]]:
    """Start ``connection.write(data)`` in a thread; return it and the list its OSError goes to."""
    errors: list[OSError] = []

    def send() -> None:
        try:
            connection.write(data)
        except OSError as exc:
            errors.append(exc)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread, errors


def test_write_watch_drops_a_connection_whose_send_makes_no_progress(pair, watch):
    connection, _ = pair
    watch.watch(connection)
    started = time.monotonic()
    thread, errors = send_in_thread(connection, b"\xa5" * (4 * SEND_PIECE))
    thread.join(10)
    assert not thread.is_alive()
    assert 1.0 <= time.monotonic() - started < 3.0
    assert connection.write_timed_out
    assert len(errors) == 1 and isinstance(errors[0], OSError)
    # The socket is shut down: a later write fails at once.
    with pytest.raises(OSError):
        connection.write(b"more")


def test_write_watch_keeps_a_client_that_reads_slowly_but_steadily(pair, watch):
    connection, client = pair
    watch.watch(connection)
    data = os.urandom(4 * SEND_PIECE)
    started = time.monotonic()
    thread, errors = send_in_thread(connection, data)
    received = bytearray()
    pause_at = SEND_PIECE // 4
    while len(received) < len(data):
        received += client.recv(65536)
        if len(received) >= pause_at:
            # 1 MiB every 0.4 s or so: 4 MiB take longer than the deadline, no piece does.
            time.sleep(0.1)
            pause_at += SEND_PIECE // 4
    thread.join(5)
    assert time.monotonic() - started > 1.0
    assert errors == []
    assert not connection.write_timed_out
    assert bytes(received) == data


def test_write_watch_ignores_an_idle_connection_and_forgets_an_unwatched_one(pair, watch):
    connection, client = pair
    watch.watch(connection)
    time.sleep(1.5)  # idle: no send in progress
    assert not connection.write_timed_out
    watch.unwatch(connection)
    thread, errors = send_in_thread(connection, b"\xa5" * (4 * SEND_PIECE))
    thread.join(2.0)
    assert thread.is_alive() and not connection.write_timed_out
    client.close()  # the send fails: the thread ends
    thread.join(5)
    assert len(errors) == 1


def test_helper_threads_hold_no_connection_once_done_with_it():
    watch = WriteWatch(0.2)
    flusher = WriteFlusher(delay=0.01)
    server_side, client = socket.socketpair()
    try:
        connection = SocketConnection(server_side)
        watch.watch(connection)
        flusher.schedule(connection)
        time.sleep(0.3)  # both threads have looked at it
        watch.unwatch(connection)
        gone = weakref.ref(connection)
        del connection
        time.sleep(0.3)
        assert gone() is None
    finally:
        watch.close()
        flusher.close()
        server_side.close()
        client.close()


# End to end: the standalone server with raw frames.


def masked_text(payload: bytes) -> bytes:
    masked = bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + KEY + masked


def open_websocket(port: int, resource: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        f"GET {resource} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101 ")
    return sock


def test_pipelined_messages_are_all_echoed_in_order():
    messages = [f"message {i:04d}".encode() for i in range(500)]
    with running_server("-d", EXAMPLE_DIR) as server:
        sock = open_websocket(server.port, "/echo")
        sock.sendall(b"".join(masked_text(message) for message in messages))
        expected = b"".join(struct.pack("!BB", 0x81, len(message)) + message for message in messages)
        assert recv_exactly(sock, len(expected)) == expected
        sock.close()


def test_a_reply_held_for_pipelined_input_arrives_while_the_handler_sleeps(tmp_path):
    (tmp_path / "sleepy_wsh.py").write_text(
        textwrap.dedent(
            """
            import time

            def web_socket_do_extra_handshake(request):
                pass

            def web_socket_transfer_data(request):
                message = request.ws_stream.receive_message()
                request.ws_stream.send_message("got " + message)
                time.sleep(30)  # never reads the second message
            """
        )
    )
    with running_server("-d", str(tmp_path)) as server:
        sock = open_websocket(server.port, "/sleepy")
        # Both messages in one send: the second is buffered when the reply is written.
        sock.sendall(masked_text(b"one") + masked_text(b"two"))
        started = time.monotonic()
        assert recv_exactly(sock, 9) == b"\x81\x07got one"
        assert time.monotonic() - started < 2.0
        sock.close()
