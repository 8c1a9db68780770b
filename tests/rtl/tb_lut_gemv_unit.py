"""cocotb testbench of ``hw/rtl/lut_gemv_unit.v`` (T-MAC LUT-GEMV), in the style of cocotb's matrix_multiplier
example: stream drivers for the activation and weight inputs, a ready driver for the output, monitors on all
three streams, and a scoreboard that rebuilds every vector from what the monitors saw, calls the reference
(``kernels_ref.lut.lut_gemv_int``, JAX, cross-checked with a dense NumPy product) and compares bit-exactly.

Timing convention: the drivers write only right after a rising clock edge, so the values seen at the falling
edge are exactly those sampled by the next rising edge; monitors sample there and stamp each transfer with the
index of that rising edge. A vector's measured cycles are (edge of its last output transfer) - (edge of its
first activation transfer); they must equal ``archsim.sim.units.lut_gemv`` on runs without back-pressure.
Monitors and drivers sleep on ``valid``/``ready`` edges while nothing can transfer (a stream is idle for most
of a vector), which keeps a 1000-vector run to a few seconds.

Run through ``archsim.rtl.runner.run_unit`` (it passes the parameter set and the report path).
"""

from __future__ import annotations

import sys

# cocotb installs pytest's assertion rewriter for every imported "*.py" (COCOTB_REWRITE_ASSERTION_FILES) and the
# runner sets PYTHONDONTWRITEBYTECODE, so numpy and jax would be re-parsed and recompiled on every run (10-20 s).
# Keep the rewriting (better assert messages) for the testbench files only.
for _finder in sys.meta_path:
    if type(_finder).__name__ == "AssertionRewritingHook" and hasattr(_finder, "fnpats"):
        _finder.fnpats = ["tb_*.py"]

import os  # noqa: E402
import random  # noqa: E402
from collections import deque  # noqa: E402

import cocotb  # noqa: E402
import numpy as np  # noqa: E402
from cocotb.clock import Clock  # noqa: E402
from cocotb.triggers import Event, FallingEdge, RisingEdge, with_timeout  # noqa: E402
from cocotb.utils import get_sim_time  # noqa: E402

from archsim.rtl.runner import unit_params, write_report  # noqa: E402
from archsim.sim.units import lut_gemv as model  # noqa: E402
from kernels_ref.lut import lut_gemv_int  # noqa: E402

PERIOD_NS = 10
N_RANDOM = 1000  # random vectors of the cycle-matched stream
N_BACKPRESSURE = 120  # random vectors with valid gaps and ready back-pressure (3 settings x 40)
N_LONG_STALL = 4  # vectors with y_ready held low for long stretches
BATCH = 128  # vectors per call of the JAX reference (one compiled shape)
_REPORT: dict[str, object] = {"vectors": 0}


def _edge() -> int:
    """Index of the next rising edge, called at a falling edge (clock starts high at t = 0)."""
    return int(get_sim_time("ns") // PERIOD_NS) + 1


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


# --------------------------------------------------------------------------------------------
# driver, ready driver, monitor
# --------------------------------------------------------------------------------------------


class StreamDriver:
    """Drives ``valid``/``data`` from a queue of beats and holds each beat until it transfers. With
    ``p_valid < 1`` it inserts random idle cycles before presenting a beat (valid never drops under a beat)."""

    def __init__(self, clk, valid, ready, data, rng: random.Random) -> None:
        self.clk, self.valid, self.ready, self.data, self.rng = clk, valid, ready, data, rng
        self.queue: deque[int] = deque()
        self.p_valid = 1.0
        self._cur: int | None = None
        self._wake = Event()
        self.valid.value = 0
        cocotb.start_soon(self._run())

    def send(self, beats: list[int]) -> None:
        self.queue.extend(beats)
        self._wake.set()

    def flush(self) -> None:
        """Drop every pending beat and deassert valid (called right after a rising edge, e.g. for a reset)."""
        self.queue.clear()
        self._cur = None
        self.valid.value = 0

    async def _run(self) -> None:
        while True:
            if self._cur is None:
                if not self.queue:
                    self.valid.value = 0
                    self._wake.clear()
                    await self._wake.wait()
                    await RisingEdge(self.clk)
                    continue
                if self.p_valid < 1.0 and self.rng.random() >= self.p_valid:
                    self.valid.value = 0  # an idle cycle
                    await RisingEdge(self.clk)
                    continue
                self._cur = self.queue.popleft()
                self.data.value = self._cur
                self.valid.value = 1
            await FallingEdge(self.clk)
            if self.ready.value != 1:
                await RisingEdge(self.ready)  # sleep until the unit can take it, then sample again
                continue
            await RisingEdge(self.clk)  # the beat transfers at this edge
            self._cur = None


class ReadyDriver:
    """Drives an output's ``ready``: always high (``p = 1``) or high with probability ``p`` each cycle."""

    def __init__(self, clk, ready, rng: random.Random) -> None:
        self.clk, self.ready, self.rng = clk, ready, rng
        self.ready.value = 1
        self._task = None

    def set(self, p: float) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if p >= 1.0:
            self.ready.value = 1
        else:
            self._task = cocotb.start_soon(self._run(p))

    async def _run(self, p: float) -> None:
        while True:
            self.ready.value = int(self.rng.random() < p)
            await RisingEdge(self.clk)


class StreamMonitor:
    """Calls ``callback(edge, data)`` for every transfer (valid && ready while rst is low) of one stream."""

    def __init__(self, clk, rst, valid, ready, data, callback) -> None:
        self.clk, self.rst, self.valid, self.ready, self.data = clk, rst, valid, ready, data
        self.callback = callback
        cocotb.start_soon(self._run())

    async def _run(self) -> None:
        while True:
            await FallingEdge(self.clk)
            if self.valid.value != 1:
                await RisingEdge(self.valid)
            elif self.ready.value != 1:
                await RisingEdge(self.ready)
            elif self.rst.value == 0:
                self.callback(_edge(), int(self.data.value))


# --------------------------------------------------------------------------------------------
# scoreboard
# --------------------------------------------------------------------------------------------


class Scoreboard:
    """Rebuilds vectors from the monitored beats and checks each vector's outputs against the reference."""

    def __init__(self, p: dict[str, int]) -> None:
        self.R, self.W, self.K, self.A = p["R"], p["WBITS"], p["K"], p["ABITS"]
        self.yw = self.A + self.W + (self.K - 1).bit_length() + 1  # ABITS + WBITS + clog2(K) + 1
        self.checked = 0
        self.verified = 0  # vectors also checked by the JAX LUT reference
        self.pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.target = 0
        self.reached = Event()
        self.restart()

    def restart(self) -> None:
        """Forget partial vectors and cycle stamps (after a reset)."""
        self.a: list[int] = []
        self.w: list[int] = []
        self.y: list[int] = []
        self.a_edges: deque[int] = deque()  # first activation transfer of each vector in flight
        self.latencies: list[int] = []
        self.first_edge: int | None = None
        self.last_edge: int | None = None

    def expect(self, total: int) -> Event:
        """An event set once ``total`` vectors have been checked."""
        self.target = total
        self.reached.clear()
        if self.checked >= total:
            self.reached.set()
        return self.reached

    def on_a(self, edge: int, beat: int) -> None:
        if len(self.a) % self.K == 0:
            self.a_edges.append(edge)
            if self.first_edge is None:
                self.first_edge = edge
        mask = (1 << self.A) - 1
        self.a.extend(_signed((beat >> (self.A * t)) & mask, self.A) for t in range(4))

    def on_w(self, edge: int, beat: int) -> None:
        mask = (1 << self.W) - 1
        self.w.extend((beat >> (self.W * t)) & mask for t in range(4))

    def on_y(self, edge: int, value: int) -> None:
        self.y.append(_signed(value, self.yw))
        if len(self.y) == self.R:
            self._check_vector(edge)

    def _check_vector(self, edge: int) -> None:
        """Check one vector's outputs against the dense integer product now (fails fast) and queue it for the
        LUT reference, which runs batched (``verify``)."""
        K, R = self.K, self.R
        assert len(self.a) >= K and len(self.w) >= R * K, "a vector's outputs came before its inputs"
        a = np.array(self.a[:K], dtype=np.int64)
        q = np.array(self.w[: R * K], dtype=np.int64).reshape(R, K)
        del self.a[:K], self.w[: R * K]
        got, self.y = np.array(self.y, dtype=np.int64), []
        dense = 2 * (q - 2 ** (self.W - 1)) @ a
        if not np.array_equal(got, dense):
            raise AssertionError(f"vector {self.checked}: RTL y = {got.tolist()}, expected {dense.tolist()}\n"
                                 f"a = {a.tolist()}\nq = {q.tolist()}")
        self.pending.append((a, q, got))
        if len(self.pending) == BATCH:
            self.verify()
        self.checked += 1
        self.latencies.append(edge - self.a_edges.popleft())
        self.last_edge = edge
        if self.checked >= self.target:
            self.reached.set()

    def verify(self) -> None:
        """Run the JAX LUT reference (``lut_gemv_int``) on the queued vectors, padded to one batch shape."""
        if not self.pending:
            return
        n = len(self.pending)
        a = np.zeros((BATCH, self.K), np.int64)
        q = np.zeros((BATCH, self.R, self.K), np.int64)
        got = np.zeros((BATCH, self.R), np.int64)
        for i, (ai, qi, yi) in enumerate(self.pending):
            a[i], q[i], got[i] = ai, qi, yi
        want = np.asarray(lut_gemv_int(q, a, self.W, self.A), dtype=np.int64)
        self.pending = []
        self.verified += n
        bad = np.flatnonzero((want[:n] != got[:n]).any(axis=1))
        if bad.size:
            i = int(bad[0])
            raise AssertionError(f"LUT reference disagrees on {bad.size} of {n} vectors; first: RTL "
                                 f"{got[i].tolist()}, lut_gemv_int {want[i].tolist()}\na = {a[i].tolist()}\n"
                                 f"q = {q[i].tolist()}")


# --------------------------------------------------------------------------------------------
# environment and stimulus
# --------------------------------------------------------------------------------------------


class Env:
    """Clock, reset, drivers, monitors and scoreboard around the DUT."""

    def __init__(self, dut) -> None:
        self.dut = dut
        self.p = {"R": 4, "WBITS": 2, "ABITS": 8, "K": 16, **unit_params()}
        self.seed = cocotb.RANDOM_SEED  # per test, derived by cocotb from COCOTB_RANDOM_SEED and the test name
        self.rng = random.Random(self.seed)
        self.nrng = np.random.default_rng(self.seed)
        self.R, self.W, self.K = self.p["R"], self.p["WBITS"], self.p["K"]
        self.G = self.K // 4
        self.sb = Scoreboard(self.p)
        self.a_drv = StreamDriver(dut.clk, dut.a_valid, dut.a_ready, dut.a_data, self.rng)
        self.w_drv = StreamDriver(dut.clk, dut.w_valid, dut.w_ready, dut.w_data, self.rng)
        self.y_rdy = ReadyDriver(dut.clk, dut.y_ready, self.rng)
        self.monitors = [
            StreamMonitor(dut.clk, dut.rst, dut.a_valid, dut.a_ready, dut.a_data, self.sb.on_a),
            StreamMonitor(dut.clk, dut.rst, dut.w_valid, dut.w_ready, dut.w_data, self.sb.on_w),
            StreamMonitor(dut.clk, dut.rst, dut.y_valid, dut.y_ready, dut.y_data, self.sb.on_y),
        ]

    async def start(self) -> None:
        # impl="gpi": the C clock (cocotb 2.1 defaults to a Python-driven one on Icarus, ~30 % of the run time)
        Clock(self.dut.clk, PERIOD_NS, unit="ns", impl="gpi").start(start_high=True)
        await self.reset()

    async def reset(self, cycles: int = 2) -> None:
        await RisingEdge(self.dut.clk)
        self.dut.rst.value = 1
        self.a_drv.flush()
        self.w_drv.flush()
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        self.sb.restart()

    def random_vector(self) -> tuple[np.ndarray, np.ndarray]:
        """int8 activations (uniform, or in 10 % of vectors drawn from the extremes) and WBITS-bit codes."""
        n = self.nrng
        if n.random() < 0.1:
            a = n.choice(np.array([-128, -127, -1, 0, 1, 126, 127]), size=self.K)
        else:
            a = n.integers(-128, 128, size=self.K)
        q = n.integers(0, 2**self.W, size=(self.R, self.K))
        return a.astype(np.int64), q.astype(np.int64)

    def send(self, a: np.ndarray, q: np.ndarray) -> None:
        """Queue one vector: K/4 activation beats and R*K/4 weight beats (row-major), 4 elements per beat."""
        A, W = self.p["ABITS"], self.W
        am = a.reshape(self.G, 4) & ((1 << A) - 1)
        self.a_drv.send([sum(int(v) << (A * t) for t, v in enumerate(g)) for g in am])
        qm = q.reshape(self.R * self.G, 4)
        self.w_drv.send([sum(int(v) << (W * t) for t, v in enumerate(g)) for g in qm])

    async def drain(self, total: int, vectors: int, slack: float = 1.0) -> None:
        """Wait until ``total`` vectors have been checked; fail after ``slack`` x the model's time for ``vectors``."""
        limit = int(vectors * model.cycles(self.R, self.W, self.K) * slack) + 100
        await with_timeout(self.sb.expect(total).wait(), limit * PERIOD_NS, "ns")
        self.sb.verify()
        await RisingEdge(self.dut.clk)  # the event fires at a falling edge; callers drive after rising edges

    def check_cycles(self, vectors: int) -> tuple[int, int]:
        """Every vector's latency equals the model, and the back-to-back stream takes ``vectors`` x the model."""
        sb = self.sb
        one = model.cycles(self.R, self.W, self.K)
        assert len(sb.latencies) == vectors, f"{len(sb.latencies)} latencies for {vectors} vectors"
        bad = sorted({lat for lat in sb.latencies if lat != one})
        assert not bad, f"vector latencies {bad[:5]} cycles != model {one}"
        stream = sb.last_edge - sb.first_edge
        want = model.cycles(self.R, self.W, self.K, vectors=vectors)
        assert stream == want, f"stream of {vectors} vectors: RTL {stream} cycles, model {want}"
        few = min(vectors, 4)  # the SimPy run agrees with the closed form (large n: tests/rtl/test_lut_gemv_unit.py)
        assert model.simulate(self.R, self.W, self.K, vectors=few) == model.cycles(self.R, self.W, self.K, vectors=few)
        return stream, want

    def record(self, vectors: int, **fields: object) -> None:
        """Add this test's checked vectors (dense and LUT reference both) to the runner's report."""
        self.sb.verify()
        assert self.sb.verified >= vectors, f"{self.sb.verified} vectors went through the LUT reference, not {vectors}"
        _REPORT["vectors"] = int(_REPORT["vectors"]) + vectors
        _REPORT.update(fields)
        write_report(seed=_regression_seed(), params=self.p, **_REPORT)


def _regression_seed() -> int:
    """The run's seed (the runner's ``seed``); each test derives its own from it and its name."""
    return int(os.environ.get("COCOTB_RANDOM_SEED", cocotb.RANDOM_SEED))


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------


@cocotb.test()
async def random_stream(dut) -> None:
    """>= 1000 random vectors back to back, no back-pressure: bit-exact, and cycles == the SimPy model."""
    env = Env(dut)
    dut._log.info("regression seed %d (this test %d), params %s", _regression_seed(), env.seed, env.p)
    assert len(dut.y_data) == env.sb.yw, f"y_data is {len(dut.y_data)} bits, expected {env.sb.yw}"
    await env.start()
    for _ in range(N_RANDOM):
        env.send(*env.random_vector())
    await env.drain(N_RANDOM, N_RANDOM)
    stream, want = env.check_cycles(N_RANDOM)
    one = model.cycles(env.R, env.W, env.K)
    dut._log.info("%d vectors: %d cycles each (model %d), stream %d (model %d)",
                  N_RANDOM, env.sb.latencies[0], one, stream, want)
    env.record(N_RANDOM, rtl_cycles=env.sb.latencies[0], model_cycles=one,
               rtl_stream_cycles=stream, model_stream_cycles=want)


@cocotb.test()
async def directed_corners(dut) -> None:
    """Zeros, -128/127 extremes, every table index on every plane, min/max/centre codes; cycle-matched too."""
    env = Env(dut)
    await env.start()
    R, K, W = env.R, env.K, env.W
    qmax = 2**W - 1
    zeros_q, full_q = np.zeros((R, K), np.int64), np.full((R, K), qmax, np.int64)
    alt = np.where(np.arange(K) % 2, 127, -128).astype(np.int64)
    lo, hi = np.full(K, -128, np.int64), np.full(K, 127, np.int64)
    cases = [
        (np.zeros(K, np.int64), zeros_q),
        (np.zeros(K, np.int64), full_q),
        (lo, zeros_q), (lo, full_q),  # the largest |y|: +-K * 2^(WBITS+7)
        (hi, zeros_q), (hi, full_q),
        (alt, full_q), (-alt - 1, zeros_q),
        (lo, np.full((R, K), 2 ** (W - 1), np.int64)),  # centre code: y = 0
    ]
    for p in range(16):  # table index p on every plane: code bits of element t = bit t of p
        q = np.zeros((R, K), np.int64)
        for t in range(4):
            q[:, t::4] = qmax if (p >> t) & 1 else 0
        cases.append((alt if p % 2 else lo, q))
    for a, q in cases:
        env.send(a, q)
    await env.drain(len(cases), len(cases))
    env.check_cycles(len(cases))
    env.record(len(cases))


@cocotb.test()
async def back_pressure(dut) -> None:
    """Random valid gaps on both inputs, random y_ready, and y_ready held low for long stretches: bit-exact."""
    env = Env(dut)
    await env.start()
    per = N_BACKPRESSURE // 3
    for p_valid, p_ready in ((0.7, 0.5), (1.0, 0.2), (0.4, 1.0)):
        env.a_drv.p_valid = env.w_drv.p_valid = p_valid
        env.y_rdy.set(p_ready)
        for _ in range(per):
            env.send(*env.random_vector())
        await env.drain(env.sb.checked + per, per, slack=10.0)
    env.a_drv.p_valid = env.w_drv.p_valid = 1.0
    env.y_rdy.set(1.0)
    total = env.sb.checked + N_LONG_STALL
    for _ in range(N_LONG_STALL):
        env.send(*env.random_vector())
    for _ in range(2 * N_LONG_STALL):  # the unit must stall with a result held and lose nothing
        dut.y_ready.value = 0
        for _ in range(3 * env.G * env.W + 5):
            await RisingEdge(dut.clk)
        dut.y_ready.value = 1
        await RisingEdge(dut.clk)
    await env.drain(total, N_LONG_STALL, slack=4.0)
    env.record(env.sb.checked)


@cocotb.test()
async def reset_midstream(dut) -> None:
    """Reset during the lookup phase and during the build phase; clean vectors afterwards must be right."""
    env = Env(dut)
    await env.start()
    one = model.cycles(env.R, env.W, env.K)
    checked = 0
    for into in (env.G + 1 + env.R * env.W * env.G // 2, max(env.G // 2, 1)):  # lookup phase, build phase
        env.send(*env.random_vector())
        env.send(*env.random_vector())
        for _ in range(one + into):  # the first vector is through, the second one is cut off
            await RisingEdge(dut.clk)
        await env.reset(3)
        await FallingEdge(dut.clk)
        assert dut.y_valid.value == 0 and dut.a_ready.value == 1 and dut.w_ready.value == 0, "not idle after reset"
        await RisingEdge(dut.clk)
        env.sb.checked = 0
        for _ in range(3):
            env.send(*env.random_vector())
        await env.drain(3, 3)
        env.check_cycles(3)
        checked += 3
    env.record(checked)
