"""py-spy on our standalone server during each scenario (``python -m bench --profile``), and its report."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import REPO
from bench.report import fmt
from bench.scenarios import SCENARIOS, Result
from bench.servers import Running

__all__ = ["PySpy", "profile_summary", "write_profile_report"]


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
            figure = f"{fmt(result.value, scen.unit)} {scen.unit}" if result.value is not None else "failed"
            sidecar = {"figure": figure, "gil": scen.profile_gil, "date": time.strftime("%Y-%m-%d %H:%M %Z")}
            (out_dir / f"profile-{result.scenario}.json").write_text(json.dumps(sidecar) + "\n", encoding="utf-8")
    lines = [
        "# Profile of the standalone server, per scenario",
        "",
        (
            "Made by `python -m bench --profile`: py-spy 0.4.3 `record --format raw --function --rate 200` (1000 "
            "with `--gil`) attached "
            "to `python3 -m mod_pywebsocket.standalone` during each scenario (one run each, load generator as "
            "in the benchmark; the figure under the profiler is given). Percentages are of the busy samples."
        ),
        "",
        (
            "- Default mode (every scenario but handshake, rss, c10k): py-spy samples the threads it sees "
            "running, and this report also drops samples whose innermost frame is a wait (select, "
            "Condition.wait). Time in system calls (`send`, `recv`) counts: it is CPU the server spends. A "
            "connection thread blocked in `recv` can still be counted as busy (`SocketIO.readinto`), mostly in "
            "the one-at-a-time latency scenario."
        ),
        (
            "- `--gil --nonblocking` mode (handshake, rss, c10k, where hundreds of connection threads sit in `recv` and py-spy "
            "counts them busy): only the thread holding the GIL is sampled, so this is where Python code runs; "
            "system calls made without the GIL (accept, thread creation, send) do not show."
        ),
        "",
        (
            "*self*: time in the function itself and the C code it calls; *inclusive*: time with the function "
            "on the stack (the server and dispatcher frames above every handler are left out). Raw stacks: "
            "`profile-SCENARIO.txt` (collapsed format, for flamegraph.pl or speedscope)."
        ),
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
