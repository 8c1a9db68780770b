"""Compare page: one workload on several devices (``archsim compare``), normalized and absolute."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, callback, no_update

from archsim.errors import InputError
from web import services
from web.callbacks.common import query_store, register_url_sync
from web.components import empty_figure, error_box, note_box
from web.figures import NORMALIZED_METRICS, comparison_figure, normalized_figure
from web.state import COMPARE_FIELDS, split, to_query

P = "compare"
CONTROLS = ("model", "hw", "phase", "batch", "seq", "w_bits", "engine", "view", "baseline")
ERROR, NORMALIZED, ABSOLUTE, TABLE, WARNINGS = (f"{P}-{n}" for n in ("error", "normalized", "absolute", "table",
                                                                      "warnings"))
VIEWS = {"tokens_per_s": "performance (tokens/s)", "latency_s": "latency", "energy_per_token_j": "energy (J/token)",
         "tokens_per_usd": "cost (tokens/$)"}

TABLE_COLUMNS = [
    {"field": "hardware", "headerName": "hardware", "filter": True},
    {"field": "family", "headerName": "family", "filter": True},
    {"field": "phase", "headerName": "phase", "filter": True},
    {"field": "mapper", "headerName": "mapper"},
    {"field": "engine", "headerName": "engine"},
    {"field": "latency_ms", "headerName": "latency (ms)", "format": ",.4g"},
    {"field": "tokens_per_s", "headerName": "tokens/s", "format": ",.1f"},
    {"field": "energy_per_token_j", "headerName": "J/token", "format": ".4g"},
    {"field": "tokens_per_usd", "headerName": "tokens/$", "format": ".4g"},
    {"field": "memory_gb", "headerName": "memory (GB)", "format": ",.2f"},
    {"field": "capacity_gb", "headerName": "capacity (GB)", "format": ",.0f"},
    {"field": "fits", "headerName": "fits?"},
]


@callback(
    Output(ERROR, "children"), Output(NORMALIZED, "figure"), Output(ABSOLUTE, "figure"), Output(TABLE, "rowData"),
    Output(WARNINGS, "children"), Output(query_store(P), "data"),
    *(Input(f"{P}-{c}", "value") for c in CONTROLS),
)
def update_compare(model: Any, hw: Any, phase: Any, batch: Any, seq: Any, w_bits: Any, engine: Any, view: Any,
                   baseline: Any) -> tuple:
    """Run ``archsim compare`` for the chosen devices and draw the chosen view relative to ``baseline``."""
    values = {"model": model, "hw": split(hw), "phase": phase, "batch": batch, "seq": seq, "w_bits": w_bits,
              "engine": engine, "view": view, "baseline": baseline or ""}
    try:
        if view not in NORMALIZED_METRICS:
            raise InputError("view", f"view must be one of {', '.join(NORMALIZED_METRICS)}, got {view!r}.")
        results = services.compare(values)
        normalized = normalized_figure(results, view, baseline or None)
        absolute = comparison_figure(results)
    except Exception as exc:  # noqa: BLE001
        blank = empty_figure("fix the input above to compare")
        return error_box(services.user_message(exc, "this comparison")), blank, blank, [], None, no_update
    notes = [f"{r.hardware} ({r.phase}): {w}" for r in results for w in r.warnings]
    return (None, normalized, absolute, services.summary_table(results), note_box("; ".join(notes), "warn"),
            to_query(values, COMPARE_FIELDS))


register_url_sync(P)
