# Self-supervised pretraining (shared by every budget of a dataset) and the score cache.


rule pretrain_teacher:
    input:
        manifest=bind(F.manifest),
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
        gpu=bind(F.gpus),
    params:
        settings=bind(F.pretrain_settings),
        frames_root=bind(F.frames_root),
        resume=f"{R}/resume/ssl/{{dataset}}/{{kind}}_n{{n}}_s{{ps}}.pt",
        metrics=f"{R}/metrics/ssl/{{dataset}}/{{kind}}_n{{n}}_s{{ps}}.jsonl",
        runtime=bind(F.device_params),
        code=code("pretrain"),
    script:
        "../workflow_scripts/pretrain_teacher.py"


rule cache_scores:
    input:
        manifest=bind(F.manifest),
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
        gpu=bind(F.gpus),
    params:
        settings=bind(F.score_settings),
        frames_root=bind(F.frames_root),
        runtime=bind(F.device_params),
        code=code("scores"),
    script:
        "../workflow_scripts/cache_scores.py"
