# Config validation, wildcard constraints and the named input/param functions of the rules.
# The logic lives in timebalance.workflow (pure functions of the config, unit tested, no
# torch): paths (P) names every output pattern, inputs (F) the rules' functions.
import inspect
from functools import partial
from pathlib import Path

from timebalance.workflow import code_deps
from timebalance.workflow import config as C
from timebalance.workflow import inputs as F
from timebalance.workflow import paths as P
from timebalance.workflow import resources as R

# Command-line types fixed, schema validated (its defaults filled in), cross-key checks; a
# schema error is reported as the key, the value and what is allowed.
C.validate(config, Path(workflow.basedir) / "rules" / "config.schema.yaml")


wildcard_constraints:
    **P.CONSTRAINTS,


def demo_targets():
    return F.demo_targets(config)


# What each module's import statements say, kept beside Snakemake's own state in the
# working directory: a new process (every dry run, every cluster job) reads it instead of
# parsing the whole package again. Keyed by the files' contents, never stale.
IMPORT_CACHE = code_deps.ImportCache(
    Path(".snakemake") / "timebalance" / "imports.json"
)


def code(script):
    """Version of the package modules workflow_scripts/<script>.py runs (from its imports),
    taken from the checkout holding this Snakefile: a param, so editing a module reruns
    exactly the jobs that run it."""
    base = Path(workflow.basedir)
    return code_deps.code_version(
        base / "workflow_scripts" / f"{script}.py", base / "timebalance", IMPORT_CACHE
    )


def bind(function, *args):
    """A function of timebalance.workflow.inputs with this run's config bound, so that
    Snakemake calls it with the job's wildcards. Its signature is computed once here:
    Snakemake inspects it at every call (thousands in a paper-grid dry run), and a
    partial's signature is slow to derive."""
    bound = partial(function, *args, config)
    bound.__signature__ = inspect.signature(bound)
    return bound
