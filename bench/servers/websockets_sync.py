"""websockets (threaded, sync implementation) echo server for the benchmark.

    python bench/servers/websockets_sync.py [--port 0] [--no-compression]

Library defaults except: no keepalive pings and a 64 MiB message limit, as
in websockets_asyncio.py. One thread per connection. Prints
``listening on 127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import resource
import sys

from websockets.sync.server import serve


def echo(websocket):  # type: ignore[no-untyped-def]
    for message in websocket:
        websocket.send(message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-compression", action="store_true")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with serve(
        echo,
        "127.0.0.1",
        args.port,
        compression=None if args.no_compression else "deflate",
        ping_interval=None,
        max_size=64 * 1024 * 1024,
    ) as server:
        print(f"listening on 127.0.0.1:{server.socket.getsockname()[1]}", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
