"""The training stages as the rules call them (pretrain, finetune, student, scores), on a toy
dataset a 3D CNN separates in seconds: class 0 has a bright square near the top of the frame,
class 1 near the bottom (vertical position survives horizontal flips, colour jitter and crops
keeping >= 60% of the area). Frames are written with PIL, not with the package."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tests.engine.test_checkpoint import _Payload
from tests.engine.test_interrupt import events
from timebalance.engine.settings import RunSettings
from timebalance.engine.trainer import OptimSettings
from timebalance.methods.classifier import build_classifier, load_classifier_checkpoint
from timebalance.methods.embedder import load_embedder, load_pretrained
from timebalance.methods.finetune import finetune_teacher
from timebalance.methods.pretrain import pretrain_teacher
from timebalance.methods.scores import cache_scores
from timebalance.methods.settings import (
    ClipSettings,
    FinetuneSettings,
    PretrainSettings,
    ScoreSettings,
    StudentSettings,
    StudentSpec,
)
from timebalance.methods.student import train_student

SIZE, N_FRAMES = 32, 16
CLIPS = ClipSettings(
    crop_size=SIZE,
    crop_scale=(0.6, 1.0),
    colour="fused",
    clip_len=8,
    stride=2,
    batch_size=8,
    workers=0,
)
OPTIM = OptimSettings(
    epochs=10, lr=2e-3, weight_decay=0.0, warmup_epochs=1, patience=5, max_steps_per_epoch=None
)
RUN = RunSettings(device="cpu", threads=1, code_version="test", log_every_steps=1, tensorboard=None)
FINETUNE = FinetuneSettings(backbone="tiny", clips=CLIPS, optim=OPTIM, seed=0)


def _write_video(root: Path, vid: str, label: int, rng: np.random.Generator) -> None:
    out = root / vid
    out.mkdir(parents=True)
    background = rng.uniform(40, 120)
    top = 3 if label == 0 else 21
    for k in range(N_FRAMES):
        img = np.full((SIZE, SIZE, 3), background) + rng.normal(0, 8, (SIZE, SIZE, 3))
        left = 6 + (k % 8) * 2  # the square moves sideways
        img[top : top + 8, left : left + 8] = 230
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(out / f"{k + 1:05d}.jpg")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    frames = root / "jpg"
    rng = np.random.default_rng(0)
    lists: dict[str, list[dict]] = {"labeled": [], "unlabeled": [], "val": []}
    for label in (0, 1):
        for i in range(20):
            vid = f"c{label}/v{i:02d}"
            _write_video(frames, vid, label, rng)
            which = "labeled" if i < 8 else "unlabeled" if i < 16 else "val"
            lists[which].append({"video_id": vid, "label": label, "n_frames": N_FRAMES})
    paths = {}
    for name, rows in lists.items():
        paths[name] = root / f"{name}.csv"
        pd.DataFrame(rows).to_csv(paths[name], index=False)
    manifest = pd.DataFrame(
        [
            {
                "video": f"{r['video_id']}.avi",
                "video_id": r["video_id"],
                "label": r["label"],
                "class_name": f"c{r['label']}",
                "subset": "train",
                "n_frames": N_FRAMES,
                "width": SIZE,
                "height": SIZE,
                "fps": 25.0,
                "status": "ok",
                "reason": "",
            }
            for rows in lists.values()
            for r in rows
        ]
    )
    paths["manifest"] = root / "manifest.csv"
    manifest.to_csv(paths["manifest"], index=False)
    paths["frames"] = frames
    paths["root"] = root
    return paths


@pytest.fixture(scope="module")
def teacher(toy):
    out = toy["root"] / "teacher.pt"
    finetune_teacher(
        FINETUNE,
        replace(RUN, tensorboard=str(toy["root"] / "tb_teacher")),
        labeled=toy["labeled"],
        val=toy["val"],
        classes=None,
        frames_root=toy["frames"],
        pretrained=None,
        out=out,
        resume=toy["root"] / "teacher_resume.pt",
        metrics=toy["root"] / "teacher.jsonl",
    )
    return out


def test_finetune_learns_and_keeps_the_best_epoch(toy, teacher):
    ckpt = load_classifier_checkpoint(teacher)
    history = ckpt["history"]
    assert len(history) == OPTIM.epochs
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    best = max(h["val_top1"] for h in history)
    assert ckpt["val_top1"] == best >= 90.0
    assert history[ckpt["selected_epoch"]]["val_top1"] == best
    assert not (toy["root"] / "teacher_resume.pt").exists(), "resume file left behind"
    lines = (toy["root"] / "teacher.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(OPTIM.epochs))
    # TensorBoard, read back with its own reader: the metrics file's numbers, per epoch
    acc = events(toy["root"] / "tb_teacher")
    assert [e.value for e in acc.Scalars("epoch/val_top1")] == [h["val_top1"] for h in history]
    assert [e.value for e in acc.Scalars("epoch/lr")] == pytest.approx([h["lr"] for h in history])
    assert len(acc.Scalars("step/loss")) == sum(h["steps"] for h in history)


def _student(toy, tmp_path, teachers, scores, weighting) -> Path:
    out = tmp_path / "student.pt"
    spec = StudentSpec(
        teachers=tuple(f"t{i}" for i in range(len(teachers))),
        weighting=weighting,
        distill="l2",
        ce_weight=1.0,
        labeled_distill_weight=50.0,
        unlabeled_distill_weight=100.0,
        unlabeled_ratio=1,
        score_normalisation="none",
        epoch_unit="unlabeled",
    )
    train_student(
        StudentSettings(backbone="tiny", spec=spec, clips=CLIPS, optim=OPTIM, seed=0),
        replace(RUN, tensorboard=str(tmp_path / "tb")),
        labeled=toy["labeled"],
        unlabeled=toy["unlabeled"],
        val=toy["val"],
        classes=None,
        frames_root=toy["frames"],
        init=None,
        teachers=teachers,
        scores=scores,
        out=out,
        resume=tmp_path / "resume.pt",
        metrics=tmp_path / "student.jsonl",
    )
    return out


@pytest.mark.parametrize("weighting", ["single", "tstr"])
def test_student_distills_from_frozen_teachers(toy, teacher, tmp_path, weighting, capsys):
    teachers = [teacher] if weighting == "single" else [teacher, teacher]
    scores = None
    if weighting == "tstr":
        scores = tmp_path / "scores.csv"
        table = pd.concat(pd.read_csv(toy[n]) for n in ("labeled", "unlabeled", "val"))
        table.assign(s=np.linspace(0, 1, len(table))).to_csv(scores, index=False)
    before = {k: v.clone() for k, v in _weights(teacher).items()}
    out = _student(toy, tmp_path, teachers, scores, weighting)
    ckpt = load_classifier_checkpoint(out)
    history = ckpt["history"]
    # 16 unlabeled videos in batches of 8: two steps per epoch, each also sees labeled clips
    assert all(h["steps"] == 2 for h in history)
    assert all(h["unlabeled_distill"] > 0 and h["labeled_distill"] > 0 for h in history)
    assert history[-1]["loss"] < history[0]["loss"]
    assert ckpt["val_top1"] >= 90.0
    after = _weights(teacher)
    assert all(torch.equal(before[k], after[k]) for k in before), "a teacher was modified"
    # progress: a line per step (log_every_steps=1) with the loss terms and the ETAs
    logged = capsys.readouterr().err  # the stage logs to stderr (a rule's log file)
    assert f"epoch 1/{OPTIM.epochs} step 2/2 loss" in logged
    assert "unlabeled_distill" in logged and "job ETA" in logged
    acc = events(tmp_path / "tb")
    ce = [e.value for e in acc.Scalars("epoch/ce")]
    assert ce == pytest.approx([h["ce"] for h in history])
    assert [e.step for e in acc.Scalars("step/unlabeled_distill")] == list(range(2 * OPTIM.epochs))
    hists = acc.Tags()["histograms"]
    if weighting == "tstr":  # s and the mixing weight of every sample, once per epoch
        assert sorted(hists) == ["student/mix_weight", "student/s"]
        weights = acc.Histograms("student/mix_weight")
        assert len(weights) == OPTIM.epochs
        # 2 steps x (8 labeled + 8 unlabeled) clips, weights in [0, 1]
        assert weights[0].histogram_value.num == 32
        assert 0 <= weights[0].histogram_value.min <= weights[0].histogram_value.max <= 1
    else:
        assert hists == []


def test_student_rejects_scores_missing_videos(toy, teacher, tmp_path):
    scores = tmp_path / "scores.csv"
    pd.read_csv(toy["labeled"]).assign(s=0.5).to_csv(scores, index=False)
    with pytest.raises(ValueError, match="no score for 16 videos"):
        _student(toy, tmp_path, [teacher, teacher], scores, "tstr")
    assert not (tmp_path / "student.pt").exists()


def _pretrain_settings(kind: str) -> PretrainSettings:
    return PretrainSettings(
        kind=kind,
        backbone="tiny",
        n_clips=2,
        clip_len=4,
        crop_size=SIZE,
        crop_scale=(0.6, 1.0),
        flip_p=None,
        colour="fused",
        temperature=0.1,
        local_local_reduction="mean",
        batch_size=8,
        workers=0,
        seed=0,
        epochs=2,
        lr=1e-3,
        weight_decay=0.0,
        warmup_epochs=1,
        patience=5,
        max_steps_per_epoch=2,
        diagnose_every=1,
        diagnose_videos=16,
    )


def _pretrain_teachers(toy, tmp_path) -> dict[str, Path]:
    """Both teachers pretrained as the rule runs them; kind -> checkpoint."""
    weights = {}
    for kind in ("invariant", "distinctive"):
        weights[kind] = tmp_path / f"{kind}.pt"
        pretrain_teacher(
            _pretrain_settings(kind),
            replace(RUN, tensorboard=str(tmp_path / "tb" / kind)),
            manifest=toy["manifest"],
            frames_root=toy["frames"],
            out=weights[kind],
            resume=tmp_path / f"{kind}_resume.pt",
            metrics=tmp_path / f"{kind}.jsonl",
        )
    return weights


def _scores(toy, tmp_path, invariant: Path, distinctive: Path, name: str) -> pd.DataFrame:
    """The score stage as the rule runs it; n_clips (2) and clip_len (4) come from the
    checkpoints."""
    cache_scores(
        ScoreSettings(crop_size=SIZE, batch_size=8, workers=0, bn_recalibration=False),
        RUN,
        manifest=toy["manifest"],
        frames_root=toy["frames"],
        invariant=invariant,
        distinctive=distinctive,
        out=tmp_path / name,
    )
    return pd.read_csv(tmp_path / name)


def test_pretrained_teachers_feed_scores_and_classifiers(toy, tmp_path):
    weights = _pretrain_teachers(toy, tmp_path)
    for kind in ("invariant", "distinctive"):
        ckpt = load_pretrained(weights[kind])
        assert sorted(ckpt["weights"]) == ["backbone", "head"]
        history = ckpt["history"]
        assert [h["steps"] for h in history] == [2, 2]
        acc = events(tmp_path / "tb" / kind)
        assert [e.step for e in acc.Scalars("step/loss")] == [0, 1, 2, 3]
        assert [e.value for e in acc.Scalars("epoch/loss")] == pytest.approx(
            [h["loss"] for h in history]
        )
        assert all(np.isfinite(h["loss"]) and h["loss"] > 0 for h in history)
        # the diagnosis: the uniform-logit level of this objective and batch, and a warning
        # exactly when the final loss is not below it
        diag = ckpt["diagnostics"]
        assert diag["final_loss"] == history[-1]["loss"]
        assert bool(diag["warnings"]) == (diag["final_loss"] >= diag["uniform_loss"])
        assert diag["uniform_loss"] > 0
        # the trunk loads strictly into a classifier (every backbone weight present)
        model = build_classifier("tiny", 2, weights[kind])
        assert model.num_classes == 2
        trunk = {k: v for k, v in model.state_dict().items() if not k.startswith("classifier")}
        assert all(torch.equal(v, ckpt["weights"]["backbone"][k]) for k, v in trunk.items())

    table = _scores(toy, tmp_path, weights["invariant"], weights["distinctive"], "scores.csv")
    assert len(table) == 40 and table["video_id"].is_unique
    for col in ("s_invariant", "s_distinctive", "s"):
        assert table[col].between(-1, 1).all(), col
    assert not np.allclose(table["s_invariant"], table["s_distinctive"])
    # one network as both teachers: the cross-teacher score is its self-similarity
    same = _scores(toy, tmp_path, weights["invariant"], weights["invariant"], "same.csv")
    assert np.allclose(same["s"], same["s_invariant"], atol=1e-5)
    assert np.allclose(same["s_invariant"], table["s_invariant"], atol=1e-5)


def test_score_stage_warns_when_teachers_contradict_fig4(toy, tmp_path, capsys):
    """s_I <= s_D (the invariant teacher sees a video's clips as less alike than the
    distinctive one) is logged as a warning naming both checkpoints."""
    weights = _pretrain_teachers(toy, tmp_path)
    outcome = {}
    for name, (inv, dis) in {
        "as_given": (weights["invariant"], weights["distinctive"]),
        "swapped": (weights["distinctive"], weights["invariant"]),
    }.items():
        capsys.readouterr()
        table = _scores(toy, tmp_path, inv, dis, f"{name}.csv")  # logs to stderr
        warned = "contradict the paper's Fig. 4" in capsys.readouterr().err
        assert warned == (table["s_invariant"].mean() <= table["s_distinctive"].mean())
        outcome[name] = warned
    assert outcome["as_given"] != outcome["swapped"]  # exactly one order contradicts Fig. 4


def test_a_pretraining_checkpoint_that_runs_code_is_refused_unrun(tmp_path):
    """Issue 10: a pickle planted as a teacher's pretraining checkpoint must not run when a
    classifier is initialised from it, nor when the score stage loads it."""
    marker, path = tmp_path / "payload_ran", tmp_path / "ssl.pt"
    torch.save({"weights": {"backbone": {}, "head": {}}, "x": _Payload(marker)}, path)
    with pytest.raises(ValueError, match=f"{path}.*refused"):
        build_classifier("tiny", 2, path)
    with pytest.raises(ValueError, match=f"{path}.*refused"):
        load_embedder(path, torch.device("cpu"))
    assert not marker.exists(), "the checkpoint's payload ran"


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_classifier_checkpoint(path)["weights"]["model"]


def test_all_digit_video_ids_stay_text(tmp_path):
    from tests.data.frame_folders import manifest_rows
    from timebalance.data.pipeline import training_videos

    table = manifest_rows({"a": (2, 0)})
    table["video_id"] = ["007", "0100"]
    table.to_csv(tmp_path / "manifest.csv", index=False)
    assert training_videos(tmp_path / "manifest.csv")["video_id"].tolist() == ["007", "0100"]


def test_classifier_outputs_follow_the_class_list(toy, tmp_path):
    """A class without training videos keeps its output (evaluation needs one per class)."""
    one_epoch = replace(FINETUNE, optim=replace(OPTIM, epochs=1))
    common = dict(
        labeled=toy["labeled"],
        val=toy["val"],
        frames_root=toy["frames"],
        pretrained=None,
        resume=tmp_path / "resume.pt",
        metrics=tmp_path / "m.jsonl",
    )
    classes = tmp_path / "classes.txt"
    classes.write_text("c0\nc1\nnever_seen\n")
    finetune_teacher(one_epoch, RUN, out=tmp_path / "three.pt", classes=classes, **common)
    assert load_classifier_checkpoint(tmp_path / "three.pt")["n_classes"] == 3
    classes.write_text("c0\n")
    with pytest.raises(ValueError, match="names only 1 classes"):
        finetune_teacher(one_epoch, RUN, out=tmp_path / "one.pt", classes=classes, **common)
