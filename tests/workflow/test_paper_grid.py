"""`snakemake -n paper_grid` plans the whole paper grid from annotation files alone, and the
index stage reads those files before any video is on disk."""

from __future__ import annotations

import pandas as pd
import yaml

from tests.data.fixtures_index import write_hmdb51, write_kinetics400, write_ucf101
from tests.workflow.conftest import ROOT, planned_jobs, run_snakemake


def test_paper_grid_from_annotation_files_only(tmp_path):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["schedule"] = "paper"
    config["seeds"] = [0, 1, 2]
    writers = {"ucf101": write_ucf101, "hmdb51": write_hmdb51, "kinetics400": write_kinetics400}
    for name, write in writers.items():
        root = tmp_path / "datasets" / name
        root.mkdir(parents=True)
        write(root)  # the official annotation files, no video
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
    # Both papers' grids: 004's methods on its own budgets (1/10 per class on UCF101, 6/60
    # per class on Kinetics400, HMDB51 40-60%), every seed.
    methods_cells = config["tables"]["grids"]["paper"]["methods"]
    assert ["ucf101", "1perclass"] in methods_cells
    assert ["kinetics400", "60perclass"] in methods_cells
    assert jobs["train_fixmatch"] == jobs["train_acl_mtl"] == 3 * len(methods_cells)
    assert jobs["tables"] == len(config["tables"]["grids"]["paper"])

    # The first stage really runs on annotation files alone.
    targets = [f"results/index/{name}.csv" for name in writers]
    proc = run_snakemake(tmp_path, "--cores", "1", *targets)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = {}
    for name in writers:
        index = pd.read_csv(tmp_path / f"results/index/{name}.csv", keep_default_na=False)
        counts[name] = (
            int((index["subset"] == "train").sum()),
            int((index["subset"] == "test").sum()),
            int(index["label"].nunique()),
        )
    assert counts["ucf101"] == (9537, 3783, 101)
    assert counts["hmdb51"] == (3570, 1530, 51)
    assert counts["kinetics400"] == (0, 19906, 400)
