# The two commands of the README: `make run` (demo station, served) and `make test`.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: install run test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	$(VENV)/bin/fieldsync demo

test: install
	$(VENV)/bin/pytest -n 2 -q

bench: install
	$(VENV)/bin/python bench/pull.py

clean:
	rm -rf $(VENV) data .pytest_cache
