"""What the benchmark measures (one ``Scenario`` each) and how one measurement is taken (`measure`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import loadgen
from bench.loadgen import BenchError
from bench.processes import (
    cpu_seconds,
    cpu_used_since,
    machine_busy_seconds,
    thread_count,
    vm_rss_kib,
    wait_until_quiet,
)
from bench.servers import Fleet, Running, ServerSpec

__all__ = ["NOISE_LIMIT", "SCENARIOS", "Params", "Result", "Scenario", "measure"]

# A measurement during which other processes (the machine is shared) used
# more CPU than this is measured again (--retries).
NOISE_LIMIT = 0.3


@dataclass
class Params:
    """The sizes of a full run, or of a quick one."""

    quick: bool

    def pick(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full

    @property
    def duration(self) -> float:
        return float(self.pick(1.5, 0.5))

    @property
    def warmup(self) -> float:
        return float(self.pick(0.4, 0.2))


def _run_latency(server: Running, p: Params) -> dict[str, Any]:
    return loadgen.latency(server.target, count=p.pick(20000, 3000), warmup=p.pick(2000, 500))


def _run_pipe(conns: int) -> Callable[[Running, Params], dict[str, Any]]:
    def run(server: Running, p: Params) -> dict[str, Any]:
        return loadgen.pipelined(server.target, conns=conns, window=64, duration=p.duration, warmup=p.warmup)

    return run


def _timed(echo: Callable[..., dict[str, Any]]) -> Callable[[Running, Params], dict[str, Any]]:
    return lambda server, p: echo(server.target, duration=p.duration, warmup=p.warmup)


def _run_handshake(server: Running, p: Params) -> dict[str, Any]:
    count = p.pick(1000, 300)
    if server.name == "apache":
        # Fewer than MaxSpareServers at once, so that prefork keeps its children.
        loadgen.handshakes(server.target, count=24, window=24, batch=24)  # warm the children
        return loadgen.handshakes(server.target, count=count, window=24, batch=24)
    loadgen.handshakes(server.target, count=64, window=32)  # warm-up
    return loadgen.handshakes(server.target, count=count, window=32)


def _run_churn(server: Running, p: Params) -> dict[str, Any]:
    return loadgen.churn(server.target, count=p.pick(2000, 300))


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
    """One thing measured against every server: its title and unit in the tables, and the run."""

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
        Scenario("big", "1 MiB binary echo, 1 conn (2 in flight)", "MB/s", True, _timed(loadgen.big_echo)),
        Scenario("frag", "64 KiB text in 16 fragments (2 in flight)", "msg/s", True, _timed(loadgen.fragmented_echo)),
        Scenario(
            "deflate",
            "permessage-deflate, 16 KiB JSON text (8 in flight)",
            "msg/s",
            True,
            _timed(loadgen.deflate_echo),
        ),
        Scenario(
            "handshake", "opening handshakes, 1000 conns (32 at once)", "/s", True, _run_handshake, profile_gil=True
        ),
        Scenario(
            "churn",
            "connect, one 16-byte echo, close; 8 clients in a loop",
            "/s",
            True,
            _run_churn,
            profile_gil=True,
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


@dataclass
class Result:
    """One measurement: the figure (None when it failed) and its details."""

    scenario: str
    server: str
    rep: int
    value: float | None
    extra: dict[str, Any]
    error: str | None = None


def measure(
    scenario: Scenario,
    spec: ServerSpec,
    rep: int,
    fleet: Fleet,
    params: Params,
    profiler: Any = None,
    quiet_wait: float = 0.0,
) -> Result:
    """Run ``scenario`` once against ``spec``, with the CPU each side and the rest of the machine used."""
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
