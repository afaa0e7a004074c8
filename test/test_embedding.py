"""The standalone server as other programs start it and embed it.

- WPT's ``tools/serve/serve.py`` (class ``WebSocketDaemon``) imports
  ``pywebsocket3.standalone``, calls ``_parse_args_and_config``, sets
  ``cgi_directories`` and ``is_executable_method``, builds a
  ``WebSocketServer``, reads the ports of ``server._sockets``, serves in a
  thread and stops with ``shutdown`` / ``server_close`` / ``join``.
- Chromium's blinkpy runs ``python -u <src>/mod_pywebsocket/standalone.py``
  with ``PYTHONPATH=<src>`` and pywebsocket3's options.
- Every option of pywebsocket 0.7.9 and pywebsocket3 4.0.2 is accepted; the
  ones without meaning here are reported as such.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from mod_pywebsocket import _standalone_options, dispatch, standalone
from pywebsocket3 import standalone as pywebsocket  # the import WPT's serve.py does
from test.conftest import EXAMPLE_DIR, REPO_ROOT, serve_in_thread, stop_server
from test.servers import assert_option_error
from test.wire import TIMEOUT, get, ws_connect

PACKAGE_DIR = os.path.join(REPO_ROOT, "mod_pywebsocket")


# The real resolver, for the stand-ins that replace it in some tests.
listening_addresses = standalone._listening_addresses


def ipv6_loopback_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def refuses_connections(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            return False
    except ConnectionRefusedError:
        return True


# WPT's WebSocketDaemon, step by step.


class WptDaemon:
    """Starts and stops a server with the calls WPT's ``WebSocketDaemon`` makes, in its order."""

    def __init__(self, host: str, port: str, doc_root: str, handlers_root: str, ssl_config: dict | None) -> None:
        cmd_args = ["-p", port, "-d", doc_root, "-w", handlers_root]
        if ssl_config is not None:
            cmd_args += ["--tls", "--private-key", ssl_config["key_path"], "--certificate", ssl_config["cert_path"]]
        cmd_args = ["-H", host, *cmd_args]  # WPT binds an address (bind_address is true by default)
        opts, self.args = pywebsocket._parse_args_and_config(cmd_args)
        opts.cgi_directories = []
        opts.is_executable_method = None
        self.server = pywebsocket.WebSocketServer(opts)
        ports = [item[0].getsockname()[1] for item in self.server._sockets]
        if not ports:
            raise OSError("failed to start")
        assert all(item == ports[0] for item in ports)
        self.port = ports[0]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(TIMEOUT)


@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_wpt_websocket_daemon_serves_the_examples_and_stops(pki, scheme):
    ssl_config = None
    client = {}
    if scheme == "wss":
        ssl_config = {"key_path": pki.path("server.key"), "cert_path": pki.path("server.pem")}
        client = {"ssl": pki.client_context()}
    daemon = WptDaemon("127.0.0.1", "0", REPO_ROOT, EXAMPLE_DIR, ssl_config)
    try:
        assert daemon.args == []
        assert daemon.port != 0
        with ws_connect(f"{scheme}://127.0.0.1:{daemon.port}/echo", **client) as ws:
            ws.send("Hello, world")
            assert ws.recv(timeout=TIMEOUT) == "Hello, world"
            ws.send(b"\x00\x01\xfe\xff")
            assert ws.recv(timeout=TIMEOUT) == b"\x00\x01\xfe\xff"
    finally:
        daemon.stop()
    assert not daemon.thread.is_alive()
    assert [sock.fileno() for sock, _ in daemon.server._sockets] == [-1]
    assert refuses_connections(daemon.port)


def test_shutdown_before_serve_forever_starts_still_stops_it():
    options, _ = standalone._parse_args_and_config(["-H", "127.0.0.1", "-p", "0", "-d", EXAMPLE_DIR])
    server = standalone.WebSocketServer(options)
    stopper = threading.Thread(target=server.shutdown, daemon=True)
    stopper.start()
    time.sleep(0.1)  # shutdown is now waiting for serve_forever
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    thread.join(TIMEOUT)
    stopper.join(TIMEOUT)
    server.server_close()
    assert not thread.is_alive() and not stopper.is_alive()


def embedded_server(args: list[str], **attributes) -> standalone.WebSocketServer:
    """Build a server as WPT does, setting ``attributes`` on the options first; serve it in a thread."""
    options, _ = pywebsocket._parse_args_and_config(["-H", "127.0.0.1", "-p", "0", *args])
    for name, value in attributes.items():
        setattr(options, name, value)
    return serve_in_thread(pywebsocket.WebSocketServer(options))


def test_cgi_directories_replace_cgi_paths(site):
    with open(os.path.join(site, "scripts", "hello.sh"), "rb") as source:
        script_source = source.read()
    server = embedded_server(["-d", site, "-x", "/scripts"])
    try:
        assert get(server.server_port, "/scripts/hello.sh")[2] == b"hello from /scripts/hello.sh\n"
    finally:
        stop_server(server)
    server = embedded_server(["-d", site, "-x", "/scripts"], cgi_directories=[], is_executable_method=None)
    try:
        assert get(server.server_port, "/scripts/hello.sh")[2] == script_source
    finally:
        stop_server(server)
    server = embedded_server(["-d", site], cgi_directories=["/scripts/"])
    try:
        assert get(server.server_port, "/scripts/hello.sh")[2] == b"hello from /scripts/hello.sh\n"
    finally:
        stop_server(server)


@pytest.mark.parametrize(
    ("verdict", "body"),
    [
        (True, b"hello from /scripts/hello.sh\n"),
        (False, None),
        ("/bin/sh", b"hello from /scripts/hello.sh\n"),
        (None, None),
    ],
)
def test_is_executable_method_decides_whether_a_cgi_script_runs(site, verdict, body):
    # A script that may not run is served as a plain file (its source), as pywebsocket did.
    asked = []

    def is_executable(path):
        asked.append(path)
        return verdict

    server = embedded_server(["-d", site], cgi_directories=["/scripts"], is_executable_method=is_executable)
    try:
        status, _, served = get(server.server_port, "/scripts/hello.sh")
    finally:
        stop_server(server)
    with open(os.path.join(site, "scripts", "hello.sh"), "rb") as source:
        assert (status, served) == (200, body if body is not None else source.read())
    assert asked == [os.path.join(site, "scripts", "hello.sh")]


def test_cgi_directory_without_a_leading_slash_is_refused(site):
    options, _ = standalone._parse_args_and_config(["-H", "127.0.0.1", "-p", "0", "-d", site])
    options.cgi_directories = ["cgi-bin"]
    with pytest.raises(ValueError, match="cgi path 'cgi-bin' must start with /"):
        standalone.WebSocketServer(options)


def test_parse_args_and_config_exits_2_on_an_unknown_option(capsys):
    with pytest.raises(SystemExit) as info:
        standalone._parse_args_and_config(["-d", EXAMPLE_DIR, "--no-such-option"])
    assert info.value.code == 2
    assert capsys.readouterr().err == "mod_pywebsocket.standalone: error: unrecognized arguments: --no-such-option\n"


def test_parse_args_and_config_reads_a_pywebsocket_config_file(tmp_path):
    config = tmp_path / "pywebsocket.conf"
    config.write_text(f"[pywebsocket]\ndocument_root = {EXAMPLE_DIR}\nport = 8880\nlog_level = fine\n")
    options, args = standalone._parse_args_and_config(["--config", str(config), "--port", "0"])
    assert (options.document_root, options.port, options.log_level, args) == (EXAMPLE_DIR, 0, "fine", [])


def test_pywebsocket_names_for_the_parser_are_ours():
    assert standalone._build_option_parser().long_options.keys() == standalone.build_parser().long_options.keys()
    with pytest.raises(SystemExit) as info:
        standalone._main(["-d", EXAMPLE_DIR, "-p", "http"])
    assert info.value.code == 2


def test_options_built_by_hand_with_pywebsocket3_names_are_honoured(site):
    """An embedder of pywebsocket3 builds the options itself; missing attributes take our defaults."""
    options = argparse.Namespace(
        server_host="127.0.0.1",
        port=0,
        document_root=site,
        websock_handlers=site,
        websock_handlers_map_file=None,
        scan_dir=None,
        allow_handlers_outside_root_dir=False,
        use_tls=False,
        private_key="",
        certificate="",
        tls_client_auth=False,
        tls_client_cert_optional=False,
        tls_client_ca="",
        use_basic_auth=True,
        basic_auth_credential="Basic " + base64.b64encode(b"alice:s3cret").decode(),
        validation_host=None,
        validation_port=None,
        request_queue_size=16,
        cgi_directories=[],
        is_executable_method=None,
    )
    server = serve_in_thread(standalone.WebSocketServer(options))
    try:
        assert get(server.server_port, "/index.html")[0] == 401
        with pytest.raises(InvalidStatus):
            ws_connect(f"ws://127.0.0.1:{server.server_port}/echo")
        with ws_connect(f"ws://alice:s3cret@127.0.0.1:{server.server_port}/echo") as ws:
            ws.send("by hand")
            assert ws.recv(timeout=TIMEOUT) == "by hand"
        assert server.options.max_message_size == 64 * 1024 * 1024
        assert server.options.handler_encoding is None
    finally:
        stop_server(server)


# Several listening sockets.


def test_listening_addresses_without_a_host_are_every_ipv4_and_ipv6_address():
    addresses = [(info[0], info[4][0]) for info in listening_addresses("", 0)]
    assert (socket.AF_INET, "0.0.0.0") in addresses
    if socket.has_ipv6:
        assert (socket.AF_INET6, "::") in addresses
    assert len(addresses) == len(set(addresses))


@pytest.mark.parametrize(("host", "address"), [("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("[::1]", "::1")])
def test_listening_address_of_an_ip_address_is_itself(host, address):
    assert [info[4][0] for info in listening_addresses(host, 0)] == [address]


def loopback_addresses(host, port):
    """Stands in for a host name that resolves to both loopback addresses."""
    return listening_addresses("127.0.0.1", port) + listening_addresses("::1", port)


def assert_both_sockets_serve_on_one_port(server: standalone.WebSocketServer) -> None:
    families = sorted(item[1][0] for item in server._sockets)
    assert families == sorted([socket.AF_INET, socket.AF_INET6])
    ports = {item[0].getsockname()[1] for item in server._sockets}
    assert ports == {server.server_port}
    for host, url_host in (("127.0.0.1", "127.0.0.1"), ("::1", "[::1]")):
        with ws_connect(f"ws://{url_host}:{server.server_port}/echo") as ws:
            ws.send(host)
            assert ws.recv(timeout=TIMEOUT) == host


def assert_stopped(server: standalone.WebSocketServer) -> None:
    stop_server(server)
    assert [item[0].fileno() for item in server._sockets] == [-1, -1]
    assert refuses_connections(server.server_port, "127.0.0.1")
    assert refuses_connections(server.server_port, "::1")


@pytest.mark.skipif(not ipv6_loopback_available(), reason="::1 cannot be bound here")
def test_host_with_two_addresses_listens_on_both_with_port_0_picking_one_port(site, monkeypatch):
    monkeypatch.setattr(standalone, "_listening_addresses", loopback_addresses)
    server = embedded_server(["-d", site])
    try:
        assert_both_sockets_serve_on_one_port(server)
    finally:
        assert_stopped(server)


def localhost_is_dual_stack() -> bool:
    try:
        found = {info[4][0] for info in socket.getaddrinfo("localhost", 0, proto=socket.IPPROTO_TCP)}
    except OSError:
        return False
    return {"127.0.0.1", "::1"} <= found and ipv6_loopback_available()


@pytest.mark.skipif(not localhost_is_dual_stack(), reason="localhost does not resolve to both 127.0.0.1 and ::1 here")
def test_localhost_listens_on_127_0_0_1_and_ipv6_loopback(site):
    options, _ = pywebsocket._parse_args_and_config(["-H", "localhost", "-p", "0", "-d", site])
    server = serve_in_thread(pywebsocket.WebSocketServer(options))
    try:
        assert_both_sockets_serve_on_one_port(server)
    finally:
        assert_stopped(server)


def test_address_that_cannot_be_bound_is_skipped_with_a_warning(site, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="mod_pywebsocket")

    def with_a_foreign_address(host, port):
        # 192.0.2.1 (TEST-NET-1) is no address of this machine: binding it fails.
        return listening_addresses("192.0.2.1", port) + listening_addresses("127.0.0.1", port)

    monkeypatch.setattr(standalone, "_listening_addresses", with_a_foreign_address)
    server = embedded_server(["-d", site])
    try:
        assert [item[1][4][0] for item in server._sockets] == ["127.0.0.1"]
        assert get(server.server_port, "/index.html")[0] == 200
    finally:
        stop_server(server)
    assert re.search(r"WARNING .*cannot listen on 192\.0\.2\.1:0: ", caplog.text)


def test_no_address_that_can_be_bound_raises_oserror(site, monkeypatch):
    monkeypatch.setattr(standalone, "_listening_addresses", lambda host, port: listening_addresses("192.0.2.1", port))
    options, _ = standalone._parse_args_and_config(["-p", "0", "-d", site])
    with pytest.raises(OSError, match=r"cannot listen on 192\.0\.2\.1:0: "):
        standalone.WebSocketServer(options)


# Chromium's blinkpy: the script path, PYTHONPATH, pywebsocket3's options.

PATH_HANDLER = """
import json
import sys


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    request.ws_stream.send_message(json.dumps(sys.path))
"""


def test_blinkpy_command_line_serves_the_handler_map_alias_and_stops_on_sigterm(tmp_path):
    tests = tmp_path / "http" / "tests" / "websocket"
    tests.mkdir(parents=True)
    with open(os.path.join(EXAMPLE_DIR, "echo_wsh.py")) as echo:
        (tests / "echo_wsh.py").write_text(echo.read())
    (tests / "path_wsh.py").write_text(PATH_HANDLER)
    (tests / "handler_map.txt").write_text("/alias /echo\n")
    log_file = tmp_path / "pywebsocket.ws.log-err.txt"
    command = [
        sys.executable, "-u", os.path.join(PACKAGE_DIR, "standalone.py"),
        "--server-host", "localhost", "--port", "0",
        "--document-root", str(tests), "--scan-dir", str(tests), "--cgi-paths", "/",
        "--log-file", str(log_file),
        "--websock-handlers-map-file", str(tests / "handler_map.txt"),
        "--handler-encoding", "utf-8",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        match = None
        deadline = time.monotonic() + TIMEOUT
        while match is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            match = re.search(r"listening on (\S+):(\d+) \(plain\)", log_file.read_text() if log_file.exists() else "")
        assert match is not None, process.poll()
        url = f"ws://{match.group(1)}:{match.group(2)}"
        with ws_connect(url + "/alias") as ws:
            ws.send("through the alias")
            assert ws.recv(timeout=TIMEOUT) == "through the alias"
        with ws_connect(url + "/path") as ws:
            path = [os.path.realpath(entry or ".") for entry in json.loads(ws.recv(timeout=TIMEOUT))]
        assert os.path.realpath(PACKAGE_DIR) not in path
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0
        assert process.stderr.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    assert "stopped" in log_file.read_text()


def test_script_runs_without_pythonpath(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, os.path.join(PACKAGE_DIR, "standalone.py"), "--help"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--handler-encoding" in result.stdout


def test_help_lists_the_compatibility_options_as_without_effect():
    result = subprocess.run(
        [sys.executable, "-m", "mod_pywebsocket.standalone", "--help"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 0
    help_text = " ".join(result.stdout.split())
    assert "compatibility: Options of pywebsocket 0.7.9 and pywebsocket3 4.0.2 that have no effect here" in help_text
    for name, reason in _standalone_options.NO_EFFECT.items():
        assert re.search(rf"--{name} \S+ .*accepted for compatibility, no effect: {re.escape(reason)}", help_text), name
    for option in ("--handler-encoding", "--tls-client-cert-optional", "fine (below debug)"):
        assert option in help_text


# pywebsocket's options.

# Every long option of pywebsocket3 4.0.2's and 0.7.9's parsers (their
# spellings), with a value; PKI, TLS and AUTH stand for what the option needs.
ORIGINAL_OPTIONS = [
    ["--config", "CONFIG"],
    ["--server-host", "127.0.0.1"], ["--server_host", "::1"], ["-H", "localhost"],
    ["--validation-host", "example.test"], ["--validation_host", "example.test"], ["-V", "example.test"],
    ["--port", "8880"], ["-p", "0"],
    ["--validation-port", "8880"], ["--validation_port", "8880"], ["-P", "8880"],
    ["--websock-handlers", "."], ["--websock_handlers", "."], ["-w", EXAMPLE_DIR],
    ["--websock-handlers-map-file", "handler_map.txt"], ["--websock_handlers_map_file", "handler_map.txt"],
    ["-m", os.path.join(EXAMPLE_DIR, "handler_map.txt")],
    ["--scan-dir", "."], ["--scan_dir", "."], ["-s", EXAMPLE_DIR],
    ["--allow-handlers-outside-root-dir"], ["--allow_handlers_outside_root_dir"],
    ["--document-root", EXAMPLE_DIR], ["--document_root", EXAMPLE_DIR], ["-d", EXAMPLE_DIR],
    ["--cgi-paths", "/"], ["--cgi_paths", "/,/"], ["-x", "/"],
    ["--tls", "KEY", "CERT"], ["-t", "KEY", "CERT"],
    ["--tls-module", "ssl", "TLS"], ["--tls_module", "pyopenssl", "TLS"],
    ["--private-key", "server.key", "TLS"], ["--private_key", "server.key", "TLS"], ["-k", "server.key", "TLS"],
    ["--certificate", "server.pem", "TLS"], ["-c", "server.pem", "TLS"],
    ["--tls-client-auth", "TLS", "CA"],
    ["--tls-client-cert-optional", "TLS", "AUTH"],
    ["--tls-client-ca", "ca.pem", "TLS", "--tls-client-auth"],
    ["--basic-auth"], ["--basic-auth-credential", "alice:s3cret", "--basic-auth"],
    ["--log-file", "LOG"], ["--log_file", "LOG"], ["-l", "LOG"],
    *[["--log-level", level] for level in ("fine", "debug", "info", "warning", "warn", "error", "critical")],
    ["--log_level", "fine"],
    *[["--deflate-log-level", level] for level in ("debug", "info", "warning", "warn", "error", "critical")],
    ["--deflate_log_level", "warn"],
    ["--thread-monitor-interval-in-sec", "-1"], ["--thread_monitor_interval_in_sec", "5"],
    ["--log-max", "262144"], ["--log_max", "262144"], ["--log-count", "5"], ["--log_count", "5"],
    ["--allow-draft75"], ["--strict"],
    ["--queue", "128"], ["-q", "128"],
    ["--handler-encoding", "utf-8"], ["--handler_encoding", "cp1252"],
]  # fmt: skip


@pytest.mark.parametrize("args", ORIGINAL_OPTIONS, ids=lambda args: " ".join(args[:2]))
def test_every_pywebsocket_option_is_accepted(args, pki, tmp_path, monkeypatch):
    monkeypatch.chdir(EXAMPLE_DIR)
    config = tmp_path / "pywebsocket.conf"
    config.write_text("[pywebsocket]\nlog_level = debug\n")
    companions = {
        "CONFIG": [str(config)],
        "TLS": ["-t", "-k", pki.path("server.key"), "-c", pki.path("server.pem")],
        "KEY": ["-k", pki.path("server.key")],
        "CERT": ["-c", pki.path("server.pem")],
        "CA": ["--tls-client-ca", pki.path("ca.pem")],
        "AUTH": ["--tls-client-auth", "--tls-client-ca", pki.path("ca.pem")],
        "LOG": [str(tmp_path / "server.log")],
        "server.key": [pki.path("server.key")],
        "server.pem": [pki.path("server.pem")],
        "ca.pem": [pki.path("ca.pem")],
    }
    argv = ["-d", EXAMPLE_DIR]
    for arg in args:
        argv += companions.get(arg, [arg])
    options = standalone.parse_options(argv)
    assert options.document_root == EXAMPLE_DIR


@pytest.mark.parametrize(
    ("args", "name", "value"),
    [
        (["--handler-encoding", "UTF8"], "handler_encoding", "utf-8"),
        (["--handler-encoding", "latin-1"], "handler_encoding", "iso8859-1"),
        (["--deflate-log-level", "WARN"], "deflate_log_level", "warn"),
        (["--tls-module", "pyOpenSSL"], "tls_module", "pyopenssl"),
        (["--log-level", "fine"], "log_level", "fine"),
        (["--thread-monitor-interval-in-sec", "-1"], "thread_monitor_interval_in_sec", 0.0),
        (["--thread-monitor-interval-in-sec", "0"], "thread_monitor_interval_in_sec", 0.0),
        (["--thread-monitor-interval-in-sec", "2.5"], "thread_monitor_interval_in_sec", 2.5),
        (["--cgi-paths", "/"], "cgi_paths", ["/"]),
    ],
)
def test_compatibility_option_values_are_read_as_pywebsocket_means_them(args, name, value):
    assert getattr(standalone.parse_options(["-d", EXAMPLE_DIR, *args]), name) == value


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--handler-encoding", "klingon"], "unknown encoding 'klingon'"),
        (["--deflate-log-level", "fine"], "deflate log level must be one of debug, info, warning, warn, error, "
                                          "critical, not 'fine'"),
        (["--tls-module", "gnutls"], "tls module must be one of ssl, pyopenssl, not 'gnutls'"),
        (["--log-level", "finest"], "log level must be one of fine, debug, info, warning, warn, error, critical"),
        (["--thread-monitor-interval-in-sec", "nan"], "expected a finite number of seconds, not 'nan'"),
        (["--tls-client-cert-optional"], "--tls-client-cert-optional needs --tls-client-auth"),
    ],
)  # fmt: skip
def test_bad_compatibility_option_values_get_one_error_line_and_status_2(capsys, args, message):
    assert_option_error(capsys, ["-d", EXAMPLE_DIR, *args], message)


def test_options_without_effect_are_logged_once_each(caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    server = embedded_server(["-d", EXAMPLE_DIR, "--tls-module", "ssl", "--deflate-log-level", "debug"])
    stop_server(server)
    lines = [record.getMessage() for record in caplog.records if "accepted for compatibility" in record.getMessage()]
    assert lines == [
        "--deflate-log-level debug is accepted for compatibility and has no effect: "
        + _standalone_options.NO_EFFECT["deflate-log-level"],
        "--tls-module ssl is accepted for compatibility and has no effect: "
        + _standalone_options.NO_EFFECT["tls-module"],
    ]


def test_options_without_effect_are_not_logged_when_absent(caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    stop_server(embedded_server(["-d", EXAMPLE_DIR]))
    assert "accepted for compatibility" not in caplog.text


def test_relative_tls_files_are_found_under_the_document_root_as_pywebsocket_did(pki, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = standalone.parse_options(["-d", pki.path(""), "-t", "-k", "server.key", "-c", "server.pem"])
    assert (options.private_key, options.certificate) == (pki.path("server.key"), pki.path("server.pem"))
    shutil.copy(pki.path("server.pem"), tmp_path / "server.pem")  # a file here comes first
    options = standalone.parse_options(["-d", pki.path(""), "-t", "-k", "server.key", "-c", "server.pem"])
    assert (options.private_key, options.certificate) == (pki.path("server.key"), "server.pem")


# --handler-encoding: handler files in another encoding.

LATIN_1_HANDLER = """
def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    request.ws_stream.send_message("caf\xe9")
""".encode("latin-1")


def test_dispatcher_reads_handlers_in_the_handler_encoding(tmp_path):
    (tmp_path / "cafe_wsh.py").write_bytes(LATIN_1_HANDLER)
    assert dispatch.Dispatcher(str(tmp_path), handler_encoding="latin-1").get_handler_suite("/cafe") is not None
    by_default = dispatch.Dispatcher(str(tmp_path))
    assert by_default.get_handler_suite("/cafe") is None
    assert len(by_default.source_warnings()) == 1 and "cafe_wsh.py" in by_default.source_warnings()[0]


def test_dispatcher_refuses_an_unknown_handler_encoding(tmp_path):
    with pytest.raises(LookupError):
        dispatch.Dispatcher(str(tmp_path), handler_encoding="klingon")


def test_handler_encoding_option_reaches_the_handlers(tmp_path):
    (tmp_path / "cafe_wsh.py").write_bytes(LATIN_1_HANDLER)
    server = embedded_server(["-d", str(tmp_path), "--handler-encoding", "latin-1"])
    try:
        with ws_connect(f"ws://127.0.0.1:{server.server_port}/cafe") as ws:
            assert ws.recv(timeout=TIMEOUT) == "caf\xe9"
    finally:
        stop_server(server)


# --tls-client-cert-optional.


@pytest.mark.parametrize(("certificate", "accepted"), [(None, True), ("client", True), ("stranger", False)])
def test_tls_client_cert_optional_lets_clients_without_a_certificate_in(pki, certificate, accepted):
    server = embedded_server(["-d", EXAMPLE_DIR, *pki.server_args(client_auth=True), "--tls-client-cert-optional"])
    try:
        assert server.ssl_context.verify_mode == ssl.CERT_OPTIONAL
        url = f"wss://127.0.0.1:{server.server_port}/echo"
        if accepted:
            with ws_connect(url, ssl=pki.client_context(certificate)) as ws:
                ws.send("optional")
                assert ws.recv(timeout=TIMEOUT) == "optional"
        else:
            # With TLS 1.3 the refusal may only show when the client reads.
            with pytest.raises(Exception) as info, ws_connect(url, ssl=pki.client_context(certificate)) as ws:
                ws.recv(timeout=TIMEOUT)
            refusals = (ssl.SSLError, ConnectionError, EOFError, InvalidHandshake, ConnectionClosed)
            assert isinstance(info.value, refusals), repr(info.value)
    finally:
        stop_server(server)
