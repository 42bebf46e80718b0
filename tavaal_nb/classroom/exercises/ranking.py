"""Checker for the learner's Ranker loss, **eq. 4** (notebook 02)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from tavaal_nb import losses
from tavaal_nb.classroom.exercises.harness import Case, call_learner, compare_tensors, expect_value_error, run_cases
from tavaal_nb.losses import bce_ranking_loss, margin_ranking_loss

__all__ = ["check_ranker_loss"]

RankingLoss = Callable[[Tensor, Tensor], Tensor]


def _value_case(name: str, pred: Tensor, target: Tensor) -> Case:
    """The loss's value, shape and dtype on ``(pred, target)`` equal the reference's."""

    def run(fn: RankingLoss) -> str | None:
        got = call_learner(fn, pred.clone(), target.clone())
        reason = compare_tensors(f"the loss for pred={_brief(pred)}, target={_brief(target)}", got,
                                 bce_ranking_loss(pred, target))
        if reason and isinstance(got, Tensor) and got.numel() == 1 and torch.isfinite(got).all():
            reason += _ranker_hint(pred, target, got.detach().double().item())
        return reason

    return Case(name, run)


def _gradient_case(name: str, pred: Tensor, target: Tensor) -> Case:
    """The gradient with respect to the predictions equals the reference's; none reaches the targets."""

    def run(fn: RankingLoss) -> str | None:
        leaf, target_leaf = pred.clone().requires_grad_(True), target.clone().requires_grad_(True)
        got = call_learner(fn, leaf, target_leaf)
        if not isinstance(got, Tensor) or not got.requires_grad:
            return "the loss carries no gradient to the predictions (did you call .item(), .detach() or use numpy?)"
        grads = torch.autograd.grad(got, (leaf, target_leaf), allow_unused=True)
        if grads[1] is not None and grads[1].abs().max() > 0:
            return "a gradient reaches the true losses l; they are targets, only the predictions may be trained"
        reference_leaf = pred.clone().requires_grad_(True)
        expected = torch.autograd.grad(bce_ranking_loss(reference_leaf, target), reference_leaf)[0]
        if grads[0] is None:
            return "the loss does not depend on the predictions"
        return compare_tensors("d loss / d pred", grads[0], expected)

    return Case(name, run)


def _ranker_hint(pred: Tensor, target: Tensor, got: float) -> str:
    """Name the mistake the learner's value shows, when one of the usual ones gives it exactly."""
    pred, target = pred.detach().double().reshape(-1), target.detach().double().reshape(-1)
    half = pred.numel() // 2

    def bce(p_i: Tensor, p_j: Tensor, indicator: Tensor) -> Tensor:
        gap = p_i - p_j
        return torch.nn.functional.softplus(gap) - indicator.double() * gap

    p_i, p_j, l_i, l_j = pred[:half], pred.flip(0)[:half], target[:half], target.flip(0)[:half]
    expected = bce(p_i, p_j, l_i > l_j)
    candidates = [
        (expected.sum(), "it is the sum over the B/2 pairs: eq. 4 averages them"),
        (margin_ranking_loss(pred, target), "this is the margin loss of eq. 1 (LL4AL), not eq. 4's binary "
                                            "cross-entropy"),
        (bce(p_i, p_j, l_i >= l_j).mean(), "on equal true losses (l_i = l_j) the indicator must be 0"),
        (bce(p_i, p_j, l_i < l_j).mean(), "the indicator is reversed: it is 1 when l_i > l_j"),
        (bce(pred[0::2], pred[1::2], target[0::2] > target[1::2]).mean(), "the pairs are (i, B-1-i), the first "
                                                                         "with the last and so on, not neighbours"),
    ]
    for value, hint in candidates:
        if abs(got - value.item()) <= 1e-5 * max(1.0, abs(value.item())):
            return f" ({hint})"
    return ""


def _brief(values: Tensor) -> str:
    flat = values.reshape(-1).tolist()
    if len(flat) > 6:
        return f"<{values.numel()} values, shape {tuple(values.shape)}>"
    return "[" + ", ".join(f"{v:.3g}" for v in flat) + "]"


def ranker_loss_cases() -> list[Case]:
    """Hand numbers, random batches, ties, shapes, dtypes, gradients and the odd batch."""
    generator = torch.Generator().manual_seed(4)
    random_pred = torch.randn(64, generator=generator)
    random_target = torch.rand(64, generator=generator)
    mixed_target = torch.tensor([0.5, 0.2, 0.2, 0.5, 0.1, 0.3])  # pairs (0,5) (1,4) (2,3): I = 1, 1, 0
    return [
        _value_case("the worked example of notebook 02 (B = 4)",
                    torch.tensor([2.0, 0.5, 1.0, 0.0]), torch.tensor([0.9, 0.1, 0.3, 0.2])),
        _value_case("one pair, i ahead but wrongly ordered", torch.tensor([1.5, -0.5]), torch.tensor([0.1, 0.7])),
        _value_case("random batch of 64", random_pred, random_target),
        _value_case("equal true losses in a pair (I = 0 when l_i = l_j)",
                    torch.tensor([0.3, -1.0, 2.0, 0.7]), torch.tensor([0.4, 0.2, 0.2, 0.4])),
        _value_case("equal predictions (gap 0)", torch.zeros(6), mixed_target),
        _value_case("predictions of shape (B, 1), as the Ranker returns them",
                    random_pred[:8].reshape(8, 1), random_target[:8]),
        _value_case("float64 inputs give a float64 loss", random_pred[:10].double(), random_target[:10].double()),
        _value_case("large gaps (no overflow)", torch.tensor([60.0, -60.0, 0.0, 0.0]),
                    torch.tensor([0.1, 0.9, 0.0, 1.0])),
        _gradient_case("gradient on the worked example",
                       torch.tensor([2.0, 0.5, 1.0, 0.0]), torch.tensor([0.9, 0.1, 0.3, 0.2])),
        _gradient_case("gradient on a random batch of 16", random_pred[:16], random_target[:16]),
        Case("an odd batch (B = 5) has no pairing (i, B-1-i)",
             lambda fn: expect_value_error(fn, torch.randn(5), torch.rand(5), what="an odd batch")),
    ]


def check_ranker_loss(fn: RankingLoss) -> int:
    """Grade the learner's eq. 4: ``fn(pred, target)`` against :func:`tavaal_nb.losses.bce_ranking_loss`.

    ``fn`` takes the predicted losses ``pred`` (shape ``(B,)`` or ``(B, 1)``) and the true
    losses ``target`` (shape ``(B,)``) and returns the mean over the pairs ``(i, B-1-i)`` of
    ``BCE(sig(pred_i - pred_j), 1[l_i > l_j])`` as a 0-dimensional tensor of ``pred``'s
    dtype, differentiable in ``pred``; an odd ``B`` is a ValueError. Raises
    :class:`~tavaal_nb.classroom.exercises.harness.ExerciseFailed` at the first case that differs.
    """
    return run_cases("eq. 4, the Ranker loss", fn, ranker_loss_cases(), "tavaal_nb.losses.bce_ranking_loss",
                     forbidden=[(losses, "bce_ranking_loss")])
