"""Figure a: training clips per CPU second of our ClipDataset against other ways to load the
same clips.

Every loader produces the same clips (the frame indices our ClipDataset draws for item ``i`` of
epoch ``e``) and passes them through the same ``ClipAugment`` with the same generator, so the
loaders differ only in where the frames come from:

- ``ours``: ``ClipDataset[i]``: the needed extracted JPEGs, read and decoded (batched
  libjpeg-turbo), then augmented;
- ``opencv_from_start``: the TimeBalance authors' loader: ``cv2.VideoCapture`` on the video,
  ``read()`` every frame from frame 0 up to the clip's last one;
- ``pyav_pytorchvideo``: pytorchvideo's ``EncodedVideo`` (decoder "pyav") and ``get_clip``
  over the clip's time span (it returns float frames; they are cast back to uint8);
- ``pyav_seek``: PyAV directly: seek to the keyframe before the clip, decode to its end;
- ``jpeg_simplejpeg`` / ``jpeg_torchvision``: only the needed JPEGs, decoded with simplejpeg
  (one call per frame) or torchvision's batched ``decode_jpeg``; the faster is the bound.

Each loader is also timed without the augmentation ("decode_only": for ours, ``read_frames``),
the augmentation alone on frames decoded beforehand ("augment_only"), and each of its
operations on one clip ("augment_ops_ms"): where the time of a training clip goes.

Throughput is clips per CPU second of this process, with one intra-op thread (a DataLoader
worker's setting): clips per second of one worker core. Wall-clock figures are kept beside.
"""

from __future__ import annotations

import copy
import importlib
import statistics
import warnings
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
import torchvision.transforms.v2.functional as F
from torchvision.io import ImageReadMode, decode_jpeg, read_file

from timebalance.benchmarks.inputs import VideoSet
from timebalance.benchmarks.timing import interleaved, ratio, summarize
from timebalance.data.clips import ClipDataset, read_frames
from timebalance.data.transforms import (
    COLOUR_MODES,
    ClipAugment,
    ColourAffine,
    adjust_hue,
    frame_means,
    planar_float,
)

LOADERS = (
    "ours",
    "opencv_from_start",
    "pyav_pytorchvideo",
    "pyav_seek",
    "jpeg_simplejpeg",
    "jpeg_torchvision",
)
JPEG_LOADERS = ("jpeg_simplejpeg", "jpeg_torchvision")  # the bound: the faster of the two
# The acceptance figures: ours >= 10x OpenCV-from-start and >= 3x PyAV per core, and
# >= 70% of the JPEG-decode bound.
TARGETS = {"vs_opencv_from_start": 10.0, "vs_pyav_pytorchvideo": 3.0, "share_of_jpeg_bound": 0.7}

Clip = tuple[int, int, np.ndarray]  # (epoch, item, frame indices)


def optional_module(name: str) -> ModuleType | str:
    """The module, or why it cannot be imported (the loader that needs it is then skipped
    and the JSON says why)."""
    try:
        return importlib.import_module(name)
    except Exception as err:  # an optional dependency may fail in any way on import
        return f"{type(err).__name__}: {err}"


def _unique(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, inverse = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
    return unique, inverse.reshape(-1)


def _hwc_frames(arrays: list[np.ndarray], inverse: np.ndarray) -> torch.Tensor:
    """T x H x W x 3 uint8 arrays -> T' x 3 x H x W (the layout ClipAugment takes), gathered
    in numpy as our read_frames does (torch's index on the channels-last view is slow)."""
    return torch.from_numpy(np.stack(arrays)[inverse]).permute(0, 3, 1, 2)


# ------------------------------------------------------------------ frame sources
def opencv_from_start(cv2: ModuleType, path: str, indices: np.ndarray) -> torch.Tensor:
    """The frames at ``indices`` (0-based) as the authors' loader reads them: a fresh
    ``cv2.VideoCapture`` and ``read()`` of every frame from 0 to the last one needed."""
    unique, inverse = _unique(indices)
    wanted, last = set(unique.tolist()), int(unique[-1])
    got: dict[int, np.ndarray] = {}
    cap = cv2.VideoCapture(path)
    try:
        for k in range(last + 1):
            ok, bgr = cap.read()
            if not ok:
                raise ValueError(f"{path}: OpenCV decoded {k} frames, the clip needs {last + 1}")
            if k in wanted:
                got[k] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()
    return _hwc_frames([got[k] for k in unique.tolist()], inverse)


def pyav_pytorchvideo(
    encoded_video: type, path: str, indices: np.ndarray, fps: Fraction
) -> torch.Tensor:
    """The frames at ``indices`` through pytorchvideo's ``EncodedVideo`` with PyAV: one
    ``get_clip`` over [first, last + 1) frames in seconds; float frames cast to uint8."""
    unique, inverse = _unique(indices)
    first, last = int(unique[0]), int(unique[-1])
    video = encoded_video.from_path(path, decode_audio=False, decoder="pyav")
    try:
        clip = video.get_clip(Fraction(first) / fps, Fraction(last + 1) / fps)["video"]
    finally:
        video.close()
    if clip is None or clip.shape[1] != last - first + 1:
        got = 0 if clip is None else clip.shape[1]
        raise ValueError(f"{path}: pytorchvideo returned {got} frames for {first}..{last}")
    frames = clip[:, torch.from_numpy(unique - first)].permute(1, 0, 2, 3).to(torch.uint8)
    return frames[torch.from_numpy(inverse)]


def pyav_seek(av: ModuleType, path: str, indices: np.ndarray, fps: Fraction) -> torch.Tensor:
    """The frames at ``indices`` with PyAV directly: seek to the keyframe at or before the
    first frame needed, decode up to the last one."""
    unique, inverse = _unique(indices)
    wanted, first, last = set(unique.tolist()), int(unique[0]), int(unique[-1])
    got: dict[int, np.ndarray] = {}
    with av.open(path) as container:
        stream = container.streams.video[0]
        base, start = Fraction(stream.time_base), stream.start_time or 0
        container.seek(start + int(Fraction(first) / fps / base), stream=stream, backward=True)
        for frame in container.decode(stream):
            k = round((frame.pts - start) * base * fps)
            if k > last:
                break
            if k in wanted:
                got[k] = frame.to_ndarray(format="rgb24")
    if len(got) != len(wanted):
        raise ValueError(f"{path}: PyAV decoded {sorted(got)} of the frames {sorted(wanted)}")
    return _hwc_frames([got[k] for k in unique.tolist()], inverse)


def jpeg_simplejpeg(simplejpeg: ModuleType, frames_dir: Path, indices: np.ndarray) -> torch.Tensor:
    """The needed extracted JPEGs, each read and decoded once with simplejpeg."""
    unique, inverse = _unique(indices)
    arrays = [
        simplejpeg.decode_jpeg((frames_dir / f"{k + 1:05d}.jpg").read_bytes(), colorspace="RGB")
        for k in unique.tolist()
    ]
    return _hwc_frames(arrays, inverse)


def jpeg_torchvision(frames_dir: Path, indices: np.ndarray) -> torch.Tensor:
    """The needed extracted JPEGs, read and decoded in one batched ``decode_jpeg`` call."""
    unique, inverse = _unique(indices)
    with warnings.catch_warnings():  # torchvision >= 0.29 warns on every image-io call
        warnings.filterwarnings("ignore", "The image decoding", DeprecationWarning)
        data = [read_file(str(frames_dir / f"{k + 1:05d}.jpg")) for k in unique.tolist()]
        return torch.stack(decode_jpeg(data, mode=ImageReadMode.RGB))[torch.from_numpy(inverse)]


# ------------------------------------------------------------------ the clips
class _RecordingClips(ClipDataset):
    """ClipDataset that remembers the frame indices of the last item it loaded."""

    last_indices: np.ndarray

    def frames(self, index: int, indices: np.ndarray) -> torch.Tensor:
        self.last_indices = np.asarray(indices).copy()
        return super().frames(index, indices)


def clip_plan(dataset_args: dict, n_videos: int, clips_per_video: int) -> list[Clip]:
    """(epoch, item, frame indices) of every clip: our ClipDataset's own draws for items
    0..n_videos-1 of epochs 0..clips_per_video-1."""
    recorder = _RecordingClips(**dataset_args)
    plan = []
    for epoch in range(clips_per_video):
        recorder.set_epoch(epoch)
        for i in range(n_videos):
            recorder[i]
            plan.append((epoch, i, recorder.last_indices))
    return plan


def dataset_args(videos: VideoSet, clip: dict, seed: int) -> dict:
    """Our ClipDataset's arguments for these videos and clip settings (training mode)."""
    return {
        "items": videos.videos[["video_id", "label", "n_frames"]],
        "frames_root": videos.frames_root,
        "size": clip["crop_size"],
        "clip_len": clip["clip_len"],
        "stride": clip["stride"],
        "train": True,
        "seed": seed,
        "augment": ClipAugment(
            clip["crop_size"], scale=tuple(clip["crop_scale"]), colour=clip["colour"]
        ),
    }


def augment_profile(augment: ClipAugment, frames: torch.Tensor, *, repeats: int) -> dict:
    """Median CPU milliseconds of each operation of ``augment`` on one decoded clip (uint8
    T x 3 x H x W), in both colour modes, each op applied unconditionally at a mid-range
    strength: where the augmentation's time goes."""
    top, left = frames.shape[-2] // 8, frames.shape[-1] // 8
    h, w = frames.shape[-2] - 2 * top, frames.shape[-1] - 2 * left
    size = [augment.size, augment.size]
    cropped = F.resized_crop(frames, top, left, h, w, size, antialias=True)
    x = cropped.float().div(255)
    planar = planar_float(cropped)
    means = frame_means(planar)
    mild = (0.2, 0.2, 0.2, 0.05)

    def affine() -> ColourAffine:
        colour = ColourAffine(planar.shape[1])
        colour.jitter(mild, torch.Generator().manual_seed(0), means)
        colour.greyscale()
        return colour

    built = affine()
    ops: dict[str, dict[str, Callable[[], object]]] = {
        "fused": {
            "resized_crop": lambda: F.resized_crop(frames, top, left, h, w, size, antialias=True),
            "planar_float": lambda: planar_float(cropped),
            "frame_means": lambda: frame_means(planar),
            "affine_build": affine,
            "affine_apply": lambda: built.apply(planar, augment.normalise),
        },
        "torchvision": {
            "resized_crop": lambda: F.resized_crop(frames, top, left, h, w, size, antialias=True),
            "to_float": lambda: cropped.float().div_(255),
            "brightness": lambda: F.adjust_brightness(x, 1.2),
            "contrast": lambda: F.adjust_contrast(x, 1.2),
            "saturation": lambda: F.adjust_saturation(x, 1.2),
            "hue": lambda: adjust_hue(x, 0.05),
            "greyscale": lambda: F.rgb_to_grayscale(x, num_output_channels=3),
            "normalise": lambda: augment.normalise(x).permute(1, 0, 2, 3).contiguous(),
        },
    }
    fns = {f"{mode}/{op}": fn for mode, table in ops.items() for op, fn in table.items()}
    samples = interleaved(fns, repeats=repeats)
    out: dict = {"mode": augment.colour}
    for mode, table in ops.items():
        out[mode] = {
            op: 1000 * statistics.median(t.cpu_s for t in samples[f"{mode}/{op}"]) for op in table
        }
    # How often each colour op runs per clip with this augmentation's probabilities.
    out["applied_per_clip"] = {"jitter": augment.jitter_p, "greyscale": augment.grey_p}
    return out


def measure_loader(
    videos: VideoSet,
    clip: dict,
    *,
    clips_per_video: int,
    repeats: int,
    seed: int = 0,
) -> dict:
    """Time every loader on the same clips, with the augmentation (a training clip) and
    without it (decode only).

    Args:
        videos: the encoded videos and their extracted frames.
        clip: crop_size, crop_scale, clip_len, stride (as workflow.config.clips gives them).
        clips_per_video: clips drawn per video (one per epoch); a timed repeat loads
            ``len(videos) * clips_per_video`` clips.
        repeats: timed repeats per loader (interleaved; medians reported).

    Returns:
        JSON-ready dict: the inputs; per loader the timings (``summarize``) of a training
        clip ("pipelines") and of its decoding alone ("decode_only"); the augmentation alone
        and per operation; the ratios per CPU second ("ratios") and per wall second.
    """
    table = videos.videos.reset_index(drop=True)
    args = dataset_args(videos, clip, seed)
    ours = ClipDataset(**args)
    plan = clip_plan(args, len(table), clips_per_video)
    augment: ClipAugment = args["augment"]
    paths = table["path"].astype(str).tolist()
    ids = table["video_id"].astype(str).tolist()
    fps = [Fraction(float(f)).limit_denominator(1001) for f in table["fps"]]
    dirs = [videos.frames_root / v for v in ids]

    sources: dict[str, Callable[[int, np.ndarray], torch.Tensor]] = {
        "ours": lambda i, idx: read_frames(dirs[i], idx, video=ids[i])
    }
    modules = {
        "opencv_from_start": "cv2",
        "pyav_pytorchvideo": "pytorchvideo.data.encoded_video",
        "pyav_seek": "av",
        "jpeg_simplejpeg": "simplejpeg",
    }
    loaded = {name: optional_module(module) for name, module in modules.items()}
    unavailable = {name: m for name, m in loaded.items() if isinstance(m, str)}
    if not isinstance(cv2 := loaded["opencv_from_start"], str):
        sources["opencv_from_start"] = lambda i, idx: opencv_from_start(cv2, paths[i], idx)
    if not isinstance(ev := loaded["pyav_pytorchvideo"], str):
        sources["pyav_pytorchvideo"] = lambda i, idx: pyav_pytorchvideo(
            ev.EncodedVideo, paths[i], idx, fps[i]
        )
    if not isinstance(av := loaded["pyav_seek"], str):
        sources["pyav_seek"] = lambda i, idx: pyav_seek(av, paths[i], idx, fps[i])
    if not isinstance(sj := loaded["jpeg_simplejpeg"], str):
        sources["jpeg_simplejpeg"] = lambda i, idx: jpeg_simplejpeg(sj, dirs[i], idx)
    sources["jpeg_torchvision"] = lambda i, idx: jpeg_torchvision(dirs[i], idx)

    def ours_clips() -> None:  # the real thing: ClipDataset.__getitem__
        for epoch, i, _ in plan:
            ours.set_epoch(epoch)
            ours[i]

    def train_clips(name: str) -> Callable[[], None]:
        frames_of = sources[name]

        def run() -> None:
            for epoch, i, idx in plan:
                ours.set_epoch(epoch)
                augment(frames_of(i, idx), ours.rngs(i)[1])  # our __getitem__'s generator

        return run

    def decode_only(name: str) -> Callable[[], None]:
        frames_of = sources[name]

        def run() -> None:
            for _, i, idx in plan:
                frames_of(i, idx)

        return run

    decoded = [sources["ours"](i, idx) for _, i, idx in plan]

    def augment_only(mode: str) -> Callable[[], None]:
        aug = copy.copy(augment)
        aug.colour = mode

        def run() -> None:
            for (epoch, i, _), frames in zip(plan, decoded, strict=True):
                ours.set_epoch(epoch)
                aug(frames, ours.rngs(i)[1])

        return run

    fns: dict[str, Callable[[], None]] = {"ours": ours_clips}
    fns.update({f"augment_only/{mode}": augment_only(mode) for mode in COLOUR_MODES})
    fns.update({name: train_clips(name) for name in sources if name != "ours"})
    fns.update({f"{name}/decode": decode_only(name) for name in sources})
    samples = interleaved(fns, repeats=repeats)
    n = len(plan)
    pipelines = {name: summarize(samples[name], n, "clips") for name in sources}
    decoding = {name: summarize(samples[f"{name}/decode"], n, "clips") for name in sources}
    return {
        "videos": videos.info,
        "clip": {**clip, "clips_per_video": clips_per_video, "clips_per_repeat": n},
        "pipelines": pipelines,
        "decode_only": decoding,
        # the augmentation alone: the configured colour mode, and each mode
        "augment_only": summarize(samples[f"augment_only/{augment.colour}"], n, "clips"),
        "augment_only_by_colour": {
            mode: summarize(samples[f"augment_only/{mode}"], n, "clips") for mode in COLOUR_MODES
        },
        "augment_ops_ms": augment_profile(augment, decoded[0], repeats=max(5, repeats)),
        "unavailable": unavailable,
        "ratios": {
            "with_augment": _ratios(pipelines, "median_cpu_s"),
            "decode_only": _ratios(decoding, "median_cpu_s"),
        },
        "ratios_wall": {
            "with_augment": _ratios(pipelines, "median_wall_s"),
            "decode_only": _ratios(decoding, "median_wall_s"),
        },
        "targets": TARGETS,
    }


def _ratios(timings: dict, key: str) -> dict[str, float | str | None]:
    """Speed-ups of ours over each loader (their time / ours: > 1 means ours is faster) and
    our share of the JPEG bound (the faster JPEG loader's time / ours: <= 1 unless ours
    beats both)."""
    ours = timings["ours"][key]
    out: dict[str, float | str | None] = {}
    for name in ("opencv_from_start", "pyav_pytorchvideo", "pyav_seek"):
        out[f"vs_{name}"] = (
            ratio(timings[name][key], ours, what=f"{name} / ours") if name in timings else None
        )
    bound = min((n for n in JPEG_LOADERS if n in timings), key=lambda n: timings[n][key])
    out["jpeg_bound"] = bound
    out["share_of_jpeg_bound"] = ratio(timings[bound][key], ours, what=f"{bound} / ours")
    return out
