# `make bench`: run the benchmark (bench/README.md) in its own venv.
# Pass options through BENCH_ARGS, e.g. make bench BENCH_ARGS=--quick
PYTHON ?= python3
VENV := .venv-bench
BENCH_ARGS ?=

.PHONY: bench test test-fast lint format speedups
# The benchmark measures the tree as a user gets it: with the C accelerator when it builds here.
bench: $(VENV)/.installed
	$(VENV)/bin/python setup.py -q build_ext --inplace
	BENCH_COMMAND="make bench $(BENCH_ARGS)" $(VENV)/bin/python -m bench $(BENCH_ARGS)

$(VENV)/.installed: requirements/bench.txt requirements/pywebsocket3.txt requirements/test.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	echo '*' > $(VENV)/.gitignore
	$(VENV)/bin/python -m pip install -q -r requirements/bench.txt
	touch $@

# `make test`: install what the tests need and run all of them; `make test-fast`: the ~15 s core (-m fast).
test:
	sh tools/test.sh

test-fast:
	sh tools/test.sh -m fast

# `make lint`: the first steps of the full test run (ruff format --check, ruff check; rules in pyproject.toml)
# and mypy --strict; `make format` rewrites the files ruff format would change. Both need .venv (make test creates it).
lint:
	.venv/bin/python -m ruff format --check .
	.venv/bin/python -m ruff check .
	.venv/bin/python -m mypy --strict mod_pywebsocket

format:
	.venv/bin/python -m ruff format .

# `make speedups`: build the optional C accelerator (frame masking) in place, as
# mod_pywebsocket/_speedups.*.so next to the sources, for $(PYTHON) (the .venv made from
# it, the one make test uses, has the same version); the package uses it from then on
# (docs/standalone.md, "The masking accelerator"). setup.py needs setuptools>=77, which
# older venvs lack: the pinned one goes into .venv first. Without a C compiler or the
# Python headers, setup.py says why and the package keeps masking in pure Python.
speedups:
	test -x .venv/bin/python || $(PYTHON) -m venv .venv
	.venv/bin/python -m pip install -q --disable-pip-version-check -c requirements/test.txt setuptools
	.venv/bin/python setup.py build_ext --inplace
