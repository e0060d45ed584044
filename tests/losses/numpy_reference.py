"""Independent float64 reference implementations written as explicit loops in numpy.

They follow the authors' released code (TimeBalance ``pretraining.py``, TCLR's
``NTXentLoss`` with dot-product similarity and ``global_local_temporal_contrastive``,
``train_semisup.py``) term by term, without sharing any code with ``timebalance``.
"""

from __future__ import annotations

import math

import numpy as np


def _log_sum_exp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    return float(sum(float(x) * float(y) for x, y in zip(u, v, strict=True)))


def nt_xent(zis: np.ndarray, zjs: np.ndarray, temperature: float = 0.1) -> float:
    """SimCLR NTXentLoss as in TCLR: logits = [positive, 2N - 2 negatives], CE sum / 2N."""
    n = zis.shape[0]
    reps = np.concatenate([zjs, zis], axis=0)
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        logits = [_dot(reps[i], reps[positive]) / temperature]
        for k in range(2 * n):
            if k not in (i, positive):
                logits.append(_dot(reps[i], reps[k]) / temperature)
        total += -(logits[0] - _log_sum_exp(logits))
    return total / (2 * n)


def invariant_loss(sparse: np.ndarray, dense: np.ndarray, temperature: float = 0.1) -> float:
    """loss_ic2 + loss_ic1 of the authors' pretraining loop (dense loss divided by 4)."""
    loss_ic2 = nt_xent(sparse[0], sparse[1], temperature)
    n = dense.shape[2]
    loss_ic1 = 0.0
    for ii in range(2):
        for jj in range(2):
            for chunk in range(n):
                for chunk1 in range(n):
                    if ii == jj and chunk == chunk1:
                        continue
                    loss_ic1 += nt_xent(dense[ii, :, chunk], dense[jj, :, chunk1], temperature)
    return loss_ic2 + loss_ic1 / 4


def local_local_loss(dense: np.ndarray, temperature: float = 0.1, reduction: str = "mean") -> float:
    """Per video NT-Xent over its n timestamps, copy 0 vs copy 1; summed or averaged."""
    per_video = [nt_xent(dense[0, v], dense[1, v], temperature) for v in range(dense.shape[1])]
    return sum(per_video) if reduction == "sum" else sum(per_video) / len(per_video)


def _global_local_once(lsr: np.ndarray, gdr: np.ndarray, temperature: float) -> float:
    b, n, _ = lsr.shape
    total = 0.0
    for v in range(b):
        sim = [[_dot(lsr[v, r], gdr[v, c]) / temperature for c in range(n)] for r in range(n)]
        for t in range(n):
            row = sim[t]
            column = [sim[r][t] for r in range(n)]
            total += _log_sum_exp(row) - row[t]
            total += _log_sum_exp(column) - column[t]
    return total / (2 * b)


def global_local_loss(slices: np.ndarray, dense: np.ndarray, temperature: float = 0.1) -> float:
    return sum(
        _global_local_once(slices[a], dense[c], temperature) for a in range(2) for c in range(2)
    )


def _softmax(row: np.ndarray) -> np.ndarray:
    top = max(float(x) for x in row)
    exps = [math.exp(float(x) - top) for x in row]
    s = sum(exps)
    return np.array([e / s for e in exps])


def distillation_per_sample(logits: np.ndarray, teacher: np.ndarray, kind: str) -> np.ndarray:
    out = []
    for row, p_t in zip(logits, teacher, strict=True):
        p_s = _softmax(row)
        if kind == "l2":
            out.append(sum((a - b) ** 2 for a, b in zip(p_s, p_t, strict=True)) / len(p_t))
        elif kind == "kl":
            out.append(sum(t * math.log(t / s) for t, s in zip(p_t, p_s, strict=True) if t > 0))
        elif kind == "js":
            value = 0.0
            for t, s in zip(p_t, p_s, strict=True):
                m = (t + s) / 2
                if t > 0:
                    value += 0.5 * t * math.log(t / m)
                value += 0.5 * s * math.log(s / m)
            out.append(value)
        else:
            raise ValueError(kind)
    return np.array(out)


def cosine_matrix(z: np.ndarray) -> np.ndarray:
    n = z.shape[0]
    c = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            c[i, j] = _dot(z[i], z[j]) / (math.sqrt(_dot(z[i], z[i])) * math.sqrt(_dot(z[j], z[j])))
    return c


def similarity_score(z_inv: np.ndarray, z_dist: np.ndarray) -> np.ndarray:
    """eq. 6: sum of off-diagonal entries of C_I + C_D over 2 n (n - 1)."""
    scores = []
    for zi, zd in zip(z_inv, z_dist, strict=True):
        n = zi.shape[0]
        ci, cd = cosine_matrix(zi), cosine_matrix(zd)
        total = sum(ci[a, b] + cd[a, b] for a in range(n) for b in range(n) if a != b)
        scores.append(total / (2 * n * (n - 1)))
    return np.array(scores)


def cross_entropy(logits: np.ndarray, label: int) -> float:
    row = [float(x) for x in logits]
    return _log_sum_exp(row) - row[label]
