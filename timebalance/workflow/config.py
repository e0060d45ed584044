"""The validated config, resolved for the rules: schedules, datasets, stage settings and
student variants, plus the cross-key checks the JSON schema cannot express.

Defaults live in rules/config.schema.yaml only: `validate` writes them into the config
(`fill_defaults`, as Snakemake's validate with set_default), so every function here reads
keys directly and expects a validated config (tests validate theirs the same way). Pure
functions of the config (`validate` reads the schema file), no torch.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from pathlib import Path

from timebalance.workflow import paths as P

_INTEGER = re.compile(r"\s*[0-9]+\s*")


class ConfigError(ValueError):
    """A config value the workflow cannot run with; the message names the key and the fix."""


def coerce_command_line(config: dict) -> dict:
    """Fix the types `--config` gives before validation: `--config 'seeds=[0,1]'` reaches
    the config as the strings ['0', '1'] and `--config seeds=3` as the number 3; integer-like
    seeds become a list of integers."""
    seeds = config.get("seeds")
    if (
        isinstance(seeds, int | str)
        and not isinstance(seeds, bool)
        and _INTEGER.fullmatch(str(seeds))
    ):
        seeds = [seeds]
    if isinstance(seeds, list):
        config["seeds"] = [
            int(s) if isinstance(s, str) and _INTEGER.fullmatch(s) else s for s in seeds
        ]
    return config


def validate(config: dict, schema: str | Path) -> dict:
    """What the workflow does with its config at start: fix command-line types, validate
    against the schema, filling in its defaults (``fill_defaults``), run the cross-key
    checks. A schema error is raised as a short ConfigError: the key, the value and what is
    allowed."""
    import jsonschema

    coerce_command_line(config)
    try:
        fill_defaults(config, load_schema(Path(schema).absolute()))
    except jsonschema.ValidationError as err:
        raise ConfigError(schema_message(err)) from None
    check_config(config)
    return config


@lru_cache(maxsize=4)
def load_schema(path: Path) -> dict:
    """The schema file, read once per process with libyaml's parser when PyYAML has it
    (Snakemake's validate reads it with the pure-Python one: ~0.1 s of every start)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


def fill_defaults(config: dict, schema: dict) -> None:
    """Validate ``config`` against ``schema`` (JSON Schema 2020-12, references inside the
    schema) and set each missing key that has a ``default`` where its object is: what
    Snakemake's ``validate(config, schema, set_default=True)`` does (jsonschema's documented
    extension), without re-reading the schema, and with each default a copy of its own.

    Raises:
        jsonschema.ValidationError: the first violation found (as Snakemake's validate).
    """
    from jsonschema import Draft202012Validator, validators

    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, sub):
        if isinstance(instance, dict):
            for key, subschema in properties.items():
                if "default" in subschema:
                    # a copy: the schema is cached, and a config may be edited later
                    instance.setdefault(key, copy.deepcopy(subschema["default"]))
        yield from check_properties(validator, properties, instance, sub)

    with_defaults = validators.extend(Draft202012Validator, {"properties": set_defaults})
    with_defaults(schema).validate(config)


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f"{'.' if out else ''}{part}"
    return out or "(the top level)"


def schema_message(error) -> str:
    """One schema violation (a jsonschema.ValidationError) as the key, the value and what
    the schema allows there."""
    key = _key(error.absolute_path)
    sub = error.schema if isinstance(error.schema, dict) else {}
    kind, rule = error.validator, error.validator_value
    if kind == "additionalProperties":
        allowed = sorted(sub.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = f"{key}: " if error.absolute_path else ""
        return (
            f"config: {where}unknown key(s) {', '.join(map(repr, unknown))}"
            + (f"; allowed: {', '.join(allowed)}" if allowed else "")
            + ". Fix the spelling in config.yaml or --config."
        )
    if kind == "required":
        return f"config: {key}: {error.message}; add it to config.yaml."
    value = repr(error.instance)
    if len(value) > 120:
        value = value[:117] + "..."
    if kind == "enum":
        allowed = "one of " + ", ".join(map(repr, rule))
    elif kind == "pattern":
        allowed = f"text matching {rule}"
    elif kind == "type":
        allowed = f"of type {rule if isinstance(rule, str) else ' or '.join(rule)}"
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">"}.get(kind, "<")
        allowed = f"a number {sign} {rule}"
    else:
        allowed = ""
    if kind == "pattern" and rule == P.anchored(P.BUDGET):
        from timebalance.data.splits import parse_budget

        try:
            parse_budget(error.instance)
        except ValueError as err:
            return f"config: {key}: {err}."
    what = f" ({sub['description']})" if sub.get("description") else ""
    why = f"it must be {allowed}" if allowed else error.message
    return f"config: {key} = {value} is not allowed{what}: {why}."


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


def crop_size(config: dict, dataset_name: str) -> int:
    """Input crop size on a dataset: its own `crop_size`, else the schedule's. The paper's
    input size belongs to its backbone (224 px for Slow-R50, Sec. 4.2), so a dataset entry
    of the paper grid pins it; the schedule's is the fallback of any other dataset."""
    own = dataset(config, dataset_name)["crop_size"]
    return int(schedule(config)["crop_size"] if own is None else own)


def paper_dataset(config: dict, dataset_name: str) -> str | None:
    """The paper dataset whose numbers a table puts beside this dataset's runs: a real
    (not generated) dataset read with the ucf101, hmdb51 or kinetics400 adapter is that
    dataset, whatever its entry is called (`ucf101r50` is UCF101); else None."""
    from timebalance.report.paper_numbers import PAPER_DATASETS

    ds = dataset(config, dataset_name)
    if "synthetic" in ds or ds["format"] not in PAPER_DATASETS:
        return None
    return ds["format"]


def dataset_setup(config: dict, dataset_name: str) -> dict:
    """What a result table needs to know of a dataset's runs before they exist: the
    backbone, the input crop size and the paper dataset of its paper column."""
    return {
        "backbone": dataset(config, dataset_name)["backbone"],
        "crop_size": crop_size(config, dataset_name),
        "paper_dataset": paper_dataset(config, dataset_name),
    }


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
    in their initialisation. (An epoch of a student with teachers is one pass over the list
    `student.epoch_unit` names.)"""
    settings = optim(config, "student")
    if not spec["teachers"]:
        settings["epochs"] = optim(config, "finetune")["epochs"]
    return settings


def crop_scale(config: dict, dataset_name: str) -> list[float]:
    """Area share range of the random resized crop on this dataset (every training stage)."""
    return [float(x) for x in dataset(config, dataset_name)["crop_scale"]]


def pretrain_augment(config: dict, dataset_name: str) -> dict:
    """Spatial augmentation of the pretraining clips on this dataset: `crop_scale` (the
    dataset's unless `pretrain_augment.crop_scale` sets one) and `flip_p` (None: the
    augmentation's default, as the other stages); the colour mode of every stage."""
    own = dataset(config, dataset_name).get("pretrain_augment") or {}
    scale = own.get("crop_scale")
    return {
        "crop_scale": crop_scale(config, dataset_name)
        if scale is None
        else [float(x) for x in scale],
        "flip_p": None if own.get("flip_p") is None else float(own["flip_p"]),
        "colour": config["augment"]["colour"],
    }


def clips(config: dict, stage: str, dataset_name: str) -> dict:
    """Clip and loader settings of a classification stage (finetune | student) on a dataset.
    `datasets.<name>.clip` overrides the stage's clip_len and stride."""
    sch = schedule(config)
    shape = {**config[stage], **dataset(config, dataset_name)["clip"]}
    return {
        "crop_size": crop_size(config, dataset_name),
        "crop_scale": crop_scale(config, dataset_name),
        "colour": config["augment"]["colour"],
        "clip_len": int(shape["clip_len"]),
        "stride": int(shape["stride"]),
        "batch_size": int(sch["batch_size"]),
        "workers": int(sch["workers"]),
    }


def longest_clip(config: dict, dataset_name: str) -> tuple[int, str]:
    """(frames, description) of the longest stretch of a video any stage reads as one
    sample on this dataset: the pretraining window or a finetuning / student clip. A video
    with fewer frames is "shorter than one clip" (its clips loop, data/temporal.py)."""
    pre = config["pretrain"]
    spans = {
        f"the pretraining window of {pre['n_clips']} x {pre['clip_len']} frames": pre["n_clips"]
        * pre["clip_len"]
    }
    for stage in ("finetune", "student"):
        c = clips(config, stage, dataset_name)
        what = f"a {stage} clip of {c['clip_len']} frames at stride {c['stride']}"
        spans[what] = (c["clip_len"] - 1) * c["stride"] + 1
    what, frames = max(spans.items(), key=lambda item: item[1])
    return frames, what


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
    _check_variant(config, model, base)
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
                "epoch_unit",
            )
        }
    )
    return base


def _check_variant(config: dict, model: str, spec: dict) -> None:
    """Settings of a student variant that contradict each other (each would fail or be
    ignored only when the variant's job runs, after its teachers are trained)."""
    name = model.removeprefix("variants/")
    own = config["variants"].get(name, {}) if model != "student" else {}
    key = f"variants.{name}" if model != "student" else "student"
    teachers, weighting = spec["teachers"], spec["weighting"]
    if len(set(teachers)) < len(teachers):
        raise ConfigError(
            f"config: {key}.teachers names the same teacher twice ({teachers}); name two "
            "different teachers, or one with weighting: single"
        )
    if weighting == "single" and len(teachers) != 1:
        raise ConfigError(
            f"config: {key}: weighting 'single' distils from one teacher, but teachers lists "
            f"{len(teachers)} ({teachers}); keep one teacher, or use weighting: average or tstr"
        )
    if len(teachers) == 1 and "weighting" in own and weighting != "single":
        raise ConfigError(
            f"config: {key}: weighting {weighting!r} mixes two teachers, but teachers lists "
            f"one ({teachers}); use weighting: single or add a second teacher"
        )
    if not teachers:
        ignored = [k for k in ("weighting", "distill", "score_normalisation") if k in own]
        if ignored:
            raise ConfigError(
                f"config: {key}: {', '.join(ignored)} set, but teachers is [] (labels only: "
                "nothing is distilled); remove them or name the teachers"
            )
    if spec["score_normalisation"] != "none" and (len(teachers) != 2 or weighting != "tstr"):
        raise ConfigError(
            f"config: {key}: score_normalisation {spec['score_normalisation']!r} rescales the "
            "TSTR score s, which only weighting: tstr with two teachers uses; remove it or use "
            "weighting: tstr"
        )


def check_budget(config: dict, name: str, budget: str, where: str) -> None:
    """Whether `budget` can split dataset `name` into labeled, unlabeled and validation
    videos, as far as the config tells: a percentage plus splits.val_fraction below 100%
    and, for a generated dataset (whose class sizes the config fixes), the counts
    make_splits will draw. make_splits checks real datasets with their real counts.

    Raises:
        ConfigError: starting with `where` (the config key or the target), saying the fix.
    """
    from timebalance.data.splits import labeled_count, parse_budget, val_count

    try:
        parsed = parse_budget(budget)
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None
    if f"{name}_{budget}" in config["splits"]["labeled_lists"]:
        return  # an external list picks the labeled videos
    val_fraction = config["splits"]["val_fraction"]
    if parsed.kind == "pct" and float(parsed.value) / 100 + val_fraction >= 1:
        raise ConfigError(
            f"{where}: budget {budget} labels {parsed.value}% of each class's training "
            f"videos and splits.val_fraction holds out {val_fraction:.0%}, so no video is left "
            f"unlabeled for the student; use a budget below {100 * (1 - val_fraction):g}pct "
            "or lower splits.val_fraction"
        )
    syn = dataset(config, name).get("synthetic") or {}
    if not {"n_groups", "n_test_groups", "clips_per_group"} <= set(syn):
        return
    n = (syn["n_groups"] - syn["n_test_groups"]) * syn["clips_per_group"]
    n_val, n_lab = val_count(val_fraction, n), labeled_count(parsed, n)
    problem = None
    if n_val == 0:
        problem = f"splits.val_fraction {val_fraction} holds out no validation video"
    elif n_lab + n_val >= n:
        problem = (
            f"budget {budget} labels {n_lab} and validation holds out {n_val}, leaving "
            f"{max(0, n - n_lab - n_val)} unlabeled"
        )
    if problem:
        raise ConfigError(
            f"{where}: the generated dataset {name!r} has {n} training videos per class "
            f"((n_groups - n_test_groups) x clips_per_group): {problem}; lower the budget, "
            f"change splits.val_fraction or enlarge datasets.{name}.synthetic"
        )


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
        scales = {"crop_scale": ds["crop_scale"]}
        scales["pretrain_augment.crop_scale"] = (ds.get("pretrain_augment") or {}).get("crop_scale")
        for key, scale in scales.items():
            if scale is None:
                continue
            low, high = scale
            if low > high:
                raise ValueError(
                    f"config: datasets.{name}.{key} must be [low, high] with low <= high "
                    f"(got {[low, high]})"
                )
        _check_options(name, ds)
        _check_crop(config, name)
        for i, budget in enumerate(ds["budgets"]):
            check_budget(config, name, budget, f"config: datasets.{name}.budgets[{i}]")
    for key in config["splits"]["labeled_lists"]:
        m = re.fullmatch(f"({P.DATASET})_(.+)", key)
        if not m or m.group(1) not in config["datasets"]:
            raise ConfigError(
                f"config: splits.labeled_lists.{key}: keys are <dataset>_<budget> of a dataset "
                f"under `datasets` ({sorted(config['datasets'])}); fix the key"
            )
        check_budget(config, m.group(1), m.group(2), f"config: splits.labeled_lists.{key}")
    student_variant(config, "student")
    for name in config["variants"]:
        student_variant(config, f"variants/{name}")
    grids = config["tables"]["grids"]
    if config["tables"]["grid"] not in grids:
        raise ValueError(
            f"config: tables.grid {config['tables']['grid']!r} is not one of tables.grids "
            f"({sorted(grids)})"
        )
    shown = grids[config["tables"]["grid"]]
    for table in config["tables"]["demo"]:
        if table not in shown:
            raise ConfigError(
                f"config: tables.demo names {table!r}, which is not a table of the "
                f"{config['tables']['grid']!r} grid ({sorted(shown)}); fix the name or add it "
                f"to tables.grids.{config['tables']['grid']}"
            )
    for grid, tables in grids.items():
        for table, cells in tables.items():
            for ds, budget in cells:
                if ds not in config["datasets"]:
                    raise ConfigError(
                        f"config: tables.grids.{grid}.{table} names dataset {ds!r}, which is "
                        f"not under `datasets` ({sorted(config['datasets'])}); fix the name or "
                        f"add datasets.{ds}"
                    )
                check_budget(config, ds, budget, f"config: tables.grids.{grid}.{table}")
    _check_shared_videos(config)


def _check_crop(config: dict, name: str) -> None:
    """The input crop must fit in the extracted frames: a crop larger than their short side
    would upsample every clip (and the frames would be extracted again to fix it)."""
    crop = crop_size(config, name)
    short = frames_settings(config, name)["short_side"]
    if short is not None and crop > short:
        own = dataset(config, name)["crop_size"] is not None
        where = f"datasets.{name}.crop_size" if own else f"schedules.{config['schedule']}.crop_size"
        raise ConfigError(
            f"config: {where} is {crop}, larger than the short side of dataset {name!r}'s "
            f"frames ({short} px, datasets.{name}.frames.short_side or frames.short_side); "
            f"set datasets.{name}.frames.short_side to at least {crop}, or a smaller "
            f"datasets.{name}.crop_size"
        )


def _check_shared_videos(config: dict) -> None:
    """Dataset entries that read the same videos (same format, root, split and options:
    e.g. `ucf101` for R3D-18 and `ucf101r50` for Slow-R50) draw identical split lists for
    the same seed and budget (make_splits depends on the usable videos, not on the entry's
    name), so the paper's backbone blocks compare runs on the same labels. That holds while
    they agree on what decides the usable videos and the labeled list."""
    datasets = config["datasets"]
    groups: dict[str, list[str]] = {}
    for name, ds in datasets.items():
        if "synthetic" in ds:
            continue
        key = repr((ds["format"], ds["root"], ds["split"], sorted(ds["options"].items())))
        groups.setdefault(key, []).append(name)
    lists = config["splits"]["labeled_lists"]
    for names in groups.values():
        first, *others = names
        for other in others:
            for what, value in (
                ("min_frames", lambda n: datasets[n]["min_frames"]),
                ("frames.fps", lambda n: frames_settings(config, n)["fps"]),
            ):
                if value(first) != value(other):
                    raise ConfigError(
                        f"config: datasets {first!r} and {other!r} read the same videos but "
                        f"differ in {what} ({value(first)!r} vs {value(other)!r}), so their "
                        "split lists would differ; give both the same value"
                    )
            budgets = {k.rsplit("_", 1)[1] for k in lists if k.rsplit("_", 1)[0] in names}
            for budget in sorted(budgets):
                a, b = lists.get(f"{first}_{budget}"), lists.get(f"{other}_{budget}")
                if a != b:
                    raise ConfigError(
                        f"config: splits.labeled_lists: datasets {first!r} and {other!r} read "
                        f"the same videos, but {first}_{budget} is {a!r} and {other}_{budget} "
                        f"is {b!r}; list the same file under both keys"
                    )


def _check_options(name: str, ds: dict) -> None:
    """Format options the dataset's adapter does not know (caught here for every configured
    dataset, not only when a target needs its index)."""
    from timebalance.data.index import OPTIONS

    unknown = sorted(set(ds["options"]) - set(OPTIONS[ds["format"]]))
    if unknown:
        raise ConfigError(
            f"config: datasets.{name}.options: unknown option(s) {', '.join(map(repr, unknown))} "
            f"for format {ds['format']!r}; allowed: {', '.join(OPTIONS[ds['format']]) or 'none'}"
        )
