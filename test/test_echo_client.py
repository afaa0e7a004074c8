"""Tests for example/echo_client.py, run imported and as a subprocess."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import random
import re
import socket
import subprocess
import sys
import threading

import pytest

from mod_pywebsocket._stream_hybi import parse_frame
from mod_pywebsocket.handshake import hybi00
from mod_pywebsocket.handshake.hybi import compute_accept
from test import mock
from test.conftest import EXAMPLE_DIR, REPO_ROOT, running_server
from test.servers import LEGACY_HANDLERS

CLIENT_PATH = os.path.join(REPO_ROOT, "example", "echo_client.py")
TIMEOUT = 10
VERSIONS = ["hybi13", "hybi08", "hybi00", "hixie75"]
CLOSE_LINES = {
    "hybi13": "Close: code=1000 reason=''",
    "hybi08": "Close: code=1000 reason=''",
    "hybi00": "Close: closing handshake received",
    "hixie75": "Closed",
}


def load_client_module():
    spec = importlib.util.spec_from_file_location("echo_client", CLIENT_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


echo_client = load_client_module()


@pytest.fixture(scope="module")
def example_server():
    with running_server("-d", EXAMPLE_DIR, "--allow-draft75") as server:
        yield server


@pytest.fixture(scope="module")
def legacy_server():
    with running_server("-d", LEGACY_HANDLERS, "--allow-draft75") as server:
        yield server


def run_imported(port: int, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    options = echo_client.parse_args(["-s", "127.0.0.1", "-p", str(port), "--timeout", str(TIMEOUT), *args])
    status = echo_client.EchoClient(options, out=out, err=err).run()
    return status, out.getvalue(), err.getvalue()


def run_client_script(*args: str, stdin: str = "", cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the echo client as a script (``python echo_client.py``) with ``args``, without our PYTHONPATH."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, CLIENT_PATH, "--timeout", str(TIMEOUT), *args],
        input=stdin,
        check=False,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        cwd=cwd,
        env=env,
    )


def run_subprocess(port: int, *args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_client_script("-s", "127.0.0.1", "-p", str(port), *args, cwd=cwd)


# Options and the pure helpers.


def test_parse_args_defaults():
    options = echo_client.parse_args([])
    assert (options.url, options.interactive) == (None, False)
    assert options.server_host == "localhost"
    assert options.server_port is None
    assert options.resource == "/echo"
    assert options.origin == "http://localhost"
    assert options.use_tls is False
    assert options.protocol_version == "hybi13"
    assert options.protocols is None
    assert options.message == "Hello,<>"
    assert options.close_code == 1000
    assert options.close_reason == ""
    assert options.timeout == 5.0
    assert options.verbose is False


def test_parse_args_accepts_short_and_long_options():
    options = echo_client.parse_args(
        [
            "-s",
            "h",
            "-p",
            "1",
            "-r",
            "/r",
            "-o",
            "o",
            "-t",
            "-m",
            "a,b",
            "-c",
            "3000",
            "-v",
            "--protocol-version",
            "hixie75",
            "--protocols",
            "x",
            "--close-reason",
            "bye",
            "--timeout",
            "0.5",
        ]
    )
    assert (options.server_host, options.server_port, options.resource, options.origin) == ("h", 1, "/r", "o")
    assert (options.use_tls, options.message, options.close_code, options.verbose) == (True, "a,b", 3000, True)
    assert (options.protocol_version, options.protocols) == ("hixie75", "x")
    assert (options.close_reason, options.timeout) == ("bye", 0.5)


def test_parse_args_rejects_an_unknown_protocol_version(capsys):
    with pytest.raises(SystemExit) as info:
        echo_client.parse_args(["--protocol-version", "hybi07"])
    assert info.value.code == 2
    assert "invalid choice: 'hybi07'" in capsys.readouterr().err


@pytest.mark.parametrize("seed", range(200))
def test_generate_hybi00_key_encodes_its_number_as_the_draft_says(seed):
    key, number = echo_client.generate_hybi00_key(random.Random(seed))
    assert hybi00.parse_key(key) == number
    assert 0 <= number <= 0xFFFFFFFF
    spaces = key.count(" ")
    assert 1 <= spaces <= 12
    assert not key.startswith(" ") and not key.endswith(" ")
    assert all(0x20 <= ord(ch) <= 0x7E for ch in key)
    assert any(not ch.isdigit() and ch != " " for ch in key)


# Against the standalone server and example/echo_wsh.py.


@pytest.mark.parametrize("version", VERSIONS)
def test_imported_client_echoes_with_every_version(example_server, version):
    status, out, err = run_imported(example_server.port, "--protocol-version", version)
    assert (status, err) == (0, "")
    assert out.splitlines() == ["Send: Hello", "Recv: Hello", "Send: <>", "Recv: <>", CLOSE_LINES[version]]


@pytest.mark.parametrize("version", VERSIONS)
def test_client_subprocess_echoes_with_every_version(example_server, version, tmp_path):
    result = run_subprocess(example_server.port, "--protocol-version", version, "-m", "one,two", cwd=str(tmp_path))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["Send: one", "Recv: one", "Send: two", "Recv: two", CLOSE_LINES[version]]


@pytest.mark.parametrize("version", VERSIONS)
def test_imported_client_echoes_non_ascii_and_empty_messages(example_server, version):
    status, out, _ = run_imported(example_server.port, "--protocol-version", version, "-m", "h\u00e9llo \u20ac,")
    assert status == 0
    assert out.splitlines()[:4] == ["Send: h\u00e9llo \u20ac", "Recv: h\u00e9llo \u20ac", "Send: ", "Recv: "]


@pytest.mark.parametrize(
    ("version", "protocols", "line"),
    [
        ("hybi13", "chat,superchat", "Protocol: chat"),
        ("hybi08", "superchat", "Protocol: superchat"),
        ("hybi00", "chat", "Protocol: chat"),
        ("hixie75", "chat", "Protocol: chat"),
    ],
)
def test_imported_client_prints_the_accepted_subprotocol(example_server, version, protocols, line):
    status, out, _ = run_imported(example_server.port, "--protocol-version", version, "--protocols", protocols)
    assert status == 0
    assert out.splitlines()[0] == line


@pytest.mark.parametrize("version", ["hybi13", "hybi08"])
def test_imported_client_sends_its_close_code_and_reason(legacy_server, version):
    args = ["--protocol-version", version, "-m", "x", "-c", "3001", "--close-reason", "bye \u00e9"]
    status, out, _ = run_imported(legacy_server.port, *args)
    assert status == 0
    assert out.splitlines()[-1] == "Close: code=3001 reason='bye \u00e9'"


def test_imported_client_verbose_traces_the_handshake_to_stderr(example_server):
    status, _, err = run_imported(example_server.port, "-v", "--protocol-version", "hybi00")
    assert status == 0
    lines = err.splitlines()
    assert lines[0] == "> GET /echo HTTP/1.1"
    assert "< HTTP/1.1 101 WebSocket Protocol Handshake" in lines
    assert "> closing handshake" in lines


# Failures: exit status 1.


@pytest.mark.parametrize("version", VERSIONS)
def test_client_echo_mismatch_exits_1(legacy_server, version):
    status, out, err = run_imported(legacy_server.port, "--protocol-version", version, "-r", "/reverse", "-m", "abc")
    assert status == 1
    assert out.splitlines() == ["Send: abc", "Recv: cba"]
    assert err == "echo mismatch: sent 'abc', received 'cba'\n"


def test_client_subprocess_mismatch_exits_1(legacy_server):
    result = run_subprocess(legacy_server.port, "-r", "/reverse", "-m", "abc")
    assert result.returncode == 1
    assert result.stderr == "echo mismatch: sent 'abc', received 'cba'\n"


def test_client_hixie75_without_allow_draft75_prints_the_status_line_and_exits_1():
    with running_server("-d", EXAMPLE_DIR) as server:
        result = run_subprocess(server.port, "--protocol-version", "hixie75")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "handshake failed: HTTP/1.1 400 Bad Request\n"


@pytest.mark.parametrize("version", VERSIONS)
def test_client_unknown_resource_prints_404_and_exits_1(example_server, version):
    status, out, err = run_imported(example_server.port, "--protocol-version", version, "-r", "/nothing")
    assert (status, out) == (1, "")
    assert err == "handshake failed: HTTP/1.1 404 Not Found\n"


@pytest.mark.parametrize("version", VERSIONS)
def test_client_times_out_when_no_echo_comes_and_exits_1(legacy_server, version):
    args = ["--protocol-version", version, "-r", "/silent", "-m", "hello"]
    options = echo_client.parse_args(["-s", "127.0.0.1", "-p", str(legacy_server.port), "--timeout", "0.3", *args])
    out, err = io.StringIO(), io.StringIO()
    assert echo_client.EchoClient(options, out=out, err=err).run() == 1
    assert out.getvalue() == "Send: hello\n"
    assert err.getvalue() == "timed out waiting for the server\n"


def test_client_cannot_connect_exits_1():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = unused.getsockname()[1]
        status, out, err = run_imported(port)
    assert (status, out) == (1, "")
    assert err.startswith(f"cannot connect to 127.0.0.1:{port}: ")


def test_main_returns_the_exit_status(legacy_server, capsys):
    argv = ["-s", "127.0.0.1", "-p", str(legacy_server.port), "-r", "/reverse", "-m", "ab", "--timeout", "5"]
    assert echo_client.main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == "Send: ab\nRecv: ba\n"


# Against canned responses: the client checks what the server sends.


@contextlib.contextmanager
def canned_server(response):
    """Accept one connection, read the request, send a canned reply, close.

    ``response`` is bytes (``PORT`` is replaced by the port) or a function of
    the request bytes. Yields ``(port, received)``; ``received`` collects
    everything the client sent after its request.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    port = listener.getsockname()[1]
    received = bytearray()

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                request, _, rest = data.partition(b"\r\n\r\n")
                received.extend(rest)
                reply = response(request) if callable(response) else response.replace(b"PORT", str(port).encode())
                conn.sendall(reply)
                conn.shutdown(socket.SHUT_WR)
                while True:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    received.extend(chunk)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port, received
    finally:
        listener.close()
        thread.join(TIMEOUT)


def test_client_answers_pings_and_reassembles_fragments():
    def reply(request: bytes) -> bytes:
        key = re.search(rb"Sec-WebSocket-Key: (\S+)", request).group(1)
        accept = compute_accept(key)[0]
        return (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            b"\x89\x02hi"  # ping
            b"\x8a\x00"  # unsolicited pong, ignored
            b"\x01\x02He\x00\x01l\x80\x02lo"  # "Hello" in three fragments
            b"\x88\x05\x03\xe8bye"  # close 1000 'bye'
        )

    with canned_server(reply) as (port, received):
        status, out, err = run_imported(port, "-m", "Hello")
    assert (status, err) == (0, "")
    assert out.splitlines() == ["Send: Hello", "Recv: Hello", "Close: code=1000 reason='bye'"]
    connection = mock.FakeConnection(bytes(received))
    frames = [parse_frame(connection.read, expect_mask=True) for _ in range(3)]
    assert [(frame.opcode, frame.payload) for frame in frames] == [(0x1, b"Hello"), (0xA, b"hi"), (0x8, b"\x03\xe8")]
    assert connection.remaining() == b""


HYBI00_HEADERS = (
    b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
    b"Upgrade: WebSocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Origin: http://localhost\r\n"
    b"Sec-WebSocket-Location: ws://127.0.0.1:PORT/echo\r\n"
)
HYBI13_HEADERS = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


@pytest.mark.parametrize(
    ("version", "response", "error"),
    [
        (
            "hybi13",
            HYBI13_HEADERS + b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
            "handshake failed: Sec-WebSocket-Accept is 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=', expected ",
        ),
        (
            "hybi13",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
            "handshake failed: no Connection header",
        ),
        ("hybi13", b"HTTP/1.1 101 Switching Protocols\r\nbroken line\r\n\r\n", "malformed header line 'broken line'"),
        ("hybi00", HYBI00_HEADERS + b"\r\n" + b"0123456789abcdef", "handshake failed: challenge response"),
        ("hybi00", HYBI00_HEADERS + b"\r\n0123", "connection closed by the server"),
        (
            "hybi00",
            HYBI00_HEADERS + b"Sec-WebSocket-Protocol: surprise\r\n\r\n",
            "Sec-WebSocket-Protocol is 'surprise', expected None",
        ),
        (
            "hixie75",
            (
                b"HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
                b"WebSocket-Origin: http://localhost\r\nWebSocket-Location: ws://elsewhere/echo\r\n\r\n"
            ),
            "handshake failed: WebSocket-Location is 'ws://elsewhere/echo', expected 'ws://127.0.0.1:",
        ),
        (
            "hixie75",
            b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n\r\n",
            "unexpected status line 'HTTP/1.1 101 WebSocket Protocol Handshake'",
        ),
        ("hixie75", b"HTTP/1.1 403 Forbidden\r\n\r\n", "handshake failed: HTTP/1.1 403 Forbidden"),
    ],
    ids=[
        "wrong-accept",
        "no-connection",
        "malformed-header",
        "wrong-md5",
        "short-md5",
        "unrequested-protocol",
        "wrong-location",
        "hybi00-status-line",
        "forbidden",
    ],
)
def test_client_rejects_a_bad_handshake_response_and_exits_1(version, response, error):
    with canned_server(response) as (port, _):
        status, out, err = run_imported(port, "--protocol-version", version)
    assert (status, out) == (1, "")
    assert error in err


# A ws:// or wss:// URL instead of -s/-p/-r/-t, and the interactive mode (issue 16).


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ws://127.0.0.1:8880/echo", ("127.0.0.1", 8880, "/echo", False)),
        ("wss://example.org/a/b?x=1&y", ("example.org", None, "/a/b?x=1&y", True)),
        ("WS://[::1]:9/", ("::1", 9, "/", False)),
        ("ws://host", ("host", None, "/", False)),
    ],
)
def test_parse_args_takes_the_server_from_a_url(url, expected):
    options = echo_client.parse_args([url])
    assert (options.server_host, options.server_port, options.resource, options.use_tls) == expected


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["http://h/echo"], "URL must be ws://HOST[:PORT]/PATH or wss://..., not 'http://h/echo'"),
        (["ws:///echo"], "URL must be ws://HOST[:PORT]/PATH or wss://..., not 'ws:///echo'"),
        (["ws://h/echo#top"], "URL must not have a fragment: 'ws://h/echo#top'"),
        (["ws://h:99999/"], "URL has a bad port: 'ws://h:99999/'"),
        (["ws://h/", "-p", "1"], "give the server either as a URL or with -s/-p/-r/-t, not both"),
        (["ws://h/", "-r", "/x"], "give the server either as a URL or with -s/-p/-r/-t, not both"),
        (["ws://h/", "-t"], "give the server either as a URL or with -s/-p/-r/-t, not both"),
    ],
)
def test_parse_args_rejects_a_bad_url_or_a_url_with_server_options(capsys, args, error):
    with pytest.raises(SystemExit) as info:
        echo_client.parse_args(args)
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: {error}")


def test_client_script_takes_a_url_as_its_argument(example_server):
    result = run_client_script(example_server.url("/echo"), "-m", "by url")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["Send: by url", "Recv: by url", CLOSE_LINES["hybi13"]]


def run_interactive(port: int, lines: list[str], *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    options = echo_client.parse_args([f"ws://127.0.0.1:{port}/echo", "--timeout", str(TIMEOUT), "-i", *args])
    status = echo_client.EchoClient(options, out=out, err=err).run_interactive(lines)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("version", VERSIONS)
def test_interactive_client_sends_each_line_and_prints_each_reply_with_every_version(example_server, version):
    lines = ["first\n", "sécond\r\n", "\n"]
    status, out, err = run_interactive(example_server.port, lines, "--protocol-version", version)
    assert (status, err) == (0, "")
    assert out.splitlines() == ["Recv: first", "Recv: sécond", "Recv: ", CLOSE_LINES[version]]


def test_interactive_client_answers_a_close_the_server_starts_and_exits_0(example_server):
    out, err = io.StringIO(), io.StringIO()
    options = echo_client.parse_args([example_server.url("/close"), "-i", "--timeout", str(TIMEOUT)])
    status = echo_client.EchoClient(options, out=out, err=err).run_interactive(["4000 going\n", "never sent\n"])
    assert (status, err.getvalue()) == (0, "")
    assert out.getvalue().splitlines() == ["Close: code=4000 reason='going'"]


def test_interactive_client_closes_with_its_close_code_and_reason(legacy_server):
    status, out, err = run_interactive(legacy_server.port, ["hi\n"], "-c", "3001", "--close-reason", "later")
    assert (status, err) == (0, "")
    assert out.splitlines() == ["Recv: hi", "Close: code=3001 reason='later'"]


def test_interactive_client_that_cannot_connect_exits_1():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    status, out, err = run_interactive(port, ["x\n"])
    assert (status, out) == (1, "")
    assert err.startswith(f"cannot connect to 127.0.0.1:{port}: ")


def test_client_script_interactive_reads_stdin(example_server):
    result = run_client_script("-i", example_server.url("/echo"), stdin="typed\nby hand\n")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["Recv: typed", "Recv: by hand", CLOSE_LINES["hybi13"]]
