"""SimPy model of a GPU running a sequence of kernels.

SM slots are a ``Container`` (SMs x resident blocks); tiles are processes that hold slots; HBM, the
L2 -> SM path and the SM datapaths are ``SharedRate``s (max-min fair, per-tile caps as in
``archsim.analytic.gpu``). A tile double-buffers: a loader fills one of two buffers with the next
K-slice while the compute process consumes the other. Identical tiles dispatched together run as
one weighted process (symmetry), so a wave of 1000 tiles costs a few events. Kernels on one stream
run back to back, separated by the launch gap.

What this captures that the wave formula cannot: tiles of different sizes (causal attention)
finishing at different times and backfilling freed slots, and waves that are not synchronized.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import simpy

from archsim.analytic.gpu import GpuParams, Kernel, TileClass
from archsim.sim.core import SharedRate, Trace

# A tile's K loop is simulated in at most this many slices; deeper loops are merged into coarser
# slices (the analytic model uses the same cap, so both see the same pipeline prologue/epilogue).
MAX_SIM_STEPS = 8


@dataclass(frozen=True, slots=True)
class KernelSim:
    """Simulated time of one kernel (launch and first DRAM latency included) and its timeline."""

    time_s: float
    trace: tuple[tuple[str, str, float, float, int], ...]  # (name, lane, start, end, tiles)


def _run_tiles(env: simpy.Environment, gpu: GpuParams, kernel: Kernel, tc: TileClass, weight: int,
               hbm: SharedRate, l2: SharedRate, comp: SharedRate, slots: simpy.Container,
               log: list[tuple[str, str, float, float, int]]):
    """Process: ``weight`` identical tiles of class ``tc``; returns their slots when done."""
    start = env.now
    n = max(tc.steps, 1)
    hbm_cap = min(tc.inflight_bytes / gpu.dram_latency_s, gpu.l2_Bps / gpu.n_sm)
    l2_cap = gpu.l2_Bps / gpu.n_sm
    comp_cap = kernel.peak_ops / gpu.n_sm

    def load() -> simpy.Event:
        return simpy.AllOf(env, [hbm.transfer(tc.hbm_bytes / n, weight, hbm_cap),
                                 l2.transfer(tc.l2_bytes / n, weight, l2_cap)])

    def compute() -> simpy.Event:
        return comp.transfer(tc.flops / n, weight, comp_cap)

    if tc.double_buffer:
        free = simpy.Container(env, capacity=2, init=2)
        ready = simpy.Container(env, capacity=2, init=0)

        def loader():
            for _ in range(n):
                yield free.get(1)
                yield load()
                yield ready.put(1)

        env.process(loader())
        for _ in range(n):
            yield ready.get(1)
            yield compute()
            yield free.put(1)
    else:
        for _ in range(n):
            yield load()
            yield compute()
    log.append((kernel.name, f"tiles x{weight}", start, env.now, weight))
    yield slots.put(weight)


def _dispatch(env: simpy.Environment, gpu: GpuParams, kernel: Kernel, hbm: SharedRate, l2: SharedRate,
              comp: SharedRate, log: list[tuple[str, str, float, float, int]]):
    """Process: issue every tile of ``kernel`` greedily as slots free up; wait for all to finish."""
    slots = simpy.Container(env, capacity=gpu.n_sm * kernel.blocks_per_sm, init=gpu.n_sm * kernel.blocks_per_sm)
    running = []
    for tc in kernel.classes:
        left = tc.count
        while left > 0:
            yield slots.get(1)
            extra = min(int(slots.level), left - 1)
            if extra:
                yield slots.get(extra)
            weight = 1 + extra
            left -= weight
            running.append(env.process(_run_tiles(env, gpu, kernel, tc, weight, hbm, l2, comp, slots, log)))
    yield simpy.AllOf(env, running)


@lru_cache(maxsize=4096)
def simulate_kernel(kernel: Kernel, gpu: GpuParams) -> KernelSim:
    """Simulate one kernel alone on the GPU (kernels on a stream do not overlap).

    Cached: kernels are frozen values, so a repeated shape (every decoder layer) is simulated once.
    """
    env = simpy.Environment()
    hbm = SharedRate(env, gpu.hbm_Bps, "hbm")
    l2 = SharedRate(env, gpu.l2_Bps, "l2")
    comp = SharedRate(env, kernel.peak_ops, "compute")
    log: list[tuple[str, str, float, float, int]] = []

    def main():
        yield env.timeout(gpu.launch_s + gpu.dram_latency_s)
        yield env.process(_dispatch(env, gpu, kernel, hbm, l2, comp, log))

    env.run(env.process(main()))
    return KernelSim(env.now, tuple(log))


def simulate_sequence(kernels: list[Kernel], gpu: GpuParams, trace: Trace | None = None,
                      offset_s: float = 0.0) -> list[float]:
    """Per-kernel simulated times of kernels run back to back; optionally append their timeline."""
    times = []
    t = offset_s
    for kernel in kernels:
        sim = simulate_kernel(kernel, gpu)
        if trace is not None:
            trace.span(kernel.name, "stream", t, t + sim.time_s, impl=kernel.impl, tiles=kernel.tiles)
            for name, lane, start, end, weight in sim.trace:
                trace.span(name, lane, t + start, t + end, tiles=weight)
        times.append(sim.time_s)
        t += sim.time_s
    return times
