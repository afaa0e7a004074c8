"""The reports of a run: the summary per (scenario, server), results.md, results.json and chart.png."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

from bench import REPO
from bench.scenarios import NOISE_LIMIT, SCENARIOS, Result
from bench.servers import SERVERS

__all__ = ["fmt", "report_from_json", "summarize", "versions", "write_reports"]


def fmt(value: float | None, unit: str = "") -> str:
    """``value`` with as many digits as the tables show (thousands as k; — for none)."""
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
    """Whether other processes left the machine alone (under NOISE_LIMIT CPUs) during ``result``."""
    return result.value is not None and result.extra.get("foreign_cpu", 0.0) <= NOISE_LIMIT


def summarize(results: list[Result]) -> dict[tuple[str, str], dict[str, Any]]:
    """Median, min and max per (scenario, server), over the clean measurements when there are any.

    A measurement during which other processes used more than NOISE_LIMIT
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


def _times(factor: float, value: float | None) -> float | None:
    """``factor * value``, or None when ``value`` was not measured."""
    return None if value is None else factor * value


# Issue 19's goals. "ours" is what `pip install` gives with a compiler (our own C
# masking; nothing borrowed from websockets), "ours-pure" what it gives without one.
TARGETS = [
    ("latency", "latency p50 ≤ 18 µs", lambda s: (s("ours", "latency"), 18.0, "<=")),
    ("pipe1", "64 in flight, 1 conn ≥ 140k msg/s", lambda s: (s("ours", "pipe1"), 140000.0, ">=")),
    ("pipe8", "64 in flight, 8 conns ≥ 140k msg/s", lambda s: (s("ours", "pipe8"), 140000.0, ">=")),
    ("big", "1 MiB echo ≥ 1.5× websockets asyncio",
     lambda s: (s("ours", "big"), _times(1.5, s("ws-asyncio", "big")), ">=")),
    ("frag", "64 KiB in 16 fragments ≥ 1.2× websockets asyncio",
     lambda s: (s("ours", "frag"), _times(1.2, s("ws-asyncio", "frag")), ">=")),
    ("handshake", "handshakes ≥ 1.0× websockets asyncio",
     lambda s: (s("ours", "handshake"), s("ws-asyncio", "handshake"), ">=")),
    ("handshake", "goal: handshakes ≥ 1.2× websockets asyncio",
     lambda s: (s("ours", "handshake"), _times(1.2, s("ws-asyncio", "handshake")), ">=")),
    ("rss", "RSS per open connection ≤ the trivial thread server's",
     lambda s: (s("ours", "rss"), s("trivial", "rss"), "<=")),
    ("rss", "goal: RSS per open connection ≤ 20 KiB", lambda s: (s("ours", "rss"), 20.0, "<=")),
    ("c10k", "10,000 conns held: latency < 2× idle", lambda s: (s("ours", "c10k"), 2.0, "<")),
    ("latency", "no compiler (pure-Python masking): latency p50 ≤ 18 µs",
     lambda s: (s("ours-pure", "latency"), 18.0, "<=")),
    ("pipe1", "no compiler (pure-Python masking): 64 in flight, 1 conn ≥ 140k msg/s",
     lambda s: (s("ours-pure", "pipe1"), 140000.0, ">=")),
    ("pipe1", "Apache with hold_replies: 64 in flight, 1 conn ≥ 0.5× standalone",
     lambda s: (s("apache-held", "pipe1"), _times(0.5, s("ours", "pipe1")), ">=")),
    ("latency", "Apache echo rate ≥ 0.5× standalone (1 in flight: 1/p50)",
     lambda s: (None if s("apache", "latency") is None else 1e6 / s("apache", "latency"),
                None if s("ours", "latency") is None else 0.5e6 / s("ours", "latency"), ">=")),
]  # fmt: skip


def _extra_median(entry: dict[str, Any] | None, key: str) -> float | None:
    """The median of the detail ``key`` over the measurements an entry of `summarize` keeps (None: no such detail)."""
    values = [r.extra[key] for r in entry["rows"] if isinstance(r.extra.get(key), (int, float))] if entry else []
    return statistics.median(values) if values else None


def versions() -> dict[str, str]:
    """Python, kernel, peer and Apache versions, the CPU, and the git revision of the tree measured."""
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
        (
            f"Date: {meta['date']}; {meta['reps']} repetitions, interleaved (A B C … A B C …); "
            f"total {meta['elapsed_s']:.0f} s.  "
        ),
        (
            f"Machine: {meta['versions'].get('cpu', '?')}, {meta['versions'].get('cpus')} CPUs, Linux "
            f"{meta['versions'].get('kernel')}; Python {meta['versions'].get('python')}; "
            f"{meta['versions'].get('apache', 'no Apache')} + mod_python 3.5 (Debian's Python 3.11).  "
        ),
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
        (
            "Each cell: median over the repetitions, then (min–max). Higher is better except for "
            "latency, RSS and the 10k-connection ratio. — means not run (see the notes) or failed. "
            "The machine is shared: measurements during which other processes used more than "
            f"{NOISE_LIMIT} CPUs are left out when a clean one exists (n= then says how many were "
            "kept); † marks a cell where none was clean."
        ),
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
                    cells.append(f"{fmt(entry['median'], scen.unit)}{mark}{count}")
                else:
                    cells.append(
                        f"**{fmt(entry['median'], scen.unit)}**{mark} "
                        f"({fmt(entry['min'], scen.unit)}–{fmt(entry['max'], scen.unit)}){count}"
                    )
        lines.append(f"| {scen.title} | {scen.unit} | " + " | ".join(cells) + " |")
    # p99 latency row, from the extras.
    p99_cells = [fmt(_extra_median(summary.get(("latency", server)), "p99")) for server in main_servers]
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
            for peer in [*peers, "apache"]:
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
        lines.append(f"| {text} | {fmt(got)} | {op} {fmt(goal)} | {verdict} |")
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
        "churn": ["clients", "client_cpu", "server_cpu_whole_run"],
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
                value = _extra_median(entry, key)
                if value is not None:
                    parts.append(f"{key}={fmt(value)}")
            extensions = [r.extra.get("extensions") for r in entry["rows"] if r.extra.get("extensions")]
            if extensions:
                parts.append(f"extensions=`{extensions[0]}`")
            lines.append(f"| {name} | {server} | {', '.join(parts)} |")
    lines.append("")

    if "trivial-batch" in servers:
        lines += [
            "## Load generator ceiling",
            "",
            (
                "The load generator against `bench/servers/trivial.py --batch` (every complete frame of a "
                "recv echoed with one sendall). client_cpu is the generator's CPU time ÷ wall time: "
                "at ~1.0 the generator is the limit, below it the server is."
            ),
            "",
            "| scenario | figure | unit | generator CPU | server CPU |",
            "|---|---:|---|---:|---:|",
        ]
        for name in scenarios:
            entry = summary.get((name, "trivial-batch"))
            if not entry or "median" not in entry:
                continue
            lines.append(
                f"| {SCENARIOS[name].title} | {fmt(entry['median'])} | {SCENARIOS[name].unit} | "
                f"{fmt(_extra_median(entry, 'client_cpu'))} | {fmt(_extra_median(entry, 'server_cpu_whole_run'))} |"
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
            ax.text(v + h + pad, y, fmt(v, scen.unit), va="center", fontsize=7)
        ax.set_xlim(right=1.25 * max((v + h for v, h in zip(values, high)), default=1))
    for index in range(len(scenarios), rows * cols):
        axes[index // cols][index % cols].axis("off")
    fig.suptitle("mod_pywebsocket vs peers on loopback (median, min–max bars)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report_from_json(paths: list[Path], out: Path | None) -> int:
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
        # One file (``raw`` is it): its own header again (with the runs it was merged from, if it was).
        meta = dict(raw["meta"])
    servers = [s for s in SERVERS if any(r.server == s for r in results)]
    scenarios = [s for s in SCENARIOS if any(r.scenario == s for r in results)]
    out_dir = (out or paths[-1].parent).resolve()
    write_reports(out_dir, results, servers, scenarios, meta)
    print(f"wrote {out_dir}/results.md, results.json, chart.png")
    return 0
