"""One definition of every path pattern and id grammar: the rules, the input functions and the
config schema all use timebalance.workflow.paths."""

from __future__ import annotations

import re
import string

import pytest
import yaml

from tests.workflow.conftest import ROOT, SCHEMA
from timebalance.workflow import paths as P


def _schema_patterns(node, where=""):
    """Location -> `pattern` string of every pattern in the schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield where, value
            else:
                yield from _schema_patterns(value, f"{where}/{key}")
    elif isinstance(node, list):
        for k, value in enumerate(node):
            yield from _schema_patterns(value, f"{where}/{k}")


def test_schema_patterns_are_the_code_grammars():
    schema = yaml.safe_load(SCHEMA.read_text())
    expected = {
        "/$defs/budget": P.BUDGET,
        "/properties/device": P.DEVICE,
        "/properties/datasets/propertyNames": P.DATASET,
        "/properties/variants/propertyNames": P.VARIANT,
        "/properties/methods/properties/variants/propertyNames": P.METHOD,
        "/properties/variants/additionalProperties/properties/teachers/items": P.TEACHER,
        "/properties/tables/properties/grids/propertyNames": P.GRID,
        "/properties/tables/properties/grids/additionalProperties/propertyNames": P.TABLE,
    }
    found = dict(_schema_patterns(schema))
    assert found == {where: P.anchored(grammar) for where, grammar in expected.items()}
    # The dense-clip counts a config may choose are the ones teacher ids and paths accept.
    n_clips = schema["properties"]["pretrain"]["properties"]["n_clips"]["enum"]
    assert n_clips == [n for n in range(10) if re.fullmatch(P.N_CLIPS, str(n))]


def test_schema_backbones_are_the_registry():
    """A config may name exactly the backbones `build_backbone` knows."""
    from timebalance.models import BACKBONES

    schema = yaml.safe_load(SCHEMA.read_text())
    dataset = schema["properties"]["datasets"]["additionalProperties"]["properties"]
    assert dataset["backbone"]["enum"] == list(BACKBONES)


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("budget", ["5pct", "0.5pct", "10perclass"], ["5%", "pct", "5pct_x"]),
        (
            "teacher",
            ["invariant_n4_s0", "distinctive_n2_s12"],
            ["invariant_n3_s0", "ssl_init_n4_s0"],
        ),
        ("kind", ["invariant", "ssl_init"], ["inv"]),
        ("run", ["student", "variants/kl", "teachers/invariant_n4_s1"], ["teachers/x"]),
        ("key", ["teacher_invariant", "teachers/distinctive_n2", "teachers/invariant_n4_s0"], []),
        ("table", ["table1", "fig5_init"], ["table8"]),
    ],
)
def test_constraints_accept_the_ids_and_nothing_else(name, good, bad):
    for value in good:
        assert re.fullmatch(P.CONSTRAINTS[name], value), (name, value)
    for value in bad:
        assert not re.fullmatch(P.CONSTRAINTS[name], value), (name, value)


def _fields(pattern: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(pattern) if name}


def test_every_wildcard_of_every_pattern_is_constrained():
    patterns = {k: v for k, v in vars(P).items() if k.isupper() and isinstance(v, str)}
    patterns |= {f"TABLE_FILES.{k}": v for k, v in P.TABLE_FILES.items()}
    outputs = [p for p in patterns.values() if p.startswith(f"{P.R}/")]
    assert len(outputs) >= 15
    for pattern in outputs:
        assert _fields(pattern) - {"part"} <= set(P.CONSTRAINTS), pattern


def test_fill_log_and_mirror():
    assert P.fill(P.SPLIT, part="val") == "results/splits/{dataset}/{budget}/seed{seed}/val.csv"
    with pytest.raises(KeyError, match="no field"):
        P.fill(P.SPLIT, model="x")
    assert P.mirror("resume", P.SSL, ".pt") == "results/resume/ssl/{dataset}/{kind}_n{n}_s{ps}.pt"
    assert P.log_path("evaluate", P.RUN_METRICS) == (
        "results/logs/evaluate/{dataset}_{budget}/seed{seed}/{run}.log"
    )
    assert P.benchmark_path("pretrain_teacher", P.SSL) == (
        "results/benchmarks/pretrain_teacher/ssl/{dataset}/{kind}_n{n}_s{ps}.tsv"
    )
    assert P.TEACHER_WEIGHTS.format(dataset="d", budget="5pct", seed=0, teacher="t") == (
        P.RUN_WEIGHTS.format(dataset="d", budget="5pct", seed=0, run="teachers/t")
    )
    assert P.teacher_ssl_weights("d", "distinctive_n2_s1") == "results/ssl/d/distinctive_n2_s1.pt"
    with pytest.raises(ValueError, match=r"n<2\|4>"):
        P.parse_teacher("invariant_n3_s0")


def test_no_path_literal_outside_paths_module():
    """results/ paths and id regexes are written once, in paths.py."""
    files = [*(ROOT / "rules").glob("*.smk"), ROOT / "Snakefile"]
    files += [f for f in (ROOT / "timebalance/workflow").glob("*.py") if f.name != "paths.py"]
    for file in files:
        lines = file.read_text().splitlines()
        text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
        for literal in ("results/", "{R}/", "_n[24]", "invariant|distinctive"):
            assert literal not in text, f"{file.relative_to(ROOT)} writes {literal!r}"
