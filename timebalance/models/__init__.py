"""Video backbones (r3d18, slow_r50, tiny) and the contrastive projection head."""

from timebalance.models.backbones import (
    BACKBONES,
    NUM_SLICES,
    BackboneOutput,
    VideoBackbone,
    build_backbone,
    count_parameters,
)
from timebalance.models.heads import ProjectionHead

__all__ = [
    "BACKBONES",
    "NUM_SLICES",
    "BackboneOutput",
    "ProjectionHead",
    "VideoBackbone",
    "build_backbone",
    "count_parameters",
]
