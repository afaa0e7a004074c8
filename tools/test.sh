#!/bin/sh
# Install everything the tests need, then check formatting and lint and run all the tests under coverage.
#   sh tools/test.sh [pytest arguments]
# Debian packages (Apache, mod_python, Chromium) come from requirements/debian.txt,
# Python packages from requirements/test.txt (and test-no-deps.txt) into .venv;
# the Autobahn testsuite gets its own Python 2.7 virtualenv (.venv-autobahn) on
# first use.
#
# Coverage: pytest runs under `coverage run` ([tool.coverage.*] in pyproject.toml:
# branch coverage of mod_pywebsocket, Python subprocesses included), then the
# report is printed. Without arguments (the full suite) the run fails when the
# total is below fail_under. With arguments (`-m fast`, a file, -k ...) it only
# reports: a selection covers less by design. The data stays in
# test-artifacts/coverage/.coverage (`.venv/bin/python -m coverage html
# --data-file=test-artifacts/coverage/.coverage` for a browsable report).
set -eu
cd "$(dirname "$0")/.."
sh tools/install-system-packages.sh
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements/test.txt
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -r requirements/test-no-deps.txt
# The optional C accelerator, built in place when a compiler is present (else setup.py
# warns and goes on): test/test_speedups.py compares it with the pure-Python masking,
# which test/test_util.py runs either way.
.venv/bin/python setup.py -q build_ext --inplace || echo "tools/test.sh: the C accelerator did not build; its tests skip" >&2

# The full run (no arguments) is the CI gate: formatting and lint first, in
# seconds (ruff, rules in pyproject.toml), then pytest under coverage; mypy
# --strict runs inside pytest (test/test_typing.py). With arguments these two
# are left out: `make lint` runs them alone.
if [ "$#" -eq 0 ]; then
    .venv/bin/python -m ruff format --check --quiet . || { echo "tools/test.sh: ruff format --check failed (make format rewrites the files)" >&2; exit 1; }
    .venv/bin/python -m ruff check --quiet . || { echo "tools/test.sh: ruff check failed" >&2; exit 1; }
fi

# Some tests run the server as user nobody (setpriv), which writes its data file here too.
data_dir=test-artifacts/coverage
mkdir -p "$data_dir"
chmod 1777 "$data_dir"
rm -f "$data_dir"/.coverage "$data_dir"/.coverage.*
COVERAGE_FILE="$PWD/$data_dir/.coverage"
export COVERAGE_FILE

status=0
.venv/bin/python -m coverage run -m pytest "$@" || status=$?
.venv/bin/python -m coverage combine --quiet || true
if [ "$#" -eq 0 ]; then
    # coverage report exits with 2 below fail_under; a failed test run keeps its own status.
    if ! .venv/bin/python -m coverage report; then
        [ "$status" -ne 0 ] || status=2
    fi
else
    .venv/bin/python -m coverage report --fail-under=0
fi
exit "$status"
