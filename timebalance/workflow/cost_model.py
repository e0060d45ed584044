"""What each GPU job of the workflow processes, and the measured seconds per clip.

The work of a job, in clips of `frames` x `size`^2 (steps per epoch as `engine.loader`
batches; `max_steps_per_epoch` caps them; B: batch, r: unlabeled ratio; L, U, V, N, T:
labeled, unlabeled, val, all training and test videos), read from the settings the job's
rule passes (the same `workflow.inputs` functions):
- pretrain_teacher: epochs x floor(N / B) steps x B videos x 2 copies x (n dense + 1 sparse)
  clips, forward + backward;
- cache_scores: N videos x n clips x 2 teachers, forward;
- finetune_teacher (and students without teachers): epochs x ceil(L / B) steps of B clips,
  forward + backward, then V validation clips forward each epoch;
- train_student: epochs x floor(U / rB) steps (`epoch_unit: unlabeled`; ceil(L / B) with
  `labeled`) of (B + rB) clips, forward + backward, the same
  clips forward through each teacher, V validation clips each epoch;
- train_fixmatch / train_acl_mtl: B_l = B // (1 + r) labeled and B_u = r B_l unlabeled
  clips a step, epochs x floor(U / B_u) steps, forward + backward on B_l + B_u; the EMA
  teacher's forward on B_u weak clips (ACL + MTL: x (1 + long strides), plus the student's
  features of the short weak clip); V validation clips each epoch;
- evaluate: T videos x clips x crops, forward.
List sizes come from the dataset's files when present, else from its official size.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from timebalance.workflow import config as C
from timebalance.workflow import dryrun
from timebalance.workflow import inputs as F
from timebalance.workflow import paths as P

# The rules whose jobs run a network (the rules with `resources: gpu=`; tested).
MODELLED = (
    "pretrain_teacher",
    "cache_scores",
    "finetune_teacher",
    "train_student",
    "train_fixmatch",
    "train_acl_mtl",
    "evaluate",
)
# List sizes of a dataset whose lists are not on disk: format -> (train, test, classes,
# source). HMDB51's three splits each hold 70 training and 30 test clips per class.
OFFICIAL_SIZES: dict[str, tuple[int, int, int, str]] = {
    "ucf101": (9537, 3783, 101, "UCF101 split 1 (TimeBalance, CVPR'23, Sec. 4.1)"),
    "hmdb51": (3570, 1530, 51, "HMDB51 split 1 (TimeBalance, CVPR'23, Sec. 4.1)"),
    "kinetics400": (240_000, 20_000, 400, "Kinetics-400, ~240k/20k (TimeBalance Sec. 4.1)"),
}


@dataclass(frozen=True)
class DatasetSize:
    """Usable training videos of each class, test videos, and where the counts come from."""

    train: tuple[int, ...]
    test: int
    source: str


def dataset_size(config: dict, name: str, directory: Path) -> DatasetSize:
    """From the frames manifest when extracted (usable videos), else the index, else the
    annotation files under the root, else the generated dataset's settings, else
    OFFICIAL_SIZES (classes of equal size)."""
    import pandas as pd

    ds = C.dataset(config, name)
    manifest = directory / P.MANIFEST.format(dataset=name)
    index = directory / P.INDEX.format(dataset=name)
    root = directory / ds["root"]
    table, source = None, None
    if manifest.is_file():
        from timebalance.data.manifest import USABLE_STATUSES

        table = pd.read_csv(manifest, keep_default_na=False)
        table = table[table["status"].isin(USABLE_STATUSES)]
        source = P.MANIFEST.format(dataset=name)
    elif index.is_file():
        table, source = pd.read_csv(index, keep_default_na=False), P.INDEX.format(dataset=name)
    elif root.is_dir():
        from timebalance.data.index import read_index

        table = read_index(ds["format"], root, ds["split"], **ds["options"])
        source = f"annotation files under {ds['root']}"
    if table is not None:
        train = table[table["subset"] == "train"].groupby("label").size()
        test = int((table["subset"] == "test").sum())
        return DatasetSize(tuple(int(n) for n in train), test, source)
    if syn := ds.get("synthetic"):
        per_class = (syn["n_groups"] - syn["n_test_groups"]) * syn["clips_per_group"]
        test = syn["n_classes"] * syn["n_test_groups"] * syn["clips_per_group"]
        return DatasetSize((per_class,) * syn["n_classes"], test, f"datasets.{name}.synthetic")
    if ds["format"] not in OFFICIAL_SIZES:
        raise ValueError(
            f"dataset {name!r}: no annotation files under {ds['root']!r} and no official size "
            f"for format {ds['format']!r}; set datasets.{name}.root to the dataset's folder"
        )
    train, test, classes, where = OFFICIAL_SIZES[ds["format"]]
    base, extra = divmod(train, classes)
    counts = tuple(base + (k < extra) for k in range(classes))
    split = "" if ds["format"] == "kinetics400" or ds["split"] == 1 else " (split-1 sizes)"
    return DatasetSize(counts, test, f"{where}{split}, classes of equal size")


def split_sizes(config: dict, name: str, budget: str, size: DatasetSize) -> dict[str, int]:
    """Videos of the labeled / unlabeled / val / test lists of one budget (as make_splits
    counts them per class; an external labeled list counts its lines)."""
    from timebalance.data.splits import labeled_count, parse_budget, val_count

    parsed, fraction = parse_budget(budget), config["splits"]["val_fraction"]
    val = sum(val_count(fraction, n) for n in size.train)
    listed = config["splits"]["labeled_lists"].get(f"{name}_{budget}")
    if listed and Path(listed).is_file():
        labeled = sum(1 for line in Path(listed).read_text().splitlines() if line.strip())
    else:
        labeled = sum(min(labeled_count(parsed, n), n - val_count(fraction, n)) for n in size.train)
    return {
        "labeled": labeled,
        "unlabeled": max(0, sum(size.train) - val - labeled),
        "val": val,
        "test": size.test,
    }


@dataclass(frozen=True)
class Work:
    """Clips one job runs through a `backbone` on `frames` x `size` x `size` inputs."""

    backbone: str
    frames: int
    size: int
    train_clips: int  # forward + backward
    eval_clips: int  # forward only
    epochs: int = 0  # training epochs (0: a forward pass over a list)
    steps: int = 0  # optimiser steps per epoch


def batches(n: int, batch_size: int, drop_last: bool) -> tuple[int, int]:
    """(batches per epoch, clips per batch) of `engine.loader.epoch_loader` over n items."""
    size = max(1, min(batch_size, n))
    drop = drop_last and n > size
    return (n // size if drop else -(-n // size)), size


def _capped(steps: int, config: dict) -> int:
    cap = C.schedule(config)["max_steps_per_epoch"]
    return min(steps, cap) if cap else steps


def job_work(config: dict, job: dryrun.Job, lists: dict[str, int], n_train: int) -> Work:
    """What job `job` (a MODELLED rule) processes; `lists` are its cell's split sizes
    (empty for a per-dataset job), `n_train` the dataset's training videos."""
    w = SimpleNamespace(**job.wildcards)
    backbone = F.backbone(config, w)
    if job.rule == "pretrain_teacher":
        s = F.pretrain_settings(config, w)
        steps, b = batches(n_train, s["batch_size"], drop_last=True)
        steps = _capped(steps, config)
        clips = s["epochs"] * steps * b * 2 * (s["n_clips"] + 1)
        return Work(backbone, s["clip_len"], s["crop_size"], clips, 0, s["epochs"], steps)
    if job.rule == "cache_scores":
        n = P.parse_teacher(w.t1)[1]
        size = F.score_settings(config, w)["crop_size"]
        return Work(backbone, config["pretrain"]["clip_len"], size, 0, n_train * n * 2)
    if job.rule == "evaluate":
        s = F.eval_settings(config, w)
        views = lists["test"] * s["n_clips"] * s["n_crops"]
        return Work(backbone, s["clip_len"], s["crop_size"], 0, views)
    if job.rule in ("train_fixmatch", "train_acl_mtl"):
        s = F.method_settings(job.rule.removeprefix("train_"), config, w)
        clips, spec = s["clips"], s["spec"]
        b_u = clips["batch_size"] * spec["unlabeled_ratio"]
        steps, b_u = batches(lists["unlabeled"], b_u, drop_last=True)
        b_l = min(clips["batch_size"], lists["labeled"])
        forward = b_u
        if job.rule == "train_acl_mtl" and spec["mtl"]:
            forward = b_u * (1 + len(spec["long_strides"])) + b_u
        steps, epochs = _capped(steps, config), s["optim"]["epochs"]
        return Work(
            backbone,
            clips["clip_len"],
            clips["crop_size"],
            epochs * steps * (b_l + b_u),
            epochs * (steps * forward + lists["val"]),
            epochs,
            steps,
        )
    if job.rule == "finetune_teacher":
        s, teachers, ratio = F.finetune_settings(config, w), [], 0
    elif job.rule == "train_student":
        s = F.student_settings(config, w)
        teachers, ratio = s["spec"]["teachers"], s["spec"]["unlabeled_ratio"]
    else:
        raise ValueError(f"rule {job.rule!r} is not modelled (MODELLED: {MODELLED})")
    clips, epochs = s["clips"], s["optim"]["epochs"]
    if teachers and ratio > 0 and lists["unlabeled"] > 0:  # labeled + unlabeled batches
        steps, b_u = batches(lists["unlabeled"], clips["batch_size"] * ratio, drop_last=True)
        if s["spec"]["epoch_unit"] == "labeled":  # one pass over the labeled list
            steps = batches(lists["labeled"], clips["batch_size"], drop_last=False)[0]
        steps = _capped(steps, config)
        per_epoch = steps * (min(clips["batch_size"], lists["labeled"]) + b_u)
    else:  # the labeled list alone (its last batch may be short)
        steps, b = batches(lists["labeled"], clips["batch_size"], drop_last=False)
        steps = _capped(steps, config)
        per_epoch = min(lists["labeled"], steps * b)
    forward = per_epoch * len(teachers) + lists["val"]
    return Work(
        backbone,
        clips["clip_len"],
        clips["crop_size"],
        epochs * per_epoch,
        epochs * forward,
        epochs,
        steps,
    )


# --- measured costs -------------------------------------------------------------------
def load_calibration(path: str | Path) -> list[dict]:
    """The entries of a calibration file (none when the file does not exist).

    Raises:
        ValueError: an entry lacks a field `calibrate` writes (name the file and the fix).
    """
    path = Path(path)
    if not path.is_file():
        return []
    entries = json.loads(path.read_text()).get("entries", [])
    need = {"backbone", "frames", "size", "train_s_per_clip", "eval_s_per_clip", "device_name"}
    for k, entry in enumerate(entries):
        if missing := need - set(entry):
            raise ValueError(
                f"{path}: entry {k} lacks {sorted(missing)}; rerun `python -m "
                "timebalance.workflow.cost calibrate` to rewrite it"
            )
    return entries


def clip_seconds(entries: list[dict], work: Work) -> tuple[float, float, str] | None:
    """(training, forward-only) seconds per clip of `work`'s backbone and clip shape, and
    how they were obtained: measured on that shape, or scaled from the backbone's nearest
    measured shape in proportion to the clip's voxels (frames x size^2, as a 3D CNN's
    FLOPs). None: the backbone was never calibrated."""
    same = [e for e in entries if e["backbone"] == work.backbone]
    if not same:
        return None
    voxels = work.frames * work.size**2
    best = min(same, key=lambda e: abs(math.log(e["frames"] * e["size"] ** 2 / voxels)))
    scale = voxels / (best["frames"] * best["size"] ** 2)
    exact = (best["frames"], best["size"]) == (work.frames, work.size)
    how = "measured" if exact else f"scaled from {best['frames']}x{best['size']}"
    return best["train_s_per_clip"] * scale, best["eval_s_per_clip"] * scale, how
