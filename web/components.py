"""Layout pieces shared by the explorer's pages: the design-point controls, messages, number cards, grids.

Component ids are built here from a page prefix (``point``, ``sim``), so the callbacks in ``web/callbacks``
and the page layouts in ``web/pages`` agree on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import dash_ag_grid as dag
from dash import dcc, html

from archsim.hardware import hardware_ids, load_hardware
from mappers import mapper_names
from models.config import preset_ids
from web.state import UPLOADED

# Global stores (in the app layout, shared by pages): the uploaded files, kept for the browser session.
MODEL_UPLOAD_STORE = "model-upload-store"
HW_UPLOAD_STORE = "hw-upload-store"
APP_ERROR = "app-error"
URL = "url"

POINT_CONTROLS = ("model", "hw", "phase", "batch", "seq", "w_bits", "a_bits", "kv_bits", "sparsity", "mapper",
                  "engine")


def cid(prefix: str, name: str) -> str:
    """The id of control ``name`` on the page with ``prefix``."""
    return f"{prefix}-{name}"


def error_box(message: str | None, id_: str | None = None) -> html.Div | None:
    """An inline error line (role=alert), or None for no message."""
    if not message:
        return None
    kwargs = {"id": id_} if id_ else {}
    return html.Div(message, className="msg msg-error", role="alert", **kwargs)


def note_box(message: Any, kind: str = "note") -> html.Div | None:
    """An inline note (``note``, ``ok`` or ``warn``), or None for no message."""
    if not message:
        return None
    return html.Div(message, className=f"msg msg-{kind}")


def model_options() -> list[dict[str, str]]:
    return [{"label": m, "value": m} for m in preset_ids()] + [
        {"label": "uploaded config.json", "value": UPLOADED}]


def hardware_options(uploaded: bool = True) -> list[dict[str, str]]:
    opts = [{"label": f"{h} ({load_hardware(h).family})", "value": h} for h in hardware_ids()]
    return opts + ([{"label": "uploaded YAML", "value": UPLOADED}] if uploaded else [])


@cache
def mapper_options() -> list[dict[str, str]]:
    """The family default, then every registered mapper labelled with the families it maps onto."""
    opts = [{"label": "family default", "value": "default"}]
    for name in mapper_names():
        families = [f for f in ("gpu", "mesh", "fpga", "cpu", "pim") if _maps(name, f)]
        opts.append({"label": f"{name} ({', '.join(families)})" if families else name, "value": name})
    return opts


def _maps(name: str, family: str) -> bool:
    from mappers import get_mapper

    try:
        return family in get_mapper(name, family).families
    except Exception:  # noqa: BLE001 - "does not map this family" is an InputError
        return False


def _field(label: str, control: Any, hint: str | None = None) -> html.Div:
    return html.Div([html.Label(label, className="field-label"), control]
                    + ([html.Small(hint, className="hint")] if hint else []), className="field")


def _number(id_: str, value: Any) -> dcc.Input:
    # No min/max in the browser: an out-of-range number would arrive as None; the server's request model
    # checks the range and names it ("w_bits must be <= 32, got 64").
    return dcc.Input(id=id_, type="number", value=value, step=1, debounce=True, className="num-input")


def point_controls(prefix: str, values: Mapping[str, Any], *, engine: bool = True) -> html.Div:
    """The design-point form (model, phase, batch, seq, bits, sparsity, hardware, mapper, engine) with ids
    ``{prefix}-{field}``, initialised from ``values``. ``engine=False`` fixes the engine (Simulation)."""
    mapper = values.get("mapper") or "default"
    fields = [
        _field("model", dcc.Dropdown(id=cid(prefix, "model"), options=model_options(), value=values.get("model"),
                                     clearable=False, searchable=True)),
        _field("hardware", dcc.Dropdown(id=cid(prefix, "hw"), options=hardware_options(), value=values.get("hw"),
                                        clearable=False, searchable=True)),
        _field("phase", dcc.RadioItems(id=cid(prefix, "phase"), options=["prefill", "decode"],
                                       value=values.get("phase"), inline=True)),
        _field("batch", _number(cid(prefix, "batch"), values.get("batch"))),
        _field("seq", _number(cid(prefix, "seq"), values.get("seq")), "prompt (prefill) or KV length (decode)"),
        _field("weight bits", _number(cid(prefix, "w_bits"), values.get("w_bits"))),
        _field("activation bits", _number(cid(prefix, "a_bits"), values.get("a_bits"))),
        _field("KV bits", _number(cid(prefix, "kv_bits"), values.get("kv_bits"))),
        _field("sparsity", dcc.Input(id=cid(prefix, "sparsity"), type="text", value=values.get("sparsity") or "",
                                     placeholder="dense, or N:M such as 2:4", debounce=True, className="text-input")),
        _field("mapper", dcc.Dropdown(id=cid(prefix, "mapper"), value=mapper, clearable=False,
                                      options=mapper_options())),
    ]
    if engine:
        fields.append(_field("engine", dcc.RadioItems(id=cid(prefix, "engine"), options=["analytic", "sim"],
                                                      value=values.get("engine"), inline=True)))
    else:
        fields.append(dcc.Store(id=cid(prefix, "engine"), data="sim"))
    return html.Div(fields, className="controls")


def upload_panel(prefix: str) -> html.Div:
    """Uploads of a model ``config.json`` and a hardware YAML; the browser refuses big files before
    sending (see ``web.callbacks.uploads``) and the server validates what arrives."""
    def box(name: str, text: str, accept: str) -> html.Div:
        return html.Div([
            dcc.Upload(id=cid(prefix, f"{name}-upload"), children=html.Div([text, html.Br(),
                                                                            html.Small("drop here or click")]),
                       accept=accept, multiple=False, className="upload"),
            dcc.Store(id=cid(prefix, f"{name}-upload-raw")),
            html.Div(id=cid(prefix, f"{name}-upload-msg"), className="upload-msg"),
        ], className="upload-box")

    return html.Div([box("model", "model config.json", ".json,application/json"),
                     box("hw", "hardware YAML", ".yaml,.yml")], className="uploads")


def card(label: str, value: str, id_: str, sub: str | None = None, kind: str = "") -> html.Div:
    return html.Div([html.Div(label, className="card-label"), html.Div(value, className="card-value", id=id_)]
                    + ([html.Div(sub, className="card-sub")] if sub else []), className=f"card {kind}".strip())


def fmt_time(t: float | None) -> str:
    if t is None:
        return "—"
    if t >= 1:
        return f"{t:.3f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3f} ms"
    return f"{t * 1e6:.2f} us"


def fmt_num(x: float | None, spec: str = ",.1f") -> str:
    return "—" if x is None else format(x, spec)


def column_defs(columns: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """AG Grid column definitions of ``columns`` (``field``, ``headerName``, optional d3 ``format`` for
    numbers, ``filter``, ``width``, ``minWidth``, ``pinned``): every column sortable and resizable."""
    defs = []
    for c in columns:
        d = {"field": c["field"], "headerName": c.get("headerName", c["field"]), "sortable": True,
             "resizable": True, "filter": c.get("filter", False)}
        if "format" in c:
            d["valueFormatter"] = {"function": f"params.value == null ? '—' : d3.format('{c['format']}')(params.value)"}
            d["type"] = "rightAligned"
        for key in ("width", "minWidth", "pinned"):
            if key in c:
                d[key] = c[key]
        defs.append(d)
    return defs


def grid(id_: str, columns: Sequence[Mapping[str, Any]], rows: list[dict[str, Any]] | None = None,
         height: int = 420) -> dag.AgGrid:
    """A sortable, resizable table (AG Grid) of ``columns`` (see ``column_defs``)."""
    return dag.AgGrid(id=id_, columnDefs=column_defs(columns), rowData=rows or [], columnSize="responsiveSizeToFit",
                      defaultColDef={"minWidth": 80}, dashGridOptions={"animateRows": False},
                      style={"height": f"{height}px"})


def empty_figure(text: str = "") -> dict[str, Any]:
    """A blank chart with a centred note (a figure dict: cheap, and no axes drawn)."""
    return {"data": [], "layout": {"xaxis": {"visible": False}, "yaxis": {"visible": False},
                                   "annotations": [{"text": text, "showarrow": False, "xref": "paper",
                                                    "yref": "paper", "x": 0.5, "y": 0.5,
                                                    "font": {"size": 15, "color": "#777"}}] if text else [],
                                   "height": 320, "margin": {"t": 30}}}
