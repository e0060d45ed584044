"""TimeSformer with divided space-time attention (Bertasius et al., ICML 2021), as a trunk.

Clips ``N x 3 x T x H x W`` are cut into patches (a ``tubelet x patch x patch`` convolution;
tubelet 1 is TimeSformer's per-frame 2D patch embedding), a class token is prepended, learned
spatial position embeddings (shared by all frames, with a slot for the class token) and
learned temporal embeddings (shared by all patches, not added to the class token) are added,
and ``depth`` blocks follow. Each block, as in TimeSformer's ``divided_space_time`` block:

1. temporal attention: every patch position attends over the same position in all frames;
   the result goes through ``temporal_fc`` and is added to the patch tokens (the class token
   does not take part);
2. spatial attention: within each frame, the class token (copied to every frame) and that
   frame's patches attend to one another; the class token's per-frame results are averaged
   and added to the single class token, the patches' results to the patches;
3. an MLP on every token.

The trunk returns the final (layer-normalised) patch tokens as the feature map
``N x D x T' x H' x W'`` (``T' = T / tubelet``, ``H' = H / patch``) that
:class:`~timebalance.models.backbones.VideoBackbone` pools, so the backbone's clip feature is
the mean of the patch tokens (timm's ``global_pool="avg"``) rather than TimeSformer's class
token; the class token still takes part in every spatial attention.

Position embeddings are learned for the built size (``img_size``, ``num_frames``); other
input sizes and frame counts interpolate them (bicubic over the spatial grid and linear over
time, as timm resamples ViT position embeddings; TimeSformer itself uses nearest-neighbour),
because the project crops 32, 112 and 224 px clips of 8 or 16 frames.

Module and parameter names follow TimeSformer's ``VisionTransformer`` (``patch_embed.proj``,
``cls_token``, ``pos_embed``, ``time_embed``, ``blocks.{i}.temporal_norm1 / temporal_attn /
temporal_fc / norm1 / attn / norm2 / mlp``, ``norm``), so ImageNet ViT weights map by name
(models/vit_weights.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import StochasticDepth


@dataclass(frozen=True)
class TimeSformerConfig:
    """Hyper-parameters of a TimeSformer.

    Attributes:
        img_size: side (px) the spatial position embeddings are learned for.
        num_frames: frames the temporal embeddings are learned for.
        patch_size: side (px) of a square patch.
        tubelet_size: frames per patch (1 = TimeSformer's per-frame patches).
        embed_dim: token width D.
        depth: number of divided space-time blocks.
        num_heads: attention heads (embed_dim must be divisible by it).
        mlp_ratio: hidden width of the MLP as a multiple of embed_dim.
        qkv_bias: bias in the query/key/value projection (True in ViT-B/16).
        drop_path: stochastic depth rate of the last block (linearly 0 -> drop_path).
        layer_norm_eps: epsilon of every LayerNorm (1e-6 in ViT and TimeSformer).
    """

    img_size: int = 224
    num_frames: int = 8
    patch_size: int = 16
    tubelet_size: int = 1
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_path: float = 0.1
    layer_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}"
            )
        if self.img_size % self.patch_size:
            raise ValueError(
                f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}"
            )
        if self.num_frames % self.tubelet_size:
            raise ValueError(
                f"num_frames {self.num_frames} is not a multiple of tubelet_size "
                f"{self.tubelet_size}"
            )

    @property
    def grid(self) -> int:
        """Patches per side at the built size."""
        return self.img_size // self.patch_size

    @property
    def time_positions(self) -> int:
        """Temporal token positions at the built frame count."""
        return self.num_frames // self.tubelet_size


# ViT-B/16 as TimeSformer builds it (8 frames of 224 px, stochastic depth 0.1).
TIMESFORMER_B16 = TimeSformerConfig()
# A small TimeSformer for CPU runs: 16 frames of 32 px in 2-frame x 8 px tubelets, i.e.
# 8 x 4 x 4 tokens. Fwd+bwd of 16 such clips on 2 CPU threads (min of 5): 0.10 s, vs 0.15 s at
# width 128, 0.27 s at width 128 with 1-frame patches (16 x 4 x 4 tokens) and 0.04 s for the
# `tiny` CNN; 16 px patches would leave a 2 x 2 grid.
TIMESFORMER_TINY = TimeSformerConfig(
    img_size=32,
    num_frames=16,
    patch_size=8,
    tubelet_size=2,
    embed_dim=96,
    depth=4,
    num_heads=3,
    drop_path=0.0,
)


class Attention(nn.Module):
    """Multi-head self-attention with timm's parameter layout (``qkv``, ``proj``)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """x: B x L x D sequences -> B x L x D (every token attends to all L)."""
        b, length, dim = x.shape
        qkv = self.qkv(x).reshape(b, length, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, length, dim))


class Mlp(nn.Module):
    """Linear, GELU, linear (timm's ``mlp.fc1`` / ``mlp.fc2``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DividedBlock(nn.Module):
    """One divided space-time block. Tokens travel as a class token ``B x 1 x D`` and patch
    tokens ``B x T x S x D`` (T temporal positions, S = H' * W' patches per frame)."""

    def __init__(self, cfg: TimeSformerConfig, drop_path: float) -> None:
        super().__init__()
        dim, eps = cfg.embed_dim, cfg.layer_norm_eps
        self.temporal_norm1 = nn.LayerNorm(dim, eps=eps)
        self.temporal_attn = Attention(dim, cfg.num_heads, cfg.qkv_bias)
        self.temporal_fc = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, cfg.num_heads, cfg.qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * cfg.mlp_ratio))
        # "row": one keep/drop draw per sequence, as TimeSformer's DropPath on its sequences
        self.drop_path = StochasticDepth(drop_path, mode="row")

    def temporal(self, x: Tensor) -> Tensor:
        """Temporal sublayer: x (B x T x S x D) plus attention over T for each patch s."""
        b, t, s, d = x.shape
        seq = x.transpose(1, 2).reshape(b * s, t, d)
        res = self.temporal_fc(self.drop_path(self.temporal_attn(self.temporal_norm1(seq))))
        return x + res.reshape(b, s, t, d).transpose(1, 2)

    def spatial(self, cls: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """Spatial sublayer: attention within each frame over [class token, S patches].

        Args:
            cls: B x 1 x D class token.
            x: B x T x S x D patch tokens.

        Returns:
            (cls, x) updated; the class token gets the mean of its per-frame results.
        """
        b, t, s, d = x.shape
        seq = torch.cat((cls.unsqueeze(1).expand(b, t, 1, d), x), dim=2).reshape(b * t, s + 1, d)
        res = self.drop_path(self.attn(self.norm1(seq))).reshape(b, t, s + 1, d)
        return cls + res[:, :, 0].mean(dim=1, keepdim=True), x + res[:, :, 1:]

    def forward(self, cls: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        b, t, s, d = x.shape
        cls, x = self.spatial(cls, self.temporal(x))
        tokens = torch.cat((cls, x.reshape(b, t * s, d)), dim=1)
        tokens = tokens + self.drop_path(self.mlp(self.norm2(tokens)))
        return tokens[:, :1], tokens[:, 1:].reshape(b, t, s, d)


class PatchEmbed(nn.Module):
    """``tubelet x patch x patch`` patches of each clip, projected to D channels."""

    def __init__(self, cfg: TimeSformerConfig) -> None:
        super().__init__()
        kernel = (cfg.tubelet_size, cfg.patch_size, cfg.patch_size)
        self.proj = nn.Conv3d(3, cfg.embed_dim, kernel_size=kernel, stride=kernel)

    def forward(self, x: Tensor) -> Tensor:
        """x: N x 3 x T x H x W -> N x D x T' x H' x W'."""
        return self.proj(x)


class TimeSformer(nn.Module):
    """Divided space-time TimeSformer trunk: ``N x 3 x T x H x W`` clips to the feature map
    ``N x D x T/tubelet x H/patch x W/patch`` of the final, layer-normalised patch tokens.

    T must be a multiple of ``tubelet_size``, H and W of ``patch_size`` (anything else would
    silently drop frames or pixels). Initialisation follows TimeSformer: truncated normal
    (std 0.02) for linear layers and the class / position tokens, zero temporal embeddings,
    and ``temporal_fc`` zero in every block, so each block starts as its image (spatial) block.
    """

    def __init__(self, cfg: TimeSformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim = cfg.embed_dim
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.grid * cfg.grid + 1, dim))
        self.time_embed = nn.Parameter(torch.zeros(1, cfg.time_positions, dim))
        rates = torch.linspace(0, cfg.drop_path, cfg.depth).tolist()
        self.blocks = nn.ModuleList(DividedBlock(cfg, rate) for rate in rates)
        self.norm = nn.LayerNorm(dim, eps=cfg.layer_norm_eps)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(_init_weights)
        for block in self.blocks:
            nn.init.zeros_(block.temporal_fc.weight)
            nn.init.zeros_(block.temporal_fc.bias)

    def no_weight_decay(self) -> set[str]:
        """Parameters TimeSformer trains without weight decay (the learned tokens and
        position embeddings), by their names in this module."""
        return {"cls_token", "pos_embed", "time_embed"}

    def position_embeddings(self, t: int, h: int, w: int) -> tuple[Tensor, Tensor, Tensor]:
        """(class-token position 1 x 1 x D, spatial 1 x 1 x h*w x D, temporal 1 x t x 1 x D)
        for a t x h x w token grid, interpolated when it differs from the built one."""
        cfg, dim = self.cfg, self.cfg.embed_dim
        cls_pos, spatial = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        if (h, w) != (cfg.grid, cfg.grid):
            grid = spatial.reshape(1, cfg.grid, cfg.grid, dim).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
            spatial = grid.permute(0, 2, 3, 1).reshape(1, h * w, dim)
        temporal = self.time_embed
        if t != cfg.time_positions:
            temporal = F.interpolate(
                temporal.transpose(1, 2), size=t, mode="linear", align_corners=False
            ).transpose(1, 2)
        return cls_pos, spatial.unsqueeze(1), temporal.unsqueeze(2)

    def tokens(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Embedded tokens before the blocks: (class token N x 1 x D, patches N x T' x S x D)."""
        cfg = self.cfg
        _, _, t, h, w = x.shape
        if t % cfg.tubelet_size or h % cfg.patch_size or w % cfg.patch_size:
            raise ValueError(
                f"TimeSformer with {cfg.tubelet_size}-frame x {cfg.patch_size} px patches got "
                f"{t} x {h} x {w} clips; use a frame count divisible by {cfg.tubelet_size} "
                f"and crops divisible by {cfg.patch_size}"
            )
        fmap = self.patch_embed(x)
        n, d, tp, hp, wp = fmap.shape
        patches = fmap.flatten(3).permute(0, 2, 3, 1)  # N x T' x S x D
        cls_pos, spatial, temporal = self.position_embeddings(tp, hp, wp)
        patches = patches + spatial + temporal
        cls = self.cls_token.expand(n, 1, d) + cls_pos
        return cls, patches

    def forward(self, x: Tensor) -> Tensor:
        """x: N x 3 x T x H x W -> N x D x T' x H' x W' patch-token features."""
        h, w = x.shape[3:]
        cls, patches = self.tokens(x)
        for block in self.blocks:
            cls, patches = block(cls, patches)
        n, tp, _, d = patches.shape
        hp, wp = h // self.cfg.patch_size, w // self.cfg.patch_size
        return self.norm(patches).reshape(n, tp, hp, wp, d).permute(0, 4, 1, 2, 3)


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


__all__ = [
    "TIMESFORMER_B16",
    "TIMESFORMER_TINY",
    "DividedBlock",
    "TimeSformer",
    "TimeSformerConfig",
]
