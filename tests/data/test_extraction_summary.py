"""Bad and short videos are counted and reported, and min_frames drops short ones from the
splits and pretraining (issue 10, finding 5). Real videos, encoded in a temp dir."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.data.videos import make_video, truncate
from timebalance.data.extraction_summary import main, print_summaries
from timebalance.data.frames import extract_shard
from timebalance.data.manifest import merge_manifests, read_manifest
from timebalance.data.pipeline import merge_shards, training_videos
from timebalance.data.splits import make_splits

CLIP = (20, "a finetune clip of 10 frames at stride 2")


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    """One extraction shard over: 6 normal 40-frame videos in two classes, a 5-frame one, a
    truncated one (the first 40% of a 73-frame file) and a missing one."""
    tmp = tmp_path_factory.mktemp("extraction")
    root = tmp / "ds"
    rows = []
    for i in range(6):
        name = f"C{i % 2}/v_{i}.avi"
        make_video(root / name, n_frames=40)
        rows.append((name, i % 2))
    make_video(root / "C0/short.avi", n_frames=5)
    full = make_video(tmp / "full.avi", n_frames=73, args=("-g", "5"))
    (root / "C1").mkdir(exist_ok=True)
    truncate(full, root / "C1/cut.avi", fraction=0.4)
    rows += [("C0/short.avi", 0), ("C1/cut.avi", 1), ("C1/missing.avi", 1)]
    index = pd.DataFrame(
        {
            "video": [v for v, _ in rows],
            "label": [label for _, label in rows],
            "class_name": [f"C{label}" for _, label in rows],
            "subset": "train",
        }
    )
    part = extract_shard(index, root, tmp / "frames", 0, 1, short_side=None, fps=None)
    part.to_csv(tmp / "shard.csv", index=False)
    return tmp, part


def _merge(tmp, min_frames: int, name: str) -> dict:
    return merge_shards(
        shards=[tmp / "shard.csv"],
        out=tmp / f"{name}/frames/demo/manifest.csv",
        summary=tmp / f"{name}/frames/demo/summary.json",
        dataset="demo",
        max_bad_fraction=0.5,
        min_frames=min_frames,
        clip=CLIP,
    )


def test_the_summary_counts_truncated_short_and_skipped_videos(shard, capsys):
    tmp, part = shard
    status = dict(zip(part["video"], part["status"], strict=True))
    assert (status["C1/cut.avi"], status["C1/missing.avi"]) == ("truncated", "missing")
    info = _merge(tmp, 0, "keep")
    assert (info["videos"], info["used"], info["skipped"]) == (9, 8, 1)
    assert (info["truncated"], info["below_min_frames"]) == (1, 0)
    # 5 frames and the truncated file's few decoded frames are shorter than 20.
    n_cut = int(part.set_index("video").loc["C1/cut.avi", "n_frames"])
    assert 0 < n_cut < 20
    assert info["shorter_than_clip"] == 2
    assert info["manifest"] == str(tmp / "keep/frames/demo/manifest.csv")
    printed = capsys.readouterr().out
    assert printed.startswith(f"demo: 9 videos, 8 used (manifest {info['manifest']}")
    assert "\n  1 truncated: damaged files" in printed
    assert f"\n      C1/cut.avi: decoded {n_cut} of the 73 frames the AVI header" in printed
    assert "\n  2 shorter than one clip (20 frames, a finetune clip of 10 frames" in printed
    assert "\n      C0/short.avi (5 frames)\n" in printed
    assert "\n  0 below min_frames 0: dropped from the splits" in printed
    assert "\n  1 skipped: no frame" in printed
    assert "\n      C1/missing.avi: no such file" in printed
    written = json.loads((tmp / "keep/frames/demo/summary.json").read_text())
    assert written == info

    # The function `make demo` ends with prints the same lines for every dataset.
    assert print_summaries(tmp / "keep") == 1
    assert capsys.readouterr().out.strip() == printed.strip()
    assert main(["x", str(tmp / "nothing")]) == 0
    assert "no extraction summary" in capsys.readouterr().out


def test_min_frames_drops_short_videos_from_splits_and_pretraining(shard):
    tmp, _ = shard
    info = _merge(tmp, 20, "drop")
    assert info["below_min_frames"] == 2 and info["used"] == 6 and info["shorter_than_clip"] == 0
    manifest = read_manifest(tmp / "drop/frames/demo/manifest.csv")
    dropped = manifest[manifest["status"] == "too_short"]
    assert sorted(dropped["video"]) == ["C0/short.avi", "C1/cut.avi"]
    assert (
        dropped.set_index("video")
        .loc["C0/short.avi", "reason"]
        .startswith("5 frames, below min_frames 20: not in the splits (extraction: ok)")
    )
    splits = make_splits(manifest, budget="1perclass", seed=0, val_fraction=0.34)
    used = set().union(*(set(splits[k]["video_id"]) for k in ("labeled", "unlabeled", "val")))
    assert used == {f"C{i % 2}/v_{i}" for i in range(6)}
    assert splits.info["excluded_by_status"] == {"missing": 1, "too_short": 2}
    assert set(training_videos(tmp / "drop/frames/demo/manifest.csv")["video_id"]) == used


def test_dropped_videos_are_not_counted_as_bad(shard):
    tmp, part = shard
    # 3 of 9 videos without usable frames would exceed 0.2; the 2 dropped ones do not count.
    merge_manifests([part], tmp / "m.csv", max_bad_fraction=0.2, min_frames=20)
