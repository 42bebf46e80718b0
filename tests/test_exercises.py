"""The exercise checkers accept a correct answer written here independently of the package, and reject
plausible wrong ones, each with a message that names the case (and never the reference's code)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import rejects

from tavaal_nb.classroom.exercises import (
    ExerciseFailed,
    NotImplementedYet,
    check_adversarial_step,
    check_class_entropy,
    check_conditional_vae_objective,
    check_ranker_loss,
    check_reparameterize,
    check_selection,
    check_table_1_row,
)

# ----------------------------------------------------------------------------- eq. 4


def pairs(pred, target):
    pred, target = pred.reshape(-1), target.reshape(-1)
    if pred.numel() % 2:
        raise ValueError("odd batch")
    half = pred.numel() // 2
    return pred[:half], pred.flip(0)[:half], target[:half], target.flip(0)[:half]


def eq4_by_hand(pred, target):
    """-I log sig(gap) - (1 - I) log(1 - sig(gap)) = softplus(gap) - I * gap, averaged over the pairs."""
    p_i, p_j, l_i, l_j = pairs(pred, target)
    gap = p_i - p_j
    indicator = (l_i > l_j).to(gap.dtype)
    return (F.softplus(gap) - indicator * gap).mean()


def eq1_instead(pred, target):
    p_i, p_j, l_i, l_j = pairs(pred, target)
    sign = torch.where(l_i > l_j, 1.0, -1.0).to(p_i.dtype)
    return torch.clamp(1.0 - sign * (p_i - p_j), min=0).mean()


def eq4_summed(pred, target):
    p_i, p_j, l_i, l_j = pairs(pred, target)
    gap = p_i - p_j
    return (F.softplus(gap) - (l_i > l_j).to(gap.dtype) * gap).sum()


def eq4_ties_as_ordered(pred, target):
    p_i, p_j, l_i, l_j = pairs(pred, target)
    gap = p_i - p_j
    return (F.softplus(gap) - (l_i >= l_j).to(gap.dtype) * gap).mean()


def eq4_reversed_indicator(pred, target):
    p_i, p_j, l_i, l_j = pairs(pred, target)
    gap = p_i - p_j
    return (F.softplus(gap) - (l_i < l_j).to(gap.dtype) * gap).mean()


def eq4_adjacent_pairs(pred, target):
    pred, target = pred.reshape(-1), target.reshape(-1)
    if pred.numel() % 2:
        raise ValueError("odd batch")
    gap = pred[0::2] - pred[1::2]
    return (F.softplus(gap) - (target[0::2] > target[1::2]).to(gap.dtype) * gap).mean()


def eq4_float32_always(pred, target):
    return eq4_by_hand(pred.float(), target.float())


def eq4_no_odd_check(pred, target):
    pred, target = pred.reshape(-1), target.reshape(-1)
    half = pred.numel() // 2
    gap = pred[:half] - pred.flip(0)[:half]
    return (F.softplus(gap) - (target[:half] > target.flip(0)[:half]).to(gap.dtype) * gap).mean()


def eq4_not_implemented(pred, target):
    raise NotImplementedError()


def eq4_with_functional_bce(pred, target):
    p_i, p_j, l_i, l_j = pairs(pred, target)
    gap = p_i - p_j
    return F.binary_cross_entropy_with_logits(gap, (l_i > l_j).to(gap.dtype))


def eq4_in_place(pred, target):
    p_i, p_j, l_i, l_j = pairs(pred, target)
    gap = p_i.clone()
    gap.sub_(p_j)
    loss = F.softplus(gap)
    loss.sub_((l_i > l_j).to(gap.dtype) * gap)
    return loss.mean()


def eq4_from_the_end(pred, target):
    """The same pairs (i, B-1-i) taken from the end: j = B-1-i runs over the second half, reversed."""
    pred, target = pred.reshape(-1), target.reshape(-1)
    if pred.numel() % 2:
        raise ValueError("odd batch")
    half = pred.numel() // 2
    p_i, p_j = pred[:half].flip(0), pred[half:]
    l_i, l_j = target[:half].flip(0), target[half:]
    gap = p_i - p_j
    return (F.softplus(gap) - (l_i > l_j).to(gap.dtype) * gap).mean()


def eq4_delegated(pred, target):
    from tavaal_nb.losses import bce_ranking_loss
    return bce_ranking_loss(pred, target)


def eq4_delegated_module(pred, target):
    import tavaal_nb.losses
    return tavaal_nb.losses.bce_ranking_loss(pred, target)


def eq4_delegated_swallowed(pred, target):
    from tavaal_nb import losses
    try:
        return losses.bce_ranking_loss(pred, target)
    except Exception:
        return eq4_by_hand(pred, target)


@pytest.mark.parametrize("right", [eq4_by_hand, eq4_with_functional_bce, eq4_in_place, eq4_from_the_end])
def test_ranker_loss_checker_accepts_an_independent_answer(right, capsys):
    assert check_ranker_loss(right) == 11
    assert f"✓ {right.__name__}" in capsys.readouterr().out


@pytest.mark.parametrize("delegating", [eq4_delegated, eq4_delegated_module, eq4_delegated_swallowed])
def test_ranker_loss_checker_rejects_the_package_reference(delegating):
    rejects(check_ranker_loss, delegating, "calls the package's tavaal_nb.losses.bce_ranking_loss", "yourself")


def test_ranker_loss_checker_rejects_the_reference_in_the_learner_globals():
    from tavaal_nb.losses import bce_ranking_loss
    namespace = {"bce_ranking_loss": bce_ranking_loss}
    exec("def notebook_answer(pred, target):\n    return bce_ranking_loss(pred, target)\n", namespace)
    rejects(check_ranker_loss, namespace["notebook_answer"], "calls the package's")
    assert namespace["bce_ranking_loss"] is bce_ranking_loss  # restored afterwards
    import tavaal_nb.losses
    assert tavaal_nb.losses.bce_ranking_loss is bce_ranking_loss


@pytest.mark.parametrize("wrong, fragment", [
    (eq1_instead, "margin loss of eq. 1"),
    (eq4_summed, "sum over the B/2 pairs"),
    (eq4_ties_as_ordered, "the indicator must be 0"),
    (eq4_reversed_indicator, "the indicator is reversed"),
    (eq4_adjacent_pairs, "not neighbours"),
    (eq4_float32_always, "dtype torch.float32, expected torch.float64"),
    (eq4_no_odd_check, "odd batch"),
])
def test_ranker_loss_checker_rejects_plausible_mistakes(wrong, fragment):
    message = rejects(check_ranker_loss, wrong, "eq. 4", fragment)
    assert "softplus" not in message and "binary_cross_entropy" not in message  # no solution in the message


def test_checker_says_not_implemented_yet():
    with pytest.raises(NotImplementedYet, match="not implemented yet: write eq4_not_implemented in the cell above"):
        check_ranker_loss(eq4_not_implemented)


def test_checkers_leave_the_global_random_stream_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_reparameterize(reparameterize_by_hand)  # seeds and draws many samples inside
    assert torch.equal(torch.rand(3), expected)


def test_checker_rejects_what_is_not_a_function():
    with pytest.raises(ExerciseFailed, match="expected a function"):
        check_ranker_loss(0.3)


# ----------------------------------------------------------------------------- the reparameterisation and eq. 6


def reparameterize_by_hand(mu, logvar):
    return mu + torch.exp(logvar / 2) * torch.randn_like(mu)


def reparameterize_minus(mu, logvar):
    return mu - torch.exp(logvar / 2) * torch.randn_like(mu)  # -eps ~ N(0, I) too


def reparameterize_with_distributions(mu, logvar):
    return torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).rsample()


def reparameterize_in_place(mu, logvar):
    eps = torch.randn(mu.shape, dtype=mu.dtype)
    return eps.mul_(logvar.mul(0.5).exp()).add_(mu)


def no_noise(mu, logvar):
    return mu + 0 * logvar


def sigma_zero(mu, logvar):
    return mu + torch.zeros_like(logvar) * torch.randn_like(mu)


def fixed_seed(mu, logvar):
    torch.manual_seed(0)
    return mu + torch.exp(logvar / 2) * torch.randn_like(mu)


def sigma_missing(mu, logvar):
    return mu + torch.randn_like(mu)


def variance_for_sigma(mu, logvar):
    return mu + torch.exp(logvar) * torch.randn_like(mu)


def noise_shared_across_dimensions(mu, logvar):
    return mu + torch.exp(logvar / 2) * torch.randn(mu.shape[0], 1, dtype=mu.dtype)


def noise_shared_across_samples(mu, logvar):
    return mu + torch.exp(logvar / 2) * torch.randn(1, mu.shape[1], dtype=mu.dtype)


def noise_half_shared(mu, logvar):
    eps = torch.randn_like(mu)
    eps[:, 1:] = eps[:, :1] * 0.6 + eps[:, 1:] * 0.8  # unit variance, but correlated with dimension 0
    return mu + torch.exp(logvar / 2) * eps


def noise_without_gradient(mu, logvar):
    return mu + (torch.exp(logvar / 2) * torch.randn_like(mu)).detach()


def mu_detached(mu, logvar):
    return mu.detach() + torch.exp(logvar / 2) * torch.randn_like(mu)


def reparameterize_delegated(mu, logvar):
    from tavaal_nb.models import ConditionalVAE
    return ConditionalVAE.reparameterize(mu, logvar)


@pytest.mark.parametrize("right", [reparameterize_by_hand, reparameterize_minus, reparameterize_with_distributions,
                                   reparameterize_in_place])
def test_reparameterize_checker_accepts_correct_answers(right):
    assert check_reparameterize(right) == 7


@pytest.mark.parametrize("wrong, fragments", [
    (no_noise, ("z equals mu", "no noise")),
    (sigma_zero, ("z equals mu", "zero or missing")),
    (fixed_seed, ("not fresh",)),
    (sigma_missing, ("does not depend on logvar", "exp(logvar / 2) missing")),
    (variance_for_sigma, ("standard deviation", "= 3.0000", "matches exp(logvar), the variance")),
    (noise_shared_across_dimensions, ("dimensions 0 and 1", "correlated")),
    (noise_shared_across_samples, ("same for all", "shared across samples")),
    (noise_half_shared, ("correlated", "every dimension")),
    (noise_without_gradient, ("no gradient reaches logvar",)),
    (mu_detached, ("no gradient reaches mu", "mu detached")),
    (reparameterize_delegated, ("calls the package's ConditionalVAE.reparameterize",)),
    (lambda mu, logvar: (mu + torch.randn_like(mu)).tolist(), ("torch.Tensor",)),
])
def test_reparameterize_checker_rejects_wrong_answers(wrong, fragments):
    rejects(check_reparameterize, wrong, "reparameterisation", *fragments)


def objective_by_hand(vae, x_labeled, r_labeled, x_unlabeled, r_unlabeled, kl_weight=1.0, sample=True,
                      kl_reduce=torch.mean, pools=2, decode_raw=True):
    total = 0.0
    for x, r in ((x_labeled, r_labeled), (x_unlabeled, r_unlabeled))[:pools]:
        mu, logvar = vae.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if sample else mu
        recon = vae.decode(z, r if decode_raw or r is None else torch.zeros_like(r))
        kl = kl_reduce(-0.5 * (1 + logvar - mu**2 - logvar.exp()))
        total = total + ((recon - x) ** 2).mean() + kl_weight * kl
    return total


def objective_unlabeled_first(vae, x_labeled, r_labeled, x_unlabeled, r_unlabeled, kl_weight=1.0):
    return objective_by_hand(vae, x_unlabeled, r_unlabeled, x_labeled, r_labeled, kl_weight)


def objective_one_batch(vae, x_labeled, r_labeled, x_unlabeled, r_unlabeled, kl_weight=1.0):
    """Both pools through the encoder at once (eval mode), noise from randn_like(logvar), split afterwards."""
    n = x_labeled.shape[0]
    mu, logvar = vae.encode(torch.cat([x_labeled, x_unlabeled]))
    z = torch.randn_like(logvar).mul(torch.exp(0.5 * logvar)).add(mu)
    r = None if r_labeled is None else torch.cat([r_labeled, r_unlabeled])
    recon = vae.decode(z, r)
    total = 0.0
    for part, x in ((slice(0, n), x_labeled), (slice(n, None), x_unlabeled)):
        kl = -0.5 * (1 + logvar[part] - mu[part] ** 2 - logvar[part].exp()).mean()
        total = total + ((recon[part] - x) ** 2).sum() / x.numel() + kl_weight * kl
    return total


def objective_with_forward(vae, x_labeled, r_labeled, x_unlabeled, r_unlabeled, kl_weight=1.0):
    from tavaal_nb.losses import kl_divergence  # the notebook shows it before the exercise
    total = 0.0
    for x, r in ((x_labeled, r_labeled), (x_unlabeled, r_unlabeled)):
        recon, _, mu, logvar = vae(x, r)
        total = total + F.mse_loss(recon, x) + kl_weight * kl_divergence(mu, logvar)
    return total


def objective_delegated(vae, x_labeled, r_labeled, x_unlabeled, r_unlabeled, kl_weight=1.0):
    from tavaal_nb.losses import conditional_vae_loss
    out_l, out_u = vae(x_labeled, r_labeled), vae(x_unlabeled, r_unlabeled)
    return conditional_vae_loss((x_labeled, out_l[0], out_l[2], out_l[3]), (x_unlabeled, out_u[0], out_u[2], out_u[3]),
                                kl_weight=kl_weight)


def objective_per_pool_delegated(vae, x_labeled, r_labeled, x_unlabeled, r_unlabeled, kl_weight=1.0):
    from tavaal_nb import losses
    total = 0.0
    for x, r in ((x_labeled, r_labeled), (x_unlabeled, r_unlabeled)):
        recon, _, mu, logvar = vae(x, r)
        total = total + losses.vae_loss(x, recon, mu, logvar, kl_weight)
    return total


def objective_mu_detached(vae, x_labeled, r_labeled, x_unlabeled, r_unlabeled, kl_weight=1.0):
    total = 0.0
    for x, r in ((x_labeled, r_labeled), (x_unlabeled, r_unlabeled)):
        mu, logvar = vae.encode(x)
        recon = vae.decode(mu.detach() + torch.exp(0.5 * logvar) * torch.randn_like(mu), r)
        kl = -0.5 * torch.mean(1 + logvar - mu.detach() ** 2 - logvar.exp())
        total = total + F.mse_loss(recon, x) + kl_weight * kl
    return total


def objective_summed_reconstruction(vae, x_labeled, r_labeled, x_unlabeled, r_unlabeled, kl_weight=1.0):
    total = 0.0
    for x, r in ((x_labeled, r_labeled), (x_unlabeled, r_unlabeled)):
        mu, logvar = vae.encode(x)
        recon = vae.decode(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu), r)
        total = total + F.mse_loss(recon, x, reduction="sum") + kl_weight * kl_divergence_by_hand(mu, logvar)
    return total


def kl_divergence_by_hand(mu, logvar):
    return -0.5 * torch.mean(1 + logvar - mu**2 - logvar.exp())


@pytest.mark.parametrize("right", [objective_by_hand, objective_unlabeled_first, objective_one_batch,
                                   objective_with_forward])
def test_conditional_vae_objective_checker_accepts_correct_answers(right):
    assert check_conditional_vae_objective(right) == 5


@pytest.mark.parametrize("wrong, fragments", [
    (lambda *a: objective_by_hand(*a, sample=False), ("does not change when the noise eps changes",)),
    (lambda *a: objective_by_hand(*a, kl_reduce=torch.sum), ("reconstruction terms agree", "KL part")),
    (lambda *a: objective_by_hand(*a, pools=1), ("does not depend on the unlabeled pool",)),
    (lambda *a: objective_by_hand(*a, decode_raw=False), ("does not depend on r", "vae.decode(z, r)")),
    (lambda v, xl, rl, xu, ru, w: objective_by_hand(v, xl, rl, xu, ru, 1.0),
     ("lambda = 0.6", "does not change with kl_weight")),
    (lambda v, xl, rl, xu, ru, w: objective_by_hand(v, xl, rl, xu, ru, 1.0 - w),
     ("lambda = 0.6", "reconstruction terms differ")),
    (objective_summed_reconstruction, ("reconstruction terms differ",)),
    (objective_mu_detached, ("gradients reach the encoder", "no gradient reaches the encoder through mu",
                             "mu detached")),
    (objective_delegated, ("calls the package's tavaal_nb.losses.conditional_vae_loss", "yourself")),
    (objective_per_pool_delegated, ("calls the package's tavaal_nb.losses.vae_loss",)),
])
def test_conditional_vae_objective_checker_rejects_wrong_answers(wrong, fragments):
    message = rejects(check_conditional_vae_objective, wrong, "eq. 6", *fragments)
    assert "case" in message


# ----------------------------------------------------------------------------- eqs. 7 and 8


def bce(logits, label: float):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


def step_by_hand(vae, discriminator, vae_optimizer, discriminator_optimizer, x_labeled, x_unlabeled,
                 r_labeled, r_unlabeled, kl_weight=1.0, adversarial_weight=1.0, *, d_labels=(1.0, 0.0),
                 vae_unlabeled_label=1.0, fresh_codes=True, zero_d=True, decoder_sigmoid=True,
                 eq7_detached=False):
    def decoder_r(r):
        return None if r is None else (torch.sigmoid(r) if decoder_sigmoid else r)

    total, codes = 0.0, []
    adversarial = 0.0
    for x, r, label in ((x_labeled, r_labeled, 1.0), (x_unlabeled, r_unlabeled, vae_unlabeled_label)):
        mu, logvar = vae.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = vae.decode(z, decoder_r(r))
        total = total + F.mse_loss(recon, x) + kl_weight * (-0.5 * torch.mean(1 + logvar - mu**2 - logvar.exp()))
        codes.append(mu.detach())
        adversarial = adversarial + bce(discriminator(mu.detach() if eq7_detached else mu, r), label)
    vae_loss = total + adversarial_weight * adversarial
    vae_optimizer.zero_grad()
    vae_loss.backward()
    vae_optimizer.step()
    if fresh_codes:
        with torch.no_grad():
            codes = [vae.encode(x_labeled)[0], vae.encode(x_unlabeled)[0]]
    d_loss = bce(discriminator(codes[0], r_labeled), d_labels[0]) + bce(discriminator(codes[1], r_unlabeled), d_labels[1])
    if zero_d:
        discriminator_optimizer.zero_grad()
    d_loss.backward()
    discriminator_optimizer.step()
    return vae_loss.detach(), d_loss.detach()


def step_unlabeled_first(vae, discriminator, vae_optimizer, discriminator_optimizer, x_labeled, x_unlabeled,
                         r_labeled, r_unlabeled, kl_weight=1.0, adversarial_weight=1.0):
    """Pools in the other order, eq. 6 from the package (allowed), BCE by hand with log-sigmoid."""
    from tavaal_nb.losses import conditional_vae_loss

    def decoder_r(r):
        return None if r is None else r.sigmoid()
    out_u = vae(x_unlabeled, decoder_r(r_unlabeled))
    out_l = vae(x_labeled, decoder_r(r_labeled))
    eq7 = -(F.logsigmoid(discriminator(out_l[2], r_labeled)).mean()
            + F.logsigmoid(discriminator(out_u[2], r_unlabeled)).mean())
    vae_loss = conditional_vae_loss((x_labeled, out_l[0], out_l[2], out_l[3]), (x_unlabeled, out_u[0], out_u[2], out_u[3]),
                                    kl_weight=kl_weight) + adversarial_weight * eq7
    vae_optimizer.zero_grad()
    vae_loss.backward()
    vae_optimizer.step()
    with torch.no_grad():
        mu_u, mu_l = vae.encode(x_unlabeled)[0], vae.encode(x_labeled)[0]
    eq8 = -(F.logsigmoid(discriminator(mu_l, r_labeled)).mean() + F.logsigmoid(-discriminator(mu_u, r_unlabeled)).mean())
    discriminator_optimizer.zero_grad(set_to_none=False)
    eq8.backward()
    discriminator_optimizer.step()
    return vae_loss.detach(), eq8.detach()


def step_with_package_losses(vae, discriminator, vae_optimizer, discriminator_optimizer, x_labeled, x_unlabeled,
                             r_labeled, r_unlabeled, kl_weight=1.0, adversarial_weight=1.0):
    from tavaal_nb.losses import discriminator_loss
    vae_loss, _ = step_by_hand(vae, discriminator, vae_optimizer, discriminator_optimizer, x_labeled, x_unlabeled,
                               r_labeled, r_unlabeled, kl_weight, adversarial_weight)
    with torch.no_grad():
        codes = vae.encode(x_labeled)[0], vae.encode(x_unlabeled)[0]
    return vae_loss, discriminator_loss(discriminator(codes[0], r_labeled), discriminator(codes[1], r_unlabeled))


def step_with_train_adversarial(vae, discriminator, vae_optimizer, discriminator_optimizer, x_labeled, x_unlabeled,
                                r_labeled, r_unlabeled, kl_weight=1.0, adversarial_weight=1.0):
    from tavaal_nb.strategies import vaal
    vaal.train_adversarial(vae, discriminator, x_labeled, x_unlabeled, r_labeled, r_unlabeled, None, None, 1,
                           torch.Generator())
    return torch.tensor(0.0), torch.tensor(0.0)


def step_vae_gradients_kept(vae, discriminator, vae_optimizer, *args):
    class NoZero:
        def __getattr__(self, name):
            return (lambda *a, **k: None) if name == "zero_grad" else getattr(vae_optimizer, name)
    return step_by_hand(vae, discriminator, NoZero(), *args)


@pytest.mark.parametrize("right", [step_by_hand, step_unlabeled_first])
def test_adversarial_step_checker_accepts_correct_answers(right):
    assert check_adversarial_step(right) == 5


def _options(**options):
    def fn(*args):
        return step_by_hand(*args, **options)
    return fn


@pytest.mark.parametrize("wrong, fragments", [
    (_options(d_labels=(0.0, 1.0)), ("discriminator's loss", "labeled and unlabeled swapped")),
    (_options(vae_unlabeled_label=0.0), ("VAE's loss",)),
    (_options(fresh_codes=False), ("discriminator's loss", "codes from before the VAE's step")),
    (_options(zero_d=False), ("D's loss agrees", "zero D's gradients")),
    (_options(decoder_sigmoid=False), ("VAE's loss",)),
    (lambda *a: step_by_hand(*a[:8], a[9], a[8]), ("adversarial weight 1.6, lambda 0.7", "are swapped")),
    (lambda *a: step_by_hand(*a[:8], a[8], 1.0), ("adversarial_weight = 1.6 is ignored",)),
    (lambda *a: step_by_hand(*a[:8], 1.0, a[9]), ("kl_weight = 0.7 is ignored",)),
    (lambda *a: step_by_hand(*a[:8], a[8], 0.0), ("eq. 7 is missing",)),
    (_options(eq7_detached=True), ("decoder's weights agree", "through mu", "is mu detached")),
    (step_vae_gradients_kept, ("three iterations", "zero the VAE's gradients")),
    (step_with_package_losses, ("calls the package's tavaal_nb.losses.discriminator_loss",)),
    (step_with_train_adversarial, ("calls the package's tavaal_nb.strategies.vaal.train_adversarial",)),
])
def test_adversarial_step_checker_rejects_wrong_answers(wrong, fragments):
    message = rejects(check_adversarial_step, wrong, "adversarial step", *fragments)
    assert "iteration" in message or "after" in message or "calls the package's" in message


# ----------------------------------------------------------------------------- eq. 9


def select_by_hand(discriminator, mu, r, budget):
    with torch.no_grad():
        d = torch.sigmoid(discriminator(mu, r))
    return torch.argsort(d)[: min(budget, d.numel())]


def select_from_logits_python(discriminator, mu, r, budget):
    logits = discriminator(mu, r).detach().tolist()  # sig is monotone: the logits order the same way
    order = sorted(range(len(logits)), key=lambda i: logits[i])
    return torch.tensor(order[:budget], dtype=torch.int32)


def select_at_or_below_threshold(discriminator, mu, r, budget):
    d = torch.sigmoid(discriminator(mu, r).detach())
    threshold = d.sort().values[min(budget, d.numel()) - 1]
    return torch.nonzero(d <= threshold).reshape(-1)


def select_with_package_lowest(discriminator, mu, r, budget):
    from tavaal_nb.strategies import lowest
    d = torch.sigmoid(discriminator(mu, r).detach())
    return lowest(d, min(budget, d.numel()))


@pytest.mark.parametrize("right", [
    select_by_hand, select_from_logits_python,
    lambda d, mu, r, b: torch.topk(d(mu, r).detach(), min(b, mu.shape[0]), largest=False).indices,
    lambda d, mu, r, b: torch.argsort(-torch.sigmoid(d(mu, r).detach()), descending=True, stable=True)[:b],
])
def test_selection_checker_accepts_correct_answers(right):
    assert check_selection(right) == 7


@pytest.mark.parametrize("wrong, fragments", [
    (lambda d, mu, r, b: torch.argsort(d(mu, r).detach(), descending=True)[:b],
     ("expected the", "these are the highest D")),
    (lambda d, mu, r, b: torch.sort(d(mu, r).detach()).values[:b], ("integer tensor",)),
    (lambda d, mu, r, b: torch.argsort(d(mu, r).detach())[: b - 1], ("positions chosen", "expected exactly")),
    (lambda d, mu, r, b: torch.argsort(d(mu, r).detach())[:1].repeat(b), ("chosen twice",)),
    (select_at_or_below_threshold, ("three candidates tie at the threshold", "3 positions chosen for budget 2",
                                    "3 candidates tie at the threshold D", "take exactly the budget")),
    (lambda d, mu, r, b: torch.sigmoid(d(mu, r).detach()) < 0.5, ("integer tensor",)),
    (select_with_package_lowest, ("calls the package's", "lowest", "yourself")),
])
def test_selection_checker_rejects_wrong_answers(wrong, fragments):
    rejects(check_selection, wrong, "eq. 9", *fragments)


# ----------------------------------------------------------------------------- entropy and Table 1


def entropy_by_hand(counts):
    values = [float(c) for c in counts]
    if any(v < 0 for v in values) or sum(values) == 0:
        raise ValueError("counts must be non-negative and not all zero")
    total = sum(values)
    return -sum(v / total * math.log(v / total) for v in values if v)


def entropy_with_torch(counts):
    values = torch.as_tensor([float(c) for c in counts], dtype=torch.float64)
    if (values < 0).any() or values.sum() == 0:
        raise ValueError("bad counts")
    p = values / values.sum()
    return float(-torch.special.xlogy(p, p).sum())


def entropy_with_scipy(counts):
    from scipy.stats import entropy
    values = [float(c) for c in counts]
    if min(values) < 0 or not sum(values):
        raise ValueError("bad counts")
    return float(entropy(values))  # natural log, normalises, 0 log 0 = 0


def entropy_delegated(counts):
    from tavaal_nb.metrics import class_entropy
    return class_entropy(counts)


def log2_entropy(counts):
    return entropy_by_hand(counts) / math.log(2)


def log10_entropy(counts):
    return entropy_by_hand(counts) / math.log(10)


def unnormalised(counts):
    return -sum(float(c) * math.log(float(c)) for c in counts if float(c) > 0)


def zero_classes_nan(counts):
    values = torch.tensor([float(c) for c in counts])
    p = values / values.sum()
    return float(-(p * p.log()).sum())


def no_validation(counts):
    return entropy_by_hand([abs(float(c)) for c in counts]) if sum(float(c) for c in counts) else 0.0


def sign_flipped(counts):
    return -entropy_by_hand(counts)


@pytest.mark.parametrize("right", [entropy_by_hand, entropy_with_torch, entropy_with_scipy])
def test_class_entropy_checker_accepts_correct_answers(right):
    assert check_class_entropy(right) == 9


@pytest.mark.parametrize("wrong, fragments", [
    (log2_entropy, ("balanced pool", "bits")),
    (log10_entropy, ("balanced pool", "base 10")),
    (unnormalised, ("balanced pool", "not normalised")),
    (sign_flipped, ("balanced pool", "sign is flipped")),
    (zero_classes_nan, ("no images", "nan")),
    (no_validation, ("negative count",)),
    (entropy_delegated, ("calls the package's tavaal_nb.metrics.class_entropy", "yourself")),
])
def test_class_entropy_checker_rejects_wrong_answers(wrong, fragments):
    message = rejects(check_class_entropy, wrong, "entropy", *fragments)
    if "sign" not in message and "bits" not in message:
        assert "nats, not bits" not in message  # no hint that the measurement does not support


def row_by_hand(counts):
    return round(sum(counts)), math.floor(100 * entropy_by_hand(counts)) / 100


def row_with_torch(counts):
    return int(torch.tensor([float(c) for c in counts]).sum().round()), math.floor(100 * entropy_with_torch(counts)) / 100


def test_table_1_row_checker_accepts_correct_answers():
    assert check_table_1_row(row_by_hand) == 5
    assert check_table_1_row(row_with_torch) == 5


@pytest.mark.parametrize("wrong, fragments", [
    (lambda c: (round(sum(c)), round(entropy_by_hand(c), 2)), ("1.66", "do not round")),
    (lambda c: (round(sum(c)) // 100, math.floor(100 * entropy_by_hand(c)) / 100), ("total",)),
    (lambda c: (len(c), math.floor(100 * entropy_by_hand(c)) / 100), ("the total of",)),
    (lambda c: (round(sum(c)), math.floor(100 * entropy_by_hand(c) / math.log(2)) / 100), ("printed entropy",)),
    (lambda c: (round(sum(c)), math.floor(10 * entropy_by_hand(c)) / 10), ("printed entropy",)),
    (lambda c: [round(sum(c)), 1.65], ("pair",)),
    (lambda c: row_by_hand(c)[:1] + (math.floor(100 * entropy_delegated(c)) / 100,), ("calls the package's",)),
])
def test_table_1_row_checker_rejects_wrong_answers(wrong, fragments):
    rejects(check_table_1_row, wrong, "Table 1", *fragments)


def test_table_1_row_checker_rejects_the_package_row():
    from tavaal_nb.classroom.exercises.entropy import table_1_row
    rejects(check_table_1_row, lambda c: table_1_row(c), "calls the package's", "table_1_row")
