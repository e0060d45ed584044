"""The validated config, resolved for the rules: schedules, datasets, stage settings and
student variants, plus the cross-key checks the JSON schema cannot express.

Defaults live in rules/config.schema.yaml only: Snakemake's `validate` writes them into the
config (set_default), so every function here reads keys directly and expects a validated
config (tests validate theirs the same way). Pure functions of the config, no I/O, no torch.
"""

from __future__ import annotations

import re

from timebalance.workflow import paths as P


def coerce_command_line(config: dict) -> dict:
    """Fix the types `--config` gives before validation: `--config 'seeds=[0,1]'` reaches
    the config as the strings ['0', '1']; integer-like seeds become integers."""
    seeds = config.get("seeds")
    if isinstance(seeds, list):
        config["seeds"] = [
            int(s) if isinstance(s, str) and re.fullmatch(r"\s*[0-9]+\s*", s) else s for s in seeds
        ]
    return config


def _entry(config: dict, section: str, name: str, problem: str) -> dict:
    if name not in config[section]:
        raise ValueError(f"{problem} (defined under `{section}`: {sorted(config[section])})")
    return config[section][name]


def schedule(config: dict) -> dict:
    name = config["schedule"]
    return _entry(config, "schedules", name, f"config: schedule {name!r} is not defined")


def dataset(config: dict, name: str) -> dict:
    problem = f"dataset {name!r} is not configured; add datasets.{name} to config.yaml"
    return _entry(config, "datasets", name, problem)


def frames_settings(config: dict, name: str) -> dict:
    """`frames`, with the dataset's own `frames` block overriding it key by key."""
    return {**config["frames"], **dataset(config, name)["frames"]}


def crop_size(config: dict) -> int:
    return int(schedule(config)["crop_size"])


def optim(config: dict, stage: str, *, dataset_name: str | None = None) -> dict:
    """OptimSettings fields for `stage` in pretrain | finetune | student."""
    sch = schedule(config)
    epochs = sch[f"{stage}_epochs"]
    if stage == "pretrain" and dataset_name:
        epochs = sch["pretrain_epochs_by_dataset"].get(dataset_name, epochs)
    return {
        "epochs": int(epochs),
        "lr": float(config[stage]["lr"]),
        "weight_decay": float(config[stage]["weight_decay"]),
        "warmup_epochs": int(sch["warmup_epochs"]),
        "patience": int(sch["patience"]),
        "max_steps_per_epoch": sch["max_steps_per_epoch"],
    }


def student_optim(config: dict, spec: dict) -> dict:
    """OptimSettings fields of a student variant. A variant without teachers is plain supervised
    training on the labeled list, the same job as finetuning a teacher: it takes the finetuning
    epochs, so labels-only rows (Table 2 a, Table 3 a) differ from the finetuned teachers only
    in their initialisation. (A student's epoch is one pass over the unlabeled list.)"""
    settings = optim(config, "student")
    if not spec["teachers"]:
        settings["epochs"] = optim(config, "finetune")["epochs"]
    return settings


def crop_scale(config: dict, dataset_name: str) -> list[float]:
    """Area share range of the random resized crop on this dataset (every training stage)."""
    return [float(x) for x in dataset(config, dataset_name)["crop_scale"]]


def clips(config: dict, stage: str, dataset_name: str) -> dict:
    """Clip and loader settings of a classification stage (finetune | student) on a dataset.
    `datasets.<name>.clip` overrides the stage's clip_len and stride."""
    sch = schedule(config)
    shape = {**config[stage], **dataset(config, dataset_name)["clip"]}
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
    return [P.teacher_id(kind, n, s) for kind in P.TEACHER_KINDS]


def student_variant(config: dict, model: str) -> dict:
    """Resolved spec of `student` or `variants/<name>`: teachers, weighting, init, distill,
    and the loss weights (config.student, overridable per variant). A variant names only
    what it changes; the rest is the TimeBalance student below."""
    base = {
        "teachers": default_teachers(config),
        "weighting": "tstr",
        "init": "ssl_init",
        "distill": "l2",
        "score_normalisation": "none",
    }
    if model != "student":
        name = model.removeprefix("variants/")
        if name not in config["variants"]:
            raise ValueError(
                f"unknown student variant {name!r}; define variants.{name} in config.yaml "
                f"(defined: {sorted(config['variants'])})"
            )
        base.update(config["variants"][name])
    kinds = [P.parse_teacher(t)[0] for t in base["teachers"]]
    if len(base["teachers"]) == 1:
        base["weighting"] = "single"
    if base["weighting"] == "tstr" and len(kinds) == 2 and kinds != list(P.TEACHER_KINDS):
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
    return P.ssl_weights(ds, init, n, s)


def table_grid(config: dict, grid: str) -> dict[str, list[tuple[str, str]]]:
    grids = config["tables"]["grids"]
    if grid not in grids:
        raise ValueError(f"no table grid {grid!r} in config tables.grids (have {sorted(grids)})")
    return {name: [tuple(c) for c in cells] for name, cells in grids[grid].items()}


def check_config(config: dict) -> None:
    """Cross-key checks the JSON schema cannot express; each error names the key."""
    schedule(config)
    for name, ds in config["datasets"].items():
        generated = P.DATASET_ROOT.format(dataset=name)
        if "synthetic" in ds and ds["root"] != generated:
            raise ValueError(
                f"config: datasets.{name}.root must be {generated} for a generated "
                f"dataset (got {ds['root']!r})"
            )
        low, high = ds["crop_scale"]
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
