# Evaluation (10 clips x 3 crops) of every finetuned model, and the per-seed aggregates.


rule evaluate:
    input:
        checkpoint=f"{R}/{{dataset}}_{{budget}}/seed{{seed}}/{{run}}.pt",
        test=bind(F.split_file, "test"),
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
        gpu=bind(F.gpus),
    params:
        settings=bind(F.eval_settings),
        info=bind(F.eval_info),
        frames_root=bind(F.frames_root),
        runtime=bind(F.device_params),
        code=code("evaluate"),
    script:
        "../workflow_scripts/evaluate.py"


rule aggregate_seeds:
    input:
        runs=bind(F.aggregate_inputs),
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
