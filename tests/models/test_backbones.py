"""Backbones: names, parameter counts, output shapes, temporal slices, classifier swap."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from torchvision.models import video as tv_video
from torchvision.models.video import r3d_18

from timebalance import io
from timebalance.models import (
    BACKBONES,
    BackboneOutput,
    VideoBackbone,
    build_backbone,
    count_parameters,
)
from timebalance.models.torchvision_video import MViTTrunk

# Trunk parameters (everything but the classifier), computed from the architectures:
# r3d18 = torchvision r3d_18 (33,371,472) minus its 512 x 400 fc (205,200); slow_r50 =
# pytorchvideo slow_r50 (32,454,096) minus its 2048 x 400 head (819,600).
TRUNK_PARAMS = {"r3d18": 33_166_272, "slow_r50": 31_634_496, "tiny": 445_680}
FEATURE_DIM = {
    "r3d18": 512,
    "slow_r50": 2048,
    "tiny": 128,
    "timesformer_b16": 768,
    "timesformer_tiny": 96,
    "r2plus1d_18": 512,
    "mc3_18": 512,
    "s3d": 1024,
    "swin3d_t": 768,
    "mvit_v2_s": 768,
}
# Feature map of a 2 x 3 x 16 x 32 x 32 batch (T' x H' x W').
MAP_16x32 = {
    "r3d18": (4, 2, 2),
    "slow_r50": (16, 1, 1),
    "tiny": (4, 4, 4),
    "timesformer_b16": (16, 2, 2),
    "timesformer_tiny": (8, 4, 4),
    "r2plus1d_18": (2, 2, 2),
    "mc3_18": (16, 2, 2),
    "s3d": (2, 1, 1),
    "swin3d_t": (8, 1, 1),
    "mvit_v2_s": (8, 1, 1),
}
# The classifier a torchvision model carries (its parameters are not part of the trunk).
TORCHVISION = {
    "r2plus1d_18": "fc",
    "mc3_18": "fc",
    "s3d": "classifier",
    "swin3d_t": "head",
    "mvit_v2_s": "head",
}


@pytest.fixture(scope="module")
def r3d18() -> VideoBackbone:
    return build_backbone("r3d18").eval()


@pytest.fixture(scope="module")
def slow_r50() -> VideoBackbone:
    return build_backbone("slow_r50").eval()


def clips(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_names_and_unknown_name() -> None:
    assert BACKBONES == (
        "r3d18",
        "slow_r50",
        "tiny",
        "timesformer_b16",
        "timesformer_tiny",
        "r2plus1d_18",
        "mc3_18",
        "s3d",
        "swin3d_t",
        "mvit_v2_s",
    )
    with pytest.raises(ValueError, match="r3d18, slow_r50, tiny, timesformer_b16"):
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
def test_every_backbone_maps_a_small_clip(name: str, request) -> None:
    shared = name in ("r3d18", "slow_r50", "timesformer_b16")  # slow to build: fixtures
    model = request.getfixturevalue(name) if shared else build_backbone(name, num_classes=3).eval()
    assert model.feature_dim == FEATURE_DIM[name]
    x = clips(2, 3, 16, 32, 32)
    with torch.no_grad():
        fmap = model.features(x)
        out = model(x)
    assert fmap.shape == (2, FEATURE_DIM[name], *MAP_16x32[name])
    assert out.pooled.shape == (2, FEATURE_DIM[name])
    assert out.slices.shape == (2, 4, FEATURE_DIM[name])
    assert torch.isfinite(out.pooled).all()
    if not shared:
        assert out.logits.shape == (2, 3)


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_trunks_keep_everything_but_the_head(name: str) -> None:
    reference = getattr(tv_video, name)(weights=None)
    head = getattr(reference, TORCHVISION[name])
    model = build_backbone(name)
    assert count_parameters(model.trunk) == count_parameters(reference) - count_parameters(head)
    # the trunk's state dict is torchvision's minus the head, name for name
    want = {k for k in reference.state_dict() if not k.startswith(f"{TORCHVISION[name]}.")}
    assert set(model.trunk.state_dict()) == want


@pytest.mark.parametrize("name", ["r2plus1d_18", "mc3_18", "swin3d_t"])
def test_torchvision_weights_load_and_match_torchvision(name: str, tmp_path: Path) -> None:
    """A torchvision state dict (with its Kinetics-sized head) loads by name, and the
    backbone's pooled feature is what torchvision's own forward feeds its head."""
    torch.manual_seed(0)
    reference = getattr(tv_video, name)(weights=None).eval()
    path = tmp_path / f"{name}_torchvision.pth"
    io.write_torch(reference.state_dict(), path)
    model = build_backbone(name, num_classes=5, pretrained=path).eval()
    setattr(reference, TORCHVISION[name], torch.nn.Identity())
    x = clips(1, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x).pooled, reference(x), rtol=1e-4, atol=1e-5)


def small_mvit(spatial: int, frames: int, *, relative: bool = True):
    """A two-block MViTv2 (relative positions) or, with relative=False, one with MViTv1's
    absolute position embeddings."""
    from torchvision.models.video.mvit import MSBlockConfig, MViT

    blocks = [
        MSBlockConfig(2, 16, 16, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 2, 2]),
        MSBlockConfig(2, 16, 32, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 1, 1]),
    ]
    return MViT(
        spatial_size=(spatial, spatial),
        temporal_size=frames,
        block_setting=blocks,
        residual_pool=True,
        residual_with_cls_embed=False,
        rel_pos_embed=relative,
        proj_after_attn=True,
        num_classes=4,
    ).eval()


def test_mvit_trunk_is_torchvision_at_the_built_size_and_takes_other_sizes() -> None:
    torch.manual_seed(0)
    net = small_mvit(32, 8)
    captured = {}
    net.norm.register_forward_hook(lambda _m, _i, out: captured.update(tokens=out))
    trunk = MViTTrunk(net)
    x = clips(2, 3, 8, 32, 32)
    with torch.no_grad():
        net(x)
        fmap = trunk(x)  # stride 2 x 4 x 4, then one 1 x 2 x 2 pooling of the queries
    assert fmap.shape == (2, 32, 4, 4, 4)
    torch.testing.assert_close(fmap.flatten(2).transpose(1, 2), captured["tokens"][:, 1:])
    with torch.no_grad():
        assert trunk(clips(1, 3, 16, 48, 64)).shape == (1, 32, 8, 6, 8)


def test_mvit_with_absolute_positions_needs_its_built_size() -> None:
    trunk = MViTTrunk(small_mvit(32, 8, relative=False))
    with torch.no_grad():
        assert trunk(clips(1, 3, 8, 32, 32)).shape == (1, 32, 4, 4, 4)
        with pytest.raises(ValueError, match=r"for 8 x 32 x 32 clips.*8-frame clips cropped to 32"):
            trunk(clips(1, 3, 8, 64, 64))


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


def cuda_calls(source: str) -> list[int]:
    """Lines of the code (not docstrings or comments, which may name it) calling .cuda()."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "cuda"
    ]


def test_no_cuda_calls_in_method_core() -> None:
    assert cuda_calls("x = 1  # not .cuda()\ny = model.cuda()\n") == [2]
    root = Path(__file__).resolve().parents[2] / "timebalance"
    for sub in ("models", "losses", "methods"):
        for path in (root / sub).glob("*.py"):
            assert not cuda_calls(path.read_text()), path
