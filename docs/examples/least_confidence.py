"""Least-confidence sampling as a tavaal_nb plug-in: label the candidates whose most likely
class the task model believes least (Lewis & Gale, 1994).

    python -m tavaal_nb run --plugin docs/examples/least_confidence.py --method least-confidence ...

or, from a notebook or a script, ``import`` this file (or paste it in a cell) and pass
``methods=("least-confidence", "random")`` to ``make_config``.
"""

import torch

from tavaal_nb import QueryContext, StrategyParam, register_strategy


@register_strategy(name="least-confidence", prefer="highest",
                   params=[StrategyParam("temperature", float, 1.0, "divides the logits before the softmax")])
def least_confidence(context: QueryContext) -> torch.Tensor:
    """lowest top-class probability of the task model (Lewis & Gale)"""
    logits = context.infer(context.candidates)["logits"] / context.params["temperature"]
    return 1.0 - torch.softmax(logits, dim=1).max(dim=1).values
