"""Run the real Snakefile on a tiny synthetic dataset in a temporary working directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "rules" / "config.schema.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def validated(config: dict) -> dict:
    """What rules/common.smk does with the config: fix command-line types, validate against
    the schema (which fills in its defaults), run the cross-key checks."""
    from timebalance.workflow.config import validate

    return validate(config, SCHEMA)


def tiny_config() -> dict:
    """The default config, shrunk: 4 classes x 5 groups x 2 clips, the `ci` schedule."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["schedule"] = "ci"
    config["datasets"] = {"synthetic": config["datasets"]["synthetic"]}
    syn = config["datasets"]["synthetic"]
    syn["synthetic"].update(n_classes=4, n_groups=5, n_test_groups=2, clips_per_group=2)
    syn["budgets"] = ["50pct"]
    syn["frames"]["n_shards"] = 2
    config["tables"] = {
        "grid": "synthetic",
        "grids": {"synthetic": {"table1": [["synthetic", "50pct"]]}},
    }
    return config


def run_snakemake(
    workdir: Path, *args: str, config: dict | None = None, repo: Path = ROOT
) -> subprocess.CompletedProcess:
    if config is not None:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        *SNAKEMAKE,
        "--snakefile",
        str(repo / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        *args,
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=workdir)


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from a dry run's 'Job stats' table ({} when nothing to do)."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    if "Job stats:" not in text:
        assert "Nothing to be done" in text, text
        return {}
    stats = text.split("Job stats:", 1)[1]
    jobs = {}
    for line in stats.splitlines():
        m = re.fullmatch(r"\s*([A-Za-z_][\w]*)\s+(\d+)\s*", line)
        if m and m.group(1) not in ("total", "job", "count"):
            jobs[m.group(1)] = int(m.group(2))
        if line.strip().startswith("total"):
            break
    return jobs


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """The whole synthetic chain with schedule=ci, run once for the workflow tests."""
    workdir = tmp_path_factory.mktemp("dag")
    config = tiny_config()
    proc = run_snakemake(workdir, "--cores", "2", "demo", config=config)
    if proc.returncode != 0:
        logs = (
            "\n".join(
                f"--- {p}\n{p.read_text()[-3000:]}"
                for p in (workdir / "results/logs").rglob("*.log")
            )
            if (workdir / "results/logs").exists()
            else ""
        )
        pytest.fail(f"snakemake failed:\n{proc.stderr[-6000:]}\n{logs[-12000:]}")
    return workdir, config


@pytest.fixture
def repo_copy(tmp_path):
    """A copy of the workflow and its package, to edit a module in."""
    dest = tmp_path / "repo"
    for name in ("Snakefile", "rules", "workflow_scripts", "envs", "timebalance"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest
