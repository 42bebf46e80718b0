"""The public code's pipeline, re-created for speed comparison only (``bench --baseline``).

What it re-creates (from reading the authors' code; none of it is copied): images go
through single-process PIL transforms in a ``DataLoader`` (``num_workers=0``), every
step runs in fp32 with default memory layout, the host syncs every step (``loss.item()``),
and in the VAE phase the frozen task model is re-run on both batches in every iteration
to get the rank variable ``r``. Models, batch sizes and step counts are ours, so the ratio
between :func:`tavaal_nb.bench.speed.run_bench` and :func:`run_baseline_bench` isolates the pipeline.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from tavaal_nb.config import Config
from tavaal_nb.data.datasets import ImageData
from tavaal_nb.losses import bce_ranking_loss, conditional_vae_loss, discriminator_loss, vae_adversarial_loss
from tavaal_nb.models import ConditionalVAE, Discriminator, LossPredictionModule, ResNet18
from tavaal_nb.training import synchronize

__all__ = ["PILDataset", "run_baseline_bench"]


class PILDataset(Dataset):
    """Images kept as a numpy HWC uint8 array, turned into PIL images one by one."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = self.images[index]
        image = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        return self.transform(image), int(self.labels[index])


def _transforms(data: ImageData, train: bool, padding: int):
    steps = []
    if train and data.augment:
        steps += [T.RandomCrop(data.image_size, padding=padding), T.RandomHorizontalFlip()]
    steps += [T.ToTensor(), T.Normalize(data.mean, data.std)]
    return T.Compose(steps)


def _loader(data: ImageData, indices: np.ndarray, train: bool, batch: int, padding: int, shuffle: bool) -> DataLoader:
    images = data.train_images.cpu().permute(0, 2, 3, 1).numpy()[indices]
    labels = data.train_labels.cpu().numpy()[indices]
    return DataLoader(PILDataset(images, labels, _transforms(data, train, padding)), batch_size=batch,
                      shuffle=shuffle, num_workers=0, drop_last=False)


def _forever(loader: DataLoader):
    """Pass after pass over ``loader``, each pass through PIL again (``itertools.cycle`` would replay
    the first pass's tensors and leave the PIL work out of every later step)."""
    while True:
        yield from loader


def run_baseline_bench(config: Config, data: ImageData, steps: int) -> dict[str, tuple[float, float, int]]:
    """Per phase ``(rate, seconds, work)`` of the re-created public pipeline on ``data`` (any device)."""
    device = config.resolved_device()
    torch.manual_seed(config.seed)
    n = data.train_size
    out: dict[str, tuple[float, float, int]] = {}
    padding = 4  # the public code pads 4 px

    # 1. task model + Ranker through a PIL DataLoader, fp32, a host sync per step.
    model = ResNet18(data.num_classes, data.channels, config.width).to(device)
    ranker = LossPredictionModule(model.stage_channels).to(device)
    optimizer = torch.optim.SGD(list(model.parameters()) + list(ranker.parameters()), lr=config.lr,
                                momentum=config.momentum, weight_decay=config.weight_decay)
    loader = _loader(data, np.arange(n), True, config.batch_size, padding, shuffle=True)

    def train_steps(count: int) -> int:
        seen = 0
        for x, y in itertools.islice(_forever(loader), count):
            x, y = x.to(device), y.to(device)
            logits, _, features = model(x)
            per_sample = F.cross_entropy(logits, y, reduction="none")
            even = (per_sample.numel() // 2) * 2
            loss = per_sample.mean() + config.ranker_weight * bce_ranking_loss(ranker(features)[:even], per_sample[:even])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()
            seen += x.shape[0]
        return seen

    model.train()
    train_steps(1)
    synchronize(device)
    tic = time.perf_counter()
    seen = train_steps(steps)
    synchronize(device)
    seconds = time.perf_counter() - tic
    out["task"] = (seen / seconds, seconds, seen)

    # 2. VAE + D, r recomputed by the task model in every iteration.
    vae = ConditionalVAE(data.channels, data.image_size, config.z_dim, 1, config.vae_width).to(device)
    disc = Discriminator(config.z_dim, 1, config.disc_hidden, config.disc_depth).to(device)
    vae_opt = torch.optim.Adam(vae.parameters(), lr=config.vae_lr)
    disc_opt = torch.optim.Adam(disc.parameters(), lr=config.disc_lr)
    half = n // 2
    labeled = _forever(_loader(data, np.arange(half), False, config.vae_batch_size, padding, shuffle=False))
    unlabeled = _forever(_loader(data, np.arange(half, n), False, config.vae_batch_size, padding, shuffle=False))
    model.eval()
    ranker.eval()

    def vae_steps(count: int) -> None:
        for _ in range(count):
            (x_l, _), (x_u, _) = next(labeled), next(unlabeled)
            x_l, x_u = x_l.to(device), x_u.to(device)
            with torch.no_grad():
                r_l = ranker(model(x_l)[2])
                r_u = ranker(model(x_u)[2])
            recon_l, _, mu_l, logvar_l = vae(x_l, torch.sigmoid(r_l))
            recon_u, _, mu_u, logvar_u = vae(x_u, torch.sigmoid(r_u))
            loss = conditional_vae_loss((x_l, recon_l, mu_l, logvar_l), (x_u, recon_u, mu_u, logvar_u)) \
                + vae_adversarial_loss(disc(mu_l, r_l), disc(mu_u, r_u))
            vae_opt.zero_grad()
            loss.backward()
            vae_opt.step()
            with torch.no_grad():
                _, _, mu_l, _ = vae(x_l, torch.sigmoid(r_l))
                _, _, mu_u, _ = vae(x_u, torch.sigmoid(r_u))
            d_loss = discriminator_loss(disc(mu_l, r_l), disc(mu_u, r_u))
            disc_opt.zero_grad()
            d_loss.backward()
            disc_opt.step()
            loss.item()
            d_loss.item()

    vae.train()
    disc.train()
    vae_steps(1)
    synchronize(device)
    tic = time.perf_counter()
    vae_steps(steps)
    synchronize(device)
    seconds = time.perf_counter() - tic
    out["vae"] = (steps / seconds, seconds, steps)

    # 3. scoring through a DataLoader, fp32.
    score_loader = _loader(data, np.arange(n), False, config.vae_batch_size, padding, shuffle=False)

    @torch.no_grad()
    def score() -> int:
        count = 0
        for x, _ in score_loader:
            x = x.to(device)
            r = ranker(model(x)[2])
            mu = vae.encode(x)[0]
            torch.sigmoid(disc(mu, r)).cpu()
            count += x.shape[0]
        return count

    vae.eval()
    disc.eval()
    synchronize(device)
    tic = time.perf_counter()
    count = score()
    synchronize(device)
    seconds = time.perf_counter() - tic
    out["scoring"] = (count / seconds, seconds, count)
    return out
