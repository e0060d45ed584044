"""MTL (004 Sec. 3.4): the calibration of eqs. 13-14 per position, DINO's centred softmax and
eqs. 17-18, against explicit loops."""

from __future__ import annotations

import math

import pytest
import torch

from timebalance.losses.mtl import (
    DinoCentre,
    TemporalHead,
    calibrate,
    dino_cross_entropy,
    mtl_loss,
    pool_positions,
)


def test_calibration_weights_each_position_by_its_cosine_similarity():
    torch.manual_seed(0)
    q = torch.randn(2, 3, 2, 2, 2, dtype=torch.float64)
    k = torch.randn(2, 3, 2, 2, 2, dtype=torch.float64)
    calibrated, attention = calibrate(q, k)
    assert attention.shape == (2, 1, 2, 2, 2)
    for n in range(2):
        for t in range(2):
            for h in range(2):
                for w in range(2):
                    qv, kv = q[n, :, t, h, w].tolist(), k[n, :, t, h, w].tolist()
                    dot = sum(a * b for a, b in zip(qv, kv, strict=True))
                    a = dot / (
                        math.sqrt(sum(x * x for x in qv)) * math.sqrt(sum(x * x for x in kv))
                    )
                    assert attention[n, 0, t, h, w].item() == pytest.approx(a, rel=1e-9)
                    for c in range(3):
                        want = a * kv[c]
                        assert calibrated[n, c, t, h, w].item() == pytest.approx(want, rel=1e-9)


def test_calibration_of_tokens_and_shape_errors():
    q = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # 1 x 2 tokens x 2 channels
    k = torch.tensor([[[3.0, 0.0], [1.0, 1.0]]])
    calibrated, attention = calibrate(q, k)
    assert attention.flatten().tolist() == pytest.approx([1.0, 1 / math.sqrt(2)])
    assert calibrated[0, 1].tolist() == pytest.approx([1 / math.sqrt(2)] * 2)
    with pytest.raises(ValueError, match="same layout"):
        calibrate(torch.zeros(1, 4, 2, 2, 2), torch.zeros(1, 4, 1, 2, 2))


def _h_loop(student, teacher, centre, tau_s, tau_t) -> float:
    """mean_n -sum_k P^k_k log P^q_k, softmaxes written out."""
    total = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist(), strict=True):
        t_logits = [(t - c) / tau_t for t, c in zip(t_row, centre, strict=True)]
        s_logits = [s / tau_s for s in s_row]
        zt = sum(math.exp(v) for v in t_logits)
        zs = sum(math.exp(v) for v in s_logits)
        total -= sum(
            math.exp(tv) / zt * (sv - math.log(zs))
            for tv, sv in zip(t_logits, s_logits, strict=True)
        )
    return total / len(student)


def test_dino_cross_entropy_matches_the_formula_with_centring():
    torch.manual_seed(1)
    s = torch.randn(3, 5, dtype=torch.float64)
    t = torch.randn(3, 5, dtype=torch.float64) * 0.1
    centre = torch.tensor([[0.05, -0.02, 0.0, 0.1, -0.1]], dtype=torch.float64)
    got = dino_cross_entropy(s, t, centre, student_temperature=0.1, teacher_temperature=0.04)
    assert got.item() == pytest.approx(_h_loop(s, t, centre[0].tolist(), 0.1, 0.04), rel=1e-6)
    # the centre matters (a non-constant centre changes the teacher's softmax)
    plain = dino_cross_entropy(
        s, t, torch.zeros_like(centre), student_temperature=0.1, teacher_temperature=0.04
    )
    assert abs(plain.item() - got.item()) > 1e-3


def test_dino_centre_is_an_ema_of_teacher_batch_means():
    centre = DinoCentre(dim=2, momentum=0.9)
    a = torch.tensor([[1.0, 3.0], [3.0, 5.0]])
    centre.update(a)
    assert centre.centre.tolist() == [pytest.approx([0.2, 0.4])]
    b = torch.tensor([[-2.0, 0.0]])
    centre.update(b)
    assert centre.centre.tolist() == [pytest.approx([0.9 * 0.2 - 0.2, 0.9 * 0.4])]


def test_mtl_loss_averages_scales_and_centres_after_the_loss():
    torch.manual_seed(2)
    students = [torch.randn(4, 6, requires_grad=True) for _ in range(2)]
    teachers = [torch.randn(4, 6) for _ in range(2)]
    centres = [DinoCentre(6, 0.9) for _ in range(2)]
    centres[1].centre.fill_(0.3)
    before = [c.centre.clone() for c in centres]
    loss = mtl_loss(students, teachers, centres, student_temperature=0.1, teacher_temperature=0.04)
    per_scale = [
        _h_loop(s.detach().double(), t.double(), b[0].tolist(), 0.1, 0.04)
        for s, t, b in zip(students, teachers, before, strict=True)
    ]
    assert loss.item() == pytest.approx(sum(per_scale) / 2, rel=1e-5)
    for c, b, t in zip(centres, before, teachers, strict=True):
        assert torch.allclose(c.centre, 0.9 * b + 0.1 * t.mean(0, keepdim=True))
    loss.backward()
    assert all(s.grad is not None for s in students)
    with pytest.raises(ValueError, match="one student output"):
        mtl_loss(students, teachers[:1], centres, student_temperature=0.1, teacher_temperature=0.04)


def test_temporal_head_pools_positions():
    head = TemporalHead(in_dim=4, hidden_dim=8, out_dim=3)
    fmap = torch.randn(2, 4, 2, 3, 3)
    assert head(fmap).shape == (2, 3)
    assert torch.allclose(head(fmap), head.mlp(fmap.mean(dim=(2, 3, 4))))
    tokens = torch.randn(2, 5, 4)
    assert torch.allclose(pool_positions(tokens), tokens.mean(1))
