"""Benchmark the FPGA stream engines: list schedule (analytic, layers extrapolated), the same schedule over the
full stream, and the SimPy simulation of the full stream, for one LLaMA2-7B decode step and a 128-token
prefill on the VHK158 and U280 presets. Medians over a few repeats, measured side by side in one run.
Run: ``.venv/bin/python bench/bench_fpga.py [--repeats N]``; prints a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial

from archsim.analytic.fpga import Lowering, StepTiming, fpga_params, schedule_step
from archsim.hardware import load_hardware
from archsim.sim.fpga import simulate_step
from models.config import load_model
from models.workload import Workload


def median_wall(fn: Callable[[], StepTiming], repeats: int) -> tuple[float, StepTiming]:
    """Median wall seconds of ``fn`` over ``repeats`` runs after one warm-up, and its last result."""
    out = fn()
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cfg = load_model("llama2-7b")
    print(f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}\n")
    print("| device | phase | engine | instructions | step latency (ms) | wall (ms, median) | vs extrapolated |")
    print("|---|---|---|---|---|---|---|")
    for hw_id in ("vhk158", "u280"):
        hw = load_hardware(hw_id)
        p = fpga_params(hw)
        low = Lowering()
        for phase, seq in (("decode", 512), ("prefill", 128)):
            ops = Workload(cfg, phase, 1, seq, 16, 16, 16, None).ops()
            decode = phase == "decode"
            engines: dict[str, Callable[[], StepTiming]] = {
                "analytic (3 layers, extrapolated)": partial(schedule_step, ops, p, low, decode),
                "analytic (full stream)": partial(schedule_step, ops, p, low, decode, exact=True),
                "sim (SimPy, full stream)": partial(simulate_step, ops, p, low, decode),
            }
            base = None
            for name, fn in engines.items():
                wall, timing = median_wall(fn, args.repeats)
                base = base or wall
                n = sum(timing.counts.values())
                print(f"| {hw_id} | {phase} {seq} | {name} | {n:,} | {timing.total * 1e3:.4f} | {wall * 1e3:.1f} | "
                      f"{wall / base:.1f}x |")


if __name__ == "__main__":
    main()
