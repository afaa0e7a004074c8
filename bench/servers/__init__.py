"""The servers under test: how each one starts, where it listens, which processes to watch.

The files next to this one are the peers' echo servers, started by path as
child processes (they import nothing from the repository):
``trivial.py``, ``websockets_echo.py`` and the handler root of pywebsocket3,
``pywebsocket3_handlers/``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import BENCH, REPO, loadgen
from bench.loadgen import BenchError, Target
from bench.processes import Pinning, children_of, listening_port
from mod_pywebsocket.util import NO_ACCELERATOR_ENV
from test import httpd

__all__ = ["SERVERS", "ApacheServer", "Fleet", "ProcessServer", "Running", "ServerSpec"]

# Apache's port comes from this range (not the test harness's, so that a
# bench and the Apache tests can run at once); BENCH_APACHE_PORTS=LOW-HIGH
# picks another.
_APACHE_PORTS = "16000-16999"
_START_TIMEOUT = 30.0
_SCRIPTS = BENCH / "servers"


class Running:
    """A started server: where it listens and which processes to watch."""

    name: str
    target: Target
    rss_pid: int | None = None  # the single process whose memory is per connection

    def pids(self) -> list[int]:
        raise NotImplementedError

    def alive(self) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def log_tail(self) -> str:
        return ""


class ProcessServer(Running):
    """A server we start as one child process and find the port of through /proc."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        cwd: Path,
        log_dir: Path,
        pinning: Pinning,
        path: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}-{int(time.time() * 1000)}.log"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", NO_ACCELERATOR_ENV)}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.update(extra_env or {})
        with self.log_path.open("wb") as log, pinning.as_server():
            self.proc = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.rss_pid = self.proc.pid
        deadline = time.monotonic() + _START_TIMEOUT
        port = None
        while port is None:
            if self.proc.poll() is not None:
                raise BenchError(f"{name} exited with {self.proc.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"{name} did not listen within {_START_TIMEOUT:.0f} s: {self.log_tail()}")
            time.sleep(0.05)
            port = listening_port(self.proc.pid)
        self.target = Target("127.0.0.1", port, path)
        # Wait until a WebSocket opens (handlers loaded, accept loop running).
        while True:
            try:
                loadgen.close(loadgen.connect(self.target, timeout=5.0))
                break
            except (OSError, BenchError):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise
                time.sleep(0.1)

    def pids(self) -> list[int]:
        return [self.proc.pid]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-1500:]
        return ""


class ApacheServer(Running):
    """Our mod_python deployment: test/httpd.py's private Apache, example/ as the handler root, more PythonOptions."""

    def __init__(self, pinning: Pinning, name: str = "apache", options: dict[str, str] | None = None) -> None:
        self.name = name
        last: Exception | None = None
        low, _, high = os.environ.get("BENCH_APACHE_PORTS", _APACHE_PORTS).partition("-")
        for port in random.sample(range(int(low), int(high)), 10):
            if not httpd._port_looks_free(port):
                continue
            self.httpd = httpd.Httpd(REPO / "example", log_level="warn", port=port, options=options)
            try:
                with pinning.as_server():
                    self.httpd.start()
                break
            except httpd.HttpdError as exc:
                last = exc
                if "bind" not in str(exc) and "in use" not in str(exc):
                    raise BenchError(f"Apache did not start: {str(exc)[-1500:]}") from exc
        else:
            raise BenchError(f"Apache did not start: {last}")
        self.target = Target("127.0.0.1", self.httpd.port, "/echo")
        loadgen.close(loadgen.connect(self.target, timeout=10.0))

    def pids(self) -> list[int]:
        pid = self.httpd.pid
        return [pid, *children_of(pid)] if pid else []

    def alive(self) -> bool:
        pid = self.httpd.pid
        return bool(pid) and os.path.exists(f"/proc/{pid}")

    def stop(self) -> None:
        self.httpd.stop()

    def log_tail(self) -> str:
        return self.httpd.error_log_text()[-1500:]


@dataclass
class ServerSpec:
    """A server of the benchmark: its name in the tables, how to start it, the scenarios it skips and why."""

    name: str
    label: str
    start: Callable[[Path, Pinning], Running]
    skip: dict[str, str] = field(default_factory=dict)
    peer: bool = True  # shown in the ratio table


def _ours(name: str, env: dict[str, str] | None = None) -> Callable[[Path, Pinning], Running]:
    argv = [sys.executable, "-m", "mod_pywebsocket.standalone", "-H", "127.0.0.1", "-p", "0", "-d", "example",
            "--log-level", "warning", "--max-connections", "20000"]  # fmt: skip
    return lambda log_dir, pinning: ProcessServer(name, argv, REPO, log_dir, pinning, "/echo", env)


def _script(name: str, *args: str) -> Callable[[Path, Pinning], Running]:
    # cwd bench/servers: from the repository root, the repository's own
    # pywebsocket3 alias package would shadow the one from PyPI.
    argv = [sys.executable, *args]
    return lambda log_dir, pinning: ProcessServer(name, argv, _SCRIPTS, log_dir, pinning, "/echo")


# The table says so when `ours` could not have the C accelerator (no compiler
# when make bench built it): it then measures the pure-Python masking too.
_OURS_LABEL = "mod_pywebsocket standalone" + (
    "" if importlib.util.find_spec("mod_pywebsocket._speedups") else " (C accelerator not built: pure-Python masking)"
)
_NO_APACHE_MANY = "prefork Apache in the test harness has 64 workers, one process per connection"
SERVERS = {
    spec.name: spec
    for spec in [
        ServerSpec("ours", _OURS_LABEL, _ours("ours"), peer=False),
        # `ours` unmasks with the package's own C extension (make bench
        # builds it in place; websockets, installed here, plays no part):
        # what pip install gives with a C compiler. This one keeps the
        # pure-Python masking: what it gives without.
        ServerSpec(
            "ours-pure",
            "mod_pywebsocket standalone, pure-Python masking",
            _ours("ours-pure", {NO_ACCELERATOR_ENV: "1"}),
            skip={name: "masking plays no part in it" for name in ("handshake", "churn", "rss", "c10k")},
            peer=False,
        ),
        ServerSpec(
            "apache",
            "mod_pywebsocket Apache+mod_python",
            lambda log_dir, pinning: ApacheServer(pinning),
            skip={"rss": _NO_APACHE_MANY, "c10k": _NO_APACHE_MANY},
            peer=False,
        ),
        ServerSpec(
            "apache-held",
            "mod_pywebsocket Apache+mod_python, hold_replies On",
            lambda log_dir, pinning: ApacheServer(pinning, "apache-held", {"mod_pywebsocket.hold_replies": "On"}),
            skip={
                "rss": _NO_APACHE_MANY,
                "c10k": _NO_APACHE_MANY,
                "handshake": "replies are held only after the handshake",
                "churn": "one reply per connection: nothing to hold",
            },
            peer=False,
        ),
        ServerSpec(
            "pywebsocket3",
            "pywebsocket3 4.0.2",
            _script(
                "pywebsocket3",
                "-m",
                "pywebsocket3.standalone",
                "-H",
                "127.0.0.1",
                "-p",
                "0",
                "-d",
                "pywebsocket3_handlers",
                "--log-level",
                "warn",
            ),
        ),
        ServerSpec("ws-asyncio", "websockets 17.4 asyncio", _script("ws-asyncio", "websockets_echo.py", "asyncio")),
        ServerSpec("ws-sync", "websockets 17.4 sync", _script("ws-sync", "websockets_echo.py", "sync")),
        ServerSpec(
            "trivial",
            "reference: trivial thread server",
            _script("trivial", "trivial.py"),
            skip={"deflate": "no compression in the trivial server"},
        ),
        ServerSpec(
            "trivial-batch",
            "load generator ceiling (trivial --batch)",
            _script("trivial-batch", "trivial.py", "--batch"),
            skip={
                name: "only the echo scenarios show the load generator's ceiling"
                for name in ("deflate", "handshake", "rss", "c10k")
            },
            peer=False,
        ),
    ]
}


class Fleet:
    """The shared (long-lived) server processes, started on first use."""

    def __init__(self, log_dir: Path, pinning: Pinning) -> None:
        self.log_dir = log_dir
        self.pinning = pinning
        self.running: dict[str, Running] = {}
        self.failed: dict[str, str] = {}

    def get(self, name: str) -> Running:
        """The running server ``name``, started (or restarted, if it died) now if need be."""
        if name in self.failed:
            raise BenchError(self.failed[name])
        server = self.running.get(name)
        if server is not None and not server.alive():
            print(f"  ! {name} died; restarting. Log tail:\n{server.log_tail()}", flush=True)
            with contextlib.suppress(Exception):
                server.stop()
            server = None
        if server is None:
            try:
                server = SERVERS[name].start(self.log_dir, self.pinning)
            except (BenchError, OSError) as exc:
                self.failed[name] = f"could not start: {exc}"
                raise
            self.running[name] = server
        return server

    def stop_all(self) -> None:
        """Stop every server this fleet started."""
        for server in self.running.values():
            with contextlib.suppress(Exception):
                server.stop()
        self.running.clear()
