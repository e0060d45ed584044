import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.engine.test_checkpoint import _Payload
from tests.engine.toy_training import run
from timebalance.io import load_torch

HERE = Path(__file__).resolve().parent


def test_training_lowers_the_loss_and_selects_best_val(tmp_path):
    result = run(tmp_path / "resume.pt", tmp_path / "m.jsonl", epochs=6)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.5 * losses[0]
    best = max(h["val_top1"] for h in result.history)
    assert result.selected_metric == best > 90.0
    lines = (tmp_path / "m.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(6))


def test_resume_continues_exactly(tmp_path):
    # dropout draws from the global random stream: a resumed run must draw the same masks
    straight = run(tmp_path / "a.pt", tmp_path / "a.jsonl", epochs=4, dropout=0.3)
    run(tmp_path / "b.pt", tmp_path / "b.jsonl", epochs=2, dropout=0.3)
    resumed = run(tmp_path / "b.pt", tmp_path / "b.jsonl", epochs=4, dropout=0.3)
    assert resumed.resumed_from == 2
    for key, value in straight.state["model"].items():
        torch.testing.assert_close(resumed.state["model"][key], value)
    assert len((tmp_path / "b.jsonl").read_text().splitlines()) == 4


def _sgd_steps(params):
    """004's optimiser (SGD with momentum, lr / 10 at two milestones), momentum buffers and
    the schedule's epoch both in the resume state."""
    from timebalance.methods.fixmatch import SgdSettings, paper_optimizer

    sgd = SgdSettings(
        optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-3, milestones=(2, 3), decay=0.1
    )
    return paper_optimizer(params, sgd)


def test_optimizer_factory_is_used_and_resumes_exactly(tmp_path):
    straight = run(
        tmp_path / "a.pt", tmp_path / "a.jsonl", epochs=4, dropout=0.3, make_optimizer=_sgd_steps
    )
    assert [h["lr"] for h in straight.history] == pytest.approx([0.05, 0.05, 0.005, 0.0005])
    adam = run(tmp_path / "c.pt", tmp_path / "c.jsonl", epochs=4, dropout=0.3)
    assert [h["lr"] for h in adam.history] != [h["lr"] for h in straight.history]
    run(tmp_path / "b.pt", tmp_path / "b.jsonl", epochs=2, dropout=0.3, make_optimizer=_sgd_steps)
    ckpt = load_torch(tmp_path / "b.pt")
    assert ckpt["scheduler"] == {"epoch": 2}
    assert "momentum_buffer" in next(iter(ckpt["optimizer"]["state"].values()))
    resumed = run(
        tmp_path / "b.pt", tmp_path / "b.jsonl", epochs=4, dropout=0.3, make_optimizer=_sgd_steps
    )
    assert resumed.resumed_from == 2
    assert [h["lr"] for h in resumed.history] == [h["lr"] for h in straight.history]
    for key, value in straight.state["model"].items():
        torch.testing.assert_close(resumed.state["model"][key], value)


def test_sigkill_mid_epoch_resumes_from_last_checkpoint(tmp_path):
    """kill -9 during an epoch; started again, the job continues from its last finished
    epoch instead of epoch 0."""
    resume, metrics = tmp_path / "r.pt", tmp_path / "m.jsonl"
    cmd = [sys.executable, str(HERE / "toy_training.py"), str(resume), str(metrics), "30", "0.02"]
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        done = metrics.exists() and len(metrics.read_text().splitlines()) >= 2
        if done and resume.exists():
            break
        time.sleep(0.02)
    time.sleep(0.05)  # now inside a later epoch (each takes ~0.16 s)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished = load_torch(resume)["epoch"]
    assert 2 <= finished < 30
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["resumed_from"] == finished
    assert report["epochs"] == 30
    epochs = [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()]
    assert epochs == list(range(30))


def test_checkpoints_are_written_every_so_many_seconds_and_after_the_last_epoch(
    tmp_path, monkeypatch
):
    """Between the first and the last epoch a checkpoint is written only when
    `checkpoint_every_s` have passed; the run's result is the same."""
    from timebalance.engine import trainer

    written = []
    real = trainer.io.write_torch

    def counting(obj, path):
        written.append(obj["epoch"])
        return real(obj, path)

    monkeypatch.setattr(trainer.io, "write_torch", counting)
    sparse = run(tmp_path / "a.pt", tmp_path / "a.jsonl", epochs=5, checkpoint_every_s=3600)
    assert written == [1, 5]
    written.clear()
    every = run(tmp_path / "b.pt", tmp_path / "b.jsonl", epochs=5, checkpoint_every_s=0)
    assert written == [1, 2, 3, 4, 5]
    for key, value in every.state["model"].items():
        torch.testing.assert_close(sparse.state["model"][key], value)


def test_resume_file_of_another_run_is_ignored(tmp_path, caplog):
    """A rule reruns because a setting, an input or the code changed: the resume file left
    by the earlier run (same path) must not be continued, or the old weights come back."""
    first = run(tmp_path / "r.pt", tmp_path / "m.jsonl", epochs=3, fingerprint="lr0.01")
    again = run(tmp_path / "r.pt", tmp_path / "m.jsonl", epochs=3, fingerprint="lr0.01")
    assert again.resumed_from == 3  # same run: nothing left to do
    changed = run(tmp_path / "r.pt", tmp_path / "m.jsonl", epochs=3, fingerprint="lr0.05", lr=5e-2)
    assert changed.resumed_from == 0
    assert "ignoring" in caplog.text
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 3
    fresh = run(tmp_path / "f.pt", tmp_path / "f.jsonl", epochs=3, lr=5e-2)
    for key, value in fresh.state["model"].items():
        torch.testing.assert_close(changed.state["model"][key], value)
        assert not torch.equal(first.state["model"][key], value)


def test_fingerprint_follows_settings_and_input_content(tmp_path):
    from timebalance.engine.stage import fingerprint

    data = tmp_path / "labeled.csv"
    data.write_text("video_id,label,n_frames\na,0,10\n")
    base = fingerprint({"lr": 0.001, "threads": 2, "out": "x.pt"}, inputs=[data, None])
    # where and how fast it runs does not matter
    assert base == fingerprint({"lr": 0.001, "threads": 8, "out": "y.pt"}, inputs=[data, None])
    assert base != fingerprint({"lr": 0.002, "threads": 2}, inputs=[data, None])
    data.write_text("video_id,label,n_frames\nb,0,10\n")
    assert base != fingerprint({"lr": 0.001, "threads": 2}, inputs=[data, None])


def test_a_resume_file_that_runs_code_is_refused_unrun(tmp_path):
    """Issue 10: a pickle planted where a resume file lies must not run when a job restarts."""
    marker, resume = tmp_path / "payload_ran", tmp_path / "r.pt"
    torch.save({"fingerprint": "", "epoch": 1, "x": _Payload(marker)}, resume)
    with pytest.raises(ValueError, match=f"{resume}.*refused"):
        run(resume, tmp_path / "m.jsonl", epochs=2)
    assert not marker.exists(), "the resume file's payload ran"
