"""Pieces shared by the callbacks: the URL sync, the design-point inputs, the upload size check."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, clientside_callback

from web.components import HW_UPLOAD_STORE, MODEL_UPLOAD_STORE, POINT_CONTROLS, cid
from web.services import UPLOAD_LIMIT_BYTES

# The page's canonical query string (a store its main callback fills once the inputs validate) replaces the
# address bar's query in place: reloading or sharing the address restores the view, and no navigation (and
# so no re-render of the page) happens. Dash's own Location components are left alone.
_SYNC_URL = """
function(query) {
    if (typeof query === 'string' && window.location.search !== query) {
        window.history.replaceState(window.history.state, '', window.location.pathname + query);
    }
    return window.dash_clientside.no_update;
}
"""

# The browser checks an upload's size before anything is sent: a big file becomes a small "too large"
# note for the server to report, so a 50 MB file never travels to it. The server checks again.
_UPLOAD_CHECK = """
function(contents, filename) {
    if (!contents) { return window.dash_clientside.no_update; }
    var comma = contents.indexOf(',');
    var size = Math.floor((contents.length - comma - 1) * 3 / 4);
    if (size > LIMIT) {
        return {filename: filename, too_large: true, size: size, t: Date.now()};
    }
    return {filename: filename, contents: contents, t: Date.now()};
}
""".replace("LIMIT", str(UPLOAD_LIMIT_BYTES))


def query_store(page: str) -> str:
    return f"{page}-query"


def register_url_sync(page: str) -> None:
    """Keep the address bar's query equal to the ``{page}-query`` store (see ``_SYNC_URL``)."""
    clientside_callback(_SYNC_URL, Output(f"{page}-url-sync", "data"), Input(query_store(page), "data"))


def register_upload_check(prefix: str, name: str) -> None:
    """Browser-side size check of upload ``{prefix}-{name}-upload`` into its ``-upload-raw`` store."""
    clientside_callback(_UPLOAD_CHECK, Output(cid(prefix, f"{name}-upload-raw"), "data"),
                        Input(cid(prefix, f"{name}-upload"), "contents"),
                        State(cid(prefix, f"{name}-upload"), "filename"))


def point_inputs(prefix: str, kind: type = Input) -> list[Any]:
    """``Input`` (or ``State``) of every design-point control on page ``prefix``, in ``POINT_CONTROLS`` order."""
    prop = {"engine": "data"} if prefix == "sim" else {}
    return [kind(cid(prefix, name), prop.get(name, "value")) for name in POINT_CONTROLS]


def upload_states(kind: type = State) -> list[Any]:
    return [kind(MODEL_UPLOAD_STORE, "data"), kind(HW_UPLOAD_STORE, "data")]


def values_of(args: tuple[Any, ...] | list[Any]) -> dict[str, Any]:
    """The control values (positional, ``POINT_CONTROLS`` order) as a dict."""
    return dict(zip(POINT_CONTROLS, args, strict=True))
