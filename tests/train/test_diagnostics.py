"""The probes and losses the controlled studies rely on, against hand computations / torch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tamrin.train import diagnostics as D
from tamrin.train.losses import classification_loss


def test_losses_match_their_definitions() -> None:
    torch.manual_seed(0)
    z, y = torch.randn(8, 5), torch.randint(0, 5, (8,))
    onehot = F.one_hot(y, 5).float()
    assert classification_loss("ce")(z, y) == pytest.approx(float(F.cross_entropy(z, y)))
    assert classification_loss("hinge")(z, y) == pytest.approx(float(nn.MultiMarginLoss()(z, y)))
    mse = ((z.softmax(1) - onehot) ** 2).sum(1).mean()
    assert classification_loss("mse_softmax")(z, y) == pytest.approx(float(mse))
    assert classification_loss("mse_linear")(z, y) == pytest.approx(
        float(((z - onehot) ** 2).sum(1).mean())
    )


def test_saturation_curve_cross_entropy_is_the_softmax_probability() -> None:
    margins = [0.0, 2.0, 8.0]
    ce = D.saturation_curve(classification_loss("ce"), margins)
    expected = [torch.tensor([m] + [0.0] * 9).softmax(0)[0].item() for m in margins]
    assert ce == pytest.approx(expected, rel=1e-5)
    mse = D.saturation_curve(classification_loss("mse_softmax"), margins)
    assert mse[-1] < 0.01 * ce[-1]  # the vanishing gradient of MSE on a saturated softmax


def test_wrong_logit_gradient_only_on_misclassified() -> None:
    z = torch.tensor([[3.0, 0.0], [0.0, 3.0]])
    y = torch.tensor([1, 1])  # first wrong (class 0 wins), second right
    out = D.wrong_logit_gradient(classification_loss("ce"), z, y)
    assert out["examples"] == 1
    assert out["mean"] == pytest.approx(torch.tensor([3.0, 0.0]).softmax(0)[0].item())
    assert (
        D.wrong_logit_gradient(classification_loss("ce"), z, torch.tensor([0, 1]))["mean"] is None
    )


def test_dead_units_are_counted() -> None:
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.copy_(torch.tensor([-1.0, -1.0, -1.0, 1.0, 1.0, 1.0]))
    out = D.unit_activity(net, torch.randn(32, 4))
    assert out["dead_fraction"] == 0.5 and out["units"] == 6


def test_layer_profile_and_row_spread_shapes() -> None:
    net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 3))
    prof = D.layer_profile(net, torch.randn(16, 4), torch.randint(0, 3, (16,)), F.cross_entropy)
    assert len(prof["act_std"]) == 2 and len(prof["grad_norm"]) == 3
    assert all(g > 0 for g in prof["grad_norm"])
    assert net[0].weight.grad is None  # the probe leaves no gradients behind
    spread = D.row_spread(net)
    assert len(spread) == 2 and all(s > 0 for s in spread)
