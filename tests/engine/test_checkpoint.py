import pickle

import pytest
import torch

from timebalance.engine.checkpoint import load_checkpoint, load_weights
from timebalance.io import write_torch


def test_checkpoint_round_trip_checks_its_modules(tmp_path):
    path = tmp_path / "a" / "ckpt.pt"
    write_torch({"weights": {"model": {"w": torch.ones(2)}}, "epoch": 3}, path)
    assert load_checkpoint(path, modules=["model"])["epoch"] == 3
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]
    with pytest.raises(
        ValueError, match=r"weights of \['backbone', 'head'\] \(it holds \['model'\]"
    ):
        load_checkpoint(path, modules=["backbone", "head"])


def test_load_weights_is_strict_and_names_keys():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 3))
    state = {k: v for k, v in net.state_dict().items() if k.startswith("0.")}
    with pytest.raises(ValueError, match=r"missing \['1.bias', '1.weight'\]"):
        load_weights(net, state, what="x")
    load_weights(net, state, what="x", skip_prefixes=("1.",))
    bad = {**state, "0.weight": torch.zeros(5, 5)}
    with pytest.raises(ValueError, match="shape"):
        load_weights(net, bad, what="x", skip_prefixes=("1.",))


def test_not_a_checkpoint(tmp_path):
    torch.save([1, 2], tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a timebalance checkpoint"):
        load_checkpoint(tmp_path / "x.pt", modules=["model"])
    with pytest.raises(FileNotFoundError, match="run the stage"):
        load_checkpoint(tmp_path / "missing.pt", modules=["model"])


class _Payload:
    """Unpickling this object runs code: it creates `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_a_pickle_that_runs_code_is_refused_unrun(tmp_path, writer):
    marker, path = tmp_path / "payload_ran", tmp_path / "ckpt.pt"
    evil = {"weights": {"model": {"w": torch.ones(1)}}, "x": _Payload(marker)}
    if writer == "torch.save":
        torch.save(evil, path)
    else:
        path.write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(ValueError, match=f"{path}.*refused"):
        load_checkpoint(path, modules=["model"])
    assert not marker.exists(), "the checkpoint's payload ran"
