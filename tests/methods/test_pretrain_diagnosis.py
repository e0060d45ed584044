"""The temporal-similarity diagnosis inside the pretraining and score stages, on a toy
dataset with a catalogue: one periodic class (a square bouncing left and right) and one
sequence class (the square moves right, then down). Frames are written with PIL."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tests.engine.test_interrupt import events
from timebalance.data.clips import ScoreDataset
from timebalance.data.pipeline import training_videos
from timebalance.engine.settings import RunSettings
from timebalance.methods import diagnostics as D
from timebalance.methods.embedder import load_embedder, load_pretrained, new_embedder
from timebalance.methods.pretrain import _diagnose, _EpochDiagnosis, pretrain_teacher
from timebalance.methods.scores import cache_scores, similarity_matrices
from timebalance.methods.settings import PretrainSettings, ScoreSettings
from timebalance.methods.similarity import recalibrated, score_loader, teacher_similarity

SIZE, N_FRAMES, PER_CLASS = 32, 16, 10
CLASSES = (("Bounce", "atomic"), ("BounceThenCircle", "sequence"))
RUN = RunSettings(device="cpu", threads=1, code_version="test", log_every_steps=1, tensorboard=None)
CPU = torch.device("cpu")
SETTINGS = PretrainSettings(
    kind="distinctive",
    backbone="tiny",
    n_clips=2,
    clip_len=4,
    crop_size=SIZE,
    crop_scale=(0.6, 1.0),
    flip_p=None,
    colour="fused",
    temperature=0.1,
    local_local_reduction="sum",
    batch_size=8,
    workers=0,
    seed=0,
    epochs=3,
    lr=1e-3,
    weight_decay=0.0,
    warmup_epochs=1,
    patience=5,
    max_steps_per_epoch=2,
    diagnose_every=2,
    diagnose_videos=12,
)


def _square(label: int, k: int) -> tuple[int, int]:
    if label == 0:  # periodic: left and right, period 8 frames
        return 10, 4 + 2 * min(k % 8, 8 - k % 8)
    return (4, 4 + 2 * k) if k < 8 else (4 + 2 * (k - 8), 18)  # right, then down


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy_kinds")
    rng = np.random.default_rng(0)
    rows = []
    for label, (name, _) in enumerate(CLASSES):
        for i in range(PER_CLASS):
            vid = f"{name}/v{i:02d}"
            (root / "jpg" / vid).mkdir(parents=True)
            for k in range(N_FRAMES):
                img = np.full((SIZE, SIZE, 3), rng.uniform(40, 120)) + rng.normal(
                    0, 8, (SIZE, SIZE, 3)
                )
                top, left = _square(label, k)
                img[top : top + 8, left : left + 8] = 230
                frame = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
                frame.save(root / "jpg" / vid / f"{k + 1:05d}.jpg")
            rows.append(
                {
                    "video": f"{vid}.avi",
                    "video_id": vid,
                    "label": label,
                    "class_name": name,
                    "subset": "train",
                    "n_frames": N_FRAMES,
                    "width": SIZE,
                    "height": SIZE,
                    "fps": 25.0,
                    "status": "ok",
                    "reason": "",
                }
            )
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    catalogue = [{"label": i, "name": n, "kind": k} for i, (n, k) in enumerate(CLASSES)]
    (root / "synthetic.json").write_text(json.dumps({"classes": catalogue}))
    return root


def _pretrain(toy: Path, name: str, settings: PretrainSettings, catalogue: bool = True) -> Path:
    out = toy / f"{name}.pt"
    pretrain_teacher(
        settings,
        replace(RUN, tensorboard=str(toy / "tb" / name)),
        manifest=toy / "manifest.csv",
        frames_root=toy / "jpg",
        out=out,
        resume=toy / f"{name}_resume.pt",
        metrics=toy / f"{name}.jsonl",
        catalogue=toy / "synthetic.json" if catalogue else None,
    )
    return out


@pytest.fixture(scope="module")
def runs(toy):
    """The distinctive teacher pretrained with the diagnosis (its stderr kept) and without."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        on = _pretrain(toy, "on", SETTINGS)
    off = _pretrain(toy, "off", replace(SETTINGS, diagnose_every=0))
    return {"on": on, "off": off, "log": err.getvalue()}


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_diagnosis_leaves_the_weights_unchanged(runs):
    on, off = load_pretrained(runs["on"]), load_pretrained(runs["off"])
    for module in ("backbone", "head"):
        assert on["weights"][module].keys() == off["weights"][module].keys()
        for key, value in on["weights"][module].items():
            assert torch.equal(value, off["weights"][module][key]), f"{module}.{key}"
    assert [h["loss"] for h in on["history"]] == [h["loss"] for h in off["history"]]
    assert all(set(D.KEYS).isdisjoint(h) for h in off["history"])
    assert "similarity" not in off["diagnostics"]


def _by_hand(toy: Path, weights: Path, subset: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Each subset video's mean off-diagonal cosine similarity, computed with numpy from the
    final teacher's clip projections; and the videos' kinds."""
    videos = training_videos(toy / "manifest.csv").iloc[subset].reset_index(drop=True)
    model, _ = load_embedder(weights, CPU)
    data = ScoreDataset(videos, toy / "jpg", size=SIZE, n_clips=2, clip_len=4)
    clips = torch.stack([data[i]["clips"] for i in range(len(data))])
    with torch.no_grad():
        z = model.head(model.backbone(clips.flatten(0, 1)).pooled).view(len(data), 2, -1)
    z = z.double().numpy()
    unit = z / np.linalg.norm(z, axis=-1, keepdims=True)
    sims = np.array([unit[v, 0] @ unit[v, 1] for v in range(len(data))])  # n = 2: one pair
    kinds = [dict(CLASSES)[vid.split("/")[0]] for vid in videos["video_id"]]
    return sims, kinds


def test_the_diagnosis_is_written_every_nth_and_last_epoch(toy, runs):
    ckpt = load_pretrained(runs["on"])
    diag = ckpt["diagnostics"]
    records = _records(toy / "on.jsonl")
    assert [r["epoch"] for r in records] == [0, 1, 2]
    # the loss gap every epoch: the epoch's mean loss minus the uniform-logit level
    for r in records:
        assert r[D.LOSS_GAP] == pytest.approx(r["loss"] - diag["uniform_loss"], abs=1e-9)
    # and each term's: L_D1 and L_D2 apart, whose gaps add up to the total's
    for r in records:
        gaps = {k: v for k, v in r.items() if D.is_term_gap(k)}
        assert sorted(gaps) == ["L_D1_minus_uniform", "L_D2_minus_uniform"]
        assert sum(gaps.values()) == pytest.approx(r[D.LOSS_GAP], abs=1e-6)
    assert diag["terms_minus_uniform"] == {k: v for k, v in records[-1].items() if D.is_term_gap(k)}
    stuck = [t for t, v in diag["terms_minus_uniform"].items() if v >= 0]
    assert any("has not been learned, the rest has" in w for w in diag["warnings"]) == bool(
        stuck and records[-1]["loss"] < diag["uniform_loss"]
    )
    # similarity after epoch 2 (diagnose_every) and 3 (the last), not after epoch 1
    assert D.SIMILARITY not in records[0]
    assert all(set(D.KEYS) <= set(r) for r in records[1:])
    acc = events(toy / "tb" / "on")
    assert [e.step for e in acc.Scalars("epoch/similarity/periodic")] == [3, 5]
    assert [e.value for e in acc.Scalars("epoch/similarity/auc")] == pytest.approx(
        [r[D.AUC] for r in records[1:]]
    )
    # the checkpoint holds the last one, which matches a computation by hand on the subset
    assert diag["similarity_epoch"] == 2 and diag["diagnosis_videos"] == 12
    assert diag["similarity"] == {k: records[-1][k] for k in D.KEYS if k != D.LOSS_GAP}
    subset = D.diagnosis_subset(2 * PER_CLASS, 12, seed=SETTINGS.seed)
    sims, kinds = _by_hand(toy, runs["on"], subset)
    kind = np.array(kinds)
    periodic, sequence = sims[kind == "atomic"], sims[kind == "sequence"]
    assert diag["similarity"][D.SIMILARITY] == pytest.approx(sims.mean(), abs=1e-5)
    assert diag["similarity"]["similarity/periodic"] == pytest.approx(periodic.mean(), abs=1e-5)
    assert diag["similarity"]["similarity/sequence"] == pytest.approx(sequence.mean(), abs=1e-5)
    pairs = [(p > q) + 0.5 * (p == q) for p in periodic for q in sequence]
    assert diag["similarity"][D.AUC] == pytest.approx(np.mean(pairs))
    # the per-kind warning: in the checkpoint and the log exactly when sequences are not lower
    fires = sequence.mean() >= periodic.mean()
    assert any("eq. 7" in w for w in diag["warnings"]) == fires
    assert ("eq. 7" in runs["log"]) == fires
    assert "diagnosis after epoch 3/3 (12 videos" in runs["log"]


def test_a_dataset_without_kinds_gets_no_kind_figures(toy):
    settings = replace(SETTINGS, kind="invariant", epochs=1, diagnose_every=1)
    ckpt = load_pretrained(_pretrain(toy, "no_kinds", settings, catalogue=False))
    (record,) = _records(toy / "no_kinds.jsonl")
    assert {k for k in D.KEYS if k in record} == {D.SIMILARITY, D.LOSS_GAP}
    assert set(ckpt["diagnostics"]["similarity"]) == {D.SIMILARITY}


@pytest.mark.parametrize(
    ("kind", "sequence", "fires"),
    [("distinctive", 0.75, True), ("distinctive", 0.65, False), ("invariant", 0.75, False)],
)
def test_the_kind_warning_at_the_end(kind, sequence, fires, caplog):
    history = [
        {"epoch": 0, "loss": 1.0},
        {"epoch": 1, "loss": 1.0, D.SIMILARITY: 0.7, "similarity/periodic": 0.7,
         "similarity/sequence": sequence, D.AUC: 0.6},
    ]  # fmt: skip
    diag = _diagnose(replace(SETTINGS, kind=kind), 1.0, 2.0, history)
    assert diag["similarity"]["similarity/sequence"] == sequence
    assert diag["similarity_epoch"] == 1
    assert any("eq. 7" in w for w in diag["warnings"]) == fires
    assert ("eq. 7" in caplog.text) == fires


def test_an_epoch_resumed_midway_has_no_loss_gap(toy):
    videos = training_videos(toy / "manifest.csv")
    settings = replace(SETTINGS, epochs=4, diagnose_every=3)
    hook = _EpochDiagnosis(
        settings, new_embedder("tiny").eval(), videos, toy / "jpg", None, CPU, 2.0
    )
    calls = []
    batches = hook.batches(lambda epoch, skip=0: calls.append((epoch, skip)) or [])
    batches(0, skip=1)  # resumed after one step: this process saw only the later steps
    hook.add_loss(5.0)
    assert hook() == {}
    batches(1)
    hook.add_loss(1.0)
    hook.add_loss(4.0)
    assert hook() == {D.LOSS_GAP: 0.5}  # mean 2.5 minus the level 2.0; no similarity yet
    assert calls == [(0, 1), (1, 0)]
    batches(2)
    assert set(hook()) == {D.SIMILARITY}  # 3rd epoch: diagnosed; no step: no gap
    batches(3)
    assert D.SIMILARITY in hook()  # the last epoch


def test_score_cache_with_batchnorm_recalibration(toy, runs, tmp_path):
    """bn_recalibration: s from each teacher re-estimated on all the score clips (the same
    code as the diagnosis), the Fig. 4 matrices on the same statistics."""
    settings = ScoreSettings(crop_size=SIZE, batch_size=8, workers=0, bn_recalibration=True)
    teachers = {"invariant": runs["off"], "distinctive": runs["on"]}
    tables = {}
    for flag in (False, True):
        out = tmp_path / f"{flag}.csv"
        cache_scores(
            replace(settings, bn_recalibration=flag), RUN, manifest=toy / "manifest.csv",
            frames_root=toy / "jpg", out=out, **teachers,
        )  # fmt: skip
        tables[flag] = pd.read_csv(out).set_index("video_id")
    videos = training_videos(toy / "manifest.csv")
    loader = score_loader(
        ScoreDataset(videos, toy / "jpg", size=SIZE, n_clips=2, clip_len=4), batch_size=8, workers=0
    )
    model, _ = load_embedder(runs["on"], CPU)
    expected = teacher_similarity(recalibrated(model, loader, CPU), loader, CPU, what="test")
    got = tables[True].loc[videos["video_id"], "s_distinctive"].to_numpy()
    assert got == pytest.approx(expected, abs=2e-6)  # the CSV keeps 6 decimals
    assert not np.allclose(got, tables[False].loc[videos["video_id"], "s_distinctive"])
    # the teacher's own file is untouched: its statistics are re-estimated on a copy
    assert torch.equal(
        load_pretrained(runs["on"])["weights"]["head"]["mlp.1.running_mean"],
        model.head.mlp[1].running_mean,
    )
    ids = list(videos["video_id"][:2])
    matrices = similarity_matrices(
        settings, RUN, manifest=toy / "manifest.csv", frames_root=toy / "jpg", video_ids=ids,
        **teachers,
    )  # fmt: skip
    off_diagonal = matrices["distinctive"][:, 0, 1]  # n = 2: the one pair
    assert off_diagonal == pytest.approx(tables[True].loc[ids, "s_distinctive"], abs=2e-6)
