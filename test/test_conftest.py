"""The test suite's own set-up (test/conftest.py): plain ``pytest test/<file>`` and ``pytest -m fast``."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from test.conftest import FAST_MODULES, REPO_ROOT

TIMEOUT = 120.0


def pytest_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_one_file_runs_with_plain_pytest_without_pytest_timeout():
    result = pytest_run("-q", "-p", "no:timeout", "test/test_msgutil.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Unknown config option" not in result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("6 passed in ")


def test_every_fast_module_exists():
    assert sorted(name for name in FAST_MODULES if not os.path.isfile(os.path.join(REPO_ROOT, "test", name))) == []


@pytest.mark.parametrize(
    ("marked", "unmarked"),
    [("test_stream.py", "test_standalone_limits.py"), ("test_dispatch.py", "test_apache.py")],
)
def test_fast_marker_selects_the_fast_modules_only(marked, unmarked):
    result = pytest_run("-q", "--collect-only", "-m", "fast", f"test/{marked}", f"test/{unmarked}")
    assert result.returncode == 0, result.stdout + result.stderr
    selected = {line.split("::")[0] for line in result.stdout.splitlines() if "::" in line}
    assert selected == {f"test/{marked}"}


def test_one_marker_expression_leaves_out_apache_browser_autobahn_and_slow_files():
    files = ["test_apache.py", "test_browser.py", "test_autobahn.py", "test_fuzz.py", "test_msgutil.py"]
    expression = "not apache and not browser and not autobahn and not slow"
    result = pytest_run("-q", "--collect-only", "-m", expression, *(f"test/{name}" for name in files))
    assert result.returncode == 0, result.stdout + result.stderr
    selected = {line.split("::")[0] for line in result.stdout.splitlines() if "::" in line}
    assert selected == {"test/test_msgutil.py"}


def test_no_test_module_imports_another():
    """Test modules share pieces only through helper modules (wire.py, servers.py, mock.py...) and conftest.py."""
    here = os.path.join(REPO_ROOT, "test")
    statement = r"^\s*(from test\.test_\w+ import|import test\.test_|from \.test_)"
    pattern = re.compile(statement + r"|[\"']test\.test_\w+[\"']", re.M)
    offenders = []
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            with open(os.path.join(here, name), encoding="utf-8") as source:
                offenders += [f"{name}: {match.group(0).strip()}" for match in pattern.finditer(source.read())]
    assert offenders == []
