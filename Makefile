# The two commands of the README. Both create .venv on first use.
PY ?= python3
VENV := .venv

.PHONY: run test lint

$(VENV)/bin/python:
	$(PY) -m venv $(VENV)

run: $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e .
	$(VENV)/bin/platform-dev

test: $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e '.[test]'
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -q

lint: $(VENV)/bin/python
	$(VENV)/bin/ruff check .
