# tavaal-nb: two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs the package alone, runs TA-VAAL vs random (cpu preset), writes runs/demo/
#   make test   creates .venv, installs the package and what the tests need, runs every test (unit tests, then notebooks)
#   make test-fast  the unit tests not marked slow (no whole experiments, other processes, notebooks or make): the
#                   inner loop, 1,154 of 1,326 tests in 2 processes: 48 s on the idle 2-core machine (CONTRIBUTING.md)
#   make lint / make typecheck   ruff, and mypy against its error ceiling (pyproject.toml); .ci/run runs both
#   make site   builds the course site (notebooks executed at PRESET, default ci) into build/site/PRESET/html
# Each target installs only the extras it needs into the one .venv (a stamp per set: .venv/.installed-<extras>).
# TORCH_INDEX=https://download.pytorch.org/whl/cpu installs PyTorch's CPU-only build when .venv is created
# (about 0.5 GB less memory per notebook and a fraction of the disk; needs that index to be reachable):
#   make clean-venv && make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_INDEX ?=
DEMO_EXTRAS ?=
TEST_EXTRAS ?= test,dask,teach,site,image
LAB_EXTRAS ?= lab
SITE_EXTRAS ?= test,site,browser
BROWSER_EXTRAS ?= test,browser,lab
comma := ,
# the stamp of an installed set of extras ("base": the package and its dependencies alone)
stamp = $(VENV)/.installed-$(if $(strip $(1)),$(subst $(comma),-,$(strip $(1))),base)
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: venv demo test unit-test test-fast lint typecheck notebook-test notebook-sync-check lab fashion-data bench clean-venv

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(PY) -m pip install --quiet --index-url $(TORCH_INDEX) torch torchvision)
	touch $@

$(VENV)/.installed-%: pyproject.toml $(VENV)/.created
	$(PY) -m pip install --quiet -e ".$(if $(filter base,$*),,[$(subst -,$(comma),$*)])"
	touch $@

venv: $(call stamp,$(DEMO_EXTRAS))

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
demo: $(call stamp,$(DEMO_EXTRAS)) fashion-data
	$(PY) -m tavaal_nb demo

unit-test: $(call stamp,$(TEST_EXTRAS)) fashion-data
	$(PY) -m pytest tests

test: unit-test notebook-test notebook-sync-check

# The inner loop: the unit tests without those marked slow (whole experiments, other processes, notebooks, make,
# bench timings), in TEST_WORKERS processes (pytest-xdist; each imports torch, ~1 GB);
# tests/conftest.py refuses the run if it selects under 80% of the suite.
TEST_WORKERS ?= 2
test-fast: $(call stamp,$(TEST_EXTRAS))
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not slow" -q tests

# ruff with pyproject.toml's rules (`$(PY) -m ruff check --fix .` applies the fixable ones).
lint: $(call stamp,$(TEST_EXTRAS))
	$(PY) -m ruff check .

# mypy on the package: fails when it finds more errors than pyproject.toml's mypy-error-ceiling (.ci/mypy_ceiling.py).
typecheck: $(call stamp,$(TEST_EXTRAS))
	$(PY) .ci/mypy_ceiling.py

# Every notebook top to bottom under nbval at the ci preset (a cell fails on an error; outputs are not compared).
notebook-test: $(call stamp,$(TEST_EXTRAS)) fashion-data
	TAVAAL_PRESET=ci $(PY) -m pytest --nbval-lax --nbval-current-env notebooks/*.ipynb

# Each notebooks/NN_*.py and its .ipynb are in sync (re-pairing changes nothing under notebooks/), and badges,
# Colab cells, README table, twins and the absence of outputs agree with tavaal_nb/classroom/course.py.
notebook-sync-check: $(call stamp,$(TEST_EXTRAS))
	$(PY) -m jupytext --sync notebooks/[0-9][0-9]_*.py
	git diff --exit-code -- notebooks/
	$(PY) -m tavaal_nb.classroom.course check

lab: $(call stamp,$(LAB_EXTRAS))
	$(VENV)/bin/jupyter lab notebooks

bench: $(call stamp,$(DEMO_EXTRAS))
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

browser-test: $(call stamp,$(BROWSER_EXTRAS)) chromium fashion-data
	$(PY) -m pytest -m browser tests/browser -p no:cacheprovider

# student-edition:begin (the teacher's targets: `make student-branch` leaves this block out of the student branch)
# The student edition of the course (tavaal_nb/classroom/student_edition.py, with nbgrader's ClearSolutions through
# nbconvert): every solution becomes `raise NotImplementedError()` (its checker then says "not implemented yet"),
# every questionnaire answer "YOUR ANSWER HERE", outputs are cleared, and the badges, the Colab install and the
# course's links open the `student` branch. notebooks/ keeps the instructor's edition (the default view).
#   make student          writes $(STUDENT_DIR)/notebooks/, $(STUDENT_DIR)/README.md (what the branch holds) and
#                         $(STUDENT_DIR)/ANSWERS-instructor-only/ (the answer key; never on the branch)
#   make student-branch   commits the student edition of HEAD onto the local branch $(STUDENT_BRANCH) (git plumbing:
#                         the working tree, the index and the current branch are untouched); then
#                         `git push origin $(STUDENT_BRANCH)` publishes it and the students' badges open it
STUDENT_DIR ?= student
STUDENT_BRANCH ?= student
.PHONY: student student-branch
student: $(call stamp,test$(comma)teach)
	rm -rf $(STUDENT_DIR)
	$(PY) -m tavaal_nb.classroom.student_edition build --out $(STUDENT_DIR) --branch $(STUDENT_BRANCH)

student-branch: $(call stamp,test$(comma)teach)
	$(PY) -m tavaal_nb.classroom.student_edition publish --branch $(STUDENT_BRANCH)
# student-edition:end

# The course site (docs/site/build.py): every notebooks/NN_*.ipynb executed at $(PRESET) with the widgets'
# static figures (a cell error fails the build, as under nbval), rendered by Sphinx + myst-nb into
# build/site/$(PRESET)/html; executed notebooks are cached in build/site/$(PRESET)/executed.
# `make site-test` checks the site in headless Chromium (screenshots in artifacts/site/).
.PHONY: site site-test mathjax
PRESET ?= ci
SITE_DIR := build/site/$(PRESET)

site: $(call stamp,$(SITE_EXTRAS)) fashion-data mathjax
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
