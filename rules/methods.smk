# The other methods (004: FixMatch with an EMA teacher, ACL + MTL) per (dataset, budget,
# seed), on the same splits and frames as TimeBalance; the `evaluate` and `aggregate_seeds`
# rules turn methods/<name>.pt into methods/<name>.json exactly as for the student.


rule train_fixmatch:
    input:
        unpack(bind(F.method_inputs)),
    output:
        weights=P.fill(P.METHOD_WEIGHTS, method="fixmatch"),
    log:
        P.log_path("train_fixmatch", P.fill(P.METHOD_WEIGHTS, method="fixmatch")),
    benchmark:
        P.benchmark_path("train_fixmatch", P.fill(P.METHOD_WEIGHTS, method="fixmatch"))
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=16000,
        runtime=bind(R.runtime, "method"),
        gpu=bind(F.gpus),
    params:
        settings=bind(F.method_settings, "fixmatch"),
        frames_root=bind(F.frames_root),
        resume=P.mirror("resume", P.fill(P.METHOD_WEIGHTS, method="fixmatch"), ".pt"),
        metrics=P.mirror(
            "metrics", P.fill(P.METHOD_WEIGHTS, method="fixmatch"), ".jsonl"
        ),
        tensorboard=P.tensorboard_dir(
            "train_fixmatch", P.fill(P.METHOD_WEIGHTS, method="fixmatch")
        ),
        runtime=bind(F.device_params),
        code=code("train_fixmatch"),
    script:
        "../workflow_scripts/train_fixmatch.py"


rule train_acl_mtl:
    input:
        unpack(bind(F.method_inputs)),
    output:
        weights=P.fill(P.METHOD_WEIGHTS, method="acl_mtl"),
    log:
        P.log_path("train_acl_mtl", P.fill(P.METHOD_WEIGHTS, method="acl_mtl")),
    benchmark:
        P.benchmark_path("train_acl_mtl", P.fill(P.METHOD_WEIGHTS, method="acl_mtl"))
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=16000,
        runtime=bind(R.runtime, "method"),
        gpu=bind(F.gpus),
    params:
        settings=bind(F.method_settings, "acl_mtl"),
        frames_root=bind(F.frames_root),
        resume=P.mirror("resume", P.fill(P.METHOD_WEIGHTS, method="acl_mtl"), ".pt"),
        metrics=P.mirror(
            "metrics", P.fill(P.METHOD_WEIGHTS, method="acl_mtl"), ".jsonl"
        ),
        tensorboard=P.tensorboard_dir(
            "train_acl_mtl", P.fill(P.METHOD_WEIGHTS, method="acl_mtl")
        ),
        runtime=bind(F.device_params),
        code=code("train_acl_mtl"),
    script:
        "../workflow_scripts/train_acl_mtl.py"


# Every method's result on every synthetic budget (the demo's dataset).
rule methods:
    input:
        F.method_targets(config),
