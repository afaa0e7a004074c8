"""Autobahn|Testsuite conformance of our standalone server and of Apache.

Runs tools/autobahn.py, which starts `python3 -m mod_pywebsocket.standalone`
(or is pointed at a private Apache httpd with mod_python, see test/httpd.py)
and points `wstest -m fuzzingclient` at its /echo handler. Sections 1-10 run
by default (under a minute each); sections 1-13 run only with AUTOBAHN_FULL=1.
Reports go to reports/autobahn*/ (index.html lists every case).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools import autobahn

_REPORTS = autobahn.REPO / "reports"


def _ensure_testsuite() -> None:
    """Installs the testsuite, or skips loudly when it cannot be installed."""
    try:
        autobahn.ensure_venv(log=lambda message: None)
    except autobahn.SetupError as error:
        pytest.skip(f"AUTOBAHN NOT RUN: the testsuite could not be installed into {autobahn.VENV}: {error}")


def _run_and_check(
    cases: str, outdir: Path, timeout: float, url: str | None = None, agent: str = "mod_pywebsocket"
) -> None:
    """Runs the case set against our server and asserts it conforms."""
    _ensure_testsuite()
    summary = autobahn.run(url=url, cases=cases, outdir=outdir, timeout=timeout, agent=agent, log=lambda message: None)
    details = "\n".join(case.line() for case in summary.failures)
    message = f"{summary.line()} (reports in {outdir})\n{details}"
    print(message)
    counts = summary.counts()
    assert len(summary.cases) == autobahn.CASE_SETS[cases][1], message
    assert counts["FAILED"] == 0, message
    assert counts["NON-STRICT"] == 0, message
    assert counts["UNIMPLEMENTED"] == 0, message
    assert not summary.failures, message
    assert summary.ok, message


@pytest.mark.timeout(900)
def test_autobahn_sections_1_to_10():
    _run_and_check("1-10", _REPORTS / "autobahn", timeout=800)


@pytest.mark.timeout(3600)
@pytest.mark.skipif(os.environ.get("AUTOBAHN_FULL") != "1", reason="the full run (sections 1-13) needs AUTOBAHN_FULL=1")
def test_autobahn_all_sections():
    _run_and_check("all", _REPORTS / "autobahn-full", timeout=3400)


@pytest.mark.apache
@pytest.mark.timeout(900)
def test_autobahn_sections_1_to_10_through_apache():
    from test import httpd

    httpd.require_apache()
    _ensure_testsuite()
    example = autobahn.REPO / "example"
    with httpd.Httpd(example, document_root=example) as server:
        _run_and_check(
            "1-10",
            _REPORTS / "autobahn-apache",
            timeout=800,
            url=server.ws_url("/echo"),
            agent="mod_pywebsocket-apache",
        )
