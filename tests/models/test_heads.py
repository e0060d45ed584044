"""Projection head: architecture (supplement B.1.2), shapes, normalisation, slice handling."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from timebalance.models import ProjectionHead


def test_architecture_matches_supplement() -> None:
    head = ProjectionHead(2048)
    layers = list(head.mlp)
    assert [type(m) for m in layers] == [
        nn.Linear,
        nn.BatchNorm1d,
        nn.ReLU,
        nn.Linear,
        nn.BatchNorm1d,
    ]
    assert (layers[0].in_features, layers[0].out_features) == (2048, 512)
    assert layers[0].bias is not None
    assert (layers[3].in_features, layers[3].out_features) == (512, 128)
    assert layers[3].bias is None
    # 2048*512 + 512 + 2*512 + 512*128 + 2*128
    assert sum(p.numel() for p in head.parameters()) == 1_115_904


def test_pooled_and_slice_outputs_are_unit_norm() -> None:
    torch.manual_seed(0)
    head = ProjectionHead(32, hidden_dim=16, out_dim=8)
    z = head(torch.randn(5, 32))
    assert z.shape == (5, 8)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(5))
    zs = head(torch.randn(5, 4, 32))
    assert zs.shape == (5, 4, 8)
    torch.testing.assert_close(zs.norm(dim=2), torch.ones(5, 4))


def test_slices_go_through_one_flattened_batch_norm() -> None:
    torch.manual_seed(0)
    head = ProjectionHead(16, hidden_dim=12, out_dim=6)
    x = torch.randn(3, 4, 16)
    torch.testing.assert_close(head(x), head(x.reshape(12, 16)).reshape(3, 4, 6))
    head.eval()
    # in eval mode each slice is projected independently of the others
    torch.testing.assert_close(head(x)[:, 2], head(x[:, 2]))


def test_errors() -> None:
    head = ProjectionHead(16)
    with pytest.raises(ValueError, match="N x 16"):
        head(torch.randn(3, 8))
    with pytest.raises(ValueError, match="at least 2 rows"):
        head(torch.randn(1, 16))
    assert head.eval()(torch.randn(1, 16)).shape == (1, 128)
