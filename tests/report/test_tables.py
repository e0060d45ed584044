"""Result tables: required inputs, rendering (Markdown, CSV, LaTeX), atomic writes, loading,
and the transcription of the paper's numbers."""

from __future__ import annotations

import builtins
import io
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from timebalance.report import (
    PAPER,
    TABLES,
    RowSpec,
    TableSpec,
    load_results,
    paper_number,
    paper_rows,
    render_table,
    required_results,
    tex_escape,
    write_table,
)
from timebalance.report.paper_numbers import TABLE1_CELLS, TABLE1_ROWS

REPO = Path(__file__).resolve().parents[2]
U5, U20 = ("ucf101", "5pct"), ("ucf101", "20pct")

EXPECTED_KEYS = {
    "table1": ["variants/scratch_sup", "variants/sup_sslinit", "student"],
    "table2": [
        "variants/sup_sslinit",
        "teacher_invariant",
        "teacher_distinctive",
        "variants/inv_only",
        "variants/dist_only",
        "variants/avg",
        "student",
    ],
    "table3": [
        "variants/scratch_sup",
        "variants/scratch_inv",
        "variants/scratch_dist",
        "variants/scratch_avg",
        "variants/scratch_tstr",
    ],
    "table4": [
        "variants/inv1_inv2",
        "variants/dist1_dist2",
        "variants/avg",
        "variants/inv1_dist2",
    ],
    "table5": [
        "teacher_invariant",
        "teachers/invariant_n2",
        "teacher_distinctive",
        "teachers/distinctive_n2",
    ],
    "table6": ["student", "variants/kl", "variants/js"],
    "table7": ["variants/scratch_tstr"],
    "fig5_init": [
        "student",
        "variants/init_invariant",
        "variants/init_distinctive",
        "variants/scratch_tstr",
    ],
    "methods": ["variants/scratch_sup", "student", "methods/fixmatch", "methods/acl_mtl"],
    "methods_ablation": [
        "methods/fixmatch",
        "methods/acl_only",
        "methods/mtl_only",
        "methods/acl_mtl",
        "methods/acl_mtl_eps3",
        "methods/acl_mtl_eps5",
        "methods/acl_mtl_eps9",
        "methods/acl_mtl_anyconf",
        "methods/acl_mtl_long16",
        "methods/acl_mtl_long32",
    ],
}


def result(mean, std=1.2, n=3, *, backbone="tiny", schedule="demo", metric="top1", config=True):
    """A fake aggregated result in the format of report/aggregate.py."""
    out = {
        "seeds": list(range(n)),
        metric: {"mean": mean, "std": std if n > 1 else 0.0, "per_seed": [mean] * n},
        "n_test_videos": 100,
    }
    if config:
        out["config"] = {"backbone": backbone, "schedule": schedule}
    return out


def fake_results(name, cells, **kw):
    """Distinct means: 10.404 + 10 * (position in required_results), so each is traceable."""
    keys = required_results(name, cells)
    return {k: result(10.0 + 10 * i + 0.404, **kw) for i, k in enumerate(keys)}


def md_row(md: str, label: str) -> list[str]:
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == label:
            return cells[1:]
    raise AssertionError(f"row {label!r} not in table:\n{md}")


# ---------------------------------------------------------------- required_results


def test_every_table_has_expected_keys():
    assert set(TABLES) == set(EXPECTED_KEYS)


@pytest.mark.parametrize("name", sorted(EXPECTED_KEYS))
def test_required_results_per_table(name):
    cells = [["ucf101", "5pct"], ["hmdb51", "40pct"]]  # lists, as YAML gives them
    got = required_results(name, cells)
    expected = [(ds, b, k) for k in EXPECTED_KEYS[name] for ds, b in map(tuple, cells)]
    assert got == expected


def test_required_results_keys_match_workflow_wildcards_and_config():
    # The key regex of rules/common.smk and the variants configured in config.yaml.
    key_re = re.compile(
        r"student|teacher_(invariant|distinctive)|teachers/(invariant|distinctive)_n[0-9]+"
        r"(_s[0-9]+)?|variants/[a-z0-9_]+|methods/[a-z0-9_]+"
    )
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    methods = {"fixmatch", "acl_mtl", *config["methods"]["variants"]}
    for name in TABLES:
        for _ds, _b, key in required_results(name, [U5]):
            assert key_re.fullmatch(key), key
            if key.startswith("variants/"):
                assert key.split("/", 1)[1] in config["variants"], key
            if key.startswith("methods/"):
                assert key.split("/", 1)[1] in methods, key
    for grid in config["tables"]["grids"].values():
        assert set(grid) <= set(TABLES)


def test_required_results_does_no_io(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("required_results must not touch files")

    monkeypatch.setattr(builtins, "open", forbidden)
    monkeypatch.setattr(Path, "exists", forbidden)
    for name in TABLES:
        assert required_results(name, [U5, U20])


def test_unknown_table_lists_names():
    with pytest.raises(ValueError, match="unknown table 'table9'") as err:
        required_results("table9", [U5])
    assert all(name in str(err.value) for name in TABLES)
    with pytest.raises(ValueError, match="unknown table"):
        render_table("nope", [U5], {})


def test_bad_cells_are_rejected():
    with pytest.raises(ValueError, match="listed twice"):
        required_results("table2", [U5, U5])
    with pytest.raises(ValueError, match="pair of strings"):
        required_results("table2", [("ucf101", "5pct", "x")])
    with pytest.raises(ValueError, match="at least one"):
        required_results("table2", [])


# ---------------------------------------------------------------- rendering


def test_table2_numbers_land_beside_the_right_rows():
    cells = [U5, U20]
    results = fake_results("table2", cells)
    results["ucf101", "5pct", "student"] = result(53.404, 1.196)
    md = render_table("table2", cells, results)["md"]
    g = md_row(md, "(g) f_S + f_I + f_D, reweighted (TimeBalance)")
    assert g[:2] == ["53.40 ± 1.20 (n=3)", "53.48"]
    assert g[3] == "83.26"
    a = md_row(md, "(a) f_S: SSL init, labels only")
    assert a == ["10.40 ± 1.20 (n=3)", "48.66", "20.40 ± 1.20 (n=3)", "79.70"]
    assert md_row(md, "(c) f_D: distinctive teacher")[1] == "44.08"
    assert "| Method | UCF101 5% ours | UCF101 5% paper | UCF101 20% ours |" in md
    assert md.startswith("## Table 2 analogue")
    assert "(3 here)" in md and "top-1 accuracy" in md


def test_single_seed_and_mixed_seed_counts():
    cells = [U5, U20]
    results = fake_results("table6", cells)
    results["ucf101", "5pct", "variants/kl"] = result(52.0, n=1)
    results["ucf101", "20pct", "variants/kl"] = result(70.0, 0.5, n=2)
    out = render_table("table6", cells, results)
    kl = md_row(out["md"], "KL divergence")
    assert kl[0] == "52.00 (n=1)" and "±" not in kl[0]
    assert kl[2] == "70.00 ± 0.50 (n=2)"
    assert md_row(out["md"], "L2 (default)")[0] == "10.40 ± 1.20 (n=3)"
    frame = pd.read_csv(io.StringIO(out["csv"]))
    one = frame[(frame.row == "KL divergence") & (frame.budget == "5pct")].iloc[0]
    assert one.n_seeds == 1 and pd.isna(one["std"])  # std of one seed is undefined, not 0


def test_csv_long_format():
    cells = [U5, U20, ("hmdb51", "40pct")]
    results = fake_results("table7", cells)
    out = render_table("table7", cells, results)
    frame = pd.read_csv(io.StringIO(out["csv"]))
    assert list(frame.columns) == [
        "table", "row", "dataset", "budget", "metric", "mean", "std", "n_seeds", "paper", "status",
    ]  # fmt: skip
    assert len(frame) == len(TABLES["table7"].rows) * len(cells)
    assert set(frame.table) == {"table7"} and set(frame.metric) == {"top1"}
    ours = frame[(frame.row == "Ours (scratch student)") & (frame.dataset == "hmdb51")].iloc[0]
    assert ours["mean"] == pytest.approx(30.404)  # third key and ours["std"] == pytest.approx(1.2)
    assert ours.n_seeds == 3 and ours.paper == pytest.approx(52.1)  # R3D-50 default
    prior = frame[(frame.row == "Prior best methods, R3D-18") & (frame.budget == "20pct")]
    assert pd.isna(prior["mean"].iloc[0]) and prior.paper.iloc[0] == pytest.approx(76.1)
    assert prior.status.iloc[0] == "reference" and ours.status == "measured"


def test_reference_rows_show_only_paper_numbers():
    md = render_table("table1", [U5], fake_results("table1", [U5]))["md"]
    assert md_row(md, "TG-FixMatch (CVPR'21), 3D-ResNet18") == ["", "44.8"]
    assert md_row(md, "TCLR (CVIU'22), 3D-ResNet18") == ["", "–"]
    assert md_row(md, "TimeBalance (CVPR'23), 3D-ResNet50") == ["", "53.5"]


@pytest.mark.parametrize(
    ("backbone", "expected"), [("r3d18", "47.9"), ("slow_r50", "53.5"), ("tiny", "53.5")]
)
def test_table1_paper_column_follows_our_backbone(backbone, expected):
    cells = [U5, ("hmdb51", "60pct")]
    results = fake_results("table1", cells, backbone=backbone, schedule="paper")
    md = render_table("table1", cells, results)["md"]
    assert md_row(md, "TimeBalance (ours)")[1] == expected
    differs = "Setup differs from the paper" in md
    # r3d18 still differs: the paper has no 3D-ResNet18 supervised-from-scratch row.
    assert differs == (backbone != "slow_r50")


def test_setup_notes():
    cells = [U5]
    md = render_table("table3", cells, fake_results("table3", cells))["md"]
    assert "Setup differs from the paper: ours backbone tiny, schedule demo" in md
    same = fake_results("table3", cells, backbone="slow_r50", schedule="paper")
    md = render_table("table3", cells, same)["md"]
    assert "Setup differs" not in md and "do not record" not in md
    bare = fake_results("table3", cells, config=False)
    md = render_table("table3", cells, bare)["md"]
    assert "do not record config.backbone" in md
    synthetic = fake_results("table2", [("synthetic", "20pct")])
    md = render_table("table2", [("synthetic", "20pct")], synthetic)["md"]
    assert "The paper reports nothing on synthetic." in md
    assert md_row(md, "(g) f_S + f_I + f_D, reweighted (TimeBalance)")[1] == "–"


def test_other_metric_and_bad_results():
    cells = [U5]
    results = {
        k: result(60.0 + i, metric="top5") for i, k in enumerate(required_results("table6", cells))
    }
    md = render_table("table6", cells, results, metric="top5")["md"]
    assert md_row(md, "L2 (default)")[:2] == ["60.00 ± 1.20 (n=3)", "53.48"]
    assert "top-5 accuracy" in md and "reports only top-1" in md
    with pytest.raises(ValueError, match=r"no numeric top1\.mean"):
        render_table("table6", cells, results)
    with pytest.raises(ValueError, match="unknown metric"):
        render_table("table6", cells, results, metric="auc")
    with pytest.raises(ValueError, match="does not show"):
        render_table("table6", cells, {**results, ("ucf101", "1pct", "student"): result(1.0)})


def test_cells_not_run_are_marked_never_dropped():
    cells = [U5, U20]
    results = fake_results("table6", cells)
    del results["ucf101", "20pct", "variants/js"]
    out = render_table("table6", cells, results)
    js = md_row(out["md"], "JS divergence")
    assert js[0].endswith("(n=3)") and js[2] == "not run" and js[3] == "82.10"
    assert "'not run': 1 measured cell(s) have no result file yet" in out["md"]
    frame = pd.read_csv(io.StringIO(out["csv"]))
    assert len(frame) == len(TABLES["table6"].rows) * len(cells)  # the row is kept
    row = frame[(frame.row == "JS divergence") & (frame.budget == "20pct")].iloc[0]
    assert row.status == "not run" and pd.isna(row["mean"]) and pd.isna(row.n_seeds)
    assert r"JS divergence & " in out["tex"] and "not run" in out["tex"]
    assert '<td class="notrun">not run</td>' in out["html"]
    nothing = render_table("table6", cells, {})
    assert md_row(nothing["md"], "L2 (default)") == ["not run", "53.48", "not run", "83.15"]
    assert "No measured cell: paper numbers only." in nothing["md"]


def test_html_table_shows_ours_paper_and_notes():
    html = render_table("table2", [U5], fake_results("table2", [U5]))["html"]
    assert html.startswith("<!DOCTYPE html>") and html.count("<table>") == 1
    assert "<th>UCF101 5% ours</th><th>UCF101 5% paper</th>" in html
    assert '<td class="num">10.40 ± 1.20 (n=3)</td><td class="num">48.66</td>' in html
    assert "<li>Ours: top-1 accuracy (%)" in html


def test_latex_is_booktabs_and_escaped(monkeypatch):
    monkeypatch.setitem(
        TABLES,
        "tmp",
        TableSpec("A 100% title", "Caption with f_S & #1", (RowSpec("A & B_c #1 50%", "student"),)),
    )
    tex = render_table("tmp", [U5], {(*U5, "student"): result(53.4)})["tex"]
    for command in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lrr}"):
        assert command in tex
    assert r"A \& B\_c \#1 50\% & 53.40 $\pm$ 1.20 (n=3) & -- \\" in tex
    assert r"\caption{A 100\% title. Caption with f\_S \& \#1}" in tex
    assert r"\multicolumn{2}{c}{UCF101 5\%}" in tex
    body = "\n".join(line for line in tex.splitlines() if not line.startswith("%"))
    assert not re.search(r"(?<!\\)[%_#]", body)
    assert "±" not in tex and "–" not in tex


def test_tex_escape():
    assert tex_escape("a_b & 50% #1 ± {x} ~ ^ \\ –") == (
        r"a\_b \& 50\% \#1 $\pm$ \{x\} \textasciitilde{} \textasciicircum{} "
        r"\textbackslash{} --"
    )


# ---------------------------------------------------------------- files


def test_write_table_is_atomic(tmp_path, monkeypatch):
    cells = [U5, U20]
    results = fake_results("table4", cells)
    out = tmp_path / "tables"
    paths = [out / "table4.md", out / "table4.csv", out / "table4.tex"]
    write_table("table4", cells, results, *paths, out_html=out / "table4.html")
    paths.append(out / "table4.html")
    texts = render_table("table4", cells, results)
    for path, key in zip(paths, ("md", "csv", "tex", "html"), strict=True):
        assert path.read_text(encoding="utf-8") == texts[key]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_table("table4", cells, fake_results("table4", cells, schedule="x"), *paths[:3])
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
    assert paths[0].read_text(encoding="utf-8") == texts["md"]  # old file untouched


def test_load_results(tmp_path):
    good = tmp_path / "student.json"
    good.write_text(json.dumps(result(50.0)))
    key = ("ucf101", "5pct", "student")
    assert load_results({key: good})[key]["top1"]["mean"] == 50.0
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        load_results({key: tmp_path / "missing.json"})
    other = ("ucf101", "5pct", "variants/kl")
    assert list(load_results({key: good, other: tmp_path / "no.json"}, missing_ok=True)) == [key]
    bad = tmp_path / "bad.json"
    bad.write_text('{"top1": ')
    with pytest.raises(ValueError, match=r"bad.json is not valid JSON \(line 1"):
        load_results({key: bad})
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"list\.json holds a list"):
        load_results({key: listed})


# ---------------------------------------------------------------- transcription


@pytest.mark.parametrize(
    ("table", "row", "cell", "value"),
    [
        ("table1", "TimeBalance (CVPR'23), 3D-ResNet50", U5, 53.5),
        ("table1", "TimeBalance (CVPR'23), 3D-ResNet50", ("hmdb51", "60pct"), 54.5),
        ("table1", "TimeBalance (CVPR'23), 3D-ResNet18", ("kinetics400", "1pct"), 17.1),
        ("table1", "TG-FixMatch (CVPR'21), 3D-ResNet18", ("kinetics400", "10pct"), 43.8),
        ("table1", "MvPL (ICCV'21), 3D-ResNet18", ("kinetics400", "1pct"), 5.0),
        ("table1", "CMPL (CVPR'22), 3D-ResNet50", ("kinetics400", "10pct"), 58.4),
        ("table1", "FixMatch (NeurIPS'20), SlowFast-R50", ("ucf101", "1pct"), 16.1),
        ("table1", "3DRotNet (Arxiv'19), 3D-ResNet18", ("ucf101", "1pct"), 15.0),
        ("table1", "TCL (CVPR'21), TSM-ResNet18", ("kinetics400", "1pct"), 11.6),
        ("table1", "ActorCM, ImageNet weights (Arxiv'21), R(2+1)D-34", ("hmdb51", "50pct"), 39.5),
        ("table2", "(g)", U5, 53.48),
        ("table2", "(a)", U20, 79.70),
        ("table3", "(e)", U20, 83.00),
        ("table3", "(a)", U5, 25.60),
        ("table4", "(d) Inv1 + Dist2", U20, 81.43),
        ("table5", "Distinctive Teacher, n=2", U5, 39.55),
        ("table6", "JS-Divergence", ("ucf101", "50pct"), 83.94),
        ("table6", "L2", U20, 83.15),
        ("table7", "Ours (scratch student), R3D-18", ("hmdb51", "40pct"), 49.1),
        ("table7", "Ours (scratch student), R3D-50", ("kinetics400", "10pct"), 60.8),
        ("fig5_init", "TCLR", U5, 47.94),
        ("fig5_init", "VCOP", U5, 46.91),
    ],
)
def test_paper_numbers_spot_checks(table, row, cell, value):
    assert paper_number(table, row, *cell) == value


def test_table1_transcription_shape():
    assert len(TABLE1_ROWS) == 24 and len(TABLE1_CELLS) == 10
    assert all(len(r.values) == 10 for r in TABLE1_ROWS)
    assert paper_number("table1", "TCLR (CVIU'22), 3D-ResNet18", *U5) is None  # "-" in paper
    tcl = [k for k in PAPER if k[:2] == ("table1", "TCL (CVPR'21), TSM-ResNet18")]
    assert len(tcl) == 1
    assert len(paper_rows("table1")) == 24


def test_paper_numbers_agree_across_tables():
    """Numbers the paper prints twice must agree (catches transcription typos)."""
    same = [
        (("table2", "(b)"), ("table5", "Invariant Teacher, n=4"), [U5, U20]),
        (("table2", "(c)"), ("table5", "Distinctive Teacher, n=4"), [U5, U20]),
        (("table2", "(f)"), ("table4", "(c) Inv1 + Dist1"), [U5, U20]),
        (("table2", "(g)"), ("table6", "L2"), [U5]),
    ]
    for (t1, r1), (t2, r2), cells in same:
        for cell in cells:
            assert paper_number(t1, r1, *cell) == paper_number(t2, r2, *cell)
    # Supplement Table 2's "prior best" rows quote Table 1 rows.
    four = [U5, U20, ("hmdb51", "40pct"), ("hmdb51", "60pct")]
    prior = {
        "Prior best methods, R3D-18": [
            ("TG-FixMatch (CVPR'21), 3D-ResNet18", four),
            ("CMPL (CVPR'22), 3D-ResNet18", [("kinetics400", "10pct")]),
        ],
        "Prior best methods, R3D-50": [
            ("ActorCM (Arxiv'21), R(2+1)D-34", four),
            ("CMPL (CVPR'22), 3D-ResNet50", [("kinetics400", "10pct")]),
        ],
    }
    for row, sources in prior.items():
        for source, cells in sources:
            for cell in cells:
                assert paper_number("table7", row, *cell) == paper_number("table1", source, *cell)
    assert round(paper_number("table3", "(e)", *U5), 1) == paper_number(
        "table7", "Ours (scratch student), R3D-50", *U5
    )


def test_every_paper_reference_exists():
    for name, spec in TABLES.items():
        for row in spec.rows:
            assert row.result_key or row.paper, f"{name}: {row.label} shows nothing"
            for table, paper_row in row.paper.values():
                assert paper_row in paper_rows(table), f"{name}: {row.label} -> {paper_row}"


def test_partial_tables_render_what_exists(tmp_path, monkeypatch):
    from tests.workflow.conftest import tiny_config, validated
    from timebalance.report.partial_tables import main, partial_tables

    config = validated(tiny_config())
    monkeypatch.chdir(tmp_path)
    student = tmp_path / "results" / "synthetic_50pct" / "student.json"
    student.parent.mkdir(parents=True)
    student.write_text(json.dumps(result(61.0, n=1)))
    md = partial_tables(config, "synthetic")["table1"]
    assert md_row(md, "TimeBalance (ours)")[0] == "61.00 (n=1)"
    assert md_row(md, "Supervised (scratch)")[0] == "not run"
    assert "'not run': 2 measured cell(s) have no result file yet" in md
    assert not (tmp_path / "results" / "tables").exists()  # nothing written
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config()))
    assert main(["--configfile", "config.yaml"]) == 0
