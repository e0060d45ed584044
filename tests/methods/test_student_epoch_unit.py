"""`student.epoch_unit`: one student epoch is a pass over the labeled list (the authors'
loop; the unlabeled videos stream on across epochs) or over the unlabeled list (the labeled
list cycled). Steps per epoch, coverage of the unlabeled list, and mid-epoch resume."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from tests.methods.test_stages import CLIPS, OPTIM, RUN, _write_video
from tests.methods.test_student_batches import Rows, _loader
from timebalance.data.sampling import CycledBatches
from timebalance.engine.trainer import FitResult
from timebalance.methods.classifier import (
    build_classifier,
    load_classifier_checkpoint,
    save_classifier,
)
from timebalance.methods.settings import StudentSettings, StudentSpec
from timebalance.methods.student import _joined_batches, _labeled_epoch_batches, train_student

N_LAB, N_UNL, BATCH = 7, 40, 3  # 7 labeled in batches of 3; 40 unlabeled in batches of 3


def _stream(n: int, batch_size: int) -> CycledBatches:
    return CycledBatches(
        Rows(n, 100), batch_size=batch_size, seed=0, purpose="unlabeled", workers=0,
        device=torch.device("cpu"),
    )  # fmt: skip


def _labeled_unit(max_steps=None):
    return _labeled_epoch_batches(
        _loader(N_LAB, 0, BATCH, "labeled"), _stream(N_UNL, BATCH), offset=N_LAB,
        max_steps=max_steps,
    )  # fmt: skip


def _plain(batches) -> list[dict]:
    return [{k: v.tolist() for k, v in b.items()} for b in batches]


def test_steps_per_epoch_of_both_units():
    labeled = _labeled_unit()
    unlabeled = _joined_batches(
        _loader(N_LAB, 0, BATCH, "labeled"), _loader(N_UNL, 100, BATCH, "unlabeled"),
        offset=N_LAB, seed=0,
    )  # fmt: skip
    assert len(labeled(0)) == len(_plain(labeled(0))) == 3  # ceil(7 / 3)
    assert len(unlabeled(0)) == len(_plain(unlabeled(0))) == 13  # floor(40 / 3)
    # labeled unit: every labeled video once per epoch, each step with 3 unlabeled ones
    for epoch in (0, 1):
        batches = _plain(labeled(epoch))
        lab = [i for b in batches for i, y in zip(b["index"], b["label"], strict=True) if y >= 0]
        assert sorted(lab) == list(range(N_LAB))
        assert all(sum(y < 0 for y in b["label"]) == BATCH for b in batches)


def test_the_unlabeled_stream_covers_each_video_once_before_repeating():
    labeled = _labeled_unit()
    seen = []
    for epoch in range(20):  # 20 epochs x 3 steps x 3 = 180 unlabeled rows: 4.5 passes
        for b in _plain(labeled(epoch)):
            seen += [i - N_LAB for i, y in zip(b["index"], b["label"], strict=True) if y < 0]
    assert len(seen) == 180
    for k in range(4):
        assert sorted(seen[N_UNL * k : N_UNL * (k + 1)]) == list(range(N_UNL)), k
    assert len(set(seen[4 * N_UNL :])) == 20  # the fifth pass has begun, no repeat yet


def test_a_resumed_epoch_reads_what_the_uninterrupted_one_reads():
    labeled = _labeled_unit()
    for epoch in (0, 3):
        full = _plain(labeled(epoch))
        for skip in (1, 2):
            assert _plain(labeled(epoch, skip=skip)) == full[skip:]
            assert len(labeled(epoch, skip=skip)) == 3 - skip


def test_a_step_cap_moves_the_stream_by_the_steps_taken():
    capped = _labeled_unit(max_steps=2)  # fit stops each epoch after 2 of its 3 steps
    taken = []
    for epoch in range(3):
        taken += [b["index"][-BATCH:] for b in _plain(capped(epoch))[:2]]
    unl = [i - N_LAB for idx in taken for i in idx]
    assert sorted(unl) == sorted(set(unl))  # 18 of the first pass, none skipped or repeated
    stream = _plain(_stream(N_UNL, BATCH)(0, 6))
    assert unl == [i for b in stream for i in b["index"]]


@pytest.mark.parametrize(("unit", "steps"), [("labeled", 2), ("unlabeled", 6)])
def test_train_student_takes_the_steps_of_its_unit(tmp_path, unit, steps):
    """4 labeled and 12 unlabeled videos in batches of 2 (ratio 1): 2 or 6 steps an epoch."""
    rng = np.random.default_rng(0)
    rows: dict[str, list[dict]] = {"labeled": [], "unlabeled": [], "val": []}
    for label in (0, 1):
        for i in range(9):
            vid = f"c{label}/v{i}"
            _write_video(tmp_path / "jpg", vid, label, rng)
            part = "labeled" if i < 2 else "unlabeled" if i < 8 else "val"
            rows[part].append({"video_id": vid, "label": label, "n_frames": 16})
    lists = {}
    for part, table in rows.items():
        lists[part] = tmp_path / f"{part}.csv"
        pd.DataFrame(table).to_csv(lists[part], index=False)
    teacher = tmp_path / "teacher.pt"
    model = build_classifier("tiny", 2, None)
    fit = FitResult(state={"model": model.state_dict()}, selected_epoch=0, selected_metric=None)
    save_classifier(teacher, fit, resume=tmp_path / "none.pt", backbone="tiny", n_classes=2)
    spec = StudentSpec(
        teachers=("t",), weighting="single", distill="l2", ce_weight=1.0,
        labeled_distill_weight=1.0, unlabeled_distill_weight=1.0, unlabeled_ratio=1,
        score_normalisation="none", epoch_unit=unit,
    )  # fmt: skip
    settings = StudentSettings(
        backbone="tiny",
        spec=spec,
        clips=replace(CLIPS, batch_size=2),
        optim=replace(OPTIM, epochs=2),
        seed=0,
    )
    train_student(
        settings,
        replace(RUN, log_every_steps=None),
        labeled=lists["labeled"],
        unlabeled=lists["unlabeled"],
        val=lists["val"],
        classes=None,
        frames_root=tmp_path / "jpg",
        init=None,
        teachers=[teacher],
        scores=None,
        out=tmp_path / "student.pt",
        resume=tmp_path / "resume.pt",
        metrics=tmp_path / "student.jsonl",
    )
    history = load_classifier_checkpoint(tmp_path / "student.pt")["history"]
    assert [h["steps"] for h in history] == [steps, steps]
    assert load_classifier_checkpoint(tmp_path / "student.pt")["spec"]["epoch_unit"] == unit
