"""Checkers for the course's exercises: the learner writes a piece of TA-VAAL, a checker grades it.

Each ``check_*`` function calls the learner's function on random and edge cases (ties,
odd batches, shapes, dtypes, gradients), compares it with the package's own
implementation, prints one line when everything agrees and otherwise raises
:class:`ExerciseFailed` naming the case and what differs, without showing the
reference's code; the hint names the symptom measured (a term that does not depend on
an input, a weight that looks swapped, a gradient that does not arrive). Random answers are
graded under noise that does not depend on the order of the draws, so every correct order
of the pools passes. While a checker runs, the package's own solution (e.g.
``bce_ranking_loss``, ``class_entropy``) is a tripwire inside the learner's call: an answer
that delegates to it fails with "your answer calls the package's ...; write it yourself".
A function that *is* one of the package's (an alias such as ``my_entropy = class_entropy``, a
``functools.partial``, a bound method, a decorated wrapper, a copy of its code) is refused before any case
runs (:func:`~tavaal_nb.classroom.exercises.harness.handed_in_reference`).
A function that still raises ``NotImplementedError`` (nbgrader's student stub) gives
:class:`NotImplementedYet`: "not implemented yet: write ... in the cell above".

| notebook | the learner writes | checker |
|---|---|---|
| 01 | the pool-based loop; random, entropy, margin sampling; greedy k-center; BALD | :func:`check_active_loop`, :func:`check_random_sampling`, :func:`check_entropy_sampling`, :func:`check_margin_sampling`, :func:`check_k_center`, :func:`check_bald` |
| 02 | eq. 4, the Ranker loss | :func:`check_ranker_loss` |
| 03 | the reparameterisation; eq. 6 | :func:`check_reparameterize`, :func:`check_conditional_vae_objective` |
| 04 | one adversarial step (eqs. 7, 8); eq. 9 | :func:`check_adversarial_step`, :func:`check_selection` |
| 05 | the class-count entropy; Table 1 | :func:`check_class_entropy`, :func:`check_table_1_row` |
| 06 | the paired difference of two methods with its t interval | :func:`check_paired_interval` |
| 07 | the area under a learning curve | :func:`check_aulc` |
| 08 | the labels needed to reach a target accuracy | :func:`check_labels_to_reach` |

A cell that uses an answer starts with :func:`needs_answers` (``needs_answers(my_fn, where="section 8")``): while
the answer is still the stub it raises :class:`AnswerNeeded`, one line naming what to write first.
"""

from tavaal_nb.classroom.exercises.adversarial import check_adversarial_step, check_selection
from tavaal_nb.classroom.exercises.bald import check_bald
from tavaal_nb.classroom.exercises.entropy import check_class_entropy, check_table_1_row
from tavaal_nb.classroom.exercises.evaluation import check_aulc, check_labels_to_reach, check_paired_interval
from tavaal_nb.classroom.exercises.harness import ExerciseFailed, NotImplementedYet
from tavaal_nb.classroom.exercises.k_center import check_k_center
from tavaal_nb.classroom.exercises.loop import check_active_loop, sandbox_loop_pieces
from tavaal_nb.classroom.exercises.prerequisites import AnswerNeeded, needs_answers
from tavaal_nb.classroom.exercises.ranking import check_ranker_loss
from tavaal_nb.classroom.exercises.sampling import check_entropy_sampling, check_margin_sampling, check_random_sampling
from tavaal_nb.classroom.exercises.vae import check_conditional_vae_objective, check_reparameterize

__all__ = [
    "ExerciseFailed",
    "NotImplementedYet",
    "check_active_loop",
    "sandbox_loop_pieces",
    "check_random_sampling",
    "check_entropy_sampling",
    "check_margin_sampling",
    "check_k_center",
    "check_bald",
    "check_ranker_loss",
    "check_reparameterize",
    "check_conditional_vae_objective",
    "check_adversarial_step",
    "check_selection",
    "check_class_entropy",
    "check_table_1_row",
    "check_paired_interval",
    "check_aulc",
    "check_labels_to_reach",
    "AnswerNeeded",
    "needs_answers",
]
