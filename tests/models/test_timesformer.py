"""TimeSformer: which tokens each attention mixes, position-embedding interpolation, the
ImageNet ViT weight mapping (round trip, an independent ViT computation, clear errors) and a
short training run of the small size."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from timebalance import io
from timebalance.models import (
    VideoBackbone,
    build_backbone,
    count_parameters,
    load_pretrained,
)
from timebalance.models.timesformer import (
    TIMESFORMER_B16,
    TIMESFORMER_TINY,
    DividedBlock,
    TimeSformer,
    TimeSformerConfig,
)
from timebalance.models.vit_weights import load_vit_weights

# A ViT-B/16-shaped network, shrunk: width 32, 2 heads, 2 blocks, 8 px patches of 32 px frames.
SMALL = TimeSformerConfig(
    img_size=32, num_frames=4, patch_size=8, embed_dim=32, depth=2, num_heads=2, drop_path=0.0
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed))


def vit_state(cfg: TimeSformerConfig, *, seed: int = 0, classes: int = 10) -> dict:
    """Random tensors in timm's vit_base_patch16_224 layout, sized by `cfg`."""
    d, p, g = cfg.embed_dim, cfg.patch_size, cfg.grid
    hidden = int(d * cfg.mlp_ratio)
    shapes = {
        "cls_token": (1, 1, d),
        "pos_embed": (1, g * g + 1, d),
        "patch_embed.proj.weight": (d, 3, p, p),
        "patch_embed.proj.bias": (d,),
        "norm.weight": (d,),
        "norm.bias": (d,),
        "head.weight": (classes, d),
        "head.bias": (classes,),
    }
    for i in range(cfg.depth):
        shapes |= {
            f"blocks.{i}.norm1.weight": (d,),
            f"blocks.{i}.norm1.bias": (d,),
            f"blocks.{i}.attn.qkv.weight": (3 * d, d),
            f"blocks.{i}.attn.qkv.bias": (3 * d,),
            f"blocks.{i}.attn.proj.weight": (d, d),
            f"blocks.{i}.attn.proj.bias": (d,),
            f"blocks.{i}.norm2.weight": (d,),
            f"blocks.{i}.norm2.bias": (d,),
            f"blocks.{i}.mlp.fc1.weight": (hidden, d),
            f"blocks.{i}.mlp.fc1.bias": (hidden,),
            f"blocks.{i}.mlp.fc2.weight": (d, hidden),
            f"blocks.{i}.mlp.fc2.bias": (d,),
        }
    g_ = gen(seed)
    return {k: 0.2 * torch.randn(*s, generator=g_) for k, s in shapes.items()}


def changed(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Which tokens differ: the last (feature) dimension reduced."""
    return (a - b).abs().amax(dim=-1) > 1e-6


@pytest.fixture()
def block() -> DividedBlock:
    torch.manual_seed(0)
    blk = DividedBlock(SMALL, drop_path=0.0).eval()
    # TimeSformer starts temporal_fc at zero (the temporal residual would vanish): give it
    # weights so that the temporal attention's reach is visible
    torch.nn.init.normal_(blk.temporal_fc.weight, std=0.2)
    return blk


def test_temporal_sublayer_mixes_only_the_same_patch_across_frames(block: DividedBlock) -> None:
    b, t, s, d = 2, 4, 6, SMALL.embed_dim
    x = randn(b, t, s, d)
    moved = x.clone()
    moved[1, 2, 3] += randn(d, seed=9)  # not a constant: LayerNorm removes those
    with torch.no_grad():
        diff = changed(block.temporal(moved), block.temporal(x))
    expected = torch.zeros(b, t, s, dtype=torch.bool)
    expected[1, :, 3] = True  # patch 3 of clip 1, in every frame, and nothing else
    assert torch.equal(diff, expected)


def test_spatial_sublayer_mixes_only_within_a_frame(block: DividedBlock) -> None:
    b, t, s, d = 2, 4, 6, SMALL.embed_dim
    cls, x = randn(b, 1, d, seed=1), randn(b, t, s, d, seed=2)
    moved = x.clone()
    moved[1, 2, 3] += randn(d, seed=9)  # not a constant: LayerNorm removes those
    with torch.no_grad():
        cls_a, x_a = block.spatial(cls, moved)
        cls_b, x_b = block.spatial(cls, x)
    expected = torch.zeros(b, t, s, dtype=torch.bool)
    expected[1, 2, :] = True  # every patch of frame 2 of clip 1, and nothing else
    assert torch.equal(changed(x_a, x_b), expected)
    # the class token attends to every frame (its per-frame results are averaged) ...
    assert torch.equal(changed(cls_a, cls_b)[:, 0], torch.tensor([False, True]))
    # ... and every patch of its clip attends to it
    moved_cls = cls.clone()
    moved_cls[0] += randn(1, d, seed=10)
    with torch.no_grad():
        _, x_c = block.spatial(moved_cls, x)
    assert changed(x_c, x_b)[0].all() and not changed(x_c, x_b)[1].any()


def test_zero_temporal_fc_makes_the_temporal_sublayer_the_identity_at_init() -> None:
    model = TimeSformer(SMALL)
    for blk in model.blocks:
        assert not blk.temporal_fc.weight.any() and not blk.temporal_fc.bias.any()
        x = randn(1, 4, 16, SMALL.embed_dim)
        torch.testing.assert_close(blk.temporal(x), x, rtol=0, atol=0)


def test_block_matches_timesformer_token_layout() -> None:
    """One block against TimeSformer's flat (h w t) token layout, written out with plain ops."""
    torch.manual_seed(0)
    blk = DividedBlock(SMALL, drop_path=0.0).eval()
    torch.nn.init.normal_(blk.temporal_fc.weight, std=0.2)
    b, t, s, d, heads = 2, 3, 4, SMALL.embed_dim, SMALL.num_heads
    cls, x = randn(b, 1, d, seed=3), randn(b, t, s, d, seed=4)

    def attention(mod, seq):
        n, length, _ = seq.shape
        q, k, v = mod.qkv(seq).reshape(n, length, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        w = (q @ k.transpose(-2, -1) / math.sqrt(d // heads)).softmax(-1)
        return mod.proj((w @ v).transpose(1, 2).reshape(n, length, d))

    with torch.no_grad():
        flat = x.permute(0, 2, 1, 3).reshape(b, s * t, d)  # token index = patch * t + frame
        xt = flat.reshape(b * s, t, d)
        res = attention(blk.temporal_attn, blk.temporal_norm1(xt))
        xt = flat + blk.temporal_fc(res.reshape(b, s * t, d))
        xs = xt.reshape(b, s, t, d).transpose(1, 2).reshape(b * t, s, d)
        xs = torch.cat((cls.repeat_interleave(t, dim=0), xs), dim=1)
        res = attention(blk.attn, blk.norm1(xs))
        cls_res = res[:, 0].reshape(b, t, d).mean(1, keepdim=True)
        patch_res = res[:, 1:].reshape(b, t, s, d).transpose(1, 2).reshape(b, s * t, d)
        tokens = torch.cat((cls, xt), 1) + torch.cat((cls_res, patch_res), 1)
        tokens = tokens + blk.mlp(blk.norm2(tokens))
        want_cls = tokens[:, :1]
        want_x = tokens[:, 1:].reshape(b, s, t, d).transpose(1, 2)
        got_cls, got_x = blk(cls, x)
    torch.testing.assert_close(got_cls, want_cls, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_x, want_x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("frames", "size"), [(16, 32), (8, 112), (4, 48)])
def test_timesformer_tiny_shapes_at_several_sizes(frames: int, size: int) -> None:
    model = build_backbone("timesformer_tiny", num_classes=5).eval()
    with torch.no_grad():
        fmap = model.features(randn(2, 3, frames, size, size))
        out = model(randn(2, 3, frames, size, size))
    assert fmap.shape == (2, 96, frames // 2, size // 8, size // 8)
    assert out.pooled.shape == (2, 96) and out.slices.shape == (2, 4, 96)
    assert out.logits.shape == (2, 5) and torch.isfinite(out.logits).all()


def test_position_embeddings_are_exact_at_the_built_size_and_interpolated_otherwise() -> None:
    model = TimeSformer(SMALL)
    cls_pos, spatial, temporal = model.position_embeddings(4, 4, 4)
    assert torch.equal(spatial[0, 0], model.pos_embed[0, 1:])
    assert torch.equal(temporal[0, :, 0], model.time_embed[0])
    assert torch.equal(cls_pos, model.pos_embed[:, :1])
    # other grids: the right shapes; a constant embedding stays constant
    with torch.no_grad():
        model.pos_embed.fill_(0.5)
        model.time_embed.copy_(torch.linspace(0, 1, 4).view(1, 4, 1).expand(1, 4, 32))
    _, spatial, temporal = model.position_embeddings(8, 7, 3)
    assert spatial.shape == (1, 1, 21, 32) and temporal.shape == (1, 8, 1, 32)
    torch.testing.assert_close(spatial, torch.full_like(spatial, 0.5))
    # linear interpolation of a linear ramp keeps it monotone between its end values
    ramp = temporal[0, :, 0, 0]
    assert (ramp.diff() >= 0).all() and ramp[0] >= 0 and ramp[-1] <= 1


def test_indivisible_clip_sizes_have_a_clear_error() -> None:
    model = build_backbone("timesformer_tiny")
    with pytest.raises(ValueError, match=r"crops divisible by 8"):
        model(randn(1, 3, 16, 36, 36))
    with pytest.raises(ValueError, match=r"frame count divisible by 2"):
        model(randn(1, 3, 15, 32, 32))
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        TimeSformerConfig(embed_dim=100, num_heads=3)


def test_b16_is_vit_b16_with_temporal_attention(timesformer_b16: VideoBackbone) -> None:
    assert (TIMESFORMER_B16.embed_dim, TIMESFORMER_B16.depth, TIMESFORMER_B16.num_heads) == (
        768,
        12,
        12,
    )
    assert (TIMESFORMER_B16.patch_size, TIMESFORMER_B16.img_size) == (16, 224)
    assert TIMESFORMER_B16.num_frames == 8 and TIMESFORMER_B16.tubelet_size == 1
    # timm vit_base_patch16_224 without its 1000-class head: 86,567,656 - 769,000; plus per
    # block temporal_norm1 (1,536) + temporal_attn qkv/proj (1,771,776 + 590,592) +
    # temporal_fc (590,592); plus time_embed (8 x 768). TimeSformer reports 121.4M with head.
    vit = 86_567_656 - 769_000
    temporal = 12 * (1_536 + 1_771_776 + 590_592 + 590_592) + 8 * 768
    assert timesformer_b16.trunk.cfg == TIMESFORMER_B16
    assert count_parameters(timesformer_b16.trunk) == vit + temporal == 121_258_752


@pytest.mark.parametrize("tubelet", [1, 2])
def test_vit_weights_round_trip(tmp_path: Path, tubelet: int) -> None:
    cfg = replace(SMALL, tubelet_size=tubelet)
    src = vit_state(cfg)
    path = tmp_path / "vit_small.pth"
    io.write_torch(src, path)
    model = TimeSformer(cfg)
    skipped = load_vit_weights(model, path)
    assert skipped == ["head.bias", "head.weight"]
    own = model.state_dict()
    for key in ("cls_token", "pos_embed", "patch_embed.proj.bias", "norm.weight", "norm.bias"):
        assert torch.equal(own[key], src[key]), key
    for k in range(tubelet):  # inflated: the 2D kernel, split evenly over the tubelet's frames
        torch.testing.assert_close(
            own["patch_embed.proj.weight"][:, :, k], src["patch_embed.proj.weight"] / tubelet
        )
    for i in range(cfg.depth):
        for name in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            for p in ("weight", "bias"):
                key = f"blocks.{i}.{name}.{p}"
                assert torch.equal(own[key], src[key]), key
        for vit_name, temporal in (
            ("norm1", "temporal_norm1"),
            ("attn.qkv", "temporal_attn.qkv"),
            ("attn.proj", "temporal_attn.proj"),
        ):
            for p in ("weight", "bias"):
                key = f"blocks.{i}.{temporal}.{p}"
                assert torch.equal(own[key], src[f"blocks.{i}.{vit_name}.{p}"]), key
        assert not own[f"blocks.{i}.temporal_fc.weight"].any()
        assert not own[f"blocks.{i}.temporal_fc.bias"].any()
    assert not own["time_embed"].any()


def reference_vit_tokens(state: dict, frame: torch.Tensor, heads: int) -> torch.Tensor:
    """Final normalised patch tokens of a timm ViT on one image, from plain tensor ops."""
    w = state["patch_embed.proj.weight"]
    d, p = w.shape[0], w.shape[-1]
    x = F.conv2d(frame, w, state["patch_embed.proj.bias"], stride=p).flatten(2).transpose(1, 2)
    x = torch.cat((state["cls_token"].expand(x.shape[0], 1, d), x), 1) + state["pos_embed"]
    i = 0
    while f"blocks.{i}.norm1.weight" in state:
        s = {k.removeprefix(f"blocks.{i}."): v for k, v in state.items()}
        h = F.layer_norm(x, (d,), s["norm1.weight"], s["norm1.bias"], eps=1e-6)
        q, k, v = F.linear(h, s["attn.qkv.weight"], s["attn.qkv.bias"]).chunk(3, dim=-1)
        q, k, v = (t.reshape(*t.shape[:2], heads, d // heads).transpose(1, 2) for t in (q, k, v))
        a = (q @ k.transpose(-2, -1) / math.sqrt(d // heads)).softmax(-1) @ v
        a = a.transpose(1, 2).reshape(x.shape)
        x = x + F.linear(a, s["attn.proj.weight"], s["attn.proj.bias"])
        h = F.layer_norm(x, (d,), s["norm2.weight"], s["norm2.bias"], eps=1e-6)
        h = F.gelu(F.linear(h, s["mlp.fc1.weight"], s["mlp.fc1.bias"]))
        x = x + F.linear(h, s["mlp.fc2.weight"], s["mlp.fc2.bias"])
        i += 1
    return F.layer_norm(x, (d,), state["norm.weight"], state["norm.bias"], eps=1e-6)[:, 1:]


@pytest.mark.parametrize("tubelet", [1, 2])
def test_loaded_vit_computes_the_image_vit_on_a_static_clip(tmp_path: Path, tubelet: int) -> None:
    """With temporal_fc and time_embed at zero, a clip of one repeated frame gives, at every
    temporal position, the image ViT's patch tokens of that frame."""
    cfg = replace(SMALL, tubelet_size=tubelet)
    src = vit_state(cfg, seed=5)
    path = tmp_path / "vit.pth"
    io.write_torch(src, path)
    model = VideoBackbone(TimeSformer(cfg), name="timesformer_small", feature_dim=32).eval()
    result = load_pretrained(model, path)
    assert result.layout == "vit"
    assert set(result.kept) == {"trunk.time_embed"} | {
        f"trunk.blocks.{i}.temporal_fc.{p}" for i in range(cfg.depth) for p in ("weight", "bias")
    }
    frame = randn(2, 3, 32, 32, seed=6)
    clip = frame.unsqueeze(2).expand(2, 3, 4, 32, 32)
    with torch.no_grad():
        fmap = model.features(clip)  # 2 x D x T' x 4 x 4
        want = reference_vit_tokens(src, frame, cfg.num_heads)  # 2 x 16 x D
    for t in range(fmap.shape[2]):
        got = fmap[:, :, t].flatten(2).transpose(1, 2)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_vit_pos_embed_is_resampled_to_the_model_grid(tmp_path: Path) -> None:
    src = vit_state(SMALL)  # a 4 x 4 grid (32 px / 8)
    path = tmp_path / "vit.pth"
    io.write_torch(src, path)
    model = TimeSformer(replace(SMALL, img_size=16))  # a 2 x 2 grid
    load_vit_weights(model, path)
    grid = src["pos_embed"][:, 1:].reshape(1, 4, 4, 32).permute(0, 3, 1, 2)
    want = F.interpolate(grid, size=(2, 2), mode="bicubic", align_corners=False)
    torch.testing.assert_close(model.pos_embed[:, 1:], want.permute(0, 2, 3, 1).reshape(1, 4, 32))
    assert torch.equal(model.pos_embed[:, :1], src["pos_embed"][:, :1])


def test_vit_mismatches_name_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "vit_b16_user.pth"
    wide = vit_state(replace(SMALL, embed_dim=48, num_heads=2))
    io.write_torch(wide, path)
    with pytest.raises(
        ValueError, match=r"vit_b16_user\.pth: patch_embed\.proj\.weight has shape \(48, 3, 8, 8\)"
    ):
        load_vit_weights(TimeSformer(SMALL), path)

    deeper = vit_state(replace(SMALL, depth=3))
    io.write_torch(deeper, path)
    with pytest.raises(ValueError, match=r"vit_b16_user\.pth: unexpected key 'blocks\.2\."):
        load_vit_weights(TimeSformer(SMALL), path)

    shallow = vit_state(SMALL)
    del shallow["blocks.1.mlp.fc2.bias"]
    io.write_torch(shallow, path)
    with pytest.raises(ValueError, match=r"vit_b16_user\.pth: ViT key 'blocks\.1\.mlp\.fc2\.bias'"):
        load_vit_weights(TimeSformer(SMALL), path)

    # ViT weights into a CNN backbone
    io.write_torch(vit_state(SMALL), path)
    with pytest.raises(ValueError, match=r"vit_b16_user\.pth holds image ViT weights.*tiny"):
        build_backbone("tiny", pretrained=path)


def test_timesformer_native_layout_round_trip(tmp_path: Path) -> None:
    """A TimeSformer trunk's own names (TimeSformer's) load back, with a head skipped."""
    torch.manual_seed(0)
    source = build_backbone("timesformer_tiny")
    state = {k.removeprefix("trunk."): v for k, v in source.state_dict().items()}
    state |= {"head.weight": torch.zeros(400, 96), "head.bias": torch.zeros(400)}
    path = tmp_path / "timesformer_native.pt"
    io.write_torch(state, path)
    torch.manual_seed(1)
    model = build_backbone("timesformer_tiny", num_classes=3)
    result = load_pretrained(model, path)
    assert result.layout == "native" and result.skipped == ("head.bias", "head.weight")
    assert set(result.kept) == {"classifier.1.weight", "classifier.1.bias"}
    x = randn(1, 3, 16, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x).pooled, source.eval()(x).pooled)


def test_timesformer_tiny_trains_on_fixed_clips() -> None:
    torch.manual_seed(0)
    model = build_backbone("timesformer_tiny", num_classes=2)
    x, y = randn(4, 3, 8, 32, 32, seed=7), torch.tensor([0, 1, 0, 1])
    x[y == 1] += 0.5  # a learnable difference between the two classes
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = F.cross_entropy(model(x).logits, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    # every parameter takes part (temporal_fc starts at zero but receives gradient)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_small_size_is_the_documented_one() -> None:
    assert TIMESFORMER_TINY.tubelet_size == 2 and TIMESFORMER_TINY.patch_size == 8
    assert count_parameters(TimeSformer(TIMESFORMER_TINY)) == 674_016


def test_stochastic_depth_only_in_training_and_decay_exclusions_exist() -> None:
    torch.manual_seed(0)
    model = TimeSformer(replace(SMALL, drop_path=0.5))
    assert [b.drop_path.p for b in model.blocks] == [0.0, 0.5]  # linear 0 -> drop_path
    for blk in model.blocks:
        torch.nn.init.normal_(blk.temporal_fc.weight, std=0.2)
    x = randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        model.eval()
        torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)
        model.train()
        draws = {tuple(model(x).flatten()[:4].tolist()) for _ in range(8)}
    assert len(draws) > 1  # blocks dropped at random while training
    assert model.no_weight_decay() <= dict(model.named_parameters()).keys()
