"""Sweeps: open a DuckDB sweep store, pan its Pareto front, click a point to open it as a design point."""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html

from web.callbacks import sweeps as cb
from web.callbacks.common import query_store
from web.components import error_box
from web.state import SWEEP_FILTERS, split

dash.register_page(__name__, path="/sweeps", name="Sweeps", title="archsim · sweeps", order=2)


def _field(label: str, control: Any) -> html.Div:
    return html.Div([html.Label(label, className="field-label"), control], className="field")


def layout(**query: Any) -> html.Div:
    start = cb.initial(query)
    v, info = start["values"], start["info"]
    metrics = cb.metric_options(info)
    names = {o["value"] for o in metrics}
    x = v["x"] if v["x"] in names or not info else "latency_s"
    y = v["y"] if v["y"] in names or not info else "tokens_per_s"
    filters = [_field(axis, dcc.Dropdown(id=cb.filter_id(axis), options=cb.filter_options(info, axis),
                                         value=split(v.get(axis)), multi=True, placeholder="all"))
               for axis in SWEEP_FILTERS]
    return html.Div([
        html.H2("Sweeps"),
        html.P("Open a sweep store written by `archsim sweep SPEC.yaml --out FILE.duckdb`. The front is each "
               "metric's natural direction (time and energy lower, throughput and tokens/$ higher).",
               className="lead"),
        html.Div([
            dcc.Input(id=cb.DB, type="text", value=v["db"], placeholder="path to a .duckdb sweep store",
                      className="text-input path-input", debounce=False),
            html.Button("Open", id=cb.OPEN, className="button"),
        ], className="row"),
        html.Div(error_box(start["error"]), id=cb.ERROR),
        html.Div([
            _field("x", dcc.Dropdown(id=cb.X, options=metrics, value=x, clearable=False)),
            _field("y", dcc.Dropdown(id=cb.Y, options=metrics, value=y, clearable=False)),
            _field("colour by", dcc.Dropdown(id=cb.COLOUR, options=cb.axis_options(info), value=v["colour"],
                                             clearable=False)),
            _field("feasible only", dcc.Checklist(id=cb.FEASIBLE, options=[{"label": "fits memory and "
                                                                             "constraints", "value": "1"}],
                                                  value=["1"] if str(v.get("feasible", "1")) == "1" else [])),
        ], className="controls"),
        html.Details([html.Summary("filters"), html.Div(filters, className="controls")], open=False,
                     className="filters"),
        html.Div(cb.summary_of(info), id=cb.SUMMARY),
        dcc.Loading(dcc.Graph(id=cb.SCATTER, config={"displaylogo": False}, style={"height": "600px"}),
                    delay_show=400),
        html.Div(id=cb.CLICK_MSG),
        dcc.Store(id=cb.INFO, data=info), dcc.Store(id=query_store(cb.P)), dcc.Store(id=f"{cb.P}-url-sync"),
    ])
