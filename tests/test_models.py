"""Networks: parameter counts and output shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tavaal_nb.models import ConditionalVAE, Discriminator, LossPredictionModule, ResNet18


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def resnet18_params_by_hand(num_classes: int, in_channels: int, width: int) -> int:
    """Parameter count of a CIFAR ResNet-18, counted from its definition (not from the code).

    stem: 3x3 conv (no bias) + BN (2 per channel); each BasicBlock: two 3x3 convs + 2 BNs,
    plus a 1x1 conv + BN shortcut where the shape changes; head: Linear(8 w, classes).
    """
    def conv(cin, cout, k):
        return k * k * cin * cout

    def bn(c):
        return 2 * c

    def block(cin, cout, projection):
        total = conv(cin, cout, 3) + bn(cout) + conv(cout, cout, 3) + bn(cout)
        return total + (conv(cin, cout, 1) + bn(cout) if projection else 0)

    total = conv(in_channels, width, 3) + bn(width)
    cin = width
    for stage, cout in enumerate([width, 2 * width, 4 * width, 8 * width]):
        total += block(cin, cout, projection=stage > 0) + block(cout, cout, projection=False)
        cin = cout
    return total + 8 * width * num_classes + num_classes


def test_resnet18_has_the_papers_parameter_count():
    # 11,173,962: the CIFAR ResNet-18 with 64/128/256/512 channels and 10 classes.
    assert resnet18_params_by_hand(10, 3, 64) == 11_173_962
    assert n_params(ResNet18(num_classes=10, in_channels=3, width=64)) == 11_173_962


@pytest.mark.parametrize("classes,channels,width", [(100, 3, 8), (10, 1, 4)])
def test_resnet18_parameter_count_other_sizes(classes, channels, width):
    assert n_params(ResNet18(classes, channels, width)) == resnet18_params_by_hand(classes, channels, width)


@pytest.mark.parametrize(
    "channels,side,sides",
    [
        # 32: stride-1 stage, then three stride-2 stages: 32, 16, 8, 4
        (3, 32, [32, 16, 8, 4]),
        # 28: floor((n + 2 - 3) / 2) + 1 per stride-2 stage: 28 -> 14 -> 7 -> 4
        (1, 28, [28, 14, 7, 4]),
    ],
)
def test_resnet18_outputs(channels, side, sides):
    width, batch = 4, 3
    model = ResNet18(num_classes=10, in_channels=channels, width=width).eval()
    with torch.no_grad():
        logits, embedding, features = model(torch.randn(batch, channels, side, side))
    assert logits.shape == (batch, 10)
    assert embedding.shape == (batch, 8 * width)
    assert len(features) == 4
    for feature, c, s in zip(features, [width, 2 * width, 4 * width, 8 * width], sides):
        assert feature.shape == (batch, c, s, s)


def test_loss_prediction_module_gives_one_number_per_sample():
    width = 4
    backbone = ResNet18(10, 3, width).eval()
    ranker = LossPredictionModule([width, 2 * width, 4 * width, 8 * width], hidden=8)
    with torch.no_grad():
        _, _, features = backbone(torch.randn(5, 3, 32, 32))
        out = ranker(features)
    assert out.shape == (5,)
    with pytest.raises(ValueError, match="4 stage features"):
        ranker(features[:3])


def test_loss_prediction_module_layers():
    # per stage Linear(C, 128), then Linear(4 * 128, 1): (64*128+128) + (128*128+128) + (256*128+128)
    # + (512*128+128) + (512+1) = 123,392 + 513 = 123,905
    assert n_params(LossPredictionModule()) == 123_905


@pytest.mark.parametrize("channels,side", [(3, 32), (1, 28)])
def test_conditional_vae_shapes(channels, side):
    vae = ConditionalVAE(in_channels=channels, image_size=side, z_dim=6, r_dim=1, width=4)
    x = torch.randn(3, channels, side, side)
    recon, z, mu, logvar = vae(x, torch.randn(3))
    assert recon.shape == x.shape
    assert z.shape == mu.shape == logvar.shape == (3, 6)
    plain = ConditionalVAE(in_channels=channels, image_size=side, z_dim=6, r_dim=0, width=4)
    recon, z, mu, logvar = plain(x)
    assert recon.shape == x.shape and mu.shape == (3, 6)


def test_conditional_vae_r_dim_contract():
    x = torch.randn(2, 3, 32, 32)
    with pytest.raises(ValueError, match="r_dim=0"):
        ConditionalVAE(3, 32, 4, r_dim=0, width=4)(x, torch.zeros(2))
    with pytest.raises(ValueError, match="pass r"):
        ConditionalVAE(3, 32, 4, r_dim=1, width=4)(x)


def test_conditional_vae_decoder_depends_on_r():
    torch.manual_seed(0)
    vae = ConditionalVAE(3, 32, 4, r_dim=1, width=4).eval()
    z = torch.randn(2, 4)
    with torch.no_grad():
        a, b = vae.decode(z, torch.zeros(2)), vae.decode(z, torch.ones(2))
    assert not torch.allclose(a, b)


def linear_layers(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def test_discriminator_depth_counts_linear_layers():
    default = Discriminator(z_dim=8, r_dim=1, hidden=16)
    layers = linear_layers(default)
    assert len(layers) == 5  # the paper's 5-layer MLP
    assert layers[0].in_features == 9 and layers[-1].out_features == 1
    assert len(linear_layers(Discriminator(z_dim=8, r_dim=1, hidden=16, depth=3))) == 3  # the public code's
    assert linear_layers(Discriminator(z_dim=8, r_dim=0, hidden=16))[0].in_features == 8


def test_discriminator_probability_is_sigmoid_of_logits():
    torch.manual_seed(1)
    disc = Discriminator(z_dim=8, r_dim=1, hidden=16)
    mu, r = torch.randn(7, 8), torch.randn(7)
    logits = disc(mu, r)
    p = disc.probability(mu, r)
    assert logits.shape == p.shape == (7,)
    assert torch.all((p > 0) & (p < 1))
    expected = [1.0 / (1.0 + torch.exp(-v).item()) for v in logits.detach()]
    assert p.tolist() == pytest.approx(expected, rel=1e-5)


def test_discriminator_r_contract():
    with pytest.raises(ValueError, match="pass r"):
        Discriminator(z_dim=4, r_dim=1, hidden=8)(torch.randn(2, 4))
    with pytest.raises(ValueError, match="r_dim=0"):
        Discriminator(z_dim=4, r_dim=0, hidden=8)(torch.randn(2, 4), torch.randn(2))
