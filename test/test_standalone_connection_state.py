"""What an open WebSocket keeps per connection under the standalone server (memory per idle connection)."""

from __future__ import annotations

import mmap
import pathlib
import types

import pytest

from mod_pywebsocket import standalone
from mod_pywebsocket._connection import BufferedConnection
from test import wire
from test.conftest import running_server


class Scripted(BufferedConnection):
    """A buffered connection whose receives return the given chunks, then EOF."""

    def __init__(self, *chunks: bytes) -> None:
        super().__init__()
        self.chunks = list(chunks)

    def _receive_into(self, view):
        if not self.chunks:
            return 0
        chunk = self.chunks.pop(0)
        view[: len(chunk)] = chunk
        return len(chunk)


def test_release_idle_pages_without_a_receive_releases_nothing():
    assert Scripted(b"abc").release_idle_pages() is False


def test_release_idle_pages_keeps_pages_while_bytes_are_buffered():
    connection = Scripted(b"abcdef")
    assert connection.read(2) == b"ab"
    assert connection.release_idle_pages() is False
    assert connection.read(4) == b"cdef"


@pytest.mark.skipif(not hasattr(mmap, "MADV_DONTNEED"), reason="no madvise(MADV_DONTNEED) here")
def test_release_idle_pages_when_drained_then_reads_on_unchanged():
    connection = Scripted(b"GET / HTTP/1.1\r\n\r\n", b"\x81\x00", b"next")
    assert connection.readline() == b"GET / HTTP/1.1\r\n"
    assert connection.readline() == b"\r\n"
    assert connection.release_idle_pages() is True
    assert connection.read(2) == b"\x81\x00"
    assert connection.read(4) == b"next"


class HeadFirst(Scripted):
    """Scripted, with a small first receive like the standalone server's sockets; records each receive's buffer."""

    first_receive_size = 4096

    def __init__(self, *chunks: bytes) -> None:
        super().__init__(*chunks)
        self.receives: list[tuple[int, bool]] = []  # (bytes asked for, into the mapping)

    def _receive_into(self, view):
        self.receives.append((len(view), isinstance(view, mmap.mmap) or isinstance(view.obj, mmap.mmap)))
        return super()._receive_into(view)


def test_first_receive_of_a_request_head_takes_no_mapping_and_the_next_ones_use_it():
    connection = HeadFirst(b"GET / HTTP/1.1\r\n", b"\r\n\x81", b"\x00next")
    assert connection.readline() == b"GET / HTTP/1.1\r\n"
    assert connection.release_idle_pages() is False  # no mapping yet: nothing to give back
    assert connection.readline() == b"\r\n"
    assert connection.read(2) == b"\x81\x00"
    assert connection.read(4) == b"next"
    assert connection.read_some() == b""
    assert connection.receives == [(4096, False), (65536, True), (65536, True), (65536, True)]


def test_first_read_needing_more_than_the_small_receive_goes_through_the_mapping():
    connection = HeadFirst(b"a" * 5000)
    assert connection.read(5000) == b"a" * 5000
    assert connection.receives == [(65536, True)]


def test_connection_ending_before_its_first_byte_reads_empty():
    connection = HeadFirst()
    assert connection.peek() == b"" and connection.read_some() == b""
    assert connection.receives == [(4096, False), (65536, True)]


def test_release_idle_pages_after_close_releases_nothing():
    connection = Scripted(b"ab")
    assert connection.read(2) == b"ab"
    connection.close()
    assert connection.release_idle_pages() is False


def _request() -> standalone._StandaloneRequest:
    options = types.SimpleNamespace(max_message_size=1 << 20)
    server = types.SimpleNamespace(options=options, message_budget=types.SimpleNamespace(account=lambda: None))
    handler = types.SimpleNamespace(
        path="/echo?x=1", command="GET", request_version="HTTP/1.1", headers={}, raw_request_lines=[b"x"], server=server
    )
    return standalone._StandaloneRequest(handler, None, False)  # type: ignore[arg-type]


def test_request_keeps_server_and_handshake_attributes_out_of_its_dict():
    request = _request()
    for name in ("ws_resource", "ws_origin", "ws_version", "ws_protocol", "ws_extensions", "ws_stream", "ws_deflate"):
        setattr(request, name, None)
    request.client_terminated = request.server_terminated = False
    assert request.__dict__ == {}
    assert (request.uri, request.unparsed_uri, request.method, request.protocol) == (
        "/echo?x=1",
        "/echo?x=1",
        "GET",
        "HTTP/1.1",
    )


def test_request_takes_a_handlers_own_attributes_and_stays_hashable():
    request = _request()
    request.counter = 3
    assert request.__dict__ == {"counter": 3}
    assert {request: 1}[request] == 1
    assert getattr(request, "ws_stream", None) is None


def test_each_connection_runs_in_its_own_named_daemon_thread(tmp_path: pathlib.Path):
    (tmp_path / "thread_wsh.py").write_text(THREAD_HANDLER, encoding="utf-8")
    with running_server("-d", str(tmp_path)) as server:
        names = []
        for _ in range(2):
            sock, reader = wire.ws_open(server.port, "/thread")
            with sock:
                sock.sendall(wire.client_frame(1, b"go"))
                names.append(reader.frame()[2].decode())
    first, second = (name.split(" ", 2) for name in names)
    assert first[0] == second[0] == "connection"
    assert first[1].startswith("127.0.0.1:") and first[1] != second[1]
    assert first[2] == second[2] == "True"


def test_an_open_websocket_keeps_no_header_index_until_its_handler_looks_a_field_up(tmp_path: pathlib.Path):
    (tmp_path / "headers_wsh.py").write_text(HEADERS_HANDLER, encoding="utf-8")
    with running_server("-d", str(tmp_path)) as server:
        sock, reader = wire.ws_open(server.port, "/headers")
        with sock:
            sock.sendall(wire.client_frame(1, b"go"))
            before, upgrade, after = reader.frame()[2].decode().split()
    assert (before, upgrade) == ("0", "websocket")
    assert int(after) >= 4  # host, upgrade, connection, sec-websocket-key, ...


HEADERS_HANDLER = """
def web_socket_do_extra_handshake(request):
    assert request.headers_in.get("Upgrade") == "websocket"


def web_socket_transfer_data(request):
    request.ws_stream.receive_message()
    headers = request.headers_in
    before = len(headers._by_name)
    upgrade = headers.get("UPGRADE")
    request.ws_stream.send_message("%d %s %d" % (before, upgrade, len(headers._by_name)), binary=False)
"""


THREAD_HANDLER = """
import threading


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    request.ws_stream.receive_message()
    thread = threading.current_thread()
    request.ws_stream.send_message("%s %s" % (thread.name, thread.daemon), binary=False)
"""
