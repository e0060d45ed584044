"""Adaptive contrastive learning, ACL (004 Sec. 3.3, Algorithm 1, eqs. 4-11).

Pieces, in the order Algorithm 1 uses them:

- ``ClassPrototypes``: one prototype per class, the EMA of labeled features f^l (eqs. 4-5);
- ``MemoryBank``: a FIFO of unlabeled teacher features f^p with their pseudo-labels;
- ``prototype_similarity``: eq. 8 (the paper calls it a cosine *distance*, but its formula is
  the cosine similarity; close to the prototype = large value = reliable);
- ``gmm_reliability_batched`` / ``gmm_reliability``: eq. 9, a two-component Gaussian mixture
  fitted by EM to each set of similarities; gamma is the posterior of the component with the
  larger mean similarity. A batched EM in torch, the same algorithm as scikit-learn's
  ``GaussianMixture`` (same M-step, stopping rule and defaults, tested against it from the
  same initial parameters): one fit per anchor costs ~50 ms in scikit-learn with its k-means
  initialisation, this fits every anchor of a step at once on the training device;
- ``reliability``: eqs. 7-9 for a batch: gamma of every anchor's weak-view feature f^p and of
  every bank entry of its pseudo-class;
- ``positive_mask``: eq. 10 and the unreliable branch of Algorithm 1;
- ``acl_loss``: eq. 11.

Features are the L2-normalised outputs of the spatial projection heads (``ProjectionHead``),
so dot products are cosine similarities. Nothing here calls ``.cuda()``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
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


# scikit-learn's GaussianMixture defaults
GMM_MAX_ITER, GMM_TOL, GMM_REG_COVAR = 100, 1e-3, 1e-6
_LOG_2PI = float(np.log(2 * np.pi))


class Mixture(NamedTuple):
    """Parameters of B two-component 1-D mixtures: weights, means, variances, each B x 2."""

    weights: Tensor
    means: Tensor
    variances: Tensor


def _m_step(x: Tensor, resp: Tensor, mask: Tensor, reg_covar: float) -> Mixture:
    """scikit-learn's M-step ("full" covariance, 1-D): x B x n, resp B x n x 2 (0 where
    ``mask`` is False)."""
    resp = resp * mask[..., None]
    nk = resp.sum(1) + 10 * torch.finfo(x.dtype).eps  # B x 2
    means = (resp * x[..., None]).sum(1) / nk
    variances = (resp * (x[..., None] - means[:, None, :]) ** 2).sum(1) / nk + reg_covar
    return Mixture(nk / nk.sum(-1, keepdim=True), means, variances)


def _e_step(x: Tensor, mask: Tensor, mix: Mixture) -> tuple[Tensor, Tensor]:
    """(mean log-likelihood of each set B, log responsibilities B x n x 2)."""
    var = mix.variances[:, None, :]
    log_p = -0.5 * (_LOG_2PI + var.log() + (x[..., None] - mix.means[:, None, :]) ** 2 / var)
    weighted = log_p + mix.weights.log()[:, None, :]
    log_norm = torch.logsumexp(weighted, dim=-1)  # B x n
    mean_ll = (log_norm * mask).sum(1) / mask.sum(1).clamp_min(1)
    return mean_ll, weighted - log_norm[..., None]


def gmm_init(values: Tensor, mask: Tensor, *, reg_covar: float = GMM_REG_COVAR) -> Mixture:
    """Initial mixtures: each set split at the midpoint of its range (component 0 below,
    1 above), then one M-step. Deterministic, so runs are exactly reproducible."""
    x = values.double()
    inf = torch.full_like(x, float("inf"))
    low = torch.where(mask, x, inf).amin(1, keepdim=True)
    high = torch.where(mask, x, -inf).amax(1, keepdim=True)
    upper = (x > (low + high) / 2).double()
    return _m_step(x, torch.stack([1 - upper, upper], dim=-1), mask.double(), reg_covar)


def gmm_fit(
    values: Tensor,
    mask: Tensor,
    *,
    init: Mixture | None = None,
    max_iter: int = GMM_MAX_ITER,
    tol: float = GMM_TOL,
    reg_covar: float = GMM_REG_COVAR,
) -> tuple[Mixture, Tensor]:
    """EM for B independent two-component 1-D mixtures, each on the entries of its row where
    ``mask`` holds (scikit-learn's loop: E-step, M-step, stop once the mean log-likelihood
    changes by less than ``tol``; a set that has converged keeps its parameters).

    Args:
        values: B x n values (any float dtype; computed in float64).
        mask: B x n bool, the entries of each set.
        init: initial parameters (default ``gmm_init``).

    Returns:
        (fitted ``Mixture``, posterior B x n x 2 under it, 0 outside ``mask``).
    """
    x, m = values.double(), mask.double()
    mix = gmm_init(x, mask, reg_covar=reg_covar) if init is None else init
    mix = Mixture(*(t.double().to(x.device) for t in mix))
    lower = torch.full((x.shape[0],), -float("inf"), dtype=x.dtype, device=x.device)
    done = m.sum(1) < 2
    for _ in range(max_iter):
        mean_ll, log_resp = _e_step(x, m, mix)
        new = _m_step(x, log_resp.exp(), m, reg_covar)
        keep = done[:, None]
        mix = Mixture(*(torch.where(keep, old, upd) for old, upd in zip(mix, new, strict=True)))
        change = mean_ll - lower
        lower = torch.where(done, lower, mean_ll)
        done = done | (change.abs() < tol)
        if bool(done.all()):
            break
    _, log_resp = _e_step(x, m, mix)
    return mix, log_resp.exp() * m[..., None]


def gmm_reliability_batched(values: Tensor, mask: Tensor) -> Tensor:
    """gamma of 004 eq. 9 for B sets at once: the posterior of the component with the larger
    mean, B x n float (0 outside ``mask``). A set with fewer than two distinct values cannot
    be split into two components: its gamma is ``UNDECIDED`` (0.5, the posterior when both
    components coincide)."""
    if values.shape != mask.shape:
        raise ValueError(f"values {tuple(values.shape)} and mask {tuple(mask.shape)} differ")
    if values.shape[-1] == 0:
        return values.clone()
    x = values.double()
    inf = torch.full_like(x, float("inf"))
    spread = torch.where(mask, x, -inf).amax(1) - torch.where(mask, x, inf).amin(1)
    valid = (mask.sum(1) >= 2) & (spread >= 1e-6)
    gamma = torch.full_like(x, UNDECIDED)
    if bool(valid.any()):
        mix, post = gmm_fit(x[valid], mask[valid])
        reliable = mix.means.argmax(-1)  # B' (which component lies closer to the prototype)
        gamma[valid] = post.gather(-1, reliable[:, None, None].expand(-1, x.shape[1], 1))[..., 0]
    return torch.where(mask, gamma, torch.zeros_like(gamma)).to(values.dtype)


def gmm_reliability(values: np.ndarray | Tensor) -> np.ndarray:
    """``gmm_reliability_batched`` of one 1-D set of similarities; float64 numpy."""
    v = torch.as_tensor(np.asarray(values, dtype=np.float64)).reshape(1, -1)
    if not bool(torch.isfinite(v).all()):
        raise ValueError("gmm_reliability needs finite similarities (drop NaN entries first)")
    return gmm_reliability_batched(v, torch.ones_like(v, dtype=torch.bool))[0].numpy()


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

    Returns:
        ``Reliability`` (sample B, bank B x K, candidate B x K), float on ``weak``'s device.
    """
    if scope not in GMM_SCOPES:
        raise ValueError(f"gmm scope must be one of {GMM_SCOPES}, got {scope!r}")
    b, k = weak.shape[0], bank_features.shape[0]
    candidate = pseudo[:, None] == bank_labels[None, :]
    sim_weak = prototype_similarity(weak.detach().float(), pseudo, prototypes)  # B
    sim_bank = prototype_similarity(bank_features.detach().float(), bank_labels, prototypes)
    if scope == "bank":
        values = torch.cat([sim_bank, sim_weak])[None]  # one set: the bank, then the batch
        known = torch.isfinite(values)
        gamma = gmm_reliability_batched(values.nan_to_num(), known)
        gamma = torch.where(known, gamma, torch.full_like(gamma, UNDECIDED))[0]
        sample, bank = gamma[k:], gamma[:k].expand(b, k)
    else:
        # one set per anchor: its own f^p, then the bank entries of its pseudo-class
        values = torch.cat([sim_weak[:, None], sim_bank.expand(b, k)], dim=1)
        known = torch.isfinite(sim_weak)[:, None]
        own = torch.ones(b, 1, dtype=torch.bool, device=candidate.device)
        members = torch.cat([own, candidate], dim=1) & known
        gamma = gmm_reliability_batched(values.nan_to_num(), members)
        gamma = torch.where(known, gamma, torch.full_like(gamma, UNDECIDED))
        sample, bank = gamma[:, 0], gamma[:, 1:]
    bank = torch.where(candidate, bank, torch.zeros_like(bank))
    return Reliability(sample=sample.float(), bank=bank.float(), candidate=candidate)


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
