"""GPU kernel model: waves, padding, double buffering, the M1/M2 heuristic, SimPy vs analytic."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from archsim.analytic.gpu import Kernel, TileClass, gpu_params, kernel_time, tile_time
from archsim.cli.main import main
from archsim.evaluate import evaluate, evaluate_kernel
from archsim.hardware import load_hardware
from archsim.sim.core import Trace
from archsim.sim.gpu import simulate_kernel
from mappers.gpu import (
    FLAT_BN,
    flat_gemm_kernel,
    gemm_kernel,
    gemv_kernel,
    matmul_kernel,
    select_impl,
    thresholds,
)

A100 = gpu_params(load_hardware("a100-80g"))


def _compute_kernel(tiles: int) -> Kernel:
    """Compute-bound tiles, one block per SM: 1 GFLOP each, nothing to load."""
    tc = TileClass(count=tiles, steps=1, hbm_bytes=0.0, l2_bytes=0.0, flops=1e9, unit="tensor", inflight_bytes=1.0)
    return Kernel("k", "test", (tc,), 1, A100.tensor_peak(16)[1])


def test_wave_quantization_is_visible() -> None:
    per_wave = 1e9 / (A100.tensor_peak(16)[1] / A100.n_sm)  # one tile alone on its SM
    fixed = A100.launch_s + A100.dram_latency_s
    t108, t109, t216 = (kernel_time(_compute_kernel(n), A100).time_s - fixed for n in (108, 109, 216))
    assert t108 == pytest.approx(per_wave)
    assert t109 == pytest.approx(2 * per_wave)  # one tile more than SMs costs a whole wave
    assert t216 == pytest.approx(t109)
    # the example: 4096 vs 4352 tiles on 108 SMs -> 38 vs 41 waves (+7.9 %, work +6.25 %)
    t4096, t4352 = (kernel_time(_compute_kernel(n), A100) for n in (4096, 4352))
    assert (t4096.waves, t4352.waves) == (math.ceil(4096 / 108), math.ceil(4352 / 108)) == (38, 41)
    assert (t4352.time_s - fixed) / (t4096.time_s - fixed) == pytest.approx(41 / 38)


def test_wave_quantization_in_the_simulator_too() -> None:
    fixed = A100.launch_s + A100.dram_latency_s
    s108, s109 = (simulate_kernel(_compute_kernel(n), A100).time_s - fixed for n in (108, 109))
    assert s109 == pytest.approx(2 * s108, rel=1e-9)


def test_flat_gemm_pads_m_to_8() -> None:
    # compute term constant for M = 1..8 (padding to the MMA granularity), then it steps at 9
    flops = {m: flat_gemm_kernel(m, 4096, 4096, 2.0, 2.0, 16, A100, 128).flops for m in range(1, 10)}
    assert len({flops[m] for m in range(1, 9)}) == 1
    assert flops[9] == 2 * flops[8]
    assert flops[1] == 2 * 8 * 4096 * 4096


def test_flat_gemm_parallelism_shrinks_with_bn() -> None:
    # n_blk = ceil(N / BN) decreases and the per-tile compute-to-memory ratio R(BN) increases with BN
    kernels = [flat_gemm_kernel(8, 4096, 4096, 2.0, 2.0, 16, A100, bn) for bn in FLAT_BN]
    tiles = [k.tiles for k in kernels]
    ratios = [k.classes[0].flops / k.classes[0].l2_bytes for k in kernels]
    assert tiles == sorted(tiles, reverse=True) and len(set(tiles)) == len(tiles)
    assert ratios == sorted(ratios)


@pytest.mark.parametrize(("load", "mma"), [(1.0, 1.0), (1.0, 3.0), (5.0, 0.5), (0.0, 2.0)])
def test_double_buffering_never_slower_and_at_most_2x(load: float, mma: float) -> None:
    tc = TileClass(count=1, steps=8, hbm_bytes=load * 8, l2_bytes=0.0, flops=mma * 8, unit="tensor",
                   inflight_bytes=1.0)
    double, _, _ = tile_time(tc, 1.0, 1.0, 1.0)
    single, _, _ = tile_time(replace(tc, double_buffer=False), 1.0, 1.0, 1.0)
    assert double <= single <= 2 * double + 1e-12
    assert double == pytest.approx(load + 7 * max(load, mma) + mma)  # prologue, overlap, epilogue


SHAPES = [(12288, 4096), (4096, 4096), (11008, 4096), (4096, 11008), (1024, 4096)]


@pytest.mark.parametrize(("n", "k"), SHAPES)
def test_thresholds_are_the_models_own_crossovers(n: int, k: int) -> None:
    m1, m2 = thresholds(n, k, 2.0, 2.0, 16, A100)

    def t(impl: str, m: int) -> float:
        return kernel_time(matmul_kernel(impl, m, n, k, 2.0, 2.0, 16, A100), A100).time_s

    assert m1 <= m2
    assert t("flat-gemm", m1) < t("gemv", m1)
    assert all(t("flat-gemm", m) >= t("gemv", m) for m in range(1, int(m1)))
    if not math.isinf(m2):
        assert t("gemm", m2) < t("flat-gemm", m2)
        assert all(t("gemm", m) >= t("flat-gemm", m) for m in range(int(m1), int(m2)))
    # the selector is piecewise in M exactly at those thresholds
    for m in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512):
        expected = "gemv" if m < m1 else ("flat-gemm" if m < m2 else "gemm")
        assert select_impl(m, n, k, 2.0, 2.0, 16, A100) == expected


def test_thresholds_depend_on_the_device() -> None:
    # not typed in: another device with other SMs and bandwidth gets other crossovers
    h100 = gpu_params(load_hardware("h100-sxm"))
    assert {thresholds(n, k, 2.0, 2.0, 16, A100) for n, k in SHAPES} != {
        thresholds(n, k, 2.0, 2.0, 16, h100) for n, k in SHAPES}


def test_kernel_cli_shows_switching(capsys: pytest.CaptureFixture[str]) -> None:
    m1, m2 = thresholds(4096, 4096, 2.0, 2.0, 16, A100)
    seen = {}
    for m in (1, 2, 4, 8, 16, 32, 64, 256):
        assert main(["kernel", "gemm", "--hw", "a100-80g", "--m", str(m), "--n", "4096", "--k", "4096",
                     "--mapper", "auto", "--format", "json"]) == 0
        out = json.loads(capsys.readouterr().out)
        seen[m] = out["kernel"].split()[0]
        assert (out["m1"], out["m2"]) == (m1, m2)
        assert seen[m] == ("gemv" if m < m1 else "flat-gemm" if m < m2 else "gemm")
    assert len(set(seen.values())) >= 2  # it does switch in this range


def test_gemv_memory_bound_near_achievable_bandwidth() -> None:
    # 16K x 16K fp16: 537 MB at 0.88 x 2039 GB/s, plus launch and one DRAM latency
    k = gemv_kernel(1, 16384, 16384, 2.0, 2.0, A100)
    t = kernel_time(k, A100)
    ideal = k.hbm_bytes / A100.hbm_Bps + A100.launch_s + A100.dram_latency_s
    assert t.bound == "memory"
    # above the ideal only by each wave's pipeline epilogue (the last slice's compute): < 2 %
    assert ideal < t.time_s < ideal * 1.02


def test_littles_law_caps_few_tiles() -> None:
    # 32 tiles of a conventional GEMM at M = 1 cannot draw full HBM bandwidth: each is capped at its
    # bytes in flight / DRAM latency, so the O-projection GEMM is slower than the GEMV
    gemm = gemm_kernel(1, 4096, 4096, 2.0, 2.0, 16, A100, 64, 128)
    tc = gemm.classes[0]
    assert gemm.tiles == 32
    assert tc.inflight_bytes / A100.dram_latency_s * 32 < A100.hbm_Bps
    assert kernel_time(gemm, A100).time_s > kernel_time(gemv_kernel(1, 4096, 4096, 2.0, 2.0, A100), A100).time_s


REGULAR = [
    lambda: gemv_kernel(1, 16384, 16384, 2.0, 2.0, A100),
    lambda: matmul_kernel("flat-gemm", 8, 11008, 4096, 2.0, 2.0, 16, A100),
    lambda: matmul_kernel("gemm", 4096, 14336, 4096, 2.0, 2.0, 16, A100),
    lambda: matmul_kernel("gemm", 1, 4096, 11008, 2.0, 2.0, 16, A100),
]


@pytest.mark.parametrize("build", REGULAR)
def test_simulator_agrees_with_analytic_on_regular_shapes(build) -> None:  # type: ignore[no-untyped-def]
    # Bound 5 % (issue 3): uniform tiles under fair sharing finish together, so the wave formula and
    # the event simulation describe the same schedule.
    kernel = build()
    assert simulate_kernel(kernel, A100).time_s == pytest.approx(kernel_time(kernel, A100).time_s, rel=0.05)


@pytest.mark.parametrize(("model", "hw", "phase", "seq"), [
    ("llama3-8b", "a100-80g", "decode", 4096), ("llama3-8b", "a100-80g", "prefill", 2048),
    ("llama2-7b", "h100-sxm", "prefill", 1024), ("qwen3-1.7b", "mi210", "decode", 256)])
def test_whole_model_sim_within_5_percent_of_analytic(model: str, hw: str, phase: str, seq: int) -> None:
    a = evaluate(model, hw, phase, 1, seq)
    s = evaluate(model, hw, phase, 1, seq, engine="sim")
    assert s.latency_s == pytest.approx(a.latency_s, rel=0.05)
    assert s.engine == "sim" and a.engine == "analytic"


def test_causal_attention_backfills_in_the_simulator() -> None:
    # Causal FlashAttention tiles differ in size; the analytic waves wait for the largest tile of
    # each wave, the simulator lets finished slots take new tiles, so it is never slower.
    from mappers.gpu import prefill_attention_kernel

    kernel = prefill_attention_kernel(32, 8, 4096, 4096, 128, 2.0, 2.0, 16, A100)
    assert len(kernel.classes) == 32
    sim, ana = simulate_kernel(kernel, A100).time_s, kernel_time(kernel, A100).time_s
    assert sim <= ana * (1 + 1e-9)
    # and no faster than all the work on all SMs at full rate
    assert sim >= kernel.flops / kernel.peak_ops


def test_kernel_mappers_are_slower_than_the_roofline() -> None:
    for mapper in ("gemm", "auto", "gemv", "flat-gemm"):
        r = evaluate("llama2-7b", "a100-80g", "decode", 1, 1024, mapper=mapper)
        assert r.latency_s > r.extra["roofline_latency_s"]


def test_kernel_json_reports_the_roofline_beside() -> None:
    out = evaluate_kernel("gemv", "a100-80g", 1, 16384, 16384)
    assert out["mapper"] == "gemm" and out["latency_s"] > out["roofline_latency_s"]
    assert out["roofline_latency_s"] == pytest.approx(16384 * 16384 * 2 * (1 + 2 / 16384) / 2039e9)


def test_trace_written_by_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.json"
    assert main(["run", "--model", "llama2-7b", "--hw", "a100-80g", "--phase", "decode", "--seq", "256",
                 "--engine", "sim", "--trace", str(path), "--format", "json"]) == 0
    data = json.loads(path.read_text())
    kernels = [e for e in data["traceEvents"] if e["tid"] == "stream"]
    assert len(kernels) >= 10
    ends = [e["ts"] + e["dur"] for e in kernels]
    assert all(b["ts"] >= a_end - 1e-6 for a_end, b in zip(ends, kernels[1:], strict=False))  # back to back


def test_trace_needs_the_simulator() -> None:
    trace = Trace()
    evaluate("llama2-7b", "a100-80g", "decode", 1, 256, engine="sim", trace=trace)
    assert trace.events
