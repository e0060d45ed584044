"""Figure b: our frame extraction (``data.frames.extract_frames``, what the extract_frames rule
runs per video) against a bare decode of the same videos, ``ffmpeg -i X -f null -``.

Both run ffmpeg as a subprocess, so CPU seconds include the children's. Ours also probes the
video (ffprobe), scales the frames, encodes and writes one JPEG per frame and renames the
folder into place; ``ffprobe`` alone is timed too, to show its share.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import tempfile
from pathlib import Path

from timebalance.benchmarks.timing import interleaved, ratio, summarize
from timebalance.data.frames import extract_frames

_QUIET = ("-nostdin", "-hide_banner", "-loglevel", "error")


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")


def ffmpeg_null(video: Path) -> None:
    """Decode every frame of ``video`` and discard it."""
    _run(["ffmpeg", *_QUIET, "-i", f"file:{Path(video).absolute()}", "-f", "null", "-"])


def ffprobe(video: Path) -> None:
    """The probe our extraction starts with (streams and format as JSON)."""
    path = f"file:{Path(video).absolute()}"
    _run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", path])


def measure_extraction(
    videos: list[Path],
    *,
    short_side: int | None,
    quality: int,
    repeats: int,
    work_dir: str | Path | None = None,
) -> dict:
    """Time extracting ``videos`` (frames to a fresh folder each repeat) against decoding them
    with ``ffmpeg -f null``, and probing them.

    Args:
        videos: encoded videos (the loader benchmark's).
        short_side, quality: extraction settings (the config's ``frames`` block).
        repeats: timed repeats (interleaved; medians reported).
        work_dir: where the frames are written (a temporary folder under it, removed after).

    Returns:
        JSON-ready dict: settings, per variant timings in videos and frames, and the ratios
        (our throughput / ffmpeg -f null's, per CPU second and per wall second).
    """
    if not videos:
        raise ValueError("no video to extract")
    videos = [Path(v) for v in videos]
    n_frames = 0
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="extraction-") as tmp:
        out = Path(tmp)
        for k, v in enumerate(videos):  # also checks every video extracts cleanly
            result = extract_frames(v, out / f"check{k}", short_side, None, quality)
            if result["status"] != "ok":
                raise RuntimeError(f"{v}: extraction says {result['status']}: {result['reason']}")
            n_frames += result["n_frames"]
        shutil.rmtree(out)
        out.mkdir()
        counter = itertools.count()

        def ours() -> None:
            run = out / f"run{next(counter)}"
            for k, v in enumerate(videos):
                extract_frames(v, run / str(k), short_side, None, quality)

        def null() -> None:
            for v in videos:
                ffmpeg_null(v)

        def probe() -> None:
            for v in videos:
                ffprobe(v)

        fns = {"extract_frames": ours, "ffmpeg_null": null, "ffprobe": probe}
        # No warm-up round: the check above has read every video once already.
        samples = interleaved(fns, repeats=repeats, warmup=0, children=True)
    timings = {name: summarize(s, len(videos), "videos") for name, s in samples.items()}
    for t in timings.values():
        t["frames_per_cpu_s"] = n_frames / t["median_cpu_s"]
        t["frames_per_s"] = n_frames / t["median_wall_s"]
    ours_t, null_t = timings["extract_frames"], timings["ffmpeg_null"]
    return {
        "settings": {"short_side": short_side, "quality": quality, "fps": None},
        "n_videos": len(videos),
        "n_frames": n_frames,
        "timings": timings,
        "ratios": {
            "ours_throughput_vs_ffmpeg_null": ratio(
                null_t["median_cpu_s"], ours_t["median_cpu_s"], what="ffmpeg null / ours"
            ),
            "ffprobe_share_of_ours": ratio(
                timings["ffprobe"]["median_cpu_s"], ours_t["median_cpu_s"], what="ffprobe / ours"
            ),
        },
        "ratios_wall": {
            "ours_throughput_vs_ffmpeg_null": ratio(
                null_t["median_wall_s"], ours_t["median_wall_s"], what="ffmpeg null / ours"
            ),
            "ffprobe_share_of_ours": ratio(
                timings["ffprobe"]["median_wall_s"],
                ours_t["median_wall_s"],
                what="ffprobe / ours",
            ),
        },
    }
