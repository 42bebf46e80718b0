"""The discriminator on the VAE's latent space (eqs. 7-9)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Discriminator"]


class Discriminator(nn.Module):
    """MLP ``D(mu, r)`` that tells labeled (1) from unlabeled (0) latent codes.

    ``depth`` counts the Linear layers: the paper's text says a 5-layer MLP (the
    default); the authors' public code uses 3 (preset ``authors-code``). ``forward``
    returns **logits**; ``probability`` applies the sigmoid and is what selection
    (eq. 9) ranks and what Fig. 7 histograms. TA-VAAL feeds the raw Ranker output
    ``r`` here (``r_dim=1``); plain VAAL uses ``r_dim=0``.
    """

    def __init__(self, z_dim: int = 32, r_dim: int = 1, hidden: int = 512, depth: int = 5) -> None:
        super().__init__()
        if depth < 2 or hidden < 1 or z_dim < 1 or r_dim < 0:
            raise ValueError(
                f"Discriminator needs depth >= 2, hidden >= 1, z_dim >= 1, r_dim >= 0; "
                f"got depth={depth}, hidden={hidden}, z_dim={z_dim}, r_dim={r_dim}"
            )
        self.z_dim, self.r_dim = z_dim, r_dim
        layers: list[nn.Module] = []
        width_in = z_dim + r_dim
        for _ in range(depth - 1):
            layers += [nn.Linear(width_in, hidden), nn.ReLU(inplace=True)]
            width_in = hidden
        layers.append(nn.Linear(width_in, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, mu: Tensor, r: Tensor | None = None) -> Tensor:
        if self.r_dim:
            if r is None:
                raise ValueError(f"this discriminator is conditioned on r (r_dim={self.r_dim}); pass r")
            mu = torch.cat([mu, r.reshape(mu.shape[0], self.r_dim).to(mu.dtype)], dim=1)
        elif r is not None:
            raise ValueError("this discriminator has r_dim=0 (plain VAAL) and takes no rank variable")
        return self.net(mu).squeeze(1)

    @torch.no_grad()
    def probability(self, mu: Tensor, r: Tensor | None = None) -> Tensor:
        """``D(mu, r)`` in (0, 1): the probability of "labeled"."""
        return torch.sigmoid(self.forward(mu, r).float())
