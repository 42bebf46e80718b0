"""Query strategies by name. A strategy implements ``select(context) -> Selection``;
:func:`register_strategy` makes one (or a plain scoring function) selectable by name."""

from tavaal_nb.strategies.badge import BADGE
from tavaal_nb.strategies.base import (
    PREFERENCES,
    QueryContext,
    Selection,
    Strategy,
    highest,
    lowest,
    select_by_scores,
)
from tavaal_nb.strategies.coreset import CoreSet, k_center_greedy
from tavaal_nb.strategies.gcn import CoreGCN, UncertainGCN
from tavaal_nb.strategies.params import StrategyParam
from tavaal_nb.strategies.registry import (
    BUILTIN_METHODS,
    METHODS,
    PLUGINS_ENV,
    ScoringStrategy,
    get_strategy,
    load_plugin,
    load_plugins,
    register_strategy,
    strategy_names,
    unregister_strategy,
)
from tavaal_nb.strategies.scores import entropy_scores, margin_scores
from tavaal_nb.strategies.simple import EntropySampling, LearningLoss, LearningLossV2, MarginSampling, RandomSampling
from tavaal_nb.strategies.vaal import TAVAAL, VAAL
from tavaal_nb.strategies.vaal_lloss import VAALLearningLoss

__all__ = [
    "METHODS", "BUILTIN_METHODS", "get_strategy", "strategy_names", "register_strategy", "unregister_strategy",
    "load_plugin", "load_plugins", "PLUGINS_ENV", "QueryContext", "Selection", "Strategy", "ScoringStrategy", "select_by_scores", "PREFERENCES",
    "highest", "lowest", "StrategyParam", "RandomSampling", "LearningLoss", "LearningLossV2", "VAAL", "TAVAAL", "CoreSet",
    "EntropySampling", "MarginSampling", "entropy_scores", "margin_scores", "k_center_greedy", "VAALLearningLoss", "UncertainGCN", "CoreGCN", "BADGE",
]
