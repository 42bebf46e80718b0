"""nbgrader's real pipeline grades the course: `nbgrader generate_assignment` on an instructor notebook's graded
cells, three submissions (a correct answer, a wrong one, and a wrong one whose checker was replaced by a cell that
accepts everything), `nbgrader autograde`, and the scores read from the gradebook. The hidden tests, which only
autograde runs, are what the third submission cannot get past."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

nbgrader = pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e '.[teach]')")
import nbformat  # noqa: E402
from nbgrader.api import Gradebook  # noqa: E402

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "02_ranking_loss.ipynb"
ASSIGNMENT, NAME = "ranking", "02_ranking_loss"

CORRECT = '''    pred, target = pred.reshape(-1), target.reshape(-1)
    if pred.numel() % 2:
        raise ValueError("eq. 4 needs an even batch")
    half = pred.numel() // 2
    gap = pred[:half] - pred.flip(0)[:half]
    indicator = (target[:half] > target.flip(0)[:half]).to(gap.dtype)
    return (torch.nn.functional.softplus(gap) - indicator * gap).mean()'''
WRONG = CORRECT.replace(".mean()", ".sum()")  # the sum over the pairs: the checker and the hidden tests refuse it
ACCEPT_EVERYTHING = ("import tavaal_nb.classroom.exercises as exercises\n"
                     "exercises.check_ranker_loss = lambda fn: print('✓ accepted')  # the checker, edited away")


def nbgrader_command(*args: str, cwd: Path) -> str:
    # nbgrader runs `alembic` (installed beside it) for the gradebook: the environment's scripts come first on PATH
    scripts = str(Path(sys.executable).parent)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1",
               PATH=os.pathsep.join([scripts, os.environ.get("PATH", "")]))
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def graded_cells_only(path: Path) -> nbformat.NotebookNode:
    """The instructor notebook cut to its exercise: an import cell, the solution cell and the graded test cell."""
    notebook = nbformat.read(path, as_version=4)
    graded = [i for i, cell in enumerate(notebook.cells) if cell.metadata.get("nbgrader", {}).get("grade")]
    assert graded, f"{path.name} has no graded cell"
    solution = max(i for i, cell in enumerate(notebook.cells[:graded[0]]) if "BEGIN SOLUTION" in cell.source)
    trimmed = nbformat.v4.new_notebook(metadata=notebook.metadata)
    trimmed.cells = [nbformat.v4.new_code_cell("import torch"), notebook.cells[solution], notebook.cells[graded[0]]]
    return trimmed


def submit(course: Path, student: str, body: str, extra_cell: str | None = None) -> None:
    released = nbformat.read(course / "release" / ASSIGNMENT / f"{NAME}.ipynb", as_version=4)
    stubbed = [cell for cell in released.cells if "raise NotImplementedError()" in cell.source]
    assert len(stubbed) == 1, "the released notebook should hold exactly one stub"
    stubbed[0].source = stubbed[0].source.replace("    raise NotImplementedError()", body)
    if extra_cell is not None:
        position = released.cells.index(stubbed[0]) + 1
        released.cells.insert(position, nbformat.v4.new_code_cell(extra_cell))
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(released, folder / f"{NAME}.ipynb")


def test_autograde_gives_full_marks_only_to_the_correct_submission(tmp_path, monkeypatch):
    course = tmp_path / "course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(REPO / "teaching" / "nbgrader_config.py", course / "nbgrader_config.py")
    nbformat.write(graded_cells_only(NOTEBOOK), course / "source" / ASSIGNMENT / f"{NAME}.ipynb")

    nbgrader_command("generate_assignment", ASSIGNMENT, "--force", cwd=course)
    released = (course / "release" / ASSIGNMENT / f"{NAME}.ipynb").read_text()
    assert "HIDDEN TESTS" not in released and "np.logaddexp" not in released  # the student never sees them
    assert "BEGIN SOLUTION" not in released and "binary_cross_entropy_with_logits" not in released

    submit(course, "correct", CORRECT)
    submit(course, "wrong", WRONG)
    submit(course, "edited", WRONG, extra_cell=ACCEPT_EVERYTHING)
    nbgrader_command("autograde", ASSIGNMENT, "--force", cwd=course)

    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {student: gradebook.find_submission(ASSIGNMENT, student) for student in ("correct", "wrong", "edited")}
        maximum = scores["correct"].max_score
        assert maximum > 0
        assert scores["correct"].score == maximum
        assert scores["wrong"].score < maximum
        assert scores["edited"].score < maximum  # the checker accepted it; the hidden tests did not
    graded = nbformat.read(course / "autograded" / "edited" / ASSIGNMENT / f"{NAME}.ipynb", as_version=4)
    test_cell = next(cell for cell in graded.cells if cell.metadata.get("nbgrader", {}).get("grade"))
    assert "✓ accepted" in "".join(output.get("text", "") for output in test_cell.outputs)
    assert any(output.get("ename") == "AssertionError" for output in test_cell.outputs)
