# scanpay: every target sets itself up on a fresh Debian machine (run as root for the apt step).
#   make demo   - start server, WeChat sandbox and a simulated enhanced box; pay 12.50 end to end
#   make test   - run every test
#   make bench  - run the benchmarks under tests/bench/

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: demo test bench setup sysdeps clean

setup: sysdeps $(STAMP) $(NODE_STAMP)

# libzbar0 is the C library pyzbar loads to decode barcodes.
sysdeps:
	@if ! ldconfig -p 2>/dev/null | grep -q 'libzbar\.so\.0'; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing libzbar0 (barcode decoding library)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libzbar0 >/dev/null; \
	  else \
	    echo "error: the Debian package libzbar0 is missing; run 'sudo apt-get install libzbar0' or run make as root" >&2; \
	    exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(PY) -m hw_sim.demo

test: setup
	$(PY) -m pytest -q --ignore=tests/bench

bench: setup
	$(PY) -m pytest -q tests/bench -p no:cacheprovider

clean:
	rm -rf $(VENV) node_modules var .pytest_cache
