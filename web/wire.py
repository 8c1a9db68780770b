"""Dash's callback wire format, for clients that are not a browser (the load test, the server tests).

A browser's Dash renderer POSTs ``/_dash-update-component`` with the callback's output id string, its
outputs, and the current value of every input and state; ``callback_body`` builds the same body from a
registered callback so a client can fire it with plain HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ENDPOINT = "/_dash-update-component"
DEPENDENCIES = "/_dash-dependencies"


def find_callback(callbacks: Sequence[Mapping[str, Any]], output: str) -> Mapping[str, Any]:
    """The server-side callback whose outputs include ``output`` (``"id.property"``) among ``callbacks``:
    the JSON list a running app serves at ``/_dash-dependencies`` (or ``app._callback_list`` in-process,
    after the app's first request)."""
    for cb in callbacks:
        if cb.get("clientside_function"):
            continue
        outputs = cb["output"].strip(".").split("...")
        if output in outputs:
            return cb
    raise KeyError(f"no server callback outputs {output!r}")


def callback_body(callbacks: Sequence[Mapping[str, Any]], output: str, values: Mapping[str, Any],
                  changed: list[str] | None = None) -> dict[str, Any]:
    """The request body that fires the callback producing ``output``, with ``values`` keyed by
    ``"id.property"`` for its inputs and states (missing ones are None) and ``changed`` the inputs that
    triggered it (default: the first input)."""
    cb = find_callback(callbacks, output)
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1), strict=True))
               for o in cb["output"].strip(".").split("...")]

    def with_values(items: list[dict[str, str]]) -> list[dict[str, Any]]:
        return [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                for i in items]

    inputs = with_values(cb["inputs"])
    multi = cb["output"].startswith("..")  # a single-output callback names one output, not a list
    first = f"{inputs[0]['id']}.{inputs[0]['property']}" if inputs else ""
    return {"output": cb["output"], "outputs": outputs if multi else outputs[0], "inputs": inputs,
            "state": with_values(cb.get("state", [])), "changedPropIds": changed if changed is not None else [first]}
