"""HTML report and the shared Plotly figure builders: structure and numbers, checked against Result."""

from __future__ import annotations

import math
import re
from functools import partial
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from archsim import evaluate as _ev
from archsim.hardware import HardwareSpec, load_hardware
from archsim.report import write_report
from archsim.result import Result
from web.figures import (
    comparison_figure,
    latency_breakdown_figure,
    memory_figure,
    result_labels,
    roofline_figure,
)

# The figures are checked on roofline results (the GPU default is the kernel-level `auto` mapper).
evaluate = partial(_ev.evaluate, mapper="roofline")

HARDWARE = ("a100-40g", "h100-sxm")
PHASES = ("prefill", "decode")


def _traces(fig: go.Figure, role: str) -> list[Any]:
    return [t for t in fig.data if t.meta and t.meta.get("role") == role]


@pytest.fixture(scope="module")
def results() -> list[Result]:
    return [evaluate("llama2-7b", hw, phase, 1, 128) for hw in HARDWARE for phase in PHASES]


@pytest.fixture(scope="module")
def specs() -> dict[str, HardwareSpec]:
    return {hw: load_hardware(hw) for hw in HARDWARE}


@pytest.fixture(scope="module")
def report_html(results: list[Result], tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "nested" / "dir" / "report.html"
    out = write_report(results, path, "llama2-7b <A100 & H100>")
    assert out == path and path.is_file()
    return path.read_text(encoding="utf-8")


# --- report -----------------------------------------------------------------------------------


def test_report_creates_parent_dirs_and_returns_path(results: list[Result], tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "r.html"
    assert write_report(results[:1], str(path), "one") == path
    assert path.stat().st_size > 1_000_000  # plotly.js inline is megabytes


def test_report_is_self_contained_with_plotlyjs_once(report_html: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc\s*=", report_html), "every script must be inline"
    assert "<link" not in report_html
    assert "cdn.plot.ly/plotly" not in report_html
    # The bundle's banner comment is unique to it: exactly one copy of plotly.js.
    banner = get_plotlyjs()[:60]
    assert report_html.count(banner) == 1


def test_report_has_one_figure_div_per_chart(report_html: str) -> None:
    assert report_html.count('class="plotly-graph-div"') == 4
    for div_id in ("roofline", "latency-breakdown", "memory", "comparison"):
        assert f'id="{div_id}" class="plotly-graph-div"' in report_html
        assert len(re.findall(rf'Plotly\.newPlot\(\s*"{div_id}"', report_html)) == 1


def test_report_escapes_title(report_html: str) -> None:
    assert "<title>llama2-7b &lt;A100 &amp; H100&gt;</title>" in report_html
    assert "<A100 & H100>" not in report_html


def test_report_lists_every_op_in_a_details_table(results: list[Result], report_html: str) -> None:
    assert report_html.count("<details>") == len(results)
    for r in results:
        for c in r.ops:
            assert f"<td>{c.op.name}</td>" in report_html


def test_report_summary_numbers(results: list[Result], report_html: str) -> None:
    for r in results:
        assert f"{r.latency_s * 1e3:.3f}" in report_html
        assert f"{r.tokens_per_s:,.1f}" in report_html
        assert f"{r.energy_per_token_j:.4g}" in report_html
        assert f"{r.memory.total_bytes / 1e9:.2f} / {r.capacity_bytes / 1e9:.2f}" in report_html
    assert report_html.count('class="fits-yes"') == len(results)


def test_report_shows_warnings(tmp_path: Path) -> None:
    r = evaluate("llama2-13b", "a100-40g", "decode", 64, 4096)  # KV cache far beyond 40 GB
    assert r.warnings and not r.fits_memory
    text = write_report([r], tmp_path / "w.html", "warn").read_text(encoding="utf-8")
    assert 'class="warnings"' in text
    for w in r.warnings:
        assert w.replace("'", "&#x27;") in text
    assert 'class="fits-no"' in text


def test_report_rejects_no_results(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one result"):
        write_report([], tmp_path / "x.html", "empty")


def test_report_of_generation_result(tmp_path: Path) -> None:
    r = evaluate("llama2-7b", "h100-sxm", seq=128, gen=4, w_bits=8, a_bits=8, kv_bits=8)
    text = write_report([r], tmp_path / "g.html", "gen").read_text(encoding="utf-8")
    assert "<td>prefill/q_proj</td>" in text and "<td>decode/lm_head</td>" in text
    assert "ttft_s" in text


# --- figures ----------------------------------------------------------------------------------


def test_labels_are_hardware_and_phase_and_unique(results: list[Result]) -> None:
    assert result_labels(results) == [f"{r.hardware} · {r.phase}" for r in results]
    twice = results + results[:1]
    labels = result_labels(twice)
    assert len(set(labels)) == len(twice)


def test_roofline_has_one_point_per_plottable_op(results: list[Result], specs: dict[str, HardwareSpec]) -> None:
    fig = roofline_figure(results, specs)
    ops = _traces(fig, "ops")
    assert len(ops) == len(results)
    for r, trace in zip(results, ops, strict=True):
        expected = [c for c in r.ops
                    if c.op.flops > 0 and c.op.bytes > 0 and math.isfinite(c.op.intensity)]
        assert len(trace.x) == len(expected)
        assert list(trace.customdata) == [c.op.name for c in expected]
        for c, x, y in zip(expected, trace.x, trace.y, strict=True):
            assert x == pytest.approx(c.op.intensity, rel=1e-12)
            assert y == pytest.approx(c.op.flops / c.time_s / 1e12, rel=1e-12)
    # The embedding lookup has no FLOPs, so it has no point on log axes.
    assert "embedding" not in {n for t in ops for n in t.customdata}


def test_roofline_roof_is_fp16_peak_with_ridge_at_peak_over_bandwidth(
        results: list[Result], specs: dict[str, HardwareSpec]) -> None:
    fig = roofline_figure(results, specs)
    roofs = {t.meta["hardware"]: t for t in _traces(fig, "roof") if t.meta["dtype"] == "fp16"}
    assert set(roofs) == set(HARDWARE)
    for hw, trace in roofs.items():
        spec = specs[hw]
        peak, bw = spec.peaks_ops["fp16"].value, spec.memory.bandwidth_Bps.value
        x, y = list(trace.x), list(trace.y)
        assert x[1] == pytest.approx(peak / bw, rel=1e-12)
        assert y[1] == y[2] == pytest.approx(peak / 1e12, rel=1e-12)
        assert y[0] == pytest.approx(bw * x[0] / 1e12, rel=1e-12)  # bandwidth slope
        assert x[0] < min(t for tr in _traces(fig, "ops") for t in tr.x) and x[2] > peak / bw


def test_roofline_draws_other_peaks_used(specs: dict[str, HardwareSpec]) -> None:
    r = evaluate("llama2-7b", "a100-40g", "decode", 1, 128, w_bits=8, a_bits=8, kv_bits=8)
    fig = roofline_figure([r], specs)
    dtypes = {t.meta["dtype"]: t for t in _traces(fig, "roof")}
    used = {c.peak_dtype: c.peak_ops for c in r.ops}
    assert "int8" in used
    for dtype, peak in used.items():
        assert dtypes[dtype].y[-1] == pytest.approx(peak / 1e12, rel=1e-12)


def test_roofline_without_spec_or_points() -> None:
    r = evaluate("llama2-7b", "a100-40g", "decode", 1, 128)
    fig = roofline_figure([r], {})
    assert not _traces(fig, "roof") and len(_traces(fig, "ops")) == 1
    assert len(roofline_figure([], {}).data) == 0


def test_breakdown_sums_to_latency(results: list[Result]) -> None:
    fig = latency_breakdown_figure(results)
    bars = _traces(fig, "latency")
    cats = {t.meta["category"] for t in bars}
    assert {"attention", "matmul/linear", "lm_head", "softmax", "norm", "elementwise", "embedding"} == cats
    for i, r in enumerate(results):
        assert all(t.y[i] == f"{r.hardware} · {r.phase}" for t in bars)
        total_ms = sum(t.x[i] for t in bars)
        assert total_ms == pytest.approx(r.latency_s * 1e3, rel=1e-9)
        lm_head = next(t for t in bars if t.meta["category"] == "lm_head")
        assert lm_head.x[i] == pytest.approx(
            sum(c.total_time_s for c in r.ops if c.op.kind == "lm_head") * 1e3, rel=1e-12)


def test_memory_figure_values_in_gb(results: list[Result]) -> None:
    fig = memory_figure(results)
    bars = {t.meta["component"]: t for t in _traces(fig, "memory")}
    (capacity,) = _traces(fig, "capacity")
    for i, r in enumerate(results):
        assert bars["weight_bytes"].y[i] == pytest.approx(r.memory.weight_bytes / 1e9, rel=1e-12)
        assert bars["kv_bytes"].y[i] == pytest.approx(r.memory.kv_bytes / 1e9, rel=1e-12)
        assert bars["activation_bytes"].y[i] == pytest.approx(r.memory.activation_bytes / 1e9, rel=1e-12)
        assert capacity.y[i] == pytest.approx(r.capacity_bytes / 1e9, rel=1e-12)


def test_comparison_groups_by_phase(results: list[Result]) -> None:
    fig = comparison_figure(results)
    for role, attr in (("throughput", "tokens_per_s"), ("energy", "energy_per_token_j")):
        traces = {t.meta["phase"]: t for t in _traces(fig, role)}
        assert set(traces) == set(PHASES)
        for phase, trace in traces.items():
            picked = [r for r in results if r.phase == phase]
            assert list(trace.x) == [r.hardware for r in picked]
            assert list(trace.y) == pytest.approx([getattr(r, attr) for r in picked], rel=1e-12)
