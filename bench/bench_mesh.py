"""Benchmark the SimPy mesh simulator (archsim.sim.mesh): wall time and simulated events per second.

Prints a Markdown table for docs/BENCHMARKS.md: MeshGEMV [1,16K] x [16K,16K] on P x P grids
(P = 64, 180, 360, 720, one representative column) and a 2048^3 MeshGEMM on 720 x 720 (one
representative row and column, one step per step kind), medians over a few repeats. The full-grid
GEMV at P = 64 is shown beside its representative run for the cost of not exploiting symmetry.
Run: ``.venv/bin/python bench/bench_mesh.py [--quick]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from archsim.analytic import plmr
from archsim.hardware import load_hardware
from archsim.sim import mesh


@dataclass(frozen=True)
class BenchRow:
    """One benchmarked simulation: median wall seconds over the repeats, its events and cycles."""

    label: str
    wall_s: float
    events: int
    cycles: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s if self.wall_s > 0 else float("inf")


def bench_sequence(callables: Sequence[tuple[str, Callable[[], mesh.MeshSim]]], repeats: int = 5) -> list[BenchRow]:
    """Run each ``(label, fn)`` ``repeats`` times (after one warm-up) and keep the median wall time.

    ``fn`` returns a ``MeshSim``; a sequence of kernels (e.g. a decode layer) can be benchmarked by
    passing a callable that runs them and returns a ``MeshSim`` with the summed events and cycles.
    """
    rows = []
    for label, fn in callables:
        result = fn()
        walls = []
        for _ in range(repeats):
            start = time.perf_counter()
            result = fn()
            walls.append(time.perf_counter() - start)
        rows.append(BenchRow(label, statistics.median(walls), result.events, result.cycles))
    return rows


def decode_layer_row(repeats: int) -> BenchRow:
    """A whole LLaMA3-8B decode step at 660 x 660 through the mapper with ``--engine sim``: every
    kernel of one decoder layer is simulated (layers are identical), events summed over kernels."""
    from archsim.evaluate import evaluate

    counted: list[int] = []
    originals = (mesh.simulate_gemv, mesh.simulate_gemm)

    def counting(fn):  # type: ignore[no-untyped-def]
        def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
            res = fn(*args, **kwargs)
            counted.append(res.events)
            return res
        return wrapped

    mesh.simulate_gemv, mesh.simulate_gemm = (counting(f) for f in originals)
    try:
        walls, cycles = [], 0.0
        for _ in range(repeats + 1):
            counted.clear()
            start = time.perf_counter()
            r = evaluate("llama3-8b", "wse2", "decode", 1, 4096, grid="660x660", engine="sim")
            walls.append(time.perf_counter() - start)
            cycles = r.extra["cycles"] / 32
        events = sum(counted)
    finally:
        mesh.simulate_gemv, mesh.simulate_gemm = originals
    return BenchRow("LLaMA3-8B decode layer, P = 660 (whole step via the mapper, sim)", statistics.median(walls[1:]),
                    events, cycles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    mp = plmr.mesh_params(load_hardware("wse2"))
    k = n = 16384
    cases: list[tuple[str, Callable[[], mesh.MeshSim]]] = [
        (f"MeshGEMV 16K x 16K, P = {p}", lambda p=p: mesh.simulate_gemv(mp, p, k, n)) for p in (64, 180, 360, 720)
    ]
    cases.insert(1, ("MeshGEMV 16K x 16K, P = 64, full grid", lambda: mesh.simulate_gemv(mp, 64, k, n, full=True)))
    cases.append(("MeshGEMM 2048^3, P = 720", lambda: mesh.simulate_gemm(mp, 720, 2048, 2048, 2048)))
    rows = bench_sequence(cases, repeats)
    rows.append(decode_layer_row(repeats))
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}; "
          f"median of {repeats} runs")
    print()
    print("| simulation | wall time | SimPy events | events / s | simulated cycles |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.label} | {r.wall_s * 1e3:.1f} ms | {r.events:,} | {r.events_per_s:,.0f} | {r.cycles:,.0f} |")


if __name__ == "__main__":
    main()
