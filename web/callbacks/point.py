"""Design point page: evaluate one point as ``archsim run`` does, and show its roofline, totals and ops."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, callback, dcc, html, no_update

from web import services
from web.callbacks.common import (
    point_inputs,
    query_store,
    register_upload_check,
    register_url_sync,
    upload_states,
    values_of,
)
from web.components import (
    HW_UPLOAD_STORE,
    MODEL_UPLOAD_STORE,
    card,
    cid,
    empty_figure,
    error_box,
    fmt_num,
    fmt_time,
    note_box,
)
from web.figures import latency_breakdown_figure, memory_figure, roofline_figure
from web.state import UPLOADED

P = "point"
ERROR, TOTALS, WARNINGS, FIGURE, OPS, VIEW = (cid(P, n) for n in ("error", "totals", "warnings", "figure", "ops",
                                                                   "view"))
SIM_LINK, CSV_BUTTON, CSV_DOWNLOAD = cid(P, "sim-link"), cid(P, "csv"), cid(P, "csv-download")
VIEWS = {"roofline": "Roofline", "breakdown": "Latency breakdown", "memory": "Memory"}

OP_COLUMNS = [
    {"field": "name", "headerName": "op", "filter": True, "width": 170},
    {"field": "kind", "headerName": "kind", "filter": True},
    {"field": "repeat", "headerName": "repeat", "format": ","},
    {"field": "gflop", "headerName": "GFLOP (total)", "format": ",.4g"},
    {"field": "mb", "headerName": "MB (total)", "format": ",.4g"},
    {"field": "intensity", "headerName": "OP/B", "format": ",.4g"},
    {"field": "bound", "headerName": "bound"},
    {"field": "peak_dtype", "headerName": "peak"},
    {"field": "kernel", "headerName": "kernel"},
    {"field": "time_us", "headerName": "time/instance (us)", "format": ",.4g"},
    {"field": "total_us", "headerName": "time x repeat (us)", "format": ",.4g"},
    {"field": "share", "headerName": "% of latency", "format": ".1f"},
]


def totals_cards(t: dict[str, Any]) -> html.Div:
    """Cards of the headline numbers (``services.totals``)."""
    mem, cap = t["memory_bytes"], t["capacity_bytes"]
    share = mem / cap * 100 if cap else float("nan")
    roof = t.get("roofline_latency_s")
    return html.Div([
        card("latency", fmt_time(t["latency_s"]), cid(P, "total-latency"),
             f"roofline bound {fmt_time(roof)}" if roof is not None else f"{t['phase']} step"),
        card("tokens/s", fmt_num(t["tokens_per_s"]), cid(P, "total-tps")),
        card("J/token", fmt_num(t["energy_per_token_j"], ".4g"), cid(P, "total-jpt")),
        card("tokens/$", fmt_num(t["tokens_per_usd"], ".4g"), cid(P, "total-tpusd")),
        card("memory / capacity", f"{mem / 1e9:,.2f} / {cap / 1e9:,.0f} GB", cid(P, "total-mem"),
             f"{share:.0f}% — {'fits' if t['fits_memory'] else 'does not fit'}",
             "" if t["fits_memory"] else "card-bad"),
        card("mapper · engine", f"{t['mapper']} · {t['engine']}", cid(P, "total-mapper"),
             f"{t['model']} on {t['hardware']}"),
    ], className="cards")


def figure_for(view: str, result: Any, point: services.Point) -> Any:
    if view == "breakdown":
        return latency_breakdown_figure([result])
    if view == "memory":
        return memory_figure([result])
    return roofline_figure([result], {point.hardware.id: point.hardware})


@callback(
    Output(ERROR, "children"), Output(TOTALS, "children"), Output(WARNINGS, "children"), Output(FIGURE, "figure"),
    Output(OPS, "rowData"), Output(query_store(P), "data"), Output(SIM_LINK, "href"),
    *point_inputs(P), Input(VIEW, "value"), *upload_states(Input),
)
def update_point(model: Any, hw: Any, phase: Any, batch: Any, seq: Any, w_bits: Any, a_bits: Any, kv_bits: Any,
                 sparsity: Any, mapper: Any, engine: Any, view: str, model_upload: Any, hw_upload: Any) -> tuple:
    """Validate the controls with the CLI's request model, evaluate, and render the page's outputs:
    (error, totals, warnings, figure of the chosen ``view``, op rows, URL query, simulation link)."""
    values = values_of((model, hw, phase, batch, seq, w_bits, a_bits, kv_bits, sparsity, mapper, engine))
    try:
        point = services.validate_point(values, model_upload, hw_upload)
        result = services.evaluate_point(point)
        fig = figure_for(view, result, point)
    except Exception as exc:  # noqa: BLE001 - every failure becomes an inline sentence
        return (error_box(services.user_message(exc, "this design point")), None, None,
                empty_figure("fix the input above to see the chart"), [], no_update, no_update)
    warnings = note_box(html.Ul([html.Li(w) for w in result.warnings]), "warn") if result.warnings else None
    query = point.query
    return (None, totals_cards(services.totals(result)), warnings, fig, services.op_table(result), query,
            "/sim" + query)


@callback(
    Output(CSV_DOWNLOAD, "data"), Output(ERROR, "children", allow_duplicate=True),
    Input(CSV_BUTTON, "n_clicks"), *point_inputs(P, State), *upload_states(State),
    prevent_initial_call=True,
)
def download_csv(n_clicks: Any, *args: Any) -> tuple:
    """The per-op CSV of ``archsim run --format csv`` for the current point."""
    values = values_of(args[:-2])
    try:
        point = services.validate_point(values, args[-2], args[-1])
        result = services.evaluate_point(point)
    except Exception as exc:  # noqa: BLE001
        return no_update, error_box(services.user_message(exc, "the CSV download"))
    name = f"{result.model}_{result.hardware}_{result.phase}_ops.csv".replace("/", "_")
    return dcc.send_string(services.op_csv(result), name), no_update


def _upload(kind: str, raw: Any) -> tuple:
    parse = services.parse_model_upload if kind == "model" else services.parse_hw_upload
    raw = raw if isinstance(raw, dict) else {}
    try:
        data = parse(raw.get("contents"), raw.get("filename"), too_large=bool(raw.get("too_large")),
                     size=raw.get("size"))
    except Exception as exc:  # noqa: BLE001
        return no_update, error_box(services.user_message(exc, f"the {kind} upload")), no_update
    what = "model" if kind == "model" else "hardware"
    msg = note_box(f"using uploaded {what} '{data['name']}' from {data['filename']}", "ok")
    return data, msg, UPLOADED


@callback(
    Output(MODEL_UPLOAD_STORE, "data"), Output(cid(P, "model-upload-msg"), "children"),
    Output(cid(P, "model"), "value"),
    Input(cid(P, "model-upload-raw"), "data"), prevent_initial_call=True,
)
def model_upload(raw: Any) -> tuple:
    """Validate an uploaded config.json (``ModelConfig.from_hf``); on success select it."""
    return _upload("model", raw)


@callback(
    Output(HW_UPLOAD_STORE, "data"), Output(cid(P, "hw-upload-msg"), "children"), Output(cid(P, "hw"), "value"),
    Input(cid(P, "hw-upload-raw"), "data"), prevent_initial_call=True,
)
def hw_upload(raw: Any) -> tuple:
    """Validate an uploaded hardware YAML (``parse_hardware``); on success select it."""
    return _upload("hw", raw)


register_upload_check(P, "model")
register_upload_check(P, "hw")
register_url_sync(P)
