"""Checker for the learner's BALD scores from MC-dropout predictions (notebook 01).

BALD (Houlsby et al., 2011; with MC dropout, Gal, Islam & Ghahramani, 2017) is graded on its values, one
score per candidate, against :func:`reference_bald_scores`, on samples that agree, disagree, are one-hot or
are *partly* zero (a sample ``[0.5, 0.5, 0]``: its entropy is ``log 2``, not 0 nor nan).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch
from torch import Tensor

from tavaal_nb.classroom.exercises.harness import Case, call_learner, compare_tensors, run_cases
from tavaal_nb.classroom.exercises.sampling import reference_entropy as _entropy

__all__ = ["check_bald", "reference_bald_scores"]

BaldRule = Callable[[Tensor], Tensor]


def reference_bald_scores(probabilities: Tensor) -> Tensor:
    """BALD (Houlsby et al., 2011; with MC dropout, Gal, Islam & Ghahramani, 2017): the mutual information between a
    candidate's label and the model's weights, estimated from ``T`` MC-dropout predictions ``p_t``
    (``probabilities``: ``(T, n, C)``): ``I = H[mean_t p_t] - mean_t H[p_t]``, in nats."""
    return _entropy(probabilities.double().mean(dim=0)) - _entropy(probabilities).mean(dim=0)


def _bald_case(probabilities: Tensor) -> Callable[[BaldRule], str | None]:
    def run(fn: BaldRule) -> str | None:
        expected = reference_bald_scores(probabilities)
        got = call_learner(fn, probabilities.clone())
        reason = compare_tensors("your BALD output", got, expected, rtol=1e-4, atol=1e-5, check_dtype=False)
        if reason is None or not isinstance(got, Tensor) or got.shape != expected.shape:
            if reason and isinstance(got, Tensor) and got.numel() == probabilities.shape[0]:
                reason += " (one score per candidate: average over the T samples, dimension 0)"
            return reason
        return reason + _bald_hint(probabilities, got.detach().double())

    return run


def _naive_entropy(probabilities: Tensor) -> Tensor:
    """``-sum p log p`` computed naively: nan for a prediction holding a probability of exactly 0."""
    p = probabilities.double()
    return -(p * p.log()).sum(dim=-1)


def _zero_hint(probabilities: Tensor, got: Tensor, close: Callable[[Tensor, Tensor], bool]) -> str:
    """Name the 0 log 0 mistake that gives ``got``: a nan entropy, score or sample set to 0, or dropped."""
    naive_mean, naive_samples = _naive_entropy(probabilities.double().mean(dim=0)), _naive_entropy(probabilities)
    finite = torch.isfinite(naive_samples)
    sample_parts = (torch.nan_to_num(naive_samples, nan=0.0).mean(dim=0),  # a nan entropy set to 0
                    torch.where(finite, naive_samples, 0.0).sum(dim=0) / finite.sum(dim=0).clamp_min(1))  # dropped
    mean_parts = (_entropy(probabilities.double().mean(dim=0)), torch.nan_to_num(naive_mean, nan=0.0))
    wrong_samples = any(close(got, torch.nan_to_num(m - s, nan=0.0)) for m in mean_parts for s in sample_parts)
    partly = " (a prediction such as [0.5, 0.5, 0] has entropy log 2: 0 log 0 counts as 0 *term by term*"
    if wrong_samples:
        return partly + ", so an entropy that came out nan is not 0, nor to be dropped; skip the p = 0 terms)"
    if close(got, torch.nan_to_num(naive_mean - naive_samples.mean(dim=0), nan=0.0)):
        return partly + ": a candidate whose score came out nan does not score 0; skip the p = 0 terms)"
    return ""


def _bald_hint(probabilities: Tensor, got: Tensor) -> str:
    if torch.isnan(got).any():
        return " (nan: a probability of exactly 0 adds 0 log 0 = 0 to an entropy)"
    close = lambda a, b: torch.allclose(a, b, rtol=1e-4, atol=1e-5)  # noqa: E731
    zero = _zero_hint(probabilities, got, close)
    if zero:
        return zero
    mean_entropy = _entropy(probabilities).mean(dim=0)
    entropy_of_mean = _entropy(probabilities.double().mean(dim=0))
    expected = entropy_of_mean - mean_entropy
    if close(got, entropy_of_mean):
        return (" (these are the entropies of the mean prediction, H[mean_t p_t], the total uncertainty: subtract "
                "the mean of the T predictions' entropies)")
    if close(got, mean_entropy):
        return (" (these are the mean entropies of the T predictions, the part BALD *removes*: the noise the "
                "model expects; BALD is H[mean_t p_t] minus this)")
    if close(got, -expected):
        return " (the sign is flipped: I = H[mean_t p_t] - mean_t H[p_t] >= 0)"
    if close(got * math.log(2), expected):
        return " (your values are in bits, log base 2: use the natural log, nats)"
    if close(got * math.log(10), expected):
        return " (your values use log base 10: use the natural log, nats)"
    if close(got, probabilities.shape[0] * expected) or close(got, _entropy(probabilities.double().sum(dim=0))
                                                              - _entropy(probabilities).sum(dim=0)):
        return " (the T predictions are summed, not averaged: divide by T)"
    return ""


def check_bald(fn: BaldRule) -> int:
    """Grade ``fn(probabilities) -> scores``: from ``T`` MC-dropout softmax predictions of shape
    ``(T, n, C)``, one BALD score per candidate, ``H[mean_t p_t] - mean_t H[p_t]`` in nats
    (:func:`reference_bald_scores`; ``0 log 0 = 0`` term by term, so ``[0.5, 0.5, 0]`` has entropy
    ``log 2``), shape ``(n,)``. Calling
    ``reference_bald_scores`` fails."""
    generator = torch.Generator().manual_seed(6)
    logits = torch.randn(20, 15, 3, generator=generator) * 2
    varied = torch.softmax(logits, dim=-1)
    agree = torch.softmax(torch.randn(1, 10, 4, generator=generator), dim=-1).expand(8, 10, 4).contiguous()
    split = torch.eye(2)[torch.tensor([0, 1] * 5)][:, None, :].expand(10, 3, 2).contiguous()  # half 0, half 1
    ten = torch.softmax(torch.randn(12, 9, 10, generator=generator) * 3, dim=-1)
    half, third = [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]
    partly_zero = torch.tensor([  # per candidate, its T = 4 samples; some samples are zero for one class only
        [half, third, half, [0.1, 0.1, 0.8]],
        [[0.0, 0.6, 0.4], [0.0, 0.6, 0.4], [0.0, 0.5, 0.5], [0.0, 0.7, 0.3]],  # class 0 is 0 in the mean too
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.3, 0.3, 0.4]],
        [[0.6, 0.3, 0.1], third, [0.3, 0.3, 0.4], [0.7, 0.2, 0.1]],
        [half, half, half, half],  # all agree on a partly-zero prediction: BALD = 0
    ]).transpose(0, 1).contiguous()
    cases = [
        Case("T = 20 samples, 15 candidates, 3 classes", _bald_case(varied)),
        Case("T = 1 sample: no disagreement, BALD = 0", _bald_case(varied[:1])),
        Case("every sample agrees: BALD = 0 however uncertain", _bald_case(agree)),
        Case("one-hot samples, half say class 0, half class 1: BALD = log 2", _bald_case(split)),
        Case("T = 12, 10 classes", _bald_case(ten)),
        Case("two classes", _bald_case(torch.softmax(logits[:, :, :2], dim=-1))),
        Case("float64 probabilities", _bald_case(varied.double())),
        Case("partly-zero samples such as [0.5, 0.5, 0] (entropy log 2)", _bald_case(partly_zero)),
    ]
    return run_cases("BALD (MC dropout)", fn, cases, "H[mean p] - mean H[p]",
                     forbidden=[(sys.modules[__name__], "reference_bald_scores")])
