# nbconvert configuration that makes the student version of one notebook, for teachers who use nbconvert
# directly; `make student` (python -m tavaal_nb.classroom.student_edition build) runs the same preprocessors and also
# writes the student README and the answer key. The preprocessors (tavaal_nb.classroom.student_edition.student_config):
# nbgrader's ClearSolutions (every `BEGIN SOLUTION` ... `END SOLUTION` region becomes `raise NotImplementedError()`
# in code, "YOUR ANSWER HERE" in markdown), ClearHiddenTests, ClearOutput, then the course's PointToStudentEdition (badges, Colab
# install and GitHub links open the `student` branch) and KeepStudentMetadataOnly. Usage:
#   jupyter nbconvert --config teaching/student_version.py --to notebook --output-dir student/notebooks notebooks/*.ipynb
from tavaal_nb.classroom.student_edition import student_config

c = get_config()  # noqa: F821 (provided by traitlets when nbconvert loads this file)
c.merge(student_config())
