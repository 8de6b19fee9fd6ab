# The verbs a user types. `make study` and `make test` set up .venv first when needed.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed


.PHONY: setup study why test bench clean-results

setup: $(STAMP)

$(STAMP): pyproject.toml
	@py=$$(sh scripts/find_python.sh) || exit 1; \
	echo "creating $(VENV) with $$py ($$($$py --version))"; \
	"$$py" -m venv $(VENV) && \
	{ $(BIN)/python -m pip install --quiet --upgrade pip && \
	  $(BIN)/python -m pip install --quiet -e . ; } 2>&1 | grep -v "^WARNING: Location" ; \
	test "$${PIPESTATUS[0]}" = 0 && \
	touch $(STAMP)

study: setup
	$(BIN)/partclust study

why: setup
	$(BIN)/partclust why

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/bench_fit.py
	$(BIN)/python bench/bench_exact.py
	$(BIN)/python bench/bench_study.py
	$(BIN)/python bench/bench_scale.py

clean-results:
	rm -rf results
