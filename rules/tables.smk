# Result tables: Markdown, CSV, LaTeX and HTML, ours (mean +- std over seeds) beside the
# paper's; the HTML goes into the report.


rule tables:
    input:
        results=bind(F.table_files),
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


# Run times and peak memory of every job with a benchmark file, for the report. Its inputs
# are the targets whose jobs it summarises (it reruns when they change).
rule run_times:
    input:
        bind(F.run_times_inputs),
    output:
        csv=P.RUN_TIMES["csv"],
        html=report(
            P.RUN_TIMES["html"],
            caption="report/run_times.rst",
            category="Run times",
            labels={"what": "run times and memory"},
        ),
    log:
        P.log_path("run_times", P.RUN_TIMES["csv"]),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code("run_times"),
    script:
        "../workflow_scripts/run_times.py"


# The validated configuration (schema defaults filled in), for the report.
rule config_page:
    output:
        html=report(
            P.CONFIG_PAGE,
            caption="report/config.rst",
            category="Configuration",
            labels={"what": "configuration"},
        ),
    log:
        P.log_path("config_page", P.CONFIG_PAGE),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    params:
        config=config,
        code=code("config_page"),
    script:
        "../workflow_scripts/config_page.py"
