# Teacher finetuning and the student (with its ablation variants), per (dataset, budget, seed).


def finetune_settings(wildcards):
    return {
        "backbone": W.dataset(config, wildcards.dataset).get("backbone", "r3d18"),
        "clips": W.clips(config, "finetune"),
        "optim": W.optim(config, "finetune"),
        "seed": int(wildcards.seed),
    }


def student_spec(wildcards):
    return W.student_variant(config, wildcards.model)


def student_inputs(wildcards):
    """Split lists, the initialisation, the finetuned teachers and (TSTR) the scores."""
    spec = student_spec(wildcards)
    base = f"{R}/{wildcards.dataset}_{wildcards.budget}/seed{wildcards.seed}"
    inputs = {
        "labeled": split_file("labeled")(wildcards),
        "unlabeled": split_file("unlabeled")(wildcards),
        "val": split_file("val")(wildcards),
        "teachers": [f"{base}/teachers/{t}.pt" for t in spec["teachers"]],
    }
    init = W.init_checkpoint(config, wildcards.dataset, spec["init"])
    if init:
        inputs["init"] = init
    if len(spec["teachers"]) == 2 and spec["weighting"] == "tstr":
        inputs["scores"] = W.scores_path(wildcards.dataset, spec["teachers"])
    return inputs


def student_settings(wildcards):
    spec = student_spec(wildcards)
    return {
        "backbone": W.dataset(config, wildcards.dataset).get("backbone", "r3d18"),
        "spec": {k: v for k, v in spec.items() if k not in ("init",)},
        "clips": W.clips(config, "student"),
        "optim": W.optim(config, "student"),
        "seed": int(wildcards.seed),
    }


rule finetune_teacher:
    input:
        labeled=split_file("labeled"),
        val=split_file("val"),
        pretrained=f"{R}/ssl/{{dataset}}/{{teacher}}.pt",
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
        gpu=gpus,
    params:
        settings=finetune_settings,
        frames_root=frames_root,
        resume=f"{R}/resume/{{dataset}}_{{budget}}/seed{{seed}}/teachers/{{teacher}}.pt",
        metrics=f"{R}/metrics/{{dataset}}_{{budget}}/seed{{seed}}/teachers/{{teacher}}.jsonl",
        runtime=device_params,
        code=code("finetune"),
    script:
        "../workflow_scripts/finetune_teacher.py"


rule train_student:
    input:
        unpack(student_inputs),
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
        gpu=gpus,
    params:
        settings=student_settings,
        frames_root=frames_root,
        resume=f"{R}/resume/{{dataset}}_{{budget}}/seed{{seed}}/{{model}}.pt",
        metrics=f"{R}/metrics/{{dataset}}_{{budget}}/seed{{seed}}/{{model}}.jsonl",
        runtime=device_params,
        code=code("student"),
    script:
        "../workflow_scripts/train_student.py"
