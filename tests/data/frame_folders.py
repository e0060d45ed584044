"""Test helpers: tiny JPEG frame folders (written with PIL, not the package's code) and
frames manifests, in the layout of the contract: <root>/<video_id>/00001.jpg ..."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

MANIFEST_COLUMNS = [
    *("video", "video_id", "label", "class_name", "subset"),
    *("n_frames", "width", "height", "fps", "status", "reason"),
]


def frame_code(k: int) -> int:
    """Red level of (1-based) frame ``k`` of an "indexed" video: identifies the frame."""
    return (10 * k) % 250


def frame_image(k: int, width: int = 40, height: int = 32, static: bool = False) -> np.ndarray:
    """H x W x 3 uint8: red = frame code (0 for static videos), green = horizontal ramp (tells
    left from right crops), blue = vertical ramp."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[..., 0] = 0 if static else frame_code(k)
    img[..., 1] = (x * 255 // max(1, width - 1)).astype(np.uint8)
    img[..., 2] = (y * 255 // max(1, height - 1)).astype(np.uint8)
    return img


def write_frames(
    frames_root: Path,
    video_id: str,
    n_frames: int,
    *,
    width: int = 40,
    height: int = 32,
    static: bool = False,
) -> Path:
    """Write frames 00001.jpg .. of one video (4:4:4, quality 95: codes survive JPEG)."""
    out = Path(frames_root) / video_id
    out.mkdir(parents=True, exist_ok=True)
    for k in range(1, n_frames + 1):
        img = Image.fromarray(frame_image(k, width, height, static))
        img.save(out / f"{k:05d}.jpg", quality=95, subsampling=0)
    return out


def make_videos(
    frames_root: Path, n_frames: dict[str, int], *, labels: dict[str, int] | None = None, **kw
) -> pd.DataFrame:
    """Write a frame folder per video; return its split list (video_id, label, n_frames)."""
    rows = []
    for i, (vid, n) in enumerate(n_frames.items()):
        write_frames(frames_root, vid, n, **kw)
        rows.append({"video_id": vid, "label": (labels or {}).get(vid, i), "n_frames": n})
    return pd.DataFrame(rows, columns=["video_id", "label", "n_frames"])


def manifest_rows(
    counts: dict[str, tuple[int, int]], *, n_frames: int = 30, status: dict | None = None
) -> pd.DataFrame:
    """A frames manifest without frames: ``counts`` maps class name -> (train, test) videos;
    labels follow the sorted class names; ``status`` maps video_id -> status (else "ok")."""
    rows = []
    for label, name in enumerate(sorted(counts)):
        for subset, n in zip(("train", "test"), counts[name], strict=True):
            for j in range(n):
                vid = f"{name}/v_{name}_{subset}_g{j:02d}"
                st = (status or {}).get(vid, "ok")
                rows.append(
                    {
                        "video": f"{vid}.avi",
                        "video_id": vid,
                        "label": label,
                        "class_name": name,
                        "subset": subset,
                        "n_frames": 0 if st in ("missing", "corrupt", "empty") else n_frames,
                        "width": 40,
                        "height": 32,
                        "fps": 25.0,
                        "status": st,
                        "reason": "",
                    }
                )
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
