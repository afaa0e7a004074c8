"""Runs the Autobahn|Testsuite fuzzing client against a WebSocket echo server.

    python3 tools/autobahn.py                      # sections 1-10, our server
    python3 tools/autobahn.py --cases all          # sections 1-13 (slow)
    python3 tools/autobahn.py --url ws://127.0.0.1:9000/echo --agent other
    python3 tools/autobahn.py --setup-only         # only build .venv-autobahn

Without --url it starts our standalone server (`python3 -m
mod_pywebsocket.standalone -p 0 -d example`, or --server-cmd) on a free port
and stops it at the end. The testsuite is Python 2 only: it is installed into
.venv-autobahn at the repository root, from requirements/autobahn-py27.txt.

Prints one line per case that is not OK, then
`autobahn: N cases: N OK, N INFORMATIONAL, N NON-STRICT, N UNIMPLEMENTED, N
FAILED`. Exits 0 only if no case is FAILED, NON-STRICT or UNIMPLEMENTED, no
close behaviour failed and all expected cases ran; 1 if some did not; 2 if
the harness itself could not run.

Only the standard library is used, so any Python 3 runs it.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import html
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-autobahn"
REQUIREMENTS = REPO / "requirements" / "autobahn-py27.txt"
DEFAULT_OUTDIR = REPO / "reports" / "autobahn"
DEFAULT_PYTHON27 = "/root/.pyenv/versions/2.7.18/bin/python2.7"
# virtualenv 20.22 dropped support for creating Python 2 environments.
VIRTUALENV_SPEC = "virtualenv<20.22"
_MARKER = ".autobahn-installed"

BEHAVIORS = ("OK", "INFORMATIONAL", "NON-STRICT", "UNIMPLEMENTED", "FAILED")
BAD_BEHAVIORS = ("NON-STRICT", "UNIMPLEMENTED", "FAILED")
# behaviorClose values that are not failures; the others are FAILED, UNCLEAN
# and WRONG CODE (and FAILED BY CLIENT, which only a server under test gets).
GOOD_CLOSE_BEHAVIORS = ("OK", "INFORMATIONAL")

_SECTIONS_1_10 = [f"{n}.*" for n in range(1, 11)]
# Named case sets: (case patterns, number of cases the testsuite has).
CASE_SETS = {
    "1-10": (_SECTIONS_1_10, 301),
    "all": ([*_SECTIONS_1_10, "12.*", "13.*"], 517),
}
DEFAULT_TIMEOUTS = {"1-10": 900, "all": 3600}

_LISTENING = re.compile(r"listening on (\S+):(\d+)")


class SetupError(Exception):
    """The testsuite could not be installed, or a tool it needs is missing."""


class HarnessError(Exception):
    """The run itself broke: the server or wstest failed, or no report."""


@dataclasses.dataclass
class CaseResult:
    """One case's outcome, as the testsuite reports it.

    Attributes:
        case_id: The case id, e.g. '6.4.3'.
        behavior: The case behaviour (OK, NON-STRICT, FAILED, ...).
        behavior_close: The closing handshake behaviour.
        remote_close_code: The close code the server sent, if any.
        description: What the case does (HTML tags removed).
        expectation: What the testsuite expected.
        result: The testsuite's verdict on the case.
        result_close: The testsuite's verdict on the closing handshake.
    """

    case_id: str
    behavior: str
    behavior_close: str
    remote_close_code: int | None = None
    description: str = ""
    expectation: str = ""
    result: str = ""
    result_close: str = ""

    @property
    def failed(self) -> bool:
        """Whether this case fails the run (its behaviour or its close)."""
        return (
            self.behavior not in BEHAVIORS
            or self.behavior in BAD_BEHAVIORS
            or self.behavior_close not in GOOD_CLOSE_BEHAVIORS
        )

    def line(self) -> str:
        """Returns a one-line description for the console."""
        text = (
            f"case {self.case_id}: {self.behavior}, close "
            f"{self.behavior_close} (code {self.remote_close_code}): "
            f"{self.result}"
        )
        if self.behavior_close != "OK":
            text += f" / {self.result_close}"
        return text + f" | case: {self.description} | expected: {self.expectation}"


@dataclasses.dataclass
class Summary:
    """The outcome of one run.

    Attributes:
        cases: Every case that ran, in the testsuite's order.
        expected: How many cases should have run.
        outdir: Where the reports (index.json, index.html, logs) are.
        duration: Seconds the testsuite ran.
    """

    cases: list[CaseResult]
    expected: int
    outdir: Path
    duration: float = 0.0

    def counts(self) -> collections.Counter:
        """Returns the number of cases per behaviour."""
        return collections.Counter(case.behavior for case in self.cases)

    @property
    def not_ok(self) -> list[CaseResult]:
        """The cases whose behaviour or close behaviour is not OK."""
        return [case for case in self.cases if case.behavior != "OK" or case.behavior_close != "OK"]

    @property
    def failures(self) -> list[CaseResult]:
        """The cases that fail the run."""
        return [case for case in self.cases if case.failed]

    @property
    def ok(self) -> bool:
        """Whether the run passes: all expected cases ran, none failed."""
        return len(self.cases) == self.expected and not self.failures

    def line(self) -> str:
        """Returns the summary line, e.g. `autobahn: 301 cases: 301 OK, ...`."""
        counts = self.counts()
        parts = ", ".join(f"{counts[name]} {name}" for name in BEHAVIORS)
        return f"autobahn: {len(self.cases)} cases: {parts}"


def _py27_env() -> dict[str, str]:
    """Returns the environment for Python 2 processes (no Python 3 paths)."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__"):
        env.pop(name, None)
    return env


def _python27() -> str:
    """Returns the Python 2.7 interpreter to build the virtualenv from.

    Raises:
        SetupError: No Python 2.7 was found.
    """
    for candidate in (
        os.environ.get("AUTOBAHN_PYTHON27"),
        DEFAULT_PYTHON27,
        shutil.which("python2.7"),
        shutil.which("python2"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SetupError("no Python 2.7 interpreter (set AUTOBAHN_PYTHON27)")


def _wstest() -> Path:
    return VENV / "bin" / "wstest"


def _requirements_digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def venv_is_complete() -> bool:
    """Tells whether .venv-autobahn holds a working testsuite install."""
    marker = VENV / _MARKER
    try:
        if marker.read_text().strip() != _requirements_digest():
            return False
    except OSError:
        return False
    if not _wstest().exists():
        return False
    check = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", "import autobahntestsuite"],
        env=_py27_env(),
        capture_output=True,
        timeout=120,
    )
    return check.returncode == 0


def _run_setup_step(argv: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> str:
    """Runs one install command.

    Returns:
        An empty string on success, else the command and its output's tail.
    """
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{shlex.join(argv)}: {error}"
    if proc.returncode == 0:
        return ""
    output = (proc.stdout + proc.stderr).strip().splitlines()
    return f"{shlex.join(argv)} exited {proc.returncode}: " + " | ".join(output[-5:])


def _create_virtualenv(python27: str) -> None:
    """Creates an empty Python 2.7 virtualenv at VENV.

    Tries, in turn, a virtualenv module already importable by Python 2.7, by
    this Python, or by the repository's .venv, and finally one installed with
    pip into a temporary directory.

    Raises:
        SetupError: No way worked.
    """
    target = ["-p", python27, str(VENV)]
    attempts = [[python27, "-m", "virtualenv", str(VENV)], [sys.executable, "-m", "virtualenv", *target]]
    repo_python = REPO / ".venv" / "bin" / "python"
    if repo_python.exists():
        attempts.append([str(repo_python), "-m", "virtualenv", *target])
    errors = []
    for argv in attempts:
        error = _run_setup_step(argv, env=_py27_env(), timeout=300)
        if not error:
            return
        errors.append(error)
        shutil.rmtree(VENV, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="autobahn-virtualenv-") as tmp:
        error = _run_setup_step([sys.executable, "-m", "pip", "install", "--quiet", "--target", tmp, VIRTUALENV_SPEC])
        if not error:
            env = dict(_py27_env(), PYTHONPATH=tmp)
            error = _run_setup_step([sys.executable, "-m", "virtualenv", *target], env=env, timeout=300)
            if not error:
                return
        errors.append(error)
        shutil.rmtree(VENV, ignore_errors=True)
    raise SetupError("cannot create a Python 2.7 virtualenv: " + "; ".join(errors))


def ensure_venv(log=print) -> Path:
    """Makes sure .venv-autobahn has the testsuite; builds it if needed.

    An existing complete install is reused; an incomplete or outdated one is
    removed and built again.

    Args:
        log: Called with progress messages.

    Returns:
        The path of the wstest command.

    Raises:
        SetupError: The testsuite could not be installed.
    """
    if venv_is_complete():
        return _wstest()
    python27 = _python27()
    if VENV.exists():
        log(f"autobahn: rebuilding incomplete {VENV}")
        shutil.rmtree(VENV)
    log(f"autobahn: installing the testsuite into {VENV} (takes a minute)")
    _create_virtualenv(python27)
    error = _run_setup_step(
        [
            str(VENV / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(REQUIREMENTS),
            "autobahntestsuite",
        ],
        env=_py27_env(),
    )
    if error:
        raise SetupError(f"cannot install autobahntestsuite: {error}")
    (VENV / _MARKER).write_text(_requirements_digest() + "\n")
    if not venv_is_complete():
        raise SetupError(f"{VENV} is still incomplete after installing")
    return _wstest()


def _default_server_cmd() -> list[str]:
    return [sys.executable, "-m", "mod_pywebsocket.standalone", "-H", "127.0.0.1", "-p", "0", "-d", "example"]


def start_server(argv: list[str], log_path: Path, timeout: float = 30) -> tuple[subprocess.Popen, str, int]:
    """Starts a server that logs `listening on HOST:PORT`, and waits for it.

    Args:
        argv: The server command, run from the repository root.
        log_path: File that receives the server's stdout and stderr.
        timeout: Seconds to wait for the listening line.

    Returns:
        The process, and the host and port it listens on.

    Raises:
        HarnessError: The server exited or did not log the line in time.
    """
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        match = _LISTENING.search(log_path.read_text(errors="replace"))
        if match:
            host = match.group(1).strip("[]")
            if host in ("0.0.0.0", "::", ""):
                host = "127.0.0.1"
            return proc, host, int(match.group(2))
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            tail = log_path.read_text(errors="replace").strip()[-2000:]
            raise HarnessError(
                f"server {shlex.join(argv)} did not start (exit code {proc.returncode}); its log {log_path}:\n{tail}"
            )
        time.sleep(0.1)


def stop_server(proc: subprocess.Popen) -> None:
    """Stops the server process we started, by its PID."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _patterns(cases: str) -> list[str]:
    if cases in CASE_SETS:
        return list(CASE_SETS[cases][0])
    return [pattern.strip() for pattern in cases.split(",") if pattern.strip()]


def expected_case_count(cases: str) -> int:
    """Returns how many cases the testsuite has for a --cases value.

    Named sets have fixed counts; for glob lists the installed testsuite is
    asked.
    """
    if cases in CASE_SETS:
        return CASE_SETS[cases][1]
    program = (
        "import json, sys\n"
        "from autobahntestsuite.case import (Cases, CaseCategories,\n"
        "    CaseSubCategories, CaseBasename)\n"
        "from autobahntestsuite.caseset import CaseSet\n"
        'case_set = CaseSet("websocket", CaseBasename, Cases, CaseCategories,\n'
        "                   CaseSubCategories)\n"
        'print(len(case_set.parseSpecCases({"cases": json.loads(sys.argv[1])})))\n'
    )
    proc = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", program, json.dumps(_patterns(cases))],
        env=_py27_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise HarnessError(f"cannot count the cases {cases!r}: {proc.stderr}")
    return int(proc.stdout.split()[-1])


def _plain(text: object) -> str:
    """Returns report text without HTML tags and runs of whitespace."""
    text = html.unescape(re.sub(r"<[^>]*>", " ", str(text or "")))
    return " ".join(text.split())


def _case_sort_key(case_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in case_id.split("."))


def read_report(outdir: Path, agent: str) -> list[CaseResult]:
    """Reads index.json and, for non-OK cases, their case reports.

    Raises:
        HarnessError: index.json is missing or has no results for the agent.
    """
    index_path = outdir / "index.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError) as error:
        raise HarnessError(f"no report {index_path}: {error}") from error
    results = []
    for case_id, entry in sorted(index.get(agent, {}).items(), key=lambda item: _case_sort_key(item[0])):
        case = CaseResult(
            case_id, entry.get("behavior", "?"), entry.get("behaviorClose", "?"), entry.get("remoteCloseCode")
        )
        if case.behavior != "OK" or case.behavior_close != "OK":
            try:
                details = json.loads((outdir / entry["reportfile"]).read_text())
            except (KeyError, OSError, ValueError):
                details = {}
            case.description = _plain(details.get("description"))
            case.expectation = _plain(details.get("expectation"))
            case.result = _plain(details.get("result"))
            case.result_close = _plain(details.get("resultClose"))
        results.append(case)
    return results


def run_wstest(url: str, cases: str, outdir: Path, agent: str, timeout: float) -> float:
    """Writes the spec and runs `wstest -m fuzzingclient` once.

    Returns:
        The seconds it took.

    Raises:
        HarnessError: wstest failed or timed out.
    """
    spec = {
        "outdir": str(outdir),
        "servers": [{"agent": agent, "url": url}],
        "cases": _patterns(cases),
        "exclude-cases": [],
        "exclude-agent-cases": {},
    }
    spec_path = outdir / "fuzzingclient.json"
    spec_path.write_text(json.dumps(spec, indent=2) + "\n")
    (outdir / "index.json").unlink(missing_ok=True)
    log_path = outdir / "wstest.log"
    started = time.monotonic()
    with open(log_path, "wb") as log_file:
        try:
            proc = subprocess.run(
                [str(_wstest()), "-m", "fuzzingclient", "-s", str(spec_path)],
                cwd=outdir,
                env=_py27_env(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as error:
            raise HarnessError(f"wstest timed out after {timeout:.0f} s; see {log_path}") from error
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").strip()[-2000:]
        raise HarnessError(f"wstest exited {proc.returncode}:\n{tail}")
    return time.monotonic() - started


def run(
    url: str | None = None,
    cases: str = "1-10",
    outdir: Path | str | None = None,
    agent: str = "mod_pywebsocket",
    server_cmd: list[str] | None = None,
    timeout: float | None = None,
    log=print,
) -> Summary:
    """Runs the fuzzing client and returns its results.

    Args:
        url: The echo server's ws:// URL; None starts our standalone server
            (or server_cmd) and uses its /echo.
        cases: '1-10', 'all', or a comma-separated list of case globs.
        outdir: Directory for the reports; made if missing.
        agent: The server's name in the reports.
        server_cmd: Command that starts the server when url is None.
        timeout: Seconds wstest may run; defaults by case set.
        log: Called with progress messages.

    Returns:
        The results.

    Raises:
        SetupError: The testsuite could not be installed.
        HarnessError: The server or the testsuite did not run properly.
    """
    outdir = Path(outdir or DEFAULT_OUTDIR).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    ensure_venv(log)
    expected = expected_case_count(cases)
    if timeout is None:
        timeout = DEFAULT_TIMEOUTS.get(cases, 3600)
    server = None
    try:
        if url is None:
            argv = server_cmd or _default_server_cmd()
            server, host, port = start_server(argv, outdir / "server.log")
            url = f"ws://{host}:{port}/echo"
            log(f"autobahn: started {shlex.join(argv)} (pid {server.pid})")
        log(f"autobahn: running {expected} cases ({cases}) against {url}")
        duration = run_wstest(url, cases, outdir, agent, timeout)
        if server is not None and server.poll() is not None:
            raise HarnessError(
                f"the server exited during the run (code {server.returncode}); see {outdir / 'server.log'}"
            )
    finally:
        if server is not None:
            stop_server(server)
    return Summary(read_report(outdir, agent), expected, outdir, duration)


def print_summary(summary: Summary) -> None:
    """Prints the non-OK cases, then the summary lines."""
    for case in summary.not_ok:
        print(case.line())
    if len(summary.cases) != summary.expected:
        print(f"autobahn: expected {summary.expected} cases, {len(summary.cases)} ran")
    closes = collections.Counter(case.behavior_close for case in summary.cases)
    print("autobahn: close behaviour: " + ", ".join(f"{count} {name}" for name, count in sorted(closes.items())))
    print(f"autobahn: took {summary.duration:.0f} s; report in {summary.outdir / 'index.html'}")
    print(summary.line())


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        description="Run Autobahn|Testsuite (wstest -m fuzzingclient) against a WebSocket echo server."
    )
    parser.add_argument("--url", help="echo server to test (default: start our standalone server and test its /echo)")
    parser.add_argument(
        "--cases",
        default="1-10",
        help="'1-10' (default), 'all' (1-13) or a comma list of case globs such as '6.4.*,7.1.1'",
    )
    parser.add_argument("--outdir", default=str(DEFAULT_OUTDIR), help="report directory (default: %(default)s)")
    parser.add_argument("--agent", default="mod_pywebsocket", help="server name in the reports")
    parser.add_argument(
        "--server-cmd",
        type=shlex.split,
        help="command that starts the server when --url is "
        'not given; it must log "listening on '
        'HOST:PORT" (default: our standalone server)',
    )
    parser.add_argument("--timeout", type=float, help="seconds wstest may run (default: 900 for 1-10, 3600 otherwise)")
    parser.add_argument("--setup-only", action="store_true", help=f"only install the testsuite into {VENV}")
    args = parser.parse_args(argv)
    try:
        if args.setup_only:
            print(f"autobahn: ready: {ensure_venv()}")
            return 0
        summary = run(args.url, args.cases, args.outdir, args.agent, args.server_cmd, args.timeout)
    except SetupError as error:
        print(f"autobahn: cannot install the testsuite: {error}", file=sys.stderr)
        return 2
    except HarnessError as error:
        print(f"autobahn: {error}", file=sys.stderr)
        return 2
    print_summary(summary)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
