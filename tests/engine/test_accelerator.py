"""The `accelerator` settings on CPU: where they come from (config, schema defaults, the
job), what they do in `fit` (autocast, channels-last weights, the gradient scaler, batch-norm
synchronisation), and the CUDA-only switches' CPU behaviour."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch
import yaml
from torch import nn

from tests.workflow.conftest import ROOT, SCHEMA
from timebalance.engine import device as D
from timebalance.engine import distributed
from timebalance.engine.settings import (
    ONE_PROCESS,
    PRECISIONS,
    AcceleratorSettings,
    RunSettings,
)
from timebalance.engine.stage import stage_fingerprint
from timebalance.engine.trainer import OptimSettings, fit
from timebalance.io import load_torch

CPU = torch.device("cpu")


def test_config_schema_and_settings_name_the_same_keys_and_defaults():
    schema = yaml.safe_load(SCHEMA.read_text())["properties"]["accelerator"]["properties"]
    config = yaml.safe_load((ROOT / "config.yaml").read_text())["accelerator"]
    fields = dataclasses.asdict(ONE_PROCESS)
    assert set(schema) == set(config) == set(fields)
    assert {k: v["default"] for k, v in schema.items()} == fields  # RunSettings' default
    assert schema["precision"]["enum"] == list(PRECISIONS)


def test_run_settings_of_a_job_read_the_accelerator_gpus_and_nodes():
    acc = {**dataclasses.asdict(ONE_PROCESS), "precision": "bf16", "processes": 2}
    job = SimpleNamespace(
        params=SimpleNamespace(runtime={"device": "cpu"}, code="1.0"),
        threads=4,
        config={"log_every_steps": 5, "accelerator": acc},
        resources={"gpu": 8, "nodes": 2, "mem_mb": 1000},
    )
    run = RunSettings.of_job(job)
    assert run.accelerator == AcceleratorSettings(**acc)
    assert (run.gpus, run.nodes, run.threads) == (8, 2, 4)
    job.resources = {"mem_mb": 1000}  # a job without GPUs, on one node
    assert (RunSettings.of_job(job).gpus, RunSettings.of_job(job).nodes) == (0, 1)
    job.config["accelerator"] = {**acc, "amp": True}
    with pytest.raises(KeyError, match=r"config accelerator: unknown key\(s\) \['amp'\]"):
        RunSettings.of_job(job)
    with pytest.raises(ValueError, match="precision must be one of"):
        AcceleratorSettings(**{**acc, "precision": "fp8"})


def test_the_accelerator_is_not_part_of_a_runs_identity():
    """A run resumes under other device settings (and other GPU counts)."""
    run = RunSettings(
        device="cpu", threads=1, code_version="v", log_every_steps=1, tensorboard=None
    )
    other = dataclasses.replace(
        run,
        accelerator=AcceleratorSettings("bf16", True, True, True, 4),
        gpus=8,
        nodes=2,
    )
    optim = OptimSettings(
        epochs=1, lr=1e-2, weight_decay=0.0, warmup_epochs=0, patience=2, max_steps_per_epoch=None
    )
    assert stage_fingerprint(optim, run, []) == stage_fingerprint(optim, other, [])
    assert stage_fingerprint(optim, run, []) != stage_fingerprint(
        optim, dataclasses.replace(run, code_version="w"), []
    )


def test_autocast_dtypes_on_cpu_and_cuda(monkeypatch):
    assert D.autocast_dtype(CPU, "auto") is None  # CPU runs keep float32
    assert D.autocast_dtype(CPU, "fp32") is None
    assert D.autocast_dtype(CPU, "bf16") is torch.bfloat16
    with pytest.raises(ValueError, match="fp16 needs CUDA"):
        D.autocast_dtype(CPU, "fp16")
    cuda = torch.device("cuda")
    for bf16, auto in ((True, torch.bfloat16), (False, torch.float16)):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda bf16=bf16: bf16)
        assert D.autocast_dtype(cuda, "auto") is auto
        assert D.autocast_dtype(cuda, "fp16") is torch.float16
    with pytest.raises(ValueError, match="no bfloat16"):
        D.autocast_dtype(cuda, "bf16")


def test_the_scaler_is_on_for_float16_only():
    for precision in ("auto", "fp32", "bf16"):
        assert not D.grad_scaler(CPU, precision).is_enabled()


def test_autocast_follows_the_enclosing_precision_scope():
    a, b = torch.randn(3, 4), torch.randn(4, 2)
    with D.autocast(CPU):
        assert (a @ b).dtype == torch.float32
    with D.precision_scope("bf16"), D.autocast(CPU):
        assert (a @ b).dtype == torch.bfloat16
    with D.precision_scope("bf16"), D.autocast(CPU, precision="fp32"):
        assert (a @ b).dtype == torch.float32
    with pytest.raises(ValueError, match="precision must be one of"), D.precision_scope("half"):
        pass


def test_channels_last_3d_converts_5d_weights_in_place():
    conv3, conv2 = nn.Conv3d(3, 4, 3), nn.Conv2d(3, 4, 3)
    model = nn.Sequential(conv3, nn.Flatten(), nn.Linear(4 * 2 * 2 * 2, 2))
    weight = conv3.weight
    reference = model(torch.randn(2, 3, 4, 4, 4, generator=torch.Generator().manual_seed(0)))
    assert D.to_channels_last_3d(model) == 1 and D.to_channels_last_3d(conv2) == 0
    assert conv3.weight is weight  # the same Parameter: optimisers and steps keep it
    assert weight.is_contiguous(memory_format=torch.channels_last_3d)
    again = model(torch.randn(2, 3, 4, 4, 4, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(again, reference)
    assert D.to_channels_last_3d(model) == 0  # already converted


def test_cudnn_benchmark_is_set_for_cuda_runs_and_restored():
    before = torch.backends.cudnn.benchmark
    with D.cudnn_benchmark(torch.device("cuda"), True):
        assert torch.backends.cudnn.benchmark is True
    assert torch.backends.cudnn.benchmark is before
    with D.cudnn_benchmark(CPU, not before):
        assert torch.backends.cudnn.benchmark is before


def _fit_conv(tmp_path, accelerator: AcceleratorSettings, seen: list) -> dict:
    """Two steps of a small 3D CNN (batch norm included) through `fit`."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv3d(3, 4, 3, padding=1),
        nn.BatchNorm3d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    x, y = torch.randn(8, 3, 4, 6, 6), torch.arange(8) % 2

    def step(batch):
        logits = model(x[batch])
        seen.append(
            (logits.dtype, model[0].weight.is_contiguous(memory_format=torch.channels_last_3d))
        )
        return {"loss": nn.functional.cross_entropy(logits.float(), y[batch])}

    fit(
        modules={"model": model},
        step_fn=step,
        batches=lambda epoch: [torch.arange(4), torch.arange(4, 8)],
        optim=OptimSettings(
            epochs=1,
            lr=1e-2,
            weight_decay=0.0,
            warmup_epochs=0,
            patience=2,
            max_steps_per_epoch=None,
        ),
        device=CPU,
        resume_path=tmp_path / "r.pt",
        metrics_path=tmp_path / "m.jsonl",
        accelerator=accelerator,
    )
    return load_torch(tmp_path / "r.pt")


def test_fit_runs_the_steps_under_the_accelerator_settings(tmp_path):
    seen: list = []
    ckpt = _fit_conv(tmp_path, ONE_PROCESS, seen)
    assert seen == [(torch.float32, False)] * 2
    assert ckpt["scaler"] == {}  # no float16: no scaler state
    fast = dataclasses.replace(ONE_PROCESS, precision="bf16", channels_last_3d=True)
    seen.clear()
    (tmp_path / "fast").mkdir()
    ckpt = _fit_conv(tmp_path / "fast", fast, seen)
    assert seen == [(torch.bfloat16, True)] * 2
    assert ckpt["history"][0]["steps"] == 2


def test_sync_batchnorm_across_cpu_processes_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(distributed, "world", lambda: distributed.World(rank=0, size=2))
    sync = dataclasses.replace(ONE_PROCESS, sync_batchnorm=True)
    with pytest.raises(ValueError, match="sync_batchnorm needs CUDA"):
        _fit_conv(tmp_path, sync, [])
