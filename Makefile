# CoreBatchLoader: two commands on a fresh machine with Python 3.11 — `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_INPUT ?=
DEMO_OUTPUT ?= demo-output

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,compress]"
	touch $(STAMP)

# Converts DEMO_INPUT (default: a generated sample well of 6 cores of 120 mm that look like rock,
# back to back from 2450 m as its depths.csv says, assembled into a Slicer scene; what was drawn is
# in demo-well/truth.json, docs/sample.md) into DEMO_OUTPUT.
demo: setup
ifeq ($(DEMO_INPUT),)
	rm -rf demo-well
	$(BIN)/corebatchloader sample demo-well --cores 6 --start-depth 2450
	$(BIN)/corebatchloader convert demo-well $(DEMO_OUTPUT) --overwrite \
		--depths demo-well/depths.csv --scene --planes --well-name "Demo well"
else
	$(BIN)/corebatchloader convert "$(DEMO_INPUT)" $(DEMO_OUTPUT)
endif
	@echo "Results in $(abspath $(DEMO_OUTPUT)): one .nrrd per core, manifest.json, report.html" \
		"(open it in a browser), and for the sample well scene.mrml (open it in 3D Slicer)"

test: setup
	$(BIN)/python -m pytest -q

# Speed and memory against the floors (cat, cat + fsync), dcm2niix, SimpleITK and Slicer's reader, and
# the deflate candidates for --compress (writes bench/results.md); peak RSS against the core's
# length (bench/memory.md).
bench: setup
	$(BIN)/python -m pip install --quiet dcm2niix SimpleITK deflate zlib-ng
	@test -x /usr/bin/time || (apt-get install -y -qq time || echo "install GNU time for memory figures")
	$(BIN)/python bench/run_bench.py
	$(BIN)/python bench/memory.py

clean:
	rm -rf $(VENV) demo-well $(DEMO_OUTPUT) .pytest_cache
