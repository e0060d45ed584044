"""The synthetic dataset: UCF101 layout, determinism, and the two kinds of action it promises."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.data.videos import decoded_frames, read_frames
from timebalance.data import synthetic as syn
from timebalance.data.index import read_index
from timebalance.data.synthetic import synthesize_dataset
from timebalance.data.synthetic_render import (
    SUBACTIONS,
    SYNTHETIC_CLASSES,
    draw_appearance,
    render_clip,
    select_classes,
)

SMALL = {
    "n_classes": 4,
    "n_groups": 4,
    "clips_per_group": (1, 2),
    "n_test_groups": 1,
    "n_frames": 60,
}


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn") / "ds"
    return root, synthesize_dataset(root, seed=0, **SMALL)


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def read_list(path: Path) -> list[str]:
    raw = path.read_bytes()
    assert raw.endswith(b"\r\n") and raw.count(b"\r\n") == raw.count(b"\n"), f"{path} not CRLF"
    return raw.decode().split("\r\n")[:-1]


def test_ucf101_layout_and_lists(ds):
    root, df = ds
    lists = root / "ucfTrainTestlist"
    classes = dict(line.split(" ") for line in read_list(lists / "classInd.txt"))
    assert list(classes.values()) == sorted(classes.values())  # labels in name order, like UCF
    assert sorted(p.name for p in (root / "UCF-101").iterdir()) == sorted(classes.values())
    label_of = {name: int(i) for i, name in classes.items()}
    for split in (1, 2, 3):
        train = [line.split(" ") for line in read_list(lists / f"trainlist0{split}.txt")]
        test = read_list(lists / f"testlist0{split}.txt")
        for video, label in train:
            assert label_of[video.split("/")[0]] == int(label)
        assert sorted([v for v, _ in train] + test) == sorted(df["entry"])
        test_groups = {int(v.split("_g")[1][:2]) for v in test}
        assert test_groups == {split}  # one test group per split, rotating
        assert not test_groups & {int(v.split("_g")[1][:2]) for v, _ in train}
    for row in df.itertuples():
        assert (root / row.video).is_file() and row.video == f"UCF-101/{row.entry}"
        cls, name = row.entry.split("/")
        assert name == f"v_{cls}_g{row.group:02d}_c{row.clip:02d}.avi"
        assert label_of[cls] == row.label + 1
    test1 = set(read_list(lists / "testlist01.txt"))
    assert set(df.loc[df["subset"] == "test", "entry"]) == test1
    assert [p.name for p in root.parent.iterdir()] == ["ds"]  # no temp or old tree left


@pytest.mark.parametrize("split", [1, 2])
def test_read_by_the_ucf101_adapter_like_the_real_thing(ds, split):
    root, df = ds
    index = read_index("ucf101", root, split=split)
    cols = ["video", "label", "class_name"]
    pd.testing.assert_frame_equal(
        index.sort_values("video")[cols].reset_index(drop=True), df[cols], check_dtype=False
    )
    test = index.loc[index["subset"] == "test", "video"]
    assert set(test) == {v for v in df["video"] if f"_g{split:02d}_" in v}


def test_videos_are_real_and_long_enough(ds):
    root, df = ds
    assert df["n_frames"].between(48, 72).all() and df["n_frames"].nunique() > 1
    for row in df.iloc[::5].itertuples():
        assert decoded_frames(root / row.video) == row.n_frames
    frames = read_frames(root / df["video"][0], 64, 48)
    assert frames.shape == (df["n_frames"][0], 48, 64, 3)


def test_default_length_fits_a_64_frame_window(tmp_path):
    df = synthesize_dataset(tmp_path / "d", n_classes=2, n_groups=4, clips_per_group=2)
    assert df["n_frames"].between(64, 96).all() and df["n_frames"].nunique() > 3


def test_same_seed_same_bytes_other_seed_other_videos(ds, tmp_path):
    root, df = ds
    again = synthesize_dataset(tmp_path / "again", seed=0, workers=1, **SMALL)
    assert again.equals(df)
    assert digests(tmp_path / "again") == digests(root)
    other = synthesize_dataset(tmp_path / "other", seed=1, **SMALL)
    a, b = digests(root), digests(tmp_path / "other")
    same = [k for k in set(a) & set(b) if k.endswith(".avi") and a[k] == b[k]]
    assert not same and not other.equals(df)


def test_frames_are_a_function_of_the_seed():
    cls = select_classes(10)[1]
    make = [np.random.default_rng(np.random.SeedSequence(7, spawn_key=(3,))) for _ in range(2)]
    a, b = (render_clip(cls, draw_appearance(r), r, n_frames=20, width=32, height=24) for r in make)
    assert a.dtype == np.uint8 and a.shape == (20, 24, 32, 3)
    np.testing.assert_array_equal(a, b)


def test_class_catalogue():
    names = [c.name for c in SYNTHETIC_CLASSES]
    assert len(set(names)) == len(names) and all(n[0].isupper() and n.isalnum() for n in names)
    for c in SYNTHETIC_CLASSES:
        assert set(c.subactions) <= set(SUBACTIONS)
        assert (c.kind, len(c.subactions) == 1) in {("atomic", True), ("sequence", False)}
    for n in (2, 4, 10, len(SYNTHETIC_CLASSES)):
        chosen = select_classes(n)
        kinds = [c.kind for c in chosen]
        assert len(chosen) == n and {"atomic", "sequence"} == set(kinds)
        assert kinds.count("atomic") == min(6, (n + 1) // 2)
        if n >= 4:  # some classes differ only in the order of the same sub-actions
            seqs = {c.subactions for c in chosen if c.kind == "sequence"}
            assert any(s[::-1] in seqs for s in seqs)
    with pytest.raises(ValueError, match="n_classes"):
        select_classes(len(SYNTHETIC_CLASSES) + 1)


def _self_similarity(frames: np.ndarray) -> float:
    """Cosine similarity of the motion-energy maps (mean |frame difference|) of the two halves
    of a video: ~1 when both halves show the same motion."""
    gray = frames.astype(np.float32).mean(-1)
    energy = np.abs(np.diff(gray, axis=0))
    half = len(energy) // 2
    a, b = energy[:half].mean(0).ravel(), energy[half:].mean(0).ravel()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_atomic_clips_are_more_self_similar_than_sequences(ds):
    root, df = ds
    df = df.assign(sim=[_self_similarity(read_frames(root / p, 64, 48)) for p in df["video"]])
    by_class = df.groupby(["kind", "class_name"])["sim"].mean()
    assert by_class["atomic"].min() > by_class["sequence"].max() + 0.02, by_class


def test_object_stays_near_the_centre():
    """Random crops keep the evidence: object pixels never leave the central box."""
    size = 48
    for i, cls in enumerate(SYNTHETIC_CLASSES):
        rng = np.random.default_rng(i)
        group = draw_appearance(rng)
        frames = render_clip(cls, group, rng, n_frames=64, width=64, height=size)
        diff = np.abs(frames.astype(np.float32) - 255 * group["background"]).max(-1)
        t, y, x = np.nonzero(diff > 60)  # noise sigma <= 7.7 grey levels; contrast >= 76
        assert len(np.unique(t)) == 64  # visible in every frame
        assert np.abs(y + 0.5 - size / 2).max() <= 0.4 * size, cls.name
        assert np.abs(x + 0.5 - 32).max() <= 0.4 * size, cls.name


def test_tree_is_written_atomically(tmp_path, monkeypatch):
    calls = []

    def failing(frames, path, *, fps):
        calls.append(path)
        if len(calls) == 3:
            raise RuntimeError("disk full")

    monkeypatch.setattr(syn, "encode_avi", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        synthesize_dataset(tmp_path / "ds", seed=0, workers=1, **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_replaces_only_its_own_trees(tmp_path):
    small = {**SMALL, "n_classes": 2, "n_groups": 2, "clips_per_group": 1, "n_frames": 10}
    (tmp_path / "empty" / "ucfTrainTestlist").mkdir(parents=True)  # made by Snakemake
    synthesize_dataset(tmp_path / "empty", **small)
    synthesize_dataset(tmp_path / "empty", **small)  # a previous synthetic tree
    assert len(list((tmp_path / "empty" / "UCF-101").rglob("*.avi"))) == 4
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match=r"synthetic\.json"):
        synthesize_dataset(tmp_path / "mine", **small)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "mine"]


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(ValueError, match="width"):
        synthesize_dataset(tmp_path / "x", width=63)
    with pytest.raises(ValueError, match="n_test_groups"):
        synthesize_dataset(tmp_path / "x", n_groups=3, n_test_groups=3)


@pytest.mark.parametrize("shared", [False, True])
def test_appearance_per_clip_unless_shared_by_group(tmp_path, shared):
    """By default a clip's background is its own (only motion identifies the class); with
    group_appearance the clips of one group share it, like a UCF101 group."""
    root = tmp_path / "d"
    synthesize_dataset(
        root,
        n_classes=2,
        n_groups=3,
        n_test_groups=1,
        clips_per_group=3,
        n_frames=16,
        width=32,
        height=24,
        group_appearance=shared,
    )
    name = select_classes(2)[0].name
    corners = [
        int(read_frames(root / f"UCF-101/{name}/v_{name}_g02_c{c:02d}.avi", 32, 24)[0, 0, 0, 0])
        for c in (1, 2, 3)
    ]
    spread = max(corners) - min(corners)
    assert spread <= 10 if shared else spread > 10


def test_palette_shares_a_few_looks_across_classes_and_keeps_the_motions(tmp_path):
    """With palette=k every clip takes one of k backgrounds whatever its class, and its motion
    (the object's trajectory) is the one palette 0 gives the same clip."""
    kw = dict(n_classes=4, n_groups=3, n_test_groups=1, clips_per_group=3, n_frames=16)
    kw.update(width=32, height=24)
    synthesize_dataset(tmp_path / "p0", **kw)
    table = synthesize_dataset(tmp_path / "p2", palette=2, **kw)
    backgrounds = {
        int(read_frames(tmp_path / "p2" / video, 32, 24)[0, 0, 0, 0]) for video in table["video"]
    }
    # two looks (JPEG-free raw decode, up to the encoder's and the noise's few levels)
    levels = sorted(backgrounds)
    clusters = 1 + sum(b - a > 12 for a, b in itertools.pairwise(levels))
    assert clusters <= 2, levels
    assert clusters == 2 or len(table) < 4

    def centre_path(root: Path, video: str) -> np.ndarray:
        frames = read_frames(root / video, 32, 24).astype(float).mean(-1)  # T x H x W
        bg = np.median(frames, axis=(1, 2), keepdims=True)
        mask = np.abs(frames - bg) > 20
        xs = np.mgrid[0:24, 0:32][1]
        return np.array([(xs * m).sum() / max(m.sum(), 1) for m in mask])

    video = table["video"].iloc[0]
    # same trajectory of the object's centre: within a pixel (size and shape may differ)
    path0, path2 = (centre_path(tmp_path / d, video) for d in ("p0", "p2"))
    assert np.abs(path0 - path2).max() < 1.5, (path0, path2)
    with pytest.raises(ValueError, match="palette"):
        synthesize_dataset(tmp_path / "bad", palette=-1, **kw)
