# TimeBalance (CVPR'23) and baselines as a file-based experiment DAG.
#   snakemake --cores 2                                   # the embedded synthetic demo
#   snakemake results/ucf101_5pct/student.json --cores 16 # one cell of Table 1
#   snakemake --profile profiles/slurm paper_grid         # the whole paper grid on SLURM
from snakemake.utils import min_version

min_version("8.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/pretrain.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/tables.smk"


rule all:
    default_target: True
    input:
        demo_targets(),


rule demo:
    input:
        demo_targets(),


rule paper_grid:
    input:
        bind(F.paper_grid_targets),
