"""The named presets (``paper``, ``authors-code``, ``cpu``, ``ci``, ``auto``): each value beside its source.

Plain data and the name lookups; :func:`tavaal_nb.config.make_config` builds a
:class:`~tavaal_nb.config.Config` from them. This module imports nothing of the package.
"""

from __future__ import annotations

import os
from typing import Any

import torch

__all__ = ["PRESETS", "PRESET_HELP", "default_preset", "resolve_preset", "authors_code_adjustments"]


# Where each preset value comes from, beside the value. "sec. N" is a section of Kim et al. (2021);
# "code" is the authors' public TA-VAAL code, used where the paper is silent (its defects are never
# copied); "ours" is a choice of this package, with its reason. docs/settings.md has the same in a table.
_PAPER: dict[str, Any] = {
    # Config's defaults, written out so each says where it comes from (tests/test_presets.py keeps the two equal).
    "trials": 5,                # sec. 5.1: every curve is the mean of 5 trials
    "cycles": 10,               # sec. 5.1: 1k..10k labeled (the imbalanced sets' 5 cycles: data.datasets, sec. 5.5)
    "initial": 1000,            # sec. 5.1: 1,000 random initial labels
    "budget": 1000,             # sec. 5.1: +1,000 per query (CIFAR-100's 2,000: data.datasets, code)
    "subset": 10_000,           # sec. 5.1: a random 10,000 of the unlabeled pool is scored ("subset method")
    "width": 64,                # sec. 5.3 and code: CIFAR ResNet-18, stages 64/128/256/512
    "epochs": 200,              # sec. 5.3
    "milestones": (160,),       # sec. 5.3: lr x0.1 after epoch 160
    "lr": 0.1,                  # sec. 5.3
    "momentum": 0.9,            # sec. 5.3
    "weight_decay": 0.005,      # sec. 5.3 (the code uses 5e-4: see authors-code)
    "batch_size": 128,          # sec. 5.3
    "crop_padding": 2,          # sec. 5.3: random 32x32 crops of the 36x36 zero-padded image (code: 4 px)
    "ranker_weight": 1.0,       # code: eta of eq. 5 (paper silent)
    "ranker_detach_epoch": 121,  # code: the Ranker's input is detached when epoch > 120, i.e. from epoch 121 on
                                 # (79 of 200 epochs; paper silent)
    "ranker_margin": 1.0,       # Learning Loss (Yoo & Kweon): eq. 1's margin, for lloss and vaal-lloss
    "vae_width": 128,           # code: encoder channels 128..1024 (paper: "modified WAE", no sizes)
    "z_dim": 32,                # code (paper silent)
    "vae_lr": 5e-4,             # sec. 5.3: Adam 5e-4 for the VAE ...
    "disc_lr": 5e-4,            # sec. 5.3: ... and for the discriminator
    "vae_batch_size": 128,      # sec. 5.3
    "vae_epochs": 100.0,        # code: int((labeled + candidates) * 100 / 128) VAE/D iterations per query
    "vae_iterations": None,     # ours: None means "from vae_epochs"; set to fix the count (small presets)
    "num_vae_steps": 1,         # code: one VAE step per discriminator step (VAAL's own code takes 2: an option)
    "kl_weight": 1.0,           # code: lambda of eq. 6 (paper silent)
    "adversarial_weight": 1.0,  # code: weight of eq. 7 in the VAE's objective (paper silent)
    "disc_depth": 3,            # code: Linear-ReLU-Linear-ReLU-Linear, what the authors ran (sec. 5.3's "5-layer
                                # MLP" counts the five modules; depth 5 = five Linear layers remains an option)
    "adversarial_init": "kaiming",  # code: Kaiming-normal weights, zero biases in the VAE and D ("pytorch": defaults)
    "vae_layout": "padded",     # ours: 28x28 images padded to 32 inside the VAE ("authors": the code's 28x28 build)
    "disc_hidden": 512,         # code (paper silent)
    "decoder_r": "sigmoid",     # code: the decoder gets sigmoid(r) (paper silent)
    "discriminator_r": "raw",   # code: the discriminator gets the raw Ranker output r (paper silent)
    "train_limit": None,        # sec. 5.1: the whole training set is the pool
    "test_limit": None,         # sec. 5.1: the whole test set
    "allow_tf32": True,         # ours: TF32 matmuls on CUDA for speed (authors-code turns it off)
    "retrain_plain": False,     # ours: Fig. 4's plain retraining (sec. 6.1) only when asked, it doubles training
    "min_steps": 0,             # sec. 5.3: 200 epochs at every size (the paper fixes epochs, not steps)
    "seeding": "shared",        # ours: common random numbers across methods (the code seeds nothing; docs/settings.md)
}
PRESETS: dict[str, dict[str, Any]] = {
    "paper": _PAPER,
    "authors-code": {  # the paper preset, with the public code's value wherever the two disagree
        "weight_decay": 5e-4,   # code (sec. 5.3 says 0.005)
        "crop_padding": 4,      # code: 40x40 padded crops (sec. 5.3 says 36x36)
        "vae_layout": "authors",  # code: Fashion-MNIST's VAE built for 28x28 (z = 28: authors_code_adjustments)
        # code's numerics: fp32 everywhere, TF32 off, default memory layout, plain optimizers
        "precision": "fp32", "memory_format": "contiguous", "fused_optimizers": "off", "allow_tf32": False,
        "cuda_graphs": "off",   # ours: eager steps and plain Adam, as the code ran (graphs need capturable Adam)
    },
    "cpu": {  # ours: a whole run in minutes on a 2-core CPU (Binder); the paper's structure, smaller
        "trials": 1,            # ours: one trial; add --trials for error bars
        "cycles": 5,            # ours: five queries show the curves' shape
        "initial": 200,         # ours: 1/5 of the paper's sizes, so the labeled set stays a small share of the pool
        "budget": 200,          # ours: as initial
        "subset": 1500,         # ours: the candidates scored per query, the VAE/D phase's main cost
        "width": 16,            # ours: a quarter of the paper's ResNet-18 widths (~1/16 of its compute)
        "epochs": 12,           # ours: enough for the small task model to fit 200..1,000 images
        "milestones": (10,),    # ours: lr x0.1 at 10/12 of training, the paper's 160/200 rounded
        "ranker_detach_epoch": 7,  # ours: detached from epoch 7 on (5 of 12 epochs), near the code's 79 of 200
        "batch_size": 64,       # ours: keeps several steps per epoch on 200 images
        "min_steps": 250,       # ours: at least 250 SGD steps per cycle (200 images: 63 epochs, not 12), measured:
                                # replicate sd at 200 labels 8.3 -> ~2 points (docs/settings.md, results/cpu-crn/)
        "vae_width": 16,        # ours: a small VAE, as for the task model
        "z_dim": 16,            # ours: half the code's 32 for the small VAE
        "vae_batch_size": 64,   # ours: as batch_size
        "vae_epochs": 5.0,      # ours: 5 passes instead of the code's 100 (the VAE/D phase dominates on a CPU)
        "disc_hidden": 128,     # ours: a quarter of the code's 512
        "test_limit": 5000,     # ours: half the test set; the sampling error of an accuracy stays under 0.71 points
        "eval_batch_size": 128,  # ours: memory; a 2-cycle run peaks at 1.04 GB, 1.23 GB at 500 (docs/benchmarks.md)
        "disc_depth": 5,        # ours: kept from before the paper preset matched the code, so records stay
        "adversarial_init": "pytorch",  # ours: as disc_depth
    },
    "ci": {  # ours: the smallest run that still exercises every code path (tests, notebook checks)
        "trials": 1,            # ours: one trial
        "cycles": 3,            # ours: three cycles, so a query follows a query and resume has a middle
        "initial": 20,          # ours: tiny labeled sets
        "budget": 20,           # ours: as initial
        "subset": 100,          # ours: fewer candidates than the unlabeled pool, so the subset path runs
        "width": 4,             # ours: the narrowest ResNet-18 that runs
        "epochs": 2,            # ours: two epochs, so the Ranker's detached epoch is reached
        "milestones": (2,),     # ours: no lr step inside two epochs
        "ranker_detach_epoch": 1,  # ours: epoch 1 runs with detached features
        "batch_size": 16,       # ours: several steps per epoch on 20..60 images
        "vae_width": 4,         # ours: tiny VAE
        "z_dim": 4,             # ours: tiny latent
        "vae_batch_size": 16,   # ours: as batch_size
        "vae_iterations": 4,    # ours: a fixed, tiny VAE/D iteration count
        "disc_hidden": 16,      # ours: tiny discriminator
        "train_limit": 400,     # ours: a pool of 400 images
        "test_limit": 100,      # ours: 100 test images
        "eval_batch_size": 128,  # ours: modest memory; every ci inference fits in one or two batches
        "disc_depth": 5,        # ours: kept from before the paper preset matched the code, so records stay
        "adversarial_init": "pytorch",  # ours: as disc_depth
    },
}
PRESET_HELP = {
    "paper": "the paper's settings (ResNet-18, 200 epochs, 10k candidates, 1k..10k labeled); for GPUs",
    "authors-code": "as paper, with the public code's values where they differ (wd 5e-4, 4 px crop pad, fp32 "
                    "without TF32, Fashion-MNIST's 28x28 VAE with z = 28)",
    "cpu": "small widths and sizes: a 5-cycle run in minutes on a 2-core CPU (what Binder gets)",
    "ci": "the smallest run that still exercises every code path (tests and notebook checks)",
    "auto": "paper on CUDA, cpu otherwise",
}


def default_preset() -> str:
    """``$TAVAAL_PRESET`` if set (validated), else ``auto``."""
    name = os.environ.get("TAVAAL_PRESET", "auto")
    if name not in PRESET_HELP:
        raise ValueError(f"TAVAAL_PRESET={name!r} is not a preset; valid: {', '.join(PRESET_HELP)}")
    return name


def resolve_preset(name: str | None = None) -> str:
    """The concrete preset a name stands for (``auto`` and ``None`` are resolved)."""
    name = default_preset() if name is None else name
    if name not in PRESET_HELP:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESET_HELP)}")
    if name == "auto":
        return "paper" if torch.cuda.is_available() else "cpu"
    return name


def authors_code_adjustments(dataset: str) -> dict[str, Any]:
    """What the public code changes for a dataset beyond the paper's adjustments: Fashion-MNIST
    (and its imbalanced pools) get a VAE latent and a discriminator input of 28, not 32."""
    return {"z_dim": 28} if dataset.split("-imb-")[0] == "fashion-mnist" else {}
