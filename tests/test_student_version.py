"""`make student` builds the student edition of the course with nbgrader, and `make student-branch` commits it
onto the branch `student`: no solution, no questionnaire answer and no address of the instructor's notebooks is
left in it, each exercise's checker then fails with a clear "not implemented yet", the answers sit in an
instructor-only key, and the instructor's notebooks are untouched."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tavaal_nb.classroom.course import BRANCH, REPOSITORY, badges_markdown, colab_setup_source, repository_slug
from tavaal_nb.classroom.exercises import NotImplementedYet

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXERCISE_NOTEBOOKS = ("01_sandbox", "02_ranking_loss", "03_conditional_wae", "04_discriminator_selection", "05_imbalanced_cifar10",
                      "06_active_loop", "07_reproducing_the_paper", "08_beyond_the_paper")
# The notebooks whose later cells use an exercise's answer (each such cell starts with needs_answers).
DEPENDENT_NOTEBOOKS = ("01_sandbox", "04_discriminator_selection", "06_active_loop", "07_reproducing_the_paper",
                       "08_beyond_the_paper")
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
MARKDOWN_ANSWER = re.compile(r"<!-- BEGIN SOLUTION -->\n(.*?)<!-- END SOLUTION -->", re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")
SLUG = repository_slug(REPOSITORY)
# What the instructor's branch looks like in an address: GitHub/Colab, Binder, pip.
INSTRUCTOR_ADDRESSES = (f"{SLUG}/blob/{BRANCH}/", f"{SLUG}/tree/{BRANCH}/", f"/v2/gh/{SLUG}/{BRANCH}",
                        f"{REPOSITORY}@{BRANCH}")
# What the exercise cells may use from the lesson's earlier cells.
PRELUDE = """
import math
import torch
import torch.nn.functional as F
from tavaal_nb.losses import conditional_vae_loss
from tavaal_nb.models import ConditionalVAE
"""

nbgrader = pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e '.[teach]'); "
                                                  "the student edition needs it")
from tavaal_nb.classroom.student_edition import (  # noqa: E402 (needs nbconvert, which the teach extra brings)
    ANSWERS_DIR,
    INSTRUCTOR_ONLY,
    MAKEFILE_BEGIN,
    MAKEFILE_END,
    STUDENT_BRANCH,
    TEACHER_WORDS,
    publish,
    student_config,
    student_makefile,
)


def sources(path: Path, cell_type: str) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for cell in cells if cell["cell_type"] == cell_type]


def solution_regions(name: str) -> list[str]:
    return [region for source in sources(ROOT / "notebooks" / f"{name}.ipynb", "code")
            for region in SOLUTION.findall(source)]


def answer_regions(name: str) -> list[str]:
    return [region for source in sources(ROOT / "notebooks" / f"{name}.ipynb", "markdown")
            for region in MARKDOWN_ANSWER.findall(source)]


def outside_the_solutions(name: str) -> str:
    """Every cell of the instructor notebook with its solution and answer regions taken out."""
    path = ROOT / "notebooks" / f"{name}.ipynb"
    return "\n".join(MARKDOWN_ANSWER.sub("", SOLUTION.sub("", source))
                     for source in sources(path, "code") + sources(path, "markdown"))


def digests(folder: Path) -> dict[str, str]:
    """The files of ``folder`` (not its sub-folders: a notebook run run in place writes ``notebooks/runs/``)."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())
            if path.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict, dict]:
    """(the folder `make student` wrote, notebooks/'s digests before, and after)."""
    if shutil.which("make") is None:
        pytest.skip("GNU make is not installed")
    out = tmp_path_factory.mktemp("student")
    before = digests(ROOT / "notebooks")
    # -o: use this interpreter as it is instead of (re)creating .venv and installing the extras
    done = subprocess.run(["make", "-o", ".venv/.installed-test-teach", "student", f"PY={sys.executable}",
                           f"STUDENT_DIR={out}"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return out, before, digests(ROOT / "notebooks")


@pytest.fixture(scope="module")
def student_dir(built) -> Path:
    return built[0] / "notebooks"


@pytest.mark.slow
def test_make_student_writes_the_edition_and_a_separate_answer_key(built, student_dir):
    out = built[0]
    assert sorted(path.stem for path in student_dir.glob("*.ipynb")) == NOTEBOOKS
    assert sorted(path.stem for path in (out / ANSWERS_DIR).glob("*.md")) == NOTEBOOKS
    assert sorted(path.name for path in out.iterdir()) == sorted([ANSWERS_DIR, "README.md", "notebooks"])
    readme = (out / "README.md").read_text()
    assert not [address for address in INSTRUCTOR_ADDRESSES if address in readme]
    assert f"git clone --branch {STUDENT_BRANCH} --single-branch {REPOSITORY}" in readme
    for name in NOTEBOOKS:
        assert f"](notebooks/{name}.ipynb)" in readme and badges_markdown(name, branch=STUDENT_BRANCH) in readme


@pytest.mark.slow
def test_instructor_notebooks_are_unchanged(built):
    _, before, after = built
    assert after == before


def test_every_exercise_notebook_has_a_code_solution():
    assert [name for name in NOTEBOOKS if solution_regions(name)] == list(EXERCISE_NOTEBOOKS)


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_student_version_holds_no_solution(student_dir, name):
    regions = solution_regions(name)
    student = student_dir / f"{name}.ipynb"
    raw = student.read_text()  # metadata and attachments included
    text = "\n".join(sources(student, "code"))
    assert "BEGIN SOLUTION" not in raw and "END SOLUTION" not in raw
    assert text.count("raise NotImplementedError()") == len(regions)
    lesson = outside_the_solutions(name)
    for region in regions:  # no line of any solution survives (bar trivial ones such as a lone `return`)
        for line in (line.strip() for line in region.splitlines()):
            if len(line) > 12:
                assert line not in text, f"{name}: solution line {line!r} is in the student's code"
                # anywhere in the file (metadata included), unless the lesson's own text says it too
                assert line in lesson or json.dumps(line)[1:-1] not in raw, \
                    f"{name}: solution line {line!r} is in the student version"
    for cell in json.loads(raw)["cells"]:
        assert not cell.get("outputs") and cell.get("execution_count") is None, "the student version carries outputs"


@pytest.mark.slow
@pytest.mark.parametrize("name", EXERCISE_NOTEBOOKS)
def test_student_checkers_say_not_implemented_yet(student_dir, name):
    """Run each stubbed exercise cell, then the checker cell after it: it must fail with 'not implemented yet'."""
    cells = sources(student_dir / f"{name}.ipynb", "code")
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


def instructor_cells(name: str) -> list[dict]:
    cells = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"]
    for cell in cells:
        cell["source"] = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return cells


def test_every_exercise_is_graded_by_a_cell_with_hidden_tests():
    """Each code cell with a solution is followed by its checker's cell, which nbgrader grades (metadata: grade,
    points, a grade_id of its own, locked) and which holds hidden tests; no other cell is graded."""
    grade_ids = []
    for name in EXERCISE_NOTEBOOKS:
        cells = [cell for cell in instructor_cells(name) if cell["cell_type"] == "code"]
        solutions = [k for k, cell in enumerate(cells) if SOLUTION.search(cell["source"])]
        graded = [k for k, cell in enumerate(cells) if cell["metadata"].get("nbgrader", {}).get("grade")]
        assert len(graded) == len(solutions), f"{name}: {len(solutions)} exercises, {len(graded)} graded cells"
        for solution, grader in zip(solutions, graded):
            metadata = cells[grader]["metadata"]["nbgrader"]
            assert solution < grader and not [k for k in solutions if solution < k < grader], name
            assert re.search(r"^check_\w+\(", cells[grader]["source"], re.M), f"{name}: the graded cell runs no checker"
            assert metadata["points"] > 0 and metadata["locked"] and not metadata["solution"], metadata
            assert len(HIDDEN.findall(cells[grader]["source"])) == 1, f"{name}: {metadata['grade_id']} has no hidden tests"
            grade_ids.append(metadata["grade_id"])
    assert len(grade_ids) == len(set(grade_ids)), "two graded cells share a grade_id"


@pytest.mark.parametrize("name", EXERCISE_NOTEBOOKS)
def test_hidden_tests_do_not_use_the_checkers(name):
    """The hidden tests recompute the answers themselves: nothing of the checkers' module (which a student copy
    may have edited) nor of the package's reference answers (the losses, the metrics, the evaluation's stats)."""
    for cell in instructor_cells(name):
        for region in HIDDEN.findall(cell["source"]):
            assert "exercises" not in region and "reference_" not in region and "check_" not in region, region
            assert "tavaal_nb.losses" not in region and "tavaal_nb.metrics" not in region, region
            assert "tavaal_nb.analysis" not in region and "tavaal_nb.classroom" not in region, region


@pytest.mark.slow
@pytest.mark.parametrize("name", EXERCISE_NOTEBOOKS)
def test_student_version_holds_no_hidden_test(student_dir, name):
    raw = (student_dir / f"{name}.ipynb").read_text()
    assert "HIDDEN TESTS" not in raw and not re.search(r"\b_hidden_", raw)  # the hidden tests' names
    lesson = "\n".join(HIDDEN.sub("", cell["source"]) for cell in instructor_cells(name))
    regions = [region for cell in instructor_cells(name) for region in HIDDEN.findall(cell["source"])]
    assert regions
    for region in regions:  # no line of a hidden test survives, unless the lesson says it too
        for line in (line.strip() for line in region.splitlines()):
            if len(line) > 12 and line not in lesson:
                assert json.dumps(line)[1:-1] not in raw, f"{name}: hidden-test line {line!r} is in the student version"


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_student_version_holds_no_answer(student_dir, name):
    """Every notebook's exercise and questionnaire answers sit in markdown solution regions; the student
    version replaces each by nbgrader's text stub, and no line of an answer survives anywhere in the file."""
    answers = answer_regions(name)
    lesson = outside_the_solutions(name)  # the text outside the answers
    assert answers, f"{name} has no answer region"
    assert all("<details>" in region for region in answers)
    student = student_dir / f"{name}.ipynb"
    raw = student.read_text()
    text = "\n".join(sources(student, "markdown"))
    assert "<details>" not in raw and "SOLUTION" not in raw
    assert text.count("YOUR ANSWER HERE") == len(answers)
    for region in answers:
        for line in (line.strip() for line in region.splitlines()):
            if len(line) > 30 and line not in lesson:  # a line the lesson also says may stay
                assert line not in text and json.dumps(line)[1:-1] not in raw, \
                    f"{name}: answer line {line!r} is in the student version"


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_answer_key_holds_every_solution_and_answer(built, name):
    key = (built[0] / ANSWERS_DIR / f"{name}.md").read_text()
    for region in answer_regions(name) + solution_regions(name):
        assert region.strip("\n") in key, f"{name}: an answer is missing from the key"


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_student_notebooks_point_at_the_student_edition(student_dir, name):
    """Badges, the Colab install and every link open the student edition, never notebooks/ on the instructor's
    branch; only the kernel's metadata and the cells' tags are kept."""
    student = student_dir / f"{name}.ipynb"
    raw = student.read_text()
    notebook = json.loads(raw)
    for address in INSTRUCTOR_ADDRESSES:
        assert address not in raw, f"{name} points at the instructor's branch: {address}"
    markdown = sources(student, "markdown")
    assert badges_markdown(name, branch=STUDENT_BRANCH) in markdown[0].split("\n")
    code = sources(student, "code")
    assert code[0] == colab_setup_source(branch=STUDENT_BRANCH)
    for target in (target for source in markdown for target in LINK.findall(source)):
        if re.match(r"^[a-z]+:", target):
            continue
        resolved = (student_dir / target.split("#")[0]).resolve()
        if resolved.is_relative_to(student_dir.resolve()):  # a notebook: it must be one of the student edition
            assert resolved.is_file(), f"{name}: the link {target!r} does not open a notebook of the student edition"
        else:  # another file of the repository: the student branch must have it
            path = resolved.relative_to(student_dir.parent.resolve()).as_posix()
            assert (ROOT / path).is_file() and not path.startswith(INSTRUCTOR_ONLY), \
                f"{name}: the link {target!r} opens nothing on the student branch"
    assert set(notebook["metadata"]) <= {"kernelspec", "language_info"}
    for cell in notebook["cells"]:
        assert set(cell["metadata"]) <= {"tags"} and "attachments" not in cell


def run_student_preprocessors(cells: list, name: str = "99_probe"):
    import nbformat
    from nbconvert.exporters import NotebookExporter

    notebook = nbformat.v4.new_notebook(cells=cells, metadata={"jupytext": {"formats": "ipynb,py:percent"}})
    body, _ = NotebookExporter(config=student_config()).from_notebook_node(
        notebook, resources={"metadata": {"name": name}})
    return nbformat.reads(body, as_version=4)


def test_an_answer_attachment_and_instructor_metadata_leave_the_student_notebook():
    import nbformat

    answer = nbformat.v4.new_markdown_cell(
        "Question?\n<!-- BEGIN SOLUTION -->\n<details>![plot](attachment:answer.png) the answer</details>\n"
        "<!-- END SOLUTION -->\n![figure](attachment:figure.png)",
        metadata={"nbgrader": {"solution": True}, "tags": ["q"]},
        attachments={"answer.png": {"image/png": "QU5TV0VS"}, "figure.png": {"image/png": "RklHVVJF"}})
    cell = run_student_preprocessors([answer]).cells[0]
    assert "the answer" not in cell.source and "YOUR ANSWER HERE" in cell.source
    assert set(cell.attachments) == {"figure.png"} and cell.metadata == {"tags": ["q"]}


def test_a_hidden_test_leaves_the_student_notebook():
    import nbformat

    checker = nbformat.v4.new_code_cell("check_it(f)\n### BEGIN HIDDEN TESTS\nassert f(2) == 4\n### END HIDDEN TESTS")
    assert run_student_preprocessors([checker]).cells[0].source == "check_it(f)"


@pytest.mark.parametrize("link, why", [("02_ranking_loss.py", "instructor-only"),
                                       ("../notebooks/02_ranking_loss.py", "instructor-only"),
                                       ("../tests/test_course.py", "tests is instructor-only"),
                                       ("../docs/teaching/question-bank.md", "docs/teaching is instructor-only")])
def test_a_link_to_instructor_material_fails_the_build(link, why):
    import nbformat

    cell = nbformat.v4.new_markdown_cell(f"# 99 probe\n\nSee [there]({link}).")
    with pytest.raises(ValueError, match=rf"99_probe: cell 0 links to '{re.escape(link)}'.*{why}"):
        run_student_preprocessors([cell])


def test_a_github_link_to_the_instructor_branch_is_rewritten():
    import nbformat

    cell = nbformat.v4.new_markdown_cell(f"[the loss]({REPOSITORY}/blob/{BRANCH}/notebooks/02_ranking_loss.ipynb)")
    assert run_student_preprocessors([cell]).cells[0].source == \
        f"[the loss]({REPOSITORY}/blob/{STUDENT_BRANCH}/notebooks/02_ranking_loss.ipynb)"


def git(clone: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(clone), *args], check=True, capture_output=True, text=True).stdout


@pytest.mark.slow
def test_publish_commits_the_edition_to_a_branch_without_touching_the_checkout(tmp_path):
    """`make student-branch` on a temporary clone: the branch `student` holds the package, binder/ and the student
    notebooks, none of the instructor's material, and the clone's branch, index and files are as they were."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of the repository")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
    git(clone, "config", "user.name", "Teacher")
    git(clone, "config", "user.email", "teacher@example.org")
    (clone / "notebooks" / "scratch.txt").write_text("an untracked file of the teacher\n")
    head, branch = git(clone, "rev-parse", "HEAD").strip(), git(clone, "branch", "--show-current").strip()
    status = git(clone, "status", "--porcelain")

    new = publish(clone)

    assert new and git(clone, "rev-parse", STUDENT_BRANCH).strip() == new
    assert (git(clone, "rev-parse", "HEAD").strip(), git(clone, "branch", "--show-current").strip()) == (head, branch)
    assert git(clone, "status", "--porcelain") == status
    files = git(clone, "ls-tree", "-r", "--name-only", STUDENT_BRANCH).split()
    assert sorted(f for f in files if f.startswith("notebooks/")) == [f"notebooks/{n}.ipynb" for n in NOTEBOOKS]
    assert {"pyproject.toml", "tavaal_nb/__init__.py", "binder/postBuild", "README.md"} <= set(files)
    for gone in ("tests/", "teaching/", "docs/teaching/", ".ci/", ANSWERS_DIR, "jupytext.toml"):
        assert not [f for f in files if f.startswith(gone)], f"{gone} is on the student branch"
    # nothing on the branch says where the instructor's edition is: not its commit, not the teacher's tool
    assert "tavaal_nb/classroom/student_edition.py" not in files
    makefile = git(clone, "show", f"{STUDENT_BRANCH}:Makefile")
    assert not [word for word in TEACHER_WORDS if word in makefile] and "\nlab:" in makefile
    assert makefile == student_makefile((ROOT / "Makefile").read_text())
    message = git(clone, "log", "-1", "--format=%B", STUDENT_BRANCH)
    assert head[:7] not in message and "Student edition" in message
    found = subprocess.run(["git", "-C", str(clone), "grep", "-l", "-i", "-e", "student_edition", "-e", "ANSWERS-instructor",
                            "-e", "student-branch", "-e", head[:10], STUDENT_BRANCH], capture_output=True, text=True)
    assert found.stdout == "", f"the student branch names the instructor's edition: {found.stdout}"
    notebook = git(clone, "show", f"{STUDENT_BRANCH}:notebooks/02_ranking_loss.ipynb")
    assert "raise NotImplementedError()" in notebook and "BEGIN SOLUTION" not in notebook
    assert f"blob/{STUDENT_BRANCH}/notebooks/02_ranking_loss.ipynb" in notebook
    assert "student edition" in git(clone, "show", f"{STUDENT_BRANCH}:README.md")
    assert publish(clone) is None  # the branch already holds this edition: no new commit
    git(clone, "worktree", "add", "--quiet", str(tmp_path / "checked-out"), STUDENT_BRANCH)
    with pytest.raises(RuntimeError, match=f"branch '{STUDENT_BRANCH}' is checked out in a worktree"):
        publish(clone)


@pytest.mark.slow
def test_publish_refuses_the_instructor_branch_and_a_source_that_is_not_a_commit(tmp_path):
    with pytest.raises(ValueError, match="must differ from the instructor's"):
        publish(tmp_path, student_branch=BRANCH)
    with pytest.raises(ValueError, match="'no-such-commit' is not a commit of a git repository"):
        publish(ROOT, source="no-such-commit")


def test_the_student_makefile_leaves_out_the_teacher_block_and_refuses_a_stray_mention():
    text = f"lab:\n\tjupyter lab\n{MAKEFILE_BEGIN} teacher\nstudent:\n\tpython -m tavaal_nb.classroom.student_edition\n{MAKEFILE_END}\n"
    assert student_makefile(text) == "lab:\n\tjupyter lab\n"
    with pytest.raises(ValueError, match="line 1 names 'student-branch' outside the teacher-only block"):
        student_makefile("# run make student-branch\n")
    with pytest.raises(ValueError, match="without '# student-edition:end'"):
        student_makefile(f"{MAKEFILE_BEGIN}\nstudent:\n")
    with pytest.raises(ValueError, match="line 2: '# student-edition:end' without"):
        student_makefile(f"lab:\n{MAKEFILE_END}\n")


def run_until_last_dependent_cell(path: Path) -> list[dict]:
    """Execute a student notebook in a real kernel (ci preset), errors allowed, to the end of the section that
    holds its last cell using an answer; returns the code cells run, with their outputs."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    last = max(k for k, cell in enumerate(notebook.cells) if "needs_answers(" in cell.source)
    end = next((k for k in range(last + 1, len(notebook.cells)) if notebook.cells[k].cell_type == "markdown"
                and re.search(r"^## ", notebook.cells[k].source, re.M)), len(notebook.cells))
    notebook.cells = [cell for cell in notebook.cells[:end]
                      if "colab-setup" not in cell.metadata.get("tags", [])]
    NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


@pytest.mark.slow
@pytest.mark.parametrize("name", DEPENDENT_NOTEBOOKS)
def test_cells_after_an_unanswered_exercise_say_which_answer_they_need(student_dir, name, monkeypatch):
    """The student edition run as a student meets it (every exercise unanswered, the cells run on after an
    error): each cell fails at most with 'not implemented yet' (a checker) or one line naming the answer it
    needs, never a NameError, a bare NotImplementedError or another error of a missing answer."""
    pytest.importorskip("nbclient")
    monkeypatch.setenv("TAVAAL_PRESET", "ci")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    cells = run_until_last_dependent_cell(student_dir / f"{name}.ipynb")
    errors = [(cell.source, output) for cell in cells for output in cell.get("outputs", [])
              if output["output_type"] == "error"]
    assert errors, f"{name}: no exercise failed in the student edition"
    for source, error in errors:
        assert error["ename"] in ("NotImplementedYet", "AnswerNeeded"), \
            f"{name}: a cell fails with {error['ename']}: {error['evalue']}\n{source[:300]}"
        if error["ename"] == "AnswerNeeded":
            assert len(error["traceback"]) == 1 and "still `raise NotImplementedError()`" in error["evalue"]
            assert "needs_answers(" in source
    needing = [source for source, error in errors if error["ename"] == "AnswerNeeded"]
    assert len(needing) == sum("needs_answers(" in cell.source for cell in cells)
