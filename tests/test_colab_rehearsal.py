"""The Colab path, rehearsed as closely as this machine allows.

A fresh virtual environment that does not have tavaal-nb; a kernel in which ``google.colab``
is imported (a stand-in module, as on Colab); the notebook's own ``colab-setup`` cell, whose pip
command runs unchanged except that it installs from a local ``git+file://`` clone of this
repository instead of the public address; then notebook 00 at the ``ci`` preset with the static
widget fallback. To spare a multi-GB torch download the new environment sees the current one's
site-packages as a plain path (so torch and Jupyter are found, but not this package's editable
install); pip still fetches the build backend (setuptools) from the index, or its cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import nbformat
import pytest

from tavaal_nb.classroom.course import BRANCH, COLAB_TAG, REPOSITORY, install_target

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = "00_quickstart.ipynb"

pytestmark = pytest.mark.slow

FAKE_COLAB_OUTPUT = '''
"""Stand-in for google.colab.output: records that the notebook asked for the widget manager."""
import os


def enable_custom_widget_manager():
    open(os.environ["FAKE_COLAB_MARKER"], "w").write("enabled")
'''


def _pip_reaches_an_index(tmp_path: Path) -> str | None:
    """Why pip cannot fetch the build backend (the reason to skip), or None when it can."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(tmp_path / "probe"), "setuptools>=77"],
        capture_output=True, text=True, timeout=120,
    )
    return None if done.returncode == 0 else f"pip cannot reach a package index: {done.stderr.strip()[-200:]}"


def _fresh_environment(root: Path) -> Path:
    """A venv with pip, seeing this environment's site-packages as a path (no .pth processing there)."""
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "shared-site-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _fake_colab_kernel_profile(root: Path) -> Path:
    """An IPython directory whose startup file imports a stand-in ``google.colab``, as Colab's kernel has it."""
    package = root / "fake" / "google" / "colab"
    package.mkdir(parents=True)
    (root / "fake" / "google" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "output.py").write_text(FAKE_COLAB_OUTPUT)
    startup = root / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-fake-colab.py").write_text(f"import sys\nsys.path.insert(0, {str(root / 'fake')!r})\nimport google.colab\n")
    return root / "ipython"


def _notebook_installing_from(clone: Path, url: str, report: Path) -> Path:
    """Notebook 00 of ``clone`` with its Colab cell pointed at ``url``, plus a last cell that says where
    tavaal_nb was imported from."""
    path = clone / "notebooks" / NOTEBOOK
    notebook = nbformat.read(path, as_version=4)
    setup = [cell for cell in notebook.cells if COLAB_TAG in cell.metadata.get("tags", [])]
    assert len(setup) == 1, "notebook 00 must have exactly one colab-setup cell"
    public = install_target(REPOSITORY, BRANCH)
    assert public in setup[0].source and "pip" in setup[0].source
    setup[0].source = setup[0].source.replace(public, url)
    notebook.cells.append(nbformat.v4.new_code_cell(
        f"import tavaal_nb, sys\nopen({str(report)!r}, 'w').write(tavaal_nb.__file__ + '\\n' + sys.prefix)"
    ))
    rehearsal = path.with_name("rehearsal.ipynb")
    nbformat.write(notebook, rehearsal)
    return rehearsal


def test_colab_install_cell_then_notebook_00_in_a_fresh_environment(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed: pip cannot install from a git URL")
    reason = _pip_reaches_an_index(tmp_path)
    if reason:
        print(reason)
        pytest.skip(reason)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", REPO.as_uri(), str(clone)], check=True, timeout=300)
    branch = subprocess.run(["git", "-C", str(clone), "rev-parse", "--abbrev-ref", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    python = _fresh_environment(tmp_path / "venv")
    marker, report = tmp_path / "widget-manager", tmp_path / "imported-from"
    notebook = _notebook_installing_from(clone, f"git+{clone.as_uri()}@{branch}", report)
    env = {"PATH": f"{python.parent}:/usr/bin:/bin", "HOME": str(tmp_path), "TAVAAL_PRESET": "ci",
           "TAVAAL_STATIC_WIDGETS": "1", "IPYTHONDIR": str(_fake_colab_kernel_profile(tmp_path)),
           "FAKE_COLAB_MARKER": str(marker), "TAVAAL_DATA": str(tmp_path / "data"),
           "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))}
    absent = subprocess.run([str(python), "-c", "import tavaal_nb"], capture_output=True, cwd=tmp_path, env=env)
    assert absent.returncode != 0, "the fresh environment must not see tavaal_nb before the Colab cell runs"
    execute = textwrap.dedent(
        f"""
        import nbformat
        from nbclient import NotebookClient
        notebook = nbformat.read({str(notebook)!r}, as_version=4)
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={{"metadata": {{"path": {str(notebook.parent)!r}}}}}).execute()
        """
    )
    done = subprocess.run([str(python), "-c", execute], env=env, capture_output=True, text=True, timeout=1200,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert marker.read_text() == "enabled", "the Colab cell did not turn on the widget manager"
    imported, prefix = report.read_text().splitlines()
    assert Path(imported).is_relative_to(tmp_path / "venv"), f"tavaal_nb came from {imported}, not the pip install"
    assert Path(prefix) == tmp_path / "venv"
