"""Checkers for the learner's reparameterisation and conditional VAE objective, **eq. 6** (notebook 03)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from tavaal_nb import losses
from tavaal_nb.classroom.exercises.harness import Case, call_learner, compare_tensors, run_cases, short
from tavaal_nb.losses import conditional_vae_loss
from tavaal_nb.models import ConditionalVAE

__all__ = ["check_reparameterize", "check_conditional_vae_objective", "reference_conditional_vae_objective",
           "fixed_noise"]

Reparameterize = Callable[[Tensor, Tensor], Tensor]
VAEObjective = Callable[..., Tensor]

SAMPLES = 20_000
"""Draws per statistical check of the reparameterisation."""


def reference_conditional_vae_objective(vae: ConditionalVAE, x_labeled: Tensor, r_labeled: Tensor | None,
                                        x_unlabeled: Tensor, r_unlabeled: Tensor | None,
                                        kl_weight: float = 1.0) -> Tensor:
    """Eq. 6 on one labeled and one unlabeled batch, sampling ``z`` as the package's training does.

    Each pool is encoded, ``z`` is drawn by :meth:`ConditionalVAE.reparameterize` and decoded
    with that pool's ``r`` (the decoder's input, e.g. ``sig(ranker output)``); the terms
    are :func:`tavaal_nb.losses.conditional_vae_loss`. Labeled first, then unlabeled.
    """
    labeled = vae(x_labeled, r_labeled)
    unlabeled = vae(x_unlabeled, r_unlabeled)
    return conditional_vae_loss((x_labeled, labeled[0], labeled[2], labeled[3]),
                                (x_unlabeled, unlabeled[0], unlabeled[2], unlabeled[3]), kl_weight=kl_weight)


# ----------------------------------------------------------------------------- the reparameterisation


def _shape_case(dtype: torch.dtype) -> Callable[[Reparameterize], str | None]:
    def run(fn: Reparameterize) -> str | None:
        mu, logvar = torch.randn(3, 5, dtype=dtype), torch.randn(3, 5, dtype=dtype)
        z = call_learner(fn, mu, logvar)
        if not isinstance(z, Tensor):
            return f"z should be a torch.Tensor, got {type(z).__name__}"
        if z.shape != mu.shape or z.dtype != mu.dtype:
            return (f"z has shape {tuple(z.shape)} and dtype {z.dtype}; expected mu's, {tuple(mu.shape)} "
                    f"and {mu.dtype}")
        return None

    return run


def _noise_case(fn: Reparameterize) -> str | None:
    mu, logvar = torch.zeros(4, 3), torch.zeros(4, 3)
    first, second = call_learner(fn, mu, logvar), call_learner(fn, mu, logvar)
    if torch.equal(first, mu):
        return ("z equals mu for mu = 0, logvar = 0 (sigma = 1): no noise is added; z = mu + sigma * eps needs "
                "eps ~ N(0, I) (is sigma * eps zero or missing?)")
    if torch.equal(first, second):
        return ("two calls with the same mu and logvar returned the same noisy z: the noise is not fresh at each "
                "call (is the seed fixed, or eps drawn once and kept?)")
    return None


def _logvar_case(fn: Reparameterize) -> str | None:
    """Under one seed, z - mu must scale with sigma = exp(logvar / 2)."""
    mu = torch.zeros(4, 3)
    torch.manual_seed(5)
    unit = call_learner(fn, mu, torch.zeros(4, 3))
    torch.manual_seed(5)
    wide = call_learner(fn, mu, torch.full((4, 3), math.log(4.0)))
    if isinstance(unit, Tensor) and isinstance(wide, Tensor) and torch.equal(unit, wide):
        return ("the output does not depend on logvar (same seed, logvar 0 and log 4 gave the same z): is "
                "sigma = exp(logvar / 2) missing?")
    return None


def _moments_case(mu_values: tuple[float, ...], logvar_values: tuple[float, ...]) -> Callable[[Reparameterize], str | None]:
    """Many draws, one latent dimension per value: each dimension's mean and spread, the noise's independence."""

    def run(fn: Reparameterize) -> str | None:
        mu = torch.tensor(mu_values, dtype=torch.float64).expand(SAMPLES, -1).contiguous()
        logvar = torch.tensor(logvar_values, dtype=torch.float64).expand(SAMPLES, -1).contiguous()
        torch.manual_seed(11)
        z = call_learner(fn, mu, logvar)
        if not isinstance(z, Tensor) or z.shape != mu.shape:
            return f"z should be a tensor of mu's shape {tuple(mu.shape)}"
        z = z.detach().double()
        sigma = torch.exp(0.5 * torch.tensor(logvar_values, dtype=torch.float64))
        eps = (z - mu) / sigma  # the noise the learner drew, whatever its shape
        for k, (m, s) in enumerate(zip(mu_values, sigma.tolist())):
            column = z[:, k]
            if column.std().item() < 1e-6 * s:
                return (f"latent dimension {k} of z is the same for all {SAMPLES} samples: the noise is shared "
                        f"across samples; draw one eps per element, of mu's full shape")
            mean, std = column.mean().item(), column.std().item()
            if abs(mean - m) > 5 * s / math.sqrt(SAMPLES):
                return f"over {SAMPLES} draws dimension {k} of z has mean {mean:.4f}, expected mu = {m}"
            if abs(std - s) > 0.03 * s:
                hint = (": it matches exp(logvar), the variance; sigma is its square root"
                        if abs(std - s * s) < 0.03 * s * s else "")
                return (f"over {SAMPLES} draws dimension {k} of z has standard deviation {std:.4f}, expected "
                        f"sigma = exp(logvar / 2) = {s:.4f} (logvar is the log of the variance{hint})")
        if eps.shape[1] > 1:
            correlation = torch.corrcoef(eps.T)
            off = correlation - torch.eye(eps.shape[1], dtype=correlation.dtype)
            k, j = divmod(int(off.abs().argmax()), eps.shape[1])
            if off.abs().max() > 0.05:
                return (f"the noise of latent dimensions {k} and {j} is correlated ({correlation[k, j].item():.3f} "
                        f"over {SAMPLES} samples): draw an independent eps for every dimension, not one per sample")
        lagged = torch.stack([eps[:-1].reshape(-1), eps[1:].reshape(-1)])
        neighbours = torch.corrcoef(lagged)[0, 1].item()
        if abs(neighbours) > 0.05:
            return (f"the noise of neighbouring samples is correlated ({neighbours:.3f}): draw an independent eps "
                    f"for every sample")
        return None

    return run


def _gradient_reparam_case(fn: Reparameterize) -> str | None:
    mu = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    z = call_learner(fn, mu, logvar)
    if not isinstance(z, Tensor) or not z.requires_grad:
        return "z carries no gradient to mu and logvar: the point of the trick is to backpropagate through it"
    d_mu, d_logvar = torch.autograd.grad(z.sum(), (mu, logvar), allow_unused=True)
    if d_mu is None or not d_mu.abs().sum():
        return "no gradient reaches mu through z: is mu detached (or z computed outside torch)?"
    if d_logvar is None or not d_logvar.abs().sum():
        return "no gradient reaches logvar through z: is sigma * eps (or logvar) detached?"
    reason = compare_tensors("d z / d mu", d_mu, torch.ones_like(mu))
    if reason:
        return reason
    return compare_tensors("d z / d logvar (should be (z - mu) / 2)", d_logvar, 0.5 * (z - mu).detach())


def check_reparameterize(fn: Reparameterize) -> int:
    """Grade the learner's reparameterisation ``fn(mu, logvar) -> z`` against
    :meth:`tavaal_nb.models.ConditionalVAE.reparameterize`.

    ``z = mu + sigma * eps`` with ``sigma = exp(logvar / 2)`` and fresh ``eps ~ N(0, I)``;
    checked by its shape and dtype (float32 and float64), that it is random and scales with
    sigma, by the mean and standard deviation of many draws in each latent dimension, by the
    independence of the noise across dimensions and samples, and by its gradients
    (``dz/dmu = 1``, ``dz/dlogvar = (z - mu) / 2``). Calling the package's own
    ``ConditionalVAE.reparameterize`` fails.
    """
    cases = [
        Case("z has mu's shape and dtype", _shape_case(torch.float32)),
        Case("float64 mu and logvar give a float64 z", _shape_case(torch.float64)),
        Case("z is random (fresh noise each call)", _noise_case),
        Case("z scales with sigma = exp(logvar / 2)", _logvar_case),
        Case("mean and spread of z for mu = 0, logvar = 0 (3 dimensions)", _moments_case((0.0,) * 3, (0.0,) * 3)),
        Case("mean and spread of z for mu = (2, -1, 0.5), logvar = (log 9, -4, 1)",
             _moments_case((2.0, -1.0, 0.5), (math.log(9.0), -4.0, 1.0))),
        Case("gradients through the sample", _gradient_reparam_case),
    ]
    return run_cases("the reparameterisation trick", fn, cases, "ConditionalVAE.reparameterize",
                     forbidden=[(ConditionalVAE, "reparameterize")])


# ----------------------------------------------------------------------------- eq. 6


_Problem = tuple[ConditionalVAE, Tensor, Tensor | None, Tensor, Tensor | None]
"""A case of eq. 6: the VAE, the labeled images and their r, the unlabeled images and their r."""


def _tiny_problem(seed: int, r_dim: int, batch_labeled: int, batch_unlabeled: int, channels: int = 1) -> _Problem:
    """A small VAE (eval mode: batch norm from running statistics) and two pools of images."""
    torch.manual_seed(seed)
    vae = ConditionalVAE(channels, 16, z_dim=3, r_dim=r_dim, width=2).eval()
    x_l, x_u = torch.randn(batch_labeled, channels, 16, 16), torch.randn(batch_unlabeled, channels, 16, 16)
    r_l = torch.rand(batch_labeled) if r_dim else None
    r_u = torch.rand(batch_unlabeled) if r_dim else None
    return vae, x_l, r_l, x_u, r_u


@contextmanager
def fixed_noise(salt: int = 0) -> Iterator[None]:
    """``torch.randn_like`` and ``torch.randn`` give fixed noise that depends only on the last dimension's index.

    Every row of a draw gets the same ``eps`` vector, so the noise does not depend on the order
    of the calls, on which pool is encoded first, on encoding both pools in one batch, or on
    drawing ``randn_like(logvar)`` instead of ``randn_like(mu)``: every correct objective gives the
    reference's value. ``salt`` picks another vector (to see whether the answer uses the noise at all).
    """
    original_like, original_randn = torch.randn_like, torch.randn

    def noise(shape: tuple[int, ...], dtype: torch.dtype | None, device: Any) -> Tensor:
        width = shape[-1] if shape else 1
        generator = torch.Generator().manual_seed(7919 * salt + 17)
        pattern = original_randn(width, generator=generator, dtype=torch.float64)
        return pattern.to(dtype or torch.get_default_dtype()).expand(*shape).clone().to(device)

    def randn_like(input: Tensor, *args: Any, dtype: torch.dtype | None = None, device: Any = None,
                   **kwargs: Any) -> Tensor:
        return noise(tuple(input.shape), dtype or input.dtype, device or input.device)

    def randn(*size: Any, dtype: torch.dtype | None = None, device: Any = None, **kwargs: Any) -> Tensor:
        if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
            size = tuple(size[0])
        return noise(tuple(int(n) for n in size), dtype, device if device is not None else "cpu")

    torch.randn_like, torch.randn = randn_like, randn
    try:
        yield
    finally:
        torch.randn_like, torch.randn = original_like, original_randn


def _objective(fn: VAEObjective, problem: _Problem, kl_weight: float, salt: int = 0) -> Any:
    vae, x_l, r_l, x_u, r_u = problem
    with fixed_noise(salt):
        return call_learner(fn, vae, x_l.clone(), None if r_l is None else r_l.clone(), x_u.clone(),
                            None if r_u is None else r_u.clone(), kl_weight)


def _reference(problem: _Problem, kl_weight: float, salt: int = 0) -> Tensor:
    with fixed_noise(salt):
        return reference_conditional_vae_objective(*problem, kl_weight=kl_weight)


def _objective_value_case(seed: int, r_dim: int, sizes: tuple[int, int], kl_weight: float,
                          with_gradients: bool = False) -> Callable[[VAEObjective], str | None]:
    def run(fn: VAEObjective) -> str | None:
        problem = _tiny_problem(seed, r_dim, *sizes)
        vae = problem[0]
        expected = _reference(problem, kl_weight)
        expected_grads = torch.autograd.grad(expected, list(vae.parameters()), allow_unused=True)
        got = _objective(fn, problem, kl_weight)
        reason = compare_tensors("the objective", got, expected.detach(), rtol=1e-4, atol=1e-6)
        if reason:
            return reason + _diagnose_objective(fn, problem, kl_weight)
        if with_gradients:
            if not got.requires_grad:
                return "the objective carries no gradient to the VAE's parameters (is it computed under no_grad?)"
            names = [name for name, _ in vae.named_parameters()]
            grads = dict(zip(names, torch.autograd.grad(got, list(vae.parameters()), allow_unused=True)))
            for head, what in (("fc_mu", "mu"), ("fc_logvar", "logvar")):
                reached = [g for name, g in grads.items() if name.startswith(head) and g is not None and g.abs().sum()]
                if not reached:
                    return (f"no gradient reaches the encoder through {what}: is {what} detached (or z computed "
                            f"without it)?")
            for name, e in zip(names, expected_grads):
                g = grads[name]
                if e is None:
                    continue
                g = torch.zeros_like(e) if g is None else g
                reason = compare_tensors(f"the gradient of the VAE's {name}", g, e, rtol=1e-3, atol=1e-6)
                if reason:
                    return reason
        return None

    return run


def _differs(a: Any, b: Any) -> bool:
    return not (isinstance(a, Tensor) and isinstance(b, Tensor) and a.shape == b.shape
                and torch.allclose(a.detach().double(), b.detach().double(), rtol=1e-7, atol=1e-9))


def _diagnose_objective(fn: VAEObjective, problem: _Problem, kl_weight: float) -> str:
    """A hint after a wrong value that names what was measured: the noise, lambda, a pool, r, or a term."""
    vae, x_l, r_l, x_u, r_u = problem
    with torch.no_grad():
        got = _objective(fn, problem, kl_weight)
        if not isinstance(got, Tensor):
            return ""
        if not _differs(got, _objective(fn, problem, kl_weight, salt=1)):
            return (" (the value does not change when the noise eps changes: decode a sample "
                    "z = mu + sigma * eps, not mu; the checker feeds fixed noise through torch.randn_like)")
        at_zero = _objective(fn, problem, 0.0)
        if not _differs(got, at_zero):
            return f" (the value does not change with kl_weight: multiply the KL terms by lambda = {kl_weight})"
        expected_zero = _reference(problem, 0.0)
        if _differs(at_zero, expected_zero):
            if not _differs(at_zero, _objective(fn, (vae, x_l, r_l, 2.0 * x_u + 1.0, r_u), 0.0)):
                return " (the value does not depend on the unlabeled pool: eq. 6 sums the terms of both pools)"
            if not _differs(at_zero, _objective(fn, (vae, 2.0 * x_l + 1.0, r_l, x_u, r_u), 0.0)):
                return " (the value does not depend on the labeled pool: eq. 6 sums the terms of both pools)"
            if (r_l is not None and r_u is not None  # both or neither
                    and not _differs(at_zero, _objective(fn, (vae, x_l, 1.0 - r_l, x_u, 1.0 - r_u), 0.0))):
                return " (the value does not depend on r: give the decoder r, vae.decode(z, r))"
            return (f" (with kl_weight = 0 the value is {short(at_zero)}, expected {short(expected_zero)}: the "
                    f"reconstruction terms differ; the mean squared error over all elements, per pool)")
        kl_part = (got - at_zero).item()
        expected_kl = (_reference(problem, kl_weight) - expected_zero).item()
        return (f" (the reconstruction terms agree (kl_weight = 0), the KL part does not: yours is {kl_part:.6g}, "
                f"expected {expected_kl:.6g} = lambda x the KL averaged over its elements, per pool)")


def check_conditional_vae_objective(fn: VAEObjective) -> int:
    """Grade the learner's eq. 6: ``fn(vae, x_labeled, r_labeled, x_unlabeled, r_unlabeled, kl_weight)``.

    The function encodes each pool with ``vae.encode``, samples ``z`` by the
    reparameterisation (noise from ``torch.randn_like`` or ``torch.randn``), decodes
    ``vae.decode(z, r)`` and returns, summed over the two pools, the mean squared
    reconstruction error plus ``kl_weight`` times the KL to ``N(0, I)`` averaged over
    its elements. Compared with :func:`reference_conditional_vae_objective` under the same
    fixed noise (:func:`fixed_noise`, which does not depend on the order of the draws, so the
    pools may be encoded in any order or together): values, a plain VAE (``r = None``), odd
    batches, several ``kl_weight`` and gradients. Calling the package's ``conditional_vae_loss``
    or ``vae_loss`` fails.
    """
    cases = [
        Case("TA-VAAL's VAE, batches of 4 and 6, lambda = 0.6", _objective_value_case(0, 1, (4, 6), 0.6)),
        Case("lambda = 0.25 weighs the KL terms", _objective_value_case(1, 1, (4, 4), 0.25)),
        Case("lambda = 3 weighs the KL terms", _objective_value_case(4, 1, (3, 5), 3.0)),
        Case("plain VAAL's VAE (r_dim = 0, r = None), lambda = 1.7", _objective_value_case(2, 0, (3, 5), 1.7)),
        Case("gradients reach the encoder through z, lambda = 0.4",
             _objective_value_case(3, 1, (5, 3), 0.4, with_gradients=True)),
    ]
    return run_cases("eq. 6, the conditional VAE objective", fn, cases,
                     "tavaal_nb.losses.conditional_vae_loss with ConditionalVAE.reparameterize",
                     forbidden=[(losses, "conditional_vae_loss"), (losses, "vae_loss"),
                                (sys.modules[__name__], "reference_conditional_vae_objective")])
