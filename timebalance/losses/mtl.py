"""Multi-scale temporal learning, MTL (004 Sec. 3.4, eqs. 12-18).

- ``calibrate``: the cross-scale temporal calibration (eqs. 13-14). For a CNN the features
  are maps N x D x T' x H' x W'; the attention A_n is the cosine similarity of the student's
  short-clip feature f^q and the teacher's long-clip feature f^{k_n} at each spatio-temporal
  position (over channels), and f^{k_n*} = A_n * f^{k_n} position by position. Token
  features N x L x D (a transformer) are calibrated per token the same way.
- ``TemporalHead``: the temporal projection head g (eq. 16): the calibrated (teacher) or
  strong-view (student) feature, averaged over its positions, through an MLP. 004 does not
  describe the head; this is DINO's projection MLP without its weight-normalised last layer.
- ``DinoCentre`` and ``dino_cross_entropy``: DINO's softmax with temperatures tau_s (student)
  and tau_t (teacher), the teacher output centred by a running mean (eq. 17,
  H(a, b) = -a log b summed over the output dimension);
- ``mtl_loss``: eq. 18, the mean of the per-scale losses.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def calibrate(query: Tensor, key: Tensor, *, eps: float = 1e-8) -> tuple[Tensor, Tensor]:
    """Eqs. 13-14: A_n = cos(f^q, f^{k_n}) per position, f^{k_n*} = A_n * f^{k_n}.

    Args:
        query: f^q, N x D x T' x H' x W' (CNN map) or N x L x D (tokens).
        key: f^{k_n}, the same shape.
        eps: floor of the norms (as ``F.cosine_similarity``).

    Returns:
        (calibrated key, same shape as ``key``; attention A_n, N x 1 x T' x H' x W' or
        N x L x 1).
    """
    if query.shape != key.shape or query.ndim not in (3, 5):
        raise ValueError(
            "calibrate needs the short-clip and long-clip features in the same layout, "
            "N x D x T x H x W maps or N x L x D tokens (clips of the same length and crop "
            f"size); got {tuple(query.shape)} and {tuple(key.shape)}"
        )
    dim = 1 if query.ndim == 5 else -1
    attention = F.cosine_similarity(query, key, dim=dim, eps=eps).unsqueeze(dim)
    return attention * key, attention


def pool_positions(features: Tensor) -> Tensor:
    """Average over positions: N x D x T x H x W -> N x D, N x L x D -> N x D."""
    if features.ndim == 5:
        return features.mean(dim=(2, 3, 4))
    if features.ndim == 3:
        return features.mean(dim=1)
    raise ValueError(f"expected N x D x T x H x W or N x L x D features, got {features.shape}")


class TemporalHead(nn.Module):
    """Temporal projection head g_n of one scale (004 eq. 16).

    Positions averaged, then Linear(D, hidden) + GELU + Linear(hidden, hidden) + GELU +
    Linear(hidden, out_dim) (DINO's MLP; no batch norm, so the teacher's EMA copy behaves the
    same in train and eval mode).

    Args:
        in_dim: feature channels D.
        hidden_dim: hidden width.
        out_dim: K, the dimension the softmax runs over.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, features: Tensor) -> Tensor:
        """N x D x T x H x W map or N x L x D tokens -> N x out_dim."""
        return self.mlp(pool_positions(features))


class DinoCentre(nn.Module):
    """DINO's running centre c of the teacher outputs: c <- m c + (1 - m) mean_batch(z^k).

    Args:
        dim: output dimension K.
        momentum: m (DINO's default 0.9; 004 gives none).
    """

    def __init__(self, dim: int, momentum: float) -> None:
        super().__init__()
        if not 0 <= momentum < 1:
            raise ValueError(f"centre momentum must lie in [0, 1), got {momentum}")
        self.momentum = momentum
        self.register_buffer("centre", torch.zeros(1, dim))

    @torch.no_grad()
    def update(self, teacher_out: Tensor) -> None:
        """Fold the batch mean of the teacher outputs (N x K) into the centre."""
        mean = teacher_out.detach().float().mean(dim=0, keepdim=True)
        self.centre.mul_(self.momentum).add_((1 - self.momentum) * mean)


def dino_cross_entropy(
    student_out: Tensor,
    teacher_out: Tensor,
    centre: Tensor,
    *,
    student_temperature: float,
    teacher_temperature: float,
) -> Tensor:
    """L_n of 004 eq. 17, H(P^{k_n}, P^{q_n}) averaged over the batch, with
    P^k = softmax((z^k - c) / tau_t) (no gradient) and P^q = softmax(z^q / tau_s).

    Args:
        student_out: z^{q_n}, N x K.
        teacher_out: z^{k_n}, N x K.
        centre: c, 1 x K (``DinoCentre.centre``).
        student_temperature: tau_s (004: 0.1).
        teacher_temperature: tau_t (004: 0.04).
    """
    if not (student_temperature > 0 and teacher_temperature > 0):
        raise ValueError(
            f"temperatures must be > 0, got {student_temperature}, {teacher_temperature}"
        )
    target = ((teacher_out.detach().float() - centre) / teacher_temperature).softmax(dim=-1)
    log_p = (student_out.float() / student_temperature).log_softmax(dim=-1)
    return -(target * log_p).sum(dim=-1).mean()


def dino_target_entropy(
    teacher_out: Tensor, centre: Tensor, *, teacher_temperature: float
) -> Tensor:
    """Mean entropy of the centred teacher targets P^k (a DINO diagnostic). H(P^k, P^q) =
    entropy(P^k) + KL(P^k || P^q): early in training the centring flattens the targets, so
    eq. 17 rises towards log K while the KL part, the alignment the student learns, falls."""
    target = ((teacher_out.detach().float() - centre) / teacher_temperature).softmax(dim=-1)
    return -(target * target.clamp_min(1e-12).log()).sum(dim=-1).mean()


def mtl_loss(
    student_outs: Sequence[Tensor],
    teacher_outs: Sequence[Tensor],
    centres: Sequence[DinoCentre],
    *,
    student_temperature: float,
    teacher_temperature: float,
    update_centres: bool = True,
) -> Tensor:
    """L_MTL of 004 eq. 18: the mean over the N long-term scales of L_n (eq. 17). Each scale
    has its own centre; with ``update_centres`` they take this batch's teacher outputs after
    the loss is computed (DINO's order)."""
    if not len(student_outs) == len(teacher_outs) == len(centres) >= 1:
        raise ValueError(
            f"need one student output, teacher output and centre per scale, got "
            f"{len(student_outs)}, {len(teacher_outs)}, {len(centres)}"
        )
    losses = [
        dino_cross_entropy(
            s,
            t,
            c.centre,
            student_temperature=student_temperature,
            teacher_temperature=teacher_temperature,
        )
        for s, t, c in zip(student_outs, teacher_outs, centres, strict=True)
    ]
    if update_centres:
        for t, c in zip(teacher_outs, centres, strict=True):
            c.update(t)
    return torch.stack(losses).mean()
