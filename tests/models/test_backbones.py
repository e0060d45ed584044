"""Backbones: names, parameter counts, output shapes, temporal slices, classifier swap."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torchvision.models.video import r3d_18

from timebalance.models import (
    BACKBONES,
    BackboneOutput,
    VideoBackbone,
    build_backbone,
    count_parameters,
)

# Trunk parameters (everything but the classifier), computed from the architectures:
# r3d18 = torchvision r3d_18 (33,371,472) minus its 512 x 400 fc (205,200); slow_r50 =
# pytorchvideo slow_r50 (32,454,096) minus its 2048 x 400 head (819,600).
TRUNK_PARAMS = {"r3d18": 33_166_272, "slow_r50": 31_634_496, "tiny": 445_968}
FEATURE_DIM = {"r3d18": 512, "slow_r50": 2048, "tiny": 128}


@pytest.fixture(scope="module")
def r3d18() -> VideoBackbone:
    return build_backbone("r3d18").eval()


@pytest.fixture(scope="module")
def slow_r50() -> VideoBackbone:
    return build_backbone("slow_r50").eval()


def clips(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_names_and_unknown_name() -> None:
    assert BACKBONES == ("r3d18", "slow_r50", "tiny")
    with pytest.raises(ValueError, match="r3d18, slow_r50, tiny"):
        build_backbone("resnet50")


def test_r3d18_parameter_count_and_layer4(r3d18: VideoBackbone) -> None:
    reference = r3d_18(weights=None)
    fc = sum(p.numel() for p in reference.fc.parameters())
    assert count_parameters(r3d18) == count_parameters(reference) - fc == TRUNK_PARAMS["r3d18"]
    conv = r3d18.trunk.layer4[0].conv1[0]
    assert (conv.stride, conv.dilation, conv.padding) == ((1, 2, 2), (2, 1, 1), (2, 1, 1))
    assert r3d18.trunk.layer4[0].downsample[0].stride == (1, 2, 2)


def test_r3d18_keeps_four_temporal_positions(r3d18: VideoBackbone) -> None:
    x = clips(1, 3, 16, 32, 32)
    with torch.no_grad():
        fmap = r3d18.features(x)
        out = r3d18(x)
    assert fmap.shape == (1, 512, 4, 2, 2)
    assert isinstance(out, BackboneOutput)
    assert out.pooled.shape == (1, 512) and out.slices.shape == (1, 4, 512)
    assert out.logits is None
    # with exactly 4 positions, slice t is position t averaged over space
    torch.testing.assert_close(out.slices, fmap.mean(dim=(3, 4)).transpose(1, 2))
    torch.testing.assert_close(out.slices.mean(dim=1), out.pooled)


def test_slow_r50_parameter_count_and_forward(slow_r50: VideoBackbone) -> None:
    assert count_parameters(slow_r50) == TRUNK_PARAMS["slow_r50"]
    assert slow_r50.feature_dim == 2048
    with torch.no_grad():
        out = slow_r50(clips(1, 3, 8, 64, 64))
    assert out.pooled.shape == (1, 2048) and out.slices.shape == (1, 4, 2048)
    assert torch.isfinite(out.pooled).all()


@pytest.mark.parametrize("size", [112, 224])
def test_slow_r50_accepts_112_and_224_pixels(slow_r50: VideoBackbone, size: int) -> None:
    with torch.no_grad():
        out = slow_r50(clips(1, 3, 2, size, size))
    assert out.pooled.shape == (1, 2048) and out.slices.shape == (1, 4, 2048)


def test_tiny_parameter_count_and_shapes() -> None:
    model = build_backbone("tiny", num_classes=7)
    assert count_parameters(model.trunk) == TRUNK_PARAMS["tiny"]
    assert 0.3e6 < count_parameters(model) < 1.0e6
    x16 = clips(2, 3, 16, 32, 32)
    assert model.features(x16).shape == (2, 128, 4, 4, 4)
    out = model(x16)
    assert out.pooled.shape == (2, 128) and out.slices.shape == (2, 4, 128)
    assert out.logits.shape == (2, 7)
    # an 8-frame training clip still gives 4 slices (adaptive pooling over 2 positions)
    out8 = model(clips(2, 3, 8, 32, 32))
    assert out8.slices.shape == (2, 4, 128) and out8.logits.shape == (2, 7)


@pytest.mark.parametrize("name", BACKBONES)
def test_feature_dim_and_classifier_sizes(name: str, request) -> None:
    model = request.getfixturevalue(name) if name != "tiny" else build_backbone("tiny")
    assert model.feature_dim == FEATURE_DIM[name]
    assert model.num_classes is None


def test_set_num_classes_keeps_trunk_and_replaces_head() -> None:
    torch.manual_seed(0)
    model = build_backbone("tiny", num_classes=3).eval()
    x = clips(2, 3, 16, 32, 32)
    before = model(x)
    model.set_num_classes(11)
    after = model(x)
    assert model.num_classes == 11 and after.logits.shape == (2, 11)
    torch.testing.assert_close(after.pooled, before.pooled)
    model.set_num_classes(4, dropout=0.3)
    assert model.classifier[0].p == 0.3
    model.set_num_classes(None)
    assert model(x).logits is None
    with pytest.raises(ValueError, match="positive int"):
        model.set_num_classes(0)
    # the slow_r50 classifier keeps pytorchvideo's head dropout by default
    assert build_backbone("slow_r50", num_classes=2).classifier[0].p == 0.5


def test_classifier_follows_trunk_dtype() -> None:
    model = build_backbone("tiny").double()
    model.set_num_classes(5)
    out = model.eval()(clips(1, 3, 16, 32, 32).double())
    assert out.logits.dtype == torch.float64


def test_bad_input_shape_has_clear_error() -> None:
    model = build_backbone("tiny")
    with pytest.raises(ValueError, match=r"N x 3 x T x H x W.*permute"):
        model(clips(2, 16, 3, 32, 32))


def test_tiny_trains() -> None:
    torch.manual_seed(0)
    model = build_backbone("tiny", num_classes=2)
    x, y = clips(4, 3, 8, 32, 32), torch.tensor([0, 1, 0, 1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x).logits, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert all(p.grad is not None for p in model.parameters())


def test_no_cuda_calls_in_method_core() -> None:
    root = Path(__file__).resolve().parents[2] / "timebalance"
    for sub in ("models", "losses", "methods"):
        for path in (root / sub).glob("*.py"):
            assert not re.search(r"\.cuda\(", path.read_text()), path
