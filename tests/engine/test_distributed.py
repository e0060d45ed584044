"""Multi-process training (`engine.distributed`): two gloo processes on CPU train through the
real launcher, `fit` and `epoch_loader` as one process does; SIGTERM in one process stops
both and the run resumes exactly; gathered contrastive losses equal the single-process
loss; and the pieces (world, batch split, launch commands, call encoding) one by one."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch.utils.data import TensorDataset

from tests.engine import distributed_toy as toy
from timebalance.engine import distributed, launch
from timebalance.engine.distributed import World
from timebalance.engine.loader import epoch_loader, shard_batches
from timebalance.engine.settings import ONE_PROCESS, RunSettings
from timebalance.io import load_torch

RUN = RunSettings(
    device="cpu", threads=2, code_version="test", log_every_steps=None, tensorboard=None
)
TWO = dataclasses.replace(RUN, accelerator=dataclasses.replace(ONE_PROCESS, processes=2))
# 64 rows in global batches of 16: 4 steps per epoch
TOY = toy.ToySettings(
    epochs=2, batch_size=16, dropout=0.0, seed=3, sigterm_at_step=None, sigterm_rank=0
)


def _train(tmp_path, name: str, run: RunSettings, settings=TOY) -> dict:
    out = tmp_path / f"{name}.out.pt"
    toy.train_toy(
        settings,
        run,
        resume=str(tmp_path / f"{name}.resume.pt"),
        metrics=str(tmp_path / f"{name}.jsonl"),
        out=str(out),
    )
    return load_torch(out)


def _assert_same_tensors(a, b, **tolerance) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same_tensors(a[key], b[key], **tolerance)
    elif isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, **tolerance)
    else:
        assert a == b


def test_two_processes_train_as_one_for_a_fixed_global_batch(tmp_path):
    one = _train(tmp_path, "one", RUN)
    two = _train(tmp_path, "two", TWO)
    assert (one["world"], two["world"]) == (1, 2)
    # the checkpoint after 8 steps: weights, Adam's moments and step counts
    ckpt_one, ckpt_two = (load_torch(tmp_path / f"{n}.resume.pt") for n in ("one", "two"))
    _assert_same_tensors(ckpt_one["modules"], ckpt_two["modules"], rtol=1e-4, atol=1e-6)
    _assert_same_tensors(
        ckpt_one["optimizer"]["state"], ckpt_two["optimizer"]["state"], rtol=1e-4, atol=1e-7
    )
    # the logged loss is the global batch's (averaged over the processes), samples all rows
    for h1, h2 in zip(one["history"], two["history"], strict=True):
        assert h2["loss"] == pytest.approx(h1["loss"], rel=1e-5)
        assert h2["val_top1"] == pytest.approx(h1["val_top1"])
        assert h2["steps"] == h1["steps"] == 4
    lines = (tmp_path / "two.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1]  # written once, by rank 0


def test_sigterm_in_one_process_stops_both_and_the_run_resumes_exactly(tmp_path):
    noisy = dataclasses.replace(TOY, dropout=0.3)  # per-process random streams matter
    straight = _train(tmp_path, "straight", TWO, noisy)
    stopped = dataclasses.replace(noisy, sigterm_at_step=6, sigterm_rank=1)  # epoch 1, step 2
    with pytest.raises(launch.LaunchFailed, match="training process failed"):
        _train(tmp_path, "resumed", TWO, stopped)
    ckpt = load_torch(tmp_path / "resumed.resume.pt")
    assert ckpt["epoch"] == 1 and ckpt["partial"]["steps"] == 2
    assert len(ckpt["partial"]["rng_ranks"]) == 1  # rank 1's random state, beside rank 0's
    resumed = _train(tmp_path, "resumed", TWO, noisy)
    assert resumed["resumed_from"] == 1
    _assert_same_tensors(straight["state"], resumed["state"], rtol=1e-6, atol=1e-7)
    assert [h["loss"] for h in resumed["history"]] == pytest.approx(
        [h["loss"] for h in straight["history"]], rel=1e-6
    )


@pytest.mark.parametrize("kind", ["ssl_init"])
def test_gathered_contrastive_loss_equals_the_single_process_loss(tmp_path, kind):
    """ssl_init holds every term: L_I with negatives across videos, L_D1 summed, L_D2."""
    batch = 6
    toy.contrastive_gradients(TWO, kind=kind, batch=batch, out=str(tmp_path / "two.pt"))
    two = load_torch(tmp_path / "two.pt")
    assert two["world"] == 2
    torch.manual_seed(0)
    head = torch.nn.Linear(6, 4).double()
    loss = toy.contrastive_step(head, kind, slice(0, batch), batch=batch, n_clips=3)
    loss.backward()
    torch.testing.assert_close(two["loss"], loss.detach())
    for name, p in head.named_parameters():
        torch.testing.assert_close(two["grads"][name], p.grad)


# ---------------------------------------------------------------- the pieces
def test_the_world_comes_from_torchrun_or_srun_variables():
    assert distributed.env_world({}) is None
    torchrun = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}
    assert distributed.env_world(torchrun) == World(rank=3, size=4, local_rank=1)
    srun = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1"}
    assert distributed.env_world(srun) == World(rank=5, size=8, local_rank=1)
    assert distributed.env_world({**srun, **torchrun}).size == 4  # torchrun's first
    with pytest.raises(ValueError, match="inconsistent"):
        distributed.env_world({"RANK": "4", "WORLD_SIZE": "4", "LOCAL_RANK": "0"})
    assert distributed.world() == World() and distributed.is_main()  # no process group


def test_every_process_reads_its_rows_of_each_global_batch():
    rows = list(range(10))
    parts = [shard_batches(rows, 4, drop_last=False, world=World(r, 2)) for r in range(2)]
    assert parts[0] == [[0, 1], [4, 5], [8]] and parts[1] == [[2, 3], [6, 7], [9]]
    assert shard_batches(rows, 4, drop_last=True, world=World(1, 2)) == [[2, 3], [6, 7]]
    # a last batch with fewer rows than processes is left out by all of them
    assert shard_batches(list(range(9)), 4, drop_last=False, world=World(1, 2)) == [[2, 3], [6, 7]]
    with pytest.raises(ValueError, match="multiple of 4"):
        shard_batches(rows, 6, drop_last=False, world=World(0, 4))


def test_training_loaders_are_split_and_resume_by_global_steps(monkeypatch):
    data = TensorDataset(torch.arange(12))
    make = epoch_loader(
        data, batch_size=4, shuffle=True, seed=0, purpose="t", workers=0, device=torch.device("cpu")
    )
    whole = [b[0].tolist() for b in make(1)]
    ordered = epoch_loader(
        data,
        batch_size=4,
        shuffle=False,
        seed=0,
        purpose="v",
        workers=0,
        device=torch.device("cpu"),
    )
    monkeypatch.setattr(distributed, "world", lambda: World(rank=1, size=2))
    assert [b[0].tolist() for b in make(1)] == [b[2:] for b in whole]
    assert [b[0].tolist() for b in make(1, skip=2)] == [whole[2][2:]]  # skip counts steps
    assert len(make(1)) == 3
    assert [b[0].tolist() for b in ordered(0)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


def test_pinned_memory_follows_the_device():
    data = TensorDataset(torch.arange(4))
    for device, pinned in (("cpu", False), ("cuda", True)):
        make = epoch_loader(
            data, batch_size=2, shuffle=True, seed=0, purpose="t", workers=0,
            device=torch.device(device),
        )  # fmt: skip
        assert make(0).pin_memory is pinned


def test_processes_per_node(monkeypatch):
    assert launch.processes_per_node(RUN) == 1
    assert launch.processes_per_node(TWO) == 2
    cpu_with_gpus = dataclasses.replace(RUN, gpus=4)  # device cpu: one process
    assert launch.processes_per_node(cpu_with_gpus) == 1
    monkeypatch.setattr(launch, "select_device", lambda pref: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert launch.processes_per_node(dataclasses.replace(RUN, gpus=4)) == 4
    assert launch.processes_per_node(dataclasses.replace(RUN, gpus=8, nodes=2)) == 4
    with pytest.raises(ValueError, match="multiple of the node count"):
        launch.processes_per_node(dataclasses.replace(RUN, gpus=6, nodes=4))
    with pytest.raises(RuntimeError, match="granted 8 GPUs but this node shows 4"):
        launch.processes_per_node(dataclasses.replace(RUN, gpus=8))
    monkeypatch.setattr(launch, "select_device", lambda pref: torch.device("cuda", 1))
    assert launch.processes_per_node(dataclasses.replace(RUN, gpus=4)) == 1  # pinned


def test_launch_commands_on_one_node_and_across_nodes():
    local = launch.launch_commands("{}", per_node=2, nodes=1, port=1234)
    assert [extra["RANK"] for _, extra in local] == ["0", "1"]
    assert {extra["WORLD_SIZE"] for _, extra in local} == {"2"}
    assert local[1][1]["LOCAL_RANK"] == "1" and local[0][1]["MASTER_PORT"] == "1234"
    assert local[0][0][1:] == ["-m", "timebalance.engine.launch", "{}"]
    [(srun, extra)] = launch.launch_commands(
        "{}", per_node=4, nodes=2, port=99, threads=3, gpu_per_task=True
    )
    assert srun[:6] == [
        "srun",
        "--nodes=2",
        "--ntasks-per-node=4",
        "--cpus-per-task=3",
        "--gpus-per-task=1",
        "--kill-on-bad-exit=1",
    ]
    assert srun[-3:] == ["-m", "timebalance.engine.launch", "{}"]
    assert extra["MASTER_PORT"] == "99" and "RANK" not in extra  # ranks from SLURM_PROCID


def test_across_nodes_needs_a_slurm_batch_step(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    with pytest.raises(RuntimeError, match="needs a SLURM job"):
        launch._check_slurm_allocation(2)
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    with pytest.raises(RuntimeError, match="resource mpi"):
        launch._check_slurm_allocation(2)


def test_a_stage_call_is_rebuilt_in_the_worker():
    spec = launch.encode_call(
        toy.train_toy, {"settings": TOY, "run": TWO, "resume": "r", "metrics": "m", "out": "o"}
    )
    body, args = launch.decode_call(spec)
    assert body is toy.train_toy.__wrapped__
    assert args == {"settings": TOY, "run": TWO, "resume": "r", "metrics": "m", "out": "o"}
    unmarked = json.dumps({"stage": "tests.engine.distributed_toy:toy_data", "args": {}})
    with pytest.raises(ValueError, match="not a training stage"):
        launch.decode_call(unmarked)
    with pytest.raises(TypeError, match="cannot be passed"):
        launch.encode_call(toy.train_toy, {"settings": TOY, "run": TWO, "out": object()})
