"""Config resolution for the Snakemake rules: schedules, stage settings, variants, and the
mapping from result targets to per-seed runs. Pure functions of the config, no I/O, so the
DAG of the whole paper grid builds in seconds and every rule is testable without Snakemake."""

from __future__ import annotations

import re

R = "results"
TEACHER_KINDS = ("invariant", "distinctive")
TEACHER_ID = re.compile(r"^(invariant|distinctive)_n([24])_s(\d+)$")

# Which package sources each rule depends on: passed as a param (code version), so editing
# a module reruns exactly the jobs that import it (Snakemake itself only watches scripts).
CODE = {
    "synthesize": ["data/synthetic.py"],
    "index": ["data/index.py"],
    "frames": ["data/frames.py", "data/pipeline.py"],
    "splits": ["data/splits.py", "data/pipeline.py"],
    "pretrain": [
        "methods/pretrain.py",
        "losses",
        "models",
        "engine",
        "data/clips.py",
        "data/transforms.py",
        "data/pipeline.py",
    ],
    "scores": [
        "methods/scores.py",
        "methods/timebalance.py",
        "models",
        "engine",
        "data/clips.py",
        "data/transforms.py",
        "data/pipeline.py",
    ],
    "finetune": [
        "methods/student.py",
        "models",
        "engine",
        "data/clips.py",
        "data/transforms.py",
        "data/splits.py",
    ],
    "student": [
        "methods/student.py",
        "methods/timebalance.py",
        "losses",
        "models",
        "engine",
        "data/clips.py",
        "data/transforms.py",
        "data/splits.py",
    ],
    "evaluate": [
        "engine",
        "methods/student.py",
        "models",
        "data/clips.py",
        "data/transforms.py",
        "data/splits.py",
    ],
    "aggregate": ["report/aggregate.py"],
    "tables": ["report"],
}


def schedule(config: dict) -> dict:
    name = config["schedule"]
    if name not in config["schedules"]:
        raise ValueError(
            f"config: schedule {name!r} is not defined under `schedules` "
            f"(defined: {sorted(config['schedules'])})"
        )
    return config["schedules"][name]


def dataset(config: dict, name: str) -> dict:
    if name not in config["datasets"]:
        raise ValueError(
            f"dataset {name!r} is not configured; add datasets.{name} to config.yaml "
            f"(configured: {sorted(config['datasets'])})"
        )
    return config["datasets"][name]


def frames_settings(config: dict, name: str) -> dict:
    return {**config["frames"], **dataset(config, name).get("frames", {})}


def crop_size(config: dict) -> int:
    return int(schedule(config)["crop_size"])


def optim(config: dict, stage: str, *, dataset_name: str | None = None) -> dict:
    """OptimConfig kwargs for `stage` in pretrain | finetune | student."""
    sch = schedule(config)
    epochs = sch[f"{stage}_epochs"]
    if stage == "pretrain" and dataset_name:
        epochs = sch.get("pretrain_epochs_by_dataset", {}).get(dataset_name, epochs)
    return {
        "epochs": int(epochs),
        "lr": float(config[stage]["lr"]),
        "weight_decay": float(config[stage].get("weight_decay", 0.0)),
        "warmup_epochs": int(sch["warmup_epochs"]),
        "patience": int(sch["patience"]),
        "max_steps_per_epoch": sch.get("max_steps_per_epoch"),
    }


def student_optim(config: dict, spec: dict) -> dict:
    """OptimConfig kwargs of a student variant. A variant without teachers is plain supervised
    training on the labeled list, the same job as finetuning a teacher: it takes the finetuning
    epochs, so labels-only rows (Table 2 a, Table 3 a) differ from the finetuned teachers only
    in their initialisation. (A student's epoch is one pass over the unlabeled list.)"""
    settings = optim(config, "student")
    if not spec["teachers"]:
        settings["epochs"] = optim(config, "finetune")["epochs"]
    return settings


# Equal to timebalance.data.transforms.DEFAULT_CROP_SCALE (tested); not imported from there
# because this module stays free of torch, so that parsing the DAG is fast.
DEFAULT_CROP_SCALE = (0.2, 1.0)


def crop_scale(config: dict, dataset_name: str) -> list[float]:
    """Area share range of the random resized crop on this dataset (every training stage)."""
    scale = dataset(config, dataset_name).get("crop_scale", DEFAULT_CROP_SCALE)
    return [float(x) for x in scale]


def clips(config: dict, stage: str, dataset_name: str) -> dict:
    """Clip and loader settings of a classification stage (finetune | student) on a dataset.
    `datasets.<name>.clip` overrides the stage's clip_len and stride."""
    sch = schedule(config)
    shape = {**config[stage], **dataset(config, dataset_name).get("clip", {})}
    return {
        "crop_size": crop_size(config),
        "crop_scale": crop_scale(config, dataset_name),
        "clip_len": int(shape["clip_len"]),
        "stride": int(shape["stride"]),
        "batch_size": int(sch["batch_size"]),
        "workers": int(sch["workers"]),
    }


def default_teachers(config: dict) -> list[str]:
    n, s = config["pretrain"]["n_clips"], config["student"]["teacher_pretrain_seed"]
    return [f"invariant_n{n}_s{s}", f"distinctive_n{n}_s{s}"]


def parse_teacher(teacher: str) -> tuple[str, int, int]:
    m = TEACHER_ID.match(teacher)
    if not m:
        raise ValueError(
            f"bad teacher id {teacher!r}: expected <invariant|distinctive>_n<2|4>_s<seed>"
        )
    return m.group(1), int(m.group(2)), int(m.group(3))


def student_variant(config: dict, model: str) -> dict:
    """Resolved spec of `student` or `variants/<name>`: teachers, weighting, init, distill,
    and the loss weights (config.student, overridable per variant)."""
    base = {
        "teachers": default_teachers(config),
        "weighting": "tstr",
        "init": "ssl_init",
        "distill": "l2",
    }
    if model != "student":
        name = model.removeprefix("variants/")
        if name not in config["variants"]:
            raise ValueError(
                f"unknown student variant {name!r}; define variants.{name} in config.yaml "
                f"(defined: {sorted(config['variants'])})"
            )
        base.update(config["variants"][name])
    for t in base["teachers"]:
        parse_teacher(t)
    if len(base["teachers"]) == 1:
        base["weighting"] = "single"
    kinds = [parse_teacher(t)[0] for t in base["teachers"]]
    if base["weighting"] == "tstr" and len(kinds) == 2 and kinds != ["invariant", "distinctive"]:
        raise ValueError(
            f"config: student variant {model!r}: weighting 'tstr' mixes an invariant and a "
            f"distinctive teacher (eq. 7), in that order; got teachers {base['teachers']}"
        )
    st = config["student"]
    base.update(
        {
            k: st[k]
            for k in (
                "ce_weight",
                "labeled_distill_weight",
                "unlabeled_distill_weight",
                "unlabeled_ratio",
            )
        }
    )
    return base


def init_checkpoint(config: dict, ds: str, init: str) -> str | None:
    """The pretraining checkpoint a student starts from (None = random init)."""
    if init == "scratch":
        return None
    n, s = config["pretrain"]["n_clips"], config["student"]["teacher_pretrain_seed"]
    return f"{R}/ssl/{ds}/{init}_n{n}_s{s}.pt"


def scores_path(ds: str, teachers: list[str]) -> str:
    return f"{R}/scores/{ds}/{teachers[0]}+{teachers[1]}.csv"


def result_run(config: dict, key: str) -> str:
    """Per-seed model name (path stem under seed<k>/) behind an aggregated result key."""
    n, s = config["pretrain"]["n_clips"], config["student"]["teacher_pretrain_seed"]
    if key == "student" or key.startswith("variants/"):
        return key
    if m := re.fullmatch(r"teacher_(invariant|distinctive)", key):
        return f"teachers/{m.group(1)}_n{n}_s{s}"
    if m := re.fullmatch(r"teachers/(invariant|distinctive)_n(\d+)", key):
        return f"teachers/{m.group(1)}_n{m.group(2)}_s{s}"
    if re.fullmatch(r"teachers/(invariant|distinctive)_n\d+_s\d+", key):
        return key
    raise ValueError(f"unknown result {key!r}")


def run_paths(config: dict, ds: str, budget: str, key: str) -> list[str]:
    run = result_run(config, key)
    return [f"{R}/{ds}_{budget}/seed{seed}/{run}.json" for seed in config["seeds"]]


def table_grid(config: dict, grid: str) -> dict[str, list[tuple[str, str]]]:
    grids = config["tables"]["grids"]
    if grid not in grids:
        raise ValueError(f"no table grid {grid!r} in config tables.grids (have {sorted(grids)})")
    return {name: [tuple(c) for c in cells] for name, cells in grids[grid].items()}


def table_inputs(config: dict, grid: str, name: str) -> dict[str, str]:
    """Aggregated result files a table needs, keyed 'dataset|budget|result_key'."""
    from timebalance.report.tables import required_results

    cells = table_grid(config, grid).get(name)
    if cells is None:
        raise ValueError(f"table {name!r} is not listed in tables.grids.{grid}")
    return {
        f"{ds}|{b}|{key}": f"{R}/{ds}_{b}/{key}.json"
        for ds, b, key in required_results(name, cells)
    }


def grid_results(config: dict, grid: str) -> list[str]:
    """Every table and every aggregated result of a named grid."""
    out: list[str] = []
    for name in table_grid(config, grid):
        out += list(table_inputs(config, grid, name).values())
        out += [f"{R}/tables/{grid}/{name}.{ext}" for ext in ("md", "csv", "tex")]
    return sorted(set(out))


def demo_targets(config: dict) -> list[str]:
    """The default target: for every generated (synthetic) dataset and budget, the student
    and both teachers; plus every table of the active grid."""
    out = []
    for name, ds in config["datasets"].items():
        if "synthetic" in ds:
            for budget in ds.get("budgets", []):
                for key in ("student", "teacher_invariant", "teacher_distinctive"):
                    out.append(f"{R}/{name}_{budget}/{key}.json")
    for table in table_grid(config, config["tables"]["grid"]):
        out += [f"{R}/tables/{table}.{ext}" for ext in ("md", "csv", "tex")]
    return out


def check_config(config: dict) -> None:
    """Cross-key checks the JSON schema cannot express; each error names the key."""
    schedule(config)
    for name, ds in config["datasets"].items():
        if "synthetic" in ds and ds["root"] != f"{R}/datasets/{name}":
            raise ValueError(
                f"config: datasets.{name}.root must be {R}/datasets/{name} for a generated "
                f"dataset (got {ds['root']!r})"
            )
        low, high = ds.get("crop_scale", DEFAULT_CROP_SCALE)
        if low > high:
            raise ValueError(
                f"config: datasets.{name}.crop_scale must be [low, high] with low <= high "
                f"(got {[low, high]})"
            )
    for name in config["variants"]:
        student_variant(config, f"variants/{name}")
    grids = config["tables"]["grids"]
    if config["tables"]["grid"] not in grids:
        raise ValueError(
            f"config: tables.grid {config['tables']['grid']!r} is not one of tables.grids "
            f"({sorted(grids)})"
        )
    for grid, tables in grids.items():
        for table, cells in tables.items():
            for ds, _ in cells:
                if ds not in config["datasets"]:
                    raise ValueError(
                        f"config: tables.grids.{grid}.{table} names dataset {ds!r}, "
                        "which is not under `datasets`"
                    )
