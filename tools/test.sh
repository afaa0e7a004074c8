#!/bin/sh
# Install everything the tests need, then run all of them.
#   sh tools/test.sh [pytest arguments]
# Debian packages (Apache, mod_python, Chromium) come from requirements/debian.txt,
# Python packages from requirements/test.txt (and test-no-deps.txt) into .venv;
# the Autobahn testsuite gets its own Python 2.7 virtualenv (.venv-autobahn) on
# first use.
set -eu
cd "$(dirname "$0")/.."
sh tools/install-system-packages.sh
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements/test.txt
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -r requirements/test-no-deps.txt
exec .venv/bin/python -m pytest "$@"
