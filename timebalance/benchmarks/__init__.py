"""Speed benchmarks (scripts, not tests): our loader, frame extraction and student step against
their references, the workflow's DAG overhead and the demo's stages.

Run ``python -m timebalance.benchmarks.run [--quick] [--only ...] --out results/benchmarks/
<name>.json``; it prints a table and writes every measured time, ratio and the machine it ran
on. One module per figure: loader, extraction, student_step, dag, demo_stages; timing holds
the shared measuring loop, inputs the generated videos.
"""
