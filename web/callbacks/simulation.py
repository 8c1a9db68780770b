"""Simulation page: ``archsim run --engine sim`` for the selected point as a background callback (the
app's DiskcacheManager runs it in another process), with progress and cancel; the timeline as a Gantt
chart and, for meshes, the per-core heat-map."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, callback, html, no_update

from web import services
from web.callbacks.common import point_inputs, query_store, register_url_sync, upload_states, values_of
from web.components import card, cid, empty_figure, error_box, fmt_time, note_box
from web.figures import has_core_heatmap, mesh_heatmap_figure, timeline_figure

P = "sim"
RUN, CANCEL, PROGRESS, STATUS, ERROR, CHECK, SUMMARY, TIMELINE, HEATMAP, HEATMAP_WRAP = (
    cid(P, n) for n in ("run", "cancel", "progress", "status", "error", "check", "summary", "timeline", "heatmap",
                        "heatmap-wrap"))
HIDDEN, SHOWN = {"display": "none"}, {"display": "block"}


@callback(
    Output(CHECK, "children"), Output(query_store(P), "data"),
    *point_inputs(P), *upload_states(Input),
)
def check_point(*args: Any) -> tuple:
    """Validate the point as it is edited (before anything runs) and keep the URL in step with it."""
    try:
        point = services.validate_point(values_of(args[:-2]), args[-2], args[-1])
    except Exception as exc:  # noqa: BLE001
        return error_box(services.user_message(exc, "this design point")), no_update
    return None, point.query


def summary(result: Any, analytic: Any, events: list[dict[str, Any]]) -> html.Div:
    diff = (result.latency_s / analytic.latency_s - 1) * 100 if analytic.latency_s > 0 else float("nan")
    lanes = len({e.get("tid") for e in events})
    return html.Div([
        card("simulated latency", fmt_time(result.latency_s), cid(P, "latency"),
             f"{result.model} on {result.hardware}, {result.phase}"),
        card("analytic latency", fmt_time(analytic.latency_s), cid(P, "analytic"), f"sim {diff:+.1f}% vs analytic"),
        card("mapper", result.mapper, cid(P, "mapper")),
        card("timeline", f"{len(events):,} spans", cid(P, "spans"), f"{lanes:,} lanes"),
    ], className="cards")


def run_point(values: dict[str, Any], model_upload: Any, hw_upload: Any, progress: Any = None) -> tuple:
    """The outputs of a simulation run (error, summary, timeline, heat-map, heat-map style); any failure
    is an inline sentence."""
    try:
        point = services.validate_point(values, model_upload, hw_upload)
        out = services.simulate(point, progress)
        result, events = out["result"], out["events"]
        timeline = timeline_figure(events, title=f"Simulated timeline: {result.model} on {result.hardware}, "
                                                 f"{result.phase}")
        mesh = has_core_heatmap(result)
        heat = mesh_heatmap_figure([result]) if mesh else empty_figure()
    except Exception as exc:  # noqa: BLE001
        blank = empty_figure("no simulation")
        return error_box(services.user_message(exc, "the simulation")), None, blank, blank, HIDDEN
    notes = [note_box(w, "warn") for w in result.warnings]
    if not events:
        notes.append(note_box(f"the {result.mapper} simulator recorded no timeline spans for this point.", "warn"))
    return None, html.Div([summary(result, out["analytic"], events), *notes]), timeline, heat, \
        SHOWN if mesh else HIDDEN


@callback(
    Output(ERROR, "children"), Output(SUMMARY, "children"), Output(TIMELINE, "figure"), Output(HEATMAP, "figure"),
    Output(HEATMAP_WRAP, "style"),
    Input(RUN, "n_clicks"), *point_inputs(P, State), *upload_states(State),
    background=True,
    running=[(Output(RUN, "disabled"), True, False), (Output(CANCEL, "disabled"), False, True)],
    cancel=[Input(CANCEL, "n_clicks")],
    progress=[Output(PROGRESS, "value"), Output(PROGRESS, "max"), Output(STATUS, "children")],
    progress_default=["0", "3", ""],
    interval=250,
    prevent_initial_call=True,
)
def simulate(set_progress: Any, n_clicks: Any, *args: Any) -> tuple:
    """Background job: validate, simulate with the timeline recorded, and draw it."""
    def progress(step: int, steps: int, text: str) -> None:
        set_progress((str(step - 1), str(steps), f"step {step} of {steps}: {text}…"))

    return run_point(values_of(args[:-2]), args[-2], args[-1], progress)


register_url_sync(P)
