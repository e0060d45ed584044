# Dataset generation (embedded default), annotation index, frame extraction, split lists.


rule synthesize_dataset:
    output:
        root=directory(P.DATASET_ROOT),
    log:
        P.log_path("synthesize_dataset", P.DATASET_ROOT),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=bind(F.synthetic_settings),
        code=code("synthesize_dataset"),
    script:
        "../workflow_scripts/synthesize_dataset.py"


rule index_dataset:
    input:
        unpack(bind(F.index_inputs, lambda: workflow.dryrun)),
    output:
        index=P.INDEX,
        classes=P.CLASSES,
    log:
        P.log_path("index_dataset", P.INDEX),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=bind(F.index_params),
        code=code("index_dataset"),
    script:
        "../workflow_scripts/index_dataset.py"


rule extract_frames:
    input:
        index=P.INDEX,
    output:
        shard=P.FRAME_SHARD,
    log:
        P.log_path("extract_frames", P.FRAME_SHARD),
    conda:
        "../envs/data.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=720,
    params:
        settings=bind(F.frames_params),
        frames_root=bind(F.frames_root),
        code=code("extract_frames"),
    script:
        "../workflow_scripts/extract_frames.py"


rule frames_manifest:
    input:
        shards=bind(F.shard_manifests),
    output:
        manifest=P.MANIFEST,
        summary=P.EXTRACTION_SUMMARY,
    log:
        P.log_path("frames_manifest", P.MANIFEST),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=bind(F.manifest_params),
        code=code("frames_manifest"),
    script:
        "../workflow_scripts/frames_manifest.py"


rule make_splits:
    input:
        unpack(bind(F.splits_inputs)),
    output:
        labeled=P.fill(P.SPLIT, part="labeled"),
        unlabeled=P.fill(P.SPLIT, part="unlabeled"),
        val=P.fill(P.SPLIT, part="val"),
        test=P.fill(P.SPLIT, part="test"),
        summary=P.SPLITS_SUMMARY,
    log:
        P.log_path("make_splits", P.SPLITS_SUMMARY),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        val_fraction=config["splits"]["val_fraction"],
        labeled_list=bind(F.labeled_list),
        code=code("make_splits"),
    script:
        "../workflow_scripts/make_splits.py"


# Never runs: it matches only a requested results/<dataset>_<budget>/... path whose budget is
# misspelt, and its input function raises the budget parser's message (Snakemake alone would
# say "No rule to produce" it).
rule misspelt_budget:
    input:
        bind(F.misspelt_budget),
    output:
        P.MISSPELT_BUDGET_TARGET,
    log:
        P.log_path("misspelt_budget", P.MISSPELT_BUDGET_TARGET),
    localrule: True
    run:
        raise ValueError("unreachable: the input function rejects every budget it sees")
