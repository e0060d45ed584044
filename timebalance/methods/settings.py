"""Settings of each stage, typed and frozen, one class per dict of
timebalance.workflow.inputs (same keys). No defaults here: config.yaml and its schema hold
them, and every key must be passed (see `timebalance.engine.settings.from_dict`)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from timebalance.data.transforms import ClipAugment
from timebalance.engine.settings import Settings
from timebalance.engine.trainer import OptimSettings

KINDS = ("invariant", "distinctive", "ssl_init")
WEIGHTINGS = ("tstr", "average", "single")
# How s enters eq. 7: "none" as the paper; "minmax" / "rank" over the training videos are an
# extension (never the default) for scores compressed near 1.
SCORE_NORMALISATIONS = ("none", "minmax", "rank")
# What one student epoch is: a pass over the labeled list (the authors' code, which zips the
# labeled loader with the unlabeled one) or over the unlabeled list.
EPOCH_UNITS = ("labeled", "unlabeled")


@dataclass(frozen=True)
class PretrainSettings(Settings):
    """Self-supervised pretraining (workflow.inputs.pretrain_settings)."""

    kind: str  # one of KINDS
    backbone: str
    n_clips: int  # dense clips per window: 2 or 4
    clip_len: int  # frames per clip
    crop_size: int
    crop_scale: tuple[float, float]  # area share range of the random resized crop
    flip_p: float | None  # horizontal flip probability (None: ClipAugment's default)
    colour: str  # how the colour ops run: transforms.COLOUR_MODES
    temperature: float
    local_local_reduction: str  # "mean" or "sum" over videos for L_D1
    batch_size: int
    workers: int
    seed: int
    epochs: int
    lr: float
    weight_decay: float
    warmup_epochs: int
    patience: int
    max_steps_per_epoch: int | None
    # The temporal-similarity diagnosis (methods.diagnostics): every this many epochs and at
    # the last (0: off), on a fixed subset of this many training videos.
    diagnose_every: int
    diagnose_videos: int

    def __post_init__(self) -> None:
        if self.diagnose_every < 0 or self.diagnose_videos < 1:
            raise ValueError(
                f"diagnose_every must be >= 0 (0: no diagnosis) and diagnose_videos >= 1, got "
                f"{self.diagnose_every} and {self.diagnose_videos}"
            )
        if self.kind not in KINDS:
            raise ValueError(f"unknown pretraining kind {self.kind!r}; choose one of {KINDS}")
        if self.n_clips not in (2, 4):
            # the backbones give 4 temporal slices; L_D2 pairs slice t with dense clip t
            raise ValueError(f"n_clips must be 2 or 4 (the paper's Table 5), got {self.n_clips}")

    @property
    def optim(self) -> OptimSettings:
        """The optimisation keys, which the rule passes flat with the others."""
        return OptimSettings(**{f.name: getattr(self, f.name) for f in fields(OptimSettings)})

    def augment(self) -> ClipAugment:
        """The pretraining clips' augmentation (each clip drawn on its own)."""
        flip = {} if self.flip_p is None else {"flip_p": self.flip_p}
        return ClipAugment(self.crop_size, scale=self.crop_scale, colour=self.colour, **flip)


@dataclass(frozen=True)
class ScoreSettings(Settings):
    """The score cache (workflow.inputs.score_settings); the clip shape comes from the
    teachers' checkpoints."""

    crop_size: int
    batch_size: int
    workers: int
    bn_recalibration: bool  # re-estimate each teacher's BatchNorm statistics on the clips


@dataclass(frozen=True)
class ClipSettings(Settings):
    """Input clips and loaders of a classification stage (workflow.clips)."""

    crop_size: int
    crop_scale: tuple[float, float]  # area share range of the random resized crop
    colour: str  # how the colour ops run: transforms.COLOUR_MODES
    clip_len: int
    stride: int
    batch_size: int
    workers: int

    def augment(self) -> ClipAugment:
        return ClipAugment(self.crop_size, scale=self.crop_scale, colour=self.colour)


@dataclass(frozen=True)
class FinetuneSettings(Settings):
    """Teacher finetuning (workflow.inputs.finetune_settings)."""

    backbone: str
    clips: ClipSettings
    optim: OptimSettings
    seed: int


@dataclass(frozen=True)
class StudentSpec(Settings):
    """One student variant (DESIGN: Table 2-6 and Fig. 5 ablations; workflow.student_variant
    without `init`, which arrives as an input file)."""

    teachers: tuple[str, ...]  # teacher ids, for the record (the files are inputs)
    weighting: str  # one of WEIGHTINGS
    distill: str  # "l2", "kl" or "js"
    ce_weight: float
    labeled_distill_weight: float
    unlabeled_distill_weight: float
    unlabeled_ratio: int  # unlabeled videos per labeled one in a batch
    score_normalisation: str  # one of SCORE_NORMALISATIONS
    epoch_unit: str  # one of EPOCH_UNITS

    def __post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"unknown weighting {self.weighting!r}; choose one of {WEIGHTINGS}")
        if self.epoch_unit not in EPOCH_UNITS:
            raise ValueError(f"unknown epoch_unit {self.epoch_unit!r}; choose one of {EPOCH_UNITS}")
        if self.score_normalisation not in SCORE_NORMALISATIONS:
            raise ValueError(
                f"unknown score_normalisation {self.score_normalisation!r}; choose one of "
                f"{SCORE_NORMALISATIONS}"
            )


@dataclass(frozen=True)
class StudentSettings(Settings):
    """The student (workflow.inputs.student_settings)."""

    backbone: str
    spec: StudentSpec
    clips: ClipSettings
    optim: OptimSettings
    seed: int


@dataclass(frozen=True)
class EvalSettings(Settings):
    """The test protocol (workflow.inputs.eval_settings)."""

    crop_size: int
    clip_len: int
    stride: int
    n_clips: int  # uniformly spaced clips per video
    n_crops: int  # 1 (centre) or 3 (left, centre, right) crops per clip
    batch_size: int
    workers: int
