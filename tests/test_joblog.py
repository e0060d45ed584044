"""A rule's log keeps every attempt: Snakemake deletes the declared log before a retry, so
the earlier attempts come back from `<log>.attempts`; a job that ends well drops it."""

import ast
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from timebalance.joblog import SUFFIX

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys, time
from types import SimpleNamespace
from timebalance.joblog import open_rule_log
out = sys.argv[1] + ".out"
open_rule_log(SimpleNamespace(log=[sys.argv[1]], rule="toy", output=[out]))
print("working on", sys.argv[2], file=sys.stderr)
if sys.argv[2] == "hang":
    time.sleep(60)
if sys.argv[2] == "fail":
    raise RuntimeError("the second attempt fails")
if sys.argv[2] == "exit":  # an error status without a traceback
    sys.exit(2)
open(out, "w").write("ok")
print("done", file=sys.stderr)
"""


def _attempt(tmp_path: Path, log: Path, what: str, *, kill: bool = False) -> int:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    log.unlink(missing_ok=True)  # what Snakemake does before every attempt
    Path(f"{log}.out").unlink(missing_ok=True)  # and to the outputs
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(script), str(log), what]
    if not kill:
        return subprocess.run(cmd, env=env, capture_output=True).returncode
    proc = subprocess.Popen(cmd, env=env)
    while "working on hang" not in (log.read_text() if log.exists() else ""):
        assert proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    return proc.wait()


def test_attempts_accumulate_until_one_ends_well(tmp_path):
    log = tmp_path / "logs" / "job.log"
    side = log.with_name(log.name + SUFFIX)
    assert _attempt(tmp_path, log, "hang", kill=True) == -signal.SIGKILL
    assert _attempt(tmp_path, log, "fail") == 1
    assert _attempt(tmp_path, log, "exit") == 2
    assert side.exists()
    assert _attempt(tmp_path, log, "ok") == 0
    text = log.read_text()
    headers = [line for line in text.splitlines() if line.startswith("===")]
    assert [h.split(":")[0] for h in headers] == [f"=== attempt {k} of toy" for k in (1, 2, 3, 4)]
    assert all(" on " in h and "UTC" in h and "pid" in h for h in headers)
    order = [
        "working on hang",
        "working on fail",
        "the second attempt fails",
        "working on exit",
        "working on ok",
        "done",
    ]
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)
    assert not side.exists(), "a finished job keeps its attempt history"
    # the next run of the job (e.g. after a code change) starts a new history
    assert _attempt(tmp_path, log, "ok") == 0
    assert "working on hang" not in log.read_text()
    assert log.read_text().startswith("=== attempt 1 of toy")


def test_snakemake_retry_keeps_the_failed_attempt(tmp_path):
    """With Snakemake itself: the rule fails on its first attempt and is retried."""
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            """
            rule job:
                output: "out.txt"
                log: "logs/job.log"
                script: "job.py"
            """
        )
    )
    (tmp_path / "job.py").write_text(
        textwrap.dedent(
            """
            import sys
            from pathlib import Path
            from timebalance.joblog import open_rule_log
            open_rule_log(snakemake)
            marker = Path("failed_once")
            if not marker.exists():
                marker.touch()
                print("first attempt: failing", file=sys.stderr)
                raise SystemExit(3)
            print("second attempt: fine", file=sys.stderr)
            Path(snakemake.output[0]).write_text("ok")
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--retries", "1", "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    text = (tmp_path / "logs" / "job.log").read_text()
    assert "first attempt: failing" in text and "second attempt: fine" in text
    assert "=== attempt 2 of job" in text


def test_every_rule_script_opens_its_log_first():
    """Each script sends stderr to its log (every attempt) before it imports anything that
    could fail or log."""
    for script in sorted((ROOT / "workflow_scripts").glob("*.py")):
        body = ast.parse(script.read_text()).body
        statements = [ast.unparse(n) for n in body[1:3]]  # after the docstring
        assert statements == [
            "from timebalance.joblog import open_rule_log",
            "open_rule_log(snakemake)",
        ], script.name
