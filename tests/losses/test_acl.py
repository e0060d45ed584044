"""ACL (004 Sec. 3.3): prototypes, memory bank, eq. 8, the GMM reliability of eq. 9 against
scikit-learn, the positive selection of eq. 10 / Algorithm 1 and eq. 11 against explicit
loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture

from timebalance.losses.acl import (
    UNDECIDED,
    ClassPrototypes,
    MemoryBank,
    Reliability,
    acl_loss,
    gmm_fit,
    gmm_init,
    gmm_reliability,
    gmm_reliability_batched,
    positive_mask,
    prototype_similarity,
    reliability,
)

# Two clusters of cosine similarities: reliable near 0.8, unreliable near 0.1.
VALUES = np.array([0.82, 0.79, 0.85, 0.77, 0.81, 0.12, 0.05, 0.18, 0.45, 0.60])


def _normal_pdf(x: float, mean: float, var: float) -> float:
    return math.exp(-((x - mean) ** 2) / (2 * var)) / math.sqrt(2 * math.pi * var)


def _sklearn_posterior(values: np.ndarray, init) -> tuple[np.ndarray, GaussianMixture]:
    """scikit-learn's EM from the same initial parameters; the posterior of the component
    with the larger mean, written out from its fitted parameters."""
    gmm = GaussianMixture(
        n_components=2,
        weights_init=init.weights[0].numpy(),
        means_init=init.means[0].numpy()[:, None],
        precisions_init=(1 / init.variances[0].numpy()).reshape(2, 1, 1),
        tol=1e-3,
        max_iter=100,
        reg_covar=1e-6,
    ).fit(values[:, None])
    hi = int(np.argmax(gmm.means_[:, 0]))
    w, m, v = gmm.weights_, gmm.means_[:, 0], gmm.covariances_.reshape(2)
    post = []
    for x in values:
        dens = [w[c] * _normal_pdf(x, m[c], v[c]) for c in (0, 1)]
        post.append(dens[hi] / sum(dens))
    return np.array(post), gmm


SETS = [
    VALUES,
    np.array([0.31, 0.29, 0.35, 0.9, 0.28, 0.33, 0.3]),  # one outlier above
    np.random.default_rng(0).normal(0.5, 0.2, 40).clip(-1, 1),  # unimodal
    np.array([0.1, 0.9]),
]


@pytest.mark.parametrize("values", SETS, ids=["two_modes", "outlier", "unimodal", "pair"])
def test_batched_em_matches_sklearn_from_the_same_start(values):
    x = torch.tensor(values)[None]
    mask = torch.ones_like(x, dtype=torch.bool)
    init = gmm_init(x, mask)
    mix, _ = gmm_fit(x, mask, init=init)
    want, gmm = _sklearn_posterior(values, init)
    assert np.allclose(np.sort(mix.means[0].numpy()), np.sort(gmm.means_[:, 0]), atol=1e-6)
    assert np.allclose(np.sort(mix.weights[0].numpy()), np.sort(gmm.weights_), atol=1e-6)
    gamma = gmm_reliability(values)
    assert np.allclose(gamma, want, atol=1e-6)
    assert np.all((gamma >= 0) & (gamma <= 1))


def test_batched_em_fits_padded_sets_independently():
    width = max(len(v) for v in SETS)
    x = torch.zeros(len(SETS), width, dtype=torch.float64)
    mask = torch.zeros_like(x, dtype=torch.bool)
    for i, v in enumerate(SETS):
        x[i, : len(v)] = torch.tensor(v)
        x[i, len(v) :] = 99.0  # padding must not count
        mask[i, : len(v)] = True
    gamma = gmm_reliability_batched(x, mask)
    for i, v in enumerate(SETS):
        assert np.allclose(gamma[i, : len(v)].numpy(), gmm_reliability(v), atol=1e-9)
        assert torch.all(gamma[i, len(v) :] == 0)


def test_gmm_reliability_agrees_with_sklearn_defaults_on_two_clear_modes():
    # With two clear modes both initialisations (ours: split at mid-range; scikit-learn's
    # default: k-means) reach the same fit. With ambiguous middle values (VALUES[8:]) they
    # can reach different local optima, hence the same-start comparison above.
    clear = VALUES[:8]
    gamma = gmm_reliability(clear)
    gmm = GaussianMixture(n_components=2, random_state=0).fit(clear[:, None])
    hi = int(np.argmax(gmm.means_[:, 0]))
    assert np.allclose(gamma, gmm.predict_proba(clear[:, None])[:, hi], atol=1e-6)
    assert gamma[:5].min() > 0.99 and gamma[5:8].max() < 0.01
    # the reliable component is the one closer to the prototype, wherever it is listed
    mirrored = gmm_reliability(-VALUES)
    assert mirrored[:5].max() < 0.1 and mirrored[5:8].min() > 0.9


@pytest.mark.parametrize("values", [[0.3], [0.5, 0.5, 0.5], []])
def test_gmm_reliability_is_undecided_without_two_distinct_values(values):
    gamma = gmm_reliability(np.array(values, dtype=float))
    assert gamma.shape == (len(values),) and np.all(gamma == UNDECIDED)


def test_gmm_reliability_rejects_nan():
    with pytest.raises(ValueError, match="finite"):
        gmm_reliability(np.array([0.1, float("nan"), 0.3]))


def test_prototypes_follow_eq5_in_batch_order():
    protos = ClassPrototypes(n_classes=3, dim=2, momentum=0.9)
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    protos.update(f, torch.tensor([0, 0, 2]))
    first = 0.1 * f[1] + 0.9 * f[0]  # class 0: initialised by f0, then one EMA step
    assert torch.allclose(protos.prototypes[0], first)
    assert torch.equal(protos.prototypes[2], f[2])
    assert protos.initialised.tolist() == [True, False, True]
    protos.update(torch.tensor([[4.0, -4.0]]), torch.tensor([0]))
    assert torch.allclose(protos.prototypes[0], 0.1 * torch.tensor([4.0, -4.0]) + 0.9 * first)
    with pytest.raises(ValueError, match="label 3"):
        protos.update(f[:1], torch.tensor([3]))


def test_prototype_similarity_is_eq8_and_nan_without_prototype():
    protos = ClassPrototypes(n_classes=2, dim=2, momentum=0.9)
    protos.update(torch.tensor([[3.0, 4.0]]), torch.tensor([1]))
    sim = prototype_similarity(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([1, 0]), protos)
    assert sim[0].item() == pytest.approx(3 / 5)
    assert math.isnan(sim[1].item())


def test_memory_bank_is_fifo_and_carries_pseudo_labels():
    bank = MemoryBank(size=4, dim=2)
    feats = torch.arange(12.0).view(6, 2)
    bank.enqueue(feats[:3], torch.tensor([10, 11, 12]))
    f, y = bank.entries()
    assert torch.equal(f, feats[:3]) and y.tolist() == [10, 11, 12]
    bank.enqueue(feats[3:], torch.tensor([13, 14, 15]))
    f, y = bank.entries()
    # entries 0 and 1 were the oldest: overwritten; the rest oldest first
    assert torch.equal(f, feats[2:]) and y.tolist() == [12, 13, 14, 15]
    assert int(bank.pointer) == 2 and int(bank.count) == 4
    bank.enqueue(torch.arange(10.0).view(5, 2), torch.arange(5))
    f, y = bank.entries()
    assert y.tolist() == [1, 2, 3, 4], "a batch larger than the bank keeps its last entries"
    # state survives a checkpoint round trip (buffers)
    copy = MemoryBank(size=4, dim=2)
    copy.load_state_dict(bank.state_dict())
    assert torch.equal(copy.entries()[0], f)


def _fixture():
    torch.manual_seed(0)
    protos = ClassPrototypes(n_classes=3, dim=4, momentum=0.9)
    protos.update(torch.randn(2, 4), torch.tensor([0, 1]))  # class 2 has no prototype
    weak = torch.nn.functional.normalize(torch.randn(3, 4), dim=1)
    pseudo = torch.tensor([0, 1, 2])
    bank_f = torch.nn.functional.normalize(torch.randn(9, 4), dim=1)
    bank_y = torch.tensor([0, 0, 1, 0, 1, 1, 0, 2, 1])
    return protos, weak, pseudo, bank_f, bank_y


def _cos(u: torch.Tensor, v: torch.Tensor) -> float:
    return float(u @ v / (u.norm() * v.norm()))


def test_reliability_per_anchor_fits_one_mixture_to_each_candidate_set():
    protos, weak, pseudo, bank_f, bank_y = _fixture()
    rel = reliability(weak, pseudo, protos, bank_f, bank_y, scope="anchor")
    for i in range(2):
        c = int(pseudo[i])
        members = [j for j in range(9) if int(bank_y[j]) == c]
        values = [_cos(weak[i], protos.prototypes[c])]
        values += [_cos(bank_f[j], protos.prototypes[c]) for j in members]
        expected = gmm_reliability(np.array(values))
        assert rel.sample[i].item() == pytest.approx(expected[0], abs=1e-5)
        for j in range(9):
            want = expected[1 + members.index(j)] if j in members else 0.0
            assert rel.bank[i, j].item() == pytest.approx(want, abs=1e-5)
            assert bool(rel.candidate[i, j]) == (j in members)
    # class 2 has no prototype yet: undecided, so unreliable at epsilon 0.7
    assert rel.sample[2].item() == UNDECIDED
    assert rel.bank[2].tolist() == [0.0] * 7 + [UNDECIDED, 0.0]


def test_reliability_bank_scope_fits_one_mixture_to_everything():
    protos, weak, pseudo, bank_f, bank_y = _fixture()
    rel = reliability(weak, pseudo, protos, bank_f, bank_y, scope="bank")
    known = [j for j in range(9) if int(bank_y[j]) != 2]
    values = [_cos(bank_f[j], protos.prototypes[int(bank_y[j])]) for j in known]
    values += [_cos(weak[i], protos.prototypes[int(pseudo[i])]) for i in range(2)]
    expected = gmm_reliability(np.array(values))
    assert rel.sample[:2].tolist() == pytest.approx(expected[-2:].tolist(), abs=1e-5)
    for i in range(3):
        for n, j in enumerate(known):
            want = expected[n] if int(bank_y[j]) == int(pseudo[i]) else 0.0
            assert rel.bank[i, j].item() == pytest.approx(want, abs=1e-5)
    with pytest.raises(ValueError, match="gmm scope"):
        reliability(weak, pseudo, protos, bank_f, bank_y, scope="batch")


def _eq11_loop(anchor, weak, bank, positives: list[int], tau: float) -> float:
    """-log(sum over N^+ / sum over N^+ and M - N^+); N^+ = f^p + the listed bank entries."""

    def e(f):
        return math.exp(sum(float(a) * float(b) for a, b in zip(anchor, f, strict=True)) / tau)

    pos = e(weak) + sum(e(bank[j]) for j in positives)
    neg = sum(e(bank[j]) for j in range(len(bank)) if j not in positives)
    return -math.log(pos / (pos + neg))


def test_acl_loss_matches_eq11_in_both_branches():
    torch.manual_seed(1)
    b, k, d, tau, eps = 3, 6, 5, 0.07, 0.7
    anchors = torch.nn.functional.normalize(torch.randn(b, d, dtype=torch.float64), dim=1)
    weak = torch.nn.functional.normalize(torch.randn(b, d, dtype=torch.float64), dim=1)
    bank = torch.nn.functional.normalize(torch.randn(k, d, dtype=torch.float64), dim=1)
    candidate = torch.tensor(
        [[1, 1, 0, 1, 0, 0], [1, 0, 1, 0, 1, 1], [0, 1, 1, 0, 0, 1]], dtype=torch.bool
    )
    bank_gamma = torch.tensor(
        [
            [0.95, 0.40, 0.0, 0.80, 0.0, 0.0],
            [0.90, 0.00, 0.99, 0.0, 0.75, 0.10],
            [0.00, 0.99, 0.98, 0.0, 0.0, 0.97],
        ]
    )
    # anchor 0 and 1 reliable, anchor 2 not (gamma 0.6 <= epsilon)
    rel = Reliability(torch.tensor([0.9, 0.8, 0.6]), bank_gamma, candidate)
    mask = positive_mask(rel, eps)
    expected_sets = [[0, 3], [0, 2, 4], []]  # the unreliable anchor: only f^p is positive
    assert [torch.nonzero(row).flatten().tolist() for row in mask] == expected_sets
    loss = acl_loss(anchors, weak, bank, mask, tau)
    want = np.mean([_eq11_loop(anchors[i], weak[i], bank, expected_sets[i], tau) for i in range(b)])
    assert loss.item() == pytest.approx(want, rel=1e-6)
    # Without the confidence of x^u (004 Table 4, last row) anchor 2 keeps its reliable peers.
    mask = positive_mask(rel, eps, sample_confidence=False)
    sets = [[0, 3], [0, 2, 4], [1, 2, 5]]
    assert [torch.nonzero(row).flatten().tolist() for row in mask] == sets
    loss = acl_loss(anchors, weak, bank, mask, tau)
    want = np.mean([_eq11_loop(anchors[i], weak[i], bank, sets[i], tau) for i in range(b)])
    assert loss.item() == pytest.approx(want, rel=1e-6)


def test_acl_loss_gradient_reaches_only_the_anchors():
    torch.manual_seed(2)
    anchors = torch.randn(2, 3, requires_grad=True)
    weak = torch.randn(2, 3, requires_grad=True)
    bank = torch.randn(4, 3, requires_grad=True)
    acl_loss(anchors, weak, bank, torch.zeros(2, 4, dtype=torch.bool), 0.07).backward()
    assert anchors.grad is not None and weak.grad is None and bank.grad is None
    # an empty bank: f^p is the only entry, the loss is exactly 0
    empty = acl_loss(anchors, weak, bank[:0], torch.zeros(2, 0, dtype=torch.bool), 0.07)
    assert empty.item() == pytest.approx(0.0, abs=1e-7)


def test_reliability_with_an_empty_bank_scores_each_anchor_alone():
    protos, weak, pseudo, bank_f, bank_y = _fixture()
    for scope in ("anchor", "bank"):
        rel = reliability(weak, pseudo, protos, bank_f[:0], bank_y[:0], scope=scope)
        assert rel.bank.shape == (3, 0) and rel.sample.shape == (3,)
        if scope == "anchor":  # a set of one value: undecided
            assert rel.sample.tolist() == [UNDECIDED] * 3
