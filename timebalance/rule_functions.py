"""Input, param and resource functions of the Snakemake rules.

Each takes the config first and the job's wildcards second; rules/common.smk binds the
config (`functools.partial`), so the .smk files hold rules only and this logic is testable
without Snakemake."""

from __future__ import annotations

from timebalance import workflow as W

R = W.R


# --- common ---------------------------------------------------------------------------
def device_params(config: dict, wildcards) -> dict:
    return {"device": config.get("device", "auto")}


def gpus(config: dict, wildcards) -> int:
    """One GPU per training job, none for the CPU-sized `tiny` backbone."""
    return 0 if W.dataset(config, wildcards.dataset).get("backbone") == "tiny" else 1


def frames_root(config: dict, wildcards) -> str:
    return f"{R}/frames/{wildcards.dataset}/jpg"


def manifest(config: dict, wildcards) -> str:
    return f"{R}/frames/{wildcards.dataset}/manifest.csv"


def split_file(name: str, config: dict, wildcards) -> str:
    w = wildcards
    return f"{R}/splits/{w.dataset}/{w.budget}/seed{w.seed}/{name}.csv"


def backbone(config: dict, wildcards) -> str:
    return W.dataset(config, wildcards.dataset).get("backbone", "r3d18")


def paper_grid_targets(config: dict, wildcards) -> list[str]:
    """Evaluated only when paper_grid is requested (a config may define no paper grid)."""
    return W.grid_results(config, "paper")


# --- data -----------------------------------------------------------------------------
def synthetic_settings(config: dict, wildcards) -> dict:
    return W.dataset(config, wildcards.dataset)["synthetic"]


def index_inputs(config: dict, wildcards) -> dict:
    """A generated dataset is an input of its index; a real one is read where it lies."""
    ds = W.dataset(config, wildcards.dataset)
    return {"root": ds["root"]} if "synthetic" in ds else {}


def index_params(config: dict, wildcards) -> dict:
    ds = W.dataset(config, wildcards.dataset)
    return {
        "fmt": ds["format"],
        "root": ds["root"],
        "split": ds.get("split", 1),
        "options": ds.get("options", {}),
    }


def shard_manifests(config: dict, wildcards) -> list[str]:
    n = W.frames_settings(config, wildcards.dataset)["n_shards"]
    return [f"{R}/frames/{wildcards.dataset}/shards/{k}.csv" for k in range(n)]


def frames_params(config: dict, wildcards) -> dict:
    settings = W.frames_settings(config, wildcards.dataset)
    return {
        "root": W.dataset(config, wildcards.dataset)["root"],
        "n_shards": settings["n_shards"],
        "short_side": settings["short_side"],
        "fps": settings.get("fps"),
        "quality": settings["quality"],
    }


def max_bad_fraction(config: dict, wildcards) -> float:
    return W.frames_settings(config, wildcards.dataset)["max_bad_fraction"]


def labeled_list(config: dict, wildcards) -> str | None:
    lists = config["splits"].get("labeled_lists", {})
    return lists.get(f"{wildcards.dataset}_{wildcards.budget}")


# --- pretraining and scores -----------------------------------------------------------
def pretrain_settings(config: dict, wildcards) -> dict:
    sch = W.schedule(config)
    pre = config["pretrain"]
    return {
        "kind": wildcards.kind,
        "backbone": backbone(config, wildcards),
        "n_clips": int(wildcards.n),
        "clip_len": pre["clip_len"],
        "crop_size": W.crop_size(config),
        "crop_scale": W.crop_scale(config, wildcards.dataset),
        "temperature": pre["temperature"],
        "local_local_reduction": pre["local_local_reduction"],
        "batch_size": sch["pretrain_batch_size"],
        "workers": sch["workers"],
        "seed": int(wildcards.ps),
        **W.optim(config, "pretrain", dataset_name=wildcards.dataset),
    }


def score_settings(config: dict, wildcards) -> dict:
    sch = W.schedule(config)
    return {
        "crop_size": W.crop_size(config),
        "batch_size": sch["batch_size"],
        "workers": sch["workers"],
    }


# --- finetuning and the student -------------------------------------------------------
def finetune_settings(config: dict, wildcards) -> dict:
    return {
        "backbone": backbone(config, wildcards),
        "clips": W.clips(config, "finetune", wildcards.dataset),
        "optim": W.optim(config, "finetune"),
        "seed": int(wildcards.seed),
    }


def student_inputs(config: dict, wildcards) -> dict:
    """Split lists, the initialisation, the finetuned teachers and (TSTR) the scores."""
    spec = W.student_variant(config, wildcards.model)
    w = wildcards
    base = f"{R}/{w.dataset}_{w.budget}/seed{w.seed}"
    inputs: dict = {
        name: split_file(name, config, wildcards) for name in ("labeled", "unlabeled", "val")
    }
    inputs["classes"] = f"{R}/index/{w.dataset}.classes.txt"
    inputs["teachers"] = [f"{base}/teachers/{t}.pt" for t in spec["teachers"]]
    init = W.init_checkpoint(config, w.dataset, spec["init"])
    if init:
        inputs["init"] = init
    if len(spec["teachers"]) == 2 and spec["weighting"] == "tstr":
        inputs["scores"] = W.scores_path(w.dataset, spec["teachers"])
    return inputs


def student_settings(config: dict, wildcards) -> dict:
    spec = W.student_variant(config, wildcards.model)
    return {
        "backbone": backbone(config, wildcards),
        "spec": {k: v for k, v in spec.items() if k != "init"},
        "clips": W.clips(config, "student", wildcards.dataset),
        "optim": W.student_optim(config, spec),
        "seed": int(wildcards.seed),
    }


# --- evaluation, aggregation, tables --------------------------------------------------
def eval_settings(config: dict, wildcards) -> dict:
    """Test views are clips of the shape the model was trained on (finetune for teachers)."""
    sch = W.schedule(config)
    stage = "finetune" if wildcards.run.startswith("teachers/") else "student"
    shape = W.clips(config, stage, wildcards.dataset)
    return {
        "crop_size": W.crop_size(config),
        "clip_len": shape["clip_len"],
        "stride": shape["stride"],
        "n_clips": sch["eval_clips"],
        "n_crops": sch["eval_crops"],
        "batch_size": max(1, sch["batch_size"] // 4),
        "workers": sch["workers"],
    }


def eval_info(config: dict, wildcards) -> dict:
    """Recorded in the result: what was evaluated and with which settings."""
    run = wildcards.run
    if run.startswith("teachers/"):
        stage = {"finetune": config["finetune"], "pretrain": config["pretrain"]}
    else:
        stage = {"student": W.student_variant(config, run), "pretrain": config["pretrain"]}
    return {
        "model": run,
        "dataset": wildcards.dataset,
        "budget": wildcards.budget,
        "seed": int(wildcards.seed),
        "config": {
            "schedule": config["schedule"],
            "backbone": backbone(config, wildcards),
            "crop_size": W.crop_size(config),
            **stage,
        },
    }


def aggregate_inputs(config: dict, wildcards) -> list[str]:
    return W.run_paths(config, wildcards.dataset, wildcards.budget, wildcards.key)


def _grid(config: dict, wildcards) -> str:
    return getattr(wildcards, "grid", None) or config["tables"]["grid"]


def table_results(config: dict, wildcards) -> dict[str, str]:
    """Result key ("dataset|budget|result") -> aggregated result file."""
    return W.table_inputs(config, _grid(config, wildcards), wildcards.table)


def table_files(config: dict, wildcards) -> list[str]:
    return sorted(set(table_results(config, wildcards).values()))


def table_cells(config: dict, wildcards) -> list:
    return W.table_grid(config, _grid(config, wildcards))[wildcards.table]
