"""Contrastive losses for the teachers' self-supervised pretraining (TimeBalance Sec. 3.1, TCLR).

All losses take L2-normalised projections (the :class:`~timebalance.models.ProjectionHead`
output) and use dot-product similarity divided by a temperature (default 0.1), as the authors'
released code does (``NTXentLoss(use_cosine_similarity=False)``). Nothing is re-normalised
here. They work on any device and in float32 or float64.

Tensor layout used throughout (B videos, n timestamps / dense clips, d embedding size):

- ``sparse``: 2 x B x d, pooled projections of the two augmented copies of the sparse
  (global) clip spanning the whole window;
- ``dense``: 2 x B x n x d, pooled projections of the n dense (local) clips, both copies;
- ``slices``: 2 x B x n x d, projections of the sparse clip's n temporal feature slices.

Terms: ``invariant_loss`` is L_I (eq. 1), ``local_local_loss`` is L_D1 (eq. 3),
``global_local_loss`` is L_D2 (supplement D.2), ``distinctive_loss`` = L_D1 + L_D2 and
``ssl_init_loss`` = L_I + L_D (TCLR, used to initialise the student).

In a multi-process training every process holds only its videos' projections;
``gather_projections`` concatenates them (differentiably) so the losses see the negatives of
the whole global batch, exactly as one process would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn import functional as F

from timebalance.engine.distributed import all_gather

DEFAULT_TEMPERATURE = 0.1
# L_I sums its dense-clip terms over the 2 x 2 (copy, copy) combinations and then divides by
# this count, exactly as the authors' pretraining loop does (whatever n is).
_COPY_PAIRS = 4


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def _check_views(name: str, x: Tensor, ndim: int, layout: str) -> None:
    if x.ndim != ndim or x.shape[0] != 2:
        raise ValueError(f"{name} must be shaped {layout}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")


def _nt_xent_batched(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """NT-Xent over the last two dimensions, batched over the leading ones.

    Args:
        a: ... x N x d embeddings, one view.
        b: ... x N x d embeddings, the other view (positive of a[..., i, :] is b[..., i, :]).

    Returns:
        Tensor shaped like the leading dimensions ``...``: mean loss over the 2N anchors.
    """
    n = a.shape[-2]
    z = torch.cat([a, b], dim=-2)  # ... x 2N x d
    logits = z @ z.transpose(-1, -2) / temperature  # ... x 2N x 2N
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    # a row never contrasts with itself; the positive stays in the denominator (SimCLR)
    logits = logits.masked_fill(eye, float("-inf"))
    idx = torch.arange(2 * n, device=z.device)
    positive = (idx + n) % (2 * n)
    pos_logit = logits[..., idx, positive]  # ... x 2N
    return (torch.logsumexp(logits, dim=-1) - pos_logit).mean(dim=-1)


def nt_xent(a: Tensor, b: Tensor, temperature: float = DEFAULT_TEMPERATURE) -> Tensor:
    """SimCLR NT-Xent between two views.

    The positive of a_i is b_i (and vice versa); the other 2N - 2 rows of both views are
    negatives; the positive is kept in the denominator. Mean over the 2N anchors.

    Args:
        a: N x d L2-normalised embeddings.
        b: N x d L2-normalised embeddings.
        temperature: divides the dot products.

    Returns:
        Scalar loss.
    """
    _check_temperature(temperature)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"nt_xent expects two N x d tensors of the same shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )
    if a.shape[0] < 2:
        raise ValueError(
            f"nt_xent needs N >= 2 rows per view (got N={a.shape[0]}): the negatives are the "
            "other samples, so use a batch of at least 2 videos"
        )
    return _nt_xent_batched(a, b, temperature)


def invariant_loss(
    sparse: Tensor, dense: Tensor, temperature: float = DEFAULT_TEMPERATURE
) -> Tensor:
    """Temporally-invariant loss L_I as the authors run it.

    ``nt_xent(sparse[0], sparse[1])`` plus, divided by 4, the sum of
    ``nt_xent(dense[c1, :, t1], dense[c2, :, t2])`` over every ordered pair of distinct
    (copy, timestamp) views (c1, t1) != (c2, t2): clips of one video at different timestamps
    are positives, clips of the other videos negatives.

    Args:
        sparse: 2 x B x d pooled projections of the sparse clip's two copies.
        dense: 2 x B x n x d pooled projections of the dense clips' two copies.
        temperature: NT-Xent temperature.

    Returns:
        Scalar loss. Raises ValueError for B < 2 (no negatives).
    """
    _check_views("sparse", sparse, 3, "2 x B x d")
    _check_views("dense", dense, 4, "2 x B x n x d")
    if dense.shape[1] != sparse.shape[1] or dense.shape[3] != sparse.shape[2]:
        raise ValueError(
            f"sparse {tuple(sparse.shape)} and dense {tuple(dense.shape)} disagree on B or d"
        )
    loss_sparse = nt_xent(sparse[0], sparse[1], temperature)
    n = dense.shape[2]
    # view index = copy * n + timestamp: 2n x B x d
    views = dense.permute(0, 2, 1, 3).reshape(2 * n, dense.shape[1], dense.shape[3])
    first, second = zip(
        *((i, j) for i in range(2 * n) for j in range(2 * n) if i != j), strict=True
    )
    dev = dense.device
    pair_losses = _nt_xent_batched(
        views[torch.tensor(first, device=dev)],
        views[torch.tensor(second, device=dev)],
        temperature,
    )
    return loss_sparse + pair_losses.sum() / _COPY_PAIRS


def local_local_loss(
    dense: Tensor, temperature: float = DEFAULT_TEMPERATURE, reduction: str = "mean"
) -> Tensor:
    """Temporally-distinctive loss on pooled dense clips, L_D1 (eq. 3).

    For each video, NT-Xent between its n dense clips of copy 0 and of copy 1 (rows are
    timestamps): the same timestamp in the other copy is the positive, the other timestamps
    of the same video (both copies) are negatives.

    Args:
        dense: 2 x B x n x d pooled projections of the dense clips.
        temperature: NT-Xent temperature.
        reduction: "mean" over the B videos, or "sum" (what the authors' code does).

    Returns:
        Scalar loss.
    """
    _check_temperature(temperature)
    _check_views("dense", dense, 4, "2 x B x n x d")
    if dense.shape[2] < 2:
        raise ValueError(
            f"local_local_loss needs n >= 2 dense clips per video, got n={dense.shape[2]}"
        )
    per_video = _nt_xent_batched(dense[0], dense[1], temperature)
    if reduction == "mean":
        return per_video.mean()
    if reduction == "sum":
        return per_video.sum()
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def global_local_loss(
    slices: Tensor, dense: Tensor, temperature: float = DEFAULT_TEMPERATURE
) -> Tensor:
    """Temporally-distinctive loss on unpooled features, L_D2 (TCLR's global-local loss).

    For one (slices copy a, dense copy b) and one video, the n x n matrix of dot products
    between the sparse clip's slices (rows) and the dense clips (columns), divided by the
    temperature, is scored by cross-entropy with the aligned timestamp as target, over the
    rows and over the columns; this is summed over the n timestamps and averaged over the
    2B (video, direction) pairs. The loss sums that over the 4 combinations of a and b.

    Args:
        slices: 2 x B x n x d projections of the sparse clip's temporal slices.
        dense: 2 x B x n x d pooled projections of the dense clips.
        temperature: softmax temperature.

    Returns:
        Scalar loss.
    """
    _check_temperature(temperature)
    _check_views("slices", slices, 4, "2 x B x n x d")
    _check_views("dense", dense, 4, "2 x B x n x d")
    if slices.shape != dense.shape:
        raise ValueError(
            f"slices {tuple(slices.shape)} and dense {tuple(dense.shape)} must have one shape"
        )
    _, b, n, _ = dense.shape
    # sim[a, c, v] = slices[a, v] @ dense[c, v].T  -> 2 x 2 x B x n x n
    sim = torch.einsum("avid,cvjd->acvij", slices, dense) / temperature
    both = torch.cat([sim, sim.transpose(-1, -2)], dim=2)  # rows then columns: 2 x 2 x 2B x n x n
    target = torch.arange(n, device=dense.device).expand(*both.shape[:-1])
    ce = F.cross_entropy(both.reshape(-1, n), target.reshape(-1), reduction="sum")
    return ce / (2 * b)


def distinctive_loss(
    slices: Tensor,
    dense: Tensor,
    temperature: float = DEFAULT_TEMPERATURE,
    local_local_reduction: str = "mean",
) -> Tensor:
    """Temporally-distinctive loss L_D = L_D1 + L_D2.

    Note: the authors' code sums L_D1 over the batch (``local_local_reduction="sum"``), which
    makes its weight grow with the batch size relative to L_D2 (a batch mean). The workflow
    sums, as they do: with the mean, L_D2 dominates and on the synthetic default the teacher
    collapses a video's clips to one point (README, "What the synthetic default shows").

    Args:
        slices: 2 x B x n x d projections of the sparse clip's temporal slices.
        dense: 2 x B x n x d pooled projections of the dense clips.
        temperature: temperature of both terms.
        local_local_reduction: "mean" or "sum" over videos for L_D1.

    Returns:
        Scalar loss.
    """
    return local_local_loss(dense, temperature, local_local_reduction) + global_local_loss(
        slices, dense, temperature
    )


def ssl_init_loss(
    sparse: Tensor,
    slices: Tensor,
    dense: Tensor,
    temperature: float = DEFAULT_TEMPERATURE,
    local_local_reduction: str = "mean",
) -> Tensor:
    """TCLR objective for the student's initialisation: L_I + L_D1 + L_D2.

    Args:
        sparse: 2 x B x d pooled projections of the sparse clip's two copies.
        slices: 2 x B x n x d projections of the sparse clip's temporal slices.
        dense: 2 x B x n x d pooled projections of the dense clips.
        temperature: temperature of every term.
        local_local_reduction: "mean" or "sum" (authors) over videos for L_D1.

    Returns:
        Scalar loss.
    """
    return invariant_loss(sparse, dense, temperature) + distinctive_loss(
        slices, dense, temperature, local_local_reduction
    )


class Projections(NamedTuple):
    """What the pretraining objectives take (layouts in the module docstring)."""

    sparse: Tensor  # 2 x B x d
    slices: Tensor | None  # 2 x B x n x d; None for an objective that does not use them
    dense: Tensor  # 2 x B x n x d


def gather_projections(z: Projections) -> Projections:
    """The projections of every training process's videos, concatenated along B in rank
    order (``engine.distributed.all_gather``: the gradient reaches each process's own
    rows). Every process then computes the loss of the whole global batch; with the
    trainer's gradient averaging this trains exactly as one process on that batch. ``z``
    itself in a single-process run."""
    return Projections(*(None if t is None else all_gather(t, dim=1) for t in z))


Objective = Callable[[Projections, float, str], Tensor]

# term -> term(projections, temperature, local_local_reduction)
PRETRAINING_TERMS: dict[str, Objective] = {
    "L_I": lambda z, t, _: invariant_loss(z.sparse, z.dense, t),
    "L_D1": lambda z, t, r: local_local_loss(z.dense, t, r),
    "L_D2": lambda z, t, _: global_local_loss(z.slices, z.dense, t),
}
# kind -> the terms its objective sums
OBJECTIVE_TERMS: dict[str, tuple[str, ...]] = {
    "invariant": ("L_I",),
    "distinctive": ("L_D1", "L_D2"),
    "ssl_init": ("L_I", "L_D1", "L_D2"),
}
# kind -> objective(projections, temperature, local_local_reduction)
PRETRAINING_LOSSES: dict[str, Objective] = {
    "invariant": lambda z, t, _: invariant_loss(z.sparse, z.dense, t),
    "distinctive": lambda z, t, r: distinctive_loss(z.slices, z.dense, t, r),
    "ssl_init": lambda z, t, r: ssl_init_loss(z.sparse, z.slices, z.dense, t, r),
}


def uses_slices(kind: str) -> bool:
    """Whether the objective of `kind` needs the sparse clip's temporal slices (L_D2)."""
    return "L_D2" in OBJECTIVE_TERMS.get(kind, ("L_D2",))


def pretraining_terms(
    kind: str, z: Projections, *, temperature: float, local_local_reduction: str
) -> dict[str, Tensor]:
    """The terms of a teacher kind's objective (OBJECTIVE_TERMS), by name: L_I, L_D1, L_D2.
    Their sum is `pretraining_loss`; apart, each shows whether its own task is learned
    (`uniform_levels` gives each one's level of a network that learned nothing).

    Args:
        kind: "invariant" (L_I), "distinctive" (L_D1, L_D2) or "ssl_init" (all three).
        z: the projections; ``z.slices`` may be None when ``uses_slices(kind)`` is false.
        temperature: temperature of every term.
        local_local_reduction: "mean" or "sum" (authors) over videos for L_D1.
    """
    if kind not in OBJECTIVE_TERMS:
        raise ValueError(
            f"unknown pretraining loss {kind!r}; valid kinds: {', '.join(OBJECTIVE_TERMS)}"
        )
    if z.slices is None and uses_slices(kind):
        raise ValueError(f"the {kind!r} objective needs the slices projections (L_D2)")
    return {
        name: PRETRAINING_TERMS[name](z, temperature, local_local_reduction)
        for name in OBJECTIVE_TERMS[kind]
    }


def pretraining_loss(
    kind: str, z: Projections, *, temperature: float, local_local_reduction: str
) -> Tensor:
    """The pretraining objective of a teacher kind: "invariant" (L_I), "distinctive"
    (L_D1 + L_D2) or "ssl_init" (TCLR: all terms): the sum of `pretraining_terms`.

    Args:
        kind: which objective (see ``OBJECTIVE_TERMS``).
        z: the projections; ``z.slices`` may be None when ``uses_slices(kind)`` is false.
        temperature: temperature of every term.
        local_local_reduction: "mean" or "sum" (authors) over videos for L_D1.

    Returns:
        Scalar loss.
    """
    terms = pretraining_terms(
        kind, z, temperature=temperature, local_local_reduction=local_local_reduction
    )
    return sum(terms.values())  # type: ignore[return-value]


def uniform_levels(
    kind: str,
    *,
    batch_size: int,
    n_clips: int,
    temperature: float,
    local_local_reduction: str,
) -> dict[str, float]:
    """Each term's value when every logit is equal: what a network scores that has learned
    nothing (or has collapsed every clip to one point). A term that ends at or above its
    level has not started to solve its task. Computed by evaluating the terms on identical
    projections, so it follows every term and reduction (L_D1 summed over B videos:
    B ln(2n - 1); L_D2: 4 n ln n)."""
    same = torch.ones(2, batch_size, n_clips, 8, dtype=torch.float64)
    z = Projections(sparse=same[:, :, 0], slices=same, dense=same)
    terms = pretraining_terms(
        kind, z, temperature=temperature, local_local_reduction=local_local_reduction
    )
    return {name: float(value) for name, value in terms.items()}


def uniform_level(
    kind: str,
    *,
    batch_size: int,
    n_clips: int,
    temperature: float,
    local_local_reduction: str,
) -> float:
    """The objective's value at uniform logits: the sum of `uniform_levels`. For L_D with
    mean reduction and n = 4 it is ln 7 + 16 ln 4 ~ 24.1."""
    levels = uniform_levels(
        kind,
        batch_size=batch_size,
        n_clips=n_clips,
        temperature=temperature,
        local_local_reduction=local_local_reduction,
    )
    return sum(levels.values())
