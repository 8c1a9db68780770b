"""SimPy model of a FlightLLM-style instruction stream (spec fpga_sparse_dsp.md sec. 10, 12).

The stream is the one ``archsim.analytic.fpga`` lowers a step to; the analytic engine is its critical-path
bound (``list_schedule``). Here the same stream runs on simulated hardware:

Units (spec 12.2)
-----------------
One SimPy process per unit (LD, ST, MM, MV, MISC, SYS) executes its queue strictly in program order.
Dependencies are the ISA's wait/release bits (``wait_release_bits``, spec 10): one FIFO per ordered unit pair
``(p -> c)``; an instruction on ``p`` with a release bit toward ``c`` pushes a token into FIFO(p -> c) when it
ends, and an instruction on ``c`` with a wait bit for ``p`` pops one, waiting while the FIFO is empty. An
instruction starts when its unit is free and every wait is satisfied. Compute, MISC and SYS instructions
then take their stream duration.

HBM (shared resource)
---------------------
LD and ST instructions with ``nbytes > 0`` in a channel group (GROUP_WEIGHT, GROUP_KV) move their bytes
through the HBM channels the group is striped over:

- the bandwidth part of the stream duration is ``T = nbytes / group bandwidth / p.divisor`` (``p.weight_bw``
  or ``p.kv_bw``), the time the transfer takes when it has its channels to itself; whatever the duration
  holds beyond it (the access overhead ``p.t_ovh / p.divisor`` the lowering adds to dependent accesses) is
  a latency (request to first data), spent before the bytes move and not shared;
- channels are split into *classes* of channels that the same groups use (weight only, KV only, both);
  each class is a ``core.SharedRate`` of capacity 1 "class-second" per second. A transfer puts ``T`` into
  every class its group spans (data striped evenly over the group's channels) and ends when its slowest
  class part ends. Transfers overlapping in a class share it max-min fairly, so an
  LD and an ST on the same channels each run at half speed while they overlap. With transfers that never
  overlap, every LD/ST takes exactly its stream duration and the simulation reproduces ``list_schedule``.
- In-order units mean two LDs (or two STs) never overlap: contention is always LD against ST.

Channel mapping (``ChannelMap``): the weight group takes channels ``[0, weight)``, the KV group the next
``kv`` channels when ``weight + kv <= channels`` (separate channel sets), else the last ``kv`` channels
(overlapping the weight channels). Presets: VHK158 (32 channels, weight 8, KV 8) -> separate sets, so a
weight LD never slows a KV store, but a K/V cache LD and a KV store (both KV group) do share; U280 (32, 32,
32) -> both groups on the same channels, so every concurrent LD/ST pair shares; V80 (32, 32, 8) -> the KV
channels are 8 of the weight channels. The layout comes with ``FpgaParams`` (copied from the preset by
``fpga_params``); ``channels=`` overrides it.

Other notes
-----------
- An LD/ST without bytes or outside a channel group (GROUP_NONE) takes its stream duration (no HBM).
- Cross-channel efficiency (0.35) and bank conflicts are not modelled: the stream's bandwidths already
  carry the same-channel efficiency, as in the analytic model.
- A stream that cannot complete (a dependency cycle, a wait without a matching release) raises
  ``StreamDeadlock`` naming the blocked queue heads (spec 12.2). Releases nobody waits for are left over
  harmlessly.
- Events per instruction: ~2 (compute) to ~4 (LD/ST); a LLaMA2-7B decode step (~11k instructions) takes
  well under a second (tests/unit/test_fpga_sim.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from archsim.analytic.fpga import (
    GROUP_KV,
    GROUP_WEIGHT,
    LD,
    ST,
    UNITS,
    FpgaParams,
    Lowering,
    Schedule,
    StepTiming,
    Stream,
    lower_ops,
    wait_release_bits,
)
from archsim.errors import InputError
from archsim.hardware.schema import HardwareSpec
from archsim.sim.core import SharedRate, Trace
from models.workload import Op

_N_UNITS = len(UNITS)


class StreamDeadlock(RuntimeError):
    """The stream cannot complete: every queue head left is waiting for a release that never comes.
    ``heads`` lists ``(unit, instruction index, units it waits for)`` of the blocked heads."""

    def __init__(self, heads: list[tuple[str, int, tuple[str, ...]]], done: int, total: int) -> None:
        self.heads = heads
        desc = "; ".join(f"{u} #{i} waits for {'/'.join(w) or 'nothing'}" for u, i, w in heads)
        super().__init__(f"instruction stream deadlocked after {done} of {total} instructions; blocked heads: "
                         f"{desc}.")


@dataclass(frozen=True, slots=True)
class ChannelMap:
    """HBM channels of the device and how many of them a weight / KV transfer is striped over."""

    channels: int
    weight: int
    kv: int

    def __post_init__(self) -> None:
        for name in ("channels", "weight", "kv"):
            v = getattr(self, name)
            if v < 1:
                raise InputError("channels", f"HBM channel counts must be >= 1, got {name}={v}.")
        if self.weight > self.channels or self.kv > self.channels:
            raise InputError("channels", f"a group cannot span more than the device's {self.channels} channels "
                                         f"(weight {self.weight}, kv {self.kv}).")

    def sets(self) -> dict[int, frozenset[int]]:
        """Channels of each group: weight first, KV after it (or the last ``kv`` when they do not fit)."""
        kv0 = self.weight if self.weight + self.kv <= self.channels else self.channels - self.kv
        return {GROUP_WEIGHT: frozenset(range(self.weight)), GROUP_KV: frozenset(range(kv0, kv0 + self.kv))}

    def classes(self) -> dict[int, tuple[int, ...]]:
        """Per group, the channel classes (sets of channels used by the same groups) it spans."""
        sets = self.sets()
        keys = sorted({tuple(g for g in sorted(sets) if c in sets[g]) for c in range(self.channels)} - {()})
        return {g: tuple(k for k, key in enumerate(keys) if g in key) for g in sets}


def channel_map(hw: HardwareSpec) -> ChannelMap:
    """The HBM layout of an FPGA preset (``fpga.hbm_channels``, ``weight_channels``, ``kv_channels``)."""
    if hw.fpga is None:
        raise InputError("hw", f"'{hw.id}' is a {hw.family} device, not an FPGA (needs an fpga block).")
    fp = hw.fpga
    return ChannelMap(int(fp.hbm_channels.value), int(fp.weight_channels.value), int(fp.kv_channels.value))


def default_channel_map(p: FpgaParams) -> ChannelMap:
    """The HBM layout the parameters were resolved with (``fpga_params`` copies the preset's channels)."""
    return ChannelMap(p.hbm_channels, p.weight_channels, p.kv_channels)


def _bits_list(mask: np.ndarray) -> list[tuple[int, ...]]:
    """Per instruction, the unit ids whose bit is set in ``mask``."""
    table = [tuple(u for u in range(_N_UNITS) if m >> u & 1) for m in range(256)]
    return [table[m] for m in np.asarray(mask, dtype=np.int64).tolist()]


def simulate_stream(stream: Stream, p: FpgaParams, trace: Trace | None = None, *, channels: ChannelMap | None = None,
                    bits: tuple[np.ndarray, np.ndarray] | None = None, names: list[str] | None = None,
                    offset_s: float = 0.0) -> Schedule:
    """Run ``stream`` on in-order units with wait/release FIFOs and HBM channels as shared resources.

    ``bits`` are the ISA's (wait, release) masks (default ``wait_release_bits(stream)``); ``channels`` the HBM
    layout (default ``default_channel_map(p)``). ``busy`` is each unit's occupied time (an LD/ST slowed by
    a concurrent transfer counts its stretched time). With ``trace``, one span per instruction is appended
    on its unit's lane (named by ``names[op]`` when given), shifted by ``offset_s``. Raises
    ``StreamDeadlock`` when the stream cannot complete.
    """
    n = len(stream)
    wait, release = wait_release_bits(stream) if bits is None else bits
    if len(wait) != n or len(release) != n:
        raise InputError("bits", f"wait/release masks must have one entry per instruction ({n}).")
    cmap = channels or default_channel_map(p)
    waits, releases = _bits_list(wait), _bits_list(release)
    unit, dur, nbytes, group = stream.unit, stream.duration, stream.nbytes, stream.group
    group_bw = {GROUP_WEIGHT: p.weight_bw, GROUP_KV: p.kv_bw}

    env = simpy.Environment()
    group_classes = cmap.classes()
    n_classes = 1 + max(k for ks in group_classes.values() for k in ks)
    hbm = [SharedRate(env, 1.0, f"hbm class {k}") for k in range(n_classes)]
    group_rates = {g: [hbm[k] for k in ks] for g, ks in group_classes.items()}

    start = np.zeros(n)
    end = np.zeros(n)
    queues: list[list[int]] = [[] for _ in range(_N_UNITS)]
    for i, u in enumerate(unit):
        queues[u].append(i)
    tokens = [0] * (_N_UNITS * _N_UNITS)  # FIFO(p -> c) at p * N + c: releases not yet popped
    waiter: list[simpy.Event | None] = [None] * (_N_UNITS * _N_UNITS)
    pos = [0] * _N_UNITS  # instructions each unit has finished
    popped = [0] * _N_UNITS  # waits of the unit's head already satisfied when it last blocked

    def run_unit(u: int):
        for i in queues[u]:
            for k, pu in enumerate(waits[i]):
                f = pu * _N_UNITS + u
                if not tokens[f]:
                    ev = waiter[f] = env.event()
                    popped[u] = k
                    yield ev
                tokens[f] -= 1
            start[i] = env.now
            d = dur[i]
            rates = group_rates.get(group[i]) if (u == LD or u == ST) and nbytes[i] > 0 else None
            if rates is None or d <= 0:
                if d > 0:
                    yield env.timeout(d)
            else:
                t = nbytes[i] / group_bw[group[i]] / p.divisor  # the lowering's bytes-over-bandwidth term
                if d - t > 1e-12 * d:  # the rest is access latency
                    yield env.timeout(d - t)
                else:  # no latency (or a duration below bytes / bandwidth): all of it is bandwidth time
                    t = d
                if len(rates) == 1:
                    yield rates[0].transfer(t)
                else:
                    yield simpy.AllOf(env, [r.transfer(t) for r in rates])
            end[i] = env.now
            pos[u] += 1
            for cu in releases[i]:
                f = u * _N_UNITS + cu
                tokens[f] += 1
                ev = waiter[f]
                if ev is not None:
                    waiter[f] = None
                    ev.succeed()

    for u in range(_N_UNITS):
        if queues[u]:
            env.process(run_unit(u))
    env.run()

    if any(pos[u] < len(queues[u]) for u in range(_N_UNITS)):
        heads = []
        for u in range(_N_UNITS):
            if pos[u] < len(queues[u]):
                i = queues[u][pos[u]]
                blocked = tuple(UNITS[pu] for pu in waits[i][popped[u]:] if not tokens[pu * _N_UNITS + u])
                heads.append((UNITS[u], i, blocked))
        raise StreamDeadlock(heads, sum(pos), n)

    units = np.asarray(unit, dtype=np.int64)
    busy_arr = np.bincount(units, weights=end - start, minlength=_N_UNITS) if n else np.zeros(_N_UNITS)
    busy = {name: float(busy_arr[k]) for k, name in enumerate(UNITS) if busy_arr[k]}
    if trace is not None:
        _record(trace, stream, start, end, names, offset_s)
    return Schedule(start, end, float(end.max()) if n else 0.0, busy)


def _record(trace: Trace, stream: Stream, start: np.ndarray, end: np.ndarray, names: list[str] | None,
            offset_s: float) -> None:
    """One span per instruction on its unit's lane (seconds, shifted by ``offset_s``)."""
    for i, (u, op, nb, s, e) in enumerate(zip(stream.unit, stream.op, stream.nbytes, start.tolist(), end.tolist(),
                                             strict=True)):
        name = names[op] if names is not None and 0 <= op < len(names) else f"op {op}"
        if nb > 0:
            trace.span(name, UNITS[u], offset_s + s, offset_s + e, instr=i, bytes=nb)
        else:
            trace.span(name, UNITS[u], offset_s + s, offset_s + e, instr=i)


def hbm_stall(stream: Stream, sched: Schedule) -> float:
    """Seconds LD/ST instructions ran beyond their stream durations (bandwidth shared with a concurrent
    transfer), summed over instructions; 0 when no transfers overlapped."""
    if not len(stream):
        return 0.0
    units = np.asarray(stream.unit)
    mask = (units == LD) | (units == ST)
    extra = (sched.end - sched.start - np.asarray(stream.duration))[mask]
    return float(np.sum(np.maximum(extra, 0.0)))


def simulate_step(ops: list[Op], p: FpgaParams, lowering: Lowering, decode: bool, trace: Trace | None = None, *,
                  channels: ChannelMap | None = None, offset_s: float = 0.0) -> StepTiming:
    """Simulate a step's FULL instruction stream (``lower_ops``, every layer, no extrapolation) and summarise
    it as ``schedule_step`` does: total, each op's share, busy time and instruction count per unit, HBM bytes
    and useful MACs. Trace spans are named after the ops."""
    stream = lower_ops(ops, p, lowering, decode)
    sched = simulate_stream(stream, p, trace, channels=channels, names=[op.name for op in ops], offset_s=offset_s)
    return StepTiming(sched.total, sched.op_times(stream, len(ops)), dict(sched.busy), stream.counts(),
                      float(np.sum(stream.nbytes)), float(np.sum(stream.macs)))


__all__ = ["ChannelMap", "StreamDeadlock", "channel_map", "default_channel_map", "hbm_stall", "simulate_step",
           "simulate_stream"]
