"""Mistakes in the config, a target or the annotation files stop the workflow at its start
(or in the index step), with a message naming the key or file and the fix, before any
training job (issue 10, finding 4)."""

from __future__ import annotations

import copy

import pytest

from tests.workflow.conftest import SCHEMA, planned_jobs, run_snakemake, tiny_config
from timebalance.data.index import AnnotationError, read_index
from timebalance.workflow import config as C


def _check(config: dict) -> dict:
    return C.validate(config, SCHEMA)


def _with(mutate) -> dict:
    config = copy.deepcopy(tiny_config())
    mutate(config)
    return config


def _budget(budget: str):
    def mutate(config: dict) -> None:
        config["datasets"]["synthetic"]["budgets"] = [budget]

    return mutate


@pytest.mark.parametrize(
    ("budget", "says"),
    [
        ("0pct", r"'0pct': the percentage must be in \(0, 100\]"),
        # 90% labeled + 10% validation: nothing left for the student's unlabeled list.
        ("90pct", r"no video is left unlabeled.*below 90pct or lower splits\.val_fraction"),
        # The tiny generated dataset has 6 training videos per class: 5 labeled + 1 val.
        ("80pct", r"has 6 training videos per class.*leaving 0 unlabeled"),
        ("abc", r"bad label budget 'abc': expected <p>pct"),
        ("5%", r"'5%' \(write \"5pct\"\)"),
    ],
)
def test_a_budget_that_cannot_be_split_stops_at_config_time(budget, says):
    with pytest.raises(C.ConfigError, match=r"config: datasets\.synthetic\.budgets\[0\]") as err:
        _check(_with(_budget(budget)))
    assert err.match(says)


def test_budgets_of_tables_and_labeled_lists_are_checked_too():
    def table(config):
        config["tables"]["grids"]["synthetic"]["table1"] = [["synthetic", "95pct"]]

    with pytest.raises(C.ConfigError, match=r"tables\.grids\.synthetic\.table1: budget 95pct"):
        _check(_with(table))

    def listing(config):
        config["splits"]["labeled_lists"] = {"synthtic_5pct": "lists/x.txt"}

    with pytest.raises(C.ConfigError, match=r"splits\.labeled_lists\.synthtic_5pct"):
        _check(_with(listing))


@pytest.mark.parametrize(
    ("variant", "says"),
    [
        (
            {"teachers": ["invariant_n4_s0", "distinctive_n4_s0"], "weighting": "single"},
            r"variants\.bad: weighting 'single' distils from one teacher.*use weighting: average",
        ),
        (
            {"teachers": ["invariant_n4_s0"], "weighting": "average"},
            r"variants\.bad: weighting 'average' mixes two teachers.*weighting: single",
        ),
        (
            {"teachers": ["invariant_n4_s0", "invariant_n4_s0"], "weighting": "average"},
            r"variants\.bad\.teachers names the same teacher twice",
        ),
        ({"teachers": [], "distill": "kl"}, r"variants\.bad: distill set, but teachers is \[\]"),
        (
            {"weighting": "average", "score_normalisation": "rank"},
            r"variants\.bad: score_normalisation 'rank'.*only weighting: tstr",
        ),
    ],
)
def test_contradictory_student_variants_stop_at_config_time(variant, says):
    with pytest.raises(C.ConfigError, match=says):
        _check(_with(lambda c: c["variants"].update(bad=variant)))


def test_unknown_format_options_stop_at_config_time():
    def mutate(config):
        config["datasets"]["mine"] = {"format": "csv", "root": "/x", "options": {"fiel": "a.csv"}}

    with pytest.raises(C.ConfigError, match=r"datasets\.mine\.options: .*'fiel'.*allowed: file"):
        _check(_with(mutate))


def test_a_schema_error_names_key_value_and_allowed_values_only(tmp_path):
    config = tiny_config()
    config["variants"]["avg"]["weighting"] = "median"
    proc = run_snakemake(tmp_path, "-n", config=config)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert (
        "config: variants.avg.weighting = 'median' is not allowed (teacher mixing (default the "
        "student's: tstr)): it must be one of 'tstr', 'average', 'single'." in out
    )
    assert "Failed validating" not in out and "On instance" not in out
    assert len(out.splitlines()) < 12, out

    config = tiny_config()
    config["frames"]["shortside"] = 64
    with pytest.raises(C.ConfigError) as err:
        _check(config)
    assert str(err.value) == (
        "config: frames: unknown key(s) 'shortside'; allowed: fps, max_bad_fraction, n_shards, "
        "quality, short_side. Fix the spelling in config.yaml or --config."
    )


def test_bad_targets_stop_the_dry_run(tmp_path):
    """The budget of a requested target is checked like a configured one; a misspelt one
    gets the budget parser's message, not Snakemake's "No rule to produce"."""
    config = tiny_config()
    cases = {
        "results/synthetic_0pct/student.json": r"the percentage must be in (0, 100]",
        "results/synthetic_95pct/student.json": "no video is left unlabeled",
        "results/synthetic_abc/student.json": "bad label budget 'abc'",
    }
    for target, says in cases.items():
        proc = run_snakemake(tmp_path, "-n", target, config=config)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, target
        assert says in out, out[-2000:]
        assert "No rule to produce" not in out


def test_a_missing_root_stops_a_run_before_any_job_and_a_dry_run_warns(tmp_path):
    """A real dataset's missing root is named with its key when a target needs its index:
    a run stops while the DAG is built (no job starts); a dry run lists the jobs and warns,
    so a grid's DAG can be inspected on a machine without the data."""
    config = tiny_config()
    config["datasets"]["mine"] = {"format": "csv", "root": str(tmp_path / "nowhere")}
    says = f"config: datasets.mine.root '{tmp_path / 'nowhere'}' is not a directory"
    target = "results/mine_10pct/student.json"
    proc = run_snakemake(tmp_path, "--cores", "1", target, config=config)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert says in out, out[-2000:]
    assert not (tmp_path / "results").exists()  # nothing ran
    dry = run_snakemake(tmp_path, "-n", target, config=config)
    assert f"warning (dry run): {says}" in dry.stderr
    assert planned_jobs(dry)["index_dataset"] == 1


def test_videos_that_differ_only_in_extension_stop_the_index(tmp_path):
    (tmp_path / "index.csv").write_text(
        "path,label,subset\nrun/a.mp4,run,train\nrun/a.avi,run,train\njump/b.mp4,jump,test\n"
    )
    with pytest.raises(AnnotationError) as err:
        read_index("csv", tmp_path)
    message = str(err.value)
    assert "index.csv:3: video 'run/a.avi' and 'run/a.mp4' (listed at index.csv:2)" in message
    assert "differ only in their extension" in message


def test_seeds_as_a_single_number_on_the_command_line():
    assert C.coerce_command_line({"seeds": 3})["seeds"] == [3]
    assert C.coerce_command_line({"seeds": "3"})["seeds"] == [3]
    assert _check(_with(lambda c: c.update(seeds="2")))["seeds"] == [2]
