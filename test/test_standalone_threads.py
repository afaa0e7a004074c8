"""The standalone server's connection threads: a thread whose connection ended serves the next one.

``ConnectionThreads`` is driven directly with a serving function that
records which thread ran each connection; the last tests run a real
server and WebSocket clients.
"""

from __future__ import annotations

import contextlib
import threading

import pytest

from mod_pywebsocket import _standalone_threads
from mod_pywebsocket._standalone_threads import ConnectionThreads
from test.conftest import running_server
from test.wire import TIMEOUT, wait_until, ws_connect


class _Recorder:
    """A serving function: notes (connection, thread, thread name), then waits for ``release`` if told to."""

    def __init__(self) -> None:
        self.served: list[tuple[object, threading.Thread, str]] = []
        self.release: dict[object, threading.Event] = {}
        self.done = threading.Semaphore(0)

    def __call__(self, sock: object, address: object) -> None:
        thread = threading.current_thread()
        self.served.append((sock, thread, thread.name))
        gate = self.release.get(sock)
        if gate is not None:
            assert gate.wait(TIMEOUT)
        self.done.release()

    def serve_held(self, pool: ConnectionThreads, names) -> dict[str, threading.Event]:
        """Serve one connection per name on ``pool``, each held until its gate is set; return the gates."""
        gates = {name: threading.Event() for name in names}
        self.release.update(gates)
        for name in names:
            pool.serve(name, None, name)
        assert wait_until(lambda: len(self.served) == len(gates))
        return gates

    def wait_done(self, count: int = 1) -> None:
        for _ in range(count):
            assert self.done.acquire(timeout=TIMEOUT)


@pytest.fixture
def recorder():
    return _Recorder()


@pytest.fixture
def threads(recorder):
    pool = ConnectionThreads(recorder, idle_seconds=TIMEOUT)
    yield pool
    pool.close()


def test_a_connection_after_one_ended_runs_on_the_same_thread_named_for_it(threads, recorder):
    threads.serve("first", ("127.0.0.1", 1), "connection 127.0.0.1:1")
    recorder.wait_done()
    assert wait_until(lambda: threads.idle_count() == 1)
    threads.serve("second", ("127.0.0.1", 2), "connection 127.0.0.1:2")
    recorder.wait_done()
    (first, first_thread, first_name), (second, second_thread, second_name) = recorder.served
    assert (first, second) == ("first", "second")
    assert first_thread is second_thread
    assert (first_name, second_name) == ("connection 127.0.0.1:1", "connection 127.0.0.1:2")
    assert wait_until(lambda: threads.idle_count() == 1)


def test_a_connection_while_every_thread_is_busy_gets_a_new_thread(threads, recorder):
    recorder.release["busy"] = gate = threading.Event()
    threads.serve("busy", None, "connection busy")
    assert wait_until(lambda: len(recorder.served) == 1)
    threads.serve("other", None, "connection other")
    recorder.wait_done()
    gate.set()
    recorder.wait_done()
    assert [sock for sock, _, _ in recorder.served] == ["busy", "other"]
    assert recorder.served[0][1] is not recorder.served[1][1]
    assert wait_until(lambda: threads.idle_count() == 2)


def test_the_most_recently_idle_thread_serves_the_next_connection(threads, recorder):
    recorder.release["a"] = gate_a = threading.Event()
    recorder.release["b"] = gate_b = threading.Event()
    threads.serve("a", None, "a")
    threads.serve("b", None, "b")
    assert wait_until(lambda: len(recorder.served) == 2)
    gate_a.set()
    recorder.wait_done()
    assert wait_until(lambda: threads.idle_count() == 1)
    gate_b.set()
    recorder.wait_done()
    assert wait_until(lambda: threads.idle_count() == 2)
    threads.serve("c", None, "c")
    recorder.wait_done()
    by = {sock: thread for sock, thread, _ in recorder.served}
    assert by["c"] is by["b"]
    assert by["c"] is not by["a"]


def test_threads_idle_over_idle_seconds_exit_two_at_a_time_when_another_becomes_idle(recorder):
    now = [100.0]
    pool = ConnectionThreads(recorder, idle_seconds=60.0, clock=lambda: now[0])
    try:
        gates = recorder.serve_held(pool, "abcd")
        for ended, name in enumerate("abc", 1):  # idle at 100 s
            gates[name].set()
            recorder.wait_done()
            assert wait_until(lambda ended=ended: pool.idle_count() == ended)
        by = {sock: thread for sock, thread, _ in recorder.served}
        now[0] = 160.0  # not over 60 s yet: nobody exits
        gates["d"].set()
        recorder.wait_done()
        assert wait_until(lambda: pool.idle_count() == 4)
        assert all(by[name].is_alive() for name in "abcd")
        now[0] = 160.5  # a, b, c over 60 s: the next one idle retires the two oldest
        pool.serve("e", None, "e")  # d (the most recently idle) serves it
        recorder.wait_done()
        assert recorder.served[-1][1] is by["d"]
        assert wait_until(lambda: pool.idle_count() == 2)
        for name in "ab":
            by[name].join(TIMEOUT)
            assert not by[name].is_alive()
        assert by["c"].is_alive()
    finally:
        pool.close()


def test_close_ends_idle_threads_at_once_and_busy_ones_when_their_connection_ends(recorder):
    pool = ConnectionThreads(recorder, idle_seconds=TIMEOUT)
    recorder.release["busy"] = gate = threading.Event()
    pool.serve("idle", None, "idle")
    recorder.wait_done()
    pool.serve("busy", None, "busy")  # the idle thread takes it
    assert wait_until(lambda: len(recorder.served) == 2)
    pool.serve("third", None, "third")
    recorder.wait_done()
    assert wait_until(lambda: pool.idle_count() == 1)
    busy_worker, idle_worker = recorder.served[1][1], recorder.served[2][1]
    assert busy_worker is recorder.served[0][1]
    assert idle_worker is not busy_worker
    pool.close()
    assert pool.idle_count() == 0
    idle_worker.join(TIMEOUT)
    assert not idle_worker.is_alive()
    assert busy_worker.is_alive()
    gate.set()
    busy_worker.join(TIMEOUT)
    assert not busy_worker.is_alive()
    assert pool.idle_count() == 0


def test_shrink_ends_all_idle_threads_but_the_most_recently_idle(threads, recorder):
    gates = recorder.serve_held(threads, "abcd")
    for ended, name in enumerate("abcd", 1):  # they end in this order: d is the most recently idle
        gates[name].set()
        recorder.wait_done()
        assert wait_until(lambda ended=ended: threads.idle_count() == ended)
    by = {sock: thread for sock, thread, _ in recorder.served}
    threads.shrink(2)
    assert threads.idle_count() == 2
    for name in "ab":
        by[name].join(TIMEOUT)
        assert not by[name].is_alive()
    assert by["c"].is_alive() and by["d"].is_alive()
    threads.shrink(2)  # nothing beyond: no change
    assert threads.idle_count() == 2


def test_when_no_thread_is_busy_the_idle_ones_beyond_the_spares_exit_then_on_idle_runs(recorder):
    spare = _standalone_threads.SPARE_WHEN_IDLE
    seen: list[tuple[int, list[bool]]] = []
    pool = ConnectionThreads(
        recorder,
        idle_seconds=TIMEOUT,
        on_idle=lambda: seen.append((pool.idle_count(), [thread.is_alive() for _, thread, _ in recorder.served])),
    )
    try:
        names = [f"c{number}" for number in range(spare + 3)]
        gates = recorder.serve_held(pool, names)
        for name in names[:-1]:
            gates[name].set()
            recorder.wait_done()
        assert wait_until(lambda: pool.idle_count() == len(names) - 1)
        assert seen == []  # one is still busy
        gates[names[-1]].set()
        recorder.wait_done()
        assert wait_until(lambda: len(seen) == 1)
        # c0, c1, c2 (idle the longest) had exited when on_idle ran.
        assert seen == [(spare, [False] * 3 + [True] * spare)]
    finally:
        pool.close()


def test_a_thread_whose_connection_ended_first_but_parks_last_is_the_one_that_retires_the_rest(recorder):
    spare = _standalone_threads.SPARE_WHEN_IDLE
    in_park = threading.Event()
    let_park = threading.Event()
    idle_calls: list[int] = []

    class SlowToPark(ConnectionThreads):
        def park(self, thread):
            if thread.name == "slow" and not let_park.is_set():
                in_park.set()
                assert let_park.wait(TIMEOUT)
            return super().park(thread)

    pool = SlowToPark(recorder, idle_seconds=TIMEOUT, on_idle=lambda: idle_calls.append(pool.idle_count()))
    try:
        names = ["slow"] + [f"c{number}" for number in range(spare + 2)]
        gates = recorder.serve_held(pool, names)
        gates["slow"].set()  # its connection ends first, its thread parks last
        assert in_park.wait(TIMEOUT)
        for name in names[1:]:
            gates[name].set()
            recorder.wait_done(1)
        assert wait_until(lambda: pool.idle_count() == len(names) - 1)
        assert idle_calls == []  # "slow" still counts as busy
        let_park.set()
        assert wait_until(lambda: idle_calls == [spare])
        assert pool.idle_count() == spare
    finally:
        let_park.set()
        pool.close()


def test_idle_seconds_default_is_a_minute():
    assert _standalone_threads.IDLE_SECONDS == 60.0
    assert ConnectionThreads(lambda sock, address: None).idle_seconds == 60.0


def test_websocket_connections_one_after_another_share_one_server_thread(site):
    with running_server("-d", site) as server:
        for number in range(3):
            with ws_connect(server.url("/echo")) as ws:
                ws.send(str(number))
                assert ws.recv(timeout=TIMEOUT) == str(number)
            assert wait_until(lambda: server.server.connection_count() == 0)
            assert wait_until(lambda: server.server.connection_threads.idle_count() == 1)
    assert server.server.connection_threads.idle_count() == 0  # server_close ended it


def test_idle_threads_beyond_the_spare_ones_exit_once_the_last_connection_ends(site):
    count = _standalone_threads.SPARE_WHEN_IDLE + 4
    with running_server("-d", site) as server, contextlib.ExitStack() as stack:
        clients = [stack.enter_context(ws_connect(server.url("/echo"))) for _ in range(count)]
        for ws in clients[:-1]:  # all but one end: their threads wait idle
            ws.close()
        assert wait_until(lambda: server.server.connection_threads.idle_count() == count - 1)
        clients[-1].close()
        assert wait_until(lambda: server.server.connection_count() == 0)
        assert wait_until(lambda: server.server.connection_threads.idle_count() == _standalone_threads.SPARE_WHEN_IDLE)
