"""The data stages as the rules call them: each reads and writes files (through
timebalance.io), the logic lives in index/, synthetic.py, frames.py, manifest.py and splits.py."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pandas as pd

from timebalance import io
from timebalance.data.manifest import USABLE_STATUSES, merge_manifests, read_manifest

log = logging.getLogger(__name__)


def write_index(
    *, fmt: str, root: str | Path, split: int, options: dict, out: str | Path, classes: str | Path
) -> pd.DataFrame:
    """Read the annotation files (videos need not exist yet) into `out` (CSV) and the class
    names, one per line in label order, into `classes`."""
    from timebalance.data.index import class_names, read_index

    index = read_index(fmt, root, split=split, **(options or {}))
    io.write_text("\n".join(class_names(index)) + "\n", classes)
    io.write_text(index.to_csv(index=False), out)
    log.info("%s: %d train / %d test videos, %d classes", root, *_counts(index))
    return index


def _counts(index: pd.DataFrame) -> tuple[int, int, int]:
    return (
        int((index["subset"] == "train").sum()),
        int((index["subset"] == "test").sum()),
        int(index["label"].nunique()),
    )


def extract_shard_csv(
    *,
    index: str | Path,
    root: str | Path,
    frames_root: str | Path,
    shard: int,
    n_shards: int,
    out: str | Path,
    short_side: int | None,
    fps: float | None,
    quality: int,
    workers: int = 1,
) -> pd.DataFrame:
    """Extract the frames of one shard's videos; write its manifest rows to `out`."""
    from timebalance.data.frames import extract_shard

    text = {"video": str, "class_name": str, "subset": str}
    table = pd.read_csv(index, dtype=text, keep_default_na=False)
    rows = extract_shard(
        table,
        root,
        frames_root,
        shard,
        n_shards,
        short_side=short_side,
        fps=fps,
        quality=quality,
        workers=workers,
    )
    io.write_text(rows.to_csv(index=False), out)
    bad = rows[~rows["status"].isin(USABLE_STATUSES)]
    log.info("shard %d/%d: %d videos, %d unusable", shard, n_shards, len(rows), len(bad))
    for _, row in bad.iterrows():
        log.warning("%s: %s (%s)", row["video"], row["status"], row["reason"])
    return rows


def merge_shards(
    *,
    shards: list[str | Path],
    out: str | Path,
    summary: str | Path,
    dataset: str,
    max_bad_fraction: float,
    min_frames: int,
    clip: tuple[int, str],
) -> dict:
    """Merge the shard manifests into `out` (videos below `min_frames` marked too_short),
    write what extraction made of the videos to `summary` (JSON) and print it: truncated,
    shorter than one clip (`clip`: frames and which clip, see workflow.config.longest_clip),
    dropped below min_frames, skipped. Printed to stderr (the rule's log) and stdout (the
    console)."""
    from timebalance.data.extraction_summary import describe, summarize

    table = merge_manifests(
        list(shards), out, max_bad_fraction=max_bad_fraction, min_frames=min_frames
    )
    frames, what = clip
    info = summarize(
        table,
        dataset=dataset,
        manifest_path=out,
        clip_frames=frames,
        clip_what=what,
        min_frames=min_frames,
    )
    io.write_text(json.dumps(info, indent=2) + "\n", summary)
    text = describe(info)
    print(text, file=sys.stderr, flush=True)  # the rule's log
    print(text, flush=True)  # the console
    return info


def training_videos(manifest: str | Path) -> pd.DataFrame:
    """Every usable training video (labels are carried along but unused by SSL stages)."""
    table = read_manifest(manifest)
    train = table[(table["subset"] == "train") & table["status"].isin(USABLE_STATUSES)]
    if train.empty:
        raise ValueError(f"{manifest} lists no usable training video")
    return train[["video_id", "label", "n_frames"]].sort_values("video_id").reset_index(drop=True)


def write_split_lists(
    *,
    manifest: str | Path,
    out_dir: str | Path,
    budget: str,
    seed: int,
    val_fraction: float,
    labeled_list: str | Path | None = None,
) -> dict:
    from timebalance.data.splits import make_splits, write_splits

    splits = make_splits(
        read_manifest(manifest),
        budget=budget,
        seed=seed,
        val_fraction=val_fraction,
        labeled_list=labeled_list,
    )
    return write_splits(splits, out_dir, budget=budget, seed=seed)


def synthesize(*, root: str | Path, settings: dict, listing: str | Path | None = None) -> None:
    """Generate the embedded synthetic dataset at `root` (UCF101 layout)."""
    from timebalance.data.synthetic import synthesize_dataset

    table = synthesize_dataset(root, **settings)
    if listing is not None:
        io.write_text(table.to_csv(index=False), listing)
    log.info("synthesized %d videos at %s", len(table), root)
