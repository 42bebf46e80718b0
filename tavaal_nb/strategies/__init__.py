"""Query strategies by name. Each returns the chosen pool indices and per-candidate scores."""

from tavaal_nb.strategies.badge import BADGE
from tavaal_nb.strategies.base import QueryContext, Selection, Strategy, highest, lowest
from tavaal_nb.strategies.coreset import CoreSet, k_center_greedy
from tavaal_nb.strategies.gcn import CoreGCN, UncertainGCN
from tavaal_nb.strategies.simple import EntropySampling, LearningLoss, LearningLossV2, RandomSampling
from tavaal_nb.strategies.vaal import TAVAAL, VAAL
from tavaal_nb.strategies.vaal_lloss import VAALLearningLoss

METHODS: dict[str, Strategy] = {
    strategy.name: strategy
    for strategy in (RandomSampling(), LearningLoss(), LearningLossV2(), VAAL(), TAVAAL(), CoreSet(), EntropySampling(),
                     VAALLearningLoss(), UncertainGCN(), CoreGCN(), BADGE())
}
"""Every method name accepted by ``--method``, mapped to its strategy."""


def get_strategy(name: str) -> Strategy:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHODS)}")
    return METHODS[name]


__all__ = [
    "METHODS", "get_strategy", "QueryContext", "Selection", "Strategy", "highest", "lowest",
    "RandomSampling", "LearningLoss", "LearningLossV2", "VAAL", "TAVAAL", "CoreSet", "EntropySampling",
    "k_center_greedy", "VAALLearningLoss", "UncertainGCN", "CoreGCN", "BADGE",
]
