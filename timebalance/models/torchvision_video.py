"""torchvision's video classifiers as feature-map trunks (random initialisation).

Each trunk keeps torchvision's module names (``stem`` / ``layer1..4``, ``features``,
``patch_embed`` / ``features`` / ``norm``, ``conv_proj`` / ``pos_encoding`` / ``blocks`` /
``norm``) so a torchvision state dict loads by name, and drops only the classification head
(``fc``, ``classifier``, ``head``), which :class:`~timebalance.models.backbones.VideoBackbone`
replaces. Output ``N x D x T' x H' x W'`` for a 16 x 32 x 32 clip, and the head a torchvision
state dict carries:

======================  ====  ====================  ==========================================
name                    D     16 x 32 x 32 -> map   head in torchvision's layout (not loaded)
======================  ====  ====================  ==========================================
``r2plus1d_18``         512   2 x 2 x 2             ``fc`` (no dropout)
``mc3_18``              512   16 x 2 x 2            ``fc`` (no dropout)
``s3d``                 1024  2 x 1 x 1             ``classifier`` (dropout 0.2, 1x1x1 conv)
``swin3d_t``            768   8 x 1 x 1             ``head`` (no dropout)
``mvit_v2_s``           768   8 x 1 x 1             ``head`` (dropout 0.5)
======================  ====  ====================  ==========================================

Input sizes: the convolutional trunks and Swin3D (which pads to its windows) take any clip
size. torchvision's MViT forward assumes the built size (16 x 224 x 224): it takes the token
grid from its position-encoding module rather than from the input. MViTv2-S has no absolute
position embeddings (only relative ones, which its attention interpolates to the grid it
sees), so :class:`MViTTrunk` takes the grid from the patch embedding's output instead and
accepts other sizes; at the built size it computes exactly what torchvision's forward does.
An MViT with absolute position embeddings (v1) keeps the fixed size and raises a clear error.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn


def r2plus1d_18_trunk() -> tuple[nn.Module, int, float]:
    """torchvision r2plus1d_18 without ``avgpool`` and ``fc``."""
    from torchvision.models.video import r2plus1d_18

    return _resnet_trunk(r2plus1d_18(weights=None)), 512, 0.0


def mc3_18_trunk() -> tuple[nn.Module, int, float]:
    """torchvision mc3_18 (3D stem, then 2D convolutions) without ``avgpool`` and ``fc``."""
    from torchvision.models.video import mc3_18

    return _resnet_trunk(mc3_18(weights=None)), 512, 0.0


def _resnet_trunk(net: nn.Module) -> nn.Module:
    names = ("stem", "layer1", "layer2", "layer3", "layer4")
    return nn.Sequential(OrderedDict((name, getattr(net, name)) for name in names))


class S3DTrunk(nn.Module):
    """torchvision S3D's ``features`` (its fixed 2 x 7 x 7 average pool and head dropped)."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models.video import s3d

        self.features = s3d(weights=None).features

    def forward(self, x: Tensor) -> Tensor:
        """x: N x 3 x T x H x W -> N x 1024 x T/8 x H/32 x W/32 (rounded up)."""
        return self.features(x)


def s3d_trunk() -> tuple[nn.Module, int, float]:
    return S3DTrunk(), 1024, 0.2


class Swin3dTrunk(nn.Module):
    """torchvision swin3d_t up to its final LayerNorm, channels moved first."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models.video import swin3d_t

        net = swin3d_t(weights=None)
        self.patch_embed = net.patch_embed
        self.pos_drop = net.pos_drop
        self.features = net.features
        self.norm = net.norm

    def forward(self, x: Tensor) -> Tensor:
        """x: N x 3 x T x H x W -> N x 768 x T/2 x H/32 x W/32 (rounded up)."""
        x = self.norm(self.features(self.pos_drop(self.patch_embed(x))))
        return x.permute(0, 4, 1, 2, 3)


def swin3d_t_trunk() -> tuple[nn.Module, int, float]:
    return Swin3dTrunk(), 768, 0.0


class MViTTrunk(nn.Module):
    """A torchvision MViT up to its final norm; the patch tokens (class token dropped) as a
    ``N x D x T' x H' x W'`` map.

    Args:
        net: a torchvision ``MViT`` (e.g. ``mvit_v2_s(weights=None)``).
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.conv_proj = net.conv_proj
        self.pos_encoding = net.pos_encoding
        self.blocks = net.blocks
        self.norm = net.norm
        # absolute (v1) position embeddings exist for the built token grid only
        self.fixed_grid = self.pos_encoding.spatial_pos is not None

    def forward(self, x: Tensor) -> Tensor:
        """x: N x 3 x T x H x W -> N x D x T/2 x H/32 x W/32 (rounded up)."""
        x = self.conv_proj(x)
        thw = tuple(x.shape[2:])
        built = (self.pos_encoding.temporal_size, *self.pos_encoding.spatial_size)
        if self.fixed_grid and thw != built:
            stride = self.conv_proj.stride
            size = tuple(g * s for g, s in zip(built, stride, strict=True))
            raise ValueError(
                f"this MViT has absolute position embeddings for {size[0]} x {size[1]} x "
                f"{size[2]} clips (T x H x W) and got a clip giving a {thw} token grid; "
                f"sample {size[0]}-frame clips cropped to {size[1]} px"
            )
        x = self.pos_encoding(x.flatten(2).transpose(1, 2))
        for block in self.blocks:
            x, thw = block(x, thw)
        x = self.norm(x)[:, 1:]
        n, _, d = x.shape
        return x.transpose(1, 2).reshape(n, d, *thw)


def mvit_v2_s_trunk() -> tuple[nn.Module, int, float]:
    from torchvision.models.video import mvit_v2_s

    return MViTTrunk(mvit_v2_s(weights=None)), 768, 0.5


# The classification head of each model in torchvision's state-dict layout.
TORCHVISION_HEADS: dict[str, tuple[str, ...]] = {
    "r2plus1d_18": ("fc.",),
    "mc3_18": ("fc.",),
    "s3d": ("classifier.",),
    "swin3d_t": ("head.",),
    "mvit_v2_s": ("head.",),
}

__all__ = [
    "TORCHVISION_HEADS",
    "MViTTrunk",
    "S3DTrunk",
    "Swin3dTrunk",
    "mc3_18_trunk",
    "mvit_v2_s_trunk",
    "r2plus1d_18_trunk",
    "s3d_trunk",
    "swin3d_t_trunk",
]
