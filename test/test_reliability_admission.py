"""Admission under attack: 503s that silent connections cannot hold up, accept back-off, the memory budget.

Issue 15: 5,000 silent TCP connections left legitimate clients closed
without an answer; ``accept`` failing with EMFILE spun the accept loop
with nothing logged; permessage-deflate let 16 clients make the server
hold 1.1 GiB. Servers run in this process (``running_server``) or as a
subprocess (``ServerProcess``, for RSS, CPU time and a descriptor limit).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import ssl
import sys
import time
import tracemalloc
import zlib

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from mod_pywebsocket import _standalone_admission, _standalone_options, common, stream
from mod_pywebsocket._message_assembler import UNCOUNTED_BYTES, MessageAssembler, MessageBudget
from mod_pywebsocket._stream_hybi import FrameHeader, StreamOptions
from mod_pywebsocket.extensions import PerMessageDeflateCodec
from test.conftest import EXAMPLE_DIR, running_server
from test.servers import ServerProcess
from test.wire import client_frame, deflate_bomb, echo_works, open_socket, read_head, read_until_eof, status_of, ws_open

pytestmark = pytest.mark.timeout(120)

TIMEOUT = 10.0
GET_ROOT = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BINARY, CONTINUATION = 0x2, 0x0
DEFLATE = "Sec-WebSocket-Extensions: permessage-deflate\r\n"


def wait_for(condition, timeout: float = TIMEOUT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def records(caplog, level: str, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == level and text in r.getMessage()]


# -- the memory budget on its own ---------------------------------------------------


def test_budget_refuses_a_charge_over_its_limit_logs_it_and_charges_nothing(caplog):
    budget = MessageBudget(100)
    first, second = budget.account(), budget.account()
    first.charge(60)
    with caplog.at_level(logging.WARNING), pytest.raises(stream.MemoryBudgetExceededException) as info:
        second.charge(41)
    assert str(info.value) == "41 more bytes for an incoming message would exceed the server's limit of 100"
    assert info.value.close_code == common.STATUS_TRY_AGAIN_LATER == 1013
    assert isinstance(info.value, stream.MessageTooBigException)
    assert (budget.held(), first.held, second.held) == (60, 60, 0)
    assert records(caplog, "WARNING", "incoming messages hold 60 of the 100 bytes allowed (--max-incoming-memory)")
    second.charge(40)
    assert budget.held() == 100


def test_closing_an_account_gives_back_what_it_holds_and_refuses_later_charges(caplog):
    budget = MessageBudget(100)
    account = budget.account()
    account.charge(70)
    account.release(20)
    assert (budget.held(), account.held) == (50, 50)
    account.close()
    assert (budget.held(), account.held, account.closed) == (0, 0, True)
    with caplog.at_level(logging.WARNING), pytest.raises(stream.MemoryBudgetExceededException):
        account.charge(1)
    assert budget.held() == 0
    assert not records(caplog, "WARNING", "--max-incoming-memory")  # a closed connection is no news
    account.release(5)
    assert budget.held() == 0


def header(opcode: int, length: int, fin: int = 1, rsv1: int = 0) -> FrameHeader:
    return FrameHeader(fin, rsv1, 0, 0, opcode, length, None)


def budgeted_assembler(limit: int, deflate: bool = False, max_message_size: int | None = None):
    budget = MessageBudget(limit)
    options = StreamOptions()
    options.message_budget = budget.account()
    if max_message_size is not None:
        options.max_message_size = max_message_size
    if deflate:
        options.permessage_deflate = PerMessageDeflateCodec(None, False)
    return budget, MessageAssembler(options)


def test_assembler_charges_a_large_frame_before_its_payload_and_gives_it_back_at_the_end():
    budget, assembler = budgeted_assembler(1 << 20)
    assembler.start(header(BINARY, 100_000))
    assert budget.held() == 100_000
    assert assembler.finish(b"x" * 100_000) == b"x" * 100_000
    assert budget.held() == 0


def test_assembler_does_not_charge_a_message_of_up_to_64_kib():
    budget, assembler = budgeted_assembler(1 << 20)
    assembler.start(header(BINARY, UNCOUNTED_BYTES))
    assert budget.held() == 0
    assert assembler.finish(b"y" * UNCOUNTED_BYTES) == b"y" * UNCOUNTED_BYTES


def test_assembler_charges_a_fragmented_message_for_all_of_it_once_over_64_kib():
    budget, assembler = budgeted_assembler(1 << 20)
    assembler.start(header(BINARY, 40_000, fin=0))
    assembler.feed(b"a" * 40_000, False)
    assert budget.held() == 0
    assembler.start(header(CONTINUATION, 40_000, fin=0))
    assert budget.held() == 80_000
    assembler.feed(b"b" * 40_000, False)
    assembler.start(header(CONTINUATION, 10))
    assert budget.held() == 80_010
    assert assembler.finish(b"c" * 10) == b"a" * 40_000 + b"b" * 40_000 + b"c" * 10
    assert budget.held() == 0


def test_joining_a_counted_message_is_charged_while_the_copy_is_made():
    budget, assembler = budgeted_assembler(250_000)
    for limit_left, fits in [(250_000, True), (200_000, False)]:
        other = budget.account()
        other.charge(250_000 - limit_left)
        assembler.start(header(BINARY, 60_000, fin=0))
        assembler.feed(b"a" * 60_000, False)
        assembler.start(header(CONTINUATION, 60_000))
        assert budget.held() == 120_000 + 250_000 - limit_left
        if fits:
            assert assembler.finish(b"b" * 60_000) == b"a" * 60_000 + b"b" * 60_000
        else:
            with pytest.raises(stream.MemoryBudgetExceededException):
                assembler.finish(b"b" * 60_000)
            assert assembler.opcode is None
        other.close()
        assert budget.held() == 0


def test_assembler_refuses_a_frame_the_budget_cannot_cover_before_reading_it():
    budget, assembler = budgeted_assembler(100_000)
    budget.account().charge(50_000)
    with pytest.raises(stream.MemoryBudgetExceededException):
        assembler.start(header(BINARY, 70_000))
    assert assembler.opcode is None  # nothing changed: a smaller message still goes through
    assembler.start(header(BINARY, 10))
    assert assembler.finish(b"z" * 10) == b"z" * 10
    assert budget.held() == 50_000


def test_compressed_message_is_inflated_no_further_than_the_budget_covers():
    bomb = deflate_bomb(64 * 1024 * 1024)
    budget, assembler = budgeted_assembler(1 << 20, deflate=True, max_message_size=64 * 1024 * 1024)
    tracemalloc.start()
    try:
        assembler.start(header(BINARY, len(bomb), rsv1=1))
        with pytest.raises(stream.MemoryBudgetExceededException):
            assembler.finish(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * 1024 * 1024, f"peak of {peak} bytes while refusing a 64 MiB message"
    assert budget.held() <= 1 << 20


def test_compressed_message_within_the_budget_is_charged_for_its_inflated_size():
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(bytes(200_000)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    budget, assembler = budgeted_assembler(1 << 20, deflate=True)
    assembler.start(header(BINARY, len(data) - 4, fin=0, rsv1=1))
    assembler.feed(data[:-4], False)
    assert budget.held() == 200_000  # the compressed bytes are under UNCOUNTED_BYTES
    assembler.start(header(CONTINUATION, 0))
    assert assembler.finish(b"") == bytes(200_000)
    assert budget.held() == 0


def test_assembler_counts_the_pieces_a_frame_filter_inflated_as_it_keeps_them():
    budget, assembler = budgeted_assembler(150_000)
    assembler._options.incoming_frame_filters.append(object())  # deflate-frame inflates before the assembler
    assembler.start(header(BINARY, 100, fin=0))  # the compressed length
    assembler.feed(b"x" * 100_000, False)  # what the filter made of it
    assert budget.held() == 100_100
    assembler.start(header(CONTINUATION, 100, fin=0))
    with pytest.raises(stream.MemoryBudgetExceededException):
        assembler.feed(b"y" * 100_000, False)
    assert budget.held() == 0  # the refused message is dropped at once


def _compressed_messages() -> tuple[list[tuple[int, list[bytes]]], list[str | bytes]]:
    """Messages (opcode, compressed fragments) from one deflater with context takeover, and what they say."""
    sender = PerMessageDeflateCodec(None, False)
    text = ("\u00e9t\u00e9 \u2603 " * 150_000).encode()  # multi-byte characters across the 1 MiB steps
    random_bytes = os.urandom(300_000)
    plain = [
        (0x1, [text]),
        (0x2, [random_bytes[:100_000], random_bytes[100_000:], b""]),
        (0x2, [bytes(3 * 1024 * 1024)]),
        (0x1, [b"short", b" and sweet"]),
        (0x2, [b""]),
        (0x1, [b"short and sweet"]),  # a back-reference into the message before last
    ]
    compressed = [
        (opcode, [sender.compress(piece, i == len(pieces) - 1) for i, piece in enumerate(pieces)])
        for opcode, pieces in plain
    ]
    expected = [b"".join(pieces) for _, pieces in plain]
    return compressed, [m.decode() if opcode == 0x1 else m for (opcode, _), m in zip(plain, expected)]


@pytest.mark.parametrize("budgeted", [False, True], ids=["without", "with"])
def test_compressed_messages_come_out_the_same_with_and_without_a_budget(budgeted):
    budget = MessageBudget(64 * 1024 * 1024)
    options = StreamOptions()
    options.permessage_deflate = PerMessageDeflateCodec(None, False)
    if budgeted:
        options.message_budget = budget.account()
    assembler = MessageAssembler(options)
    received = []
    messages, expected = _compressed_messages()
    for opcode, fragments in messages:
        for i, fragment in enumerate(fragments):
            fin = int(i == len(fragments) - 1)
            assembler.start(header(opcode if i == 0 else CONTINUATION, len(fragment), fin=fin, rsv1=int(i == 0)))
            if fin:
                received.append(assembler.finish(fragment))
            else:
                assembler.feed(fragment, False)
    assert received == expected
    assert budget.held() == 0


# -- the memory budget through the server ---------------------------------------------

BUDGET = 1024 * 1024


@pytest.fixture
def budget_server(caplog):
    args = ("-d", EXAMPLE_DIR, "--max-incoming-memory", str(BUDGET))
    with caplog.at_level(logging.INFO), running_server(*args) as server:
        yield server


def test_message_beyond_the_server_memory_budget_closes_with_1013_and_is_logged(budget_server, caplog):
    budget = budget_server.server.message_budget
    holder, holder_frames = ws_open(budget_server.port)
    with holder:
        holder.sendall(client_frame(BINARY, b"h" * 400_000, fin=False))
        wait_for(lambda: budget.held() == 400_000, what="the first message to be charged")
        refused, refused_frames = ws_open(budget_server.port)
        with refused:
            refused.sendall(client_frame(BINARY, b"r" * 700_000))
            assert refused_frames.close_code() == 1013
        holder.sendall(client_frame(CONTINUATION, b"!"))
        assert holder_frames.frame() == (True, BINARY, b"h" * 400_000 + b"!")
    wait_for(lambda: budget.held() == 0, what="the budget to be given back")
    assert records(caplog, "WARNING", "incoming messages hold 400000 of the 1048576 bytes allowed")
    sock, frames = ws_open(budget_server.port)
    with sock:
        sock.sendall(client_frame(BINARY, b"r" * 700_000))
        assert frames.frame() == (True, BINARY, b"r" * 700_000)


@pytest.mark.parametrize("ending", ["fin", "reset"])
def test_memory_held_by_a_connection_that_ends_mid_message_is_given_back(budget_server, ending):
    budget = budget_server.server.message_budget
    sock, _ = ws_open(budget_server.port)
    with sock:
        sock.sendall(client_frame(BINARY, b"h" * 700_000, fin=False))
        wait_for(lambda: budget.held() == 700_000, what="the message to be charged")
        if ending == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    wait_for(lambda: budget.held() == 0, what="the budget to be given back")


@pytest.mark.parametrize(
    ("extension", "fin"),
    [("permessage-deflate", False), ("deflate-frame", False), ("deflate-frame", True)],
    ids=["permessage-deflate", "deflate-frame-fragment", "deflate-frame"],
)
def test_deflate_clients_cannot_make_the_server_hold_more_than_its_budget(extension, fin):
    # The amplification: each client's 48 MiB message arrives as 48 KiB of
    # DEFLATE (and stays in progress); without a budget 8 of them hold 384 MiB.
    limit_mib, clients, message_mib = 32, 8, 48
    fragment = deflate_bomb(message_mib * 1024 * 1024)
    with ServerProcess("-d", EXAMPLE_DIR, "--max-incoming-memory", str(limit_mib << 20)) as server:
        assert echo_works(server.port)
        before = server.status_kib("VmHWM")
        sockets, codes = [], []
        try:
            for _ in range(clients):
                sock, frames = ws_open(server.port, extra=f"Sec-WebSocket-Extensions: {extension}\r\n")
                sockets.append((sock, frames))
                sock.sendall(client_frame(BINARY, fragment, fin=fin, rsv1=True))
            for _, frames in sockets:
                codes.append(frames.close_code())
            grown_mib = (server.status_kib("VmHWM") - before) / 1024
        finally:
            for sock, _ in sockets:
                sock.close()
        # No message fits; each is refused once it reaches the budget.
        assert codes == [1013] * clients
        # The budget, plus the connections' own buffers, zlib states and threads
        # (about 42 MiB in all when the machine is idle, 48 under load).
        assert grown_mib < limit_mib + 24, f"peak RSS grew by {grown_mib:.0f} MiB"
        assert "a message asking for" in server.log_text()
        assert echo_works(server.port)


def test_max_incoming_memory_defaults_to_512_mib_and_must_be_positive(capsys):
    assert _standalone_options.build_parser().parse_args([]).max_incoming_memory == 512 << 20
    with pytest.raises(SystemExit) as info:
        _standalone_options.parse_args(_standalone_options.build_parser(), ["--max-incoming-memory", "0"])
    assert info.value.code == 2
    assert "--max-incoming-memory: expected a positive number, not 0" in capsys.readouterr().err


# -- connections over --max-connections --------------------------------------------------


def silent_connections(port: int, count: int) -> list[socket.socket]:
    return [open_socket(port) for _ in range(count)]


def test_connection_over_the_limit_gets_503_as_soon_as_its_request_starts():
    with running_server("-d", EXAMPLE_DIR, "--max-connections", "1", "--handshake-timeout", "30") as server:
        with open_socket(server.port) as served:
            wait_for(lambda: server.server.connection_count() == 1, what="the first connection")
            with open_socket(server.port) as refused:
                time.sleep(0.2)
                started = time.monotonic()
                refused.sendall(GET_ROOT[:4])  # the rest never comes
                head, body = read_head(refused, started + 2.0)
                body += read_until_eof(refused, started + 2.0 + _standalone_admission.LINGER_SECONDS)
                answered = time.monotonic() - started
            assert answered < 1.0 + _standalone_admission.LINGER_SECONDS
            assert status_of(head) == 503
            assert b"\r\nRetry-After: 5\r\n" in head and b"\r\nConnection: close\r\n" in head
            assert body == b"too many connections\n"
            served.sendall(GET_ROOT)
            assert status_of(read_head(served, time.monotonic() + TIMEOUT)[0]) == 200


def test_connection_that_gets_no_thread_is_answered_503_and_the_next_one_is_served(monkeypatch, caplog):
    with running_server("-d", EXAMPLE_DIR) as server:
        threads = server.server.connection_threads
        serve = threads.serve
        failures = []

        def serve_once_without_a_thread(sock, address, name):
            if not failures:
                failures.append(name)
                raise RuntimeError("can't start new thread")
            serve(sock, address, name)

        monkeypatch.setattr(threads, "serve", serve_once_without_a_thread)
        with caplog.at_level(logging.ERROR, logger="mod_pywebsocket.standalone"), open_socket(server.port) as refused:
            refused.sendall(GET_ROOT)
            head, body = read_head(refused, time.monotonic() + TIMEOUT)
            body += read_until_eof(refused, time.monotonic() + TIMEOUT)
        assert status_of(head) == 503 and b"\r\nRetry-After: 5\r\n" in head
        assert body == b"too many connections\n"
        assert [r.getMessage().split(" - ", 1)[1] for r in caplog.records if "thread" in r.getMessage()] == [
            "cannot start a thread: can't start new thread"
        ]
        wait_for(lambda: server.server.connection_count() == 0, what="the refused connection's release")
        assert echo_works(server.port)


def test_connection_over_the_limit_that_sends_nothing_is_closed_at_the_handshake_timeout():
    with running_server("-d", EXAMPLE_DIR, "--max-connections", "1", "--handshake-timeout", "1") as server:
        with open_socket(server.port) as served, open_socket(server.port) as refused:
            started = time.monotonic()
            assert read_until_eof(refused, started + 5.0) == b""
            assert 0.9 < time.monotonic() - started < 3.0
            assert read_until_eof(served, started + 5.0) == b""
        wait_for(lambda: server.server.refuser.held_count() == 0, what="the refuser to let go")


@pytest.fixture
def descriptors_for_2000():
    """Raise this process's descriptor limit to 4096 for the test (clients and server share it)."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the descriptor limit's hard value {hard} is under {wanted}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_thousands_of_silent_connections_do_not_keep_clients_from_their_503(caplog, descriptors_for_2000):
    with (
        caplog.at_level(logging.INFO),
        running_server("-d", EXAMPLE_DIR, "--max-connections", "4", "--handshake-timeout", "60") as server,
    ):
        silent = silent_connections(server.port, 4)
        try:
            wait_for(lambda: server.server.connection_count() == 4, what="the served slots to fill")
            silent += silent_connections(server.port, 1000)
            for _ in range(3):
                started = time.monotonic()
                with open_socket(server.port) as client:
                    client.sendall(GET_ROOT)
                    head, body = read_head(client, started + 2.0)
                    body += read_until_eof(client, started + 2.0 + _standalone_admission.LINGER_SECONDS)
                assert status_of(head) == 503, head
                assert body == b"too many connections\n"
                assert time.monotonic() - started < 2.0
            with pytest.raises(InvalidStatus) as info:
                connect(server.url("/echo"), open_timeout=TIMEOUT, proxy=None)
            assert info.value.response.status_code == 503
            assert server.server.refuser.held_count() <= 256
        finally:
            for sock in silent:
                sock.close()
        wait_for(lambda: server.server.connection_count() == 0, what="the served slots to empty")
        assert echo_works(server.port)
    assert len(records(caplog, "WARNING", "4 connections are being served (--max-connections)")) == 1
    assert records(caplog, "INFO", "admitting connections again; ")


def test_tls_connection_over_the_limit_gets_503_after_its_tls_handshake(pki):
    args = ["-d", EXAMPLE_DIR, "--max-connections", "1", "--handshake-timeout", "30", *pki.server_args()]
    with running_server(*args) as server:
        context = pki.client_context()
        with open_socket(server.port) as served:
            wait_for(lambda: server.server.connection_count() == 1, what="the first connection")
            silent = silent_connections(server.port, 300)
            try:
                with context.wrap_socket(open_socket(server.port), server_hostname="127.0.0.1") as client:
                    client.sendall(GET_ROOT)
                    head, body = read_head(client, time.monotonic() + 5.0)
                    with contextlib.suppress(ssl.SSLError, OSError):
                        body += read_until_eof(client, time.monotonic() + 5.0)
            finally:
                for sock in silent:
                    sock.close()
            assert status_of(head) == 503
            assert body == b"too many connections\n"
            served.close()


# -- accept failing for lack of file descriptors --------------------------------------------


def test_resource_errors_are_told_from_clients_that_left():
    def error(number: int) -> OSError:
        return OSError(number, os.strerror(number))

    resources = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
    assert all(_standalone_admission.is_resource_error(error(n)) for n in resources)
    assert not any(
        _standalone_admission.is_resource_error(error(n)) for n in (errno.ECONNABORTED, errno.EAGAIN, errno.EBADF)
    )


def test_accept_backoff_doubles_its_pause_up_to_half_a_second_and_logs_one_line_per_episode(caplog):
    now = [100.0]
    backoff = _standalone_admission.AcceptBackoff(clock=lambda: now[0])
    emfile = OSError(errno.EMFILE, "Too many open files")
    assert backoff.paused_for() == 0.0
    pauses = []
    with caplog.at_level(logging.INFO):
        for _ in range(8):
            backoff.failed(emfile)
            pauses.append(round(backoff.paused_for(), 6))
            now[0] += pauses[-1]
        assert backoff.paused_for() == 0.0
        now[0] += 0.25
        backoff.succeeded()
        backoff.succeeded()
    assert pauses == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5, 0.5]
    assert [r.getMessage() for r in caplog.records] == [
        "cannot accept connections: Too many open files; pausing accept (retried every 0.01 to 0.5 s) "
        "until it works again",
        "accepting connections again after 1.9 s (8 failed attempts)",
    ]


# Runs the server with a soft limit of NOFILE descriptors (the issue's `ulimit -n`).
_LIMITED = (
    "import resource, runpy, sys\n"
    "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv.pop(1)), hard))\n"
    "runpy.run_module('mod_pywebsocket.standalone', run_name='__main__', alter_sys=True)\n"
)
NOFILE = 64


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_accept_out_of_file_descriptors_backs_off_logs_once_and_recovers():
    command = (sys.executable, "-c", _LIMITED, str(NOFILE))
    with ServerProcess("-d", EXAMPLE_DIR, "--handshake-timeout", "60", command=command) as server:
        assert echo_works(server.port)
        clients = silent_connections(server.port, NOFILE - server.fd_count() + 1)
        try:
            wait_for(lambda: server.fd_count() >= NOFILE, what="the server to run out of descriptors")
            waiting = silent_connections(server.port, 3)  # in the listen backlog
            time.sleep(0.2)
            clients += waiting
            before = cpu_seconds(server.pid)
            time.sleep(2.0)
            used = cpu_seconds(server.pid) - before
            assert used < 0.1, f"the server used {used:.2f} s of CPU in 2 s while out of descriptors"
            assert server.log_text().count("cannot accept connections: Too many open files") == 1
            for sock in clients[:-3]:
                sock.close()
            waiting[0].sendall(GET_ROOT)
            assert status_of(read_head(waiting[0], time.monotonic() + 5.0)[0]) == 200
        finally:
            for sock in clients:
                sock.close()
        wait_for(lambda: "accepting connections again" in server.log_text(), what="the recovery line")
        assert echo_works(server.port)
