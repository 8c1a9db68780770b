"""Benchmark the analytic evaluation path through the public API.

Prints medians (and ratios measured side by side in this one run) as a Markdown table for
docs/BENCHMARKS.md. Run: ``make bench`` or ``.venv/bin/python bench/bench_evaluate.py``.

1. One full-model design point = prefill + decode of LLaMA2-7B at 1024 tokens on a100-40g
   (the work LLM-Viewer's analyzer does per point; its reference figure is ~0.08 ms here).
2. Design points per second over a grid of models x devices x batch x seq (both phases each).
3. ``--gen G`` end-to-end generation: vectorized sum vs a Python loop over G decode steps.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import time
import timeit

from archsim.evaluate import evaluate, evaluate_point
from archsim.hardware import hardware_ids
from models.config import preset_ids


def per_point_us(repeats: int, number: int) -> list[float]:
    def point() -> None:
        evaluate_point("llama2-7b", "a100-40g", 1, 1024)  # prefill and decode

    point()
    return [t / number * 1e6 for t in timeit.repeat(point, number=number, repeat=repeats)]


def grid_points_per_s(repeats: int) -> tuple[float, int]:
    grid = list(itertools.product(preset_ids(), hardware_ids(), (1, 4, 16, 64), (128, 512, 2048, 8192)))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for model, hw, batch, seq in grid:
            evaluate_point(model, hw, batch, seq)
        rates.append(len(grid) / (time.perf_counter() - start))
    return statistics.median(rates), len(grid)


def generation_ms(gen: int, repeats: int) -> tuple[float, float]:
    vec = statistics.median(timeit.repeat(lambda: evaluate("llama2-7b", "a100-40g", seq=512, gen=gen),
                                          number=1, repeat=repeats)) * 1e3

    def loop() -> None:
        evaluate("llama2-7b", "a100-40g", "prefill", 1, 512)
        for s in range(512, 512 + gen):
            evaluate("llama2-7b", "a100-40g", "decode", 1, s)

    looped = statistics.median(timeit.repeat(loop, number=1, repeat=repeats)) * 1e3
    return vec, looped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    args = parser.parse_args()
    reps = 3 if args.quick else 9
    samples = per_point_us(reps, 500 if args.quick else 3000)
    rate, n_grid = grid_points_per_s(1 if args.quick else 3)
    vec, looped = generation_ms(1024, 3 if args.quick else 5)
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print()
    print("| benchmark | median | note |")
    print("|---|---|---|")
    print(f"| one design point (LLaMA2-7B prefill+decode, 1024, a100-40g) | {statistics.median(samples):.1f} us "
          f"| min {min(samples):.1f} us over {reps} repeats; LLM-Viewer reference ~80 us |")
    print(f"| grid sweep, design points (prefill+decode) per second | {rate:,.0f} /s | {n_grid} points |")
    print(f"| generation 512+1024 tokens, vectorized (`--gen`) | {vec:.2f} ms | |")
    print(f"| generation 512+1024 tokens, Python loop of decode steps | {looped:.1f} ms | "
          f"vectorized is {looped / vec:.0f}x faster |")


if __name__ == "__main__":
    main()
