"""`snakemake -n paper_grid` plans the whole paper grid from annotation files alone, each
table cell with the paper's backbone and input size, and the index stage reads those files
before any video is on disk."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pandas as pd
import yaml

from tests.data.fixtures_index import write_hmdb51, write_kinetics400, write_ucf101
from tests.workflow.conftest import ROOT, planned_jobs, run_snakemake, validated
from timebalance.workflow import inputs as F

WRITERS = {"ucf101": write_ucf101, "hmdb51": write_hmdb51, "kinetics400": write_kinetics400}
# Where the paper uses which backbone (000: Sec. 4.2-4.4, Tables 1-7, Fig. 5; 002: B.1.1,
# C.1): Slow-R50 at 224 px for Tables 2-6, R3D-18 for Fig. 5; Tables 1 and 7 have both.
R50, R18 = ("slow_r50", 224), ("r3d18", 112)
PAPER_SETUPS = {
    "table1": {R18, R50},
    "table2": {R50},
    "table3": {R50},
    "table4": {R50},
    "table5": {R50},
    "table6": {R50},
    "table7": {R18, R50},
    "fig5_init": {R18},
}


def _paper_config(tmp_path) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["schedule"] = "paper"
    config["seeds"] = [0, 1, 2]
    for name, write in WRITERS.items():
        root = tmp_path / "datasets" / name
        root.mkdir(parents=True)
        write(root)  # the official annotation files, no video
        for entry in (name, f"{name}r50"):  # both backbones' entries read these videos
            config["datasets"][entry]["root"] = str(root)
    return config


def _setup(config: dict, dataset: str) -> tuple[str, int]:
    """(backbone, crop size) of every training and evaluation job on a dataset, from the
    rules' param functions (they must all agree)."""
    wc = SimpleNamespace(
        dataset=dataset, budget="5pct", seed="0", kind="invariant", n="4", ps="0",
        model="student", run="student",
    )  # fmt: skip
    pre, fine = F.pretrain_settings(config, wc), F.finetune_settings(config, wc)
    student, info = F.student_settings(config, wc), F.eval_info(config, wc)["config"]
    got = {
        (pre["backbone"], pre["crop_size"]),
        (fine["backbone"], fine["clips"]["crop_size"]),
        (student["backbone"], student["clips"]["crop_size"]),
        (info["backbone"], info["crop_size"]),
        (F.backbone(config, wc), F.eval_settings(config, wc)["crop_size"]),
        (F.backbone(config, wc), F.score_settings(config, wc)["crop_size"]),
    }
    assert len(got) == 1, got
    return got.pop()


def test_each_paper_table_runs_the_papers_backbone_and_input_size(tmp_path):
    config = validated(_paper_config(tmp_path))
    grid = config["tables"]["grids"]["paper"]
    for table, expected in PAPER_SETUPS.items():
        assert {_setup(config, ds) for ds, _ in grid[table]} == expected, table
    # Table 1's two blocks and Table 7's two rows cover the same paper cells.
    for table in ("table1", "table7"):
        cells = {setup: set() for setup in (R18, R50)}
        for ds, budget in grid[table]:
            cells[_setup(config, ds)].add((ds.removesuffix("r50"), budget))
        assert cells[R18] == cells[R50], table
    # The tables rule hands every cell's setup to the renderer (blocks before results exist).
    cells = F.table_cells(config, SimpleNamespace(grid="paper", table="table7"))
    assert {(c[2]["backbone"], c[2]["crop_size"], c[2]["paper_dataset"]) for c in cells} == {
        (*setup, paper) for setup in (R18, R50) for paper in WRITERS
    }


def test_paper_grid_from_annotation_files_only(tmp_path):
    config = _paper_config(tmp_path)
    proc = run_snakemake(tmp_path, "-n", "paper_grid", config=config)
    jobs = planned_jobs(proc)
    entries = [*WRITERS, *(f"{name}r50" for name in WRITERS)]
    # Per dataset entry: index, manifest; the extraction shards of each entry.
    assert jobs["index_dataset"] == len(entries)
    assert jobs["frames_manifest"] == len(entries)
    assert jobs["extract_frames"] == len(entries) * config["frames"]["n_shards"]
    # Pretraining depends on the dataset entry only: ssl_init + both kinds at (n4, s0) for
    # every entry; on UCF101 with Slow-R50 also Inv2/Dist2 (Table 4) and n=2 teachers
    # (Table 5).
    assert jobs["pretrain_teacher"] == len(entries) * 3 + 2 + 2
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
    # The planned student jobs, read from the dry run, train Slow-R50 at 224 px and R3D-18
    # at 112 px (the backbone and crop size their rule's params get).
    planned = set(re.findall(r"results/([a-z0-9]+)_[0-9.]+(?:pct|perclass)/seed\d+/student\.pt",
                             proc.stdout + proc.stderr))  # fmt: skip
    assert planned == set(entries)
    checked = validated(config)
    assert {_setup(checked, ds) for ds in planned} == {R18, R50}
    assert {ds for ds in planned if _setup(checked, ds) == R50} == {"ucf101r50", "hmdb51r50",
                                                                     "kinetics400r50"}  # fmt: skip

    # The first stage really runs on annotation files alone.
    targets = [f"results/index/{name}.csv" for name in WRITERS]
    proc = run_snakemake(tmp_path, "--cores", "1", *targets)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = {}
    for name in WRITERS:
        index = pd.read_csv(tmp_path / f"results/index/{name}.csv", keep_default_na=False)
        counts[name] = (
            int((index["subset"] == "train").sum()),
            int((index["subset"] == "test").sum()),
            int(index["label"].nunique()),
        )
    assert counts["ucf101"] == (9537, 3783, 101)
    assert counts["hmdb51"] == (3570, 1530, 51)
    assert counts["kinetics400"] == (0, 19906, 400)
