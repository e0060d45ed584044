# Self-supervised pretraining (shared by every budget of a dataset) and the score cache.


def pretrain_settings(wildcards):
    sch = W.schedule(config)
    pre = config["pretrain"]
    return {
        "kind": wildcards.kind,
        "backbone": W.dataset(config, wildcards.dataset).get("backbone", "r3d18"),
        "n_clips": int(wildcards.n),
        "clip_len": pre["clip_len"],
        "crop_size": W.crop_size(config),
        "temperature": pre["temperature"],
        "local_local_reduction": pre["local_local_reduction"],
        "batch_size": sch["pretrain_batch_size"],
        "workers": sch["workers"],
        "seed": int(wildcards.ps),
        **W.optim(config, "pretrain", dataset_name=wildcards.dataset),
    }


def score_settings(wildcards):
    sch = W.schedule(config)
    return {
        "crop_size": W.crop_size(config),
        "n_clips": config["pretrain"]["n_clips"],
        "clip_len": config["pretrain"]["clip_len"],
        "batch_size": sch["batch_size"],
        "workers": sch["workers"],
    }


rule pretrain_teacher:
    input:
        manifest=manifest,
    output:
        weights=f"{R}/ssl/{{dataset}}/{{kind}}_n{{n}}_s{{ps}}.pt",
    log:
        f"{R}/logs/pretrain_teacher/{{dataset}}/{{kind}}_n{{n}}_s{{ps}}.log",
    benchmark:
        f"{R}/benchmarks/pretrain_teacher/{{dataset}}/{{kind}}_n{{n}}_s{{ps}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=16000,
        runtime=2880,
        gpu=gpus,
    params:
        settings=pretrain_settings,
        frames_root=frames_root,
        resume=f"{R}/resume/ssl/{{dataset}}/{{kind}}_n{{n}}_s{{ps}}.pt",
        metrics=f"{R}/metrics/ssl/{{dataset}}/{{kind}}_n{{n}}_s{{ps}}.jsonl",
        runtime=device_params,
        code=code("pretrain"),
    script:
        "../workflow_scripts/pretrain_teacher.py"


rule cache_scores:
    input:
        manifest=manifest,
        t1=f"{R}/ssl/{{dataset}}/{{t1}}.pt",
        t2=f"{R}/ssl/{{dataset}}/{{t2}}.pt",
    output:
        scores=f"{R}/scores/{{dataset}}/{{t1}}+{{t2}}.csv",
    log:
        f"{R}/logs/cache_scores/{{dataset}}/{{t1}}+{{t2}}.log",
    benchmark:
        f"{R}/benchmarks/cache_scores/{{dataset}}/{{t1}}+{{t2}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=gpus,
    params:
        settings=score_settings,
        frames_root=frames_root,
        runtime=device_params,
        code=code("scores"),
    script:
        "../workflow_scripts/cache_scores.py"
