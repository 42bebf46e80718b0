# tavaal-nb: two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs the package, runs TA-VAAL vs random on the embedded default
#   make test   creates .venv, installs the package, runs every test (unit tests, then the notebooks)
#   make site   builds the course site (notebooks executed at PRESET, default ci) into build/site/PRESET/html
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= test,lab,dask,browser,image,teach,site
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: venv demo test unit-test notebook-test notebook-sync-check lab fashion-data bench clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

venv: $(STAMP)

# Debian's dataset-fashion-mnist puts the real files in $(FASHION_DIR); installed when we are root.
fashion-data:
	@if ls $(FASHION_DIR)/train-images-idx3-ubyte* >/dev/null 2>&1; then \
		echo "Fashion-MNIST: found in $(FASHION_DIR)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Fashion-MNIST: installing Debian's dataset-fashion-mnist"; \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
			|| echo "Fashion-MNIST: install failed; the tests that need it will be skipped"; \
	else \
		echo "Fashion-MNIST: not found and not root; the tests that need it will be skipped"; \
	fi

# Real Fashion-MNIST when Debian's dataset-fashion-mnist is (or, as root, can be) installed; the demo says which it used.
demo: venv fashion-data
	$(PY) -m tavaal_nb demo

unit-test: venv fashion-data
	$(PY) -m pytest tests

test: unit-test notebook-test notebook-sync-check

# Every notebook top to bottom under nbval at the ci preset (a cell fails on an error; outputs are not compared).
notebook-test: venv fashion-data
	TAVAAL_PRESET=ci $(PY) -m pytest --nbval-lax --nbval-current-env notebooks/*.ipynb

# Each notebooks/NN_*.py and its .ipynb are in sync (re-pairing changes nothing under notebooks/), and badges,
# Colab cells, README table, twins and the absence of outputs agree with tavaal_nb/course.py.
notebook-sync-check: venv
	$(PY) -m jupytext --sync notebooks/[0-9][0-9]_*.py
	git diff --exit-code -- notebooks/
	$(PY) -m tavaal_nb.course check

lab: venv
	$(VENV)/bin/jupyter lab notebooks

bench: venv
	$(PY) -m tavaal_nb bench --preset paper --dataset synthetic

clean-venv:
	rm -rf $(VENV)

# The real-browser test: JupyterLab + /usr/bin/chromium (playwright) run notebooks/06_active_loop.ipynb
# and move a widget; screenshots in artifacts/browser/. Not part of `make test`.
.PHONY: browser-test chromium
# Debian's Chromium drives the browser test (playwright uses /usr/bin/chromium: no browser download).
chromium:
	@if [ -x /usr/bin/chromium ]; then \
		echo "Chromium: found at /usr/bin/chromium"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Chromium: installing Debian's chromium"; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "Chromium: /usr/bin/chromium is missing; install Debian's chromium package" >&2; exit 1; \
	fi

browser-test: venv chromium fashion-data
	$(PY) -m pytest -m browser tests/browser -p no:cacheprovider

# The student version of the course: nbgrader's ClearSolutions (through nbconvert, teaching/student_version.py)
# turns every `### BEGIN SOLUTION` ... `### END SOLUTION` region into `raise NotImplementedError()` and clears
# outputs; the notebooks land in $(STUDENT_DIR)/ (git-ignored). notebooks/ keeps the instructor's version.
STUDENT_DIR ?= student
.PHONY: student
student: venv
	rm -rf $(STUDENT_DIR)
	$(PY) -m nbconvert --config teaching/student_version.py --to notebook --output-dir $(STUDENT_DIR) \
		notebooks/[0-9][0-9]_*.ipynb

# The course site (docs/site/build.py): every notebooks/NN_*.ipynb executed at $(PRESET) with the widgets'
# static figures (a cell error fails the build, as under nbval), rendered by Sphinx + myst-nb into
# build/site/$(PRESET)/html; executed notebooks are cached in build/site/$(PRESET)/executed.
# `make site-test` checks the site in headless Chromium (screenshots in artifacts/site/).
.PHONY: site site-test mathjax
PRESET ?= ci
SITE_DIR := build/site/$(PRESET)

site: venv fashion-data mathjax
	$(PY) docs/site/build.py --preset $(PRESET) --out $(SITE_DIR)

# MathJax 2 with its TeX fonts for the site's offline math: Debian's libjs-mathjax (installed when root).
mathjax:
	@if [ -f /usr/share/javascript/mathjax/MathJax.js ]; then \
		echo "MathJax: found in /usr/share/javascript/mathjax"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "MathJax: installing Debian's libjs-mathjax"; \
		apt-get update -qq && apt-get install -y -qq libjs-mathjax >/dev/null; \
	else \
		echo "MathJax: /usr/share/javascript/mathjax is missing; install Debian's libjs-mathjax" >&2; exit 1; \
	fi

site-test: site chromium
	TAVAAL_SITE_DIR=$(SITE_DIR)/html $(PY) -m pytest -m browser tests/site -p no:cacheprovider
