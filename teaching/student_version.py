# nbconvert configuration that makes the student version of the course (`make student`).
#
# nbgrader's own ClearSolutions preprocessor replaces every region between `### BEGIN SOLUTION` and
# `### END SOLUTION` by `raise NotImplementedError()`; the solution cells carry the markers only (no nbgrader
# cell metadata, which jupytext's pairing would not keep), hence enforce_metadata = False, nbgrader's
# documented lightweight use. Outputs are cleared too. Usage:
#   jupyter nbconvert --config teaching/student_version.py --to notebook --output-dir student notebooks/*.ipynb
c = get_config()  # noqa: F821 (provided by traitlets when nbconvert loads this file)
c.NotebookExporter.preprocessors = [
    "nbgrader.preprocessors.ClearSolutions",
    "nbconvert.preprocessors.ClearOutputPreprocessor",
]
c.ClearSolutions.enforce_metadata = False
