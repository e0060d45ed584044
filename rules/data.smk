# Dataset generation (embedded default), annotation index, frame extraction, split lists.


rule synthesize_dataset:
    output:
        root=directory(f"{R}/datasets/{{dataset}}"),
    log:
        f"{R}/logs/synthesize_dataset/{{dataset}}.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=bind(F.synthetic_settings),
        code=code("synthesize"),
    script:
        "../workflow_scripts/synthesize_dataset.py"


rule index_dataset:
    input:
        unpack(bind(F.index_inputs)),
    output:
        index=f"{R}/index/{{dataset}}.csv",
        classes=f"{R}/index/{{dataset}}.classes.txt",
    log:
        f"{R}/logs/index_dataset/{{dataset}}.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=bind(F.index_params),
        code=code("index"),
    script:
        "../workflow_scripts/index_dataset.py"


rule extract_frames:
    input:
        index=f"{R}/index/{{dataset}}.csv",
    output:
        shard=f"{R}/frames/{{dataset}}/shards/{{shard}}.csv",
    log:
        f"{R}/logs/extract_frames/{{dataset}}/{{shard}}.log",
    conda:
        "../envs/data.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=720,
    params:
        settings=bind(F.frames_params),
        frames_root=bind(F.frames_root),
        code=code("frames"),
    script:
        "../workflow_scripts/extract_frames.py"


rule frames_manifest:
    input:
        shards=bind(F.shard_manifests),
    output:
        manifest=f"{R}/frames/{{dataset}}/manifest.csv",
    log:
        f"{R}/logs/frames_manifest/{{dataset}}.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        max_bad_fraction=bind(F.max_bad_fraction),
        code=code("frames"),
    script:
        "../workflow_scripts/frames_manifest.py"


rule make_splits:
    input:
        manifest=bind(F.manifest),
    output:
        labeled=f"{R}/splits/{{dataset}}/{{budget}}/seed{{seed}}/labeled.csv",
        unlabeled=f"{R}/splits/{{dataset}}/{{budget}}/seed{{seed}}/unlabeled.csv",
        val=f"{R}/splits/{{dataset}}/{{budget}}/seed{{seed}}/val.csv",
        test=f"{R}/splits/{{dataset}}/{{budget}}/seed{{seed}}/test.csv",
        summary=f"{R}/splits/{{dataset}}/{{budget}}/seed{{seed}}/splits.json",
    log:
        f"{R}/logs/make_splits/{{dataset}}_{{budget}}_seed{{seed}}.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        val_fraction=config["splits"]["val_fraction"],
        labeled_list=bind(F.labeled_list),
        code=code("splits"),
    script:
        "../workflow_scripts/make_splits.py"
