"""Shared fixtures: a standalone server running in a thread of the test process."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import pytest

from mod_pywebsocket import standalone

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE_DIR = os.path.join(REPO_ROOT, "example")


class RunningServer:
    """A ``standalone.WebSocketServer`` serving on 127.0.0.1 in a thread."""

    def __init__(self, args: list[str]) -> None:
        options = standalone.parse_options(["-H", "127.0.0.1", "-p", "0", *args])
        self.server = standalone.WebSocketServer(options)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def url(self, resource: str, scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{resource}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.close_websockets(wait=2.0)
        self.server.server_close()
        self._thread.join(5)


@contextlib.contextmanager
def running_server(*args: str) -> Iterator[RunningServer]:
    """Run a standalone server with the given options for the block's duration."""
    server = RunningServer(list(args))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def example_server() -> Iterator[RunningServer]:
    """A standalone server on the bundled examples (``-d example``)."""
    with running_server("-d", EXAMPLE_DIR) as server:
        yield server
