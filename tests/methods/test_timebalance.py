"""Temporal similarity score, teacher mixing and the student objective."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from timebalance.methods.timebalance import (
    StudentLoss,
    mix_teachers,
    similarity_score,
    student_loss,
    temporal_similarity_matrix,
)

_spec = importlib.util.spec_from_file_location(
    "numpy_reference_methods", Path(__file__).parents[1] / "losses" / "numpy_reference.py"
)
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_temporal_similarity_matrix_is_cosine() -> None:
    z = randn(3, 4, 6, seed=0)
    c = temporal_similarity_matrix(z)
    assert c.shape == (3, 4, 4)
    for b in range(3):
        np.testing.assert_allclose(c[b].numpy(), ref.cosine_matrix(z[b].numpy()), rtol=1e-10)
    torch.testing.assert_close(torch.diagonal(c, dim1=1, dim2=2), torch.ones(3, 4).double())


@pytest.mark.parametrize("n", [2, 4, 5])
def test_similarity_score_matches_loops(n: int) -> None:
    z_inv, z_dist = 3 * randn(6, n, 8, seed=n), randn(6, n, 5, seed=n + 1)
    got = similarity_score(z_inv, z_dist)
    assert got.shape == (6,)
    np.testing.assert_allclose(
        got.numpy(), ref.similarity_score(z_inv.numpy(), z_dist.numpy()), rtol=1e-6
    )


def test_similarity_score_extremes() -> None:
    same = randn(2, 1, 8, seed=3).expand(2, 4, 8)
    torch.testing.assert_close(similarity_score(same, same), torch.ones(2).double())
    v = randn(1, 1, 8, seed=4)
    opposite = torch.cat([v, -v], dim=1)  # n = 2, cosine -1
    torch.testing.assert_close(similarity_score(opposite, opposite), -torch.ones(1).double())
    # one repetitive teacher and one all-different teacher average out
    orthogonal = torch.eye(4, dtype=torch.float64).unsqueeze(0)
    torch.testing.assert_close(
        similarity_score(same[:1], orthogonal), torch.tensor([0.5], dtype=torch.float64)
    )


def test_similarity_score_errors() -> None:
    with pytest.raises(ValueError, match="n >= 2"):
        similarity_score(randn(2, 1, 4, seed=0), randn(2, 1, 4, seed=1))
    with pytest.raises(ValueError, match="same B and n"):
        similarity_score(randn(2, 4, 4, seed=0), randn(2, 3, 4, seed=1))


def test_mix_teachers_clamps_and_keeps_distributions() -> None:
    p_inv = F.softmax(randn(4, 5, seed=5), dim=1)
    p_dist = F.softmax(randn(4, 5, seed=6), dim=1)
    s = torch.tensor([1.4, 0.25, -0.3, 1.0], dtype=torch.float64)
    mixed = mix_teachers(p_inv, p_dist, s)
    torch.testing.assert_close(mixed.sum(dim=1), torch.ones(4).double())
    torch.testing.assert_close(mixed[0], p_inv[0])
    torch.testing.assert_close(mixed[1], 0.25 * p_inv[1] + 0.75 * p_dist[1])
    torch.testing.assert_close(mixed[2], p_dist[2])
    torch.testing.assert_close(mix_teachers(p_inv, p_dist, s.unsqueeze(1)), mixed)
    with pytest.raises(ValueError, match="scores for a batch"):
        mix_teachers(p_inv, p_dist, s[:3])


def _manual(logits, teacher, labels, mask, weights=(1.0, 50.0, 100.0), kind="l2"):
    """Loop reference: per-term means over the samples each term applies to."""
    lab = [i for i in range(len(mask)) if mask[i]]
    unl = [i for i in range(len(mask)) if not mask[i]]
    ce = sum(ref.cross_entropy(logits[i], labels[i]) for i in lab) / max(len(lab), 1)
    per = ref.distillation_per_sample(logits, teacher, kind)
    ld = sum(per[i] for i in lab) / max(len(lab), 1)
    ud = sum(per[i] for i in unl) / max(len(unl), 1)
    return weights[0] * ce + weights[1] * ld + weights[2] * ud, ce, ld, ud


@pytest.mark.parametrize("kind", ["l2", "kl", "js"])
def test_student_loss_mixed_batch_matches_loops(kind: str) -> None:
    logits = 2 * randn(6, 4, seed=7)
    teacher = F.softmax(randn(6, 4, seed=8), dim=1)
    labels = torch.tensor([1, -1, 3, -1, -1, 0])
    mask = labels >= 0
    out = student_loss(logits, teacher, labels, mask, distill_kind=kind)
    assert isinstance(out, dict)
    assert (
        set(out)
        == set(StudentLoss.__annotations__)
        == {"loss", "ce", "labeled_distill", "unlabeled_distill"}
    )
    total, ce, ld, ud = _manual(
        logits.numpy(), teacher.numpy(), labels.tolist(), mask.tolist(), kind=kind
    )
    assert out["ce"].item() == pytest.approx(ce, rel=1e-6)
    assert out["labeled_distill"].item() == pytest.approx(ld, rel=1e-6)
    assert out["unlabeled_distill"].item() == pytest.approx(ud, rel=1e-6)
    assert out["loss"].item() == pytest.approx(total, rel=1e-6)


def test_student_loss_weights() -> None:
    logits, teacher = randn(4, 3, seed=9), F.softmax(randn(4, 3, seed=10), dim=1)
    labels, mask = torch.tensor([0, 1, 2, 0]), torch.tensor([True, False, True, False])
    out = student_loss(
        logits,
        teacher,
        labels,
        mask,
        ce_weight=2.0,
        labeled_distill_weight=3.0,
        unlabeled_distill_weight=0.5,
    )
    want = _manual(logits.numpy(), teacher.numpy(), labels.tolist(), mask.tolist(), (2, 3, 0.5))
    assert out["loss"].item() == pytest.approx(want[0], rel=1e-6)


def test_student_loss_empty_terms_are_zero_and_differentiable() -> None:
    teacher = F.softmax(randn(3, 4, seed=11), dim=1)
    labels = torch.tensor([-1, -1, -1])
    logits = randn(3, 4, seed=12).requires_grad_()
    out = student_loss(logits, teacher, labels, torch.zeros(3, dtype=torch.bool))
    assert out["ce"].item() == 0.0 and out["labeled_distill"].item() == 0.0
    assert out["unlabeled_distill"].item() > 0
    out["loss"].backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0

    logits = randn(3, 4, seed=12).requires_grad_()
    out = student_loss(logits, teacher, torch.tensor([0, 1, 2]), torch.ones(3, dtype=torch.bool))
    assert out["unlabeled_distill"].item() == 0.0
    out["loss"].backward()
    assert torch.isfinite(logits.grad).all()


def test_student_loss_without_teachers() -> None:
    logits = randn(4, 3, seed=13).requires_grad_()
    labels, mask = torch.tensor([2, 0, -1, -1]), torch.tensor([True, True, False, False])
    out = student_loss(logits, None, labels, mask)
    assert out["labeled_distill"].item() == 0.0 and out["unlabeled_distill"].item() == 0.0
    want = F.cross_entropy(logits[:2], labels[:2])
    torch.testing.assert_close(out["loss"], want)
    out["loss"].backward()
    assert logits.grad[2:].abs().sum() == 0 and logits.grad[:2].abs().sum() > 0


def test_student_loss_input_errors() -> None:
    logits = randn(3, 4, seed=14)
    with pytest.raises(ValueError, match=r"lie in \[0, 4\)"):
        student_loss(logits, None, torch.tensor([0, 4, 1]), torch.ones(3, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        student_loss(logits, None, torch.tensor([0, 1, 1]), torch.ones(3))
    with pytest.raises(ValueError, match="shape"):
        student_loss(logits, None, torch.tensor([0, 1]), torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="valid kinds"):
        student_loss(
            logits,
            F.softmax(logits, 1),
            torch.tensor([0, 1, 1]),
            torch.ones(3, dtype=torch.bool),
            distill_kind="mse",
        )


def test_student_loss_training_steps_lower_it() -> None:
    logits = randn(8, 5, seed=15).float().requires_grad_()
    teacher = F.softmax(randn(8, 5, seed=16), dim=1).float()
    labels = torch.tensor([0, 1, 2, 3, -1, -1, -1, -1])
    mask = labels >= 0
    opt = torch.optim.Adam([logits], lr=0.05)
    start = student_loss(logits, teacher, labels, mask)["loss"].item()
    for _ in range(10):
        opt.zero_grad()
        student_loss(logits, teacher, labels, mask)["loss"].backward()
        opt.step()
    assert student_loss(logits, teacher, labels, mask)["loss"].item() < start


def test_score_normalisation_keeps_order_and_spans_the_unit_interval():
    from timebalance.methods.timebalance import normalise_scores

    raw = np.array([0.91, 0.99, 0.95, 0.95, 0.97])
    assert np.array_equal(normalise_scores(raw, "none"), raw)
    mm = normalise_scores(raw, "minmax")
    assert mm.min() == 0.0 and mm.max() == 1.0
    assert np.array_equal(np.argsort(mm, kind="stable"), np.argsort(raw, kind="stable"))
    rank = normalise_scores(raw, "rank")
    assert rank.tolist() == pytest.approx([0.1, 0.9, 0.4, 0.4, 0.7])  # ties share a rank
    assert np.all(normalise_scores(np.full(3, 0.9), "minmax") == 0.5)
    with pytest.raises(ValueError, match="unknown score normalisation"):
        normalise_scores(raw, "zscore")
