# scanpay: every target sets itself up on a fresh Debian machine (run as root for the apt step).
#   make demo   - start server, WeChat sandbox and a simulated enhanced box; pay 12.50 end to end
#   make test   - run every test
#   make bench  - run the benchmarks under tests/bench/

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
# make test runs one pytest-xdist worker per core; TEST_WORKERS=1 for one at a time
TEST_WORKERS ?= auto
STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
UMQTT_URL := https://files.pythonhosted.org/packages/bd/cf/697e3418b2f44222b3e848078b1e33ee76aedca9b6c2430ca1b1aec1ce1d/micropython-umqtt.simple-1.3.4.tar.gz
UMQTT_SHA256 := b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f
UMQTT := $(VENV)/.umqtt-1.3.4

.PHONY: demo test bench setup sysdeps clean

setup: sysdeps $(STAMP) $(NODE_STAMP) $(UMQTT)

# Debian packages the code and the tests need, installed only when missing:
#   libzbar0            the C library pyzbar loads to decode barcodes (simulated scan engine)
#   fonts-*             cashier-screen fonts for the host agent's OCR tests (Latin and CJK)
#   xvfb, xdotool       a virtual X display for the host agent's screen-grab and window tests
#   chromium            the headless browser the web-page tests drive with Playwright
#   espeak-ng           speaks the virtual voice module's text into a WAV (hw_sim/voice.py speak_to_wav)
#   mosquitto, mosquitto-clients   the MQTT broker (dynamic security plugin, mosquitto_ctrl) the announcement tests start
DEB_PACKAGES := libzbar0 fonts-dejavu-core fonts-liberation2 fonts-wqy-microhei fonts-dseg xvfb xdotool chromium espeak-ng \
                mosquitto mosquitto-clients

sysdeps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if ! $(PYTHON) -c 'import tkinter' 2>/dev/null; then missing="$$missing python3-tk"; fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "error: missing Debian packages:$$missing; run 'sudo apt-get install$$missing' or run make as root" >&2; \
	    exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# micropython-lib's MQTT client, which the firmware freezes into its image (tools build: require("umqtt.simple")).
# The virtual boards run it on CPython, the MicroPython tests load it from here. Its PyPI release is an
# upip archive pip cannot install: the file is taken from that archive, its sha256 checked.

$(UMQTT): $(STAMP)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	curl -fsSL --retry 3 -o "$$tmp/umqtt.tar.gz" "$(UMQTT_URL)"; \
	echo "$(UMQTT_SHA256)  $$tmp/umqtt.tar.gz" | sha256sum -c --quiet -; \
	tar -xzf "$$tmp/umqtt.tar.gz" -C "$$tmp"; \
	site=$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	mkdir -p "$$site/umqtt"; cp "$$tmp/micropython-umqtt.simple-1.3.4/umqtt/simple.py" "$$site/umqtt/simple.py"
	touch $@

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(PY) -m hw_sim.demo

test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --ignore=tests/bench

bench: setup
	$(PY) -m pytest -q tests/bench -p no:cacheprovider

clean:
	rm -rf $(VENV) node_modules var .pytest_cache
