"""RTL: the hardware units' last regression (bit- and cycle-exact checks) and their yosys cell counts."""

from __future__ import annotations

from typing import Any

import dash
from dash import html

from web.callbacks import rtl as cb
from web.components import grid

dash.register_page(__name__, path="/rtl", name="RTL", title="archsim · RTL", order=4)


def layout(**_query: Any) -> html.Div:
    return html.Div([
        html.H2("RTL units"),
        html.P("What `archsim rtl verify` last found: each unit's cocotb tests against kernels_ref and its cycle "
               "count against the SimPy unit model; and the cell counts of `archsim rtl synth` (yosys).",
               className="lead"),
        html.Button("Reload", id=cb.RELOAD, className="button"),
        html.Div(id=cb.ERROR),
        html.Div(id=cb.SUMMARY),
        html.H3("Regression"),
        grid(cb.VERIFY, cb.VERIFY_COLUMNS, height=360),
        html.H3("Synthesis (yosys)"),
        html.Div(id=f"{cb.P}-synth-note"),
        grid(cb.SYNTH, cb.SYNTH_BASE, height=320),
    ])
