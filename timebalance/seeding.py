"""Independent random streams derived from (seed, purpose, keys...).

Every random choice in the package (shuffles, augmentation, dropout, data generation) takes
its seed from `stream`, never from ad-hoc offsets such as `seed + 1` or `epoch * 1000`, which
collide (seed 1's first stream equals seed 0's second). A stream is a pure function of its
arguments, so a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _purpose_key(purpose: str) -> int:
    return int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:4], "little")


def stream(seed: int, purpose: str, *keys: int) -> int:
    """A 63-bit seed for the stream named `purpose` of run `seed`, at `keys` (epoch, item,
    ...). Different purposes or keys give statistically independent streams."""
    # The key count is part of the entropy: numpy pads entropy with zeros, so without it
    # stream(s, p) would equal stream(s, p, 0).
    entropy = [int(seed), _purpose_key(purpose), len(keys), *(int(k) for k in keys)]
    if any(v < 0 for v in entropy):
        raise ValueError(f"seeds and keys must be >= 0, got {entropy}")
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def generator(seed: int, purpose: str, *keys: int) -> np.random.Generator:
    """A numpy Generator on `stream(seed, purpose, *keys)`."""
    return np.random.default_rng(stream(seed, purpose, *keys))
