"""The HTML report (`snakemake --report`) of the finished demo, opened in headless Chromium:
the page loads without console errors, a table and a figure are shown, and screenshots of
both are kept as test artefacts (directory $TIMEBALANCE_TEST_ARTEFACTS, default
results/test-artefacts/).

Chromium is Debian's `chromium` package; the test installs it when it runs as root with
apt-get, and otherwise skips with the reason (under CI=true it fails instead). The browser is
driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`), so console messages
carry their level and no extra Python package is needed.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.workflow.conftest import ROOT, run_snakemake

pytestmark = pytest.mark.slow

ARTEFACTS = Path(os.environ.get("TIMEBALANCE_TEST_ARTEFACTS", ROOT / "results" / "test-artefacts"))
WINDOW = (1400, 1000)


def chromium_binary() -> str:
    """The Chromium executable, installed from Debian when we are root; else skip (fail
    under CI=true) with the reason."""
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        start = time.monotonic()
        steps = (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"])
        for cmd in steps:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                reason = f"`{' '.join(cmd)}` failed: {(proc.stderr or proc.stdout)[-500:]}"
                break
        else:
            if found := shutil.which("chromium"):
                print(f"installed Debian's chromium in {time.monotonic() - start:.0f} s")
                return found
            reason = "apt-get installed chromium but no `chromium` executable is on PATH"
    else:
        reason = (
            "Chromium is not installed and this is not a root Debian machine: install it "
            "(e.g. `sudo apt-get install chromium`) to check the HTML report in a browser"
        )
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    warnings.warn(f"HTML report not checked in a browser: {reason}", stacklevel=1)
    pytest.skip(reason)


class Chromium:
    """Headless Chromium over the DevTools protocol on a pipe: it reads JSON commands on fd 3
    and writes replies and events on fd 4, each message ending with a NUL byte."""

    def __init__(self, binary: str, *, size: tuple[int, int] = WINDOW) -> None:
        to_chrome, self._out = os.pipe()
        self._in, from_chrome = os.pipe()

        def wire() -> None:  # in the child: the two pipe ends become fds 3 and 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome, from_chrome)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        cmd = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-pipe",
            f"--window-size={size[0]},{size[1]}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=wire,
            close_fds=False,
        )
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer = b""
        self._last_id = 0
        self.session: str | None = None
        self.events: list[dict] = []

    def _read(self, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from Chromium")
            if select.select([self._in], [], [], left)[0]:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium exited: {self.proc.stderr.read()[-2000:]!r}")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, *, browser: bool = False) -> dict:
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params or {}}
        if self.session and not browser:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read(60)
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"}, browser=True)
        attached = self.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, browser=True
        )
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Page.navigate", {"url": url})
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._read(60))

    def evaluate(self, expression: str):
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def settle(self, ms: int = 500) -> None:
        self.evaluate(f"new Promise(done => setTimeout(done, {ms}))")

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data

    def console_errors(self) -> list[str]:
        """Uncaught exceptions, console.error/assert calls and error-level log entries."""
        out = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                out.append(details.get("exception", {}).get("description") or details["text"])
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                out.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                )
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                out.append(params["entry"]["text"])
        return out

    def close(self) -> None:
        try:
            self.call("Browser.close", browser=True)
        except (RuntimeError, TimeoutError, OSError):
            self.proc.kill()
        self.proc.wait(timeout=30)
        os.close(self._out)
        os.close(self._in)


def not_blank(png: bytes) -> float:
    """Standard deviation of the screenshot's pixel values (0 for a blank page)."""
    from matplotlib import image

    pixels = image.imread(io.BytesIO(png), format="png")
    return float(np.std(pixels[..., :3]))


# The report is a React app: a result is shown by clicking its category (and subcategory)
# in the side bar, then the eye button of its row. Each step clicks a visible element.
CLICK_TEXT = """(text => {{
  const hit = [...document.querySelectorAll('a, span, li, div')]
    .filter(el => el.textContent.trim() === text && el.offsetParent !== null).pop();
  if (!hit) return false;
  hit.click();
  return true;
}})({text})"""
CLICK_EYE = """(label => {{
  const row = [...document.querySelectorAll('tr')]
    .find(tr => tr.cells.length && tr.cells[0].textContent.trim() === label);
  const eye = row && row.querySelector('a[iconname="eye"]');
  if (!eye) return false;
  eye.click();
  return true;
}})({label})"""


def show(browser: Chromium, *steps: str) -> None:
    """Click through the side bar: category, [subcategory,] then the row labelled last."""
    *menus, label = steps
    for text in menus:
        assert browser.evaluate(CLICK_TEXT.format(text=json.dumps(text))), f"no {text!r} menu"
        browser.settle()
    assert browser.evaluate(CLICK_EYE.format(label=json.dumps(label))), f"no {label!r} row"
    browser.settle(1000)


def test_html_report_in_headless_chromium(finished_run):
    workdir, _ = finished_run
    start = time.monotonic()
    # (the target last: run_snakemake's --configfile takes every word up to the next option)
    proc = run_snakemake(workdir, "--report", "results/report.html", "demo")
    build_s = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = workdir / "results" / "report.html"
    text = report.read_text(encoding="utf-8")
    # self-contained: every script is inline and every result is a data URI
    assert "<script src=" not in text and 'href="http' not in text
    for name in (
        "table1.html",
        "fig1_teachers.png",
        "fig4_similarity.png",
        "run_times.html",
        "config.html",
    ):
        assert name in text, f"{name} is not in the report"

    browser = Chromium(chromium_binary())
    try:
        browser.open(report.as_uri())
        browser.settle(1500)
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        home = browser.screenshot(ARTEFACTS / "report-home.png")
        assert not_blank(home) > 0.02

        # a table: the Tables category, table1's eye button; the table shows in a frame
        show(browser, "Tables", "table1")
        frame = browser.evaluate(
            "(() => { const f = document.querySelector('iframe');"
            " return f ? f.getAttribute('src') : null; })()"
        )
        assert frame and frame.startswith("data:text/html"), frame
        html = base64.b64decode(frame.split(",", 1)[1]).decode("utf-8")
        assert "<table>" in html and "TimeBalance (ours)" in html and "(n=1)" in html
        table_png = browser.screenshot(ARTEFACTS / "report-table.png")
        assert not_blank(table_png) > 0.02

        # a figure: back to the results menu, then the Fig. 1 analogue of the cell
        show(browser, "Results", "Figures", "synthetic 50pct", "Fig. 1: teachers per class")
        image = browser.evaluate(
            "(() => { const i = [...document.images].find(i => i.src.startsWith("
            "'data:image/png')); return i ? [i.naturalWidth, i.naturalHeight, "
            "i.getBoundingClientRect().width] : null; })()"
        )
        assert image and image[0] > 200 and image[1] > 100 and image[2] > 100, image
        figure_png = browser.screenshot(ARTEFACTS / "report-figure.png")
        assert not_blank(figure_png) > 0.02
        errors = browser.console_errors()
    finally:
        browser.close()
    assert errors == [], errors
    print(f"report built in {build_s:.1f} s; screenshots in {ARTEFACTS}")
