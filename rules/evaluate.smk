# Evaluation (10 clips x 3 crops) of every finetuned model, and the per-seed aggregates.


rule evaluate:
    input:
        checkpoint=P.RUN_WEIGHTS,
        test=bind(F.split_file, "test"),
        classes=P.CLASSES,
    output:
        metrics=P.RUN_METRICS,
    log:
        P.log_path("evaluate", P.RUN_METRICS),
    benchmark:
        P.benchmark_path("evaluate", P.RUN_METRICS)
    conda:
        "../envs/train.yaml"
    threads: F.threads(config)
    resources:
        mem_mb=8000,
        runtime=bind(R.runtime, "evaluate"),
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
        result=P.RESULT,
    log:
        P.log_path("aggregate_seeds", P.RESULT),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code("aggregate_seeds"),
    script:
        "../workflow_scripts/aggregate_seeds.py"
