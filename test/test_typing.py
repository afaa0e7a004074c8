"""The package passes ``mypy --strict`` (STYLE §2.6)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from test.conftest import REPO_ROOT


def test_mod_pywebsocket_passes_mypy_strict(tmp_path):
    pytest.importorskip("mypy", reason="mypy is not installed (requirements/test.txt pins it)")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path), "mod_pywebsocket"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found")
