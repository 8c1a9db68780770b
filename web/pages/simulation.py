"""Simulation: the SimPy engine on one design point, its timeline and (meshes) the per-core heat-map."""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html

from web.callbacks import simulation as cb
from web.callbacks.common import query_store
from web.components import empty_figure, point_controls
from web.state import SIM_DEFAULTS, from_query

dash.register_page(__name__, path="/sim", name="Simulation", title="archsim · simulation", order=3)


def layout(**query: Any) -> html.Div:
    values = from_query(query, SIM_DEFAULTS)
    return html.Div([
        html.H2("Simulation"),
        html.P("Runs the discrete-event (SimPy) engine on the point, as `archsim run --engine sim --trace` does, in "
               "a background process: the page stays responsive and the run can be cancelled. Large meshes "
               "take seconds.", className="lead"),
        html.Div(point_controls(cb.P, values, engine=False), className="panel"),
        html.Div(id=cb.CHECK),
        html.Div([
            html.Button("Run simulation", id=cb.RUN, className="button button-primary"),
            html.Button("Cancel", id=cb.CANCEL, className="button", disabled=True),
            html.Progress(id=cb.PROGRESS, value="0", max="3", className="progress"),
            html.Span(id=cb.STATUS, className="hint"),
        ], className="row"),
        html.Div(id=cb.ERROR),
        html.Div(id=cb.SUMMARY),
        dcc.Graph(id=cb.TIMELINE, figure=empty_figure("press Run simulation"), config={"displaylogo": False}),
        html.Div(dcc.Graph(id=cb.HEATMAP, figure=empty_figure(), config={"displaylogo": False}),
                 id=cb.HEATMAP_WRAP, style=cb.HIDDEN),
        dcc.Store(id=query_store(cb.P)), dcc.Store(id=f"{cb.P}-url-sync"),
    ])
