# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install lint test run bench soak image-test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy --strict src tests bench

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

run: install
	$(BIN)/python scripts/run.py

bench: install
	$(BIN)/python -m bench.run

soak: install
	$(BIN)/python -m bench.soak

# Builds the image and runs it with the sandbox (needs Docker or Podman; not part of `make test`).
image-test: install
	$(BIN)/python scripts/image_test.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
