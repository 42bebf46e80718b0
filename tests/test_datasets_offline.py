"""The torchvision loading path, offline: tiny files in each dataset's real on-disk format.

The files are written the way the originals are laid out (CIFAR's Python-2 pickles, SVHN's
MATLAB files, Fashion-MNIST's IDX files), then read with ``load_dataset(..., download=False)``.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from torchvision import datasets as tv_datasets
from torchvision.datasets import cifar as tv_cifar

import tavaal_nb.data.datasets as datasets_module
from tavaal_nb.data import DatasetNotFoundError, load_dataset

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]


class Py2Pickler(pickle._Pickler):
    """Pickles like Python 2's cPickle did for CIFAR: text and bytes as Python-2 ``str`` opcodes.

    The real CIFAR files are Python-2 pickles: loaded with ``encoding="bytes"`` their keys
    are ``b'data'``, ``b'labels'``; with ``encoding="latin1"`` (what torchvision does) ``'data'``...
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def _py2_string(self, data: bytes, obj) -> None:
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    def save_text(self, obj, *_):
        self._py2_string(obj.encode("latin1"), obj)

    def save_raw(self, obj, *_):
        self._py2_string(obj, obj)

    dispatch[str] = save_text
    dispatch[bytes] = save_raw


def write_py2_pickle(path: Path, obj) -> None:
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    path.write_bytes(buffer.getvalue())


def random_images(count: int, seed: int, channels: int = 3, side: int = 32) -> np.ndarray:
    """(N, C, H, W) uint8."""
    return np.random.default_rng(seed).integers(0, 256, size=(count, channels, side, side), dtype=np.uint8)


@pytest.fixture
def skip_md5(monkeypatch):
    """torchvision checks the md5 sums of the official CIFAR/SVHN files; ours are tiny stand-ins.

    Only the checksum is bypassed: the classes' ``_check_integrity`` returns True, and the
    module-level ``check_integrity`` that CIFAR's ``_load_meta`` calls on ``batches.meta``
    (not the method) is reduced to "the file exists". Everything else is torchvision's own code.
    """
    monkeypatch.setattr(tv_datasets.CIFAR10, "_check_integrity", lambda self: True)  # CIFAR100 inherits it
    monkeypatch.setattr(tv_datasets.SVHN, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))


# ----------------------------------------------------------------------------- CIFAR-10


def write_cifar10(root: Path, per_batch: int = 4, test: int = 6):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_images, train_labels = [], []
    for k in range(1, 6):
        images = random_images(per_batch, seed=k)
        labels = [(k * 3 + i) % 10 for i in range(per_batch)]
        # a row is 3072 bytes: the red plane, then green, then blue, each row-major
        write_py2_pickle(folder / f"data_batch_{k}", {
            "batch_label": f"training batch {k} of 5",
            "labels": labels,
            "data": images.reshape(per_batch, 3072),
            "filenames": [f"img_{k}_{i}.png" for i in range(per_batch)],
        })
        train_images.append(images)
        train_labels += labels
    test_images = random_images(test, seed=99)
    test_labels = [(7 * i) % 10 for i in range(test)]
    write_py2_pickle(folder / "test_batch", {
        "batch_label": "testing batch 1 of 1", "labels": test_labels,
        "data": test_images.reshape(test, 3072), "filenames": [f"t_{i}.png" for i in range(test)],
    })
    write_py2_pickle(folder / "batches.meta", {"label_names": CIFAR10_NAMES, "num_cases_per_batch": per_batch,
                                               "num_vis": 3072})
    return np.concatenate(train_images), train_labels, test_images, test_labels


def test_our_cifar_files_have_the_real_keys(tmp_path):
    write_cifar10(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "rb") as handle:
        raw = pickle.load(handle, encoding="bytes")
    assert {b"data", b"labels", b"batch_label", b"filenames"} <= set(raw)
    with open(tmp_path / "cifar-10-batches-py" / "batches.meta", "rb") as handle:
        assert b"label_names" in pickle.load(handle, encoding="bytes")


def test_cifar10_offline(tmp_path, skip_md5):
    train_images, train_labels, test_images, test_labels = write_cifar10(tmp_path)
    data = load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert data.train_images.shape == (20, 3, 32, 32) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (6, 3, 32, 32)
    assert torch.equal(data.train_images, torch.from_numpy(train_images))
    assert torch.equal(data.test_images, torch.from_numpy(test_images))
    assert data.train_labels.tolist() == train_labels
    assert data.test_labels.tolist() == test_labels
    assert data.class_names == CIFAR10_NAMES
    assert data.augment is True


def test_cifar10_offline_subset(tmp_path, skip_md5):
    train_images, train_labels, _, _ = write_cifar10(tmp_path)
    data = load_dataset("cifar10", data_dir=tmp_path, download=False, train_limit=7, test_limit=3, seed=1)
    assert data.train_images.shape[0] == 7 and data.test_images.shape[0] == 3
    originals = [torch.from_numpy(img) for img in train_images]
    for image, label in zip(data.train_images, data.train_labels.tolist()):
        match = [k for k, original in enumerate(originals) if torch.equal(image, original)]
        assert len(match) == 1 and train_labels[match[0]] == label


# ----------------------------------------------------------------------------- CIFAR-100


def test_cifar100_offline(tmp_path, skip_md5):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    fine_names = [f"fine_{k:02d}" for k in range(100)]
    train_images, test_images = random_images(12, seed=1), random_images(5, seed=2)
    train_fine = [97, 3, 50, 0, 99, 12, 12, 64, 7, 88, 41, 23]
    test_fine = [5, 99, 0, 31, 76]
    for name, images, fine in (("train", train_images, train_fine), ("test", test_images, test_fine)):
        write_py2_pickle(folder / name, {
            "filenames": [f"{name}_{i}.png" for i in range(len(fine))], "batch_label": f"{name} batch",
            "fine_labels": fine, "coarse_labels": [f // 5 for f in fine], "data": images.reshape(len(fine), 3072),
        })
    write_py2_pickle(folder / "meta", {"fine_label_names": fine_names,
                                       "coarse_label_names": [f"coarse_{k}" for k in range(20)]})
    data = load_dataset("cifar100", data_dir=tmp_path, download=False)
    assert data.train_images.shape == (12, 3, 32, 32) and data.test_images.shape == (5, 3, 32, 32)
    assert torch.equal(data.train_images, torch.from_numpy(train_images))
    assert data.train_labels.tolist() == train_fine and data.test_labels.tolist() == test_fine
    assert data.class_names == fine_names and data.num_classes == 100


# ----------------------------------------------------------------------------- SVHN


def write_svhn(path: Path, images: np.ndarray, digits: list[int]) -> None:
    # SVHN format 2: X is (32, 32, 3, N) = (H, W, C, N); y is (N, 1) with the digit 0 stored as 10
    x = np.ascontiguousarray(images.transpose(2, 3, 1, 0))
    y = np.array([[10 if d == 0 else d] for d in digits], dtype=np.uint8)
    scipy.io.savemat(str(path), {"X": x, "y": y})


def test_svhn_offline(tmp_path, skip_md5):
    train_images, test_images = random_images(9, seed=3), random_images(4, seed=4)
    train_digits, test_digits = [0, 1, 2, 3, 4, 5, 9, 0, 7], [0, 8, 6, 0]
    write_svhn(tmp_path / "train_32x32.mat", train_images, train_digits)
    write_svhn(tmp_path / "test_32x32.mat", test_images, test_digits)
    stored = scipy.io.loadmat(str(tmp_path / "train_32x32.mat"))
    assert stored["X"].shape == (32, 32, 3, 9) and stored["y"][0, 0] == 10  # really stored as 10
    data = load_dataset("svhn", data_dir=tmp_path, download=False)
    assert data.train_images.shape == (9, 3, 32, 32) and data.train_images.dtype == torch.uint8
    assert torch.equal(data.train_images, torch.from_numpy(train_images))
    assert torch.equal(data.test_images, torch.from_numpy(test_images))
    assert data.train_labels.tolist() == train_digits  # 10 -> 0
    assert data.test_labels.tolist() == test_digits
    assert data.class_names == [str(d) for d in range(10)]


# ----------------------------------------------------------------------------- Fashion-MNIST


def idx_bytes(array: np.ndarray) -> bytes:
    # IDX: two zero bytes, type 0x08 (unsigned byte), number of dimensions, then each size as a
    # big-endian 32-bit integer, then the data in row-major order.
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("compressed", [False, True])
def test_fashion_mnist_offline(tmp_path, compressed):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train_images = rng.integers(0, 256, size=(11, 28, 28), dtype=np.uint8)
    test_images = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    train_labels = np.array([9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9], dtype=np.uint8)
    test_labels = np.array([4, 0, 9], dtype=np.uint8)
    files = {
        "train-images-idx3-ubyte": train_images, "train-labels-idx1-ubyte": train_labels,
        "t10k-images-idx3-ubyte": test_images, "t10k-labels-idx1-ubyte": test_labels,
    }
    for stem, array in files.items():
        content = idx_bytes(array)
        if compressed:
            (raw / f"{stem}.gz").write_bytes(gzip.compress(content))
        else:
            (raw / stem).write_bytes(content)
    # header of an image file: 4 bytes of magic + 3 sizes x 4 bytes = 16 bytes, then 11 x 28 x 28 pixels
    assert len(idx_bytes(train_images)) == 16 + 11 * 28 * 28
    assert idx_bytes(train_images)[:4] == b"\x00\x00\x08\x03" and idx_bytes(train_labels)[:4] == b"\x00\x00\x08\x01"
    data = load_dataset("fashion-mnist", data_dir=tmp_path, download=False)
    assert data.train_images.shape == (11, 1, 28, 28) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (3, 1, 28, 28)
    assert torch.equal(data.train_images[:, 0], torch.from_numpy(train_images))
    assert torch.equal(data.test_images[:, 0], torch.from_numpy(test_images))
    assert data.train_labels.tolist() == train_labels.tolist()
    assert data.test_labels.tolist() == test_labels.tolist()
    assert data.class_names == FASHION_NAMES
    assert data.augment is False  # the paper: normalisation only for Fashion-MNIST
    assert str(raw) in data.source


# ----------------------------------------------------------------------------- missing files


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "svhn", "fashion-mnist"])
def test_missing_files_without_download(tmp_path, monkeypatch, name):
    # Debian's Fashion-MNIST may be installed on this machine: point the fallback elsewhere.
    monkeypatch.setattr(datasets_module, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-files")
    empty = tmp_path / "empty data dir"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset(name, data_dir=empty, download=False)
    assert str(empty) in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(ValueError) as info:
        load_dataset("cifar11", download=False)
    for name in ("cifar10", "cifar100", "svhn", "fashion-mnist", "synthetic"):
        assert name in str(info.value)
