# Quick start: `make demo` (set up + run the demo), `make test` (set up + lint + type-check + tests).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv demo test bench lint assets clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PY) -c "import ensurepip, venv" 2>/dev/null || { \
	  echo "Python's venv module is missing (Debian ships it as python3-venv); installing it with apt-get."; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y python3-venv; \
	  else echo "Run: sudo apt-get install -y python3-venv, then make again."; exit 1; fi; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	@# pypiqe declares the GUI opencv build; the pinned headless build provides the same cv2 module.
	$(BIN)/python -m pip install --quiet --no-deps pypiqe==1.2
	@# mediapipe 0.10.21 ships its face-mesh model in the wheel but declares numpy<2 and GUI opencv; its runtime
	@# deps (absl-py, attrs, flatbuffers, protobuf<5, matplotlib, opencv headless) are pinned in requirements.txt.
	$(BIN)/python -m pip install --quiet --no-deps mediapipe==0.10.21
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@if $(BIN)/python -m pip list 2>/dev/null | grep -i '^nvidia'; then \
	  echo "CUDA packages were installed; crossteg needs only the CPU build of torch==2.13.0"; exit 1; fi
	@touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/crossteg demo -o demo-out

lint: venv
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

bench: venv
	$(BIN)/python -m benchmarks.run
	$(BIN)/crossteg eval --all -o report

assets: venv
	$(BIN)/python scripts/make_assets.py

clean:
	rm -rf $(VENV) demo-out report .pytest_cache .ruff_cache .mypy_cache
