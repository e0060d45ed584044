"""Adaptive contrastive learning, ACL (004 Sec. 3.3, Algorithm 1, eqs. 4-11).

Pieces, in the order Algorithm 1 uses them:

- ``ClassPrototypes``: one prototype per class, the EMA of labeled features f^l (eqs. 4-5);
- ``MemoryBank``: a FIFO of unlabeled teacher features f^p with their pseudo-labels;
- ``prototype_similarity``: eq. 8 (the paper calls it a cosine *distance*, but its formula is
  the cosine similarity; close to the prototype = large value = reliable);
- ``gmm_reliability``: eq. 9, a two-component Gaussian mixture (scikit-learn) fitted to the
  similarities; gamma is the posterior of the component with the larger mean similarity;
- ``reliability``: eqs. 7-9 for a batch: gamma of every anchor's weak-view feature f^p and of
  every bank entry of its pseudo-class;
- ``positive_mask``: eq. 10 and the unreliable branch of Algorithm 1;
- ``acl_loss``: eq. 11.

Features are the L2-normalised outputs of the spatial projection heads (``ProjectionHead``),
so dot products are cosine similarities. Nothing here calls ``.cuda()``; the mixture is fitted
on CPU (a handful of scalars per anchor).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from torch import Tensor, nn
from torch.nn import functional as F

GMM_SCOPES = ("anchor", "bank")
# Posterior of a two-component mixture whose components coincide (equal weights): the value
# given when the fit set cannot separate two components (fewer than two distinct values, or
# no prototype yet for the pseudo-class). With epsilon >= 0.5 such a sample is "unreliable".
UNDECIDED = 0.5


class ClassPrototypes(nn.Module):
    """Class prototypes X (004 eq. 5): X_t = (1 - beta) f^l + beta X_{t-1}, per labeled
    feature, in batch order; a class's first feature initialises its prototype.

    Args:
        n_classes: number of classes.
        dim: feature dimension d.
        momentum: beta (004: 0.9).

    Buffers (saved in checkpoints, so a resumed run continues them): ``prototypes``
    n_classes x d, ``initialised`` n_classes bool.
    """

    def __init__(self, n_classes: int, dim: int, momentum: float) -> None:
        super().__init__()
        if not 0 <= momentum < 1:
            raise ValueError(f"prototype momentum beta must lie in [0, 1), got {momentum}")
        self.momentum = momentum
        self.register_buffer("prototypes", torch.zeros(n_classes, dim))
        self.register_buffer("initialised", torch.zeros(n_classes, dtype=torch.bool))

    @torch.no_grad()
    def update(self, features: Tensor, labels: Tensor) -> None:
        """Fold labeled features (B x d, detached here) into their classes' prototypes."""
        if features.shape[0] != labels.shape[0]:
            raise ValueError(f"{features.shape[0]} features but {labels.shape[0]} labels")
        beta = self.momentum
        for f, y in zip(features.detach().float(), labels.tolist(), strict=True):
            if not 0 <= y < self.prototypes.shape[0]:
                raise ValueError(f"label {y} outside 0..{self.prototypes.shape[0] - 1}")
            if self.initialised[y]:
                self.prototypes[y] = (1 - beta) * f + beta * self.prototypes[y]
            else:
                self.prototypes[y] = f
                self.initialised[y] = True


class MemoryBank(nn.Module):
    """FIFO memory bank M of unlabeled teacher features with their pseudo-labels (004 Sec.
    3.3; its size is not given in 004: a setting).

    Buffers: ``features`` size x d, ``labels`` size (-1: empty slot), ``pointer`` (next slot
    to overwrite), ``count`` (filled slots).
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"memory bank size must be >= 1, got {size}")
        self.size = size
        self.register_buffer("features", torch.zeros(size, dim))
        self.register_buffer("labels", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, features: Tensor, labels: Tensor) -> None:
        """Append B features (B x d, detached) and their pseudo-labels; the oldest entries are
        overwritten once the bank is full."""
        if features.shape[0] != labels.shape[0]:
            raise ValueError(f"{features.shape[0]} features but {labels.shape[0]} labels")
        features, labels = features.detach()[-self.size :], labels.detach()[-self.size :]
        n, p = features.shape[0], int(self.pointer)
        slots = (p + torch.arange(n, device=self.labels.device)) % self.size
        self.features[slots] = features.to(self.features.dtype)
        self.labels[slots] = labels.to(self.labels.dtype)
        self.pointer.fill_((p + n) % self.size)
        self.count.fill_(min(self.size, int(self.count) + n))

    def entries(self) -> tuple[Tensor, Tensor]:
        """The stored (features k x d, labels k), oldest first."""
        k, p = int(self.count), int(self.pointer)
        order = torch.arange(p - k, p, device=self.labels.device) % self.size
        return self.features[order], self.labels[order]


def prototype_similarity(features: Tensor, labels: Tensor, prototypes: ClassPrototypes) -> Tensor:
    """dis(f_i, X^{y_i}) of 004 eq. 8: cosine similarity of each feature (B x d) to the
    prototype of its (pseudo-)label (B); NaN where that class has no prototype yet."""
    proto = prototypes.prototypes[labels].to(features.dtype)
    sim = F.cosine_similarity(features, proto, dim=-1)
    return torch.where(prototypes.initialised[labels], sim, torch.full_like(sim, float("nan")))


def gmm_reliability(values: np.ndarray | Tensor, *, seed: int = 0) -> np.ndarray:
    """gamma_i of 004 eq. 9: a two-component Gaussian mixture fitted to the similarities
    ``values`` (1-D); gamma_i is the posterior probability that value i belongs to the
    component with the larger mean (closer to the prototype). In [0, 1].

    With fewer than two distinct values no second component can be fitted: every gamma is
    ``UNDECIDED`` (0.5, the posterior when both components coincide).
    """
    v = np.asarray(values.detach().cpu().double() if isinstance(values, Tensor) else values)
    v = v.astype(np.float64).reshape(-1)
    if not np.all(np.isfinite(v)):
        raise ValueError("gmm_reliability needs finite similarities (drop NaN entries first)")
    if v.size < 2 or np.ptp(v) < 1e-6:
        return np.full(v.shape, UNDECIDED)
    gmm = GaussianMixture(n_components=2, covariance_type="full", random_state=seed)
    gmm.fit(v[:, None])
    reliable = int(np.argmax(gmm.means_[:, 0]))
    return gmm.predict_proba(v[:, None])[:, reliable]


class Reliability(NamedTuple):
    """Reliability scores of one batch of B anchors against a bank of K entries.

    Attributes:
        sample: B, gamma of each anchor's own weak-view feature f^p (the reliability of x^u).
        bank: B x K, gamma of bank entry j in anchor i's candidate set (0 outside it).
        candidate: B x K, bank entry j has anchor i's pseudo-label (eq. 7).
    """

    sample: Tensor
    bank: Tensor
    candidate: Tensor


def reliability(
    weak: Tensor,
    pseudo: Tensor,
    prototypes: ClassPrototypes,
    bank_features: Tensor,
    bank_labels: Tensor,
    *,
    scope: str = "anchor",
    seed: int = 0,
) -> Reliability:
    """Eqs. 7-9 for a batch.

    Args:
        weak: B x d teacher features f^p of the weak views.
        pseudo: B pseudo-labels.
        prototypes: the class prototypes.
        bank_features, bank_labels: K x d and K, the memory bank's entries.
        scope: what one mixture is fitted to. "anchor" (eq. 9 as written): per anchor, the
            similarities of its candidate set N^+ (f^p and the bank entries of its
            pseudo-class) to that class's prototype. "bank": one mixture over every bank
            entry and every f^p of the batch (each against its own pseudo-class prototype),
            steadier when a class has few bank entries.
        seed: random_state of the mixture's k-means initialisation.

    Returns:
        ``Reliability`` (sample B, bank B x K, candidate B x K), float on ``weak``'s device.
    """
    if scope not in GMM_SCOPES:
        raise ValueError(f"gmm scope must be one of {GMM_SCOPES}, got {scope!r}")
    b, k = weak.shape[0], bank_features.shape[0]
    device = weak.device
    candidate = pseudo[:, None] == bank_labels[None, :]
    sim_weak = prototype_similarity(weak.float(), pseudo, prototypes).cpu().numpy()
    sim_bank = prototype_similarity(bank_features.float(), bank_labels, prototypes)
    sim_bank = sim_bank.cpu().numpy()
    sample = np.full(b, UNDECIDED)
    bank = np.zeros((b, k))
    if scope == "bank":
        values = np.concatenate([sim_bank, sim_weak])
        known = np.isfinite(values)
        gamma = np.full(values.shape, UNDECIDED)
        gamma[known] = gmm_reliability(values[known], seed=seed)
        sample = gamma[k:]
        bank = np.broadcast_to(gamma[:k], (b, k)).copy()
    else:
        cand = candidate.cpu().numpy()
        for i in range(b):
            if not np.isfinite(sim_weak[i]):
                bank[i, cand[i]] = UNDECIDED  # no prototype of this class yet
                continue
            gamma = gmm_reliability(np.concatenate([[sim_weak[i]], sim_bank[cand[i]]]), seed=seed)
            sample[i], bank[i, cand[i]] = gamma[0], gamma[1:]
    bank = np.where(candidate.cpu().numpy(), bank, 0.0)
    return Reliability(
        sample=torch.as_tensor(sample, dtype=torch.float32, device=device),
        bank=torch.as_tensor(bank, dtype=torch.float32, device=device),
        candidate=candidate,
    )


def positive_mask(rel: Reliability, epsilon: float, *, sample_confidence: bool = True) -> Tensor:
    """Bank positives N^+ of each anchor (B x K bool); f^p is always a positive (eq. 11).

    Eq. 10: candidates with gamma > epsilon. Algorithm 1: when the anchor itself is
    unreliable (its gamma <= epsilon), only f^p is positive and the whole bank is negative.
    ``sample_confidence=False`` drops that test (004 Table 4, last row).
    """
    selected = rel.candidate & (rel.bank > epsilon)
    if sample_confidence:
        selected = selected & (rel.sample > epsilon)[:, None]
    return selected


def acl_loss(
    anchors: Tensor, weak: Tensor, bank_features: Tensor, positives: Tensor, temperature: float
) -> Tensor:
    """L_ACL of 004 eq. 11, averaged over the anchors:

        -log [ sum_{f in N^+} exp(f^a.f / tau) / sum_{f in N^+ or M} exp(f^a.f / tau) ]

    with N^+ = {f^p} plus the bank positives and the negatives the rest of the bank, so the
    denominator covers f^p and the whole bank.

    Args:
        anchors: B x d student features f^a of the strong views (unit norm).
        weak: B x d teacher features f^p of the weak views (unit norm; no gradient flows).
        bank_features: K x d memory bank entries (no gradient flows).
        positives: B x K bool, the bank positives (``positive_mask``).
        temperature: tau (004: 0.07).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    a = anchors.float()
    own = (a * weak.detach().float()).sum(-1, keepdim=True) / temperature  # B x 1
    bank = a @ bank_features.detach().float().T / temperature  # B x K
    logits = torch.cat([own, bank], dim=1)
    own_positive = torch.ones(positives.shape[0], 1, dtype=torch.bool, device=positives.device)
    pos = torch.cat([own_positive, positives.bool()], dim=1)
    numerator = torch.logsumexp(logits.masked_fill(~pos, float("-inf")), dim=1)
    return (torch.logsumexp(logits, dim=1) - numerator).mean()
