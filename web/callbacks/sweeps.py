"""Sweeps page: a DuckDB sweep store's points as a scatter of two metrics with the Pareto front; a click
opens the point on the Design point page."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, callback, html, no_update

from web import services
from web.callbacks.common import query_store, register_url_sync
from web.components import URL, empty_figure, error_box, note_box
from web.figures import sweep_figure
from web.state import SWEEP_DEFAULTS, SWEEP_FILTERS, to_query

P = "sweep"
DB, OPEN, INFO, ERROR, SUMMARY, SCATTER, CLICK_MSG, X, Y, COLOUR, FEASIBLE = (
    f"{P}-{n}" for n in ("db", "open", "info", "error", "summary", "scatter", "click-msg", "x", "y", "colour",
                         "feasible"))


def filter_id(axis: str) -> str:
    return f"{P}-filter-{axis}"


def metric_options(info: dict[str, Any] | None) -> list[dict[str, str]]:
    return [{"label": m, "value": m} for m in (info or {}).get("metrics", [])]


def axis_options(info: dict[str, Any] | None) -> list[dict[str, str]]:
    return [{"label": a, "value": a} for a in (info or {}).get("axes", [])]


def filter_options(info: dict[str, Any] | None, axis: str) -> list[dict[str, str]]:
    return [{"label": str(v), "value": str(v)} for v in (info or {}).get("values", {}).get(axis, [])]


def info_text(info: dict[str, Any]) -> Any:
    return note_box(f"{info['db']}: {info['points']:,} points, {info['ok']:,} evaluated without error.", "ok")


@callback(
    Output(INFO, "data"), Output(ERROR, "children"), Output(X, "options"), Output(Y, "options"),
    Output(COLOUR, "options"), *(Output(filter_id(a), "options") for a in SWEEP_FILTERS),
    *(Output(filter_id(a), "value") for a in SWEEP_FILTERS),
    Input(OPEN, "n_clicks"), Input(DB, "n_submit"), State(DB, "value"), prevent_initial_call=True,
)
def open_store(n_clicks: Any, n_submit: Any, db: Any) -> tuple:
    """Open another store: its metrics, axes and filter values (filters reset)."""
    n = len(SWEEP_FILTERS)
    try:
        info = services.open_sweep(db)
    except Exception as exc:  # noqa: BLE001
        return (None, error_box(services.user_message(exc, "opening the sweep store")), [], [], [],
                *([[]] * n), *([[]] * n))
    return (info, None, metric_options(info), metric_options(info), axis_options(info),
            *(filter_options(info, a) for a in SWEEP_FILTERS), *([[]] * n))


@callback(
    Output(SCATTER, "figure"), Output(SUMMARY, "children"), Output(query_store(P), "data"),
    Input(INFO, "data"), Input(X, "value"), Input(Y, "value"), Input(COLOUR, "value"), Input(FEASIBLE, "value"),
    *(Input(filter_id(a), "value") for a in SWEEP_FILTERS),
)
def update_scatter(info: Any, x: Any, y: Any, colour: Any, feasible: Any, *chosen: Any) -> tuple:
    """Scatter of ``y`` against ``x`` over the filtered points, the Pareto front drawn over them."""
    if not info:
        return empty_figure("open a sweep store to see its points"), None, no_update
    filters = {a: list(c or []) for a, c in zip(SWEEP_FILTERS, chosen, strict=True)}
    feasible_only = bool(feasible) and "1" in feasible
    try:
        view = services.sweep_view(info.get("db"), x, y, colour, filters, feasible_only)
        if view.matched == 0:
            return empty_figure("no points match these filters"), note_box("no points match these filters",
                                                                           "warn"), no_update
        fig = sweep_figure(view.x, view.y, view.on_front, x, y, view.keys, view.labels, view.colour)
    except Exception as exc:  # noqa: BLE001
        return empty_figure("fix the input above"), error_box(services.user_message(exc, "the sweep scatter")), \
            no_update
    shown = len(view.x)
    text = (f"{view.matched:,} points match, {view.front:,} on the Pareto front"
            + (f"; drawing all of the front and a fixed sample, {shown:,} points in all" if shown < view.matched
               else "") + ". Click a point to open it on the Design point page.")
    query = to_query({"db": info.get("db"), "x": x, "y": y, "colour": colour, "feasible": "1" if feasible_only
                      else "0", **{a: v for a, v in filters.items() if v}},
                     ("db", "x", "y", "colour", "feasible", *SWEEP_FILTERS))
    return fig, note_box(text), query


@callback(
    Output(URL, "href"), Output(CLICK_MSG, "children"),
    Input(SCATTER, "clickData"), State(INFO, "data"), prevent_initial_call=True,
)
def open_point(click: Any, info: Any) -> tuple:
    """Navigate to the Design point page with the clicked point's settings in the URL."""
    try:
        points = (click or {}).get("points") or []
        key = points[0].get("customdata") if points else None
        if not key or not info:
            return no_update, None
        return "/" + services.sweep_point_query(info.get("db"), key), None
    except Exception as exc:  # noqa: BLE001
        return no_update, error_box(services.user_message(exc, "opening the point"))


def initial(query: dict[str, Any]) -> dict[str, Any]:
    """The page's first state from its query string: the store opened (or why not) and the controls."""
    v = {**SWEEP_DEFAULTS, **{k: q[-1] if isinstance(q, list) else q for k, q in query.items()}}
    try:
        info, error = services.open_sweep(v["db"]), None
    except Exception as exc:  # noqa: BLE001
        info, error = None, services.user_message(exc, "opening the sweep store")
    return {"values": v, "info": info, "error": error}


def summary_of(info: dict[str, Any] | None) -> Any:
    return info_text(info) if info else html.Span()


register_url_sync(P)
