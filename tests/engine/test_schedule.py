import torch

from timebalance.engine.schedule import WarmupPlateau


def _opt():
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)


def test_linear_warmup_then_base_rate():
    opt = _opt()
    sched = WarmupPlateau(opt, base_lr=1e-3, warmup_epochs=4, patience=2)
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"])
        sched.step(1.0 / (len(seen)))  # improving loss: no decay
    assert seen[:4] == [2.5e-4, 5e-4, 7.5e-4, 1e-3]
    assert seen[4:] == [1e-3, 1e-3]


def test_halves_on_plateau_and_state_round_trips():
    opt = _opt()
    sched = WarmupPlateau(opt, base_lr=1e-3, warmup_epochs=0, patience=1)
    for loss in [1.0, 1.0, 1.0]:  # best, bad, bad -> halve after patience
        sched.step(loss)
    assert opt.param_groups[0]["lr"] == 5e-4
    other = WarmupPlateau(_opt(), base_lr=1e-3, warmup_epochs=0, patience=1)
    other.load_state_dict(sched.state_dict())
    assert other.lr == sched.lr and other.best == sched.best


def test_rejects_bad_factor():
    import pytest

    with pytest.raises(ValueError, match="factor"):
        WarmupPlateau(_opt(), base_lr=1e-3, factor=2.0)
