"""The temporal-similarity diagnosis of a teacher as it pretrains (does s behave as Fig. 4?).

On a fixed subset of the training videos (`diagnosis_subset`): the teacher's mean
off-diagonal similarity (its column of the score cache, s_invariant or s_distinctive) over
all of them and per kind of action, and the AUC of that similarity for telling periodic from
sequence videos (periodic ones should score higher: 1 separates perfectly, 0.5 is chance).
Kinds come from a generated dataset's catalogue (synthetic.json: "atomic" = periodic,
"sequence"); a dataset without one gets the overall figure only, no per-kind figure.
Pure numpy: the similarities come from `methods.similarity.teacher_similarity`, the code of the
score cache; `methods.pretrain` runs this after training epochs and at the end.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from timebalance.seeding import generator

# Keys of a metrics line (and TensorBoard tags under epoch/) written by the diagnosis.
SIMILARITY = "similarity/all"
BY_KIND = {"atomic": "similarity/periodic", "sequence": "similarity/sequence"}
AUC = "similarity/auc"
LOSS_GAP = "loss_minus_uniform"
KEYS = (SIMILARITY, *BY_KIND.values(), AUC, LOSS_GAP)
# Per term of the objective (L_I, L_D1, L_D2): its epoch mean minus its uniform level.
_TERM_GAP = "{}_minus_uniform"


def term_gap(term: str) -> str:
    """The metrics key of a term's gap to its uniform level, e.g. "L_D2_minus_uniform"."""
    return _TERM_GAP.format(term)


def is_term_gap(key: str) -> bool:
    return key.endswith(_TERM_GAP.format("")) and key != LOSS_GAP


def term_of(key: str) -> str:
    """The term a `term_gap` key is of."""
    return key[: -len(_TERM_GAP.format(""))]


def read_kinds(catalogue: str | Path | None) -> dict[str, str] | None:
    """Class name -> kind ("atomic" or "sequence") from a generated dataset's synthetic.json;
    None without a catalogue (a real dataset: its classes have no kind)."""
    if catalogue is None:
        return None
    try:
        classes = json.loads(Path(catalogue).read_text(encoding="utf-8")).get("classes")
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read the dataset catalogue {catalogue} ({err})") from err
    if not isinstance(classes, list):
        raise ValueError(f"{catalogue} has no 'classes' list; regenerate the dataset")
    kinds = {c["name"]: c["kind"] for c in classes}
    unknown = sorted(set(kinds.values()) - set(BY_KIND))
    if unknown:
        raise ValueError(f"{catalogue}: unknown kinds {unknown}; expected {sorted(BY_KIND)}")
    return kinds


def video_kinds(class_names: Sequence[str], kinds: Mapping[str, str] | None) -> list[str] | None:
    """The kind of each video from its class name (None without a catalogue); a class the
    catalogue lacks is an error (the catalogue is of another dataset)."""
    if kinds is None:
        return None
    missing = sorted(set(class_names) - set(kinds))
    if missing:
        raise ValueError(
            f"classes {missing[:5]} are not in the dataset's catalogue; regenerate the "
            "dataset or its frame manifest"
        )
    return [kinds[name] for name in class_names]


def diagnosis_subset(n_videos: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of `size` of `n_videos` videos (all of them when there are fewer),
    drawn from a stream of their own: the same videos every epoch, and training draws
    nothing less or more for it."""
    if size >= n_videos:
        return np.arange(n_videos)
    rng = generator(seed, "diagnosis videos")
    return np.sort(rng.choice(n_videos, size=size, replace=False))


def auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """P(a positive scores above a negative), ties counted half (Mann-Whitney AUC), from
    the mean ranks of the pooled values."""
    p, n = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    if not len(p) or not len(n):
        raise ValueError("AUC needs both kinds of videos")
    pooled = np.concatenate([p, n])
    _, inverse, counts = np.unique(pooled, return_inverse=True, return_counts=True)
    mean_rank = np.cumsum(counts) - (counts - 1) / 2  # 1-based; ties share their mean rank
    rank_sum = mean_rank[inverse[: len(p)]].sum()
    return float((rank_sum - len(p) * (len(p) + 1) / 2) / (len(p) * len(n)))


def summarise(similarity: Sequence[float], kinds: Sequence[str] | None) -> dict[str, float]:
    """The diagnosis of one teacher from its per-video similarities: the mean over all
    videos, per kind and the AUC (periodic above sequence) when `kinds` are given and both
    kinds are present (a figure that cannot be computed is absent, not invented)."""
    s = np.asarray(similarity, dtype=float)
    if s.ndim != 1 or not len(s):
        raise ValueError(f"expected one similarity per video, got shape {s.shape}")
    out = {SIMILARITY: float(s.mean())}
    if kinds is None:
        return out
    if len(kinds) != len(s):
        raise ValueError(f"{len(kinds)} kinds for {len(s)} videos")
    kind = np.asarray(kinds)
    groups = {k: s[kind == k] for k in BY_KIND}
    for k, key in BY_KIND.items():
        if len(groups[k]):
            out[key] = float(groups[k].mean())
    if all(len(g) for g in groups.values()):
        out[AUC] = auc(groups["atomic"], groups["sequence"])
    return out


def kind_warning(teacher: str, summary: Mapping[str, float]) -> str | None:
    """The warning when a distinctive teacher's similarity is not lower on sequence than on
    periodic videos (None otherwise, and for other teachers or without kinds)."""
    periodic, sequence = (summary.get(key) for key in BY_KIND.values())
    if teacher != "distinctive" or periodic is None or sequence is None:
        return None
    if not (math.isfinite(periodic) and math.isfinite(sequence)) or sequence < periodic:
        return None
    return (
        f"the distinctive teacher's mean similarity is {sequence:.3f} on sequence videos and "
        f"{periodic:.3f} on periodic ones: not lower on sequences, against Fig. 4. Through "
        "s = (s_I + s_D) / 2 it then gives eq. 7 no push towards itself on sequence videos: "
        "any weight the distinctive teacher gains there comes from the invariant teacher's "
        "similarity alone"
    )
