"""Fault injection: clients that vanish, stall, stop reading or trickle bytes.

Each fault runs against a standalone server in this process. While it lasts,
an echo on another connection must still work within ECHO_BOUND; once the
faulty clients are gone, the process's thread count and open file count
(``/proc/self/fd``) must come back to where they were before, within
SETTLE_BOUND. Clients vanish both ways: FIN (a plain close) and RST (close
with SO_LINGER 0).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from test.conftest import REPO_ROOT, RunningServer, running_server
from test.servers import ROBUST_HANDLERS
from test.wire import (
    KEY1,
    KEY2,
    KEY3,
    TIMEOUT,
    FrameReader,
    client_frame,
    echo_works,
    hybi00_request,
    open_socket,
    read_head,
    status_of,
    upgrade_request,
    wait_until,
    ws_open,
)

pytestmark = pytest.mark.timeout(120)

# How long an echo on a healthy connection may take while a fault goes on.
ECHO_BOUND = 3.0
# How long the server may take to free what a faulty connection held (it
# lingers up to 2 s after a WebSocket ends).
SETTLE_BOUND = 15.0
HANDSHAKE_TIMEOUT = 3


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def vanish(sock: socket.socket, how: str) -> None:
    """Close ``sock`` with a FIN ("fin") or a reset ("rst": SO_LINGER 0)."""
    if how == "rst":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def assert_echo_is_prompt(server: RunningServer) -> None:
    started = time.monotonic()
    assert echo_works(server.port, timeout=ECHO_BOUND)
    assert time.monotonic() - started < ECHO_BOUND


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with running_server("-d", ROBUST_HANDLERS, "--handshake-timeout", str(HANDSHAKE_TIMEOUT)) as running:
        yield running


@contextlib.contextmanager
def resources_return(server: RunningServer) -> Iterator[None]:
    """Check that threads and open files come back to their count before the block.

    Also check that the faults were not logged as errors: peer misbehaviour
    is never an ERROR (STYLE §2.5).
    """
    handler = _ErrorCollector()
    logging.getLogger("mod_pywebsocket").addHandler(handler)
    try:
        yield from _accounting(server)
    finally:
        logging.getLogger("mod_pywebsocket").removeHandler(handler)
    assert handler.messages == []


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _accounting(server: RunningServer) -> Iterator[None]:
    assert echo_works(server.port)  # warm up
    assert wait_until(lambda: server.server.connection_count() == 0, SETTLE_BOUND)
    # Threads whose connection ended wait idle for the next one: not a leak.
    idle = server.server.connection_threads.idle_count
    threads_before = threading.active_count() - idle()
    fds_before = fd_count()
    yield
    settled = wait_until(
        lambda: threading.active_count() - idle() <= threads_before and fd_count() <= fds_before, SETTLE_BOUND
    )
    assert settled, (
        f"busy threads {threading.active_count() - idle()} (before {threads_before}), "
        f"fds {fd_count()} (before {fds_before}), "
        f"{server.server.connection_count()} connections, {server.server.open_websocket_count()} websockets"
    )


# -- clients that vanish -----------------------------------------------------------


def _mid_request_line(port: int) -> socket.socket:
    sock = open_socket(port)
    sock.sendall(b"GET /ec")
    return sock


def _mid_headers(port: int) -> socket.socket:
    sock = open_socket(port)
    sock.sendall(upgrade_request()[:60])
    return sock


def _before_hybi00_key3(port: int) -> socket.socket:
    sock = open_socket(port)
    sock.sendall(hybi00_request(KEY1, KEY2) + KEY3[:3])
    return sock


def _after_handshake_sent_unread(port: int) -> socket.socket:
    # The whole request went out, and the client never reads the 101.
    sock = open_socket(port)
    sock.sendall(upgrade_request())
    return sock


def _mid_frame_header(port: int) -> socket.socket:
    sock, _ = ws_open(port)
    sock.sendall(client_frame(0x2, b"x" * 70000)[:5])
    return sock


def _mid_frame_payload(port: int) -> socket.socket:
    sock, _ = ws_open(port)
    sock.sendall(client_frame(0x1, "é".encode() * 50000)[:40000])
    return sock


def _mid_fragmented_message(port: int) -> socket.socket:
    sock, _ = ws_open(port)
    sock.sendall(client_frame(0x1, b"first", fin=False) + client_frame(0x0, b"second", fin=False))
    return sock


def _after_server_close(port: int) -> socket.socket:
    # The server starts the closing handshake and waits for our close frame.
    sock, reader = ws_open(port, "/close")
    sock.sendall(client_frame(0x1, b"close please"))
    assert reader.frame()[1] == 0x8
    return sock


def _after_client_close(port: int) -> socket.socket:
    # We start the closing handshake and never read the server's reply.
    sock, _ = ws_open(port)
    sock.sendall(client_frame(0x8, struct.pack("!H", 1000)))
    return sock


def _mid_close_frame(port: int) -> socket.socket:
    sock, _ = ws_open(port)
    sock.sendall(client_frame(0x8, struct.pack("!H", 1000) + b"reason")[:7])
    return sock


def _hybi00_open(port: int) -> socket.socket:
    sock = open_socket(port)
    sock.sendall(hybi00_request(KEY1, KEY2) + KEY3)
    head, rest = read_head(sock, time.monotonic() + TIMEOUT)
    assert status_of(head) == 101
    while len(rest) < 16:  # the challenge answer
        rest += sock.recv(16 - len(rest))
    return sock


def _hybi00_mid_text_frame(port: int) -> socket.socket:
    sock = _hybi00_open(port)
    sock.sendall(b"\x00" + "é".encode() * 1000)  # no 0xFF yet
    return sock


def _hybi00_mid_length_frame(port: int) -> socket.socket:
    sock = _hybi00_open(port)
    sock.sendall(b"\x80\x81\x80" + b"x" * 100)  # a 16384-byte frame to skip, 100 bytes sent
    return sock


def _hybi00_mid_closing_handshake(port: int) -> socket.socket:
    sock = _hybi00_open(port)
    sock.sendall(b"\xff")  # half of 0xFF 0x00
    return sock


VANISHING = {
    "mid-request-line": _mid_request_line,
    "mid-headers": _mid_headers,
    "before-hybi00-key3": _before_hybi00_key3,
    "handshake-unread": _after_handshake_sent_unread,
    "mid-frame-header": _mid_frame_header,
    "mid-frame-payload": _mid_frame_payload,
    "mid-fragmented-message": _mid_fragmented_message,
    "mid-closing-handshake-started-by-server": _after_server_close,
    "mid-closing-handshake-started-by-client": _after_client_close,
    "mid-close-frame": _mid_close_frame,
    "hybi00-mid-text-frame": _hybi00_mid_text_frame,
    "hybi00-mid-length-frame": _hybi00_mid_length_frame,
    "hybi00-mid-closing-handshake": _hybi00_mid_closing_handshake,
}
VANISH_COPIES = 5


@pytest.mark.parametrize("how", ["fin", "rst"])
@pytest.mark.parametrize("stage", list(VANISHING))
def test_client_vanishing_frees_its_thread_and_socket(server, stage, how):
    with resources_return(server):
        clients = [VANISHING[stage](server.port) for _ in range(VANISH_COPIES)]
        time.sleep(0.05)  # let the server get to the point where it waits
        assert_echo_is_prompt(server)
        for sock in clients:
            vanish(sock, how)
        assert_echo_is_prompt(server)


# -- clients that stop reading -------------------------------------------------------


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_client_that_stops_reading_a_64_mib_flood_stalls_nobody_and_is_freed(server, how):
    with resources_return(server):
        sock, reader = ws_open(server.port, "/flood")
        try:
            # The flood has begun (the first header arrived); now stop reading.
            reader._fill(2, time.monotonic() + TIMEOUT)
            assert reader.buffer[0] == 0x82
            time.sleep(0.3)
            for _ in range(3):
                assert_echo_is_prompt(server)
        finally:
            vanish(sock, how)
        assert_echo_is_prompt(server)


# -- clients that trickle --------------------------------------------------------------


def test_slowloris_handshake_is_dropped_at_the_handshake_timeout_and_stalls_nobody(server):
    with resources_return(server):
        request = upgrade_request()
        socks = [open_socket(server.port) for _ in range(10)]
        try:
            started = time.monotonic()
            dropped = set()
            # One byte per second from each client, until the server drops them (bounded).
            for index in range(HANDSHAKE_TIMEOUT + 3):
                for number, sock in enumerate(socks):
                    if number in dropped:
                        continue
                    try:
                        sock.sendall(request[index : index + 1])
                    except OSError:
                        dropped.add(number)
                        continue
                    sock.settimeout(0.001)
                    with contextlib.suppress(TimeoutError, BlockingIOError):
                        if sock.recv(100) == b"":
                            dropped.add(number)
                assert_echo_is_prompt(server)
                if len(dropped) == len(socks):
                    break
                time.sleep(max(0.0, started + index + 1 - time.monotonic()))
            assert len(dropped) == len(socks)
            assert time.monotonic() - started < HANDSHAKE_TIMEOUT + 3
        finally:
            for sock in socks:
                sock.close()


def test_slow_frames_after_the_handshake_stall_nobody_and_still_arrive(server):
    with resources_return(server):
        sock, reader = ws_open(server.port)
        with sock:
            frame = client_frame(0x1, b"slow")
            for index in range(len(frame)):
                sock.sendall(frame[index : index + 1])
                assert_echo_is_prompt(server)
                time.sleep(0.3)
            assert reader.frame() == (True, 0x1, b"slow")


# -- everything at once ------------------------------------------------------------------


def test_many_faults_at_once_leave_no_thread_or_file_behind(server):
    with resources_return(server):
        clients: list[tuple[socket.socket, str]] = []
        for number, open_faulty in enumerate(list(VANISHING.values()) * 3):
            clients.append((open_faulty(server.port), "rst" if number % 2 else "fin"))
        flood, reader = ws_open(server.port, "/flood")
        clients.append((flood, "rst"))
        reader._fill(2, time.monotonic() + TIMEOUT)
        assert_echo_is_prompt(server)
        for sock, how in clients:
            vanish(sock, how)
        assert_echo_is_prompt(server)


def test_rst_while_the_server_writes_its_101_is_harmless(server):
    with resources_return(server):
        for _ in range(20):
            sock = open_socket(server.port)
            sock.sendall(upgrade_request())
            vanish(sock, "rst")
        assert_echo_is_prompt(server)


def test_hybi00_client_that_never_sends_key3_holds_nothing_after_the_timeout(server):
    with resources_return(server):
        sock = open_socket(server.port)
        with sock:
            sock.sendall(hybi00_request(KEY1, KEY2))
            sock.settimeout(HANDSHAKE_TIMEOUT + TIMEOUT)
            assert sock.recv(100) == b""


def test_open_idle_websocket_is_kept_and_released_on_close(server):
    # An idle WebSocket is normal: it keeps its thread past the handshake timeout.
    with resources_return(server):
        sock, reader = ws_open(server.port)
        with sock:
            time.sleep(HANDSHAKE_TIMEOUT + 0.5)
            sock.sendall(client_frame(0x1, b"still here"))
            assert reader.frame() == (True, 0x1, b"still here")
            sock.sendall(client_frame(0x8, struct.pack("!H", 1000)))
            assert reader.close_code() == 1000


def test_status_of_a_fresh_connection_is_101(server):
    # The fixture itself: a plain handshake works on this server.
    with open_socket(server.port) as sock:
        sock.sendall(upgrade_request())
        assert status_of(read_head(sock, time.monotonic() + TIMEOUT)[0]) == 101


_ = FrameReader  # re-exported for readers of this module


# -- a short soak -------------------------------------------------------------------------


def test_ten_second_soak_with_100_clients_loses_and_corrupts_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "tools.soak", "--clients", "100", "--duration", "10", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert figures["messages"] > 100
    assert figures["bytes"] > 0
    assert (figures["lost"], figures["corrupted"], figures["connect_errors"], figures["unclean_closes"]) == (0, 0, 0, 0)
    assert 0 < figures["peak_rss_kib"] < 1024 * 1024
