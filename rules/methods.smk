# The other methods (004: FixMatch with an EMA teacher, ACL + MTL) and their ablation
# variants (methods.variants) per (dataset, budget, seed), on the same splits and frames as
# TimeBalance; the `evaluate` and `aggregate_seeds` rules turn methods/<name>.pt into
# methods/<name>.json exactly as for the student. Each training rule takes the names that
# run its method; a name the config does not define is reported by `misspelt_method`.
F.check_method_variants(config, Path(workflow.basedir) / "rules" / "config.schema.yaml")


rule train_fixmatch:
    input:
        unpack(bind(F.method_inputs)),
    output:
        weights=P.METHOD_WEIGHTS,
    log:
        P.log_path("train_fixmatch", P.METHOD_WEIGHTS),
    benchmark:
        P.benchmark_path("train_fixmatch", P.METHOD_WEIGHTS)
    wildcard_constraints:
        method=F.method_grammar(config, "fixmatch"),
    conda:
        "../envs/train.yaml"
    threads: F.threads(config)
    resources:
        mem_mb=16000,
        runtime=bind(R.runtime, "method"),
        gpu=bind(F.gpus),
    params:
        settings=bind(F.method_job_settings),
        frames_root=bind(F.frames_root),
        resume=P.mirror("resume", P.METHOD_WEIGHTS, ".pt"),
        metrics=P.mirror("metrics", P.METHOD_WEIGHTS, ".jsonl"),
        tensorboard=P.tensorboard_dir("train_fixmatch", P.METHOD_WEIGHTS),
        runtime=bind(F.device_params),
        code=code("train_fixmatch"),
    script:
        "../workflow_scripts/train_fixmatch.py"


rule train_acl_mtl:
    input:
        unpack(bind(F.method_inputs)),
    output:
        weights=P.METHOD_WEIGHTS,
    log:
        P.log_path("train_acl_mtl", P.METHOD_WEIGHTS),
    benchmark:
        P.benchmark_path("train_acl_mtl", P.METHOD_WEIGHTS)
    wildcard_constraints:
        method=F.method_grammar(config, "acl_mtl"),
    conda:
        "../envs/train.yaml"
    threads: F.threads(config)
    resources:
        mem_mb=16000,
        runtime=bind(R.runtime, "method"),
        gpu=bind(F.gpus),
    params:
        settings=bind(F.method_job_settings),
        frames_root=bind(F.frames_root),
        resume=P.mirror("resume", P.METHOD_WEIGHTS, ".pt"),
        metrics=P.mirror("metrics", P.METHOD_WEIGHTS, ".jsonl"),
        tensorboard=P.tensorboard_dir("train_acl_mtl", P.METHOD_WEIGHTS),
        runtime=bind(F.device_params),
        code=code("train_acl_mtl"),
    script:
        "../workflow_scripts/train_acl_mtl.py"


# Never runs: it matches only the weights of a method name the config does not define, and
# its input function names the configured ones (Snakemake alone would say "No rule to
# produce" results/<dataset>_<budget>/methods/<typo>.json).
rule misspelt_method:
    input:
        bind(F.misspelt_method),
    output:
        P.METHOD_WEIGHTS,
    log:
        P.log_path("misspelt_method", P.METHOD_WEIGHTS),
    wildcard_constraints:
        method=F.misspelt_method_grammar(config),
    localrule: True
    run:
        raise ValueError("unreachable: the input function rejects every name it sees")


# Every method's result on every synthetic budget (the demo's dataset), with ACL + MTL's
# training figure.
rule methods:
    input:
        F.method_targets(config),


# 004's ablations (Tables 2, 4, 5) beside its numbers, on the `methods` cells of the table
# grid (tables.grid; results/tables/<grid>/methods_ablation.md for another grid). Trains
# every variant of methods.variants: not part of the demo.
rule methods_ablation_table:
    input:
        results=bind(F.methods_ablation_files),
    output:
        md=P.DEFAULT_TABLE_FILES["md"],
        csv=P.DEFAULT_TABLE_FILES["csv"],
        tex=P.DEFAULT_TABLE_FILES["tex"],
        html=report(
            P.DEFAULT_TABLE_FILES["html"],
            caption="report/table.rst",
            category="Tables",
            labels={"table": "{table}"},
        ),
    log:
        P.log_path("tables", P.DEFAULT_TABLE_FILES["md"]),
    wildcard_constraints:
        table=F.METHODS_ABLATION,
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        cells=bind(F.methods_ablation_cells),
        results=bind(F.methods_ablation_results),
        code=code("tables"),
    script:
        "../workflow_scripts/tables.py"


use rule methods_ablation_table as methods_ablation_table_grid with:
    output:
        md=P.TABLE_FILES["md"],
        csv=P.TABLE_FILES["csv"],
        tex=P.TABLE_FILES["tex"],
        html=report(
            P.TABLE_FILES["html"],
            caption="report/table.rst",
            category="Tables",
            subcategory="grid {grid}",
            labels={"table": "{table}"},
        ),
    log:
        P.log_path("tables", P.TABLE_FILES["md"]),


rule methods_ablation:
    input:
        [p.format(table=F.METHODS_ABLATION) for p in P.DEFAULT_TABLE_FILES.values()],
