# archsim: `make run` (set-up + headline study) and `make test` (set-up + tests) on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARCHSIM := $(VENV)/bin/archsim
STAMP := $(VENV)/.installed
# command -> Debian package; installed with apt-get when missing and we are root.
SYSTEM_TOOLS := iverilog:iverilog yosys:yosys chromium:chromium chromedriver:chromium-driver
HEADLINE_MODEL ?= llama3-8b
HEADLINE_SEQ ?= 4096

.PHONY: setup system-packages run test test-all rtl explore bench lint clean

setup: $(STAMP) system-packages

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-packages:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "warning: missing Debian packages:$$missing (run as root or install them; RTL and browser tests will skip)"; \
	  fi; \
	fi

# Headline study: LLaMA-3-8B prefill (4096 tokens) and decode (4K context) on every hardware preset,
# simulated (--engine sim) with the ideal roofline beside each figure.
run: setup
	@mkdir -p out
	$(ARCHSIM) compare --model $(HEADLINE_MODEL) --hw all --phase both --seq $(HEADLINE_SEQ) --engine sim \
		--report out/report.html
	# Low-bit decode: LUT-GEMV on CPUs (T-MAC) and in SRAM-PIM caches (SAIL) next to a GPU and the wafer.
	$(ARCHSIM) compare --model llama2-7b --hw a100-80g,m2-ultra,neoverse-n1,sail,wse2 --phase decode --batch 8 \
		--seq 1024 --w-bits 2 --report out/lowbit.html
	# FPGA decode: FlightLLM sparse DSP chains (U280 board, VHK158 artifact) and LUT-LLM table lookups (V80).
	$(ARCHSIM) compare --model llama2-7b --hw u280,vhk158,v80,v100s,a100-80g --phase decode --seq 512 \
		--report out/fpga.html
	$(ARCHSIM) validate

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q -m ""

# RTL regression (cocotb + Icarus) with its summary table; `archsim rtl verify --all` adds the slow sets.
rtl: setup
	$(ARCHSIM) rtl verify

explore: setup
	$(ARCHSIM) explore

bench: setup
	$(PY) bench/bench_evaluate.py
	$(PY) bench/bench_mesh.py
	$(PY) bench/bench_patterns.py
	$(PY) bench/bench_fpga.py
	@echo "host predicted vs measured: $(ARCHSIM) calibrate host && $(PY) bench/bench_host.py"

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf out .pytest_cache .ruff_cache sim_build
