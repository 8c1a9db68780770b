"""RTL page: the last ``archsim rtl verify`` summary and the cached yosys cell counts, when they exist."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, callback, html

from web import services
from web.components import column_defs, error_box, note_box

P = "rtl"
RELOAD, ERROR, SUMMARY, VERIFY, SYNTH = (f"{P}-{n}" for n in ("reload", "error", "summary", "verify", "synth"))

VERIFY_COLUMNS = [
    {"field": "unit", "headerName": "unit", "filter": True, "minWidth": 150},
    {"field": "params", "headerName": "parameters", "minWidth": 220},
    {"field": "verdict", "headerName": "verdict"}, {"field": "tests", "headerName": "tests"},
    {"field": "vectors", "headerName": "vectors", "format": ","},
    {"field": "rtl_cycles", "headerName": "RTL cycles", "format": ","},
    {"field": "model_cycles", "headerName": "model cycles", "format": ","},
    {"field": "wall_s", "headerName": "wall (s)", "format": ".1f"}, {"field": "error", "headerName": "error"},
]
SYNTH_BASE = [{"field": "unit", "headerName": "unit", "filter": True, "minWidth": 150, "pinned": "left"},
              {"field": "target", "headerName": "target", "minWidth": 100, "pinned": "left"},
              {"field": "params", "headerName": "parameters", "minWidth": 200}]

NOT_AVAILABLE = "not available: run `archsim rtl verify` (it writes out/rtl_verify.json), then press Reload."
NO_SYNTH = "no synthesis results yet: run `archsim rtl synth UNIT [--target xilinx]` to count cells with yosys."


def verify_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for r in summary.get("rows", []):
        if not isinstance(r, dict):
            continue
        ok = r.get("ok")
        verdict = "pass" if ok else ("fail: cycles differ" if r.get("passed") else "fail")
        rows.append({"unit": r.get("unit", ""), "params": ", ".join(f"{k}={v}" for k, v in
                                                                    (r.get("params") or {}).items()),
                     "verdict": verdict + (" (slow set)" if r.get("slow") else ""),
                     "tests": f"{(r.get('tests') or 0) - (r.get('failed') or 0)}/{r.get('tests') or 0}",
                     "vectors": r.get("vectors"), "rtl_cycles": r.get("rtl_cycles"),
                     "model_cycles": r.get("model_cycles"), "wall_s": r.get("wall_s"), "error": r.get("error", "")})
    return rows


def synth_table(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(column definitions, rows) of the synthesis table: the summary keys become columns."""
    keys = list(dict.fromkeys(k for r in rows for k in r["summary"]))
    cols = SYNTH_BASE + [{"field": f"s_{i}", "headerName": k, "format": ",.0f"} for i, k in enumerate(keys)] + [
        {"field": "yosys_s", "headerName": "yosys (s)", "format": ".1f"}]
    data = [{**{c: r[c] for c in ("unit", "target", "params", "yosys_s")},
             **{f"s_{i}": r["summary"].get(k) for i, k in enumerate(keys)}} for r in rows]
    return cols, data


@callback(
    Output(ERROR, "children"), Output(SUMMARY, "children"), Output(VERIFY, "rowData"), Output(SYNTH, "columnDefs"),
    Output(SYNTH, "rowData"), Output(f"{P}-synth-note", "children"),
    Input(RELOAD, "n_clicks"),
)
def load_rtl(n_clicks: Any) -> tuple:
    """Read the verify summary and the synthesis cache (on load and on Reload); never invents data."""
    error = None
    try:
        summary = services.rtl_verify_summary()
    except Exception as exc:  # noqa: BLE001
        summary, error = None, error_box(services.user_message(exc, "reading the RTL summary"))
    if summary is None:
        head = note_box(NOT_AVAILABLE, "warn")
        rows: list[dict[str, Any]] = []
    else:
        verdict = "all passed" if summary.get("all_passed") else "FAILURES"
        head = note_box(html.Span([
            html.B(f"{summary.get('passed', 0)}/{summary.get('runs', 0)} runs passed ({verdict})"),
            f" — bit-exact against kernels_ref and cycle-exact against the SimPy unit models; written "
            f"{summary.get('created', '?')}, {summary.get('wall_s', 0):.1f} s, seed {summary.get('seed')}"
            f"{', slow sets included' if summary.get('include_slow') else ''} ({summary['path']}).",
        ]), "ok" if summary.get("all_passed") else "warn")
        rows = verify_rows(summary)
    try:
        synth = services.rtl_synth_counts()
    except Exception as exc:  # noqa: BLE001
        synth, error = [], error_box(services.user_message(exc, "reading the synthesis results"))
    cols, data = synth_table(synth)
    return error, head, rows, column_defs(cols), data, None if synth else note_box(NO_SYNTH, "warn")

