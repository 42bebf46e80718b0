"""The paper's losses (eqs. 1, 4, 6, 7, 8) on numbers worked out by hand or with plain math."""

from __future__ import annotations

import math

import pytest
import torch

from tavaal_nb.losses import (
    bce_ranking_loss,
    conditional_vae_loss,
    discriminator_loss,
    kl_divergence,
    margin_ranking_loss,
    ranking_pairs,
    vae_adversarial_loss,
    vae_loss,
)


def t(values):
    return torch.tensor(values, dtype=torch.float32)


def neg_log_sigmoid(x: float) -> float:
    """-log(sigmoid(x)) = log(1 + exp(-x)), with plain math."""
    return math.log1p(math.exp(-x)) if x > -30 else -x + math.log1p(math.exp(x))


# ----------------------------------------------------------------------------- eq. 1


def test_margin_ranking_loss_hand_numbers():
    # B = 4, pairs (0, 3) and (1, 2).
    # pair (0,3): target 0.9 > 0.1 -> I = +1; pred diff 3.0 - 2.0 = 1.0; max(0, -1.0 + 1) = 0
    # pair (1,2): target 0.2 > 0.4 is false -> I = -1; pred diff 1.0 - 0.5 = 0.5; max(0, +0.5 + 1) = 1.5
    # mean = 0.75  (adjacent pairs (0,1),(2,3) would give (0 + 2.5) / 2 = 1.25 instead)
    pred, target = t([3.0, 1.0, 0.5, 2.0]), t([0.9, 0.2, 0.4, 0.1])
    assert margin_ranking_loss(pred, target).item() == pytest.approx(0.75)
    # margin 0.5: pair (0,3) max(0, -1 + 0.5) = 0; pair (1,2) max(0, 0.5 + 0.5) = 1.0; mean 0.5
    assert margin_ranking_loss(pred, target, margin=0.5).item() == pytest.approx(0.5)


def test_margin_ranking_loss_ties_count_as_minus_one():
    # targets tie in both pairs -> I = -1 for both.
    # pair (0,3): diff 2 - 0 = 2 -> max(0, +2 + 1) = 3; pair (1,2): diff 0 -> max(0, 0 + 1) = 1; mean 2.0
    # (had ties given I = +1: max(0, -2 + 1) = 0 and 1 -> mean 0.5)
    pred, target = t([2.0, 0.0, 0.0, 0.0]), t([1.0, 5.0, 5.0, 1.0])
    assert margin_ranking_loss(pred, target).item() == pytest.approx(2.0)


def test_margin_ranking_loss_batch_of_six():
    # pairs (0,5), (1,4), (2,3)
    # (0,5): t 1 > 0 -> I=+1, diff 0.2 - 0.0 = 0.2 -> max(0, -0.2 + 1) = 0.8
    # (1,4): t 0 > 3 false -> I=-1, diff 4.0 - 1.0 = 3.0 -> max(0, 3 + 1) = 4.0
    # (2,3): t 2 > 2 false (tie) -> I=-1, diff -3.0 - 0.0 = -3.0 -> max(0, -3 + 1) = 0
    # mean = 4.8 / 3 = 1.6
    pred, target = t([0.2, 4.0, -3.0, 0.0, 1.0, 0.0]), t([1.0, 0.0, 2.0, 2.0, 3.0, 0.0])
    assert margin_ranking_loss(pred, target).item() == pytest.approx(1.6)


@pytest.mark.parametrize("loss", [margin_ranking_loss, bce_ranking_loss])
def test_ranking_losses_refuse_an_odd_batch(loss):
    with pytest.raises(ValueError, match=r"even.*B=3"):
        loss(t([1.0, 2.0, 3.0]), t([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("loss", [margin_ranking_loss, bce_ranking_loss])
def test_ranking_losses_detach_the_target_losses(loss):
    pred = torch.tensor([0.3, -1.0, 2.0, 0.5], requires_grad=True)
    target = torch.tensor([1.0, 2.0, 0.5, 0.1], requires_grad=True)
    loss(pred, target).backward()
    assert target.grad is None  # no gradient reaches the task model's losses
    assert pred.grad is not None and torch.any(pred.grad != 0)


def test_ranking_pairs_hands_out_detached_targets():
    pred = torch.tensor([0.3, -1.0, 2.0, 0.5], requires_grad=True)
    target = torch.tensor([1.0, 2.0, 0.5, 0.1], requires_grad=True)
    pred_i, pred_j, target_i, target_j = ranking_pairs(pred, target)
    assert pred_i.tolist() == pytest.approx([0.3, -1.0]) and pred_j.tolist() == pytest.approx([0.5, 2.0])
    assert target_i.tolist() == pytest.approx([1.0, 2.0]) and target_j.tolist() == pytest.approx([0.1, 0.5])
    assert pred_i.requires_grad and not target_i.requires_grad and not target_j.requires_grad


# ----------------------------------------------------------------------------- eq. 4


def test_ranker_loss_hand_numbers():
    # pairs (0,3): s = 2 - (-1) = 3, label 1[0.3 > 0.1] = 1 -> -log sigmoid(3)
    #       (1,2): s = 0 - 1 = -1, label 1[0.2 > 0.5] = 0 -> -log(1 - sigmoid(-1)) = -log sigmoid(1)
    # mean of the two = (0.048587 + 0.313262) / 2 = 0.180924
    pred, target = t([2.0, 0.0, 1.0, -1.0]), t([0.3, 0.2, 0.5, 0.1])
    expected = (neg_log_sigmoid(3.0) + neg_log_sigmoid(1.0)) / 2
    assert expected == pytest.approx(0.180924, abs=1e-6)
    assert bce_ranking_loss(pred, target).item() == pytest.approx(expected, rel=1e-6)


def test_ranker_loss_tie_has_label_zero():
    # pair (0,1) of B=2: s = 0.5 - 0 = 0.5, targets tie -> label 0 -> -log(1 - sigmoid(0.5)) = -log sigmoid(-0.5)
    pred, target = t([0.5, 0.0]), t([1.0, 1.0])
    assert bce_ranking_loss(pred, target).item() == pytest.approx(neg_log_sigmoid(-0.5), rel=1e-6)


# ----------------------------------------------------------------------------- eq. 6


def test_kl_divergence_is_the_element_mean():
    # KL(N(mu, s^2) || N(0, 1)) = 0.5 * (s^2 + mu^2 - 1 - ln s^2), per element:
    #   mu=1,    lv=0     -> 0.5 * (1 + 1 - 1 - 0)          = 0.5
    #   mu=0,    lv=ln 2  -> 0.5 * (2 + 0 - 1 - ln 2)       = 0.153426
    #   mu=0.5,  lv=-1    -> 0.5 * (e^-1 + 0.25 - 1 + 1)    = 0.308940
    #   mu=-2,   lv=0     -> 0.5 * (1 + 4 - 1 - 0)          = 2.0
    # mean over the 4 elements = 2.962366 / 4 = 0.740592 (the sum would be 2.962366)
    mu = t([[1.0, 0.0], [0.5, -2.0]])
    logvar = t([[0.0, math.log(2.0)], [-1.0, 0.0]])
    per_element = [
        0.5 * (math.exp(lv) + m * m - 1 - lv)
        for m, lv in [(1.0, 0.0), (0.0, math.log(2.0)), (0.5, -1.0), (-2.0, 0.0)]
    ]
    expected = sum(per_element) / 4
    assert expected == pytest.approx(0.740592, abs=1e-6)
    assert kl_divergence(mu, logvar).item() == pytest.approx(expected, rel=1e-6)


def test_kl_divergence_is_zero_for_the_prior():
    assert kl_divergence(torch.zeros(3, 5), torch.zeros(3, 5)).item() == pytest.approx(0.0, abs=1e-7)


def test_vae_loss_is_mse_plus_weighted_kl():
    # recon - x = [1, 2, 0, -1] -> MSE = (1 + 4 + 0 + 1) / 4 = 1.5
    x = torch.zeros(1, 1, 2, 2)
    recon = t([[[[1.0, 2.0], [0.0, -1.0]]]])
    # mu = 2, logvar = 0 -> KL = 0.5 * (1 + 4 - 1 - 0) = 2.0
    mu, logvar = t([[2.0]]), t([[0.0]])
    assert vae_loss(x, recon, mu, logvar).item() == pytest.approx(1.5 + 2.0)
    assert vae_loss(x, recon, mu, logvar, kl_weight=0.5).item() == pytest.approx(1.5 + 0.5 * 2.0)
    assert vae_loss(x, recon, mu, logvar, kl_weight=0.0).item() == pytest.approx(1.5)


def test_conditional_vae_loss_sums_the_two_pools():
    # labeled: MSE 1.5, KL 2.0 (as above)
    lab = (torch.zeros(1, 1, 2, 2), t([[[[1.0, 2.0], [0.0, -1.0]]]]), t([[2.0]]), t([[0.0]]))
    # unlabeled: x = [1, 1], recon = [1, 3] -> MSE = (0 + 4) / 2 = 2.0
    #            KL elements: (mu 0, lv ln 2) -> 0.5 (2 - 1 - ln 2) = 0.153426; (0, 0) -> 0; mean 0.076713
    unl = (torch.ones(1, 1, 1, 2), t([[[[1.0, 3.0]]]]), t([[0.0, 0.0]]), t([[math.log(2.0), 0.0]]))
    kl_unl = 0.5 * (2.0 - 1.0 - math.log(2.0)) / 2
    weight = 0.25
    expected = (1.5 + weight * 2.0) + (2.0 + weight * kl_unl)
    assert conditional_vae_loss(lab, unl, kl_weight=weight).item() == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------------- eqs. 7, 8


def test_vae_adversarial_loss_pushes_both_pools_to_labeled():
    # -mean log D(labeled) - mean log D(unlabeled), D = sigmoid(logit)
    lab, unl = [0.0, 2.0], [-1.0, 3.0, 0.5]
    expected = sum(map(neg_log_sigmoid, lab)) / 2 + sum(map(neg_log_sigmoid, unl)) / 3
    # = (0.693147 + 0.126928) / 2 + (1.313262 + 0.048587 + 0.474077) / 3 = 0.410038 + 0.611975
    assert expected == pytest.approx(1.022013, abs=1e-6)
    assert vae_adversarial_loss(t(lab), t(unl)).item() == pytest.approx(expected, rel=1e-6)


def test_discriminator_loss_labeled_one_unlabeled_zero():
    # -mean log D(labeled) - mean log(1 - D(unlabeled)); 1 - sigmoid(x) = sigmoid(-x)
    lab, unl = [0.0, 2.0], [-1.0, 3.0, 0.5]
    expected = sum(map(neg_log_sigmoid, lab)) / 2 + sum(neg_log_sigmoid(-x) for x in unl) / 3
    # = 0.410038 + (0.313262 + 3.048587 + 0.974077) / 3 = 0.410038 + 1.445309
    assert expected == pytest.approx(1.855347, abs=1e-6)
    assert discriminator_loss(t(lab), t(unl)).item() == pytest.approx(expected, rel=1e-6)


def test_adversarial_losses_do_not_overflow_on_large_logits():
    # A confident, correct discriminator: loss ~ 0; the encoder's loss is then ~ 200 per pool.
    assert discriminator_loss(t([200.0]), t([-200.0])).item() == pytest.approx(0.0, abs=1e-6)
    value = vae_adversarial_loss(t([-200.0]), t([-200.0])).item()
    assert math.isfinite(value)
    assert value == pytest.approx(2 * neg_log_sigmoid(-200.0), rel=1e-6)  # = 400
