"""The student's joined labeled + unlabeled batches resume mid-epoch exactly (`skip`)."""

import torch
from torch.utils.data import Dataset

from timebalance.engine.loader import epoch_loader
from timebalance.methods.student import _joined_batches


class Rows(Dataset):
    def __init__(self, n: int, base: int) -> None:
        self.n, self.base = n, base

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {"clip": torch.tensor([self.base + i]), "index": i, "label": i % 3}


def _loader(n: int, base: int, batch_size: int, purpose: str):
    return epoch_loader(
        Rows(n, base),
        batch_size=batch_size,
        shuffle=True,
        seed=0,
        purpose=purpose,
        workers=0,
        device=torch.device("cpu"),
        drop_last=purpose == "unlabeled",
    )


def test_joined_batches_skip_to_what_an_uninterrupted_epoch_yields():
    # 7 labeled videos in batches of 3 (3 per pass, cycled), 40 unlabeled in batches of 6
    batches = _joined_batches(
        _loader(7, 0, 3, "labeled"), _loader(40, 100, 6, "unlabeled"), offset=7, seed=5
    )
    full = [{k: v.tolist() for k, v in b.items()} for b in batches(2)]
    assert len(batches(2)) == len(full) == 6
    for skip in (1, 4, 5):  # into the labeled stream's second and third pass
        rest = [{k: v.tolist() for k, v in b.items()} for b in batches(2, skip=skip)]
        assert rest == full[skip:]
        assert len(batches(2, skip=skip)) == 6 - skip
    for b in full:  # labeled rows (a pass's last batch holds 1), then 6 unlabeled ones
        n_lab = len(b["label"]) - 6
        assert n_lab in (1, 3) and b["label"][n_lab:] == [-1] * 6
        assert min(b["index"][n_lab:]) >= 7  # shifted past the labeled rows
