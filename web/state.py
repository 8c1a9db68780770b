"""View state of the explorer's pages and its round trip through the URL query string.

Every page keeps what a user chose in the query string (``?model=llama3-8b&hw=a100-80g&...``), so a view
can be shared, bookmarked and reloaded; ``dcc.Store`` holds only what cannot go in a URL (uploaded files).
Values arrive from the URL as strings and are passed on as they are: the pages validate them server-side
with the CLI's pydantic request models, so a bad value in a link reads as an inline message, not a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

# Design point (and Simulation) page: the fields of ``archsim run`` the page exposes, with their defaults.
POINT_DEFAULTS: dict[str, Any] = {
    "model": "llama3-8b", "hw": "a100-80g", "phase": "decode", "batch": 1, "seq": 1024, "w_bits": 16,
    "a_bits": 16, "kv_bits": 16, "sparsity": "", "mapper": "", "engine": "analytic",
}
POINT_FIELDS: tuple[str, ...] = tuple(POINT_DEFAULTS)
INT_FIELDS = ("batch", "seq", "w_bits", "a_bits", "kv_bits")

# Simulation page: the point to simulate (engine is always sim there); a mesh by default shows the heat-map.
SIM_DEFAULTS: dict[str, Any] = {**POINT_DEFAULTS, "hw": "wse2", "engine": "sim"}

# Compare page.
COMPARE_DEFAULTS: dict[str, Any] = {
    "model": "llama3-8b", "hw": "a100-80g,h100-sxm,mi210,wse2,u280,sail,m2-ultra", "phase": "both", "batch": 1,
    "seq": 1024, "w_bits": 16, "engine": "analytic", "view": "tokens_per_s", "baseline": "",
}
COMPARE_FIELDS: tuple[str, ...] = tuple(COMPARE_DEFAULTS)

# Sweeps page (filters are comma-separated lists under the axis names).
SWEEP_DEFAULTS: dict[str, Any] = {"db": "out/sweep.duckdb", "x": "latency_s", "y": "tokens_per_s", "colour": "hw",
                                  "feasible": "1"}
SWEEP_FILTERS: tuple[str, ...] = ("model", "hw", "phase", "batch", "seq", "w_bits", "mapper", "engine")

# The value a model or hardware control takes when the user uploaded the file instead of picking a preset.
UPLOADED = "uploaded"


def _int_or_raw(value: Any) -> Any:
    """``"8"`` -> 8 (an int-valued control shows it); anything else unchanged, for validation to report."""
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    return value


def from_query(query: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The view state of a page from its query-string arguments: every key of ``defaults``, taken from
    ``query`` where present (ints converted where they parse, other values kept for validation to
    report); unknown query keys are ignored. A list (a repeated key) keeps its last value."""
    out = dict(defaults)
    for key in defaults:
        if key in query:
            value = query[key]
            if isinstance(value, list):
                value = value[-1] if value else ""
            out[key] = _int_or_raw(value) if key in INT_FIELDS else value
    return out


def to_query(values: Mapping[str, Any], fields: tuple[str, ...] | None = None) -> str:
    """``?key=value&...`` of ``values`` (``fields`` order when given), skipping None and empty values."""
    keys = fields if fields is not None else tuple(values)
    pairs = [(k, values[k]) for k in keys if k in values and values[k] is not None and values[k] != ""]
    pairs = [(k, ",".join(map(str, v)) if isinstance(v, list | tuple) else v) for k, v in pairs]
    return "?" + urlencode(pairs) if pairs else ""


def split(value: Any) -> list[str]:
    """A comma-separated query value (or a list) as a list of non-empty strings."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]
