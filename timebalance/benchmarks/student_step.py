"""Figure c: one TimeBalance student step (two frozen teachers) against a plain supervised step
of the same student, and the bound the teachers' forward passes set.

All three run on the same batch (labeled and unlabeled clips, as the student's loader joins
them): ``timebalance`` is the training stage's own step function
(``methods.student._student_step`` with two teachers and TSTR weighting) followed by backward
and an Adam step; ``supervised`` is the same step function without teachers (CE on the labeled
rows: the labels-only variant); ``teachers_forward`` is the teachers' part of the TimeBalance
step alone (both forward passes under inference mode and the mixing, ``_teacher_probs``).
The TimeBalance step cannot cost less than ``supervised + teachers_forward``; the figure is how
far above that bound it lies (overhead over supervised / teachers' forward cost).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from timebalance.benchmarks.timing import interleaved, ratio, summarize
from timebalance.methods.classifier import classifier_from_checkpoint
from timebalance.methods.settings import StudentSpec
from timebalance.methods.student import _student_step, _teacher_probs
from timebalance.models import build_backbone

# The acceptance figure: the step's overhead over a supervised step is within 15% of
# the teachers' forward cost.
TARGET_OVERHEAD_VS_BOUND = 1.15


def _frozen_teacher(backbone: str, n_classes: int, seed: int) -> torch.nn.Module:
    """A randomly initialised teacher, frozen and in eval mode exactly as the student stage
    loads a finetuned one (``classifier_from_checkpoint``)."""
    torch.manual_seed(seed)
    weights = build_backbone(backbone, num_classes=n_classes).state_dict()
    ckpt = {"backbone": backbone, "n_classes": n_classes, "weights": {"model": weights}}
    return classifier_from_checkpoint(ckpt, torch.device("cpu"), what=f"benchmark teacher {seed}")


def make_batch(
    *, labeled: int, unlabeled: int, clip_len: int, size: int, n_classes: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """A joined student batch: {"clip": float B x 3 x T x S x S, "index": B, "label": B
    (-1 on the ``unlabeled`` rows)}."""
    g = torch.Generator().manual_seed(seed)
    b = labeled + unlabeled
    labels = torch.randint(n_classes, (labeled,), generator=g)
    return {
        "clip": torch.randn(b, 3, clip_len, size, size, generator=g),
        "index": torch.arange(b),
        "label": torch.cat([labels, torch.full((unlabeled,), -1, dtype=torch.long)]),
    }


def measure_student_step(
    spec: dict,
    *,
    backbone: str,
    n_classes: int,
    batch_size: int,
    clip_len: int,
    size: int,
    steps: int,
    repeats: int,
    seed: int = 0,
) -> dict:
    """Time the TimeBalance student step, the supervised step and the teachers' forward pass.

    Args:
        spec: the student's spec (workflow.config.student_variant, without "init").
        backbone: student and teachers (e.g. "tiny").
        n_classes: classifier outputs.
        batch_size: labeled clips per step; the unlabeled ones are
            ``batch_size * spec["unlabeled_ratio"]``, as the student stage draws them.
        clip_len, size: clip shape (frames, square crop side).
        steps: optimiser steps per timed repeat.
        repeats: timed repeats (interleaved; medians reported).

    Returns:
        JSON-ready dict: settings, timings per variant (in steps), the bound and the ratios.
    """
    sp = StudentSpec.from_dict(spec, where="student spec")
    if len(sp.teachers) != 2 or sp.weighting == "single":
        raise ValueError(
            "the benchmark times a student mixing two teachers; the spec names "
            f"{list(sp.teachers)} with weighting {sp.weighting!r} (use the config's `student`)"
        )
    dev = torch.device("cpu")
    unlabeled = batch_size * sp.unlabeled_ratio
    batch = make_batch(
        labeled=batch_size,
        unlabeled=unlabeled,
        clip_len=clip_len,
        size=size,
        n_classes=n_classes,
        seed=seed,
    )
    teachers = [_frozen_teacher(backbone, n_classes, seed + k + 1) for k in range(2)]
    score = torch.rand(len(batch["index"]), generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    initial = build_backbone(backbone, num_classes=n_classes).state_dict()

    def trainer(with_teachers: bool) -> Callable[[], None]:
        model = build_backbone(backbone, num_classes=n_classes)
        model.load_state_dict(initial)  # the same student in both variants
        model.train()
        step = _student_step(model, teachers if with_teachers else [], score, sp, dev)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def run() -> None:
            for _ in range(steps):
                out = step(batch)
                optimizer.zero_grad(set_to_none=True)
                out["loss"].backward()
                optimizer.step()

        return run

    def teachers_forward() -> None:
        for _ in range(steps):
            with torch.inference_mode():
                _teacher_probs(teachers, score, batch["clip"], batch["index"], sp.weighting)

    fns = {
        "supervised": trainer(False),
        "timebalance": trainer(True),
        "teachers_forward": teachers_forward,
    }
    samples = interleaved(fns, repeats=repeats)
    timings = {name: summarize(s, steps, "steps") for name, s in samples.items()}
    return {
        "settings": {
            "backbone": backbone,
            "n_classes": n_classes,
            "labeled": batch_size,
            "unlabeled": unlabeled,
            "clip_len": clip_len,
            "size": size,
            "steps_per_repeat": steps,
            "device": str(dev),
            "spec": sp.to_dict(),
        },
        "timings": timings,
        "ratios": _ratios(timings, "median_cpu_s"),
        "ratios_wall": _ratios(timings, "median_wall_s"),
        "target_overhead_vs_bound": TARGET_OVERHEAD_VS_BOUND,
    }


def _ratios(timings: dict, key: str) -> dict[str, float]:
    """timebalance / supervised; the bound (supervised + teachers' forward) / supervised; and
    the overhead (timebalance - supervised) over the teachers' forward cost (1 = the bound)."""
    tb, sup, fwd = (timings[n][key] for n in ("timebalance", "supervised", "teachers_forward"))
    return {
        "timebalance_vs_supervised": ratio(tb, sup, what="timebalance / supervised step"),
        "bound_vs_supervised": ratio(sup + fwd, sup, what="(supervised + teachers) / supervised"),
        # A difference of two noisy medians: it may come out <= 0 on a loaded machine.
        "overhead_vs_teachers_forward": (tb - sup) / ratio(fwd, 1.0, what="teachers' forward"),
    }
