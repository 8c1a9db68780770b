"""Self-contained HTML report of one or more evaluation results (``archsim run/compare --report``).

The report is one file that opens offline: plotly.js is embedded inline exactly once (in the head),
and every chart comes from ``web.figures`` so the report and the Dash explorer draw the same
pictures. Nothing here computes a cost: numbers are read from ``Result`` and formatted.

Number formats (the tests rely on them): latency ms ``{:.3f}``, tokens/s ``{:,.1f}``, J/token and
tokens/$ ``{:.4g}``, memory and capacity GB ``{:.2f}``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from archsim.errors import InputError
from archsim.hardware import HardwareSpec, load_hardware
from archsim.result import OpCost, Result
from web.figures import (
    BYTES_PER_GB,
    BYTES_PER_MB,
    MS_PER_S,
    OPS_PER_GIGA,
    US_PER_S,
    comparison_figure,
    has_core_heatmap,
    latency_breakdown_figure,
    memory_figure,
    mesh_heatmap_figure,
    result_labels,
    roofline_figure,
)

# Chart div ids, in page order; stable so links (#roofline) and tests can address them.
CHART_IDS = ("roofline", "latency-breakdown", "memory", "comparison")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1280px;
       padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.5rem 0; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #eee; text-align: left; white-space: nowrap; }
th { background: #f5f5f5; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.fits-no { color: #b00020; font-weight: bold; }
.fits-yes { color: #1b7f3b; }
.warnings { background: #fff4e5; border-left: 4px solid #ff9800; padding: 0.5rem 1rem; }
details { margin: 0.6rem 0; }
summary { cursor: pointer; font-weight: 600; }
.meta { color: #666; font-size: 0.9rem; }
.scroll { overflow-x: auto; }
td.label { white-space: normal; min-width: 14rem; }
.chart { margin: 0.5rem 0 1.5rem; }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _num(x: float | None, fmt: str) -> str:
    """``fmt``-formatted number, or a readable word for the non-finite values a ratio can give."""
    if x is None:
        return "—"
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return format(x, fmt)


def _resolve_hardware(results: Sequence[Result], given: dict[str, HardwareSpec] | None) -> dict[str, HardwareSpec]:
    """Specs for the roofs: the caller's, then bundled presets by id.

    ``Result`` records only the hardware id, so a result from a user's YAML file (not a preset) can
    only get a roof if its spec is passed in; otherwise the chart shows its points without a roof.
    """
    specs = dict(given or {})
    for hw_id in dict.fromkeys(r.hardware for r in results):
        if hw_id not in specs:
            try:
                specs[hw_id] = load_hardware(hw_id)
            except InputError:
                pass
    return specs


def _chart(fig: go.Figure, div_id: str) -> str:
    # plotly.js is already in <head>; each chart carries only its JSON and a Plotly.newPlot call.
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, default_height="520px",
                       config={"displaylogo": False, "responsive": True})


def _summary_table(results: Sequence[Result], labels: list[str]) -> str:
    head = ("result", "hardware", "model", "phase", "batch", "seq", "mapper / engine", "latency (ms)",
            "roofline bound (ms)", "tokens/s", "J/token", "tokens/$", "memory / capacity (GB)", "fits?")
    rows = []
    for r, label in zip(results, labels, strict=True):
        fits = r.fits_memory
        cells = [
            f'<td class="label">{_e(label)}</td>', f"<td>{_e(r.hardware)}</td>", f"<td>{_e(r.model)}</td>",
            f"<td>{_e(r.phase)}</td>", f'<td class="num">{r.batch}</td>', f'<td class="num">{r.seq}</td>',
            f"<td>{_e(r.mapper)} / {_e(r.engine)}</td>",
            f'<td class="num">{_num(r.latency_s * MS_PER_S, ".3f")}</td>',
            f'<td class="num">{_num(r.extra["roofline_latency_s"] * MS_PER_S, ".3f")}</td>'
            if "roofline_latency_s" in r.extra else '<td class="num">-</td>',
            f'<td class="num">{_num(r.tokens_per_s, ",.1f")}</td>',
            f'<td class="num">{_num(r.energy_per_token_j, ".4g")}</td>',
            f'<td class="num">{_num(r.tokens_per_usd, ".4g")}</td>',
            f'<td class="num">{_num(r.memory.total_bytes / BYTES_PER_GB, ".2f")} / '
            f'{_num(r.capacity_bytes / BYTES_PER_GB, ".2f")}</td>',
            f'<td class="fits-{"yes" if fits else "no"}">{"yes" if fits else "no"}</td>',
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (f'<div class="scroll"><table class="summary"><thead><tr>{header}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _op_row(c: OpCost, latency_s: float) -> str:
    op = c.op
    share = c.total_time_s / latency_s * 100 if latency_s > 0 else math.nan
    cells = [
        f"<td>{_e(op.name)}</td>", f"<td>{_e(op.kind)}</td>", f'<td class="num">{op.repeat}</td>',
        f'<td class="num">{_num(op.flops / OPS_PER_GIGA, ".4g")}</td>',
        f'<td class="num">{_num(op.bytes / BYTES_PER_MB, ".4g")}</td>',
        f'<td class="num">{_num(op.intensity, ".4g")}</td>',
        f"<td>{_e(c.bound)}</td>", f"<td>{_e(c.peak_dtype)}</td>",
        f'<td class="num">{_num(c.time_s * US_PER_S, ".4g")}</td>',
        f'<td class="num">{_num(c.total_time_s * US_PER_S, ".4g")}</td>',
        f'<td class="num">{_num(share, ".1f")}</td>',
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def _op_details(r: Result, label: str) -> str:
    head = ("name", "kind", "repeat", "GFLOPs", "MB", "intensity (OP/B)", "bound", "peak dtype", "time (us)",
            "time x repeat (us)", "% of latency")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    rows = "".join(_op_row(c, r.latency_s) for c in r.ops)
    sparsity = r.sparsity or "dense"
    facts = (f"{r.model}, batch {r.batch}, seq {r.seq}{f', gen {r.gen}' if r.gen else ''}, "
             f"W{r.w_bits}A{r.a_bits}KV{r.kv_bits}, {sparsity}, engine {r.engine}, mapper {r.mapper}, "
             f"compat {r.compat}")
    extra = ""
    if r.extra:
        items = ", ".join(f"{_e(k)} = {_e(_num(v, '.4g') if isinstance(v, float) else v)}"
                          for k, v in r.extra.items())
        extra = f'<p class="meta">{items}</p>'
    return (f"<details><summary>{_e(label)} — {len(r.ops)} ops</summary>"
            f'<p class="meta">{_e(facts)}. GFLOPs, MB and time are per instance; an op runs '
            f"<em>repeat</em> times per step.</p>{extra}"
            f'<div class="scroll"><table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table></div>'
            "</details>")


def _warnings(results: Sequence[Result], labels: list[str]) -> str:
    items = [f"<li><b>{_e(label)}</b>: {_e(w)}</li>"
             for r, label in zip(results, labels, strict=True) for w in r.warnings]
    if not items:
        return ""
    return f'<section class="warnings"><h2>Warnings</h2><ul>{"".join(items)}</ul></section>'


def render_report(results: Sequence[Result], title: str,
                  hardware: dict[str, HardwareSpec] | None = None) -> str:
    """The report as one HTML string (see ``write_report``)."""
    if not results:
        raise ValueError("write_report needs at least one result.")
    results = list(results)
    labels = result_labels(results)
    specs = _resolve_hardware(results, hardware)
    figures = (
        ("Roofline", roofline_figure(results, specs)),
        ("Latency breakdown", latency_breakdown_figure(results)),
        ("Memory", memory_figure(results)),
        ("Comparison", comparison_figure(results)),
    )
    charts = "".join(f'<h2>{_e(name)}</h2><div class="chart">{_chart(fig, div_id)}</div>'
                     for (name, fig), div_id in zip(figures, CHART_IDS, strict=True))
    if any(has_core_heatmap(r) for r in results):
        charts += (f'<h2>Mesh cores</h2><div class="chart">'
                   f'{_chart(mesh_heatmap_figure(results), "mesh-heatmap")}</div>')
    details = "".join(_op_details(r, label) for r, label in zip(results, labels, strict=True))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n"
        # Same preamble plotly's own inline export writes, so MathJax (if present) is not fetched.
        "<script type=\"text/javascript\">window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script>\n'
        "</head>\n<body>\n"
        f"<h1>{_e(title)}</h1>\n"
        f'<p class="meta">archsim report: {len(results)} result{"s" if len(results) != 1 else ""}.</p>\n'
        f"{_warnings(results, labels)}\n"
        f"<h2>Summary</h2>\n{_summary_table(results, labels)}\n"
        f"{charts}\n"
        f"<h2>Per-operator detail</h2>\n{details}\n"
        "</body>\n</html>\n"
    )


def write_report(results: Sequence[Result], path: str | Path, title: str, *,
                 hardware: dict[str, HardwareSpec] | None = None) -> Path:
    """Write a self-contained HTML report of ``results`` to ``path`` and return the path.

    Contents: the title, warnings of every result, a summary table (hardware, model, phase, batch,
    seq, latency ms, tokens/s, J/token, tokens/$, memory vs capacity GB, fits?), the four charts of
    ``web.figures`` (div ids ``CHART_IDS``), and per result a collapsible per-op table. plotly.js
    is inlined once, so the file opens without a network. Parent directories are created. Roofs
    use ``hardware`` (keyed by id) where given, else the bundled preset of that id. Raises
    ``ValueError`` for an empty ``results``.
    """
    out = Path(path)
    text = render_report(results, title, hardware)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
