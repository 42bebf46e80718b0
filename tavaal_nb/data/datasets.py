"""Datasets by name: torchvision's CIFAR-10/100, SVHN and Fashion-MNIST, their imbalanced
variants, and a synthetic set. Every dataset ends up as uint8 tensors on the run's device."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torchvision import datasets

from tavaal_nb.data.imbalance import IMBALANCE_PROFILES, apply_imbalance
from tavaal_nb.data.synthetic import make_synthetic_images
from tavaal_nb.names import safe_name

__all__ = [
    "ImageData",
    "DatasetSpec",
    "channel_statistics",
    "DATASETS",
    "DatasetNotFoundError",
    "DatasetFileError",
    "read_idx",
    "DEBIAN_FASHION_MNIST",
    "default_data_dir",
    "load_dataset",
]

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the real Fashion-MNIST files."""

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are missing and could not be downloaded."""


def default_data_dir() -> Path:
    """``$TAVAAL_DATA`` if set, else ``~/.cache/tavaal_nb/data``."""
    return Path(os.environ.get("TAVAAL_DATA", Path.home() / ".cache" / "tavaal_nb" / "data")).expanduser()


def channel_statistics(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation (floored at 1e-3) of uint8 ``(N, C, H, W)`` images in [0, 1].

    One channel is converted to float32 at a time, so the transient copy is a third of the
    whole set's for RGB (200 MB instead of 600 MB for 50k 32x32 images). The standard
    deviations, and both statistics of a one-channel set, are bit for bit those of a
    reduction over the whole float copy; an RGB mean may differ from it in the last bit.
    """
    means, stds = [], []
    for channel in range(images.shape[1]):
        values = images[:, channel : channel + 1].float().div_(255.0)
        means.append(float(values.mean()))
        stds.append(float(values.std().clamp_min(1e-3)))
        del values
    return tuple(means), tuple(stds)


@dataclass
class ImageData:
    """A train pool and a test set as uint8 ``(N, C, H, W)`` tensors with integer labels."""

    name: str
    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    class_names: list[str]
    augment: bool
    source: str
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.train_images.dtype != torch.uint8 or self.train_images.ndim != 4:
            raise ValueError("train_images must be a uint8 tensor of shape (N, C, H, W)")
        if self.train_images.shape[0] != self.train_labels.shape[0]:
            raise ValueError("train_images and train_labels differ in length")
        if not self.mean:
            self.mean, self.std = channel_statistics(self.train_images)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def train_size(self) -> int:
        return int(self.train_labels.shape[0])

    @property
    def channels(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_images.shape[-1])

    def class_counts(self) -> list[int]:
        return torch.bincount(self.train_labels.cpu(), minlength=self.num_classes).tolist()

    def to(self, device: torch.device | str) -> ImageData:
        """The same data on ``device`` (images stay uint8)."""
        return replace(
            self,
            train_images=self.train_images.to(device),
            train_labels=self.train_labels.to(device),
            test_images=self.test_images.to(device),
            test_labels=self.test_labels.to(device),
        )

    def subset(self, train_limit: int | None, test_limit: int | None, seed: int) -> ImageData:
        """A random, seeded subset of at most ``train_limit`` / ``test_limit`` images (None: all)."""
        generator = torch.Generator().manual_seed(int(seed) + 7919)
        out = self
        if train_limit is not None and train_limit < self.train_size:
            keep = torch.sort(torch.randperm(self.train_size, generator=generator)[:train_limit]).values
            keep = keep.to(self.train_labels.device)
            out = replace(out, train_images=out.train_images[keep], train_labels=out.train_labels[keep])
        if test_limit is not None and test_limit < self.test_labels.shape[0]:
            keep = torch.sort(torch.randperm(int(self.test_labels.shape[0]), generator=generator)[:test_limit]).values
            keep = keep.to(self.test_labels.device)
            out = replace(out, test_images=out.test_images[keep], test_labels=out.test_labels[keep])
        return out

    def describe(self) -> dict:
        """The ``dataset`` record of a results file."""
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "train_size": self.train_size,
            "test_size": int(self.test_labels.shape[0]),
            "class_counts": self.class_counts(),
            "image_shape": list(self.train_images.shape[1:]),
            "source": self.source,
        }


Loader = Callable[[Path, bool, int, "int | None", "int | None"], ImageData]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset name, one line of help, how to load it, and its paper-preset adjustments."""

    name: str
    help: str
    loader: Loader
    paper_overrides: dict = field(default_factory=dict)

    def __post_init__(self) -> None:  # a dataset name becomes a folder of a sweep: one path component
        safe_name("dataset", self.name)


def _missing(name: str, root: Path, expected: str, error: Exception | None) -> DatasetNotFoundError:
    why = f" (download failed: {error})" if error else ""
    return DatasetNotFoundError(
        f"{name} was not found under {root} and could not be downloaded{why}. "
        f"Put {expected} there (or set --data-dir / TAVAAL_DATA to where they are), or run once with internet."
    )


def _torchvision(factory: Callable[..., object], name: str, root: Path, download: bool, expected: str, **kwargs):
    """Open a torchvision dataset, downloading it when allowed and missing."""
    try:
        return factory(root=str(root), download=False, **kwargs)
    except RuntimeError as first:
        if not download:
            raise _missing(name, root, expected, None) from first
    try:
        return factory(root=str(root), download=True, **kwargs)
    except Exception as error:  # network errors come in many types (URLError, OSError, HTTPError...)
        raise _missing(name, root, expected, error) from error


def _nhwc_to_tensor(array: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).contiguous()


def _load_cifar(name: str, hundred: bool) -> Loader:
    def load(root: Path, download: bool, seed: int, train_limit: int | None, test_limit: int | None) -> ImageData:
        factory = datasets.CIFAR100 if hundred else datasets.CIFAR10
        folder = "cifar-100-python" if hundred else "cifar-10-batches-py"
        expected = f"the extracted '{folder}' folder of the official python-version archive"
        train = _torchvision(factory, name, root, download, expected, train=True)
        test = _torchvision(factory, name, root, download, expected, train=False)
        return ImageData(
            name=name,
            train_images=_nhwc_to_tensor(train.data),
            train_labels=torch.as_tensor(train.targets, dtype=torch.long),
            test_images=_nhwc_to_tensor(test.data),
            test_labels=torch.as_tensor(test.targets, dtype=torch.long),
            class_names=list(train.classes),
            augment=True,
            source=f"torchvision:{root / folder}",
        ).subset(train_limit, test_limit, seed)

    return load


def _load_svhn(root: Path, download: bool, seed: int, train_limit: int | None, test_limit: int | None) -> ImageData:
    expected = "train_32x32.mat and test_32x32.mat (SVHN format 2)"
    train = _torchvision(datasets.SVHN, "svhn", root, download, expected, split="train")
    test = _torchvision(datasets.SVHN, "svhn", root, download, expected, split="test")
    return ImageData(
        name="svhn",
        train_images=torch.from_numpy(np.ascontiguousarray(train.data)),
        train_labels=torch.as_tensor(train.labels, dtype=torch.long),
        test_images=torch.from_numpy(np.ascontiguousarray(test.data)),
        test_labels=torch.as_tensor(test.labels, dtype=torch.long),
        class_names=[str(digit) for digit in range(10)],
        augment=True,
        source=f"torchvision:{root}",
    ).subset(train_limit, test_limit, seed)


class DatasetFileError(ValueError):
    """A dataset file that is there but cannot be used (corrupt, truncated, of another kind): the message names it."""


IDX_DIMENSIONS = range(1, 5)
"""The IDX files' numbers of dimensions this reader takes (MNIST-like sets: 1 for labels, 3 for images)."""


def read_idx(path: Path) -> Tensor:
    """Read an IDX file (the MNIST format), gzipped or not, as a uint8 tensor.

    Raises :class:`DatasetFileError` naming ``path`` and what is wrong: not gzip (for a ``.gz``), a truncated gzip
    stream, a header that is not an unsigned-byte IDX one, or fewer/more data bytes than the header says.
    """
    path = Path(path)
    gzipped = path.suffix == ".gz"
    try:
        if gzipped:
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
    except gzip.BadGzipFile:
        raise DatasetFileError(f"{path} is not a gzip file (a .gz IDX file must be gzip-compressed); replace it with "
                               "a fresh download") from None
    except (EOFError, zlib.error) as error:
        raise DatasetFileError(f"{path} is a truncated or corrupt gzip file ({error}); replace it with a fresh "
                               "download") from None
    except OSError as error:
        raise DatasetFileError(f"{path} cannot be read ({error.strerror or error})") from None
    if len(raw) < 4:
        raise DatasetFileError(f"{path} is too short for an IDX file ({len(raw)} bytes; the header alone is 8 or more)")
    magic = int.from_bytes(raw[0:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in IDX_DIMENSIONS:
        hint = " (it looks gzip-compressed: name it .gz)" if raw[:2] == b"\x1f\x8b" else ""
        raise DatasetFileError(f"{path} is not an unsigned-byte IDX file: its magic number is {magic:#010x}, an IDX "
                               f"file of bytes starts 0x000008 followed by 1..4 dimensions{hint}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFileError(f"{path} is cut short inside its IDX header ({len(raw)} of {header} bytes)")
    shape = [int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim)]
    expected = math.prod(shape)
    if len(raw) - header != expected:
        raise DatasetFileError(f"{path} holds {len(raw) - header} bytes of data but its IDX header says "
                               f"{' x '.join(map(str, shape))} = {expected}"
                               + (" (the file is truncated)" if len(raw) - header < expected else ""))
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    return torch.from_numpy(data.copy()).reshape(shape)


def _check_idx_pair(images: Tensor, labels: Tensor, image_path: Path, label_path: Path, classes: int,
                    size: tuple[int, int]) -> None:
    """Images ``(N, H, W)`` of ``size`` and ``N`` labels below ``classes``, else :class:`DatasetFileError`."""
    if images.ndim != 3 or tuple(images.shape[1:]) != size:
        raise DatasetFileError(f"{image_path} holds images of shape {tuple(images.shape)}; expected (N, {size[0]}, "
                               f"{size[1]})")
    if labels.ndim != 1:
        raise DatasetFileError(f"{label_path} holds labels of shape {tuple(labels.shape)}; expected one label per "
                               "image (N,)")
    if labels.shape[0] != images.shape[0]:
        raise DatasetFileError(f"{label_path} has {labels.shape[0]} labels but {image_path} has {images.shape[0]} "
                               "images; the two files must come from the same release")
    if labels.numel() and int(labels.max()) >= classes:
        raise DatasetFileError(f"{label_path} has label {int(labels.max())}; labels must lie in 0..{classes - 1}")


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _load_fashion_mnist(root: Path, download: bool, seed: int, train_limit: int | None, test_limit: int | None) -> ImageData:
    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    for folder in (root / "FashionMNIST" / "raw", DEBIAN_FASHION_MNIST):
        paths = [_find_idx(folder, stem) for stem in stems]
        if all(paths):
            tensors = [read_idx(path) for path in paths]  # type: ignore[arg-type]
            for k in (0, 2):
                _check_idx_pair(tensors[k], tensors[k + 1], paths[k], paths[k + 1],  # type: ignore[arg-type]
                                len(FASHION_MNIST_CLASSES), (28, 28))
            source = f"idx:{folder}"
            break
    else:
        expected = f"the four IDX files ({', '.join(stems)}, optionally .gz) in {root / 'FashionMNIST' / 'raw'}"
        train = _torchvision(datasets.FashionMNIST, "fashion-mnist", root, download, expected, train=True)
        test = _torchvision(datasets.FashionMNIST, "fashion-mnist", root, download, expected, train=False)
        tensors = [train.data, train.targets, test.data, test.targets]
        source = f"torchvision:{root / 'FashionMNIST'}"
    train_images, train_labels, test_images, test_labels = tensors
    return ImageData(
        name="fashion-mnist",
        train_images=train_images.reshape(-1, 1, 28, 28).contiguous(),
        train_labels=train_labels.long(),
        test_images=test_images.reshape(-1, 1, 28, 28).contiguous(),
        test_labels=test_labels.long(),
        class_names=list(FASHION_MNIST_CLASSES),
        augment=False,  # the paper: "Normalization only was applied for Fashion MNIST"
        source=source,
    ).subset(train_limit, test_limit, seed)


def _load_synthetic(channels: int, size: int, name: str) -> Loader:
    def load(root: Path, download: bool, seed: int, train_limit: int | None, test_limit: int | None) -> ImageData:
        train_count = train_limit or 50_000
        test_count = test_limit or 10_000
        images, labels = make_synthetic_images(train_count + test_count, channels=channels, size=size, seed=seed)
        return ImageData(
            name=name,
            train_images=images[:train_count],
            train_labels=labels[:train_count],
            test_images=images[train_count:],
            test_labels=labels[train_count:],
            class_names=[f"pattern {k}" for k in range(10)],
            augment=True,
            source="synthetic",
        )

    return load


def _imbalanced(base: DatasetSpec, suffix: str, profile: str) -> DatasetSpec:
    def load(root: Path, download: bool, seed: int, train_limit: int | None, test_limit: int | None) -> ImageData:
        data = base.loader(root, download, seed, None, test_limit)
        keep = apply_imbalance(data.train_labels, profile, seed=seed)
        data = replace(
            data,
            name=f"{base.name}-imb-{suffix}",
            train_images=data.train_images[keep],
            train_labels=data.train_labels[keep],
            mean=(),
            std=(),
        )
        return data.subset(train_limit, None, seed)

    return DatasetSpec(
        name=f"{base.name}-imb-{suffix}",
        help=f"{base.name} train pool cut to the '{profile}' class counts; balanced test set",
        loader=load,
        paper_overrides={"cycles": 5},
    )


_BASE = [
    DatasetSpec("cifar10", "CIFAR-10, 50k train / 10k test, 32x32 RGB (torchvision)", _load_cifar("cifar10", False)),
    DatasetSpec(
        "cifar100", "CIFAR-100, 50k / 10k, 32x32 RGB; paper: 2,000 initial and 2,000 per cycle (torchvision)",
        _load_cifar("cifar100", True), paper_overrides={"initial": 2000, "budget": 2000},
    ),
    DatasetSpec("svhn", "SVHN, 73,257 train / 26,032 test, 32x32 RGB (torchvision)", _load_svhn),
    DatasetSpec(
        "fashion-mnist", "Fashion-MNIST, 60k / 10k, 28x28 grey (Debian's dataset-fashion-mnist or torchvision)",
        _load_fashion_mnist,
    ),
]
_PROFILE_SUFFIX = {"entropy-1.65": "1.65", "entropy-1.89": "1.89", "entropy-2.11": "2.11", "official-100x": "official"}

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in _BASE}
for _base in (DATASETS["cifar10"], DATASETS["fashion-mnist"]):
    for _profile, _suffix in _PROFILE_SUFFIX.items():
        _spec = _imbalanced(_base, _suffix, _profile)
        DATASETS[_spec.name] = _spec
DATASETS["synthetic"] = DatasetSpec(
    "synthetic", "procedural 10-class gratings, 32x32 RGB, made in memory (size = pool/test limits)",
    _load_synthetic(3, 32, "synthetic"),
)
DATASETS["synthetic-grey"] = DatasetSpec(
    "synthetic-grey", "procedural 10-class gratings, 28x28 grey, made in memory", _load_synthetic(1, 28, "synthetic-grey"),
)
assert set(_PROFILE_SUFFIX) == set(IMBALANCE_PROFILES)


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    download: bool = True,
    seed: int = 0,
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> ImageData:
    """Load a dataset by name (see :data:`DATASETS`) as uint8 tensors on the CPU.

    ``train_limit`` / ``test_limit`` keep a seeded random subset (for small presets);
    for ``synthetic`` they set how many images are made (default 50k / 10k).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    root = Path(data_dir).expanduser() if data_dir else default_data_dir()
    return DATASETS[name].loader(root, download, seed, train_limit, test_limit)
