"""What frame extraction made of a dataset, in a few lines: how many videos are used as they
are, truncated (their decoded frames are used), shorter than one clip (their clips loop),
dropped below ``min_frames``, or skipped (no frame), with the manifest's path.

The frames_manifest rule writes it as JSON beside the manifest and prints it;
``python -m timebalance.data.extraction_summary [results]`` prints every dataset's again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path, PurePosixPath

import pandas as pd

from timebalance.data.manifest import NO_FRAME_STATUSES, TOO_SHORT, USABLE_STATUSES
from timebalance.workflow import paths as P

SHOWN = 3  # example videos listed per kind


def summarize(
    manifest: pd.DataFrame,
    *,
    dataset: str,
    manifest_path: str | Path,
    clip_frames: int,
    clip_what: str,
    min_frames: int,
) -> dict:
    """Counts (and a few example video ids) of each kind of video in a merged manifest.

    Args:
        clip_frames: frames the longest clip of any stage spans; a usable video with fewer
            frames is "shorter than one clip" (its clips wrap around, data/temporal.py).
        clip_what: which clip that is, for the message (e.g. "the pretraining window").
        min_frames: the dataset's min_frames (0: no video is dropped for its length).
    """
    status, n = manifest["status"].astype(str), manifest["n_frames"].astype("int64")
    usable = status.isin(USABLE_STATUSES)
    kinds = {
        "truncated": status == "truncated",
        "shorter_than_clip": usable & (n < clip_frames),
        "below_min_frames": status == TOO_SHORT,
        "skipped": status.isin(NO_FRAME_STATUSES),
    }
    out: dict = {
        "dataset": dataset,
        "manifest": str(manifest_path),
        "videos": len(manifest),
        "used": int(usable.sum()),
        "clip_frames": int(clip_frames),
        "clip_what": clip_what,
        "min_frames": int(min_frames),
        "by_status": {str(k): int(v) for k, v in sorted(status.value_counts().items())},
    }
    for kind, rows in kinds.items():
        out[kind] = int(rows.sum())
        shown = manifest[rows].head(SHOWN).itertuples()
        out[f"{kind}_examples"] = [
            f"{r.video} ({r.n_frames} frames)"
            if kind in ("shorter_than_clip", "below_min_frames")
            else f"{r.video}: {r.reason}"
            for r in shown
        ]
    return out


def describe(summary: dict) -> str:
    """The summary as console lines (the first names the dataset and the manifest)."""
    s = summary
    lines = [
        f"{s['dataset']}: {s['videos']} videos, {s['used']} used "
        f"(manifest {s['manifest']}: status and reason per video)"
    ]
    kinds = {
        "truncated": "truncated: damaged files, the frames decoded before the damage are used",
        "shorter_than_clip": (
            f"shorter than one clip ({s['clip_frames']} frames, {s['clip_what']}): used, "
            "their clips loop back to the first frame"
        ),
        "below_min_frames": (
            f"below min_frames {s['min_frames']}: dropped from the splits and pretraining"
        ),
        "skipped": "skipped: no frame (missing, corrupt or empty file)",
    }
    for kind, text in kinds.items():
        lines.append(f"  {s[kind]} {text}")
        lines += [f"      {example}" for example in s[f"{kind}_examples"]]
        if s[kind] > len(s[f"{kind}_examples"]):
            lines.append(f"      ... and {s[kind] - len(s[f'{kind}_examples'])} more")
    return "\n".join(lines)


def print_summaries(results: str | Path = P.R) -> int:
    """Print the extraction summary of every dataset under ``results``; the number found."""
    pattern = PurePosixPath(P.EXTRACTION_SUMMARY.format(dataset="*")).relative_to(P.R)
    paths = sorted(Path(results).glob(str(pattern)))
    for path in paths:
        print(describe(json.loads(path.read_text())))
    return len(paths)


def main(argv: list[str]) -> int:
    results = argv[1] if len(argv) > 1 else P.R
    if not print_summaries(results):
        print(f"no extraction summary under {results}/ yet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
