"""What /proc says about the processes under test, and which CPU each side runs on."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass

from bench.loadgen import BenchError

__all__ = [
    "Pinning",
    "children_of",
    "cpu_seconds",
    "cpu_used_since",
    "listening_port",
    "machine_busy_seconds",
    "pinning_for",
    "raise_fd_limit",
    "thread_count",
    "vm_rss_kib",
    "wait_until_quiet",
]

_FD_LIMIT = 65536


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

    The machine is shared: other people's test runs skew a benchmark.

    Returns:
        Seconds waited, and the CPUs busy in the last window.
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
    """The processes whose parent is ``pid``."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int(_stat_fields(int(name))[1]) == pid:
                    found.append(int(name))
    return found


def vm_rss_kib(pid: int) -> int:
    """The resident set size of ``pid`` in KiB.

    Raises:
        BenchError: /proc does not say (the process is a zombie).
    """
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def thread_count(pid: int) -> int:
    """How many threads ``pid`` runs."""
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


def raise_fd_limit() -> None:
    """Raise this process's open-file limit (and so the servers' it starts) as far as allowed."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(hard, _FD_LIMIT) if os.geteuid() == 0 else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


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

    def describe(self) -> str:
        """The pinning in words, for the report's header."""
        if not (self.client and self.server):
            return "none"
        text = f"servers on CPU {min(self.server)}, load generator on CPU {min(self.client)}"
        if self.colocate_latency:
            text += (
                f"; for the one-at-a-time latency figures (latency, c10k) the load generator moves to "
                f"CPU {min(self.server)} too (--latency-cpu same)"
            )
        return text


def pinning_for(no_pin: bool, latency_cpu: str) -> Pinning:
    """The first CPU of this process's set for the load generator, the second for the servers."""
    cpus = sorted(os.sched_getaffinity(0))
    if no_pin or len(cpus) < 2:
        return Pinning(None, None)
    return Pinning({cpus[0]}, {cpus[1]}, colocate_latency=latency_cpu == "same")
