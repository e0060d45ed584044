"""The workflow on a real one-node SLURM cluster (tests/slurm/start.sh), through the shipped
profiles/slurm with a test overlay (no account, squeue for job states, the node's limits).

Without a cluster (not root, no apt-get) the tests are skipped with the reason; under
CI=true they fail instead, so CI runs them for real. Every snakemake run is killed after
KILL_AFTER_S (the executor plugin's wait for job states does not end on SIGTERM)."""

from __future__ import annotations

import copy
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from tests.workflow import conftest as wf
from tests.workflow.conftest import ROOT, run_snakemake, tiny_config, validated
from timebalance import io
from timebalance.workflow import paths as P
from timebalance.workflow import resources as R

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
PROFILE = ROOT / "profiles" / "slurm"
IN_CI = os.environ.get("CI", "").lower() == "true"
KILL_AFTER_S = 1500
# The chain run through SLURM: one teacher's result, from generating the videos through
# extraction, splits, self-supervised pretraining, finetuning and evaluation (10 jobs; each
# SLURM job costs ~15 s of start-up and state polling, so the whole demo would take ~20 min).
TARGET = P.RESULT.format(dataset="synthetic", budget="50pct", key="teacher_invariant")
# The training job cancelled mid-run.
VICTIM_RULE = "finetune_teacher"


def _free_port_pair() -> int:
    """A port p with p and p + 1 free (slurmctld and slurmd)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no two adjacent free ports on 127.0.0.1")


def _cmd(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Start the cluster (installing SLURM first when missing), stop it afterwards."""
    directory = tmp_path_factory.mktemp("timebalance-slurm")
    env = {
        **os.environ,
        "TIMEBALANCE_SLURM_DIR": str(directory),
        "TIMEBALANCE_SLURM_PORT": str(_free_port_pair()),
    }
    started = time.monotonic()
    proc = subprocess.run(
        [str(HERE / "start.sh")], env=env, capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        reason = f"no SLURM test cluster (tests/slurm/start.sh): {proc.stderr.strip()[-3000:]}"
        if IN_CI:
            pytest.fail(f"{reason}\nCI must run the SLURM tests: fix the cluster start")
        pytest.skip(reason)
    print(f"SLURM test cluster started in {time.monotonic() - started:.1f} s")
    try:
        yield env
    finally:
        subprocess.run([str(HERE / "stop.sh")], env=env, timeout=300, check=False)


@pytest.fixture
def killed_after(monkeypatch):
    """run_snakemake's command under `timeout -s KILL`."""
    guarded = ["timeout", "-s", "KILL", str(KILL_AFTER_S), *wf.SNAKEMAKE]
    monkeypatch.setattr(wf, "SNAKEMAKE", guarded)


def node() -> dict:
    """CPUs, memory (MB), GPUs and MaxTime (minutes) of the cluster's node / partitions."""
    cpus, mem, gres = _cmd("sinfo", "-h", "-N", "-o", "%c %m %G").split()[:3]
    limit = _cmd("sinfo", "-h", "-p", "gpu", "-o", "%l").strip()  # e.g. 2:00:00
    gpus = int(re.search(r"gpu:(\d+)", gres).group(1))
    return {"cpus": int(cpus), "mem_mb": int(mem), "gpus": gpus, "minutes": minutes(limit)}


def overlay_profile(dest: Path) -> Path:
    """profiles/slurm with what a user of this cluster sets: no account, squeue for job
    states (no accounting database), the node's limits, the partitions' GPUs."""
    shutil.copytree(PROFILE, dest)
    limits = node()
    config = yaml.safe_load((dest / "config.yaml").read_text())
    config["default-resources"].pop("slurm_account")
    config.update(
        {
            "slurm-no-account": True,
            "slurm-status-command": "squeue",
            "slurm-init-seconds-before-status-checks": 1,
            "max-threads": limits["cpus"],
            "resources": [f"mem_mb={limits['mem_mb']}", f"runtime={limits['minutes']}"],
            "latency-wait": 5,
            "slurm-keep-successful-logs": True,
        }
    )
    (dest / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    partitions = yaml.safe_load((dest / "partitions.yaml").read_text())
    partitions["partitions"]["gpu"]["max_gpu"] = limits["gpus"]
    (dest / "partitions.yaml").write_text(yaml.safe_dump(partitions))
    return dest


# --- what reaches SLURM -------------------------------------------------------------------
SHOW_JOB = (
    'echo "CUDA_VISIBLE_DEVICES=${{CUDA_VISIBLE_DEVICES:-unset}}" > {output}; '
    'scontrol show job "$SLURM_JOB_ID" >> {output}'
)
REQUESTS = f"""
rule gpu_job:
    output: "gpu_job.txt"
    resources: gpu=1
    shell: {SHOW_JOB!r}

rule cpu_job:
    output: "cpu_job.txt"
    resources: gpu=0
    shell: {SHOW_JOB!r}

# More than the node has: the profile's caps scale it down to the node.
rule oversized_job:
    output: "oversized_job.txt"
    threads: 64
    resources: mem_mb=10_000_000, runtime=1_000_000
    shell: {SHOW_JOB!r}

# More GPUs than any partition has: no cap applies, SLURM must refuse it at submission.
rule impossible_job:
    output: "impossible_job.txt"
    resources: gpu=64
    shell: {SHOW_JOB!r}
"""


def _field(text: str, name: str) -> str:
    match = re.search(rf"\b{name}=(\S*)", text)
    assert match, f"{name} not in:\n{text}"
    return match.group(1)


def test_requests_reach_slurm_capped_and_on_the_right_partition(cluster, tmp_path, killed_after):
    (tmp_path / "wf").mkdir()
    (tmp_path / "wf" / "Snakefile").write_text(REQUESTS)
    profile = overlay_profile(tmp_path / "profile")
    run = tmp_path / "run"
    run.mkdir()
    limits = node()
    proc = run_snakemake(
        run,
        "--profile",
        str(profile),
        "gpu_job.txt",
        "cpu_job.txt",
        "oversized_job.txt",
        config={},
        repo=tmp_path / "wf",
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]

    gpu = (run / "gpu_job.txt").read_text()
    assert _field(gpu, "Partition") == "gpu"
    assert re.search(r"TresPerJob=\S*gpu:1\b", gpu), gpu  # --gpus=1
    assert _field(gpu, "CUDA_VISIBLE_DEVICES") == "0"

    cpu = (run / "cpu_job.txt").read_text()
    assert _field(cpu, "Partition") == "cpu"
    assert not re.search(r"TresPerJob=\S*gpu", cpu), cpu
    assert _field(cpu, "CUDA_VISIBLE_DEVICES") == "unset"

    big = (run / "oversized_job.txt").read_text()
    assert int(_field(big, "NumCPUs")) == limits["cpus"]
    assert _field(big, "MinMemoryNode") == f"{limits['mem_mb']}M"
    assert minutes(_field(big, "TimeLimit")) == limits["minutes"]


def test_an_impossible_request_fails_at_submission_with_slurms_reason(
    cluster, tmp_path, killed_after
):
    (tmp_path / "wf").mkdir()
    (tmp_path / "wf" / "Snakefile").write_text(REQUESTS)
    profile = overlay_profile(tmp_path / "profile")
    run = tmp_path / "run"
    run.mkdir()
    started = time.monotonic()
    proc = run_snakemake(
        run,
        "--profile",
        str(profile),
        "--retries",
        "0",
        "impossible_job.txt",
        config={},
        repo=tmp_path / "wf",
    )
    elapsed = time.monotonic() - started
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    assert "SLURM sbatch failed" in out, out[-4000:]
    assert "Requested node configuration is not available" in out, out[-4000:]
    assert "--gpus=64" in out
    assert elapsed < 120, f"took {elapsed:.0f} s: the request pended instead of failing"
    assert not _cmd("squeue", "-h", "-t", "PENDING").strip()


# --- the synthetic chain, one training job cancelled -------------------------------------
def _jobs(rule: str) -> list[dict[str, str]]:
    """Jobs of `rule` known to squeue (the plugin puts rule_<rule>_wildcards_... in the job
    comment), in submission order: id, state, time limit."""
    rows = _cmd("squeue", "-h", "--states=all", "-o", "%i|%T|%l|%k").splitlines()
    keys = ("id", "state", "limit", "comment")
    jobs = [dict(zip(keys, row.split("|", 3), strict=True)) for row in rows]
    return sorted(
        (j for j in jobs if j["comment"].startswith(f"rule_{rule}_")), key=lambda j: int(j["id"])
    )


def minutes(limit: str) -> int:
    """A squeue time limit ([days-][hours:]minutes:seconds) in minutes."""
    days, _, clock = limit.rpartition("-")
    parts = [int(x) for x in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return int(days or 0) * 1440 + parts[0] * 60 + parts[1] + parts[2] // 60


def cancel_mid_training(workdir: Path, runner: threading.Thread) -> tuple[dict, dict, Path]:
    """Wait until a job of VICTIM_RULE runs and has checkpointed an epoch, `scancel` it,
    wait for Snakemake's retry; return the cancelled job, the retry and the output."""
    resume_root = workdir / "results" / "resume"
    deadline = time.monotonic() + KILL_AFTER_S
    victim = None
    while victim is None:
        if time.monotonic() > deadline or not runner.is_alive():
            pytest.fail(f"no running {VICTIM_RULE} job with a checkpoint was seen to cancel")
        running = [j for j in _jobs(VICTIM_RULE) if j["state"] == "RUNNING"]
        checkpoints = resume_root.rglob("*.pt") if resume_root.exists() else []
        outputs = {r: workdir / "results" / r.relative_to(resume_root) for r in checkpoints}
        unfinished = [r for r, out in outputs.items() if not out.exists()]
        if len(running) == 1 and len(unfinished) == 1:
            victim = running[0]
            _cmd("scancel", victim["id"])
            output = workdir / "results" / unfinished[0].relative_to(resume_root)
        else:
            time.sleep(0.2)
    while time.monotonic() < deadline and runner.is_alive():
        retries = [j for j in _jobs(VICTIM_RULE) if int(j["id"]) > int(victim["id"])]
        if retries:
            return victim, retries[0], output
        time.sleep(0.5)
    pytest.fail(f"the cancelled {VICTIM_RULE} job {victim['id']} was not resubmitted")


def tensors(tree, prefix: str = "") -> dict[str, torch.Tensor]:
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    if isinstance(tree, dict):
        found: dict[str, torch.Tensor] = {}
        for key, sub in tree.items():
            found.update(tensors(sub, f"{prefix}/{key}"))
        return found
    return {}


def uninterrupted(workdir: Path, output: Path, dest: Path, config: dict) -> Path:
    """The same job run again without interruption, locally, on a copy of its inputs."""
    shutil.copytree(workdir / "results", dest / "results")  # keeps mtimes: only this job reruns
    rel = output.relative_to(workdir)
    log = dest / P.log_path(VICTIM_RULE, str(rel))
    for stale in (dest / rel, dest / P.mirror("resume", str(rel), ".pt"), log):
        stale.unlink(missing_ok=True)  # a finished training may have removed its resume file
    proc = run_snakemake(dest, "--cores", "2", str(rel), config=config)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert "1 of 1 steps" in proc.stderr, proc.stderr[-3000:]
    assert "resumed from" not in log.read_text(), log.read_text()[-3000:]
    return dest / rel


def test_the_chain_runs_on_slurm_and_a_cancelled_training_resumes(cluster, tmp_path, killed_after):
    profile = overlay_profile(tmp_path / "profile")
    workdir = tmp_path / "chain"
    workdir.mkdir()
    config = tiny_config()
    # Four finetuning epochs instead of the ci schedule's two: after the first checkpoint the
    # cancellation has three epochs to land in, on a fast machine too.
    config["schedules"]["ci"]["finetune_epochs"] = 4
    box: dict = {}
    started = time.monotonic()
    runner = threading.Thread(
        target=lambda: box.update(
            proc=run_snakemake(workdir, "--profile", str(profile), TARGET, config=config)
        )
    )
    runner.start()
    victim, retry, output = cancel_mid_training(workdir, runner)
    runner.join()
    wall = time.monotonic() - started
    proc = box["proc"]
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    print(f"chain on SLURM: {wall:.0f} s; cancelled {victim}, retried as {retry}")

    # The retry (Snakemake's attempt 2) asked SLURM for twice the first time limit.
    teacher = SimpleNamespace(dataset="synthetic", budget="50pct", seed="0", teacher=output.stem)
    first = R.runtime("finetune", validated(copy.deepcopy(config)), teacher, attempt=1)
    assert minutes(victim["limit"]) == first
    assert minutes(retry["limit"]) == 2 * first

    assert (workdir / TARGET).exists()
    # Every job of the tiny backbone asked for no GPU and ran on the CPU partition.
    assert "Auto-selected partition 'cpu'" in out
    assert "Auto-selected partition 'gpu'" not in out

    rel = str(output.relative_to(workdir))
    log = (workdir / P.log_path(VICTIM_RULE, rel)).read_text()
    assert "resumed from" in log, log[-3000:]
    print("\n".join(line for line in log.splitlines() if "resumed from" in line))

    reference = uninterrupted(workdir, output, tmp_path / "reference", config)
    resumed, straight = tensors(io.load_torch(output)), tensors(io.load_torch(reference))
    assert resumed.keys() == straight.keys() and resumed
    differ = [k for k in resumed if not torch.equal(resumed[k], straight[k])]
    assert not differ, f"{len(differ)} of {len(resumed)} tensors differ: {differ[:5]}"
    print(f"{len(resumed)} of {len(resumed)} tensors equal to an uninterrupted run")
