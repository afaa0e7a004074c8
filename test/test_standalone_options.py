"""The standalone server's options.

The config file, --help, host validation, IPv6, the handler options and the
console entry point.

Servers run in this process (``running_server``) or as a subprocess
(``servers.cli_server``); clients are the ``websockets`` library and raw
sockets (test/wire.py). The ``site`` and ``pki`` fixtures are in conftest.py.
"""

from __future__ import annotations

import json
import os
import shutil
import socket

import pytest
from websockets.exceptions import InvalidStatus

from mod_pywebsocket import standalone
from test.conftest import REPO_ROOT, running_server
from test.servers import SITE, assert_option_error, run_cli
from test.wire import HIXIE75, TIMEOUT, get, parse_response, read_until, roundtrip, upgrade_request, ws_connect

# The config file and --help.


def test_config_file_sets_options_and_the_command_line_wins(tmp_path, site):
    config = tmp_path / "server.ini"
    config.write_text(
        f"# options\ndocument-root = {site}\nlog_level = warning\nqueue = 7\nstrict = true\n"
        "allow-draft75 = no\n[mod_pywebsocket]\ncgi-paths = /cgi-bin\n"
    )
    options = standalone.parse_options(["--config", str(config), "--queue", "9"])
    assert options.document_root == site
    assert options.log_level == "warning"
    assert options.request_queue_size == 9
    assert options.strict is True and options.allow_draft75 is False
    assert options.cgi_paths == ["/cgi-bin"]


def test_config_file_runs_a_server(tmp_path, site):
    config = tmp_path / "server.ini"
    config.write_text(f"[mod_pywebsocket]\ndocument_root = {site}\ncgi_paths = /scripts\n")
    with running_server("--config", str(config)) as server:
        assert get(server.port, "/scripts/hello.sh")[2] == b"hello from /scripts/hello.sh\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no-such-option = 1\n", "unknown option 'no-such-option'"),
        ("config = other.ini\n", "unknown option 'config'"),
        ("[other]\nport = 1\n", "unknown section [other]"),
        ("tls = maybe\n", "tls must be true or false, not 'maybe'"),
        ("port = http\n", "port must be a number, not 'http'"),
        ("just a line\n", "is malformed"),
    ],
)
def test_bad_config_file_gets_one_error_line_and_status_2(tmp_path, capsys, text, message):
    config = tmp_path / "server.ini"
    config.write_text(text)
    assert_option_error(capsys, ["--config", str(config)], message)


def test_missing_config_file_gets_one_error_line_and_status_2(tmp_path, capsys):
    assert_option_error(capsys, ["--config", str(tmp_path / "missing.ini")], "cannot read config file")


def test_help_documents_every_option():
    result = run_cli("--help")
    assert result.returncode == 0
    parser = standalone.build_parser()
    for name, action in parser.long_options.items():
        assert f"--{name}" in result.stdout, name
        assert action.help, name
    assert set(parser.long_options) == {
        "server-host", "port", "document-root", "cgi-paths", "queue", "config", "websock-handlers",
        "websock-handlers-map-file", "scan-dir", "allow-handlers-outside-root-dir", "allow-draft75", "strict",
        "validation-host", "validation-port", "tls", "private-key", "certificate", "tls-client-auth",
        "tls-client-ca", "ca-certificate", "basic-auth", "basic-auth-credential", "max-line-length",
        "max-header-count", "max-head-size", "handshake-timeout", "max-message-size", "max-connections",
        "max-incoming-memory", "max-request-body", "cgi-timeout", "log-file", "log-level", "log-max", "log-count",
        "thread-monitor-interval-in-sec", "handler-encoding", "tls-client-cert-optional", "deflate-log-level",
        "tls-module", "examples", "reload", "http2", "write-timeout",
    }  # fmt: skip


UNDERSCORE_SAMPLES = {
    "cgi-paths": "/c",
    "log-level": "debug",
    "basic-auth-credential": "a:b",
    "handler-encoding": "latin-1",
    "deflate-log-level": "debug",
    "tls-module": "ssl",
}


@pytest.mark.parametrize("name", sorted(name for name in standalone.build_parser().long_options if "-" in name))
def test_long_option_accepts_the_underscore_spelling(name):
    parser = standalone.build_parser()
    action = parser.long_options[name]
    value = [] if action.nargs == 0 else [UNDERSCORE_SAMPLES.get(name, "1")]
    with_underscore = getattr(parser.parse_args(["--" + name.replace("-", "_"), *value]), action.dest)
    assert with_underscore == getattr(parser.parse_args(["--" + name, *value]), action.dest)
    assert with_underscore != action.default


def test_every_long_option_has_a_test_in_the_standalone_endtoend_or_embedding_tests():
    here = os.path.dirname(os.path.abspath(__file__))
    names = [name for name in os.listdir(here) if name.startswith("test_standalone") and name.endswith(".py")]
    tests = ""
    for name in [*names, "test_endtoend.py", "test_embedding.py"]:
        with open(os.path.join(here, name)) as source:
            tests += source.read()
    untested = [name for name in standalone.build_parser().long_options if f"--{name}" not in tests]
    short_only = {"server-host": '"-H"', "port": '"-p"', "document-root": '"-d"', "scan-dir": '"-s"',
                  "websock-handlers": '"-w"', "websock-handlers-map-file": '"-m"', "cgi-paths": '"-x"',
                  "tls": '"-t"', "private-key": '"-k"', "certificate": '"-c"', "log-file": '"-l"',
                  "queue": '"-q"', "validation-host": '"-V"', "validation-port": '"-P"'}  # fmt: skip
    assert [name for name in untested if short_only.get(name, "--") not in tests] == []


# Host validation, IPv6, queue, handler options.


@pytest.mark.parametrize(
    ("args", "host", "status"),
    [
        (["-V", "example.test"], "example.test", 200),
        (["-V", "example.test"], "EXAMPLE.test:80", 200),
        (["-V", "example.test"], "other.test", 403),
        (["-P", "8080"], "example.test:8080", 200),
        (["-P", "8080"], "example.test:8081", 403),
        (["-P", "80"], "example.test", 200),
        (["-V", "example.test", "-P", "80"], "example.test:81", 403),
        (["-V", "::1"], "[::1]:1234", 200),
        (["-V", "example.test"], "example.test:http", 400),
        (["-V", "example.test"], None, 400),
    ],
)
def test_strict_validation_host_and_port_check_the_host_header(site, args, host, status):
    with running_server("-d", site, "--strict", *args) as server:
        headers = f"Host: {host}\r\n" if host is not None else ""
        request = f"GET /index.html HTTP/1.1\r\n{headers}Connection: close\r\n\r\n".encode()
        assert parse_response(roundtrip(server.port, request))[0] == status


def test_strict_validation_applies_to_websockets(site):
    with running_server("-d", site, "--strict", "-V", "example.test") as server:
        with pytest.raises(InvalidStatus) as info:
            ws_connect(server.url("/echo"))
        assert info.value.response.status_code == 403


def test_validation_host_without_strict_is_ignored(site):
    with running_server("-d", site, "-V", "example.test", "-P", "1") as server:
        assert get(server.port, "/index.html")[0] == 200


def test_ipv6_server_host(site):
    with running_server("-d", site, "-H", "::1") as server:
        with ws_connect(f"ws://[::1]:{server.port}/echo") as ws:
            ws.send("over ipv6")
            assert ws.recv(timeout=TIMEOUT) == "over ipv6"
        assert get(server.port, "/index.html", host="::1")[0] == 200


def test_queue_sets_the_listen_backlog(site):
    with running_server("-d", site, "-q", "7") as server:
        assert server.server.request_queue_size == 7


def test_websock_handlers_is_relative_to_the_document_root(tmp_path, site):
    with running_server("-d", str(tmp_path), "-w", "site") as server, ws_connect(server.url("/echo")) as ws:
        ws.send("relative")
        assert ws.recv(timeout=TIMEOUT) == "relative"


def test_scan_dir_limits_the_handlers_loaded(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    for directory in (root, root / "sub"):
        shutil.copy(os.path.join(SITE, "echo_wsh.py"), directory / "echo_wsh.py")
    with running_server("-d", str(root), "-s", "sub") as server:
        with ws_connect(server.url("/sub/echo")) as ws:
            ws.send("scanned")
            assert ws.recv(timeout=TIMEOUT) == "scanned"
        with pytest.raises(InvalidStatus) as info:
            ws_connect(server.url("/echo"))
        assert info.value.response.status_code == 404


@pytest.mark.parametrize(("flag", "status"), [([], 404), (["--allow-handlers-outside-root-dir"], 101)])
def test_allow_handlers_outside_root_dir_loads_symlinked_handlers(tmp_path, flag, status):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(os.path.join(SITE, "echo_wsh.py"), tmp_path / "echo_wsh.py")
    os.symlink(tmp_path / "echo_wsh.py", root / "linked_wsh.py")
    with running_server("-d", str(root), *flag) as server:
        response = roundtrip(server.port, upgrade_request("/linked") + b"\x88\x80\x00\x00\x00\x00")
        assert parse_response(response)[0] == status


@pytest.mark.parametrize(("flag", "expected"), [([], b"HTTP/1.1 400 "), (["--allow-draft75"], b"HTTP/1.1 101 ")])
def test_allow_draft75_accepts_hixie_75(site, flag, expected):
    with running_server("-d", site, *flag) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(HIXIE75)
            assert read_until(sock, lambda data: b"\r\n" in data).startswith(expected)


def test_strict_rejects_hixie_75_headers_out_of_order(site):
    reordered = (
        b"GET /echo HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\nHost: 127.0.0.1\r\n"
        b"Origin: http://127.0.0.1\r\n\r\n"
    )
    with running_server("-d", site, "--allow-draft75", "--strict") as server:
        assert parse_response(roundtrip(server.port, reordered))[0] == 400


def test_raw_request_lines_are_the_lines_as_received(site):
    with running_server("-d", site) as server, ws_connect(server.url("/info?q=1")) as ws:
        info = json.loads(ws.recv(timeout=TIMEOUT))
    assert info["raw_request_line"] == "GET /info?q=1 HTTP/1.1\r\n" and info["uri"] == "/info?q=1"


# Packaging.


def test_console_script_entry_point_is_main():
    tomllib = pytest.importorskip("tomllib")

    with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as source:
        scripts = tomllib.load(source)["project"]["scripts"]
    assert scripts["pywebsocket-standalone"] == "mod_pywebsocket.standalone:main"
    assert callable(standalone.main)
