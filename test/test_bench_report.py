"""The benchmark's report (bench/report.py): the committed figures render again byte for byte, medians skip noise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import BENCH, REPO
from bench.report import fmt, report_from_json, summarize
from bench.scenarios import Result

COMMITTED = BENCH / "results"


def test_from_json_renders_the_committed_results_md_and_json_again(tmp_path: Path) -> None:
    assert report_from_json([COMMITTED / "results.json"], tmp_path) == 0

    assert (tmp_path / "results.md").read_bytes() == (COMMITTED / "results.md").read_bytes()
    assert (tmp_path / "results.json").read_bytes() == (COMMITTED / "results.json").read_bytes()


def test_summary_leaves_out_measurements_taken_while_other_processes_were_busy() -> None:
    results = [
        Result("pipe1", "ours", 0, 100.0, {"foreign_cpu": 0.1}),
        Result("pipe1", "ours", 1, 300.0, {"foreign_cpu": 0.2}),
        Result("pipe1", "ours", 2, 5.0, {"foreign_cpu": 0.9}),
        Result("pipe1", "ours", 3, None, {}, "OSError: refused"),
    ]

    entry = summarize(results)[("pipe1", "ours")]

    assert (entry["median"], entry["min"], entry["max"]) == (200.0, 100.0, 300.0)
    assert (entry["n"], entry["measured"], entry["noisy"]) == (2, 3, False)
    assert entry["errors"] == ["OSError: refused"]


def test_summary_marks_an_entry_noisy_when_no_measurement_was_clean() -> None:
    results = [Result("big", "ws-sync", rep, value, {"foreign_cpu": 0.5}) for rep, value in enumerate([4.0, 2.0])]

    entry = summarize(results)[("big", "ws-sync")]

    assert (entry["median"], entry["n"], entry["noisy"]) == (3.0, 2, True)


def test_figures_are_shown_with_the_digits_of_the_tables() -> None:
    shown = [fmt(None), fmt(123456.0), fmt(2545.4), fmt(36.94), fmt(3.14159), fmt(1.5, "×")]

    assert shown == ["—", "123.5k", "2545", "36.9", "3.14", "1.50"]


def bench_inprocess(*args: str) -> str:
    """Run ``python -m bench.inprocess`` with ``args``; return what it printed."""
    run = subprocess.run(
        [sys.executable, "-m", "bench.inprocess", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_handshake_profile_covers_the_connection_threads_not_only_the_accept_loop() -> None:
    # The connection threads call what the server handed them when it was
    # made: a profile wrapped around the server's method afterwards saw none.
    output = bench_inprocess("handshake", "--count", "20", "--top", "500")
    profiled = {line.split("calls  ", 1)[1].split(" (", 1)[0] for line in output.splitlines() if "calls  " in line}
    assert {"serve", "handle_websocket", "read_request_head", "do_handshake"} <= profiled


def test_handshake_phases_add_up_each_step_of_the_connection_thread() -> None:
    lines = bench_inprocess("phases", "--count", "20").splitlines()
    assert lines[0].startswith("20 handshakes, 32 at once, at ")
    assert lines[1].startswith("  accept loop (accept, admission, a thread started or woken): ")
    steps = [line.split("µs  ", 1) for line in lines[3:]]
    assert [step for _, step in steps] == [
        "start of a new thread (0 for a reused one)",
        "connection set up, up to reading the request head",
        "request head received and parsed",
        "request admitted, up to the handshake",
        "opening handshake, its 101 sent",
        "up to the handler's web_socket_transfer_data",
        "in all",
    ]
    values = [float(value) for value, _ in steps]
    assert abs(sum(values[:-1]) - values[-1]) <= len(values)  # each printed rounded to 1 µs
