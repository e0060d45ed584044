"""Stage: self-supervised pretraining of a teacher (invariant | distinctive) or of the
student's TCLR initialisation (ssl_init), on every usable training video, no labels."""

from __future__ import annotations

import logging
from pathlib import Path

from timebalance.data.clips import PretrainDataset
from timebalance.data.pipeline import training_videos
from timebalance.data.transforms import ClipAugment
from timebalance.engine.loader import epoch_loader, to_device
from timebalance.engine.settings import RunSettings
from timebalance.engine.stage import stage_fingerprint, start_stage
from timebalance.engine.trainer import fit
from timebalance.losses import Projections, pretraining_loss, uniform_level, uses_slices
from timebalance.methods.embedder import new_embedder, save_pretrained
from timebalance.methods.settings import PretrainSettings
from timebalance.seeding import stream

log = logging.getLogger(__name__)


def _float32(z: Projections) -> Projections:
    """The losses run in float32 whatever the autocast dtype of the forward pass."""
    return Projections(*(None if t is None else t.float() for t in z))


def pretrain_teacher(
    settings: PretrainSettings,
    run: RunSettings,
    *,
    manifest: str | Path,
    frames_root: str | Path,
    out: str | Path,
    resume: str | Path,
    metrics: str | Path,
) -> None:
    """Pretrain with L_I, L_D or TCLR's full objective; writes `out` (backbone + head
    weights) only when every epoch is done. Resumes from `resume` when it exists."""
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
        augment=ClipAugment(s.crop_size, scale=s.crop_scale),
    )
    model = new_embedder(s.backbone).to(dev)
    with_slices = uses_slices(s.kind)

    def step(batch):
        batch = to_device(batch, dev)
        z = model(batch["sparse"], batch["dense"], with_slices=with_slices)
        loss = pretraining_loss(
            s.kind,
            _float32(z),
            temperature=s.temperature,
            local_local_reduction=s.local_local_reduction,
        )
        return {"loss": loss}

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
        batches=batches,
        optim=s.optim,
        device=dev,
        resume_path=resume,
        metrics_path=metrics,
        seed=s.seed,
        fingerprint=run_id,
        log_every_steps=run.log_every_steps,
        tensorboard=run.tensorboard,
    )
    final_loss = result.history[-1]["loss"]
    diagnostics = _diagnose(s, final_loss, n_videos=len(videos))
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


def _diagnose(s: PretrainSettings, final_loss: float, *, n_videos: int) -> dict:
    """Compare the final loss with the level of uniform logits (a network that learned
    nothing); warn in the log and record it in the checkpoint when it is not below it."""
    level = uniform_level(
        s.kind,
        batch_size=max(2, min(s.batch_size, n_videos)),
        n_clips=s.n_clips,
        temperature=s.temperature,
        local_local_reduction=s.local_local_reduction,
    )
    warnings = []
    if final_loss >= level:
        warnings.append(
            f"the {s.kind} pretraining loss ended at {final_loss:.3f}, at or above the "
            f"{level:.3f} of uniform logits: the teacher has not learned its task (its clip "
            "embeddings are alike, so its temporal similarity s sits near 1). Train longer, "
            "or for a distinctive teacher use local_local_reduction: sum"
        )
        log.warning(warnings[-1])
    return {"final_loss": final_loss, "uniform_loss": level, "warnings": warnings}
