"""cocotb testbench of ``hw/rtl/sparse_dsp_chain.v`` (FlightLLM CSD-Chain), in the style of cocotb's
matrix_multiplier example: a pass driver (the "compiler" packs each FSB tile into passes of CHAIN slots),
a ready driver, monitors on the input and output streams, and two checkers:

* per beat (scoreboard): every output beat is compared, bit-exactly and in order, with a transaction-level
  model of the chain (sparse MUX, one weight x two lanes, cascade, reduction nodes) applied to the input
  beat the input monitor saw;
* per tile: the emitted sums are accumulated per output row (the output accumulator behind the chain) and
  compared with the references ``kernels_ref.sparse.simulate_chain`` (cycle-level model; its
  ``ChainStats`` passes, emitted sums and cycles too) and the JAX ``kernels_ref.sparse.sparse_matmul``
  (one call per batch of tiles of one shape, stacked).

Stimulus: random INT8 activations (two token lanes, -128..127) and N:16-pruned FSB weight tiles
(``prune_nm`` + ``encode_fsb``, uniform code N, with random all-pruned blocks and under-full segments that
store explicit zeros); the seed is logged and reported. Directed corners: zeros, +127/-127/-128 extremes
(the lanes are exact, so -128 is legal), all-pruned blocks, MUX index extremes, output rows changing inside
a pass; back-pressure on ready with idle input cycles (a stalled output beat must hold); a reset with
passes in flight followed by a clean tile.

Timing convention: drivers write only right after a rising clock edge, monitors sample at the falling edge
and stamp each transfer with the index of the rising edge that takes it. Measured cycles = (edge of the
last output transfer) - (edge of the first input transfer), on runs without back-pressure, compared with
``archsim.sim.units.sparse_chain`` (``simulate_stream``/``stream_cycles`` for the random stream; per tile
``simulate``/``cycles`` = ``kernels_ref.sparse.chain_cycles``).

Run through ``archsim.rtl.runner.run_unit`` (the runner passes the parameter set and the report path).
``ARCHSIM_SPARSE_TILES`` overrides the number of random tiles (the mutation tests use fewer).
"""

from __future__ import annotations

import logging
import os
import sys

# cocotb installs pytest's assertion rewriting for every module imported after it (COCOTB_REWRITE_ASSERTION_FILES
# defaults to "*.py"), and with PYTHONDONTWRITEBYTECODE set nothing is cached: importing JAX then recompiles
# hundreds of modules, ~10 s per simulator start. Unless the user chose patterns, keep rewriting to testbenches.
if "COCOTB_REWRITE_ASSERTION_FILES" not in os.environ:
    for _hook in sys.meta_path:
        if type(_hook).__name__ == "AssertionRewritingHook" and hasattr(_hook, "fnpats"):
            _hook.fnpats = ["tb_*.py"]

from collections import deque  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import cocotb  # noqa: E402
import numpy as np  # noqa: E402
from cocotb.clock import Clock  # noqa: E402
from cocotb.triggers import Event, FallingEdge, RisingEdge, SimTimeoutError, with_timeout  # noqa: E402
from cocotb.utils import get_sim_time  # noqa: E402

from archsim.rtl.runner import unit_params, write_report  # noqa: E402
from archsim.sim.units import sparse_chain as model  # noqa: E402
from kernels_ref import sparse as ref  # noqa: E402

PERIOD_NS = 10
BLOCK = 16  # kernels_ref.sparse.BLOCK: FSB blocks are 16 x 16, M = 16
N_RANDOM = int(os.environ.get("ARCHSIM_SPARSE_TILES", "1000"))  # random tiles of the cycle-matched stream
N_BACKPRESSURE = max(4, N_RANDOM // 10)  # random tiles with idle input cycles and ready back-pressure

_P = {**model.DEFAULTS, **unit_params()}
CHAIN, N, M = _P["CHAIN"], _P["N"], _P["M"]
NG = CHAIN // 2  # DSP groups = reduction nodes = output slots per beat
SUB = min(N, CHAIN)  # DSP slices served by one candidate block
NSEG = CHAIN // SUB  # candidate blocks per pass
IDXW = (M - 1).bit_length()
ACCW = 16 + (CHAIN - 1).bit_length()
DENSE = N == M
SEED = int(os.environ.get("COCOTB_RANDOM_SEED", "0") or 0)

_REPORT: dict[str, object] = {"vectors": 0, "passes": 0, "seed": SEED}
_log = logging.getLogger("cocotb.tb.sparse_dsp_chain")


def _edge() -> int:
    """Index of the next rising edge, called at a falling edge (the clock starts high at t = 0)."""
    return int(get_sim_time("ns") // PERIOD_NS) + 1


def _pack(values, bits: int) -> int:
    """Little-endian bit-field packing of ``values`` (two's complement), field i at bits [bits*i, bits*i+bits)."""
    if bits == 8:
        return int.from_bytes(np.asarray(values, np.int64).astype(np.int8).tobytes(), "little")
    out, mask = 0, (1 << bits) - 1
    for i, v in enumerate(values):
        out |= (int(v) & mask) << (bits * i)
    return out


def _unpack(word: int, bits: int, count: int, signed: bool) -> list[int]:
    """Inverse of :func:`_pack`: ``count`` fields of ``bits`` bits, signed (two's complement) or not."""
    if bits == 8:
        return np.frombuffer(word.to_bytes(count, "little"), np.int8 if signed else np.uint8).tolist()
    mask, half = (1 << bits) - 1, 1 << (bits - 1)
    vals = [(word >> (bits * i)) & mask for i in range(count)]
    return [v - (v & half) * 2 for v in vals] if signed else vals


# --------------------------------------------------------------------------------------------
# transactions, the "compiler" (tile -> passes) and the transaction-level model
# --------------------------------------------------------------------------------------------


@dataclass
class Pass:
    """One input beat: CHAIN weights and MUX indices, NG reduction-node bits, NSEG candidate blocks per lane."""

    w: list[int]
    idx: list[int]
    cut: list[int]
    act_a: list[int]  # NSEG * M, block-major
    act_b: list[int]


@dataclass
class Beat:
    """One output beat: NG emit bits and the sums of both lanes."""

    emit: tuple[int, ...]
    sum_a: tuple[int, ...]
    sum_b: tuple[int, ...]


@dataclass
class Tile:
    x: np.ndarray  # [2, K]
    fsb: ref.FSBMatrix  # [n_out, K]
    passes: list[Pass]
    emit_rows: list[list[int]]  # per pass and DG: output row of the sum it emits (-1: none or padding)
    name: str = "random"


def compile_tile(x: np.ndarray, fsb: ref.FSBMatrix, name: str = "random", check_schedule: bool = True) -> Tile:
    """Pack an FSB tile into passes exactly as ``kernels_ref.sparse`` does: rows, then K blocks, then the stored
    entries in storage order, back to back; the last pass padded with idle slots (weight 0). A slot starts a
    fresh sum where the output row changes, or the K block does unless both blocks are dense; the reduction
    node in front of such a slot cuts. Every group of SUB slots shares one candidate block (asserted). With
    ``check_schedule`` the cuts are compared with ``kernels_ref.sparse._schedule`` (private; skipped if absent)."""
    row, kb, idx, val = fsb.slots()
    dense = fsb.codes[row // BLOCK, kb] == BLOCK
    order = np.lexsort((np.arange(row.size), kb, row))
    row, kb, idx, val, dense = row[order], kb[order], idx[order], val[order], dense[order]
    n_pass = -(-row.size // CHAIN)
    pad = n_pass * CHAIN - row.size
    row = np.concatenate([row, np.full(pad, -1)])
    kb, idx, val = (np.concatenate([a, np.zeros(pad, np.int64)]) for a in (kb, idx, val))
    dense = np.concatenate([dense, np.zeros(pad, bool)])
    new = np.ones(row.size, bool)
    new[1:] = (row[1:] != row[:-1]) | ((kb[1:] != kb[:-1]) & ~(dense[1:] & dense[:-1]))
    start = new | (np.arange(row.size) % CHAIN == 0)
    sched = getattr(ref, "_schedule", None)  # cross-check with the reference's own packing where it exists
    if check_schedule and sched is not None and n_pass:
        assert np.array_equal(sched(fsb, CHAIN)["start"].reshape(-1), start), "compiler disagrees with kernels_ref"
    grp_row, grp_kb = row.reshape(-1, SUB), kb.reshape(-1, SUB)
    assert np.all(grp_row == grp_row[:, :1]) and np.all(grp_kb == grp_kb[:, :1]), "a sub-chain spans two blocks"
    # candidate blocks: x's 16-element block of every group of SUB slots (zeros for padding groups)
    xb = np.concatenate([np.asarray(x, np.int64).reshape(2, -1, BLOCK), np.zeros((2, 1, BLOCK), np.int64)], axis=1)
    blk = np.where(grp_row[:, 0] >= 0, grp_kb[:, 0], xb.shape[1] - 1)
    cand_a = xb[0, blk].reshape(n_pass, NSEG * M).tolist()
    cand_b = xb[1, blk].reshape(n_pass, NSEG * M).tolist()
    cuts = np.ones((n_pass, NG), np.int64)
    cuts[:, :-1] = start.reshape(n_pass, CHAIN)[:, 2::2]  # RN after DG g cuts iff slot 2g + 2 starts a sum
    end_row = np.where(cuts == 1, row.reshape(n_pass, CHAIN)[:, 1::2], -1)  # row of the sum DG g emits
    vals, idxs, cuts_l = val.reshape(n_pass, CHAIN).tolist(), idx.reshape(n_pass, CHAIN).tolist(), cuts.tolist()
    passes = [Pass(vals[p], idxs[p], cuts_l[p], cand_a[p], cand_b[p]) for p in range(n_pass)]
    emit_rows = end_row.tolist()
    return Tile(np.asarray(x, np.int64), fsb, passes, emit_rows, name)


def chain_model(p: Pass) -> Beat:
    """Transaction-level model of one pass: DSP j multiplies its weight by the activation its MUX picks
    (candidate block j // SUB, position idx[j]) in both lanes; the cascade adds DSP by DSP; the reduction node
    after DG g emits the sum and restarts from zero where it cuts (the last one always emits)."""
    emit, sums_a, sums_b = [], [], []
    acc_a = acc_b = 0
    for g in range(NG):
        for j in (2 * g, 2 * g + 1):
            base = (j // SUB) * M + p.idx[j]
            acc_a += p.w[j] * p.act_a[base]
            acc_b += p.w[j] * p.act_b[base]
        e = 1 if (p.cut[g] or g == NG - 1) else 0
        emit.append(e)
        sums_a.append(acc_a if e else 0)
        sums_b.append(acc_b if e else 0)
        if e:
            acc_a = acc_b = 0
    return Beat(tuple(emit), tuple(sums_a), tuple(sums_b))


def accumulate(tile: Tile, beats: list[Beat]) -> tuple[np.ndarray, int]:
    """The output accumulator: emitted sums added per output row -> (y [2, n_out], sums emitted for real rows)."""
    assert len(beats) == len(tile.passes), f"{tile.name}: {len(beats)} output beats for {len(tile.passes)} passes"
    y = np.zeros((2, tile.fsb.shape[0]), np.int64)
    emitted = 0
    for beat, rows in zip(beats, tile.emit_rows, strict=True):
        for g, r in enumerate(rows):
            if r >= 0:
                assert beat.emit[g], f"{tile.name}: DG {g} should emit row {r}"
                y[0, r] += beat.sum_a[g]
                y[1, r] += beat.sum_b[g]
                emitted += 1
    return y, emitted


JAX_BATCH = 32  # tiles per sparse_matmul call (padded with zero tiles: one compiled shape per tile shape)
_ZERO_FSB: dict[tuple[int, int], ref.FSBMatrix] = {}


def check_tiles(tiles: list[Tile], ys: list[np.ndarray], emitted: list[int]) -> None:
    """Per tile: RTL == simulate_chain (outputs, passes, emitted sums, cycles == the unit model). RTL ==
    sparse_matmul (JAX) in batches of JAX_BATCH tiles of one shape, stacked (x rows and FSB block rows)."""
    for t, y, e in zip(tiles, ys, emitted, strict=True):
        n_out, k = t.fsb.shape
        y_chain, stats = ref.simulate_chain(t.x, t.fsb, CHAIN)
        assert np.array_equal(y, y_chain), f"{t.name}: RTL {y.tolist()} != simulate_chain {y_chain.tolist()}"
        assert stats.passes == len(t.passes) and stats.sums_emitted == e, f"{t.name}: schedule differs"
        assert stats.cycles == model.cycles(k, n_out, CHAIN, N, M), f"{t.name}: cycle models differ"
    for shape in sorted({t.fsb.shape for t in tiles}):
        sel = [i for i, t in enumerate(tiles) if t.fsb.shape == shape]
        zero = _ZERO_FSB.setdefault(shape, ref.encode_fsb(np.zeros(shape, np.int64), N))
        for b0 in range(0, len(sel), JAX_BATCH):
            part = sel[b0:b0 + JAX_BATCH]
            fsbs = [tiles[i].fsb for i in part] + [zero] * (JAX_BATCH - len(part))
            stacked = ref.FSBMatrix((JAX_BATCH * shape[0], shape[1]), np.concatenate([f.codes for f in fsbs]),
                                    np.concatenate([f.values for f in fsbs]), np.concatenate([f.indices for f in fsbs]))
            x_all = np.zeros((2 * JAX_BATCH, shape[1]), np.int64)
            for j, i in enumerate(part):
                x_all[2 * j:2 * j + 2] = tiles[i].x
            y_all = np.asarray(ref.sparse_matmul(x_all, stacked))  # [2 * JAX_BATCH, JAX_BATCH * n_out]
            for j, i in enumerate(part):
                want = y_all[2 * j:2 * j + 2, j * shape[0]:(j + 1) * shape[0]]
                assert np.array_equal(ys[i], want), f"{tiles[i].name}: RTL {ys[i].tolist()} != sparse_matmul"


# --------------------------------------------------------------------------------------------
# drivers, monitors, scoreboard
# --------------------------------------------------------------------------------------------


class PassDriver:
    """Drives the input stream from a queue of passes; holds a pass until it transfers (the input monitor tells
    it, through :meth:`transferred`, at the falling edge before the transfer edge). With ``p_valid < 1`` it
    inserts random idle cycles before a pass (valid never drops while a pass is presented)."""

    def __init__(self, dut, rng: np.random.Generator) -> None:
        self.dut, self.rng = dut, rng
        self.queue: deque[Pass] = deque()
        self.p_valid = 1.0
        self._cur: Pass | None = None
        self._xfer = False
        self._wake = Event()
        dut.s_valid.value = 0
        self._drive(Pass([0] * CHAIN, [0] * CHAIN, [0] * NG, [0] * (NSEG * M), [0] * (NSEG * M)))
        cocotb.start_soon(self._run())

    def _drive(self, p: Pass) -> None:
        d = self.dut
        d.s_w.value = _pack(p.w, 8)
        d.s_idx.value = _pack(p.idx, IDXW)
        d.s_cut.value = _pack(p.cut, 1)
        d.s_act_a.value = _pack(p.act_a, 8)
        d.s_act_b.value = _pack(p.act_b, 8)

    def send(self, passes: list[Pass]) -> None:
        self.queue.extend(passes)
        self._wake.set()

    def flush(self) -> None:
        self.queue.clear()
        self._cur = None
        self._xfer = False
        self.dut.s_valid.value = 0

    def transferred(self, _edge: int, _p: Pass) -> None:
        self._xfer = True

    async def _run(self) -> None:
        d = self.dut
        while True:
            if self._cur is None and not self.queue:
                d.s_valid.value = 0
                self._wake.clear()
                await self._wake.wait()
                await RisingEdge(d.clk)
            else:
                await RisingEdge(d.clk)
            if self._xfer:
                self._cur, self._xfer = None, False
            if self._cur is None and self.queue and (self.p_valid >= 1.0 or self.rng.random() < self.p_valid):
                self._cur = self.queue.popleft()
                self._drive(self._cur)
            d.s_valid.value = 1 if self._cur is not None else 0


class ReadyDriver:
    """Drives ``m_ready``: always high (``p_ready = 1``, no per-cycle work) or high with probability ``p_ready``
    each cycle."""

    def __init__(self, dut, rng: np.random.Generator) -> None:
        self.dut, self.rng = dut, rng
        self._p_ready = 1.0
        self._wake = Event()
        dut.m_ready.value = 1
        cocotb.start_soon(self._run())

    @property
    def p_ready(self) -> float:
        return self._p_ready

    @p_ready.setter
    def p_ready(self, p: float) -> None:
        self._p_ready = p
        self._wake.set()

    async def _run(self) -> None:
        while True:
            if self._p_ready >= 1.0:
                self._wake.clear()
                await self._wake.wait()
            await RisingEdge(self.dut.clk)
            self.dut.m_ready.value = 1 if self._p_ready >= 1.0 or self.rng.random() < self._p_ready else 0


class StreamMonitor:
    """Samples a valid/ready stream at every falling edge (ignoring cycles in reset) and calls its callbacks
    with (edge, transaction) on each transfer; with ``hold_check`` a stalled beat (valid & !ready) must keep
    its data and valid until it transfers."""

    def __init__(self, dut, valid, ready, decode, hold_check: bool = False) -> None:
        self.dut, self.valid, self.ready, self.decode, self.hold_check = dut, valid, ready, decode, hold_check
        self.callbacks: list = []
        self.first: int | None = None
        self.last: int | None = None
        self.count = 0
        cocotb.start_soon(self._run())

    async def _run(self) -> None:
        stalled = None
        while True:
            await FallingEdge(self.dut.clk)
            if int(self.dut.rst.value):
                stalled = None
                continue
            if not int(self.valid.value):
                assert not (self.hold_check and stalled is not None), "valid dropped while a beat was stalled"
                continue
            txn = self.decode()
            if self.hold_check and stalled is not None:
                assert txn == stalled, "output beat changed while stalled (valid & !ready)"
            if int(self.ready.value):
                stalled = None
                edge = _edge()
                self.first = edge if self.first is None else self.first
                self.last = edge
                self.count += 1
                for cb in self.callbacks:
                    cb(edge, txn)
            else:
                stalled = txn


class Scoreboard:
    """Input-monitor transactions go through ``chain_model`` into the expected queue; every output beat must
    equal the head of that queue (fails the test at the first mismatch). Output beats are kept for the
    tile-level check."""

    def __init__(self) -> None:
        self.expected: deque[Beat] = deque()
        self.beats: list[Beat] = []
        self.target = 0  # run_tiles waits for this many beats ...
        self.done = Event()  # ... and is woken here

    def on_input(self, _edge: int, p: Pass) -> None:
        self.expected.append(chain_model(p))

    def on_output(self, edge: int, beat: Beat) -> None:
        assert self.expected, f"edge {edge}: output beat without an input pass"
        exp = self.expected.popleft()
        assert beat == exp, f"edge {edge}: output beat {beat} != model {exp}"
        self.beats.append(beat)
        if len(self.beats) >= self.target:
            self.done.set()

    def reset(self) -> None:
        self.expected.clear()
        self.beats.clear()


class ChainTester:
    """Clock, drivers, monitors and scoreboard around the DUT."""

    def __init__(self, dut, rng: np.random.Generator) -> None:
        self.dut, self.rng = dut, rng
        Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi").start()  # C clock: no Python wake-up per edge
        dut.rst.value = 1
        self.driver = PassDriver(dut, rng)
        self.ready = ReadyDriver(dut, rng)
        self.sb = Scoreboard()
        self.in_mon = StreamMonitor(dut, dut.s_valid, dut.s_ready, self._decode_in)
        self.out_mon = StreamMonitor(dut, dut.m_valid, dut.m_ready, self._decode_out, hold_check=True)
        self.in_mon.callbacks.append(self.sb.on_input)
        self.in_mon.callbacks.append(self.driver.transferred)
        self.out_mon.callbacks.append(self.sb.on_output)

    def _decode_in(self) -> Pass:
        d = self.dut
        return Pass(_unpack(int(d.s_w.value), 8, CHAIN, True), _unpack(int(d.s_idx.value), IDXW, CHAIN, False),
                    _unpack(int(d.s_cut.value), 1, NG, False), _unpack(int(d.s_act_a.value), 8, NSEG * M, True),
                    _unpack(int(d.s_act_b.value), 8, NSEG * M, True))

    def _decode_out(self) -> Beat:
        d = self.dut
        return Beat(tuple(_unpack(int(d.m_emit.value), 1, NG, False)),
                    tuple(_unpack(int(d.m_sum_a.value), ACCW, NG, True)),
                    tuple(_unpack(int(d.m_sum_b.value), ACCW, NG, True)))

    async def reset(self, cycles: int = 3) -> None:
        """Synchronous reset for ``cycles`` edges; everything queued or in flight is dropped."""
        await RisingEdge(self.dut.clk)
        self.dut.rst.value = 1
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        self.driver.flush()
        self.sb.reset()
        self.dut.rst.value = 0
        await FallingEdge(self.dut.clk)
        assert not int(self.dut.m_valid.value), "m_valid after reset"

    async def run_tiles(self, tiles: list[Tile]) -> None:
        """Stream ``tiles``, wait until every pass has come out, then check every tile against the references."""
        start = len(self.sb.beats)
        n_pass = sum(len(t.passes) for t in tiles)
        for t in tiles:
            self.driver.send(t.passes)
        self.sb.target, self.sb.done = start + n_pass, Event()
        limit = (60 * n_pass + 10 * CHAIN + 100) * PERIOD_NS
        try:
            await with_timeout(self.sb.done.wait(), limit, "ns")
        except SimTimeoutError:
            raise AssertionError(f"timeout: {len(self.sb.beats) - start} of {n_pass} output beats") from None
        await FallingEdge(self.dut.clk)
        assert not self.sb.expected, "input passes left without output"
        ys, emitted, pos = [], [], start
        for t in tiles:
            y, e = accumulate(t, self.sb.beats[pos:pos + len(t.passes)])
            ys.append(y)
            emitted.append(e)
            pos += len(t.passes)
        check_tiles(tiles, ys, emitted)
        _REPORT["vectors"] = int(_REPORT["vectors"]) + len(tiles)
        _REPORT["passes"] = int(_REPORT["passes"]) + n_pass


# --------------------------------------------------------------------------------------------
# stimulus
# --------------------------------------------------------------------------------------------


def _rng(test: int) -> np.random.Generator:
    _log.info("sparse_dsp_chain CHAIN=%d N=%d M=%d: seed %d (test %d)", CHAIN, N, M, SEED, test)
    return np.random.default_rng([SEED, test])


def random_tile(rng: np.random.Generator, name: str = "random", check_schedule: bool = True) -> Tile:
    """Random x [2, K] and an N:16 FSB tile [n_out, K] (uniform code N): magnitude-pruned random INT8 weights,
    10 % of the blocks all pruned (zero), a quarter of the tiles with under-full segments (explicit zeros)."""
    k = BLOCK * (1 if rng.random() < 0.85 else 2)
    n_out = BLOCK * (1 if rng.random() < 0.9 else 2)
    w = rng.integers(-128, 128, (n_out, k))
    keep = int(rng.choice(np.arange(0, N + 1, 2))) if rng.random() < 0.25 else N
    w = ref.prune_nm(w, keep)
    mask = rng.random((n_out // BLOCK, 1, k // BLOCK, 1)) > 0.1
    w = (w.reshape(n_out // BLOCK, BLOCK, k // BLOCK, BLOCK) * mask).reshape(n_out, k)
    return compile_tile(rng.integers(-128, 128, (2, k)), ref.encode_fsb(w, N), name, check_schedule)


def random_tile_k(rng: np.random.Generator, k: int, n_out: int, name: str) -> Tile:
    w = ref.prune_nm(rng.integers(-128, 128, (n_out, k)), N)
    return compile_tile(rng.integers(-128, 128, (2, k)), ref.encode_fsb(w, N), name)


def _fsb(w: np.ndarray) -> ref.FSBMatrix:
    return ref.encode_fsb(ref.prune_nm(w, N), N)


def directed_tiles(rng: np.random.Generator) -> list[Tile]:
    """Corner tiles: zeros, extremes, all-pruned blocks, MUX index extremes, rows changing inside a pass."""
    k = 2 * BLOCK
    full = np.ones((BLOCK, k), np.int64)
    one = np.ones((2, k), np.int64)
    lanes = np.array([[1], [-1]])
    tiles = [
        compile_tile(0 * one, _fsb(0 * full), "all zeros"),
        compile_tile(127 * one, _fsb(127 * full), "+127 x +127"),
        compile_tile(127 * one * lanes, _fsb(127 * full), "+127 / -127 x +127"),
        compile_tile(-128 * one, _fsb(-128 * full), "-128 x -128 (largest sum)"),
        compile_tile(-128 * one, _fsb(127 * full), "-128 x +127 (most negative)"),
        compile_tile(127 * one, _fsb(-128 * full), "+127 x -128"),
        compile_tile(rng.integers(-128, 128, (2, k)), _fsb(0 * full), "all-pruned blocks, random x"),
    ]
    w = rng.integers(-128, 128, (BLOCK, k))
    w[:, :BLOCK] = 0  # the first K block of every row all pruned
    tiles.append(compile_tile(rng.integers(-128, 128, (2, k)), _fsb(w), "first K block pruned"))
    xi = np.tile(np.arange(-64, 64, 4), (2, 1))[:, :k] * lanes  # distinct activations: a wrong index shows
    w = np.zeros((BLOCK, k), np.int64)
    for kb in range(k // BLOCK):
        w[:, kb * BLOCK + BLOCK - N:kb * BLOCK + BLOCK] = rng.integers(-128, 128, (BLOCK, N))
    tiles.append(compile_tile(xi, _fsb(w), "MUX indices M-N..M-1"))
    w = np.zeros((BLOCK, k), np.int64)
    w[:, 0::BLOCK] = 77
    tiles.append(compile_tile(xi, ref.encode_fsb(w, N), "index 0 only + explicit zeros"))
    for kk in (BLOCK, 3 * BLOCK):  # dense: rows change inside a pass when K is not a multiple of CHAIN
        tiles.append(random_tile_k(rng, kk, 2 * BLOCK, f"random K={kk} n_out=32"))
    return tiles


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------


@cocotb.test()
async def test_random_stream(dut):
    """N_RANDOM random tiles streamed back to back without back-pressure: bit-exact per beat and per tile;
    measured cycles == the SimPy unit model of the whole stream."""
    rng = _rng(0)
    tb = ChainTester(dut, rng)
    await tb.reset()
    tiles = [random_tile(rng, check_schedule=i % 8 == 0) for i in range(N_RANDOM)]
    await tb.run_tiles(tiles)
    shapes = [(t.fsb.shape[1], t.fsb.shape[0]) for t in tiles]
    rtl = tb.out_mon.last - tb.in_mon.first
    closed = model.stream_cycles(shapes, CHAIN, N, M)
    simulated = model.simulate_stream(shapes, CHAIN, N, M)
    _log.info("random stream: %d tiles, %d passes, RTL %d cycles, SimPy model %d, closed form %d",
              len(tiles), tb.in_mon.count, rtl, simulated, closed)
    assert tb.in_mon.count == tb.out_mon.count == sum(len(t.passes) for t in tiles)
    assert rtl == simulated == closed, f"RTL {rtl} cycles != model {simulated} (closed form {closed})"
    _REPORT.update(rtl_cycles=rtl, model_cycles=simulated, stream_tiles=len(tiles))
    write_report(**_REPORT)


@cocotb.test()
async def test_tile_cycles(dut):
    """Single tiles, pipeline empty before and after: measured cycles == cycles() == simulate() ==
    kernels_ref.sparse.chain_cycles (== ChainStats.cycles) for several shapes."""
    rng = _rng(1)
    tb = ChainTester(dut, rng)
    cases = []
    for k, n_out in ((BLOCK, BLOCK), (2 * BLOCK, BLOCK), (4 * BLOCK, 2 * BLOCK), (BLOCK, 3 * BLOCK)):
        await tb.reset()
        tile = random_tile_k(rng, k, n_out, f"cycles K={k} n_out={n_out}")
        first = tb.in_mon.count
        edges: list[int] = []
        tb.in_mon.callbacks.append(lambda e, _p, edges=edges: edges.append(e))
        await tb.run_tiles([tile])
        tb.in_mon.callbacks.pop()
        rtl = tb.out_mon.last - edges[0]
        closed, simulated = model.cycles(k, n_out, CHAIN, N, M), model.simulate(k, n_out, CHAIN, N, M)
        assert tb.in_mon.count - first == len(tile.passes)
        assert rtl == closed == simulated == ref.chain_cycles(k, n_out, CHAIN, N, M), (k, n_out, rtl, simulated)
        cases.append({"k": k, "n_out": n_out, "passes": len(tile.passes), "rtl": rtl, "model": simulated})
    _log.info("tile cycles: %s", cases)
    _REPORT["cycle_cases"] = cases
    write_report(**_REPORT)


@cocotb.test()
async def test_directed_corners(dut):
    """Zeros, INT8 extremes (exact lanes: -128 too), all-pruned blocks, MUX index extremes, row changes."""
    rng = _rng(2)
    tb = ChainTester(dut, rng)
    await tb.reset()
    tiles = directed_tiles(rng)
    await tb.run_tiles(tiles)
    largest = (min(CHAIN, 2 * BLOCK) if DENSE else SUB) * 128 * 128  # -128 x -128 over one sub-chain
    assert any(largest in b.sum_a for b in tb.sb.beats), f"largest lane sum {largest} never seen"
    _log.info("directed: %d tiles (%s)", len(tiles), ", ".join(t.name for t in tiles))
    write_report(**_REPORT)


@cocotb.test()
async def test_backpressure(dut):
    """Idle input cycles and random m_ready, then long stalls: still exact, stalled beats held."""
    rng = _rng(3)
    tb = ChainTester(dut, rng)
    await tb.reset()
    tb.driver.p_valid, tb.ready.p_ready = 0.7, 0.5
    await tb.run_tiles([random_tile(rng, "back-pressure") for _ in range(N_BACKPRESSURE)])
    tb.ready.p_ready = 0.1
    await tb.run_tiles([random_tile(rng, "long stalls") for _ in range(3)])
    write_report(**_REPORT)


@cocotb.test()
async def test_reset_midstream(dut):
    """Reset with passes in flight: all of them dropped, m_valid low; then a clean tile is exact and takes
    exactly the model's cycles."""
    rng = _rng(4)
    tb = ChainTester(dut, rng)
    await tb.reset()
    tb.driver.p_valid, tb.ready.p_ready = 0.8, 0.7
    for t in [random_tile(rng) for _ in range(6)]:
        tb.driver.send(t.passes)
    for _ in range(CHAIN + int(rng.integers(3, 12))):
        await RisingEdge(dut.clk)
    assert tb.sb.expected, "nothing in flight at the reset"
    await tb.reset(int(rng.integers(1, 4)))
    for _ in range(CHAIN + 2):
        await FallingEdge(dut.clk)
        assert not int(dut.m_valid.value), "a pass survived the reset"
    tb.driver.p_valid = tb.ready.p_ready = 1.0
    tile = random_tile_k(rng, 2 * BLOCK, BLOCK, "clean tile after reset")
    edges: list[int] = []
    tb.in_mon.callbacks.append(lambda e, _p: edges.append(e))
    await tb.run_tiles([tile])
    assert len(edges) == len(tile.passes)
    rtl = tb.out_mon.last - edges[0]
    assert rtl == model.cycles(2 * BLOCK, BLOCK, CHAIN, N, M), f"after reset: {rtl} cycles"
    write_report(**_REPORT)
