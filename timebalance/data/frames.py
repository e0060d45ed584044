"""Decode videos to JPEG frame folders with ffmpeg, sharded, with a manifest of what happened.

Layout (read by ``data/clips.py``)::

    <frames_root>/<video_id>/00001.jpg, 00002.jpg, ...   1-based, contiguous
    <frames_root>/<video_id>/meta.json                    written last: the folder is complete

``video_id`` is the index's ``video`` column without its extension. Each folder is decoded into
``<parent>/.<name>.XXXXXXXX.tmp`` and renamed into place only on success, so a crash never
leaves a half-written folder under its final name and a re-run redoes only missing videos
(``timebalance.io.write_dir``). The manifest of the results is ``data/manifest.py``.

Every decoded frame becomes one JPEG (``-fps_mode passthrough`` plus renumbered timestamps), so
``n_frames`` equals what ``ffmpeg -i X -f null -`` decodes: XviD/DivX AVIs with packed B-frames
give one frame fewer than their packet count, H.264 MP4s with negative start timestamps or edit
lists lose or duplicate nothing. Non-square pixels are resampled to the display aspect.

Status of a video (the manifest's ``status``; ``reason`` says why):

* ``ok``: decoded cleanly (``reason`` may quote decoder messages that did not lose frames);
* ``truncated``: >= 1 frame decoded but the file ends early or is damaged (ffmpeg reports
  "partial file", "Invalid data", corrupt packets, a non-zero exit, or an AVI decodes < 90% of
  the frames its header declares). The frames decoded are KEPT and ``n_frames`` counts them: they
  are real frames, the row is reported, ``merge_manifests`` does not count it as bad, and the
  consumer decides whether to train on it (the contract uses only "ok" rows);
* ``corrupt``: ffprobe/ffmpeg cannot open or decode it (no frame);
* ``empty``: zero-byte file, no video stream, or no frame and no error;
* ``missing``: no such file.
Bad input never raises; only programmer errors (bad arguments, bad index) and a full disk
(ffmpeg's "No space left on device" / "Disk quota exceeded", or a failed write of the folder:
an OSError naming the path, so the shard fails and a rerun redoes the video) do.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path, PurePosixPath

import ffmpeg
import pandas as pd
from PIL import Image

from timebalance import io
from timebalance.data.manifest import MANIFEST_COLUMNS, empty_manifest

META_NAME = "meta.json"
META_VERSION = 1

# Lower-case stderr fragments that mean frames were lost (the rest is reported, not judged).
_TRUNCATION_MARKERS = (
    "partial file",
    "invalid data found",
    "moov atom not found",
    "packet corrupt",
    "corrupt input packet",
    "error while decoding stream",
    "error splitting the input",
    "invalid nal unit size",
    "truncat",
    "end of file",
    "unexpected eof",
)


# Lower-case stderr fragments of a failed write (ENOSPC, EDQUOT): the shard fails instead.
_DISK_FULL = ("no space left on device", "disk quota exceeded")


def _ffmpeg(args: list[str]) -> subprocess.CompletedProcess:
    """Run one ffmpeg decode (its own function so tests can stand in for the frame writer)."""
    return subprocess.run(args, capture_output=True, stdin=subprocess.DEVNULL, check=False)


@cache
def _fps_mode_option() -> str:
    """``-vsync`` became ``-fps_mode`` in ffmpeg 5.1 (and ``-vsync`` is deprecated there)."""
    out = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    m = re.match(r"ffmpeg version n?(\d+)\.(\d+)", out)
    return "vsync" if m and (int(m[1]), int(m[2])) < (5, 1) else "fps_mode"


def _even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def _fraction(text: str | None) -> float:
    """ "30000/1001" -> 29.97, "2:1" -> 2.0; "0/0", "0:1", "N/A", None -> 0."""
    try:
        num, _, den = (text or "").replace(":", "/").partition("/")
        return float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return 0.0


def _rotation(stream: dict) -> int:
    """Display rotation in degrees (ffmpeg auto-rotates when decoding)."""
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return int(float(side["rotation"]))
    return int(float(stream.get("tags", {}).get("rotate", 0)))


def output_size(
    width: int, height: int, sar: float, short_side: int | None
) -> tuple[int, int] | None:
    """Frame size to scale to, or None to keep the decoded frames as they are.

    Square pixels: resize so the short side is ``short_side`` (aspect kept, even sizes).
    Non-square pixels (``sar`` != 1) are resampled to the display aspect, keeping the height
    when ``short_side`` is None.
    """
    display_w = width * (sar or 1.0)
    if short_side is None:
        return None if abs(display_w - width) < 0.5 else (_even(display_w), _even(height))
    if display_w <= height:
        return short_side + short_side % 2, _even(short_side * height / display_w)
    return _even(short_side * display_w / height), short_side + short_side % 2


def _result(status: str, reason: str, n=0, width=0, height=0, fps=float("nan")) -> dict:
    return {
        "n_frames": n,
        "width": width,
        "height": height,
        "fps": fps,
        "status": status,
        "reason": reason,
    }


def _last_line(stderr: str) -> str:
    """The most telling line of ffmpeg's stderr: the first that says data was lost, else the
    last one."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    lost = [ln for ln in lines if any(m in ln.lower() for m in _TRUNCATION_MARKERS)]
    return (lost or lines or ["no message"])[0 if lost else -1]


def _probe(path: Path) -> tuple[dict | None, dict]:
    """(first video stream or None, format) from ffprobe; raises ffmpeg.Error if unreadable."""
    info = ffmpeg.probe(f"file:{path}", v="error")
    videos = [s for s in info.get("streams", []) if s.get("codec_type") == "video"]
    # Cover art in audio files is a "video" stream with attached_pic; it is not a video.
    videos = [s for s in videos if not s.get("disposition", {}).get("attached_pic")]
    return (videos[0] if videos else None), info.get("format", {})


def _params(short_side: int | None, fps: float | None, quality: int) -> dict:
    return {"short_side": short_side, "target_fps": fps, "quality": quality}


def _validate(short_side: int | None, fps: float | None, quality: int) -> None:
    if short_side is not None and short_side < 2:
        raise ValueError(f"short_side={short_side}: must be None or >= 2 pixels")
    if fps is not None and not fps > 0:
        raise ValueError(f"fps={fps}: must be None (keep every frame) or > 0")
    if not 1 <= quality <= 31:
        raise ValueError(f"quality={quality}: JPEG -q:v ranges over 1 (best) .. 31")


class _NoFrame(Exception):
    """Raised inside the folder being filled when ffmpeg wrote no frame: nothing is installed."""

    def __init__(self, result: dict) -> None:
        super().__init__(result["reason"])
        self.result = result


def extract_frames(
    video: str | os.PathLike,
    out_dir: str | os.PathLike,
    short_side: int | None = None,
    fps: float | None = None,
    quality: int = 2,
) -> dict:
    """Decode ``video`` to ``out_dir/00001.jpg ...`` and report what happened.

    Args:
        video: the video file (any path; names may start with '-').
        out_dir: the frame folder to (re)create; written atomically.
        short_side: resize so the shorter side has this many pixels (None: keep the size).
        fps: resample to this frame rate (None: keep every decoded frame).
        quality: JPEG quality as ffmpeg's ``-q:v`` (1 best .. 31 worst).

    Returns:
        dict with ``n_frames`` (frames written), ``width``, ``height`` (of the written frames),
        ``fps`` (of the source), ``status`` (see the module doc) and ``reason``. Videos that
        yield no frame leave no ``out_dir`` (an older one is removed: it would be stale).
    """
    _validate(short_side, fps, quality)
    path = Path(video).absolute()  # never starts with '-', so ffmpeg cannot take it for an option
    out_dir = Path(out_dir).absolute()
    result = _decode(path, out_dir, short_side, fps, quality)
    if result["n_frames"] == 0 and out_dir.exists():
        shutil.rmtree(out_dir)
    return result


def _decode(path: Path, out_dir: Path, short_side, fps, quality) -> dict:
    if not path.exists():
        return _result("missing", f"no such file: {path}")
    if not path.is_file():
        return _result("missing", f"not a regular file: {path}")
    if path.stat().st_size == 0:
        return _result("empty", "zero-byte file")
    try:
        stream, fmt = _probe(path)
    except ffmpeg.Error as e:
        return _result("corrupt", f"ffprobe: {_last_line(e.stderr.decode(errors='replace'))}")
    if stream is None:
        return _result("empty", f"no video stream (format {fmt.get('format_name', '?')})")
    src_fps = _fraction(stream.get("avg_frame_rate")) or _fraction(stream.get("r_frame_rate"))
    width, height = int(stream.get("width", 0)), int(stream.get("height", 0))
    if _rotation(stream) % 180:
        width, height = height, width
    sar = _fraction(stream.get("sample_aspect_ratio")) or 1.0
    size = output_size(width, height, sar, short_side)

    result: dict = {}

    def fill(tmp: Path) -> None:
        result.update(_run_ffmpeg(path, tmp, stream, fmt, src_fps, size, fps, quality))
        meta = {"version": META_VERSION, "video": str(path), **result}
        meta.update(_params(short_side, fps, quality))
        io.write_text(json.dumps(meta, indent=1) + "\n", tmp / META_NAME)

    try:
        io.write_dir(out_dir, fill)
    except _NoFrame as nothing:
        return nothing.result
    return result


def _run_ffmpeg(path: Path, tmp: Path, stream, fmt, src_fps, size, fps, quality) -> dict:
    """Decode into the empty folder ``tmp``; the manifest fields of the result."""
    v = ffmpeg.input(f"file:{path}")["v:0"]
    if fps is not None:
        v = v.filter("fps", fps=fps)
    if size is not None:
        v = v.filter("scale", size[0], size[1]).filter("setsar", 1)
    # Renumber timestamps 0, 1, 2 ... (ms): frames with missing or non-increasing
    # timestamps (negative-start H.264, odd MKVs) are neither dropped nor duplicated.
    v = v.filter("settb", "1/1000").filter("setpts", "N")
    pattern = str(tmp).replace("%", "%%") + "/%05d.jpg"
    args = (
        v.output(
            f"file:{pattern}",
            f="image2",
            start_number=1,
            enc_time_base="1/1000",
            **{_fps_mode_option(): "passthrough", "q:v": quality},
        )
        .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
        .overwrite_output()
        .compile()
    )
    proc = _ffmpeg(args)
    stderr = proc.stderr.decode(errors="replace")
    full = [ln.strip() for ln in stderr.splitlines() if any(m in ln.lower() for m in _DISK_FULL)]
    if full:
        # The disk, not the video, failed: never record it as "truncated" or "corrupt". The
        # shard fails (write_dir names the folder); rerun once there is space.
        raise OSError(errno.ENOSPC, f"ffmpeg could not write the frames of {path}: {full[0]}")
    frames = sorted(p.name for p in tmp.glob("*.jpg"))
    n = len(frames)
    if n == 0:
        if proc.returncode or stderr.strip():
            raise _NoFrame(
                _result("corrupt", f"no frame decoded: {_last_line(stderr)}", fps=src_fps)
            )
        raise _NoFrame(_result("empty", "no frame decoded and no error", fps=src_fps))
    if frames[-1] != f"{n:05d}.jpg":
        raise RuntimeError(f"ffmpeg wrote non-contiguous frames for {path} into {tmp}")
    status, reason = _judge(stderr, proc.returncode, n, stream, fmt, src_fps, fps)
    with Image.open(tmp / frames[0]) as im:
        out_w, out_h = im.size
    return _result(status, reason, n, out_w, out_h, src_fps)


def _judge(stderr, returncode, n, stream, fmt, src_fps, fps) -> tuple[str, str]:
    """("ok" | "truncated", reason) for a video that yielded ``n`` >= 1 frames."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    lost = [ln for ln in lines if any(m in ln.lower() for m in _TRUNCATION_MARKERS)]
    if returncode:
        return "truncated", f"ffmpeg exit {returncode} after {n} frames: {_last_line(stderr)}"
    if lost:
        return "truncated", f"{n} frames decoded, then: {lost[0]}"
    # AVI headers declare the real frame count (MP4 edit lists may legitimately hide frames).
    declared = int(stream.get("nb_frames", 0) or 0) if "avi" in fmt.get("format_name", "") else 0
    if declared and fps and src_fps:
        declared = round(declared * fps / src_fps)
    if declared and n < 0.9 * declared - 2:
        return "truncated", f"decoded {n} of the {declared} frames the AVI header declares"
    return "ok", f"decoder messages (no frame lost): {lines[0]}" if lines else ""


# ---------------------------------------------------------------------------------------------
# Shards and manifests


def video_id_of(video: str) -> str:
    """The index's ``video`` (relative POSIX path) without its extension."""
    p = PurePosixPath(video)
    if p.is_absolute() or ".." in p.parts or not p.name:
        raise ValueError(
            f"video {video!r}: index paths must be relative to the dataset root, without '..'"
        )
    return str(p.with_suffix("")) if p.suffix else str(p)


def shard_of(video_id: str, n_shards: int) -> int:
    """Shard (0..n_shards-1) of a video: a fixed hash of its id, so the assignment does not
    depend on other videos, the index order or PYTHONHASHSEED."""
    if n_shards < 1:
        raise ValueError(f"n_shards={n_shards}: must be >= 1")
    return int(hashlib.sha1(video_id.encode("utf-8")).hexdigest()[:8], 16) % n_shards


def _reuse(out_dir: Path, params: dict) -> dict | None:
    """The recorded result of a complete earlier extraction with the same parameters."""
    try:
        meta = json.loads((out_dir / META_NAME).read_text())
    except (OSError, ValueError):
        return None
    if meta.get("version") != META_VERSION or any(meta.get(k) != v for k, v in params.items()):
        return None
    if not (out_dir / f"{meta['n_frames']:05d}.jpg").is_file():
        return None
    return {k: meta[k] for k in ("n_frames", "width", "height", "fps", "status", "reason")}


def extract_shard(
    index: pd.DataFrame,
    root: str | os.PathLike,
    frames_root: str | os.PathLike,
    shard: int,
    n_shards: int,
    *,
    short_side: int | None,
    fps: float | None,
    quality: int = 2,
    skip_existing: bool = True,
    workers: int = 1,
) -> pd.DataFrame:
    """Extract the frames of the index's videos that fall in ``shard`` (see ``shard_of``).

    Args:
        index: columns video (relative to ``root``), label, class_name, subset.
        root: the directory the ``video`` paths are relative to.
        frames_root: frames go to ``frames_root/<video_id>/``.
        skip_existing: reuse folders whose meta.json records the same parameters.
        workers: videos decoded at once (threads driving ffmpeg subprocesses).

    Returns:
        manifest rows (``MANIFEST_COLUMNS``) of this shard, sorted by video.
    """
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard={shard}: must be in 0..{n_shards - 1} (n_shards={n_shards})")
    missing = {"video", "label", "class_name", "subset"} - set(index.columns)
    if missing:
        raise ValueError(f"index lacks columns {sorted(missing)}; see data/index.read_index")
    _validate(short_side, fps, quality)
    rows = index[["video", "label", "class_name", "subset"]].copy()
    rows["video_id"] = [video_id_of(v) for v in rows["video"]]
    dup = rows["video_id"][rows["video_id"].duplicated()]
    if len(dup):
        raise ValueError(f"index has videos with the same id (path minus extension): {list(dup)}")
    rows = rows[[shard_of(v, n_shards) == shard for v in rows["video_id"]]]
    rows = rows.sort_values("video", kind="stable").reset_index(drop=True)
    root, frames_root = Path(root).absolute(), Path(frames_root).absolute()
    params = _params(short_side, fps, quality)

    def one(row) -> dict:
        out_dir = frames_root / row.video_id
        found = _reuse(out_dir, params) if skip_existing else None
        return found or extract_frames(root / row.video, out_dir, short_side, fps, quality)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(one, rows.itertuples(index=False)))
    out = pd.concat([rows, pd.DataFrame(results, index=rows.index)], axis=1)
    return out.reindex(columns=MANIFEST_COLUMNS) if len(out) else empty_manifest()
