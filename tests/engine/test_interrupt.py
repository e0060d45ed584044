"""SIGTERM (SLURM's time limit, preemption, scancel) mid-epoch: the job saves its state,
exits promptly and non-zero, and the rerun ends with the weights of an uninterrupted run.
TensorBoard event files of a resumed run hold each step once."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.engine.toy_training import run
from timebalance.engine.loader import cycle, epoch_loader
from timebalance.engine.trainer import Terminated, _sigterm_flag
from timebalance.io import load_torch

HERE = Path(__file__).resolve().parent
STEPS_PER_EPOCH = 8  # 256 toy samples, batches of 32


def events(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return acc


def scalar_steps(folder: Path, tag: str) -> list[int]:
    return [e.step for e in events(folder).Scalars(tag)]


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise TimeoutError("the training subprocess did not get there in time")
        time.sleep(0.01)


@pytest.mark.parametrize("workers", [0, 1])
def test_sigterm_mid_epoch_saves_exits_nonzero_and_resumes_exactly(tmp_path, workers):
    """With a loader worker, SIGTERM goes to the whole process group, as SLURM signals
    every process of a job: the worker must not die before the checkpoint is written."""
    epochs = 5
    straight = run(tmp_path / "a.pt", tmp_path / "a.jsonl", epochs=epochs, dropout=0.3)

    resume, metrics, tb = tmp_path / "r.pt", tmp_path / "m.jsonl", tmp_path / "tb"
    cmd = [
        sys.executable,
        str(HERE / "toy_training.py"),
        str(resume),
        str(metrics),
        str(epochs),
        "0.05",  # s per step: an epoch takes ~0.4 s
        "--dropout=0.3",
        f"--tensorboard={tb}",
        f"--state={tmp_path / 'final.pt'}",
        f"--workers={workers}",
    ]
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1])}
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    _wait_for(lambda: metrics.exists() and len(metrics.read_text().splitlines()) >= 2)
    time.sleep(0.12)  # a few steps into the third epoch
    os.killpg(proc.pid, signal.SIGTERM)  # the job's own process group only
    sent = time.time()
    _, stderr = proc.communicate(timeout=60)
    assert time.time() - sent < 5.0, "the job did not stop promptly after SIGTERM"
    assert proc.returncode != 0, "a job stopped by SIGTERM must fail, so it is retried"
    assert b"SIGTERM: stopped at epoch" in stderr
    saved = load_torch(resume)
    assert 2 <= saved["epoch"] < epochs
    assert saved["partial"] is not None and saved["partial"]["steps"] > 0, "not mid-epoch"
    first_run_steps = scalar_steps(tb, "step/loss")
    done = saved["epoch"] * STEPS_PER_EPOCH + saved["partial"]["steps"]
    assert first_run_steps == list(range(done))

    time.sleep(1.1)  # event file names carry the second they were opened
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {"resumed_from": saved["epoch"], "epochs": epochs}
    assert f"step {saved['partial']['steps']}" in out.stderr  # "resumed from ... step k"
    final = load_torch(tmp_path / "final.pt")
    for key, value in straight.state["model"].items():
        assert torch.equal(final["model"][key], value), key
    assert [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()] == list(
        range(epochs)
    )
    # The event files (written only by the interrupted runs) read back with TensorBoard's
    # own reader: every step once, every epoch once; the losses are the metrics file's.
    assert scalar_steps(tb, "step/loss") == list(range(epochs * STEPS_PER_EPOCH))
    acc = events(tb)
    epoch_loss = [e.value for e in acc.Scalars("epoch/loss")]
    assert epoch_loss == pytest.approx([h["loss"] for h in straight.history], rel=1e-6)
    for tag in ("epoch/lr", "epoch/val_top1", "epoch/samples_per_s", "step/mean_logit"):
        assert tag in acc.Tags()["scalars"], tag
    assert len(acc.Histograms("p1")) == epochs


def test_a_run_killed_after_its_events_rewrites_them_once(tmp_path):
    """Events written after the last checkpoint by a killed process are superseded, not
    duplicated, when the run resumes (the writer's purge step)."""
    resume, metrics, tb = tmp_path / "r.pt", tmp_path / "m.jsonl", tmp_path / "tb"
    run(resume, metrics, epochs=2, tensorboard=tb)
    shutil.copy(resume, tmp_path / "epoch2.pt")
    time.sleep(1.1)
    run(resume, metrics, epochs=4, tensorboard=tb)
    # as if killed after writing epochs 2-3's events but before their checkpoint
    shutil.copy(tmp_path / "epoch2.pt", resume)
    time.sleep(1.1)
    again = run(resume, metrics, epochs=4, tensorboard=tb)
    assert again.resumed_from == 2
    assert scalar_steps(tb, "step/loss") == list(range(4 * STEPS_PER_EPOCH))
    assert len(events(tb).Scalars("epoch/loss")) == 4


def test_event_files_do_not_change_the_weights(tmp_path):
    plain = run(tmp_path / "a.pt", tmp_path / "a.jsonl", epochs=3, dropout=0.3)
    logged = run(
        tmp_path / "b.pt",
        tmp_path / "b.jsonl",
        epochs=3,
        dropout=0.3,
        tensorboard=tmp_path / "tb",
        log_every_steps=1,
    )
    for key, value in plain.state["model"].items():
        assert torch.equal(logged.state["model"][key], value)


def test_sigterm_flag_is_raised_and_the_handler_restored():
    before = signal.getsignal(signal.SIGTERM)
    with _sigterm_flag() as flag:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert flag.stopped
    assert signal.getsignal(signal.SIGTERM) == before
    assert issubclass(Terminated, RuntimeError)  # uncaught: a traceback and exit status 1


def test_loaders_skip_to_the_batches_an_uninterrupted_pass_yields():
    data = torch.utils.data.TensorDataset(torch.arange(50))
    make = epoch_loader(
        data, batch_size=8, shuffle=True, seed=3, purpose="x", workers=0, device=torch.device("cpu")
    )
    full = [b[0].tolist() for b in make(4)]
    assert [b[0].tolist() for b in make(4, skip=3)] == full[3:]
    assert len(make(4, skip=3)) == len(full) - 3
    endless = cycle(make, seed=1, epoch=2)
    stream = [next(endless)[0].tolist() for _ in range(20)]
    skipped = cycle(make, seed=1, epoch=2, skip=13)  # into the second pass
    assert [next(skipped)[0].tolist() for _ in range(7)] == stream[13:]


def test_batches_without_skip_are_read_and_dropped_on_resume(tmp_path):
    """A batches callable of another method (no `skip` argument) still resumes exactly
    mid-epoch: fit reads the epoch's first batches and drops them. SIGTERM is sent by the
    step itself here (in-process), after step 3 of epoch 1."""
    from timebalance.engine.trainer import OptimSettings, fit

    def job(resume, stop_at=None):
        torch.manual_seed(0)
        x = torch.randn(128, 4)
        y = (x[:, 0] > 0).long()
        model = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 2)
        )
        make = epoch_loader(
            torch.utils.data.TensorDataset(x, y),
            batch_size=16,
            shuffle=True,
            seed=0,
            purpose="t",
            workers=0,
            device=torch.device("cpu"),
        )
        calls = []

        def step(batch):
            calls.append(1)
            if len(calls) == stop_at:
                os.kill(os.getpid(), signal.SIGTERM)
            return {"loss": torch.nn.functional.cross_entropy(model(batch[0]), batch[1])}

        optim = OptimSettings(
            epochs=3,
            lr=1e-2,
            weight_decay=0.0,
            warmup_epochs=1,
            patience=2,
            max_steps_per_epoch=None,
        )
        return fit(
            modules={"m": model},
            step_fn=step,
            batches=lambda epoch: make(epoch),  # no skip argument
            optim=optim,
            device=torch.device("cpu"),
            resume_path=resume,
            metrics_path=tmp_path / "m.jsonl",
        )

    straight = job(tmp_path / "a.pt")
    with pytest.raises(Terminated, match="stopped at epoch 1 step 3"):
        job(tmp_path / "b.pt", stop_at=8 + 3)  # 8 steps per epoch
    assert load_torch(tmp_path / "b.pt")["partial"]["steps"] == 3
    resumed = job(tmp_path / "b.pt")
    assert resumed.history == [
        {**h, "time_s": r["time_s"], "samples_per_s": r["samples_per_s"]}
        for h, r in zip(straight.history, resumed.history, strict=True)
    ]
    for key, value in straight.state["m"].items():
        assert torch.equal(resumed.state["m"][key], value)


def test_sigterm_during_validation_stops_at_once_and_resumes_exactly(tmp_path):
    """A long validation pass is cut short (SLURM kills after a grace period): the state
    after the epoch's steps is saved, and the rerun validates that epoch again."""
    from timebalance.engine.trainer import OptimSettings, fit

    def job(resume, stop_in_epoch=None):
        torch.manual_seed(0)
        x = torch.randn(96, 4)
        y = (x[:, 0] > 0).long()
        model = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 2)
        )
        make = epoch_loader(
            torch.utils.data.TensorDataset(x, y),
            batch_size=16,
            shuffle=True,
            seed=0,
            purpose="t",
            workers=0,
            device=torch.device("cpu"),
        )
        epochs_seen = []

        def validate():
            epochs_seen.append(1)
            if len(epochs_seen) == stop_in_epoch:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(30)  # a long validation: SIGTERM must cut it short
            with torch.no_grad():
                return {"val_top1": float((model(x).argmax(1) == y).float().mean() * 100)}

        def step(batch):
            return {"loss": torch.nn.functional.cross_entropy(model(batch[0]), batch[1])}

        optim = OptimSettings(
            epochs=4,
            lr=1e-2,
            weight_decay=0.0,
            warmup_epochs=1,
            patience=2,
            max_steps_per_epoch=None,
        )
        return fit(
            modules={"m": model},
            step_fn=step,
            batches=make,
            optim=optim,
            device=torch.device("cpu"),
            resume_path=resume,
            metrics_path=tmp_path / "m.jsonl",
            validate=validate,
        )

    straight = job(tmp_path / "a.pt")
    t0 = time.time()
    with pytest.raises(Terminated, match="validation of epoch 1"):
        job(tmp_path / "b.pt", stop_in_epoch=2)
    assert time.time() - t0 < 20, "validation was not cut short"
    saved = load_torch(tmp_path / "b.pt")
    assert (saved["epoch"], saved["partial"]["steps"]) == (1, 6)
    resumed = job(tmp_path / "b.pt")
    assert [h["val_top1"] for h in resumed.history] == [h["val_top1"] for h in straight.history]
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    for key, value in straight.state["m"].items():
        assert torch.equal(resumed.state["m"][key], value)
