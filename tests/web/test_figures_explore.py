"""The figure builders the explorer adds to ``web.figures``: normalized bars, the simulation Gantt chart, and
the sweep scatter whose markers carry their point ids."""

from __future__ import annotations

import math

import numpy as np
import pytest

from archsim.cli import commands
from archsim.sweep.pareto import pareto_mask
from web.figures import normalized_figure, sweep_figure, timeline_figure


def test_normalized_figure_divides_by_the_baseline_per_phase() -> None:
    results = commands.compare({"model": "llama2-7b", "hw": "a100-80g,h100-sxm", "phase": "both", "seq": 512})
    fig = normalized_figure(results, "tokens_per_s", "h100-sxm")
    assert [t.meta["phase"] for t in fig.data] == ["prefill", "decode"]
    for trace in fig.data:
        by_hw = {r.hardware: r.tokens_per_s for r in results if r.phase == trace.meta["phase"]}
        assert trace.y[1] == pytest.approx(1.0)
        assert trace.y[0] == pytest.approx(by_hw["a100-80g"] / by_hw["h100-sxm"])
        assert list(trace.customdata) == pytest.approx([by_hw["a100-80g"], by_hw["h100-sxm"]])
    # an unknown baseline falls back to the first device
    assert normalized_figure(results, "latency_s", "nope").data[0].meta["baseline"] == "a100-80g"


def test_timeline_keeps_the_busiest_lanes_and_the_earliest_spans() -> None:
    events = [{"name": "gemv", "ph": "X", "tid": f"core {i}", "ts": float(j), "dur": float(i + 1)}
              for i in range(10) for j in range(30)]
    events.append({"name": "marker", "ph": "i", "tid": "core 0", "ts": 0.0})  # not a span: ignored
    fig = timeline_figure(events, max_lanes=3, max_spans=50)
    meta = fig.layout.meta
    assert (meta["lanes"], meta["lanes_total"], meta["spans"], meta["spans_total"]) == (3, 10, 50, 90)
    assert set(fig.data[0].y) == {"core 7", "core 8", "core 9"}  # the busiest (longest spans)
    assert max(fig.data[0].base) <= 16  # the earliest 50 of 90 spans by start time
    assert "3 busiest of 10 lanes" in fig.layout.title.text and "first 50 of 90 spans" in fig.layout.title.text
    empty = timeline_figure([])
    assert empty.layout.title.text == "no timeline events" and not empty.data


def test_sweep_figure_markers_carry_their_ids() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(1, 100, 200), rng.uniform(1, 100, 200)
    front = pareto_mask(x, y, "min", "max")
    groups = [("a", "b", "c")[i % 3] for i in range(200)]
    ids = [f"k{i}" for i in range(200)]
    fig = sweep_figure(x, y, front, "latency_s", "tokens_per_s", ids, colour_by=groups)
    for trace in fig.data:
        for xi, yi, key in zip(trace.x, trace.y, trace.customdata, strict=True):
            i = int(key[1:])
            assert math.isclose(xi, x[i]) and math.isclose(yi, y[i])
    (front_trace,) = [t for t in fig.data if t.meta["role"] == "front"]
    assert sorted(front_trace.customdata) == sorted(k for k, f in zip(ids, front, strict=True) if f)
    assert {t.meta["group"] for t in fig.data if t.meta["role"] == "points"} == {"a", "b", "c"}
