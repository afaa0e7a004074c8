"""Benchmark mod_pywebsocket against its peers on loopback (bench driver).

Starts the servers (our standalone server, our Apache + mod_python
deployment, pywebsocket3 4.0.2, websockets asyncio and sync, and a trivial
Python thread server as a reference point), runs every scenario against every
server interleaved (A B C A B C ..., ``--reps`` times), and writes
``results.md``, ``results.json`` and ``chart.png`` to ``bench/results/``
(``bench/results/quick/`` with ``--quick``, ``bench/results/profile/`` with
``--profile``: both ignored by git). Servers run on one CPU, the load
generator (this process) on another. Run from the repository root:

    make bench                              # everything, 5 repetitions
    .venv-bench/bin/python -m bench --quick
    .venv-bench/bin/python -m bench --servers ours,ws-asyncio --scenarios latency,pipe1 --reps 3
    .venv-bench/bin/python -m bench --profile   # py-spy on our server, each scenario

See bench/README.md for what each scenario measures.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import BENCH
from bench.processes import pinning_for, raise_fd_limit
from bench.profiling import PySpy, write_profile_report
from bench.report import fmt, report_from_json, versions, write_reports
from bench.scenarios import NOISE_LIMIT, SCENARIOS, Params, Result, measure
from bench.servers import SERVERS, Fleet

__all__ = ["main"]


def _split(value: str, known: dict[str, Any], what: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return [n for n in known if n in names]  # in the canonical order


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each measurement (default 5)")
    parser.add_argument("--quick", action="store_true", help="short smoke run: 1 rep, small counts (< 2 min)")
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma-separated, from: {', '.join(SERVERS)}")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, from: {', '.join(SCENARIOS)}")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None,
                        help="results directory (default bench/results; bench/results/quick with --quick, "
                        "bench/results/profile with --profile)")  # fmt: skip
    parser.add_argument("--no-pin", action="store_true", help="do not pin the client and the servers to CPUs")
    parser.add_argument("--latency-cpu", choices=("same", "split"), default="same",
                        help="latency scenarios: load generator on the server's CPU (same, default) or on its "
                        "own (split: every round trip then pays two cross-CPU wake-ups)")  # fmt: skip
    parser.add_argument("--quiet-wait", type=float, default=None, metavar="SECONDS",
                        help="before each measurement, wait up to this long for the (shared) machine to be idle "
                        "(default 3, 0 with --quick)")  # fmt: skip
    parser.add_argument("--retries", type=int, default=None,
                        help="measure again (up to this many times) when other processes used more than "
                        f"{NOISE_LIMIT} CPUs meanwhile (default 1, 0 with --quick)")  # fmt: skip
    parser.add_argument("--from-json", type=Path, nargs="+", default=None, metavar="RESULTS_JSON",
                        help="write the reports again from results.json files, without measuring; the "
                        "scenarios of a later file replace those of the earlier ones")  # fmt: skip
    parser.add_argument("--profile", action="store_true",
                        help="profile our standalone server with py-spy on each scenario (1 rep)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.from_json:
        return report_from_json(args.from_json, args.out)
    # Stop cleanly (servers included) on SIGTERM, and on SIGINT even when
    # started in the background (where the shell leaves SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    servers = ["ours"] if args.profile else _split(args.servers, SERVERS, "servers")
    scenarios = _split(args.scenarios, SCENARIOS, "scenarios")
    reps = 1 if args.quick or args.profile else args.reps
    out_dir = args.out or (BENCH / "results" / ("profile" if args.profile else "quick" if args.quick else ""))
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    raise_fd_limit()
    pinning = pinning_for(args.no_pin, args.latency_cpu)
    if pinning.client is not None:
        os.sched_setaffinity(0, pinning.client)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pywebsocket-bench-") as log_dir:
        fleet = Fleet(Path(log_dir), pinning)
        try:
            results = _measure_all(
                fleet,
                servers,
                scenarios,
                reps,
                Params(quick=args.quick),
                retries=args.retries if args.retries is not None else (0 if args.quick or args.profile else 1),
                quiet_wait=args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 3.0),
                profile_dir=out_dir if args.profile else None,
            )
        finally:
            fleet.stop_all()
    elapsed = time.perf_counter() - started
    if args.profile:
        print(f"profile: {write_profile_report(out_dir, scenarios, results)}")
        return 0
    command = "make bench" if not argv and not sys.argv[1:] else "python -m bench " + " ".join(argv or sys.argv[1:])
    meta = {
        "command": os.environ.get("BENCH_COMMAND", command).strip(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "reps": reps,
        "quick": args.quick,
        "pinning": pinning.describe(),
        "elapsed_s": elapsed,
        "versions": versions(),
    }
    write_reports(out_dir, results, servers, scenarios, meta)
    print((out_dir / "results.md").read_text(encoding="utf-8"))
    print(f"wrote {out_dir}/results.md, results.json, chart.png in {elapsed:.0f} s")
    return 0


def _measure_all(
    fleet: Fleet,
    servers: list[str],
    scenarios: list[str],
    reps: int,
    params: Params,
    *,
    retries: int,
    quiet_wait: float,
    profile_dir: Path | None,
) -> list[Result]:
    """Every scenario against every server, the servers interleaved within each repetition."""
    results: list[Result] = []
    for name in scenarios:
        scen = SCENARIOS[name]
        todo = [s for s in servers if name not in SERVERS[s].skip]
        scen_reps = min(reps, scen.max_reps) if scen.max_reps else reps
        print(f"== {name}: {scen.title} ({scen.unit}), {scen_reps} reps", flush=True)
        profiler = None
        if profile_dir is not None:
            profiler = PySpy(profile_dir, name, rate=1000 if scen.profile_gil else 200, gil=scen.profile_gil)
        for rep in range(scen_reps):
            for server in todo:
                for attempt in range(1 + retries):
                    result = measure(scen, SERVERS[server], rep, fleet, params, profiler, quiet_wait)
                    others = result.extra.get("foreign_cpu", 0.0)
                    if others <= NOISE_LIMIT or attempt == retries:
                        break
                    print(f"  rep {rep + 1} {server:14s} noisy (others used {others:.2f} CPUs): again", flush=True)
                result.extra["attempts"] = attempt + 1
                results.append(result)
                shown = fmt(result.value, scen.unit) if result.error is None else f"FAILED {result.error}"
                cpu = result.extra.get("client_cpu")
                cpu_text = (
                    f"  (cpu: client {cpu:.2f}, server {result.extra['server_cpu_whole_run']:.2f},"
                    f" others {result.extra['foreign_cpu']:.2f})"
                    if isinstance(cpu, float)
                    else ""
                )
                print(f"  rep {rep + 1} {server:14s} {shown} {scen.unit}{cpu_text}", flush=True)
    return results


if __name__ == "__main__":
    sys.exit(main())
