"""Shared fixtures: the ViT-B/16-sized TimeSformer takes seconds to initialise, build it once."""

from __future__ import annotations

import pytest

from timebalance.models import VideoBackbone, build_backbone


@pytest.fixture(scope="session")
def timesformer_b16() -> VideoBackbone:
    """timesformer_b16 without a classifier, in eval mode (tests must not change it)."""
    return build_backbone("timesformer_b16").eval()
