"""tavaal-nb: Task-Aware Variational Adversarial Active Learning (Kim et al., CVPR 2021),
a faithful and fast implementation for a Jupyter course and for research."""

from tavaal_nb.callbacks import Callback
from tavaal_nb.config import PRESETS, Config, make_config
from tavaal_nb.loop import run_experiment
from tavaal_nb.results import Results, load_results
from tavaal_nb.strategies import (
    QueryContext,
    Selection,
    Strategy,
    StrategyParam,
    get_strategy,
    load_plugin,
    register_strategy,
    select_by_scores,
    strategy_names,
    unregister_strategy,
)
from tavaal_nb.version import __version__

__all__ = [
    "Config", "PRESETS", "make_config", "Callback", "run_experiment", "Results", "load_results",
    "register_strategy", "unregister_strategy", "get_strategy", "strategy_names", "load_plugin", "Strategy",
    "StrategyParam", "QueryContext", "Selection", "select_by_scores", "__version__",
]
