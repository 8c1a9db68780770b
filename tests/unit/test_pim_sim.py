"""SimPy SRAM-PIM model (archsim.sim.pim) against the SAIL closed form (archsim.analytic.pim, spec lut_pim.md 5.6).

Bounds and their reasons (the module docstring of ``archsim.sim.pim`` has the derivations):
- DRAM effectively infinite: the simulated schedule *is* the closed form (waves start together, a
  partial last wave costs a full ``C_tile``, command / conversion / reduction are serial), so the
  cycles agree to float rounding; we assert 1e-9, far inside the 5 % the design allows.
- Real DRAM, step level: ``max(W/BW, sum T_pim)`` assumes perfect overlap, so it is a lower bound on
  the simulation. Above it the simulation adds a *tail* when DRAM-bound (the last group's tile and the
  last linear's reduction and output conversion run after the last byte) and a *head* when PIM-bound
  (the first linear's tiles cannot run ahead of the stream, which has no lead yet). For a LLaMA2-7B
  layer both are < 5 % at Bt = 1 and Bt = 64 (2-bit weights, the spec's worked example).
"""

from __future__ import annotations

import dataclasses
import math
import time

import pytest

from archsim.analytic.lut import ceil_div
from archsim.analytic.pim import CONV_BITS, pim_linear, pim_params
from archsim.errors import InputError
from archsim.hardware import load_hardware
from archsim.sim import pim as ps
from archsim.sim.core import Trace

PP = pim_params(load_hardware("sail"))
INF = dataclasses.replace(PP, bw_dram=1e30)  # DRAM never binds
LAYER = [(4096, 4096, 4), (11008, 4096, 2), (4096, 11008, 1)]  # LLaMA2-7B: q k v o, gate up, down (M, K, repeat)
BITS = 2


def linears(shapes, bits, bt, pp=PP):
    return [pim_linear(pp, m, k, bits, bt) for m, k, r in shapes for _ in range(r)]


def dram_cycles(shapes, bits, bt, pp=PP) -> float:
    """W_bytes / BW in PIM cycles (spec 5.6)."""
    return sum(lin.weight_bytes for lin in linears(shapes, bits, bt, pp)) / pp.bw_dram * pp.f_pim


def pim_cycles(shapes, bits, bt, pp=PP) -> float:
    """sum T_pim in PIM cycles (spec 5.6)."""
    return sum(lin.cycles for lin in linears(shapes, bits, bt, pp))


def conv_in(k: int, bt: int) -> float:
    """Input half of C_conv: ceil(K*Bt/(P*B)) * (c_fmul + c_f2i), fp16 ops at n^2 (spec 5.4, 5.6)."""
    return ceil_div(k * bt, PP.arrays * PP.b) * 2 * CONV_BITS ** 2


@pytest.mark.parametrize("bits", [2, 4])
@pytest.mark.parametrize("bt", [1, 8, 32])
@pytest.mark.parametrize("m,k", [(4096, 4096), (11008, 4096), (4096, 11008), (1000, 300), (64, 64), (5000, 4100)])
def test_infinite_dram_equals_closed_form(m, k, bt, bits):
    sim = ps.simulate_linear(INF, m, k, bits, bt)
    ref = pim_linear(PP, m, k, bits, bt).cycles
    assert sim.cycles == pytest.approx(ref, rel=1e-9)
    assert not sim.dram_bound


def test_layer_bt1_is_dram_bound_with_a_known_tail():
    sim = ps.simulate_linears(PP, LAYER, BITS, 1)
    dram, pim = dram_cycles(LAYER, BITS, 1), pim_cycles(LAYER, BITS, 1)
    assert dram > pim and sim.dram_bound
    assert max(dram, pim) <= sim.cycles <= 1.05 * max(dram, pim)
    # The stream never stalls; after its last byte: the last group's tile, then the last linear's
    # reduction and output conversion (= its cycles minus command, input conversion and earlier waves).
    last = pim_linear(PP, 4096, 11008, BITS, 1)
    tail = last.cycles - PP.t_jit - conv_in(11008, 1) - (last.waves - 1) * last.tile_cycles
    assert sim.cycles == pytest.approx(dram + tail, rel=1e-9)


def test_layer_bt64_is_pim_bound_with_a_known_head():
    sim = ps.simulate_linears(PP, LAYER, BITS, 64)
    dram, pim = dram_cycles(LAYER, BITS, 64), pim_cycles(LAYER, BITS, 64)
    assert pim > dram and not sim.dram_bound
    assert max(dram, pim) <= sim.cycles <= 1.05 * max(dram, pim)
    # Head: the first linear's tile phase is itself DRAM-bound (nothing prefetched yet): its last tile
    # starts when its last byte lands (streaming began during command + input conversion) instead of
    # after waves - 1 tiles; later linears find their weights staged.
    first = pim_linear(PP, 4096, 4096, BITS, 64)
    head = (dram_cycles([(4096, 4096, 1)], BITS, 64) - PP.t_jit - conv_in(4096, 64)
            - (first.waves - 1) * first.tile_cycles)
    assert head > 0
    assert sim.cycles == pytest.approx(pim + head, rel=1e-9)


@pytest.mark.parametrize("bt", [2, 8, 32, 48])
def test_perfect_overlap_is_a_lower_bound(bt):
    sim = ps.simulate_linears(PP, LAYER, BITS, bt)
    assert sim.cycles >= max(dram_cycles(LAYER, BITS, bt), pim_cycles(LAYER, BITS, bt)) * (1 - 1e-12)


def test_throughput_grows_with_batch_until_the_arrays_bind():
    bts = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    sims = [ps.simulate_linears(PP, LAYER, BITS, bt) for bt in bts]
    thr = [bt / s.cycles for bt, s in zip(bts, sims, strict=True)]
    assert all(b > a for a, b in zip(thr[:-1], thr[1:], strict=True))
    for i in range(len(bts) - 1):
        gain = thr[i + 1] / thr[i]
        if sims[i + 1].dram_bound:  # weight stream amortised over twice the tokens, time ~flat
            assert gain > 1.9
    assert sims[0].dram_bound and not sims[-1].dram_bound
    assert thr[-1] / thr[-2] < 1.1  # arrays bind: time ~ proportional to Bt


@pytest.mark.parametrize("kept", [0.0, 0.5, 0.862])
def test_dedupe_reduces_lookup_cycles_proportionally(kept):
    m, k, bt = 4096, 11008, 8
    lin = pim_linear(PP, m, k, BITS, bt)
    g_arr = PP.a // 2 ** PP.g
    full = ps.simulate_linear(INF, m, k, BITS, bt)
    tr = Trace()
    cut = ps.simulate_linear(INF, m, k, BITS, bt, kept=kept, trace=tr)
    assert full.cycles - cut.cycles == pytest.approx(lin.waves * bt * PP.act_bits * g_arr * (1 - kept), rel=1e-9)
    # Array-cycles spent in lookups (span length x tiles), from the trace: Bt*b_a*G_arr*u per tile.
    looked = sum(e["dur"] * e["args"]["tiles"] for e in tr.events if e["name"].endswith("lookup")) * 1e-6 * PP.f_pim
    assert looked == pytest.approx(lin.tiles * bt * PP.act_bits * g_arr * kept, rel=1e-9, abs=1e-6)


def test_trace_spans_cover_every_phase():
    tr = Trace()
    sim = ps.simulate_linear(PP, 4096, 4096, BITS, 8, trace=tr, offset_s=1.0)
    lanes = {e["tid"] for e in tr.events}
    assert {"dram", "controller", "core", "linear", "arrays 0"} <= lanes
    names = {e["name"].split(" ", 1)[1] for e in tr.events if " " in e["name"]}
    assert {"cmd", "conv in", "fill", "build", "lookup", "drain", "reduce", "conv out"} <= names
    assert min(e["ts"] for e in tr.events) >= 1e6
    (whole,) = [e for e in tr.events if e["tid"] == "linear"]
    assert whole["ts"] == pytest.approx(1e6) and whole["dur"] == pytest.approx(sim.cycles / PP.f_pim * 1e6)
    assert sum(e["args"]["tiles"] for e in tr.events if e["name"].endswith("fill")) == pim_linear(
        PP, 4096, 4096, BITS, 8).tiles


@pytest.mark.parametrize("bits", [2, 4])
def test_symmetry_keeps_events_small_and_the_layer_fast(bits):
    ps._simulate.cache_clear()
    start = time.perf_counter()
    sim = ps.simulate_linears(PP, LAYER, bits, 64)
    wall = time.perf_counter() - start
    # Groups: each tile class (at most 4 per linear: full, short rows, short K, corner) is cut into
    # chunks of ceil(P / CHUNKS_PER_WAVE) tiles. Per group at most 14 events: process start/end, slot
    # get/put, staging put/get, DRAM flow done + its timer, data-ready, 4 phase timeouts (13, +1 slack);
    # per linear 4 serial phases + AllOf (+3 slack); plus the two top-level processes.
    chunk = math.ceil(PP.arrays / ps.CHUNKS_PER_WAVE)
    lins = linears(LAYER, bits, 64)
    groups = sum(ceil_div(lin.tiles, chunk) + 3 for lin in lins)
    assert sim.events <= 14 * groups + 8 * len(lins) + 4
    assert sim.events < sum(lin.tiles for lin in lins) / 10  # far fewer events than tiles
    assert wall < 0.5


def test_bad_input_is_an_input_error():
    with pytest.raises(InputError):
        ps.simulate_linear(PP, 4096, 4096, BITS, 0)
    with pytest.raises(InputError):
        ps.simulate_linear(PP, 4096, 4096, BITS, 1, kept=1.5)
    with pytest.raises(InputError):
        ps.simulate_linears(PP, [(4096, 0, 1)], BITS, 1)
    with pytest.raises(InputError):
        ps.simulate_linear(PP, 4096, 4096, 8, 1)
