"""SimPy model of the FlightLLM instruction stream (archsim.sim.fpga) against the list scheduler (spec
fpga_sparse_dsp.md sec. 12.2): toy programs with hand-computed timelines, deadlock detection, HBM sharing
between concurrent LD/ST, and equality with ``list_schedule`` on real LLaMA2-7B streams.

Bounds: without overlapping transfers the simulation *is* the list schedule (same float additions, so
starts and ends agree to rounding). With the real streams an ST (KV append) overlaps an LD on the same
channels now and then; shared bandwidth only delays, so every instruction ends no earlier than in the list
schedule, and the total stays within 5 % (measured on the full LLaMA2-7B streams: VHK158 equal to rounding,
the stalled transfers are off the critical path; U280 decode +0.007 %, V80 decode +0.05 %; prefill equal).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from archsim.analytic.fpga import (
    GROUP_KV,
    GROUP_WEIGHT,
    LD,
    MISC,
    MV,
    ST,
    UNITS,
    Lowering,
    Stream,
    fpga_params,
    list_schedule,
    lower_ops,
    schedule_step,
)
from archsim.errors import InputError
from archsim.hardware import load_hardware
from archsim.sim.core import Trace
from archsim.sim.fpga import (
    ChannelMap,
    StreamDeadlock,
    channel_map,
    default_channel_map,
    hbm_stall,
    simulate_step,
    simulate_stream,
)
from models.config import load_model
from models.workload import Workload

VHK = fpga_params(load_hardware("vhk158"))
U280 = fpga_params(load_hardware("u280"))
V80 = fpga_params(load_hardware("v80"))
P0 = dataclasses.replace(VHK, t_ovh=0.0)  # toy programs: durations in seconds, no access latency


def _ops(phase: str, seq: int):
    return Workload(load_model("llama2-7b"), phase, 1, seq, 16, 16, 16, None).ops()


DECODE_OPS = _ops("decode", 144)
PREFILL_OPS = _ops("prefill", 128)


def _stream(*instrs: tuple) -> Stream:
    """``(unit, duration, deps[, nbytes, group])`` per instruction."""
    s = Stream()
    for ins in instrs:
        unit, dur, deps = ins[:3]
        nbytes, group = (ins[3], ins[4]) if len(ins) > 3 else (0.0, -1)
        s.emit(unit, dur, 0, deps, nbytes, group)
    return s


# --- toy programs (spec 12.2 test list) -----------------------------------------------------------------


def test_ping_pong_by_hand() -> None:
    # MV and MISC hand a token back and forth; MISC #5 has no dependency but queues behind MISC #3.
    # 0 MV [0,1]; 1 MISC [1,3]; 2 MV [3,6]; 3 MISC [6,7]; 4 MV [7,9]; 5 MISC [7,11]
    s = _stream((MV, 1.0, ()), (MISC, 2.0, (0,)), (MV, 3.0, (1,)), (MISC, 1.0, (2,)), (MV, 2.0, (3,)),
                (MISC, 4.0, ()))
    sched = simulate_stream(s, P0)
    assert sched.start.tolist() == [0, 1, 3, 6, 7, 7]
    assert sched.end.tolist() == [1, 3, 6, 7, 9, 11]
    assert sched.total == 11.0
    assert sched.busy == {"MV": 6.0, "MISC": 7.0}
    ref = list_schedule(s)
    assert np.array_equal(ref.start, sched.start) and np.array_equal(ref.end, sched.end)


def test_no_dependencies_total_is_max_busy() -> None:
    rng = np.random.default_rng(0)
    units = rng.integers(0, len(UNITS), 200)
    s = _stream(*[(int(u), float(d), ()) for u, d in zip(units, rng.uniform(0.1, 2.0, 200), strict=True)])
    sched = simulate_stream(s, P0)
    assert sched.total == pytest.approx(max(sched.busy.values()), rel=1e-12)
    want = {UNITS[u]: sum(s.duration[i] for i in range(len(s)) if s.unit[i] == u) for u in set(units.tolist())}
    assert sched.busy == pytest.approx(want, rel=1e-12)


def test_dependency_cycle_is_a_deadlock_naming_the_heads() -> None:
    # MV #1 waits for MISC #2, which waits for MV #1; the LD before them completes.
    s = _stream((LD, 1.0, ()), (MV, 1.0, (0,)), (MISC, 1.0, (1,)))
    s.deps[1] = (0, 2)  # a forward wait (Stream.emit refuses one, so patch it in)
    with pytest.raises(StreamDeadlock) as err:
        simulate_stream(s, P0)
    assert sorted(err.value.heads) == [("MISC", 2, ("MV",)), ("MV", 1, ("MISC",))]
    assert "after 1 of 3" in str(err.value) and "MV #1 waits for MISC" in str(err.value)


def test_unmatched_wait_bit_is_a_deadlock() -> None:
    s = _stream((LD, 1.0, ()), (MV, 1.0, ()), (MV, 1.0, ()))
    wait = np.array([0, 0, 1 << LD], dtype=np.uint8)  # MV #2 waits for an LD release nobody sends
    release = np.zeros(3, dtype=np.uint8)
    with pytest.raises(StreamDeadlock) as err:
        simulate_stream(s, P0, bits=(wait, release))
    assert err.value.heads == [("MV", 2, ("LD",))]
    # a matching release completes it: MV #2 starts after MV #1 (in order) and LD #0
    release[0] = 1 << MV
    assert simulate_stream(s, P0, bits=(wait, release)).end.tolist() == [1.0, 1.0, 2.0]


def test_busy_never_exceeds_total_on_a_real_stream() -> None:
    s = lower_ops(DECODE_OPS, U280, Lowering(), True, 2)
    sched = simulate_stream(s, U280)
    assert set(sched.busy) == {"LD", "ST", "MV", "MISC"}
    assert all(0 < b <= sched.total for b in sched.busy.values())


# --- HBM sharing -----------------------------------------------------------------------------------------


def _ld_st(p, ch: ChannelMap, ld_group: int, st_group: int, ld_s: float = 4.0, st_s: float = 2.0,
           lat: float = 0.0):
    """An LD and an ST issued together: ``ld_s`` / ``st_s`` seconds of bytes at their group's bandwidth
    (as the lowering computes them) after ``lat`` seconds of access latency. Returns their ends."""

    def nbytes(sec: float, g: int) -> float:
        return sec * (p.weight_bw if g == GROUP_WEIGHT else p.kv_bw) * p.divisor

    s = _stream((LD, lat + ld_s, (), nbytes(ld_s, ld_group), ld_group),
                (ST, lat + st_s, (), nbytes(st_s, st_group), st_group))
    return simulate_stream(s, p, channels=ch).end.tolist()


def test_ld_and_st_on_the_same_channels_share_bandwidth() -> None:
    # both at half rate until the ST's 2 s of work is done at t=4; the LD has 2 s left at full rate -> 6
    assert _ld_st(P0, ChannelMap(1, 1, 1), GROUP_WEIGHT, GROUP_KV) == pytest.approx([6.0, 4.0])
    # separate channel sets: each keeps its stream duration
    assert _ld_st(P0, ChannelMap(16, 8, 8), GROUP_WEIGHT, GROUP_KV) == [4.0, 2.0]
    # ... but two transfers of the same group share its channels
    assert _ld_st(P0, ChannelMap(16, 8, 8), GROUP_KV, GROUP_KV) == pytest.approx([6.0, 4.0])


def test_access_overhead_is_latency_not_bandwidth() -> None:
    # both wait 1 s, then share from t=1: the ST ends at 1 + 4, the LD at 1 + 6
    assert _ld_st(P0, ChannelMap(1, 1, 1), GROUP_WEIGHT, GROUP_KV, lat=1.0) == pytest.approx([7.0, 5.0])
    assert _ld_st(P0, ChannelMap(2, 1, 1), GROUP_WEIGHT, GROUP_KV, lat=1.0) == pytest.approx([5.0, 3.0])
    # the ST's latency keeps it off the channels for the first 3 s: alone, the LD has done 3 of 4 s; then
    # both at half rate, the LD ends at 3 + 2 = 5 and the ST (2 s of work) at 3 + 2 + 1 = 6
    s = _stream((LD, 4.0, (), 4.0 * P0.weight_bw * P0.divisor, GROUP_WEIGHT),
                (ST, 5.0, (), 2.0 * P0.kv_bw * P0.divisor, GROUP_KV))
    assert simulate_stream(s, P0, channels=ChannelMap(1, 1, 1)).end.tolist() == pytest.approx([5.0, 6.0])


def test_overlapping_channel_sets_stripe_transfers() -> None:
    # V80-like: KV on 8 of the 32 weight channels. The weight LD's stripe on the shared channels runs at
    # half rate while the ST lasts (to t=4) and finishes at 6; its stripe on the other 24 channels at 4.
    ch = ChannelMap(32, 32, 8)
    assert ch.classes() == {GROUP_WEIGHT: (0, 1), GROUP_KV: (1,)}
    assert _ld_st(P0, ch, GROUP_WEIGHT, GROUP_KV) == pytest.approx([6.0, 4.0])


def test_channel_maps_of_the_presets() -> None:
    assert channel_map(load_hardware("vhk158")) == default_channel_map(VHK) == ChannelMap(32, 8, 8)
    assert default_channel_map(VHK).classes() == {GROUP_WEIGHT: (0,), GROUP_KV: (1,)}  # separate sets
    assert default_channel_map(U280).classes() == {GROUP_WEIGHT: (0,), GROUP_KV: (0,)}  # the same channels
    assert default_channel_map(V80) == ChannelMap(32, 32, 8)
    # a device that is not a preset: separate iff the two groups fit the peak bandwidth together
    assert default_channel_map(dataclasses.replace(VHK, id="custom")).classes()[GROUP_KV] == (1,)
    assert default_channel_map(dataclasses.replace(U280, id="custom")).classes()[GROUP_KV] == (0,)
    with pytest.raises(InputError):
        ChannelMap(8, 16, 8)


# --- real streams -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [VHK, U280, V80], ids=["vhk158", "u280", "v80"])
@pytest.mark.parametrize("decode", [True, False], ids=["decode", "prefill"])
def test_equals_list_schedule_without_overlapping_transfers(p, decode: bool) -> None:
    # The KV stores are the only transfers that can overlap another (LDs are in order); without their bytes
    # no channel is ever shared, so every instruction starts and ends as in the list schedule.
    s = lower_ops(DECODE_OPS if decode else PREFILL_OPS, p, Lowering(), decode, 2)
    s.nbytes[:] = [0.0 if u == ST else b for u, b in zip(s.unit, s.nbytes, strict=True)]
    ref, sim = list_schedule(s), simulate_stream(s, p)
    assert hbm_stall(s, sim) == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(sim.start, ref.start, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sim.end, ref.end, rtol=1e-12, atol=1e-15)
    assert sim.total == pytest.approx(ref.total, rel=1e-12)
    assert sim.busy == pytest.approx(ref.busy, rel=1e-9)


@pytest.mark.parametrize("p", [VHK, U280], ids=["vhk158", "u280"])
@pytest.mark.parametrize("decode", [True, False], ids=["decode", "prefill"])
def test_shared_bandwidth_only_delays(p, decode: bool) -> None:
    s = lower_ops(DECODE_OPS if decode else PREFILL_OPS, p, Lowering(), decode, 2)
    ref, sim = list_schedule(s), simulate_stream(s, p)
    if p is U280:  # weight and KV on the same channels: every KV store overlaps a weight load
        assert hbm_stall(s, sim) > 0.5 * ref.busy["ST"]
    assert np.all(sim.start >= ref.start * (1 - 1e-12) - 1e-15)
    assert np.all(sim.end >= ref.end * (1 - 1e-12) - 1e-15)
    assert ref.total * (1 - 1e-12) <= sim.total <= 1.05 * ref.total
    # compute units keep their busy time; LD/ST can only be stretched
    for u in ("MV", "MM", "MISC"):
        assert sim.busy.get(u, 0.0) == pytest.approx(ref.busy.get(u, 0.0), rel=1e-9)
    for u in ("LD", "ST"):
        assert sim.busy[u] >= ref.busy[u] * (1 - 1e-12)


def test_vhk158_decode_kv_store_shares_the_kv_channels() -> None:
    # On VHK158 the weight and KV groups are separate, but a KV append (ST) overlaps a K/V cache LD on the
    # same 8 channels: those transfers stretch, the MV-bound total does not.
    s = lower_ops(DECODE_OPS, VHK, Lowering(), True, 2)
    sim = simulate_stream(s, VHK)
    assert hbm_stall(s, sim) > 0
    assert sim.total == pytest.approx(list_schedule(s).total, rel=1e-12)
    sep = simulate_stream(s, VHK, channels=ChannelMap(32, 8, 8))
    assert np.array_equal(sep.end, sim.end)


@pytest.mark.parametrize("p", [VHK, U280], ids=["vhk158", "u280"])
@pytest.mark.parametrize("decode", [True, False], ids=["decode", "prefill"])
def test_full_step_is_fast_and_matches_the_analytic_step(p, decode: bool) -> None:
    ops = DECODE_OPS if decode else PREFILL_OPS
    t0 = time.perf_counter()
    sim = simulate_step(ops, p, Lowering(), decode)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0
    ref = schedule_step(ops, p, Lowering(), decode, exact=True)
    assert ref.total * (1 - 1e-12) <= sim.total <= 1.05 * ref.total
    assert sim.counts == ref.counts and sum(sim.counts.values()) > 10_000
    assert sim.per_op.sum() == pytest.approx(sim.total, rel=1e-12)
    assert sim.hbm_bytes == ref.hbm_bytes and sim.macs == ref.macs


def test_trace_has_one_span_per_instruction_when_asked() -> None:
    ops = DECODE_OPS
    trace = Trace()
    sim = simulate_step(ops, U280, Lowering(), True, trace=trace, offset_s=1.0)
    stream = lower_ops(ops, U280, Lowering(), True)
    assert len(trace.events) == len(stream)
    lanes = {e["tid"] for e in trace.events}
    assert lanes == set(sim.counts)
    names = {e["name"] for e in trace.events}
    assert {"q_proj", "qk_matmul", "softmax", "lm_head"} <= names
    last = max(e["ts"] + e["dur"] for e in trace.events)
    assert last == pytest.approx((1.0 + sim.total) * 1e6, rel=1e-12)
    assert min(e["ts"] for e in trace.events) == pytest.approx(1e6)
    assert all(e["dur"] >= 0 for e in trace.events)
    assert any("bytes" in e["args"] for e in trace.events if e["tid"] == "LD")
