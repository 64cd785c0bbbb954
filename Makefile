# isakmpd for Linux: build, demo, tests.
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: all build core deps demo test test-rust test-python bench clean

all: build

# apt packages (strongSwan, tshark, qemu...) and the VM kernel for ESP tests
deps:
	tools/install-deps.sh

build:
	$(PYTHON) -m pip install -q --disable-pip-version-check -e '.[test]'

# incremental rebuild of the extension in place (after a first `make build`)
core:
	cargo build -q --release -p isakmpd-core
	cp target/release/lib_core.so python/isakmpd/_core.abi3.so

demo: deps build
	tools/demo.sh

test-rust:
	cargo test -q --workspace --exclude isakmpd-core

test-python: build
	$(PYTHON) -m pytest -q $(PYTEST_ARGS) tests

test: test-rust test-python

bench: build
	$(PYTHON) -m pytest -q tests/bench --benchmark-only

clean:
	cargo clean
	rm -f python/isakmpd/_core*.so
