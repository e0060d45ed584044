"""Distillation losses from the (mixed) teacher prediction to the student (eq. 8, Table 6).

Every kind compares the student's softmax p_S with the teacher's class probabilities p_T:

- ``"l2"`` (the paper's default): squared error, averaged over the classes per sample, so the
  batch mean equals ``torch.nn.MSELoss()(softmax(logits), p_T)`` as in the authors' code;
- ``"kl"``: KL(p_T || p_S) = sum_c p_T log(p_T / p_S) per sample;
- ``"js"``: Jensen-Shannon divergence 0.5 KL(p_T || M) + 0.5 KL(p_S || M), M = (p_T + p_S) / 2.

Natural logarithms throughout; 0 log 0 is taken as 0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F


def _l2_per_sample(student_logits: Tensor, teacher_probs: Tensor) -> Tensor:
    p_s = F.softmax(student_logits, dim=1)
    return (p_s - teacher_probs).pow(2).mean(dim=1)


def _kl_per_sample(student_logits: Tensor, teacher_probs: Tensor) -> Tensor:
    log_p_s = F.log_softmax(student_logits, dim=1)
    # xlogy gives 0 where p_T is 0 (classes the teacher rules out contribute nothing)
    return (torch.xlogy(teacher_probs, teacher_probs) - teacher_probs * log_p_s).sum(dim=1)


def _js_per_sample(student_logits: Tensor, teacher_probs: Tensor) -> Tensor:
    log_p_s = F.log_softmax(student_logits, dim=1)
    p_s = log_p_s.exp()
    m = 0.5 * (p_s + teacher_probs)
    # p_S > 0 always, so log M is finite wherever p_S log(p_S / M) is needed
    log_m = m.log()
    kl_t = (torch.xlogy(teacher_probs, teacher_probs) - teacher_probs * log_m).sum(dim=1)
    kl_s = (p_s * (log_p_s - log_m)).sum(dim=1)
    return 0.5 * (kl_t + kl_s)


DISTILLATION_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "l2": _l2_per_sample,
    "kl": _kl_per_sample,
    "js": _js_per_sample,
}
_REDUCTIONS = ("mean", "sum", "none")


def distillation_loss(
    student_logits: Tensor, teacher_probs: Tensor, kind: str = "l2", reduction: str = "mean"
) -> Tensor:
    """Distillation loss between the student's softmax and the teacher's probabilities.

    Args:
        student_logits: B x C raw student scores (softmax is applied here).
        teacher_probs: B x C teacher probabilities (rows sum to 1; no gradient is expected).
        kind: "l2" (mean squared error over all B x C entries for reduction "mean"),
            "kl" (KL(p_T || p_S)) or "js" (Jensen-Shannon divergence).
        reduction: "mean" over samples, "sum" over samples, or "none" for a B tensor of
            per-sample losses (for per-sample weighting or masking; for "l2" each sample's
            value is its mean over the C classes).

    Returns:
        Scalar loss, or a B tensor for reduction "none".
    """
    if kind not in DISTILLATION_LOSSES:
        raise ValueError(
            f"unknown distillation loss {kind!r}; valid kinds: {', '.join(DISTILLATION_LOSSES)}"
        )
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(_REDUCTIONS)}, got {reduction!r}")
    if student_logits.ndim != 2 or student_logits.shape != teacher_probs.shape:
        raise ValueError(
            "student_logits and teacher_probs must both be B x C, got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_probs.shape)}"
        )
    per_sample = DISTILLATION_LOSSES[kind](student_logits, teacher_probs.to(student_logits.dtype))
    if reduction == "none":
        return per_sample
    return per_sample.mean() if reduction == "mean" else per_sample.sum()
