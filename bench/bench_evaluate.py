"""Benchmark the analytic evaluation path through the public API.

Prints medians (and ratios measured side by side in this one run) as a Markdown table for
docs/BENCHMARKS.md. Run: ``make bench`` or ``.venv/bin/python bench/bench_evaluate.py``.

1. One full-model design point = prefill + decode of LLaMA2-7B at 1024 tokens on a100-40g
   (the work LLM-Viewer's analyzer does per point; its reference figure is ~0.08 ms here).
2. Design points per second over a grid of models x devices x batch x seq (both phases each).
3. ``--gen G`` end-to-end generation: vectorized sum vs a Python loop over G decode steps.
4. The same point through the GPU kernel model (analytic and SimPy), warm and cold caches.
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


def per_point_us(repeats: int, number: int, **kwargs: object) -> list[float]:
    def point() -> None:
        evaluate_point("llama2-7b", "a100-40g", 1, 1024, **kwargs)  # prefill and decode

    point()
    return [t / number * 1e6 for t in timeit.repeat(point, number=number, repeat=repeats)]


def cold_kernel_point_ms() -> float:
    """A model shape never seen before: M1/M2 sweeps and kernel simulations from scratch."""
    from archsim.analytic import gpu as analytic_gpu
    from archsim.sim import gpu as sim_gpu
    from mappers import gpu as mapper_gpu

    for fn in (mapper_gpu.thresholds, mapper_gpu.matmul_kernel, mapper_gpu.gemv_kernel, mapper_gpu.flat_gemm_kernel,
               mapper_gpu.gemm_kernel, mapper_gpu.stream_kernel, mapper_gpu.decode_attention_kernels,
               mapper_gpu.prefill_attention_kernel, sim_gpu.simulate_kernel):
        fn.cache_clear()
    analytic_gpu._PARAMS.clear()
    start = time.perf_counter()
    evaluate_point("llama3-8b", "a100-80g", 1, 4096, mapper="auto", engine="sim")
    return (time.perf_counter() - start) * 1e3


def grid_points_per_s(repeats: int) -> tuple[float, int]:
    grid = list(itertools.product(preset_ids(), hardware_ids(), (1, 4, 16, 64), (128, 512, 2048, 8192)))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for model, hw, batch, seq in grid:
            evaluate_point(model, hw, batch, seq, mapper="roofline")
        rates.append(len(grid) / (time.perf_counter() - start))
    return statistics.median(rates), len(grid)


def generation_ms(gen: int, repeats: int) -> tuple[float, float]:
    vec = statistics.median(timeit.repeat(lambda: evaluate("llama2-7b", "a100-40g", seq=512, gen=gen,
                                                           mapper="roofline"), number=1, repeat=repeats)) * 1e3

    def loop() -> None:
        evaluate("llama2-7b", "a100-40g", "prefill", 1, 512, mapper="roofline")
        for s in range(512, 512 + gen):
            evaluate("llama2-7b", "a100-40g", "decode", 1, s, mapper="roofline")

    looped = statistics.median(timeit.repeat(loop, number=1, repeat=repeats)) * 1e3
    return vec, looped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    args = parser.parse_args()
    reps = 3 if args.quick else 9
    samples = per_point_us(reps, 500 if args.quick else 3000, mapper="roofline")
    compat = per_point_us(reps, 500 if args.quick else 3000, mapper="roofline", compat="llm-viewer")
    kernel_an = per_point_us(reps, 100 if args.quick else 500)  # GPU default: kernel model, analytic
    kernel_sim = per_point_us(reps, 100 if args.quick else 500, engine="sim")
    cold = cold_kernel_point_ms()
    rate, n_grid = grid_points_per_s(1 if args.quick else 3)
    vec, looped = generation_ms(1024, 3 if args.quick else 5)
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print()
    print("| benchmark | median | note |")
    print("|---|---|---|")
    print(f"| one design point, roofline (LLaMA2-7B prefill+decode, 1024, a100-40g) | "
          f"{statistics.median(samples):.1f} us | min {min(samples):.1f} us over {reps} repeats; "
          f"LLM-Viewer reference ~80 us |")
    print(f"| same point, `--compat llm-viewer` (LLM-Viewer's own op set) | {statistics.median(compat):.1f} us | "
          f"min {min(compat):.1f} us |")
    print(f"| same point, GPU kernel model (`gemm`, analytic), warm caches | {statistics.median(kernel_an):.1f} us | "
          f"{statistics.median(kernel_an) / statistics.median(samples):.1f}x the roofline |")
    print(f"| same point, GPU kernel model (`gemm`, `--engine sim`), warm caches | "
          f"{statistics.median(kernel_sim):.1f} us | kernels are simulated once per shape and cached |")
    print(f"| first evaluation of a new model shape (`auto`, sim, cold caches) | {cold:.0f} ms | thresholds sweep and "
          f"simulation of every kernel shape |")
    print(f"| grid sweep, roofline design points (prefill+decode) per second | {rate:,.0f} /s | {n_grid} points |")
    print(f"| generation 512+1024 tokens, vectorized (`--gen`) | {vec:.2f} ms | |")
    print(f"| generation 512+1024 tokens, Python loop of decode steps | {looped:.1f} ms | "
          f"vectorized is {looped / vec:.0f}x faster |")


if __name__ == "__main__":
    main()
