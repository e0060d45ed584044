# Result tables: Markdown, CSV and LaTeX, ours (mean +- std over seeds) beside the paper's.


rule tables:
    input:
        results=bind(F.table_files),
    output:
        **P.TABLE_FILES,
    log:
        P.log_path("tables", P.TABLE_FILES["md"]),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        cells=bind(F.table_cells),
        results=bind(F.table_results),
        code=code("tables"),
    script:
        "../workflow_scripts/tables.py"


use rule tables as tables_default with:
    output:
        **P.DEFAULT_TABLE_FILES,
    log:
        P.log_path("tables", P.DEFAULT_TABLE_FILES["md"]),


# The papers' claims over the configured seeds of one (dataset, budget) cell.
rule claims:
    input:
        unpack(bind(F.claims_inputs)),
    output:
        **P.CLAIMS,
    log:
        P.log_path("claims", P.CLAIMS["json"]),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        runs=bind(F.claims_runs),
        catalogue=bind(F.claims_catalogue),
        seeds=config["seeds"],
        code=code("claims"),
    script:
        "../workflow_scripts/claims.py"
