"""VAAL (Sinha et al., 2019) and TA-VAAL (Kim et al., 2021): a (conditional) VAE and a
discriminator trained adversarially on the labeled and candidate pools (eqs. 6-8), then
the candidates with the lowest ``D(mu, r)`` are labeled (eq. 9)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from tavaal_nb.config import Config
from tavaal_nb.cuda_graphs import DeviceTally, GraphedStep, fetch
from tavaal_nb.errors import NonFiniteLossError
from tavaal_nb.losses import conditional_vae_loss, discriminator_loss, kl_divergence, vae_adversarial_loss
from tavaal_nb.models import ConditionalVAE, Discriminator
from tavaal_nb.models.adversarial import build_discriminator, build_vae
from tavaal_nb.progress import progress_bar
from tavaal_nb.schema import NUMBER_OR_NULL, NUMBERS_OR_NULL
from tavaal_nb.strategies.base import QueryContext, Selection, Strategy, select_by_scores
from tavaal_nb.training import Runtime, maybe_compile

__all__ = ["VAAL", "TAVAAL", "cycling_batches", "transform_r", "train_adversarial", "latent_means",
           "discriminator_record", "DISCRIMINATOR_SCORES", "SELECTION_THRESHOLD", "VAE_LOSS", "DISCRIMINATOR_LOSS",
           "STRATEGY_DATA_FIELDS", "discriminator_scores", "discriminator_losses", "CHANCE_DISCRIMINATOR_LOSS"]

DISCRIMINATOR_SCORES = "discriminator_scores"
"""``strategy_data`` key: the discriminator's ``D(mu, r)`` per candidate, in the candidates' order (eq. 9)."""
SELECTION_THRESHOLD = "selection_threshold"
"""``strategy_data`` key: the highest score chosen (``score <= threshold`` marks the chosen candidates)."""
VAE_LOSS = "vae_loss"
"""``strategy_data`` key: the VAE's loss per block of iterations (:func:`train_adversarial`)."""
DISCRIMINATOR_LOSS = "discriminator_loss"
"""``strategy_data`` key: the discriminator's loss per block of iterations."""
STRATEGY_DATA_FIELDS = {DISCRIMINATOR_SCORES: NUMBERS_OR_NULL, SELECTION_THRESHOLD: NUMBER_OR_NULL,
                        VAE_LOSS: NUMBERS_OR_NULL, DISCRIMINATOR_LOSS: NUMBERS_OR_NULL}
"""The VAAL family's ``strategy_data`` rules (:attr:`VAAL.data_fields`)."""


def discriminator_scores(record: Mapping[str, Any]) -> list[float | None] | None:
    """A stored cycle record's ``D(mu, r)`` per candidate, or None when it holds none: only the VAAL family
    keeps them (checked by :data:`STRATEGY_DATA_FIELDS`); another strategy's key of that name is not read."""
    scores = (record.get("strategy_data") or {}).get(DISCRIMINATOR_SCORES)
    return scores if scores and NUMBERS_OR_NULL.check(scores) else None


def discriminator_losses(record: Mapping[str, Any]) -> list[float | None] | None:
    """A stored cycle record's discriminator loss (eq. 8) per block of its VAE/D iterations, or None when it holds
    none (only the VAAL family keeps them, checked by :data:`STRATEGY_DATA_FIELDS`)."""
    losses = (record.get("strategy_data") or {}).get(DISCRIMINATOR_LOSS)
    return losses if losses and NUMBERS_OR_NULL.check(losses) else None


CHANCE_DISCRIMINATOR_LOSS = 2 * math.log(2)
"""Eq. 8's value for a discriminator that outputs 1/2 everywhere, one that cannot tell labeled from candidates:
``ln 2`` for each of its two binary cross-entropies."""

CHECK_EVERY = 500
"""Iterations between the host syncs that check the losses are finite."""


def transform_r(r: Tensor | None, how: str) -> Tensor | None:
    """The rank variable as a model input: ``sigmoid(r)`` or the raw Ranker output ``r``."""
    if r is None:
        return None
    return torch.sigmoid(r) if how == "sigmoid" else r


def _rows(values: Tensor | None, positions: Tensor) -> Tensor | None:
    """``values[positions]``, or None when there are no values (VAAL has no rank variable)."""
    return None if values is None else values[positions]


def cycling_batches(size: int, batch: int, iterations: int, generator: torch.Generator) -> Tensor:
    """``(iterations, batch)`` positions into a pool of ``size``: reshuffled passes, end to end.

    Every pass is a fresh permutation, so each position appears once per pass (the
    VAE's loaders shuffle, unlike the public code's); batches may straddle passes.
    """
    needed = iterations * batch
    passes = -(-needed // size)
    order = torch.cat([torch.randperm(size, generator=generator, device=generator.device) for _ in range(passes)])
    return order[:needed].view(iterations, batch)


def train_adversarial(
    vae: ConditionalVAE,
    discriminator: Discriminator,
    labeled_images: Tensor,
    unlabeled_images: Tensor,
    r_labeled: Tensor | None,
    r_unlabeled: Tensor | None,
    config: Config,
    augment,
    iterations: int,
    generator: torch.Generator,
    progress: bool = True,
    log_every: int = CHECK_EVERY,
    _static_steps: bool | None = None,
) -> dict[str, list[float]]:
    """Train the VAE (eqs. 6 + 7) and the discriminator (eq. 8): per iteration,
    ``config.num_vae_steps`` VAE steps on successive batches, then one discriminator step
    on the last of them (TA-VAAL's code takes one VAE step, VAAL's code two).

    ``labeled_images`` / ``unlabeled_images`` are uint8 on the device, shown
    un-augmented (as ``r`` was computed on them). ``r_*`` are the raw Ranker outputs
    (None for VAAL). The decoder gets ``transform_r(r, config.decoder_r)``, the
    discriminator ``transform_r(r, config.discriminator_r)``.

    Returns the mean losses of every block of ``log_every`` iterations (the last block
    may be shorter): ``vae`` (the VAE's whole objective, eq. 6 + weighted eq. 7),
    ``discriminator`` (eq. 8) and the VAE's terms, unweighted and summed over the
    labeled and the unlabeled batch: ``reconstruction`` (MSE), ``kl`` (KL to N(0, I),
    element mean) and ``adversarial`` (eq. 7); the VAE's values are means over an
    iteration's VAE steps. The host syncs once per block.

    The batch positions of every iteration, and the rank variable's values at them, are gathered
    before the first iteration into per-iteration tables. With ``Runtime.cuda_graphs`` a whole
    iteration (its VAE steps and the D step) is one replay of a captured graph that reads its rows of
    those tables through the device step counter (:mod:`tavaal_nb.cuda_graphs`); the reparameterisation
    noise comes from the default CUDA generator, which the capture registers, so each replay draws
    fresh noise. ``_static_steps`` (internal, for tests) forces that path, captured or not.
    """
    device = labeled_images.device
    runtime = Runtime.resolve(config, device)
    fused, capturable = runtime.fused, runtime.cuda_graphs
    vae_opt = torch.optim.Adam(vae.parameters(), lr=config.vae_lr, fused=fused, capturable=capturable)
    disc_opt = torch.optim.Adam(discriminator.parameters(), lr=config.disc_lr, fused=fused, capturable=capturable)
    vae_scaler, disc_scaler = runtime.grad_scaler(device), runtime.grad_scaler(device)
    batch = config.vae_batch_size
    vae_steps = config.num_vae_steps
    labeled_batches = cycling_batches(labeled_images.shape[0], min(batch, labeled_images.shape[0]),
                                      iterations * vae_steps, generator)
    unlabeled_batches = cycling_batches(unlabeled_images.shape[0], min(batch, unlabeled_images.shape[0]),
                                        iterations * vae_steps, generator)
    # Per iteration: its VAE steps' positions and the rank variable there as each model sees it,
    # the decoder's (eq. 6) and the discriminator's (eqs. 7-8) input; shape (iterations, vae_steps, batch, ...).
    tables = [labeled_batches, unlabeled_batches,
              _rows(transform_r(r_labeled, config.decoder_r), labeled_batches),
              _rows(transform_r(r_unlabeled, config.decoder_r), unlabeled_batches),
              _rows(transform_r(r_labeled, config.discriminator_r), labeled_batches),
              _rows(transform_r(r_unlabeled, config.discriminator_r), unlabeled_batches)]
    tables = [None if t is None else t.view(iterations, vae_steps, *t.shape[1:]) for t in tables]
    if log_every < 1:
        raise ValueError(f"log_every must be a positive number of iterations, got {log_every}")
    names = ("vae", "discriminator", "reconstruction", "kl", "adversarial")
    history: dict[str, list[float]] = {name: [] for name in names}
    tally = DeviceTally((len(names),), (2,), device)  # its step counter is the iteration
    block_start = 0
    vae.train()
    discriminator.train()

    def vae_step(labeled_batch: Tensor, unlabeled_batch: Tensor, decoder_r_l: Tensor | None,
                 decoder_r_u: Tensor | None, disc_r_l: Tensor | None,
                 disc_r_u: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """One VAE step (eq. 6 + weighted eq. 7) on one labeled and one unlabeled batch: the batches
        and the loss terms (whole objective, reconstruction, KL, adversarial), stacked."""
        x_l = runtime.batch(augment(labeled_images[labeled_batch]))
        x_u = runtime.batch(augment(unlabeled_images[unlabeled_batch]))
        with runtime.autocast(device):
            recon_l, _, mu_l, logvar_l = vae(x_l, decoder_r_l)
            recon_u, _, mu_u, logvar_u = vae(x_u, decoder_r_u)
            recon_l, mu_l, logvar_l = recon_l.float(), mu_l.float(), logvar_l.float()
            recon_u, mu_u, logvar_u = recon_u.float(), mu_u.float(), logvar_u.float()
            adversarial = vae_adversarial_loss(discriminator(mu_l, disc_r_l).float(),
                                               discriminator(mu_u, disc_r_u).float())
            vae_total = conditional_vae_loss(
                (x_l, recon_l, mu_l, logvar_l), (x_u, recon_u, mu_u, logvar_u), kl_weight=config.kl_weight,
            ) + config.adversarial_weight * adversarial
        with torch.no_grad():  # eq. 6's terms, for the history only (no extra host sync)
            reconstruction = F.mse_loss(recon_l, x_l.float()) + F.mse_loss(recon_u, x_u.float())
            kl = kl_divergence(mu_l, logvar_l) + kl_divergence(mu_u, logvar_u)
        vae_opt.zero_grad(set_to_none=True)
        vae_scaler.scale(vae_total).backward()
        vae_scaler.step(vae_opt)
        vae_scaler.update()
        return x_l, x_u, torch.stack([vae_total.detach(), reconstruction, kl, adversarial.detach()])

    def iteration(pick) -> None:
        """One iteration on ``pick(table)``, its rows of each table: the VAE steps, then the
        discriminator's step (eq. 8) on the last VAE step's batches; adds the losses to ``tally``."""
        rows = [None if table is None else pick(table) for table in tables]
        labeled_rows, unlabeled_rows = rows[0], rows[1]
        assert labeled_rows is not None and unlabeled_rows is not None  # only the rank variable's tables may be None
        vae_losses = torch.zeros(4, device=device)
        for k in range(vae_steps):
            x_l, x_u, terms = vae_step(labeled_rows[k], unlabeled_rows[k], *(None if r is None else r[k] for r in rows[2:]))
            vae_losses += terms
        vae_losses /= vae_steps
        disc_r_l, disc_r_u = (None if r is None else r[vae_steps - 1] for r in rows[4:])
        with torch.no_grad(), runtime.autocast(device):
            mu_l = vae.encode(x_l)[0]  # encoder only: the D step needs no decoder
            mu_u = vae.encode(x_u)[0]
        with runtime.autocast(device):
            disc_total = discriminator_loss(discriminator(mu_l, disc_r_l).float(),
                                            discriminator(mu_u, disc_r_u).float())
        disc_opt.zero_grad(set_to_none=True)
        disc_scaler.scale(disc_total).backward()
        disc_scaler.step(disc_opt)
        disc_scaler.update()
        losses = torch.stack([vae_losses[0], disc_total.detach(), *vae_losses[1:]])
        tally.add(losses, losses[:2])

    static = runtime.cuda_graphs if _static_steps is None else _static_steps
    graphed = GraphedStep(lambda: iteration(tally.row), runtime.cuda_graphs, device, "VAE/D iteration",
                          generators=[generator], optimizers=[vae_opt, disc_opt])
    bar = progress_bar(range(iterations), desc="VAE/D iterations", leave=False, disable=not progress, miniters=50)
    for it in bar:
        if static:
            graphed()
        else:
            iteration(lambda table, it=it: table[it])
        if (it + 1) % log_every == 0 or it + 1 == iterations:
            means, bad = fetch(tally.sums / (it + 1 - block_start), tally.first_bad)  # one host sync per block
            for name, step_number in zip(("conditional VAE", "discriminator"), bad):
                if step_number >= 0:
                    raise NonFiniteLossError(name, step_number, "VAE/discriminator phase")
            for name, value in zip(names, means):
                history[name].append(value)
            bar.set_postfix(vae=f"{means[0]:.3f}", d=f"{means[1]:.3f}")
            tally.sums.zero_()
            block_start = it + 1
    vae.eval()
    discriminator.eval()
    return history


@torch.no_grad()
def latent_means(vae: ConditionalVAE, images: Tensor, augment, batch_size: int,
                 runtime: Runtime | None = None) -> Tensor:
    """Eval-mode encoder means ``mu`` of un-augmented uint8 ``images``, float32."""
    vae.eval()
    runtime = runtime or Runtime.resolve(None, images.device)
    out = []
    for chunk in images.split(batch_size):
        with runtime.autocast(chunk.device):
            out.append(vae.encode(runtime.batch(augment(chunk)))[0].float())
    return torch.cat(out)


class VAAL(Strategy):
    """VAAL, and (as :class:`TAVAAL`) TA-VAAL: the rank variable ``r`` enters the VAE and the
    discriminator exactly when the strategy trains a Ranker."""

    name = "vaal"
    help = "VAAL (Sinha et al.): VAE + discriminator on the latent means, no rank variable"
    data_fields = STRATEGY_DATA_FIELDS

    def build(self, context: QueryContext) -> tuple[ConditionalVAE, Discriminator]:
        config, data = context.config, context.data
        r_dim = 1 if self.trains_ranker else 0
        vae = build_vae(config, data.channels, data.image_size, r_dim)
        disc = build_discriminator(config, r_dim)
        vae = vae.to(context.device).to(memory_format=context.runtime.memory_format)  # torch's stubs take not both at once
        maybe_compile(context.runtime, vae.encoder, vae.decoder)  # only with config.compile
        return vae, disc.to(context.device)

    def select(self, context: QueryContext) -> Selection:
        config, data = context.config, context.data
        images = data.train_images
        labeled_images, candidate_images = images[context.labeled], images[context.candidates]
        r_labeled = r_candidates = None
        if self.trains_ranker:
            # The rank variable: the frozen task model's Ranker on un-augmented images,
            # computed once per cycle (it cannot change while the task model is frozen).
            r_labeled = context.infer(context.labeled)["rank"]
            r_candidates = context.infer(context.candidates)["rank"]
        vae, disc = self.build(context)
        iterations = config.vae_iterations_for(context.labeled.numel(), context.candidates.numel())
        history = train_adversarial(
            vae, disc, labeled_images, candidate_images, r_labeled, r_candidates, config,
            context.augmenter, iterations, context.device_generator, context.progress,
        )
        mu_candidates = latent_means(vae, candidate_images, context.augmenter, config.eval_batch_size, context.runtime)
        mu_labeled = latent_means(vae, labeled_images, context.augmenter, config.eval_batch_size, context.runtime)
        d_r = transform_r(r_candidates, config.discriminator_r)
        with torch.no_grad():
            probability = torch.sigmoid(disc(mu_candidates, d_r).float())
        extras: dict[str, Any] = {
            "iterations": iterations,
            "loss_history": history,
            "mu_candidates": mu_candidates.cpu(),
            "mu_labeled": mu_labeled.cpu(),
        }
        if r_labeled is not None and r_candidates is not None:  # both or neither: TA-VAAL's rank variable
            extras["r_candidates"] = r_candidates.cpu()
            extras["r_labeled"] = r_labeled.cpu()
        # eq. 9: label the candidates the discriminator finds least like the labeled pool.
        selection = select_by_scores(context, probability, "lowest", extras=extras)
        selection.strategy_data = discriminator_record(selection, history)
        return selection


def discriminator_record(selection: Selection, history: dict[str, list[float]]) -> dict[str, Any]:
    """What the VAAL family keeps in the results file (a cycle record's ``strategy_data``): the
    discriminator's ``D(mu, r)`` per candidate (its selection scores, eq. 9), the highest score chosen
    (``selection_threshold``: ``score <= threshold`` marks the chosen candidates), and the VAE's and the
    discriminator's loss per block of iterations (:func:`train_adversarial`)."""
    scores = selection.scores
    chosen = scores[torch.isin(selection.candidates, selection.indices)]
    return {DISCRIMINATOR_SCORES: scores,
            SELECTION_THRESHOLD: float(chosen.max()) if chosen.numel() else None,
            VAE_LOSS: history["vae"], DISCRIMINATOR_LOSS: history["discriminator"]}


class TAVAAL(VAAL):
    name = "tavaal"
    help = "TA-VAAL (the paper): Ranker trained with eq. 4, its output r conditions the VAE and D"
    ranker_objective = "bce"
