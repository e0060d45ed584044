"""Input, param and resource functions of the Snakemake rules, and the result targets.

Each rule function takes the config first and the job's wildcards second; rules/common.smk
binds the config (`functools.partial`), so the .smk files hold rules only and this logic is
testable without Snakemake. The config is the validated one (schema defaults filled in).
The settings dicts keep the key names the stage functions take."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from timebalance.workflow import config as C
from timebalance.workflow import paths as P


# --- common ---------------------------------------------------------------------------
def device_params(config: dict, wildcards) -> dict:
    return {"device": config["device"]}


def gpus(config: dict, wildcards) -> int:
    """One GPU per training job, none for the CPU-sized `tiny` backbone."""
    return 0 if backbone(config, wildcards) == "tiny" else 1


def threads(config: dict) -> int:
    """CPU cores a training, scoring or evaluation job asks for: the schedule's `threads`
    (one value per run: the rules read it once, not per job)."""
    return int(C.schedule(config)["threads"])


def frames_root(config: dict, wildcards) -> str:
    return P.FRAMES_ROOT.format(dataset=wildcards.dataset)


def manifest(config: dict, wildcards) -> str:
    return P.MANIFEST.format(dataset=wildcards.dataset)


def split_file(part: str, config: dict, wildcards) -> str:
    w = wildcards
    return P.SPLIT.format(dataset=w.dataset, budget=w.budget, seed=w.seed, part=part)


def pretrained(wildcard: str, config: dict, wildcards) -> str:
    """The pretrained checkpoint of the teacher id in wildcard `wildcard`."""
    return P.teacher_ssl_weights(wildcards.dataset, getattr(wildcards, wildcard))


def backbone(config: dict, wildcards) -> str:
    return C.dataset(config, wildcards.dataset)["backbone"]


def paper_grid_targets(config: dict, wildcards) -> list[str]:
    """Evaluated only when paper_grid is requested (a config may define no paper grid)."""
    return grid_results(config, "paper")


# --- data -----------------------------------------------------------------------------
def synthetic_settings(config: dict, wildcards) -> dict:
    return C.dataset(config, wildcards.dataset)["synthetic"]


_WARNED_ROOTS: set[str] = set()


def index_inputs(is_dry_run: Callable[[], bool], config: dict, wildcards) -> dict:
    """A generated dataset's folder is an input of its index; for a real one, the annotation
    files its adapter reads, so editing a label rebuilds the index and what follows.

    A real dataset's missing root stops a run before any job starts. A dry run (`-n`) only
    warns, so the DAG of a grid can be listed on a machine without the data. `is_dry_run` is
    asked when the DAG is built (Snakemake knows it only then, not when rules are parsed)."""
    ds = C.dataset(config, wildcards.dataset)
    if "synthetic" in ds:
        return {"root": ds["root"]}
    if not Path(ds["root"]).is_dir():
        message = (
            f"config: datasets.{wildcards.dataset}.root {ds['root']!r} is not a directory; set "
            f"it to the folder holding the {ds['format']} videos and annotation files"
        )
        if not is_dry_run():
            raise C.ConfigError(message)
        if ds["root"] not in _WARNED_ROOTS:
            _WARNED_ROOTS.add(ds["root"])
            print(f"warning (dry run): {message}", file=sys.stderr)
        return {}
    from timebalance.data.index import annotation_files  # pandas: only for real datasets

    files = annotation_files(ds["format"], ds["root"], ds["split"], ds["options"])
    return {"annotations": [str(f) for f in files]}


def index_params(config: dict, wildcards) -> dict:
    ds = C.dataset(config, wildcards.dataset)
    return {
        "fmt": ds["format"],
        "root": ds["root"],
        "split": ds["split"],
        "options": ds["options"],
    }


def shard_manifests(config: dict, wildcards) -> list[str]:
    n = C.frames_settings(config, wildcards.dataset)["n_shards"]
    return [P.FRAME_SHARD.format(dataset=wildcards.dataset, shard=k) for k in range(n)]


def frames_params(config: dict, wildcards) -> dict:
    settings = C.frames_settings(config, wildcards.dataset)
    return {
        "root": C.dataset(config, wildcards.dataset)["root"],
        "n_shards": settings["n_shards"],
        "short_side": settings["short_side"],
        "fps": settings["fps"],
        "quality": settings["quality"],
    }


def manifest_params(config: dict, wildcards) -> dict:
    """What decides the manifest's rows: the tolerated share of videos without frames, and
    the dataset's min_frames (shorter videos leave the splits and pretraining)."""
    return {
        "max_bad_fraction": C.frames_settings(config, wildcards.dataset)["max_bad_fraction"],
        "min_frames": C.dataset(config, wildcards.dataset)["min_frames"],
    }


def labeled_list(config: dict, wildcards) -> str | None:
    """The external labeled list configured for this (dataset, budget), if any."""
    return config["splits"]["labeled_lists"].get(f"{wildcards.dataset}_{wildcards.budget}")


def splits_inputs(config: dict, wildcards) -> dict:
    """The frame manifest, and an external labeled list (editing it redraws the splits).
    The budget of the requested split is checked first (as the config's budgets are), so a
    target of budget 0pct fails before any job runs."""
    w = wildcards
    where = f"requested target {P.R}/{w.dataset}_{w.budget}/... (budget {w.budget!r})"
    C.check_budget(config, w.dataset, w.budget, where)
    inputs = {"manifest": manifest(config, wildcards)}
    if listed := labeled_list(config, wildcards):
        inputs["labeled_list"] = listed
    return inputs


def misspelt_budget(config: dict, wildcards) -> list[str]:
    """Input function of the rule that matches only P.MISSPELT_BUDGET_TARGET, a requested
    path whose budget part is not a label budget: raise the budget parser's message."""
    from timebalance.data.splits import parse_budget

    w = wildcards
    target = P.MISSPELT_BUDGET_TARGET.format(
        **{k: getattr(w, k) for k in ("dataset", "misspelt", "rest")}
    )
    try:
        parse_budget(w.misspelt)
    except ValueError as err:
        raise C.ConfigError(f"requested target {target}: {err}") from None
    raise C.ConfigError(f"requested target {target}: no rule makes this file")


# --- pretraining and scores -----------------------------------------------------------
def pretrain_settings(config: dict, wildcards) -> dict:
    sch = C.schedule(config)
    pre = config["pretrain"]
    return {
        "kind": wildcards.kind,
        "backbone": backbone(config, wildcards),
        "n_clips": int(wildcards.n),
        "clip_len": pre["clip_len"],
        "crop_size": C.crop_size(config, wildcards.dataset),
        **C.pretrain_augment(config, wildcards.dataset),  # crop_scale, flip_p, colour
        "temperature": pre["temperature"],
        "local_local_reduction": pre["local_local_reduction"],
        "batch_size": sch["pretrain_batch_size"],
        "workers": sch["workers"],
        "seed": int(wildcards.ps),
        **C.optim(config, "pretrain", dataset_name=wildcards.dataset),
        "diagnose_every": pre["diagnose_every"],
        "diagnose_videos": pre["diagnose_videos"],
    }


def score_settings(config: dict, wildcards) -> dict:
    sch = C.schedule(config)
    return {
        "crop_size": C.crop_size(config, wildcards.dataset),
        "batch_size": sch["batch_size"],
        "workers": sch["workers"],
        "bn_recalibration": config["scores"]["bn_recalibration"],
    }


# --- finetuning and the student -------------------------------------------------------
def finetune_settings(config: dict, wildcards) -> dict:
    return {
        "backbone": backbone(config, wildcards),
        "clips": C.clips(config, "finetune", wildcards.dataset),
        "optim": C.optim(config, "finetune"),
        "seed": int(wildcards.seed),
    }


def student_inputs(config: dict, wildcards) -> dict:
    """Split lists, the initialisation, the finetuned teachers and (TSTR) the scores."""
    spec = C.student_variant(config, wildcards.model)
    w = wildcards
    inputs: dict = {
        part: split_file(part, config, wildcards) for part in ("labeled", "unlabeled", "val")
    }
    inputs["classes"] = P.CLASSES.format(dataset=w.dataset)
    inputs["teachers"] = [
        P.TEACHER_WEIGHTS.format(dataset=w.dataset, budget=w.budget, seed=w.seed, teacher=t)
        for t in spec["teachers"]
    ]
    init = C.init_checkpoint(config, w.dataset, spec["init"])
    if init:
        inputs["init"] = init
    if len(spec["teachers"]) == 2 and spec["weighting"] == "tstr":
        inputs["scores"] = P.scores(w.dataset, spec["teachers"])
    return inputs


def student_settings(config: dict, wildcards) -> dict:
    spec = C.student_variant(config, wildcards.model)
    return {
        "backbone": backbone(config, wildcards),
        "spec": {k: v for k, v in spec.items() if k != "init"},
        "clips": C.clips(config, "student", wildcards.dataset),
        "optim": C.student_optim(config, spec),
        "seed": int(wildcards.seed),
    }


# --- the other methods (fixmatch, acl_mtl) and their ablation variants -----------------
_METHOD_COMMON = ("optimizer", "eval_clips", "eval_crops")  # not part of a method's spec


def method_names(config: dict) -> dict[str, str]:
    """Every configured method name -> the method it runs (one of P.METHODS): the methods
    themselves, then the ablation variants of `methods.variants` (`{method: <method>,
    <setting>: <value>, ...}`), whose overrides must be settings of that method."""
    names = {m: m for m in P.METHODS}
    for name, variant in config["methods"].get("variants", {}).items():
        where = f"config: methods.variants.{name}"
        if name in names:
            raise C.ConfigError(f"{where}: a variant cannot take a method's name")
        if not re.fullmatch(P.METHOD, name):
            raise C.ConfigError(f"{where}: a name must match {P.METHOD}")
        method = variant.get("method")
        if method not in P.METHODS:
            raise C.ConfigError(
                f"{where}: method {method!r} is not a method; one of {', '.join(P.METHODS)}"
            )
        own = set(config["methods"][method])
        unknown = sorted(set(variant) - {"method"} - own)
        if unknown:
            raise C.ConfigError(
                f"{where}: {', '.join(unknown)} not a setting of methods.{method} "
                f"(its settings: {', '.join(sorted(own))})"
            )
        names[name] = method
    return names


def method_section(config: dict, name: str) -> dict:
    """The settings of method `name`: its `methods.<method>` section with a variant's
    overrides; an unknown name raises the configured names."""
    names = method_names(config)
    if name not in names:
        raise C.ConfigError(
            f"unknown method {name!r}; the configured methods are {', '.join(names)} "
            "(add a variant under methods.variants in config.yaml)"
        )
    overrides = config["methods"].get("variants", {}).get(name, {})
    section = config["methods"][names[name]]
    return {**section, **{k: v for k, v in overrides.items() if k != "method"}}


def check_method_variants(config: dict, schema: str | Path) -> None:
    """Each variant's settings (its method's section with the overrides) against the
    schema of that section, so a bad value stops the run before any job starts."""
    import jsonschema

    # the schema as validate read it (cached); one validator per method (jsonschema.validate
    # checks the schema itself at each call)
    sections = C.load_schema(Path(schema).absolute())["properties"]["methods"]["properties"]
    validators: dict[str, jsonschema.protocols.Validator] = {}
    for name, method in method_names(config).items():
        if name == method:
            continue  # validated with the config
        if method not in validators:
            cls = jsonschema.validators.validator_for(sections[method])
            cls.check_schema(sections[method])
            validators[method] = cls(sections[method])
        errors = validators[method].iter_errors(method_section(config, name))
        err = jsonschema.exceptions.best_match(errors)  # the error jsonschema.validate raises
        if err is not None:
            key = ".".join(map(str, err.absolute_path)) or "(the variant)"
            raise C.ConfigError(f"config: methods.variants.{name}.{key}: {err.message}") from None


def method_grammar(config: dict, method: str | None = None) -> str:
    """Regex of the configured method names (those running `method`, when given): the
    `method` wildcard of a method's training rule."""
    names = [n for n, m in method_names(config).items() if method in (None, m)]
    return "|".join(re.escape(n) for n in names)


def misspelt_method_grammar(config: dict) -> str:
    """Regex of the `method` of P.METHOD_WEIGHTS when it is not a configured name (the rule
    that only reports it, as `misspelt_budget` does for budgets): any folder name but a
    configured one followed by the pattern's end."""
    end = re.escape(P.METHOD_WEIGHTS.split("{method}", 1)[1])
    return rf"(?!(?:{method_grammar(config)}){end}$)[^/]+"


def misspelt_method(config: dict, wildcards) -> list[str]:
    """Input function of the rule that matches only a method name the config does not
    define: raise, naming the configured methods."""
    w = wildcards
    target = P.METHOD_WEIGHTS.format(
        dataset=w.dataset, budget=w.budget, seed=w.seed, method=w.method
    )
    try:
        method_section(config, w.method)
    except C.ConfigError as err:
        raise C.ConfigError(f"requested {target}: {err}") from None
    raise C.ConfigError(f"requested {target}: no rule makes this file")


def method_inputs(config: dict, wildcards) -> dict:
    """Split lists, class list and, when `methods.pretrained` names one for the dataset, the
    weight file every method starts from (004: ImageNet weights)."""
    inputs: dict = {
        part: split_file(part, config, wildcards) for part in ("labeled", "unlabeled", "val")
    }
    inputs["classes"] = P.CLASSES.format(dataset=wildcards.dataset)
    if weights := config["methods"]["pretrained"].get(wildcards.dataset):
        inputs["init"] = weights
    return inputs


def method_sgd(config: dict, name: str) -> dict | None:
    """The stepped optimiser of `name`: 004's SGD ("sgd"), Adam at `methods.lr` with the
    same steps ("adam") or annealed along a half cosine over the run ("adam_cosine"); None
    for "adam_plateau" (fit's Adam, warm-up and plateau halving).
    The lr milestones scale from `methods.sgd.epochs` (004: 30) to the schedule's
    method_epochs: the paper schedule keeps 25 and 28 exactly."""
    methods = config["methods"]
    optimizer = method_section(config, name)["optimizer"]
    if optimizer == "adam_plateau":
        return None
    sgd = methods["sgd"]
    if sgd["milestones"] != sorted(set(sgd["milestones"])):
        raise C.ConfigError(
            f"config: methods.sgd.milestones {sgd['milestones']} must increase strictly"
        )
    epochs = C.schedule(config)["method_epochs"]
    scaled = {max(1, round(m * epochs / sgd["epochs"])) for m in sgd["milestones"]}
    adam = optimizer in ("adam", "adam_cosine")
    return {
        "optimizer": optimizer,
        "lr": methods["lr"] if adam else sgd["lr"],
        "momentum": sgd["momentum"],
        "weight_decay": methods["weight_decay"] if adam else sgd["weight_decay"],
        "milestones": sorted(scaled),
        "decay": sgd["decay"],
        "epochs": int(epochs),
    }


def method_settings(name: str, config: dict, wildcards) -> dict:
    """FixMatchSettings / AclMtlSettings fields of method `name` (a method or a variant).
    A step takes the schedule's batch_size videos: B_l = batch_size // (1 +
    unlabeled_ratio) (at least 1) labeled and B_u = unlabeled_ratio x B_l unlabeled (004:
    1 + 5 per GPU)."""
    sch, methods = C.schedule(config), config["methods"]
    ratio = methods["unlabeled_ratio"]
    clips = C.clips(config, "methods", wildcards.dataset)
    clips["batch_size"] = max(1, clips["batch_size"] // (1 + ratio))
    section = method_section(config, name)
    spec = {k: v for k, v in section.items() if k not in _METHOD_COMMON}
    if "warmup" in spec:  # acl_mtl's supervised warm-up: a share of the run, in epochs
        spec["warmup_epochs"] = int(spec.pop("warmup") * sch["method_epochs"])
    return {
        "backbone": backbone(config, wildcards),
        "spec": {**spec, "unlabeled_ratio": ratio},
        "views": methods["views"],
        "clips": clips,
        "optim": {
            "epochs": int(sch["method_epochs"]),
            "lr": float(methods["lr"]),
            "weight_decay": float(methods["weight_decay"]),
            "warmup_epochs": int(sch["warmup_epochs"]),
            "patience": int(sch["patience"]),
            "max_steps_per_epoch": sch["max_steps_per_epoch"],
        },
        "sgd": method_sgd(config, name),
        "seed": int(wildcards.seed),
    }


def method_job_settings(config: dict, wildcards) -> dict:
    """`method_settings` of the job's method (`wildcards.method`)."""
    return method_settings(wildcards.method, config, wildcards)


def _synthetic_cells(config: dict) -> list[tuple[str, str]]:
    return [
        (name, budget)
        for name, ds in config["datasets"].items()
        if "synthetic" in ds
        for budget in ds["budgets"]
    ]


def method_targets(config: dict) -> list[str]:
    """Every method's result (not the ablation variants) on every generated (synthetic)
    dataset and budget, and ACL + MTL's training figure there."""
    out = []
    for ds, budget in _synthetic_cells(config):
        out += [
            P.RESULT.format(dataset=ds, budget=budget, key=f"methods/{method}")
            for method in P.METHODS
        ]
        out += [
            p.format(dataset=ds, budget=budget, method="acl_mtl")
            for p in P.FIG_METHOD_TRAINING.values()
        ]
    return out


METHODS_ABLATION = "methods_ablation"  # the table of 004's ablations (report.specs)


def methods_ablation_cells(config: dict, wildcards) -> list:
    """[dataset, budget, setup] cells of the ablation table of a grid (`wildcards.grid`,
    else `tables.grid`): the grid's `methods` cells where 004 reports an ablation (UCF101
    1 per class, HMDB51 40%) or, on a dataset 004 never ran (the synthetic one), every one
    of them."""
    from timebalance.report.paper_numbers import METHODS_ABLATION_CELLS, PAPER_DATASETS

    grid = getattr(wildcards, "grid", None) or config["tables"]["grid"]
    cells = C.table_grid(config, grid).get("methods", [])
    setups = {ds: C.dataset_setup(config, ds) for ds, _ in cells}
    kept = [
        [ds, b, setups[ds]]
        for ds, b in cells
        if (setups[ds]["paper_dataset"] or ds, b) in METHODS_ABLATION_CELLS
        or (setups[ds]["paper_dataset"] or ds) not in PAPER_DATASETS
    ]
    if not kept:
        raise C.ConfigError(
            f"config: tables.grids.{grid}.methods lists no cell for the methods ablation "
            "table (004 ablates on ucf101 1perclass and hmdb51 40pct; a synthetic cell works)"
        )
    return kept


def methods_ablation_results(config: dict, wildcards) -> dict[str, str]:
    """Result key ("dataset|budget|result") -> aggregated result file of the ablation
    table's cells."""
    from timebalance.report.specs import required_results

    cells = methods_ablation_cells(config, wildcards)
    return {
        f"{ds}|{b}|{key}": P.RESULT.format(dataset=ds, budget=b, key=key)
        for ds, b, key in required_results(METHODS_ABLATION, cells)
    }


def methods_ablation_files(config: dict, wildcards) -> list[str]:
    return sorted(set(methods_ablation_results(config, wildcards).values()))


def method_training_metrics(config: dict, wildcards) -> dict[str, str]:
    """Run name (seed<k>) -> metrics .jsonl of each seed's run of `wildcards.method`."""
    method_section(config, wildcards.method)
    w = wildcards
    return {
        f"seed{seed}": P.mirror(
            "metrics",
            P.METHOD_WEIGHTS.format(dataset=w.dataset, budget=w.budget, seed=seed, method=w.method),
            ".jsonl",
        )
        for seed in config["seeds"]
    }


def method_training_title(config: dict, wildcards) -> str:
    w = wildcards
    method = method_names(config).get(w.method, w.method)
    runs = "" if method == w.method else f" (a variant of {method})"
    return f"{w.method}{runs} on {w.dataset} {w.budget}"


def method_training_runs(config: dict, wildcards) -> list[str]:
    """The weights of those runs (the figure's inputs: it is drawn after they train)."""
    w = wildcards
    return [
        P.METHOD_WEIGHTS.format(dataset=w.dataset, budget=w.budget, seed=seed, method=w.method)
        for seed in config["seeds"]
    ]


# --- evaluation -----------------------------------------------------------------------
def _run_method(run: str) -> str | None:
    """The method of a per-seed run `methods/<name>`, else None."""
    return run.removeprefix("methods/") if run.startswith("methods/") else None


def eval_settings(config: dict, wildcards) -> dict:
    """Test views are clips of the shape the model was trained on (finetune for teachers);
    a method may set its own number of views (004: 5 clips x 3 crops)."""
    sch = C.schedule(config)
    method = _run_method(wildcards.run)
    stage = "finetune" if wildcards.run.startswith("teachers/") else "student"
    shape = C.clips(config, "methods" if method else stage, wildcards.dataset)
    own = method_section(config, method) if method else {}
    return {
        "crop_size": C.crop_size(config, wildcards.dataset),
        "clip_len": shape["clip_len"],
        "stride": shape["stride"],
        "n_clips": own.get("eval_clips") or sch["eval_clips"],
        "n_crops": own.get("eval_crops") or sch["eval_crops"],
        "batch_size": max(1, sch["batch_size"] // 4),
        "workers": sch["workers"],
    }


def eval_info(config: dict, wildcards) -> dict:
    """Recorded in the result: what was evaluated and with which settings."""
    run = wildcards.run
    if run.startswith("teachers/"):
        stage = {"finetune": config["finetune"], "pretrain": config["pretrain"]}
    elif method := _run_method(run):
        methods = config["methods"]
        shared = {k: v for k, v in methods.items() if k not in (*P.METHODS, "variants")}
        section = method_section(config, method)
        named = {"name": method, "method": method_names(config)[method]}
        stage = {"method": {**named, **section}, "methods": shared}
    else:
        stage = {"student": C.student_variant(config, run), "pretrain": config["pretrain"]}
    return {
        "model": run,
        "dataset": wildcards.dataset,
        "budget": wildcards.budget,
        "seed": int(wildcards.seed),
        "config": {
            "schedule": config["schedule"],
            "backbone": backbone(config, wildcards),
            "crop_size": C.crop_size(config, wildcards.dataset),
            **stage,
        },
    }


# --- results: per-seed runs behind a result, tables, targets ---------------------------
def result_run(config: dict, key: str) -> str:
    """Per-seed model name (path stem under seed<k>/) behind an aggregated result key."""
    n, s = config["pretrain"]["n_clips"], config["student"]["teacher_pretrain_seed"]
    if any(
        re.fullmatch(grammar, key)
        for grammar in (P.MODEL, f"teachers/{P.TEACHER}", f"methods/({P.METHOD})")
    ):
        return key
    if m := re.fullmatch(f"teacher_({P.TEACHER_KIND})", key):
        return f"teachers/{P.teacher_id(m.group(1), n, s)}"
    if m := re.fullmatch(f"teachers/({P.TEACHER_KIND})_n({P.N_CLIPS})", key):
        return f"teachers/{P.teacher_id(m.group(1), int(m.group(2)), s)}"
    raise ValueError(f"unknown result {key!r}")


def run_paths(config: dict, ds: str, budget: str, key: str) -> list[str]:
    run = result_run(config, key)
    return [
        P.RUN_METRICS.format(dataset=ds, budget=budget, seed=seed, run=run)
        for seed in config["seeds"]
    ]


def aggregate_inputs(config: dict, wildcards) -> list[str]:
    return run_paths(config, wildcards.dataset, wildcards.budget, wildcards.key)


def table_inputs(config: dict, grid: str, name: str) -> dict[str, str]:
    """Aggregated result files a table needs, keyed 'dataset|budget|result_key'."""
    from timebalance.report.specs import required_results

    cells = C.table_grid(config, grid).get(name)
    if cells is None:
        raise ValueError(f"table {name!r} is not listed in tables.grids.{grid}")
    return {
        f"{ds}|{b}|{key}": P.RESULT.format(dataset=ds, budget=b, key=key)
        for ds, b, key in required_results(name, cells)
    }


def _table_files(grid: str | None, table: str) -> list[str]:
    if grid is None:
        return [p.format(table=table) for p in P.DEFAULT_TABLE_FILES.values()]
    return [p.format(grid=grid, table=table) for p in P.TABLE_FILES.values()]


def grid_results(config: dict, grid: str) -> list[str]:
    """Every table and every aggregated result of a named grid."""
    out: list[str] = []
    for name in C.table_grid(config, grid):
        out += list(table_inputs(config, grid, name).values())
        out += _table_files(grid, name)
    return sorted(set(out))


def demo_targets(config: dict) -> list[str]:
    """The default target: for every generated (synthetic) dataset and budget, the student
    and both teachers; plus the tables of the active grid that `tables.demo` names."""
    out = []
    for name, ds in config["datasets"].items():
        if "synthetic" in ds:
            for budget in ds["budgets"]:
                for key in ("student", "teacher_invariant", "teacher_distinctive"):
                    out.append(P.RESULT.format(dataset=name, budget=budget, key=key))
    for table in config["tables"]["demo"]:
        out += _table_files(None, table)
    return out


def _grid(config: dict, wildcards) -> str:
    return getattr(wildcards, "grid", None) or config["tables"]["grid"]


def table_results(config: dict, wildcards) -> dict[str, str]:
    """Result key ("dataset|budget|result") -> aggregated result file."""
    return table_inputs(config, _grid(config, wildcards), wildcards.table)


def table_files(config: dict, wildcards) -> list[str]:
    return sorted(set(table_results(config, wildcards).values()))


def table_cells(config: dict, wildcards) -> list:
    """[dataset, budget, setup] of every cell: the setup (backbone, crop size, paper dataset,
    `C.dataset_setup`) tells the renderer which paper block a cell belongs to before its
    results exist (Table 1 and Table 7 have a 3D-ResNet18 and a 3D-ResNet50 block)."""
    cells = C.table_grid(config, _grid(config, wildcards))[wildcards.table]
    return [[ds, budget, C.dataset_setup(config, ds)] for ds, budget in cells]


# --- claims ---------------------------------------------------------------------------
def claims_runs(config: dict, wildcards) -> dict[str, str]:
    """ "<role>|<seed>" -> per-seed result of every run a claim compares (report.claims.RUNS),
    plus "normalised:<variant>" for every variant that normalises s (the extension)."""
    from timebalance.report.claims import NORMALISED, RUNS

    roles = dict(RUNS)
    for name in config["variants"]:
        spec = C.student_variant(config, f"variants/{name}")
        if spec["weighting"] == "tstr" and spec["score_normalisation"] != "none":
            roles[f"{NORMALISED}{name}"] = f"variants/{name}"
    return {
        f"{role}|{seed}": path
        for role, key in roles.items()
        for seed, path in zip(
            config["seeds"],
            run_paths(config, wildcards.dataset, wildcards.budget, key),
            strict=True,
        )
    }


def claims_inputs(config: dict, wildcards) -> dict:
    """The per-seed results, the default teachers' score cache, the class list and, for a
    generated dataset, its folder (whose synthetic.json says which classes are periodic)."""
    ds = C.dataset(config, wildcards.dataset)
    t1, t2 = C.default_teachers(config)
    inputs = {
        "runs": sorted(set(claims_runs(config, wildcards).values())),
        "scores": P.SCORES.format(dataset=wildcards.dataset, t1=t1, t2=t2),
        "classes": P.CLASSES.format(dataset=wildcards.dataset),
    }
    if "synthetic" in ds:
        inputs["root"] = ds["root"]
    return inputs


def claims_catalogue(config: dict, wildcards) -> str | None:
    ds = C.dataset(config, wildcards.dataset)
    return f"{ds['root']}/synthetic.json" if "synthetic" in ds else None


# --- figures --------------------------------------------------------------------------
def figure_targets(config: dict, *, with_init: bool = True) -> list[str]:
    """Every figure of every generated (synthetic) dataset and budget. The Fig. 5 analogue
    (`with_init`) trains three more students per seed, so `demo` leaves it out."""
    out: list[str] = []
    for name, ds in config["datasets"].items():
        if "synthetic" not in ds:
            continue
        for fig in (P.FIG_SIMILARITY, P.FIG_SCORES, P.FIG_PRETRAIN_CURVES):
            out += [p.format(dataset=name) for p in fig.values()]
        for budget in ds["budgets"]:
            figs = [P.FIG_TEACHERS, *([P.FIG_INIT] if with_init else [])]
            cell = {"dataset": name, "budget": budget}
            out += [p.format(**cell) for fig in figs for p in fig.values()]
            out += [
                p.format(**cell, stage=stage)
                for stage in P.CURVE_STAGE.split("|")
                for p in P.FIG_CURVES.values()
            ]
    return out


def dataset_catalogue(config: dict, wildcards) -> dict[str, str]:
    """A generated dataset's folder (its synthetic.json says which classes are periodic)."""
    ds = C.dataset(config, wildcards.dataset)
    return {"root": ds["root"]} if "synthetic" in ds else {}


def default_scores(config: dict, wildcards) -> str:
    return P.scores(wildcards.dataset, C.default_teachers(config))


def fig_teacher_inputs(config: dict, wildcards) -> dict[str, str]:
    """The aggregated results of the two default teachers (and the catalogue's folder)."""
    w = wildcards
    return {
        kind: P.RESULT.format(dataset=w.dataset, budget=w.budget, key=f"teacher_{kind}")
        for kind in P.TEACHER_KINDS
    } | dataset_catalogue(config, wildcards)


def fig_init_results(config: dict, wildcards) -> dict[str, str]:
    """Result key -> aggregated result of every measured row of the `fig5_init` table."""
    from timebalance.report.specs import required_results

    cell = (wildcards.dataset, wildcards.budget)
    return {
        key: P.RESULT.format(dataset=ds, budget=b, key=key)
        for ds, b, key in required_results("fig5_init", [cell])
    }


def fig_similarity_inputs(config: dict, wildcards) -> dict[str, str]:
    """The default teachers' pretrained checkpoints, their score cache, the manifest."""
    t1, t2 = C.default_teachers(config)
    return {
        "manifest": manifest(config, wildcards),
        "invariant": P.teacher_ssl_weights(wildcards.dataset, t1),
        "distinctive": P.teacher_ssl_weights(wildcards.dataset, t2),
        "scores": default_scores(config, wildcards),
        "classes": P.CLASSES.format(dataset=wildcards.dataset),
    }


def fig_scores_inputs(config: dict, wildcards) -> dict[str, str]:
    return {
        "scores": default_scores(config, wildcards),
        "classes": P.CLASSES.format(dataset=wildcards.dataset),
        **dataset_catalogue(config, wildcards),
    }


def pretrain_curve_runs(config: dict, wildcards) -> dict[str, str]:
    """Run name -> pretrained checkpoint: the default teachers and the student's TCLR
    initialisation (P.mirror("metrics", ...) gives their metrics files)."""
    runs = {t: P.teacher_ssl_weights(wildcards.dataset, t) for t in C.default_teachers(config)}
    init = C.init_checkpoint(config, wildcards.dataset, "ssl_init")
    runs[init.rsplit("/", 1)[-1].removesuffix(".pt")] = init
    return runs


def cell_curve_runs(config: dict, wildcards) -> dict[str, str]:
    """Run name -> weights of every seed's run of a training stage of one cell: the two
    default teachers (finetune) or the TimeBalance student (student)."""
    w = wildcards
    runs = (
        [f"teachers/{t}" for t in C.default_teachers(config)]
        if w.stage == "finetune"
        else ["student"]
    )
    return {
        f"{run.removeprefix('teachers/')} seed{seed}": P.RUN_WEIGHTS.format(
            dataset=w.dataset, budget=w.budget, seed=seed, run=run
        )
        for run in runs
        for seed in config["seeds"]
    }


def curve_metrics(runs_of, config: dict, wildcards) -> dict[str, str]:
    """Run name -> metrics .jsonl the training job wrote beside its output."""
    runs = runs_of(config, wildcards)
    return {name: P.mirror("metrics", weights, ".jsonl") for name, weights in runs.items()}


def curve_weights(runs_of, config: dict, wildcards) -> list[str]:
    """The outputs of the runs whose curves a figure plots (its inputs)."""
    return list(runs_of(config, wildcards).values())


def curve_title(config: dict, wildcards) -> str:
    w = wildcards
    if stage := getattr(w, "stage", None):
        return f"{stage} on {w.dataset} {w.budget}"
    return f"self-supervised pretraining on {w.dataset}"


# --- the report -----------------------------------------------------------------------
def run_times_inputs(config: dict, wildcards) -> list[str]:
    """The demo's results and cheap figures: the run-time summary comes after their jobs."""
    return demo_targets(config) + figure_targets(config, with_init=False)
