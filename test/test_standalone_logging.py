"""The standalone server's logging.

--log-level, the log file and its rotation, the access and close lines, the
thread monitor.

Servers run in this process (``running_server``) or as a subprocess
(``servers.cli_server``); clients are the ``websockets`` library and raw
sockets (test/wire.py). The ``site`` and ``pki`` fixtures are in conftest.py.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from mod_pywebsocket import _standalone_options, common, standalone
from test.conftest import EXAMPLE_DIR, REPO_ROOT, running_server
from test.servers import cli_server, killed_at_exit, run_cli
from test.wire import TIMEOUT, get, ws_connect

# Logging.


@pytest.mark.parametrize(
    ("level", "number"),
    [
        ("fine", 9),
        ("debug", 10),
        ("info", 20),
        ("warning", 30),
        ("warn", 30),
        ("error", 40),
        ("critical", 50),
        ("INFO", 20),
    ],
)
def test_log_level_sets_the_root_logger_level(level, number):
    options = standalone.parse_options(["-d", EXAMPLE_DIR, "--log-level", level])
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers[:] = []  # so that _configure_logging does not close pytest's handlers
    try:
        standalone._configure_logging(options)
        assert root.level == number
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
            handler.close()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def test_log_level_warning_hides_info_lines(tmp_path):
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mod_pywebsocket.standalone", "-H", "127.0.0.1", "-p", "0", "-d", "example",
             "--log-level", "warning", "-V", "ignored.example"],
            cwd=REPO_ROOT, stderr=log,
        )  # fmt: skip
    with killed_at_exit(process):
        deadline = time.monotonic() + TIMEOUT
        while "take effect only with --strict" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0
    text = log_path.read_text()
    assert "[WARNING]" in text and "take effect only with --strict" in text
    assert "[INFO]" not in text


def test_log_level_debug_shows_the_wire_trace(tmp_path, site):
    with cli_server(tmp_path, "-d", site, "--log-level", "debug") as (process, port, log_path):
        with ws_connect(f"ws://127.0.0.1:{port}/echo") as ws:
            ws.send("traced")
            assert ws.recv(timeout=TIMEOUT) == "traced"
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0
    assert "[DEBUG]" in log_path.read_text()


def test_log_file_is_rotated_at_log_max_keeping_log_count_files(tmp_path, site):
    log_file = tmp_path / "logs" / "server.log"
    log_file.parent.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "mod_pywebsocket.standalone", "-H", "127.0.0.1", "-p", "0", "-d", site,
         "-l", str(log_file), "--log-max", "2000", "--log-count", "2"],
        cwd=REPO_ROOT, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with killed_at_exit(process):
        deadline = time.monotonic() + TIMEOUT
        match = None
        while match is None and time.monotonic() < deadline:
            time.sleep(0.05)
            match = re.search(r"listening on \S+:(\d+)", log_file.read_text() if log_file.exists() else "")
        assert match is not None
        for _ in range(40):
            assert get(int(match.group(1)), "/index.html")[0] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0
    names = sorted(os.listdir(log_file.parent))
    assert names == ["server.log", "server.log.1", "server.log.2"]
    for name in names:
        assert os.path.getsize(log_file.parent / name) <= 2000
    assert '"GET /index.html HTTP/1.1" 200' in (log_file.parent / "server.log.1").read_text()


def test_unwritable_log_file_exits_2(tmp_path):
    result = run_cli("-d", "example", "-l", str(tmp_path / "no" / "such" / "dir" / "log"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot open log file" in result.stderr


def test_websocket_end_is_logged_with_peer_resource_version_extensions_duration_and_code(site, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", site) as server:
        with ws_connect(server.url("/echo"), subprotocols=["chat"]) as ws:
            ws.send("x")
            assert ws.recv(timeout=TIMEOUT) == "x"
            port = ws.socket.getsockname()[1]
        deadline = time.monotonic() + TIMEOUT
        while "websocket /echo ended" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)
    lines = [record.getMessage() for record in caplog.records if "websocket /echo ended" in record.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith(f"127.0.0.1:{port} - websocket /echo ended after ")
    assert ": version 13, protocol chat, extensions permessage-deflate" in lines[0]
    assert lines[0].endswith(", closed by the client with code 1000")
    assert all(record.levelno == logging.INFO for record in caplog.records if "ended after" in record.getMessage())


def test_websocket_end_log_line_says_when_the_server_started_the_close(site, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", site) as server:
        with ws_connect(server.url("/info")) as ws:  # sends one message and returns: the server closes
            json.loads(ws.recv(timeout=TIMEOUT))
            with pytest.raises(ConnectionClosedOK):
                ws.recv(timeout=TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while "websocket /info ended" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)
    lines = [record.getMessage() for record in caplog.records if "websocket /info ended" in record.getMessage()]
    assert len(lines) == 1
    assert lines[0].endswith(", closed by the server, the client answered code 1000")


def test_plain_http_requests_get_access_log_lines(site, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", site) as server:
        get(server.port, "/index.html")
        get(server.port, "/missing.html")
    assert '"GET /index.html HTTP/1.1" 200' in caplog.text
    assert '"GET /missing.html HTTP/1.1" 404' in caplog.text


def test_handler_error_is_logged_with_its_traceback(site, caplog):
    caplog.set_level(logging.INFO)
    with running_server("-d", site) as server, ws_connect(server.url("/raise")) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=TIMEOUT)
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert errors and errors[0].exc_info is not None and "raised on purpose" in caplog.text


def test_thread_monitor_logs_the_thread_count(site, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", site, "--thread-monitor-interval-in-sec", "0.1"):
        deadline = time.monotonic() + TIMEOUT
        while caplog.text.count("threads alive") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert caplog.text.count("threads alive") >= 2


def test_thread_monitor_of_0_7_9_alone_logs_the_thread_count_until_stopped(caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    monitor = standalone.ThreadMonitor(0.05)
    monitor.start()
    deadline = time.monotonic() + TIMEOUT
    while "threads alive" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.02)
    monitor.stop()
    monitor.join(TIMEOUT)
    assert not monitor.is_alive() and monitor.daemon and monitor.name == "ThreadMonitor"
    assert re.search(r"^\d+ threads alive$", caplog.records[0].getMessage())


def test_tls_probes_of_0_7_9_choose_the_ssl_module():
    # Old WPT: "if _import_ssl(): tls_module = _TLS_BY_STANDARD_MODULE elif _import_pyopenssl(): ...".
    assert (standalone._import_ssl(), standalone._import_pyopenssl()) == (True, False)
    assert (standalone._TLS_BY_STANDARD_MODULE, standalone._TLS_BY_PYOPENSSL) == ("ssl", "pyopenssl")


def test_thread_monitor_is_off_by_default(site, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", site) as server:
        assert server.server.options.thread_monitor_interval_in_sec == 0
        time.sleep(0.3)
    assert "threads alive" not in caplog.text


def test_options_module_log_levels_match_logging():
    # "fine" is pywebsocket's own level (below DEBUG); logging names it FINE only once the server configured logging.
    levels = dict(_standalone_options.LOG_LEVELS)
    assert levels.pop("fine") == common.LOGLEVEL_FINE == 9
    for name, number in levels.items():
        assert logging.getLevelName(number) == {"warn": "WARNING"}.get(name, name.upper())
