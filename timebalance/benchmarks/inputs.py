"""The videos the loader and extraction benchmarks read: UCF101-like clips generated with
ffmpeg, and the synthetic default (the workflow's own frames when they exist).

A :class:`VideoSet` pairs every encoded video with its extracted JPEG frames, so each loader
decodes the same clips from its own source: the video file (OpenCV, PyAV) or the frame folder
(ours, the JPEG-decode bound).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from timebalance.data.frames import extract_frames
from timebalance.data.manifest import read_manifest
from timebalance.workflow import paths as P

# UCF101's videos: 320x240 MPEG-4 part 2 (XviD/DivX) AVIs of ~7 s at 25 fps.
UCF_LIKE = {"width": 320, "height": 240, "seconds": 7.0, "fps": 25, "codec": "mpeg4", "q": 5}
# Alternating sources, each with temporal noise so consecutive frames differ (a static
# pattern would compress to almost nothing and decode unrealistically fast).
_SOURCES = ("testsrc=size={w}x{h}:rate={fps}", "mandelbrot=size={w}x{h}:rate={fps}")
_NOISE = "noise=alls=8:allf=t"


@dataclass(frozen=True)
class VideoSet:
    """Videos with their extracted frames.

    Attributes:
        name: what the set is ("ucf_like", "synthetic").
        videos: one row per video: video_id (its frame folder below ``frames_root``), label,
            n_frames (decoded frames = JPEG files), fps, path (the encoded video, absolute).
        frames_root: folder of the frame folders.
        info: how the set was made (source, size, codec, counts), for the JSON.
    """

    name: str
    videos: pd.DataFrame
    frames_root: Path
    info: dict = field(default_factory=dict)


def make_ucf_like_videos(
    out_dir: str | Path,
    n_videos: int,
    *,
    width: int = UCF_LIKE["width"],
    height: int = UCF_LIKE["height"],
    seconds: float = UCF_LIKE["seconds"],
    fps: int = UCF_LIKE["fps"],
) -> list[Path]:
    """Encode ``n_videos`` UCF101-like AVIs (MPEG-4 part 2, ``width`` x ``height``, ``seconds``
    at ``fps``) into ``out_dir``; sources alternate between ffmpeg's test pattern and a
    Mandelbrot zoom, with temporal noise."""
    if n_videos < 1:
        raise ValueError(f"n_videos must be >= 1, got {n_videos}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_videos):
        source = _SOURCES[i % len(_SOURCES)].format(w=width, h=height, fps=fps)
        path = (out_dir / f"v_Bench_g{i // 4 + 1:02d}_c{i % 4 + 1:02d}.avi").absolute()
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        cmd += ["-f", "lavfi", "-i", source, "-t", str(seconds), "-vf", _NOISE]
        cmd += ["-c:v", UCF_LIKE["codec"], "-q:v", str(UCF_LIKE["q"]), "-pix_fmt", "yuv420p"]
        proc = subprocess.run([*cmd, str(path)], capture_output=True, text=True, check=False)
        if proc.returncode:
            raise RuntimeError(f"ffmpeg could not write {path}: {proc.stderr.strip()[-500:]}")
        paths.append(path)
    return paths


def extract_set(
    name: str,
    videos: list[Path],
    frames_root: str | Path,
    *,
    short_side: int | None,
    quality: int,
    info: dict,
) -> VideoSet:
    """Extract every video's frames with the package's ``extract_frames`` (as the workflow's
    extract_frames rule does) into ``frames_root/<video stem>``."""
    frames_root = Path(frames_root)
    rows = []
    for label, path in enumerate(videos):
        result = extract_frames(path, frames_root / path.stem, short_side, None, quality)
        if result["status"] != "ok":
            raise RuntimeError(f"{path}: frame extraction says {result['status']}: {result}")
        rows.append(
            {
                "video_id": path.stem,
                "label": label,
                "n_frames": result["n_frames"],
                "fps": result["fps"],
                "path": str(Path(path).absolute()),
            }
        )
    table = pd.DataFrame(rows)
    info = {**info, "n_videos": len(table), "mean_frames": float(table["n_frames"].mean())}
    return VideoSet(name=name, videos=table, frames_root=frames_root, info=info)


def ucf_like_set(work_dir: str | Path, n_videos: int, *, short_side: int, quality: int) -> VideoSet:
    """Generate UCF101-like videos in ``work_dir`` and extract their frames beside them."""
    work_dir = Path(work_dir)
    videos = make_ucf_like_videos(work_dir / "videos", n_videos)
    info = {
        "source": "generated with ffmpeg (testsrc / mandelbrot + temporal noise)",
        **UCF_LIKE,
        "frames_short_side": short_side,
        "frames_quality": quality,
    }
    return extract_set(
        "ucf_like", videos, work_dir / "frames", short_side=short_side, quality=quality, info=info
    )


def _spread(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` rows spread evenly over ``table`` (sorted by video), so every class is drawn."""
    table = table.sort_values("video").reset_index(drop=True)
    step = max(1, len(table) // n)
    return table.iloc[::step].head(n).reset_index(drop=True)


def synthetic_set(
    work_dir: str | Path,
    n_videos: int,
    *,
    settings: dict,
    short_side: int | None,
    quality: int,
    dataset: str = "synthetic",
) -> VideoSet:
    """The synthetic default: ``n_videos`` of the workflow's own videos and frames
    (results/datasets/<dataset>, results/frames/<dataset>) when both exist, else a small set
    generated with ``settings`` (the config's ``datasets.<dataset>.synthetic``) in
    ``work_dir`` and extracted there."""
    root = Path(P.DATASET_ROOT.format(dataset=dataset))
    manifest = Path(P.MANIFEST.format(dataset=dataset))
    frames_root = Path(P.FRAMES_ROOT.format(dataset=dataset))
    if root.is_dir() and manifest.is_file() and frames_root.is_dir():
        table = read_manifest(manifest)
        table = table[table["status"] == "ok"]
        if len(table) >= n_videos:
            picked = _spread(table, n_videos)
            picked["path"] = [str((root / v).absolute()) for v in picked["video"]]
            info = {
                "source": f"the workflow's {root} and {frames_root}",
                "width": int(picked["width"].iloc[0]),
                "height": int(picked["height"].iloc[0]),
                "n_videos": len(picked),
                "mean_frames": float(picked["n_frames"].mean()),
            }
            cols = ["video_id", "label", "n_frames", "fps", "path"]
            return VideoSet(dataset, picked[cols], frames_root, info)
    from timebalance.data.synthetic import synthesize_dataset

    n_classes = int(settings.get("n_classes", 10))
    per_class = -(-n_videos // n_classes)
    made = synthesize_dataset(
        Path(work_dir) / "dataset",
        **{**settings, "n_groups": per_class + 1, "n_test_groups": 1, "clips_per_group": 1},
    )
    made = _spread(made[made["subset"] == "train"], n_videos)
    videos = [Path(work_dir) / "dataset" / v for v in made["video"]]
    info = {
        "source": "generated with timebalance.data.synthetic (no workflow frames found)",
        "width": int(settings.get("width", 64)),
        "height": int(settings.get("height", 48)),
    }
    return extract_set(
        dataset,
        videos,
        Path(work_dir) / "frames",
        short_side=short_side,
        quality=quality,
        info=info,
    )
