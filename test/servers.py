"""Server-side test helpers: the handler fixture trees, sites, and the servers run as subprocesses.

The standalone server in a thread of the test process is ``conftest.running_server``;
Apache is ``httpd.Httpd``. What is here starts the standalone server as its
own process (its exit status, its signals and its memory are then its own),
builds a document root for the HTTP tests, and starts Apache on a port range.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from mod_pywebsocket import standalone
from test import httpd

__all__ = [
    "APACHE_HANDLERS",
    "HANDLERS",
    "LEGACY_HANDLERS",
    "ROBUST_HANDLERS",
    "SITE",
    "ServerProcess",
    "assert_option_error",
    "cli_server",
    "killed_at_exit",
    "make_site",
    "option_error",
    "run_cli",
    "start_apache",
    "wait_for_log",
]

TESTDATA = Path(__file__).resolve().parent / "testdata"
# The handler roots (test/testdata/README.md says why each is its own root).
HANDLERS = str(TESTDATA / "handlers")
ROBUST_HANDLERS = str(TESTDATA / "robust_handlers")
LEGACY_HANDLERS = str(TESTDATA / "legacy_handlers")
APACHE_HANDLERS = str(TESTDATA / "apache_handlers")
# A document root: index.html, CGI scripts under cgi-bin/ and scripts/, and three handlers.
SITE = str(TESTDATA / "site")

STARTUP_TIMEOUT = 15.0


def make_site(root: Path) -> str:
    """Copy `SITE` to ``root/site`` (tests change their copy) and return its path."""
    site = root / "site"
    shutil.copytree(SITE, site)
    return str(site)


def run_cli(*args: str, prefix: Sequence[str] = (), timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mod_pywebsocket.standalone ARGS`` (after ``prefix``) to its end; capture its output."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "mod_pywebsocket.standalone", *args],
        cwd=httpd.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def option_error(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """Return the one error line ``parse_options(args)`` prints before exiting with status 2."""
    with pytest.raises(SystemExit) as info:
        standalone.parse_options(args)
    assert info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def assert_option_error(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    """parse_options exits with status 2 and one line on stderr that contains ``message``."""
    line = option_error(capsys, args)
    assert message in line, line


def wait_for_log(caplog: pytest.LogCaptureFixture, text: str, count: int = 1, timeout: float = 10.0) -> None:
    """Wait until ``text`` was logged ``count`` times (server threads log asynchronously)."""
    deadline = time.monotonic() + timeout
    while caplog.text.count(text) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert caplog.text.count(text) >= count, caplog.text


class ServerProcess:
    """The standalone server as a subprocess (its RSS can be measured apart from the tests').

    ``python3 -m mod_pywebsocket.standalone -H 127.0.0.1 -p 0 ...`` (or
    ``command -H 127.0.0.1 -p 0 ...``, run in ``cwd`` with ``env``) logs
    ``listening on HOST:PORT``; the log goes to a file, never to a pipe
    that could fill up and block the server. Without ``log_path`` the file
    is a temporary one, removed by `stop`.
    """

    def __init__(
        self,
        *args: str,
        startup: float = STARTUP_TIMEOUT,
        command: Sequence[str] = (sys.executable, "-m", "mod_pywebsocket.standalone"),
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if log_path is None:
            # Closed by stop(), not by a with block: the server writes to it meanwhile.
            self._log = tempfile.NamedTemporaryFile(prefix="server-", suffix=".log", delete=False)  # noqa: SIM115
            self._keep_log = False
        else:
            self._log = open(log_path, "wb")  # noqa: SIM115
            self._keep_log = True
        self.log_path = self._log.name
        self.process = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", "0", *args],
            cwd=cwd or httpd.REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        self.pid = self.process.pid
        deadline = time.monotonic() + startup
        while True:
            match = re.search(r"listening on [^\s]+:(\d+)", self.log_text())
            if match:
                self.port = int(match.group(1))
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"server did not start:\n{self.log_text()}")
            time.sleep(0.05)

    def log_text(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as log:
            return log.read()

    def status_kib(self, field: str) -> int:
        """Return a ``/proc/PID/status`` memory field (VmRSS, VmHWM) in KiB."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise AssertionError(f"no {field} for pid {self.pid}")

    def thread_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        if not self._keep_log:
            with contextlib.suppress(OSError):
                os.unlink(self.log_path)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def killed_at_exit(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """Yield ``process``; kill it at the end of the block if it still runs, and reap it."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(STARTUP_TIMEOUT)


@contextlib.contextmanager
def cli_server(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """Run the server as a subprocess logging to ``tmp_path/server.log``; yield (process, port, log path).

    Whatever the block did to the process (a signal, a wait), it is killed
    if it still runs at the end; its log stays for the test to read.
    """
    log_path = tmp_path / "server.log"
    server = ServerProcess(*args, log_path=log_path)
    try:
        with killed_at_exit(server.process):
            yield server.process, server.port, log_path
    finally:
        server.stop()


# Fixed ports for Apache come from the range this project's tests may use.
APACHE_PORTS = range(17000, 17500)


def start_apache(
    factory: httpd.HttpdFactory, handler_root: str = ROBUST_HANDLERS, ports: range = APACHE_PORTS, **kwargs: object
) -> httpd.Httpd:
    """Start an Apache on a free port of ``ports`` (skips without Apache)."""
    httpd.require_apache()
    error: Exception | None = None
    for port in random.sample(ports, 10):
        try:
            return factory(handler_root, port=port, **kwargs)
        except httpd.HttpdError as exc:
            if not re.search(r"could not bind|Address already in use|make_sock", str(exc)):
                raise
            error = exc
    assert error is not None
    raise error
