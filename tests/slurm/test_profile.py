"""profiles/slurm without a cluster: the partition file routes jobs by their GPU request,
and the profile's caps scale every rule's request down to one node (a dry run)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file

from tests.workflow.conftest import ROOT, run_snakemake, tiny_config

PROFILE = ROOT / "profiles" / "slurm"


class _Resources(dict):
    def __getattr__(self, name):
        return self[name]


class _Logger:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def info(self, msg: str) -> None:
        self.messages.append(msg)

    debug = warning = info


def _job(**resources) -> SimpleNamespace:
    threads = resources.pop("threads", 1)
    return SimpleNamespace(name="job", threads=threads, resources=_Resources(resources))


@pytest.mark.parametrize(
    ("resources", "partition"),
    [
        ({"gpu": 1, "threads": 2, "mem_mb": 16000, "runtime": 600}, "gpu"),
        ({"gpu": 0, "threads": 2, "mem_mb": 16000, "runtime": 600}, "cpu"),  # tiny backbone
        ({"threads": 2, "mem_mb": 4000, "runtime": 720}, "cpu"),  # data preparation
        ({"threads": 1, "mem_mb": 1000, "runtime": 5}, "cpu"),  # tables
    ],
)
def test_the_partition_follows_the_gpu_request(resources, partition):
    partitions = read_partition_file(PROFILE / "partitions.yaml")
    assert get_best_partition(partitions, _job(**resources), _Logger()) == partition


def test_a_gpu_request_no_partition_meets_is_not_placed():
    partitions = read_partition_file(PROFILE / "partitions.yaml")
    max_gpu = max(p.limits.max_gpu for p in partitions)
    assert get_best_partition(partitions, _job(gpu=max_gpu + 1), _Logger()) is None


def test_the_profile_names_only_settings_the_plugin_and_snakemake_know():
    """A misspelt key in a profile is an error only when the profile is used: check here."""
    from snakemake.cli import get_argument_parser

    actions = get_argument_parser()._actions
    known = {flag.lstrip("-") for action in actions for flag in action.option_strings}
    assert "slurm-status-command" in known  # the plugin's settings are registered
    config = yaml.safe_load((PROFILE / "config.yaml").read_text())
    unknown = sorted(set(config) - known)
    assert not unknown, f"profiles/slurm/config.yaml: unknown settings {unknown}"


def _dry_run_resources(tmp_path: Path, *extra: str) -> list[dict[str, str]]:
    profile = tmp_path / "profile"
    shutil.copytree(PROFILE, profile)
    run = tmp_path / "run"
    run.mkdir()
    target = "results/synthetic_50pct/teacher_invariant.json"
    proc = run_snakemake(run, "-n", "--profile", str(profile), *extra, target, config=tiny_config())
    assert proc.returncode == 0, proc.stderr[-4000:]
    jobs = []
    for block in re.split(r"\n(?=rule \w+:)", proc.stdout + proc.stderr):
        rule = re.match(r"rule (\w+):", block)
        res = re.search(r"resources: (.*)", block)
        threads = re.search(r"threads: (\d+)", block)
        if rule and res:
            fields = dict(kv.split("=", 1) for kv in res.group(1).split(", "))
            fields["rule"] = rule.group(1)
            fields["threads"] = threads.group(1) if threads else "1"
            jobs.append(fields)
    return jobs


def test_every_request_is_capped_at_the_profile_limits(tmp_path):
    jobs = _dry_run_resources(
        tmp_path, "--max-threads", "1", "--resources", "mem_mb=3000", "runtime=11", "--"
    )
    rules = {j["rule"] for j in jobs}
    assert {"pretrain_teacher", "finetune_teacher", "extract_frames", "evaluate"} <= rules
    for job in jobs:
        assert int(job["threads"]) <= 1, job
        assert int(job["mem_mb"]) <= 3000, job
        assert int(job["runtime"]) <= 11, job


def test_the_shipped_caps_leave_the_ci_requests_as_the_rules_state_them(tmp_path):
    jobs = {j["rule"]: j for j in _dry_run_resources(tmp_path)}
    assert int(jobs["pretrain_teacher"]["mem_mb"]) == 16000
    assert int(jobs["pretrain_teacher"]["runtime"]) < 60  # ci: 2 epochs on CPU
    assert jobs["pretrain_teacher"]["gpu"] == "0"  # the tiny backbone
