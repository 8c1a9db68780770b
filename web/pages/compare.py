"""Compare: the same workload on several devices across families; throughput, latency, energy and cost."""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html

from models.config import preset_ids
from web.callbacks import compare as cb
from web.callbacks.common import query_store
from web.components import grid, hardware_options
from web.state import COMPARE_DEFAULTS, from_query, split

dash.register_page(__name__, path="/compare", name="Compare", title="archsim · compare", order=1)


def _field(label: str, control: Any) -> html.Div:
    return html.Div([html.Label(label, className="field-label"), control], className="field")


def layout(**query: Any) -> html.Div:
    v = from_query(query, COMPARE_DEFAULTS)
    num = {"type": "number", "step": 1, "debounce": True, "className": "num-input"}  # ranges: checked server-side
    hw_opts = hardware_options(uploaded=False)
    controls = html.Div([
        _field("hardware", dcc.Dropdown(id=f"{cb.P}-hw", options=hw_opts, value=split(v["hw"]), multi=True)),
        _field("model", dcc.Dropdown(id=f"{cb.P}-model", options=preset_ids(), value=v["model"], clearable=False)),
        _field("phase", dcc.RadioItems(id=f"{cb.P}-phase", options=["both", "prefill", "decode"], value=v["phase"],
                                       inline=True)),
        _field("batch", dcc.Input(id=f"{cb.P}-batch", value=v["batch"], **num)),
        _field("seq", dcc.Input(id=f"{cb.P}-seq", value=v["seq"], **num)),
        _field("weight bits", dcc.Input(id=f"{cb.P}-w_bits", value=v["w_bits"], **num)),
        _field("engine", dcc.RadioItems(id=f"{cb.P}-engine", options=["analytic", "sim"], value=v["engine"],
                                        inline=True)),
        _field("baseline", dcc.Dropdown(id=f"{cb.P}-baseline", options=hw_opts, value=v["baseline"] or None,
                                        placeholder="first device")),
    ], className="controls controls-wide")
    return html.Div([
        html.H2("Compare hardware"),
        html.P("One workload on several devices. Bars are relative to the baseline device (log scale); the "
               "table has the absolute numbers. Families without a simulator fall back to the analytic model "
               "with a note, as `archsim compare` does.", className="lead"),
        html.Div(controls, className="panel"),
        dcc.RadioItems(id=f"{cb.P}-view", options=[{"label": t, "value": k} for k, t in cb.VIEWS.items()],
                       value=v["view"], inline=True, className="view-switch"),
        html.Div(id=cb.ERROR),
        html.Div(id=cb.WARNINGS),
        dcc.Loading(dcc.Graph(id=cb.NORMALIZED, config={"displaylogo": False}), delay_show=400),
        grid(cb.TABLE, cb.TABLE_COLUMNS, height=360),
        dcc.Graph(id=cb.ABSOLUTE, config={"displaylogo": False}),
        dcc.Store(id=query_store(cb.P)), dcc.Store(id=f"{cb.P}-url-sync"),
    ])
