"""Benchmark the vectorized roofline sweep (``archsim.sweep.vectorized.roofline_block``) against the
per-point path, side by side in one run, on one core.

The design space has 1,008,000 full-model points: LLaMA2-7B and LLaMA-3-8B x prefill/decode x
7 GPU presets x 4 bandwidth variants (1x, 1.5x, 2x, 3x) x 15 batch sizes x 20 sequence lengths x
30 (w, a, kv) bit widths. The vectorized path evaluates all of them (cold: the per-structure fits
included; warm: fits cached, as in a worker that has seen the structures before); the per-point
loop (``evaluate_point`` with one phase, and ``evaluate``) runs on a random sample of the same
points. Repeats alternate between the paths; the table shows medians (wall and CPU time, the
latter less sensitive to other load on the machine), the ratio to the faster per-point loop, and
the largest relative difference between the two paths on the sample.

Run: ``.venv/bin/python bench/bench_sweep.py [--quick]``.
"""

from __future__ import annotations

import os

# One core: BLAS threads off before numpy loads, and the process pinned to a single CPU.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from archsim.evaluate import evaluate, evaluate_point  # noqa: E402
from archsim.hardware import HardwareSpec, load_hardware  # noqa: E402
from archsim.sweep import vectorized  # noqa: E402
from archsim.sweep.vectorized import METRICS, roofline_block  # noqa: E402
from models.config import ModelConfig, load_model  # noqa: E402

MODELS = ("llama2-7b", "llama3-8b")
PHASES = ("prefill", "decode")
GPUS = ("a100-40g", "a100-80g", "a6000", "h100-sxm", "mi210", "v100", "v100s")
BANDWIDTH_FACTORS = (1.0, 1.5, 2.0, 3.0)
BATCHES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256)
SEQS = (64, 128, 200, 256, 300, 512, 700, 1024, 1500, 2048, 3000, 4096, 6000, 8192, 12000, 16384, 24000, 32768,
        65536, 131072)
BITS = tuple(itertools.product((2, 3, 4, 8, 16), (8, 16), (4, 8, 16)))  # (w, a, kv)


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned"


def variants() -> list[HardwareSpec]:
    """Each GPU preset with its DRAM bandwidth scaled (``model_copy``: hardware variants of a sweep)."""
    out = []
    for gpu in GPUS:
        hw = load_hardware(gpu)
        for f in BANDWIDTH_FACTORS:
            bw = hw.memory.bandwidth_Bps
            memory = hw.memory.model_copy(update={"bandwidth_Bps": bw.model_copy(update={"value": bw.value * f})})
            out.append(hw.model_copy(update={"id": f"{gpu}-bw{f:g}x", "memory": memory}))
    return out


def space(n_hw: int) -> dict[str, np.ndarray]:
    """One (model, phase) block: hardware x batch x seq x bits, bits varying fastest (as a product sweep)."""
    grid = np.meshgrid(np.arange(n_hw), np.arange(len(BATCHES)), np.arange(len(SEQS)), np.arange(len(BITS)),
                       indexing="ij")
    bits = np.asarray(BITS)[grid[3].ravel()]
    return {"hw_index": grid[0].ravel(), "batch": np.asarray(BATCHES)[grid[1].ravel()],
            "seq": np.asarray(SEQS)[grid[2].ravel()], "w_bits": bits[:, 0], "a_bits": bits[:, 1],
            "kv_bits": bits[:, 2]}


def run_vectorized(models: list[ModelConfig], hw: list[HardwareSpec], pts: dict[str, np.ndarray],
                   cold: bool) -> tuple[tuple[float, float], dict]:
    """(wall s, CPU s) for the whole space, and the results per (model, phase)."""
    if cold:
        vectorized._STRUCTURES.clear()
    out = {}
    start, cpu = time.perf_counter(), time.process_time()
    for cfg, phase in itertools.product(models, PHASES):
        out[(cfg.name, phase)] = roofline_block(cfg, phase, pts["batch"], pts["seq"], hw, pts["hw_index"],
                                                w_bits=pts["w_bits"], a_bits=pts["a_bits"], kv_bits=pts["kv_bits"])
    return (time.perf_counter() - start, time.process_time() - cpu), out


def run_per_point(sample: list[tuple], hw: list[HardwareSpec], pts: dict[str, np.ndarray],
                  api: str) -> tuple[float, float]:
    """(wall s, CPU s) for the sample, one ``evaluate_point`` or ``evaluate`` call per point."""
    start, cpu = time.perf_counter(), time.process_time()
    for cfg, phase, i in sample:
        b, s, j = int(pts["batch"][i]), int(pts["seq"][i]), int(pts["hw_index"][i])
        w, a, kv = int(pts["w_bits"][i]), int(pts["a_bits"][i]), int(pts["kv_bits"][i])
        if api == "evaluate_point":
            evaluate_point(cfg, hw[j], b, s, phases=(phase,), w_bits=w, a_bits=a, kv_bits=kv, mapper="roofline")
        else:
            evaluate(cfg, hw[j], phase, b, s, w_bits=w, a_bits=a, kv_bits=kv, mapper="roofline")
    return time.perf_counter() - start, time.process_time() - cpu


def max_rel_diff(sample: list[tuple], hw: list[HardwareSpec], pts: dict[str, np.ndarray], out: dict) -> float:
    worst = 0.0
    for cfg, phase, i in sample:
        ref = evaluate(cfg, hw[int(pts["hw_index"][i])], phase, int(pts["batch"][i]), int(pts["seq"][i]),
                       w_bits=int(pts["w_bits"][i]), a_bits=int(pts["a_bits"][i]), kv_bits=int(pts["kv_bits"][i]),
                       mapper="roofline").as_dict()
        got = out[(cfg.name, phase)]
        for name in METRICS:
            if name == "fits_memory":
                if bool(got[name][i]) != ref[name]:
                    return float("inf")
            else:
                worst = max(worst, abs(got[name][i] - ref[name]) / abs(ref[name]))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and a smaller sample (smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per path (default 5, quick 2)")
    parser.add_argument("--sample", type=int, default=None, help="per-point sample size (default 2000, quick 300)")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    n_sample = args.sample or (300 if args.quick else 2000)
    pinned = pin_one_core()
    models = [load_model(m) for m in MODELS]
    hw = variants()
    pts = space(len(hw))
    n_block = pts["batch"].shape[0]
    n_total = n_block * len(models) * len(PHASES)
    rng = np.random.default_rng(0)
    blocks = list(itertools.product(models, PHASES))
    sample = [(*blocks[k], int(i)) for k, i in zip(rng.integers(0, len(blocks), n_sample),
                                                    rng.integers(0, n_block, n_sample), strict=True)]

    run_vectorized(models, hw, pts, cold=False)  # warm-up: imports, first allocations
    run_per_point(sample[:50], hw, pts, "evaluate_point")
    cold, warm, per_point, per_eval = [], [], [], []
    out: dict = {}
    for _ in range(repeats):  # alternate the paths so machine load affects them alike
        cold.append(run_vectorized(models, hw, pts, cold=True)[0])
        t, out = run_vectorized(models, hw, pts, cold=False)
        warm.append(t)
        per_point.append(run_per_point(sample, hw, pts, "evaluate_point"))
        per_eval.append(run_per_point(sample, hw, pts, "evaluate"))
    worst = max_rel_diff(sample, hw, pts, out)

    runs = {"cold": (n_total, cold), "warm": (n_total, warm), "point": (n_sample, per_point),
            "eval": (n_sample, per_eval)}
    wall = {k: statistics.median(t[0] for t in times) for k, (_, times) in runs.items()}
    cpu = {k: statistics.median(t[1] for t in times) for k, (_, times) in runs.items()}
    rate = {k: count / wall[k] for k, (count, _) in runs.items()}
    cpu_rate = {k: count / cpu[k] for k, (count, _) in runs.items()}
    structures = len(models) * len(PHASES) * len(BITS)
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, one core ({pinned}), {repeats} repeats alternating, medians; "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    print("a point = one phase (prefill or decode) of the full model (all layers) on one device variant")
    print()
    print("| path | points | median wall time | points/s (wall) | points/s (CPU time) | note |")
    print("|---|---|---|---|---|---|")
    rows = (
        ("cold", "vectorized `roofline_block`, cold", f"{n_total:,}",
         f"includes fitting {structures} (model, phase, bits) structures"),
        ("warm", "vectorized `roofline_block`, warm", f"{n_total:,}", "structures cached (a worker's later chunks)"),
        ("point", "per-point loop, `evaluate_point` (one phase)", f"{n_sample:,} sampled",
         "same space, `mapper=\"roofline\"`"),
        ("eval", "per-point loop, `evaluate`", f"{n_sample:,} sampled", "same points"),
    )
    for key, label, count, note in rows:
        print(f"| {label} | {count} | {wall[key]:.3f} s | {rate[key]:,.0f} | {cpu_rate[key]:,.0f} | {note} |")
    print()
    base = max(("point", "eval"), key=lambda k: rate[k])  # the faster per-point loop: the conservative ratio
    print(f"ratio vectorized / per-point loop (the faster one, `{'evaluate_point' if base == 'point' else 'evaluate'}`"
          f"), wall: cold {rate['cold'] / rate[base]:.0f}x, warm {rate['warm'] / rate[base]:.0f}x; CPU time: cold "
          f"{cpu_rate['cold'] / cpu_rate[base]:.0f}x, warm {cpu_rate['warm'] / cpu_rate[base]:.0f}x")
    print(f"largest relative difference on the {n_sample:,} sampled points (all metrics): {worst:.1e}")


if __name__ == "__main__":
    main()
