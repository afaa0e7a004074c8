"""End-to-end tests through a real Apache httpd running mod_python.

Each server comes from test/httpd.py; the handlers are in
test/testdata/apache_handlers/. Without Apache or mod_python every test that
needs a server skips with a reason that starts with ``APACHE NOT RUN:``. The
last section checks the mod_python adapters with fakes, without Apache.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import logging
import os
import pwd
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
)
from websockets.sync.client import ClientConnection

from mod_pywebsocket import headerparserhandler
from mod_pywebsocket._stream_base import ConnectionTerminatedException
from test import httpd, mock, wire
from test.servers import APACHE_HANDLERS
from test.servers import HANDLERS as HANDLERS_ROOT
from test.wire import (
    SAMPLE_ACCEPT,
    SAMPLE_KEY,
    TIMEOUT,
    FrameReader,
    client_frame,
    open_socket,
    read_head,
    read_until_eof,
    request_info,
    upgrade_request,
)

pytestmark = pytest.mark.timeout(120)

HANDLERS = Path(APACHE_HANDLERS)
PROBE_DIR = HANDLERS / "probe"


# -- fixtures and helpers ----------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[httpd.Httpd]:
    """One Apache for the tests that need no special configuration."""
    httpd.require_apache()
    instance = httpd.Httpd(HANDLERS)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def httpd_factory() -> Iterator[httpd.HttpdFactory]:
    """Start servers with their own configuration; stop them after the test."""
    factory = httpd.HttpdFactory()
    try:
        yield factory
    finally:
        factory.close()


def ws_connect(server: httpd.Httpd, path: str, **kwargs: Any) -> ClientConnection:
    """Open a WebSocket to ``path`` on ``server`` without compression or pings (``kwargs`` win)."""
    kwargs.setdefault("compression", None)
    kwargs.setdefault("ping_interval", None)
    return wire.ws_connect(server.ws_url(path), **kwargs)


def open_raw(server: httpd.Httpd, data: bytes) -> socket.socket:
    sock = open_socket(server.port)
    sock.sendall(data)
    return sock


def http_get(server: httpd.Httpd, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(server.url(path), timeout=TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# -- the harness itself (needs no mod_pywebsocket) ---------------------------


def test_harness_serves_static_file_and_runs_debian_python(httpd_factory: httpd.HttpdFactory) -> None:
    server = httpd_factory(None, handler="mp_probe", python_path=[PROBE_DIR])

    assert http_get(server, "/" + httpd.STATIC_FILE_NAME) == (200, httpd.STATIC_FILE_BODY)
    status, body = http_get(server, "/probe")
    facts = dict(line.split("=", 1) for line in body.decode().splitlines())
    assert status == 200
    assert os.path.realpath(facts["executable"]) == os.path.realpath("/usr/bin/python3.11")
    assert facts["version"] == "3.11"
    assert facts["client_ip"] == "127.0.0.1"
    assert server.repo_root in facts["sys_path"].split(os.pathsep)
    if os.geteuid() == 0:
        assert int(facts["uid"]) == pwd.getpwnam("www-data").pw_uid


def test_harness_can_run_a_readable_copy_of_the_repository(httpd_factory: httpd.HttpdFactory) -> None:
    server = httpd_factory(HANDLERS, copy_repository=True)

    assert server.repo_root != str(httpd.REPO_ROOT)
    assert server.repo_root.startswith(str(server.directory))
    with ws_connect(server, "/info") as ws:
        facts = json.loads(ws.recv(timeout=TIMEOUT))
    assert facts["ws_resource"] == "/info"
    assert f"handler_root={server.repo_root}/test/testdata/apache_handlers " in server.error_log_text()


def test_harness_stop_ends_every_process_and_frees_the_port(httpd_factory: httpd.HttpdFactory) -> None:
    server = httpd_factory(None, handler="mp_probe", python_path=[PROBE_DIR])
    pid = server.pid
    port = server.port

    server.stop()

    assert pid is not None and httpd._process_gone(pid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
    assert "caught SIGTERM, shutting down" in server.error_log_text()


def test_harness_reports_a_taken_port(httpd_factory: httpd.HttpdFactory) -> None:
    httpd.require_apache()
    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(httpd.HttpdError, match="could not bind"):
            httpd_factory(None, handler="mp_probe", python_path=[PROBE_DIR], port=port)
    finally:
        blocker.close()


# -- echo --------------------------------------------------------------------


def test_text_message_is_echoed(server: httpd.Httpd) -> None:
    with ws_connect(server, "/echo") as ws:
        ws.send("Hello, Apache \u00e9\u4e16")
        assert ws.recv(timeout=TIMEOUT) == "Hello, Apache \u00e9\u4e16"


def test_binary_message_is_echoed_as_binary(server: httpd.Httpd) -> None:
    with ws_connect(server, "/echo") as ws:
        ws.send(b"\x00\x01\xfe\xff")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\x01\xfe\xff"


def test_one_mebibyte_binary_message_is_echoed_intact(server: httpd.Httpd) -> None:
    payload = bytes(range(256)) * 4096
    with ws_connect(server, "/echo") as ws:
        ws.send(payload)
        echoed = ws.recv(timeout=30)
    assert len(echoed) == 1024 * 1024
    assert echoed == payload


def test_many_small_messages_are_echoed_in_order(server: httpd.Httpd) -> None:
    with ws_connect(server, "/echo") as ws:
        for index in range(200):
            ws.send(f"message {index}")
        received = [ws.recv(timeout=TIMEOUT) for _ in range(200)]
    assert received == [f"message {index}" for index in range(200)]


def test_fragmented_client_message_is_echoed_whole(server: httpd.Httpd) -> None:
    with ws_connect(server, "/echo") as ws:
        ws.send(["ab", "cd", "ef"])
        assert ws.recv(timeout=TIMEOUT) == "abcdef"


def test_server_fragments_arrive_as_one_message_in_three_frames(server: httpd.Httpd) -> None:
    with ws_connect(server, "/fragments") as ws:
        fragments = list(ws.recv_streaming())
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=TIMEOUT)
        assert ws.close_code == 1000
    assert fragments == ["ab", "cd", "ef"]


def test_permessage_deflate_is_negotiated_and_echo_works(server: httpd.Httpd) -> None:
    with ws_connect(server, "/echo", compression="deflate") as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        ws.send("compress me " * 100)
        assert ws.recv(timeout=TIMEOUT) == "compress me " * 100
    assert extensions.startswith("permessage-deflate")


def test_one_mebibyte_message_is_echoed_with_permessage_deflate(server: httpd.Httpd) -> None:
    payload = "".join(f"line {n:07d} of a compressible message\n" for n in range(1024 * 1024 // 37 + 1))
    payload = payload[: 1024 * 1024]
    with ws_connect(server, "/echo", compression="deflate") as ws:
        ws.send(payload)
        assert ws.recv(timeout=30) == payload


def test_ping_is_answered_with_pong(server: httpd.Httpd) -> None:
    with ws_connect(server, "/echo") as ws:
        assert ws.ping(b"are you there").wait(TIMEOUT)


# -- closing -----------------------------------------------------------------


def test_goodbye_makes_the_server_close_with_1000(server: httpd.Httpd) -> None:
    with ws_connect(server, "/echo") as ws:
        ws.send("Goodbye")
        assert ws.recv(timeout=TIMEOUT) == "Goodbye"
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=TIMEOUT)
        assert (ws.close_code, ws.close_reason) == (1000, "")


def test_server_closes_with_the_code_and_reason_it_was_asked_for(server: httpd.Httpd) -> None:
    with ws_connect(server, "/close") as ws:
        ws.send("4001 server says bye")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=TIMEOUT)
        assert (ws.close_code, ws.close_reason) == (4001, "server says bye")


def test_client_close_code_and_reason_are_sent_back(server: httpd.Httpd) -> None:
    with ws_connect(server, "/close") as ws:
        ws.close(4000, "client reason")
        assert (ws.close_code, ws.close_reason) == (4000, "client reason")


def test_closing_handshake_ends_tcp_without_an_apache_response(server: httpd.Httpd) -> None:
    sock = open_raw(server, upgrade_request("/echo"))
    with sock:
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert (f"Sec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\n").encode() in head
        sock.sendall(client_frame(0x8, struct.pack("!H", 1000)))
        started = time.monotonic()
        tail = rest + read_until_eof(sock)
        elapsed = time.monotonic() - started
    # The close reply and then EOF: no "HTTP/1.1 200" from Apache, and no
    # wait for KeepAliveTimeout (5 s in the harness).
    assert tail == b"\x88\x02\x03\xe8"
    assert elapsed < 3.0


# -- subprotocols ------------------------------------------------------------


def test_offered_subprotocol_is_chosen_and_sent_back(server: httpd.Httpd) -> None:
    with ws_connect(server, "/subprotocol", subprotocols=["superchat", "chat"]) as ws:
        assert ws.subprotocol == "chat"
        assert ws.response.headers["Sec-WebSocket-Protocol"] == "chat"
        assert ws.recv(timeout=TIMEOUT) == "protocol=chat requested=superchat,chat"


def test_no_subprotocol_offered_means_none_chosen(server: httpd.Httpd) -> None:
    with ws_connect(server, "/subprotocol") as ws:
        assert ws.subprotocol is None
        assert "Sec-WebSocket-Protocol" not in ws.response.headers
        assert ws.recv(timeout=TIMEOUT) == "protocol=None requested="


def test_subprotocols_the_handler_does_not_pick_fail_with_400(server: httpd.Httpd) -> None:
    with pytest.raises(InvalidStatus) as excinfo:
        ws_connect(server, "/subprotocol", subprotocols=["superchat"])
    assert excinfo.value.response.status_code == 400


# -- what Apache serves itself -----------------------------------------------


def test_unknown_resource_is_declined_to_apache_which_answers_404(server: httpd.Httpd) -> None:
    with pytest.raises(InvalidStatus) as excinfo:
        ws_connect(server, "/no_such_handler")
    assert excinfo.value.response.status_code == 404


def test_static_file_is_served_while_a_websocket_is_open(server: httpd.Httpd) -> None:
    with ws_connect(server, "/echo") as ws:
        assert http_get(server, "/" + httpd.STATIC_FILE_NAME) == (200, httpd.STATIC_FILE_BODY)
        ws.send("still open")
        assert ws.recv(timeout=TIMEOUT) == "still open"


def test_websocket_request_for_a_static_file_gets_the_file(server: httpd.Httpd) -> None:
    with pytest.raises(InvalidStatus) as excinfo:
        ws_connect(server, "/" + httpd.STATIC_FILE_NAME)
    assert excinfo.value.response.status_code == 200
    assert excinfo.value.response.body == httpd.STATIC_FILE_BODY


def test_plain_get_of_a_handler_url_is_rejected_with_400(server: httpd.Httpd) -> None:
    assert http_get(server, "/echo")[0] == 400


# -- opening handshake errors ------------------------------------------------


def test_unsupported_version_gets_400_with_supported_versions(server: httpd.Httpd) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        connection.request(
            "GET",
            "/echo",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": SAMPLE_KEY,
                "Sec-WebSocket-Version": "12",
            },
        )
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 400
    assert response.getheader("Sec-WebSocket-Version") == "13, 8"


def test_missing_key_gets_400(server: httpd.Httpd) -> None:
    sock = open_raw(server, upgrade_request("/echo", key=""))
    with sock:
        head, _ = read_head(sock)
    assert head.startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize(
    "repeated",
    [f"Sec-WebSocket-Key: {SAMPLE_KEY}\r\n", "Sec-WebSocket-Version: 13\r\n"],
    ids=["key", "version"],
)
def test_repeated_key_or_version_header_gets_400(server: httpd.Httpd, repeated: str) -> None:
    # mod_python's headers_in holds both lines; the handshake must see them.
    sock = open_raw(server, upgrade_request("/echo", extra=repeated))
    with sock:
        head, _ = read_head(sock)
    assert head.startswith(b"HTTP/1.1 400 ")


def test_handler_refusing_the_extra_handshake_gets_403(server: httpd.Httpd) -> None:
    with pytest.raises(InvalidStatus) as excinfo:
        ws_connect(server, "/reject")
    assert excinfo.value.response.status_code == 403


def test_raw_handshake_written_by_the_handler_is_all_the_client_gets(server: httpd.Httpd) -> None:
    sock = open_raw(server, upgrade_request("/raw_abort"))
    with sock:
        received = read_until_eof(sock)
    assert received == b"HTTP/1.1 418 I'm a teapot\r\nX-Raw-Handshake: yes\r\n\r\nraw body"


# -- the request object as handlers see it -----------------------------------


def test_request_object_has_apache_values_and_keeps_handler_state(server: httpd.Httpd) -> None:
    with ws_connect(server, "/info?x=1&y=%20", user_agent_header="apache-test/1") as ws:
        facts = json.loads(ws.recv(timeout=TIMEOUT))
    assert facts["ws_resource"] == "/info?x=1&y=%20"
    assert facts["uri"] == "/info"
    assert facts["unparsed_uri"] == "/info?x=1&y=%20"
    assert facts["ws_version"] == 13
    assert facts["remote_addr"][0] == "127.0.0.1"
    assert facts["client_ip"] == "127.0.0.1"
    assert facts["is_https"] is False
    assert facts["hashable"] == "hashable"
    assert facts["custom_attribute"] == 42
    assert facts["state_from_handshake"] == "kept"
    assert facts["user_agent"] == "apache-test/1"


def test_python_logging_reaches_the_error_log_at_matching_levels(server: httpd.Httpd) -> None:
    marker = f"marker{time.monotonic_ns()}"
    with ws_connect(server, "/log?" + marker) as ws:
        assert ws.recv(timeout=TIMEOUT) == "logged"
    server.wait_for_log(rf"\[:error\] .*error-record {marker}")
    log = server.error_log_text()
    assert re.search(rf"\[:warn\] .*warning-record {marker}", log)
    assert re.search(rf"\[:info\] .*info-record {marker}", log)
    assert re.search(rf"\[:error\] .*second line {marker}", log)
    assert f"debug-record {marker}" not in log  # LogLevel info


def test_handler_file_that_fails_to_load_is_reported_and_skipped(server: httpd.Httpd) -> None:
    with ws_connect(server, "/echo") as ws:
        ws.send("x")
        assert ws.recv(timeout=TIMEOUT) == "x"
    assert re.search(r"\[:warn\] .*broken_wsh", server.error_log_text())
    with pytest.raises(InvalidStatus) as excinfo:
        ws_connect(server, "/broken")
    assert excinfo.value.response.status_code == 404


# -- failures and load -------------------------------------------------------


@pytest.fixture(scope="module")
def single_child_server() -> Iterator[httpd.Httpd]:
    """An Apache with exactly one prefork child, to see that it survives."""
    httpd.require_apache()
    instance = httpd.Httpd(
        HANDLERS,
        extra_config="StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\nMaxRequestWorkers 1\n",
    )
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def test_handler_exception_drops_tcp_without_close_frame_or_error_page(
    single_child_server: httpd.Httpd,
) -> None:
    server = single_child_server
    sock = open_raw(server, upgrade_request("/raise"))
    with sock:
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 ")
        reader = FrameReader(sock, rest)
        first, text = reader.raw_frame()
        assert first == 0x81
        assert text.startswith(b"pid=")
        sock.sendall(client_frame(0x1, b"boom"))
        tail = reader.read_to_eof()
    assert tail == b""
    server.wait_for_log(r"RuntimeError: raise_wsh fails on purpose")


def test_apache_child_keeps_serving_after_a_handler_exception(
    single_child_server: httpd.Httpd,
) -> None:
    server = single_child_server
    pids = []
    for _ in range(2):
        with ws_connect(server, "/raise") as ws:
            pids.append(ws.recv(timeout=TIMEOUT))
            ws.send("boom")
            with pytest.raises(ConnectionClosedError) as excinfo:
                ws.recv(timeout=TIMEOUT)
        assert excinfo.value.rcvd is None  # no close frame: the client sees 1006
    with ws_connect(server, "/echo") as ws:
        ws.send("after the failure")
        assert ws.recv(timeout=TIMEOUT) == "after the failure"
    assert pids[0] == pids[1]


def test_idle_connection_survives_30_seconds_also_with_the_documented_reqtimeout(
    server: httpd.Httpd, httpd_factory: httpd.HttpdFactory
) -> None:
    install = httpd.require_apache()
    # The setting docs/apache.md and example/pywebsocket.conf recommend.
    reqtimeout = httpd_factory(
        HANDLERS,
        extra_config=(
            f'LoadModule reqtimeout_module "{install.modules_dir}/mod_reqtimeout.so"\n'
            "RequestReadTimeout header=20-40,MinRate=500 body=0\n"
        ),
    )
    with ws_connect(server, "/echo") as plain, ws_connect(reqtimeout, "/echo") as limited:
        time.sleep(30)
        for ws in (plain, limited):
            ws.send("after 30 s of silence")
            assert ws.recv(timeout=TIMEOUT) == "after 30 s of silence"


def test_twenty_concurrent_clients_are_served_at_once(server: httpd.Httpd) -> None:
    clients = 20
    all_open = threading.Barrier(clients, timeout=60)
    results: dict[int, object] = {}

    def client(number: int) -> None:
        try:
            with ws_connect(server, "/echo", open_timeout=60) as ws:
                all_open.wait()
                sent = [f"client {number} message {i}" for i in range(10)]
                for message in sent:
                    ws.send(message)
                received = [ws.recv(timeout=30) for _ in sent]
                results[number] = received == sent
        except Exception as exc:  # Reported by the assertion below.
            results[number] = exc
            all_open.abort()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert results == {n: True for n in range(clients)}


@pytest.mark.parametrize("mpm", ["event", "worker"])
def test_threaded_mpm_serves_concurrent_connections(httpd_factory: httpd.HttpdFactory, mpm: str) -> None:
    server = httpd_factory(HANDLERS, mpm=mpm)
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(ws_connect(server, "/echo")) for _ in range(10)]
        for number, ws in enumerate(clients):
            ws.send(f"client {number}")
        assert [ws.recv(timeout=TIMEOUT) for ws in clients] == [f"client {n}" for n in range(10)]
        with ws_connect(server, "/info") as ws:
            facts = json.loads(ws.recv(timeout=TIMEOUT))
        assert facts["hashable"] == "hashable"
    assert "[:error]" not in server.error_log_text()


# -- configuration -----------------------------------------------------------


def test_missing_handler_root_is_a_clear_error_and_500(httpd_factory: httpd.HttpdFactory) -> None:
    server = httpd_factory(None)
    with pytest.raises(InvalidStatus) as excinfo:
        ws_connect(server, "/echo")
    assert excinfo.value.response.status_code == 500
    server.wait_for_log(r"\[:error\] .*PythonOption mod_pywebsocket\.handler_root is not set")


def test_handler_root_that_is_not_a_directory_is_a_clear_error_and_500(
    httpd_factory: httpd.HttpdFactory,
) -> None:
    server = httpd_factory(HANDLERS / "no_such_directory")
    with pytest.raises(InvalidStatus) as excinfo:
        ws_connect(server, "/echo")
    assert excinfo.value.response.status_code == 500
    server.wait_for_log(
        r"\[:error\] .*mod_pywebsocket\.handler_root is '[^']*no_such_directory', which is not a directory"
    )


def test_bad_on_off_value_is_a_clear_error_and_500(httpd_factory: httpd.HttpdFactory) -> None:
    server = httpd_factory(HANDLERS, options={"mod_pywebsocket.allow_draft75": "Maybe"})
    with pytest.raises(InvalidStatus) as excinfo:
        ws_connect(server, "/echo")
    assert excinfo.value.response.status_code == 500
    server.wait_for_log(r"PythonOption mod_pywebsocket\.allow_draft75 must be On or Off .*'Maybe'")


def test_handler_scan_limits_the_handlers_loaded(httpd_factory: httpd.HttpdFactory) -> None:
    server = httpd_factory(HANDLERS, options={"mod_pywebsocket.handler_scan": str(HANDLERS / "scan")})
    with ws_connect(server, "/scan/inside") as ws:
        assert ws.recv(timeout=TIMEOUT) == "inside"
    with pytest.raises(InvalidStatus) as excinfo:
        ws_connect(server, "/echo")
    assert excinfo.value.response.status_code == 404


def test_example_echo_handler_works_as_the_docs_set_it_up(httpd_factory: httpd.HttpdFactory) -> None:
    server = httpd_factory(httpd.REPO_ROOT / "example")
    with ws_connect(server, "/echo") as ws:
        ws.send("from the docs")
        assert ws.recv(timeout=TIMEOUT) == "from the docs"
        ws.send("Goodbye")
        assert ws.recv(timeout=TIMEOUT) == "Goodbye"
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=TIMEOUT)
        assert ws.close_code == 1000


def test_example_apache_snippet_works_with_its_paths_filled_in(httpd_factory: httpd.HttpdFactory) -> None:
    install = httpd.require_apache()
    snippet = (httpd.REPO_ROOT / "example" / "pywebsocket.conf").read_text(encoding="utf-8")
    assert "/websock_lib" in snippet and "/websock_handlers" in snippet
    server = httpd_factory(
        None,
        handler=None,  # The snippet has its own PythonHeaderParserHandler.
        extra_config=f'LoadModule reqtimeout_module "{install.modules_dir}/mod_reqtimeout.so"\n'
        + snippet.replace("/websock_lib", str(httpd.REPO_ROOT)).replace(
            "/websock_handlers", str(httpd.REPO_ROOT / "example")
        ),
    )
    with ws_connect(server, "/echo") as ws:
        ws.send("snippet")
        assert ws.recv(timeout=TIMEOUT) == "snippet"
    assert http_get(server, "/" + httpd.STATIC_FILE_NAME) == (200, httpd.STATIC_FILE_BODY)


@pytest.fixture
def root_with_outside_symlink() -> Iterator[Path]:
    """A handler root (readable by www-data) whose linked_wsh.py points outside it."""
    base = Path(tempfile.mkdtemp(prefix="pywebsocket-root-", dir="/tmp"))  # $TMPDIR may be private
    try:
        base.chmod(0o755)
        (base / "root").mkdir(mode=0o755)
        (base / "outside").mkdir(mode=0o755)
        shutil.copy(HANDLERS / "echo_wsh.py", base / "outside" / "echo_wsh.py")
        (base / "outside" / "echo_wsh.py").chmod(0o644)
        (base / "root" / "linked_wsh.py").symlink_to(base / "outside" / "echo_wsh.py")
        yield base / "root"
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize(("value", "status"), [("On", 101), ("off", 404)])
def test_allow_handlers_outside_root_dir_decides_about_symlinked_handlers(
    httpd_factory: httpd.HttpdFactory, root_with_outside_symlink: Path, value: str, status: int
) -> None:
    server = httpd_factory(
        root_with_outside_symlink,
        options={"mod_pywebsocket.allow_handlers_outside_root_dir": value},
    )
    if status == 101:
        with ws_connect(server, "/linked") as ws:
            ws.send("through the link")
            assert ws.recv(timeout=TIMEOUT) == "through the link"
    else:
        with pytest.raises(InvalidStatus) as excinfo:
            ws_connect(server, "/linked")
        assert excinfo.value.response.status_code == status
        assert re.search(r"\[:warn\] .*linked_wsh\.py is outside the handler root", server.error_log_text())


# -- older protocols ---------------------------------------------------------

HYBI00_KEY1 = "18x 6]8vM;54 *(5:  {   U1]8  z [  8"
HYBI00_KEY2 = "1_ tx7X d  <  nw  334J702) 7]o}` 0"
HYBI00_CHALLENGE = b"Tm[K T2u"


def _hybi00_number(key: str) -> int:
    digits = int("".join(c for c in key if c.isdigit()))
    return digits // key.count(" ")


def test_hybi00_handshake_reads_the_challenge_and_echoes(server: httpd.Httpd) -> None:
    request = (
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: WebSocket\r\n"
        "Connection: Upgrade\r\nOrigin: http://example.com\r\n"
        f"Sec-WebSocket-Key1: {HYBI00_KEY1}\r\nSec-WebSocket-Key2: {HYBI00_KEY2}\r\n\r\n"
    ).encode("latin-1")
    expected = hashlib.md5(
        struct.pack("!II", _hybi00_number(HYBI00_KEY1), _hybi00_number(HYBI00_KEY2)) + HYBI00_CHALLENGE
    ).digest()
    sock = open_raw(server, request + HYBI00_CHALLENGE)
    with sock:
        head, rest = read_head(sock)
        reader = FrameReader(sock, rest)
        body = reader.read_exactly(16)
        sock.sendall(b"\x00hello hybi-00\xff")
        echoed = reader.read_exactly(15)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Location: ws://127.0.0.1" in head
    assert body == expected == b"fQJ,fN/4F4!~K~MH"
    assert echoed == b"\x00hello hybi-00\xff"


HIXIE75_REQUEST = (
    b"GET /echo HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
    b"Host: 127.0.0.1\r\nOrigin: http://example.com\r\n\r\n"
)


def test_hixie75_is_refused_without_allow_draft75(server: httpd.Httpd) -> None:
    sock = open_raw(server, HIXIE75_REQUEST)
    with sock:
        head, _ = read_head(sock)
    assert head.startswith(b"HTTP/1.1 400 ")


def test_hixie75_works_with_allow_draft75_on(httpd_factory: httpd.HttpdFactory) -> None:
    server = httpd_factory(HANDLERS, options={"mod_pywebsocket.allow_draft75": "on"})
    sock = open_raw(server, HIXIE75_REQUEST)
    with sock:
        head, rest = read_head(sock)
        sock.sendall(b"\x00hello hixie-75\xff")
        echoed = FrameReader(sock, rest).read_exactly(16)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"WebSocket-Location: ws://127.0.0.1/echo\r\n" in head  # Host: has no port
    assert echoed == b"\x00hello hixie-75\xff"


def test_sample_key_constants_match_rfc_6455() -> None:
    digest = hashlib.sha1((SAMPLE_KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    assert base64.b64encode(digest).decode() == SAMPLE_ACCEPT


# -- the standalone server's test handlers, through Apache --------------------


@pytest.fixture(scope="module")
def shared_handlers_server() -> Iterator[httpd.Httpd]:
    """Apache on test/testdata/handlers (the standalone tests' handlers), hixie-75 allowed."""
    httpd.require_apache()
    instance = httpd.Httpd(HANDLERS_ROOT, options={"mod_pywebsocket.allow_draft75": "On"})
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def test_receive_message_after_a_private_frame_read_gets_the_next_message(
    shared_handlers_server: httpd.Httpd,
) -> None:
    with ws_connect(shared_handlers_server, "/raw_frame") as ws:
        ws.send("first")
        ws.send(b"\x00second")
        assert ws.recv(timeout=TIMEOUT) == "frame opcode=1 fin=1 rsv=000 payload=b'first'"
        assert ws.recv(timeout=TIMEOUT) == "message b'\\x00second'"


def test_quoted_extension_parameters_make_only_their_offer_unusable(shared_handlers_server: httpd.Httpd) -> None:
    offers = (
        'x-custom; a="b c"; d="e\\"f", '
        'permessage-deflate; server_max_window_bits="1 0", '
        'permessage-deflate; server_max_window_bits="10"'
    )
    request = upgrade_request("/request_info", extra=f"Sec-WebSocket-Extensions: {offers}\r\n")
    sock = open_raw(shared_handlers_server, request)
    with sock:
        head, rest = read_head(sock)
        sock.sendall(client_frame(0x1, b"echo me"))
        first, payload = FrameReader(sock, rest).raw_frame()
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n" in head
    assert request_info(head)["ws_requested_extensions"] == [
        ["x-custom", [["a", "b c"], ["d", 'e"f']]],
        ["permessage-deflate", [["server_max_window_bits", "1 0"]]],
        ["permessage-deflate", [["server_max_window_bits", "10"]]],
    ]
    # The echo is compressed (RSV1 set): the third offer is in use.
    assert first == 0xC1
    assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") == b"echo me"


# RFC 9112 §3.2.2: the resource of an absolute-form target is its path and query.


def test_absolute_form_http_target_reaches_the_handler(shared_handlers_server: httpd.Httpd) -> None:
    sock = open_raw(shared_handlers_server, upgrade_request("http://127.0.0.1/request_info?x=1"))
    with sock:
        head, rest = read_head(sock)
        sock.sendall(client_frame(0x1, b"echo me"))
        echoed = FrameReader(sock, rest).read_exactly(9)
    assert head.startswith(b"HTTP/1.1 101 ")
    info = request_info(head)
    # uri and unparsed_uri are mod_python's own values.
    assert (info["ws_resource"], info["uri"], info["unparsed_uri"]) == (
        "/request_info?x=1",
        "/request_info",
        "http://127.0.0.1/request_info?x=1",
    )
    assert echoed == b"\x81\x07echo me"


def test_absolute_form_targets_of_the_legacy_protocols_get_locations_from_host(
    shared_handlers_server: httpd.Httpd,
) -> None:
    # (Apache replaces the Host header with the host of an http:// target,
    # as RFC 9112 §3.2.2 asks, so both are the same here.)
    hybi00 = (
        "GET http://127.0.0.1/request_info?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: WebSocket\r\n"
        "Connection: Upgrade\r\nOrigin: http://example.com\r\n"
        f"Sec-WebSocket-Key1: {HYBI00_KEY1}\r\nSec-WebSocket-Key2: {HYBI00_KEY2}\r\n\r\n"
    ).encode("latin-1") + HYBI00_CHALLENGE
    hixie75 = HIXIE75_REQUEST.replace(b"GET /echo ", b"GET http://127.0.0.1/request_info?x=1 ")
    for request, location in [(hybi00, b"Sec-WebSocket-Location"), (hixie75, b"WebSocket-Location")]:
        with open_raw(shared_handlers_server, request) as sock:
            head, _ = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert b"\r\n" + location + b": ws://127.0.0.1/request_info?x=1\r\n" in head
        assert request_info(head)["ws_resource"] == "/request_info?x=1"


@pytest.mark.parametrize("scheme", ["ws", "wss", "ftp"])
def test_apache_itself_answers_400_to_absolute_form_of_other_schemes_than_http(
    shared_handlers_server: httpd.Httpd, scheme: str
) -> None:
    # Measured on Apache 2.4.71: its core refuses these request lines before
    # any module runs, so mod_pywebsocket cannot accept ws:// targets there.
    sock = open_raw(shared_handlers_server, upgrade_request(f"{scheme}://127.0.0.1/request_info"))
    with sock:
        head, _ = read_head(sock)
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"X-Request-Info" not in head


# -- the adapters, without Apache ----------------------------------------------


def test_connection_read_loops_over_short_reads_to_the_exact_length() -> None:
    connection = headerparserhandler._ApacheConnection(mock.FakeMpConnection([b"ab", b"c", b"defg"]))
    assert connection.read(7) == b"abcdefg"


def test_connection_read_keeps_what_mod_python_gave_beyond_the_length() -> None:
    fake = mock.FakeMpConnection([b"0123456789"])
    connection = headerparserhandler._ApacheConnection(fake)
    assert [connection.read(3), connection.read(0), connection.read(7)] == [b"012", b"", b"3456789"]
    assert fake.read_sizes == [64 * 1024]


def test_connection_read_caps_what_it_asks_mod_python_for() -> None:
    size = 3 * 1024 * 1024
    fake = mock.FakeMpConnection([b"x" * size])
    connection = headerparserhandler._ApacheConnection(fake)
    assert connection.read(size) == b"x" * size
    assert fake.read_sizes == [1024 * 1024] * 3


@pytest.mark.parametrize(
    "failure",
    [None, b"", OSError("Connection read error")],
    ids=["none-at-eof", "empty-bytes", "oserror-on-reset"],
)
def test_connection_read_turns_eof_and_errors_into_connection_terminated(failure: object) -> None:
    fake = mock.FakeMpConnection([b"ab", failure])  # type: ignore[list-item]
    connection = headerparserhandler._ApacheConnection(fake)
    with pytest.raises(ConnectionTerminatedException):
        connection.read(3)


def test_connection_read_some_returns_buffered_bytes_first() -> None:
    fake = mock.FakeMpConnection([b"abcdef", b"gh", None])
    connection = headerparserhandler._ApacheConnection(fake)
    assert connection.read(2) == b"ab"
    assert connection.read_some(100) == b"cdef"
    assert connection.read_some(1) == b"g"
    assert connection.read_some(100) == b"h"
    # At EOF read_some gives b'' (the contract of every BufferedConnection); the stream raises.
    assert connection.read_some(100) == b""


def test_connection_write_goes_straight_through_and_counts_bytes() -> None:
    fake = mock.FakeMpConnection([])
    connection = headerparserhandler._ApacheConnection(fake)
    connection.write(b"abc")
    connection.write(b"de")
    assert fake.written == [b"abc", b"de"]
    assert connection.bytes_written == 5
    fake.write_error = OSError("Write failed, client closed connection.")
    with pytest.raises(ConnectionTerminatedException):
        connection.write(b"f")


def test_connection_delegates_to_mod_python_and_offers_remote_addr() -> None:
    fake = mock.FakeMpConnection([])
    connection = headerparserhandler._ApacheConnection(fake)
    connection.keepalive = 2
    assert fake.keepalive == 2
    assert connection.client_ip == "192.0.2.7"
    assert connection.remote_ip == "192.0.2.7"
    assert connection.remote_addr == ("192.0.2.7", 4242)


def test_request_proxy_writes_mod_python_attributes_through_and_keeps_new_ones() -> None:
    real = mock.FakeMpRequest(mock.FakeMpConnection([]))
    proxy = headerparserhandler._ApacheRequest(real)
    proxy.status = 101
    proxy.assbackwards = 1
    proxy.ws_resource = "/path?query"
    proxy.handler_state = {"n": 1}
    assert (real.status, real.assbackwards) == (101, 1)
    assert not hasattr(real, "ws_resource")
    assert (proxy.ws_resource, proxy.handler_state) == ("/path?query", {"n": 1})
    assert (proxy.uri, proxy.unparsed_uri) == ("/path", "/path?query")
    assert isinstance(proxy.connection, headerparserhandler._ApacheConnection)
    assert real.connection is not proxy.connection
    del proxy.handler_state
    assert not hasattr(proxy, "handler_state")


def test_request_proxy_is_hashable_by_identity() -> None:
    real = mock.FakeMpRequest(mock.FakeMpConnection([]))
    first = headerparserhandler._ApacheRequest(real)
    second = headerparserhandler._ApacheRequest(real)
    table = {first: "first", second: "second"}
    assert (table[first], table[second]) == ("first", "second")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "default"), ("On", True), ("on", True), ("YES", True), (" yes ", True), ("Off", False), ("no", False)],
)
def test_on_off_option_values_are_case_insensitive(value: str | None, expected: object) -> None:
    default = object()
    result = headerparserhandler.parse_bool_option("name", value, default)  # type: ignore[arg-type]
    assert result is (default if expected == "default" else expected)


@pytest.mark.parametrize("value", ["maybe", "1", "true", ""])
def test_other_option_values_are_a_configuration_error(value: str) -> None:
    with pytest.raises(headerparserhandler.ConfigurationError, match="must be On or Off"):
        headerparserhandler.parse_bool_option("mod_pywebsocket.allow_draft75", value, False)


class FakeApache:
    main_server = "main server"

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, object]] = []

    def log_error(self, message: str, level: int, server: object) -> None:
        self.calls.append((message, level, server))


def test_log_handler_maps_levels_and_logs_each_line() -> None:
    apache = FakeApache()
    handler = headerparserhandler.ApacheLogHandler(apache=apache)
    logger = logging.getLogger("test_apache.fake")
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL):
        handler.handle(logger.makeRecord(logger.name, level, __file__, 1, "at %d", (level,), None))
    handler.handle(logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "one\ntwo", (), None))
    assert apache.calls == [
        ("test_apache.fake: at 10", 7, "main server"),
        ("test_apache.fake: at 20", 6, "main server"),
        ("test_apache.fake: at 30", 4, "main server"),
        ("test_apache.fake: at 40", 3, "main server"),
        ("test_apache.fake: at 50", 2, "main server"),
        ("test_apache.fake: one", 3, "main server"),
        ("two", 3, "main server"),
    ]


def test_log_handler_given_a_request_logs_through_it_without_mod_python(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mod_python", None)

    class Request:
        def __init__(self) -> None:
            self.calls: list[tuple[str, int]] = []

        def log_error(self, message: str, level: int) -> None:
            self.calls.append((message, level))

    request = Request()
    handler = headerparserhandler.ApacheLogHandler(request)
    logger = logging.getLogger("test_apache.request")
    handler.handle(logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "a\nb", (), None))
    assert request.calls == [("test_apache.request: a", 4), ("b", 4)]


def test_module_imports_without_mod_python_and_without_side_effects() -> None:
    code = (
        "import logging, sys\n"
        "import mod_pywebsocket.headerparserhandler\n"
        "assert 'mod_python' not in sys.modules\n"
        "assert logging.getLogger().handlers == []\n"
        "assert mod_pywebsocket.headerparserhandler._dispatchers == {}\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=httpd.REPO_ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
