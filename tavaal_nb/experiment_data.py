"""The data of a run: the configured dataset on the run's device (:func:`prepare_data`) and its training
augmentation (:func:`make_augmenter`). The loop, the noise floor, the upper bound, the bench and the notebooks
all start from these two."""

from __future__ import annotations

import torch

from tavaal_nb.config import Config
from tavaal_nb.data.augment import Augmenter
from tavaal_nb.data.datasets import ImageData, load_dataset

__all__ = ["prepare_data", "make_augmenter"]


def make_augmenter(config: Config, data: ImageData) -> Augmenter:
    """The training augmentation of ``data`` (pad-and-crop and flips where the dataset uses them)."""
    return Augmenter(data.mean, data.std, padding=config.crop_padding, flip=data.augment, crop=data.augment)


def prepare_data(config: Config, device: torch.device | None = None) -> ImageData:
    """The configured dataset, subset as configured, on the run's device."""
    device = device or config.resolved_device()
    try:
        data = load_dataset(config.dataset, config.data_dir, seed=config.seed,
                            train_limit=config.train_limit, test_limit=config.test_limit)
    except PermissionError as error:
        raise ValueError(f"the data directory cannot be read ({error.strerror or error}: "
                         f"{error.filename or config.data_dir}); fix its permissions or give another "
                         "--data-dir") from error
    return data.to(device)
