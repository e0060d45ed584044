# TimeBalance (CVPR'23) and baselines as a file-based experiment DAG.
#   snakemake --cores 2                                   # the embedded synthetic demo
#   snakemake results/ucf101_5pct/student.json --cores 16 # one cell of Table 1
#   snakemake --profile profiles/slurm paper_grid         # the whole paper grid on SLURM
from snakemake.utils import min_version

min_version("8.0")


configfile: "config.yaml"


report: "rules/report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/pretrain.smk"
include: "rules/train.smk"
include: "rules/methods.smk"
include: "rules/evaluate.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"


# The synthetic default's results, tables, figures (all but Fig. 5, which trains three more
# students per seed: `figures`), run times and the configuration: what the HTML report shows.
rule demo:
    input:
        demo_targets(),
        F.figure_targets(config, with_init=False),
        P.RUN_TIMES.values(),
        P.CONFIG_PAGE,


rule all:
    default_target: True
    input:
        rules.demo.input,


# Every figure of the synthetic default, Fig. 5 included.
rule figures:
    input:
        F.figure_targets(config),


rule paper_grid:
    input:
        bind(F.paper_grid_targets),
