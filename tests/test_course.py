"""The course's infrastructure: notebooks, badges, Colab cells, README table, Binder and conda files.

Everything the course derives from ``tavaal_nb.classroom.course.REPOSITORY`` must agree with what
``python -m tavaal_nb.classroom.course sync`` would write; every notebook source has its paired
``.ipynb`` with the same cells and no outputs; the environment files list the package's
dependencies. None of these tests runs a notebook (``make notebook-test`` does).
"""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from tavaal_nb.analysis.checkout import repository_root
from tavaal_nb.classroom import course, environment

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = course.notebook_paths(REPO)


@functools.cache
def percent_source(path: Path):
    """The notebook source ``path`` as jupytext reads it, read once for the tests below (which only read it)."""
    import jupytext

    return jupytext.read(path, fmt="py:percent")


def test_the_course_lists_exactly_its_notebooks_in_order():
    stems = sorted(p.stem for p in NOTEBOOKS)
    assert stems[:2] == ["00_quickstart", "01_sandbox"]  # the sandbox comes right after the quickstart
    assert [lesson.stem for lesson in course.LESSONS] == stems


def test_check_reports_nothing():
    """Badges, Colab cells and README table agree with REPOSITORY; twins exist, are in sync, have no outputs."""
    assert course.check(REPO) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_source_is_what_sync_writes(path):
    text = path.read_text(encoding="utf-8")
    assert course.render_notebook_text(text, path.stem, config_dir=path.parent) == text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_paired_ipynb_has_same_cells_ids_and_no_outputs(path):
    import nbformat

    twin = path.with_suffix(".ipynb")
    assert twin.is_file(), f"{twin.name} is missing: run `python -m tavaal_nb.classroom.course sync`"
    stored = nbformat.read(twin, as_version=4)
    source = percent_source(path)
    assert [(c.cell_type, c.source) for c in stored.cells] == [(c.cell_type, c.source) for c in source.cells]
    assert [c.metadata.get("tags", []) for c in stored.cells] == [c.metadata.get("tags", []) for c in source.cells]
    ids = [c.get("id") for c in stored.cells]
    assert all(ids) and len(set(ids)) == len(ids)
    for cell in stored.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert stored.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_badges_and_colab_cell_come_first(path):
    notebook = percent_source(path)
    first_markdown = next(c for c in notebook.cells if c.cell_type == "markdown")
    assert first_markdown.source.startswith("# ")
    assert course.badges_markdown(path.stem) in first_markdown.source
    assert course.colab_url(path.stem) in first_markdown.source and course.binder_url(path.stem) in first_markdown.source
    first_code = next(c for c in notebook.cells if c.cell_type == "code")
    assert first_code.metadata["tags"][:2] == ["colab-setup", "nbval-skip"]
    assert first_code.source == course.colab_setup_source()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_only_colab_or_gpu_cells_are_skipped(path):
    """Cells skipped by nbval must be ones that only make sense on Colab or a GPU."""
    for cell in percent_source(path).cells:
        skipped = "nbval-skip" in cell.metadata.get("tags", []) or re.search(r"^\s*#\s*NBVAL_SKIP\s*$", cell.source, re.M)
        if cell.cell_type == "code" and skipped:
            assert "google.colab" in cell.source or '"paper"' in cell.source or "cuda" in cell.source, cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_state_goals_run_time_and_exercises(path):
    text = path.read_text(encoding="utf-8")
    assert "Run time" in text or "run time" in text.lower()
    assert "Prerequisites" in text
    assert "<details>" in text and course.QUESTIONNAIRE_HEADING in text


# ------------------------------------------------------------------------------------------ questionnaires
def _questionnaire(*questions: str, heading: str = course.QUESTIONNAIRE_HEADING, answer: bool = True) -> str:
    """A notebook's markdown with a questionnaire holding ``questions`` (their text after the number)."""
    region = "\n\n<!-- BEGIN SOLUTION -->\n<details><summary>Answer</summary>\n\nBecause.\n\n</details>\n<!-- END SOLUTION -->"
    body = "\n\n".join(f"**{k}.** {text}" + (region if answer else "") for k, text in enumerate(questions, 1))
    return f"# Title\n\nA lesson.\n\n{heading}\n\nAnswer each question.\n\n{body}\n\n## Further research\n\n**1.** Not a question."


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_questionnaire_asks_more_for_reasons_than_for_recall(path):
    """Every notebook ends with a questionnaire; each question says its kind and hides its answer; at least half
    ask why, what if or predict (issue 18)."""
    markdown = "\n\n".join(c.source for c in percent_source(path).cells if c.cell_type == "markdown")
    assert course.questionnaire_problems(markdown, path.stem) == []
    kinds = [kind for _, kind in course.questionnaire_kinds(markdown)]
    assert len(kinds) >= 6 and 2 * kinds.count("recall") <= len(kinds)


def test_questionnaire_rules_fail_on_a_fabricated_notebook():
    good = _questionnaire("*(why)* Why?", "*(recall)* What?", "*(what if)* What if?", "*(predict)* Guess?")
    assert course.questionnaire_problems(good, "nb") == []
    assert course.questionnaire_kinds(good) == [(1, "why"), (2, "recall"), (3, "what if"), (4, "predict")]
    # half recall is allowed; more is not
    assert course.questionnaire_problems(_questionnaire("*(recall)* A?", "*(why)* B?"), "nb") == []
    too_much_recall = _questionnaire("*(recall)* A?", "*(recall)* B?", "*(why)* C?")
    assert course.questionnaire_problems(too_much_recall, "nb") == [
        "nb: 2 of the questionnaire's 3 questions are *(recall)*; at least half must be *(why)*, *(what if)* or "
        "*(predict)*"]
    untagged = course.questionnaire_problems(_questionnaire("*(why)* A?", "What is B?"), "nb")
    assert len(untagged) == 1 and untagged[0].startswith("nb: question 2 has no kind; start it with one of *(why)*")
    unknown = course.questionnaire_problems(_questionnaire("*(why)* A?", "*(compute)* B?"), "nb")
    assert len(unknown) == 1 and "question 2 has the unknown kind *(compute)*; valid kinds: *(why)*" in unknown[0]
    unanswered = course.questionnaire_problems(_questionnaire("*(why)* A?", "*(why)* B?", answer=False), "nb")
    assert [line.split(" has ")[0] for line in unanswered] == ["nb: question 1", "nb: question 2"]
    assert all("no answer region" in line for line in unanswered)
    renumbered = good.replace("**3.**", "**5.**")
    assert course.questionnaire_problems(renumbered, "nb") == [
        "nb: the questionnaire's questions are numbered [1, 2, 5, 4]; number them 1 to 4"]
    assert course.questionnaire_problems(_questionnaire("*(why)* A?", heading="## Exercises"), "nb") == [
        "nb: no '## Questionnaire' section (every notebook ends with one)"]
    assert course.questionnaire_problems("# T\n\n## Questionnaire\n\nNo questions.", "nb") == [
        "nb: the questionnaire has no questions (write them as **1.** *(why)* ...)"]


@pytest.mark.slow
def test_course_check_names_a_notebook_with_too_much_recall(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "jupytext.toml").write_text((REPO / "jupytext.toml").read_text())
    (tmp_path / "README.md").write_text(f"# x\n\n{course.README_BEGIN}\n{course.README_END}\n")
    markdown = _questionnaire("*(recall)* A?", "*(recall)* B?", "*(why)* C?")
    source = tmp_path / "notebooks" / "00_quickstart.py"
    source.write_text("# %% [markdown]\n" + "\n".join(f"# {line}" if line else "#" for line in markdown.split("\n"))
                      + "\n\n# %%\nx = 1\n")
    course.sync(tmp_path, quiet=True)
    problems = course.check(tmp_path)
    assert [p for p in problems if "LESSONS" not in p] == [
        f"{source}: 2 of the questionnaire's 3 questions are *(recall)*; at least half must be *(why)*, *(what if)* "
        "or *(predict)*"]


def test_question_bank_tags_every_question_with_a_known_kind():
    bank = (REPO / "docs" / "teaching" / "question-bank.md").read_text(encoding="utf-8")
    questions = re.findall(r"^\d+\. (.*)$", bank, re.M)
    assert len(questions) >= 30
    kinds = [re.match(r"\*\(([^)]*)\)\* \S", question) for question in questions]
    assert all(kinds), [q for q, k in zip(questions, kinds) if not k]
    assert {kind.group(1) for kind in kinds} <= set(course.QUESTION_KINDS)
    assert 2 * sum(kind.group(1) == "recall" for kind in kinds) <= len(kinds)


def test_colab_cell_does_nothing_outside_colab(monkeypatch):
    source = course.colab_setup_source()
    ast.parse(source)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(source, "colab-setup", "exec"), {})
    assert calls == []
    assert f'"git+{course.REPOSITORY}@{course.BRANCH}"' in source
    assert "output.enable_custom_widget_manager()" in source


def test_everything_derives_from_the_one_address(tmp_path):
    other = "https://github.com/someone/elsewhere"
    assert course.repository_slug(other) == "someone/elsewhere"
    assert "someone/elsewhere" in course.badges_markdown("00_quickstart", other)
    assert other in course.colab_setup_source(other)
    assert "someone/elsewhere" in course.readme_table(other)
    # the checked-in files follow REPOSITORY, so checking them against another address fails everywhere
    problems = course.check(REPO, repository=other)
    assert any("README.md" in p for p in problems)
    assert sum("badges" in p for p in problems) == len(NOTEBOOKS)
    with pytest.raises(ValueError, match="github.com"):
        course.repository_slug("https://gitlab.com/a/b")
    # no notebook, README or badge spells the address out by hand elsewhere in the package
    spelled = [p for p in (REPO / "tavaal_nb").rglob("*.py") if course.REPOSITORY in p.read_text(encoding="utf-8")]
    assert spelled == [REPO / "tavaal_nb" / "classroom" / "course.py"]


@pytest.mark.slow
def test_sync_rewrites_a_new_notebook_and_is_idempotent(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "jupytext.toml").write_text((REPO / "jupytext.toml").read_text())
    (tmp_path / "README.md").write_text(f"# x\n\n{course.README_BEGIN}\nstale\n{course.README_END}\n")
    source = tmp_path / "notebooks" / "00_quickstart.py"
    source.write_text("# %% [markdown]\n# # Title\n#\n# Text.\n\n# %%\nx = 1\n")
    course.sync(tmp_path, quiet=True)
    text = source.read_text()
    assert course.badges_markdown("00_quickstart") in text and 'tags=["colab-setup", "nbval-skip"]' in text
    assert (tmp_path / "notebooks" / "00_quickstart.ipynb").is_file()
    assert "stale" not in (tmp_path / "README.md").read_text()
    ipynb = (tmp_path / "notebooks" / "00_quickstart.ipynb").read_bytes()
    assert course.sync(tmp_path, quiet=True) == []
    assert (tmp_path / "notebooks" / "00_quickstart.ipynb").read_bytes() == ipynb
    assert source.read_text() == text
    # what sync writes agrees with check (the notebook lacks only a questionnaire and a LESSONS entry, not sync's part)
    assert [p for p in course.check(tmp_path) if "LESSONS" not in p and course.QUESTIONNAIRE_HEADING not in p] == []


def test_readme_links_every_lesson_with_its_badges():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert course.readme_table() in readme
    for lesson in course.LESSONS:
        assert f"({course.NOTEBOOK_DIR}/{lesson.stem}.ipynb)" in readme
        assert course.badges_markdown(lesson.stem) in readme
    assert "make lab" in readme and "make notebook-test" in readme


# ------------------------------------------------------------------------------------------ environments
CONDA_NAMES = {"torch": "pytorch"}


def _requirement(spec: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-\[\]]+?)\s*((?:[<>=!~]=?|==).*)?\s*", spec)
    assert match, spec
    name = re.sub(r"\[.*\]", "", match.group(1)).lower()
    return name, (match.group(2) or "").replace(" ", "")


def _conda_packages(path: Path) -> dict[str, str]:
    import yaml

    env = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert env["channels"] == ["conda-forge"]
    packages = {}
    for entry in env["dependencies"]:
        if isinstance(entry, str) and not entry.startswith(("python", "pip")):
            name, spec = _requirement(entry)
            packages[name] = spec
    return packages


def test_conda_environments_match_each_other_and_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = dict(_requirement(spec) for spec in project["dependencies"] + project["optional-dependencies"]["lab"])
    wanted = {CONDA_NAMES.get(name, name): spec for name, spec in wanted.items()}
    binder = _conda_packages(REPO / "binder" / "environment.yml")
    root = _conda_packages(REPO / "environment.yml")
    assert binder == root
    assert binder == wanted
    assert "cpuonly" not in binder


def test_binder_scripts():
    post_build = REPO / "binder" / "postBuild"
    start = REPO / "binder" / "start"
    for script in (post_build, start):
        assert script.stat().st_mode & 0o111, f"{script.name} must be executable"
        assert script.read_text().startswith("#!/bin/bash")
    assert re.search(r"pip install --no-deps -e \.", post_build.read_text())
    assert "jupytext-config set-default-viewer python" in post_build.read_text()
    text = start.read_text()
    assert "export TAVAAL_PRESET=cpu" in text and text.rstrip().endswith('exec "$@"')


def test_jupytext_pairing_and_make_targets():
    config = tomllib.loads((REPO / "jupytext.toml").read_text(encoding="utf-8"))
    assert config["formats"] == "ipynb,py:percent"
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^test: unit-test notebook-test notebook-sync-check", makefile, re.M)
    assert "TAVAAL_PRESET=ci $(PY) -m pytest --nbval-lax --nbval-current-env notebooks/*.ipynb" in makefile
    assert "git diff --exit-code -- notebooks/" in makefile


@pytest.mark.slow
def test_course_command_line_check_passes():
    done = subprocess.run([sys.executable, "-m", "tavaal_nb.classroom.course", "check", "--root", str(REPO)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_repository_root_and_pick_dataset(tmp_path, capsys):
    assert repository_root(REPO / "notebooks") == REPO
    assert repository_root(tmp_path) is None
    assert environment.pick_dataset(["cifar100", "synthetic-grey"], data_dir=str(tmp_path), download=False) == "synthetic-grey"
    assert "cifar100: not available" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError):
        environment.pick_dataset(["cifar100"], data_dir=str(tmp_path), download=False)
