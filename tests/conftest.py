"""Shared fixtures of the engine's test suite.

Everything runs on the CPU with the ``ci`` preset (widths of 4, a pool of 400 synthetic
images, 3 cycles of +20) so that the whole suite takes a few minutes on a 2-core machine.
The expensive pieces (one finished run of every method) are made once per session and
shared; tests that change files copy them first.

Tests marked ``fashion`` need the real Fashion-MNIST files that Debian's
``dataset-fashion-mnist`` package installs; they are skipped, with a reason saying how
to get the files, when those are missing.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the package is used from the checkout, installed or not
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

import tavaal_nb.data.datasets as datasets_module  # noqa: E402
from tavaal_nb.strategies import BUILTIN_METHODS  # noqa: E402

# The models of the ci preset are tiny: one thread is as fast as two here, and it stays fast when
# other processes share the CPU (several spinning OpenMP threads on 2 cores slow down tenfold).
torch.set_num_threads(int(os.environ.get("TAVAAL_TEST_THREADS", "1")))

FASHION_FILE = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
FASHION_SKIP_REASON = (
    f"needs the real Fashion-MNIST ({FASHION_FILE} is missing): install it with "
    "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or run `make test` as root, which installs it"
)

# Every built-in method, from the registry (test_selection.py checks it against the README's table), so a
# strategy added to tavaal_nb is run by every all-methods test without an edit here.
ALL_METHODS = BUILTIN_METHODS
D_METHODS = ("vaal", "tavaal", "vaal-lloss")
# Every dataset and preset name, by hand (README, "Datasets" and "Presets").
DATASET_NAMES = (
    "cifar10", "cifar100", "svhn", "fashion-mnist",
    "cifar10-imb-1.65", "cifar10-imb-1.89", "cifar10-imb-2.11", "cifar10-imb-official",
    "fashion-mnist-imb-1.65", "fashion-mnist-imb-1.89", "fashion-mnist-imb-2.11", "fashion-mnist-imb-official",
    "synthetic", "synthetic-grey",
)
PRESET_NAMES = ("paper", "authors-code", "cpu", "ci", "auto")

# The ci preset's sizes, as documented (README / docs/settings.md): used to check records.
CI_TRAIN_LIMIT, CI_TEST_LIMIT = 400, 100
CI_CYCLES, CI_INITIAL, CI_BUDGET, CI_SUBSET = 3, 20, 20, 100


# Browser tests (marker ``browser``, tests/browser/) run only when asked for: ``make browser-test``,
# i.e. ``pytest -m browser tests/browser``. A plain ``pytest tests`` collects and skips them, so it needs
# neither Chromium nor a free port. (These hooks live here, in the one conftest module, because the
# test files import helpers ``from conftest``: a second conftest.py would shadow that name.)
BROWSER_SKIP_REASON = ("browser test: run it with `make browser-test` (JupyterLab) or `make site-test` (the course site); "
                       "needs /usr/bin/chromium")


CHROMIUM = os.environ.get("TAVAAL_CHROMIUM", "/usr/bin/chromium")
"""Debian's Chromium, which playwright drives (no browser download); TAVAAL_CHROMIUM names another."""
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def chromium_context(profile: Path) -> Iterator:
    """A headless persistent Chromium context (playwright driving Debian's Chromium), closed on exit.
    playwright is imported here, not at the top: only the browser tests need it installed."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (or set TAVAAL_CHROMIUM)")
    with sync_playwright() as play:
        context = play.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in a real Chromium (make browser-test)")


# Fixtures that run whole experiments (every method; four methods x two trials with a live dashboard): a test
# using one runs them, so it is marked ``slow`` here (``make test-fast`` leaves it out; ``make test`` runs it).
SLOW_FIXTURES = ("synthetic_run", "widget_run")

# `make test-fast` stays the unit tests bar a few: collecting the whole suite with -m "not slow" and selecting
# fewer than this share of its tests is an error that gives the counts (1149 of 1320, 87%, when it was set).
FAST_SHARE = 0.8
_DESELECTED: list = []


def fast_share_problem(selected: int, total: int, share: float = FAST_SHARE) -> str | None:
    """The one line saying that a fast run selects too few of ``total`` tests, or None."""
    if total and selected < share * total:
        return (f"`make test-fast` selects {selected} of {total} tests, under {share:.0%}: mark `slow` only the "
                "tests that start other processes or run whole experiments (CONTRIBUTING.md)")
    return None


def pytest_deselected(items):
    _DESELECTED.extend(items)


def pytest_collection_finish(session):
    config = session.config
    here = config.invocation_params.dir
    whole = {(here / arg).resolve() for arg in config.args} in ({REPO / "tests"}, {REPO})
    if config.getoption("markexpr") == "not slow" and not config.getoption("keyword") and whole:
        problem = fast_share_problem(len(session.items), len(session.items) + len(_DESELECTED))
        if problem:
            raise pytest.UsageError(problem)


def pytest_collection_modifyitems(config, items):
    skip_fashion = pytest.mark.skip(reason=FASHION_SKIP_REASON)
    skip_browser = pytest.mark.skip(reason=BROWSER_SKIP_REASON)
    run_browser = "browser" in (config.getoption("markexpr") or "")
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in SLOW_FIXTURES):
            item.add_marker(pytest.mark.slow)
        if "fashion" in item.keywords and not FASHION_FILE.is_file():
            item.add_marker(skip_fashion)
        if "browser" in item.keywords and not run_browser:
            item.add_marker(skip_browser)


def entropy_by_hand(counts) -> float:
    """-sum p log p in nats over the non-zero counts, written independently of tavaal_nb.metrics."""
    total = float(sum(counts))
    return -sum((c / total) * math.log(c / total) for c in counts if c)


def counts_by_hand(labels, indices, num_classes: int = 10) -> list[int]:
    """Class counts of ``labels[indices]`` with collections.Counter (not torch.bincount)."""
    tally = Counter(int(labels[i]) for i in indices)
    return [tally.get(k, 0) for k in range(num_classes)]


def ci_config(**overrides):
    """The ci preset on the synthetic set, on the CPU (bit-reproducible), with overrides."""
    from tavaal_nb import make_config

    values = {"dataset": "synthetic", "device": "cpu", "methods": ("tavaal",)}
    values.update(overrides)
    return make_config("ci", **values)


SYNTHETIC_MEMO_MAX = 5_000
"""The most images a memoised synthetic set may hold (the ci preset's is 500): larger sets are rendered each time."""


@pytest.fixture(scope="session", autouse=True)
def synthetic_images_rendered_once():
    """``load_dataset`` of a synthetic set renders each (count, classes, channels, size, seed) once per session and
    hands out copies: the images are a pure function of those arguments, and a hundred runs of the ci preset
    rendered the same 500 images again (about 15 ms each). ``make_synthetic_images`` called directly (its own tests)
    and in other processes still renders."""
    render = datasets_module.make_synthetic_images
    memo: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    @functools.wraps(render)
    def rendered_once(count: int, num_classes: int = 10, channels: int = 3, size: int = 32, seed: int = 0):
        if count > SYNTHETIC_MEMO_MAX:
            return render(count, num_classes, channels, size, seed)
        key = (count, num_classes, channels, size, int(seed))
        if key not in memo:
            memo[key] = render(count, num_classes, channels, size, seed)
        images, labels = memo[key]
        return images.clone(), labels.clone()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets_module, "make_synthetic_images", rendered_once)
        yield


@pytest.fixture(scope="session", autouse=True)
def checkout_commit_asked_once():
    """``provenance.source_commit()`` of the package under test asks git once per session (per ``PATH`` and
    ``provenance._git``, which some tests replace to see it fail) instead of four git processes per run. Other
    folders (the tests' own checkouts, which they commit to and edit) are asked every time."""
    from tavaal_nb import provenance

    ask = provenance.source_commit
    memo: dict[tuple, dict] = {}

    @functools.wraps(ask)
    def asked_once(package_root: Path = provenance.PACKAGE_ROOT) -> dict:
        if Path(package_root) != provenance.PACKAGE_ROOT:
            return ask(package_root)
        key = (os.environ.get("PATH"), provenance._git)
        if key not in memo:
            memo[key] = ask(package_root)
        return dict(memo[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(provenance, "source_commit", asked_once)
        yield


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory):
    """One finished ci run of every method on ``synthetic`` (seed 0), written to disk.

    Returns ``(results, directory)``. Read-only: copy the directory before changing it.
    """
    from tavaal_nb import run_experiment

    out = tmp_path_factory.mktemp("synthetic-all-methods")
    results = run_experiment(ci_config(methods=ALL_METHODS), out, progress=False)
    return results, out


FINISHED_RUN = {"methods": ("random",), "cycles": 2, "epochs": 1, "milestones": (1,)}
"""The overrides of the ci preset that ``finished_run`` ran with."""


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """A finished two-cycle ci run of ``random`` on disk, made once for the reliability tests. Read-only: tests
    that change it take ``run_copy``."""
    from tavaal_nb import run_experiment

    out = tmp_path_factory.mktemp("finished") / "run"
    run_experiment(ci_config(**FINISHED_RUN), out, progress=False)
    return out


@pytest.fixture
def run_copy(finished_run, tmp_path):
    """A copy of ``finished_run`` of the test's own, to change."""
    out = tmp_path / "copy"
    shutil.copytree(finished_run, out)
    return out


TWO_TRIALS = {"methods": ("random", "vaal"), "trials": 2, "cycles": 2, "epochs": 1, "milestones": (1,)}
"""The overrides of the ci preset that ``two_trial_run`` ran with."""


@pytest.fixture(scope="session")
def two_trial_run(tmp_path_factory):
    """A finished ci run of random and vaal, 2 trials of 2 cycles of 1 epoch: what the figures and views need (two
    trials, a cycle 0, a discriminator's scores), not the preset's length. Returns the Results (``.path`` is its
    results.json). Read-only: copy its folder before changing anything."""
    from tavaal_nb import run_experiment

    return run_experiment(ci_config(**TWO_TRIALS), tmp_path_factory.mktemp("two-trials") / "run", progress=False)


@pytest.fixture(scope="session")
def synthetic_labels():
    """Train labels of the pool the ci preset uses for ``synthetic`` (seed 0), as a Python list."""
    from tavaal_nb.data import load_dataset

    data = load_dataset("synthetic", seed=0, train_limit=CI_TRAIN_LIMIT, test_limit=CI_TEST_LIMIT)
    return data.train_labels.tolist()


WAIT_DEADLINE_S = 300  # a state must be reached within this long, or the test fails instead of hanging


def wait_for(condition, what: str, deadline_s: float = WAIT_DEADLINE_S) -> None:
    """Poll ``condition`` every 50 ms; fail the test (not hang) after ``deadline_s`` seconds."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def rejects(checker, fn, *fragments: str) -> str:
    """The checker raises ExerciseFailed (not NotImplementedYet) whose message holds every fragment."""
    from tavaal_nb.classroom.exercises import ExerciseFailed, NotImplementedYet

    with pytest.raises(ExerciseFailed) as failure:
        checker(fn)
    assert not isinstance(failure.value, NotImplementedYet)
    message = str(failure.value)
    for fragment in fragments:
        assert fragment in message, message
    return message
