"""The classroom: what the course's notebooks use on top of the engine and the read side.

=====================  ==============================================================================
:mod:`.course`         the course's table of lessons and the notebooks' sync check (badges, Colab cells)
:mod:`.course_runtime` how long a lesson takes at a preset, on the CPU or a GPU
:mod:`.environment`    which dataset this machine has
:mod:`.diagram`        TA-VAAL's pipeline as a diagram, any piece highlighted
:mod:`.exercises`      graded exercises: checkers of the learner's code
:mod:`.sandbox`        the 2-D sandbox (notebook 01): toy pools, a small learner, strategies
:mod:`.widgets`        interactive views for Jupyter
:mod:`.computations`   the notebooks' training-based measurements (loss predictors, VAE images, random entropies)
=====================  ==============================================================================
"""
