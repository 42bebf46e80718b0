"""Checkers for the learner's adversarial step (**eqs. 7 and 8**) and selection (**eq. 9**) (notebook 04).

The adversarial step is graded against the package's own loop,
:func:`tavaal_nb.strategies.vaal.train_adversarial`, run in fp32 on the CPU: the
learner's step, called on the same batches with the same fixed noise, must give the same
losses at every iteration and the same parameters afterwards.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable

import torch
from torch import Tensor, nn

from tavaal_nb import losses
from tavaal_nb.classroom.exercises.harness import Case, call_learner, compare_tensors, run_cases
from tavaal_nb.classroom.exercises.vae import fixed_noise
from tavaal_nb.config import make_config
from tavaal_nb.data.augment import Augmenter
from tavaal_nb.losses import discriminator_loss
from tavaal_nb.models import ConditionalVAE, Discriminator
from tavaal_nb.strategies import base, vaal
from tavaal_nb.strategies.base import lowest
from tavaal_nb.strategies.vaal import cycling_batches, train_adversarial

__all__ = ["check_adversarial_step", "check_selection", "reference_selection"]

AdversarialStep = Callable[..., tuple[Tensor, Tensor]]
SelectionRule = Callable[[nn.Module, Tensor, "Tensor | None", int], Tensor]


# ----------------------------------------------------------------------------- eqs. 7 and 8


def _problem(seed: int, with_r: bool):
    """Fresh models and uint8 image pools for a case, the same for every call with ``seed``."""
    torch.manual_seed(seed)
    r_dim = 1 if with_r else 0
    vae = ConditionalVAE(1, 16, z_dim=3, r_dim=r_dim, width=2)
    discriminator = Discriminator(3, r_dim=r_dim, hidden=8, depth=3)
    labeled = torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8)
    unlabeled = torch.randint(0, 256, (10, 1, 16, 16), dtype=torch.uint8)
    r_labeled = torch.randn(6) if with_r else None
    r_unlabeled = torch.randn(10) if with_r else None
    return vae, discriminator, labeled, unlabeled, r_labeled, r_unlabeled


def _config(kl_weight: float, adversarial_weight: float):
    return make_config("ci", vae_batch_size=4, vae_lr=1e-2, disc_lr=1e-2, precision="fp32",
                       memory_format="contiguous", fused_optimizers="off",
                       kl_weight=kl_weight, adversarial_weight=adversarial_weight)


_AUGMENT = Augmenter((0.5,), (0.25,), padding=0, flip=False, crop=False)


def _reference_run(seed: int, with_r: bool, iterations: int, kl_weight: float, adversarial_weight: float):
    """train_adversarial on the case's problem: its history and the models afterwards."""
    vae, discriminator, labeled, unlabeled, r_labeled, r_unlabeled = _problem(seed, with_r)
    torch.manual_seed(1000 + seed)
    with fixed_noise():  # noise that does not depend on the order of the draws: any pool order passes
        history = train_adversarial(vae, discriminator, labeled, unlabeled, r_labeled, r_unlabeled,
                                    _config(kl_weight, adversarial_weight), _AUGMENT, iterations,
                                    torch.Generator().manual_seed(seed), progress=False, log_every=1)
    return history, vae, discriminator


def _weights_hint(seed: int, with_r: bool, kl_weight: float, adversarial_weight: float, got: float) -> str:
    """Which misuse of the weights, if any, gives the learner's first VAE loss."""
    candidates = [((adversarial_weight, kl_weight), "kl_weight and adversarial_weight are swapped"),
                  ((kl_weight, 1.0), f"adversarial_weight = {adversarial_weight} is ignored (eq. 7 is weighted by 1)"),
                  ((1.0, adversarial_weight), f"kl_weight = {kl_weight} is ignored (the KL terms are weighted by 1)"),
                  ((kl_weight, 0.0), "eq. 7 is missing from the VAE's loss"),
                  ((0.0, adversarial_weight), "the KL terms are missing from the VAE's loss")]
    for (kl, adversarial), hint in candidates:
        if (kl, adversarial) == (kl_weight, adversarial_weight):
            continue
        value = _reference_run(seed, with_r, 1, kl, adversarial)[0]["vae"][0]
        if abs(got - value) <= 1e-4 * max(1.0, abs(value)):
            return f" (your loss is the reference's when {hint})"
    return ""


def _discriminator_hint(got: float, vae_before: ConditionalVAE, vae_after: ConditionalVAE, discriminator: nn.Module,
                        x_l: Tensor, x_u: Tensor, r_l: Tensor | None, r_u: Tensor | None) -> str:
    """Which mistake, if any, gives the learner's first discriminator loss (labels, stale codes)."""
    with torch.no_grad():
        before, after, d = copy.deepcopy(vae_before).train(), copy.deepcopy(vae_after).train(), copy.deepcopy(discriminator)
        fresh = d(after.encode(x_l)[0], r_l).float(), d(after.encode(x_u)[0], r_u).float()
        stale = d(before.encode(x_l)[0], r_l).float(), d(before.encode(x_u)[0], r_u).float()
    candidates = [(discriminator_loss(fresh[1], fresh[0]), "labeled and unlabeled swapped: labeled = 1, unlabeled = 0"),
                  (discriminator_loss(*stale), "D was fed the codes from before the VAE's step: encode both batches "
                                               "again with the updated encoder (no gradient)"),
                  (discriminator_loss(stale[1], stale[0]), "labeled = 1, unlabeled = 0, and encode both batches "
                                                           "again after the VAE's step")]
    for value, hint in candidates:
        if abs(got - value.item()) <= 1e-4 * max(1.0, abs(value.item())):
            return f" (your value matches {hint})"
    return " (labeled = 1, unlabeled = 0, on both batches encoded again by the updated encoder)"


def _adversarial_case(seed: int, with_r: bool, iterations: int, adversarial_weight: float = 1.0,
                      kl_weight: float = 1.0) -> Callable[[AdversarialStep], str | None]:
    """The learner's step, iterated on train_adversarial's batches, against train_adversarial itself."""

    def run(fn: AdversarialStep) -> str | None:
        config = _config(kl_weight, adversarial_weight)
        history, reference_vae, reference_d = _reference_run(seed, with_r, iterations, kl_weight, adversarial_weight)
        vae, discriminator, labeled, unlabeled, r_labeled, r_unlabeled = _problem(seed, with_r)
        vae_start, discriminator_start = copy.deepcopy(vae), copy.deepcopy(discriminator)

        generator = torch.Generator().manual_seed(seed)
        labeled_batches = cycling_batches(6, 4, iterations, generator)
        unlabeled_batches = cycling_batches(10, 4, iterations, generator)
        vae_optimizer = torch.optim.Adam(vae.parameters(), lr=config.vae_lr)
        discriminator_optimizer = torch.optim.Adam(discriminator.parameters(), lr=config.disc_lr)
        vae.train()
        discriminator.train()
        torch.manual_seed(1000 + seed)
        d_losses: list[Tensor] = []
        first_batches: tuple[Tensor, Tensor, Tensor | None, Tensor | None] | None = None  # iteration 1's, for hints
        for it in range(iterations):
            lb, ub = labeled_batches[it], unlabeled_batches[it]
            batches = (_AUGMENT(labeled[lb]), _AUGMENT(unlabeled[ub]),
                       None if r_labeled is None else r_labeled[lb], None if r_unlabeled is None else r_unlabeled[ub])
            if first_batches is None:
                x_l, x_u, r_l, r_u = batches
                first_batches = (x_l.clone(), x_u.clone(), None if r_l is None else r_l.clone(),
                                 None if r_u is None else r_u.clone())
            with fixed_noise():
                answer = call_learner(fn, vae, discriminator, vae_optimizer, discriminator_optimizer,
                                      batches[0], batches[1], batches[2], batches[3], kl_weight, adversarial_weight)
            if not isinstance(answer, tuple) or len(answer) != 2:
                return "the step should return a pair (the VAE's loss, the discriminator's loss)"
            vae_loss, d_loss = (torch.as_tensor(v).detach().float().reshape(()) for v in answer)
            reason = compare_tensors(f"iteration {it + 1}: the VAE's loss (eq. 6 + weight x eq. 7)", vae_loss,
                                     torch.tensor(history["vae"][it]), rtol=1e-4, atol=1e-5)
            if reason:
                if it == 0:
                    return reason + _weights_hint(seed, with_r, kl_weight, adversarial_weight, vae_loss.item())
                return reason + (f" (the losses of iteration{'s' if it > 1 else ''} 1-{it} agreed, so what carries "
                                 f"over between steps differs: zero the VAE's gradients and D's before each "
                                 f"backward pass, and step each optimizer once per iteration)")
            d_losses.append(d_loss)
        # the VAE's step first: a wrong one also changes what D sees
        differ = [name for (name, got), expected in zip(vae.named_parameters(), reference_vae.parameters())
                  if compare_tensors(name, got, expected, rtol=1e-4, atol=1e-5)]
        if differ:
            steps = f"{iterations} step{'s' if iterations > 1 else ''}"
            encoder_only = all(name.startswith(("encoder.", "fc_mu.", "fc_logvar.")) for name in differ)
            hint = (": its loss agrees and the decoder's weights agree, but the encoder's differ: no gradient of "
                    "eq. 7 reaches the encoder through mu (is mu detached before D?)" if encoder_only else
                    ": zero the VAE's gradients before its backward pass, then step its optimizer")
            return f"after {steps} the VAE's {', '.join(differ[:3])} differ from the reference{hint}"
        for it, d_loss in enumerate(d_losses):
            reason = compare_tensors(f"iteration {it + 1}: the discriminator's loss (eq. 8)", d_loss,
                                     torch.tensor(history["discriminator"][it]), rtol=1e-4, atol=1e-5)
            if reason:
                if it == 0 and iterations == 1:
                    assert first_batches is not None  # kept at iteration 1, which made d_losses[0]
                    return reason + _discriminator_hint(d_loss.item(), vae_start, vae, discriminator_start,
                                                        *first_batches)
                return reason + " (labeled = 1, unlabeled = 0, on both batches encoded again by the updated encoder)"
        for (name, got), expected in zip(discriminator.named_parameters(), reference_d.parameters()):
            reason = compare_tensors(f"after {iterations} step{'s' if iterations > 1 else ''} the discriminator's "
                                     f"{name}", got, expected, rtol=1e-4, atol=1e-5)
            if reason:
                return reason + (" (D's loss agrees but its step does not: zero D's gradients before its backward "
                                 "pass, the VAE's backward left some there)")
        return None

    return run


def check_adversarial_step(fn: AdversarialStep) -> int:
    """Grade one iteration of the adversarial game against :func:`train_adversarial`.

    ``fn(vae, discriminator, vae_optimizer, discriminator_optimizer, x_labeled, x_unlabeled,
    r_labeled, r_unlabeled, kl_weight, adversarial_weight)`` takes normalised image batches
    and the raw Ranker outputs (None for VAAL); it makes one Adam step of the VAE on
    eq. 6 + ``adversarial_weight`` x eq. 7 (decoder fed ``sig(r)``, D fed ``r``), then one
    step of D on eq. 8 with the batches re-encoded by the updated encoder (no gradient),
    and returns ``(vae_loss, discriminator_loss)``. Labeled = 1, unlabeled = 0. The cases use
    distinct weights (kl_weight != adversarial_weight, neither 1) so that a swap shows; the
    reparameterisation noise is :func:`~tavaal_nb.classroom.exercises.vae.fixed_noise`, so the pools may be
    encoded in any order. Calling the package's ``train_adversarial``, ``vae_adversarial_loss`` or
    ``discriminator_loss`` (eqs. 7, 8) fails; ``conditional_vae_loss`` (eq. 6) is allowed.
    """
    cases = [
        Case("TA-VAAL, one iteration, adversarial weight 1.6, lambda 0.7", _adversarial_case(0, True, 1, 1.6, 0.7)),
        Case("TA-VAAL, three iterations (Adam's state carries over)", _adversarial_case(1, True, 3)),
        Case("VAAL (r = None), two iterations, adversarial weight 0.5, lambda 2", _adversarial_case(2, False, 2, 0.5, 2.0)),
        Case("adversarial weight 2.5, lambda 0.3", _adversarial_case(3, True, 2, 2.5, 0.3)),
        Case("adversarial weight 0.4, lambda 3", _adversarial_case(4, True, 1, 0.4, 3.0)),
    ]
    return run_cases("one adversarial step (eqs. 6-8)", fn, cases, "tavaal_nb.strategies.vaal.train_adversarial",
                     forbidden=[(vaal, "train_adversarial"), (losses, "vae_adversarial_loss"),
                                (losses, "discriminator_loss")])


# ----------------------------------------------------------------------------- eq. 9


class FixedScores(nn.Module):
    """A stand-in discriminator that returns given logits, whatever ``mu`` and ``r`` (for ties)."""

    def __init__(self, logits: Tensor) -> None:
        super().__init__()
        self.logits: Tensor
        self.register_buffer("logits", logits)

    def forward(self, mu: Tensor, r: Tensor | None = None) -> Tensor:
        return self.logits.clone()


@torch.no_grad()
def reference_selection(discriminator: nn.Module, mu: Tensor, r: Tensor | None, budget: int) -> Tensor:
    """Eq. 9 as :class:`tavaal_nb.strategies.vaal.VAAL` selects: the ``budget`` lowest ``D = sig(logit)``."""
    probability = torch.sigmoid(discriminator(mu, r).float())
    return lowest(probability, min(budget, probability.numel()))


def _selection_case(discriminator: nn.Module, mu: Tensor, r: Tensor | None,
                    budget: int) -> Callable[[SelectionRule], str | None]:
    def run(fn: SelectionRule) -> str | None:
        discriminator.eval()
        expected = reference_selection(discriminator, mu, r, budget)
        got = call_learner(fn, discriminator, mu, r, budget)
        if not isinstance(got, Tensor) or got.dtype not in (torch.int64, torch.int32):
            return (f"return the candidates' positions as an integer tensor, got "
                    f"{got.dtype if isinstance(got, Tensor) else type(got).__name__}")
        got = got.reshape(-1).cpu().long()
        scores = torch.sigmoid(discriminator(mu, r).detach().float())
        if got.numel() != expected.numel():
            reason = (f"{got.numel()} positions chosen for budget {budget}, expected exactly min(budget, candidates) "
                      f"= {expected.numel()}")
            threshold = scores[expected].max() if expected.numel() else None
            tied = int((scores == threshold).sum()) if threshold is not None else 0
            if got.numel() > expected.numel() and threshold is not None and tied > 1:
                reason += (f": {tied} candidates tie at the threshold D = {threshold.item():.4g}, and a rule like "
                           f"'D <= the budget-th lowest' takes them all; take exactly the budget, breaking the tie")
            return reason
        if got.unique().numel() != got.numel():
            return "a candidate was chosen twice"
        if got.numel() and (got.min() < 0 or got.max() >= mu.shape[0]):
            return f"positions must lie in 0..{mu.shape[0] - 1}, got {got.tolist()}"
        chosen, wanted = scores[got].sort().values, scores[expected].sort().values
        if not torch.equal(chosen, wanted):  # ties may be broken either way: compare the chosen scores
            highest_d = scores.sort(descending=True).values[:expected.numel()].sort().values
            hint = (": these are the highest D; eq. 9 takes the lowest (D is the probability of 'labeled')"
                    if torch.equal(chosen, highest_d) else "")
            return (f"the chosen candidates have D = {[round(v, 4) for v in chosen.tolist()[:6]]}, expected the "
                    f"{expected.numel()} lowest, {[round(v, 4) for v in wanted.tolist()[:6]]}{hint}")
        return None

    return run


def check_selection(fn: SelectionRule) -> int:
    """Grade the learner's eq. 9: ``fn(discriminator, mu, r, budget)`` -> positions of the chosen candidates.

    The rule scores each candidate by ``D = sig(discriminator(mu, r))`` (the probability of
    "labeled") and returns the positions of the ``min(budget, len(mu))`` lowest, as an
    integer tensor. Ties at the threshold may be broken either way, but exactly that many
    positions are returned. Calling the package's ``lowest``, ``highest`` or
    :func:`reference_selection` fails.
    """
    torch.manual_seed(9)
    trained_like = Discriminator(4, r_dim=1, hidden=16, depth=3)
    plain = Discriminator(4, r_dim=0, hidden=16, depth=3)
    mu, r = torch.randn(40, 4), torch.randn(40)
    tied = FixedScores(torch.tensor([0.3, -1.0, 0.3, 2.0, -1.0, 0.3, 0.0, -1.0]))
    cases = [
        Case("TA-VAAL's D(mu, r), 40 candidates, budget 5", _selection_case(trained_like, mu, r, 5)),
        Case("VAAL's D(mu), budget 12", _selection_case(plain, mu, None, 12)),
        Case("no tie at the threshold (budget 4 of 8)", _selection_case(tied, torch.zeros(8, 4), None, 4)),
        Case("three candidates tie at the threshold, two fit (budget 2 of 8)",
             _selection_case(tied, torch.zeros(8, 4), None, 2)),
        Case("three candidates tie at the threshold, one fits (budget 5 of 8)",
             _selection_case(tied, torch.zeros(8, 4), None, 5)),
        Case("budget 1", _selection_case(trained_like, mu[:7], r[:7], 1)),
        Case("a budget above the number of candidates takes them all",
             _selection_case(trained_like, mu[:3], r[:3], 5)),
    ]
    return run_cases("eq. 9, the selection rule", fn, cases, "the lowest D, as VAAL/TA-VAAL select",
                     forbidden=[(base, "lowest"), (base, "highest"), (sys.modules[__name__], "reference_selection")])
