"""User-supplied weights (`build_backbone(name, pretrained=path)`): every accepted layout,
what is loaded, kept and skipped, and the errors that name the file and the key."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from timebalance import io
from timebalance.models import VideoBackbone, build_backbone, load_pretrained
from timebalance.models.vit_weights import vit_to_timesformer


def clips(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def tiny_state(num_classes: int | None = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = build_backbone("tiny", num_classes=num_classes)
    # move the BatchNorm statistics away from their initial values, so they are checked too
    model.train()(clips(4, 3, 8, 32, 32, seed=seed))
    return model.state_dict()


def same_outputs(a, b) -> None:
    x = clips(2, 3, 16, 32, 32, seed=11)
    with torch.no_grad():
        out_a, out_b = a.eval()(x), b.eval()(x)
    torch.testing.assert_close(out_a.pooled, out_b.pooled)


def test_backbone_layout_round_trip_with_its_classifier(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    io.write_torch(tiny_state(3), path)
    torch.manual_seed(1)
    model = build_backbone("tiny", num_classes=3)
    result = load_pretrained(model, path)
    assert result.layout == "backbone" and result.kept == () and result.skipped == ()
    assert set(result.loaded) == set(model.state_dict())
    for key, value in io.load_torch(path).items():
        assert torch.equal(model.state_dict()[key], value), key
    assert "loaded" in result.describe() and str(path) in result.describe()


def test_a_classifier_of_another_size_is_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    io.write_torch(tiny_state(3), path)
    source = build_backbone("tiny", num_classes=3)
    source.load_state_dict(io.load_torch(path))
    for num_classes in (7, None):
        model = build_backbone("tiny", num_classes=num_classes)
        result = load_pretrained(model, path)
        assert result.skipped == ("classifier.1.bias", "classifier.1.weight")
        expected_kept = (
            set() if num_classes is None else {"classifier.1.bias", "classifier.1.weight"}
        )
        assert set(result.kept) == expected_kept
        same_outputs(model, source)


def test_build_backbone_pretrained_option(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    io.write_torch(tiny_state(None), path)
    source = build_backbone("tiny")
    source.load_state_dict(io.load_torch(path))
    same_outputs(build_backbone("tiny", num_classes=4, pretrained=path), source)
    # existing callers (no pretrained) keep the random initialisation
    torch.manual_seed(5)
    a = build_backbone("tiny")
    torch.manual_seed(5)
    b = build_backbone("tiny", pretrained=None)
    same_outputs(a, b)


def test_package_checkpoints_load_and_must_name_the_same_backbone(tmp_path: Path) -> None:
    state = tiny_state(None)
    head = {"net.0.weight": torch.zeros(2, 2)}
    path = tmp_path / "ssl.pt"
    io.write_torch({"weights": {"backbone": state, "head": head}, "backbone": "tiny"}, path)
    result = load_pretrained(build_backbone("tiny"), path)
    assert result.layout == "checkpoint" and len(result.loaded) == len(state)
    classifier = tmp_path / "classifier.pt"
    io.write_torch(
        {"weights": {"model": tiny_state(3)}, "backbone": "tiny", "n_classes": 3}, classifier
    )
    assert load_pretrained(build_backbone("tiny", num_classes=3), classifier).kept == ()
    io.write_torch({"weights": {"backbone": state}, "backbone": "r3d18"}, path)
    with pytest.raises(ValueError, match=r"ssl\.pt holds a r3d18 backbone; this model is tiny"):
        load_pretrained(build_backbone("tiny"), path)
    io.write_torch({"weights": {"head": head}, "backbone": "tiny"}, path)
    with pytest.raises(ValueError, match=r"ssl\.pt is a checkpoint without backbone weights"):
        load_pretrained(build_backbone("tiny"), path)


def test_torchvision_layout_loads_into_r3d18(tmp_path: Path) -> None:
    """torchvision's r3d_18 weights fit the modified r3d18 (layer4 changes stride and
    dilation, not shapes); its 400-class fc is not loaded."""
    from torchvision.models.video import r3d_18

    torch.manual_seed(0)
    source = r3d_18(weights=None).state_dict()
    path = tmp_path / "r3d_18_kinetics.pth"
    io.write_torch(source, path)
    model = build_backbone("r3d18", num_classes=10)
    result = load_pretrained(model, path)
    assert result.layout == "native" and result.skipped == ("fc.bias", "fc.weight")
    own = model.state_dict()
    for key, value in source.items():
        if not key.startswith("fc."):
            assert torch.equal(own[f"trunk.{key}"], value), key


def test_pytorchvideo_layout_loads_into_slow_r50(tmp_path: Path) -> None:
    with warnings.catch_warnings():  # its import scripts a helper with the deprecated jit
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
        from pytorchvideo.models.resnet import create_resnet

    torch.manual_seed(0)
    hub = create_resnet(input_channel=3, model_depth=50, stem_conv_kernel_size=(1, 7, 7))
    path = tmp_path / "slow_r50_hub.pyth"
    io.write_torch(hub.state_dict(), path)
    model = build_backbone("slow_r50")
    result = load_pretrained(model, path)
    assert result.skipped == ("blocks.5.proj.bias", "blocks.5.proj.weight")
    assert torch.equal(
        model.state_dict()["trunk.blocks.4.res_blocks.2.branch2.conv_c.weight"],
        hub.state_dict()["blocks.4.res_blocks.2.branch2.conv_c.weight"],
    )


def test_missing_unexpected_and_misshapen_keys_name_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "user_weights.pt"
    state = tiny_state(None)
    native = {k.removeprefix("trunk."): v for k, v in state.items()}

    io.write_torch({k: v for k, v in native.items() if k != "layer2.body.0.weight"}, path)
    with pytest.raises(ValueError, match=r"user_weights\.pt: 'layer2\.body\.0\.weight' is missing"):
        load_pretrained(build_backbone("tiny"), path)

    io.write_torch({**state, "trunk.layer9.weight": torch.zeros(1)}, path)
    with pytest.raises(
        ValueError, match=r"user_weights\.pt: 'trunk\.layer9\.weight' is unexpected \(1 in all\)"
    ):
        load_pretrained(build_backbone("tiny"), path)

    io.write_torch({**native, "projector.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match=r"'projector\.weight' is unexpected .*native layout"):
        load_pretrained(build_backbone("tiny"), path)

    io.write_torch({**state, "head.net.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match=r"'head\.net\.weight' is unexpected .*backbone layout"):
        load_pretrained(build_backbone("tiny"), path)

    io.write_torch({**state, "trunk.layer1.body.0.weight": torch.zeros(16, 16, 1, 3, 4)}, path)
    with pytest.raises(
        ValueError,
        match=r"user_weights\.pt: 'trunk\.layer1\.body\.0\.weight' has shape \(16, 16, 1, 3, 4\), "
        r"a tiny backbone expects \(16, 16, 1, 3, 3\)",
    ):
        load_pretrained(build_backbone("tiny"), path)

    # weights of another architecture: the first key missing and the first unexpected
    io.write_torch(tiny_state(None), path)
    with pytest.raises(
        ValueError,
        match=r"user_weights\.pt: 'trunk\.layer1\.0\.conv1\.0\.weight' is missing \(\d+ in all\) "
        r"and 'trunk\.layer1\.body\.0\.weight' is unexpected",
    ):
        load_pretrained(build_backbone("mc3_18"), path)


def test_files_that_are_not_state_dicts_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.pt"
    io.write_torch([torch.zeros(2)], path)
    with pytest.raises(ValueError, match=r"odd\.pt is not a state dict"):
        load_pretrained(build_backbone("tiny"), path)
    # anything that would need unpickling is refused before it runs (io.load_torch)
    io.write_torch({"trunk.stem.0.weight": Path("/")}, path)
    with pytest.raises(ValueError, match="refused without running"):
        load_pretrained(build_backbone("tiny"), path)


def test_batchnorm_counters_may_be_absent(tmp_path: Path) -> None:
    path = tmp_path / "old.pt"
    state = {k: v for k, v in tiny_state(None).items() if not k.endswith("num_batches_tracked")}
    io.write_torch(state, path)
    result = load_pretrained(build_backbone("tiny"), path)
    assert result.kept and all(k.endswith("num_batches_tracked") for k in result.kept)


def test_vit_b16_shapes_fit_timesformer_b16(timesformer_b16: VideoBackbone) -> None:
    """Every tensor of a real-shaped ViT-B/16 (timm vit_base_patch16_224) maps onto
    timesformer_b16 without a shape error (in memory: a 344 MB file would be written)."""
    d, hidden = 768, 3072
    shapes = {
        "cls_token": (1, 1, d),
        "pos_embed": (1, 197, d),
        "patch_embed.proj.weight": (d, 3, 16, 16),
        "patch_embed.proj.bias": (d,),
        "norm.weight": (d,),
        "norm.bias": (d,),
        "head.weight": (1000, d),
        "head.bias": (1000,),
    }
    for i in range(12):
        for name, shape in (
            ("norm1.weight", (d,)),
            ("norm1.bias", (d,)),
            ("attn.qkv.weight", (3 * d, d)),
            ("attn.qkv.bias", (3 * d,)),
            ("attn.proj.weight", (d, d)),
            ("attn.proj.bias", (d,)),
            ("norm2.weight", (d,)),
            ("norm2.bias", (d,)),
            ("mlp.fc1.weight", (hidden, d)),
            ("mlp.fc1.bias", (hidden,)),
            ("mlp.fc2.weight", (d, hidden)),
            ("mlp.fc2.bias", (d,)),
        ):
            shapes[f"blocks.{i}.{name}"] = shape
    state = {k: torch.zeros(s) for k, s in shapes.items()}
    assert sum(v.numel() for v in state.values()) == 86_567_656  # timm's count
    model = timesformer_b16.trunk
    mapped, skipped = vit_to_timesformer(state, model, source="vit_b16.pth")  # checks shapes
    assert skipped == ["head.bias", "head.weight"]
    own = model.state_dict()
    kept = set(own) - set(mapped)
    assert kept == {"time_embed"} | {
        f"blocks.{i}.temporal_fc.{p}" for i in range(12) for p in ("weight", "bias")
    }
