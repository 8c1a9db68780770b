"""Design point: one model x workload x hardware x mapper x engine, as ``archsim run`` evaluates it."""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html

from web.callbacks import point as cb
from web.callbacks.common import query_store
from web.components import grid, point_controls, upload_panel
from web.state import POINT_DEFAULTS, from_query

dash.register_page(__name__, path="/", name="Design point", title="archsim · design point", order=0)


def layout(**query: Any) -> html.Div:
    values = from_query(query, POINT_DEFAULTS)
    return html.Div([
        html.H2("Design point"),
        html.P("Pick a model, a workload and a device; every operator lands on the device's roofline. "
               "The address bar keeps the choice, so a view can be shared or reloaded.", className="lead"),
        html.Div([point_controls(cb.P, values), upload_panel(cb.P)], className="panel"),
        html.Div(id=cb.ERROR),
        html.Div(id=cb.TOTALS),
        html.Div(id=cb.WARNINGS),
        html.Div([dcc.Link("Simulate this point →", id=cb.SIM_LINK, href="/sim", className="action-link")],
                 className="actions"),
        dcc.Tabs(id=cb.VIEW, value="roofline", children=[dcc.Tab(label=v, value=k) for k, v in cb.VIEWS.items()]),
        dcc.Loading(dcc.Graph(id=cb.FIGURE, config={"displaylogo": False}),
                    delay_show=400),
        html.Div([html.H3("Per-operator costs"),
                  html.Button("Download CSV", id=cb.CSV_BUTTON, className="button"),
                  dcc.Download(id=cb.CSV_DOWNLOAD)], className="section-head"),
        html.P("Counts and times are totals over an operator's repeats (layers) unless marked per instance; "
               "click a column header to sort.", className="hint"),
        grid(cb.OPS, cb.OP_COLUMNS),
        dcc.Store(id=query_store(cb.P)), dcc.Store(id=f"{cb.P}-url-sync"),
    ])
