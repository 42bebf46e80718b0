"""VAAL + learning loss (sec. 6.2, Fig. 5 of the paper): TA-VAAL with eq. 4 replaced by eq. 1.

The VAE's decoder and the discriminator are conditioned on the output of a Ranker that
is trained jointly with the task model by Learning Loss's margin ranking loss (eq. 1,
margin ``Config.ranker_margin``) instead of TA-VAAL's ranking BCE (eq. 4). Everything else,
training and selection by the lowest ``D(mu, r)`` (eq. 9), is TA-VAAL's.
"""

from __future__ import annotations

from tavaal_nb.strategies.vaal import TAVAAL

__all__ = ["VAALLearningLoss"]


class VAALLearningLoss(TAVAAL):
    name = "vaal-lloss"
    help = "VAAL + learning loss (the paper's sec. 6.2): TA-VAAL whose Ranker is trained with eq. 1, not eq. 4"
    ranker_objective = "margin"
