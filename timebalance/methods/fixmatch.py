"""Stage: the FixMatch / EMA-teacher baseline, the basic framework of 004 Sec. 3.2.

The teacher is an exponential moving average of the student (``ema_update``). Labeled clips
get the weak view A_w and cross-entropy (eq. 1); each unlabeled clip gets a weak and a strong
view (``data.strong_augment``), the teacher's prediction on the weak view is its pseudo-label,
kept when its probability exceeds delta, and the student learns it on the strong view (eq. 2);
L = L_l + alpha L_u (eq. 3). Each step takes B_l labeled and B_u = ratio x B_l unlabeled
videos (004 / SVFormer: B_l = 1, B_u = 5 per GPU).

The pieces ACL + MTL reuse live here too: ``ema_update``, ``frozen_copy``, the view loaders,
``joined_batches``, ``pseudo_labels``, ``unlabeled_cross_entropy`` and ``save_selected``.

Optimisation: ``settings.sgd`` set trains with 004's SGD and lr steps (``paper_optimizer``,
Sec. 4.2, which 004 uses for its whole framework, so for this baseline too); ``sgd`` None
trains with `engine.trainer.fit`'s Adam, warm-up and plateau halving (``settings.optim``),
the optimiser of every TimeBalance stage.

Initialisation: ``init`` is any weight file `models.build_backbone(pretrained=)` reads (004:
ImageNet ViT-B/16 weights for the TimeSformer; a pretraining checkpoint of this package), or
None for random weights.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from timebalance.data.multiscale import MultiScaleClipDataset
from timebalance.data.splits import read_split
from timebalance.data.strong_augment import WeakStrongAugment
from timebalance.engine import distributed, launch
from timebalance.engine.loader import cycle, epoch_loader, to_device
from timebalance.engine.metrics import clip_accuracy
from timebalance.engine.settings import RunSettings, Settings
from timebalance.engine.stage import stage_fingerprint, start_stage
from timebalance.engine.trainer import FitResult, MakeOptimizer, OptimSettings, StepFn, fit
from timebalance.methods.classifier import clip_batches, n_classes, save_classifier
from timebalance.methods.settings import ClipSettings
from timebalance.models import VideoBackbone, build_backbone
from timebalance.seeding import stream

if TYPE_CHECKING:  # a type only: acl_mtl.py imports this module
    from timebalance.methods.acl_mtl import AclMtlSettings

EXPORTS = ("student", "teacher")
STEPPED_OPTIMIZERS = ("sgd", "adam", "adam_cosine")  # optimisers of SgdSettings
Batches = Callable[[int], Iterator[dict] | DataLoader]


# ---------------------------------------------------------------- settings
@dataclass(frozen=True)
class ViewSettings(Settings):
    """Weak and strong views (004 Sec. 4.2; the crop scale comes from ``ClipSettings``).
    004 gives no strengths: flip, jitter and greyscale values are settings."""

    flip_p: float  # horizontal flip in the weak view (TimeSformer's pipeline: 0.5)
    jitter: tuple[float, float, float, float]  # strong view: brightness, contrast, sat., hue
    jitter_p: float  # strong view: probability of the colour jitter
    grey_p: float  # strong view: probability of greyscale

    def augment(self, clips: ClipSettings) -> WeakStrongAugment:
        return WeakStrongAugment(
            clips.crop_size,
            scale=clips.crop_scale,
            flip_p=self.flip_p,
            jitter=self.jitter,
            jitter_p=self.jitter_p,
            grey_p=self.grey_p,
            colour=clips.colour,
        )


@dataclass(frozen=True)
class FixMatchSpec(Settings):
    """The basic framework's constants (004 Sec. 3.2, eqs. 1-3)."""

    threshold: float  # delta, pseudo-label confidence threshold (004: 0.3; FixMatch: 0.95)
    unlabeled_weight: float  # alpha of eq. 3
    unlabeled_ratio: int  # B_u / B_l (004: 5 unlabeled per labeled video)
    ema_momentum: float  # teacher = m teacher + (1 - m) student per step (004 gives none)
    export: str  # which network the stage writes and selects on: "student" or "teacher"

    def __post_init__(self) -> None:
        if not 0 <= self.threshold < 1:
            raise ValueError(f"threshold delta must lie in [0, 1), got {self.threshold}")
        if self.unlabeled_ratio < 1:
            raise ValueError(f"unlabeled_ratio must be >= 1, got {self.unlabeled_ratio}")
        if not 0 <= self.ema_momentum < 1:
            raise ValueError(f"ema_momentum must lie in [0, 1), got {self.ema_momentum}")
        if self.export not in EXPORTS:
            raise ValueError(f"export must be one of {EXPORTS}, got {self.export!r}")


@dataclass(frozen=True)
class SgdSettings(Settings):
    """004's optimiser (Sec. 4.2, following TimeSformer): SGD, momentum 0.9, weight decay
    1e-3, lr 0.005 divided by 10 at epochs 25 and 28, 30 epochs. ``optimizer: adam`` keeps
    the lr steps with Adam instead of SGD (``momentum`` unused): from random weights 004's
    SGD did not learn on the synthetic data, and `fit`'s plateau halving, which watches the
    sum of eq. 20, cut ACL + MTL's lr to 1/32 while its labeled loss still fell.
    ``optimizer: adam_cosine``: Adam with the lr annealed along a half cosine from ``lr``
    to 0 over ``epochs`` (``CosineSchedule``; milestones unused), a decay that does not
    watch the loss, close to FixMatch's own cosine decay."""

    optimizer: str  # "sgd" (004), "adam" or "adam_cosine"
    lr: float
    momentum: float
    weight_decay: float
    milestones: tuple[int, ...]
    decay: float  # lr factor at each milestone (004: 0.1)
    epochs: int = 0  # the run's epochs (adam_cosine anneals over them)

    def __post_init__(self) -> None:
        if self.optimizer not in STEPPED_OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {STEPPED_OPTIMIZERS}, got {self.optimizer!r}"
            )
        if self.optimizer == "adam_cosine" and self.epochs < 1:
            raise ValueError(f"adam_cosine anneals over epochs >= 1, got {self.epochs}")


class MilestoneSchedule:
    """Epoch-level step schedule with the interface of `engine.schedule.WarmupPlateau`
    (``lr``, ``step(loss)``, ``state_dict``), so `fit` can take it: lr = base x decay^k
    after k milestones. Call ``step`` once per epoch, after it; the loss is ignored."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        base_lr: float,
        milestones: tuple[int, ...],
        decay: float,
    ) -> None:
        if list(milestones) != sorted(set(milestones)) or not 0 < decay < 1:
            raise ValueError(
                f"milestones must increase and decay lie in (0, 1); got {milestones}, {decay}"
            )
        self.optimizer, self.base_lr = optimizer, base_lr
        self.milestones, self.decay = tuple(milestones), decay
        self.epoch = 0
        self._apply()

    @property
    def lr(self) -> float:
        return self.base_lr * self.decay ** sum(self.epoch >= m for m in self.milestones)

    def _apply(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def step(self, loss: float | None = None) -> None:
        self.epoch += 1
        self._apply()

    def state_dict(self) -> dict:
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self._apply()


class CosineSchedule(MilestoneSchedule):
    """lr = base x (1 + cos(pi x epoch / epochs)) / 2 in epoch `epoch` (0 .. epochs - 1):
    from base down towards 0 along a half cosine; the interface of ``MilestoneSchedule``."""

    def __init__(self, optimizer: torch.optim.Optimizer, *, base_lr: float, epochs: int) -> None:
        if epochs < 1:
            raise ValueError(f"a cosine schedule needs epochs >= 1, got {epochs}")
        self.epochs = epochs
        super().__init__(optimizer, base_lr=base_lr, milestones=(), decay=0.5)

    @property
    def lr(self) -> float:
        done = min(self.epoch, self.epochs) / self.epochs
        return self.base_lr * (1 + math.cos(math.pi * done)) / 2


def paper_optimizer(
    params: Iterable[nn.Parameter], sgd: SgdSettings
) -> tuple[torch.optim.Optimizer, MilestoneSchedule]:
    """004's SGD (momentum, weight decay) and its step schedule, Adam with the same steps,
    or Adam with a cosine decay (``sgd.optimizer``): `fit`'s ``make_optimizer`` (bind
    ``sgd`` first)."""
    params = list(params)
    if sgd.optimizer in ("adam", "adam_cosine"):
        optimizer: torch.optim.Optimizer = torch.optim.Adam(
            params, lr=sgd.lr, weight_decay=sgd.weight_decay
        )
    else:
        optimizer = torch.optim.SGD(
            params, lr=sgd.lr, momentum=sgd.momentum, weight_decay=sgd.weight_decay
        )
    if sgd.optimizer == "adam_cosine":
        return optimizer, CosineSchedule(optimizer, base_lr=sgd.lr, epochs=sgd.epochs)
    schedule = MilestoneSchedule(
        optimizer, base_lr=sgd.lr, milestones=sgd.milestones, decay=sgd.decay
    )
    return optimizer, schedule


def optimizer_factory(sgd: SgdSettings | None) -> MakeOptimizer | None:
    """`fit`'s ``make_optimizer`` of a method stage: 004's SGD, or None (Adam)."""
    return None if sgd is None else partial(paper_optimizer, sgd=sgd)


@dataclass(frozen=True)
class FixMatchSettings(Settings):
    """The fixmatch stage. ``clips.batch_size`` is B_l; B_u = B_l x spec.unlabeled_ratio.
    ``sgd`` None: `fit`'s Adam from ``optim``; else 004's SGD (``optim`` gives the epochs)."""

    backbone: str
    spec: FixMatchSpec
    views: ViewSettings
    clips: ClipSettings
    optim: OptimSettings
    sgd: SgdSettings | None
    seed: int


# ---------------------------------------------------------------- teacher
@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """theta_t <- m theta_t + (1 - m) theta_s for every parameter and floating-point buffer
    (batch-norm running statistics); integer buffers (batch counters) are copied. Used for
    the teacher network and for the ACL / MTL teacher heads (004 Sec. 3.2-3.4)."""
    t_state, s_state = teacher.state_dict(), student.state_dict()
    if t_state.keys() != s_state.keys():
        raise ValueError(
            "ema_update: teacher and student differ in their weights "
            f"({sorted(t_state.keys() ^ s_state.keys())[:4]}...); build the teacher with "
            "frozen_copy(student)"
        )
    for key, t in t_state.items():
        s = s_state[key].detach()
        if t.is_floating_point():
            t.mul_(momentum).add_(s.to(t.dtype), alpha=1 - momentum)
        else:
            t.copy_(s)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` for an EMA teacher: same weights, no gradients, eval mode."""
    teacher = copy.deepcopy(module)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.eval()


# ---------------------------------------------------------------- data
def view_batches(
    table: pd.DataFrame,
    frames_root: str | Path,
    clips: ClipSettings,
    augment: WeakStrongAugment,
    *,
    strides: tuple[int, ...],
    strong: bool,
    seed: int,
    purpose: str,
    device: torch.device,
    batch_size: int,
    placement: str = "nested",
    drop_last: bool = False,
) -> Callable[[int], DataLoader]:
    """Epoch -> shuffled loader of ``MultiScaleClipDataset`` items (weak views at every
    stride, the short clip's strong view when ``strong``). ``purpose`` names the streams."""
    dataset = MultiScaleClipDataset(
        table,
        frames_root,
        augment=augment,
        clip_len=clips.clip_len,
        strides=strides,
        placement=placement,
        strong=strong,
        seed=stream(seed, f"{purpose} clips"),
    )
    return epoch_loader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        seed=seed,
        purpose=purpose,
        workers=clips.workers,
        device=device,
        drop_last=drop_last,
    )


def joined_batches(labeled: Batches, unlabeled: Batches, *, seed: int) -> Batches:
    """Epoch -> {"labeled": batch, "unlabeled": batch, "epoch": epoch}: one pass over the
    unlabeled loader, each batch joined with the next labeled one (the shorter labeled list
    is cycled). The epoch tells a step where the run is (ACL + MTL's warm-up), also after a
    resume."""

    def batches(epoch: int) -> Iterator[dict]:
        lab = cycle(labeled, seed=seed, epoch=epoch)
        for u in unlabeled(epoch):
            yield {"labeled": next(lab), "unlabeled": u, "epoch": epoch}

    return batches


def stage_loaders(
    lab: pd.DataFrame,
    unl: pd.DataFrame,
    frames_root: str | Path,
    clips: ClipSettings,
    augment: WeakStrongAugment,
    *,
    unlabeled_ratio: int,
    long_strides: tuple[int, ...] = (),
    placement: str = "nested",
    seed: int,
    device: torch.device,
) -> Batches:
    """The joined labeled (weak short clip) and unlabeled (weak clips at ``clips.stride`` and
    every long stride, strong short clip) batches of a pseudo-labelling stage."""
    if len(unl) == 0:
        raise ValueError("the unlabeled list is empty: a semi-supervised stage needs videos")
    labeled = view_batches(
        lab, frames_root, clips, augment, strides=(clips.stride,), strong=False, seed=seed,
        purpose="labeled", device=device, batch_size=clips.batch_size,
    )  # fmt: skip
    unlabeled = view_batches(
        unl, frames_root, clips, augment, strides=(clips.stride, *long_strides), strong=True,
        seed=seed, purpose="unlabeled", device=device,
        batch_size=clips.batch_size * unlabeled_ratio, placement=placement, drop_last=True,
    )  # fmt: skip
    return joined_batches(labeled, unlabeled, seed=seed)


# ---------------------------------------------------------------- losses
def pseudo_labels(probs: Tensor, threshold: float) -> tuple[Tensor, Tensor, Tensor]:
    """(pseudo-label, confidence, kept) from teacher probabilities N x C: argmax, max, and
    max > delta (the indicator of eq. 2)."""
    confidence, label = probs.max(dim=-1)
    return label, confidence, confidence > threshold


def unlabeled_cross_entropy(logits: Tensor, pseudo: Tensor, weight: Tensor) -> Tensor:
    """L_u of 004 eq. 2 with a per-sample weight: (1 / N_u) sum_i w_i CE(logits_i, y^_i),
    w_i = the indicator (times gamma_i in eq. 20). Averaged over all N_u samples, kept or
    not, as eq. 2 writes it."""
    ce = F.cross_entropy(logits.float(), pseudo, reduction="none")
    return (weight.detach().float() * ce).mean()


def forward_map(model: VideoBackbone, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(feature map N x D x T' x H' x W', pooled N x D, logits N x C) in one trunk pass."""
    fmap = model.features(x)
    pooled = fmap.mean(dim=(2, 3, 4))
    if model.classifier is None:
        raise ValueError(f"{model.name} has no classifier; build it with num_classes")
    return fmap, pooled, model.classifier(pooled)


def fixmatch_step(
    model: VideoBackbone,
    teacher: VideoBackbone,
    spec: FixMatchSpec,
    device: torch.device,
) -> StepFn:
    """Batch {"labeled", "unlabeled"} -> L = L_l + alpha L_u (eqs. 1-3) and diagnostics.

    The teacher is first moved towards the student of the previous optimiser step
    (``ema_update``; `fit` has no post-step hook, so the EMA of step k-1 runs at the start
    of step k, which gives the same sequence of teachers). The student sees labeled weak and
    unlabeled strong clips in one batch (shared batch-norm statistics, as FixMatch)."""

    def step(batch: dict) -> dict[str, Tensor]:
        ema_update(teacher, model, spec.ema_momentum)
        teacher.eval()
        b = to_device(batch, device)
        xl, yl = b["labeled"]["weak"][:, 0], b["labeled"]["label"]
        xw, xs = b["unlabeled"]["weak"][:, 0], b["unlabeled"]["strong"]
        with torch.inference_mode():
            probs = teacher(xw).logits.float().softmax(-1)
        probs = probs.clone()  # an inference tensor cannot enter autograd
        pseudo, _, kept = pseudo_labels(probs, spec.threshold)
        logits = model(torch.cat([xl, xs])).logits.float()
        n_l = xl.shape[0]
        labeled_ce = F.cross_entropy(logits[:n_l], yl)
        unlabeled_ce = unlabeled_cross_entropy(logits[n_l:], pseudo, kept.float())
        return {
            "loss": labeled_ce + spec.unlabeled_weight * unlabeled_ce,
            "labeled_ce": labeled_ce.detach(),
            "unlabeled_ce": unlabeled_ce.detach(),
            "kept": kept.float().mean(),
            # diagnostic only (logged, never trained on): the unlabeled lists carry labels
            "pseudo_accuracy": (pseudo == b["unlabeled"]["label"]).float().mean(),
        }

    return step


# ---------------------------------------------------------------- stage
def save_selected(
    out: str | Path,
    result: FitResult,
    *,
    export: str,
    resume: str | Path,
    model: VideoBackbone,
    **info: Any,
) -> None:
    """Write the selected epoch's ``export`` network ("student" or "teacher") as a
    classifier checkpoint (the file `methods.evaluate` reads), then drop the resume file."""
    selected = dataclasses.replace(result, state={"model": result.state[export]})
    save_classifier(
        out,
        selected,
        resume=resume,
        backbone=model.name,
        n_classes=model.num_classes,
        export=export,
        **info,
    )


def validation(
    network: nn.Module,
    val: pd.DataFrame,
    frames_root: str | Path,
    clips: ClipSettings,
    device: torch.device,
    *,
    warming_up: Callable[[], bool] = lambda: False,
) -> Callable[[], dict[str, float]]:
    """Clip top-1 of ``network`` on the validation list (centre clips and crops), logged
    as ``val_top1``, or as ``val_top1_warmup`` after an epoch of a supervised warm-up
    (``warming_up()``): `fit` selects on ``val_top1``, so the weights a method writes come
    from an epoch that trained the method, not from its warm-up."""
    loader = clip_batches(
        val, frames_root, clips, train=False, seed=0, purpose="val", device=device
    )(0)

    def validate() -> dict[str, float]:
        key = "val_top1_warmup" if warming_up() else "val_top1"
        return {key: clip_accuracy(network, loader, device)}

    return validate


@launch.stage
def train_fixmatch(
    settings: FixMatchSettings,
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
    """Train the FixMatch / EMA-teacher baseline; `init` is a weight file for the backbone
    (any layout `models.pretrained` reads; None: random). Writes the selected epoch's
    student (or teacher, ``spec.export``) to `out` in the classifier format
    `methods.evaluate` reads; the epoch with the best validation clip top-1 of that network
    is kept."""
    sp = settings.spec
    return train_semi_supervised(
        "fixmatch", settings, run,
        labeled=labeled, unlabeled=unlabeled, val=val, classes=classes,
        frames_root=frames_root, init=init, out=out, resume=resume, metrics=metrics,
        extra_modules=lambda student, k: {},
        make_step=lambda student, teacher, extra, dev: fixmatch_step(student, teacher, sp, dev),
        loader_options={},
    )  # fmt: skip


def train_semi_supervised(
    method: str,
    settings: FixMatchSettings | AclMtlSettings,
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
    extra_modules: Callable[[nn.Module, int], dict[str, nn.Module]],
    make_step: Callable[[nn.Module, nn.Module, dict[str, nn.Module], torch.device], StepFn],
    loader_options: dict[str, Any],
    warming_up: Callable[[dict[str, nn.Module]], bool] = lambda extra: False,
) -> FitResult:
    """The stage every EMA-teacher method shares (FixMatch, ACL + MTL): fingerprint, splits,
    student from `init` and its frozen EMA teacher, labeled + unlabeled loaders, `fit`
    selected on validation clip top-1 of the exported network, and the classifier file.

    `extra_modules(student, k)` adds trained/saved modules beside the two networks (ACL's
    heads, prototypes and bank); `make_step(student, teacher, extra, device)` is the
    method's step; `loader_options` go to `stage_loaders` (MTL's long clips);
    `warming_up(extra)` tells whether the epoch just run was a supervised warm-up (never
    selected: `validation`)."""
    s, sp = settings, settings.spec
    run_id = stage_fingerprint(s, run, inputs=[labeled, unlabeled, val, init, classes])
    dev = start_stage(run, seed=s.seed)
    lab, unl, va = read_split(labeled), read_split(unlabeled), read_split(val)
    k = n_classes(classes, lab, va)
    student = build_backbone(s.backbone, num_classes=k, pretrained=init).to(dev)
    teacher = frozen_copy(student)
    extra = {name: m.to(dev) for name, m in extra_modules(student, k).items()}
    batches = stage_loaders(
        lab, unl, frames_root, s.clips, s.views.augment(s.clips),
        unlabeled_ratio=sp.unlabeled_ratio, seed=s.seed, device=dev, **loader_options,
    )  # fmt: skip
    result = fit(
        modules={"student": student, "teacher": teacher, **extra},
        step_fn=make_step(student, teacher, extra, dev),
        batches=batches,
        optim=s.optim,
        device=dev,
        resume_path=resume,
        metrics_path=metrics,
        validate=validation(
            student if sp.export == "student" else teacher,
            va,
            frames_root,
            s.clips,
            dev,
            warming_up=lambda: warming_up(extra),
        ),
        seed=s.seed,
        fingerprint=run_id,
        log_every_steps=run.log_every_steps,
        tensorboard=run.tensorboard,
        make_optimizer=optimizer_factory(s.sgd),
        accelerator=run.accelerator,
    )
    if not distributed.is_main():
        return result  # rank 0 writes the output
    save_selected(
        out, result, export=sp.export, resume=resume, model=student,
        settings=s.to_dict(), code_version=run.code_version,
        init=str(init) if init else "scratch", method=method,
    )  # fmt: skip
    return result
