# nbgrader configuration for grading the course's exercises with nbgrader's own pipeline. Copy it into your
# nbgrader course directory (the folder holding source/, submitted/ and gradebook.db), put each assignment's
# instructor notebooks (notebooks/NN_topic.ipynb of the default branch) in source/<assignment>/, then:
#   nbgrader generate_assignment <assignment>   # release/: solutions stubbed, hidden tests removed; gradebook keeps them
#   nbgrader autograde <assignment>             # submitted/<student>/<assignment>/ -> autograded/, scores in gradebook.db
# Every graded test cell (the checker under an exercise) carries nbgrader's metadata (grade, points, grade_id) and,
# between `### BEGIN HIDDEN TESTS` / `### END HIDDEN TESTS`, tests that recompute the answer on their own (numpy or
# torch by hand): autograde restores them from the gradebook, so a copy whose checker was edited still fails them.
# The solution cells and the questionnaires' answers carry the markers only (no nbgrader metadata: jupytext's .py
# sources keep the graded cells' metadata alone), hence enforce_metadata off, as in the student edition.
c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)
c.CourseDirectory.course_id = "tavaal-nb"
c.ClearSolutions.enforce_metadata = False
c.ClearHiddenTests.enforce_metadata = False
c.Execute.timeout = 600  # seconds per cell: notebooks 03, 04 and 06-08 train models
