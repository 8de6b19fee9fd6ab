# The verbs a user types. `make study` and `make test` set up .venv first when needed.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed


.PHONY: setup study why test lab bench clean-results

setup: $(STAMP)

$(STAMP): pyproject.toml
	@py=$$(sh scripts/find_python.sh) || exit 1; \
	echo "creating $(VENV) with $$py ($$($$py --version)); installing partclust and its dependencies (about 2 minutes)"; \
	"$$py" -m venv $(VENV) && \
	{ $(BIN)/python -m pip install --quiet --upgrade pip && \
	  $(BIN)/python -m pip install --quiet -e . ; } 2>&1 | grep -v "^WARNING: Location" ; \
	test "$${PIPESTATUS[0]}" = 0 && \
	touch $(STAMP)

study: setup
	$(BIN)/partclust study

why: setup
	$(BIN)/partclust why

# Graphviz and Chromium are installed first when missing and possible (root, apt-get); otherwise the
# browser test is skipped and says why. The tests run on one pytest-xdist worker per core; the longest
# are whole studies and notebooks, which spend much of their time starting kernels and processes.
test: setup
	@sh scripts/system_packages.sh
	$(BIN)/python -m pytest -n auto --dist worksteal

lab: setup
	$(BIN)/jupyter lab notebooks/

bench: setup
	$(BIN)/python bench/bench_fit.py
	$(BIN)/python bench/bench_exact.py
	$(BIN)/python bench/bench_study.py
	$(BIN)/python bench/bench_scale.py

clean-results:
	rm -rf results
