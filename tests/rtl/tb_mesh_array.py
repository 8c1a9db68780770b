"""cocotb testbench of hw/rtl/mesh_array.v (MeshGEMM on a P x P PE array), in the style of cocotb's
matrix_multiplier example: a driver on the input stream, monitors on the input and output streams and on the
array's step state, and a checker that calls the reference on every input transaction and compares every
output transaction with it.

Reference: ``kernels_ref.mesh.meshgemm`` (JAX, integer path: int8 operands accumulate in int32) for P >= 3,
cross-checked with ``A.astype(int64) @ B`` and with an integer emulation of kernels_ref's MeshGEMM schedule
(``meshgemm_schedule``; for P = 2, which kernels_ref's public API refuses, its private ``_meshgemm_schedule(2)``
on the trivial 2-ring). Besides C, the checker verifies the data movement: at every compute step every PE's
A and B tiles equal the tiles kernels_ref's schedule places there (so the initial skew and the ring order of
every shift), every two-hop move passes through the relay register of the PE in between, and each product
runs floor(P/2) alignment rounds and P compute-shift steps. Cycles from the first accepted input to the last
valid output must equal ``archsim.sim.units.mesh_array.cycles`` (plus the input gaps and output stalls on
runs with back-pressure). The step monitor reads the array's internal ``state``, ``t`` and ``step`` registers
and its flat observation vectors ``a_cur_all``, ``b_cur_all`` and ``*_rly_*_all`` (all PEs' tiles and relay
registers).

Parameters come from the runner (``unit_params()``: P, T); ``ARCHSIM_MESH_PRODUCTS`` overrides the number
of random products (default 1000). The seed is cocotb's (``COCOTB_RANDOM_SEED``), logged and reported.
"""

from __future__ import annotations

import importlib
import os
import random
import sys
from collections import deque
from collections.abc import Callable
from types import ModuleType

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import Event, RisingEdge, Timer

from archsim.rtl.runner import unit_params, write_report
from archsim.sim.units.mesh_array import cycles as model_cycles
from archsim.sim.units.mesh_array import ring_src
from archsim.sim.units.mesh_array import simulate as model_simulate


def _import_unrewritten(name: str) -> ModuleType:
    """Import ``name`` without pytest's assertion rewriting. cocotb installs the rewrite hook for every
    ``*.py`` imported after it (``COCOTB_REWRITE_ASSERTION_FILES`` defaults to ``*.py``) and, with
    ``PYTHONDONTWRITEBYTECODE`` set, redoes the rewrite of all of NumPy and JAX on every run (~6 s CPU) when
    the simulator is started without a narrower pattern."""
    hooks = [h for h in sys.meta_path if type(h).__name__ == "AssertionRewritingHook"]
    for h in hooks:
        sys.meta_path.remove(h)
    try:
        return importlib.import_module(name)
    finally:
        sys.meta_path[:0] = hooks


np = _import_unrewritten("numpy")
kmesh = _import_unrewritten("kernels_ref.mesh")

PARAMS = unit_params()
P = PARAMS.get("P", 4)
T = PARAMS.get("T", 2)
N = P * T
PRODUCTS = int(os.environ.get("ARCHSIM_MESH_PRODUCTS", "1000"))
S_LOAD, S_ALIGN, S_STEP, S_DRAIN = range(4)  # mesh_array's state encoding
SH = 2 if P >= 3 else 1


def _timeout_ns(products: int) -> int:
    """A sim-time bound for ``products`` products (back-pressure included), so a broken RTL that never
    finishes a product fails instead of hanging the regression."""
    return products * (4 * model_cycles(P, T) + 100) * 10


STATS: dict = {"vectors": 0, "random": 0, "directed": 0, "clean_cycles": set(), "stalled": 0,
               "placement_steps": 0, "relay_checks": 0}


def _schedule() -> tuple[np.ndarray, np.ndarray]:
    if P >= 3:
        return kmesh.meshgemm_schedule(P)
    return tuple(np.array(x) for x in kmesh._meshgemm_schedule(P))  # the trivial 2-ring, same rule


A_COL, B_ROW = _schedule()  # [step, y, x]


def _reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C from kernels_ref (P >= 3), asserted equal to the int64 product; int64 array."""
    exact = a.astype(np.int64) @ b.astype(np.int64)
    if P >= 3:
        ref = np.asarray(kmesh.meshgemm(a, b, P)).astype(np.int64)
        assert np.array_equal(ref, exact), "kernels_ref.meshgemm differs from A @ B"
        return ref
    return exact


def _tiles(m: np.ndarray) -> np.ndarray:
    """[N, N] -> [P, P, T, T]: tile (y, x), element (i, j), as kernels_ref.mesh.partition."""
    return m.reshape(P, T, P, T).transpose(0, 2, 1, 3)


def _pack(tiles: np.ndarray) -> int:
    """A [P, P, T, T] int8 grid as the RTL's flat vector: PE y*P+x at bits [ID*T*T*8 +: T*T*8], element
    (i, j) of the tile at [(i*T+j)*8 +: 8]."""
    return int.from_bytes(np.ascontiguousarray(tiles.astype(np.int8)).view(np.uint8).tobytes(), "little")


def _relay_edges() -> list[tuple[int, int, int]]:
    """Two-hop edges of one back ring move on a line: (src, dst, mid)."""
    out = []
    for dst in range(P):
        src = ring_src(P, dst, False)
        if abs(src - dst) == 2:
            out.append((src, dst, (src + dst) // 2))
    return out


RELAY_EDGES = _relay_edges()
TILE_MASK = (1 << (T * T * 8)) - 1


class Product:
    """One matrix product in flight: operands, the expected C and the expected tile placement."""

    def __init__(self, a: np.ndarray, b: np.ndarray, t0: int, gaps: int) -> None:
        self.a, self.b, self.t0, self.gaps = a, b, t0, gaps
        self.c = _reference(a, b)
        at, bt = _tiles(a), _tiles(b)
        ys, xs = np.arange(P)[:, None], np.arange(P)[None, :]
        self.a_steps = [at[ys, A_COL[s]] for s in range(P)]  # [P, P, T, T] tiles on the PEs at step s
        self.b_steps = [bt[B_ROW[s], xs] for s in range(P)]
        # integer emulation of kernels_ref's schedule: every PE adds its P tile products
        acc = sum(np.einsum("yxik,yxkj->yxij", self.a_steps[s].astype(np.int64), self.b_steps[s].astype(np.int64))
                  for s in range(P))
        assert np.array_equal(acc.transpose(0, 2, 1, 3).reshape(N, N), self.c), "schedule emulation != A @ B"
        self.a_packed = [_pack(x) for x in self.a_steps]
        self.b_packed = [_pack(x) for x in self.b_steps]
        self.rounds = 0
        self.steps: list[int] = []


class StreamMonitor:
    """Records the handshakes of one valid/ready stream and groups them into transactions of ``size``
    elements: ``callback(values, first_cycle, last_cycle, idle)`` where ``idle`` counts the cycles inside
    the transaction with ready high and valid low (input gaps, ``idle_kind='gap'``) or valid high and ready
    low (output stalls, ``'stall'``). Fed once per clock edge by ``MeshArrayTB._sample``."""

    def __init__(self, data, size: int, width: int, idle_kind: str, callback: Callable) -> None:
        self.data, self.size, self.idle_kind, self.callback = data, size, idle_kind, callback
        self.half = 1 << (width - 1)
        self.flush()

    def flush(self) -> None:
        self.values: list[int] = []
        self.first = 0
        self.idle = 0

    def sample(self, cycle: int, valid: int, ready: int) -> None:
        if valid and ready:
            x = int(self.data.value)
            if not self.values:
                self.first = cycle
            self.values.append(x - 2 * self.half if x >= self.half else x)
            if len(self.values) == self.size:
                values, first, idle = self.values, self.first, self.idle
                self.flush()
                self.callback(values, first, cycle, idle)
        elif self.idle_kind == "gap" and ready and not valid and self.values:
            self.idle += 1
        elif self.idle_kind == "stall" and valid and not ready:
            self.idle += 1


class StepMonitor:
    """Watches the array's phase: counts the alignment rounds and compute steps of the product in flight and,
    at cycle 0 of each step, compares every PE's A and B tile with kernels_ref's schedule; at cycle 1 (hop 2
    of the shift) checks that every two-hop move sits in the relay register of the PE in between."""

    def __init__(self, dut, tb: MeshArrayTB) -> None:
        self.dut, self.tb = dut, tb
        self.t, self.step = dut.t, dut.step
        self.a_cur, self.b_cur = dut.a_cur_all, dut.b_cur_all
        self.relays = {k: getattr(dut, k) for k in ("a_rly_e_all", "a_rly_w_all", "b_rly_s_all", "b_rly_n_all")}

    def sample(self, state: int) -> None:
        t = int(self.t.value)
        prod = self.tb.current
        assert prod is not None, "the array computes without a loaded product"
        if state == S_ALIGN:
            if t == 0:
                prod.rounds += 1
            return
        if t == 0:
            s = int(self.step.value)
            prod.steps.append(s)
            assert s < P, f"compute step {s}: the array runs more than P = {P} steps"
            a_got, b_got = int(self.a_cur.value), int(self.b_cur.value)
            if a_got != prod.a_packed[s] or b_got != prod.b_packed[s]:
                raise AssertionError(f"step {s}: tile placement differs from kernels_ref.meshgemm_schedule "
                                     f"(A ok: {a_got == prod.a_packed[s]}, B ok: {b_got == prod.b_packed[s]})")
            STATS["placement_steps"] += 1
        elif t == 1 and SH == 2:
            self._check_relays(prod, int(self.step.value))

    def _check_relays(self, prod: Product, s: int) -> None:
        regs = {k: int(h.value) for k, h in self.relays.items()}
        tw = T * T * 8
        for line in range(P):
            for src, dst, mid in RELAY_EDGES:
                # A along row `line`: the tile of (line, src) sits in the relay of (line, mid)
                reg = "a_rly_e_all" if dst > src else "a_rly_w_all"
                got = (regs[reg] >> ((line * P + mid) * tw)) & TILE_MASK
                assert got == _pack(prod.a_steps[s][line, src]), f"step {s}: A relay {reg} at ({line}, {mid})"
                # B along column `line`: the tile of (src, line) sits in the relay of (mid, line)
                reg = "b_rly_s_all" if dst > src else "b_rly_n_all"
                got = (regs[reg] >> ((mid * P + line) * tw)) & TILE_MASK
                assert got == _pack(prod.b_steps[s][src, line]), f"step {s}: B relay {reg} at ({mid}, {line})"
                STATS["relay_checks"] += 2


class MeshArrayTB:
    """Driver, monitors and checker around one mesh_array instance."""

    def __init__(self, dut, seed: int) -> None:
        self.dut = dut
        self.rng = np.random.default_rng(seed)
        self.pyrng = random.Random(seed)
        self.pending: deque[Product] = deque()
        self.current: Product | None = None
        self.done = Event()
        self.completed = 0
        self.last_cycles = 0
        self.in_mon = StreamMonitor(dut.in_data, 2 * N * N, 8, "gap", self._on_input)
        self.out_mon = StreamMonitor(dut.out_data, N * N, 32, "stall", self._on_output)
        self.step_mon = StepMonitor(dut, self)
        self.model = model_cycles(P, T)

    async def start(self) -> None:
        dut = self.dut
        dut.rst.value = 1
        dut.in_valid.value = 0
        dut.in_data.value = 0
        dut.out_ready.value = 1
        await Timer(1, unit="ns")  # the inputs are driven before the first clock edge
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns", impl="gpi").start())  # C clock: no Python per edge
        cocotb.start_soon(self._sample())
        await self.reset()

    async def reset(self, cycles: int = 2) -> None:
        self.dut.rst.value = 1
        self.dut.in_valid.value = 0
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        self.flush()
        self.dut.rst.value = 0

    def flush(self) -> None:
        self.pending.clear()
        self.current = None
        self.in_mon.flush()
        self.out_mon.flush()
        self.done.clear()

    async def _sample(self) -> None:
        """The monitors' clock: at every rising edge, sample the handshake signals (values of the cycle that
        ends at this edge) and feed the stream and step monitors; in reset, drop partial transactions."""
        dut = self.dut
        edge = RisingEdge(dut.clk)
        rst, state = dut.rst, dut.state
        in_v, in_r, out_v, out_r = dut.in_valid, dut.in_ready, dut.out_valid, dut.out_ready
        cycle = 0
        while True:
            await edge
            cycle += 1
            if int(rst.value):
                self.in_mon.flush()
                self.out_mon.flush()
                continue
            self.in_mon.sample(cycle, int(in_v.value), int(in_r.value))
            self.out_mon.sample(cycle, int(out_v.value), int(out_r.value))
            st = int(state.value)
            if st == S_ALIGN or st == S_STEP:
                self.step_mon.sample(st)

    # ---------------- checker ----------------
    def _on_input(self, values: list[int], first: int, last: int, gaps: int) -> None:
        v = np.array(values, dtype=np.int64)
        a = v[: N * N].reshape(N, N).astype(np.int8)
        b = v[N * N:].reshape(N, N).astype(np.int8)
        prod = Product(a, b, first, gaps)
        self.pending.append(prod)
        self.current = prod

    def _on_output(self, values: list[int], first: int, last: int, stalls: int) -> None:
        assert self.pending, "output transaction without an input transaction"
        prod = self.pending.popleft()
        got = np.array(values, dtype=np.int64).reshape(N, N)
        if not np.array_equal(got, prod.c):
            bad = np.argwhere(got != prod.c)[:4].tolist()
            raise AssertionError(f"C mismatch at {bad}: got {[int(got[i, j]) for i, j in bad]}, "
                                 f"expected {[int(prod.c[i, j]) for i, j in bad]}")
        assert prod.rounds == P // 2, f"{prod.rounds} alignment rounds, expected floor(P/2) = {P // 2}"
        assert prod.steps == list(range(P)), f"compute steps {prod.steps}, expected 0..{P - 1}"
        measured = last - prod.t0 + 1
        expected = model_cycles(P, T, in_gaps=prod.gaps, out_stalls=stalls)
        assert measured == expected, (f"cycles {measured} != model {expected} "
                                      f"(gaps {prod.gaps}, stalls {stalls}, no-stall model {self.model})")
        if prod.gaps == 0 and stalls == 0:
            STATS["clean_cycles"].add(measured)
        else:
            STATS["stalled"] += 1
        STATS["vectors"] += 1
        self.last_cycles = measured
        self.completed += 1
        self.done.set()

    # ---------------- driver ----------------
    async def send(self, a: np.ndarray, b: np.ndarray, gap: float = 0.0) -> None:
        """Drive A then B (row-major) on the input stream; ``gap``: probability of a cycle with valid low."""
        dut, edge = self.dut, RisingEdge(self.dut.clk)
        in_valid, in_data, in_ready, rst = dut.in_valid, dut.in_data, dut.in_ready, dut.rst
        elems = [int(x) & 0xFF for x in np.concatenate([a.ravel(), b.ravel()])]
        i, shown, valid_now = 0, -1, -1
        while i < len(elems):
            valid = 0 if gap and self.pyrng.random() < gap else 1
            if valid != valid_now:  # write only what changes: every write costs a simulator callback
                in_valid.value = valid_now = valid
            if shown != i:
                in_data.value = elems[i]
                shown = i
            await edge
            if valid and int(in_ready.value) and not int(rst.value):
                i += 1
        in_valid.value = 0

    async def ready_pattern(self, prob: float) -> None:
        """Output back-pressure: out_ready high with probability ``prob`` each cycle."""
        edge = RisingEdge(self.dut.clk)
        while True:
            self.dut.out_ready.value = int(self.pyrng.random() < prob)
            await edge

    async def product(self, a: np.ndarray, b: np.ndarray, gap: float = 0.0, ready: float = 1.0) -> None:
        """Run one product to its last output (checked by the monitors)."""
        done_before = self.completed
        bp = cocotb.start_soon(self.ready_pattern(ready)) if ready < 1.0 else None
        self.done.clear()
        await self.send(a, b, gap)
        while self.completed == done_before:
            await self.done.wait()
            self.done.clear()
        if bp is not None:
            bp.cancel()
            self.dut.out_ready.value = 1

    def random_matrix(self, kind: str = "uniform") -> np.ndarray:
        if kind == "extreme":
            return self.rng.choice(np.array([-128, 127], dtype=np.int8), size=(N, N))
        if kind == "sparse":
            m = self.rng.integers(-128, 128, size=(N, N), dtype=np.int64)
            return np.where(self.rng.random((N, N)) < 0.7, 0, m).astype(np.int8)
        return self.rng.integers(-128, 128, size=(N, N), dtype=np.int64).astype(np.int8)


def _regression_seed() -> int:
    """The seed the run was started with (``COCOTB_RANDOM_SEED``, set by the runner): it reproduces the run."""
    return int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))


def _test_seed(dut) -> int:
    """cocotb's per-test seed (derived from the regression seed and the test's name): the stimulus seed."""
    seed = int(cocotb.RANDOM_SEED)
    dut._log.info("stimulus seed %d (regression seed COCOTB_RANDOM_SEED=%d)", seed, _regression_seed())
    return seed


def _report() -> None:
    clean = sorted(STATS["clean_cycles"])
    write_report(vectors=STATS["vectors"], rtl_cycles=clean[0] if len(clean) == 1 else clean or None,
                 model_cycles=model_cycles(P, T), model_sim_cycles=model_simulate(P, T), seed=_regression_seed(),
                 random_products=STATS["random"], directed_products=STATS["directed"],
                 backpressure_products=STATS["stalled"], placement_steps_checked=STATS["placement_steps"],
                 relay_checks=STATS["relay_checks"], params={"P": P, "T": T})


@cocotb.test(timeout_time=_timeout_ns(PRODUCTS + 1), timeout_unit="ns")
async def test_random(dut) -> None:
    """>= 1000 random products (uniform, extreme-valued and sparse operands); one in ten with input gaps and
    output back-pressure (cycles = model + gaps + stalls), the others without (cycles = model)."""
    seed = _test_seed(dut)
    dut._log.info("mesh_array P=%d T=%d: %d random products, model %d cycles (SimPy %d)",
                  P, T, PRODUCTS, model_cycles(P, T), model_simulate(P, T))
    assert model_simulate(P, T) == model_cycles(P, T), "SimPy unit model != closed form"
    tb = MeshArrayTB(dut, seed)
    await tb.start()
    kinds = ("uniform",) * 8 + ("extreme", "sparse")
    for n in range(PRODUCTS):
        a = tb.random_matrix(tb.pyrng.choice(kinds))
        b = tb.random_matrix(tb.pyrng.choice(kinds))
        if n % 10 == 9:
            await tb.product(a, b, gap=0.2, ready=0.6)
        else:
            await tb.product(a, b)
        STATS["random"] += 1
    assert STATS["clean_cycles"] == {model_cycles(P, T)}, f"clean runs took {sorted(STATS['clean_cycles'])}"
    _report()


@cocotb.test(timeout_time=_timeout_ns(20), timeout_unit="ns")
async def test_directed(dut) -> None:
    """Corners: zeros, -128/127 extremes (largest products of both signs), identity, labelled tiles (every tile
    distinct, so the placement check is unambiguous), alternating signs."""
    tb = MeshArrayTB(dut, _test_seed(dut))
    await tb.start()
    z = np.zeros((N, N), dtype=np.int8)
    full = lambda v: np.full((N, N), v, dtype=np.int8)  # noqa: E731
    eye = np.eye(N, dtype=np.int8)
    r = tb.random_matrix()
    labels = (np.arange(P * P).reshape(P, P)[:, :, None, None] * 4 + np.arange(T * T).reshape(1, 1, T, T) % 4)
    labels = (labels.transpose(0, 2, 1, 3).reshape(N, N) - 100).astype(np.int8)  # unique per tile, in int8
    checker = np.where((np.add.outer(np.arange(N), np.arange(N)) % 2) == 0, 127, -128).astype(np.int8)
    cases = [(z, z), (z, r), (r, z), (full(-128), full(-128)), (full(127), full(127)), (full(-128), full(127)),
             (full(127), full(-128)), (eye, r), (r, eye), (labels, labels.T.copy()), (labels, eye),
             (checker, checker.T.copy()), (checker, full(-128))]
    for a, b in cases:
        await tb.product(a, b)
        STATS["directed"] += 1
    assert tb.last_cycles == model_cycles(P, T)
    _report()


@cocotb.test(timeout_time=_timeout_ns(20), timeout_unit="ns")
async def test_backpressure(dut) -> None:
    """out_ready held low for long stretches, toggling every cycle, random; input gaps; cycles = model + idle."""
    tb = MeshArrayTB(dut, _test_seed(dut))
    await tb.start()
    for ready, gap in ((0.1, 0.0), (0.5, 0.0), (0.9, 0.5), (0.3, 0.3)):
        await tb.product(tb.random_matrix(), tb.random_matrix(), gap=gap, ready=ready)
        STATS["directed"] += 1
    # out_ready low when the drain starts, then high: the first output is held until accepted
    dut.out_ready.value = 0
    task = cocotb.start_soon(tb.product(tb.random_matrix("extreme"), tb.random_matrix("extreme")))
    await RisingEdge(dut.clk)
    while not int(dut.out_valid.value):
        await RisingEdge(dut.clk)
    held = int(dut.out_data.value)
    for _ in range(7):
        await RisingEdge(dut.clk)
        assert int(dut.out_valid.value) and int(dut.out_data.value) == held, "output not held under back-pressure"
    dut.out_ready.value = 1
    await task
    STATS["directed"] += 1
    _report()


@cocotb.test(timeout_time=_timeout_ns(20), timeout_unit="ns")
async def test_reset_midstream(dut) -> None:
    """Reset during load, alignment, compute and drain; each time a clean product follows and must be exact
    and take exactly the model's cycles."""
    tb = MeshArrayTB(dut, _test_seed(dut))
    await tb.start()
    for target in (S_LOAD, S_ALIGN, S_STEP, S_DRAIN):
        dut.out_ready.value = 0 if target == S_DRAIN else 1
        task = cocotb.start_soon(tb.send(tb.random_matrix(), tb.random_matrix()))
        waited = 0
        while int(dut.state.value) != target or (target == S_LOAD and waited < N * N // 2 + 1):
            await RisingEdge(dut.clk)
            waited += 1
        for _ in range(1 if target != S_STEP else P):
            await RisingEdge(dut.clk)
        if not task.done():
            task.cancel()
        await tb.reset(3)
        dut.out_ready.value = 1
        await RisingEdge(dut.clk)
        assert int(dut.state.value) == S_LOAD and int(dut.in_ready.value) == 1, "not back in LOAD after reset"
        await tb.product(tb.random_matrix(), tb.random_matrix())
        assert tb.last_cycles == model_cycles(P, T), f"after reset in state {target}: {tb.last_cycles} cycles"
        STATS["directed"] += 1
    _report()
