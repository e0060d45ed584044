"""Distillation losses (L2 / KL / JS) against explicit numpy loops, reductions and gradients."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from timebalance.losses import DISTILLATION_LOSSES, distillation_loss

_spec = importlib.util.spec_from_file_location(
    "numpy_reference_distillation", Path(__file__).with_name("numpy_reference.py")
)
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

KINDS = ("l2", "kl", "js")


def batch(b: int, c: int, seed: int, dtype: torch.dtype = torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(b, c, generator=g, dtype=torch.float64)
    teacher = F.softmax(2 * torch.randn(b, c, generator=g, dtype=torch.float64), dim=1)
    return logits.to(dtype), teacher.to(dtype)


@pytest.mark.parametrize("kind", KINDS)
def test_per_sample_and_reductions_match_loops(kind: str) -> None:
    logits, teacher = batch(5, 7, seed=1)
    want = ref.distillation_per_sample(logits.numpy(), teacher.numpy(), kind)
    per_sample = distillation_loss(logits, teacher, kind=kind, reduction="none")
    assert per_sample.shape == (5,)
    np.testing.assert_allclose(per_sample.numpy(), want, rtol=1e-6)
    assert distillation_loss(logits, teacher, kind=kind).item() == pytest.approx(
        want.mean(), rel=1e-6
    )
    assert distillation_loss(logits, teacher, kind=kind, reduction="sum").item() == (
        pytest.approx(want.sum(), rel=1e-6)
    )


def test_l2_mean_is_mse_over_all_entries() -> None:
    # the authors' criterion: nn.MSELoss()(softmax(logits), p_T)
    logits, teacher = batch(4, 10, seed=2)
    entries = [
        (p - t) ** 2
        for row_s, row_t in zip(F.softmax(logits, 1).tolist(), teacher.tolist(), strict=True)
        for p, t in zip(row_s, row_t, strict=True)
    ]
    assert distillation_loss(logits, teacher).item() == pytest.approx(
        sum(entries) / len(entries), rel=1e-12
    )


def test_teacher_zeros_and_one_hot() -> None:
    logits, _ = batch(3, 4, seed=3)
    one_hot = F.one_hot(torch.tensor([0, 2, 3]), 4).double()
    for kind in KINDS:
        got = distillation_loss(logits, one_hot, kind=kind, reduction="none")
        want = ref.distillation_per_sample(logits.numpy(), one_hot.numpy(), kind)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    # KL to a one-hot target is the cross-entropy
    ce = F.cross_entropy(logits, torch.tensor([0, 2, 3]), reduction="none")
    torch.testing.assert_close(distillation_loss(logits, one_hot, "kl", "none"), ce)


def test_identical_distributions_give_zero_and_js_is_bounded() -> None:
    logits, _ = batch(6, 5, seed=4)
    p = F.softmax(logits, dim=1)
    for kind in KINDS:
        assert distillation_loss(logits, p, kind=kind).abs().item() < 1e-12
    far = F.one_hot(torch.zeros(2, dtype=torch.long), 2).double()
    confident = torch.tensor([[-50.0, 50.0], [-50.0, 50.0]], dtype=torch.float64)
    assert distillation_loss(confident, far, "js").item() == pytest.approx(math.log(2), rel=1e-6)


def test_unknown_kind_and_bad_inputs() -> None:
    logits, teacher = batch(2, 3, seed=5)
    assert set(DISTILLATION_LOSSES) == set(KINDS)
    with pytest.raises(ValueError, match="l2, kl, js"):
        distillation_loss(logits, teacher, kind="ce")
    with pytest.raises(ValueError, match="reduction"):
        distillation_loss(logits, teacher, reduction="batchmean")
    with pytest.raises(ValueError, match="B x C"):
        distillation_loss(logits, teacher[:, :2])


@pytest.mark.parametrize("kind", KINDS)
def test_float32_and_gradient_steps(kind: str) -> None:
    logits64, teacher64 = batch(8, 6, seed=6)
    got32 = distillation_loss(logits64.float(), teacher64.float(), kind=kind)
    assert got32.dtype == torch.float32
    assert got32.item() == pytest.approx(distillation_loss(logits64, teacher64, kind).item(), 1e-4)

    logits = logits64.float().clone().requires_grad_()
    opt = torch.optim.SGD([logits], lr=5.0 if kind == "l2" else 0.5)
    start = distillation_loss(logits, teacher64.float(), kind).item()
    for _ in range(5):
        opt.zero_grad()
        distillation_loss(logits, teacher64.float(), kind).backward()
        opt.step()
    assert distillation_loss(logits, teacher64.float(), kind).item() < start
