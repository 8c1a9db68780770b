"""SimPy unit model of the MeshGEMM processing-element array ``hw/rtl/mesh_array.v`` (spec wafer_mesh.md 4.2-4.5).

A ``P x P`` array of PEs, each owning one ``T x T`` tile of A, B (int8) and C (int32), computes ``C = A x B``
(``N = P*T``) in four phases, one product at a time:

1. **load**: ``2*N^2`` elements (A then B, row-major) through the input port, one per cycle;
2. **align**: ``floor(P/2)`` lock-step rounds of Cannon's pre-skew on the INTERLEAVE rings (A along the
   rows, B along the columns, concurrently on disjoint links);
3. **steps**: ``P`` compute-shift steps: every PE's MAC runs the ``T^3`` products of its tile GEMM (one MAC
   per cycle) while A moves one logical ring position back along X and B along Y; a step ends at a barrier
   when both the compute and every move have finished (double buffering, no barrier cycle);
4. **drain**: ``N^2`` C elements through the output port, one per cycle.

A ring move over a 1-hop edge takes one cycle (``ALPHA``); over a 2-hop edge it takes two: hop 1 into the
relay register of the PE in between (a ``simpy.Resource`` of capacity 1 per PE, axis and direction), hop 2
from there into the destination's receive buffer. Links are tile-wide (a whole tile per hop per cycle), so a
move costs ``hops * ALPHA`` and a round ``SH = max ring hop length`` cycles (2 for ``P >= 3``, 1 for the
trivial 2-ring). Closed form (:func:`cycles`), from the first accepted input (cycle 0) to the last valid
output, inclusive, without back-pressure::

    cycles = 3*N^2 + SH*floor(P/2) + P*max(T^3, SH)

Each cycle with the input valid low during load or the output ready low during drain adds one cycle.
:func:`simulate` runs the same machine event by event (one event per element, move hop and tile product) and
must agree with :func:`cycles`; the RTL's measured cycles must equal both (``tests/rtl/test_mesh_array.py``).
The align and step phases are the family simulator's MeshGEMM (``archsim.sim.mesh.simulate_gemm``) with
``alpha = 1``, tile-wide links (``lam = inf``), ``c_gemm = 1`` and ``t_step = 0``: :func:`family_cycles` checks it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

PARAMS = ("P", "T")  # the RTL parameter names (hw/rtl/mesh_array.v)
DEFAULTS = {"P": 4, "T": 2}  # the RTL parameter defaults
ALPHA = 1  # cycles per hop: a registered, tile-wide link
Proc = Generator[simpy.Event, Any, Any]


def _check(p: int, t: int) -> None:
    if isinstance(p, bool) or not isinstance(p, int) or p < 2:
        raise ValueError(f"P must be an integer >= 2, got {p!r}")
    if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= 15:
        raise ValueError(f"T must be an integer in 1..15, got {t!r}")


def phi(p: int, k: int) -> int:
    """INTERLEAVE ring (spec 4.3): physical position of logical ring position ``k`` on a line of ``p`` PEs."""
    return 2 * k if 2 * k <= p - 1 else 2 * (p - k) - 1


def ring(p: int) -> list[int]:
    """Physical positions in logical ring order (``kernels_ref.mesh.interleave_ring`` for ``p >= 3``; also
    defined for the trivial ring ``p = 2``)."""
    return [phi(p, k) for k in range(p)]


def ring_src(p: int, i: int, forward: bool = False) -> int:
    """The physical position whose tile lands on position ``i`` in one ring move: a back move (the
    compute-shift direction) brings logical ``k+1`` to ``k``, a forward move ``k-1`` to ``k``."""
    order = ring(p)
    k = order.index(i)
    return order[(k - 1) % p] if forward else order[(k + 1) % p]


def shift_cycles(p: int) -> int:
    """Cycles of one lock-step ring shift: the longest ring edge in hops times ``ALPHA`` (2 for p >= 3)."""
    order = ring(p)
    return ALPHA * max(abs(order[(k + 1) % p] - order[k]) for k in range(p))


def align_moves(p: int) -> list[tuple[int, bool]]:
    """Per line ``i``: (rounds it shifts, forward?) in the alignment (spec 4.5): even lines ``i/2`` back
    moves, odd lines ``(i+1)/2`` forward moves; all lines run ``floor(p/2)`` rounds in lock-step."""
    return [(i // 2, False) if i % 2 == 0 else ((i + 1) // 2, True) for i in range(p)]


def cycles(P: int, T: int, in_gaps: int = 0, out_stalls: int = 0) -> int:  # noqa: N803 (RTL parameter names)
    """Closed form: cycles from the first accepted input to the last valid output, inclusive.

    ``in_gaps``: cycles with ``in_valid`` low during load (after the first input); ``out_stalls``: cycles
    with ``out_ready`` low during drain. Raises ``ValueError`` for ``P < 2`` or ``T`` outside 1..15."""
    _check(P, T)
    n, sh = P * T, shift_cycles(P)
    return 3 * n * n + sh * (P // 2) + P * max(T**3, sh) + in_gaps + out_stalls


def simulate(P: int, T: int, in_gaps: int = 0, out_stalls: int = 0) -> int:  # noqa: N803
    """Event-by-event SimPy run of one product; returns the same count as :func:`cycles`.

    Raises ``RuntimeError`` if two streams ever meet in one relay register (the INTERLEAVE ring guarantees
    they do not: every PE relays at most one stream per axis and direction)."""
    _check(P, T)
    env = simpy.Environment()
    n = P * T
    # relay registers: (axis, line, position, direction of travel) -> capacity-1 resource
    relays: dict[tuple[str, int, int, int], simpy.Resource] = {}

    def port(elements: int, stalls: int) -> Proc:
        for _ in range(elements + stalls):
            yield env.timeout(1)

    def move(axis: str, line: int, src: int, dst: int) -> Proc:
        hops = abs(dst - src)
        if hops == 1:
            yield env.timeout(ALPHA)  # straight into the destination's receive buffer
            return
        step = 1 if dst > src else -1
        key = (axis, line, src + step, step)
        res = relays.get(key) or relays.setdefault(key, simpy.Resource(env, capacity=1))
        with res.request() as req:
            if not req.triggered:
                raise RuntimeError(f"relay register {key} holds two streams at once")
            yield req
            yield env.timeout(ALPHA)  # hop 1: source -> relay register of the PE in between
            yield env.timeout(ALPHA)  # hop 2: relay register -> destination's receive buffer

    def shifts(active: list[tuple[int, bool]]) -> list[simpy.Process]:
        """One lock-step ring move of every active line: (A along row y, B along column x)."""
        procs = []
        for line, (on, fwd) in enumerate(active):
            if not on:
                continue
            for pos in range(P):
                src = ring_src(P, pos, fwd)
                procs.append(env.process(move("x", line, src, pos)))  # A: row `line`, column pos
                procs.append(env.process(move("y", line, src, pos)))  # B: column `line`, row pos
        return procs

    def mac(y: int, x: int) -> Proc:
        yield env.timeout(T**3)  # T^3 MACs of the tile product, one per cycle

    def array() -> Proc:
        yield env.process(port(2 * n * n, in_gaps))
        moves = align_moves(P)
        for rnd in range(P // 2):
            yield env.all_of(shifts([(cnt > rnd, fwd) for cnt, fwd in moves]))
        for _ in range(P):
            compute = [env.process(mac(y, x)) for y in range(P) for x in range(P)]
            yield env.all_of(compute + shifts([(True, False)] * P))  # barrier: swap buffers, no cycle
        yield env.process(port(n * n, out_stalls))

    env.process(array())
    env.run()
    return int(env.now)


def family_cycles(P: int, T: int) -> int:  # noqa: N803
    """The same count with the align and step phases taken from the family simulator
    (``archsim.sim.mesh.simulate_gemm``, MeshGEMM on a ``P x P`` grid, ``M = K = N = P*T``) with this unit's
    numbers: ``alpha = 1`` cycle/hop, tile-wide links (``lam = inf``), ``c_gemm = 1``, ``t_step = 0``.
    Needs ``P >= 3`` (the family simulator's INTERLEAVE contract)."""
    from archsim.analytic.plmr import MeshParams
    from archsim.sim.mesh import simulate_gemm

    _check(P, T)
    mp = MeshParams(id="mesh_array", f=1e9, alpha=ALPHA, beta=0.0, lam=float("inf"), c_gemv=1.0, c_gemm=1.0,
                    t_step=0.0, sram_bytes=1 << 20, reserve_bytes=0, route_budget=24, fabric_cols=P,
                    fabric_rows=P, max_square=P, elementwise_cpe=1.0)
    n = P * T
    core = simulate_gemm(mp, P, n, n, n, algorithm="meshgemm", full=True).cycles
    return 3 * n * n + round(core)


__all__ = ["ALPHA", "DEFAULTS", "PARAMS", "align_moves", "cycles", "family_cycles", "phi", "ring", "ring_src",
           "shift_cycles", "simulate"]
