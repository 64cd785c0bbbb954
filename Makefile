# isakmpd for Linux: build, demo, tests.
#
# Everything Python runs from a virtual environment in .venv (Debian's
# system Python refuses pip installs), made with the python3 on PATH.
PYTHON3 ?= python3
VENV ?= .venv
PY := $(abspath $(VENV))/bin/python
PYTEST_ARGS ?=

.PHONY: all build core deps demo test test-rust test-python test-quick bench clean

all: build

# apt packages (strongSwan, tshark, qemu...) and the VM kernel for ESP tests
deps:
	tools/install-deps.sh

$(PY):
	$(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip

build: $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'

# incremental rebuild of the extension in place (after a first `make build`)
core:
	cargo build -q --release -p isakmpd-core
	cp target/release/lib_core.so python/isakmpd/_core.abi3.so.tmp
	mv python/isakmpd/_core.abi3.so.tmp python/isakmpd/_core.abi3.so

demo: deps build
	PYTHON=$(PY) tools/demo.sh

test-rust:
	cargo test -q --workspace --exclude isakmpd-core

test-python: build
	$(PY) -m pytest -q $(PYTEST_ARGS) tests

test: test-rust test-python

# everything but the qemu VM tests
test-quick: build
	$(PY) -m pytest -q -m "not vm" $(PYTEST_ARGS) tests

# benchmarks against OpenSSL, CPython and scapy, with ratio tables
# (tests/bench/conftest.py); isakmpd-bench --help for the load generator
bench: $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,bench]'
	$(PY) -m pytest -q tests/bench --benchmark-only $(PYTEST_ARGS)

# short runs of every cargo-fuzz target (fuzz/README.md), FUZZ_TIME seconds each
FUZZ_TIME ?= 30
.PHONY: fuzz
fuzz:
	fuzz/run.sh -t $(FUZZ_TIME)

clean:
	cargo clean
	rm -rf $(VENV) python/isakmpd/_core*.so
