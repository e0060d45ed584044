"""User-supplied weights for any backbone: ``build_backbone(name, pretrained=path)``.

A weight file is read with :func:`timebalance.io.load_torch` (tensors only, nothing is
unpickled) and recognised as one of these layouts:

- ``backbone``: the state dict of a :class:`VideoBackbone` (keys ``trunk.*`` and, optionally,
  ``classifier.*``), e.g. ``model.state_dict()`` saved with ``io.write_torch``;
- ``checkpoint``: a checkpoint this package writes (pretraining or classifier stages): the
  backbone weights under ``weights.backbone`` or ``weights.model``, and its backbone name,
  which must match;
- ``native``: the layout of the library the trunk comes from, without the ``trunk.`` prefix:
  torchvision's (``r3d18``, ``r2plus1d_18``, ``mc3_18``, ``s3d``, ``swin3d_t``,
  ``mvit_v2_s``: e.g. ``torchvision.models.video.r2plus1d_18(weights=...).state_dict()``),
  pytorchvideo's (``slow_r50``), or this package's TimeSformer module names (``timesformer_*``,
  which are TimeSformer's own); the source's classification head is not loaded;
- ``vit``: for ``timesformer_*`` only, an ImageNet ViT in timm's ``vit_base_patch16_224``
  layout, mapped as :func:`timebalance.models.timesformer.vit_to_timesformer` describes.

Loading is strict for the trunk: a missing, unexpected or mis-shaped tensor raises a
ValueError naming the file and the first offending key. Classifier weights load only when the
model has a classifier of the same shape; otherwise they are skipped and listed in the result.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from torch import Tensor

from timebalance import io
from timebalance.models import torchvision_video as tv
from timebalance.models.timesformer import TimeSformer
from timebalance.models.vit_weights import is_vit_layout, vit_to_timesformer

if TYPE_CHECKING:  # a type only: backbones.py imports this module in build_backbone
    from timebalance.models.backbones import VideoBackbone

# The classification head in each backbone's native state-dict layout (torchvision's,
# pytorchvideo's, TimeSformer's): present in such files, never loaded.
NATIVE_HEADS: dict[str, tuple[str, ...]] = {
    "r3d18": ("fc.",),
    "slow_r50": ("blocks.5.",),
    "tiny": (),
    "timesformer_b16": ("head.",),
    "timesformer_tiny": ("head.",),
    **tv.TORCHVISION_HEADS,
}

log = logging.getLogger(__name__)

# BatchNorm counters: absent from files saved before torch 0.4.1; the model's are kept.
_OPTIONAL_SUFFIX = "num_batches_tracked"


class PretrainedLoad(NamedTuple):
    """What :func:`load_pretrained` did.

    Attributes:
        path: the file read.
        layout: "backbone", "checkpoint", "native" or "vit" (see the module docstring).
        loaded: model keys set from the file.
        kept: model keys left at their initialisation (e.g. a fresh classifier; for ViT
            weights, the TimeSformer's temporal_fc and time_embed).
        skipped: file keys not used (the source's classification head, or a classifier
            that does not fit this model's).
    """

    path: str
    layout: str
    loaded: tuple[str, ...]
    kept: tuple[str, ...]
    skipped: tuple[str, ...]

    def describe(self) -> str:
        """One line for a log."""

        def head(keys: tuple[str, ...]) -> str:
            return ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")

        return (
            f"loaded {len(self.loaded)} tensors from {self.path} ({self.layout} layout); "
            f"kept at init: {len(self.kept)} [{head(self.kept)}]; "
            f"skipped from the file: {len(self.skipped)} [{head(self.skipped)}]"
        )


def load_pretrained(model: VideoBackbone, path: str | Path) -> PretrainedLoad:
    """Load user-supplied weights into ``model`` (in place).

    Args:
        model: a backbone from ``build_backbone``.
        path: a torch file in one of the layouts of the module docstring.

    Returns:
        A :class:`PretrainedLoad` listing what was loaded, kept and skipped.

    Raises:
        ValueError: the file is not a state dict, or its tensors do not fit the backbone
            (the message names the file, the first offending key and both shapes).
    """
    source = str(path)
    obj = io.load_torch(path)
    layout = "backbone"
    if isinstance(obj, Mapping) and isinstance(obj.get("weights"), Mapping):
        weights = obj["weights"]
        inner = weights.get("backbone", weights.get("model"))
        if not isinstance(inner, Mapping):
            raise ValueError(
                f"{source} is a checkpoint without backbone weights (it holds "
                f"{sorted(weights)}); pass a pretraining or classifier checkpoint"
            )
        if obj.get("backbone", model.name) != model.name:
            raise ValueError(
                f"{source} holds a {obj['backbone']} backbone; this model is {model.name}: "
                f"set the backbone to {obj['backbone']} or pass weights of a {model.name}"
            )
        obj, layout = inner, "checkpoint"
    if (
        not isinstance(obj, Mapping)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items())
    ):
        raise ValueError(
            f"{source} is not a state dict (a non-empty mapping of names to tensors); save "
            "`model.state_dict()` (or the dict's weights entry) on its own"
        )
    state: Mapping[str, Tensor] = obj
    own = model.state_dict()
    trunk_keys = [k for k in own if k.startswith("trunk.")]
    skipped: list[str] = []

    if layout == "backbone" and not any(k.startswith("trunk.") for k in state):
        if is_vit_layout(state):
            if not isinstance(model.trunk, TimeSformer):
                raise ValueError(
                    f"{source} holds image ViT weights; only timesformer_* backbones load "
                    f"them, this model is {model.name}"
                )
            mapped, skipped = vit_to_timesformer(state, model.trunk, source=source)
            trunk_state = {f"trunk.{k}": v for k, v in mapped.items()}
            kept = [k for k in trunk_keys if k not in trunk_state]
            _load(model, own, trunk_state)
            return _done(source, "vit", sorted(trunk_state), kept, skipped)
        heads = NATIVE_HEADS.get(model.name, ())
        skipped = sorted(k for k in state if k.startswith(heads))
        state = {f"trunk.{k}": v for k, v in state.items() if not k.startswith(heads)}
        layout = "native"

    trunk_state = {k: v for k, v in state.items() if k.startswith("trunk.")}
    others = sorted(k for k in state if not k.startswith(("trunk.", "classifier.")))
    if others:
        raise ValueError(
            f"{source}: {others[0]!r} is unexpected ({len(others)} in all) for a {model.name} "
            f"backbone ({layout} layout: keys 'trunk.*' and 'classifier.*'); save the "
            "backbone's state dict alone"
        )
    missing = [k for k in trunk_keys if k not in trunk_state and not k.endswith(_OPTIONAL_SUFFIX)]
    extra = sorted((k for k in trunk_state if k not in own), key=_natural)
    if missing or extra:
        found = []
        if missing:
            found.append(f"{_shown(missing[0], layout)!r} is missing ({len(missing)} in all)")
        if extra:
            found.append(f"{_shown(extra[0], layout)!r} is unexpected ({len(extra)} in all)")
        raise ValueError(
            f"{source}: {' and '.join(found)} for a {model.name} backbone ({layout} layout); "
            "was it saved from another architecture or depth?"
        )
    for key, value in trunk_state.items():
        if own[key].shape != value.shape:
            raise ValueError(
                f"{source}: {_shown(key, layout)!r} has shape {tuple(value.shape)}, a "
                f"{model.name} backbone expects {tuple(own[key].shape)}; was it saved from "
                "another configuration of the network?"
            )
    load = dict(trunk_state)
    for key, value in state.items():
        if not key.startswith("classifier."):
            continue
        if key in own and own[key].shape == value.shape:
            load[key] = value
        else:
            skipped.append(key)
    kept = [k for k in own if k not in load]
    _load(model, own, load)
    return _done(source, layout, sorted(load), kept, sorted(skipped))


def _natural(key: str) -> tuple:
    """Sort key: blocks.2 before blocks.10."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in key.split("."))


def _shown(key: str, layout: str) -> str:
    """A model key as the file spells it."""
    return key.removeprefix("trunk.") if layout == "native" else key


def _load(model: VideoBackbone, own: dict[str, Tensor], load: dict[str, Tensor]) -> None:
    model.load_state_dict({**own, **load}, strict=True)


def _done(
    source: str, layout: str, loaded: list[str], kept: list[str], skipped: list[str]
) -> PretrainedLoad:
    result = PretrainedLoad(source, layout, tuple(loaded), tuple(kept), tuple(skipped))
    log.info(result.describe())
    return result


__all__ = ["PretrainedLoad", "load_pretrained"]
