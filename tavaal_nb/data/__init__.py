"""Data: named datasets as uint8 tensors, imbalance profiles, on-device augmentation, the active pool."""

from tavaal_nb.data.augment import Augmenter
from tavaal_nb.data.datasets import (
    DATASETS,
    DEBIAN_FASHION_MNIST,
    DatasetNotFoundError,
    DatasetSpec,
    ImageData,
    default_data_dir,
    load_dataset,
)
from tavaal_nb.data.imbalance import IMBALANCE_PROFILES, apply_imbalance, imbalance_counts
from tavaal_nb.data.pool import ActivePool
from tavaal_nb.data.synthetic import make_synthetic_images

__all__ = [
    "ActivePool",
    "Augmenter",
    "DATASETS",
    "DEBIAN_FASHION_MNIST",
    "DatasetNotFoundError",
    "DatasetSpec",
    "IMBALANCE_PROFILES",
    "ImageData",
    "apply_imbalance",
    "default_data_dir",
    "imbalance_counts",
    "load_dataset",
    "make_synthetic_images",
]
