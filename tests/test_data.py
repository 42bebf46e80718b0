"""Data: imbalance profiles, the synthetic set, on-device augmentation, the active pool."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from tavaal_nb.data import (
    IMBALANCE_PROFILES,
    ActivePool,
    Augmenter,
    apply_imbalance,
    load_dataset,
    make_synthetic_images,
)

# ----------------------------------------------------------------------------- imbalance


@pytest.fixture(scope="module")
def cifar_like_labels():
    """50,000 labels, 5,000 per class, shuffled (the shape of CIFAR-10's train set)."""
    labels = torch.arange(10).repeat(5000)
    return labels[torch.randperm(labels.numel(), generator=torch.Generator().manual_seed(3))]


@pytest.mark.parametrize("profile", sorted(IMBALANCE_PROFILES))
def test_apply_imbalance_gives_the_profile_counts(cifar_like_labels, profile):
    keep = apply_imbalance(cifar_like_labels, profile, seed=0)
    kept = keep.tolist()
    assert len(set(kept)) == len(kept), "an image was kept twice"
    assert kept == sorted(kept)
    tally = Counter(cifar_like_labels[keep].tolist())
    assert [tally[c] for c in range(10)] == list(IMBALANCE_PROFILES[profile])


def test_apply_imbalance_explicit_counts():
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])  # 4 zeros, 3 ones, 3 twos
    keep = apply_imbalance(labels, [2, 0, 3], seed=5)
    assert sorted(labels[keep].tolist()) == [0, 0, 2, 2, 2]


def test_apply_imbalance_is_seeded(cifar_like_labels):
    a = apply_imbalance(cifar_like_labels, "entropy-1.65", seed=1)
    b = apply_imbalance(cifar_like_labels, "entropy-1.65", seed=1)
    c = apply_imbalance(cifar_like_labels, "entropy-1.65", seed=2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_apply_imbalance_names_the_class_that_is_too_small():
    labels = torch.arange(10).repeat(4000)  # 4,000 per class; entropy-1.65 asks 5,000 of class 3
    with pytest.raises(ValueError) as info:
        apply_imbalance(labels, "entropy-1.65")
    message = str(info.value)
    assert "class 3" in message and "4000" in message and "5000" in message


def test_apply_imbalance_rejects_unknown_profile(cifar_like_labels):
    with pytest.raises(ValueError, match="entropy-1.65"):
        apply_imbalance(cifar_like_labels, "entropy-9.99")


# ----------------------------------------------------------------------------- synthetic


@pytest.mark.parametrize("name,channels,side", [("synthetic", 3, 32), ("synthetic-grey", 1, 28)])
def test_synthetic_dataset_shapes(name, channels, side):
    data = load_dataset(name, seed=0, train_limit=120, test_limit=30)
    assert data.train_images.shape == (120, channels, side, side)
    assert data.test_images.shape == (30, channels, side, side)
    assert data.train_images.dtype == torch.uint8 and data.test_images.dtype == torch.uint8
    assert data.train_labels.shape == (120,) and data.num_classes == 10
    assert set(data.train_labels.tolist()) <= set(range(10))
    assert len(data.mean) == len(data.std) == channels


@pytest.mark.parametrize("channels,side", [(3, 32), (1, 28)])
def test_synthetic_images_are_balanced_and_seeded(channels, side):
    images, labels = make_synthetic_images(200, channels=channels, size=side, seed=4)
    assert images.shape == (200, channels, side, side) and images.dtype == torch.uint8
    assert Counter(labels.tolist()) == {c: 20 for c in range(10)}
    again, _ = make_synthetic_images(200, channels=channels, size=side, seed=4)
    other, _ = make_synthetic_images(200, channels=channels, size=side, seed=5)
    assert torch.equal(images, again) and not torch.equal(images, other)


# ----------------------------------------------------------------------------- augmentation


def test_normalisation_hand_numbers():
    aug = Augmenter(mean=(0.5, 0.2), std=(0.25, 0.4))
    images = torch.tensor([[[[255, 0]], [[51, 102]]]], dtype=torch.uint8)  # (1, 2, 1, 2)
    out = aug(images)
    # channel 0: (255/255 - 0.5) / 0.25 = 2.0 ; (0 - 0.5) / 0.25 = -2.0
    # channel 1: (51/255 - 0.2) / 0.4 = 0.0  ; (102/255 - 0.2) / 0.4 = (0.4 - 0.2) / 0.4 = 0.5
    assert out.dtype == torch.float32
    assert out.flatten().tolist() == pytest.approx([2.0, -2.0, 0.0, 0.5], abs=1e-6)


def distinctive(batch: int = 16, channels: int = 2, side: int = 8) -> torch.Tensor:
    """Every pixel of an image holds a different non-zero value, so a window is identifiable."""
    one = (torch.arange(channels * side * side) + 1).reshape(channels, side, side).to(torch.uint8)
    return one.expand(batch, -1, -1, -1).contiguous()


def padded_windows(image: torch.Tensor, pad: int) -> list[torch.Tensor]:
    padded = torch.zeros(image.shape[0], image.shape[1] + 2 * pad, image.shape[2] + 2 * pad, dtype=image.dtype)
    padded[:, pad:-pad, pad:-pad] = image
    h, w = image.shape[1:]
    return [padded[:, dy:dy + h, dx:dx + w] for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)]


def which(out: torch.Tensor, windows: list[torch.Tensor]) -> int:
    matches = [k for k, window in enumerate(windows) if torch.equal(out, window)]
    assert matches, "the crop is not a window of the zero-padded image"
    return matches[0]


def test_random_crop_is_a_window_of_the_padded_image():
    images = distinctive()
    aug = Augmenter(mean=(0.0, 0.0), std=(1.0, 1.0), padding=2, flip=False)
    out = aug.random_crop_flip(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    windows = padded_windows(images[0], 2)
    found = {which(out[b], windows) for b in range(out.shape[0])}
    assert len(found) > 1, "every image got the same offset"


def test_flip_mirrors_horizontally():
    images = distinctive(batch=32)
    aug = Augmenter(mean=(0.0, 0.0), std=(1.0, 1.0), padding=0, flip=True)
    out = aug.random_crop_flip(images, torch.Generator().manual_seed(0))
    mirrored = images[0].flip(-1)  # x -> W-1-x
    kinds = []
    for b in range(out.shape[0]):
        if torch.equal(out[b], images[0]):
            kinds.append("same")
        else:
            assert torch.equal(out[b], mirrored), "neither the image nor its mirror"
            kinds.append("flipped")
    assert set(kinds) == {"same", "flipped"}


def test_crop_and_flip_together():
    images = distinctive(batch=24)
    aug = Augmenter(mean=(0.0, 0.0), std=(1.0, 1.0), padding=2, flip=True)
    out = aug.random_crop_flip(images, torch.Generator().manual_seed(1))
    windows = padded_windows(images[0], 2)
    windows += [w.flip(-1) for w in windows]
    for b in range(out.shape[0]):
        which(out[b], windows)


def test_augmentation_is_driven_by_the_generator():
    images = distinctive(batch=16)
    aug = Augmenter(mean=(0.1, 0.2), std=(0.3, 0.4), padding=2, flip=True)
    a = aug(images, torch.Generator().manual_seed(7), train=True)
    b = aug(images, torch.Generator().manual_seed(7), train=True)
    c = aug(images, torch.Generator().manual_seed(8), train=True)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    with pytest.raises(ValueError, match="Generator"):
        aug(images, train=True)
    # without train, no augmentation: equals plain normalisation
    assert torch.equal(aug(images), aug.normalize(images))


# ----------------------------------------------------------------------------- active pool


def test_active_pool_partitions_the_pool():
    pool = ActivePool(10, [1, 3])
    pool.label(torch.tensor([7, 5]))
    assert pool.labeled.tolist() == [1, 3, 7, 5]  # in labeling order
    assert pool.unlabeled.tolist() == [0, 2, 4, 6, 8, 9]
    assert pool.num_labeled == 4
    assert set(pool.labeled.tolist()).isdisjoint(pool.unlabeled.tolist())
    assert sorted(pool.labeled.tolist() + pool.unlabeled.tolist()) == list(range(10))


@pytest.mark.parametrize(
    "bad,match",
    [([2, 2], "twice"), ([3], "already labeled"), ([10], r"\[0, 10\)"), ([-1], r"\[0, 10\)")],
)
def test_active_pool_refuses_bad_indices(bad, match):
    pool = ActivePool(10, [1, 3])
    with pytest.raises(ValueError, match=match):
        pool.label(torch.tensor(bad))
    assert pool.labeled.tolist() == [1, 3]  # unchanged
    assert pool.unlabeled.numel() == 8


def test_active_pool_random_and_candidates():
    pool = ActivePool.random(50, 10, torch.Generator().manual_seed(0))
    labeled = set(pool.labeled.tolist())
    assert len(labeled) == 10
    candidates = pool.candidates(15, torch.Generator().manual_seed(1)).tolist()
    assert len(candidates) == len(set(candidates)) == 15
    assert labeled.isdisjoint(candidates) and candidates == sorted(candidates)
    assert pool.candidates(100, torch.Generator()).tolist() == sorted(set(range(50)) - labeled)
    with pytest.raises(ValueError):
        ActivePool.random(5, 6, torch.Generator())
