"""The FixMatch / EMA-teacher baseline (004 Sec. 3.2): EMA updates, weak and strong views,
the multi-scale clip sampler, pseudo-labels and eq. 2, and a real training run on the toy
frames of test_stages."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.methods.test_stages import CLIPS, RUN, toy  # noqa: F401 (toy is a fixture)
from timebalance.data.multiscale import MultiScaleClipDataset, multiscale_starts
from timebalance.data.strong_augment import WeakStrongAugment
from timebalance.data.transforms import KINETICS_MEAN, KINETICS_STD, ClipAugment
from timebalance.engine.trainer import OptimSettings
from timebalance.losses.mtl import TemporalHead
from timebalance.methods.classifier import load_classifier_checkpoint
from timebalance.methods.evaluate import evaluate_checkpoint
from timebalance.methods.fixmatch import (
    FixMatchSettings,
    FixMatchSpec,
    ViewSettings,
    ema_update,
    forward_map,
    frozen_copy,
    joined_batches,
    pseudo_labels,
    train_fixmatch,
    unlabeled_cross_entropy,
)
from timebalance.methods.settings import EvalSettings
from timebalance.models import build_backbone
from timebalance.models.heads import ProjectionHead

VIEWS = ViewSettings(flip_p=0.5, jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=0.8, grey_p=0.2)


@pytest.mark.parametrize(
    ("make", "shape"),
    [(lambda: ProjectionHead(4, 8, 3), (6, 4)), (lambda: TemporalHead(4, 8, 3), (6, 4, 2, 1, 1))],
    ids=["spatial_head", "temporal_head"],
)
def test_ema_update_moves_parameters_and_float_buffers(make, shape):
    torch.manual_seed(0)
    student = make()
    teacher = frozen_copy(student)
    assert all(not p.requires_grad for p in teacher.parameters()) and not teacher.training
    with torch.no_grad():
        for p in student.parameters():
            p.add_(torch.randn_like(p))
    student.train()(torch.randn(*shape))  # batch-norm running statistics move, if any
    before_t = {k: v.clone() for k, v in teacher.state_dict().items()}
    ema_update(teacher, student, 0.99)
    s_state = student.state_dict()
    for key, value in teacher.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(value, 0.99 * before_t[key] + 0.01 * s_state[key]), key
        else:  # batch counters are copied
            assert torch.equal(value, s_state[key]), key


def test_ema_update_refuses_mismatched_networks():
    with pytest.raises(ValueError, match="frozen_copy"):
        ema_update(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2)), 0.9)


def _unnormalise(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(KINETICS_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(KINETICS_STD).view(3, 1, 1, 1)
    return x * std + mean


@pytest.mark.parametrize("colour", ["fused", "torchvision"])
def test_strong_view_is_the_weak_view_plus_colour_ops(colour):
    clip = torch.randint(0, 256, (4, 3, 20, 24), dtype=torch.uint8)
    off = WeakStrongAugment(16, scale=(0.5, 1.0), jitter_p=0.0, grey_p=0.0, colour=colour)
    weak, strong = off(clip, torch.Generator().manual_seed(3))
    assert weak.shape == (3, 4, 16, 16) and torch.equal(weak, strong)
    # the same generator state gives the same weak view through .weak()
    assert torch.equal(off.weak(clip, torch.Generator().manual_seed(3)), weak)
    grey = WeakStrongAugment(16, scale=(0.5, 1.0), jitter_p=0.0, grey_p=1.0, colour=colour)
    weak_g, strong_g = grey(clip, torch.Generator().manual_seed(3))
    assert torch.equal(weak_g, weak), "the colour ops must not change the weak view"
    rgb = _unnormalise(strong_g)
    assert torch.allclose(rgb[0], rgb[1], atol=1e-5) and torch.allclose(rgb[1], rgb[2], atol=1e-5)
    assert not torch.allclose(strong_g, weak_g)
    # the weak view is the augmentation's plain crop, whatever the colour mode
    plain = ClipAugment(16, scale=(0.5, 1.0), flip_p=0.5, jitter_p=0.0, grey_p=0.0)
    assert torch.allclose(weak, plain(clip, torch.Generator().manual_seed(3)), atol=1e-5)


def test_multiscale_starts_nest_long_clips_around_the_short_one():
    strides, clip_len = (8, 16, 32), 8
    spans = [(clip_len - 1) * s + 1 for s in strides]
    clamped = 0
    for seed in range(50):
        starts = multiscale_starts(400, clip_len, strides, "nested", np.random.default_rng(seed))
        assert 0 <= starts[0] <= 400 - spans[0]
        centre = starts[0] + spans[0] // 2
        for start, length in zip(starts[1:], spans[1:], strict=True):
            assert start == max(0, centre - length // 2)
            clamped += start == 0
    assert 0 < clamped < 100, "both the free and the clamped case are covered"
    rand = multiscale_starts(400, 8, strides, "random", np.random.default_rng(1))
    assert len(set(rand.tolist())) == 3
    with pytest.raises(ValueError, match="placement"):
        multiscale_starts(400, 8, (8,), "aligned", np.random.default_rng(0))


def test_multiscale_dataset_returns_weak_clips_per_stride_and_one_strong(toy):  # noqa: F811
    augment = WeakStrongAugment(16, scale=(0.6, 1.0))
    ds = MultiScaleClipDataset(
        toy["labeled"], toy["frames"], augment=augment, clip_len=4, strides=(1, 2, 4),
        strong=True, seed=0,
    )  # fmt: skip
    item = ds[0]
    assert item["weak"].shape == (3, 3, 4, 16, 16)
    assert item["strong"].shape == (3, 4, 16, 16)
    assert item["label"] == 0
    assert torch.equal(ds[0]["weak"], item["weak"]), "items are reproducible"
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["weak"], item["weak"]), "epochs draw new clips"
    plain = MultiScaleClipDataset(
        toy["labeled"], toy["frames"], augment=augment, clip_len=4, strides=(2,), seed=0
    )
    assert "strong" not in plain[0] and plain[0]["weak"].shape == (1, 3, 4, 16, 16)


def test_pseudo_labels_and_eq2():
    probs = torch.tensor([[0.7, 0.3], [0.2, 0.8], [0.55, 0.45]])
    label, conf, kept = pseudo_labels(probs, threshold=0.6)
    assert label.tolist() == [0, 1, 0] and kept.tolist() == [True, True, False]
    assert conf.tolist() == pytest.approx([0.7, 0.8, 0.55])
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    got = unlabeled_cross_entropy(logits, label, kept.float())
    ce = [
        -np.log(np.exp(2) / (np.exp(2) + 1)),
        -np.log(np.exp(1) / (np.exp(1) + 1)),
    ]
    assert got.item() == pytest.approx(sum(ce) / 3, rel=1e-6), "mean over all N_u (eq. 2)"


def _settings(**spec) -> FixMatchSettings:
    return FixMatchSettings(
        backbone="tiny",
        spec=FixMatchSpec(
            **{
                "threshold": 0.6,
                "unlabeled_weight": 1.0,
                "unlabeled_ratio": 4,
                "ema_momentum": 0.9,
                "export": "student",
                **spec,
            }
        ),
        views=VIEWS,
        clips=CLIPS.__class__(**{**CLIPS.to_dict(), "batch_size": 2, "crop_scale": (0.6, 1.0)}),
        optim=OptimSettings(
            epochs=6,
            lr=2e-3,
            weight_decay=0.0,
            warmup_epochs=1,
            patience=5,
            max_steps_per_epoch=None,
        ),
        sgd=None,
        seed=0,
    )


def test_fixmatch_trains_and_writes_an_evaluable_classifier(toy, tmp_path):  # noqa: F811
    out = tmp_path / "fixmatch.pt"
    train_fixmatch(
        _settings(),
        RUN,
        labeled=toy["labeled"],
        unlabeled=toy["unlabeled"],
        val=toy["val"],
        classes=None,
        frames_root=toy["frames"],
        init=None,
        out=out,
        resume=tmp_path / "resume.pt",
        metrics=tmp_path / "fixmatch.jsonl",
    )
    ckpt = load_classifier_checkpoint(out)
    history = ckpt["history"]
    # 16 unlabeled videos, B_u = 2 x 4 = 8: two steps per epoch
    assert all(h["steps"] == 2 for h in history)
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["kept"] > 0, "no pseudo-label passed delta"
    assert ckpt["val_top1"] >= 75.0 and ckpt["export"] == "student"
    assert not (tmp_path / "resume.pt").exists()
    metrics = evaluate_checkpoint(
        EvalSettings(
            crop_size=32, clip_len=8, stride=2, n_clips=2, n_crops=1, batch_size=4, workers=0
        ),
        RUN,
        checkpoint=out,
        test=toy["val"],
        classes=_classes(toy, tmp_path),
        frames_root=toy["frames"],
        out=tmp_path / "eval.json",
        info={"method": "fixmatch"},
    )
    assert metrics["top1"] >= 75.0


def _classes(toy, tmp_path):  # noqa: F811
    path = tmp_path / "classes.txt"
    path.write_text("c0\nc1\n")
    return path


def test_fixmatch_spec_names_bad_values():
    with pytest.raises(ValueError, match="export"):
        _settings(export="ema")
    with pytest.raises(ValueError, match="unlabeled_ratio"):
        _settings(unlabeled_ratio=0)


def test_joined_batches_carry_their_epoch_and_cycle_the_labeled_list():
    labeled = lambda epoch, skip=0: iter([{"x": torch.tensor([epoch, 0])}])  # noqa: E731
    unlabeled = lambda epoch: iter([{"u": torch.tensor([i])} for i in range(3)])  # noqa: E731
    batches = list(joined_batches(labeled, unlabeled, seed=0)(5))
    assert [b["epoch"] for b in batches] == [5, 5, 5]  # what ACL + MTL's warm-up reads
    assert [int(b["unlabeled"]["u"]) for b in batches] == [0, 1, 2]
    assert all("x" in b["labeled"] for b in batches)  # the one labeled batch, cycled


def test_forward_map_matches_the_backbone_forward():
    torch.manual_seed(0)
    model = build_backbone("tiny", num_classes=3).eval()
    x = torch.randn(2, 3, 4, 16, 16)
    fmap, pooled, logits = forward_map(model, x)
    out = model(x)
    assert fmap.ndim == 5 and torch.allclose(pooled, out.pooled)
    assert torch.allclose(logits, out.logits)
    with pytest.raises(ValueError, match="no classifier"):
        forward_map(build_backbone("tiny"), x)
