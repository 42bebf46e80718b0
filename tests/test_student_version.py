"""`make student` builds the student version of the course with nbgrader: no solution is left in it, and each
exercise's checker cell then fails with a clear "not implemented yet"."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tavaal_nb.exercises import NotImplementedYet

ROOT = Path(__file__).resolve().parent.parent
EXERCISE_NOTEBOOKS = ("01_sandbox", "02_ranking_loss", "03_conditional_wae", "04_discriminator_selection", "05_imbalanced_cifar10")
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
# What the exercise cells may use from the lesson's earlier cells.
PRELUDE = """
import math
import torch
import torch.nn.functional as F
from tavaal_nb.losses import conditional_vae_loss
from tavaal_nb.models import ConditionalVAE
"""


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for cell in cells if cell["cell_type"] == "code"]


def solution_regions(name: str) -> list[str]:
    return [region for source in code_cells(ROOT / "notebooks" / f"{name}.ipynb") for region in SOLUTION.findall(source)]


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e '.[teach]'); "
                                           "`make student` needs it")
    if shutil.which("make") is None:
        pytest.skip("GNU make is not installed")
    out = tmp_path_factory.mktemp("student")
    # -o venv: use this interpreter as it is instead of (re)creating .venv
    done = subprocess.run(["make", "-o", "venv", "student", f"PY={sys.executable}", f"STUDENT_DIR={out}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_every_notebook_has_a_student_version(student_dir):
    built = sorted(path.name for path in student_dir.glob("*.ipynb"))
    assert built == sorted(path.name for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("name", EXERCISE_NOTEBOOKS)
def test_student_version_holds_no_solution(student_dir, name):
    regions = solution_regions(name)
    assert regions, f"{name} has no solution region"
    student = student_dir / f"{name}.ipynb"
    text = "\n".join(code_cells(student))
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert text.count("raise NotImplementedError()") == len(regions)
    for region in regions:  # no line of any solution survives (bar trivial ones such as a lone `return`)
        for line in (line.strip() for line in region.splitlines()):
            if len(line) > 12:
                assert line not in text, f"{name}: solution line {line!r} is in the student version"
    for cell in json.loads(student.read_text())["cells"]:
        assert not cell.get("outputs"), "the student version carries outputs"


@pytest.mark.parametrize("name", EXERCISE_NOTEBOOKS)
def test_student_checkers_say_not_implemented_yet(student_dir, name):
    """Run each stubbed exercise cell, then the checker cell after it: it must fail with 'not implemented yet'."""
    cells = code_cells(student_dir / f"{name}.ipynb")
    stubs = [k for k, source in enumerate(cells) if "raise NotImplementedError()" in source]
    assert stubs
    for k in stubs:
        checker = next(source for source in cells[k + 1:] if re.search(r"^check_\w+\(", source, re.M))
        namespace: dict = {}
        exec(PRELUDE, namespace)
        exec(cells[k], namespace)
        function = re.search(r"^def (\w+)\(", cells[k], re.M).group(1)
        with pytest.raises(NotImplementedYet, match=f"not implemented yet: write {function} in the cell above"):
            exec(checker, namespace)


MARKDOWN_ANSWER = re.compile(r"<!-- BEGIN SOLUTION -->\n(.*?)<!-- END SOLUTION -->", re.S)


def markdown_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for cell in cells if cell["cell_type"] == "markdown"]


@pytest.mark.parametrize("name", sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
def test_student_version_holds_no_answer(student_dir, name):
    """Every notebook's exercise and questionnaire answers sit in markdown solution regions; the student
    version replaces each by nbgrader's text stub, and no line of an answer survives."""
    instructor = markdown_cells(ROOT / "notebooks" / f"{name}.ipynb")
    answers = [region for source in instructor for region in MARKDOWN_ANSWER.findall(source)]
    lesson = "\n".join(MARKDOWN_ANSWER.sub("", source) for source in instructor)  # the text outside the answers
    assert answers, f"{name} has no answer region"
    assert all("<details>" in region for region in answers)
    text = "\n".join(markdown_cells(student_dir / f"{name}.ipynb"))
    assert "<details>" not in text and "SOLUTION" not in text
    assert text.count("YOUR ANSWER HERE") == len(answers)
    for region in answers:
        for line in (line.strip() for line in region.splitlines()):
            if len(line) > 30 and line not in lesson:  # a line the lesson also says may stay
                assert line not in text, f"{name}: answer line {line!r} is in the student version"
