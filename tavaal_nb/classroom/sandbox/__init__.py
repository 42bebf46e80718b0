"""A 2-D active-learning sandbox: toy pools, a tiny MLP, the strategies in miniature, a fast loop."""

from tavaal_nb.classroom.sandbox.figures import CLASS_COLORS, sandbox_curves_figure, sandbox_figure
from tavaal_nb.classroom.sandbox.learner import SandboxMLP, mc_dropout_probabilities, train_mlp
from tavaal_nb.classroom.sandbox.pool import POOL_KINDS, ToyPool, make_toy_pool, toy_class_counts
from tavaal_nb.classroom.sandbox.run import (
                                          SandboxRun,
                                          compare_strategies,
                                          initial_labeled,
                                          run_sandbox,
                                          sandbox_context,
)
from tavaal_nb.classroom.sandbox.strategies import (
                                          SANDBOX_STRATEGIES,
                                          SandboxContext,
                                          SandboxStrategy,
                                          discriminator_scores,
                                          resolve_strategy,
                                          scoring_strategy,
)
from tavaal_nb.classroom.sandbox.widget import SandboxView

__all__ = [
    "POOL_KINDS", "ToyPool", "make_toy_pool", "toy_class_counts", "SandboxMLP", "train_mlp", "mc_dropout_probabilities",
    "SandboxContext", "SandboxStrategy", "scoring_strategy",
    "discriminator_scores", "SANDBOX_STRATEGIES", "resolve_strategy",
    "SandboxRun", "initial_labeled", "sandbox_context", "run_sandbox", "compare_strategies",
    "CLASS_COLORS", "sandbox_figure", "sandbox_curves_figure", "SandboxView",
]
