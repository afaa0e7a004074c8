"""A reference WebSocket echo server built on the `websockets` package.

It exists to validate tools/autobahn.py and to compare our server's Autobahn
results with another implementation's. It echoes every message on any
resource and, like our standalone server, logs `listening on HOST:PORT` at
INFO once it accepts connections, so tools/autobahn.py can start it:

    .venv/bin/python tools/autobahn.py \
        --server-cmd '.venv/bin/python tools/autobahn_echo_peer.py -p 0'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from websockets.asyncio.server import ServerConnection, serve


async def _echo(connection: ServerConnection) -> None:
    """Sends every received message back unchanged.

    Args:
        connection: The accepted WebSocket connection.
    """
    async for message in connection:
        await connection.send(message)


async def _serve(host: str, port: int) -> None:
    """Runs the echo server until the process is stopped.

    Args:
        host: Address to bind.
        port: Port to bind; 0 picks a free one.
    """
    # No size limit: Autobahn section 9 sends messages of up to 16 MiB.
    async with serve(_echo, host, port, max_size=None) as server:
        bound_host, bound_port = server.sockets[0].getsockname()[:2]
        logging.info("listening on %s:%d", bound_host, bound_port)
        await server.serve_forever()


def main() -> None:
    """Parses the command line and serves."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
