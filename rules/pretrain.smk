# Self-supervised pretraining (shared by every budget of a dataset) and the score cache.


rule pretrain_teacher:
    input:
        manifest=bind(F.manifest),
    output:
        weights=P.SSL,
    log:
        P.log_path("pretrain_teacher", P.SSL),
    benchmark:
        P.benchmark_path("pretrain_teacher", P.SSL)
    # Jobs on the path to the student run first (on 2 cores that sets the demo's wall
    # time): every later stage waits on the pretrainings.
    priority: 3
    conda:
        "../envs/train.yaml"
    threads: F.threads(config)
    resources:
        mem_mb=16000,
        runtime=bind(R.runtime, "pretrain"),
        gpu=bind(F.gpus),
    params:
        settings=bind(F.pretrain_settings),
        frames_root=bind(F.frames_root),
        resume=P.mirror("resume", P.SSL, ".pt"),
        metrics=P.mirror("metrics", P.SSL, ".jsonl"),
        tensorboard=P.tensorboard_dir("pretrain_teacher", P.SSL),
        catalogue=bind(F.claims_catalogue),
        runtime=bind(F.device_params),
        code=code("pretrain_teacher"),
    script:
        "../workflow_scripts/pretrain_teacher.py"


rule cache_scores:
    input:
        manifest=bind(F.manifest),
        t1=bind(F.pretrained, "t1"),
        t2=bind(F.pretrained, "t2"),
    output:
        scores=P.SCORES,
    log:
        P.log_path("cache_scores", P.SCORES),
    benchmark:
        P.benchmark_path("cache_scores", P.SCORES)
    # On the path to the student (see pretrain_teacher's priority).
    priority: 2
    conda:
        "../envs/train.yaml"
    threads: F.threads(config)
    resources:
        mem_mb=8000,
        runtime=bind(R.runtime, "cache_scores"),
        gpu=bind(F.gpus),
    params:
        settings=bind(F.score_settings),
        frames_root=bind(F.frames_root),
        runtime=bind(F.device_params),
        code=code("cache_scores"),
    script:
        "../workflow_scripts/cache_scores.py"
