# Teacher finetuning and the student (with its ablation variants), per (dataset, budget, seed).


rule finetune_teacher:
    input:
        labeled=bind(F.split_file, "labeled"),
        val=bind(F.split_file, "val"),
        pretrained=bind(F.pretrained, "teacher"),
        classes=P.CLASSES,
    output:
        weights=P.TEACHER_WEIGHTS,
    log:
        P.log_path("finetune_teacher", P.TEACHER_WEIGHTS),
    benchmark:
        P.benchmark_path("finetune_teacher", P.TEACHER_WEIGHTS)
    # On the path to the student (see pretrain_teacher's priority).
    priority: 2
    conda:
        "../envs/train.yaml"
    threads: F.threads(config)
    resources:
        mem_mb=12000,
        runtime=bind(R.runtime, "finetune"),
        gpu=bind(F.gpus),
    params:
        settings=bind(F.finetune_settings),
        frames_root=bind(F.frames_root),
        resume=P.mirror("resume", P.TEACHER_WEIGHTS, ".pt"),
        metrics=P.mirror("metrics", P.TEACHER_WEIGHTS, ".jsonl"),
        tensorboard=P.tensorboard_dir("finetune_teacher", P.TEACHER_WEIGHTS),
        runtime=bind(F.device_params),
        code=code("finetune_teacher"),
    script:
        "../workflow_scripts/finetune_teacher.py"


rule train_student:
    input:
        unpack(bind(F.student_inputs)),
    output:
        weights=P.MODEL_WEIGHTS,
    log:
        P.log_path("train_student", P.MODEL_WEIGHTS),
    benchmark:
        P.benchmark_path("train_student", P.MODEL_WEIGHTS)
    # Before evaluations and figures (see pretrain_teacher's priority).
    priority: 1
    conda:
        "../envs/train.yaml"
    threads: F.threads(config)
    resources:
        mem_mb=16000,
        runtime=bind(R.runtime, "student"),
        gpu=bind(F.gpus),
    params:
        settings=bind(F.student_settings),
        frames_root=bind(F.frames_root),
        resume=P.mirror("resume", P.MODEL_WEIGHTS, ".pt"),
        metrics=P.mirror("metrics", P.MODEL_WEIGHTS, ".jsonl"),
        tensorboard=P.tensorboard_dir("train_student", P.MODEL_WEIGHTS),
        runtime=bind(F.device_params),
        code=code("train_student"),
    script:
        "../workflow_scripts/train_student.py"
