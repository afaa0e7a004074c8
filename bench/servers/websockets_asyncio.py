"""websockets (asyncio implementation) echo server for the benchmark.

    python bench/servers/websockets_asyncio.py [--port 0] [--no-compression]

Library defaults except: no keepalive pings (held idle connections would
otherwise be dropped by the benchmark's silent clients) and a 64 MiB message
limit (mod_pywebsocket's default). permessage-deflate is offered by default,
and used only when the client asks for it. Prints ``listening on 127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys

from websockets.asyncio.server import serve


async def echo(websocket):  # type: ignore[no-untyped-def]
    async for message in websocket:
        await websocket.send(message)


async def run(port: int, compression: str | None) -> None:
    async with serve(
        echo, "127.0.0.1", port, compression=compression, ping_interval=None, max_size=64 * 1024 * 1024
    ) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(f"listening on 127.0.0.1:{bound}", flush=True)
        await asyncio.get_running_loop().create_future()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-compression", action="store_true")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(run(args.port, None if args.no_compression else "deflate"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
