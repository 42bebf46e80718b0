"""tavaal-nb: Task-Aware Variational Adversarial Active Learning (Kim et al., CVPR 2021),
a faithful and fast implementation for a Jupyter course and for research."""

from tavaal_nb.config import PRESETS, Config, make_config
from tavaal_nb.loop import Callback, run_experiment
from tavaal_nb.results import Results, load_results

__version__ = "0.1.0"
__all__ = ["Config", "PRESETS", "make_config", "Callback", "run_experiment", "Results", "load_results", "__version__"]
