"""Contrastive losses against explicit numpy loops (float64), edge cases and gradients."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from timebalance import losses
from timebalance.losses import (
    Projections,
    distinctive_loss,
    global_local_loss,
    invariant_loss,
    local_local_loss,
    nt_xent,
    pretraining_loss,
    ssl_init_loss,
    uniform_level,
)

_spec = importlib.util.spec_from_file_location(
    "numpy_reference_contrastive", Path(__file__).with_name("numpy_reference.py")
)
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

RTOL = 1e-6


def unit(*shape: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1).to(dtype)


def views(b: int, n: int, d: int, seed: int, dtype: torch.dtype = torch.float64):
    """sparse 2 x B x d, slices and dense 2 x B x n x d unit vectors."""
    return (
        unit(2, b, d, seed=seed, dtype=dtype),
        unit(2, b, n, d, seed=seed + 1, dtype=dtype),
        unit(2, b, n, d, seed=seed + 2, dtype=dtype),
    )


@pytest.mark.parametrize(("n", "d", "temperature"), [(2, 8, 0.1), (5, 16, 0.1), (8, 4, 0.5)])
def test_nt_xent_matches_loops(n: int, d: int, temperature: float) -> None:
    a, b = unit(n, d, seed=n), unit(n, d, seed=n + 100)
    got = nt_xent(a, b, temperature)
    want = ref.nt_xent(a.numpy(), b.numpy(), temperature)
    assert got.item() == pytest.approx(want, rel=RTOL)


def test_nt_xent_default_temperature_is_0_1() -> None:
    a, b = unit(4, 8, seed=1), unit(4, 8, seed=2)
    assert nt_xent(a, b).item() == pytest.approx(ref.nt_xent(a.numpy(), b.numpy(), 0.1), rel=RTOL)


def test_nt_xent_identical_embeddings_is_log_of_2n_minus_1() -> None:
    # every logit equals 1 / temperature, so the softmax is uniform over the 2N - 1 others
    z = F.normalize(torch.ones(6, 4, dtype=torch.float64), dim=1)
    assert nt_xent(z, z).item() == pytest.approx(math.log(11), rel=1e-12)


def test_nt_xent_rejects_single_sample_and_bad_shapes() -> None:
    z = unit(1, 8, seed=0)
    with pytest.raises(ValueError, match="N >= 2"):
        nt_xent(z, z)
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(unit(3, 8, seed=0), unit(4, 8, seed=1))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(unit(3, 8, seed=0), unit(3, 8, seed=1), temperature=0.0)


@pytest.mark.parametrize(("b", "n"), [(3, 4), (2, 2), (4, 3)])
def test_invariant_loss_matches_loops(b: int, n: int) -> None:
    sparse, _, dense = views(b, n, 8, seed=10 * b + n)
    got = invariant_loss(sparse, dense)
    want = ref.invariant_loss(sparse.numpy(), dense.numpy())
    assert got.item() == pytest.approx(want, rel=RTOL)


def test_invariant_loss_needs_two_videos() -> None:
    sparse, _, dense = views(1, 4, 8, seed=0)
    with pytest.raises(ValueError, match="N >= 2"):
        invariant_loss(sparse, dense)
    with pytest.raises(ValueError, match="N >= 2"):
        ssl_init_loss(sparse, dense, dense)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize(("b", "n"), [(3, 4), (1, 2), (2, 6)])
def test_local_local_loss_matches_loops(b: int, n: int, reduction: str) -> None:
    _, _, dense = views(b, n, 8, seed=b + 7 * n)
    got = local_local_loss(dense, reduction=reduction)
    want = ref.local_local_loss(dense.numpy(), 0.1, reduction)
    assert got.item() == pytest.approx(want, rel=RTOL)


def test_local_local_loss_errors() -> None:
    _, _, dense = views(2, 1, 8, seed=0)
    with pytest.raises(ValueError, match="n >= 2"):
        local_local_loss(dense)
    _, _, dense = views(2, 3, 8, seed=0)
    with pytest.raises(ValueError, match="reduction"):
        local_local_loss(dense, reduction="max")


@pytest.mark.parametrize(("b", "n", "temperature"), [(3, 4, 0.1), (1, 2, 0.1), (2, 5, 0.3)])
def test_global_local_loss_matches_loops(b: int, n: int, temperature: float) -> None:
    _, slices, dense = views(b, n, 8, seed=b * n)
    got = global_local_loss(slices, dense, temperature)
    want = ref.global_local_loss(slices.numpy(), dense.numpy(), temperature)
    assert got.item() == pytest.approx(want, rel=RTOL)


def test_global_local_loss_identical_embeddings() -> None:
    # uniform softmax: each of 4 combinations gives n log n (n rows + n columns over 2)
    n = 4
    z = F.normalize(torch.ones(2, 3, n, 8, dtype=torch.float64), dim=-1)
    assert global_local_loss(z, z).item() == pytest.approx(4 * n * math.log(n), rel=1e-12)


def test_global_local_loss_rejects_mismatched_shapes() -> None:
    _, slices, dense = views(2, 4, 8, seed=0)
    with pytest.raises(ValueError, match="one shape"):
        global_local_loss(slices[:, :, :3], dense)
    with pytest.raises(ValueError, match="2 x B x n x d"):
        global_local_loss(slices[0], dense)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_distinctive_and_ssl_init_compose(reduction: str) -> None:
    sparse, slices, dense = views(3, 4, 8, seed=3)
    s, sl, de = sparse.numpy(), slices.numpy(), dense.numpy()
    want_d = ref.local_local_loss(de, 0.1, reduction) + ref.global_local_loss(sl, de)
    got_d = distinctive_loss(slices, dense, local_local_reduction=reduction)
    assert got_d.item() == pytest.approx(want_d, rel=RTOL)
    got_all = ssl_init_loss(sparse, slices, dense, local_local_reduction=reduction)
    assert got_all.item() == pytest.approx(want_d + ref.invariant_loss(s, de), rel=RTOL)


def test_pretraining_loss_dispatch() -> None:
    sparse, slices, dense = views(2, 4, 8, seed=4)
    z = losses.Projections(sparse=sparse, slices=slices, dense=dense)
    kw = {"temperature": 0.2, "local_local_reduction": "sum"}
    assert set(losses.PRETRAINING_LOSSES) == {"invariant", "distinctive", "ssl_init"}

    def loss(kind: str, z: losses.Projections = z) -> torch.Tensor:
        return losses.pretraining_loss(kind, z, **kw)

    assert torch.equal(loss("invariant"), invariant_loss(sparse, dense, 0.2))
    assert torch.equal(loss("distinctive"), distinctive_loss(slices, dense, 0.2, "sum"))
    assert torch.equal(loss("ssl_init"), ssl_init_loss(sparse, slices, dense, 0.2, "sum"))
    # L_I needs no slices; the objectives with L_D2 refuse to run without them
    no_slices = z._replace(slices=None)
    assert torch.equal(loss("invariant", no_slices), invariant_loss(sparse, dense, 0.2))
    assert [k for k in losses.PRETRAINING_LOSSES if losses.uses_slices(k)] == [
        "distinctive",
        "ssl_init",
    ]
    with pytest.raises(ValueError, match="needs the slices"):
        loss("distinctive", no_slices)
    with pytest.raises(ValueError, match="invariant, distinctive, ssl_init"):
        loss("tclr")


def test_float32_agrees_with_float64() -> None:
    sparse, slices, dense = views(3, 4, 16, seed=5)
    want = ssl_init_loss(sparse, slices, dense)
    got = ssl_init_loss(sparse.float(), slices.float(), dense.float())
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(want.item(), rel=1e-5)


@pytest.mark.parametrize(
    "loss_fn",
    [
        lambda s, sl, d: nt_xent(s[0], s[1]),
        lambda s, sl, d: invariant_loss(s, d),
        lambda s, sl, d: local_local_loss(d),
        lambda s, sl, d: global_local_loss(sl, d),
        lambda s, sl, d: distinctive_loss(sl, d, local_local_reduction="sum"),
        lambda s, sl, d: ssl_init_loss(s, sl, d),
    ],
    ids=["nt_xent", "invariant", "local_local", "global_local", "distinctive", "ssl_init"],
)
def test_gradient_steps_lower_the_loss(loss_fn) -> None:
    g = torch.Generator().manual_seed(0)
    raw = [
        torch.randn(2, 4, 16, generator=g).requires_grad_(),
        torch.randn(2, 4, 4, 16, generator=g).requires_grad_(),
        torch.randn(2, 4, 4, 16, generator=g).requires_grad_(),
    ]
    opt = torch.optim.Adam(raw, lr=0.05)

    def evaluate() -> torch.Tensor:
        return loss_fn(*(F.normalize(r, dim=-1) for r in raw))

    start = evaluate().item()
    for _ in range(10):
        opt.zero_grad()
        loss = evaluate()
        loss.backward()
        grads = [r.grad for r in raw if r.grad is not None]
        assert grads and all(torch.isfinite(gr).all() for gr in grads)
        opt.step()
    assert evaluate().item() < start


@pytest.mark.parametrize("b", [2, 16])
def test_uniform_level_closed_forms(b: int) -> None:
    """Uniform logits: L_D1 = ln(2n - 1) per video, L_D2 = n ln n per (video, direction) and
    copy pair (x4 pairs, / 2B of 2B rows), L_I = ln(2B - 1) x (1 + 56 / 4) for n = 4."""
    kw = {"batch_size": b, "n_clips": 4, "temperature": 0.1}
    mean = uniform_level("distinctive", local_local_reduction="mean", **kw)
    assert mean == pytest.approx(math.log(7) + 16 * math.log(4))  # ~24.1 at any batch size
    total = uniform_level("distinctive", local_local_reduction="sum", **kw)
    assert total == pytest.approx(b * math.log(7) + 16 * math.log(4))
    inv = uniform_level("invariant", local_local_reduction="mean", **kw)
    assert inv == pytest.approx(math.log(2 * b - 1) * (1 + 8 * 7 / 4))


def test_uniform_level_is_above_a_trained_loss() -> None:
    """A network whose clips differ scores below the level: random projections do."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 8, 4, 16, generator=g, dtype=torch.float64)
    z[1] = z[0] + 0.05 * torch.randn(8, 4, 16, generator=g, dtype=torch.float64)
    aligned = pretraining_loss(
        "distinctive",
        Projections(sparse=z[:, :, 0], slices=z, dense=z),
        temperature=0.1,
        local_local_reduction="mean",
    )
    level = uniform_level(
        "distinctive", batch_size=8, n_clips=4, temperature=0.1, local_local_reduction="mean"
    )
    assert float(aligned) < level


@pytest.mark.parametrize("kind", ["invariant", "distinctive", "ssl_init"])
def test_terms_add_up_to_the_objective_and_have_their_own_uniform_levels(kind: str) -> None:
    """pretraining_terms names each term of an objective; their sum is the composite loss
    function of that kind, and each term's uniform level has its closed form."""
    sparse, slices, dense = views(2, 4, 8, seed=5)
    z = losses.Projections(sparse=sparse, slices=slices, dense=dense)
    kw = {"temperature": 0.2, "local_local_reduction": "sum"}
    terms = losses.pretraining_terms(kind, z, **kw)
    assert tuple(terms) == losses.OBJECTIVE_TERMS[kind]
    composite = losses.PRETRAINING_LOSSES[kind](z, 0.2, "sum")
    assert float(sum(terms.values())) == pytest.approx(float(composite), rel=1e-12)
    levels = losses.uniform_levels(kind, batch_size=4, n_clips=2, **kw)
    closed = {
        "L_I": math.log(2 * 4 - 1) * (1 + 4 * 3 / 4),  # sparse pair + 4 x 3 dense pairs / 4
        "L_D1": 4 * math.log(3),  # sum over B = 4 videos of ln(2n - 1), n = 2
        "L_D2": 4 * 2 * math.log(2),  # 4 copy pairs x n ln n
    }
    assert levels == pytest.approx({t: closed[t] for t in terms})
    assert losses.uses_slices(kind) == ("L_D2" in terms)
