"""Progress bars that work in a terminal and in Jupyter (tqdm.auto)."""

from __future__ import annotations

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(iterable=None, **kwargs):
    """``tqdm.auto.tqdm`` with dynamic width; ``disable=True`` silences it."""
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)
