# Thin wrappers. Every target bootstraps .venv from the pinned environment first.
#   make test   unit tests + every book notebook through nbval (quick scale)
#   make book   build the book (executes every notebook at quick scale), strict: warnings are errors
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gdlab-installed
JB_STRICT := -W -n --keep-going
# Notebook kernels draw figures inline whatever backend the caller's environment selects.
JB := MPLBACKEND=module://matplotlib_inline.backend_inline $(BIN)/jupyter-book

.PHONY: venv test lab book book-all browser paper lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

venv: $(STAMP)

# Two pytest workers on two cores: one torch thread each (oversubscribed threads spin and stall).
test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile

# JupyterLab on the .venv kernel: book/**/*.md open as notebooks (jupytext; settings in .jupyter/)
# and a failing claim shows in its chapter's claims table instead of stopping the chapter.
# LAB_OPTS passes options to `jupyter lab`, e.g. make lab LAB_OPTS="--no-browser --port=8890".
LAB_OPTS ?=
lab: $(STAMP)
	GDLAB_STRICT=0 JUPYTER_CONFIG_PATH="$(CURDIR)/.jupyter" JUPYTER_PREFER_ENV_PATH=1 \
	MPLBACKEND=module://matplotlib_inline.backend_inline $(BIN)/jupyter lab $(LAB_OPTS)

book: $(STAMP)
	$(JB) build . $(JB_STRICT)
	@echo "Book written to $(CURDIR)/_build/html/index.html"

book-all: $(STAMP)
	$(JB) build . $(JB_STRICT) --all
	@echo "Book written to $(CURDIR)/_build/html/index.html"

# The built book in a real browser (after `make book`): every page rendered offline in headless
# Chromium at 1280 and 390 px by scripts/check_pages.py (screenshots in _build/screenshots), after
# the checker's own tests. Installs Debian's chromium and chromium-driver when missing (as root).
browser: $(STAMP)
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y --no-install-recommends chromium chromium-driver || { apt-get update && \
	  apt-get install -y --no-install-recommends chromium chromium-driver; }; }
	$(BIN)/python -m pytest tests/test_check_pages.py -q
	$(BIN)/python scripts/check_pages.py _build/html

# make paper [WORKERS=N | SCHEDULER=ADDRESS]: every study at paper scale, a progress bar per
# study, resumable (a killed run restarts from its cached units); the units run as Dask tasks on
# a local cluster of N processes or on a running scheduler when asked. Then the book, whose pages
# load those results from the shared cache: nothing long runs inside a notebook cell.
PAPER_CLUSTER := $(if $(WORKERS),--workers $(WORKERS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))
paper: $(STAMP)
	$(BIN)/python -m gdlab run all --scale paper --out results/paper $(PAPER_CLUSTER)
	GDLAB_SCALE=paper $(JB) build . $(JB_STRICT) --path-output _build/paper
	@echo "Paper-scale book written to $(CURDIR)/_build/paper/_build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/gd_throughput.py

clean:
	rm -rf _build .pytest_cache .hypothesis .ruff_cache .gdlab-cache
