# The papers' figures as analogues (PNG and PDF under results/figures/), each from files the
# DAG already writes; the PNGs go into the HTML report (snakemake --report).


rule fig_teachers:
    input:
        unpack(bind(F.fig_teacher_inputs)),
    output:
        png=report(
            P.FIG_TEACHERS["png"],
            caption="report/fig1_teachers.rst",
            category="Figures",
            subcategory="{dataset} {budget}",
            labels={"figure": "Fig. 1: teachers per class"},
        ),
        pdf=P.FIG_TEACHERS["pdf"],
    log:
        P.log_path("fig_teachers", P.FIG_TEACHERS["png"]),
    benchmark:
        P.benchmark_path("fig_teachers", P.FIG_TEACHERS["png"])
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        catalogue=bind(F.claims_catalogue),
        code=code("fig_teachers"),
    script:
        "../workflow_scripts/fig_teachers.py"


rule fig_init:
    input:
        unpack(bind(F.fig_init_results)),
    output:
        png=report(
            P.FIG_INIT["png"],
            caption="report/fig5_init.rst",
            category="Figures",
            subcategory="{dataset} {budget}",
            labels={"figure": "Fig. 5: student initialisation"},
        ),
        pdf=P.FIG_INIT["pdf"],
    log:
        P.log_path("fig_init", P.FIG_INIT["png"]),
    benchmark:
        P.benchmark_path("fig_init", P.FIG_INIT["png"])
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        results=bind(F.fig_init_results),
        code=code("fig_init"),
    script:
        "../workflow_scripts/fig_init.py"


rule fig_similarity:
    input:
        unpack(bind(F.fig_similarity_inputs)),
    output:
        png=report(
            P.FIG_SIMILARITY["png"],
            caption="report/fig4_similarity.rst",
            category="Figures",
            subcategory="{dataset}",
            labels={"figure": "Fig. 4: temporal similarity"},
        ),
        pdf=P.FIG_SIMILARITY["pdf"],
    log:
        P.log_path("fig_similarity", P.FIG_SIMILARITY["png"]),
    benchmark:
        P.benchmark_path("fig_similarity", P.FIG_SIMILARITY["png"])
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=bind(F.score_settings),
        frames_root=bind(F.frames_root),
        runtime=bind(F.device_params),
        code=code("fig_similarity"),
    script:
        "../workflow_scripts/fig_similarity.py"


rule fig_scores:
    input:
        unpack(bind(F.fig_scores_inputs)),
    output:
        png=report(
            P.FIG_SCORES["png"],
            caption="report/score_distribution.rst",
            category="Figures",
            subcategory="{dataset}",
            labels={"figure": "distribution of s"},
        ),
        pdf=P.FIG_SCORES["pdf"],
    log:
        P.log_path("fig_scores", P.FIG_SCORES["png"]),
    benchmark:
        P.benchmark_path("fig_scores", P.FIG_SCORES["png"])
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        catalogue=bind(F.claims_catalogue),
        code=code("fig_scores"),
    script:
        "../workflow_scripts/fig_scores.py"


# Learning curves of a cell's stage (finetune: the default teachers; student: the
# TimeBalance student), every seed, from the metrics files the training jobs write.
rule learning_curves:
    input:
        runs=bind(F.curve_weights, F.cell_curve_runs),
    output:
        png=report(
            P.FIG_CURVES["png"],
            caption="report/learning_curves.rst",
            category="Learning curves",
            subcategory="{dataset} {budget}",
            labels={"stage": "{stage}"},
        ),
        pdf=P.FIG_CURVES["pdf"],
    log:
        P.log_path("learning_curves", P.FIG_CURVES["png"]),
    benchmark:
        P.benchmark_path("learning_curves", P.FIG_CURVES["png"])
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        metrics=bind(F.curve_metrics, F.cell_curve_runs),
        title=bind(F.curve_title),
        code=code("learning_curves"),
    script:
        "../workflow_scripts/learning_curves.py"


# The training of a method (ACL + MTL, a variant, FixMatch) in a cell: reliability gamma,
# pseudo-labels and each loss term of 004's eq. 20 per epoch, every seed.
rule fig_method_training:
    input:
        runs=bind(F.method_training_runs),
    output:
        png=report(
            P.FIG_METHOD_TRAINING["png"],
            caption="report/method_training.rst",
            category="Learning curves",
            subcategory="{dataset} {budget}",
            labels={"stage": "{method}"},
        ),
        pdf=P.FIG_METHOD_TRAINING["pdf"],
    log:
        P.log_path("fig_method_training", P.FIG_METHOD_TRAINING["png"]),
    benchmark:
        P.benchmark_path("fig_method_training", P.FIG_METHOD_TRAINING["png"])
    wildcard_constraints:
        method=F.method_grammar(config),
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        metrics=bind(F.method_training_metrics),
        title=bind(F.method_training_title),
        code=code("fig_method_training"),
    script:
        "../workflow_scripts/fig_method_training.py"


use rule learning_curves as learning_curves_pretrain with:
    input:
        runs=bind(F.curve_weights, F.pretrain_curve_runs),
    output:
        png=report(
            P.FIG_PRETRAIN_CURVES["png"],
            caption="report/learning_curves.rst",
            category="Learning curves",
            subcategory="{dataset}",
            labels={"stage": "pretrain"},
        ),
        pdf=P.FIG_PRETRAIN_CURVES["pdf"],
    log:
        P.log_path("learning_curves", P.FIG_PRETRAIN_CURVES["png"]),
    benchmark:
        P.benchmark_path("learning_curves", P.FIG_PRETRAIN_CURVES["png"])
    params:
        metrics=bind(F.curve_metrics, F.pretrain_curve_runs),
        title=bind(F.curve_title),
        code=code("learning_curves"),
