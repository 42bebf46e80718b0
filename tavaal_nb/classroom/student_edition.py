"""The student edition of the course: the notebooks without their solutions, on a branch of their own.

``notebooks/`` on the default branch (:data:`tavaal_nb.classroom.course.BRANCH`) is the instructor's edition: every
exercise's solution between nbgrader's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers and every
questionnaire's answer between ``<!-- BEGIN SOLUTION -->`` / ``<!-- END SOLUTION -->``. The student edition
is that course with

- each solution replaced by nbgrader's stub (:class:`nbgrader.preprocessors.ClearSolutions`: code becomes
  ``raise NotImplementedError()``, whose checker then says "not implemented yet"; an answer becomes
  "YOUR ANSWER HERE"), any ``### BEGIN HIDDEN TESTS`` region removed (``ClearHiddenTests``), outputs cleared;
- its Colab and Binder badges, its Colab install cell and every address of the course pointing at the
  student branch (:data:`STUDENT_BRANCH`), never at the instructor's (:class:`PointToStudentEdition`); links
  between notebooks stay relative, so they open the student notebook of the same name;
- no metadata or attachment beyond what a student needs (:class:`KeepStudentMetadataOnly`).

It lives on the branch :data:`STUDENT_BRANCH` of the same repository: the repository's files with ``notebooks/``
holding the student notebooks only, a student ``README.md``, a ``Makefile`` without the teacher's targets
(:func:`student_makefile`), and without the instructor's material (:data:`INSTRUCTOR_ONLY`: the tests, the
teaching kit with its question bank, the notebooks' ``.py`` sources, and this module, whose text describes the
instructor's edition). Its commit message names no commit of the instructor's branch. The answers go to
:data:`ANSWERS_DIR`, a key for the instructor that is never committed to the branch.
Usage (``make student``, ``make student-branch``)::

    python -m tavaal_nb.classroom.student_edition build --out student     # student/notebooks, README.md, ANSWERS-instructor-only
    python -m tavaal_nb.classroom.student_edition publish                 # commit the edition of HEAD onto the branch `student`
    git push origin student                                     # then the badges open it

``publish`` writes the commit with git's plumbing and a temporary index: the working tree, the index and the
current branch are left as they are. ``teaching/student_version.py`` is the same preprocessors as an nbconvert
configuration. This is a teacher's tool: it needs the ``teach`` extra (nbgrader, nbconvert).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from nbconvert.exporters import NotebookExporter
from nbconvert.preprocessors import Preprocessor
from traitlets import Unicode
from traitlets.config import Config

from tavaal_nb.analysis.checkout import repository_root
from tavaal_nb.classroom.course import (
    BRANCH,
    LESSONS,
    NOTEBOOK_DIR,
    NOTEBOOK_PATTERN,
    REPOSITORY,
    readme_table,
    repository_slug,
)
from tavaal_nb.files import atomic_write_text

__all__ = [
    "STUDENT_BRANCH", "ANSWERS_DIR", "INSTRUCTOR_ONLY", "REPLACED", "PointToStudentEdition", "KeepStudentMetadataOnly",
    "student_config", "student_addresses", "instructor_addresses", "relative_links", "answer_key",
    "student_readme", "student_makefile", "build", "publish", "main",
]

STUDENT_BRANCH = "student"
"""The branch that holds the student edition; its notebooks' badges open it and Colab installs from it."""
ANSWERS_DIR = "ANSWERS-instructor-only"
"""Where ``build`` writes the answer key (one markdown file per notebook); never part of the student branch."""
INSTRUCTOR_ONLY = ("tests", "teaching", ".ci", "docs/teaching", "docs/site", "jupytext.toml",
                   "tavaal_nb/classroom/student_edition.py", "CHANGELOG.md", "CONTRIBUTING.md")
"""Paths of the repository left out of the student branch: the tests, the teaching kit (the question bank has
answers), the site's build, the jupytext pairing of the notebooks' ``.py`` sources, this module (the teacher's
tool, whose text says where the instructor's edition is), and the maintainers' changelog and contributing guide
(they name the teacher's tools and the instructor's edition)."""
REPLACED = (NOTEBOOK_DIR, "README.md", "Makefile")
"""Paths of the repository that the student branch holds in their student edition."""
MAKEFILE_BEGIN, MAKEFILE_END = "# student-edition:begin", "# student-edition:end"
"""The lines around the ``Makefile``'s teacher-only block (``make student``, ``make student-branch``), which the
student branch leaves out."""
TEACHER_WORDS = ("student_edition", "student-branch", "instructor", "ANSWERS")
"""Words that a student ``Makefile`` must not hold: they would point at the instructor's edition or its answers."""
SOLUTION_BEGIN, SOLUTION_END = "BEGIN SOLUTION", "END SOLUTION"
NOTEBOOK_METADATA = ("kernelspec", "language_info")
CELL_METADATA = ("tags",)
MARKDOWN_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


# ------------------------------------------------------------------------------ addresses
def _address_patterns(repository: str, branch: str) -> list[re.Pattern]:
    """Every way the course writes an address on ``branch``, the part before the branch name as group 1: GitHub
    and Colab (``owner/name/blob/BRANCH/``), Binder (``/v2/gh/owner/name/BRANCH``), pip (``git+...@BRANCH``)."""
    slug = re.escape(repository_slug(repository))
    b = re.escape(branch)
    return [
        re.compile(rf"({slug}/(?:blob|tree|raw)/){b}(?=/)"),
        re.compile(rf"(/v2/gh/{slug}/){b}(?=[/?#\s)]|$)"),
        re.compile(rf"(git\+{re.escape(repository)}(?:\.git)?@){b}(?=[\s\"']|$)"),
    ]


def student_addresses(text: str, repository: str = REPOSITORY, student_branch: str = STUDENT_BRANCH,
                      instructor_branch: str = BRANCH) -> str:
    """``text`` with every address of the instructor's branch (badges, GitHub links, the Colab install)
    pointing at the student branch instead."""
    for pattern in _address_patterns(repository, instructor_branch):
        text = pattern.sub(lambda match: match.group(1) + student_branch, text)
    return text


def instructor_addresses(text: str, repository: str = REPOSITORY, instructor_branch: str = BRANCH) -> list[str]:
    """Every address of the instructor's branch that ``text`` still holds (empty for a student notebook)."""
    return [match.group(0) for pattern in _address_patterns(repository, instructor_branch)
            for match in pattern.finditer(text)]


def relative_links(markdown: str) -> list[str]:
    """The targets of the markdown links in ``markdown`` that are paths, not URLs or anchors."""
    targets = (match.group(1) for match in MARKDOWN_LINK.finditer(markdown))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I) and not t.startswith("#")]


def _link_problem(target: str, stems: set[str]) -> str | None:
    """Why a relative link of a student notebook (in ``notebooks/``) would not open the student edition on the
    student branch (None when it does)."""
    path = target.split("#")[0].split("?")[0]
    resolved = os.path.normpath(os.path.join(NOTEBOOK_DIR, path))
    if resolved.startswith(".."):
        return "it leaves the repository"
    folder, _, name = resolved.rpartition("/")
    if folder == NOTEBOOK_DIR:
        if name.endswith(".ipynb") and name[:-len(".ipynb")] in stems:
            return None
        if NOTEBOOK_PATTERN.match(name):
            return "the notebook sources (.py) are instructor-only"
        return "the student edition's notebooks/ holds the course's notebooks only"
    for excluded in INSTRUCTOR_ONLY:
        if resolved == excluded or resolved.startswith(excluded + "/"):
            return f"{excluded} is instructor-only (not on the student branch)"
    return None


# ------------------------------------------------------------------------------ preprocessors
class PointToStudentEdition(Preprocessor):
    """Rewrites a notebook's addresses to the student edition: the Colab and Binder badges, the Colab install
    cell (``pip install git+REPOSITORY@student``) and any GitHub link to the instructor's branch. Links between
    notebooks are relative and stay so (the student branch keeps the notebooks' names in ``notebooks/``).
    Fails, naming the cell, when an address of the instructor's branch or a link to instructor-only material
    would remain."""

    repository = Unicode(REPOSITORY, help="the repository's public address").tag(config=True)
    student_branch = Unicode(STUDENT_BRANCH, help="the branch that holds the student edition").tag(config=True)
    instructor_branch = Unicode(BRANCH, help="the branch that holds the instructor's edition").tag(config=True)

    def preprocess(self, nb, resources):
        if self.student_branch == self.instructor_branch:
            raise ValueError(f"the student branch must differ from the instructor's ({self.instructor_branch!r}); "
                             "set PointToStudentEdition.student_branch to another branch name")
        name = (resources or {}).get("metadata", {}).get("name", "notebook")
        stems = {lesson.stem for lesson in LESSONS}
        for index, cell in enumerate(nb.cells):
            cell.source = student_addresses(cell.source, self.repository, self.student_branch, self.instructor_branch)
            left = instructor_addresses(cell.source, self.repository, self.instructor_branch)
            if left:
                raise ValueError(f"{name}: cell {index} still points at the instructor's branch: {left[0]}")
            if cell.cell_type == "markdown":
                for target in relative_links(cell.source):
                    problem = _link_problem(target, stems)
                    if problem:
                        raise ValueError(f"{name}: cell {index} links to {target!r}, which the student edition "
                                         f"does not have ({problem}); link a notebook of the course or a URL")
        return nb, resources


class KeepStudentMetadataOnly(Preprocessor):
    """Drops what a student notebook does not need and could leak through: notebook metadata other than the
    kernel's (jupytext's pairing, nbgrader's), cell metadata other than the tags (``colab-setup``,
    ``nbval-skip``), and every attachment the cell's text no longer shows (one a cleared answer showed)."""

    def preprocess(self, nb, resources):
        nb.metadata = {key: value for key, value in nb.metadata.items() if key in NOTEBOOK_METADATA}
        for cell in nb.cells:
            cell.metadata = {key: value for key, value in cell.metadata.items() if key in CELL_METADATA}
            if "attachments" in cell:
                kept = {key: value for key, value in cell.attachments.items() if f"attachment:{key}" in cell.source}
                if kept:
                    cell.attachments = kept
                else:
                    del cell["attachments"]
        return nb, resources


def student_config(repository: str = REPOSITORY, student_branch: str = STUDENT_BRANCH) -> Config:
    """The nbconvert configuration that turns an instructor notebook into a student one (the one list of
    preprocessors: ``build`` and ``teaching/student_version.py`` both use it)."""
    config = Config()
    config.NotebookExporter.preprocessors = [
        "nbgrader.preprocessors.ClearSolutions",
        "nbgrader.preprocessors.ClearHiddenTests",
        "nbconvert.preprocessors.ClearOutputPreprocessor",
        f"{__name__}.PointToStudentEdition",
        f"{__name__}.KeepStudentMetadataOnly",
    ]
    # the solution cells carry the markers only (no nbgrader cell metadata, which jupytext's pairing would not
    # keep): nbgrader's documented lightweight use
    config.ClearSolutions.enforce_metadata = False
    config.ClearHiddenTests.enforce_metadata = False
    config.PointToStudentEdition.repository = repository
    config.PointToStudentEdition.student_branch = student_branch
    return config


# ------------------------------------------------------------------------------ the answer key
def _solution_regions(source: str) -> list[str]:
    regions: list[str] = []
    current: list[str] | None = None  # the lines of the region being read, None outside one
    for line in source.split("\n"):
        if SOLUTION_BEGIN in line:
            current = []
        elif SOLUTION_END in line and current is not None:
            regions.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return regions


def answer_key(notebook, title: str) -> str:
    """The instructor's answer key of one notebook (a nbformat notebook), in notebook order: every code cell
    with a solution region (whole, markers included) and every questionnaire answer."""
    parts = [f"# Answers: {title}", "",
             "Instructor only: the solutions that the student edition replaces by a stub, in notebook order.", ""]
    for index, cell in enumerate(notebook.cells):
        regions = _solution_regions(cell.source)
        if not regions:
            continue
        parts += [f"## cell {index} ({cell.cell_type})", ""]
        if cell.cell_type == "code":  # the whole cell: the solution with the signature and checker it fills in
            parts += [f"```python\n{cell.source.strip(chr(10))}\n```", ""]
        else:
            parts += [region.strip("\n") + "\n" for region in regions]
    return "\n".join(parts)


def student_readme(repository: str = REPOSITORY, student_branch: str = STUDENT_BRANCH) -> str:
    """The README of the student branch: how to open the notebooks, and the course table with its badges."""
    return "\n".join([
        "# TA-VAAL, a course in notebooks: student edition",
        "",
        f"This branch (`{student_branch}`) is the student edition of the course: the exercises' cells say",
        "`raise NotImplementedError()` for you to write them (the checker under each cell says what is still",
        "wrong), and each questionnaire leaves a space for your answer. Your teacher holds the answers.",
        "",
        "Open a notebook with its Colab or Binder badge below, or work on your machine:",
        "",
        "```bash",
        f"git clone --branch {student_branch} --single-branch {repository}.git",
        f"cd {repository_slug(repository).split('/')[1]}",
        "make lab        # creates .venv, installs the package, opens JupyterLab on notebooks/",
        "```",
        "",
        "Set the preset first if your teacher says so: `TAVAAL_PRESET=ci make lab` (in class) or",
        "`TAVAAL_PRESET=cpu make lab` (at home).",
        "",
        readme_table(repository, student_branch),
        "",
    ])


def student_makefile(text: str) -> str:
    """The student branch's ``Makefile``: ``text`` without its teacher-only block (the lines from
    :data:`MAKEFILE_BEGIN` to :data:`MAKEFILE_END`, both included). Raises ``ValueError`` when the markers are
    unbalanced or a line outside them still names the instructor's edition (:data:`TEACHER_WORDS`)."""
    kept, inside = [], False
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith(MAKEFILE_BEGIN):
            if inside:
                raise ValueError(f"Makefile line {number}: a second {MAKEFILE_BEGIN!r} before {MAKEFILE_END!r}")
            inside = True
        elif line.startswith(MAKEFILE_END):
            if not inside:
                raise ValueError(f"Makefile line {number}: {MAKEFILE_END!r} without {MAKEFILE_BEGIN!r}")
            inside = False
        elif not inside:
            found = [word for word in TEACHER_WORDS if word in line]
            if found:
                raise ValueError(f"Makefile line {number} names {found[0]!r} outside the teacher-only block; move "
                                 f"it between {MAKEFILE_BEGIN!r} and {MAKEFILE_END!r}")
            kept.append(line)
    if inside:
        raise ValueError(f"Makefile: {MAKEFILE_BEGIN!r} without {MAKEFILE_END!r}")
    return "\n".join(kept)


# ------------------------------------------------------------------------------ commands
def _course_notebooks(notebooks_dir: Path) -> list[Path]:
    paths = sorted(p for p in notebooks_dir.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.stem + ".py"))
    if not paths:
        raise FileNotFoundError(f"no course notebook (NN_topic.ipynb) in {notebooks_dir}")
    return paths


def build(notebooks_dir: str | Path, out: str | Path, repository: str = REPOSITORY,
          student_branch: str = STUDENT_BRANCH) -> list[Path]:
    """Write the student edition of ``notebooks_dir``'s notebooks under ``out``: ``notebooks/NN_topic.ipynb``,
    ``README.md`` (both what the student branch holds) and the answer key in ``ANSWERS_DIR/NN_topic.md``.
    Returns the files written."""
    import nbformat

    notebooks_dir, out = Path(notebooks_dir), Path(out)
    exporter = NotebookExporter(config=student_config(repository, student_branch))
    written = []
    for folder in (out / NOTEBOOK_DIR, out / ANSWERS_DIR):
        folder.mkdir(parents=True, exist_ok=True)
    for path in _course_notebooks(notebooks_dir):
        node, _ = exporter.from_filename(str(path), resources={"metadata": {"name": path.stem}})
        body = cast(str, node)  # NotebookExporter returns the notebook's JSON text (nbconvert annotates a node)
        target = out / NOTEBOOK_DIR / path.name
        atomic_write_text(target, body)  # a link planted in --out is replaced, never written through
        key = out / ANSWERS_DIR / f"{path.stem}.md"
        atomic_write_text(key, answer_key(nbformat.read(path, as_version=4), path.stem))
        written += [target, key]
    readme = out / "README.md"
    atomic_write_text(readme, student_readme(repository, student_branch))
    return written + [readme]


def _git(root: Path, *args: str, env: dict | None = None, raw: bool = False) -> Any:
    """``git -C root args...``'s output (stripped text, or bytes when ``raw``); a failure is one RuntimeError line
    naming the command and git's first line of complaint."""
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, env=env)
    except OSError as error:
        raise RuntimeError(f"git cannot be run ({error.strerror or error})") from None
    if done.returncode != 0:
        said = os.fsdecode(done.stderr or done.stdout).strip().splitlines()
        raise RuntimeError(f"git {' '.join(args)} failed in {root}: {said[-1] if said else 'no message'}")
    return done.stdout if raw else os.fsdecode(done.stdout).strip()


def _check_branch(root: Path, name: str) -> None:
    """Refuse a student branch name that git refuses for a branch (``HEAD``, ``-x``, ``a..b``, ...)."""
    done = subprocess.run(["git", "-C", str(root), "check-ref-format", "--branch", name], capture_output=True)
    if name == "HEAD" or name.startswith("-") or done.returncode != 0:
        raise ValueError(f"{name!r} is not a branch name git accepts; give another --branch (default: "
                         f"{STUDENT_BRANCH})")


def publish(root: str | Path = ".", source: str = "HEAD", student_branch: str = STUDENT_BRANCH,
            repository: str = REPOSITORY) -> str | None:
    """Commit the student edition of ``source`` (a commit of the repository at ``root``) onto the local branch
    ``student_branch``: ``source``'s files less :data:`INSTRUCTOR_ONLY`, with the student ``notebooks/`` and
    ``README.md`` (:data:`REPLACED`). The answer key is not committed. Git's plumbing with a temporary index
    does it, so the working tree, the index and the checked-out branch stay as they were. Returns the new
    commit, or None when the branch already holds this edition."""
    root = Path(root)
    if student_branch == BRANCH:
        raise ValueError(f"the student branch must differ from the instructor's {BRANCH!r}; got {student_branch!r}")
    found = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{source}^{{commit}}"],
                           capture_output=True, text=True)
    if found.returncode != 0:
        raise ValueError(f"{source!r} is not a commit of a git repository at {root}; give a commit, branch or tag "
                         "of the instructor's edition (default: HEAD)")
    commit = found.stdout.strip()
    _check_branch(root, student_branch)
    ref = f"refs/heads/{student_branch}"
    checked_out = [line.split(" ", 1)[1] for line in _git(root, "worktree", "list", "--porcelain").splitlines()
                   if line.startswith("branch ")]
    if ref in checked_out:
        raise RuntimeError(f"branch {student_branch!r} is checked out in a worktree; check out another branch "
                           "there first (publish must not rewrite a checked-out branch)")
    with tempfile.TemporaryDirectory(prefix="student-edition-") as tmp_name:
        tmp = Path(tmp_name)
        if not _git(root, "ls-tree", "--name-only", commit, NOTEBOOK_DIR):
            raise ValueError(f"commit {commit[:12]} of {root} has no {NOTEBOOK_DIR}/ folder: give the root of the "
                             "course's repository (--root) and a commit of it that holds the notebooks (--source)")
        archive = _git(root, "archive", "--format=tar", commit, NOTEBOOK_DIR, raw=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        edition = tmp / "edition"
        build(tmp / NOTEBOOK_DIR, edition, repository, student_branch)
        env = dict(os.environ, GIT_INDEX_FILE=str(tmp / "index"))
        _git(root, "read-tree", commit, env=env)
        _git(root, "rm", "--cached", "-r", "-q", "--ignore-unmatch", "--", *INSTRUCTOR_ONLY, *REPLACED, env=env)
        files = sorted((edition / NOTEBOOK_DIR).glob("*.ipynb")) + [edition / "README.md"]
        makefile = subprocess.run(["git", "-C", str(root), "show", f"{commit}:Makefile"], capture_output=True, text=True)
        if makefile.returncode == 0:
            (edition / "Makefile").write_text(student_makefile(makefile.stdout), encoding="utf-8")
            files.append(edition / "Makefile")
        for path in files:
            blob = _git(root, "hash-object", "-w", "--", str(path))
            _git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path.relative_to(edition).as_posix()}",
                 env=env)
        tree = _git(root, "write-tree", env=env)
    parent = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                            capture_output=True, text=True).stdout.strip()
    if parent and _git(root, "rev-parse", f"{parent}^{{tree}}") == tree:
        return None
    message = ("Student edition of the course\n\n"
               "notebooks/ holds the student notebooks: each exercise to write and each question to answer, with "
               "badges and the Colab install pointing at this branch.")
    new = _git(root, "commit-tree", tree, *(["-p", parent] if parent else []), "-m", message)
    _git(root, "update-ref", "-m", "student edition", ref, new, *([parent] if parent else []))
    return new


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tavaal_nb.classroom.student_edition", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="write the student edition and the answer key into a folder")
    build_parser.add_argument("--out", default="student", help="the folder to write (default: student)")
    build_parser.add_argument("--notebooks", default=None, help="the instructor notebooks (default: ROOT/notebooks)")
    publish_parser = commands.add_parser("publish", help="commit the student edition onto a local branch")
    publish_parser.add_argument("--source", default="HEAD", help="the commit to build it from (default: HEAD)")
    for sub in (build_parser, publish_parser):
        sub.add_argument("--branch", default=STUDENT_BRANCH, help=f"the student branch (default: {STUDENT_BRANCH})")
        sub.add_argument("--root", default=None, help="the repository checkout (default: found from here)")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else (repository_root() or Path.cwd())
    try:
        if args.command == "build":
            written = build(Path(args.notebooks) if args.notebooks else root / NOTEBOOK_DIR, args.out,
                            student_branch=args.branch)
            notebooks = [p for p in written if p.suffix == ".ipynb"]
            print(f"student edition: {len(notebooks)} notebooks in {Path(args.out) / NOTEBOOK_DIR}, "
                  f"answer key (instructor only) in {Path(args.out) / ANSWERS_DIR}")
        else:
            new = publish(root, args.source, args.branch)
            if new is None:
                print(f"branch {args.branch} already holds the student edition of {args.source}")
            else:
                print(f"branch {args.branch} -> {new[:12]}: the student edition of {args.source}; "
                      f"publish it with `git push origin {args.branch}`")
    except (ValueError, RuntimeError, FileNotFoundError) as error:
        print(f"student edition: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
