# Dataset generation (embedded default), annotation index, frame extraction, split lists.


def synthetic_settings(wildcards):
    return W.dataset(config, wildcards.dataset)["synthetic"]


def index_inputs(wildcards):
    """A generated dataset is an input of its index; a real one is read where it lies."""
    ds = W.dataset(config, wildcards.dataset)
    return {"root": ds["root"]} if "synthetic" in ds else {}


def index_params(wildcards):
    ds = W.dataset(config, wildcards.dataset)
    return {
        "fmt": ds["format"],
        "root": ds["root"],
        "split": ds.get("split", 1),
        "options": ds.get("options", {}),
    }


def shard_manifests(wildcards):
    n = W.frames_settings(config, wildcards.dataset)["n_shards"]
    return [f"{R}/frames/{wildcards.dataset}/shards/{k}.csv" for k in range(n)]


def frames_params(wildcards):
    ds = W.dataset(config, wildcards.dataset)
    settings = W.frames_settings(config, wildcards.dataset)
    return {
        "root": ds["root"],
        "n_shards": settings["n_shards"],
        "short_side": settings["short_side"],
        "fps": settings.get("fps"),
        "quality": settings["quality"],
    }


def max_bad_fraction(wildcards):
    return W.frames_settings(config, wildcards.dataset)["max_bad_fraction"]


def labeled_list(wildcards):
    lists = config["splits"].get("labeled_lists", {})
    return lists.get(f"{wildcards.dataset}_{wildcards.budget}")


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
        settings=synthetic_settings,
        code=code("synthesize"),
    script:
        "../workflow_scripts/synthesize_dataset.py"


rule index_dataset:
    input:
        unpack(index_inputs),
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
        settings=index_params,
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
        settings=frames_params,
        frames_root=frames_root,
        code=code("frames"),
    script:
        "../workflow_scripts/extract_frames.py"


rule frames_manifest:
    input:
        shards=shard_manifests,
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
        max_bad_fraction=max_bad_fraction,
        code=code("frames"),
    script:
        "../workflow_scripts/frames_manifest.py"


rule make_splits:
    input:
        manifest=manifest,
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
        labeled_list=labeled_list,
        code=code("splits"),
    script:
        "../workflow_scripts/make_splits.py"
