"""TimeBalance's student side: temporal similarity score, teacher mixing, student objective.

- eq. 5: ``temporal_similarity_matrix`` - cosine similarity between a video's n clip
  embeddings;
- eq. 6: ``similarity_score`` - mean off-diagonal similarity, averaged over the invariant and
  distinctive teachers;
- eq. 7: ``mix_teachers`` - p_T = s p_I + (1 - s) p_D with s clamped to [0, 1];
- eqs. 2, 4, 8: ``student_loss`` - labeled cross-entropy plus weighted distillation to p_T on
  labeled and unlabeled samples.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from timebalance.losses.distillation import distillation_loss


def temporal_similarity_matrix(z: Tensor, eps: float = 1e-8) -> Tensor:
    """Temporal similarity matrix C (eq. 5).

    Args:
        z: B x n x d clip embeddings of one teacher (need not be normalised).
        eps: guards the normalisation of an all-zero embedding.

    Returns:
        B x n x n cosine similarities, C[b, t1, t2] = cos(z[b, t1], z[b, t2]).
    """
    if z.ndim != 3:
        raise ValueError(f"expected B x n x d clip embeddings, got {tuple(z.shape)}")
    unit = F.normalize(z, p=2, dim=-1, eps=eps)
    return unit @ unit.transpose(1, 2)


def _off_diagonal_mean(c: Tensor) -> Tensor:
    n = c.shape[-1]
    total = c.sum(dim=(1, 2)) - torch.diagonal(c, dim1=1, dim2=2).sum(dim=1)
    return total / (n * (n - 1))


def similarity_score(z_inv: Tensor, z_dist: Tensor) -> Tensor:
    """Temporal similarity score s (eq. 6).

    Per teacher, the mean cosine similarity over the n(n-1) ordered off-diagonal pairs of
    clips; then the average of the two teachers. High for repetitive ("atomic") actions,
    low for actions made of different sub-actions.

    Args:
        z_inv: B x n x d clip embeddings from the invariant teacher.
        z_dist: B x n x d' clip embeddings from the distinctive teacher (d' may differ).

    Returns:
        B raw scores in [-1, 1] (clamp to [0, 1] happens in :func:`mix_teachers`).
    """
    if z_inv.ndim != 3 or z_dist.ndim != 3 or z_inv.shape[:2] != z_dist.shape[:2]:
        raise ValueError(
            "z_inv and z_dist must be B x n x d with the same B and n, got "
            f"{tuple(z_inv.shape)} and {tuple(z_dist.shape)}"
        )
    if z_inv.shape[1] < 2:
        raise ValueError(f"similarity_score needs n >= 2 clips per video, got n={z_inv.shape[1]}")
    s_inv = _off_diagonal_mean(temporal_similarity_matrix(z_inv))
    s_dist = _off_diagonal_mean(temporal_similarity_matrix(z_dist))
    return 0.5 * (s_inv + s_dist)


def normalise_scores(s: np.ndarray, how: str) -> np.ndarray:
    """Extension, not the paper (which uses raw s): map the training videos' s to [0, 1] by
    min-max ("minmax") or by rank ("rank", the mean rank of ties, (r - 0.5) / N); "none"
    returns s unchanged. A narrow band of raw s (e.g. 0.9-1.0) then spans the whole range
    of eq. 7's weights; the order of the videos is kept."""
    s = np.asarray(s, dtype=np.float64)
    if how == "none":
        return s
    if how == "minmax":
        span = s.max() - s.min()
        return np.full_like(s, 0.5) if span == 0 else (s - s.min()) / span
    if how == "rank":
        _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
        last = np.cumsum(counts)  # 1-based rank of each distinct value's last copy
        mean_rank = last - (counts - 1) / 2
        return (mean_rank[inverse] - 0.5) / len(s)
    raise ValueError(f"unknown score normalisation {how!r}; choose none, minmax or rank")


def mix_teachers(p_inv: Tensor, p_dist: Tensor, s: Tensor) -> Tensor:
    """Score-weighted teacher prediction p_T = s p_I + (1 - s) p_D (eq. 7).

    Args:
        p_inv: B x C class probabilities of the invariant teacher.
        p_dist: B x C class probabilities of the distinctive teacher.
        s: B (or B x 1) similarity scores; clamped to [0, 1] so p_T stays a distribution.

    Returns:
        B x C mixed probabilities (rows sum to 1 when the inputs' rows do).
    """
    if p_inv.ndim != 2 or p_inv.shape != p_dist.shape:
        raise ValueError(
            "p_inv and p_dist must both be B x C, got "
            f"{tuple(p_inv.shape)} and {tuple(p_dist.shape)}"
        )
    s = s.reshape(-1)
    if s.shape[0] != p_inv.shape[0]:
        raise ValueError(f"s has {s.shape[0]} scores for a batch of {p_inv.shape[0]}")
    w = s.to(p_inv.dtype).clamp(0.0, 1.0).unsqueeze(1)
    return w * p_inv + (1.0 - w) * p_dist


class StudentLoss(TypedDict):
    """The student objective (``loss``) and its unweighted terms, all scalar tensors.

    ``loss = ce_weight * ce + labeled_distill_weight * labeled_distill
    + unlabeled_distill_weight * unlabeled_distill``. A plain dict, so a training step can
    return it as is (the trainer back-propagates "loss" and logs every entry).
    """

    loss: Tensor
    ce: Tensor
    labeled_distill: Tensor
    unlabeled_distill: Tensor


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    # Selecting with a mask, not indexing, keeps an empty selection in the graph: 0 with a
    # zero gradient instead of a NaN mean or a tensor without grad_fn.
    weights = mask.to(values.dtype)
    return (values * weights).sum() / weights.sum().clamp(min=1.0)


def student_loss(
    student_logits: Tensor,
    teacher_probs: Tensor | None,
    labels: Tensor,
    labeled_mask: Tensor,
    *,
    ce_weight: float = 1.0,
    labeled_distill_weight: float = 50.0,
    unlabeled_distill_weight: float = 100.0,
    distill_kind: str = "l2",
) -> StudentLoss:
    """Student objective on a batch that may mix labeled and unlabeled videos (eqs. 2, 4, 8).

    Averaging (each term is a mean over the samples it applies to):

    - ``ce``: cross-entropy, mean over the labeled samples;
    - ``labeled_distill``: distillation to p_T, mean over the labeled samples;
    - ``unlabeled_distill``: distillation to p_T, mean over the unlabeled samples.

    For "l2" a sample's distillation is its mean squared error over the C classes, so each
    term equals ``MSELoss()`` on that subset, as in the authors' code, which draws labeled and
    unlabeled videos in separate batches. A term with no samples in the batch is 0 (still part
    of the graph, so ``loss.backward()`` works). With ``teacher_probs=None`` (student-only
    ablation) both distillation terms are 0.

    Args:
        student_logits: B x C raw student scores.
        teacher_probs: B x C mixed teacher probabilities p_T (see :func:`mix_teachers`), or None.
        labels: B class indices; entries of unlabeled samples are ignored (e.g. -1).
        labeled_mask: B booleans, True where the label may be used.
        ce_weight: weight of the labeled cross-entropy.
        labeled_distill_weight: weight of the distillation on labeled samples (50).
        unlabeled_distill_weight: weight of the distillation on unlabeled samples (100).
        distill_kind: "l2", "kl" or "js" (see :func:`timebalance.losses.distillation_loss`).

    Returns:
        StudentLoss dict: "loss" (weighted total), "ce", "labeled_distill",
        "unlabeled_distill" (unweighted terms).
    """
    if student_logits.ndim != 2:
        raise ValueError(f"student_logits must be B x C, got {tuple(student_logits.shape)}")
    b, c = student_logits.shape
    if labels.shape != (b,) or labeled_mask.shape != (b,):
        raise ValueError(
            f"labels {tuple(labels.shape)} and labeled_mask {tuple(labeled_mask.shape)} must "
            f"both have shape ({b},)"
        )
    if labeled_mask.dtype != torch.bool:
        raise TypeError(f"labeled_mask must be a bool tensor, got {labeled_mask.dtype}")
    mask = labeled_mask.to(student_logits.device)
    labels = labels.to(student_logits.device).long()
    bad = mask & ((labels < 0) | (labels >= c))
    if bool(bad.any()):
        raise ValueError(
            f"labels of labeled samples must lie in [0, {c}), got {labels[bad].tolist()}"
        )
    safe_labels = torch.where(mask, labels, torch.zeros_like(labels))
    ce = _masked_mean(F.cross_entropy(student_logits, safe_labels, reduction="none"), mask)
    if teacher_probs is None:
        zero = student_logits.sum() * 0.0
        labeled_distill = unlabeled_distill = zero
    else:
        per_sample = distillation_loss(
            student_logits, teacher_probs.detach(), kind=distill_kind, reduction="none"
        )
        labeled_distill = _masked_mean(per_sample, mask)
        unlabeled_distill = _masked_mean(per_sample, ~mask)
    total = (
        ce_weight * ce
        + labeled_distill_weight * labeled_distill
        + unlabeled_distill_weight * unlabeled_distill
    )
    return StudentLoss(
        loss=total, ce=ce, labeled_distill=labeled_distill, unlabeled_distill=unlabeled_distill
    )
