"""Weak and strong views of one clip for pseudo-labelling (004 Sec. 3.2 and 4.2).

004: "The weak augmentation is implemented through random scaling and random cropping while the
strong augmentation works by adding additional grayscale and color jitter to the
weakly-augmented samples." So the strong view here is the weak view (same crop, same flip)
followed by colour jitter and random greyscale, not an independent second crop.

As in ``transforms.ClipAugment``, every random parameter is drawn once per clip from an explicit
``torch.Generator`` and applied to all frames, so a run is reproducible whatever the DataLoader's
worker count. Inputs are uint8 T x 3 x H x W; outputs float 3 x T x size x size, normalised.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torchvision.transforms.v2.functional as F

from timebalance.data.transforms import (
    KINETICS_MEAN,
    KINETICS_STD,
    _check_clip,
    _Normalise,
    check_augment_args,
    colour_views,
    random_resized_crop_params,
)


class WeakStrongAugment:
    """The weak view A_w and the strong view A_s = colour ops after A_w (004 Sec. 3.2, 4.2).

    Args:
        size: output side (square crops).
        scale: area share range of the random crop ("random scaling and random cropping":
            a random resized crop).
        ratio: aspect ratio range of the crop.
        flip_p: probability of a horizontal flip in the weak view. 004 names only scaling and
            cropping; TimeSformer's training pipeline, whose settings 004 follows, also flips.
        jitter: (brightness, contrast, saturation, hue) strengths of the strong view's colour
            jitter (torchvision ColorJitter semantics; 004 gives no values).
        jitter_p: probability of the colour jitter in the strong view.
        grey_p: probability of greyscale in the strong view.
        mean, std: per-channel normalisation after the [0, 1] scaling.
        colour: "fused" or "torchvision": how the colour ops run (``transforms.ClipAugment``).

    ``weak(clip, g)`` returns the weak view; ``__call__(clip, g)`` returns (weak, strong) of
    the same crop. Both float 3 x T x size x size.
    """

    def __init__(
        self,
        size: int,
        *,
        scale: tuple[float, float],
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
        self.colour = colour
        self.size, self.scale, self.ratio = int(size), tuple(scale), tuple(ratio)
        self.flip_p, self.jitter = flip_p, tuple(jitter)
        self.jitter_p, self.grey_p = jitter_p, grey_p
        self.normalise = _Normalise(mean, std)

    def _crop(self, clip: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """uint8 T x 3 x H x W -> the weak view's crop and flip, uint8 T x 3 x size x size."""
        _check_clip(clip)
        top, left, h, w = random_resized_crop_params(*clip.shape[-2:], self.scale, self.ratio, g)
        flip = float(torch.rand((), generator=g))
        x = F.resized_crop(clip, top, left, h, w, [self.size, self.size], antialias=True)
        return x.flip(-1) if flip < self.flip_p else x

    def _views(
        self, x: torch.Tensor, views: list[tuple[bool, bool]], g: torch.Generator
    ) -> list[torch.Tensor]:
        return colour_views(
            x, views, colour=self.colour, jitter=self.jitter, g=g, normalise=self.normalise
        )

    def weak(self, clip: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """A_w: uint8 T x 3 x H x W -> float 3 x T x size x size."""
        return self._views(self._crop(clip, g), [(False, False)], g)[0]

    def __call__(self, clip: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(A_w(x), A_s(x)) of one clip, the strong view built on the weak one."""
        x = self._crop(clip, g)
        # Both draws happen whether or not their op applies, so the stream stays aligned.
        do_jitter, grey = (float(u) for u in torch.rand(2, generator=g))
        strong = (do_jitter < self.jitter_p, grey < self.grey_p)
        weak_view, strong_view = self._views(x, [(False, False), strong], g)
        return weak_view, strong_view
