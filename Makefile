# Two entry points for a fresh clone (Python 3.11, no GPU needed):
#   make run   -> set up .venv if missing, then run the default study (snakemake --cores all)
#   make test  -> set up .venv if missing, then run the test suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test setup clean

$(BIN)/.posthoc-installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test,slurm]'
	touch $@

setup: $(BIN)/.posthoc-installed

run: setup
	$(BIN)/snakemake --cores all

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf results .snakemake
