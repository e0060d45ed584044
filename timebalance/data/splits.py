"""Label budgets and the labeled / unlabeled / val / test lists of one (dataset, budget, seed).

Per class c with N_c usable training videos (sorted by ``video_id``), one permutation is drawn
from a stream of its own, ``numpy.random.default_rng([seed, sha256(class name)])``, so adding
or removing a class never changes the picks of the others. The permutation is cut in order:

1. ``val``: ``max(1, round(val_fraction * N_c))`` videos (the 1-minimum applies to classes with
   >= 3 videos and ``val_fraction > 0``) held out for model selection; the test list is never
   used to pick a checkpoint. Val is taken BEFORE the labeled budget, so it is disjoint from the
   labeled and the unlabeled videos and does not depend on the budget: every budget of a seed
   shares one val list, and a larger budget's labeled list contains a smaller one's.
2. ``labeled``: ``<p>pct`` -> ``max(1, round(p% * N_c))``, counted against the class's FULL
   training size N_c (not N_c minus val), so "5pct" means 5% of the training split as in the
   papers; ``<k>perclass`` -> k. Rounding is half-up on exact decimals (2.5 -> 3).
3. ``unlabeled``: the rest (it keeps its true labels, for diagnostics only).

``test`` is the manifest's test subset. Only rows whose status is in ``USABLE_STATUSES`` ("ok"
and "truncated": a truncated video keeps the frames it decoded and ``n_frames`` counts them) are
used; the others are counted in splits.json as excluded. An external labeled list (published by
another paper) replaces step 2; val is then drawn from the remaining training videos.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from timebalance import io
from timebalance.data.manifest import USABLE_STATUSES

SPLIT_COLUMNS = ["video_id", "label", "n_frames"]
LIST_NAMES = ("labeled", "unlabeled", "val", "test")
SUMMARY_NAME = "splits.json"

_PCT = re.compile(r"(\d+(?:\.\d+)?)pct")
_PERCLASS = re.compile(r"(\d+)perclass")


@dataclass(frozen=True)
class Budget:
    """A label budget: ``kind`` "pct" (``value`` percent of each class) or "perclass"."""

    kind: str
    value: Decimal | int

    def __str__(self) -> str:
        return f"{self.value}{self.kind}"


def parse_budget(text: str) -> Budget:
    """Parse "5pct", "0.5pct", "20pct" or "4perclass".

    Raises:
        ValueError: anything else, with the spelling to use instead.
    """
    raw = str(text).strip()
    if m := _PCT.fullmatch(raw):
        value = Decimal(m.group(1))
        if not 0 < value <= 100:
            raise ValueError(f"label budget {text!r}: the percentage must be in (0, 100]")
        return Budget("pct", value)
    if m := _PERCLASS.fullmatch(raw):
        k = int(m.group(1))
        if k < 1:
            raise ValueError(f"label budget {text!r}: need at least 1 labeled video per class")
        return Budget("perclass", k)
    hint = ""
    if m := re.fullmatch(r"(\d+(?:\.\d+)?)\s*(%|percent|pct|pc|p)", raw, re.IGNORECASE):
        hint = f' (write "{m.group(1)}pct")'
    elif m := re.fullmatch(r"(\d+)\s*(per[_ -]?class|/class|shot)", raw, re.IGNORECASE):
        hint = f' (write "{m.group(1)}perclass")'
    raise ValueError(
        f"bad label budget {text!r}{hint}: expected <p>pct (class-balanced percent of each "
        'class, e.g. "5pct", "0.5pct") or <k>perclass (e.g. "4perclass")'
    )


def _round_half_up(x: Decimal) -> int:
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def labeled_count(budget: Budget, n_train: int) -> int:
    """Labeled videos a class with ``n_train`` training videos gets under ``budget``."""
    if budget.kind == "perclass":
        return int(budget.value)
    return max(1, _round_half_up(Decimal(budget.value) * n_train / 100))


def val_count(val_fraction: float, n_train: int) -> int:
    """Validation videos held out of a class with ``n_train`` training videos."""
    if val_fraction <= 0 or n_train == 0:
        return 0
    n = _round_half_up(Decimal(str(val_fraction)) * n_train)
    if n_train >= 3:
        n = max(1, n)
    return min(n, n_train - 1)  # always leave a video to label


def class_stream(seed: int, class_key: str) -> np.random.Generator:
    """The class's own random stream: independent of every other class and of the order."""
    digest = hashlib.sha256(class_key.encode("utf-8")).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def _usable(manifest: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    need = {"video_id", "label", "subset", "n_frames", "status"}
    if missing := need - set(manifest.columns):
        raise ValueError(f"manifest lacks columns {sorted(missing)} (expected a frames manifest)")
    df = manifest.copy()
    df["video_id"] = df["video_id"].astype(str)
    df["label"] = pd.to_numeric(df["label"]).astype("int64")
    df["n_frames"] = pd.to_numeric(df["n_frames"]).astype("int64")
    if "class_name" not in df.columns:
        df["class_name"] = df["label"].astype(str)
    df["class_name"] = df["class_name"].astype(str)
    if dup := sorted(df.loc[df["video_id"].duplicated(), "video_id"])[:5]:
        raise ValueError(f"manifest lists video ids more than once, e.g. {dup}")
    bad_subset = sorted(set(df["subset"]) - {"train", "test"})
    if bad_subset:
        raise ValueError(f"manifest subsets must be train/test, found {bad_subset}")
    ok = df["status"].isin(USABLE_STATUSES)
    excluded = df[~ok]
    info = {
        "excluded": len(excluded),
        "excluded_by_subset": {s: int((excluded["subset"] == s).sum()) for s in ("train", "test")},
        "excluded_by_status": {
            str(k): int(v) for k, v in sorted(excluded["status"].value_counts().items())
        },
    }
    return df[ok].sort_values("video_id", kind="stable").reset_index(drop=True), info


def _frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df[SPLIT_COLUMNS].sort_values("video_id", kind="stable").reset_index(drop=True)
    return out.astype({"video_id": str, "label": "int64", "n_frames": "int64"})


def _concat(parts: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]  # pandas warns when concatenating empty frames
    return _frame(pd.concat(parts) if parts else empty)


class SplitLists(dict):
    """``{"labeled", "unlabeled", "val", "test"} -> DataFrame[video_id, label, n_frames]``,
    with ``info`` (excluded counts, per-class counts, options) for splits.json."""

    info: dict


def make_splits(
    manifest: pd.DataFrame,
    *,
    budget: str,
    seed: int,
    val_fraction: float = 0.1,
    labeled_list: str | Path | None = None,
) -> SplitLists:
    """Split a frames manifest into labeled / unlabeled / val / test (see the module doc).

    Args:
        manifest: rows video_id, label, subset ("train"/"test"), n_frames, status, and
            optionally class_name (the key of the class's random stream; else the label).
        budget: "<p>pct" or "<k>perclass" (ignored for the counts when ``labeled_list`` is
            given, but still recorded).
        seed: non-negative int.
        val_fraction: share of each class's training videos held out for validation, [0, 1).
        labeled_list: optional text file of video paths or ids, one per line.

    Raises:
        ValueError: bad budget/seed/fraction, a class too small for the budget, or lists
            with no unlabeled video, or no val video while ``val_fraction > 0``.
        LabeledListError: a line of ``labeled_list`` names no usable training video.
    """
    parsed = parse_budget(budget)
    if not (isinstance(seed, int | np.integer) and seed >= 0):
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    usable, info = _usable(manifest)
    train = usable[usable["subset"] == "train"]
    test = usable[usable["subset"] == "test"]
    imported = None
    if labeled_list is not None:
        imported = read_labeled_list(labeled_list, manifest, usable)

    picks: dict[str, list[pd.DataFrame]] = {"labeled": [], "unlabeled": [], "val": []}
    per_class = []
    names = usable.groupby("label")["class_name"].first()
    for label, name in names.items():
        videos = train[train["label"] == label].reset_index(drop=True)
        n = len(videos)
        rng = class_stream(int(seed), name)
        n_val = val_count(val_fraction, n)
        if imported is not None:
            is_lab = videos["video_id"].isin(imported).to_numpy()
            lab = videos[is_lab]
            rest = videos[~is_lab].reset_index(drop=True)
            n_val = min(n_val, len(rest))
            order = rng.permutation(len(rest))
            val, unl = rest.iloc[order[:n_val]], rest.iloc[order[n_val:]]
        else:
            n_lab = labeled_count(parsed, n) if n else 0
            if n_lab > n - n_val:
                raise ValueError(
                    f"class {name!r} (label {label}) has {n} usable training videos: budget "
                    f"{budget} asks for {n_lab} labeled ones but only {n - n_val} remain after "
                    f"holding out {n_val} for validation; lower the budget or val_fraction"
                )
            order = rng.permutation(n)
            val = videos.iloc[order[:n_val]]
            lab = videos.iloc[order[n_val : n_val + n_lab]]
            unl = videos.iloc[order[n_val + n_lab :]]
        picks["val"].append(val)
        picks["labeled"].append(lab)
        picks["unlabeled"].append(unl)
        per_class.append(
            {"label": int(label), "class_name": name, "train": n, "val": len(val)}
            | {"labeled": len(lab), "unlabeled": len(unl)}
        )
    lists = {k: _concat(v, train.iloc[:0]) for k, v in picks.items()} | {"test": _frame(test)}
    _check_nonempty(lists, budget=budget, val_fraction=val_fraction, n_train=len(train))
    out = SplitLists({k: lists[k] for k in LIST_NAMES})
    out.info = info | {
        "val_fraction": float(val_fraction),
        "labeled_list": None if labeled_list is None else str(labeled_list),
        "per_class": per_class,
        "classes_without_training_videos": [c["class_name"] for c in per_class if not c["train"]],
    }
    return out


def _check_nonempty(
    lists: dict[str, pd.DataFrame], *, budget: str, val_fraction: float, n_train: int
) -> None:
    """Every training list must hold videos: the student distils on the unlabeled list and
    model selection needs the val list (an empty one would fail a training job later)."""
    counts = ", ".join(f"{len(lists[k])} {k}" for k in ("labeled", "unlabeled", "val"))
    if n_train == 0:
        raise ValueError("the manifest lists no usable training video; see its status column")
    if lists["unlabeled"].empty:
        raise ValueError(
            f"budget {budget} leaves no unlabeled training video ({counts} of {n_train}); "
            "lower the budget or splits.val_fraction"
        )
    if lists["val"].empty and val_fraction > 0:
        raise ValueError(
            f"val_fraction {val_fraction} holds out no validation video ({counts} of "
            f"{n_train}; a class needs >= 3 training videos to give one); raise "
            "splits.val_fraction"
        )


class LabeledListError(ValueError):
    """A line of an external labeled list names no usable training video."""


def _candidates(token: str) -> list[str]:
    """Ids a list entry may mean: as written, without extension, and with leading folders
    dropped one by one (lists may carry a dataset-root prefix such as "UCF-101/")."""
    path = PurePosixPath(token.replace("\\", "/").lstrip("./"))
    parts = path.parts
    found = []
    for i in range(len(parts)):
        sub = PurePosixPath(*parts[i:])
        found += [str(sub), str(sub.with_suffix("")) if sub.suffix else str(sub)]
    return list(dict.fromkeys(found))


def read_labeled_list(
    path: str | Path, manifest: pd.DataFrame, usable: pd.DataFrame | None = None
) -> set[str]:
    """Video ids of an external labeled list, resolved against the manifest.

    One entry per line: a video path or id, then optionally whitespace and a label, which is
    ignored (published lists number classes 0- or 1-based; the manifest's labels rule). Blank
    lines and ``#`` comments are skipped; CRLF line endings are tolerated; an entry may carry
    the extension and leading folders ("UCF-101/Class/v_x.avi" -> "Class/v_x").

    Raises:
        LabeledListError: naming ``file:line`` for an entry that is unknown, in the test
            subset, or not usable (its status).
    """
    path = Path(path)
    if usable is None:
        usable = _usable(manifest)[0]
    ids = manifest["video_id"].astype(str)
    status = dict(zip(ids, manifest["status"].astype(str), strict=True))
    subset = dict(zip(ids, manifest["subset"].astype(str), strict=True))
    by_name: dict[str, list[str]] = {}
    for vid in ids:
        by_name.setdefault(PurePosixPath(vid).name, []).append(vid)
    chosen: set[str] = set()
    text = path.read_bytes().decode("utf-8-sig")
    for lineno, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        token = entry.split()[0]
        cands = _candidates(token)
        vid = next((c for c in cands if c in status), None)
        if vid is None:  # a bare file name: accept it when it names one video only
            names = by_name.get(PurePosixPath(cands[-1]).name, [])
            vid = names[0] if len(names) == 1 else None
        where = f"{path}:{lineno}"
        if vid is None:
            raise LabeledListError(
                f"{where}: {token!r} is not a video of this dataset's manifest (entries are "
                "video paths or ids such as 'ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi')"
            )
        if subset[vid] != "train":
            raise LabeledListError(f"{where}: {token!r} is in the {subset[vid]} subset")
        if status[vid] not in USABLE_STATUSES:
            raise LabeledListError(
                f"{where}: {token!r} has status {status[vid]!r} in the manifest (not used for "
                "training; its reason column says why)"
            )
        chosen.add(vid)
    if not chosen:
        raise LabeledListError(f"{path}: lists no video")
    return chosen


def _to_csv_bytes(df: pd.DataFrame) -> bytes:
    # Ints only; "\n" endings and minimal quoting keep the bytes platform-independent.
    return df[SPLIT_COLUMNS].to_csv(index=False, lineterminator="\n").encode("utf-8")


def write_splits(
    splits: dict[str, pd.DataFrame],
    out_dir: str | Path,
    *,
    budget: str,
    seed: int,
    extra: dict | None = None,
) -> dict:
    """Write labeled.csv, unlabeled.csv, val.csv, test.csv, then splits.json (last, so its
    presence means the lists are complete). Returns the summary written to splits.json."""
    if missing := set(LIST_NAMES) - set(splits):
        raise ValueError(f"splits lack lists {sorted(missing)}")
    ids = {k: set(splits[k]["video_id"]) for k in LIST_NAMES}
    for i, a in enumerate(LIST_NAMES):
        for b in LIST_NAMES[i + 1 :]:
            if both := sorted(ids[a] & ids[b])[:3]:
                raise ValueError(f"{a} and {b} lists overlap, e.g. {both}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"budget": str(budget), "seed": int(seed), "counts": {}, "sha256": {}}
    for name in LIST_NAMES:
        data = _to_csv_bytes(_frame(splits[name]))
        io.write_bytes(data, out / f"{name}.csv")
        summary["counts"][name] = len(splits[name])
        summary["sha256"][f"{name}.csv"] = hashlib.sha256(data).hexdigest()
    lab = splits["labeled"]["label"].value_counts().sort_index()
    summary["labeled_per_class"] = {str(k): int(v) for k, v in lab.items()}
    summary |= getattr(splits, "info", {}) | (extra or {})
    text = json.dumps(summary, indent=2, sort_keys=True) + "\n"
    io.write_bytes(text.encode("utf-8"), out / SUMMARY_NAME)
    return summary


def read_split(path: str | Path) -> pd.DataFrame:
    """Read one split list (video_id, label, n_frames); ids stay text ("NA" is an id).

    Raises:
        ValueError: naming the file, when a column is missing or not an integer.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"{path}: empty file, expected a header {','.join(SPLIT_COLUMNS)}"
        ) from None
    if missing := [c for c in SPLIT_COLUMNS if c not in df.columns]:
        raise ValueError(
            f"{path}: not a split list, lacks columns {missing} (has {list(df.columns)})"
        )
    for col in ("label", "n_frames"):
        values = pd.to_numeric(df[col], errors="coerce")
        if values.isna().any():
            row = int(values.isna().to_numpy().argmax())
            raise ValueError(
                f"{path}:{row + 2}: column {col} must be an integer, got {df[col].iloc[row]!r}"
            )
        df[col] = values.astype("int64")
    return df[SPLIT_COLUMNS].reset_index(drop=True)
