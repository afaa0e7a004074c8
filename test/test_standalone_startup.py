"""What the standalone server says at start and when it refuses (issue 16: the first hour of a new user).

The resource list, the reason logged for a 404, ``--reload``, the error
lines that name the address, port or path involved, ``--examples``,
``--version`` and the message an old Python gets.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest
from websockets.sync.client import connect

from mod_pywebsocket import __version__, _masking, standalone
from test.conftest import EXAMPLE_DIR, EXAMPLE_RESOURCES, REPO_ROOT, running_server
from test.servers import ServerProcess, option_error, run_cli
from test.wire import exchange, upgrade_request

TIMEOUT = 10.0
PROG = "mod_pywebsocket.standalone"
HANDLER = """
def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    request.ws_stream.send_message({reply!r})
"""


def startup_log(caplog) -> list[tuple[str, str]]:
    return [(record.levelname, record.getMessage()) for record in caplog.records if record.name.endswith("standalone")]


# The resource list.


def test_start_logs_the_resource_count_at_info_and_each_resource_at_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="mod_pywebsocket")
    with running_server("-d", EXAMPLE_DIR):
        pass
    log = startup_log(caplog)
    assert log[0] == ("INFO", f"serving 9 WebSocket resources from {EXAMPLE_DIR}")
    assert log[1:10] == [("DEBUG", f"resource {name}: {EXAMPLE_DIR}{name}_wsh.py") for name in EXAMPLE_RESOURCES]


def test_start_without_any_handler_warns_that_every_websocket_request_gets_404(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", str(tmp_path)):
        pass
    message = (
        f"no WebSocket resources: no *_wsh.py handler under {tmp_path} loaded; every WebSocket request gets 404 "
        "(give the directory of your handlers with -w)"
    )
    assert startup_log(caplog)[0] == ("WARNING", message)


def test_handler_file_with_a_syntax_error_is_warned_about_once_and_counted(tmp_path, caplog):
    (tmp_path / "broken_wsh.py").write_text("def x(:\n")
    (tmp_path / "fine_wsh.py").write_text(HANDLER.format(reply="fine"))
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", str(tmp_path)):
        pass
    messages = [message for _, message in startup_log(caplog)] + caplog.messages
    assert sum("broken_wsh.py" in message for message in caplog.messages) == 1, messages
    assert startup_log(caplog)[0] == (
        "INFO",
        f"serving 1 WebSocket resource from {tmp_path}; 1 problem loading handlers (warnings above)",
    )


# Why 404.


def test_404_for_an_unknown_resource_logs_the_resources_that_are_served(caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", EXAMPLE_DIR) as server:
        status, _, _ = exchange(server.port, upgrade_request("/ecko"))
    assert status == 404
    (line,) = [message for message in caplog.messages if "opening handshake" in message]
    served = ", ".join(EXAMPLE_RESOURCES)
    assert line.endswith(
        f" - opening handshake of /ecko failed: no handler for /ecko: no *_wsh.py file under {EXAMPLE_DIR} "
        f"serves it (9 served: {served})"
    )


def test_404_for_a_handler_that_did_not_load_logs_its_file_and_error(tmp_path, caplog):
    (tmp_path / "broken_wsh.py").write_text("def x(:\n")
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", str(tmp_path)) as server:
        status, body, _ = exchange(server.port, upgrade_request("/broken"))
    assert status == 404 and body.endswith(b"\r\n\r\nno handler for /broken\n")
    (line,) = [message for message in caplog.messages if "opening handshake" in message]
    assert line.endswith(
        f" - opening handshake of /broken failed: no handler for /broken: its handler file did not load: "
        f"cannot load {tmp_path}/broken_wsh.py: invalid syntax (broken_wsh.py, line 1)"
    )


def test_hixie75_request_without_allow_draft75_gets_400_and_a_log_line_naming_the_option(caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    request = b"GET /echo HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: 127.0.0.1\r\nOrigin: x\r\n\r\n"
    with running_server("-d", EXAMPLE_DIR) as server:
        status, _, _ = exchange(server.port, request)
    assert status == 400
    (line,) = [message for message in caplog.messages if "opening handshake" in message]
    assert line.endswith("Hixie-75: not enabled (standalone server: --allow-draft75; Apache: PythonOption "
                         "mod_pywebsocket.allow_draft75 On))")  # fmt: skip


# --reload.


def test_start_with_reload_and_no_handler_yet_says_that_new_ones_will_load(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", str(tmp_path), "--reload"):
        pass
    message = (
        f"no WebSocket resources: no *_wsh.py handler under {tmp_path} loaded; "
        "--reload loads the ones added there later"
    )
    assert startup_log(caplog)[0] == ("WARNING", message)


def test_reload_serves_a_handler_file_added_and_then_changed_after_start(tmp_path):
    with running_server("-d", str(tmp_path), "--reload") as server:
        (tmp_path / "late_wsh.py").write_text(HANDLER.format(reply="added"))
        with connect(server.url("/late"), open_timeout=TIMEOUT) as ws:
            assert ws.recv(timeout=TIMEOUT) == "added"
        (tmp_path / "late_wsh.py").write_text(HANDLER.format(reply="changed, and longer"))
        with connect(server.url("/late"), open_timeout=TIMEOUT) as ws:
            assert ws.recv(timeout=TIMEOUT) == "changed, and longer"


def test_start_with_reload_says_so(caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", EXAMPLE_DIR, "--reload"):
        pass
    assert startup_log(caplog)[0] == (
        "INFO",
        f"serving 9 WebSocket resources from {EXAMPLE_DIR}; --reload picks up new and changed handler files",
    )


# Error lines name the path, address or port.


def test_handler_root_that_is_not_a_directory_names_the_resolved_path(capsys):
    line = option_error(capsys, ["-d", EXAMPLE_DIR, "-w", "example"])
    assert line == (
        f"{PROG}: error: handler root 'example' is not a directory ({EXAMPLE_DIR}/example: "
        "-w is relative to the document root)"
    )


def test_document_root_that_is_not_a_directory_names_the_resolved_path(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = option_error(capsys, ["-d", "nowhere"])
    assert line == f"{PROG}: error: document root 'nowhere' is not a directory ({tmp_path}/nowhere)"


@pytest.mark.parametrize("missing", ["certificate", "private key"])
def test_missing_tls_file_names_which_one_is_missing(capsys, tmp_path, missing):
    present = tmp_path / "present.pem"
    present.write_text("not read: the other file is missing\n")
    absent = str(tmp_path / "absent.pem")
    files = {"certificate": str(present), "private key": str(present), missing: absent}
    line = option_error(capsys, ["-d", EXAMPLE_DIR, "-t", "-c", files["certificate"], "-k", files["private key"]])
    assert line == f"{PROG}: error: {missing} file {absent!r} does not exist ({absent})"


def test_missing_client_ca_file_is_named(capsys, tmp_path):
    present = tmp_path / "present.pem"
    present.write_text("x\n")
    absent = str(tmp_path / "ca.pem")
    args = ["-d", EXAMPLE_DIR, "-t", "-c", str(present), "-k", str(present), "--tls-client-auth"]
    line = option_error(capsys, [*args, "--tls-client-ca", absent])
    assert line == f"{PROG}: error: client CA file {absent!r} does not exist ({absent})"


def test_port_in_use_names_the_address_and_what_to_do():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("-H", "127.0.0.1", "-p", str(port), "-d", "example")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"{PROG}: error: [Errno 98] cannot listen on 127.0.0.1:{port}: Address already in use "
        "(another program listens there; choose another port with -p, or -p 0 for a free one)"
    )


def others_can_read(path: str) -> bool:
    """Return True if a user other than the owner can reach ``path`` and read the package under it."""
    directories = [path]
    while os.path.dirname(directories[-1]) != directories[-1]:
        directories.append(os.path.dirname(directories[-1]))
    return all(os.stat(directory).st_mode & 0o005 == 0o005 for directory in directories) and bool(
        os.stat(os.path.join(path, "mod_pywebsocket", "standalone.py")).st_mode & 0o004
    )


@pytest.mark.skipif(
    os.geteuid() == 0 and (shutil.which("setpriv") is None or not others_can_read(REPO_ROOT)),
    reason="as root, needs setpriv and a tree the nobody user can read",
)
def test_privileged_port_without_root_names_the_address_and_what_to_do():
    prefix = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups") if os.geteuid() == 0 else ()
    result = run_cli("-H", "127.0.0.1", "-p", "1", "-d", "example", prefix=prefix)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"{PROG}: error: [Errno 13] cannot listen on 127.0.0.1:1: Permission denied "
        "(ports below 1024 need root; choose another with -p, such as -p 8880)"
    )


def test_host_that_does_not_resolve_is_named():
    result = run_cli("-H", "no-such-host.invalid", "-p", "0", "-d", "example")
    assert result.returncode == 2
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"{PROG}: error: [Errno ") and "cannot listen on host 'no-such-host.invalid': " in last


@pytest.mark.parametrize("host", ["", "0.0.0.0", "::", "[::]"])
def test_listening_on_every_interface_is_announced_with_the_document_root(host):
    options = standalone.parse_options(["-H", host, "-d", EXAMPLE_DIR])
    assert standalone._exposure_warning(options) == (
        "listening on every network interface: anyone who can reach this machine can use its WebSocket "
        f"handlers and read every file under {EXAMPLE_DIR} (with directory listings); "
        "give -H 127.0.0.1 to serve this machine only"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_listening_on_one_address_is_not_announced(host):
    assert standalone._exposure_warning(standalone.parse_options(["-H", host, "-d", EXAMPLE_DIR])) is None


def test_start_on_127_0_0_1_logs_no_warning(caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", EXAMPLE_DIR):
        pass
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("no_accelerator", [False, True], ids=["default", "no-accelerator"])
def test_start_logs_which_frame_masking_runs_before_listening(no_accelerator):
    env = {key: value for key, value in os.environ.items() if key != _masking.NO_ACCELERATOR_ENV}
    if importlib.util.find_spec("mod_pywebsocket._speedups") is not None:
        expected = "frame masking: mod_pywebsocket._speedups (C extension)"
    else:
        expected = (
            "frame masking: pure-python (mod_pywebsocket._speedups is not importable: "
            "No module named 'mod_pywebsocket._speedups')"
        )
    if no_accelerator:
        env[_masking.NO_ACCELERATOR_ENV] = "1"
        expected = f"frame masking: pure-python ({_masking.NO_ACCELERATOR_ENV} is set)"
    server = ServerProcess("-d", EXAMPLE_DIR, "--log-level", "info", env=env)
    try:
        lines = server.log_text().splitlines()
    finally:
        server.stop()
    masking = [index for index, line in enumerate(lines) if "frame masking:" in line]
    listening = [index for index, line in enumerate(lines) if "listening on" in line]
    assert len(masking) == 1 and masking[0] < listening[0]
    assert lines[masking[0]].endswith(f"[INFO] mod_pywebsocket._masking: {expected}"), lines[masking[0]]


# --examples and --version.


def test_examples_option_serves_the_bundled_examples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with running_server("--examples") as server:
        assert server.server.options.document_root == EXAMPLE_DIR
        with connect(server.url("/echo"), open_timeout=TIMEOUT) as ws:
            ws.send("bundled")
            assert ws.recv(timeout=TIMEOUT) == "bundled"


@pytest.mark.parametrize("args", [["-d", "/tmp"], ["-w", "example"]])
def test_examples_option_with_a_root_is_refused(capsys, args):
    line = option_error(capsys, ["--examples", *args])
    assert line == f"{PROG}: error: --examples serves the bundled examples: give it without -d and -w"


def test_version_prints_the_package_and_python_versions():
    result = run_cli("--version")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"mod_pywebsocket {__version__} (Python {sys.version.split()[0]})\n"


def test_python_older_than_3_9_gets_one_line_and_no_traceback():
    fake_old_python = (
        "import runpy, sys; sys.version_info = (3, 8, 18, 'final', 0); sys.version = '3.8.18 (main)'; "
        "runpy._run_module_as_main('mod_pywebsocket.standalone')"
    )
    argv = [sys.executable, "-c", fake_old_python]
    result = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert result.returncode == 1
    assert result.stderr == (
        f"{sys.executable}: Error while finding module specification for 'mod_pywebsocket.standalone' "
        "(ImportError: mod_pywebsocket needs Python 3.9 or newer; this is Python 3.8.18)\n"
    )


def test_readme_pairs_each_short_option_with_its_own_long_option():
    with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as readme:
        pairs = re.findall(r"`(-[A-Za-z])`/`(--[a-z-]+)", readme.read())
    parser = standalone.build_parser()
    actions = {option: action for action in parser._actions for option in action.option_strings}
    assert ("-l", "--log-file") in pairs
    assert [(short, long) for short, long in pairs if actions[short] is not actions[long]] == []
