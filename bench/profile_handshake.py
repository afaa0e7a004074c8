"""Deterministic profile of the standalone server's opening handshake (bench tool).

py-spy cannot separate the opening handshake from the closing one in the
``handshake`` scenario, and hundreds of blocked threads blur its samples.
This runs ``mod_pywebsocket.standalone.WebSocketServer`` in this process,
gives every connection thread its own ``cProfile`` from accept to the start
of ``transfer_data`` (the 101 is out then), profiles the accept loop too,
has a child process open N WebSockets (32 at once), and prints the
functions by cumulative and by own time per connection.

    .venv-bench/bin/python bench/profile_handshake.py [--count 1000] [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from mod_pywebsocket import standalone  # noqa: E402

_CLIENT = """
import sys, time
sys.path.insert(0, {bench!r})
import loadgen
held = []
result = loadgen.open_many(loadgen.Target("127.0.0.1", {port}, "/echo"), {count}, window=32, into=held)
print(f"{{result['value']:.0f}}", flush=True)
loadgen.close_many(held)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    options = standalone.parse_options(
        ["-H", "127.0.0.1", "-p", "0", "-d", str(REPO / "example"), "--log-level", "warning"]
        + (["--max-connections", "20000"] if "--max-connections" in standalone.build_parser().format_help() else [])
    )
    server = standalone.WebSocketServer(options)
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    active = threading.local()
    serve_connection = server._serve_connection
    transfer_data = server.dispatcher.transfer_data

    def profiled_serve_connection(*a, **k):  # type: ignore[no-untyped-def]
        profile = cProfile.Profile()
        with lock:
            profiles.append(profile)
        active.profile = profile
        profile.enable()
        try:
            return serve_connection(*a, **k)
        finally:
            profile.disable()

    def unprofiled_transfer_data(request):  # type: ignore[no-untyped-def]
        profile = getattr(active, "profile", None)
        if profile is not None:
            profile.disable()
        return transfer_data(request)

    server._serve_connection = profiled_serve_connection  # type: ignore[method-assign]
    server.dispatcher.transfer_data = unprofiled_transfer_data  # type: ignore[method-assign]
    accept_profile = cProfile.Profile()

    def serve() -> None:
        accept_profile.enable()
        server.serve_forever(poll_interval=0.2)
        accept_profile.disable()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = server.server_address[1]
    output = subprocess.run(
        [sys.executable, "-c", _CLIENT.format(bench=str(BENCH), port=port, count=args.count)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    time.sleep(0.5)
    server.shutdown()
    thread.join(5)
    server.server_close()
    stats = pstats.Stats(accept_profile, stream=io.StringIO())
    for profile in profiles:
        stats.add(profile)
    n = args.count
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"{n} handshakes at {output.stdout.strip()}/s under cProfile; profiled CPU {total / n * 1e6:.0f} µs each")
    for key, title in (("cumulative", "cumulative"), ("tottime", "own")):
        print(f"\nTop {args.top} by {title} time, µs per connection:")
        rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][3 if key == "cumulative" else 2])  # type: ignore[attr-defined]
        for (filename, line, name), (cc, nc, tt, ct, _) in rows[: args.top]:
            where = filename.replace(str(REPO) + "/", "")
            if "/lib/python3" in where:
                where = where.split("/lib/python3", 1)[1].split("/", 1)[-1]
            value = ct if key == "cumulative" else tt
            print(f"  {value / n * 1e6:7.1f}  {nc / n:6.1f} calls  {name} ({where}:{line})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
