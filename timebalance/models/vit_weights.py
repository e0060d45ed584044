"""ImageNet ViT weights (timm's ``vit_base_patch16_224`` state-dict layout) for a TimeSformer.

Users bring the file (nothing is downloaded); :func:`load_vit_weights` reads it through
:func:`timebalance.io.load_torch` and :func:`vit_to_timesformer` maps the names, following
TimeSformer's own ``load_pretrained`` (see its docstring for every choice).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from timebalance import io
from timebalance.models.timesformer import TimeSformer

# Per-block tensors of a timm ViT, loaded into both the spatial and (as TimeSformer does) the
# temporal attention: (ViT name, TimeSformer names).
_VIT_BLOCK_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("norm1.weight", ("norm1.weight", "temporal_norm1.weight")),
    ("norm1.bias", ("norm1.bias", "temporal_norm1.bias")),
    ("attn.qkv.weight", ("attn.qkv.weight", "temporal_attn.qkv.weight")),
    ("attn.qkv.bias", ("attn.qkv.bias", "temporal_attn.qkv.bias")),
    ("attn.proj.weight", ("attn.proj.weight", "temporal_attn.proj.weight")),
    ("attn.proj.bias", ("attn.proj.bias", "temporal_attn.proj.bias")),
    ("norm2.weight", ("norm2.weight",)),
    ("norm2.bias", ("norm2.bias",)),
    ("mlp.fc1.weight", ("mlp.fc1.weight",)),
    ("mlp.fc1.bias", ("mlp.fc1.bias",)),
    ("mlp.fc2.weight", ("mlp.fc2.weight",)),
    ("mlp.fc2.bias", ("mlp.fc2.bias",)),
)
_VIT_TOP_KEYS = ("cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias")
_VIT_HEAD_PREFIXES = ("head.", "pre_logits.", "fc_norm.")


def is_vit_layout(state: Mapping[str, Tensor]) -> bool:
    """True for an image ViT state dict (ViT block keys, no temporal attention)."""
    return "blocks.0.attn.qkv.weight" in state and "blocks.0.temporal_attn.qkv.weight" not in state


def vit_to_timesformer(
    state: Mapping[str, Tensor], model: TimeSformer, *, source: str
) -> tuple[dict[str, Tensor], list[str]]:
    """Map an ImageNet ViT state dict (timm ``vit_base_patch16_224`` layout) onto ``model``.

    - ``patch_embed.proj``: the 2D ``D x 3 x p x p`` kernel is inflated to the tubelet
      ``D x 3 x t x p x p`` by repeating it over time and dividing by t (I3D's inflation: a
      clip of identical frames embeds exactly as the image did).
    - ``cls_token`` as is; ``pos_embed``: the class-token slot as is, the patch grid resampled
      (bicubic) when the file's grid differs from the model's built grid.
    - Each block: ``norm1`` / ``attn`` into the spatial attention, ``norm2`` / ``mlp`` as is,
      and the temporal attention (``temporal_norm1``, ``temporal_attn.qkv`` / ``proj``)
      initialised as a copy of the same block's spatial attention, as TimeSformer's
      ``load_pretrained`` does; ``temporal_fc`` stays zero (TimeSformer zero-initialises it in
      every block), so the loaded network starts as the image ViT applied frame by frame.
    - ``time_embed`` stays zero (ViTs have none); ``norm`` as is; the ImageNet classifier
      (``head``, ``pre_logits``, ``fc_norm``) is not used.

    Args:
        state: the file's tensors.
        model: the TimeSformer to load into (its shapes are checked).
        source: the file's name, for error messages.

    Returns:
        (TimeSformer state dict with every tensor the file provides, skipped file keys).

    Raises:
        ValueError: naming ``source`` and the first missing, unexpected or mis-shaped key.
    """
    own = model.state_dict()
    depth = len(model.blocks)
    skipped = sorted(k for k in state if k.startswith(_VIT_HEAD_PREFIXES))
    expected = [*_VIT_TOP_KEYS, "norm.weight", "norm.bias"]
    expected += [f"blocks.{i}.{k}" for i in range(depth) for k, _ in _VIT_BLOCK_KEYS]
    for key in expected:
        if key not in state:
            raise ValueError(
                f"{source}: ViT key {key!r} is missing; the file must be an ImageNet ViT state "
                f"dict in timm's vit_base_patch16_224 layout with at least {depth} blocks"
            )
    unexpected = sorted(set(state) - set(expected) - set(skipped), key=_natural)
    if unexpected:
        raise ValueError(
            f"{source}: unexpected key {unexpected[0]!r} ({len(unexpected)} in all) for a "
            f"{depth}-block TimeSformer of width {model.cfg.embed_dim}; build the backbone "
            "whose depth and width match the file (timesformer_b16 for ViT-B/16)"
        )

    out: dict[str, Tensor] = {}

    def put(key: str, value: Tensor, vit_key: str) -> None:
        if own[key].shape != value.shape:
            raise ValueError(
                f"{source}: {vit_key} has shape {tuple(state[vit_key].shape)}, which maps "
                f"to {key} of "
                f"shape {tuple(own[key].shape)} in this TimeSformer; build the backbone whose "
                "width, patch size and depth match the file (timesformer_b16 for ViT-B/16)"
            )
        out[key] = value.detach().clone()

    patch = state["patch_embed.proj.weight"]
    if patch.ndim == 4:
        t = model.cfg.tubelet_size
        patch = patch.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
    put("patch_embed.proj.weight", patch, "patch_embed.proj.weight")
    put("patch_embed.proj.bias", state["patch_embed.proj.bias"], "patch_embed.proj.bias")
    put("cls_token", state["cls_token"], "cls_token")
    put("pos_embed", _resample_pos_embed(state["pos_embed"], model.cfg.grid), "pos_embed")
    put("norm.weight", state["norm.weight"], "norm.weight")
    put("norm.bias", state["norm.bias"], "norm.bias")
    for i in range(depth):
        for vit_key, targets in _VIT_BLOCK_KEYS:
            for target in targets:
                put(f"blocks.{i}.{target}", state[f"blocks.{i}.{vit_key}"], f"blocks.{i}.{vit_key}")
    return out, skipped


def _resample_pos_embed(pos: Tensor, grid: int) -> Tensor:
    """1 x (1 + g*g) x D position embeddings resampled to a grid x grid patch grid."""
    if pos.ndim != 3 or pos.shape[0] != 1:
        return pos  # the shape check names it
    g = math.isqrt(pos.shape[1] - 1)
    if g * g != pos.shape[1] - 1 or g == grid:
        return pos
    patches = pos[:, 1:].reshape(1, g, g, -1).permute(0, 3, 1, 2).float()
    patches = F.interpolate(patches, size=(grid, grid), mode="bicubic", align_corners=False)
    patches = patches.permute(0, 2, 3, 1).reshape(1, grid * grid, -1).to(pos.dtype)
    return torch.cat((pos[:, :1], patches), dim=1)


def _natural(key: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in key.split("."))


def load_vit_weights(model: TimeSformer, path: str | Path) -> list[str]:
    """Load an ImageNet ViT weight file (timm ``vit_base_patch16_224`` layout) into ``model``.

    See :func:`vit_to_timesformer` for the mapping. Tensors the file does not provide
    (``time_embed``, every ``temporal_fc``) keep their TimeSformer initialisation (zeros).
    The weights expect frames normalised as they were in the ViT's ImageNet training (timm's
    original ViT-B/16 and its AugReg versions use mean 0.5 and std 0.5 per channel).

    Returns:
        the file's keys that were not used (its ImageNet classifier).
    """
    state = io.load_torch(path)
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a state dict (a mapping of names to tensors)")
    mapped, skipped = vit_to_timesformer(state, model, source=str(path))
    model.load_state_dict({**model.state_dict(), **mapped}, strict=True)
    return skipped


__all__ = ["is_vit_layout", "load_vit_weights", "vit_to_timesformer"]
