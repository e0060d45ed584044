# Evaluation (10 clips x 3 crops) of every finetuned model, and the per-seed aggregates.


def eval_settings(wildcards):
    sch = W.schedule(config)
    return {
        "crop_size": W.crop_size(config),
        "clip_len": config["student"]["clip_len"],
        "stride": config["student"]["stride"],
        "n_clips": sch["eval_clips"],
        "n_crops": sch["eval_crops"],
        "batch_size": max(1, sch["batch_size"] // 4),
        "workers": sch["workers"],
    }


def eval_info(wildcards):
    """Recorded in the result: what was evaluated and with which settings."""
    run = wildcards.run
    if run.startswith("teachers/"):
        stage = {"finetune": config["finetune"], "pretrain": config["pretrain"]}
    else:
        stage = {
            "student": W.student_variant(config, run),
            "pretrain": config["pretrain"],
        }
    return {
        "model": run,
        "dataset": wildcards.dataset,
        "budget": wildcards.budget,
        "seed": int(wildcards.seed),
        "config": {
            "schedule": config["schedule"],
            "backbone": W.dataset(config, wildcards.dataset).get("backbone", "r3d18"),
            "crop_size": W.crop_size(config),
            **stage,
        },
    }


def aggregate_inputs(wildcards):
    return W.run_paths(config, wildcards.dataset, wildcards.budget, wildcards.key)


rule evaluate:
    input:
        checkpoint=f"{R}/{{dataset}}_{{budget}}/seed{{seed}}/{{run}}.pt",
        test=split_file("test"),
        classes=f"{R}/index/{{dataset}}.classes.txt",
    output:
        metrics=f"{R}/{{dataset}}_{{budget}}/seed{{seed}}/{{run}}.json",
    log:
        f"{R}/logs/evaluate/{{dataset}}_{{budget}}/seed{{seed}}/{{run}}.log",
    benchmark:
        f"{R}/benchmarks/evaluate/{{dataset}}_{{budget}}/seed{{seed}}/{{run}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=gpus,
    params:
        settings=eval_settings,
        info=eval_info,
        frames_root=frames_root,
        runtime=device_params,
        code=code("evaluate"),
    script:
        "../workflow_scripts/evaluate.py"


rule aggregate_seeds:
    input:
        runs=aggregate_inputs,
    output:
        result=f"{R}/{{dataset}}_{{budget}}/{{key}}.json",
    log:
        f"{R}/logs/aggregate_seeds/{{dataset}}_{{budget}}/{{key}}.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code("aggregate"),
    script:
        "../workflow_scripts/aggregate_seeds.py"
