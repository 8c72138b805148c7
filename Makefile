# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv if needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch first, pinned to the release whose CPU wheel lies on this workplace's disk, so a fresh
# install never pulls a multi-GB CUDA build. Elsewhere: `make demo TORCH_SPEC=torch` (or a
# CUDA/CPU index of your choice). torch>=2.1 is all ganforge itself needs (pyproject.toml).
TORCH_SPEC ?= torch==2.13.0

.PHONY: install dev demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e .
	touch $@

# torch-fidelity only as the reference that tests/test_inception.py checks ganforge's FID
# Inception against; without its deps, since they pull torchvision (and a CUDA torch with it).
$(VENV)/.dev-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps "torch-fidelity>=0.3"
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.dev-installed

demo: install
	$(VENV)/bin/ganforge demo

test: dev
	$(PY) -m pytest -q

lint: dev
	$(VENV)/bin/ruff check ganforge tests benchmarks

bench: install
	$(PY) benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
