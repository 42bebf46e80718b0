"""`make test-fast` (pytest -m "not slow") keeps most of the unit tests: tests/conftest.py refuses a fast run of
the whole suite that selects fewer than FAST_SHARE of its tests."""

from __future__ import annotations

from conftest import FAST_SHARE, fast_share_problem


def test_a_fast_run_of_most_tests_passes_and_one_of_too_few_is_one_line_with_the_counts():
    assert FAST_SHARE >= 0.75
    assert fast_share_problem(1155, 1319) is None
    assert fast_share_problem(0, 0) is None
    problem = fast_share_problem(600, 1319)
    assert problem is not None and "\n" not in problem
    assert "600 of 1319" in problem and f"{FAST_SHARE:.0%}" in problem
