"""`snakemake -n paper_grid` plans the whole paper grid from annotation files alone."""

from __future__ import annotations

import yaml

from tests.workflow.conftest import ROOT, planned_jobs, run_snakemake


def test_paper_grid_dry_run(tmp_path):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["schedule"] = "paper"
    config["seeds"] = [0, 1, 2]
    for name in ("ucf101", "hmdb51", "kinetics400"):
        root = tmp_path / name
        root.mkdir()
        config["datasets"][name]["root"] = str(root)
    jobs = planned_jobs(run_snakemake(tmp_path, "-n", "paper_grid", config=config))
    # Per dataset: index, manifest; the extraction shards of each dataset.
    assert jobs["index_dataset"] == 3
    assert jobs["frames_manifest"] == 3
    assert jobs["extract_frames"] == 3 * config["frames"]["n_shards"]
    # Pretraining depends on the dataset only: ssl_init + both kinds at (n4, s0) for every
    # dataset; on UCF101 also Inv2/Dist2 (Table 4) and n=2 teachers (Table 5).
    assert jobs["pretrain_teacher"] == 3 * 3 + 2 + 2
    # Splits per (dataset, budget, seed) cell of the grid.
    cells = {tuple(c) for t in config["tables"]["grids"]["paper"].values() for c in t}
    assert jobs["make_splits"] == 3 * len(cells)
    assert jobs["paper_grid"] == 1
    assert jobs["tables"] == len(config["tables"]["grids"]["paper"])
