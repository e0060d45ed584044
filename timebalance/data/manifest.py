"""The frames manifest: one row per video of the index with what frame extraction made of it
(``MANIFEST_COLUMNS``); shards are merged into one manifest, and a dataset fails when too
many of its videos are unusable.

``status`` is one of ``STATUSES`` (frames.py says when each is given); rows whose status is
in ``USABLE_STATUSES`` ("ok", and "truncated": the frames decoded before the damage are kept
and ``n_frames`` counts them) are the videos training and evaluation may use. Merging may
mark usable videos with fewer than a dataset's ``min_frames`` frames "too_short": they keep
their frames but leave the splits and pretraining, and are not counted as bad.
"""

from __future__ import annotations

import os

import pandas as pd

from timebalance import io

MANIFEST_COLUMNS = [
    *("video", "video_id", "label", "class_name", "subset"),
    *("n_frames", "width", "height", "fps", "status", "reason"),
]
STATUSES = ("ok", "missing", "corrupt", "empty", "truncated", "too_short")
USABLE_STATUSES = frozenset({"ok", "truncated"})  # not counted as bad by merge_manifests
NO_FRAME_STATUSES = frozenset({"missing", "corrupt", "empty"})  # skipped: nothing decoded
TOO_SHORT = "too_short"  # decoded, but below min_frames: dropped on purpose, not bad


class ExtractionError(RuntimeError):
    """Too many videos of a dataset could not be decoded (see ``merge_manifests``)."""


def empty_manifest() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in MANIFEST_COLUMNS})


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest CSV; text stays text (a class called "NA" is not a missing value)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = set(MANIFEST_COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"{path}: not a frame manifest, lacks columns {sorted(missing)}")
    for col in ("label", "n_frames", "width", "height"):
        df[col] = pd.to_numeric(df[col]).astype("int64")
    df["fps"] = pd.to_numeric(df["fps"], errors="coerce")
    return df


def write_manifest_atomic(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``df`` as CSV (manifest columns first), atomically through timebalance.io."""
    cols = [c for c in MANIFEST_COLUMNS if c in df.columns]
    cols += [c for c in df.columns if c not in cols]
    io.write_text(df[cols].to_csv(index=False), path)


def merge_manifests(
    parts: list[pd.DataFrame | str | os.PathLike],
    out_csv: str | os.PathLike,
    *,
    max_bad_fraction: float,
    min_frames: int = 0,
) -> pd.DataFrame:
    """Concatenate shard manifests, sort by video and write ``out_csv`` atomically.

    Usable videos with fewer than ``min_frames`` frames get status "too_short" (their reason
    says how many frames they have); 0 keeps every video (short clips loop, data/temporal.py).

    Raises:
        ExtractionError: more than ``max_bad_fraction`` of the videos have no frame (status
            missing, corrupt or empty; the message names them and why); nothing is written.
        ValueError: a video appears in two parts, or there are no videos at all.
    """
    frames = [p if isinstance(p, pd.DataFrame) else read_manifest(p) for p in parts]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise ValueError(f"no manifest rows to merge into {out_csv} ({len(parts)} parts)")
    df = pd.concat(frames, ignore_index=True)
    dup = df["video"][df["video"].duplicated()]
    if len(dup):
        raise ValueError(f"videos in more than one shard manifest: {sorted(set(dup))[:20]}")
    df = df.sort_values("video", kind="stable").reset_index(drop=True)
    short = df["status"].isin(USABLE_STATUSES) & (df["n_frames"].astype("int64") < min_frames)
    if short.any():
        df.loc[short, "reason"] = [
            f"{n} frames, below min_frames {min_frames}: not in the splits (extraction: {st})"
            for n, st in zip(df.loc[short, "n_frames"], df.loc[short, "status"], strict=True)
        ]
        df.loc[short, "status"] = TOO_SHORT
    bad = df[~df["status"].isin(USABLE_STATUSES | {TOO_SHORT})]
    if len(bad) > max_bad_fraction * len(df):
        shown = "\n".join(
            f"  {r.video}: {r.status} ({r.reason})" for r in bad.head(20).itertuples()
        )
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise ExtractionError(
            f"{len(bad)} of {len(df)} videos could not be decoded ({len(bad) / len(df):.1%} > "
            f"max_bad_fraction {max_bad_fraction:.1%}):\n{shown}{more}\nFix or remove these "
            "files, or raise max_bad_fraction in the config."
        )
    write_manifest_atomic(df, out_csv)
    return df
