"""Memory of the data path: images stay uint8, the synthetic set is rendered in chunks, channel
statistics are taken one channel at a time, and none of it changes the numbers a seed gives."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import tavaal_nb.data.synthetic as synthetic
from tavaal_nb.data import DEBIAN_FASHION_MNIST, load_dataset, make_synthetic_images
from tavaal_nb.data.datasets import channel_statistics

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("count", "channels", "side"), [(3 * 64 + 5, 3, 32), (130, 1, 28), (70, 3, 9)])
def test_chunked_rendering_is_bit_identical_to_one_chunk(monkeypatch, count, channels, side):
    monkeypatch.setattr(synthetic, "SYNTHETIC_CHUNK", 64)  # several chunks and a ragged last one
    chunked, chunked_labels = make_synthetic_images(count, channels=channels, size=side, seed=11)
    monkeypatch.setattr(synthetic, "SYNTHETIC_CHUNK", 10**9)
    whole, whole_labels = make_synthetic_images(count, channels=channels, size=side, seed=11)
    assert chunked.dtype == torch.uint8
    assert torch.equal(chunked, whole)
    assert torch.equal(chunked_labels, whole_labels)


def test_loaded_datasets_stay_uint8():
    data = load_dataset("synthetic", train_limit=200, test_limit=50, seed=0)
    assert data.train_images.dtype == data.test_images.dtype == torch.uint8
    subset = data.subset(100, 20, seed=1)
    assert subset.train_images.dtype == torch.uint8
    assert subset.train_images.data_ptr() != data.train_images.data_ptr()  # a gather, not a float copy


def test_channel_statistics_by_hand():
    images = torch.tensor([[[[0, 255]], [[51, 51]]], [[[255, 0]], [[102, 102]]]], dtype=torch.uint8)  # (2, 2, 1, 2)
    mean, std = channel_statistics(images)
    # channel 0: values 0, 1, 1, 0 -> mean 0.5, sample std sqrt(4 * 0.25 / 3); channel 1: 0.2, 0.2, 0.4, 0.4
    assert mean == pytest.approx((0.5, 0.3), abs=1e-7)
    assert std == pytest.approx((math.sqrt(1 / 3), math.sqrt(4 * 0.01 / 3)), abs=1e-7)
    flat = torch.full((3, 1, 2, 2), 7, dtype=torch.uint8)
    assert channel_statistics(flat)[1] == (pytest.approx(1e-3),)  # floored, never zero


@pytest.mark.parametrize("channels", [1, 3])
def test_channel_statistics_match_a_whole_float_copy(channels):
    images, _ = make_synthetic_images(600, channels=channels, size=16, seed=4)
    values = images.float().div(255.0)
    whole_mean = values.mean(dim=(0, 2, 3)).tolist()
    whole_std = values.std(dim=(0, 2, 3)).tolist()
    mean, std = channel_statistics(images)
    assert list(std) == whole_std  # the same reduction, bit for bit
    if channels == 1:
        assert list(mean) == whole_mean
    assert mean == pytest.approx(whole_mean, rel=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak resident size from /proc")
def test_synthetic_set_peak_memory_is_the_uint8_result_plus_a_chunk():
    """20k RGB images are 61 MB as uint8; rendered at once their float intermediates took over 1 GB."""
    script = textwrap.dedent(
        """
        import torch
        from tavaal_nb.data import load_dataset

        def peak_mb():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024
        torch.zeros(1)
        load_dataset("synthetic", train_limit=100, test_limit=100)  # imports and first-call set-up, not data
        open("/proc/self/clear_refs", "w").write("5")  # reset the high-water mark
        before = peak_mb()
        load_dataset("synthetic", train_limit=18_000, test_limit=2_000)
        print(peak_mb() - before)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                               # one thread: per-thread allocator arenas made the peak swing 140 to 225 MB between
                               # runs of the same load; the budget is the data path's, not the thread pool's
                               "OMP_NUM_THREADS": "1"})
    growth_mb = float(done.stdout.strip().splitlines()[-1])
    assert growth_mb < 61 + 160, f"loading 20k synthetic images raised the peak by {growth_mb:.0f} MB"


@pytest.mark.skipif(not (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").exists()
                    and not (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_stays_uint8():
    data = load_dataset("fashion-mnist", download=False, train_limit=500, test_limit=100, seed=0)
    assert data.train_images.dtype == torch.uint8 and data.train_images.shape[1:] == (1, 28, 28)
