"""timebalance.seeding: streams are pure functions of (seed, purpose, keys), independent across
purposes and keys, and never collide the way `seed + key` offsets do."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from timebalance.seeding import generator, stream


def test_a_stream_is_a_pure_function_of_its_arguments():
    assert stream(3, "clip-sampling", 2, 17) == stream(3, "clip-sampling", 2, 17)
    a, b = generator(3, "dropout", 4), generator(3, "dropout", 4)
    np.testing.assert_array_equal(a.random(100), b.random(100))
    assert 0 <= stream(2**40, "x", 2**40) < 2**63


def test_purposes_keys_and_seeds_give_different_streams():
    values = {
        stream(seed, purpose, *keys)
        for seed in range(4)
        for purpose in ("clip-sampling", "dropout", "shuffle", "synthetic")
        for keys in [(0, 0), (0, 1), (1, 0), (1, 1), (7, 3), (3, 7)]
    }
    assert len(values) == 4 * 4 * 6


def test_no_collision_of_seed_and_key_offsets():
    """(seed=1, key=0) and (seed=0, key=1) are different streams, unlike `seed + key`."""
    assert stream(1, "p", 0) != stream(0, "p", 1)
    assert stream(1, "p", 0, 5) != stream(0, "p", 1, 5)
    grid = {stream(s, "p", k) for s, k in itertools.product(range(50), range(50))}
    assert len(grid) == 50 * 50
    epochs_items = {stream(0, "p", e, i) for e, i in itertools.product(range(30), range(30))}
    assert len(epochs_items) == 30 * 30  # unlike `epoch * 1000 + item` style offsets


def test_keys_of_different_lengths_are_different_streams():
    assert stream(0, "p") != stream(0, "p", 0)
    assert stream(5, "p", 3) != stream(5, "p", 3, 0)


def test_streams_are_statistically_independent():
    draws = {
        "purpose": (generator(0, "a").random(20000), generator(0, "b").random(20000)),
        "key": (generator(0, "a", 0).random(20000), generator(0, "a", 1).random(20000)),
        "seed": (generator(0, "a", 1).random(20000), generator(1, "a", 0).random(20000)),
    }
    for what, (x, y) in draws.items():
        assert abs(np.corrcoef(x, y)[0, 1]) < 0.03, what  # ~4.2 sigma for n = 20000
        assert abs(x.mean() - 0.5) < 0.01 and abs(y.mean() - 0.5) < 0.01, what


def test_negative_seeds_and_keys_are_refused():
    with pytest.raises(ValueError, match=">= 0"):
        stream(-1, "p")
    with pytest.raises(ValueError, match=">= 0"):
        stream(0, "p", 2, -1)
