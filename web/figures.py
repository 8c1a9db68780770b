"""Plotly figure builders shared by the HTML report (``archsim.report``) and the Dash explorer.

Every builder is a pure function of ``Result`` objects (and, for the roofline, ``HardwareSpec``
objects): it reads the numbers the engines computed and never prices anything itself. Values stay in
SI units until the moment they are put on an axis, where they are converted to the display units
named in the axis title (ms, GB, TOP/s).

Traces carry a ``meta`` dict (``role`` plus identifying keys) so the Dash callbacks and the tests can
find a trace without depending on legend text or trace order.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from archsim.hardware import HardwareSpec
from archsim.result import OpCost, Result

# Display-unit divisors: the data stays SI; only axes and hover text use these.
MS_PER_S = 1e3
US_PER_S = 1e6
BYTES_PER_GB = 1e9
BYTES_PER_MB = 1e6
OPS_PER_TERA = 1e12
OPS_PER_GIGA = 1e9

# The reference precision of a roof: every preset must list it (HardwareSpec validates this).
REFERENCE_DTYPE = "fp16"

# Readable latency categories for Op.kind, in stacking order. A kind not listed here (a new op
# family added later) shows up under its own name rather than disappearing from the total.
KIND_CATEGORY: dict[str, str] = {
    "attention": "attention",
    "matmul": "matmul/linear",
    "lm_head": "lm_head",
    "softmax": "softmax",
    "norm": "norm",
    "elementwise": "elementwise",
    "embedding": "embedding",
}
CATEGORY_ORDER: tuple[str, ...] = tuple(dict.fromkeys(KIND_CATEGORY.values()))
CATEGORY_COLOURS: dict[str, str] = {
    "attention": "#EF553B",
    "matmul/linear": "#636EFA",
    "lm_head": "#AB63FA",
    "softmax": "#FFA15A",
    "norm": "#00CC96",
    "elementwise": "#19D3F3",
    "embedding": "#B6E880",
}
MEMORY_COLOURS = {"weights": "#636EFA", "KV cache": "#EF553B", "activations": "#00CC96"}
PHASE_SYMBOLS = {"prefill": "circle", "decode": "diamond", "generate": "square"}
HARDWARE_PALETTE: tuple[str, ...] = tuple(qualitative.Plotly)

# Fields that tell two results apart when hardware and phase alone do not (see result_labels);
# each renders one label token, or None when it does not apply to a result (gen of a single step).
_DISTINGUISHING: tuple[tuple[str, Callable[[Result], str | None]], ...] = (
    ("model", lambda r: r.model),
    ("batch", lambda r: f"b={r.batch}"),
    ("seq", lambda r: f"s={r.seq}"),
    ("gen", lambda r: f"gen={r.gen}" if r.gen is not None else None),
    ("bits", lambda r: f"W{r.w_bits}A{r.a_bits}KV{r.kv_bits}"),
    ("sparsity", lambda r: f"{r.sparsity} sparse" if r.sparsity else "dense"),
    ("compat", lambda r: r.compat),
    ("engine", lambda r: r.engine),
    ("mapper", lambda r: r.mapper),
)
SEP = " · "


def result_labels(results: Sequence[Result], *, include_phase: bool = True) -> list[str]:
    """One unique, readable label per result, in input order.

    The label is ``"hardware · phase"`` (just ``"hardware"`` with ``include_phase=False``), followed
    by the values of the fields that differ somewhere in ``results`` (model, batch, seq, bits ...),
    so a sweep over batch sizes reads ``"a100-40g · decode · b=8"``. Labels that would still
    collide get a ``#n`` suffix. With ``include_phase=False`` labels need only be unique among
    results of the same phase (they are x categories inside one phase's trace).
    """
    varying = [token for _, token in _DISTINGUISHING if len({token(r) for r in results}) > 1]
    labels: list[str] = []
    for r in results:
        parts = [r.hardware, r.phase] if include_phase else [r.hardware]
        parts += [t for t in (token(r) for token in varying) if t is not None]
        labels.append(SEP.join(parts))
    # Scope of uniqueness: the whole list, or one phase when the phase is not part of the label.
    scopes = [label if include_phase else (r.phase, label) for r, label in zip(results, labels, strict=True)]
    counts: dict[object, int] = {}
    for scope in scopes:
        counts[scope] = counts.get(scope, 0) + 1
    seen: dict[object, int] = {}
    out: list[str] = []
    for scope, label in zip(scopes, labels, strict=True):
        if counts[scope] > 1:
            seen[scope] = seen.get(scope, 0) + 1
            label = f"{label} #{seen[scope]}"
        out.append(label)
    return out


def hardware_colours(results: Sequence[Result]) -> dict[str, str]:
    """A colour per hardware id, assigned in order of first appearance (cycling the palette)."""
    ids = list(dict.fromkeys(r.hardware for r in results))
    return {hw: HARDWARE_PALETTE[i % len(HARDWARE_PALETTE)] for i, hw in enumerate(ids)}


def kind_category(kind: str) -> str:
    """The latency-breakdown category of an ``Op.kind`` (unknown kinds keep their own name)."""
    return KIND_CATEGORY.get(kind, kind)


def plottable_on_roofline(cost: OpCost) -> bool:
    """True when an op has a point on a log-log roofline: positive FLOPs, bytes and time.

    Ops that move no bytes have infinite intensity, ops with no FLOPs (an embedding lookup) have
    zero attained OP/s; neither has a coordinate on log axes, so they are left out.
    """
    op = cost.op
    intensity = op.intensity
    return (op.flops > 0 and op.bytes > 0 and cost.time_s > 0
            and intensity is not None and math.isfinite(intensity) and intensity > 0)


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _op_hover(cost: OpCost, phase: str) -> str:
    op = cost.op
    return "<br>".join((
        f"<b>{html.escape(op.name)}</b> ({html.escape(op.kind)}, {html.escape(phase)})",
        f"FLOPs: {op.flops:.4g}",
        f"bytes: {op.bytes:.4g}",
        f"intensity: {op.intensity:.4g} OP/B",
        f"attained: {op.flops / cost.time_s / OPS_PER_TERA:.4g} TOP/s",
        f"bound: {html.escape(cost.bound)} (peak {html.escape(cost.peak_dtype)})",
        f"time: {cost.time_s * US_PER_S:.4g} us x {op.repeat}",
    ))


def roofline_figure(results: Sequence[Result], hardware: dict[str, HardwareSpec]) -> go.Figure:
    """Log-log roofline of every operator of ``results``.

    Roofs: for each hardware id that appears in ``results`` and has a spec in ``hardware`` (keyed by
    ``HardwareSpec.id`` = ``Result.hardware``), a solid roof through ``(x_lo, bw * x_lo)``,
    ``(fp16_peak / bw, fp16_peak)``, ``(x_hi, fp16_peak)`` (meta ``role="roof"``,
    ``dtype="fp16"``), plus a dashed roof for every other peak an op actually ran at (int8,
    vector-fp16, ``*-sparse``; meta ``dtype`` names it), starting where it leaves the fp16 roof.
    ``bw`` is the spec's DRAM bandwidth; results whose hardware is missing from ``hardware`` get
    markers but no roof.

    Points: one marker trace per result (meta ``role="ops"``), one point per op that is
    ``plottable_on_roofline``, at x = intensity (OP/B) and y = attained per-instance OP/s
    (``flops / time_s``), in TOP/s. ``customdata`` holds the op names. Colour = hardware, marker
    symbol = phase.
    """
    fig = go.Figure()
    colours = hardware_colours(results)
    labels = result_labels(results)

    xs: list[float] = []
    point_traces: list[go.Scatter] = []
    peaks_used: dict[str, dict[str, float]] = {}
    for r, label in zip(results, labels, strict=True):
        costs = [c for c in r.ops if plottable_on_roofline(c)]
        for c in r.ops:
            peaks_used.setdefault(r.hardware, {})[c.peak_dtype] = c.peak_ops
        x = [c.op.intensity for c in costs]
        xs += x
        point_traces.append(go.Scatter(
            x=x, y=[c.op.flops / c.time_s / OPS_PER_TERA for c in costs],
            mode="markers", name=label, legendgroup=r.hardware,
            marker={"color": colours[r.hardware], "symbol": PHASE_SYMBOLS.get(r.phase, "x"), "size": 9,
                    "line": {"width": 1, "color": "white"}},
            text=[_op_hover(c, r.phase) for c in costs], customdata=[c.op.name for c in costs],
            hovertemplate="%{text}<extra>" + html.escape(label) + "</extra>",
            meta={"role": "ops", "label": label, "hardware": r.hardware, "phase": r.phase},
        ))

    specs = [hardware[hw] for hw in colours if hw in hardware]
    ridges = [s.peaks_ops[REFERENCE_DTYPE].value / s.memory.bandwidth_Bps.value for s in specs]
    for s in specs:
        bw = s.memory.bandwidth_Bps.value
        ridges += [p / bw for p in peaks_used.get(s.id, {}).values() if p > 0]
    span = xs + ridges
    # A decade of margin each side so the slope and the flat part are both visible.
    x_lo = min(span) / 10 if span else 0.1
    x_hi = max(span) * 10 if span else 1e4

    roof_traces: list[go.Scatter] = []
    for s in specs:
        bw = s.memory.bandwidth_Bps.value
        fp16 = s.peaks_ops[REFERENCE_DTYPE].value
        ridge = fp16 / bw
        colour = colours[s.id]
        roof_traces.append(go.Scatter(
            x=[x_lo, ridge, x_hi], y=[bw * x_lo / OPS_PER_TERA, fp16 / OPS_PER_TERA, fp16 / OPS_PER_TERA],
            mode="lines", name=f"{s.id} roof ({REFERENCE_DTYPE})", legendgroup=s.id,
            line={"color": colour, "width": 2},
            hovertemplate=(f"{html.escape(s.id)}: {bw / BYTES_PER_GB:.0f} GB/s, {REFERENCE_DTYPE} "
                           f"{fp16 / OPS_PER_TERA:.4g} TOP/s, ridge {ridge:.4g} OP/B<extra></extra>"),
            meta={"role": "roof", "hardware": s.id, "dtype": REFERENCE_DTYPE, "peak_ops": fp16,
                  "bandwidth_Bps": bw},
        ))
        for dtype, peak in sorted(peaks_used.get(s.id, {}).items()):
            if peak == fp16 or peak <= 0:
                continue
            alt_ridge = peak / bw
            # Above fp16 the extra roof climbs the shared bandwidth slope from the fp16 corner; below
            # it (vector units) it starts at its own, lower corner.
            start = min(ridge, alt_ridge)
            roof_traces.append(go.Scatter(
                x=[start, alt_ridge, x_hi],
                y=[bw * start / OPS_PER_TERA, peak / OPS_PER_TERA, peak / OPS_PER_TERA],
                mode="lines", name=f"{s.id} roof ({dtype})", legendgroup=s.id,
                line={"color": colour, "width": 1.5, "dash": "dash"},
                hovertemplate=(f"{html.escape(s.id)} {html.escape(dtype)}: {peak / OPS_PER_TERA:.4g} TOP/s, "
                               f"ridge {alt_ridge:.4g} OP/B<extra></extra>"),
                meta={"role": "roof", "hardware": s.id, "dtype": dtype, "peak_ops": peak,
                      "bandwidth_Bps": bw},
            ))

    for trace in roof_traces + point_traces:
        fig.add_trace(trace)
    fig.update_layout(
        title="Roofline (per-instance attained performance of each operator)",
        xaxis={"title": "arithmetic intensity (OP/B)", "type": "log"},
        yaxis={"title": "attained performance (TOP/s)", "type": "log"},
        legend={"groupclick": "toggleitem"},
        hovermode="closest",
    )
    return fig


def latency_by_category(result: Result) -> dict[str, float]:
    """Total seconds of ``result`` per latency category (sum of ``OpCost.total_time_s``).

    Keys follow ``CATEGORY_ORDER``, then unknown kinds in order of appearance; the values sum to
    ``result.latency_s`` up to round-off.
    """
    totals: dict[str, float] = {}
    for c in result.ops:
        cat = kind_category(c.op.kind)
        totals[cat] = totals.get(cat, 0.0) + c.total_time_s
    ordered = {cat: totals[cat] for cat in CATEGORY_ORDER if cat in totals}
    ordered.update({cat: t for cat, t in totals.items() if cat not in ordered})
    return ordered


def latency_breakdown_figure(results: Sequence[Result]) -> go.Figure:
    """Stacked horizontal bars: one bar per result, one segment per latency category, in ms.

    One trace per category (meta ``role="latency"``, ``category``) with ``y`` = the result labels
    (``result_labels``) and ``x`` = that category's total time in ms (0 where a result has none),
    so the segments of a bar sum to the result's ``latency_s`` in ms. Hover shows the share of the
    latency and the ops in the segment.
    """
    labels = result_labels(results)
    per_result = [latency_by_category(r) for r in results]
    categories = list(dict.fromkeys(cat for totals in per_result for cat in totals))
    fig = go.Figure()
    for cat in categories:
        x = [totals.get(cat, 0.0) * MS_PER_S for totals in per_result]
        share = [totals.get(cat, 0.0) / r.latency_s * 100 if r.latency_s > 0 else 0.0
                 for r, totals in zip(results, per_result, strict=True)]
        names = [", ".join(html.escape(c.op.name) for c in r.ops if kind_category(c.op.kind) == cat)
                 for r in results]
        fig.add_trace(go.Bar(
            x=x, y=labels, orientation="h", name=cat, marker={"color": CATEGORY_COLOURS.get(cat)},
            customdata=list(zip(share, names, strict=True)),
            hovertemplate=("%{y}<br><b>" + html.escape(cat) + "</b>: %{x:.4g} ms (%{customdata[0]:.1f}%)"
                           "<br>%{customdata[1]}<extra></extra>"),
            meta={"role": "latency", "category": cat},
        ))
    fig.update_layout(
        title="Latency breakdown by operator category",
        barmode="stack",
        xaxis={"title": "time (ms)"},
        # First result on top, reading order of the summary table.
        yaxis={"autorange": "reversed"},
        height=max(320, 120 + 48 * len(results)),
    )
    return fig


def memory_figure(results: Sequence[Result]) -> go.Figure:
    """Stacked bars of the memory footprint (weights, KV cache, activations) per result, in GB.

    One bar trace per component (meta ``role="memory"``, ``component`` = ``weight_bytes`` |
    ``kv_bytes`` | ``activation_bytes``), ``x`` = result labels, ``y`` = ``r.memory.<component> / 1e9``;
    plus one marker trace (meta ``role="capacity"``) at ``r.capacity_bytes / 1e9`` per result.
    """
    labels = result_labels(results)
    fig = go.Figure()
    components = (("weights", "weight_bytes"), ("KV cache", "kv_bytes"), ("activations", "activation_bytes"))
    for name, attr in components:
        fig.add_trace(go.Bar(
            x=labels, y=[getattr(r.memory, attr) / BYTES_PER_GB for r in results], name=name,
            marker={"color": MEMORY_COLOURS[name]},
            hovertemplate="%{x}<br>" + name + ": %{y:.4g} GB<extra></extra>",
            meta={"role": "memory", "component": attr},
        ))
    fig.add_trace(go.Scatter(
        x=labels, y=[r.capacity_bytes / BYTES_PER_GB for r in results], name="device capacity",
        mode="markers", marker={"symbol": "line-ew-open", "size": 40, "color": "black",
                                "line": {"width": 3, "color": "black"}},
        hovertemplate="%{x}<br>capacity: %{y:.4g} GB<extra></extra>",
        meta={"role": "capacity"},
    ))
    fig.update_layout(
        title="Memory footprint vs device capacity",
        barmode="stack",
        yaxis={"title": "memory (GB)", "rangemode": "tozero"},
    )
    return fig


def comparison_figure(results: Sequence[Result]) -> go.Figure:
    """Grouped bars per phase: tokens/s (left subplot) and J/token (right subplot) per hardware.

    For each phase, in order of first appearance, one bar trace in each subplot (meta
    ``role="throughput"`` or ``"energy"``, ``phase``) whose ``x`` are the results' labels without
    the phase (``result_labels(..., include_phase=False)``, the hardware id in the common case) and
    whose ``y`` are ``r.tokens_per_s`` and ``r.energy_per_token_j`` (None where not finite). Both
    value axes are logarithmic because prefill and decode differ by orders of magnitude.
    """
    labels = result_labels(results, include_phase=False)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Throughput (tokens/s)", "Energy (J/token)"))
    phases = list(dict.fromkeys(r.phase for r in results))
    palette = qualitative.Safe
    for i, phase in enumerate(phases):
        picked = [(label, r) for label, r in zip(labels, results, strict=True) if r.phase == phase]
        x = [label for label, _ in picked]
        colour = palette[i % len(palette)]
        for col, role, value, unit in ((1, "throughput", "tokens_per_s", "tokens/s"),
                                       (2, "energy", "energy_per_token_j", "J/token")):
            fig.add_trace(go.Bar(
                x=x, y=[_finite_or_none(getattr(r, value)) for _, r in picked], name=phase,
                legendgroup=phase, showlegend=col == 1, marker={"color": colour},
                hovertemplate="%{x} · " + html.escape(phase) + "<br>%{y:.4g} " + unit + "<extra></extra>",
                meta={"role": role, "phase": phase},
            ), row=1, col=col)
    fig.update_layout(title="Hardware comparison", barmode="group")
    fig.update_yaxes(type="log", title_text="tokens/s", row=1, col=1)
    fig.update_yaxes(type="log", title_text="J/token", row=1, col=2)
    return fig


def has_core_heatmap(result: Result) -> bool:
    """True when a (mesh, ``--engine sim``) result carries a per-core busy map."""
    return bool(result.extra.get("core_busy"))


def mesh_heatmap_figure(results: Sequence[Result]) -> go.Figure:
    """Per-core busy share of each simulated mesh result, as heat-maps side by side.

    ``result.extra["core_busy"]`` is a 2-D list (rows x cols, block-averaged over the grid): the
    fraction of the step each core spends computing or relaying. Results without it are skipped.
    """
    maps = [r for r in results if has_core_heatmap(r)]
    labels = result_labels(maps) if maps else []
    fig = make_subplots(rows=1, cols=max(1, len(maps)), subplot_titles=labels or None)
    for i, r in enumerate(maps, start=1):
        grid = r.extra.get("grid", "")
        fig.add_trace(go.Heatmap(z=r.extra["core_busy"], colorscale="Viridis",
                                 showscale=(i == 1), colorbar={"title": "busy"},
                                 hovertemplate=f"{html.escape(labels[i - 1])}<br>block row %{{y}}, "
                                               f"col %{{x}}<br>busy %{{z:.1%}}<extra>{grid}</extra>"),
                      row=1, col=i)
    fig.update_layout(title="Per-core busy share (simulated; blocks of cores averaged)", height=420)
    return fig


def pareto_figure(x: Sequence[float], y: Sequence[float], on_front: Sequence[bool], x_name: str, y_name: str,
                  labels: Sequence[str] | None = None, colour_by: Sequence[str] | None = None) -> go.Figure:
    """Scatter of sweep points (``x_name`` vs ``y_name``) with the Pareto front drawn as a line over the
    highlighted front points; ``colour_by`` groups the other points by an axis (e.g. hardware)."""
    fig = go.Figure()
    text = list(labels) if labels is not None else None
    groups = list(colour_by) if colour_by is not None else ["points"] * len(x)
    palette = qualitative.Plotly
    for gi, group in enumerate(dict.fromkeys(groups)):
        idx = [i for i, g in enumerate(groups) if g == group]
        fig.add_trace(go.Scattergl(
            x=[x[i] for i in idx], y=[y[i] for i in idx], mode="markers", name=str(group),
            marker={"size": 5, "opacity": 0.45, "color": palette[gi % len(palette)]},
            text=[text[i] for i in idx] if text else None, hoverinfo="x+y+text" if text else "x+y"))
    front = sorted((i for i, f in enumerate(on_front) if f), key=lambda i: x[i])
    fig.add_trace(go.Scatter(
        x=[x[i] for i in front], y=[y[i] for i in front], mode="lines+markers", name="Pareto front",
        line={"color": "black", "width": 2}, marker={"size": 9, "color": "black", "symbol": "diamond"},
        text=[text[i] for i in front] if text else None, hoverinfo="x+y+text" if text else "x+y"))
    fig.update_layout(title=f"{y_name} vs {x_name}: {len(front)} Pareto-optimal of {len(x):,} points",
                      xaxis_title=x_name, yaxis_title=y_name, template="plotly_white",
                      legend={"itemsizing": "constant"})
    if len(x) and min(x) > 0 and max(x) / max(min(x), 1e-300) > 100:
        fig.update_xaxes(type="log")
    if len(y) and min(y) > 0 and max(y) / max(min(y), 1e-300) > 100:
        fig.update_yaxes(type="log")
    return fig


# --- builders added for the Dash explorer (``web/``); the HTML report does not use them -------------------------

# Metrics the explorer's Compare page normalizes, with their display name, unit and better direction.
NORMALIZED_METRICS: dict[str, tuple[str, str, str]] = {
    "tokens_per_s": ("throughput", "tokens/s", "higher"),
    "latency_s": ("latency", "s", "lower"),
    "energy_per_token_j": ("energy", "J/token", "lower"),
    "tokens_per_usd": ("cost efficiency", "tokens/$", "higher"),
}


def normalized_figure(results: Sequence[Result], metric: str, baseline: str | None = None) -> go.Figure:
    """Grouped bars of ``metric`` (a key of ``NORMALIZED_METRICS``) relative to the ``baseline`` hardware.

    One bar trace per phase (meta ``role="normalized"``, ``phase``, ``metric``) with ``x`` = the labels
    of ``result_labels(..., include_phase=False)`` and ``y`` = value / the baseline's value in the same
    phase (1.0 for the baseline itself; None where either is missing or not finite). ``baseline``
    None (or not among the results) means the first result's hardware. The raw values are in
    ``customdata`` and the hover text.
    """
    name, unit, better = NORMALIZED_METRICS[metric]
    labels = result_labels(results, include_phase=False)
    hw_ids = list(dict.fromkeys(r.hardware for r in results))
    base = baseline if baseline in hw_ids else (hw_ids[0] if hw_ids else None)
    fig = go.Figure()
    palette = qualitative.Safe
    for i, phase in enumerate(dict.fromkeys(r.phase for r in results)):
        picked = [(label, r) for label, r in zip(labels, results, strict=True) if r.phase == phase]
        ref = next((getattr(r, metric) for _, r in picked if r.hardware == base), None)
        ys: list[float | None] = []
        raw: list[float | None] = []
        for _, r in picked:
            value = getattr(r, metric)
            raw.append(_finite_or_none(value))
            ok = ref is not None and math.isfinite(value) and math.isfinite(ref) and ref != 0
            ys.append(value / ref if ok else None)
        fig.add_trace(go.Bar(
            x=[label for label, _ in picked], y=ys, name=phase, marker={"color": palette[i % len(palette)]},
            customdata=raw,
            hovertemplate=("%{x} · " + html.escape(phase) + "<br>%{y:.3g}x " + html.escape(str(base))
                           + "<br>%{customdata:.4g} " + unit + "<extra></extra>"),
            meta={"role": "normalized", "phase": phase, "metric": metric, "baseline": base},
        ))
    fig.add_hline(y=1.0, line={"color": "black", "width": 1, "dash": "dot"})
    fig.update_layout(
        title=f"{name} ({unit}) relative to {base} — {better} is better",
        barmode="group", yaxis={"title": f"{name} / {base}", "type": "log"}, xaxis={"title": "hardware"},
    )
    return fig


def timeline_figure(events: Sequence[dict], *, max_lanes: int = 40, max_spans: int = 4000,
                    title: str = "Simulated timeline") -> go.Figure:
    """Gantt chart of a simulation trace: one row per lane (Chrome-trace ``tid``: a unit, SM, core or
    link), one horizontal bar per complete (``ph == "X"``) span, coloured by span name, time in us.

    Lanes beyond ``max_lanes`` are dropped, keeping the busiest (sum of span durations) in their order
    of first appearance; beyond ``max_spans`` spans, the earliest ``max_spans`` are drawn (the title
    says so). One bar trace per span name (meta ``role="span"``, ``name``); ``layout.meta`` holds
    ``lanes``, ``lanes_total``, ``spans`` and ``spans_total``. An empty trace gives an empty chart
    titled "no timeline events".
    """
    spans = [e for e in events if e.get("ph", "X") == "X" and "ts" in e and "dur" in e]
    lanes_total = list(dict.fromkeys(e.get("tid", "") for e in spans))
    busy: dict[object, float] = {}
    for e in spans:
        busy[e.get("tid", "")] = busy.get(e.get("tid", ""), 0.0) + float(e["dur"])
    keep = set(sorted(lanes_total, key=lambda lane: -busy[lane])[:max_lanes])
    lanes = [lane for lane in lanes_total if lane in keep]
    picked = sorted((e for e in spans if e.get("tid", "") in keep), key=lambda e: float(e["ts"]))
    total = len(picked)
    picked = picked[:max_spans]
    fig = go.Figure()
    names = list(dict.fromkeys(str(e.get("name", "")) for e in picked))
    palette = qualitative.Plotly + qualitative.D3
    for i, name in enumerate(names):
        group = [e for e in picked if str(e.get("name", "")) == name]
        fig.add_trace(go.Bar(
            base=[float(e["ts"]) for e in group], x=[float(e["dur"]) for e in group],
            y=[str(e.get("tid", "")) for e in group], orientation="h", name=name,
            marker={"color": palette[i % len(palette)], "line": {"width": 0}},
            hovertemplate=("%{y}<br><b>" + html.escape(name) + "</b><br>start %{base:.4g} us<br>"
                           "duration %{x:.4g} us<extra></extra>"),
            meta={"role": "span", "name": name},
        ))
    notes = []
    if len(lanes) < len(lanes_total):
        notes.append(f"{len(lanes)} busiest of {len(lanes_total)} lanes")
    if total > len(picked):
        notes.append(f"first {len(picked):,} of {total:,} spans")
    heading = title if spans else "no timeline events"
    fig.update_layout(
        title=heading + (f" ({'; '.join(notes)})" if notes else ""),
        barmode="overlay", bargap=0.25,
        xaxis={"title": "time (us)"},
        yaxis={"title": "lane", "type": "category", "categoryorder": "array", "categoryarray": [str(x) for x in lanes],
               "autorange": "reversed"},
        height=max(320, 140 + 22 * len(lanes)),
        meta={"lanes": len(lanes), "lanes_total": len(lanes_total), "spans": len(picked), "spans_total": total},
        legend={"title": "span"},
    )
    return fig


def sweep_figure(x: Sequence[float], y: Sequence[float], on_front: Sequence[bool], x_name: str, y_name: str,
                 ids: Sequence[str], labels: Sequence[str] | None = None,
                 colour_by: Sequence[str] | None = None) -> go.Figure:
    """``pareto_figure`` with each marker's point id (``ids[i]``, e.g. the sweep store key) in its trace's
    ``customdata``, so a click on any marker, front or not, names the point it came from.

    The traces are ``pareto_figure``'s: one per colour group in order of first appearance, then the
    front (sorted by x). Each trace's meta says its ``role`` (``"points"`` or ``"front"``).
    """
    fig = pareto_figure(x, y, on_front, x_name, y_name, labels=labels, colour_by=colour_by)
    groups = list(colour_by) if colour_by is not None else ["points"] * len(x)
    order = list(dict.fromkeys(groups))
    front = sorted((i for i, f in enumerate(on_front) if f), key=lambda i: x[i])
    for trace, group in zip(fig.data[:len(order)], order, strict=True):
        trace.customdata = [ids[i] for i, g in enumerate(groups) if g == group]
        trace.meta = {"role": "points", "group": str(group)}
    fig.data[len(order)].customdata = [ids[i] for i in front]
    fig.data[len(order)].meta = {"role": "front"}
    fig.update_layout(clickmode="event")
    return fig
