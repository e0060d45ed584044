"""The configuration a run used, as one HTML page for the report: the validated config (the
schema's defaults filled in), so every setting is shown, including those config.yaml omits."""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

import yaml

from timebalance import io


def render_config_page(config: Mapping, title: str = "Configuration") -> str:
    text = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=None, width=100)
    return (
        "\n".join(
            [
                "<!DOCTYPE html>",
                f'<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
                "<style>body{font-family:sans-serif;font-size:13px}pre{font-size:12px}</style>",
                "</head><body>",
                f"<h2>{html.escape(title)}</h2>",
                "<p>The validated configuration (config.yaml, command-line overrides and the "
                "schema's defaults).</p>",
                f"<pre>{html.escape(text)}</pre>",
                "</body></html>",
            ]
        )
        + "\n"
    )


def write_config_page(*, config: Mapping, out: str | Path) -> None:
    io.write_text(render_config_page(config), out)
