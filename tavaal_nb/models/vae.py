"""The (conditional) VAE of VAAL and TA-VAAL (eq. 6)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tavaal_nb.config import VAE_LAYOUTS  # the layouts a Config may name (the configuration sits below the models)

__all__ = ["ConditionalVAE", "VAE_LAYOUTS"]


def _conv_block(cin: int, cout: int, kernel: int = 4) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _deconv_block(cin: int, cout: int, kernel: int = 4) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, kernel, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class ConditionalVAE(nn.Module):
    """VAE whose decoder is conditioned on the rank variable ``r`` (TA-VAAL, eq. 6).

    Encoder: four 4x4 stride-2 convolutions (``width x 1, 2, 4, 8`` channels: 128..1024
    in the paper) with batch norm and ReLU, then linear maps to ``mu`` and ``logvar``.
    Decoder: ``[z, r]`` (``r_dim`` extra inputs; ``r_dim=0`` is plain VAAL's VAE)
    -> Linear -> three 4x4 stride-2 transposed convolutions -> 1x1 convolution to the
    image channels. Images whose side is not a multiple of 16 (28x28 Fashion-MNIST)
    are zero-padded to the next multiple inside the model and cropped back on output
    (``layout="padded"``). ``layout="authors"`` builds the public code's 28x28 variant
    instead: no padding, 3x3 kernels on the last encoder convolution (7 -> 3 -> 2) and the
    first transposed convolution (4 -> 7), so the spatial sizes run 28-14-7-3-2 and
    4-7-14-28 (15,408,825 parameters for one grey channel, z = 28, one rank input). For any
    other image size the two layouts build the same network.

    The caller supplies ``r`` already transformed for the decoder (TA-VAAL gives
    ``sigmoid(ranker output)``; see :mod:`tavaal_nb.strategies.vaal`).
    """

    def __init__(
        self, in_channels: int = 3, image_size: int = 32, z_dim: int = 32, r_dim: int = 1, width: int = 128,
        layout: str = "padded",
    ) -> None:
        super().__init__()
        if image_size < 16 or z_dim < 1 or r_dim < 0 or width < 1 or layout not in VAE_LAYOUTS:
            raise ValueError(
                f"ConditionalVAE needs image_size >= 16, z_dim >= 1, r_dim >= 0, width >= 1 and a layout in "
                f"{VAE_LAYOUTS}; got {image_size}, {z_dim}, {r_dim}, {width}, {layout!r}"
            )
        self.in_channels, self.image_size, self.z_dim, self.r_dim = in_channels, image_size, z_dim, r_dim
        native_28 = layout == "authors" and image_size == 28
        edge_kernel = 3 if native_28 else 4
        self.inner_size = image_size if native_28 else -(-image_size // 16) * 16
        self.pad = self.inner_size - image_size
        channels = [width, 2 * width, 4 * width, 8 * width]
        self.encoder = nn.Sequential(
            _conv_block(in_channels, channels[0]),
            _conv_block(channels[0], channels[1]),
            _conv_block(channels[1], channels[2]),
            _conv_block(channels[2], channels[3], edge_kernel),
        )
        encoded_side = 2 if native_28 else self.inner_size // 16
        self.encoded_features = channels[3] * encoded_side * encoded_side
        self.fc_mu = nn.Linear(self.encoded_features, z_dim)
        self.fc_logvar = nn.Linear(self.encoded_features, z_dim)
        self.decoded_side = 4 if native_28 else self.inner_size // 8
        self.fc_decode = nn.Linear(z_dim + r_dim, channels[3] * self.decoded_side * self.decoded_side)
        self.decoder = nn.Sequential(
            _deconv_block(channels[3], channels[2], edge_kernel),
            _deconv_block(channels[2], channels[1]),
            _deconv_block(channels[1], channels[0]),
            nn.ConvTranspose2d(channels[0], in_channels, 1),
        )
        self._top_channels = channels[3]

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu, logvar)`` of ``q(z | x)``."""
        if self.pad:
            half = self.pad // 2
            x = F.pad(x, (half, self.pad - half, half, self.pad - half))
        h = torch.flatten(self.encoder(x), 1)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: Tensor, r: Tensor | None = None) -> Tensor:
        """Reconstruct an image from ``z`` and, when ``r_dim > 0``, the rank variable ``r``."""
        if self.r_dim:
            if r is None:
                raise ValueError(f"this VAE is conditioned on r (r_dim={self.r_dim}); pass r")
            z = torch.cat([z, r.reshape(z.shape[0], self.r_dim).to(z.dtype)], dim=1)
        elif r is not None:
            raise ValueError("this VAE has r_dim=0 (plain VAAL) and takes no rank variable")
        h = self.fc_decode(z).view(-1, self._top_channels, self.decoded_side, self.decoded_side)
        out = self.decoder(h)
        if self.pad:
            half = self.pad // 2
            out = out[..., half : half + self.image_size, half : half + self.image_size]
        return out

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
        """``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` (the reparameterisation trick)."""
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def forward(self, x: Tensor, r: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Returns ``(recon, z, mu, logvar)``."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return self.decode(z, r), z, mu, logvar
