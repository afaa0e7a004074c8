#!/usr/bin/env python3
"""Soak test: many concurrent clients echo random messages for a while.

Starts a server on 127.0.0.1 (the standalone server as a subprocess, or with
``--apache`` a private Apache + mod_python from test/httpd.py), connects N
clients with the ``websockets`` asyncio client and has each one send random
text and binary messages (0 B to 256 KiB; some fragmented; a third of the
clients negotiate permessage-deflate) to ``/echo``, one at a time, checking
that every echo is byte-identical. It samples the server's RSS once a second
and says whether it stayed flat after the warm-up, and whether it came back
near its idle figure once the clients left.

    .venv/bin/python -m tools.soak                          # 1000 clients, 60 s, standalone
    .venv/bin/python -m tools.soak --duration 300           # the 5-minute soak (docs/robustness.md)
    .venv/bin/python -m tools.soak --duration 300 --server-env GLIBC_TUNABLES=glibc.malloc.tcache_count=0
    .venv/bin/python -m tools.soak --apache                 # 200 clients, 60 s, Apache
    .venv/bin/python -m tools.soak --clients 100 --duration 10 --json

Figures printed at the end: messages, bytes, lost (sent but never echoed),
corrupted (echoed differently), connection errors, the RSS when idle before
the clients came, the RSS of each minute under load (median), the peak, the
growth after the warm-up, and the RSS ``--settle`` seconds after the clients
left, "back near idle" when it gave back at least 90% of what the load took
(peak minus idle) or is within 16 MiB of idle. The exit status is 0 when
nothing was lost or corrupted and every client connected and closed cleanly,
else 1 (2 for a bad option). Everything stays on 127.0.0.1 and is bounded by
``--duration``. Run it as a module from the repository root (``--apache``
imports ``test.httpd``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DIR = REPO_ROOT / "example"
MAX_MESSAGE = 256 * 1024
# Apache's fixed ports come from the range this project may use.
APACHE_PORTS = range(17000, 17500)
_TEXT_ALPHABET = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ 0123456789 éàüß€ 日本語 🙂\n"


@dataclass
class Figures:
    """What a soak run measured."""

    target: str = ""
    clients: int = 0
    duration: float = 0.0
    messages: int = 0
    bytes: int = 0
    fragmented: int = 0
    compressed_clients: int = 0
    lost: int = 0
    corrupted: int = 0
    connect_errors: int = 0
    unclean_closes: int = 0
    rss_samples_kib: list[int] = field(default_factory=list)
    rss_sample_seconds: list[float] = field(default_factory=list)
    idle_rss_kib: int = 0
    rss_per_minute_kib: list[int] = field(default_factory=list)
    rss_after_kib: int = 0
    rss_back_near_idle: bool = False
    peak_rss_kib: int = 0
    rss_after_warmup_kib: int = 0
    rss_end_kib: int = 0
    rss_growth_after_warmup_kib: int = 0
    rss_flat: bool = False
    errors: list[str] = field(default_factory=list)

    def ok(self) -> bool:
        return not (self.lost or self.corrupted or self.connect_errors or self.unclean_closes)


# -- servers ---------------------------------------------------------------------------


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    result = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            result.append(int(entry))
    return result


class StandaloneServer:
    """``python3 -m mod_pywebsocket.standalone -H 127.0.0.1 -p 0 -d example`` as a subprocess."""

    def __init__(self, clients: int, env: dict[str, str] | None = None) -> None:
        self._log = tempfile.NamedTemporaryFile(prefix="soak-server-", suffix=".log", delete=False)  # noqa: SIM115
        command = [
            sys.executable,
            "-m",
            "mod_pywebsocket.standalone",
            "-H",
            "127.0.0.1",
            "-p",
            "0",
            "-d",
            str(EXAMPLE_DIR),
            "-q",
            "1024",
            "--max-connections",
            str(clients + 100),
            "--log-level",
            "warning",
            "--thread-monitor-interval-in-sec",
            "0",
        ]
        # The "listening on" line is INFO: log at info until it is seen? Simpler: ask the
        # server for it at info and keep the log in a file (never a pipe that could fill).
        command[command.index("warning")] = "info"
        self.process = subprocess.Popen(
            command,
            cwd=str(REPO_ROOT),
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        deadline = time.monotonic() + 20
        while True:
            with open(self._log.name, encoding="utf-8", errors="replace") as log:
                match = re.search(r"listening on [^\s]+:(\d+)", log.read())
            if match:
                self.port = int(match.group(1))
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the standalone server did not start")
            time.sleep(0.05)
        self.url = f"ws://127.0.0.1:{self.port}/echo"

    def rss_kib(self) -> int:
        return _rss_kib(self.process.pid)

    def log_errors(self) -> list[str]:
        with open(self._log.name, encoding="utf-8", errors="replace") as log:
            return [line.rstrip() for line in log if "[ERROR]" in line]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)


class ApacheServer:
    """A private Apache + mod_python (test/httpd.py) serving example/ handlers."""

    def __init__(self, clients: int) -> None:
        from test import httpd  # only --apache needs it (and pytest with it)

        httpd.find_apache()  # raises ApacheUnavailable with a clear message
        workers = clients + 128
        per_child = 64
        children = -(-workers // per_child)
        # One thread per open WebSocket: enough of them for every client.
        extra = "\n".join(
            [
                f"ServerLimit {children}",
                f"ThreadLimit {per_child}",
                f"ThreadsPerChild {per_child}",
                f"MaxRequestWorkers {children * per_child}",
                f"StartServers {children}",
                f"MinSpareThreads {per_child}",
                f"MaxSpareThreads {children * per_child}",
                "ListenBacklog 1024",
            ]
        )
        last_error: Exception | None = None
        for port in random.sample(APACHE_PORTS, 10):
            self.server = httpd.Httpd(EXAMPLE_DIR, mpm="event", port=port, extra_config=extra, log_level="warn")
            try:
                self.server.start()
                break
            except httpd.HttpdError as exc:
                last_error = exc
                if not re.search(r"could not bind|Address already in use|make_sock", str(exc)):
                    raise
        else:
            raise RuntimeError(f"Apache did not start: {last_error}")
        self.url = self.server.ws_url("/echo")

    def rss_kib(self) -> int:
        pid = self.server.pid
        if pid is None:
            return 0
        return _rss_kib(pid) + sum(_rss_kib(child) for child in _children(pid))

    def log_errors(self) -> list[str]:
        return [line for line in self.server.error_log_text().splitlines() if ":error]" in line]

    def stop(self) -> None:
        self.server.stop()


# -- clients ---------------------------------------------------------------------------


class Payloads:
    """Random messages cut from shared pools (cheap to make, told apart by their prefix)."""

    _pools: tuple[bytes, str] | None = None

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        if Payloads._pools is None:
            maker = random.Random(0)
            text = "".join(maker.choice(_TEXT_ALPHABET) for _ in range(4096))
            Payloads._pools = (maker.randbytes(2 * MAX_MESSAGE), (text * (2 * MAX_MESSAGE // len(text) + 1)))
        self.binary_pool, self.text_pool = Payloads._pools

    def size(self) -> int:
        rng = self.rng
        roll = rng.random()
        if roll < 0.05:
            return 0
        if roll < 0.7:
            return rng.randint(1, 1024)
        if roll < 0.95:
            return rng.randint(1024, 32 * 1024)
        return rng.randint(32 * 1024, MAX_MESSAGE)

    def make(self, client: int, number: int) -> str | bytes:
        size = self.size()
        start = self.rng.randrange(MAX_MESSAGE)
        if self.rng.random() < 0.5:
            if size == 0:
                return ""
            prefix = f"{client}:{number}:"
            return (prefix + self.text_pool[start : start + size])[: max(size, len(prefix))]
        if size == 0:
            return b""
        prefix = f"{client}:{number}:".encode()
        return (prefix + self.binary_pool[start : start + size])[: max(size, len(prefix))]


def _fragments(message: str | bytes, rng: random.Random) -> list[Any]:
    count = rng.randint(2, 5)
    step = max(1, -(-len(message) // count))
    pieces = [message[i : i + step] for i in range(0, len(message), step)]
    return pieces if len(pieces) >= 2 else [message[:0], message]


async def _client(number: int, url: str, deadline: float, figures: Figures, compress: bool, seed: int) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    payloads = Payloads(seed)
    rng = payloads.rng
    try:
        ws = await connect(
            url,
            compression="deflate" if compress else None,
            max_size=None,
            ping_interval=None,
            open_timeout=30,
            close_timeout=30,
            proxy=None,
        )
    except Exception as exc:  # any failure to connect is a figure
        figures.connect_errors += 1
        if len(figures.errors) < 20:
            figures.errors.append(f"client {number}: connect failed: {exc!r}")
        return
    sequence = 0
    try:
        while time.monotonic() < deadline:
            message = payloads.make(number, sequence)
            if message == "Goodbye":  # the example echo handler closes on it
                continue
            sequence += 1
            fragmented = len(message) >= 2 and rng.random() < 0.15
            try:
                if fragmented:
                    await ws.send(_fragments(message, rng))
                    figures.fragmented += 1
                else:
                    await ws.send(message)
                echo = await asyncio.wait_for(ws.recv(), 60)
            except (ConnectionClosed, OSError, asyncio.TimeoutError) as exc:
                figures.lost += 1
                if len(figures.errors) < 20:
                    figures.errors.append(f"client {number}: message {sequence} lost: {exc!r}")
                return
            size = len(message.encode()) if isinstance(message, str) else len(message)
            figures.messages += 1
            figures.bytes += size
            if echo != message:
                figures.corrupted += 1
                if len(figures.errors) < 20:
                    figures.errors.append(f"client {number}: message {sequence} corrupted ({size} bytes)")
    finally:
        try:
            await ws.close()
            if ws.close_code != 1000:
                figures.unclean_closes += 1
        except Exception as exc:  # closing failed: also a figure
            figures.unclean_closes += 1
            if len(figures.errors) < 20:
                figures.errors.append(f"client {number}: close failed: {exc!r}")


async def _sample_rss(server: Any, figures: Figures, stop: asyncio.Event, deadline: float) -> None:
    # Only while the traffic lasts: the closing phase at the end is no steady state.
    started = time.monotonic()
    while not stop.is_set() and time.monotonic() < deadline:
        figures.rss_samples_kib.append(server.rss_kib())
        figures.rss_sample_seconds.append(time.monotonic() - started)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def _run(server: Any, clients: int, duration: float, figures: Figures, seed: int) -> None:
    stop = asyncio.Event()
    started = time.monotonic()
    deadline = started + duration
    sampler = asyncio.create_task(_sample_rss(server, figures, stop, deadline))
    tasks = []
    # Connect in batches, so that the listen backlog never overflows.
    for number in range(clients):
        compress = number % 3 == 0
        figures.compressed_clients += compress
        tasks.append(asyncio.create_task(_client(number, server.url, deadline, figures, compress, seed + number)))
        if number % 50 == 49:
            await asyncio.sleep(0.05)
    await asyncio.gather(*tasks)
    figures.duration = time.monotonic() - started
    stop.set()
    await sampler


def _settle(server: Any, figures: Figures, seconds: float) -> None:
    """Wait ``seconds`` after the clients left; take the RSS then as the figure "after"."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    figures.rss_after_kib = server.rss_kib()


def _judge_rss(figures: Figures, warmup_fraction: float = 0.25) -> None:
    """Say whether the RSS stayed flat after the warm-up.

    RSS moves with the messages in flight (up to 256 KiB per client), so
    single samples are noisy: compare the medians of the first and last
    thirds of the samples after the warm-up. Flat means a growth of at most
    10% of the RSS after the warm-up, or 16 MiB, whichever is more.
    """
    samples = [s for s in figures.rss_samples_kib if s]
    if not samples:
        return
    minutes: dict[int, list[int]] = {}
    for kib, seconds in zip(figures.rss_samples_kib, figures.rss_sample_seconds):
        if kib:
            minutes.setdefault(int(seconds // 60), []).append(kib)
    figures.rss_per_minute_kib = [int(statistics.median(minutes[minute])) for minute in sorted(minutes)]
    figures.peak_rss_kib = max(samples)
    if figures.idle_rss_kib and figures.rss_after_kib:
        # Near: at least 90% of what the load took was given back, or within 16 MiB of idle.
        slack = max(16 * 1024, (figures.peak_rss_kib - figures.idle_rss_kib) // 10)
        figures.rss_back_near_idle = figures.rss_after_kib <= figures.idle_rss_kib + slack
    figures.peak_rss_kib = max(samples)
    warm = samples[int(len(samples) * warmup_fraction) :] or samples
    figures.rss_after_warmup_kib = warm[0]
    figures.rss_end_kib = warm[-1]
    third = max(1, len(warm) // 3)
    growth = statistics.median(warm[-third:]) - statistics.median(warm[:third])
    figures.rss_growth_after_warmup_kib = int(growth)
    figures.rss_flat = growth <= max(16 * 1024, statistics.median(warm[:third]) // 10)


def raise_file_limit() -> int:
    """Raise RLIMIT_NOFILE to its hard limit (clients and server each need one fd per connection)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def soak(
    clients: int,
    duration: float,
    apache: bool = False,
    seed: int = 1,
    settle: float = 5.0,
    server_env: dict[str, str] | None = None,
) -> Figures:
    """Run one soak and return its figures.

    ``settle``: seconds to wait after the clients left; ``server_env``: more
    environment for the standalone server (``GLIBC_TUNABLES=...``).
    """
    limit = raise_file_limit()
    if limit < 2 * clients + 64:
        raise SystemExit(f"soak: needs {2 * clients + 64} open files, the limit is {limit}")
    server: Any = ApacheServer(clients) if apache else StandaloneServer(clients, server_env)
    figures = Figures(target="apache" if apache else "standalone", clients=clients)
    try:
        time.sleep(1.0)
        figures.idle_rss_kib = server.rss_kib()
        asyncio.run(_run(server, clients, duration, figures, seed))
        _settle(server, figures, settle)
        figures.errors.extend(f"server log: {line}" for line in server.log_errors()[:10])
    finally:
        server.stop()
    _judge_rss(figures)
    return figures


def _report(figures: Figures) -> str:
    mib = 1024 * 1024
    rate = figures.messages / figures.duration if figures.duration else 0.0
    lines = [
        f"target            {figures.target}, {figures.clients} clients "
        f"({figures.compressed_clients} with permessage-deflate), {figures.duration:.1f} s",
        f"messages          {figures.messages} ({rate:.0f}/s), {figures.fragmented} sent fragmented",
        f"bytes             {figures.bytes} ({figures.bytes / mib:.1f} MiB each way, "
        f"{figures.bytes / mib / max(figures.duration, 1e-9):.1f} MiB/s)",
        f"lost              {figures.lost}",
        f"corrupted         {figures.corrupted}",
        f"connect errors    {figures.connect_errors}",
        f"unclean closes    {figures.unclean_closes}",
        f"idle RSS          {figures.idle_rss_kib / 1024:.1f} MiB (server, before the clients came)",
        "RSS per minute    "
        + ", ".join(f"{kib / 1024:.0f}" for kib in figures.rss_per_minute_kib)
        + " MiB (medians under load)",
        f"peak RSS          {figures.peak_rss_kib / 1024:.1f} MiB (server)",
        f"RSS after warm-up {figures.rss_after_warmup_kib / 1024:.1f} MiB, at the end of the traffic "
        f"{figures.rss_end_kib / 1024:.1f} MiB, growth (medians of the first and last thirds) "
        f"{figures.rss_growth_after_warmup_kib / 1024:+.1f} MiB: " + ("flat" if figures.rss_flat else "NOT flat"),
        f"RSS after         {figures.rss_after_kib / 1024:.1f} MiB, once the clients left: "
        + ("back near idle" if figures.rss_back_near_idle else "NOT back near idle"),
        "result            " + ("OK" if figures.ok() else "FAILED"),
    ]
    lines += [f"  {error}" for error in figures.errors]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apache", action="store_true", help="soak Apache + mod_python instead of standalone")
    parser.add_argument("--clients", type=int, default=None, help="concurrent clients (1000; 200 with --apache)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (default 60)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the messages")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds to wait after the clients left before the last RSS figure"
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set an environment variable for the standalone server, e.g. GLIBC_TUNABLES=glibc.malloc.tcache_count=0",
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    options = parser.parse_args(argv)
    clients = options.clients if options.clients is not None else (200 if options.apache else 1000)
    if clients < 1 or not 0 < options.duration <= 3600:
        parser.error("--clients must be positive and --duration within (0, 3600]")
    server_env = {}
    for setting in options.server_env:
        name, equals, value = setting.partition("=")
        if not name or not equals:
            parser.error(f"--server-env takes NAME=VALUE, not {setting!r}")
        server_env[name] = value
    figures = soak(clients, options.duration, options.apache, options.seed, options.settle, server_env)
    print(_report(figures))
    if options.json:
        print(json.dumps(asdict(figures)))
    return 0 if figures.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
