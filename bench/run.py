"""Benchmark mod_pywebsocket against its peers on loopback (bench driver).

Starts the servers (our standalone server, our Apache + mod_python
deployment, pywebsocket3 4.0.2, websockets asyncio and sync, and a trivial
Python thread server as a reference point), runs every scenario against every
server interleaved (A B C A B C ..., ``--reps`` times), and writes
``results.md``, ``results.json`` and ``chart.png`` to ``bench/results/``
(``bench/results/quick/`` with ``--quick``). Servers run on one CPU, the
load generator (this process) on another.

    make bench                              # everything, 5 repetitions
    .venv-bench/bin/python bench/run.py --quick
    .venv-bench/bin/python bench/run.py --servers ours,ws-asyncio --scenarios latency,pipe1 --reps 3
    .venv-bench/bin/python bench/run.py --profile   # py-spy on our server, each scenario

See bench/README.md for what each scenario measures.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import loadgen  # noqa: E402
from loadgen import BenchError, Target  # noqa: E402

sys.path.insert(1, str(REPO))
from mod_pywebsocket.util import NO_ACCELERATOR_ENV  # noqa: E402

_PORT_RANGE = (16000, 16999)  # fixed ports (Apache) come from here only
_START_TIMEOUT = 30.0
_FD_LIMIT = 65536
# A measurement during which other processes (the machine is shared) used
# more CPU than this is measured again (--retries).
_NOISE_LIMIT = 0.3


# -- processes ---------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        return stat.read().rsplit(b")", 1)[1].split()


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds used so far by each of ``pids`` (gone ones are left out)."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            fields = _stat_fields(pid)
            used[pid] = (int(fields[11]) + int(fields[12])) / tick
    return used


def cpu_used_since(before: dict[int, float], pids: list[int]) -> float:
    """CPU seconds ``pids`` used since ``before`` (processes born since count from birth)."""
    now = cpu_seconds(pids)
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy (not idle, not waiting for I/O) since boot."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(max_wait: float, threshold: float = 0.15, window: float = 0.3) -> tuple[float, float]:
    """Wait (up to ``max_wait`` s) until the machine's other work uses under ``threshold`` CPUs.

    The machine is shared: other people's test runs skew a benchmark. Returns
    (seconds waited, CPUs busy in the last window).
    """
    started = time.monotonic()
    while True:
        busy0, t0 = machine_busy_seconds(), time.monotonic()
        time.sleep(window)
        busy = (machine_busy_seconds() - busy0) / (time.monotonic() - t0)
        waited = time.monotonic() - started
        if busy < threshold or waited >= max_wait:
            return waited, busy


def children_of(pid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int(_stat_fields(int(name))[1]) == pid:
                    found.append(int(name))
    return found


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def listening_port(pid: int) -> int | None:
    """The TCP port ``pid`` listens on, found through /proc (None if none yet)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    except OSError:
        return None
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/net/{table}", encoding="ascii") as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:
                    return int(fields[1].rsplit(":", 1)[1], 16)
    return None


@dataclass
class Pinning:
    """Which CPUs the load generator and the servers use (None: no pinning)."""

    client: set[int] | None
    server: set[int] | None

    colocate_latency: bool = True

    @contextlib.contextmanager
    def colocated(self, wanted: bool) -> Iterator[None]:
        """Run the block (the load generator) on the server's CPU, if ``wanted`` and pinning is on."""
        if not wanted or not self.colocate_latency:
            yield
            return
        with self.as_server():
            yield

    @contextlib.contextmanager
    def as_server(self) -> Iterator[None]:
        """Run the block (and the processes it starts) on the server CPU."""
        if self.server is None:
            yield
            return
        os.sched_setaffinity(0, self.server)
        try:
            yield
        finally:
            os.sched_setaffinity(0, self.client or set(range(os.cpu_count() or 1)))


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


def _load_httpd_harness() -> Any:
    # By path: from a script, "test" is the standard library's package.
    spec = importlib.util.spec_from_file_location("_pywebsocket_httpd", REPO / "test" / "httpd.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class ApacheServer(Running):
    """Our mod_python deployment: test/httpd.py's private Apache, example/ as the handler root."""

    def __init__(self, pinning: Pinning) -> None:
        self.name = "apache"
        harness = _load_httpd_harness()
        ports = random.sample(range(*_PORT_RANGE), 10)
        last: Exception | None = None
        for port in ports:
            if not harness._port_looks_free(port):
                continue
            self.httpd = harness.Httpd(REPO / "example", log_level="warn", port=port)
            try:
                with pinning.as_server():
                    self.httpd.start()
                break
            except harness.HttpdError as exc:
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


# -- servers -----------------------------------------------------------------------------------


@dataclass
class ServerSpec:
    name: str
    label: str
    start: Callable[[Path, Pinning], Running]
    skip: dict[str, str] = field(default_factory=dict)
    peer: bool = True  # shown in the ratio table


def _standalone_extra_args() -> list[str]:
    """Options our standalone server understands in this tree (it is being changed by others)."""
    help_text = subprocess.run(
        [sys.executable, "-m", "mod_pywebsocket.standalone", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    extra = ["--log-level", "warning"]
    if "--max-connections" in help_text:
        extra += ["--max-connections", "20000"]
    return extra


def _start_ours(log_dir: Path, pinning: Pinning, name: str = "ours", env: dict[str, str] | None = None) -> Running:
    argv = [sys.executable, "-m", "mod_pywebsocket.standalone", "-H", "127.0.0.1", "-p", "0", "-d", "example"]
    return ProcessServer(name, argv + _standalone_extra_args(), REPO, log_dir, pinning, "/echo", env)


def _start_ours_pure(log_dir: Path, pinning: Pinning) -> Running:
    # The bench venv has websockets, whose C apply_mask our server uses when
    # it is installed; this one keeps the pure-Python masking.
    return _start_ours(log_dir, pinning, "ours-pure", {NO_ACCELERATOR_ENV: "1"})


def _start_pywebsocket3(log_dir: Path, pinning: Pinning) -> Running:
    # cwd bench/servers: from the repository root, the repository's own
    # pywebsocket3 alias package would shadow the one from PyPI.
    argv = [sys.executable, "-m", "pywebsocket3.standalone", "-H", "127.0.0.1", "-p", "0",
            "-d", "pywebsocket3_handlers", "--log-level", "warn"]  # fmt: skip
    return ProcessServer("pywebsocket3", argv, BENCH / "servers", log_dir, pinning, "/echo")


def _script(name: str, script: str, *args: str) -> Callable[[Path, Pinning], Running]:
    def start(log_dir: Path, pinning: Pinning) -> Running:
        argv = [sys.executable, str(BENCH / "servers" / script), *args]
        return ProcessServer(name, argv, BENCH / "servers", log_dir, pinning, "/echo")

    return start


_NO_APACHE_MANY = "prefork Apache in the test harness has 64 workers, one process per connection"
SERVERS = {
    spec.name: spec
    for spec in [
        ServerSpec("ours", "mod_pywebsocket standalone", _start_ours, peer=False),
        ServerSpec(
            "ours-pure",
            "mod_pywebsocket standalone, pure-Python masking",
            _start_ours_pure,
            skip={name: "masking plays no part in it" for name in ("handshake", "rss", "c10k")},
            peer=False,
        ),
        ServerSpec(
            "apache",
            "mod_pywebsocket Apache+mod_python",
            lambda log_dir, pinning: ApacheServer(pinning),
            skip={"rss": _NO_APACHE_MANY, "c10k": _NO_APACHE_MANY},
            peer=False,
        ),
        ServerSpec("pywebsocket3", "pywebsocket3 4.0.2", _start_pywebsocket3),
        ServerSpec("ws-asyncio", "websockets 17.4 asyncio", _script("ws-asyncio", "websockets_asyncio.py")),
        ServerSpec("ws-sync", "websockets 17.4 sync", _script("ws-sync", "websockets_sync.py")),
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
            skip={name: "only the echo scenarios show the load generator's ceiling"
                  for name in ("deflate", "handshake", "rss", "c10k")},  # fmt: skip
            peer=False,
        ),
    ]
}


# -- scenarios ------------------------------------------------------------------------------------


@dataclass
class Params:
    quick: bool

    def pick(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full

    @property
    def duration(self) -> float:
        return self.pick(1.5, 0.5)

    @property
    def warmup(self) -> float:
        return self.pick(0.4, 0.2)


def _run_latency(server: Running, p: Params) -> dict[str, Any]:
    return loadgen.latency(server.target, count=p.pick(20000, 3000), warmup=p.pick(2000, 500))


def _run_pipe(conns: int) -> Callable[[Running, Params], dict[str, Any]]:
    def run(server: Running, p: Params) -> dict[str, Any]:
        return loadgen.pipelined(server.target, conns=conns, window=64, duration=p.duration, warmup=p.warmup)

    return run


def _run_big(server: Running, p: Params) -> dict[str, Any]:
    return loadgen.big_echo(server.target, duration=p.duration, warmup=p.warmup)


def _run_frag(server: Running, p: Params) -> dict[str, Any]:
    return loadgen.fragmented_echo(server.target, duration=p.duration, warmup=p.warmup)


def _run_deflate(server: Running, p: Params) -> dict[str, Any]:
    return loadgen.deflate_echo(server.target, duration=p.duration, warmup=p.warmup)


def _run_handshake(server: Running, p: Params) -> dict[str, Any]:
    count = p.pick(1000, 300)
    if server.name == "apache":
        # Fewer than MaxSpareServers at once, so that prefork keeps its children.
        loadgen.handshakes(server.target, count=24, window=24, batch=24)  # warm the children
        return loadgen.handshakes(server.target, count=count, window=24, batch=24)
    loadgen.handshakes(server.target, count=64, window=32)  # warm-up
    return loadgen.handshakes(server.target, count=count, window=32)


def _warm(server: Running) -> None:
    held: list[loadgen.Connection] = []
    try:
        loadgen.open_many(server.target, 32, window=16, into=held)
    finally:
        loadgen.close_many(held)
    loadgen.latency(server.target, count=500, warmup=100)
    time.sleep(0.5)


def _run_rss(server: Running, p: Params) -> dict[str, Any]:
    if server.rss_pid is None:
        raise BenchError("no single server process")
    count = p.pick(1000, 200)
    _warm(server)
    before = vm_rss_kib(server.rss_pid)
    held: list[loadgen.Connection] = []
    try:
        opened = loadgen.open_many(server.target, count, window=64, into=held)
        time.sleep(1.0)
        after = vm_rss_kib(server.rss_pid)
        threads = thread_count(server.rss_pid)
    finally:
        loadgen.close_many(held)
    return {
        "value": (after - before) / count,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "count": count,
        "threads": threads,
        "open_rate": opened["value"],
    }


def _run_c10k(server: Running, p: Params) -> dict[str, Any]:
    count = p.pick(10000, 1000)
    lat_count, lat_warmup = p.pick(10000, 2000), p.pick(1000, 300)
    _warm(server)
    probe = loadgen.connect(server.target)
    held: list[loadgen.Connection] = []
    try:
        idle = loadgen.latency_on(probe, count=lat_count, warmup=lat_warmup)
        try:
            opened = loadgen.open_many(server.target, count, window=64, into=held, timeout=p.pick(240.0, 60.0))
        except BenchError as exc:
            raise BenchError(f"{exc} ({len(held)} were open)") from exc
        time.sleep(1.0)
        busy = loadgen.latency_on(probe, count=lat_count, warmup=lat_warmup)
        rss = vm_rss_kib(server.rss_pid) if server.rss_pid else None
    finally:
        closed = loadgen.close_many(held, timeout=60.0)
        loadgen.close(probe)
    return {
        "value": busy["p50"] / idle["p50"],
        "held_p50": busy["p50"],
        "held_p99": busy["p99"],
        "idle_p50": idle["p50"],
        "idle_p99": idle["p99"],
        "count": count,
        "open_rate": opened["value"],
        "rss_kib": rss,
        "closed_cleanly": closed,
    }


@dataclass
class Scenario:
    name: str
    title: str
    unit: str
    higher_is_better: bool
    run: Callable[[Running, Params], dict[str, Any]]
    fresh_server: bool = False  # a new server process for each measurement
    max_reps: int | None = None
    # One-at-a-time round trips: the load generator runs on the server's CPU
    # (see Pinning and bench/README.md).
    colocated: bool = False
    # Profile with py-spy --gil (only the thread holding the GIL): with
    # hundreds of connection threads blocked in recv, py-spy's idle detection
    # would count them all as busy.
    profile_gil: bool = False


SCENARIOS = {
    s.name: s
    for s in [
        Scenario("latency", "latency p50, 16-byte echo, 1 conn", "µs", False, _run_latency, colocated=True),
        Scenario("pipe1", "16-byte echo, 64 in flight, 1 conn", "msg/s", True, _run_pipe(1)),
        Scenario("pipe8", "16-byte echo, 64 in flight, 8 conns", "msg/s", True, _run_pipe(8)),
        Scenario("big", "1 MiB binary echo, 1 conn (2 in flight)", "MB/s", True, _run_big),
        Scenario("frag", "64 KiB text in 16 fragments (2 in flight)", "msg/s", True, _run_frag),
        Scenario("deflate", "permessage-deflate, 16 KiB JSON text (8 in flight)", "msg/s", True, _run_deflate),
        Scenario(
            "handshake", "opening handshakes, 1000 conns (32 at once)", "/s", True, _run_handshake, profile_gil=True
        ),
        Scenario(
            "rss",
            "server RSS per open connection (1000 idle)",
            "KiB",
            False,
            _run_rss,
            fresh_server=True,
            profile_gil=True,
        ),
        Scenario(
            "c10k",
            "latency p50 with 10,000 conns held ÷ idle",
            "×",
            False,
            _run_c10k,
            fresh_server=True,
            max_reps=3,
            colocated=True,
            profile_gil=True,
        ),
    ]
}


# -- running -------------------------------------------------------------------------------------


@dataclass
class Result:
    scenario: str
    server: str
    rep: int
    value: float | None
    extra: dict[str, Any]
    error: str | None = None


class Fleet:
    """The shared (long-lived) server processes, started on first use."""

    def __init__(self, log_dir: Path, pinning: Pinning) -> None:
        self.log_dir = log_dir
        self.pinning = pinning
        self.running: dict[str, Running] = {}
        self.failed: dict[str, str] = {}

    def get(self, name: str) -> Running:
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
        for server in self.running.values():
            with contextlib.suppress(Exception):
                server.stop()
        self.running.clear()


def measure(
    scenario: Scenario,
    spec: ServerSpec,
    rep: int,
    fleet: Fleet,
    params: Params,
    profiler: Any = None,
    quiet_wait: float = 0.0,
) -> Result:
    fresh: Running | None = None
    try:
        if scenario.fresh_server:
            fresh = spec.start(fleet.log_dir, fleet.pinning)
            server = fresh
        else:
            server = fleet.get(spec.name)
        pids = server.pids()
        waited, _ = wait_until_quiet(quiet_wait) if quiet_wait > 0 else (0.0, 0.0)
        with profiler(server) if profiler else contextlib.nullcontext(), fleet.pinning.colocated(scenario.colocated):
            cpu0, wall0, client0 = cpu_seconds(pids), time.perf_counter(), time.process_time()
            busy0 = machine_busy_seconds()
            extra = scenario.run(server, params)
            wall = time.perf_counter() - wall0
            server_cpu = cpu_used_since(cpu0, server.pids()) / wall
            client_cpu = (time.process_time() - client0) / wall
            extra.setdefault("server_cpu_whole_run", server_cpu)
            extra.setdefault("client_cpu", client_cpu)
            # CPU used by everything else on the machine meanwhile (others' test runs).
            extra["foreign_cpu"] = max(0.0, (machine_busy_seconds() - busy0) / wall - server_cpu - client_cpu)
            extra["quiet_wait_s"] = waited
        value = extra.pop("value")
        return Result(scenario.name, spec.name, rep, value, extra)
    except (BenchError, OSError, ValueError) as exc:
        detail = f"{type(exc).__name__}: {exc}"
        return Result(scenario.name, spec.name, rep, None, {}, detail[:400])
    finally:
        if fresh is not None:
            fresh.stop()


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit in ("×",):
        return f"{value:.2f}"
    if abs(value) >= 10000:
        return f"{value / 1000:.1f}k"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def is_clean(result: Result) -> bool:
    """Whether other processes left the machine alone (under _NOISE_LIMIT CPUs) during ``result``."""
    return result.value is not None and result.extra.get("foreign_cpu", 0.0) <= _NOISE_LIMIT


def summarize(results: list[Result]) -> dict[tuple[str, str], dict[str, Any]]:
    """Median, min and max per (scenario, server), over the clean measurements when there are any.

    A measurement during which other processes used more than _NOISE_LIMIT
    CPUs is left out of the figures if at least one clean one exists; when
    none is clean, all are used and the entry is marked ``noisy``.
    """
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for key in {(r.scenario, r.server) for r in results}:
        rows = [r for r in results if (r.scenario, r.server) == key]
        measured = [r for r in rows if r.value is not None]
        clean = [r for r in measured if is_clean(r)]
        used = clean or measured
        values = [r.value for r in used if r.value is not None]
        errors = [r.error for r in rows if r.error]
        entry: dict[str, Any] = {
            "n": len(values),
            "measured": len(measured),
            "noisy": bool(measured) and not clean,
            "errors": errors,
            "rows": used,
        }
        if values:
            entry.update(median=statistics.median(values), min=min(values), max=max(values))
        table[key] = entry
    return table


# -- profiling -------------------------------------------------------------------------------------


class PySpy:
    """Attach ``py-spy record`` (raw collapsed stacks) to a server during one measurement."""

    def __init__(self, out_dir: Path, scenario: str, rate: int = 200, gil: bool = False) -> None:
        self.out_dir = out_dir
        self.scenario = scenario
        self.rate = rate
        self.gil = gil
        self.binary = Path(sys.executable).with_name("py-spy")
        if not self.binary.exists():
            raise SystemExit("py-spy is not installed in this venv: pip install -r requirements/bench.txt")

    @contextlib.contextmanager
    def __call__(self, server: Running) -> Iterator[None]:
        out = self.out_dir / f"profile-{self.scenario}.txt"
        proc = subprocess.Popen(
            [str(self.binary), "record", "--pid", str(server.pids()[0]), "--rate", str(self.rate),
             "--format", "raw", "--function", "--output", str(out), *(["--gil", "--nonblocking"] if self.gil else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(1.0)  # py-spy attaches
        try:
            yield
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            if not out.exists():
                print(f"  ! py-spy wrote nothing: {err.decode(errors='replace')[-500:]}", flush=True)


def _short_frame(frame: str) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for prefix in (str(REPO) + "/", "/usr/lib/python3.11/"):
        where = where.replace(prefix, "")
    if "/lib/python3" in where:
        where = where.split("/lib/python3", 1)[1].split("/", 1)[-1]
    return f"{name} ({where})"


# Leaves where a thread waits rather than works (py-spy sometimes samples them as active).
_IDLE_LEAVES = ("_PollLikeSelector.select (", "EpollSelector.select (", "Condition.wait (", "Event.wait (")
# Frames that sit under every connection's stack: no information in their inclusive share.
_FRAMEWORK = ("_bootstrap", "<module>", "_run_module", "_run_code", "main (", "serve_forever", "handle (",
              "process_request_thread", "finish_request", "_serve_connection", "__init__ (socketserver",
              "WebSocketRequestHandler.__init__", "SimpleHTTPRequestHandler.__init__", "BaseRequestHandler.__init__",
              "handle_one_request", "_answer", "do_GET", "handle_websocket", "transfer_data",
              "Thread.run", "Thread._bootstrap")  # fmt: skip


def profile_summary(path: Path, top: int = 12) -> dict[str, Any]:
    """Summarize a py-spy raw file: the top frames by self and by inclusive share of the busy samples."""
    self_counts: dict[str, int] = {}
    incl_counts: dict[str, int] = {}
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short_frame(f) for f in stack.split(";") if "(" in f]
        if not frames:
            continue
        if frames[-1].startswith(_IDLE_LEAVES):
            idle += count
            continue
        total += count
        self_counts[frames[-1]] = self_counts.get(frames[-1], 0) + count
        for frame in set(frames):
            incl_counts[frame] = incl_counts.get(frame, 0) + count

    def best(counts: dict[str, int]) -> list[tuple[str, float]]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
        return [(k, 100.0 * v / total) for k, v in ranked]

    interesting = {k: v for k, v in incl_counts.items() if not any(b in k for b in _FRAMEWORK)}
    return {
        "samples": total,
        "idle_samples": idle,
        "self": best(self_counts) if total else [],
        "inclusive": best(interesting) if total else [],
    }


def write_profile_report(out_dir: Path, scenarios: list[str], results: list[Result]) -> Path:
    """Write profile.md from every profile-SCENARIO.txt in ``out_dir`` (earlier runs' too)."""
    for result in results:
        if result.scenario in scenarios:
            scen = SCENARIOS[result.scenario]
            figure = f"{_fmt(result.value, scen.unit)} {scen.unit}" if result.value is not None else "failed"
            sidecar = {"figure": figure, "gil": scen.profile_gil, "date": time.strftime("%Y-%m-%d %H:%M %Z")}
            (out_dir / f"profile-{result.scenario}.json").write_text(json.dumps(sidecar) + "\n", encoding="utf-8")
    lines = [
        "# Profile of the standalone server, per scenario",
        "",
        "Made by `bench/run.py --profile`: py-spy 0.4.3 `record --format raw --function --rate 200` (1000 "
        "with `--gil`) attached "
        "to `python3 -m mod_pywebsocket.standalone` during each scenario (one run each, load generator as "
        "in the benchmark; the figure under the profiler is given). Percentages are of the busy samples.",
        "",
        "- Default mode (every scenario but handshake, rss, c10k): py-spy samples the threads it sees "
        "running, and this report also drops samples whose innermost frame is a wait (select, "
        "Condition.wait). Time in system calls (`send`, `recv`) counts: it is CPU the server spends. A "
        "connection thread blocked in `recv` can still be counted as busy (`SocketIO.readinto`), mostly in "
        "the one-at-a-time latency scenario.",
        "- `--gil --nonblocking` mode (handshake, rss, c10k, where hundreds of connection threads sit in `recv` and py-spy "
        "counts them busy): only the thread holding the GIL is sampled, so this is where Python code runs; "
        "system calls made without the GIL (accept, thread creation, send) do not show.",
        "",
        "*self*: time in the function itself and the C code it calls; *inclusive*: time with the function "
        "on the stack (the server and dispatcher frames above every handler are left out). Raw stacks: "
        "`profile-SCENARIO.txt` (collapsed format, for flamegraph.pl or speedscope).",
        "",
    ]
    for name in SCENARIOS:
        path = out_dir / f"profile-{name}.txt"
        if not path.exists():
            continue
        sidecar_path = out_dir / f"profile-{name}.json"
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8")) if sidecar_path.exists() else {}
        summary = profile_summary(path)
        total, selfs, incl = summary["samples"], summary["self"], summary["inclusive"]
        scen = SCENARIOS[name]
        mode = "--gil --nonblocking" if sidecar.get("gil") else "default mode"
        lines += [
            f"## {name}: {scen.title} — {sidecar.get('figure', '?')} under the profiler ({mode})",
            "",
            f"{total} busy samples ({summary['idle_samples']} more in idle waits, left out).",
            "",
        ]
        lines += ["| self % | function | | inclusive % | function |", "|---:|---|---|---:|---|"]
        for i in range(max(len(selfs), len(incl))):
            a = selfs[i] if i < len(selfs) else ("", 0.0)
            b = incl[i] if i < len(incl) else ("", 0.0)
            left = f"{a[1]:.1f} | `{a[0]}`" if a[0] else " | "
            right = f"{b[1]:.1f} | `{b[0]}`" if b[0] else " | "
            lines.append(f"| {left} | | {right} |")
        lines.append("")
    report = out_dir / "profile.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report


# -- reports ----------------------------------------------------------------------------------------

TARGETS = [
    ("latency", "latency p50 ≤ 18 µs", lambda s: (s("ours", "latency"), 18.0, "<=")),
    ("pipe1", "64 in flight, 1 conn ≥ 140k msg/s", lambda s: (s("ours", "pipe1"), 140000.0, ">=")),
    ("pipe8", "64 in flight, 8 conns ≥ 140k msg/s", lambda s: (s("ours", "pipe8"), 140000.0, ">=")),
    ("big", "1 MiB echo ≥ 1.0× websockets asyncio", lambda s: (s("ours", "big"), s("ws-asyncio", "big"), ">=")),
    ("frag", "64 KiB in 16 fragments ≥ 8000 msg/s", lambda s: (s("ours", "frag"), 8000.0, ">=")),
    ("handshake", "handshakes ≥ 6000/s", lambda s: (s("ours", "handshake"), 6000.0, ">=")),
    ("rss", "RSS per open connection ≤ 20 KiB", lambda s: (s("ours", "rss"), 20.0, "<=")),
    ("c10k", "10,000 conns held: latency < 2× idle", lambda s: (s("ours", "c10k"), 2.0, "<")),
    ("latency", "pure-Python masking: latency p50 ≤ 18 µs", lambda s: (s("ours-pure", "latency"), 18.0, "<=")),
    ("pipe1", "pure-Python masking: 64 in flight, 1 conn ≥ 140k msg/s",
     lambda s: (s("ours-pure", "pipe1"), 140000.0, ">=")),
    ("pipe8", "pure-Python masking: 64 in flight, 8 conns ≥ 140k msg/s",
     lambda s: (s("ours-pure", "pipe8"), 140000.0, ">=")),
    ("big", "pure-Python masking: 1 MiB echo ≥ 1.0× websockets asyncio",
     lambda s: (s("ours-pure", "big"), s("ws-asyncio", "big"), ">=")),
    ("frag", "pure-Python masking: 64 KiB in 16 fragments ≥ 8000 msg/s",
     lambda s: (s("ours-pure", "frag"), 8000.0, ">=")),
    ("pipe1", "Apache echo rate ≥ 0.5× standalone (64 in flight, 1 conn)",
     lambda s: (s("apache", "pipe1"), None if s("ours", "pipe1") is None else 0.5 * s("ours", "pipe1"), ">=")),
    ("latency", "Apache echo rate ≥ 0.5× standalone (1 in flight: 1/p50)",
     lambda s: (None if s("apache", "latency") is None else 1e6 / s("apache", "latency"),
                None if s("ours", "latency") is None else 0.5e6 / s("ours", "latency"), ">=")),
]  # fmt: skip


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "kernel": platform.release()}
    with contextlib.suppress(Exception):
        import importlib.metadata as md

        for package in ("websockets", "pywebsocket3", "matplotlib"):
            with contextlib.suppress(md.PackageNotFoundError):
                out[package] = md.version(package)
    with contextlib.suppress(Exception):
        out["apache"] = subprocess.run(["apache2", "-v"], capture_output=True, text=True, timeout=10,
                                       check=False).stdout.splitlines()[0].split(":", 1)[1].strip()  # fmt: skip
    with contextlib.suppress(Exception), open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
        out["cpu"] = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    out["cpus"] = str(os.cpu_count())
    with contextlib.suppress(Exception):
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10, check=False).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "mod_pywebsocket"], cwd=REPO,
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()  # fmt: skip
        out["tree"] = head + (" + uncommitted changes in mod_pywebsocket/" if dirty else "")
    return out


def write_reports(
    out_dir: Path, results: list[Result], servers: list[str], scenarios: list[str], meta: dict[str, Any]
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)

    def med(server: str, scenario: str) -> float | None:
        entry = summary.get((scenario, server))
        return entry.get("median") if entry else None

    raw = {
        "meta": meta,
        "results": [r.__dict__ for r in results],
    }
    (out_dir / "results.json").write_text(json.dumps(raw, indent=1, default=str) + "\n", encoding="utf-8")

    main_servers = [s for s in servers if s != "trivial-batch"]
    lines = [
        "# Benchmark: mod_pywebsocket against its peers",
        "",
        f"Command: `{meta['command']}`  ",
        f"Date: {meta['date']}; {meta['reps']} repetitions, interleaved (A B C … A B C …); "
        f"total {meta['elapsed_s']:.0f} s.  ",
        f"Machine: {meta['versions'].get('cpu', '?')}, {meta['versions'].get('cpus')} CPUs, Linux "
        f"{meta['versions'].get('kernel')}; Python {meta['versions'].get('python')}; "
        f"{meta['versions'].get('apache', 'no Apache')} + mod_python 3.5 (Debian's Python 3.11).  ",
        f"Pinning: {meta['pinning']}.  ",
        f"Tree measured: {meta['versions'].get('tree', '?')}.",
        "",
    ]
    if meta.get("sources"):
        lines.append("Merged from these runs (a later run's scenarios replace the earlier run's):")
        lines.append("")
    for source in meta.get("sources", []):
        lines.append(
            f"- {', '.join(source['scenarios'])}: `{source['command']}` ({source['date']}; `{source['file']}`)"
        )
    if meta.get("sources"):
        lines.append("")
    lines += [
        "Each cell: median over the repetitions, then (min–max). Higher is better except for "
        "latency, RSS and the 10k-connection ratio. — means not run (see the notes) or failed. "
        "The machine is shared: measurements during which other processes used more than "
        f"{_NOISE_LIMIT} CPUs are left out when a clean one exists (n= then says how many were "
        "kept); † marks a cell where none was clean.",
        "",
    ]
    header = "| scenario | unit | " + " | ".join(SERVERS[s].label for s in main_servers) + " |"
    lines += [header, "|---|---|" + "---:|" * len(main_servers)]
    for name in scenarios:
        scen = SCENARIOS[name]
        cells = []
        for server in main_servers:
            entry = summary.get((name, server))
            if entry is None:
                cells.append("n/a" if name in SERVERS[server].skip else "—")
            elif "median" not in entry:
                cells.append("failed")
            else:
                mark = "†" if entry["noisy"] else ""
                dropped = entry["measured"] - entry["n"]
                count = f" n={entry['n']}" if dropped else ""
                if entry["n"] == 1:
                    cells.append(f"{_fmt(entry['median'], scen.unit)}{mark}{count}")
                else:
                    cells.append(
                        f"**{_fmt(entry['median'], scen.unit)}**{mark} "
                        f"({_fmt(entry['min'], scen.unit)}–{_fmt(entry['max'], scen.unit)}){count}"
                    )
        lines.append(f"| {scen.title} | {scen.unit} | " + " | ".join(cells) + " |")
    # p99 latency row, from the extras.
    p99_cells = []
    for server in main_servers:
        entry = summary.get(("latency", server))
        values = [r.extra.get("p99") for r in entry["rows"] if r.value is not None] if entry else []
        p99_cells.append(_fmt(statistics.median(values)) if values else "—")
    if "latency" in scenarios:
        lines.append("| latency p99, 16-byte echo, 1 conn | µs | " + " | ".join(p99_cells) + " |")
    lines.append("")

    peers = [s for s in main_servers if SERVERS[s].peer]
    if "ours" in servers and peers:
        lines += ["## Ratios: ours (standalone) ÷ peer, medians", ""]
        lines += ["| scenario | " + " | ".join(SERVERS[s].label for s in peers) + " | Apache ÷ standalone |"]
        lines += ["|---|" + "---:|" * (len(peers) + 1)]
        for name in scenarios:
            ours = med("ours", name)
            cells = []
            for peer in peers + ["apache"]:
                a, b = (ours, med(peer, name)) if peer != "apache" else (med("apache", name), ours)
                cells.append(f"{a / b:.2f}" if a is not None and b else "—")
            lines.append(f"| {SCENARIOS[name].title} | " + " | ".join(cells) + " |")
        lines += ["", "For latency, RSS and the 10k ratio, below 1 means ours is better; elsewhere above 1.", ""]

    lines += ["## Targets for the standalone server", "", "| target | measured | goal | met |", "|---|---:|---:|---|"]
    for scenario, text, get in TARGETS:
        if scenario not in scenarios:
            continue
        got, goal, op = get(med)
        if got is None or goal is None:
            verdict = "not measured"
        else:
            verdict = {"<=": got <= goal, ">=": got >= goal, "<": got < goal}[op]
            verdict = "**met**" if verdict else "**missed**"
        lines.append(f"| {text} | {_fmt(got)} | {op} {_fmt(goal)} | {verdict} |")
    lines.append("")

    lines += ["## Details (medians)", ""]
    detail_keys = {
        "latency": ["p99", "p999", "client_cpu", "server_cpu_whole_run"],
        "pipe1": ["client_cpu", "server_cpu_whole_run"],
        "pipe8": ["client_cpu", "server_cpu_whole_run"],
        "big": ["messages_per_s", "client_cpu", "server_cpu_whole_run"],
        "frag": ["mb_per_s", "client_cpu", "server_cpu_whole_run"],
        "deflate": ["mb_per_s", "ratio", "client_cpu", "server_cpu_whole_run"],
        "handshake": ["client_cpu", "server_cpu_whole_run"],
        "rss": ["rss_before_kib", "rss_after_kib", "threads", "open_rate"],
        "c10k": ["idle_p50", "held_p50", "held_p99", "open_rate", "rss_kib"],
    }
    lines += ["| scenario | server | " + " | ".join(["detail"] * 1) + " |", "|---|---|---|"]
    for name in scenarios:
        for server in servers:
            entry = summary.get((name, server))
            if not entry or "median" not in entry:
                continue
            parts = []
            for key in [*detail_keys.get(name, []), "foreign_cpu"]:
                values = [r.extra.get(key) for r in entry["rows"] if isinstance(r.extra.get(key), (int, float))]
                if values:
                    parts.append(f"{key}={_fmt(statistics.median(values))}")
            extensions = [r.extra.get("extensions") for r in entry["rows"] if r.extra.get("extensions")]
            if extensions:
                parts.append(f"extensions=`{extensions[0]}`")
            lines.append(f"| {name} | {server} | {', '.join(parts)} |")
    lines.append("")

    if "trivial-batch" in servers:
        lines += [
            "## Load generator ceiling",
            "",
            "The load generator against `bench/servers/trivial.py --batch` (every complete frame of a "
            "recv echoed with one sendall). client_cpu is the generator's CPU time ÷ wall time: "
            "at ~1.0 the generator is the limit, below it the server is.",
            "",
            "| scenario | figure | unit | generator CPU | server CPU |",
            "|---|---:|---|---:|---:|",
        ]
        for name in scenarios:
            entry = summary.get((name, "trivial-batch"))
            if not entry or "median" not in entry:
                continue
            client = [r.extra.get("client_cpu") for r in entry["rows"] if r.extra.get("client_cpu") is not None]
            serv = [r.extra.get("server_cpu_whole_run") for r in entry["rows"]
                    if r.extra.get("server_cpu_whole_run") is not None]  # fmt: skip
            lines.append(
                f"| {SCENARIOS[name].title} | {_fmt(entry['median'])} | {SCENARIOS[name].unit} | "
                f"{_fmt(statistics.median(client)) if client else '—'} | "
                f"{_fmt(statistics.median(serv)) if serv else '—'} |"
            )
        lines.append("")

    notes = []
    for server in servers:
        for name, reason in SERVERS[server].skip.items():
            if name in scenarios and server != "trivial-batch":
                notes.append(f"- {SERVERS[server].label}, {name}: not run ({reason}).")
    for (name, server), entry in sorted(summary.items()):
        for error in entry["errors"][:2]:
            notes.append(f"- {name} / {server}: {error}")
    if notes:
        lines += ["## Notes and failures", "", *notes, ""]
    (out_dir / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_chart(out_dir / "chart.png", summary, main_servers, scenarios)


def write_chart(path: Path, summary: dict[tuple[str, str], dict[str, Any]], servers: list[str],
                scenarios: list[str]) -> None:  # fmt: skip
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart", flush=True)
        return
    cols = 3
    rows = (len(scenarios) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 2.9 * rows), squeeze=False)
    colors = {"ours": "#d62728", "ours-pure": "#e377c2", "apache": "#ff9896", "pywebsocket3": "#7f7f7f",
              "ws-asyncio": "#1f77b4", "ws-sync": "#aec7e8", "trivial": "#2ca02c"}  # fmt: skip
    for index, name in enumerate(scenarios):
        ax = axes[index // cols][index % cols]
        scen = SCENARIOS[name]
        labels, values, low, high, shades = [], [], [], [], []
        for server in servers:
            entry = summary.get((name, server))
            if not entry or "median" not in entry:
                continue
            labels.append(server)
            values.append(entry["median"])
            low.append(entry["median"] - entry["min"])
            high.append(entry["max"] - entry["median"])
            shades.append(colors.get(server, "#9467bd"))
        ax.barh(labels, values, xerr=[low, high], color=shades, capsize=3)
        ax.invert_yaxis()
        better = "higher" if scen.higher_is_better else "lower"
        ax.set_title(f"{scen.title}\n({scen.unit}, {better} is better)", fontsize=9)
        ax.tick_params(labelsize=8)
        # Each label starts past its bar's error bar, so the two never overlap.
        pad = 0.02 * max((v + h for v, h in zip(values, high)), default=0)
        for y, (v, h) in enumerate(zip(values, high)):
            ax.text(v + h + pad, y, _fmt(v, scen.unit), va="center", fontsize=7)
        ax.set_xlim(right=1.25 * max((v + h for v, h in zip(values, high)), default=1))
    for index in range(len(scenarios), rows * cols):
        axes[index // cols][index % cols].axis("off")
    fig.suptitle("mod_pywebsocket vs peers on loopback (median, min–max bars)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main ---------------------------------------------------------------------------------------------


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(hard, _FD_LIMIT) if os.geteuid() == 0 else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _pinning(no_pin: bool, latency_cpu: str) -> Pinning:
    cpus = sorted(os.sched_getaffinity(0))
    if no_pin or len(cpus) < 2:
        return Pinning(None, None)
    return Pinning({cpus[0]}, {cpus[1]}, colocate_latency=latency_cpu == "same")


def _split(value: str, known: dict[str, Any], what: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return [n for n in known if n in names]  # in the canonical order


def _report_only(paths: list[Path], out: Path | None) -> int:
    """Write the reports from results.json files; a later file's scenarios replace the earlier ones'."""
    results: list[Result] = []
    meta: dict[str, Any] = {}
    for path in paths:
        raw = json.loads(path.read_text(encoding="utf-8"))
        rows = [Result(**row) for row in raw["results"]]
        replaced = {r.scenario for r in rows}
        if not meta:
            meta = dict(raw["meta"])
            meta["sources"] = []
        else:
            results = [r for r in results if r.scenario not in replaced]
        results += rows
        source = raw["meta"]
        meta["sources"].append(
            {
                "file": os.path.relpath(path.resolve(), REPO),
                "command": source.get("command"),
                "date": source.get("date"),
                "scenarios": sorted(replaced, key=list(SCENARIOS).index),
            }
        )
    if len(paths) == 1:
        meta.pop("sources")
    servers = [s for s in SERVERS if any(r.server == s for r in results)]
    scenarios = [s for s in SCENARIOS if any(r.scenario == s for r in results)]
    out_dir = (out or paths[-1].parent).resolve()
    write_reports(out_dir, results, servers, scenarios, meta)
    print(f"wrote {out_dir}/results.md, results.json, chart.png")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each measurement (default 5)")
    parser.add_argument("--quick", action="store_true", help="short smoke run: 1 rep, small counts (< 2 min)")
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma-separated, from: {', '.join(SERVERS)}")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, from: {', '.join(SCENARIOS)}")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="results directory (default bench/results[/quick])")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the client and the servers to CPUs")
    parser.add_argument("--latency-cpu", choices=("same", "split"), default="same",
                        help="latency scenarios: load generator on the server's CPU (same, default) or on its "
                        "own (split: every round trip then pays two cross-CPU wake-ups)")  # fmt: skip
    parser.add_argument("--quiet-wait", type=float, default=None, metavar="SECONDS",
                        help="before each measurement, wait up to this long for the (shared) machine to be idle "
                        "(default 3, 0 with --quick)")  # fmt: skip
    parser.add_argument("--retries", type=int, default=None,
                        help="measure again (up to this many times) when other processes used more than "
                        f"{_NOISE_LIMIT} CPUs meanwhile (default 1, 0 with --quick)")  # fmt: skip
    parser.add_argument("--from-json", type=Path, nargs="+", default=None, metavar="RESULTS_JSON",
                        help="write the reports again from results.json files, without measuring; the "
                        "scenarios of a later file replace those of the earlier ones")  # fmt: skip
    parser.add_argument("--profile", action="store_true",
                        help="profile our standalone server with py-spy on each scenario (1 rep)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.from_json:
        return _report_only(args.from_json, args.out)
    # Stop cleanly (servers included) on SIGTERM, and on SIGINT even when
    # started in the background (where the shell leaves SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    servers = _split(args.servers, SERVERS, "servers")
    scenarios = _split(args.scenarios, SCENARIOS, "scenarios")
    reps = 1 if args.quick or args.profile else args.reps
    if args.profile:
        servers = ["ours"]
    out_dir = args.out or (BENCH / "results" / ("profile" if args.profile else "quick" if args.quick else ""))
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    _raise_fd_limit()
    pinning = _pinning(args.no_pin, args.latency_cpu)
    if pinning.client is not None:
        os.sched_setaffinity(0, pinning.client)
    pin_text = "none"
    if pinning.client and pinning.server:
        pin_text = f"servers on CPU {min(pinning.server)}, load generator on CPU {min(pinning.client)}"
        if pinning.colocate_latency:
            pin_text += (f"; for the one-at-a-time latency figures (latency, c10k) the load generator moves to "
                         f"CPU {min(pinning.server)} too (--latency-cpu same)")  # fmt: skip
    params = Params(quick=args.quick)
    retries = args.retries if args.retries is not None else (0 if args.quick or args.profile else 1)
    quiet_wait = args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 3.0)
    started = time.perf_counter()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="pywebsocket-bench-") as log_dir:
        fleet = Fleet(Path(log_dir), pinning)
        try:
            for name in scenarios:
                scen = SCENARIOS[name]
                todo = [s for s in servers if name not in SERVERS[s].skip]
                scen_reps = min(reps, scen.max_reps) if scen.max_reps else reps
                print(f"== {name}: {scen.title} ({scen.unit}), {scen_reps} reps", flush=True)
                profiler = (
                    PySpy(out_dir, name, rate=1000 if scen.profile_gil else 200, gil=scen.profile_gil)
                    if args.profile
                    else None
                )
                for rep in range(scen_reps):
                    for server in todo:
                        for attempt in range(1 + retries):
                            result = measure(scen, SERVERS[server], rep, fleet, params, profiler, quiet_wait)
                            others = result.extra.get("foreign_cpu", 0.0)
                            if others <= _NOISE_LIMIT or attempt == retries:
                                break
                            print(f"  rep {rep + 1} {server:14s} noisy (others used {others:.2f} CPUs): again",
                                  flush=True)  # fmt: skip
                        result.extra["attempts"] = attempt + 1
                        results.append(result)
                        shown = _fmt(result.value, scen.unit) if result.error is None else f"FAILED {result.error}"
                        cpu = result.extra.get("client_cpu")
                        cpu_text = (
                            f"  (cpu: client {cpu:.2f}, server {result.extra['server_cpu_whole_run']:.2f},"
                            f" others {result.extra['foreign_cpu']:.2f})"
                            if isinstance(cpu, float)
                            else ""
                        )
                        print(f"  rep {rep + 1} {server:14s} {shown} {scen.unit}{cpu_text}", flush=True)
        finally:
            fleet.stop_all()
    elapsed = time.perf_counter() - started
    command = "make bench" if not argv and not sys.argv[1:] else "bench/run.py " + " ".join(argv or sys.argv[1:])
    meta = {
        "command": os.environ.get("BENCH_COMMAND", command).strip(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "reps": reps,
        "quick": args.quick,
        "pinning": pin_text,
        "elapsed_s": elapsed,
        "versions": _versions(),
    }
    if args.profile:
        print(f"profile: {write_profile_report(out_dir, scenarios, results)}")
        return 0
    write_reports(out_dir, results, servers, scenarios, meta)
    print((out_dir / "results.md").read_text(encoding="utf-8"))
    print(f"wrote {out_dir}/results.md, results.json, chart.png in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
