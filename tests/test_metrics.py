"""Class-count entropy (the paper's Table 1 and Fig. 6) and the imbalance profiles."""

from __future__ import annotations

import math

import pytest
import torch

from tavaal_nb.data import IMBALANCE_PROFILES
from tavaal_nb.metrics import class_counts, class_entropy


@pytest.mark.parametrize(
    "counts,expected",
    [
        ([1, 1], math.log(2)),  # two equal classes: ln 2 = 0.693147
        ([5, 5, 5, 5], math.log(4)),  # four equal classes: ln 4
        ([2, 1, 1], 1.5 * math.log(2)),  # -(1/2 ln 1/2 + 2 * 1/4 ln 1/4) = 1/2 ln 2 + ln 2 = 1.039721
        ([3, 0, 1], 0.75 * math.log(4 / 3) + 0.25 * math.log(4)),  # zeros contribute nothing: 0.562335
        ([0, 7, 0], 0.0),  # one class only
    ],
)
def test_class_entropy_hand_numbers(counts, expected):
    assert class_entropy(counts) == pytest.approx(expected, abs=1e-12)


def test_class_entropy_accepts_tensors():
    assert class_entropy(torch.tensor([2, 1, 1])) == pytest.approx(1.5 * math.log(2))


@pytest.mark.parametrize("bad", [[0, 0, 0], [], [3, -1, 2]])
def test_class_entropy_rejects_empty_and_negative_counts(bad):
    with pytest.raises(ValueError):
        class_entropy(bad)


def test_class_counts():
    labels = torch.tensor([0, 2, 2, 3, 0, 2])
    assert class_counts(labels, 5) == [2, 0, 3, 1, 0]


# The rows of the paper's Table 1 as printed there (counts x 100), copied from the paper's text.
PAPER_TABLE_1 = {
    "entropy-1.65": [30, 30, 40, 50, 0.5, 1, 1, 1, 2, 10],
    "entropy-1.89": [30, 30, 40, 50, 5, 5, 2, 3, 5, 20],
    "entropy-2.11": [30, 30, 40, 50, 10, 10, 10, 10, 10, 30],
}


@pytest.mark.parametrize(
    "name,entropy,total",
    [("entropy-1.65", 1.657, 16_550), ("entropy-1.89", 1.900, 19_000), ("entropy-2.11", 2.115, 23_000)],
)
def test_paper_table_1_profiles(name, entropy, total):
    counts = list(IMBALANCE_PROFILES[name])
    assert counts == [round(c * 100) for c in PAPER_TABLE_1[name]]
    assert sum(counts) == total
    assert round(class_entropy(counts), 3) == entropy


def test_official_profile_is_the_public_codes_100x():
    assert list(IMBALANCE_PROFILES["official-100x"]) == [50, 5000] * 5
    assert sum(IMBALANCE_PROFILES["official-100x"]) == 25_250
