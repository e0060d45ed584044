"""Stage: the TimeBalance student, with every ablation variant (which teachers, how they
are mixed, how the student starts): CE on labeled clips + distillation to the teachers'
p_T on labeled and unlabeled clips (eqs. 2, 4, 7, 8)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from timebalance.data.sampling import CycledBatches
from timebalance.data.splits import read_split
from timebalance.engine import launch
from timebalance.engine.loader import cycle, to_device
from timebalance.engine.settings import RunSettings
from timebalance.engine.stage import stage_fingerprint, start_stage
from timebalance.engine.trainer import HISTOGRAM, StepFn
from timebalance.methods.classifier import (
    build_classifier,
    clip_batches,
    load_classifier,
    n_classes,
    train_classifier,
)
from timebalance.methods.scores import read_scores
from timebalance.methods.settings import StudentSettings, StudentSpec
from timebalance.methods.timebalance import mix_teachers, normalise_scores, student_loss
from timebalance.models import VideoBackbone

Batches = Callable[..., Iterable[dict] | DataLoader]  # (epoch, skip=0) -> batches


def _check_teachers(spec: StudentSpec, teachers: Sequence[str | Path]) -> None:
    if len(teachers) != len(spec.teachers):
        raise ValueError(
            f"the student spec names {len(spec.teachers)} teachers {list(spec.teachers)}, "
            f"but {len(teachers)} teacher checkpoints were given"
        )
    if len(teachers) > 2:
        raise ValueError(f"at most two teachers, got {len(teachers)}")
    if len(teachers) == 2 and spec.weighting == "single":
        raise ValueError("weighting 'single' takes one teacher; use 'average' or 'tstr'")


def _load_teachers(
    paths: Sequence[str | Path], n_classes: int, device: torch.device
) -> list[VideoBackbone]:
    """The finetuned teachers, frozen and in eval mode; they must predict `n_classes`."""
    teachers = [load_classifier(p, device) for p in paths]
    for path, t in zip(paths, teachers, strict=True):
        if t.num_classes != n_classes:
            raise ValueError(f"teacher {path} predicts {t.num_classes} classes, not {n_classes}")
    return teachers


def _video_scores(
    video_ids: Sequence[str], spec: StudentSpec, n_teachers: int, scores: str | Path | None
) -> torch.Tensor:
    """s of every training video (eq. 6, from the cache) when two teachers are mixed by
    TSTR; else 0.5 (unused: one teacher, or their plain average)."""
    if n_teachers == 2 and spec.weighting == "tstr":
        if scores is None:
            raise ValueError("weighting 'tstr' needs the cached temporal-similarity scores")
        raw = read_scores(scores, video_ids)
        return torch.tensor(normalise_scores(raw, spec.score_normalisation), dtype=torch.float32)
    return torch.full((len(video_ids),), 0.5)


def _teacher_probs(teachers, scores, clip, index, weighting):
    """(p_T, s) for a batch: one teacher (s None), their average (s = 0.5), or eq. 7 with
    the cached s (after the configured normalisation)."""
    probs = [t(clip).logits.float().softmax(-1) for t in teachers]
    if len(probs) == 1:
        return probs[0], None
    if weighting == "average":
        s = torch.full((clip.shape[0],), 0.5, device=clip.device)
    else:
        s = scores[index]
    return mix_teachers(probs[0], probs[1], s), s


def _join(b: dict, u: dict, offset: int) -> dict:
    """A labeled batch and an unlabeled one as one batch: unlabeled rows get label -1 and
    their index shifted by `offset`, past the labeled rows of the score table."""
    return {
        "clip": torch.cat([b["clip"], u["clip"]]),
        "index": torch.cat([b["index"], u["index"] + offset]),
        "label": torch.cat([b["label"], torch.full_like(u["index"], -1)]),
    }


class _JoinedEpoch:
    """`epoch_unit: unlabeled`: one epoch of the unlabeled loader's batches (after its first
    `skip`), each joined with the next batch of the cycled labeled loader."""

    def __init__(
        self, labeled: Batches, unlabeled: Batches, *, epoch: int, skip: int, offset: int, seed: int
    ) -> None:
        self.labeled, self.epoch, self.skip = labeled, epoch, skip
        self.offset, self.seed = offset, seed
        self.unlabeled = unlabeled(epoch, skip)

    def __len__(self) -> int:
        return len(self.unlabeled)

    def __iter__(self) -> Iterator[dict]:
        lab = cycle(self.labeled, seed=self.seed, epoch=self.epoch, skip=self.skip)
        for u in self.unlabeled:
            yield _join(next(lab), u, self.offset)


def _joined_batches(labeled: Batches, unlabeled: Batches, *, offset: int, seed: int) -> Batches:
    """(epoch, skip=0) -> `_JoinedEpoch`: the student's batches of labeled and unlabeled
    videos when an epoch is one pass over the unlabeled list (the labeled list, shorter, is
    cycled)."""

    def batches(epoch: int, skip: int = 0) -> _JoinedEpoch:
        return _JoinedEpoch(labeled, unlabeled, epoch=epoch, skip=skip, offset=offset, seed=seed)

    return batches


class _LabeledEpoch:
    """`epoch_unit: labeled`: one epoch of the labeled loader's batches (after its first
    `skip`), each joined with the next batch of the endless unlabeled stream. Epoch e reads
    the stream's batches from e x `steps` on, where the previous epoch stopped."""

    def __init__(
        self,
        labeled: Batches,
        unlabeled: CycledBatches,
        *,
        epoch: int,
        skip: int,
        steps: int,
        offset: int,
    ) -> None:
        self.labeled = labeled(epoch, skip)
        self.unlabeled = unlabeled(epoch * steps + skip, len(self.labeled))
        self.offset = offset

    def __len__(self) -> int:
        return len(self.labeled)

    def __iter__(self) -> Iterator[dict]:
        for b, u in zip(self.labeled, self.unlabeled, strict=True):
            yield _join(b, u, self.offset)


def _labeled_epoch_batches(
    labeled: Batches, unlabeled: CycledBatches, *, offset: int, max_steps: int | None
) -> Batches:
    """(epoch, skip=0) -> `_LabeledEpoch`: the student's batches when an epoch is one pass
    over the labeled list (the authors' loop). An epoch takes `steps` unlabeled batches: one
    per labeled batch, or `max_steps` when fit stops the epoch there (so no stretch of the
    unlabeled stream is left out)."""
    steps = len(labeled(0))
    if max_steps:
        steps = min(steps, max_steps)

    def batches(epoch: int, skip: int = 0) -> _LabeledEpoch:
        return _LabeledEpoch(labeled, unlabeled, epoch=epoch, skip=skip, steps=steps, offset=offset)

    return batches


def _student_step(
    model: VideoBackbone,
    teachers: list[VideoBackbone],
    score: torch.Tensor,
    spec: StudentSpec,
    device: torch.device,
) -> StepFn:
    """Batch {"clip", "index", "label" (-1: unlabeled)} -> the student loss terms, and with
    two teachers each sample's s and mixing weight (eq. 7) for TensorBoard histograms. The
    teachers see exactly the augmented clip the student sees, under inference mode."""
    weight = 1.0 if teachers else 0.0  # without teachers: plain supervised training

    def step(batch):
        b = to_device(batch, device)
        labels = b["label"]
        p_t = s = None
        if teachers:
            with torch.inference_mode():
                p_t, s = _teacher_probs(teachers, score, b["clip"], b["index"], spec.weighting)
            p_t = p_t.clone()  # an inference tensor cannot enter autograd
        out = dict(
            student_loss(
                model(b["clip"]).logits.float(),
                p_t,
                labels.clamp(min=0),
                labels >= 0,
                ce_weight=spec.ce_weight,
                labeled_distill_weight=weight * spec.labeled_distill_weight,
                unlabeled_distill_weight=weight * spec.unlabeled_distill_weight,
                distill_kind=spec.distill,
            )
        )
        if s is not None:
            out[f"{HISTOGRAM}student/s"] = s
            out[f"{HISTOGRAM}student/mix_weight"] = s.clamp(0.0, 1.0)  # as mix_teachers
        return out

    return step


@launch.stage
def train_student(
    settings: StudentSettings,
    run: RunSettings,
    *,
    labeled: str | Path,
    unlabeled: str | Path,
    val: str | Path,
    classes: str | Path | None,
    frames_root: str | Path,
    init: str | Path | None,
    teachers: Sequence[str | Path],
    scores: str | Path | None,
    out: str | Path,
    resume: str | Path,
    metrics: str | Path,
) -> None:
    """Train the student; `init` is a pretraining checkpoint (None: random), `teachers`
    the finetuned teachers' checkpoints (none: plain supervised training, Table 2 a /
    Table 3 a), `scores` the score cache (TSTR weighting only)."""
    s, sp, cs = settings, settings.spec, settings.clips
    run_id = stage_fingerprint(
        s, run, inputs=[labeled, unlabeled, val, init, scores, classes, *teachers]
    )
    dev = start_stage(run, seed=s.seed)
    _check_teachers(sp, teachers)
    lab, unl, va = read_split(labeled), read_split(unlabeled), read_split(val)
    k = n_classes(classes, lab, va)
    model = build_classifier(s.backbone, k, init).to(dev)
    frozen = _load_teachers(teachers, k, dev)
    # Score table rows: the labeled videos, then the unlabeled ones.
    video_ids = [*lab["video_id"], *unl["video_id"]]
    score = _video_scores(video_ids, sp, len(frozen), scores).to(dev)

    batches = clip_batches(
        lab, frames_root, cs, train=True, seed=s.seed, purpose="labeled", device=dev
    )
    if frozen and sp.unlabeled_ratio > 0 and len(unl) > 0:
        unlabeled_batches = clip_batches(
            unl,
            frames_root,
            cs,
            train=True,
            seed=s.seed,
            purpose="unlabeled",
            device=dev,
            batch_size=cs.batch_size * sp.unlabeled_ratio,
            drop_last=True,
            return_label=False,
        )
        if sp.epoch_unit == "unlabeled":
            batches = _joined_batches(batches, unlabeled_batches, offset=len(lab), seed=s.seed)
        else:
            stream = CycledBatches(
                unlabeled_batches(0).dataset,  # the clips exactly as clip_batches builds them
                batch_size=cs.batch_size * sp.unlabeled_ratio,
                seed=s.seed,
                purpose="unlabeled",
                workers=cs.workers,
                device=dev,
            )
            batches = _labeled_epoch_batches(
                batches, stream, offset=len(lab), max_steps=s.optim.max_steps_per_epoch
            )
    train_classifier(
        model,
        s,
        run,
        step=_student_step(model, frozen, score, sp, dev),
        batches=batches,
        val=va,
        frames_root=frames_root,
        device=dev,
        fingerprint=run_id,
        out=out,
        resume=resume,
        metrics=metrics,
        init=str(init) if init else "scratch",
        teachers=[str(t) for t in teachers],
        spec=sp.to_dict(),
    )
