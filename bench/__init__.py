"""Benchmark of mod_pywebsocket against its peers on loopback.

Run from the repository root with the bench venv (``make bench`` builds it)::

    make bench                                  # every server and scenario, 5 repetitions
    .venv-bench/bin/python -m bench --quick     # smoke run
    .venv-bench/bin/python -m bench --from-json bench/results/results.json --out /tmp/again

Modules: ``processes`` (what /proc says about a process, CPU pinning),
``servers`` (starting and stopping each server under test), ``loadgen``
(the load generator), ``scenarios`` (what is measured, one measurement),
``report`` (summary, results.md, results.json, chart.png), ``profiling``
(py-spy runs), ``inprocess`` (tracemalloc and cProfile of our server in one
process) and ``h2_echo`` (HTTP/2 against HTTP/1.1). bench/README.md says what
each scenario measures.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BENCH", "REPO"]

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
