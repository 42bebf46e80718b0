"""Checkers for the learner's adversarial step (**eqs. 7 and 8**) and selection (**eq. 9**) (notebook 04).

The adversarial step is graded against the package's own loop,
:func:`tavaal_nb.strategies.vaal.train_adversarial`, run in fp32 on the CPU: the
learner's step, called on the same batches with the same seeds, must give the same
losses at every iteration and the same parameters afterwards.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from tavaal_nb.config import make_config
from tavaal_nb.data.augment import Augmenter
from tavaal_nb.exercises.harness import Case, call_learner, compare_tensors, run_cases
from tavaal_nb.models import ConditionalVAE, Discriminator
from tavaal_nb.strategies.base import lowest
from tavaal_nb.strategies.vaal import cycling_batches, train_adversarial

__all__ = ["check_adversarial_step", "check_selection", "reference_selection"]

AdversarialStep = Callable[..., tuple[Tensor, Tensor]]
SelectionRule = Callable[[nn.Module, Tensor, "Tensor | None", int], Tensor]


# ----------------------------------------------------------------------------- eqs. 7 and 8


def _adversarial_case(seed: int, with_r: bool, iterations: int, adversarial_weight: float = 1.0,
                      kl_weight: float = 1.0) -> Callable[[AdversarialStep], str | None]:
    """The learner's step, iterated on train_adversarial's batches, against train_adversarial itself."""

    def run(fn: AdversarialStep) -> str | None:
        config = make_config("ci", vae_batch_size=4, vae_lr=1e-2, disc_lr=1e-2, precision="fp32",
                             memory_format="contiguous", fused_optimizers="off",
                             kl_weight=kl_weight, adversarial_weight=adversarial_weight)
        torch.manual_seed(seed)
        r_dim = 1 if with_r else 0
        vae = ConditionalVAE(1, 16, z_dim=3, r_dim=r_dim, width=2)
        discriminator = Discriminator(3, r_dim=r_dim, hidden=8, depth=3)
        labeled = torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8)
        unlabeled = torch.randint(0, 256, (10, 1, 16, 16), dtype=torch.uint8)
        r_labeled = torch.randn(6) if with_r else None
        r_unlabeled = torch.randn(10) if with_r else None
        augment = Augmenter((0.5,), (0.25,), padding=0, flip=False, crop=False)

        reference_vae, reference_d = copy.deepcopy(vae), copy.deepcopy(discriminator)
        torch.manual_seed(1000 + seed)
        history = train_adversarial(reference_vae, reference_d, labeled, unlabeled, r_labeled, r_unlabeled, config,
                                    augment, iterations, torch.Generator().manual_seed(seed), progress=False,
                                    log_every=1)

        generator = torch.Generator().manual_seed(seed)
        labeled_batches = cycling_batches(6, 4, iterations, generator)
        unlabeled_batches = cycling_batches(10, 4, iterations, generator)
        vae_optimizer = torch.optim.Adam(vae.parameters(), lr=config.vae_lr)
        discriminator_optimizer = torch.optim.Adam(discriminator.parameters(), lr=config.disc_lr)
        vae.train()
        discriminator.train()
        torch.manual_seed(1000 + seed)
        for it in range(iterations):
            lb, ub = labeled_batches[it], unlabeled_batches[it]
            answer = call_learner(fn, vae, discriminator, vae_optimizer, discriminator_optimizer,
                                  augment(labeled[lb]), augment(unlabeled[ub]),
                                  None if r_labeled is None else r_labeled[lb],
                                  None if r_unlabeled is None else r_unlabeled[ub],
                                  kl_weight, adversarial_weight)
            if not isinstance(answer, tuple) or len(answer) != 2:
                return "the step should return a pair (the VAE's loss, the discriminator's loss)"
            vae_loss, d_loss = (torch.as_tensor(v).detach().float().reshape(()) for v in answer)
            reason = compare_tensors(f"iteration {it + 1}: the VAE's loss (eq. 6 + weight x eq. 7)", vae_loss,
                                     torch.tensor(history["vae"][it]), rtol=1e-4, atol=1e-5)
            if reason:
                return reason
            reason = compare_tensors(f"iteration {it + 1}: the discriminator's loss (eq. 8)", d_loss,
                                     torch.tensor(history["discriminator"][it]), rtol=1e-4, atol=1e-5)
            if reason:
                return reason + (" (labeled = 1, unlabeled = 0; encode both batches again with the updated "
                                 "encoder before D's step)")
        for model, reference, who in ((vae, reference_vae, "VAE"), (discriminator, reference_d, "discriminator")):
            for (name, got), expected in zip(model.named_parameters(), reference.parameters()):
                reason = compare_tensors(f"after {iterations} step{'s' if iterations > 1 else ''} the {who}'s {name}", got, expected,
                                         rtol=1e-4, atol=1e-5)
                if reason:
                    hint = (" (zero D's gradients before its backward pass: the VAE's backward left some there)"
                            if who == "discriminator" else "")
                    return reason + hint
        return None

    return run


def check_adversarial_step(fn: AdversarialStep) -> int:
    """Grade one iteration of the adversarial game against :func:`train_adversarial`.

    ``fn(vae, discriminator, vae_optimizer, discriminator_optimizer, x_labeled, x_unlabeled,
    r_labeled, r_unlabeled, kl_weight, adversarial_weight)`` takes normalised image batches
    and the raw Ranker outputs (None for VAAL); it makes one Adam step of the VAE on
    eq. 6 + ``adversarial_weight`` x eq. 7 (decoder fed ``sig(r)``, D fed ``r``), then one
    step of D on eq. 8 with the batches re-encoded by the updated encoder (no gradient),
    and returns ``(vae_loss, discriminator_loss)``. Labeled = 1, unlabeled = 0.
    """
    cases = [
        Case("TA-VAAL, one iteration", _adversarial_case(0, True, 1)),
        Case("TA-VAAL, three iterations (Adam's state carries over)", _adversarial_case(1, True, 3)),
        Case("VAAL (r = None), two iterations", _adversarial_case(2, False, 2)),
        Case("adversarial weight 0.5, lambda 0.5", _adversarial_case(3, True, 2, 0.5, 0.5)),
    ]
    return run_cases("one adversarial step (eqs. 6-8)", fn, cases, "tavaal_nb.strategies.vaal.train_adversarial")


# ----------------------------------------------------------------------------- eq. 9


class FixedScores(nn.Module):
    """A stand-in discriminator that returns given logits, whatever ``mu`` and ``r`` (for ties)."""

    def __init__(self, logits: Tensor) -> None:
        super().__init__()
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
        if got.numel() != expected.numel():
            return f"{got.numel()} positions chosen, expected min(budget, candidates) = {expected.numel()}"
        if got.unique().numel() != got.numel():
            return "a candidate was chosen twice"
        if got.numel() and (got.min() < 0 or got.max() >= mu.shape[0]):
            return f"positions must lie in 0..{mu.shape[0] - 1}, got {got.tolist()}"
        scores = torch.sigmoid(discriminator(mu, r).detach().float())
        chosen, wanted = scores[got].sort().values, scores[expected].sort().values
        if not torch.equal(chosen, wanted):  # ties may be broken either way: compare the chosen scores
            return (f"the chosen candidates have D = {[round(v, 4) for v in chosen.tolist()[:6]]}, expected the "
                    f"{expected.numel()} lowest, {[round(v, 4) for v in wanted.tolist()[:6]]}")
        return None

    return run


def check_selection(fn: SelectionRule) -> int:
    """Grade the learner's eq. 9: ``fn(discriminator, mu, r, budget)`` -> positions of the chosen candidates.

    The rule scores each candidate by ``D = sig(discriminator(mu, r))`` (the probability of
    "labeled") and returns the positions of the ``min(budget, len(mu))`` lowest, as an
    integer tensor. Ties at the threshold may be broken either way.
    """
    torch.manual_seed(9)
    trained_like = Discriminator(4, r_dim=1, hidden=16, depth=3)
    plain = Discriminator(4, r_dim=0, hidden=16, depth=3)
    mu, r = torch.randn(40, 4), torch.randn(40)
    tied = FixedScores(torch.tensor([0.3, -1.0, 0.3, 2.0, -1.0, 0.3, 0.0, -1.0]))
    cases = [
        Case("TA-VAAL's D(mu, r), 40 candidates, budget 5", _selection_case(trained_like, mu, r, 5)),
        Case("VAAL's D(mu), budget 12", _selection_case(plain, mu, None, 12)),
        Case("tied scores at the threshold (budget 4 of 8)", _selection_case(tied, torch.zeros(8, 4), None, 4)),
        Case("budget 1", _selection_case(trained_like, mu[:7], r[:7], 1)),
        Case("a budget above the number of candidates takes them all",
             _selection_case(trained_like, mu[:3], r[:3], 5)),
    ]
    return run_cases("eq. 9, the selection rule", fn, cases, "the lowest D, as VAAL/TA-VAAL select")
