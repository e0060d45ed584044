# Result tables: Markdown, CSV and LaTeX, ours (mean +- std over seeds) beside the paper's.


def table_results(wildcards):
    """Result key ("dataset|budget|result") -> aggregated result file."""
    grid = getattr(wildcards, "grid", config["tables"]["grid"])
    return W.table_inputs(config, grid, wildcards.table)


def table_files(wildcards):
    return sorted(set(table_results(wildcards).values()))


def table_cells(wildcards):
    grid = getattr(wildcards, "grid", config["tables"]["grid"])
    return W.table_grid(config, grid)[wildcards.table]


rule tables:
    input:
        results=table_files,
    output:
        md=f"{R}/tables/{{grid}}/{{table}}.md",
        csv=f"{R}/tables/{{grid}}/{{table}}.csv",
        tex=f"{R}/tables/{{grid}}/{{table}}.tex",
    log:
        f"{R}/logs/tables/{{grid}}/{{table}}.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        cells=table_cells,
        results=table_results,
        code=code("tables"),
    script:
        "../workflow_scripts/tables.py"


use rule tables as tables_default with:
    output:
        md=f"{R}/tables/{{table}}.md",
        csv=f"{R}/tables/{{table}}.csv",
        tex=f"{R}/tables/{{table}}.tex",
    log:
        f"{R}/logs/tables/{{table}}.log",
