# TimeBalance (CVPR'23) and baselines as a file-based experiment DAG.
#   snakemake --cores 2                                   # the embedded synthetic demo
#   snakemake results/ucf101_5pct/student.json --cores 16 # one cell of Table 1
#   snakemake --profile profiles/slurm paper_grid         # the whole paper grid on SLURM
import atexit
import gc

from snakemake.utils import min_version

min_version("8.0")

# Snakemake's modules, then the rules, config and functions the includes below define, live
# until the process exits: frozen out of the cyclic garbage collector, they are neither
# scanned again by every full collection while the DAG is built nor taken apart object by
# object at exit (~0.7 s of a ~3 s `snakemake -n paper_grid`). Garbage made later is
# collected as usual; the memory is returned when the process ends.
gc.freeze()
atexit.register(gc.freeze)


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


gc.freeze()  # what the includes built (see above)


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
