"""Which checkout of the tavaal-nb repository, if any, the code runs in (the shipped results and the
course's files are found from it)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["repository_root"]


def repository_root(start: str | Path | None = None) -> Path | None:
    """The tavaal-nb checkout containing ``start`` (default: the working directory), or None
    (e.g. on Colab, where the package was installed without the repository's files)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        project = folder / "pyproject.toml"
        if project.is_file() and 'name = "tavaal-nb"' in project.read_text(encoding="utf-8"):
            return folder
    return None
