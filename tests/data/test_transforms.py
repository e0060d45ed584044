"""Clip augmentation and evaluation crops: one set of parameters per clip, explicit RNG."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.v2.functional as F

from timebalance.data.transforms import (
    COLOUR_MODES,
    KINETICS_MEAN,
    KINETICS_STD,
    ClipAugment,
    EvalTransform,
    adjust_hue,
    hue_rotation,
    random_resized_crop_params,
)

MEAN = torch.tensor(KINETICS_MEAN).view(3, 1, 1, 1)
STD = torch.tensor(KINETICS_STD).view(3, 1, 1, 1)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_clip(t: int = 4, h: int = 32, w: int = 40, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (t, 3, h, w), dtype=torch.uint8, generator=gen(seed))


def unnormalise(x: torch.Tensor) -> torch.Tensor:
    """3 x T x H x W normalised -> [0, 1]."""
    return x * STD + MEAN


def test_augment_shape_dtype_and_determinism():
    aug = ClipAugment(16)
    clip = random_clip()
    out = aug(clip, gen(1))
    assert out.shape == (3, 4, 16, 16) and out.dtype == torch.float32
    assert out.is_contiguous()
    assert torch.equal(out, aug(clip, gen(1)))
    assert not torch.equal(out, aug(clip, gen(2)))


@pytest.mark.parametrize("colour", COLOUR_MODES)
def test_same_parameters_for_every_frame_of_a_clip(colour):
    frame = random_clip(t=1, seed=3)
    clip = frame.expand(6, -1, -1, -1).contiguous()  # 6 identical frames
    aug = ClipAugment(16, jitter_p=1.0, grey_p=0.0, colour=colour)
    for seed in range(8):
        out = aug(clip, gen(seed))
        assert torch.equal(out, out[:, :1].expand_as(out)), seed
        # ... and the clip's frames got the same ops as the single frame alone would
        assert torch.allclose(out[:, :1], aug(frame, gen(seed)), atol=1e-6)


def test_plain_crop_equals_resize_then_normalise():
    clip = random_clip(h=30, w=40)
    aug = ClipAugment(20, scale=(1.0, 1.0), ratio=(4 / 3, 4 / 3), flip_p=0, jitter_p=0, grey_p=0)
    out = aug(clip, gen(0))
    ref = F.resize(clip, [20, 20], antialias=True).float() / 255
    ref = ((ref - MEAN.view(1, 3, 1, 1)) / STD.view(1, 3, 1, 1)).permute(1, 0, 2, 3)
    assert torch.allclose(out, ref, atol=1e-5)
    assert torch.allclose(unnormalise(out), ref * STD + MEAN, atol=1e-5)


def test_custom_normalisation():
    clip = torch.full((2, 3, 8, 8), 255, dtype=torch.uint8)
    aug = ClipAugment(8, scale=(1, 1), ratio=(1, 1), jitter_p=0, grey_p=0, mean=(0.5,) * 3)
    out = aug(clip, gen(0))
    assert torch.allclose(out, ((1.0 - 0.5) / STD).expand_as(out))
    ev = EvalTransform(8, mean=(0, 0, 0), std=(1, 1, 1))
    assert torch.allclose(ev(clip), torch.ones(3, 2, 8, 8))


@pytest.mark.parametrize("colour", COLOUR_MODES)
def test_flip_and_greyscale_apply_to_the_whole_clip(colour):
    clip = random_clip()
    base = dict(scale=(0.5, 1.0), jitter_p=0.0, colour=colour)
    plain = ClipAugment(16, flip_p=0.0, grey_p=0.0, **base)(clip, gen(5))
    flipped = ClipAugment(16, flip_p=1.0, grey_p=0.0, **base)(clip, gen(5))
    # The draws happen whether or not an op applies: same generator -> same crop.
    assert torch.allclose(flipped, plain.flip(-1))
    grey = unnormalise(ClipAugment(16, flip_p=0.0, grey_p=1.0, **base)(clip, gen(5)))
    assert torch.allclose(grey[0], grey[1], atol=1e-5) and torch.allclose(
        grey[1], grey[2], atol=1e-5
    )
    assert not torch.allclose(unnormalise(plain)[0], unnormalise(plain)[1], atol=1e-2)


@pytest.mark.parametrize("colour", COLOUR_MODES)
def test_jitter_changes_colours_within_range(colour):
    clip = random_clip()
    kw = dict(scale=(1.0, 1.0), ratio=(1.25, 1.25), flip_p=0.0, grey_p=0.0, colour=colour)
    off = ClipAugment(16, jitter_p=0.0, **kw)(clip, gen(0))
    on = ClipAugment(16, jitter_p=1.0, **kw)(clip, gen(0))
    assert not torch.allclose(on, off, atol=1e-3)
    values = unnormalise(on)
    assert values.min() >= -1e-5 and values.max() <= 1 + 1e-5


def test_random_resized_crop_params_stay_in_bounds():
    g = gen(0)
    areas = []
    for _ in range(300):
        top, left, h, w = random_resized_crop_params(32, 40, (0.2, 1.0), (3 / 4, 4 / 3), g)
        assert 0 <= top <= 32 - h and 0 <= left <= 40 - w and h > 0 and w > 0
        assert 3 / 4 - 0.1 <= w / h <= 4 / 3 + 0.1
        areas.append(h * w / (32 * 40))
    assert min(areas) >= 0.17 and max(areas) <= 1.0 and max(areas) - min(areas) > 0.5
    # Impossible aspect ratio: falls back to the largest centred crop within the ratio.
    assert random_resized_crop_params(10, 100, (0.9, 1.0), (1.0, 1.0), g) == (0, 45, 10, 10)


def test_eval_crops_are_left_center_right_of_the_resized_frames():
    clip = random_clip(h=32, w=48)
    views = {c: EvalTransform(16, crop=c)(clip) for c in ("left", "center", "right")}
    full = EvalTransform(16).prepare(clip)  # short side 32 -> 16: 16 x 24
    assert full.shape == (4, 3, 16, 24)
    ref = full.permute(1, 0, 2, 3)
    assert torch.equal(views["left"], ref[..., 0:16])
    assert torch.equal(views["center"], ref[..., 4:20])
    assert torch.equal(views["right"], ref[..., 8:24])
    assert torch.equal(EvalTransform(16, crop=2)(clip), views["right"])
    assert not torch.equal(views["left"], views["right"])


def test_eval_crops_of_portrait_frames_run_along_the_height():
    clip = random_clip(h=40, w=20)
    ev = EvalTransform(10)
    full = ev.prepare(clip).permute(1, 0, 2, 3)  # 20 x 10
    assert torch.equal(ev.crop_view(ev.prepare(clip), "left"), full[:, :, 0:10])
    assert torch.equal(ev.crop_view(ev.prepare(clip), "right"), full[:, :, 10:20])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: EvalTransform(16, crop="top"), "crop must be one of"),
        (lambda: EvalTransform(16, crop=3), "crop must be one of"),
        (lambda: ClipAugment(16, scale=(0.0, 1.0)), "scale"),
        (lambda: ClipAugment(16, grey_p=1.5), "grey_p"),
        (lambda: ClipAugment(16, std=(1, 1)), "mean and std"),
        (lambda: ClipAugment(16, colour="exact"), "colour must be one of"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_rejects_non_uint8_or_wrong_layout():
    with pytest.raises(ValueError, match="uint8 clip T x 3 x H x W"):
        ClipAugment(8)(torch.zeros(3, 4, 8, 8, dtype=torch.uint8), gen(0))
    with pytest.raises(ValueError, match="uint8"):
        EvalTransform(8)(torch.zeros(4, 3, 8, 8))


@pytest.mark.parametrize("factor", [-0.5, -0.23, -0.1, 0.0, 0.07, 0.31, 0.5])
def test_adjust_hue_equals_torchvision(factor):
    g = torch.Generator().manual_seed(3)
    clip = torch.rand(5, 3, 7, 9, generator=g)
    # edge pixels: greys (max == min), pure and two-channel colours, ties between channels
    clip[0, :, 0, :3] = torch.tensor([[0.5, 0.0, 1.0], [0.5, 0.0, 1.0], [0.5, 0.0, 0.0]])
    clip[1, :, 0, :3] = torch.tensor([[1.0, 1.0, 0.2], [1.0, 0.0, 0.2], [0.0, 1.0, 0.9]])
    expected = F.adjust_hue(clip, factor)
    assert torch.allclose(adjust_hue(clip, factor), expected, atol=2e-6)
    # clips of clips (a batch dimension in front) give the same result per clip
    assert torch.allclose(adjust_hue(clip[None], factor)[0], expected, atol=2e-6)


def test_adjust_hue_rejects_factor_out_of_range():
    with pytest.raises(ValueError, match="hue_factor"):
        adjust_hue(torch.rand(1, 3, 2, 2), 0.6)


def _two_modes(clip: torch.Tensor, seed: int, **kw) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Both colour modes on one clip from the same seed, and each generator's next draw."""
    outs, after = [], []
    for colour in ("torchvision", "fused"):
        g = gen(seed)
        outs.append(ClipAugment(16, colour=colour, **kw)(clip, g))
        after.append(float(torch.rand((), generator=g)))
    return outs[0], outs[1], after


def test_fused_colour_equals_torchvision_without_clamps_and_hue():
    # mid-range pixels and mild factors: no op pushes a value past 0 or 1, so torchvision's
    # clamps between ops do nothing and the composed affine map must give the same pixels;
    # frames of different brightness check contrast's per-frame mean grey level
    clip = torch.randint(90, 160, (5, 3, 20, 24), dtype=torch.uint8, generator=gen(1))
    clip[2:] //= 2
    for seed in range(10):
        for grey_p in (0.0, 1.0):
            kw = dict(scale=(0.5, 1.0), jitter=(0.2, 0.2, 0.2, 0.0), jitter_p=1.0, grey_p=grey_p)
            exact, fused, after = _two_modes(clip, seed, **kw)
            assert torch.allclose(exact, fused, atol=2e-5), (seed, grey_p)
            assert after[0] == after[1], "the modes must draw the same random numbers"


def test_fused_colour_stays_close_to_torchvision_with_hue_and_clamps():
    clip = random_clip(t=4, h=24, w=24, seed=7)
    gaps = []
    for seed in range(16):
        exact, fused, after = _two_modes(clip, seed, jitter_p=1.0, grey_p=0.0)
        assert after[0] == after[1]
        values = unnormalise(fused)
        assert values.min() >= -1e-5 and values.max() <= 1 + 1e-5
        gaps.append(float((unnormalise(exact) - values).abs().mean()))
    # the same draws give the same kind of change (a tenth of the range at most on average),
    # not an identical one: HSV's hue path and the clamps between ops differ
    assert max(gaps) < 0.1 and sum(gaps) / len(gaps) < 0.05, gaps


def test_hue_rotation_is_a_hue_shift_about_the_grey_axis():
    import numpy as np

    red, green, blue = np.eye(3)
    assert np.allclose(hue_rotation(1 / 3) @ red, green)  # as HSV: red + 1/3 turn = green
    assert np.allclose(hue_rotation(-1 / 3) @ red, blue)
    grey = np.full(3, 0.4)
    colour = np.array([0.7, 0.3, 0.2])
    for shift in (-0.5, -0.1, 0.05, 0.25):
        rot = hue_rotation(shift)
        assert np.allclose(rot @ rot.T, np.eye(3))  # a rotation: keeps chroma
        assert np.allclose(rot @ grey, grey)
        assert np.isclose((rot @ colour).mean(), colour.mean())

    # shifts move HSV hue the same way by about the same amount (HSV's hue is hexagonal,
    # the rotation circular: they agree at multiples of 1/6 turn)
    def hsv_hue(rgb: np.ndarray) -> float:
        r, g, b = rgb
        hi, lo = rgb.max(), rgb.min()
        sector = {0: (g - b) / (hi - lo), 1: 2 + (b - r) / (hi - lo), 2: 4 + (r - g) / (hi - lo)}
        return sector[int(rgb.argmax())] / 6

    for shift in (-0.1, -0.05, 0.03, 0.1, 1 / 6):
        moved = hsv_hue(hue_rotation(shift) @ colour) - hsv_hue(colour)
        assert abs((moved - shift + 0.5) % 1 - 0.5) < 0.015, shift
