"""SimPy model of SAIL-style SRAM-PIM LLC slices running batched LUT-GEMV linears (spec lut_pim.md sec. 5).

Granularity: one event per *group of identical tiles* and phase, never per array or per cycle
(DESIGN.md: SimPy costs ~1 us per event). Time is in PIM cycles (``pp.f_pim``) throughout.

Model (spec 5.3 datapath, Mapping B; 5.5 geometry; 5.6 cycles)
--------------------------------------------------------------
- **Compute arrays** are a ``simpy.Container`` of ``pp.arrays`` slots (P = S * W_pim * arrays/way,
  spec 5.5). A weight tile (``R_out x K_tile`` weights, spec 5.6) holds one array from its fill to
  its drain.
- **DRAM stream** (spec 5.3 step 1, "a normal cache fill"): a prefetcher process streams the weight
  tiles of every linear, in execution order, from DRAM into the LLC ways *not* lent to compute; DRAM
  is a ``SharedRate`` of ``pp.bw_dram / pp.f_pim`` bytes per cycle shared by the tiles being fetched
  (a group of ``w`` identical tiles is one flow of weight ``w``). Each tile brings its codes plus its
  fp16 scales (``weight_bytes(rows, cols, bits)``, so the stream carries exactly the analytic
  ``W_bytes``). Weights do not depend on activations, so the stream runs ahead of the arrays -- across
  linear boundaries too -- by at most ``staging_bytes(pp)`` staged bytes (ASSUMPTION: the cache ways
  not lent to compute, taken equal to the compute arrays' capacity ``P*A*B/8``, the default 8-of-16
  way split of spec 5.5); a staged tile leaves the LLC once it is copied into its array.
- **Per tile** (spec 5.6): ``C_fill`` (codes over the way's H-tree at ``bw_leaf``; each array has its
  own leaf, as in the closed form), ``C_build`` (2^g subset sums per group), ``C_look`` (Bt x b_a x
  G_arr wordline reads x ``kept``, the dedupe fraction u of spec 5.3 step 6; near-array accumulation
  is pipelined, C_acc = 0), ``C_drain`` (Bt partial-sum rows over the H-tree), then the slot is free.
- **Controller** (spec 5.3 step 8): per linear it expands one ``PIM_LUTGEMV`` command (``t_jit``),
  converts the activations to b_a-bit integers in memory (input half of ``C_conv``), dispatches the
  tiles as data and slots allow, waits for all of them, reduces the K-partial sums (``C_red``) and
  converts the outputs (output half of ``C_conv``). Linears run back to back: each needs the previous
  one's output, which is also why the closed form sums them.

Symmetry: tiles are dispatched in groups of ``ceil(P / CHUNKS_PER_WAVE)`` identical tiles (same
bytes, same cycles); a group is one weighted process and one weighted DRAM flow. Finer groups would
only shorten the stream's start-up latency (the first group's bytes / BW) and its tail.

Relation to the closed form (``archsim.analytic.pim``)
------------------------------------------------------
- DRAM not binding (``bw_dram`` huge): the schedule *is* the closed form -- every group of a wave
  starts together, a partial last wave still costs one ``C_tile`` -- so simulated cycles equal
  ``cmd + waves*C_tile + C_red + C_conv`` exactly.
- With the real DRAM the analytic step time is ``max(W_bytes/BW, sum T_pim)`` (perfect overlap).
  The simulation reaches that only as closely as the prefetch lets it:
  * DRAM-bound (small Bt): the stream never stalls, so time = ``W_bytes/BW`` + the tail after the last
    byte (last group's fill, build, lookups and drain, then the last linear's reduction and output
    conversion) -- a fraction of a percent above the max for a LLaMA2-7B layer.
  * PIM-bound (large Bt): time = ``sum T_pim`` + the arrays' waits for data: the first group's fetch,
    plus any tile phase that consumes bytes faster than DRAM delivers before the prefetch has built
    a lead (typically the first linear: a tile phase alone can be DRAM-bound even when the linear,
    with its reduction, is not). A few percent at most; zero with an unbounded lead.
  * Near the balance point the bounded staging can make the stream idle while the arrays are busy
    and vice versa; the simulation is then above the max (the max is a lower bound on both sides).
  ``dram_bound`` is True when free arrays waited for weight bytes longer than the DRAM stream stood
  idle (staging full, or stream finished), i.e. the stream, not the arrays, set the pace. Near the
  balance point it can differ from the analytic ``W/BW > sum T_pim``: the arrays do starve there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import simpy

from archsim.analytic.lut import ceil_div, weight_bytes
from archsim.analytic.pim import PimParams, pim_phases
from archsim.errors import InputError
from archsim.sim.core import SharedRate, Trace

# Groups of identical tiles per wave of P arrays; each group costs ~13 SimPy events (tests/unit/test_pim_sim.py).
CHUNKS_PER_WAVE = 8

LogRow = tuple[str, str, float, float, int]  # (name, lane, start cycle, end cycle, tiles)


@dataclass(frozen=True)
class PimSim:
    """Simulated PIM cycles of a sequence of linears (at ``f_pim``), SimPy events processed, and
    whether the DRAM weight stream (not the arrays) set the pace."""

    cycles: float
    events: int
    dram_bound: bool


@dataclass(frozen=True, slots=True)
class _Linear:
    """Per-phase cycles of one linear (spec 5.6) and its tile groups ``(tiles, DRAM bytes per tile)``."""

    name: str
    cmd: float
    conv_in: float
    fill: float
    build: float
    look: float
    drain: float
    red: float
    conv_out: float
    groups: tuple[tuple[int, float], ...]


def staging_bytes(pp: PimParams) -> float:
    """LLC bytes the weight prefetch may run ahead of the arrays (ASSUMPTION, see module docstring):
    the ways not lent to compute, taken as large as the compute arrays (``P*A*B/8``)."""
    return pp.arrays * pp.a * pp.b / 8


def _linear(pp: PimParams, name: str, m: int, k: int, bits: int, batch: int, kept: float) -> _Linear:
    """Phase cycles of one linear from ``archsim.analytic.pim.pim_phases`` (spec 5.6) and its tile
    groups for the simulation."""
    ph = pim_phases(pp, m, k, bits, batch, kept)
    r_out, k_tile = ph.r_out, ph.k_tile
    fill, build, look, drain = ph.fill, ph.build, ph.look, ph.drain
    red, conv_in, conv_out = ph.red, ph.conv_in, ph.conv_out

    # Tile classes (full, short last row block, short last K block, corner): same array cycles (the
    # closed form charges every tile in full), DRAM bytes of the weights actually in the tile.
    rows = [(r_out, m // r_out)] + ([(m % r_out, 1)] if m % r_out else [])
    cols = [(k_tile, k // k_tile)] + ([(k % k_tile, 1)] if k % k_tile else [])
    chunk = ceil_div(pp.arrays, CHUNKS_PER_WAVE)
    groups: list[tuple[int, float]] = []
    for r, nr in rows:
        for c, nc in cols:
            count, per_tile = nr * nc, weight_bytes(r, c, bits)
            groups += [(min(chunk, count - i), per_tile) for i in range(0, count, chunk)]
    if sum(n for n, _ in groups) != ph.tiles:
        raise AssertionError("PIM tile classes do not cover the analytic tile count")
    return _Linear(name, ph.cmd, conv_in, fill, build, look, drain, red, conv_out, tuple(groups))


class _CountingEnv(simpy.Environment):
    """A SimPy environment that counts the events it processes."""

    def __init__(self) -> None:
        super().__init__()
        self.events = 0

    def step(self) -> None:
        self.events += 1
        super().step()


def _run(pp: PimParams, linears: list[_Linear]) -> tuple[float, int, bool, tuple[LogRow, ...]]:
    """Simulate ``linears`` back to back; return (cycles, events, dram_bound, log)."""
    env = _CountingEnv()
    dram = SharedRate(env, pp.bw_dram / pp.f_pim, "dram")
    slots = simpy.Container(env, capacity=pp.arrays, init=pp.arrays)
    stage_cap = staging_bytes(pp)
    staged = simpy.Container(env, capacity=stage_cap, init=0)  # level = bytes held in the LLC
    log: list[LogRow] = []
    ready = [[env.event() for _ in lin.groups] for lin in linears]
    starved = [0.0]  # cycles the dispatcher held free arrays waiting for weight bytes

    def prefetcher():
        """The DRAM weight stream, in execution order, at most ``stage_cap`` bytes ahead (spec 5.3 step 1)."""
        for li, lin in enumerate(linears):
            for gi, (w, per_tile) in enumerate(lin.groups):
                yield staged.put(min(w * per_tile, stage_cap))
                start = env.now
                yield dram.transfer(per_tile, w)
                log.append((lin.name, "dram", start, env.now, w))
                ready[li][gi].succeed()

    def phase(name: str, lane: str, cycles: float, w: int = 0):
        if cycles > 0:
            start = env.now
            yield env.timeout(cycles)
            log.append((name, lane, start, env.now, w))

    def tiles(lin: _Linear, gi: int, w: int, per_tile: float):
        """``w`` identical tiles on ``w`` arrays: fill, build, lookups, drain (spec 5.3 steps 1-5, 5.6)."""
        lane = f"arrays {gi % CHUNKS_PER_WAVE}"
        yield from phase(f"{lin.name} fill", lane, lin.fill, w)
        yield staged.get(min(w * per_tile, stage_cap))  # codes now live in the array
        yield from phase(f"{lin.name} build", lane, lin.build, w)
        yield from phase(f"{lin.name} lookup", lane, lin.look, w)
        yield from phase(f"{lin.name} drain", lane, lin.drain, w)
        yield slots.put(w)

    def controller():
        for li, lin in enumerate(linears):
            start = env.now
            yield from phase(f"{lin.name} cmd", "controller", lin.cmd)
            yield from phase(f"{lin.name} conv in", "core", lin.conv_in)
            running = []
            for gi, (w, per_tile) in enumerate(lin.groups):
                yield slots.get(w)
                if not ready[li][gi].triggered:  # free arrays starve for weights
                    since = env.now
                    yield ready[li][gi]
                    starved[0] += env.now - since
                running.append(env.process(tiles(lin, gi, w, per_tile)))
            yield simpy.AllOf(env, running)
            yield from phase(f"{lin.name} reduce", "core", lin.red)
            yield from phase(f"{lin.name} conv out", "core", lin.conv_out)
            log.append((lin.name, "linear", start, env.now, sum(w for w, _ in lin.groups)))

    env.process(prefetcher())
    env.run(env.process(controller()))
    # The side that waited less for the other set the pace: arrays starving for bytes vs the stream idle.
    return env.now, env.events, starved[0] > env.now - dram.busy_time, tuple(log)


@lru_cache(maxsize=1024)
def _simulate(pp: PimParams, shapes: tuple[tuple[int, int, int], ...], bits: int, batch: int,
              kept: float) -> tuple[float, int, bool, tuple[LogRow, ...]]:
    """Cached core: the inputs are frozen values, so a repeated call is simulated once."""
    linears = []
    for m, k, repeat in shapes:
        for r in range(repeat):
            linears.append(_linear(pp, f"{m}x{k}" + (f"#{r}" if repeat > 1 else ""), m, k, bits, batch, kept))
    return _run(pp, linears)


def _check(shapes: list[tuple[int, int, int]], batch: int, kept: float) -> None:
    if not shapes:
        raise InputError("shapes", "at least one linear (m, k, repeat) is needed.")
    for m, k, repeat in shapes:
        if m < 1 or k < 1 or repeat < 1:
            raise InputError("shapes", f"linear (m, k, repeat) must all be >= 1, got ({m}, {k}, {repeat}).")
    if batch < 1:
        raise InputError("batch", f"batch must be >= 1, got {batch}.")
    if not 0.0 <= kept <= 1.0:
        raise InputError("kept", f"kept (dedupe fraction u) must be in [0, 1], got {kept}.")


def _simulate_traced(pp: PimParams, shapes: list[tuple[int, int, int]], bits: int, batch: int, kept: float,
                     trace: Trace | None, offset_s: float) -> PimSim:
    """Validate, simulate (cached) and append the timeline to ``trace`` from ``offset_s`` seconds."""
    _check(shapes, batch, kept)
    cycles, events, dram_bound, log = _simulate(pp, tuple(tuple(s) for s in shapes), bits, batch, float(kept))
    if trace is not None:
        for name, lane, start, end, w in log:
            trace.span(name, lane, offset_s + start / pp.f_pim, offset_s + end / pp.f_pim, tiles=w)
    return PimSim(cycles, events, dram_bound)


def simulate_linears(pp: PimParams, shapes: list[tuple[int, int, int]], bits: int, batch: int, *,
                     kept: float = 1.0, trace: Trace | None = None) -> PimSim:
    """Simulate linears ``(m, k, repeat)`` run back to back (each repeated ``repeat`` times) as batched
    LUT-GEMVs of ``batch`` tokens with ``bits``-bit weights; ``kept`` is the dedupe fraction u.

    The DRAM weight stream overlaps the whole sequence (see module docstring); cycles are at
    ``pp.f_pim``. When ``trace`` is given, spans (seconds from 0) are appended on lanes ``dram``,
    ``arrays i``, ``controller``, ``core`` and ``linear``. Raises ``InputError`` on bad sizes.
    """
    return _simulate_traced(pp, shapes, bits, batch, kept, trace, 0.0)


def simulate_linear(pp: PimParams, m: int, k: int, bits: int, batch: int, *, kept: float = 1.0,
                    trace: Trace | None = None, offset_s: float = 0.0) -> PimSim:
    """Simulate one ``M x K`` linear (``y = W a`` for ``batch`` tokens); see ``simulate_linears``.
    Trace spans start at ``offset_s`` seconds."""
    return _simulate_traced(pp, [(m, k, 1)], bits, batch, kept, trace, offset_s)
