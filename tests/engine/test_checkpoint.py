import pytest
import torch

from timebalance.engine.checkpoint import load_checkpoint, load_weights, save_atomic


def test_save_is_atomic_and_loads(tmp_path):
    path = tmp_path / "a" / "ckpt.pt"
    save_atomic({"model": {"w": torch.ones(2)}, "epoch": 3}, path)
    assert load_checkpoint(path)["epoch"] == 3
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]


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
        load_checkpoint(tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError, match="run the stage"):
        load_checkpoint(tmp_path / "missing.pt")
