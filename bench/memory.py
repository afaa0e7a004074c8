"""Where the standalone server's memory per open connection goes (bench tool).

Runs ``mod_pywebsocket.standalone.WebSocketServer`` in this process with
tracemalloc on, has a child process open N idle WebSockets to /echo, and
prints the RSS growth per connection next to what tracemalloc attributes to
Python allocations (by source line). The rest of the RSS growth is memory
Python does not trace: thread stacks, and C buffers such as the kernel's
socket buffers are not in RSS at all.

    .venv-bench/bin/python bench/memory.py [--count 1000] [--top 15]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from mod_pywebsocket import standalone  # noqa: E402

_CLIENT = """
import sys
sys.path.insert(0, {bench!r})
import loadgen
held = []
loadgen.open_many(loadgen.Target("127.0.0.1", {port}, "/echo"), {count}, window=64, into=held)
print("open", flush=True)
sys.stdin.read()
loadgen.close_many(held)
"""


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    options = standalone.parse_options(
        ["-H", "127.0.0.1", "-p", "0", "-d", str(REPO / "example"), "--log-level", "warning"]
        + (["--max-connections", "20000"] if "--max-connections" in standalone.build_parser().format_help() else [])
    )
    tracemalloc.start(12)
    server = standalone.WebSocketServer(options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    port = server.server_address[1]
    # Warm up: one connection through the whole path, so lazy imports and caches are done.
    warm = subprocess.run(
        [sys.executable, "-c", _CLIENT.format(bench=str(BENCH), port=port, count=8)],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "open" in warm.stdout, warm.stderr
    time.sleep(0.5)
    before_snapshot = tracemalloc.take_snapshot()
    before_rss = _rss_kib()
    threads_before = threading.active_count()
    client = subprocess.Popen(
        [sys.executable, "-c", _CLIENT.format(bench=str(BENCH), port=port, count=args.count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None and client.stdin is not None
    if client.stdout.readline().strip() != "open":
        raise SystemExit("the client failed to open its connections")
    time.sleep(1.0)
    after_snapshot = tracemalloc.take_snapshot()
    after_rss = _rss_kib()
    threads_after = threading.active_count()
    client.stdin.close()
    client.wait(60)
    server.shutdown()
    server.server_close()

    stats = after_snapshot.compare_to(before_snapshot, "lineno")
    traced = sum(stat.size_diff for stat in stats)
    n = args.count
    print(f"{n} idle WebSockets: {threads_after - threads_before} more threads")
    print(f"RSS growth: {(after_rss - before_rss) / n:.1f} KiB per connection (tracemalloc's own overhead included)")
    print(f"Python allocations still alive (tracemalloc): {traced / 1024 / n:.1f} KiB per connection")
    print(f"\nTop {args.top} source lines by memory per connection:")
    for stat in stats[: args.top]:
        frame = stat.traceback[0]
        where = frame.filename.replace(str(REPO) + "/", "")
        if "/lib/python3" in where:
            where = where.split("/lib/python3", 1)[1].split("/", 1)[-1]
        print(f"  {stat.size_diff / n:8.0f} B  {stat.count_diff / n:5.1f} blocks  {where}:{frame.lineno}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
