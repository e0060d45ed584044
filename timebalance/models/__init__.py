"""Video backbones (r3d18, slow_r50, tiny, TimeSformers, torchvision's video models), their
user-supplied weights, and the contrastive projection head."""

from timebalance.models.backbones import (
    BACKBONES,
    NUM_SLICES,
    BackboneOutput,
    VideoBackbone,
    build_backbone,
    count_parameters,
)
from timebalance.models.heads import ProjectionHead
from timebalance.models.pretrained import PretrainedLoad, load_pretrained
from timebalance.models.timesformer import TimeSformer, TimeSformerConfig

__all__ = [
    "BACKBONES",
    "NUM_SLICES",
    "BackboneOutput",
    "PretrainedLoad",
    "ProjectionHead",
    "TimeSformer",
    "TimeSformerConfig",
    "VideoBackbone",
    "build_backbone",
    "count_parameters",
    "load_pretrained",
]
