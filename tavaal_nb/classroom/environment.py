"""What a notebook needs to know about the machine it runs on: which dataset is available here
(:func:`pick_dataset`). Which checkout of the repository, if any, it runs in is
:func:`tavaal_nb.analysis.checkout.repository_root`; the course-sync tool is :mod:`tavaal_nb.classroom.course`."""

from __future__ import annotations

from collections.abc import Sequence

from tavaal_nb.data.datasets import DatasetNotFoundError, load_dataset

__all__ = ["pick_dataset"]


def pick_dataset(names: Sequence[str], data_dir: str | None = None, download: bool = False) -> str:
    """The first of ``names`` whose files can be loaded (downloading only if ``download``),
    printing which one and why the ones before it were passed over. The synthetic datasets
    are always available, so ending the list with one never fails."""
    for name in names:
        try:
            data = load_dataset(name, data_dir, download=download, train_limit=16, test_limit=16)
        except DatasetNotFoundError as error:
            print(f"{name}: not available here ({str(error).split('. ')[0]}); trying the next one")
            continue
        print(f"dataset: {name} ({data.source})")
        return name
    raise FileNotFoundError(f"none of {list(names)} is available; add 'synthetic' to the list as a last resort")
