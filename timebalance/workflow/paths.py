"""Every output path pattern and id grammar of the workflow, defined once.

Patterns are `str.format` templates whose fields are Snakemake wildcards: rules use them as
they are (`output: weights=P.SSL`), input functions `.format()` them, and `fill` binds some
fields while leaving the others as wildcards. The id grammars are regex strings: they build
the rules' `wildcard_constraints` (`CONSTRAINTS`) and the schema's `pattern`s (tested equal).
"""

from __future__ import annotations

import re
import string
from pathlib import PurePosixPath

R = "results"

# --- id grammars (regex strings, unanchored) -------------------------------------------------
DATASET = r"[a-z][a-z0-9]*"
BUDGET = r"[0-9]+(\.[0-9]+)?pct|[0-9]+perclass"
SEED = r"[0-9]+"
# Any folder name but a budget's, followed by "/" (MISSPELT_BUDGET_TARGET).
MISSPELT_BUDGET = rf"(?!(?:{BUDGET})/)[^/]+"
TEACHER_KINDS = ("invariant", "distinctive")  # in the order TSTR mixes them (eq. 7)
TEACHER_KIND = "|".join(TEACHER_KINDS)
PRETRAIN_KIND = rf"{TEACHER_KIND}|ssl_init"
N_CLIPS = r"[24]"
# A teacher: "<kind>_n<dense clips>_s<pretraining seed>"; groups 1..3 are kind, n and seed.
TEACHER = rf"({TEACHER_KIND})_n({N_CLIPS})_s({SEED})"
VARIANT = r"[a-z0-9_]+"
MODEL = rf"student|variants/{VARIANT}"
# The other methods (004's ACL + MTL and its basic framework), each a config section
# `methods.<name>` and a rule `train_<name>`. A method name in a path is one of them or an
# ablation variant of `methods.variants` (the rules check it against the config).
METHODS = ("fixmatch", "acl_mtl")
METHOD = r"[a-z][a-z0-9_]*"
RUN = rf"{MODEL}|teachers/{TEACHER}|methods/({METHOD})"
# Aggregated result keys: the student, a variant, a default teacher by kind, a teacher by
# kind and clips (default pretraining seed) or fully named.
RESULT_KEY = (
    rf"student|teacher_({TEACHER_KIND})|teachers/({TEACHER_KIND})_n({N_CLIPS})(_s({SEED}))?"
    rf"|variants/{VARIANT}|methods/({METHOD})"
)
GRID = r"[a-z0-9_]+"
TABLE = r"table[1-7]|fig5_init|methods"
CURVE_STAGE = r"finetune|student"  # training stages of a cell with learning-curve figures
DEVICE = r"auto|cpu|cuda(:[0-9]+)?"

# Wildcard name -> grammar, for every wildcard of every rule (`wildcard_constraints`).
CONSTRAINTS = {
    "dataset": DATASET,
    "budget": BUDGET,
    "seed": SEED,
    "shard": r"[0-9]+",
    "kind": PRETRAIN_KIND,
    "n": N_CLIPS,
    "ps": SEED,
    "teacher": TEACHER,
    "t1": TEACHER,
    "t2": TEACHER,
    "model": MODEL,
    "method": METHOD,
    "run": RUN,
    "key": RESULT_KEY,
    "grid": GRID,
    "table": TABLE,
    "misspelt": MISSPELT_BUDGET,
    "rest": r".+",
    "stage": CURVE_STAGE,
}


def anchored(grammar: str) -> str:
    """The grammar as a whole-string pattern, the form the config schema uses."""
    return f"^({grammar})$"


# --- output patterns -------------------------------------------------------------------------
DATASET_ROOT = f"{R}/datasets/{{dataset}}"  # a generated (synthetic) dataset
INDEX = f"{R}/index/{{dataset}}.csv"
CLASSES = f"{R}/index/{{dataset}}.classes.txt"
FRAME_SHARD = f"{R}/frames/{{dataset}}/shards/{{shard}}.csv"
MANIFEST = f"{R}/frames/{{dataset}}/manifest.csv"
# What extraction made of the videos (truncated, short, skipped), written with the manifest.
EXTRACTION_SUMMARY = f"{R}/frames/{{dataset}}/summary.json"
FRAMES_ROOT = f"{R}/frames/{{dataset}}/jpg"
SPLIT = f"{R}/splits/{{dataset}}/{{budget}}/seed{{seed}}/{{part}}.csv"
SPLIT_PARTS = ("labeled", "unlabeled", "val", "test")
SPLITS_SUMMARY = f"{R}/splits/{{dataset}}/{{budget}}/seed{{seed}}/splits.json"
SSL = f"{R}/ssl/{{dataset}}/{{kind}}_n{{n}}_s{{ps}}.pt"
SCORES = f"{R}/scores/{{dataset}}/{{t1}}+{{t2}}.csv"
# One trained model of one seed: run = student | variants/<name> | teachers/<teacher id>.
RUN_WEIGHTS = f"{R}/{{dataset}}_{{budget}}/seed{{seed}}/{{run}}.pt"
RUN_METRICS = f"{R}/{{dataset}}_{{budget}}/seed{{seed}}/{{run}}.json"
TEACHER_WEIGHTS = RUN_WEIGHTS.replace("{run}", "teachers/{teacher}")
MODEL_WEIGHTS = RUN_WEIGHTS.replace("{run}", "{model}")
METHOD_WEIGHTS = RUN_WEIGHTS.replace("{run}", "methods/{method}")
RESULT = f"{R}/{{dataset}}_{{budget}}/{{key}}.json"  # mean and std over the seeds
# A requested results/<dataset>_<x>/... path whose <x> is not a budget (its rule only reports
# the misspelling).
MISSPELT_BUDGET_TARGET = f"{R}/{{dataset}}_{{misspelt}}/{{rest}}"
# The papers' claims over the seeds of one cell (paired comparisons, score separation).
CLAIMS = {ext: f"{R}/{{dataset}}_{{budget}}/claims.{ext}" for ext in ("json", "md")}
TABLE_EXTS = ("md", "csv", "tex", "html")  # html: the table as the HTML report shows it
TABLE_FILES = {ext: f"{R}/tables/{{grid}}/{{table}}.{ext}" for ext in TABLE_EXTS}
DEFAULT_TABLE_FILES = {ext: f"{R}/tables/{{table}}.{ext}" for ext in TABLE_EXTS}
# Figures, each as PNG and PDF: per dataset (pretraining, the score cache) and per cell.
FIGURE_EXTS = ("png", "pdf")
FIGURES = f"{R}/figures"


def _figure(folder: str, name: str) -> dict[str, str]:
    return {ext: f"{FIGURES}/{folder}/{name}.{ext}" for ext in FIGURE_EXTS}


FIG_SIMILARITY = _figure("{dataset}", "fig4_similarity")  # C_I, C_D of extreme-s videos
FIG_SCORES = _figure("{dataset}", "score_distribution")  # s per class and per kind
FIG_PRETRAIN_CURVES = _figure("{dataset}", "curves_pretrain")
FIG_TEACHERS = _figure("{dataset}_{budget}", "fig1_teachers")  # per-class difference
FIG_INIT = _figure("{dataset}_{budget}", "fig5_init")  # student initialisations
FIG_CURVES = _figure("{dataset}_{budget}", "curves_{stage}")  # finetune | student
FIG_METHOD_TRAINING = _figure("{dataset}_{budget}", "training_{method}")  # a method's terms
# The HTML report (snakemake --report) and the run times it shows.
REPORT = f"{R}/report.html"
BENCHMARKS = f"{R}/benchmarks"  # benchmark_path() files, one folder per rule
RUN_TIMES = {ext: f"{BENCHMARKS}/run_times.{ext}" for ext in ("csv", "html")}
CONFIG_PAGE = f"{R}/report/config.html"  # the validated configuration, for the report


def fill(pattern: str, **values: object) -> str:
    """`pattern` with the named fields replaced and every other field kept as a wildcard."""
    fields = {name for _, name, _, _ in string.Formatter().parse(pattern) if name}
    unknown = set(values) - fields
    if unknown:
        raise KeyError(f"{pattern!r} has no field(s) {sorted(unknown)}")
    return pattern.format(**{name: values.get(name, f"{{{name}}}") for name in fields})


def _below_results(pattern: str) -> PurePosixPath:
    path = PurePosixPath(pattern)
    if path.parts[0] != R:
        raise ValueError(f"{pattern!r} does not lie under {R}/")
    return path.relative_to(R)


def mirror(folder: str, pattern: str, suffix: str) -> str:
    """The file of a training run beside its output: `results/<folder>/` + the output's path
    below results/, with `suffix` (e.g. the resume state of results/ssl/x.pt lies at
    results/resume/ssl/x.pt)."""
    return f"{R}/{folder}/{_below_results(pattern).with_suffix(suffix)}"


def log_path(rule: str, output: str) -> str:
    """The log of a rule's job: results/logs/<rule>/<main output below results/>.log."""
    return mirror(f"logs/{rule}", output, ".log")


def benchmark_path(rule: str, output: str) -> str:
    """Wall time and memory of a rule's job, beside its log under results/benchmarks/."""
    return mirror(f"benchmarks/{rule}", output, ".tsv")


def tensorboard_dir(rule: str, output: str) -> str:
    """The TensorBoard run folder of a training job: results/tensorboard/<rule>/<main
    output below results/, without its suffix> (`tensorboard --logdir results/tensorboard`
    shows every run, grouped by stage)."""
    return mirror(f"tensorboard/{rule}", output, "")


# --- ids -------------------------------------------------------------------------------------
def parse_teacher(teacher: str) -> tuple[str, int, int]:
    """(kind, dense clips, pretraining seed) of a teacher id such as "invariant_n4_s0"."""
    m = re.fullmatch(TEACHER, teacher)
    if not m:
        raise ValueError(
            f"bad teacher id {teacher!r}: expected <invariant|distinctive>_n<2|4>_s<seed>"
        )
    return m.group(1), int(m.group(2)), int(m.group(3))


def teacher_id(kind: str, n: int, seed: int) -> str:
    return f"{kind}_n{n}_s{seed}"


def ssl_weights(dataset: str, kind: str, n: int, seed: int) -> str:
    """A pretrained checkpoint (a teacher kind or ssl_init, the student's initialisation)."""
    return SSL.format(dataset=dataset, kind=kind, n=n, ps=seed)


def teacher_ssl_weights(dataset: str, teacher: str) -> str:
    """The pretrained checkpoint a teacher id names."""
    return ssl_weights(dataset, *parse_teacher(teacher))


def scores(dataset: str, teachers: list[str]) -> str:
    """The score cache of a teacher pair (invariant first, eq. 7)."""
    return SCORES.format(dataset=dataset, t1=teachers[0], t2=teachers[1])
