"""websockets echo server for the benchmark, its asyncio or its threaded (sync) implementation.

    python bench/servers/websockets_echo.py asyncio|sync [--port 0] [--no-compression]

Library defaults except: no keepalive pings (held idle connections would
otherwise be dropped by the benchmark's silent clients) and a 64 MiB message
limit (mod_pywebsocket's default). permessage-deflate is offered by default,
and used only when the client asks for it. The sync server runs one thread
per connection. Prints ``listening on 127.0.0.1:PORT``. The open-file
limit is the one it inherits (the benchmark raises its own first).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import websockets.asyncio.server
import websockets.sync.server

__all__ = ["main"]


async def _echo_async(websocket: Any) -> None:
    async for message in websocket:
        await websocket.send(message)


def _echo_sync(websocket: Any) -> None:
    for message in websocket:
        websocket.send(message)


async def _serve_async(port: int, options: dict[str, Any]) -> None:
    async with websockets.asyncio.server.serve(_echo_async, "127.0.0.1", port, **options) as server:
        print(f"listening on 127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().create_future()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("implementation", choices=("asyncio", "sync"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-compression", action="store_true")
    args = parser.parse_args(argv)
    options: dict[str, Any] = {
        "compression": None if args.no_compression else "deflate",
        "ping_interval": None,
        "max_size": 64 * 1024 * 1024,
    }
    if args.implementation == "asyncio":
        asyncio.run(_serve_async(args.port, options))
        return 0
    with websockets.sync.server.serve(_echo_sync, "127.0.0.1", args.port, **options) as server:
        print(f"listening on 127.0.0.1:{server.socket.getsockname()[1]}", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
