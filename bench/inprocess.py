"""Our standalone server in this process, looked at from inside (bench tool).

py-spy (``python -m bench --profile``) and /proc see the server from
outside. Here ``mod_pywebsocket.standalone.WebSocketServer`` runs in this
process while a child process (the load generator) opens N WebSockets to
``/echo``:

- ``memory``: tracemalloc is on; the N connections are held idle, and the
  RSS growth per connection is printed next to what tracemalloc attributes
  to Python allocations, by source line. The rest of the RSS growth is
  memory Python does not trace (thread stacks); the kernel's socket buffers
  are not in RSS at all.
- ``phases``: the CPU time each step of an opening handshake takes, per
  connection, in a burst of N (32 at a time; the server on one CPU, the
  load generator on another): the accept loop's, then each connection
  thread's, read from its own CPU clock at the start of each step.
- ``handshake``: each connection thread gets its own ``cProfile`` from
  accept to the start of ``transfer_data`` (the 101 is out then), the
  accept loop one too; N connections are opened 32 at a time and the
  functions are printed by cumulative and by own time per connection. py-spy
  cannot tell the opening handshake from the closing one, and hundreds of
  blocked threads blur its samples.

Run from the repository root::

    .venv-bench/bin/python -m bench.inprocess memory [--count 1000] [--top 15]
    .venv-bench/bin/python -m bench.inprocess handshake [--count 1000] [--top 25]
    .venv-bench/bin/python -m bench.inprocess phases [--count 1000]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench import REPO
from bench.processes import vm_rss_kib
from mod_pywebsocket import handshake as handshakes
from mod_pywebsocket import standalone

__all__ = ["main"]

# The child: opens COUNT WebSockets, WINDOW at a time, prints the opening
# rate, holds them until its stdin closes. Started with the repository root
# as its working directory, so that "bench" imports.
_CLIENT = """
import sys
from bench import loadgen
held = []
opened = loadgen.open_many(loadgen.Target("127.0.0.1", {port}, "/echo"), {count}, window={window}, into=held)
print(f"{{opened['value']:.0f}}", flush=True)
sys.stdin.read()
loadgen.close_many(held)
"""


# How many opening handshakes are in progress at once in ``handshake`` and ``phases``.
_BURST = 32


def _clients(port: int, count: int, window: int) -> subprocess.Popen[str]:
    code = _CLIENT.format(port=port, count=count, window=window)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def _opened(clients: subprocess.Popen[str]) -> str:
    """Wait until the child has opened its connections; return its opening rate."""
    assert clients.stdout is not None
    rate = clients.stdout.readline().strip()
    if not rate:
        raise SystemExit("the client failed to open its connections")
    return rate


def _warm_up(port: int, count: int, window: int) -> None:
    """Open ``count`` connections and close them, so that lazy imports and caches are done."""
    clients = _clients(port, count, window)
    _opened(clients)
    _release(clients)
    time.sleep(0.5)


def _release(clients: subprocess.Popen[str]) -> None:
    assert clients.stdin is not None
    clients.stdin.close()
    clients.wait(120)


def _where(filename: str) -> str:
    where = filename.replace(str(REPO) + "/", "")
    if "/lib/python3" in where:
        where = where.split("/lib/python3", 1)[1].split("/", 1)[-1]
    return where


def _server() -> standalone.WebSocketServer:
    argv = ["-H", "127.0.0.1", "-p", "0", "-d", str(REPO / "example"), "--log-level", "warning"]
    return standalone.WebSocketServer(standalone.parse_options([*argv, "--max-connections", "20000"]))


def _serve(server: standalone.WebSocketServer, around: Callable[[], Any] | None = None) -> threading.Thread:
    def run() -> None:
        if around is None:
            server.serve_forever(poll_interval=0.2)
        else:
            with around():
                server.serve_forever(poll_interval=0.2)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _stop(server: standalone.WebSocketServer, thread: threading.Thread) -> None:
    server.shutdown()
    thread.join(5)
    server.server_close()


def _state() -> tuple[tracemalloc.Snapshot, int, int]:
    """What tracemalloc traces, the RSS in KiB and the thread count of this process, now."""
    return tracemalloc.take_snapshot(), vm_rss_kib(os.getpid()), threading.active_count()


def memory(count: int, top: int) -> None:
    """Print the RSS and the Python allocations per idle connection."""
    tracemalloc.start(12)
    server = _server()
    thread = _serve(server)
    port = server.server_address[1]
    _warm_up(port, 8, 64)
    before_snapshot, before_rss, threads_before = _state()
    clients = _clients(port, count, 64)
    _opened(clients)
    time.sleep(1.0)
    after_snapshot, after_rss, threads_after = _state()
    _release(clients)
    _stop(server, thread)
    stats = after_snapshot.compare_to(before_snapshot, "lineno")
    traced = sum(stat.size_diff for stat in stats)
    print(f"{count} idle WebSockets: {threads_after - threads_before} more threads")
    print(
        f"RSS growth: {(after_rss - before_rss) / count:.1f} KiB per connection (tracemalloc's own overhead included)"
    )
    print(f"Python allocations still alive (tracemalloc): {traced / 1024 / count:.1f} KiB per connection")
    print(f"\nTop {top} source lines by memory per connection:")
    for stat in stats[:top]:
        frame = stat.traceback[0]
        where = _where(frame.filename)
        print(f"  {stat.size_diff / count:8.0f} B  {stat.count_diff / count:5.1f} blocks  {where}:{frame.lineno}")


def handshake(count: int, top: int) -> None:
    """Print a cProfile of accept + the opening handshake, per connection."""
    server = _server()
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    active = threading.local()
    serve_connection = server._serve_connection
    transfer_data = server.dispatcher.transfer_data

    def profiled_serve_connection(*a: Any, **k: Any) -> None:
        profile = cProfile.Profile()
        with lock:
            profiles.append(profile)
        active.profile = profile
        with profile:
            serve_connection(*a, **k)

    def unprofiled_transfer_data(request: Any) -> None:
        profile = getattr(active, "profile", None)
        if profile is not None:
            profile.disable()
        transfer_data(request)

    # The connection threads call what the server gave them when it was made.
    server.connection_threads.serve_connection = profiled_serve_connection
    server.dispatcher.transfer_data = unprofiled_transfer_data  # type: ignore[method-assign]
    accept_profile = cProfile.Profile()
    thread = _serve(server, lambda: accept_profile)
    clients = _clients(server.server_address[1], count, _BURST)
    rate = _opened(clients)
    _release(clients)
    time.sleep(0.5)
    _stop(server, thread)
    stats = pstats.Stats(accept_profile, stream=io.StringIO())
    for profile in profiles:
        stats.add(profile)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"{count} handshakes at {rate}/s under cProfile; profiled CPU {total / count * 1e6:.0f} µs each")
    for column, title in ((3, "cumulative"), (2, "own")):
        print(f"\nTop {top} by {title} time, µs per connection:")
        rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][column])  # type: ignore[attr-defined]
        for (filename, line, name), row in rows[:top]:
            print(
                f"  {row[column] / count * 1e6:7.1f}  {row[1] / count:6.1f} calls  {name} ({_where(filename)}:{line})"
            )


def phases(count: int) -> None:
    """Print the CPU each step of an opening handshake takes, per connection, in a burst.

    The server's process runs on one CPU and the load generator on another
    (when there are two), as in the benchmark. Each connection thread reads
    its own CPU clock at the start of each step; the accept loop's CPU and
    the process's are read around the burst.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[-1]})
    server = _server()
    steps: dict[str, list[float]] = {}
    local = threading.local()
    lock = threading.Lock()

    def mark(step: str) -> None:
        now = time.thread_time()
        with lock:
            steps.setdefault(step, []).append(now - local.last)
        local.last = now

    serve_connection = server.connection_threads.serve_connection
    read_request_head = standalone.WebSocketRequestHandler._read_request_head
    do_handshake = handshakes.do_handshake
    transfer_data = server.dispatcher.transfer_data

    def timed_serve_connection(*a: Any) -> None:
        new = not getattr(local, "seen", False)
        local.seen = True
        local.last = 0.0 if new else time.thread_time()
        mark("start of a new thread (0 for a reused one)")
        serve_connection(*a)

    def timed_read_request_head(handler: Any) -> bool:
        mark("connection set up, up to reading the request head")
        ready: bool = read_request_head(handler)
        mark("request head received and parsed")
        return ready

    def timed_do_handshake(*a: Any, **k: Any) -> None:
        mark("request admitted, up to the handshake")
        do_handshake(*a, **k)
        mark("opening handshake, its 101 sent")

    def timed_transfer_data(request: Any) -> None:
        mark("up to the handler's web_socket_transfer_data")
        transfer_data(request)

    server.connection_threads.serve_connection = timed_serve_connection
    handler_class = standalone.WebSocketRequestHandler
    setattr(handler_class, "_read_request_head", timed_read_request_head)  # noqa: B010
    handshakes.do_handshake = timed_do_handshake
    server.dispatcher.transfer_data = timed_transfer_data  # type: ignore[method-assign]
    try:
        thread = _serve(server)
        assert thread.ident is not None
        accept_clock = time.pthread_getcpuclockid(thread.ident)
        port = server.server_address[1]
        _warm_up(port, 64, _BURST)
        steps.clear()
        started = os.times()
        accept_started = time.clock_gettime(accept_clock)
        clients = _clients(port, count, _BURST)
        if len(cpus) > 1:
            os.sched_setaffinity(clients.pid, {cpus[0]})
        rate = _opened(clients)
        ended = os.times()
        accept_ended = time.clock_gettime(accept_clock)
        _release(clients)
        time.sleep(0.5)
        _stop(server, thread)
    finally:
        setattr(handler_class, "_read_request_head", read_request_head)  # noqa: B010
        handshakes.do_handshake = do_handshake
    process = (ended.user + ended.system - started.user - started.system) / count * 1e6
    accept = (accept_ended - accept_started) / count * 1e6
    print(f"{count} handshakes, {_BURST} at once, at {rate}/s: {process:.0f} µs of process CPU each while they opened")
    print(f"  accept loop (accept, admission, a thread started or woken): {accept:.0f} µs")
    print("  connection thread:")
    total = 0.0
    for step, values in steps.items():
        mean = sum(values) / len(values) * 1e6
        total += mean
        print(f"    {mean:6.0f} µs  {step}")
    print(f"    {total:6.0f} µs  in all")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("memory", "handshake", "phases"))
    parser.add_argument("--count", type=int, default=1000, help="connections (default 1000)")
    parser.add_argument("--top", type=int, default=None, help="lines of each table (default 15 memory, 25 handshake)")
    args = parser.parse_args(argv)
    if args.what == "memory":
        memory(args.count, args.top or 15)
    elif args.what == "phases":
        phases(args.count)
    else:
        handshake(args.count, args.top or 25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
