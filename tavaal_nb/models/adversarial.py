"""The VAE and the discriminator a configuration asks for: layout, depth and initialisation.

VAAL-style strategies build their two adversarial networks here, so every setting of
:class:`tavaal_nb.config.Config` that shapes them (``vae_width``, ``z_dim``,
``vae_layout``, ``disc_hidden``, ``disc_depth``, ``adversarial_init``) is read in one place.
"""

from __future__ import annotations

from torch import nn

from tavaal_nb.config import ADVERSARIAL_INITS, Config
from tavaal_nb.models.discriminator import Discriminator
from tavaal_nb.models.vae import ConditionalVAE

__all__ = ["ADVERSARIAL_INITS", "kaiming_init_", "build_vae", "build_discriminator"]

def kaiming_init_(module: nn.Module, skip: tuple[nn.Module, ...] = ()) -> nn.Module:
    """The public code's initialisation, in place: Kaiming-normal weights (fan-in, gain sqrt 2)
    and zero biases for every ``Conv2d`` and ``Linear``, weight 1 and bias 0 for batch norms.

    Transposed convolutions keep PyTorch's defaults, as they do in the public code (its
    initialiser tests for ``Conv2d`` and ``Linear`` only); so do the modules in ``skip``.
    """
    skipped = {id(m) for m in skip}
    for layer in module.modules():
        if id(layer) in skipped:
            continue
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)
    return module


def build_vae(config: Config, channels: int, image_size: int, r_dim: int) -> ConditionalVAE:
    """The (conditional) VAE of ``config`` for images of ``channels`` x ``image_size``^2.

    With ``adversarial_init="kaiming"`` the weights are the public code's: its initialiser
    reaches the encoder's and the decoder's layers but not ``fc_mu`` / ``fc_logvar`` (it
    passes their names, not the modules), so those two keep PyTorch's defaults here too.
    """
    vae = ConditionalVAE(channels, image_size, config.z_dim, r_dim, config.vae_width, config.vae_layout)
    if config.adversarial_init == "kaiming":
        kaiming_init_(vae, skip=(vae.fc_mu, vae.fc_logvar))
    return vae


def build_discriminator(config: Config, r_dim: int) -> Discriminator:
    """The discriminator of ``config``: ``disc_depth`` Linear layers of ``disc_hidden`` units."""
    discriminator = Discriminator(config.z_dim, r_dim, config.disc_hidden, config.disc_depth)
    if config.adversarial_init == "kaiming":
        kaiming_init_(discriminator)
    return discriminator
