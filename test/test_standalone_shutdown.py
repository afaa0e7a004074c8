"""The standalone server's shutdown: signals and close_websockets end the open WebSockets with 1001, within bounds.

Servers run in this process (``running_server``) or as a subprocess
(``servers.cli_server``); clients are the ``websockets`` library and raw
sockets (test/wire.py). The ``site`` and ``pki`` fixtures are in conftest.py.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed

from mod_pywebsocket import common
from test.conftest import running_server
from test.servers import cli_server
from test.wire import HIXIE75, HYBI00_REQUEST, TIMEOUT, read_until, upgrade_request, wait_until, ws_connect

# Shutdown.


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_ten_websockets_with_1001_and_exits_0(tmp_path, site, signum):
    with cli_server(tmp_path, "-d", site) as (process, port, log_path):
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(ws_connect(f"ws://127.0.0.1:{port}/echo")) for _ in range(10)]
            for number, ws in enumerate(clients):
                ws.send(str(number))
                assert ws.recv(timeout=TIMEOUT) == str(number)
            started = time.monotonic()
            process.send_signal(signum)
            codes = []
            for ws in clients:
                with pytest.raises(ConnectionClosed) as info:
                    ws.recv(timeout=TIMEOUT)
                codes.append(info.value.rcvd.code)
            assert codes == [common.STATUS_GOING_AWAY] * 10
            assert process.wait(TIMEOUT) == 0
            assert time.monotonic() - started < 5
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
    assert "stopped" in log_path.read_text()


def test_close_websockets_sends_1001_over_tls(site, pki):
    with running_server("-d", site, *pki.server_args()) as server, contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(ws_connect(server.url("/echo", "wss"), ssl=pki.client_context())) for _ in range(3)
        ]
        for ws in clients:
            ws.send("ready")
            assert ws.recv(timeout=TIMEOUT) == "ready"
        server.server.close_websockets(wait=TIMEOUT)
        assert server.server.open_websocket_count() == 0
        for ws in clients:
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=TIMEOUT)
            assert info.value.rcvd.code == common.STATUS_GOING_AWAY


@pytest.mark.parametrize(
    ("request_bytes", "head_end", "closing"),
    [(HYBI00_REQUEST, b"fQJ,fN/4F4!~K~MH", b"\xff\x00"), (HIXIE75, b"\r\n\r\n", b"")],
    ids=["hybi-00", "hixie-75"],
)
def test_close_websockets_ends_old_protocol_connections(site, request_bytes, head_end, closing):
    with running_server("-d", site, "--allow-draft75") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(request_bytes)
            data = read_until(sock, lambda data: data.endswith(head_end))
            assert data.startswith(b"HTTP/1.1 101 ")
            assert wait_until(lambda: server.server.open_websocket_count() == 1)  # registered just after the 101
            started = time.monotonic()
            closer = threading.Thread(target=server.server.close_websockets, kwargs={"wait": TIMEOUT})
            closer.start()
            received = b""
            while chunk := sock.recv(4096):
                received += chunk
                if received == b"\xff\x00":
                    sock.sendall(b"\xff\x00")
            closer.join(TIMEOUT)
            assert received == closing
            assert time.monotonic() - started < 3
            assert server.server.open_websocket_count() == 0


def test_websocket_opened_while_closing_gets_1001_at_once(site):
    with running_server("-d", site) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as silent:
            silent.sendall(upgrade_request())  # this client never answers the close: closing waits for it
            assert wait_until(lambda: server.server.open_websocket_count() == 1)
            closer = threading.Thread(target=server.server.close_websockets, kwargs={"wait": 3})
            closer.start()
            try:
                time.sleep(0.2)
                with ws_connect(server.url("/echo")) as ws:
                    with pytest.raises(ConnectionClosed) as info:
                        ws.recv(timeout=TIMEOUT)
                    assert info.value.rcvd.code == common.STATUS_GOING_AWAY
                assert closer.is_alive()
            finally:
                closer.join(TIMEOUT)


def test_shutdown_wait_is_bounded_when_a_client_never_answers_the_close(tmp_path, site):
    with cli_server(tmp_path, "-d", site) as (process, port, _):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(upgrade_request())
            response = read_until(sock, lambda data: b"\r\n\r\n" in data)
            assert response.startswith(b"HTTP/1.1 101 ")
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            rest = read_until(sock, lambda data: len(data) >= 4, response.split(b"\r\n\r\n", 1)[1])
            assert rest[:4] == b"\x88\x02\x03\xe9"  # close 1001, which this client never answers
            assert process.wait(TIMEOUT) == 0
            assert 4 < time.monotonic() - started < 8
