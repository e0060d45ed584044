"""Stage: ACL + MTL (004: "Learning Discriminative Spatio-temporal Representations for
Semi-supervised Action Recognition"), the objective of eq. 20 on the basic framework.

    L = L_l + L_u(gamma) + mu_1 L_MTL + mu_2 L_ACL                                   (eq. 20)

- L_l: cross-entropy of labeled weak clips (eq. 1).
- L_u: cross-entropy of the student on the strong short clip against the teacher's
  pseudo-label, the argmax of the teacher's softmax averaged over the weak short clip and the
  N weak long clips (eq. 19; the confidence tested against delta is that average's maximum),
  each sample weighted by its reliability gamma (ACL, eq. 9) instead of alpha. Without ACL
  there is no gamma and alpha (``unlabeled_weight``) is used.
- L_ACL (``losses.acl``): anchors f^a = h_s(student(strong short clip)), naive positives
  f^p = h_t(teacher(weak short clip)), prototypes from the labeled features h_s(student(weak
  labeled clip)), memory bank of f^p with pseudo-labels.
- L_MTL (``losses.mtl``): f^q = student(weak short clip) calibrates each teacher long-clip map
  f^{k_n}; z^{k_n} = g_t_n(calibrated), z^{q_n} = g_s_n(student(strong short clip)).

The teacher, h_t and every g_t_n are EMAs of their student counterparts (``ema_update``).
Ablations (004 Tables 2, 4, 5): ``acl`` / ``mtl`` switches, epsilon, ``sample_confidence``,
``long_strides`` (N = its length). With ``mtl`` off no long clip is sampled, so eq. 19 reduces
to the short clip (004 Table 5 row 1 equals Table 2's ACL-only row).

Optimisation: 004 uses SGD (momentum 0.9, weight decay 1e-3, lr 0.005, divided by 10 at
epochs 25 and 28 of 30): ``settings.sgd`` (``fixmatch.paper_optimizer`` through `fit`'s
``make_optimizer``); ``sgd`` None trains with `fit`'s Adam (``settings.optim``) instead.

Warm-up (a deviation, ``warmup_epochs``; 004: none, it starts from ImageNet weights): for
the first epochs only L_l trains. From random weights the teacher's pseudo-labels are near
chance, yet eq. 9's mixture, fitted to each candidate set, always splits it and counts most
x^u reliable, so ACL's gradient (several times L_l's) pulls the features towards wrong
classes. The other terms are still computed, logged, and move the bank, prototypes and
centres. The step reads the epoch from the batch (``fixmatch.joined_batches``).

Logged besides the terms: ``reliable`` (share of x^u with gamma > epsilon), ``gamma`` (their
mean), ``bank_positives``, ``kept``, ``pseudo_accuracy`` and ``pseudo_majority`` (share of
the batch's most frequent pseudo-class), ``unsupervised_on`` (0 in the warm-up): the
figure of `report.methods_figure`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timebalance.data.multiscale import PLACEMENTS
from timebalance.engine import launch
from timebalance.engine.loader import to_device
from timebalance.engine.settings import RunSettings, Settings
from timebalance.engine.trainer import FitResult, OptimSettings, StepFn
from timebalance.losses.acl import (
    GMM_SCOPES,
    ClassPrototypes,
    MemoryBank,
    acl_loss,
    positive_mask,
    reliability,
)
from timebalance.losses.mtl import (
    DinoCentre,
    TemporalHead,
    calibrate,
    dino_target_entropy,
    mtl_loss,
)
from timebalance.methods.fixmatch import (
    EXPORTS,
    SgdSettings,
    ViewSettings,
    ema_update,
    forward_map,
    frozen_copy,
    pseudo_labels,
    train_semi_supervised,
    unlabeled_cross_entropy,
)
from timebalance.methods.settings import ClipSettings
from timebalance.models import VideoBackbone
from timebalance.models.heads import ProjectionHead

ACL_HIDDEN_DIM = 512  # the spatial projection head's hidden width (TimeBalance's head)


@dataclass(frozen=True)
class AclMtlSpec(Settings):
    """Constants of 004's objective; the paper's values in the comments (004 Sec. 4.2)."""

    threshold: float  # delta (004: 0.3)
    unlabeled_weight: float  # alpha, used only without ACL (with ACL gamma replaces it)
    unlabeled_ratio: int  # B_u / B_l (004: 5)
    ema_momentum: float  # teacher / teacher heads EMA momentum (004 gives none)
    export: str  # network written and selected on: "student" or "teacher"
    acl: bool  # adaptive contrastive learning on (004 Table 2)
    mtl: bool  # multi-scale temporal learning on (004 Table 2)
    acl_weight: float  # mu_2 (004: 1)
    mtl_weight: float  # mu_1 (004: 1)
    prototype_momentum: float  # beta (004: 0.9)
    epsilon: float  # reliability threshold (004: 0.7; Table 4: 0.3, 0.5, 0.7, 0.9)
    acl_temperature: float  # tau (004: 0.07)
    sample_confidence: bool  # unreliable x^u -> only f^p positive (004 Table 4; True)
    gmm_scope: str  # "anchor" (eq. 9 as written) or "bank" (one fit per step)
    bank_size: int  # memory bank entries (004 gives none)
    acl_dim: int  # spatial projection dimension (004 gives none; TimeBalance's 128)
    long_strides: tuple[int, ...]  # long-term sampling steps (004: 16, 32; N = 2)
    long_placement: str  # "nested" or "random" (004 does not say)
    mtl_hidden_dim: int  # temporal projection head hidden width (004 gives none)
    mtl_dim: int  # temporal projection head output K (004 gives none)
    student_temperature: float  # tau_s (004: 0.1)
    teacher_temperature: float  # tau_t (004: 0.04)
    centre_momentum: float  # DINO centre momentum (DINO: 0.9; 004 gives none)
    warmup_epochs: int  # epochs of L_l alone before the other terms of eq. 20 (004: 0)

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.threshold < 1, f"threshold delta must lie in [0, 1), got {self.threshold}"),
            (self.unlabeled_ratio >= 1, f"unlabeled_ratio must be >= 1: {self.unlabeled_ratio}"),
            (0 <= self.ema_momentum < 1, f"ema_momentum must lie in [0, 1): {self.ema_momentum}"),
            (self.export in EXPORTS, f"export must be one of {EXPORTS}, got {self.export!r}"),
            (0 <= self.epsilon <= 1, f"epsilon must lie in [0, 1], got {self.epsilon}"),
            (self.gmm_scope in GMM_SCOPES, f"gmm_scope must be one of {GMM_SCOPES}"),
            (self.long_placement in PLACEMENTS, f"long_placement must be one of {PLACEMENTS}"),
            (self.bank_size >= 1, f"bank_size must be >= 1, got {self.bank_size}"),
            (self.warmup_epochs >= 0, f"warmup_epochs must be >= 0: {self.warmup_epochs}"),
            (all(s >= 1 for s in self.long_strides), f"long strides >= 1: {self.long_strides}"),
            (
                not self.mtl or len(self.long_strides) >= 1,
                "mtl needs at least one long-term stride in long_strides (004: [16, 32])",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def active_long_strides(self) -> tuple[int, ...]:
        """The long clips sampled: ``long_strides`` with MTL, none without."""
        return self.long_strides if self.mtl else ()


@dataclass(frozen=True)
class AclMtlSettings(Settings):
    """The acl_mtl stage. ``clips.stride`` is the short-term step (004: 8), ``clips.clip_len``
    T (004: 8), ``clips.batch_size`` B_l (004: 1). ``sgd``: 004's SGD (None: `fit`'s Adam
    from ``optim``; ``optim`` gives the epochs either way)."""

    backbone: str
    spec: AclMtlSpec
    views: ViewSettings
    clips: ClipSettings
    optim: OptimSettings
    sgd: SgdSettings | None
    seed: int

    def __post_init__(self) -> None:
        if self.spec.warmup_epochs >= self.optim.epochs:
            raise ValueError(
                f"warmup_epochs {self.spec.warmup_epochs} leaves none of the "
                f"{self.optim.epochs} epochs to train eq. 20 (and none to select); lower it"
            )


class AclMtlModules(nn.Module):
    """Every network and state of the method besides the student/teacher backbones: the
    spatial projection heads h_s / h_t, the prototypes and memory bank (ACL), the temporal
    heads g_s_n / g_t_n and their centres (MTL). Absent parts are None."""

    def __init__(self, spec: AclMtlSpec, feature_dim: int, n_classes: int) -> None:
        super().__init__()
        self.warming_up = spec.warmup_epochs > 0  # set by each step (`acl_mtl_step`)
        self.h_s = self.h_t = self.prototypes = self.bank = None
        self.g_s = self.g_t = self.centres = None
        if spec.acl:
            self.h_s = ProjectionHead(feature_dim, ACL_HIDDEN_DIM, spec.acl_dim)
            self.h_t = frozen_copy(self.h_s)
            self.prototypes = ClassPrototypes(n_classes, spec.acl_dim, spec.prototype_momentum)
            self.bank = MemoryBank(spec.bank_size, spec.acl_dim)
        if spec.mtl:
            n = len(spec.long_strides)
            self.g_s = nn.ModuleList(
                TemporalHead(feature_dim, spec.mtl_hidden_dim, spec.mtl_dim) for _ in range(n)
            )
            self.g_t = frozen_copy(self.g_s)
            self.centres = nn.ModuleList(
                DinoCentre(spec.mtl_dim, spec.centre_momentum) for _ in range(n)
            )

    def teacher_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """(teacher head, student head) pairs updated by EMA."""
        pairs = [(self.h_t, self.h_s), (self.g_t, self.g_s)]
        return [(t, s) for t, s in pairs if t is not None]


def acl_mtl_step(
    student: VideoBackbone,
    teacher: VideoBackbone,
    parts: AclMtlModules,
    spec: AclMtlSpec,
    device: torch.device,
) -> StepFn:
    """Batch {"labeled": {"weak": B_l x 1 x ..., "label"}, "unlabeled": {"weak":
    B_u x (1 + N) x 3 x T x H x W, "strong": B_u x 3 x T x H x W, "label"}} -> the terms of
    eq. 20. EMAs of the previous optimiser step run first (see ``fixmatch_step``)."""

    def step(batch: dict) -> dict[str, Tensor]:
        ema_update(teacher, student, spec.ema_momentum)
        for t, s in parts.teacher_pairs():
            ema_update(t, s, spec.ema_momentum)
            t.eval()
        teacher.eval()
        b = to_device(batch, device)
        xl, yl = b["labeled"]["weak"][:, 0], b["labeled"]["label"]
        weak, strong = b["unlabeled"]["weak"], b["unlabeled"]["strong"]
        n_u, n_scales = weak.shape[:2]
        with torch.no_grad():
            t_map, t_pooled, t_logits = forward_map(teacher, weak.flatten(0, 1))
            probs = t_logits.float().softmax(-1).view(n_u, n_scales, -1).mean(1)  # eq. 19
            pseudo, _, kept = pseudo_labels(probs, spec.threshold)
            if spec.acl:
                f_p = parts.h_t(t_pooled.view(n_u, n_scales, -1)[:, 0])  # eq. 6
            if spec.mtl:
                f_q = student.features(weak[:, 0])  # eq. 12
                k_maps = t_map.view(n_u, n_scales, *t_map.shape[1:])[:, 1:]
                z_k = [
                    g(calibrate(f_q, k_maps[:, n])[0])  # eqs. 13-14, 16
                    for n, g in enumerate(parts.g_t)
                ]
        s_map, s_pooled, s_logits = forward_map(student, torch.cat([xl, strong]))
        n_l = xl.shape[0]
        out = {"labeled_ce": F.cross_entropy(s_logits[:n_l].float(), yl)}
        zero = out["labeled_ce"].new_zeros(())
        out["acl"], out["mtl"] = zero, zero
        weight = spec.unlabeled_weight * kept.float()
        if spec.acl:
            feats = parts.h_s(s_pooled)  # eqs. 4 and 6
            parts.prototypes.update(feats[:n_l], yl)  # eq. 5 (Algorithm 1, line 2)
            bank_f, bank_y = parts.bank.entries()
            rel = reliability(f_p, pseudo, parts.prototypes, bank_f, bank_y, scope=spec.gmm_scope)
            positives = positive_mask(rel, spec.epsilon, sample_confidence=spec.sample_confidence)
            out["acl"] = acl_loss(feats[n_l:], f_p, bank_f, positives, spec.acl_temperature)
            parts.bank.enqueue(f_p, pseudo)
            weight = rel.sample * kept.float()  # gamma replaces alpha (eq. 20)
            out["reliable"] = (rel.sample > spec.epsilon).float().mean()
            out["gamma"] = rel.sample.mean()  # mean reliability of x^u (eq. 9)
            out["bank_positives"] = positives.float().sum(1).mean()
        out["unlabeled_ce"] = unlabeled_cross_entropy(s_logits[n_l:], pseudo, weight)
        if spec.mtl:
            z_q = [g(s_map[n_l:]) for g in parts.g_s]  # eqs. 15-16
            entropy = torch.stack(
                [
                    dino_target_entropy(z, c.centre, teacher_temperature=spec.teacher_temperature)
                    for z, c in zip(z_k, parts.centres, strict=True)
                ]
            ).mean()  # before the centres move, as the loss sees them
            out["mtl"] = mtl_loss(
                z_q, z_k, list(parts.centres),
                student_temperature=spec.student_temperature,
                teacher_temperature=spec.teacher_temperature,
            )  # fmt: skip
            out["mtl_kl"] = out["mtl"] - entropy  # diagnostic: the alignment part of eq. 17
        # A supervised warm-up (a deviation, `warmup_epochs`): the other terms are computed
        # and the bank, prototypes and centres move, but only L_l trains until it ends.
        on = float(int(batch.get("epoch", 0)) >= spec.warmup_epochs)
        parts.warming_up = not on  # read by the validation after the epoch
        out["loss"] = (
            out["labeled_ce"]
            + on * out["unlabeled_ce"]
            + on * (spec.mtl_weight * out["mtl"])
            + on * (spec.acl_weight * out["acl"])
        )  # the terms stay attached too (fit logs them detached)
        out["unsupervised_on"] = out["loss"].new_tensor(on)
        out["kept"] = kept.float().mean()
        # diagnostic only (logged, never trained on): the unlabeled lists carry labels
        out["pseudo_accuracy"] = (pseudo == b["unlabeled"]["label"]).float().mean()
        # share of the batch's most frequent pseudo-class (1: every x^u gets one class)
        out["pseudo_majority"] = torch.bincount(pseudo).max().float() / n_u
        return out

    return step


@launch.stage
def train_acl_mtl(
    settings: AclMtlSettings,
    run: RunSettings,
    *,
    labeled: str | Path,
    unlabeled: str | Path,
    val: str | Path,
    classes: str | Path | None,
    frames_root: str | Path,
    init: str | Path | None,
    out: str | Path,
    resume: str | Path,
    metrics: str | Path,
) -> FitResult:
    """Train ACL + MTL (eq. 20); `init` is a weight file for the backbone (any layout
    `models.pretrained` reads: 004 starts from ImageNet ViT weights; None: random). Writes
    the selected epoch's student (or teacher) to `out` in the classifier format
    `methods.evaluate` reads, selected on validation clip top-1."""
    sp = settings.spec
    return train_semi_supervised(
        "acl_mtl", settings, run,
        labeled=labeled, unlabeled=unlabeled, val=val, classes=classes,
        frames_root=frames_root, init=init, out=out, resume=resume, metrics=metrics,
        extra_modules=lambda student, k: {
            "parts": AclMtlModules(sp, student.feature_dim, k)
        },
        make_step=lambda student, teacher, extra, dev: acl_mtl_step(
            student, teacher, extra["parts"], sp, dev
        ),
        loader_options={
            "long_strides": sp.active_long_strides, "placement": sp.long_placement,
        },
        warming_up=lambda extra: extra["parts"].warming_up,
    )  # fmt: skip
