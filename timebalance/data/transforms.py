"""Clip augmentations (paper Sec. 4.2: random resized crop, horizontal flip, colour jitter,
random greyscale) and the deterministic evaluation crops.

Every random parameter is drawn ONCE per clip from an explicit ``torch.Generator`` and applied
to all frames at once (the ops of ``torchvision.transforms.v2.functional`` take T x C x H x W
tensors), so the frames of a clip stay consistent with each other and a run is reproducible
whatever the DataLoader's worker count. Inputs are uint8 T x 3 x H x W (decoded frames);
outputs are float 3 x T x size x size, normalised, the layout 3D CNNs take (C x T x H x W).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torchvision.transforms.v2.functional as F

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
CROPS = ("left", "center", "right")
# How the colour ops (jitter, greyscale) are applied; see ``colour_affine``.
COLOUR_MODES = ("fused", "torchvision")
# torchvision's rgb_to_grayscale weights (ITU-R 601 luma).
GREY_WEIGHTS = (0.2989, 0.587, 0.114)


# Area share range of the random resized crop unless a dataset sets its own `crop_scale`.
DEFAULT_CROP_SCALE: tuple[float, float] = (0.2, 1.0)


def adjust_hue(img: torch.Tensor, hue_factor: float) -> torch.Tensor:
    """``torchvision.transforms.v2.functional.adjust_hue`` for float images in [0, 1]
    (... x 3 x H x W), equal to it within float rounding (tested) and ~1.4x faster: HSV back
    to RGB by the closed form V - V S clamp(min(k, 4 - k), 0, 1), k = (n + 6 H) mod 6 for
    n = 5, 3, 1, instead of a gather over six sectors. Hue was 40% of a pretraining sample's
    loading time (4 x 2 jittered clips of 16 frames)."""
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f"hue_factor must lie in [-0.5, 0.5], got {hue_factor}")
    r, g, b = img.unbind(-3)
    maxc = torch.maximum(torch.maximum(r, g), b)
    minc = torch.minimum(torch.minimum(r, g), b)
    grey = maxc == minc
    chroma = maxc - minc
    ones = torch.ones_like(maxc)
    s = chroma / torch.where(grey, ones, maxc)
    divisor = torch.where(grey, ones, chroma)
    rc, gc, bc = (maxc - r) / divisor, (maxc - g) / divisor, (maxc - b) / divisor
    is_r, is_g = maxc == r, maxc == g
    h = is_r * (bc - gc) + (is_g & ~is_r) * (2.0 + rc - bc) + (~is_g & ~is_r) * (4.0 + gc - rc)
    h6 = torch.fmod(h / 6.0 + 1.0 + hue_factor, 1.0) * 6.0
    k = torch.stack([(5.0 + h6) % 6.0, (3.0 + h6) % 6.0, (1.0 + h6) % 6.0], dim=-3)
    sector = torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)
    return maxc.unsqueeze(-3) - (maxc * s).unsqueeze(-3) * sector


def _uniform(g: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=g))


class _Normalise:
    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 values each, std > 0; got {mean}, {std}")
        self.values = (tuple(float(m) for m in mean), tuple(float(v) for v in std))
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """float T x 3 x H x W in [0, 1] -> normalised, same shape."""
        return (frames - self.mean) / self.std


def _check_clip(clip: torch.Tensor) -> None:
    if clip.dim() != 4 or clip.shape[1] != 3 or clip.dtype != torch.uint8:
        raise ValueError(
            f"expected a uint8 clip T x 3 x H x W, got {tuple(clip.shape)} {clip.dtype}"
        )


def random_resized_crop_params(
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    g: torch.Generator,
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a crop covering a random ``scale`` share of the area with a
    random aspect ``ratio`` (log-uniform), torchvision's algorithm with an explicit generator:
    10 tries, then the largest centred crop whose aspect ratio lies within ``ratio``."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * _uniform(g, *scale)
        aspect = math.exp(_uniform(g, *log_ratio))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (), generator=g))
            left = int(torch.randint(0, width - w + 1, (), generator=g))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        h, w = height, round(height * max(ratio))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def check_augment_args(
    size: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    jitter: tuple[float, float, float, float],
    colour: str = "fused",
    **probabilities: float,
) -> None:
    """The argument checks every random-crop + colour augmentation shares (ClipAugment,
    data.strong_augment.WeakStrongAugment): a clear ValueError naming the argument."""
    if colour not in COLOUR_MODES:
        raise ValueError(f"colour must be one of {COLOUR_MODES}, got {colour!r}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {scale}")
    if not 0 < ratio[0] <= ratio[1]:
        raise ValueError(f"ratio must satisfy 0 < low <= high, got {ratio}")
    if len(jitter) != 4 or min(jitter) < 0 or jitter[3] > 0.5:
        raise ValueError(f"jitter is (brightness, contrast, saturation, hue<=0.5): {jitter}")
    for name, p in probabilities.items():
        if not 0 <= p <= 1:
            raise ValueError(f"{name} must be a probability, got {p}")


def _jitter_draws(
    strengths: tuple[float, float, float, float], g: torch.Generator
) -> tuple[list[float], list[int]]:
    """ColorJitter's random draws for one clip: brightness, contrast and saturation factors
    in [1 - s, 1 + s], a hue shift in [-h, h], and the order of the four ops."""
    b, c, s, h = strengths
    factors = [
        _uniform(g, max(0.0, 1 - b), 1 + b),
        _uniform(g, max(0.0, 1 - c), 1 + c),
        _uniform(g, max(0.0, 1 - s), 1 + s),
        _uniform(g, -h, h),
    ]
    return factors, torch.randperm(4, generator=g).tolist()


def colour_jitter(
    x: torch.Tensor, strengths: tuple[float, float, float, float], g: torch.Generator
) -> torch.Tensor:
    """torchvision's ColorJitter on float T x 3 x H x W in [0, 1]: brightness, contrast and
    saturation factors in [1 - s, 1 + s], hue shift in [-h, h], in a random order; one draw
    for the whole clip. A zero strength switches its op off."""
    factors, order = _jitter_draws(strengths, g)
    ops = (F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, adjust_hue)
    for k in order:
        if strengths[k] > 0:
            x = ops[k](x, factors[k])
    return x


def hue_rotation(shift: float) -> np.ndarray:
    """3 x 3 rotation of RGB about the grey axis by ``shift`` turns: the linear hue shift of
    the fused colour ops. Like HSV's hue shift it maps red to green at 1/3 and keeps greys;
    it keeps a colour's channel mean, where HSV keeps its maximum and saturation."""
    angle = 2 * math.pi * shift
    k = np.full(3, 1 / math.sqrt(3))
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return (
        math.cos(angle) * np.eye(3)
        + math.sin(angle) * cross
        + (1 - math.cos(angle)) * np.outer(k, k)
    )


_GREY = np.array(GREY_WEIGHTS)


def _towards_grey(factor: float) -> np.ndarray:
    """3 x 3 map x -> factor x + (1 - factor) grey(x): adjust_saturation, and greyscale at 0."""
    return factor * np.eye(3) + (1 - factor) * np.outer(np.ones(3), _GREY)


class ColourAffine:
    """The colour ops of one clip as one affine map of its RGB values in [0, 1]:
    ``y = M x + t[frame]``, then one clamp to [0, 1] (the ``fused`` colour mode).

    Brightness, contrast and saturation are torchvision's linear blends (contrast towards each
    frame's mean grey level, as ``adjust_contrast`` per image), greyscale its luma; hue is a
    rotation about the grey axis (``hue_rotation``) instead of HSV's piecewise shift. Composed
    in the drawn order they are one 3 x 3 matrix and a per-frame offset, applied in one matrix
    product with the normalisation folded in. It differs from torchvision's ColorJitter where
    torchvision clamps between ops (pixels pushed past 0 or 1 by one op and pulled back by the
    next) and in the hue shift's path; with no clamp hit and no hue shift the two agree within
    float rounding (tested).
    """

    def __init__(self, frames: int) -> None:
        self.matrix = np.eye(3)
        self.offset = np.zeros((frames, 3))
        self.clamp = False

    def _then(self, matrix: np.ndarray, offset: np.ndarray | None = None) -> None:
        self.matrix = matrix @ self.matrix
        self.offset = self.offset @ matrix.T
        if offset is not None:
            self.offset += offset

    def jitter(
        self,
        strengths: tuple[float, float, float, float],
        g: torch.Generator,
        frame_means: np.ndarray,
    ) -> None:
        """Compose ColorJitter (same draws as ``colour_jitter``). ``frame_means``: T x 3 mean
        RGB in [0, 1] of each input frame, for contrast's mean grey level."""
        factors, order = _jitter_draws(strengths, g)
        for k in order:
            if strengths[k] <= 0:
                continue
            f = factors[k]
            if k == 0:  # brightness
                self._then(f * np.eye(3))
            elif k == 1:  # contrast: towards the mean grey level of each frame as it is now
                level = (frame_means @ self.matrix.T + self.offset) @ _GREY
                self._then(f * np.eye(3), (1 - f) * level[:, None])
            elif k == 2:  # saturation
                self._then(_towards_grey(f))
            else:
                self._then(hue_rotation(f))
        self.clamp = True

    def greyscale(self) -> None:
        self._then(_towards_grey(0.0))

    def apply(self, planar: torch.Tensor, normalise: _Normalise) -> torch.Tensor:
        """float 3 x T x H x W of values 0..255 (``planar``) -> the map's output, clamped to
        [0, 1] if a jitter ran, normalised: float 3 x T x H x W, one matrix product."""
        mean, std = (np.asarray(v) for v in normalise.values)
        matrix = torch.from_numpy((self.matrix / 255 / std[:, None]).astype(np.float32))
        offset = torch.from_numpy(((self.offset - mean) / std).T.astype(np.float32))  # 3 x T
        c = planar.shape[0]
        out = torch.mm(matrix, planar.reshape(c, -1)).view(planar.shape)
        out += offset[:, :, None, None]
        if self.clamp:  # [0, 1] in normalised units, per channel
            for ch in range(c):
                out[ch].clamp_(-mean[ch] / std[ch], (1 - mean[ch]) / std[ch])
        return out


def planar_float(clip: torch.Tensor) -> torch.Tensor:
    """uint8 T x 3 x H x W -> float 3 x T x H x W (values 0..255): the layout the networks
    take, converted and transposed in one copy."""
    t, c, h, w = clip.shape
    out = torch.empty((c, t, h, w), dtype=torch.float32)
    return out.copy_(clip.permute(1, 0, 2, 3))


def frame_means(planar: torch.Tensor) -> np.ndarray:
    """T x 3 mean RGB in [0, 1] of each frame of a planar 0..255 clip (float64)."""
    return planar.mean(dim=(2, 3)).T.double().numpy() / 255


def colour_views(
    clip: torch.Tensor,
    views: Sequence[tuple[bool, bool]],
    *,
    colour: str,
    jitter: tuple[float, float, float, float],
    g: torch.Generator,
    normalise: _Normalise,
) -> list[torch.Tensor]:
    """The colour ops of ``ClipAugment`` and ``WeakStrongAugment``: for each view
    (jitter?, greyscale?) of one cropped uint8 clip T x 3 x H x W, the float 3 x T x H x W
    result, normalised. The clip is converted once for all views; the jitter draws happen
    in view order. ``colour``: one of COLOUR_MODES."""
    if colour == "fused":
        planar = planar_float(clip)
        means = None
        out = []
        for do_jitter, grey in views:
            ops = ColourAffine(planar.shape[1])
            if do_jitter:
                means = frame_means(planar) if means is None else means
                ops.jitter(jitter, g, means)
            if grey:
                ops.greyscale()
            out.append(ops.apply(planar, normalise))
        return out
    x01 = clip.float().div_(255)
    out = []
    for do_jitter, grey in views:
        x = colour_jitter(x01, jitter, g) if do_jitter else x01
        if grey:
            x = F.rgb_to_grayscale(x, num_output_channels=3)
        out.append(normalise(x).permute(1, 0, 2, 3).contiguous())
    return out


class ClipAugment:
    """Training augmentation of one clip, the same parameters for all its frames.

    Args:
        size: output side (square crops).
        scale: area share range of the random crop. (0.2, 1.0) rather than torchvision's
            (0.08, 1.0): at 112 px an 8% crop is ~30 px of the source, which often cuts the
            actor away; video SSL work uses similar lower bounds (CVRL: 0.3).
        ratio: aspect ratio range of the crop.
        flip_p: probability of a horizontal flip.
        jitter: (brightness, contrast, saturation, hue) strengths as torchvision's ColorJitter
            (factors in [1 - s, 1 + s], hue shift in [-h, h]); applied in a random order.
        jitter_p: probability of applying the colour jitter.
        grey_p: probability of converting to greyscale (3 equal channels).
        mean, std: per-channel normalisation after the [0, 1] scaling.
        colour: "fused" (default) applies jitter, greyscale and normalisation as one affine
            map (``ColourAffine``: hue as a rotation about the grey axis, one clamp at the
            end); "torchvision" runs torchvision's ops one by one (HSV hue shift, a clamp
            after each op), ~5x slower on 112 px clips. Both draw the same random numbers,
            so crops and flips do not depend on the mode.

    Call with a uint8 clip T x 3 x H x W and a ``torch.Generator``; returns float
    3 x T x size x size.
    """

    def __init__(
        self,
        size: int,
        scale: tuple[float, float] = DEFAULT_CROP_SCALE,
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip_p: float = 0.5,
        jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1),
        jitter_p: float = 0.8,
        grey_p: float = 0.2,
        mean: Sequence[float] = KINETICS_MEAN,
        std: Sequence[float] = KINETICS_STD,
        colour: str = "fused",
    ) -> None:
        check_augment_args(
            size, scale, ratio, jitter, colour, flip_p=flip_p, jitter_p=jitter_p, grey_p=grey_p
        )
        self.size, self.scale, self.ratio = int(size), tuple(scale), tuple(ratio)
        self.flip_p, self.jitter, self.jitter_p, self.grey_p = (
            flip_p,
            tuple(jitter),
            jitter_p,
            grey_p,
        )
        self.normalise = _Normalise(mean, std)
        self.colour = colour

    def __call__(self, clip: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 T x 3 x H x W -> float 3 x T x size x size."""
        _check_clip(clip)
        g = generator
        top, left, h, w = random_resized_crop_params(*clip.shape[-2:], self.scale, self.ratio, g)
        # Every draw happens whether or not its op applies, so the stream stays aligned.
        flip, do_jitter, grey = (float(u) for u in torch.rand(3, generator=g))
        x = F.resized_crop(clip, top, left, h, w, [self.size, self.size], antialias=True)
        if flip < self.flip_p:
            x = x.flip(-1)
        view = (do_jitter < self.jitter_p, grey < self.grey_p)
        return colour_views(
            x, [view], colour=self.colour, jitter=self.jitter, g=g, normalise=self.normalise
        )[0]


def crop_offset(length: int, size: int, crop: str | int) -> int:
    """Start of a ``size`` window along a side of ``length`` for crop "left" | "center" |
    "right" (or 0, 1, 2): the start, the middle or the end of the long side."""
    position = CROPS[crop] if isinstance(crop, int) and 0 <= crop < 3 else crop
    if position not in CROPS:
        raise ValueError(f"crop must be one of {CROPS} or 0..2, got {crop!r}")
    return {"left": 0, "center": (length - size) // 2, "right": length - size}[position]


class EvalTransform:
    """Deterministic evaluation view: resize the short side to ``size``, then take the
    left / center / right ``size`` x ``size`` crop along the long side (the 3-crop protocol;
    for portrait frames left/right mean top/bottom).

    ``prepare`` (resize + normalise, once per decoded frame) and ``crop_view`` are exposed so a
    caller that needs several crops of the same frames resizes them only once.
    """

    def __init__(
        self,
        size: int,
        crop: str | int = "center",
        mean: Sequence[float] = KINETICS_MEAN,
        std: Sequence[float] = KINETICS_STD,
    ) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        crop_offset(size, size, crop)  # validate now, not at the first item
        self.size, self.crop = int(size), crop
        self.normalise = _Normalise(mean, std)

    def prepare(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 N x 3 x H x W -> float N x 3 x h x w, short side ``size``, normalised."""
        _check_clip(frames)
        height, width = frames.shape[-2:]
        if height <= width:
            h, w = self.size, max(self.size, round(width * self.size / height))
        else:
            h, w = max(self.size, round(height * self.size / width)), self.size
        x = F.resize(frames, [h, w], antialias=True)
        return self.normalise(x.float().div_(255))

    def crop_view(self, prepared: torch.Tensor, crop: str | int | None = None) -> torch.Tensor:
        """float T x 3 x h x w (from ``prepare``) -> float 3 x T x size x size."""
        crop = self.crop if crop is None else crop
        h, w = prepared.shape[-2:]
        s = self.size
        if w >= h:
            left, top = crop_offset(w, s, crop), (h - s) // 2
        else:
            top, left = crop_offset(h, s, crop), (w - s) // 2
        view = prepared[..., top : top + s, left : left + s]
        return view.permute(1, 0, 2, 3).contiguous()

    def __call__(self, clip: torch.Tensor) -> torch.Tensor:
        """uint8 T x 3 x H x W -> float 3 x T x size x size."""
        return self.crop_view(self.prepare(clip))
