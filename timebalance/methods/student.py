"""Stages: teacher finetuning on the labeled list, and the TimeBalance student (with every
ablation variant: which teachers, how they are mixed, how the student starts)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from timebalance.data.clips import ClipDataset
from timebalance.data.splits import read_split
from timebalance.data.transforms import DEFAULT_CROP_SCALE, ClipAugment
from timebalance.engine.checkpoint import load_checkpoint, load_weights, save_atomic
from timebalance.engine.evaluate import clip_accuracy, read_class_list
from timebalance.engine.loader import cycle, epoch_loader, to_device
from timebalance.engine.stage import fingerprint, start_stage
from timebalance.engine.trainer import OptimConfig, fit
from timebalance.methods.timebalance import mix_teachers, student_loss
from timebalance.models import build_backbone

log = logging.getLogger(__name__)

WEIGHTINGS = ("tstr", "average", "single")


@dataclass
class ClipSettings:
    """Input clips and loaders of a classification stage."""

    crop_size: int = 112
    crop_scale: tuple[float, float] = DEFAULT_CROP_SCALE  # area share range of the random crop
    clip_len: int = 8
    stride: int = 2
    batch_size: int = 32
    workers: int = 4

    def augment(self) -> ClipAugment:
        return ClipAugment(self.crop_size, scale=tuple(self.crop_scale))


@dataclass
class StudentSpec:
    """One student variant (DESIGN: Table 2-6 and Fig. 5 ablations)."""

    weighting: str = "tstr"
    distill: str = "l2"
    ce_weight: float = 1.0
    labeled_distill_weight: float = 50.0
    unlabeled_distill_weight: float = 100.0
    unlabeled_ratio: int = 1
    teachers: list[str] = field(default_factory=list)


def _n_classes(classes: str | Path | None, *frames: pd.DataFrame) -> int:
    """Number of classifier outputs: the dataset's class list (`<index>.classes.txt`, one name
    per line) when given, so a class without training videos keeps its output; else inferred
    from the labels of the lists."""
    present = [f for f in frames if len(f)]
    if not present:
        raise ValueError("the labeled and validation lists are both empty: nothing to train on")
    top = max(int(f["label"].max()) for f in present)
    if classes is None:
        return top + 1
    n = len(read_class_list(classes))
    if top >= n:
        raise ValueError(
            f"label {top} in the split lists, but {classes} names only {n} classes; "
            "regenerate the splits from the current index"
        )
    return n


def build_classifier(backbone: str, n_classes: int, init: str | Path | None) -> nn.Module:
    """A backbone with a fresh classifier, its trunk initialised from a pretraining
    checkpoint (strictly: every backbone weight must load) or left random (None)."""
    model = build_backbone(backbone, num_classes=n_classes)
    if init is not None:
        ckpt = load_checkpoint(init)
        if ckpt.get("backbone") not in (None, backbone):
            raise ValueError(
                f"{init} holds a {ckpt['backbone']} backbone, this stage builds {backbone}"
            )
        load_weights(model, ckpt["model"], what=str(init), skip_prefixes=("classifier",))
    return model


def load_classifier(path: str | Path, device: torch.device) -> nn.Module:
    """A finetuned model saved by this module, in eval mode with frozen weights."""
    ckpt = load_checkpoint(path)
    model = build_backbone(ckpt["backbone"], num_classes=ckpt["n_classes"])
    load_weights(model, ckpt["model"], what=str(path))
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _val_loader(val: pd.DataFrame, frames_root, clips: ClipSettings, device):
    dataset = ClipDataset(
        val,
        frames_root,
        size=clips.crop_size,
        clip_len=clips.clip_len,
        stride=clips.stride,
        train=False,
        seed=0,
    )
    return epoch_loader(
        dataset,
        batch_size=clips.batch_size,
        shuffle=False,
        seed=0,
        workers=clips.workers,
        device=device,
    )(0)


def _save_classifier(out, resume, state, *, backbone, n_classes, result, extra) -> None:
    save_atomic(
        {
            "model": state,
            "backbone": backbone,
            "n_classes": n_classes,
            "selected_epoch": result.selected_epoch,
            "val_top1": result.selected_metric,
            "history": result.history,
            **extra,
        },
        out,
    )
    Path(resume).unlink(missing_ok=True)  # the output exists: nothing left to resume


def finetune_teacher(
    *,
    labeled: str | Path,
    val: str | Path,
    frames_root: str | Path,
    pretrained: str | Path | None,
    out: str | Path,
    resume: str | Path,
    metrics: str | Path,
    backbone: str,
    clips: dict,
    optim: dict,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
    code_version: str = "",
    classes: str | Path | None = None,
) -> None:
    """Cross-entropy finetuning on the labeled list; the epoch with the best validation
    clip accuracy is kept. `pretrained` None trains from scratch."""
    run_id = fingerprint(locals(), inputs=[labeled, val, pretrained, classes])
    dev = start_stage(device=device, threads=threads, seed=seed)
    cs = ClipSettings(**clips)
    lab, va = read_split(labeled), read_split(val)
    n_classes = _n_classes(classes, lab, va)
    model = build_classifier(backbone, n_classes, pretrained).to(dev)
    train = ClipDataset(
        lab,
        frames_root,
        size=cs.crop_size,
        clip_len=cs.clip_len,
        stride=cs.stride,
        train=True,
        seed=seed,
        augment=cs.augment(),
    )
    val_loader = _val_loader(va, frames_root, cs, dev)

    def step(batch):
        batch = to_device(batch, dev)
        return {"loss": F.cross_entropy(model(batch["clip"]).logits.float(), batch["label"])}

    result = fit(
        modules={"model": model},
        step_fn=step,
        batches=epoch_loader(
            train,
            batch_size=cs.batch_size,
            shuffle=True,
            seed=seed,
            workers=cs.workers,
            device=dev,
        ),
        optim=OptimConfig(**optim),
        device=dev,
        resume_path=resume,
        metrics_path=metrics,
        validate=lambda: {"val_top1": clip_accuracy(model, val_loader, dev)},
        seed=seed,
        fingerprint=run_id,
    )
    _save_classifier(
        out,
        resume,
        result.state["model"],
        backbone=backbone,
        n_classes=n_classes,
        result=result,
        extra={"init": str(pretrained) if pretrained else "scratch", "code_version": code_version},
    )


def _teacher_probs(teachers, scores, clip, index, weighting):
    """p_T for a batch: one teacher, their average (s = 0.5), or eq. 7 with the cached s."""
    probs = [t(clip).logits.float().softmax(-1) for t in teachers]
    if len(probs) == 1:
        return probs[0]
    if weighting == "average":
        s = torch.full((clip.shape[0],), 0.5, device=clip.device)
    else:
        s = scores[index]
    return mix_teachers(probs[0], probs[1], s)


def train_student(
    *,
    labeled: str | Path,
    unlabeled: str | Path,
    val: str | Path,
    frames_root: str | Path,
    init: str | Path | None,
    teachers: list[str | Path],
    scores: str | Path | None,
    out: str | Path,
    resume: str | Path,
    metrics: str | Path,
    backbone: str,
    spec: dict,
    clips: dict,
    optim: dict,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
    code_version: str = "",
    classes: str | Path | None = None,
) -> None:
    """The student: CE on labeled clips + distillation to the teachers' p_T on labeled and
    unlabeled clips (eqs. 2, 4, 7, 8). Teachers are frozen, in eval mode, under inference
    mode, and see exactly the augmented clip the student sees. Without teachers this is
    plain supervised training of the student (Table 2 a / Table 3 a)."""
    run_id = fingerprint(
        locals(), inputs=[labeled, unlabeled, val, init, scores, classes, *teachers]
    )
    dev = start_stage(device=device, threads=threads, seed=seed)
    sp, cs = StudentSpec(**spec), ClipSettings(**clips)
    if sp.weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {sp.weighting!r}; choose one of {WEIGHTINGS}")
    if len(teachers) > 2:
        raise ValueError(f"at most two teachers, got {len(teachers)}")
    if len(teachers) == 2 and sp.weighting == "single":
        raise ValueError("weighting 'single' takes one teacher; use 'average' or 'tstr'")
    lab, unl, va = read_split(labeled), read_split(unlabeled), read_split(val)
    n_classes = _n_classes(classes, lab, va)
    model = build_classifier(backbone, n_classes, init).to(dev)
    frozen = [load_classifier(t, dev) for t in teachers]
    for path, t in zip(teachers, frozen, strict=True):
        if t.num_classes != n_classes:
            raise ValueError(f"teacher {path} predicts {t.num_classes} classes, not {n_classes}")

    # One table of every training video the student sees: labeled first, then unlabeled.
    table = pd.concat([lab.assign(labeled=True), unl.assign(labeled=False)], ignore_index=True)
    score = torch.full((len(table),), 0.5)
    if len(frozen) == 2 and sp.weighting == "tstr":
        if scores is None:
            raise ValueError("weighting 'tstr' needs the cached temporal-similarity scores")
        cached = pd.read_csv(scores, dtype={"video_id": str}, keep_default_na=False)
        if lacking := {"video_id", "s"} - set(cached.columns):
            raise ValueError(
                f"{scores} is not a score cache: lacks columns {sorted(lacking)}; "
                "rerun cache_scores for this dataset"
            )
        cached = cached.set_index("video_id")["s"].astype("float64")
        missing = sorted(set(table["video_id"]) - set(cached.index))
        if missing:
            raise ValueError(
                f"{scores} has no score for {len(missing)} videos (e.g. {missing[:3]}); "
                "rerun cache_scores for this dataset"
            )
        score = torch.tensor(cached.loc[table["video_id"]].to_numpy(), dtype=torch.float32)
    score = score.to(dev)
    make = dict(
        size=cs.crop_size,
        clip_len=cs.clip_len,
        stride=cs.stride,
        train=True,
        augment=cs.augment(),
    )
    lab_set = ClipDataset(table[table["labeled"]], frames_root, seed=seed, **make)
    lab_loader = epoch_loader(
        lab_set, batch_size=cs.batch_size, shuffle=True, seed=seed, workers=cs.workers, device=dev
    )
    use_unlabeled = bool(frozen) and sp.unlabeled_ratio > 0 and len(unl) > 0
    if use_unlabeled:
        # Unlabeled rows come after the labeled ones in `table`: shift their indices.
        unl_set = ClipDataset(unl, frames_root, seed=seed + 7919, return_label=False, **make)
        unl_loader = epoch_loader(
            unl_set,
            batch_size=cs.batch_size * sp.unlabeled_ratio,
            shuffle=True,
            seed=seed + 1,
            workers=cs.workers,
            device=dev,
            drop_last=True,
        )
        state = {"labeled": None}

        def batches(epoch):
            state["labeled"] = cycle(lab_loader, start_epoch=epoch * 1000)
            return unl_loader(epoch)
    else:
        batches = lab_loader
    offset = len(lab)

    def step(batch):
        if use_unlabeled:
            u = to_device(batch, dev)
            b = to_device(next(state["labeled"]), dev)
            clip = torch.cat([b["clip"], u["clip"]])
            index = torch.cat([b["index"], u["index"] + offset])
            labels = torch.cat([b["label"], torch.full_like(u["index"], -1)])
        else:
            b = to_device(batch, dev)
            clip, index, labels = b["clip"], b["index"], b["label"]
        mask = labels >= 0
        p_t = None
        if frozen:
            with torch.inference_mode():
                p_t = _teacher_probs(frozen, score, clip, index, sp.weighting)
            p_t = p_t.clone()
        terms = student_loss(
            model(clip).logits.float(),
            p_t,
            labels.clamp(min=0),
            mask,
            ce_weight=sp.ce_weight,
            labeled_distill_weight=sp.labeled_distill_weight if frozen else 0.0,
            unlabeled_distill_weight=sp.unlabeled_distill_weight if frozen else 0.0,
            distill_kind=sp.distill,
        )
        return {k: v for k, v in terms.items()}

    val_loader = _val_loader(va, frames_root, cs, dev)
    result = fit(
        modules={"model": model},
        step_fn=step,
        batches=batches,
        optim=OptimConfig(**optim),
        device=dev,
        resume_path=resume,
        metrics_path=metrics,
        validate=lambda: {"val_top1": clip_accuracy(model, val_loader, dev)},
        seed=seed,
        fingerprint=run_id,
    )
    _save_classifier(
        out,
        resume,
        result.state["model"],
        backbone=backbone,
        n_classes=n_classes,
        result=result,
        extra={
            "init": str(init) if init else "scratch",
            "teachers": [str(t) for t in teachers],
            "spec": spec,
            "code_version": code_version,
        },
    )
