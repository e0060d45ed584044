"""Test helpers: write tiny real videos with the ffmpeg CLI and count what ffmpeg decodes.

They build their own command lines (not ``timebalance``'s) so the tests check the package
against an independent reference.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np


def make_video(
    path: Path,
    *,
    size: str = "32x24",
    n_frames: int = 20,
    rate: float = 25,
    codec: str = "mpeg4",
    args: tuple[str, ...] = (),
    vf: str | None = None,
) -> Path:
    """Encode ``n_frames`` of ffmpeg's moving test pattern to ``path`` (container from the
    suffix). ``args`` are extra output options (e.g. ``("-bf", "2")``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi"]
    cmd += ["-i", f"testsrc=size={size}:rate={rate}", "-frames:v", str(n_frames)]
    if vf:
        cmd += ["-vf", vf]
    cmd += ["-c:v", codec, "-pix_fmt", "yuv420p", *args, str(path.absolute())]
    subprocess.run(cmd, check=True, capture_output=True)
    return path


def decoded_frames(path: Path) -> int:
    """Frames ``ffmpeg -i X -f null -`` decodes (the last "frame=" of its progress report)."""
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(path.absolute()), "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    counts = re.findall(r"frame=\s*(\d+)", proc.stderr)
    return int(counts[-1]) if counts else 0


def truncate(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    """Copy the first ``fraction`` of the bytes of ``src`` to ``dst`` (a download cut short)."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


RAW_RGB = ("-f", "rawvideo", "-pix_fmt", "rgb24", "-")


def read_frames(path: Path, width: int, height: int) -> np.ndarray:
    """Decode every frame of ``path`` as T x H x W x 3 uint8 RGB (size as stored)."""
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path.absolute()), *RAW_RGB],
        capture_output=True,
        check=True,
    )
    return np.frombuffer(proc.stdout, np.uint8).reshape(-1, height, width, 3)
