# Teacher finetuning and the student (with its ablation variants), per (dataset, budget, seed).


rule finetune_teacher:
    input:
        labeled=bind(F.split_file, "labeled"),
        val=bind(F.split_file, "val"),
        pretrained=f"{R}/ssl/{{dataset}}/{{teacher}}.pt",
        classes=f"{R}/index/{{dataset}}.classes.txt",
    output:
        weights=f"{R}/{{dataset}}_{{budget}}/seed{{seed}}/teachers/{{teacher}}.pt",
    log:
        f"{R}/logs/finetune_teacher/{{dataset}}_{{budget}}/seed{{seed}}/{{teacher}}.log",
    benchmark:
        f"{R}/benchmarks/finetune_teacher/{{dataset}}_{{budget}}/seed{{seed}}/{{teacher}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=12000,
        runtime=1440,
        gpu=bind(F.gpus),
    params:
        settings=bind(F.finetune_settings),
        frames_root=bind(F.frames_root),
        resume=f"{R}/resume/{{dataset}}_{{budget}}/seed{{seed}}/teachers/{{teacher}}.pt",
        metrics=f"{R}/metrics/{{dataset}}_{{budget}}/seed{{seed}}/teachers/{{teacher}}.jsonl",
        runtime=bind(F.device_params),
        code=code("finetune"),
    script:
        "../workflow_scripts/finetune_teacher.py"


rule train_student:
    input:
        unpack(bind(F.student_inputs)),
    output:
        weights=f"{R}/{{dataset}}_{{budget}}/seed{{seed}}/{{model}}.pt",
    log:
        f"{R}/logs/train_student/{{dataset}}_{{budget}}/seed{{seed}}/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/train_student/{{dataset}}_{{budget}}/seed{{seed}}/{{model}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=16000,
        runtime=2880,
        gpu=bind(F.gpus),
    params:
        settings=bind(F.student_settings),
        frames_root=bind(F.frames_root),
        resume=f"{R}/resume/{{dataset}}_{{budget}}/seed{{seed}}/{{model}}.pt",
        metrics=f"{R}/metrics/{{dataset}}_{{budget}}/seed{{seed}}/{{model}}.jsonl",
        runtime=bind(F.device_params),
        code=code("student"),
    script:
        "../workflow_scripts/train_student.py"
