"""The temporal-similarity diagnosis: its figures against hand computations on small arrays,
the subset it draws, the kinds it reads, the warning, and the shared score-clip code it runs
(per-teacher similarity and BatchNorm recalibration) on stub teachers."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from timebalance.methods import diagnostics as D
from timebalance.methods.similarity import recalibrated, score_loader, teacher_similarity
from timebalance.report.figures import DIAGNOSIS_CURVES


def test_auc_by_hand():
    # pairs (3,1) (3,2) (2,1) win, (2,2) ties: (3 + 0.5) / 4
    assert D.auc([3.0, 2.0], [1.0, 2.0]) == 0.875
    assert D.auc([1.0], [2.0]) == 0.0 and D.auc([2.0], [1.0]) == 1.0
    assert D.auc([1.0, 1.0], [1.0]) == 0.5
    # ties across and within the groups, several sizes: the rank formula equals counting
    # every (positive, negative) pair, ties as half
    rng = np.random.default_rng(0)
    for n_p, n_n in ((1, 7), (5, 5), (13, 4)):
        p, n = rng.integers(0, 4, n_p).astype(float), rng.integers(0, 4, n_n).astype(float)
        pairs = [1.0 if a > b else 0.5 if a == b else 0.0 for a in p for b in n]
        assert D.auc(p, n) == pytest.approx(sum(pairs) / len(pairs), abs=1e-12)
    with pytest.raises(ValueError, match="both kinds"):
        D.auc([], [1.0])


def test_summarise_by_hand():
    s = [0.9, 0.8, 0.5, 0.7, 0.6]
    kinds = ["atomic", "atomic", "sequence", "sequence", "sequence"]
    out = D.summarise(s, kinds)
    assert out[D.SIMILARITY] == pytest.approx(3.5 / 5)
    assert out["similarity/periodic"] == pytest.approx(0.85)
    assert out["similarity/sequence"] == pytest.approx(0.6)
    assert out[D.AUC] == 1.0  # every periodic video above every sequence
    # without kinds (a real dataset): the overall figure only, nothing invented
    assert D.summarise(s, None) == {D.SIMILARITY: pytest.approx(0.7)}
    # one kind absent from the subset: its mean and the AUC are absent
    only = D.summarise(s[:2], kinds[:2])
    assert set(only) == {D.SIMILARITY, "similarity/periodic"}
    with pytest.raises(ValueError, match="2 kinds for 5 videos"):
        D.summarise(s, kinds[:2])


def test_the_figure_knows_every_diagnosis_key():
    assert set(DIAGNOSIS_CURVES) == set(D.KEYS)


def test_subset_is_fixed_sorted_and_leaves_global_streams_alone():
    torch.manual_seed(1)
    np.random.seed(1)
    before = torch.rand(1), np.random.rand()
    torch.manual_seed(1)
    np.random.seed(1)
    a = D.diagnosis_subset(100, 10, seed=3)
    assert (torch.rand(1), np.random.rand()) == before  # nothing drawn from them
    assert np.array_equal(a, D.diagnosis_subset(100, 10, seed=3))
    assert len(set(a.tolist())) == 10 and np.all(np.diff(a) > 0) and a.max() < 100
    assert not np.array_equal(a, D.diagnosis_subset(100, 10, seed=4))
    assert np.array_equal(D.diagnosis_subset(5, 10, seed=3), np.arange(5))


def test_kinds_from_a_catalogue(tmp_path):
    path = tmp_path / "synthetic.json"
    classes = [
        {"name": "Bounce", "kind": "atomic"},
        {"name": "BounceThenCircle", "kind": "sequence"},
    ]
    path.write_text(json.dumps({"classes": classes}))
    kinds = D.read_kinds(path)
    assert D.video_kinds(["BounceThenCircle", "Bounce"], kinds) == ["sequence", "atomic"]
    assert D.read_kinds(None) is None and D.video_kinds(["x"], None) is None
    with pytest.raises(ValueError, match=r"\['Swing'\] are not in the dataset's catalogue"):
        D.video_kinds(["Swing"], kinds)
    path.write_text(json.dumps({"classes": [{"name": "a", "kind": "cyclic"}]}))
    with pytest.raises(ValueError, match="unknown kinds"):
        D.read_kinds(path)
    with pytest.raises(ValueError, match="cannot read"):
        D.read_kinds(tmp_path / "none.json")


@pytest.mark.parametrize(
    ("teacher", "periodic", "sequence", "fires"),
    [
        ("distinctive", 0.8, 0.7, False),
        ("distinctive", 0.7, 0.7, True),  # equal is "not lower"
        ("distinctive", 0.7, 0.8, True),
        ("invariant", 0.7, 0.8, False),  # the warning is about the distinctive teacher
        ("distinctive", 0.7, math.nan, False),
    ],
)
def test_kind_warning_fires_exactly_when_sequences_are_not_lower(
    teacher, periodic, sequence, fires
):
    summary = {D.SIMILARITY: 0.75, "similarity/periodic": periodic}
    summary["similarity/sequence"] = sequence
    message = D.kind_warning(teacher, summary)
    assert (message is not None) == fires
    if fires:
        assert "eq. 7" in message and f"{sequence:.3f}" in message
    assert D.kind_warning("distinctive", {D.SIMILARITY: 0.7}) is None  # no kinds


# --- the shared score-clip code on stub teachers ------------------------------------------
class _Clips(Dataset):
    """Given B x n x 3 x 1 x 1 x d "clips", as ScoreDataset yields them."""

    def __init__(self, clips: torch.Tensor) -> None:
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict:
        return {"clips": self.clips[i], "index": i}


class _Flat(nn.Module):
    """A backbone whose pooled feature is the clip, flattened."""

    def forward(self, x: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(pooled=x.flatten(1))


def _stub(head: nn.Module) -> nn.Module:
    model = nn.Module()
    model.backbone, model.head = _Flat(), head
    return model


def test_teacher_similarity_by_hand():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 3, 4))  # 5 videos, 3 clips, d = 4
    clips = torch.tensor(z, dtype=torch.float32).view(5, 3, 1, 1, 1, 4)
    loader = score_loader(_Clips(clips), batch_size=2, workers=0)
    got = teacher_similarity(_stub(nn.Identity()), loader, torch.device("cpu"), what="test")
    unit = z / np.linalg.norm(z, axis=-1, keepdims=True)
    expected = [
        np.mean([unit[v, i] @ unit[v, j] for i in range(3) for j in range(3) if i != j])
        for v in range(5)
    ]
    assert got == pytest.approx(expected, abs=1e-6)


def test_recalibration_reestimates_batchnorm_on_a_copy():
    rng = np.random.default_rng(1)
    feats = rng.normal(3.0, 2.0, size=(8, 2, 4))  # 8 videos x 2 clips x 4 features
    clips = torch.tensor(feats, dtype=torch.float32).view(8, 2, 1, 1, 1, 4)
    loader = score_loader(_Clips(clips), batch_size=4, workers=0)  # 2 batches of 8 rows
    model = _stub(nn.BatchNorm1d(4)).eval()
    twin = recalibrated(model, loader, torch.device("cpu"))
    norm = twin.head
    assert not norm.training and norm.momentum is None
    # momentum None: the average over the batches of each batch's mean and unbiased variance
    rows = feats.reshape(2, 8, 4)
    assert norm.running_mean.numpy() == pytest.approx(rows.mean(1).mean(0), abs=1e-5)
    assert norm.running_var.numpy() == pytest.approx(rows.var(1, ddof=1).mean(0), abs=1e-4)
    # the teacher given keeps its statistics (a fresh BatchNorm's 0 and 1) and its mode
    assert torch.equal(model.head.running_mean, torch.zeros(4)) and not model.head.training
    assert torch.equal(model.head.running_var, torch.ones(4))
