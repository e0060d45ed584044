"""Annotation files and external labeled lists are rule inputs: editing a label reruns the
index and everything built from it (issue 10)."""

from __future__ import annotations

import yaml

from tests.workflow.conftest import ROOT, planned_jobs, run_snakemake

SPLIT = "results/splits/mine/50pct/seed0"


def _config(root: str) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["datasets"] = {"mine": {"format": "csv", "root": root, "budgets": ["50pct"]}}
    config["frames"]["n_shards"] = 2
    config["splits"]["labeled_lists"] = {"mine_50pct": "lists/mine_labeled.txt"}
    config["tables"] = {"grid": "mine", "grids": {"mine": {"table1": [["mine", "50pct"]]}}}
    return config


def test_editing_a_label_or_the_labeled_list_reruns_what_depends_on_it(tmp_path):
    root = tmp_path / "datasets" / "mine"
    root.mkdir(parents=True)
    index = root / "index.csv"
    index.write_text("path,label,subset\na.mp4,run,train\nb.mp4,jump,train\nc.mp4,run,test\n")
    (tmp_path / "lists").mkdir()
    labeled = tmp_path / "lists" / "mine_labeled.txt"
    labeled.write_text("a.mp4\n")
    config = _config(str(root))
    target = f"{SPLIT}/splits.json"
    proc = run_snakemake(tmp_path, "--cores", "1", "results/index/mine.csv", config=config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Stand-ins for the frames and splits (no video here), registered as up to date.
    for name in (
        "frames/mine/shards/0.csv",
        "frames/mine/shards/1.csv",
        "frames/mine/manifest.csv",
    ):
        (tmp_path / "results" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "results" / name).write_text("stand-in\n")
    for name in ("labeled.csv", "unlabeled.csv", "val.csv", "test.csv", "splits.json"):
        (tmp_path / SPLIT).mkdir(parents=True, exist_ok=True)
        (tmp_path / SPLIT / name).write_text("stand-in\n")
    proc = run_snakemake(tmp_path, "--touch", "--cores", "1", target)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert planned_jobs(run_snakemake(tmp_path, "-n", target)) == {}

    labeled.write_text("b.mp4\n")
    assert planned_jobs(run_snakemake(tmp_path, "-n", target)) == {"make_splits": 1}

    index.write_text(index.read_text().replace("b.mp4,jump", "b.mp4,hop"))
    jobs = planned_jobs(run_snakemake(tmp_path, "-n", target))
    assert jobs == {"index_dataset": 1, "extract_frames": 2, "frames_manifest": 1, "make_splits": 1}
