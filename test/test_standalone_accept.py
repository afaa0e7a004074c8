"""The standalone server's accept loop: how many connections one wake-up takes."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from mod_pywebsocket import standalone
from test import wire


class Recording(standalone.WebSocketServer):
    """A server that records the connections it would serve instead of starting their threads."""

    def __init__(self) -> None:
        super().__init__(standalone.parse_options(["-H", "127.0.0.1", "-p", "0", "-d", "."]))
        self.accepted: list[socket.socket] = []

    def process_request(self, request, client_address):
        self.accepted.append(request)


@pytest.fixture
def server() -> Iterator[Recording]:
    server = Recording()
    try:
        yield server
    finally:
        for sock in server.accepted:
            sock.close()
        server.server_close()


def _connect(server: Recording, count: int) -> list[socket.socket]:
    clients = [wire.open_socket(server.server_address[1]) for _ in range(count)]
    time.sleep(0.1)  # the handshakes complete in the kernel; the connections wait in the backlog
    return clients


def test_listening_sockets_do_not_block(server):
    assert [sock.gettimeout() for sock, _ in server._sockets] == [0.0]


def test_one_wakeup_accepts_every_waiting_connection(server):
    clients = _connect(server, 5)
    server._accept(server.socket)
    assert len(server.accepted) == 5
    server._accept(server.socket)  # none waits: returns at once
    assert len(server.accepted) == 5
    for client in clients:
        client.close()


def test_one_wakeup_accepts_at_most_a_batch(server, monkeypatch):
    monkeypatch.setattr(standalone, "_ACCEPT_BATCH", 2)
    clients = _connect(server, 3)
    server._accept(server.socket)
    assert len(server.accepted) == 2
    server._accept(server.socket)
    assert len(server.accepted) == 3
    for client in clients:
        client.close()


def test_a_blocking_listener_is_accepted_from_once_per_wakeup(server):
    server.socket.setblocking(True)
    clients = _connect(server, 2)
    server._accept(server.socket)
    assert len(server.accepted) == 1
    for client in clients:
        client.close()
