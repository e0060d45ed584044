"""Stage: self-supervised pretraining of a teacher (invariant | distinctive) or of the
student's TCLR initialisation (ssl_init), on every usable training video, no labels; with
the temporal-similarity diagnosis (methods.diagnostics) after epochs and at the end."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from timebalance.data.clips import PretrainDataset
from timebalance.data.manifest import read_manifest
from timebalance.data.pipeline import training_videos
from timebalance.engine import distributed, launch
from timebalance.engine.loader import epoch_loader, to_device
from timebalance.engine.settings import RunSettings
from timebalance.engine.stage import stage_fingerprint, start_stage
from timebalance.engine.trainer import fit
from timebalance.losses import Projections, pretraining_terms, uniform_levels, uses_slices
from timebalance.losses.contrastive import gather_projections
from timebalance.methods import diagnostics as D
from timebalance.methods.embedder import Embedder, new_embedder, save_pretrained
from timebalance.methods.settings import PretrainSettings
from timebalance.methods.similarity import score_clips, score_loader, teacher_similarity
from timebalance.seeding import stream

log = logging.getLogger(__name__)


def _float32(z: Projections) -> Projections:
    """The losses run in float32 whatever the autocast dtype of the forward pass."""
    return Projections(*(None if t is None else t.float() for t in z))


@launch.stage
def pretrain_teacher(
    settings: PretrainSettings,
    run: RunSettings,
    *,
    manifest: str | Path,
    frames_root: str | Path,
    out: str | Path,
    resume: str | Path,
    metrics: str | Path,
    catalogue: str | Path | None = None,
) -> None:
    """Pretrain with L_I, L_D or TCLR's full objective; writes `out` (backbone + head
    weights) only when every epoch is done. Resumes from `resume` when it exists.
    `catalogue`: a generated dataset's synthetic.json, whose class kinds give the
    diagnosis its per-kind figures (None: a dataset without kinds)."""
    s = settings
    run_id = stage_fingerprint(s, run, inputs=[manifest])
    dev = start_stage(run, seed=s.seed)
    videos = training_videos(manifest)
    log.info("pretraining %s on %d videos (n=%d clips)", s.kind, len(videos), s.n_clips)
    dataset = PretrainDataset(
        videos,
        frames_root,
        size=s.crop_size,
        n_clips=s.n_clips,
        clip_len=s.clip_len,
        sparse_stride=s.n_clips,
        seed=stream(s.seed, "pretrain clips"),
        augment=s.augment(),
    )
    model = new_embedder(s.backbone).to(dev)
    with_slices = uses_slices(s.kind)
    term_levels = _uniform_levels(s, n_videos=len(videos))
    level = sum(term_levels.values())
    diagnosis = (
        _EpochDiagnosis(
            s, model, videos, frames_root, _kinds(manifest, videos, catalogue), dev, level
        )
        if s.diagnose_every
        else None
    )

    def step(batch):
        batch = to_device(batch, dev)
        # every process's projections: the negatives of the whole global batch
        z = gather_projections(model(batch["sparse"], batch["dense"], with_slices=with_slices))
        terms = pretraining_terms(
            s.kind,
            _float32(z),
            temperature=s.temperature,
            local_local_reduction=s.local_local_reduction,
        )
        loss = sum(terms.values())
        if diagnosis is not None:
            # (no extra device sync: `fit` reads the loss's finiteness right after the step)
            diagnosis.add_loss(float(loss.detach()))
        # each term against its own uniform level: which task is (not) being learned
        gaps = {D.term_gap(name): t.detach() - term_levels[name] for name, t in terms.items()}
        return {"loss": loss, **gaps}

    batches = epoch_loader(
        dataset,
        batch_size=s.batch_size,
        shuffle=True,
        seed=s.seed,
        purpose="pretrain",
        workers=s.workers,
        device=dev,
        drop_last=True,
    )
    result = fit(
        modules={"backbone": model.backbone, "head": model.head},
        step_fn=step,
        batches=batches if diagnosis is None else diagnosis.batches(batches),
        optim=s.optim,
        device=dev,
        resume_path=resume,
        metrics_path=metrics,
        seed=s.seed,
        fingerprint=run_id,
        log_every_steps=run.log_every_steps,
        tensorboard=run.tensorboard,
        # The diagnosis rides on `fit`'s validation hook: after an epoch's steps, in eval
        # mode, its figures go into the epoch's metrics line, TensorBoard and log line.
        # Selecting by "epoch" keeps the last epoch's weights, as without a hook.
        validate=diagnosis,
        select_key="epoch",
        accelerator=run.accelerator,
    )
    if not distributed.is_main():
        return  # rank 0 writes the output
    final_loss = result.history[-1]["loss"]
    diagnostics = _diagnose(s, final_loss, level, result.history)
    if diagnosis is not None and diagnosis.seconds:
        diagnostics["diagnosis_videos"] = len(diagnosis.loader.dataset)
        diagnostics["diagnosis_seconds_mean"] = sum(diagnosis.seconds) / len(diagnosis.seconds)
    save_pretrained(
        out,
        result.state,
        kind=s.kind,
        backbone=s.backbone,
        n_clips=s.n_clips,
        clip_len=s.clip_len,
        epochs=s.epochs,
        final_loss=final_loss,
        history=result.history,
        settings=s.to_dict(),
        code_version=run.code_version,
        diagnostics=diagnostics,
    )
    Path(resume).unlink(missing_ok=True)  # the output exists: nothing left to resume
    log.info("wrote %s (final loss %.4f)", out, final_loss)


def _uniform_levels(s: PretrainSettings, *, n_videos: int) -> dict[str, float]:
    """Each term's value at uniform logits (a network that learned nothing) at the training
    batch."""
    return uniform_levels(
        s.kind,
        batch_size=max(2, min(s.batch_size, n_videos)),
        n_clips=s.n_clips,
        temperature=s.temperature,
        local_local_reduction=s.local_local_reduction,
    )


def _kinds(
    manifest: str | Path, videos: pd.DataFrame, catalogue: str | Path | None
) -> list[str] | None:
    """The kind of each training video (in `videos` order) from the catalogue, or None."""
    kinds = D.read_kinds(catalogue)
    if kinds is None:
        return None
    names = read_manifest(manifest).set_index("video_id")["class_name"]
    return D.video_kinds(names.loc[videos["video_id"]].tolist(), kinds)


class _EpochDiagnosis:
    """The temporal-similarity diagnosis as `fit`'s per-epoch hook (its `validate`).

    Every call gives the epoch's mean loss minus its uniform level; after every
    `diagnose_every`-th epoch and the last, also the teacher's similarity figures on a fixed
    subset of the training videos (`diagnostics.summarise`), with the clips and code of the
    score cache (eval mode: running BatchNorm statistics, the score cache's default). It
    draws nothing from training's random streams, so the weights are those of a run
    without it. An epoch resumed mid-way has no loss gap (its first steps' losses are not
    in this process).
    """

    def __init__(
        self,
        s: PretrainSettings,
        model: Embedder,
        videos: pd.DataFrame,
        frames_root: str | Path,
        kinds: list[str] | None,
        device: torch.device,
        uniform: float,
    ) -> None:
        subset = D.diagnosis_subset(len(videos), s.diagnose_videos, s.seed)
        clips = score_clips(
            videos.iloc[subset].reset_index(drop=True),
            frames_root,
            crop_size=s.crop_size,
            n_clips=s.n_clips,
            clip_len=s.clip_len,
        )
        self.loader = score_loader(clips, batch_size=s.batch_size, workers=s.workers)
        self.kinds = None if kinds is None else [kinds[i] for i in subset]
        self.model, self.device, self.uniform = model, device, uniform
        self.every, self.epochs = s.diagnose_every, s.epochs
        self.epoch, self.whole_epoch, self.loss_sum, self.steps = 0, True, 0.0, 0
        self.seconds: list[float] = []

    def batches(self, make: Callable[..., object]) -> Callable[..., object]:
        """`make` (epoch, skip) -> batches, noting which epoch runs and from which step."""

        def epoch_batches(epoch: int, skip: int = 0):
            self.epoch, self.whole_epoch, self.loss_sum, self.steps = epoch, skip == 0, 0.0, 0
            return make(epoch, skip=skip)

        return epoch_batches

    def add_loss(self, loss: float) -> None:
        self.loss_sum += loss
        self.steps += 1

    def __call__(self) -> dict[str, float]:
        out = {}
        if self.steps and self.whole_epoch:
            # over the processes of a multi-process run, as `fit` averages the logged loss
            loss_sum, steps = distributed.sum_floats([self.loss_sum, self.steps])
            out[D.LOSS_GAP] = loss_sum / steps - self.uniform
        epoch = self.epoch + 1
        if epoch % self.every and epoch != self.epochs:
            return out
        t0 = time.perf_counter()
        similarity = teacher_similarity(
            self.model, self.loader, self.device, what="diagnosis batches"
        )
        out.update(D.summarise(similarity, self.kinds))
        self.seconds.append(time.perf_counter() - t0)
        log.info(
            "diagnosis after epoch %d/%d (%d videos, %.1f s): %s",
            epoch,
            self.epochs,
            len(similarity),
            self.seconds[-1],
            " ".join(f"{k} {v:.4f}" for k, v in out.items()),
        )
        return out


def _diagnose(s: PretrainSettings, final_loss: float, level: float, history: list[dict]) -> dict:
    """Compare the final loss with the level of uniform logits (a network that learned
    nothing), and the last similarity diagnosis with Fig. 4 (a distinctive teacher should
    see sequence videos as less alike than periodic ones); warn in the log and record
    them in the checkpoint."""
    warnings = []
    if final_loss >= level:
        warnings.append(
            f"the {s.kind} pretraining loss ended at {final_loss:.3f}, at or above the "
            f"{level:.3f} of uniform logits: the teacher has not learned its task (its clip "
            "embeddings are alike, so its temporal similarity s sits near 1). Train longer"
            + (
                ", or use local_local_reduction: sum"
                if s.kind == "distinctive" and s.local_local_reduction == "mean"
                else ""
            )
        )
        log.warning(warnings[-1])
    out = {"final_loss": final_loss, "uniform_loss": level, "warnings": warnings}
    gaps = {k: v for k, v in history[-1].items() if D.is_term_gap(k)} if history else {}
    if gaps:
        out["terms_minus_uniform"] = gaps
        stuck = sorted(D.term_of(k) for k, v in gaps.items() if v >= 0)
        if stuck and final_loss < level:
            warnings.append(
                f"the {s.kind} pretraining's {', '.join(stuck)} ended at or above "
                "its uniform-logit level (epoch means, metrics line "
                f"{', '.join(D.term_gap(t) for t in stuck)}): that part of the objective "
                "has not been learned, the rest has"
            )
            log.warning(warnings[-1])
    diagnosed = [h for h in history if D.SIMILARITY in h]
    if diagnosed:
        last = diagnosed[-1]
        out["similarity"] = {k: last[k] for k in D.KEYS if k in last and k != D.LOSS_GAP}
        out["similarity_epoch"] = last["epoch"]
        if message := D.kind_warning(s.kind, last):
            warnings.append(message)
            log.warning(message)
    return out
