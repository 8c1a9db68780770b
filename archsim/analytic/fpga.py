"""FlightLLM-style FPGA accelerator: a workload lowered to an LD/ST/MM/MV/MISC instruction stream and its
list schedule (spec fpga_sparse_dsp.md sec. 5, 6, 9, 12).

The analytic engine is the critical path of the stream: every unit executes its queue in program order,
an instruction starts when its unit is free and every instruction it depends on has finished (spec
12.2; the dependency form is equivalent to the artifact's wait/release FIFOs, ``wait_release_bits``).
``archsim.sim.fpga`` runs the same stream in SimPy with the HBM channels as shared resources.

Co-design hook (issue 6 item 5): the MAC rate is never typed in. It is the number of sparse DSP chains
that fit the device's DSP budget (or a synthesized unit's LUT/FF/DSP cost) times the chain's MACs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from archsim.errors import InputError
from archsim.hardware.schema import HardwareSpec
from models.workload import MODEL_LEVEL_OPS, Op

UNITS = ("LD", "ST", "MM", "MV", "MISC", "SYS")
LD, ST, MM, MV, MISC, SYS = range(len(UNITS))
GROUP_NONE, GROUP_WEIGHT, GROUP_KV = -1, 0, 1  # HBM channel groups a transfer uses
LINEAR_KINDS = frozenset({"matmul", "lm_head"})
MV_MAX_TOKENS = 8  # up to 8 tokens a linear runs as repeated MV passes; more use MM mode (prefill)
# MISC passes per element: two-phase ops read their input twice (spec 2, 12.1).
MISC_PASSES = {"norm": 2, "softmax": 2}
MISC_PASSES_BY_NAME = {"mlp_act": 2, "rope": 2}  # SiLU then the gate product; RoPE multiply then add
DECODE_BUCKET, PREFILL_BUCKET = 16, 128  # length-adaptive compilation buckets (spec 9)
MAX_LENGTH = 2048  # streams are compiled for lengths up to 2048 (artifact)


def pad(x: int, to: int) -> int:
    """``x`` rounded up to a multiple of ``to``."""
    return -(-x // to) * to


@dataclass(frozen=True, slots=True)
class UnitCost:
    """Resources one CSD-Chain unit costs (DSPs by default; an RTL synthesis can add LUTs and FFs)."""

    dsp: float
    lut: float = 0.0
    ff: float = 0.0


@dataclass(frozen=True, slots=True)
class FpgaParams:
    """The numbers of an FPGA preset the stream model uses (MAC rates already derived from chains)."""

    id: str
    f: float
    divisor: float
    chains: int
    chain_dsps: int
    dsp_group: int
    macs_per_dsp: int
    mm_rate: float  # MAC/cycle in MM mode
    mv_rate: float  # MAC/cycle in MV mode
    mm_tile_m: int
    mv_tile_n: int
    misc_lanes: int
    weight_bw: float  # B/s of one weight load (channels x channel bw x efficiency)
    kv_bw: float
    t_ovh: float
    buffer_tiles: int
    bw_peak: float
    unit_cost: UnitCost
    hbm_channels: int = 1  # HBM layout, for the simulator's shared channels
    weight_channels: int = 1
    kv_channels: int = 1

    def seconds(self, cycles: float) -> float:
        """Cycles at the design clock, divided by the artifact's correction where the preset has one."""
        return cycles / self.f / self.divisor


def chains_that_fit(hw: HardwareSpec, unit: UnitCost | None = None) -> int:
    """How many CSD-Chain units the device holds: the DSP budget over a chain's DSPs, and, for a unit
    cost from RTL synthesis, also the LUT budget over its LUTs (the scarcer resource decides)."""
    fp = _block(hw)
    unit = unit or UnitCost(dsp=fp.chain_dsps.value)
    fits = [math.floor(fp.dsp_budget.value / unit.dsp)] if unit.dsp > 0 else []
    if unit.lut > 0:
        fits.append(math.floor(fp.luts.value / unit.lut))
    if not fits:
        raise InputError("unit_cost", "a unit must cost some DSPs or LUTs to say how many fit.")
    return max(0, min(fits))


def _block(hw: HardwareSpec):  # type: ignore[no-untyped-def]
    if hw.fpga is None or hw.clock_hz is None:
        raise InputError("hw", f"'{hw.id}' is a {hw.family} device, not an FPGA (needs an fpga block and a clock).")
    return hw.fpga


def fpga_params(hw: HardwareSpec, unit: UnitCost | None = None) -> FpgaParams:
    """Resolve an FPGA preset; the MM rate is chains x DSPs per chain x MACs per DSP (spec 2, 11)."""
    fp = _block(hw)
    unit = unit or UnitCost(dsp=fp.chain_dsps.value)
    chains = chains_that_fit(hw, unit)
    if chains < 1:
        raise InputError("fpga.dsp_budget", f"not one sparse DSP chain fits {hw.id}'s DSP budget.")
    mm_rate = chains * fp.chain_dsps.value * fp.macs_per_dsp.value
    ch_bw = fp.channel_bandwidth_Bps.value * fp.channel_efficiency.value
    return FpgaParams(
        id=hw.id, f=hw.clock_hz.value, divisor=fp.time_divisor.value, chains=chains,
        chain_dsps=int(fp.chain_dsps.value), dsp_group=int(fp.dsp_group.value),
        macs_per_dsp=int(fp.macs_per_dsp.value), mm_rate=mm_rate, mv_rate=mm_rate * fp.mv_mac_fraction.value,
        mm_tile_m=int(fp.mm_tile_m.value), mv_tile_n=int(fp.mv_tile_n.value), misc_lanes=int(fp.misc_lanes.value),
        weight_bw=ch_bw * fp.weight_channels.value, kv_bw=ch_bw * fp.kv_channels.value,
        t_ovh=fp.access_overhead_s.value, buffer_tiles=int(fp.buffer_tiles.value),
        bw_peak=hw.memory.bandwidth_Bps.value, unit_cost=unit, hbm_channels=int(fp.hbm_channels.value),
        weight_channels=int(fp.weight_channels.value), kv_channels=int(fp.kv_channels.value),
    )


def dsp_utilization(n: int, m: int, chain_dsps: int, dsp_group: int) -> float:
    """Busy share of a chain's DSPs under N:M (spec 3.3): reduction nodes cut the chain into sub-chains of
    N DSPs, so every DSP works when N is a multiple of the DSP group and divides the chain; otherwise each
    block occupies N rounded up to whole groups."""
    if n <= 0:
        return 0.0
    if n >= m:
        return 1.0
    span = pad(n, dsp_group)
    per_chain = chain_dsps // span
    return n * per_chain / chain_dsps if per_chain else n / chain_dsps


def choose_mv_parallelism(k: int, n: int, w_bytes_per_elem: float, bw: float, f: float,
                          mac_budget: float) -> tuple[int, int, float]:
    """Paper Eq. 3 for an MV (M = 1) tile: sweep power-of-two (p_K, p_N) with p_K * p_N <= budget and pick
    the pair with the least ``max(T_mem, T_cmp)`` (ties: fewer active MACs). Returns (p_K, p_N, T_tile s)."""
    t_mem = (k * n * w_bytes_per_elem + k + n) / bw
    best: tuple[float, int, int, int] | None = None
    pk = 1
    while pk <= mac_budget:
        pn = 1
        while pk * pn <= mac_budget:
            t = max(t_mem, k * n / (pk * pn * f))
            key = (round(t, 15), pk * pn, pk, pn)
            if best is None or key < best:
                best = key
            pn *= 2
        pk *= 2
    assert best is not None
    return best[2], best[3], best[0]


# --- precision maps (spec 7): which weight width and kept density each linear runs at ----------------------

ARTIFACT_DENSITY = {"q_proj": 0.7, "k_proj": 0.7}  # the artifact's LLaMA2-7B sparsity (spec 12.3)
PRECISION_MAPS: dict[str, dict[str, int]] = {
    # artifact: every linear INT4 (the artifact's load model, spec 12.1)
    "artifact": {},
    # paper: mixed 2/3/4/8-bit averaging ~3.5 bits on LLaMA2-7B (assumption: the per-layer map is unpublished;
    # attention q/k and MLP gate/up at 3 bits, v/o/down at 4, the output layer at 8 -> 3.48 bits)
    "paper": {"q_proj": 3, "k_proj": 3, "v_proj": 4, "out_proj": 4, "gate_proj": 3, "up_proj": 3,
              "down_proj": 4, "lm_head": 8},
    "int8": {},
}
MAP_DEFAULT_BITS = {"artifact": 4, "paper": 4, "int8": 8}
MAP_DENSITY = {"artifact": ARTIFACT_DENSITY, "paper": ARTIFACT_DENSITY, "int8": {}}


@dataclass(frozen=True, slots=True)
class Lowering:
    """How a workload becomes instructions: on-chip decode, weight widths and densities per linear."""

    onchip: bool = True
    precision: str = "auto"  # auto | artifact | paper | int8 | workload
    meta: bool = True  # count the 4-bit index per kept weight of sparse blocks (spec 4)

    def resolve(self, op: Op) -> tuple[int, float]:
        """(weight bits, kept density) of a linear op."""
        name = self.precision
        if name == "auto":
            name = "workload" if op.w_bits <= 8 or op.sparsity else "artifact"
        sp = op.sparsity
        if name == "workload":
            bits = op.w_bits if op.w_bits <= 8 else 8
            rho = sp[0] / sp[1] if sp and op.kind == "matmul" else 1.0
            return bits, rho
        bits = PRECISION_MAPS[name].get(op.name, MAP_DEFAULT_BITS[name])
        rho = sp[0] / sp[1] if sp and op.kind == "matmul" else MAP_DENSITY[name].get(op.name, 1.0)
        return bits, rho


@dataclass(slots=True)
class Stream:
    """An instruction stream: per instruction its unit, duration (s), HBM bytes and channel group, the op
    it belongs to and the earlier instructions it waits for."""

    unit: list[int] = field(default_factory=list)
    duration: list[float] = field(default_factory=list)
    nbytes: list[float] = field(default_factory=list)
    group: list[int] = field(default_factory=list)
    op: list[int] = field(default_factory=list)
    deps: list[tuple[int, ...]] = field(default_factory=list)
    macs: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.unit)

    def emit(self, unit: int, duration: float, op: int, deps: tuple[int, ...] | list[int] = (),
             nbytes: float = 0.0, group: int = GROUP_NONE, macs: float = 0.0) -> int:
        """Append one instruction; returns its index (deps must be earlier indices, -1 entries ignored)."""
        if deps and max(deps) >= len(self.unit):
            raise ValueError(f"an instruction can only wait for earlier ones, got dependency {max(deps)} at "
                             f"{len(self.unit)}.")
        self.unit.append(unit)
        self.duration.append(duration)
        self.nbytes.append(nbytes)
        self.group.append(group)
        self.op.append(op)
        self.deps.append(tuple(d for d in deps if d >= 0))
        self.macs.append(macs)
        return len(self.unit) - 1

    def counts(self) -> dict[str, int]:
        """Instructions per unit."""
        c = np.bincount(np.asarray(self.unit, dtype=np.int64), minlength=len(UNITS))
        return {u: int(c[i]) for i, u in enumerate(UNITS) if c[i]}


@dataclass(frozen=True, slots=True)
class Schedule:
    """Start and end of every instruction, the total, and busy time per unit."""

    start: np.ndarray
    end: np.ndarray
    total: float
    busy: dict[str, float]

    def op_times(self, stream: Stream, n_ops: int) -> np.ndarray:
        """Each op's share of the total: instructions in order of completion advance the finishing front;
        each gets the advance it caused (the shares sum to the total exactly)."""
        if not len(stream):
            return np.zeros(n_ops)
        order = np.argsort(self.end, kind="stable")
        front = np.maximum.accumulate(self.end[order])
        credit = np.diff(np.concatenate(([0.0], front)))
        ops = np.asarray(stream.op, dtype=np.int64)[order]
        return np.bincount(ops, weights=credit, minlength=n_ops)


def list_schedule(stream: Stream) -> Schedule:
    """The artifact's list scheduler (spec 12.2): in-order units, start = max(unit free, dependencies' ends).
    Dependencies always point to earlier instructions, so one pass in program order is exact."""
    n = len(stream)
    start = np.empty(n)
    end = np.empty(n)
    free = [0.0] * len(UNITS)
    for i, (u, d, deps) in enumerate(zip(stream.unit, stream.duration, stream.deps, strict=True)):
        s = free[u]
        for j in deps:
            e = end[j]
            if e > s:
                s = e
        start[i] = s
        end[i] = free[u] = s + d
    units = np.asarray(stream.unit, dtype=np.int64)
    busy_arr = np.bincount(units, weights=np.asarray(stream.duration), minlength=len(UNITS)) if n else np.zeros(6)
    busy = {u: float(busy_arr[i]) for i, u in enumerate(UNITS) if busy_arr[i]}
    return Schedule(start, end, float(end.max()) if n else 0.0, busy)


def wait_release_bits(stream: Stream) -> tuple[np.ndarray, np.ndarray]:
    """The ISA form of the dependencies (spec 10, 12.2): per instruction a wait bitmask over producer units
    and a release bitmask over consumer units, paired through one FIFO per unit pair. Dependencies implied
    by in-order execution are dropped, so FIFO pairing reproduces exactly ``list_schedule``."""
    n = len(stream)
    wait = np.zeros(n, dtype=np.uint8)
    release = np.zeros(n, dtype=np.uint8)
    last_kept = {}  # (producer unit, consumer unit) -> last producer index paired
    for i, deps in enumerate(stream.deps):
        c = stream.unit[i]
        latest: dict[int, int] = {}
        for j in deps:
            p = stream.unit[j]
            if p != c and j > latest.get(p, -1):
                latest[p] = j
        for p, j in latest.items():
            if j > last_kept.get((p, c), -1) and not release[j] & (1 << c):
                last_kept[(p, c)] = j
                wait[i] |= 1 << p
                release[j] |= 1 << c
    return wait, release


# --- lowering ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Cursor:
    """Lowering state: the instruction producing the current activation, weight-buffer slots in use, and
    (off-chip decode) the store that put the activation in HBM."""

    ready: int = -1
    stored: int = -1
    weight_mv: list[int] = field(default_factory=list)  # compute instr that frees each weight tile slot


class Lowerer:
    """Turns a workload's ops into a ``Stream`` (spec 12.3): decode linears as MV over 512-column tiles,
    attention per head (QK^T, softmax, S.V), prefill linears as MM tiles, element-wise ops on MISC."""

    def __init__(self, p: FpgaParams, lowering: Lowering, act_bytes: float = 1.0) -> None:
        self.p = p
        self.low = lowering
        self.s = Stream()
        self.cur = _Cursor()
        self.act_bytes = act_bytes  # INT8 activations (spec 7)
        self.util: dict[int, float] = {}

    # activations: on chip they are ready when produced; off chip the consumer reloads them from HBM
    def _input(self, op_idx: int, nbytes: float) -> int:
        if self.low.onchip or self.cur.stored < 0:
            return self.cur.ready
        ld = self.s.emit(LD, self._load_s(nbytes, self.p.kv_bw, True), op_idx, (self.cur.stored,), nbytes,
                         GROUP_KV)
        self.cur.stored = -1
        return ld

    def _output(self, op_idx: int, last: int, nbytes: float) -> None:
        self.cur.ready = last
        if not self.low.onchip:
            self.cur.stored = self.s.emit(ST, self._load_s(nbytes, self.p.kv_bw, True), op_idx, (last,), nbytes,
                                          GROUP_KV)

    def _load_s(self, nbytes: float, bw: float, dependent: bool = False) -> float:
        """Transfer time. Streams the unit can prefetch (weights, KV cache) keep requests in flight, so
        only an access that waits for a result it needs (an activation round trip) exposes the HBM
        access latency ``t_ovh``."""
        return ((self.p.t_ovh if dependent else 0.0) + nbytes / bw) / self.p.divisor

    def _weight_load(self, op_idx: int, nbytes: float) -> int:
        slots = self.cur.weight_mv
        free_dep = slots[-self.p.buffer_tiles] if len(slots) >= self.p.buffer_tiles else -1
        return self.s.emit(LD, self._load_s(nbytes, self.p.weight_bw), op_idx, (free_dep,), nbytes, GROUP_WEIGHT)

    def linear(self, op_idx: int, op: Op) -> None:
        """A linear layer: weight tiles stream (double-buffered) while MV or MM instructions consume them."""
        p = self.p
        bits, rho = self.low.resolve(op)
        tokens = op.m * op.heads
        kp = pad(op.k, 16)
        tile_n = p.mv_tile_n
        mv_mode = tokens <= MV_MAX_TOKENS
        dep_in = self._input(op_idx, op.k * tokens * self.act_bytes)
        last = -1
        for t in range(pad(op.n, tile_n) // tile_n):
            # MV instructions always cover whole 512-column tiles; MM tiles pad N to 16 only (spec 12.3).
            cols = tile_n if mv_mode else pad(min(tile_n, op.n - t * tile_n), 16)
            w_bytes = kp * cols * rho * bits / 8
            if self.low.meta and rho < 1:
                w_bytes += kp * cols * rho * 0.5  # 4-bit index per kept weight (spec 4)
            if mv_mode:
                unit, cycles = MV, kp * cols * rho * tokens / p.mv_rate
            else:
                unit, cycles = MM, pad(tokens, p.mm_tile_m) * kp * cols * rho / p.mm_rate
            ld = self._weight_load(op_idx, w_bytes)
            last = self.s.emit(unit, p.seconds(cycles), op_idx, (ld, dep_in), macs=kp * cols * rho * tokens)
            self.cur.weight_mv.append(last)
        if op.store_kv > 0:  # K/V of the new tokens appended to the cache
            self.s.emit(ST, self._load_s(op.store_kv, p.kv_bw), op_idx, (last,), op.store_kv, GROUP_KV)
        self._output(op_idx, last, op.n * tokens * self.act_bytes)

    def misc(self, op_idx: int, op: Op) -> None:
        """Element-wise and two-phase ops on the 16-lane SFU (spec 12.1: K_blk cycles per pass)."""
        passes = MISC_PASSES_BY_NAME.get(op.name, MISC_PASSES.get(op.kind, 1))
        elems = op.m * op.n * op.heads
        dep_in = self._input(op_idx, elems * self.act_bytes)
        cycles = passes * math.ceil(elems / self.p.misc_lanes)
        last = self.s.emit(MISC, self.p.seconds(cycles), op_idx, (dep_in,))
        self._output(op_idx, last, elems * self.act_bytes)

    def attention(self, idx: tuple[int, int, int], qk: Op, sv: Op, kv_bits: int, decode: bool) -> None:
        """Per head: load K, QK^T, softmax, load V, S.V (decode: MV, N padded to 512 tiles; prefill: MM over
        the kept 64 x 64 causal blocks, spec 8)."""
        p = self.p
        i_qk, i_sm, i_sv = idx
        heads = qk.heads
        kv_heads = max(1, qk.kv_heads or heads)
        group = max(1, heads // kv_heads)
        d = qk.k
        keys = qk.n
        queries = qk.m
        kv_bytes = pad(keys, 16) * d * kv_bits / 8
        dep_in = self._input(i_qk, queries * d * heads * self.act_bytes)
        if decode:
            qk_cycles = queries * pad(d, 16) * pad(keys, p.mv_tile_n) / p.mv_rate
            sv_cycles = queries * pad(keys, 16) * pad(d, p.mv_tile_n) / p.mv_rate
            sm_cycles = 2 * queries * math.ceil(keys / p.misc_lanes)
            unit = MV
        else:
            blocks = kept_attention_blocks(queries, keys)
            qk_cycles = blocks * 64 * d * 64 / p.mm_rate
            sv_cycles = qk_cycles
            sm_cycles = 2 * math.ceil(blocks * 64 * 64 / p.misc_lanes)
            unit = MM
        score_bytes = queries * keys * self.act_bytes
        last = -1
        ld_k = ld_v = -1
        for h in range(heads):
            if h % group == 0:
                ld_k = self.s.emit(LD, self._load_s(kv_bytes, p.kv_bw), i_qk, (), kv_bytes, GROUP_KV)
            mv = self.s.emit(unit, p.seconds(qk_cycles), i_qk, (ld_k, dep_in), macs=queries * d * keys)
            dep = mv
            if not self.low.onchip:
                st = self.s.emit(ST, self._load_s(score_bytes, p.kv_bw, True), i_qk, (mv,), score_bytes, GROUP_KV)
                dep = self.s.emit(LD, self._load_s(score_bytes, p.kv_bw, True), i_sm, (st,), score_bytes, GROUP_KV)
            sm = self.s.emit(MISC, p.seconds(sm_cycles), i_sm, (dep,))
            dep = sm
            if not self.low.onchip:
                st = self.s.emit(ST, self._load_s(score_bytes, p.kv_bw, True), i_sm, (sm,), score_bytes, GROUP_KV)
                dep = self.s.emit(LD, self._load_s(score_bytes, p.kv_bw, True), i_sv, (st,), score_bytes, GROUP_KV)
            if h % group == 0:
                ld_v = self.s.emit(LD, self._load_s(kv_bytes, p.kv_bw), i_sv, (), kv_bytes, GROUP_KV)
            last = self.s.emit(unit, p.seconds(sv_cycles), i_sv, (ld_v, dep), macs=queries * d * keys)
        self._output(i_sv, last, queries * d * heads * self.act_bytes)


def kept_attention_blocks(queries: int, keys: int, block: int = 64, dense_prefix: int = 512,
                          sparse_density: float = 0.25) -> int:
    """64 x 64 score blocks one head computes in prefill (spec 8; synthetic masks, an assumption): causal;
    query blocks within the first 512 tokens keep every causal block, later ones ``sparse_density`` of
    them. 0.25 makes the mean density inside the triangle at 2048 tokens 0.30, as the shipped masks."""
    qb, kb = math.ceil(queries / block), math.ceil(keys / block)
    offset = kb - qb  # queries are the last ``queries`` of ``keys`` positions
    prefix = math.ceil(dense_prefix / block)
    kept = 0.0
    for i in range(qb):
        row = i + offset + 1  # causal: key blocks 0 .. i + offset
        kept += row if i + offset < prefix else sparse_density * row
    return math.ceil(kept)


def lower_ops(ops: list[Op], p: FpgaParams, lowering: Lowering, decode: bool, layers: int | None = None) -> Stream:
    """The instruction stream of one step over ``ops``: ``layers`` decoder layers (default: the ops' repeat)
    in order, then the model-level ops once. Embedding lookup and sampling run outside the IR (spec 10)."""
    low = Lowerer(p, lowering)
    layer_ops = [(i, op) for i, op in enumerate(ops) if op.name not in MODEL_LEVEL_OPS]
    model_ops = [(i, op) for i, op in enumerate(ops) if op.name in MODEL_LEVEL_OPS]  # final norm, lm_head
    n_layers = max((op.repeat for _, op in layer_ops), default=1) if layers is None else layers
    for _ in range(n_layers):
        _lower_list(low, layer_ops, decode)
    _lower_list(low, model_ops, decode)
    return low.s


def _lower_list(low: Lowerer, items: list[tuple[int, Op]], decode: bool) -> None:
    i = 0
    while i < len(items):
        idx, op = items[i]
        if op.kind == "attention":
            # qk_matmul, softmax, sv_matmul are lowered together, head by head
            sm = next((j for j in range(i + 1, len(items)) if items[j][1].kind == "softmax"), None)
            sv = next((j for j in range(i + 1, len(items)) if items[j][1].kind == "attention"), None)
            if sm is None or sv is None:
                raise InputError("model", f"attention op '{op.name}' has no softmax / second matmul to pair with.")
            low.attention((idx, items[sm][0], items[sv][0]), op, items[sv][1], op.kv_bits, decode)
            i = sv + 1
            continue
        if op.kind in LINEAR_KINDS:
            low.linear(idx, op)
        elif op.kind != "embedding":
            low.misc(idx, op)
        i += 1


@dataclass(frozen=True, slots=True)
class StepTiming:
    """A step's schedule summarised: total seconds, each op's share, busy seconds and instruction count
    per unit, HBM bytes and useful MACs."""

    total: float
    per_op: np.ndarray
    busy: dict[str, float]
    counts: dict[str, int]
    hbm_bytes: float
    macs: float


def _timing(sched: Schedule, stream: Stream, n_ops: int) -> StepTiming:
    return StepTiming(sched.total, sched.op_times(stream, n_ops), dict(sched.busy), stream.counts(),
                      float(np.sum(stream.nbytes)), float(np.sum(stream.macs)))


def schedule_step(ops: list[Op], p: FpgaParams, lowering: Lowering, decode: bool, exact: bool = False) -> StepTiming:
    """The critical path of a step's stream. Decoder layers repeat identically, so unless ``exact`` the
    stream is built for two and three layers and the steady per-layer period is extrapolated to the
    rest (a test checks it equals scheduling the full stream)."""
    layers = max((op.repeat for op in ops), default=1)
    if exact or layers <= 3:
        stream = lower_ops(ops, p, lowering, decode)
        return _timing(list_schedule(stream), stream, len(ops))
    s2, s3 = lower_ops(ops, p, lowering, decode, 2), lower_ops(ops, p, lowering, decode, 3)
    a, b = _timing(list_schedule(s2), s2, len(ops)), _timing(list_schedule(s3), s3, len(ops))
    x = layers - 3

    def ext(v2: float, v3: float) -> float:
        return v3 + x * (v3 - v2)

    return StepTiming(
        total=ext(a.total, b.total), per_op=b.per_op + x * (b.per_op - a.per_op),
        busy={u: ext(a.busy.get(u, 0.0), v) for u, v in b.busy.items()},
        counts={u: int(ext(a.counts.get(u, 0), v)) for u, v in b.counts.items()},
        hbm_bytes=ext(a.hbm_bytes, b.hbm_bytes), macs=ext(a.macs, b.macs),
    )
