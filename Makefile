# `make bench`: run the benchmark (bench/README.md) in its own venv.
# Pass options through BENCH_ARGS, e.g. make bench BENCH_ARGS=--quick
PYTHON ?= python3
VENV := .venv-bench
BENCH_ARGS ?=

.PHONY: bench test test-fast
bench: $(VENV)/.installed
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
