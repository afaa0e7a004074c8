"""Reliability: connections leave nothing behind, and a client that stops reading is let go.

The standalone server runs in this process (``running_server``), so that the
tests can count the objects its connections leave, and see its connection
counts. Clients are raw sockets (``test_robustness`` helpers) or the
``websockets`` sync client.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import json
import logging
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from mod_pywebsocket import _standalone_io
from test.conftest import REPO_ROOT, RunningServer, running_server
from test.pki import Pki
from test.servers import ROBUST_HANDLERS
from test.wire import (
    KEY1,
    KEY2,
    KEY3,
    TIMEOUT,
    FrameReader,
    client_frame,
    exchange,
    hybi00_request,
    open_socket,
    read_head,
    status_of,
    upgrade_request,
    wait_until,
    ws_open,
)

pytestmark = pytest.mark.timeout(120)

WRITE_TIMEOUT = 1.0
# Connections of each kind in the garbage tests.
CONNECTION_COUNT = 10
# How long the server may take to let a stalled client go: the deadline, the
# watch's look (a quarter of it), and some slack for a loaded machine.
DROP_BOUND = WRITE_TIMEOUT + 3.0


def open_small_window_socket(port: int, context: ssl.SSLContext | None = None) -> socket.socket:
    """Connect with a small receive buffer, so that unread data stops the server's sends early."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", port))
    if context is not None:
        sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
    return sock


def open_websocket_without_reading(port: int, resource: str, context: ssl.SSLContext | None = None) -> socket.socket:
    sock = open_small_window_socket(port, context)
    sock.sendall(upgrade_request(resource))
    head, _ = read_head(sock, time.monotonic() + TIMEOUT)
    assert status_of(head) == 101, head
    return sock


def assert_dropped_at_the_write_timeout(server, sock: socket.socket, started: float, caplog) -> None:
    """The server ends the stalled WebSocket within DROP_BOUND, frees its connection, and says why."""
    assert wait_until(lambda: server.server.open_websocket_count() == 1, TIMEOUT)
    assert wait_until(lambda: server.server.open_websocket_count() == 0, DROP_BOUND + TIMEOUT)
    assert WRITE_TIMEOUT <= time.monotonic() - started < DROP_BOUND
    assert wait_until(lambda: server.server.connection_count() == 0, TIMEOUT)
    # The TCP connection was reset: reading what is left ends in a reset, or EOF.
    sock.settimeout(TIMEOUT)
    with pytest.raises((ConnectionResetError, EOFError, ssl.SSLError)):
        while True:
            if not sock.recv(1 << 20):
                raise EOFError
    messages = [record.getMessage() for record in caplog.records if record.levelno == logging.INFO]
    assert any(f"the client read nothing for {WRITE_TIMEOUT:g} s; connection dropped" in m for m in messages)


@pytest.fixture
def stalling_server():
    with running_server("-d", ROBUST_HANDLERS, "--write-timeout", str(WRITE_TIMEOUT)) as server:
        yield server


def test_client_that_stops_reading_a_flood_is_dropped_at_the_write_timeout(stalling_server, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    sock = open_websocket_without_reading(stalling_server.port, "/flood")
    with sock:
        started = time.monotonic()
        assert_dropped_at_the_write_timeout(stalling_server, sock, started, caplog)


def test_client_that_never_reads_its_echoes_is_dropped_at_the_write_timeout(stalling_server, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    sock = open_websocket_without_reading(stalling_server.port, "/echo")
    with sock:
        # 8 MiB in: the echo fills the small window and the socket buffers, then waits.
        sock.sendall(client_frame(0x2, b"\x5a" * (8 << 20)))
        started = time.monotonic()
        assert_dropped_at_the_write_timeout(stalling_server, sock, started, caplog)


def test_tls_client_that_stops_reading_is_dropped_at_the_write_timeout(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    pki = Pki(tmp_path)
    args = ["-d", ROBUST_HANDLERS, "--write-timeout", str(WRITE_TIMEOUT), *pki.server_args()]
    with running_server(*args) as server:
        sock = open_websocket_without_reading(server.port, "/flood", pki.client_context())
        with sock:
            started = time.monotonic()
            assert_dropped_at_the_write_timeout(server, sock, started, caplog)


def test_idle_websocket_outlives_the_write_timeout(stalling_server):
    sock = open_websocket_without_reading(stalling_server.port, "/echo")
    with sock:
        assert wait_until(lambda: stalling_server.server.open_websocket_count() == 1, TIMEOUT)
        time.sleep(3 * WRITE_TIMEOUT)  # idle, well past the deadline
        assert stalling_server.server.open_websocket_count() == 1
        sock.sendall(client_frame(0x1, b"still here"))
        assert FrameReader(sock).frame() == (True, 0x1, b"still here")


# -- nothing left behind -------------------------------------------------------------------


def echo_and_close(port: int, extra: str = "") -> None:
    sock, reader = ws_open(port, "/echo", extra)
    with sock:
        sock.sendall(client_frame(0x1, b"hello " * 100))
        first, payload = reader.raw_frame()
        assert first & 0x0F == 0x1 and payload
        sock.sendall(client_frame(0x8, struct.pack("!H", 1000)))
        assert reader.close_code() == 1000


def hybi00_echo_and_close(port: int) -> None:
    with open_socket(port) as sock:
        sock.sendall(hybi00_request(KEY1, KEY2) + KEY3)
        head, rest = read_head(sock, time.monotonic() + TIMEOUT)
        assert status_of(head) == 101, head
        reader = FrameReader(sock, rest)
        reader._take(16, time.monotonic() + TIMEOUT)  # the challenge response
        sock.sendall(b"\x00hello\xff")
        assert reader._take(7, time.monotonic() + TIMEOUT) == b"\x00hello\xff"
        sock.sendall(b"\xff\x00")
        assert reader._take(2, time.monotonic() + TIMEOUT) == b"\xff\x00"


def vanish_inside_a_frame(port: int) -> None:
    sock, _ = ws_open(port, "/echo")
    sock.sendall(client_frame(0x2, b"x" * 1000)[:500])
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def stall_until_dropped(port: int) -> None:
    with open_websocket_without_reading(port, "/flood") as sock:
        sock.settimeout(DROP_BOUND + TIMEOUT)
        try:
            while sock.recv(4096):
                time.sleep(0.5)  # read slower than the flood: the server's sends stall
        except ConnectionResetError:
            pass


def refused_handshake(port: int) -> None:
    status, _, _ = exchange(port, upgrade_request(version="99"))
    assert status == 400


def static_file(port: int) -> None:
    status, response, _ = exchange(port, b"GET /README.md HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert status == 200, response[:200]


CONNECTIONS: dict[str, Callable[[int], None]] = {
    "RFC 6455 echo": echo_and_close,
    "permessage-deflate echo": lambda port: echo_and_close(port, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
    "HyBi-00 echo": hybi00_echo_and_close,
    "client vanishes inside a frame": vanish_inside_a_frame,
    "client stops reading (write timeout)": stall_until_dropped,
    "refused handshake (400)": refused_handshake,
    "static file": static_file,
}


_THREAD = "mod_pywebsocket._standalone_threads._ConnectionThread"


def census() -> collections.Counter[str]:
    """Count the live objects of mod_pywebsocket's classes, and sockets."""
    counts: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        kind = type(obj)
        if kind.__module__.startswith("mod_pywebsocket") or isinstance(obj, socket.socket):
            counts[f"{kind.__module__}.{kind.__qualname__}"] += 1
    return counts


@contextlib.contextmanager
def collector_disabled() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def settle(server: RunningServer) -> None:
    """Wait until the server serves no connection."""
    assert wait_until(lambda: server.server.connection_count() == 0, DROP_BOUND + TIMEOUT)


@pytest.mark.parametrize("kind", list(CONNECTIONS))
def test_ended_connections_leave_no_cyclic_garbage_and_no_objects(kind):
    connect = CONNECTIONS[kind]
    options = ["--write-timeout", str(WRITE_TIMEOUT)] if connect is stall_until_dropped else []
    with running_server("-d", ROBUST_HANDLERS, *options) as server, collector_disabled():
        connect(server.port)  # warm up: handler modules, caches, the logging machinery
        settle(server)
        gc.collect()
        before = census()
        for _ in range(CONNECTION_COUNT):
            connect(server.port)
        settle(server)
        # Everything a connection held goes when it ends, by reference counting
        # alone (its thread, and the accept loop, may hold it a moment longer).
        # Its thread stays, idle, for the next connection: the only objects left.
        idle = server.server.connection_threads.idle_count
        assert wait_until(lambda: set(census() - before) <= {_THREAD} and census()[_THREAD] == idle(), TIMEOUT), (
            census() - before,
            idle(),
        )
        assert gc.collect() == 0


# -- freed memory goes back to the system ------------------------------------------------------


class RecordingTrim:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, pad: int) -> int:
        self.calls.append(pad)
        return 1


@pytest.fixture
def trimmer(monkeypatch) -> Iterator[tuple[_standalone_io.HeapTrimmer, RecordingTrim]]:
    trim = RecordingTrim()
    monkeypatch.setattr(_standalone_io, "_malloc_trim", trim)
    monkeypatch.setattr(_standalone_io.HeapTrimmer, "MIN_GAP", 0.5)
    trimmer = _standalone_io.HeapTrimmer()
    yield trimmer, trim
    trimmer.close()


def test_heap_is_trimmed_soon_after_the_server_went_idle(trimmer):
    heap, trim = trimmer
    heap.connection_started()
    heap.connection_started()
    heap.connection_ended()
    time.sleep(0.3)
    assert trim.calls == []  # connections remain: the periodic trim will do
    heap.connection_ended()
    heap.went_idle()
    assert wait_until(lambda: trim.calls == [0], TIMEOUT)


def test_connections_ending_one_after_the_other_share_a_trim(trimmer):
    heap, trim = trimmer
    for _ in range(20):
        heap.connection_started()
        heap.connection_ended()
        heap.went_idle()
        time.sleep(0.05)
    assert wait_until(lambda: len(trim.calls) >= 1, TIMEOUT)
    assert len(trim.calls) <= 3  # 1 s of connections, at most one trim per 0.5 s


def test_an_idle_server_is_not_trimmed_again_and_again(trimmer):
    heap, trim = trimmer
    heap.INTERVAL = 0.1
    heap.connection_started()
    heap.connection_ended()
    heap.went_idle()
    assert wait_until(lambda: len(trim.calls) == 1, TIMEOUT)
    time.sleep(0.5)
    assert len(trim.calls) == 1


def on_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (AttributeError, ValueError, OSError):
        return False


# Run in a fresh interpreter: a heap trimmer, then 12 threads that each
# allocate (glibc gives each new thread an arena of its own, up to the cap)
# and stay; glibc's malloc_stats then lists one "Arena N:" per arena on stderr.
_COUNT_ARENAS = """
import ctypes, threading, time
from mod_pywebsocket import _standalone_io
trimmer = _standalone_io.HeapTrimmer()
done = threading.Event()
blocks = []
def allocate():
    blocks.append(bytearray(200_000))
    done.wait()
threads = [threading.Thread(target=allocate) for _ in range(12)]
for thread in threads:
    thread.start()
while len(blocks) < 12:
    time.sleep(0.01)
ctypes.CDLL(None).malloc_stats()
done.set()
"""


def _glibc_arenas_after_12_threads(environment: dict[str, str]) -> int:
    inherited = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    result = subprocess.run(
        [sys.executable, "-c", _COUNT_ARENAS],
        cwd=REPO_ROOT,
        env={**inherited, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return len(re.findall(r"^Arena \d+:$", result.stderr, re.MULTILINE))


def test_the_server_lets_glibc_make_at_most_two_arenas():
    if not on_glibc():
        pytest.skip("NO GLIBC: no malloc arenas to cap")
    assert _standalone_io.MALLOC_ARENAS == 2
    assert _glibc_arenas_after_12_threads({}) == 2


def test_an_arena_count_chosen_in_the_environment_is_left_alone():
    if not on_glibc():
        pytest.skip("NO GLIBC: no malloc arenas to cap")
    assert _glibc_arenas_after_12_threads({"GLIBC_TUNABLES": "glibc.malloc.arena_max=5"}) == 5
    assert _glibc_arenas_after_12_threads({"MALLOC_ARENA_MAX": "4"}) == 4


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MALLOC_ARENA_MAX", "4"), ("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0:glibc.malloc.arena_max=3")],
)
def test_the_arena_cap_is_not_set_over_the_environments_choice(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    assert _standalone_io._limit_malloc_arenas() is False


def test_the_arena_cap_is_set_on_glibc_with_other_tunables_in_the_environment(monkeypatch):
    if not on_glibc():
        pytest.skip("NO GLIBC: no malloc arenas to cap")
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0")
    assert _standalone_io._limit_malloc_arenas() is True


def test_no_arena_cap_without_glibc(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.setattr(_standalone_io, "_malloc_trim", None)
    assert _standalone_io._limit_malloc_arenas() is False


def test_the_c_library_trim_is_found_on_glibc():
    if not on_glibc():
        pytest.skip("NO GLIBC: malloc_trim does not exist here")
    assert _standalone_io._malloc_trim is not None
    assert _standalone_io._malloc_trim(0) in (0, 1)


def test_rss_comes_back_near_idle_after_200_clients_leave():
    """A 10-second soak of 200 clients: once they left, the server's RSS is near its idle figure again."""
    result = subprocess.run(
        [sys.executable, "-m", "tools.soak", "--clients", "200", "--duration", "10", "--settle", "5", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["messages"] > 1000
    # Idle about 28 MiB. Before connections freed their memory at once and the
    # heap was trimmed: ~66 MiB (idle + 39). With the trim but glibc's 16
    # arenas: idle + 16-24 MiB (the free tops of the arenas, which malloc_trim
    # leaves). With two arenas: idle + 5-6 MiB, mostly pymalloc arenas that
    # still hold a live object, which nothing but luck frees.
    assert figures["rss_after_kib"] <= figures["idle_rss_kib"] + 12 * 1024, result.stdout
