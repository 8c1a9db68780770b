"""FlightLLM stream model (spec fpga_sparse_dsp.md sec. 5, 6, 9, 12, 13): closed forms, scheduler semantics,
co-design hook, mapper options and errors."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest

from archsim.analytic.fpga import (
    GROUP_KV,
    LD,
    ST,
    UNITS,
    Lowering,
    Stream,
    UnitCost,
    chains_that_fit,
    choose_mv_parallelism,
    dsp_utilization,
    fpga_params,
    kept_attention_blocks,
    list_schedule,
    lower_ops,
    pad,
    schedule_step,
    wait_release_bits,
)
from archsim.errors import InputError
from archsim.evaluate import evaluate, evaluate_kernel
from archsim.hardware.registry import load_hardware
from models.config import load_model
from models.workload import Workload


def _decode_ops(kv_len: int, model: str = "llama2-7b"):  # type: ignore[no-untyped-def]
    # A decode step at ``seq`` attends over seq + 1 keys (the new token's too).
    return Workload(load_model(model), "decode", 1, kv_len - 1, 16, 16, 16, None).ops()


def _closed_form_mv_ms(kv: int) -> float:
    """Spec 13: MV busy per LLaMA2-7B decode token on the VHK158 artifact model."""
    linears = [(4096, 4096, 0.7), (4096, 4096, 0.7), (4096, 4096, 1), (4096, 4096, 1), (4096, 11008, 1),
               (4096, 11008, 1), (11008, 4096, 1)]
    macs = (32 * sum(k * pad(n, 512) * rho for k, n, rho in linears) + 4096 * pad(32000, 512)
            + 32 * 32 * (128 * pad(kv, 512) + 512 * pad(kv, 16)))
    return macs / (1024 * 225e6 * 3.2) * 1e3


@pytest.mark.parametrize(("kv", "published_ms"), [(144, 8.810), (256, 8.890), (512, 9.072), (768, 9.345),
                                                  (1024, 9.527)])
def test_mv_busy_equals_the_closed_form_and_the_artifact(kv: int, published_ms: float) -> None:
    p = fpga_params(load_hardware("vhk158"))
    timing = schedule_step(_decode_ops(kv), p, Lowering(precision="artifact"), decode=True)
    mv_ms = timing.busy["MV"] * 1e3
    assert mv_ms == pytest.approx(_closed_form_mv_ms(kv), abs=1e-6)
    assert mv_ms == pytest.approx(published_ms, abs=1e-3)
    assert timing.total >= max(timing.busy.values())  # busy[u] <= TOTAL


def test_prefill_linear_mm_time_matches_the_closed_form() -> None:
    # Spec 13: 32 * pad128(S) * sum K * pad16(N) * rho / (4096 * 225e6 * 3.2) = 267.10 ms at S = 128.
    p = fpga_params(load_hardware("vhk158"))
    ops = Workload(load_model("llama2-7b"), "prefill", 1, 128, 16, 16, 16, None).ops()
    stream = lower_ops(ops, p, Lowering(precision="artifact"), decode=False)
    mm = sum(d for u, d, o in zip(stream.unit, stream.duration, stream.op, strict=True)
             if UNITS[u] == "MM" and ops[o].kind == "matmul")
    assert mm * 1e3 == pytest.approx(267.10, abs=0.01)


@pytest.mark.parametrize(("hw", "onchip", "decode"), [("vhk158", True, True), ("u280", False, True),
                                                      ("u280", True, False)])
def test_layer_extrapolation_equals_the_full_stream(hw: str, onchip: bool, decode: bool) -> None:
    p = fpga_params(load_hardware(hw))
    ops = _decode_ops(300) if decode else Workload(load_model("llama2-7b"), "prefill", 1, 128, 16, 16, 16,
                                                   None).ops()
    low = Lowering(onchip=onchip)
    fast, full = schedule_step(ops, p, low, decode), schedule_step(ops, p, low, decode, exact=True)
    assert fast.total == pytest.approx(full.total, rel=1e-9)
    assert fast.hbm_bytes == pytest.approx(full.hbm_bytes, rel=1e-9)
    assert fast.counts == full.counts
    for unit, busy in full.busy.items():
        assert fast.busy[unit] == pytest.approx(busy, rel=1e-9)
    np.testing.assert_allclose(fast.per_op, full.per_op, rtol=1e-7, atol=1e-12)
    assert full.per_op.sum() == pytest.approx(full.total, rel=1e-12)


def _fifo_schedule(stream: Stream) -> float:
    """Spec 12.2 verbatim: in-order queues, wait/release FIFOs per unit pair, deadlock = no progress."""
    wait, release = wait_release_bits(stream)
    queues = {u: deque(i for i in range(len(stream)) if stream.unit[i] == u) for u in range(len(UNITS))}
    fifo: dict[tuple[int, int], deque[float]] = {}
    free = [0.0] * len(UNITS)
    while any(queues.values()):
        progress = False
        for u, q in queues.items():
            while q:
                i = q[0]
                producers = [p for p in range(len(UNITS)) if wait[i] >> p & 1]
                if any(not fifo.get((p, u)) for p in producers):
                    break
                start = max([free[u]] + [fifo[(p, u)].popleft() for p in producers])
                free[u] = start + stream.duration[i]
                for c in range(len(UNITS)):
                    if release[i] >> c & 1:
                        fifo.setdefault((u, c), deque()).append(free[u])
                q.popleft()
                progress = True
        if not progress:
            raise RuntimeError("deadlock")
    assert all(not f for f in fifo.values())  # every release was consumed
    return max(free)


@pytest.mark.parametrize("onchip", [True, False])
def test_isa_wait_release_fifos_reproduce_the_dependency_schedule(onchip: bool) -> None:
    p = fpga_params(load_hardware("u280"))
    stream = lower_ops(_decode_ops(200), p, Lowering(onchip=onchip), True, 2)
    assert _fifo_schedule(stream) == pytest.approx(list_schedule(stream).total, rel=1e-12)


def test_ping_pong_toy_program() -> None:
    s = Stream()
    a = s.emit(LD, 2.0, 0)
    b = s.emit(UNITS.index("MV"), 3.0, 0, (a,))
    c = s.emit(LD, 1.0, 0, (b,))
    s.emit(UNITS.index("MV"), 1.0, 0, (c,))
    sched = list_schedule(s)
    assert list(sched.start) == [0.0, 2.0, 5.0, 6.0]
    assert sched.total == 7.0
    free = Stream()
    free.emit(LD, 2.0, 0)
    free.emit(ST, 5.0, 0)
    assert list_schedule(free).total == 5.0  # no dependencies: TOTAL = max busy


def test_eq3_mv_example_is_compute_bound_and_respects_the_budget() -> None:
    # Spec 5: VHK158 MV parallelism 1,024 MAC/cycle, 4096 x 4096 INT4: 72.8 us of MACs vs 9.5 us of HBM.
    t_cmp = 4096 * 4096 / (1024 * 225e6)
    t_mem = 4096 * 4096 * 0.5 / 879.6e9
    assert t_cmp * 1e6 == pytest.approx(72.8, abs=0.1) and t_mem * 1e6 == pytest.approx(9.5, abs=0.1)
    pk, pn, t = choose_mv_parallelism(4096, 4096, 0.5, 879.6e9, 225e6, 1024)
    assert pk * pn <= 1024 and t == pytest.approx(t_cmp, rel=1e-9)
    previous = math.inf
    for budget in (256, 1024, 4096, 16384, 65536):
        pk, pn, t = choose_mv_parallelism(4096, 4096, 0.5, 879.6e9, 225e6, budget)
        assert pk * pn <= budget and t <= previous
        previous = t
    # With a big budget the tile is HBM-bound and the chooser stops adding MACs that would idle.
    pk, pn, t = choose_mv_parallelism(4096, 4096, 0.5, 879.6e9, 225e6, 1 << 20)
    assert t == pytest.approx((4096 * 4096 * 0.5 + 8192) / 879.6e9)
    assert pk * pn < 1 << 20


def test_chains_fit_the_dsp_budget_and_a_synthesized_unit_cost() -> None:
    u280 = load_hardware("u280")
    assert chains_that_fit(u280) == 6345 // 32
    # A synthesized unit that also needs LUTs: the scarcer resource decides.
    assert chains_that_fit(u280, UnitCost(dsp=32, lut=20000)) == 1303680 // 20000
    p = fpga_params(u280, UnitCost(dsp=64))
    assert p.mm_rate == (6345 // 64) * 32 * 2
    with pytest.raises(InputError, match="chain"):
        fpga_params(u280, UnitCost(dsp=10000))


@pytest.mark.parametrize("hw_id", ["u280", "vhk158", "v80"])
def test_preset_int8_peak_is_the_chains_that_fit(hw_id: str) -> None:
    hw = load_hardware(hw_id)
    p = fpga_params(hw)
    assert hw.peak("int8") == pytest.approx(2 * p.mm_rate * p.f * p.divisor, rel=0.002)
    assert p.chains * p.chain_dsps <= hw.fpga.dsp_budget.value <= hw.fpga.dsp_total.value  # type: ignore[union-attr]


@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_every_supported_pattern_keeps_all_dsps_busy(n: int) -> None:
    assert dsp_utilization(n, 16, 32, 2) == 1.0
    assert dsp_utilization(6, 16, 32, 2) == pytest.approx(30 / 32)  # 5 blocks of 6 DSPs in a chain of 32


def test_kernel_compute_time_scales_with_density() -> None:
    busy = {}
    for n in (2, 4, 8, 16):
        out = evaluate_kernel("gemv", "u280", 1, 4096, 4096, w_bits=4, sparsity=f"{n}:16", mapper="sparse-dsp")
        busy[n] = out["compute_busy_s"]
        assert out["dsp_utilization"] == 1.0 and out["density"] == n / 16
    for n in (2, 4, 8):
        assert busy[n] / busy[16] == pytest.approx(n / 16, rel=1e-12)


def test_onchip_decode_removes_activation_traffic_and_is_never_slower() -> None:
    p = fpga_params(load_hardware("u280"))
    ops = _decode_ops(512)
    on = lower_ops(ops, p, Lowering(onchip=True), True)
    off = lower_ops(ops, p, Lowering(onchip=False), True)
    kv_traffic = sum(op.load_kv * op.repeat + op.store_kv * op.repeat for op in ops)
    on_kv = sum(b for b, g in zip(on.nbytes, on.group, strict=True) if g == GROUP_KV)
    # On chip, the only non-weight HBM traffic is the KV cache (read padded to 16 keys) and its append.
    assert on_kv == pytest.approx(kv_traffic, rel=0.05)
    assert sum(b for b, g in zip(off.nbytes, off.group, strict=True) if g == GROUP_KV) > on_kv
    assert list_schedule(on).total <= list_schedule(off).total
    for seq in (128, 1024):
        r_on = evaluate("llama2-7b", "u280", phase="decode", seq=seq, mapper="sparse-dsp:onchip=on")
        r_off = evaluate("llama2-7b", "u280", phase="decode", seq=seq, mapper="sparse-dsp:onchip=off")
        assert r_on.latency_s <= r_off.latency_s


def test_decode_lengths_run_their_16_bucket() -> None:
    lat = [evaluate("llama2-7b", "vhk158", phase="decode", seq=s, mapper="sparse-dsp").latency_s
           for s in (144, 150, 159, 160)]
    assert lat[0] == lat[1] == lat[2] < lat[3]  # KV 145..160 share the pad16 = 160 stream


def test_prefill_attention_blocks_are_causal_and_block_sparse() -> None:
    assert kept_attention_blocks(128, 128) == 3  # 2 x 2 blocks, causal
    assert kept_attention_blocks(512, 512) == 8 * 9 // 2  # dense prefix
    dense = 32 * 33 // 2
    assert kept_attention_blocks(2048, 2048) / dense == pytest.approx(0.30, abs=0.01)  # shipped masks' mean


def test_mapper_errors_are_one_sentence_input_errors() -> None:
    with pytest.raises(InputError, match="multiple of the DSP group"):
        evaluate_kernel("gemv", "u280", 1, 4096, 4096, w_bits=4, sparsity="3:16", mapper="sparse-dsp")
    with pytest.raises(InputError, match="power of two up to 16"):
        evaluate_kernel("gemv", "u280", 1, 4096, 4096, w_bits=4, sparsity="2:32", mapper="sparse-dsp")
    with pytest.raises(InputError, match="2, 3, 4 or 8-bit"):
        evaluate_kernel("gemv", "u280", 1, 4096, 4096, w_bits=5, mapper="sparse-dsp")
    long = evaluate("llama2-7b", "u280", phase="decode", seq=4000, mapper="sparse-dsp")
    assert any("up to 2048" in w for w in long.warnings)
    with pytest.raises(InputError, match="unknown sparse-dsp option"):
        evaluate("llama2-7b", "u280", phase="decode", seq=100, mapper="sparse-dsp:speed=11")
    with pytest.raises(InputError, match="must be on or off"):
        evaluate("llama2-7b", "u280", phase="decode", seq=100, mapper="sparse-dsp:onchip=maybe")


def test_mixed_precision_map_averages_about_3_5_bits() -> None:
    res = evaluate("llama2-7b", "u280", phase="decode", seq=256, mapper="sparse-dsp:precision=paper")
    assert res.extra["avg_weight_bits"] == pytest.approx(3.5, abs=0.1)
    art = evaluate("llama2-7b", "u280", phase="decode", seq=256, mapper="sparse-dsp")
    assert art.extra["avg_weight_bits"] == 4.0 and art.extra["precision_map"] == "auto"
    assert res.extra["hbm_bytes"] < art.extra["hbm_bytes"]


@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_mapper_dsp_utilization_agrees_with_the_chain_cycle_model(n: int) -> None:
    from kernels_ref import sparse as ref

    rng = np.random.default_rng(n)
    x = rng.integers(-127, 128, size=(2, 128)).astype(np.int8)
    w = ref.prune_nm(rng.integers(-127, 128, size=(64, 128)).astype(np.int8), n, 16)
    _, stats = ref.simulate_chain(x, ref.encode_fsb(w, n), chain_len=32)
    assert stats.utilization == pytest.approx(dsp_utilization(n, 16, 32, 2))


def test_emulate_runs_the_chain_against_jax() -> None:
    from mappers import get_mapper

    got, want = get_mapper("sparse-dsp", "fpga").emulate(2, 64, 32, 8, pattern=4)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_onchip_decode_utilisation_jump() -> None:
    """Spec 6: 35.6 % (off, INT8; the calibration point of access_overhead_s) -> 65.9 % (on, mixed
    precision; not fitted) within 3 points."""
    off = evaluate("llama2-7b", "u280", phase="decode", seq=512, mapper="sparse-dsp:onchip=off,precision=int8")
    on = evaluate("llama2-7b", "u280", phase="decode", seq=512, mapper="sparse-dsp:onchip=on,precision=paper")
    assert off.extra["hbm_utilization"] == pytest.approx(0.356, abs=0.03)
    assert on.extra["hbm_utilization"] == pytest.approx(0.659, abs=0.03)


def test_memory_footprint_counts_the_weights_as_the_fpga_stores_them() -> None:
    res = evaluate("llama3-8b", "u280", phase="decode", seq=1024, mapper="sparse-dsp")
    fp16 = evaluate("llama3-8b", "a100-80g", phase="decode", seq=1024)
    # INT4 linears (q/k 0.7 dense plus 4-bit indices): about a quarter of FP16, so the model fits the 8 GB card.
    assert res.memory.weight_bytes < 0.35 * fp16.memory.weight_bytes
    assert res.fits_memory and not any("but u280 has" in w for w in res.warnings)
