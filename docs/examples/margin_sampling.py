"""Margin sampling as a tavaal_nb plug-in: label the candidates whose two most likely
classes the task model can least tell apart (Scheffer et al., 2001).

    python -m tavaal_nb run --plugin docs/examples/margin_sampling.py --method margin ...

or, from a notebook or a script, ``import`` this file (or paste it in a cell) and pass
``methods=("margin", "random")`` to ``make_config``.
"""

import torch

from tavaal_nb import QueryContext, register_strategy
from tavaal_nb.training import infer


@register_strategy(name="margin", prefer="lowest")
def margin_sampling(context: QueryContext) -> torch.Tensor:
    """smallest gap between the task model's two most likely classes (Scheffer et al.)"""
    images = context.data.train_images[context.candidates]
    logits = infer(context.task, images, context.augmenter, context.config.eval_batch_size, context.runtime)["logits"]
    top2 = torch.softmax(logits, dim=1).topk(2, dim=1).values
    return top2[:, 0] - top2[:, 1]
