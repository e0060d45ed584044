# Result tables: Markdown, CSV and LaTeX, ours (mean +- std over seeds) beside the paper's.


rule tables:
    input:
        results=bind(F.table_files),
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
        cells=bind(F.table_cells),
        results=bind(F.table_results),
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
