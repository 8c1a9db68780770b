"""SimPy mesh simulator (archsim.sim.mesh): symmetry, agreement with the PLMR closed forms, trends.

Bounds and their reasons (the module docstring has the derivations):
- representative (one column / one row+column, one step per step kind) == full grid: exact;
- meshgemm, cannon: equal to the closed form (no contention, lockstep steps);
- meshgemv / allreduce: equal to the hand-derived critical path while ``w/lam <= beta`` (no link
  contention), which is the closed form + g/2 hops; within 5% of the closed form on small grids;
  with contention the extra wait is bounded by one stream body ``w/lam``;
- pipeline-gemv: closed form - beta - 2*alpha exactly (P-1 hops and stages, not P);
- summa: closed form - alpha * sum_s min(s, P-1-s) exactly (a broadcast from root s crosses
  max(s, P-1-s) hops, not P-1);
- gemm-t: the steps as the closed form plus the simulated K-tree tail;
- ring-gemv: 2(P-1)(2*alpha + beta + w/(P*lam)) exactly (the closed form charges P latency terms);
- allgather-gemm: (P-1)(2*alpha + w/lam + 2*beta) + compute exactly (a relayed ring gather; the
  closed form's gather is one unrelayed broadcast).
"""

from __future__ import annotations

import numpy as np
import pytest

from archsim.analytic import plmr
from archsim.hardware import load_hardware
from archsim.sim import mesh
from archsim.sim.core import Trace

MP = plmr.mesh_params(load_hardware("wse2"))
ANALYTIC_GEMM = {"meshgemm": plmr.meshgemm, "cannon": plmr.cannon, "summa": plmr.summa,
                 "allgather-gemm": plmr.allgather_gemm, "gemm-t": plmr.gemm_t}


def ktree_critical_path(p: int, groups: int, w: float) -> float:
    """Uncontended K-tree allreduce cycles derived by hand from spec 5.2 (no simulator involved).

    Phase 1: the half-chains reach the group root after n hops and n-1 relays; the root adds each
    with one stage, in arrival order. Phase 2: the root chains (g hops + one stage per root) reach
    root2, which adds them after its own group; the sum is complete w/lam after the last stage;
    root2's multicast reaches the farther end after max(root2, P-1-root2) hops, plus w/lam.
    """
    a, b, body = MP.alpha, MP.beta, w / MP.lam
    g, half = p // groups, groups // 2

    def stages(arrivals: list[float], start: float = 0.0) -> float:
        end = start
        for t in sorted(arrivals):
            end = max(end, t) + b
        return end

    ready = stages([n * a + (n - 1) * b for n in (g // 2, g - 1 - g // 2) if n > 0])
    lower, upper = half, groups - 1 - half
    chains = [ready + n * g * a + (n - 1) * b for n in (lower, upper) if n > 0]
    complete = stages(chains, start=ready) + body
    root2 = half * g + g // 2
    return complete + max(root2, p - 1 - root2) * a + body


# ---------------------------------------------------------------- representative == full


@pytest.mark.parametrize("p", [8, 16])
@pytest.mark.parametrize("algorithm", mesh.GEMM_ALGORITHMS)
def test_gemm_representative_equals_full(p: int, algorithm: str) -> None:
    # Tiles with Mt*Kt > Kt*Nt and the reverse, compute- and communication-bound steps.
    shapes = [(p * 8, p * 8, p * 2), (p, p * 4, p * 16)] if p == 8 else [(p * 4, p * 2, p)]
    for m, k, n in shapes:
        rep = mesh.simulate_gemm(MP, p, m, k, n, algorithm=algorithm)
        full = mesh.simulate_gemm(MP, p, m, k, n, algorithm=algorithm, full=True)
        assert rep.cycles == pytest.approx(full.cycles, rel=1e-12, abs=1e-9)
        assert rep.busy is not None and full.busy is not None
        np.testing.assert_allclose(rep.busy, full.busy, rtol=1e-12)
        assert 0 < rep.events < full.events


@pytest.mark.parametrize("p", [8, 16])
@pytest.mark.parametrize("algorithm", mesh.GEMV_ALGORITHMS)
def test_gemv_representative_equals_full(p: int, algorithm: str) -> None:
    # Nt = 8 (no link contention) and Nt = 4096/p (the phase-2 stream waits on phase-1 tails).
    for k, n in [(p * 8, p * 8), (16384, 4096)]:
        rep = mesh.simulate_gemv(MP, p, k, n, algorithm=algorithm)
        full = mesh.simulate_gemv(MP, p, k, n, algorithm=algorithm, full=True)
        assert rep.cycles == pytest.approx(full.cycles, rel=1e-12, abs=1e-9)
        np.testing.assert_allclose(rep.busy, full.busy, rtol=1e-12)
        assert 0 < rep.events < full.events


@pytest.mark.parametrize("p,groups", [(8, None), (16, None), (16, 2), (16, 8)])
def test_allreduce_representative_equals_full(p: int, groups: int | None) -> None:
    rep = mesh.simulate_allreduce(MP, p, 24, groups=groups)
    full = mesh.simulate_allreduce(MP, p, 24, groups=groups, full=True)
    assert rep.cycles == full.cycles
    np.testing.assert_array_equal(rep.busy, full.busy)


# ---------------------------------------------------------------- agreement with the closed forms


@pytest.mark.parametrize("p", [8, 16, 32])
def test_meshgemv_agrees_with_closed_form(p: int) -> None:
    groups = plmr.default_groups(p)
    g = p // groups
    for k, n in [(p * 8, p * 8), (p * 16, p * 24), (16384, 16384)]:
        sim = mesh.simulate_gemv(MP, p, k, n)
        ana = plmr.meshgemv(MP, p, k, n)
        nt = plmr.tile(n, p)
        assert sim.cycles == pytest.approx(ana.cycles, rel=0.05)  # issue acceptance: 5% on small grids
        if nt / MP.lam <= MP.beta:  # no link contention: exactly the hand-derived critical path
            assert sim.cycles - ana.compute == ktree_critical_path(p, groups, nt)
            # ... which is the closed form + g/2 hops (root2 is g/2 past the middle; even g and G here)
            assert sim.cycles - ana.cycles == g / 2 * MP.alpha


@pytest.mark.parametrize("p,w", [(8, 2048), (16, 1024), (32, 512)])
def test_meshgemv_contention_is_bounded_by_one_stream_body(p: int, w: int) -> None:
    # Phase-2 streams share the next group's lower-half links with its phase-1 stream (same
    # direction); the head waits for that tail, at most one body w/lam (P = 16: +991 cycles).
    sim = mesh.simulate_allreduce(MP, p, w)
    ideal = ktree_critical_path(p, plmr.default_groups(p), w)
    assert 0 < sim.cycles - ideal <= w / MP.lam


@pytest.mark.parametrize("p,groups", [(16, 1), (16, 2), (16, 4), (16, 16), (64, 8), (180, 12), (720, 24)])
def test_allreduce_matches_critical_path(p: int, groups: int) -> None:
    # Odd g (180 / 12 = 15) and odd G (1) included; w <= beta keeps the links free of contention.
    w = 16
    sim = mesh.simulate_allreduce(MP, p, w, groups=groups)
    assert sim.cycles == pytest.approx(ktree_critical_path(p, groups, w), abs=1e-9)
    if groups > 1 and p >= 64:
        assert sim.cycles == pytest.approx(plmr.ktree_allreduce(MP, w, p, groups), rel=0.05)


@pytest.mark.parametrize("p", [8, 16, 32])
@pytest.mark.parametrize("algorithm", ["meshgemm", "cannon"])
def test_shift_gemms_equal_closed_form(p: int, algorithm: str) -> None:
    # No link is shared within a step, and steps are lockstep: the closed form is exact.
    for m, k, n in [(p * 8, p * 8, p * 8), (p * 2, p * 16, p), (p, p, p), (2048, 2048, 2048)]:
        sim = mesh.simulate_gemm(MP, p, m, k, n, algorithm=algorithm)
        assert sim.cycles == pytest.approx(ANALYTIC_GEMM[algorithm](MP, p, m, k, n).cycles, rel=1e-12)


@pytest.mark.parametrize("p", [8, 16, 32])
def test_summa_is_closed_form_minus_root_geometry(p: int) -> None:
    for m, k, n in [(p * 8, p * 8, p * 8), (p, p * 2, p)]:
        sim = mesh.simulate_gemm(MP, p, m, k, n, algorithm="summa")
        ana = plmr.summa(MP, p, m, k, n)
        saved = MP.alpha * sum(min(s, p - 1 - s) for s in range(p))
        assert sim.cycles == pytest.approx(ana.cycles - saved, rel=1e-12)
        assert sim.cycles == pytest.approx(ana.cycles, rel=0.05)


@pytest.mark.parametrize("p", [8, 16, 32])
def test_gemm_t_steps_plus_simulated_ktree(p: int) -> None:
    for m, k, n in [(p * 8, p * 8, p * 8), (p * 2, p * 4, p)]:
        mt, kt, nt = plmr.tile(m, p), plmr.tile(k, p), plmr.tile(n, p)
        sim = mesh.simulate_gemm(MP, p, m, k, n, algorithm="gemm-t")
        ana = plmr.gemm_t(MP, p, m, k, n)
        step = max(mt * kt * nt / MP.c_gemm, 2 * MP.alpha + nt * kt / MP.lam, MP.alpha + mt * nt / MP.lam)
        tail = mesh.simulate_allreduce(MP, p, mt * nt).cycles
        assert sim.cycles == pytest.approx(p * (step + MP.t_step) + tail, rel=1e-12)
        assert sim.cycles == pytest.approx(ana.cycles, rel=0.05)


@pytest.mark.parametrize("p", [8, 16, 32])
def test_pipeline_gemv_is_closed_form_minus_one_stage(p: int) -> None:
    for k, n in [(p * 8, p * 8), (16384, 16384)]:
        sim = mesh.simulate_gemv(MP, p, k, n, algorithm="pipeline-gemv")
        ana = plmr.pipeline_gemv(MP, p, k, n)
        assert sim.cycles == pytest.approx(ana.cycles - MP.beta - 2 * MP.alpha, rel=1e-12)
        assert sim.cycles == pytest.approx(ana.cycles, rel=0.15)  # P = 8, Nt = 8: -32 of 320 cycles


@pytest.mark.parametrize("p", [8, 16, 32])
def test_ring_gemv_has_two_p_minus_one_steps(p: int) -> None:
    for k, n in [(p * 8, p * 16), (16384, 16384)]:
        sim = mesh.simulate_gemv(MP, p, k, n, algorithm="ring-gemv")
        ana = plmr.ring_gemv(MP, p, k, n)
        nt = plmr.tile(n, p)
        comm = 2 * (p - 1) * (2 * MP.alpha + MP.beta + nt / p / MP.lam)
        assert sim.cycles == pytest.approx(ana.compute + comm, rel=1e-12)
    # The closed form's latency term is P*(2*alpha + beta): the simulation pays ~2x (documented).
    small = mesh.simulate_gemv(MP, p, p * 8, p * 16, algorithm="ring-gemv")
    ana = plmr.ring_gemv(MP, p, p * 8, p * 16)
    assert 1.5 < (small.cycles - ana.compute) / ana.comm < 2.0


@pytest.mark.parametrize("p,d", [(8, 64), (16, 32), (16, 256), (720, 2048)])
def test_allgather_is_a_relayed_ring_gather(p: int, d: int) -> None:
    # Square tiles: per gather step two hops, one tile, and the stages of the A and the B stream a
    # core receives; the closed form's gather is one unrelayed broadcast (h_seg = P), hence below.
    sim = mesh.simulate_gemm(MP, p, d, d, d, algorithm="allgather-gemm")
    ana = plmr.allgather_gemm(MP, p, d, d, d)
    w = plmr.tile(d, p) ** 2 / MP.lam
    assert sim.cycles == pytest.approx(ana.compute + (p - 1) * (2 * MP.alpha + w + 2 * MP.beta), rel=1e-12)
    assert sim.cycles > ana.cycles


# ---------------------------------------------------------------- scale and trends


def test_wafer_scale_runs_complete() -> None:
    gemv = mesh.simulate_gemv(MP, 720, 16384, 16384)
    assert gemv.cycles == pytest.approx(plmr.meshgemv(MP, 720, 16384, 16384).cycles, rel=0.05)
    assert gemv.busy is not None and gemv.busy.shape == (720, 720)
    gemm = mesh.simulate_gemm(MP, 720, 2048, 2048, 2048)
    assert gemm.cycles == pytest.approx(plmr.meshgemm(MP, 720, 2048, 2048, 2048).cycles, rel=1e-12)
    assert gemv.events > 0 and gemm.events > 0


@pytest.mark.parametrize("p", [64, 128])
def test_meshgemv_beats_pipeline_and_ring(p: int) -> None:
    t = {a: mesh.simulate_gemv(MP, p, 16384, 16384, algorithm=a).cycles for a in mesh.GEMV_ALGORITHMS}
    assert t["meshgemv"] < t["pipeline-gemv"]
    assert t["meshgemv"] < t["ring-gemv"]


def test_meshgemm_beats_cannon_and_summa_at_720() -> None:
    t = {a: mesh.simulate_gemm(MP, 720, 2048, 2048, 2048, algorithm=a).cycles for a in ("meshgemm", "cannon", "summa")}
    assert t["meshgemm"] < t["cannon"] and t["meshgemm"] < t["summa"]
    assert t["summa"] / t["meshgemm"] > 2  # spec 4.7: 2-3x faster than SUMMA and Cannon at 2K


# ---------------------------------------------------------------- busy heat-map, trace, errors


def test_busy_heat_map() -> None:
    p, k, n = 16, 256, 256
    gemv = mesh.simulate_gemv(MP, p, k, n)
    assert gemv.busy is not None and gemv.busy.shape == (p, p)
    local = plmr.tile(k, p) * plmr.tile(n, p) / MP.c_gemv
    assert (gemv.busy >= local).all()
    # root2 (row 10 for G = 4 groups of 4) adds two phase-1 and two phase-2 streams
    assert gemv.busy.max() == local + 4 * MP.beta and gemv.busy[10].min() == local + 4 * MP.beta
    assert (gemv.busy == gemv.busy[:, :1]).all()  # columns are identical
    gemm = mesh.simulate_gemm(MP, p, 64, 64, 64)
    t_cmp = plmr.tile(64, p) ** 3 / MP.c_gemm
    np.testing.assert_allclose(gemm.busy, p * (t_cmp + MP.t_step))


def test_trace_has_core_and_link_spans() -> None:
    trace = Trace()
    offset = 1100.0
    mesh.simulate_gemv(MP, 16, 256, 256, trace=trace, offset_cycles=offset)
    lanes = {e["tid"] for e in trace.events}
    assert any(lane.startswith("core ") for lane in lanes) and any(lane.startswith("link ") for lane in lanes)
    assert {e["name"] for e in trace.events} >= {"gemv", "relay", "recv-add", "reduce", "bcast"}
    assert min(e["ts"] for e in trace.events) == pytest.approx(offset / MP.f * 1e6)
    assert all(e["dur"] >= 0 for e in trace.events)
    gemm_trace = Trace()
    mesh.simulate_gemm(MP, 8, 64, 64, 64, trace=gemm_trace)
    assert any(e["tid"] == "kernel" and e["name"] == "step x8" for e in gemm_trace.events)


def test_interleave_ring_matches_spec_table() -> None:
    def ring(p: int) -> list[int]:
        nxt, order = mesh.interleave_next(p), [0]
        while len(order) < p:
            order.append(nxt[order[-1]])
        return order

    assert ring(5) == [0, 2, 4, 3, 1]
    assert ring(6) == [0, 2, 4, 5, 3, 1]
    assert ring(8) == [0, 2, 4, 6, 7, 5, 3, 1]


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="unknown GEMV algorithm"):
        mesh.simulate_gemv(MP, 8, 64, 64, algorithm="tree")
    with pytest.raises(ValueError, match="unknown GEMM algorithm"):
        mesh.simulate_gemm(MP, 8, 64, 64, 64, algorithm="fox")
    with pytest.raises(ValueError, match="groups must divide"):
        mesh.simulate_gemv(MP, 8, 64, 64, groups=3)
    with pytest.raises(ValueError, match="p must be >= 3"):
        mesh.simulate_gemm(MP, 2, 64, 64, 64)
    with pytest.raises(ValueError, match="k must be >= 1"):
        mesh.simulate_gemv(MP, 8, 0, 64)
