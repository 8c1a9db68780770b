"""SimPy model of a wafer-scale mesh running WaferLLM's kernels and their baselines (spec wafer_mesh.md).

Granularity: one event per *transfer*, relay stage or compute block, never per cycle or per element
(DESIGN.md: SimPy costs ~1 us per event; symmetry does the rest, see below).

Model (spec sec. 1 PLMR, sec. 3 primitives)
-------------------------------------------
- A **core** is a ``simpy.Resource`` of capacity 1: it computes *or* runs a software relay stage,
  one thing at a time. Fabric traffic does not occupy a core (the router moves wavelets and passes
  transit streams through in hardware; PLMR "P": ingress, egress and compute overlap).
- A **directed link** between neighbouring cores is a ``simpy.Resource`` of capacity 1: it carries
  one stream at a time.
- A **transfer** of ``w`` elements over a pre-configured route (one or more branches of consecutive
  cores from the same source; several branches = hardware multicast) requests all its links at once
  when it starts (FIFO, so streams that share links cannot deadlock). The head pays ``alpha`` per
  hop: it reaches the end of a branch at ``max_i(grant_i + (h - i)*alpha)`` (the same instant a
  hop-by-hop head would reach it when it has to wait for link ``i``); the body follows at ``lam``
  elements/cycle, and every link of the route is held until the tail arrives, ``w/lam`` after the
  head. An uncontended transfer therefore costs ``h*alpha + w/lam`` (``plmr.transfer``).
- A **relay stage** (software receive + add + forward, spec 5.2) occupies the relaying core for
  ``beta`` once the incoming head is there; the outgoing stream starts when the stage ends (cut-through),
  so a chain of ``h`` hops with ``r`` stages costs ``h*alpha + r*beta + w/lam``, the closed form.
  A stream that ends at a core with a receive-add stage is complete there ``w/lam`` after the stage
  ends (the core adds elements as they stream in, ``beta`` behind the head).

Kernels
-------
GEMV ``[1,k] x [k,n]`` (spec 5): every core first computes its partial ``Kt*Nt/c_gemv`` (Kt =
ceil(k/P), Nt = ceil(n/P)); the Nt partial sums are then all-reduced along Y, each column on its own.

- ``meshgemv``: the K = 2 tree (spec 5.2). Phase 1: groups of ``g = P/G`` cores stream-add towards
  the group middle ``jg + g//2`` (cores below flow up, cores above flow down, one relay stage per
  hop, the root adds each incoming stream with one stage). Phase 2: the group roots chain, through
  pass-through routes of ``g`` hops, to ``root2 = (G//2)*g + g//2`` (one stage per root). root2
  then multicasts the sum up and down the column (hardware multicast, ``alpha`` per hop).
- ``pipeline-gemv``: chain reduce from core 0 to core P-1 (one stage per hop), multicast back.
- ``ring-gemv``: GPU-style ring allreduce on the column's INTERLEAVE ring (spec 4.3, every ring
  edge <= 2 hops): ``P-1`` reduce-scatter then ``P-1`` allgather steps; a step moves a chunk of
  ``w/P`` to the ring successor, which stores it and runs one stage (add or copy) before it can
  forward. Steps are bulk-synchronous (all ranks finish a step before the next starts).

GEMM ``[m,k] x [k,n]`` (spec 4), all bulk-synchronous in steps (lockstep, see "symmetry"):

- ``meshgemm``: ``floor(P/2)`` alignment rounds of a two-hop INTERLEAVE ring shift of the A tile
  along X (``Mt*Kt``), then P steps: compute ``Mt*Kt*Nt/c_gemm`` while A shifts along X and B
  (``Kt*Nt``) along Y on the INTERLEAVE rings; a step ends at ``max(compute, shifts) + t_step``
  (``t_step`` is core-side work: barrier, task switch, set-up; spec 4.6).
- ``cannon``: one wrap-around shift round of A (the closed form's "one direct skew" ASSUMPTION),
  then P steps with wrap-around shifts: every core shifts one hop except the edge core, whose
  transfer crosses the whole line (``P-1`` hops, on the otherwise unused opposite-direction links).
- ``summa``: step ``s`` multicasts the A tiles of column ``s`` along the rows and the B tiles of row
  ``s`` along the columns, then computes (no overlap), then ``t_step``.
- ``allgather-gemm``: ring allgathers of the A tiles along every row and the B tiles along every
  column on the INTERLEAVE rings, concurrently: ``P-1`` steps, each a <= 2-hop move of one tile
  that the receiver stores and forwards next step with one stage per received stream (per-source
  multicast routes would need O(P) colours, far beyond the route budget: spec 4.1 "fails R", the
  gather is relayed); then ``P`` tile products (no ``t_step``, as in the closed form).
- ``gemm-t``: P steps of: compute, B two-hop shift along Y, and the injection of the step's partial
  ``A_sub x B_sub^T`` (``Mt*Nt``) one hop towards its K-tree group root along X (the rest of each
  step's reduction is pipelined behind later steps, spec 4.6 ``gemmt_reduce_overlap``); after the
  last step the K-tree allreduce of ``Mt*Nt`` along X.

Symmetry (why the representative run equals the full grid)
-----------------------------------------------------------
``full=True`` simulates every core and link of the P x P grid; ``full=False`` (default) simulates:

- GEMV / allreduce: **one column** (x = 0). Columns share no link (the reduction runs along Y) and
  no core with another column, they hold identical data sizes and start together, so every column's
  event times are identical; the grid's time is the column's and ``busy[y, x] = busy_col[y]``.
- Ring GEMV: one column as above, and one step per step kind (2).
- GEMMs: **one row (y = 2) and one column (x = 0), one step per distinct step kind, multiplied**.
  (1) Rows are identical: every row carries the same transfers on its own X links (MeshGEMM/Cannon
  alignment: a round's time is the max over the rows that shift, and every round has a shifting
  row; the reverse INTERLEAVE ring of the even rows is the mirror image of the forward ring, same
  hop lengths, each link used once), likewise every column on its Y links; X and Y links are
  disjoint and fabric traffic uses no core, so a step's end = max(compute, slowest row transfer,
  slowest column transfer) is the representative row's and column's. Where a core runs stages for
  both its row and its column stream (allgather), rows differ by the hop length of their column
  receive, so the representative is a two-hop receiver (row 2: it receives from row 0 over two
  hops), the slowest class, and the column streams that end in it are simulated on their own
  column links (every ring edge has its own links, so nothing else meets them). SUMMA broadcasts
  only: the A stream of a row and the B stream of a column run on congruent idle lines and a
  stream's time grows with its width, so only the wider one is simulated.
  (2) Steps repeat: at a step barrier every link and core is idle and the next step has the same
  sizes and routes, so the deterministic simulation of a step is the same from any barrier; one
  step simulated stands for all (``repeat``). SUMMA's steps differ by the root position s; step s
  and step P-1-s are mirror images, so half the steps are simulated, each standing for its mirror.
  The tests check representative == full on 8x8 and 16x16 grids for every algorithm.

Lockstep vs. a core-local barrier: the released MeshGEMM kernel has each core wait only on its own
receives and compute (spec 4.5). With double buffering a core's receive cannot start before the core
itself has started the step, so a core whose receive crosses the longest edge (two hops on every
INTERLEAVE ring with P >= 3, the wrap-around for Cannon) advances at exactly the lockstep step time,
and no core is slower than lockstep: the makespans are equal. (Checked against the max-plus
recurrence of the core-local barrier on 8x8 to 64x64 grids, compute- and communication-bound, with
``Mt*Kt != Kt*Nt``: identical makespans.) The paper's timing (latest end minus earliest start over
the grid, spec 8) is this makespan.

Agreement with ``archsim.analytic.plmr`` (tests: tests/unit/test_mesh_sim.py)
------------------------------------------------------------------------------
Exact (to rounding) on any grid: ``meshgemm``, ``cannon``.

Exact up to a documented geometric term:

- ``meshgemv`` / ``simulate_allreduce``: ``root2 = (G//2)*g + g//2`` is not the column middle; the
  broadcast to core 0 crosses ``P/2 + g/2`` hops where the closed form charges ``P/2``, so the
  simulation is ``+ (g/2)*alpha`` (even g, even G; e.g. +2 cycles at P = 8 and 16, +4 at P = 32,
  +15 at P = 720). With odd ``g`` both half-chains of a group reach the root together and its two
  receive stages serialise (+beta/2 - alpha/2 vs. the closed form's g/2 hops); with odd G the same
  at root2 (+beta/2). **Contention the formula ignores**: the phase-2 stream from root j runs over
  the lower half of group j+1 in the same direction as that half's phase-1 stream; when
  ``w/lam > beta + (g-1)*alpha`` the phase-1 tail still holds the last link and the phase-2 head
  waits for it. E.g. P = 16, Nt = 1024: communication 3,179 vs 2,186 cycles (+45%), still +0.4% of
  the GEMV (local work 262,144 cycles); at P = 720 with Nt <= 23 (16K x 16K) there is no such wait.
- ``pipeline-gemv``: the chain has ``P-1`` hops and ``P-1`` stages (the closed form rounds to P):
  simulation = closed form ``- beta - 2*alpha`` exactly.
- ``summa``: a broadcast from root ``s`` reaches the far end after ``max(s, P-1-s)`` hops, not
  ``P-1``: simulation = closed form ``- alpha * sum_s min(s, P-1-s)`` (-12 cycles at P = 8; at
  P = 720, 2048^3: 702,360 vs 831,600 cycles, -16%: the closed form is pessimistic for SUMMA).
- ``gemm-t``: the K-tree tail as above; per step the partial's injection costs ``alpha + Mt*Nt/lam``
  where the closed form writes ``Mt*Nt/lam`` (only matters when that term is the step's max).

Inherent divergences (the closed form is a simplification; tests assert the derived relation):

- ``ring-gemv``: a ring allreduce has ``2(P-1)`` steps (reduce-scatter + allgather), each
  ``2*alpha + beta + w/(P*lam)``; the closed form ``(2*alpha + beta)*P + 2*w/lam`` charges P
  latency terms. Simulation = ``2(P-1)(2*alpha + beta + w/(P*lam))`` exactly, 1.65x / 1.82x / 1.91x /
  1.95x the closed form's communication at P = 8 / 16 / 32 / 64 (Nt = 16; e.g. 990 vs 544 cycles
  at P = 16).
- ``allgather-gemm``: the closed form gathers ``P-1`` tiles as one unrelayed broadcast,
  ``(P-1)*(alpha + w/lam)``; the relayed ring gather pays per step two hops, the tile and the stages
  of the two streams a core receives (square tiles: ``(P-1)*(2*alpha + w/lam + 2*beta)``, exact):
  64^3 on 8x8: 4,978 vs 4,551 cycles (+9%); 2048^3 on 720x720: 70,489 vs 26,630 (2.6x). Spec 4.1's
  "O((alpha+beta)P) relayed" is the simulated behaviour; the closed form's ``h_seg = P`` is not.

Cost: GEMV/allreduce O(P) events per column (P = 720: ~1.3e4 events, ~70 ms); lockstep kernels
O(P) events per distinct step (MeshGEMM 2048^3 at P = 720: ~1.5e4 events, ~0.1 s); SUMMA O(P^2)
(P/2 distinct steps, each a broadcast over P-1 links): ~5e5 events, ~2 s at P = 720.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from archsim.analytic.plmr import MeshParams, default_groups, tile
from archsim.sim.core import Trace

Coord = tuple[int, int]  # (x, y): x indexes the cores of a row, y the cores of a column
Route = list[Coord]  # consecutive cores; route[0] is the source
Proc = Generator[simpy.Event, Any, Any]

GEMV_ALGORITHMS = ("meshgemv", "pipeline-gemv", "ring-gemv")
GEMM_ALGORITHMS = ("meshgemm", "cannon", "summa", "allgather-gemm", "gemm-t")
# Detailed (per core / per link) trace spans per simulation; beyond it only the per-step kernel lane
# is recorded, so a trace of a 720 x 720 SUMMA stays loadable.
TRACE_SPAN_CAP = 20_000


@dataclass(frozen=True, eq=False)
class MeshSim:
    """Result of one simulated kernel.

    ``cycles``: makespan in core cycles (every core holds its result). ``events``: SimPy events
    scheduled. ``busy``: ``P x P`` per-core busy cycles (compute, relay stages and ``t_step``),
    indexed ``busy[y, x]`` (row y, column x), or None.
    """

    cycles: float
    events: int
    busy: np.ndarray | None


# ---------------------------------------------------------------- the fabric


class _Fabric:
    """Cores and directed links as SimPy resources, with busy accounting and trace spans."""

    def __init__(self, mp: MeshParams, p: int, trace: Trace | None, offset_cycles: float) -> None:
        self.env = simpy.Environment()
        self.mp = mp
        self.p = p
        self.busy: dict[Coord, float] = {}
        self._cores: dict[Coord, simpy.Resource] = {}
        self._links: dict[tuple[Coord, Coord], simpy.Resource] = {}
        self._trace = trace
        self._offset = offset_cycles
        self._spans_left = TRACE_SPAN_CAP

    def core(self, c: Coord) -> simpy.Resource:
        res = self._cores.get(c)
        if res is None:
            res = self._cores[c] = simpy.Resource(self.env, capacity=1)
        return res

    def link(self, a: Coord, b: Coord) -> simpy.Resource:
        res = self._links.get((a, b))
        if res is None:
            if abs(a[0] - b[0]) + abs(a[1] - b[1]) != 1:
                raise ValueError(f"no link between {a} and {b}: links join neighbouring cores")
            res = self._links[(a, b)] = simpy.Resource(self.env, capacity=1)
        return res

    def span(self, name: str, lane: str, start: float, end: float, detail: bool = True, **args: Any) -> None:
        """A trace span in seconds (cycles / f, shifted by the offset); detailed spans are capped."""
        if self._trace is None:
            return
        if detail:
            if self._spans_left <= 0:
                return
            self._spans_left -= 1
        f = self.mp.f
        self._trace.span(name, lane, (start + self._offset) / f, (end + self._offset) / f, **args)

    def add_busy(self, c: Coord, cycles: float) -> None:
        self.busy[c] = self.busy.get(c, 0.0) + cycles

    def occupy(self, c: Coord, cycles: float, name: str) -> Proc:
        """Hold core ``c`` for ``cycles`` (compute or a relay stage); waits if the core is busy."""
        res = self.core(c)
        req = res.request()
        if not req.triggered:  # granted requests need no yield: saves a process resume
            yield req
        start = self.env.now
        yield self.env.timeout(cycles)
        res.release(req)
        self.add_busy(c, cycles)
        self.span(name, _core_lane(c), start, self.env.now)

    def send(self, branches: Sequence[Route], w: float, name: str, head: simpy.Event | None = None) -> Proc:
        """Wormhole transfer of ``w`` elements over a pre-configured route (module docstring).

        ``head`` fires when the head reaches the end of the longest branch; the process returns when
        the last element has arrived (the tail), after releasing every link.
        """
        env, alpha, links = self.env, self.mp.alpha, self._links
        t0 = env.now
        held: list[tuple[simpy.Resource, simpy.Event]] = []
        remaining: list[int] = []  # hops from each link to the end of its branch
        arrival = t0
        for route in branches:
            hops = len(route) - 1
            arrival = max(arrival, t0 + hops * alpha)
            for i in range(hops):
                res = links.get((route[i], route[i + 1])) or self.link(route[i], route[i + 1])
                held.append((res, res.request()))
                remaining.append(hops - i)
        grant = [t0] * len(held)
        waiting = []
        for j, (_, req) in enumerate(held):
            if not req.triggered:
                req.callbacks.append(lambda _ev, j=j: grant.__setitem__(j, env.now))
                waiting.append(req)
        if waiting:
            for req in waiting:
                if not req.processed:
                    yield req
            arrival = max(arrival, max(t + r * alpha for t, r in zip(grant, remaining, strict=True)))
        body = w / self.mp.lam
        if head is not None:
            yield env.timeout(arrival - env.now)
            head.succeed()
            yield env.timeout(body)
        else:
            yield env.timeout(arrival - env.now + body)
        for res, req in held:
            res.release(req)
        if self._trace is not None:
            for route in branches:
                for i in range(len(route) - 1):
                    self.span(name, _link_lane(route[i], route[i + 1]), t0, env.now, w=w)

    def receive_stage(self, c: Coord, head: simpy.Event, name: str) -> Proc:
        """Process: once ``head`` has arrived, one relay stage on ``c``; returns the stage's end."""
        yield head
        yield from self.occupy(c, self.mp.beta, name)
        return self.env.now

    def events(self) -> int:
        # SimPy numbers every scheduled event from one counter; the next id is the count so far.
        return next(self.env._eid)


def _core_lane(c: Coord) -> str:
    return f"core x{c[0]} y{c[1]}"


def _link_lane(a: Coord, b: Coord) -> str:
    return f"link x{a[0]} y{a[1]} -> x{b[0]} y{b[1]}"


def _path(line: Sequence[Coord], i: int, j: int) -> Route:
    """The cores of ``line`` from position i to position j inclusive (either direction)."""
    step = 1 if j >= i else -1
    return [line[q] for q in range(i, j + step, step)]


def _row(y: int, p: int) -> list[Coord]:
    return [(x, y) for x in range(p)]


def _col(x: int, p: int) -> list[Coord]:
    return [(x, y) for y in range(p)]


def interleave_next(p: int) -> list[int]:
    """INTERLEAVE ring (spec 4.3): ``nxt[i]`` is the physical position core ``i`` sends to.

    Logical ``k`` sits at ``phi(k) = 2k`` if ``2k <= P-1`` else ``2(P-k) - 1``; every ring edge is
    1 or 2 hops long.
    """
    phi = [2 * k if 2 * k <= p - 1 else 2 * (p - k) - 1 for k in range(p)]
    nxt = [0] * p
    for k in range(p):
        nxt[phi[k]] = phi[(k + 1) % p]
    return nxt


def _inverse(nxt: Sequence[int]) -> list[int]:
    prv = [0] * len(nxt)
    for i, j in enumerate(nxt):
        prv[j] = i
    return prv


def _multicast(line: Sequence[Coord], s: int) -> list[Route]:
    """Branches of a hardware multicast from position ``s`` to both ends of ``line``."""
    p = len(line)
    return [b for b in (_path(line, s, 0) if s > 0 else None, _path(line, s, p - 1) if s < p - 1 else None) if b]


# ---------------------------------------------------------------- allreduce dataflows along one line


def _ktree_line(fab: _Fabric, line: Sequence[Coord], w: float, groups: int, local: float) -> simpy.Event:
    """Start the K = 2 tree allreduce (spec 5.2) of ``w`` elements along ``line``; each core first
    computes for ``local`` cycles. Returns an event that fires when every core holds the sum."""
    env, beta = fab.env, fab.mp.beta
    p = len(line)
    g = p // groups
    half = groups // 2  # index of the group whose root is root2
    roots = [j * g + g // 2 for j in range(groups)]
    heads: dict[tuple[int, int], simpy.Event] = {}  # (from, to) position -> the stream's head arrival

    def stream(a: int, b: int) -> tuple[int, int]:
        heads[(a, b)] = env.event()
        return a, b

    def member(i: int, up: int | None, down: int) -> Proc:
        # Phase 1: receive + add + forward = one relay stage per hop (spec 5.2).
        if local:
            yield from fab.occupy(line[i], local, "gemv")
        if up is not None:
            yield heads[(up, i)]
            yield from fab.occupy(line[i], beta, "relay")
        yield from fab.send([_path(line, i, down)], w, "reduce", heads[(i, down)])

    def root(j: int, phase1: list[tuple[int, int]], up: tuple[int, int] | None,
             out: tuple[int, int] | None, phase2: list[tuple[int, int]], done: simpy.Event) -> Proc:
        r = roots[j]
        if local:
            yield from fab.occupy(line[r], local, "gemv")
        stages = [env.process(fab.receive_stage(line[r], heads[k], "recv-add")) for k in phase1]
        ends = list((yield env.all_of(stages)).values()) if stages else []
        if out is not None:  # a phase-2 chain member: stream-add its group sum towards root2
            if up is not None:
                yield heads[up]
                yield from fab.occupy(line[r], beta, "relay")
            yield from fab.send([_path(line, r, out[1])], w, "reduce", heads[out])
            return
        # root2: add the phase-2 chains; the sum is complete w/lam after the last stage (cut-through adds)
        stages = [env.process(fab.receive_stage(line[r], heads[k], "recv-add")) for k in phase2]
        if stages:
            ends += list((yield env.all_of(stages)).values())
        if ends:
            yield env.timeout(max(ends) + w / fab.mp.lam - env.now)
        branches = _multicast(line, r)
        if branches:
            yield from fab.send(branches, w, "bcast")
        done.succeed()

    # Streams first (the processes look their events up when they run).
    phase1: list[list[tuple[int, int]]] = []  # per group: the streams that end at its root
    for j in range(groups):
        base, r = j * g, roots[j]
        below = [stream(i, i + 1) for i in range(base, r)]  # below the root: flow up
        above = [stream(i, i - 1) for i in range(base + g - 1, r, -1)]  # above the root: flow down
        phase1.append(below[-1:] + above[-1:])
    chain_up = [stream(roots[j], roots[j + 1]) for j in range(half)]  # phase 2, lower roots
    chain_down = [stream(roots[j], roots[j - 1]) for j in range(groups - 1, half, -1)]  # upper roots

    done = env.event()
    for j in range(groups):
        base, r = j * g, roots[j]
        for i in range(base, r):
            env.process(member(i, i - 1 if i > base else None, i + 1))
        for i in range(base + g - 1, r, -1):
            env.process(member(i, i + 1 if i < base + g - 1 else None, i - 1))
        if j < half:
            env.process(root(j, phase1[j], chain_up[j - 1] if j > 0 else None, chain_up[j], [], done))
        elif j > half:
            up = chain_down[groups - 2 - j] if j < groups - 1 else None
            env.process(root(j, phase1[j], up, chain_down[groups - 1 - j], [], done))
    env.process(root(half, phase1[half], None, None, chain_up[-1:] + chain_down[-1:], done))
    return done


def _pipeline_line(fab: _Fabric, line: Sequence[Coord], w: float, local: float) -> simpy.Event:
    """Chain reduce from position 0 to position P-1 (one stage per hop), then multicast back."""
    env = fab.env
    p = len(line)
    heads = [env.event() for _ in range(p)]  # heads[i]: the stream into position i
    done = env.event()

    def core(i: int) -> Proc:
        if local:
            yield from fab.occupy(line[i], local, "gemv")
        if i > 0:
            yield heads[i]
            yield from fab.occupy(line[i], fab.mp.beta, "relay" if i < p - 1 else "recv-add")
        if i < p - 1:
            yield from fab.send([_path(line, i, i + 1)], w, "reduce", heads[i + 1])
            return
        if p > 1:
            yield env.timeout(w / fab.mp.lam)  # the sum is complete w/lam after the root's stage
            yield from fab.send([_path(line, p - 1, 0)], w, "bcast")
        done.succeed()

    for i in range(p):
        env.process(core(i))
    return done


# ---------------------------------------------------------------- bulk-synchronous kernels


@dataclass
class _Send:
    branches: list[Route]
    w: float
    name: str
    stage: Coord | None = None  # a core that runs one relay stage once the transfer has arrived


@dataclass
class _Round:
    """One bulk-synchronous step: sends (and compute, overlapped unless ``serial``), then overhead."""

    name: str
    sends: list[_Send] = field(default_factory=list)
    compute: float = 0.0
    serial: bool = False
    overhead: float = 0.0
    repeat: int = 1  # identical rounds this simulated one stands for


def _lockstep(fab: _Fabric, rounds: Iterable[_Round], cores: Sequence[Coord]) -> Proc:
    """Process: run ``rounds`` one after another; ``cores`` compute and pay the overhead."""
    env = fab.env

    def deliver(s: _Send) -> Proc:
        yield from fab.send(s.branches, s.w, s.name)
        if s.stage is not None:
            yield from fab.occupy(s.stage, fab.mp.beta, "stage")

    def work(name: str, cycles: float) -> Proc:
        # Core-side work of a round on every core at once. At a barrier every core is idle and a
        # round's compute / t_step is the only core work until the next barrier (stages run only in
        # rounds without compute), so each core's resource would be granted at once: one timeout
        # stands for all of them (O(1) events instead of O(P)), and the busy cycles are booked per core.
        start = env.now
        yield env.timeout(cycles)
        for c in cores:
            fab.add_busy(c, cycles)
            fab.span(name, _core_lane(c), start, env.now)

    for rd in rounds:
        t = env.now
        before = dict(fab.busy) if rd.repeat > 1 else None
        procs = [env.process(deliver(s)) for s in rd.sends]
        if rd.serial and procs:
            yield env.all_of(procs)
            procs = []
        if rd.compute:
            procs.append(env.process(work(rd.name + " compute", rd.compute)))
        if procs:
            yield env.all_of(procs)
        if rd.overhead:
            yield from work("t_step", rd.overhead)
        if rd.repeat > 1 and before is not None:
            yield env.timeout((rd.repeat - 1) * (env.now - t))
            for c, b in list(fab.busy.items()):
                fab.busy[c] = b + (rd.repeat - 1) * (b - before.get(c, 0.0))
        fab.span(rd.name + (f" x{rd.repeat}" if rd.repeat > 1 else ""), "kernel", t, env.now, detail=False)


def _ring_shift(line: Sequence[Coord], nxt: Sequence[int], w: float, name: str) -> list[_Send]:
    return [_Send([_path(line, i, j)], w, name) for i, j in enumerate(nxt) if i != j]


def _ring_rounds(lines: Sequence[Sequence[Coord]], p: int, w: float, full: bool) -> list[_Round]:
    """Bulk-synchronous ring allreduce on each line's INTERLEAVE ring: P-1 reduce-scatter and P-1
    allgather steps, chunk w/P, one stage (add / copy) at the receiver."""
    if p < 2:
        return []
    nxt = interleave_next(p)

    def step(name: str, repeat: int) -> _Round:
        sends = [_Send([_path(line, i, j)], w / p, name, stage=line[j]) for line in lines for i, j in enumerate(nxt)]
        return _Round(name, sends, repeat=repeat)

    if full:
        return [step("reduce-scatter", 1) for _ in range(p - 1)] + [step("allgather", 1) for _ in range(p - 1)]
    return [step("reduce-scatter", p - 1), step("allgather", p - 1)]


# ---------------------------------------------------------------- public API


def _check(p: int, minimum: int, **dims: int) -> None:
    if p < minimum:
        raise ValueError(f"grid side p must be >= {minimum}, got {p}")
    for name, d in dims.items():
        if d < 1:
            raise ValueError(f"{name} must be >= 1, got {d}")


def _groups(p: int, groups: int | None) -> int:
    g = default_groups(p) if groups is None else groups
    if g < 1 or p % g:
        raise ValueError(f"groups must divide p = {p} (K-tree, spec 5.3), got {groups}")
    return g


def _finish(fab: _Fabric, p: int, full: bool, along_y: bool, rep: int = 0) -> MeshSim:
    """Run to the end and expand the busy cycles of the representative column ``x = rep`` (GEMV) or
    row ``y = rep`` (GEMM) to the P x P grid."""
    fab.env.run()
    busy = np.zeros((p, p))
    for (x, y), b in fab.busy.items():
        busy[y, x] = b
    if not full:
        # Every column (GEMV) / row (GEMM) repeats the representative one (module docstring).
        busy = np.repeat(busy[:, rep:rep + 1], p, axis=1) if along_y else np.repeat(busy[rep:rep + 1, :], p, axis=0)
    return MeshSim(float(fab.env.now), fab.events(), busy)


def _simulate_lines(mp: MeshParams, p: int, w: float, local: float, algorithm: str, groups: int | None,
                    full: bool, trace: Trace | None, offset_cycles: float) -> MeshSim:
    fab = _Fabric(mp, p, trace, offset_cycles)
    lines = [_col(x, p) for x in (range(p) if full else [0])]
    if algorithm == "meshgemv":
        g = _groups(p, groups)
        for line in lines:
            _ktree_line(fab, line, w, g, local)
    elif algorithm == "pipeline-gemv":
        for line in lines:
            _pipeline_line(fab, line, w, local)
    elif algorithm == "ring-gemv":
        cores = [c for line in lines for c in line]
        rounds = ([_Round("gemv", compute=local)] if local else []) + _ring_rounds(lines, p, w, full)
        fab.env.process(_lockstep(fab, rounds, cores))
    else:
        raise ValueError(f"unknown GEMV algorithm '{algorithm}'; allowed: {', '.join(GEMV_ALGORITHMS)}")
    return _finish(fab, p, full, along_y=True)


def simulate_gemv(mp: MeshParams, p: int, k: int, n: int, *, algorithm: str = "meshgemv", groups: int | None = None,
                  full: bool = False, trace: Trace | None = None, offset_cycles: float = 0.0) -> MeshSim:
    """Simulate the GEMV ``[1,k] x [k,n]`` on a ``p x p`` grid: local partial GEMV (``Kt*Nt/c_gemv``)
    then the allreduce of the ``Nt`` partial sums along Y with ``algorithm`` (``meshgemv`` = K-tree
    with ``groups`` groups, default the divisor of p nearest sqrt(p); ``pipeline-gemv``; ``ring-gemv``).

    ``full`` simulates all P columns instead of one representative column (identical result).
    ``trace`` receives spans (seconds, shifted by ``offset_cycles``). Raises ``ValueError`` for an
    unknown algorithm, ``p < 1``, non-positive dims, or ``groups`` not dividing ``p``.
    """
    _check(p, 1, k=k, n=n)
    kt, nt = tile(k, p), tile(n, p)
    return _simulate_lines(mp, p, nt, kt * nt / mp.c_gemv, algorithm, groups, full, trace, offset_cycles)


def simulate_allreduce(mp: MeshParams, p: int, w: float, *, groups: int | None = None, full: bool = False,
                       trace: Trace | None = None, offset_cycles: float = 0.0) -> MeshSim:
    """Simulate WaferLLM's K-tree allreduce (+ broadcast) of ``w`` elements per core along Y on a
    ``p x p`` grid (norms, softmax, fused reductions; spec 5.3 ``T_K2``). Same contract as
    ``simulate_gemv`` without the local work."""
    _check(p, 1)
    if w < 0:
        raise ValueError(f"w must be >= 0, got {w}")
    return _simulate_lines(mp, p, w, 0.0, "meshgemv", groups, full, trace, offset_cycles)


def _gemm_rounds(algorithm: str, mp: MeshParams, p: int, m: int, k: int, n: int, full: bool, rep: int
                 ) -> tuple[list[_Round], Callable[[_Fabric], Proc] | None]:
    """The bulk-synchronous rounds of a GEMM and an optional tail process (GEMM-T's reduction);
    ``rep`` is the representative row when not ``full``."""
    mt, kt, nt = tile(m, p), tile(k, p), tile(n, p)
    wa, wb, t_cmp = mt * kt, kt * nt, mt * kt * nt / mp.c_gemm
    ys = range(p) if full else [rep]
    xs = range(p) if full else [0]
    rows = [_row(y, p) for y in ys]
    cols = [_col(x, p) for x in xs]

    def shifts(nxt: Sequence[int], name: str) -> list[_Send]:
        return [s for r in rows for s in _ring_shift(r, nxt, wa, "A " + name)] + \
               [s for c in cols for s in _ring_shift(c, nxt, wb, "B " + name)]

    def steps(nxt: Sequence[int], name: str) -> list[_Round]:
        rd = _Round(name, shifts(nxt, "shift"), compute=t_cmp, overhead=mp.t_step)
        if full:
            return [rd] + [_Round(name, shifts(nxt, "shift"), compute=t_cmp, overhead=mp.t_step) for _ in range(p - 1)]
        rd.repeat = p
        return [rd]

    if algorithm == "meshgemm":
        nxt = interleave_next(p)
        prv = _inverse(nxt)
        n_align = p // 2
        if full:
            # Row y needs y/2 (even, reverse ring) or (y+1)/2 (odd, forward) shifts; all rows run
            # floor(P/2) rounds in lock-step (spec 4.5).
            align = []
            for q in range(n_align):
                sends = [s for y in range(p) if (y // 2 if y % 2 == 0 else (y + 1) // 2) > q
                         for s in _ring_shift(_row(y, p), nxt if y % 2 else prv, wa, "A align")]
                align.append(_Round("align", sends))
        else:
            align = [_Round("align", [s for r in rows for s in _ring_shift(r, nxt, wa, "A align")],
                            repeat=n_align)] if n_align else []
        return align + steps(nxt, "step"), None
    if algorithm == "cannon":
        nxt = [(i - 1) % p for i in range(p)]  # shift towards lower index; the edge core wraps around
        skew_rows = [_row(y, p) for y in (range(1, p) if full else [0])]
        skew = [_Round("skew", [s for r in skew_rows for s in _ring_shift(r, nxt, wa, "A skew")])]
        return skew + steps(nxt, "step"), None
    if algorithm == "summa" and not full:
        # Broadcast-only steps: the A stream of a row and the B stream of a column run on congruent
        # lines (same length, same links, idle at the barrier, no core work) and a stream's time grows
        # with its width, so the step's transfers end with the wider line's: simulate that one only.
        rows, cols = (rows, []) if wa >= wb else ([], cols)
    if algorithm == "summa":
        rounds = []
        for s in range(p) if full else range((p + 1) // 2):
            sends = [_Send(_multicast(r, s), wa, "A bcast") for r in rows] + \
                    [_Send(_multicast(c, s), wb, "B bcast") for c in cols]
            repeat = 1 if full or s == p - 1 - s else 2  # step s stands for its mirror step P-1-s
            rounds.append(_Round("step", [x for x in sends if x.branches], compute=t_cmp, serial=True,
                                 overhead=mp.t_step, repeat=repeat))
        return rounds, None
    if algorithm == "allgather-gemm":
        # Ring allgather of the A tiles along every row and the B tiles along every column on the
        # INTERLEAVE rings: P-1 steps, each a <= 2-hop move of one tile that the receiver stores and
        # forwards next step (one stage per received stream). Multicast routes per source would need
        # O(P) colours, far beyond the route budget (spec 4.1: allgather "fails R", gathers relayed).
        nxt = interleave_next(p)
        prv = _inverse(nxt)

        def gather() -> list[_Send]:
            a = [_Send([_path(r, i, j)], wa, "A gather", stage=r[j]) for r in rows for i, j in enumerate(nxt)]
            if full:
                return a + [_Send([_path(c, i, j)], wb, "B gather", stage=c[j])
                            for c in cols for i, j in enumerate(nxt)]
            # A core runs the stages of its A and its B stream, so rows differ by the hop length of
            # their B receive: the representative row (a two-hop receiver, the slowest) gets the B
            # streams that end in it, each on its own column (the other column links carry no
            # stream that meets them: every ring edge has its own links).
            return a + [_Send([_path(_col(x, p), prv[rep], rep)], wb, "B gather", stage=(x, rep)) for x in range(p)]

        if full:
            rounds = [_Round("gather", gather()) for _ in range(p - 1)]
        else:
            rounds = [_Round("gather", gather(), repeat=p - 1)]
        return rounds + [_Round("compute", compute=p * t_cmp)], None
    if algorithm == "gemm-t":
        groups = default_groups(p)
        g = p // groups
        roots = [(x // g) * g + g // 2 for x in range(p)]
        wc = mt * nt

        def step_sends() -> list[_Send]:
            inject = [_Send([_path(r, x, x + (1 if x < roots[x] else -1))], wc, "C inject")
                      for r in rows for x in range(p) if x != roots[x]]
            return inject + [s for c in cols for s in _ring_shift(c, interleave_next(p), wb, "B shift")]

        if full:
            rounds = [_Round("step", step_sends(), compute=t_cmp, overhead=mp.t_step) for _ in range(p)]
        else:
            rounds = [_Round("step", step_sends(), compute=t_cmp, overhead=mp.t_step, repeat=p)]

        def tail(fab: _Fabric) -> Proc:
            t = fab.env.now
            yield fab.env.all_of([_ktree_line(fab, r, wc, groups, 0.0) for r in rows])
            fab.span("reduce C (K-tree)", "kernel", t, fab.env.now, detail=False)

        return rounds, tail
    raise ValueError(f"unknown GEMM algorithm '{algorithm}'; allowed: {', '.join(GEMM_ALGORITHMS)}")


def simulate_gemm(mp: MeshParams, p: int, m: int, k: int, n: int, *, algorithm: str = "meshgemm",
                  full: bool = False, trace: Trace | None = None, offset_cycles: float = 0.0) -> MeshSim:
    """Simulate the GEMM ``[m,k] x [k,n]`` (``gemm-t``: ``C = A x B^T`` with B given as ``[n,k]``)
    on a ``p x p`` grid with ``algorithm`` (one of ``GEMM_ALGORITHMS``), tiles ``ceil(d/p)``.

    ``full`` simulates every core, link and step instead of one representative row and column and
    one step per distinct step kind (identical result, module docstring). Raises ``ValueError`` for
    an unknown algorithm, ``p < 3`` (the INTERLEAVE ring needs 3 cores) or non-positive dims.
    """
    _check(p, 3, m=m, k=k, n=n)
    # Representative row: y = 2 receives over a two-hop edge of the INTERLEAVE column ring (spec 4.3),
    # the slowest class where the row's cores also run stages for column streams (allgather).
    rep = 2
    rounds, tail = _gemm_rounds(algorithm, mp, p, m, k, n, full, rep)
    fab = _Fabric(mp, p, trace, offset_cycles)
    cores = [(x, y) for y in range(p) for x in range(p)] if full else _row(rep, p)

    def main() -> Proc:
        yield from _lockstep(fab, rounds, cores)
        if tail is not None:
            yield from tail(fab)

    fab.env.process(main())
    return _finish(fab, p, full, along_y=False, rep=rep)


__all__ = ["GEMM_ALGORITHMS", "GEMV_ALGORITHMS", "MeshSim", "interleave_next", "simulate_allreduce",
           "simulate_gemm", "simulate_gemv"]
