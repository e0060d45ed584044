"""Frame-folder datasets: temporal index functions, which frames each sample reads, shapes,
per-item randomness, evaluation views and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

import timebalance.data.clips as clips_module
from tests.data.frame_folders import frame_code, make_videos, write_frames
from timebalance import seeding
from timebalance.data.clips import (
    ClipDataset,
    EvalDataset,
    PretrainDataset,
    ScoreDataset,
    read_frames,
)
from timebalance.data.temporal import (
    centre_start,
    clip_indices,
    pad_indices,
    pretrain_indices,
    random_start,
    uniform_starts,
)
from timebalance.data.transforms import KINETICS_MEAN, KINETICS_STD, ClipAugment

MEAN = torch.tensor(KINETICS_MEAN).view(3, 1, 1, 1)
STD = torch.tensor(KINETICS_STD).view(3, 1, 1, 1)
# Resize-only augmentation (no crop, flip or colour change): frame codes stay readable.
PLAIN = dict(scale=(1.0, 1.0), ratio=(1.25, 1.25), flip_p=0.0, jitter_p=0.0, grey_p=0.0)


def frame_indices(clip: torch.Tensor) -> list[int]:
    """0-based frame index of every frame of a normalised 3 x T x H x W clip, read back
    from the red level the helper wrote (frame k has red 10 k)."""
    red = (clip * STD + MEAN)[0].mean(dim=(1, 2)) * 255
    codes = torch.round(red / 10).long() - 1
    assert torch.allclose(red, (codes + 1).float() * 10, atol=3), red  # a clean code
    return codes.tolist()


@pytest.fixture
def videos(tmp_path):
    """Three tiny videos (40 x 32 frames): 24, 20 and 5 frames."""
    table = make_videos(tmp_path / "frames", {"A/v_a": 24, "B/v_b (1)!": 20, "C/v_c": 5})
    return table, tmp_path / "frames"


# ---------------------------------------------------------------- index functions
def test_pad_indices_loop_and_mirror():
    idx = np.arange(10)
    assert pad_indices(idx, 4, "loop").tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert pad_indices(idx, 4, "mirror").tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert pad_indices(idx, 1, "mirror").tolist() == [0] * 10
    assert pad_indices(idx, 20, "mirror").tolist() == idx.tolist()
    with pytest.raises(ValueError, match="short_video"):
        pad_indices(idx, 4, "reflect")
    with pytest.raises(ValueError, match="n_frames"):
        pad_indices(idx, 0)


def test_clip_indices():
    assert clip_indices(20, 4, 2, 3).tolist() == [3, 5, 7, 9]
    assert clip_indices(6, 4, 2, 3, "loop").tolist() == [3, 5, 1, 3]
    assert clip_indices(6, 4, 2, 3, "mirror").tolist() == [3, 5, 3, 1]
    assert clip_indices(6, 4, 2, 3).dtype == np.int64
    with pytest.raises(ValueError, match="stride"):
        clip_indices(6, 4, 0, 0)


@pytest.mark.parametrize("n", [4, 2])
def test_pretrain_dense_clips_tile_the_window_and_the_sparse_clip_spans_it(n):
    sparse, dense = pretrain_indices(200, n, 16, n, start=5)
    window = n * 16
    assert dense.shape == (n, 16)
    assert dense.ravel().tolist() == list(range(5, 5 + window))
    assert sparse.tolist() == list(range(5, 5 + window, n))
    assert sparse[0] == 5 and sparse[-1] == 5 + window - n  # first to last stride of window
    for t in range(n):  # sparse slice t lies inside dense clip t
        part = sparse[t * 16 // n : (t + 1) * 16 // n]
        assert dense[t, 0] <= part.min() and part.max() <= dense[t, -1]


def test_pretrain_indices_pad_short_videos_and_check_the_stride():
    sparse, dense = pretrain_indices(10, 4, 16, 4, 0, "loop")
    assert dense.ravel().tolist() == [i % 10 for i in range(64)]
    assert sparse.tolist() == [(4 * j) % 10 for j in range(16)]
    _, dense = pretrain_indices(10, 2, 8, 2, 0, "mirror")
    assert dense.ravel().tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 8, 7, 6, 5, 4, 3]
    with pytest.raises(ValueError, match="sparse_stride <= 2"):
        pretrain_indices(100, 2, 16, 4, 0)


def test_uniform_random_and_centre_starts():
    starts = uniform_starts(100, 15, 10)
    assert starts[0] == 0 and starts[-1] == 85 and len(starts) == 10
    assert set(np.diff(starts).tolist()) <= {9, 10}
    assert uniform_starts(10, 15, 10).tolist() == [0] * 10  # short: all at the start
    assert uniform_starts(100, 20, 1).tolist() == [40]
    rng = np.random.default_rng(0)
    draws = {random_start(20, 15, rng) for _ in range(200)}
    assert draws == set(range(6))
    assert random_start(10, 15, rng) == 0
    assert centre_start(100, 20) == 40 and centre_start(10, 20) == 0


# ---------------------------------------------------------------- frame reading
def test_read_frames_decodes_each_needed_frame_once(videos, monkeypatch):
    _, root = videos
    reads = []
    real = clips_module.simplejpeg.decode_jpeg
    monkeypatch.setattr(
        clips_module.simplejpeg, "decode_jpeg", lambda d, **kw: reads.append(d) or real(d, **kw)
    )
    frames = read_frames(root / "A/v_a", np.array([4, 1, 4, 9, 1]), video="A/v_a")
    assert frames.shape == (5, 3, 32, 40) and frames.dtype == torch.uint8
    red = frames[:, 0].float().mean(dim=(1, 2))
    assert torch.allclose(
        red, torch.tensor([frame_code(k + 1) for k in (4, 1, 4, 9, 1)]).float(), atol=3
    )
    files = {(root / "A/v_a" / f"{k:05d}.jpg").read_bytes(): k for k in (2, 5, 10)}
    assert sorted(files[d] for d in reads) == [2, 5, 10]  # each needed frame decoded once


def test_missing_frame_names_the_video_and_folder(videos):
    table, root = videos
    table = table.copy()
    table.loc[2, "n_frames"] = 9  # the folder has 5 frames
    ds = ScoreDataset(table, root, size=16, n_clips=1, clip_len=8)
    with pytest.raises(FileNotFoundError, match=r"'C/v_c'.*00006\.jpg.*C/v_c"):
        ds[2]


def test_video_without_frames_is_an_error(videos):
    table, root = videos
    table = table.copy()
    table.loc[1, "n_frames"] = 0
    with pytest.raises(ValueError, match=r"no frames.*'B/v_b \(1\)!'.*frames"):
        ClipDataset(table, root)


# ---------------------------------------------------------------- datasets
def test_dataset_shapes_and_dtypes(videos, tmp_path):
    table, root = videos
    csv = tmp_path / "list.csv"
    table.to_csv(csv, index=False)
    cases = [
        (
            PretrainDataset(csv, root, size=16, n_clips=4, clip_len=4),
            {"sparse": (2, 3, 4, 16, 16), "dense": (2, 4, 3, 4, 16, 16)},
        ),
        (
            PretrainDataset(table, root, size=16, n_clips=2, clip_len=4),
            {"sparse": (2, 3, 4, 16, 16), "dense": (2, 2, 3, 4, 16, 16)},
        ),
        (ClipDataset(csv, root, size=16, clip_len=4, stride=2), {"clip": (3, 4, 16, 16)}),
        (ClipDataset(table, root, size=16, train=False), {"clip": (3, 8, 16, 16)}),
        (EvalDataset(table, root, size=16, clip_len=4, n_clips=10), {"clips": (30, 3, 4, 16, 16)}),
        (
            EvalDataset(table, root, size=16, clip_len=4, n_clips=2, n_crops=1),
            {"clips": (2, 3, 4, 16, 16)},
        ),
        (ScoreDataset(table, root, size=16, n_clips=4, clip_len=4), {"clips": (4, 3, 4, 16, 16)}),
    ]
    for ds, shapes in cases:
        assert len(ds) == 3
        batch = next(iter(DataLoader(ds, batch_size=3)))
        for key, shape in shapes.items():
            assert batch[key].shape == (3, *shape), (type(ds).__name__, key)
            assert batch[key].dtype == torch.float32
        assert batch["index"].tolist() == [0, 1, 2]
        if "label" in batch:
            assert batch["label"].tolist() == table["label"].tolist()


def test_pretrain_sample_reads_the_window_and_augments_copies_independently(videos):
    table, root = videos
    plain = PretrainDataset(
        table, root, size=16, n_clips=2, clip_len=4, augment=ClipAugment(16, **PLAIN)
    )
    sample = plain[0]
    sparse = frame_indices(sample["sparse"][0])
    start = sparse[0]
    assert sparse == [start + 2 * j for j in range(4)]
    assert frame_indices(sample["sparse"][1]) == sparse
    for copy in range(2):
        dense = [frame_indices(sample["dense"][copy, t]) for t in range(2)]
        assert dense == [list(range(start, start + 4)), list(range(start + 4, start + 8))]

    augmented = PretrainDataset(table, root, size=16, n_clips=2, clip_len=4)[0]
    assert not torch.allclose(augmented["sparse"][0], augmented["sparse"][1])
    assert not torch.allclose(augmented["dense"][0], augmented["dense"][1])


def test_per_item_randomness_depends_on_seed_epoch_and_index(videos):
    table, root = videos
    twice = pd.concat([table.iloc[[0]], table.iloc[[0]]], ignore_index=True)

    def make(seed=0):
        return PretrainDataset(twice, root, size=16, n_clips=2, clip_len=4, seed=seed)

    a, b = make(), make()
    assert torch.equal(a[1]["dense"], b[1]["dense"])
    assert not torch.equal(a[0]["dense"], a[1]["dense"])  # same video, other index
    assert not torch.equal(a[0]["dense"], make(seed=1)[0]["dense"])
    first = a[0]["dense"]
    a.set_epoch(1)
    assert not torch.equal(a[0]["dense"], first)
    a.set_epoch(0)
    assert torch.equal(a[0]["dense"], first)


def test_item_streams_come_from_seeding_and_do_not_collide(videos):
    table, root = videos
    ds = ClipDataset(table, root, size=16, clip_len=4, seed=1)
    rng, g = ds.rngs(2)
    expected = seeding.stream(1, "clip-sampling", 0, 2)
    assert rng.integers(0, 2**62) == np.random.default_rng(expected).integers(0, 2**62)
    assert g.initial_seed() == expected
    other = ClipDataset(table, root, size=16, clip_len=4, seed=0)
    other.set_epoch(1)  # (seed 0, epoch 1) vs (seed 1, epoch 0): different streams
    assert other.rngs(2)[1].initial_seed() != g.initial_seed()
    assert not torch.equal(other[2]["clip"], ds[2]["clip"])


def test_samples_do_not_depend_on_the_worker_count(videos):
    table, root = videos
    ds = ClipDataset(table, root, size=16, clip_len=4, seed=3)
    ds.set_epoch(2)
    single = next(iter(DataLoader(ds, batch_size=3, num_workers=0)))["clip"]
    multi = torch.cat([b["clip"] for b in DataLoader(ds, batch_size=1, num_workers=2)])
    assert torch.equal(single, multi)


def test_clip_dataset_train_and_eval_frames(videos):
    table, root = videos
    plain = ClipAugment(16, **PLAIN)
    train = ClipDataset(table, root, size=16, clip_len=4, stride=2, augment=plain)
    starts = set()
    for epoch in range(6):
        train.set_epoch(epoch)
        got = frame_indices(train[0]["clip"])
        assert got == [got[0] + 2 * j for j in range(4)]
        starts.add(got[0])
    assert len(starts) > 1 and max(starts) <= 24 - 7
    val = ClipDataset(table, root, size=32, clip_len=4, stride=2, train=False, seed=0)
    item = val[0]
    assert frame_indices(item["clip"]) == [8, 10, 12, 14]  # centre: (24 - 7) // 2 = 8
    val.set_epoch(5)
    assert torch.equal(val[0]["clip"], item["clip"])
    assert item["label"] == 0
    unl = ClipDataset(table.drop(columns="label"), root, size=16, return_label=False)
    assert unl[1]["label"] == -1


def test_eval_dataset_views_are_uniform_clips_times_three_crops(videos):
    table, root = videos
    ds = EvalDataset(table, root, size=32, clip_len=4, stride=2, n_clips=10, n_crops=3)
    views = ds[0]["clips"]
    expected = uniform_starts(24, 7, 10)
    for c, start in enumerate(expected.tolist()):
        for j in range(3):
            assert frame_indices(views[3 * c + j]) == [start + 2 * i for i in range(4)]
    green = (views[:3] * STD + MEAN)[:, 1].mean(dim=(1, 2, 3))  # ramp: larger to the right
    assert green[0] < green[1] < green[2]
    assert not torch.equal(views[0], views[2])
    assert ds[0]["label"] == 0


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("loop", [0, 1, 2, 3, 4, 0, 1, 2]), ("mirror", [0, 1, 2, 3, 4, 3, 2, 1])],
)
def test_short_videos_are_padded_not_dropped(videos, mode, expected):
    table, root = videos
    ds = ScoreDataset(table, root, size=32, n_clips=2, clip_len=4, short_video=mode)
    clips = ds[2]["clips"]  # 5 frames, window 8
    assert [frame_indices(c) for c in clips] == [expected[:4], expected[4:]]


def test_score_dataset_is_deterministic_and_centred(videos):
    table, root = videos
    ds = ScoreDataset(table, root, size=32, n_clips=2, clip_len=4)
    clips = ds[1]["clips"]  # 20 frames, window 8 -> start 6
    assert [frame_indices(c) for c in clips] == [[6, 7, 8, 9], [10, 11, 12, 13]]
    ds.set_epoch(3)
    assert torch.equal(ds[1]["clips"], clips)


def test_static_video_stays_static_after_augmentation(tmp_path):
    write_frames(tmp_path, "S/v_s", 12, static=True)
    table = pd.DataFrame({"video_id": ["S/v_s"], "label": [0], "n_frames": [12]})
    sample = PretrainDataset(table, tmp_path, size=16, n_clips=2, clip_len=4)[0]
    for clip in [*sample["sparse"], *sample["dense"].flatten(0, 1)]:
        assert torch.equal(clip, clip[:, :1].expand_as(clip))
