"""Predicted vs measured GEMV time on this machine: archsim's ``host`` preset against JAX kernels.

Uses the calibrated host preset (``--preset``, else ``$ARCHSIM_HOST_PRESET`` or ``./host.yaml``; if none
exists it runs ``archsim calibrate host --quick`` first and writes ``./host.yaml``). For each shape it
times a JAX GEMV kernel (jit, ``block_until_ready``, median of repeats, last-level cache flushed before
every timed call so the weights come from DRAM as in token generation) and asks archsim for its
prediction with ``evaluate_kernel("gemv", preset, 1, N, K, w_bits=..., mapper=..., threads=...)``:

* dense ``x @ W`` in fp32 and fp16  -> ``dequant-gemv`` at ``w_bits`` 32 / 16 (dense fp path)
* dequantize-then-dot of 4-bit codes -> ``dequant-gemv`` at ``w_bits`` 4 (the q4_0 rate)
* ``kernels_ref.lut`` T-MAC LUT-GEMV -> ``lut-gemv`` at ``w_bits`` 1-4 (skipped if that module is absent)

A row is *memory-bound* when its weights are at least twice the last-level cache and the measured
kernel streams them at half the preset's DRAM bandwidth or more: a property of the kernel on this
machine, not of the model, so the rows the acceptance figure (median |error| over them, <= 30 %)
covers are not chosen by how well archsim does. The ``archsim bound`` column is the model's own view
(``memory`` when its time is set by a memory-bound core or by the system-bandwidth floor).
Prints a Markdown table for docs/BENCHMARKS.md.

Run: ``.venv/bin/python bench/bench_host.py [--threads 1] [--quick] [--preset host.yaml]``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archsim.calibrate import (
    FALLBACK_LLC_BYTES,
    SINGLE_THREAD_XLA_FLAG,
    cache_sizes,
    calibrate_host,
    cpu_model_name,
    find_host_preset,
    jax_dense_gemv,
    jax_dequant_gemv,
    jax_lut_gemv,
)
from archsim.evaluate import evaluate_kernel
from archsim.hardware import HardwareSpec, load_hardware


def pin(threads: int | None) -> None:
    """Restrict this process to ``threads`` CPUs; must run before JAX starts (it sizes its pool then)."""
    if threads is None:
        return
    if "jax" in sys.modules:
        raise RuntimeError("pin() must run before jax is imported")
    cpus = sorted(os.sched_getaffinity(0))
    if not 1 <= threads <= len(cpus):
        sys.exit(f"bench_host: --threads must be 1..{len(cpus)}, got {threads}")
    os.sched_setaffinity(0, set(cpus[:threads]))
    if threads == 1:
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {SINGLE_THREAD_XLA_FLAG}".strip()


@dataclass(frozen=True)
class Case:
    """One benchmark row: a JAX kernel on an ``N x K`` weight matrix and the mapper that prices it."""

    kernel: str  # "dense", "dequant", "lut"
    n: int  # output rows (weight columns in x @ W)
    k: int  # reduction length
    w_bits: int
    mapper: str

    @property
    def label(self) -> str:
        return {"dense": f"dense fp{self.w_bits} x@W", "dequant": f"dequant {self.w_bits}-bit + dot",
                "lut": f"LUT-GEMV {self.w_bits}-bit (int8 tables)"}[self.kernel]

    def runner(self) -> Callable[[], Any] | None:
        if self.kernel == "dense":
            return jax_dense_gemv(self.n, self.k, "float32" if self.w_bits == 32 else "float16")
        if self.kernel == "dequant":
            return jax_dequant_gemv(self.n, self.k)
        return jax_lut_gemv(self.n, self.k, self.w_bits)


def cases(quick: bool, lut: bool) -> list[Case]:
    """Memory-leaning fp32 shapes (LLaMA-7B/8B/70B-like), then compute-leaning ones (fp16, 4-bit, LUT)."""
    fp32 = [(4096, 4096), (11008, 4096), (4096, 11008), (8192, 8192), (14336, 4096), (16384, 16384)]
    fp16 = [(4096, 4096), (11008, 4096), (8192, 8192)]
    small = [(1024, 1024), (2048, 2048)]
    lut_rows = [(4096, 4096, b) for b in (1, 2, 3, 4)] + [(11008, 4096, 2), (11008, 4096, 4)]
    if quick:
        fp32, fp16, small, lut_rows = fp32[:4], fp16[:2], small[:1], [(4096, 4096, 2), (4096, 4096, 4)]
    out = [Case("dense", n, k, 32, "dequant-gemv") for n, k in fp32 + small]
    out += [Case("dense", n, k, 16, "dequant-gemv") for n, k in fp16 + small]
    out += [Case("dequant", n, k, 4, "dequant-gemv") for n, k in fp16[:2]]
    if lut:
        out += [Case("lut", n, k, b, "lut-gemv") for n, k, b in lut_rows]
    return out


class CacheFlusher:
    """Reads a buffer of twice the last-level cache so the next call finds its weights in DRAM."""

    def __init__(self) -> None:
        llc = cache_sizes().get(max(cache_sizes(), default=0), FALLBACK_LLC_BYTES)
        self.buf = np.arange(2 * llc // 4, dtype=np.float32)  # distinct pages: nothing a host could merge

    def __call__(self) -> None:
        float(np.max(self.buf))


def measure(run: Callable[[], Any], repeats: int, flush: CacheFlusher) -> float:
    """Median time (s) of ``run()`` with the cache flushed (untimed) before each of ``repeats`` calls."""
    run()  # compile
    times = []
    for _ in range(repeats):
        flush()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def model_bound(pred: dict[str, Any], hw: HardwareSpec) -> str:
    """archsim's bound: ``memory`` for a memory-bound core or when the system-bandwidth floor sets the time."""
    floor = pred["bytes_moved"] / hw.memory.bandwidth_Bps.value
    return "memory" if pred["bound"] == "memory" or pred["latency_s"] <= floor * 1.001 else pred["bound"]


def weight_bytes(case: Case) -> float:
    """Bytes of the weights the JAX kernel reads: fp32/fp16 dense, one uint8 code each (dequant), or the
    int32 four-bit indices of every bit plane (``kernels_ref.lut``: one byte per weight per plane)."""
    per_weight = {"dense": case.w_bits / 8, "dequant": 1.0, "lut": float(case.w_bits)}[case.kernel]
    return case.n * case.k * per_weight


def memory_bound(case: Case, seconds: float, bandwidth: float, llc: int) -> bool:
    """The kernel streams weights of >= 2x the LLC at >= half the DRAM bandwidth (see module doc)."""
    wb = weight_bytes(case)
    return wb >= 2 * llc and wb / seconds >= 0.5 * bandwidth


def preset_path(given: Path | None) -> Path:
    """``--preset``, else the host preset ``--hw host`` would use, else a fresh quick calibration."""
    if given is not None:
        return given
    found = find_host_preset()
    if found is not None:
        return found
    print("no host preset found: running `archsim calibrate host --quick` (writes ./host.yaml)", file=sys.stderr)
    return calibrate_host(quick=True, progress=lambda msg: print(f"  {msg}", file=sys.stderr))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Predicted vs measured GEMV time on this machine (host preset vs JAX).")
    p.add_argument("--preset", type=Path, help="host preset YAML (default: find one, or calibrate --quick)")
    p.add_argument("--threads", type=int, help="CPUs to use (default: all; 1 pins one core, XLA single-threaded)")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="fewer and smaller shapes")
    p.add_argument("--no-lut", dest="lut", action="store_false", help="skip the LUT-GEMV rows")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pin(args.threads)
    path = preset_path(args.preset)  # may calibrate, which starts JAX: after pin()
    import jax

    hw = load_hardware(path)
    cpu = hw.cpu
    if cpu is None:
        sys.exit(f"bench_host: {path} is a {hw.family} preset, not a CPU host preset")
    cores = int(cpu.cores.value)
    threads = args.threads or cores
    flush = CacheFlusher()
    llc = cache_sizes().get(max(cache_sizes(), default=0), FALLBACK_LLC_BYTES)
    bandwidth = hw.memory.bandwidth_Bps.value if threads > 1 else cpu.core_bandwidth_Bps.value
    rows: list[tuple[str, ...]] = []
    errors_mem: list[float] = []
    errors_all: list[float] = []
    skipped: list[str] = []
    for case in cases(args.quick, args.lut):
        run = case.runner()
        if run is None:
            skipped.append(f"{case.label} {case.n}x{case.k}: kernels_ref.lut not available")
            continue
        pred = evaluate_kernel("gemv", path, 1, case.n, case.k, w_bits=case.w_bits, mapper=case.mapper,
                               threads=threads)
        meas = measure(run, args.repeats, flush)
        del run
        err = (pred["latency_s"] - meas) / meas
        mem = memory_bound(case, meas, bandwidth, llc)
        errors_all.append(abs(err))
        if mem:
            errors_mem.append(abs(err))
        rows.append((case.label, f"{case.n}x{case.k}", case.mapper, f"{pred['latency_s'] * 1e3:.3f}",
                     f"{meas * 1e3:.3f}", f"{err * 100:+.1f} %", model_bound(pred, hw),
                     f"{weight_bytes(case) / meas / 1e9:.1f}", "yes" if mem else "no"))
        print(f"  {rows[-1][0]} {rows[-1][1]}: predicted {rows[-1][3]} ms, measured {rows[-1][4]} ms ({rows[-1][5]})",
              file=sys.stderr)

    print(f"\nMachine: {cpu_model_name()}, {threads} of {cores} cores "
          f"({platform.machine()}), Python {platform.python_version()}, JAX {jax.__version__}, "
          f"{datetime.date.today().isoformat()}. Preset: `{path}`.\n")
    head = ("JAX kernel", "N x K", "archsim mapper", "predicted ms", "measured ms", "error", "archsim bound",
            "weights GB/s", "memory-bound")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if errors_mem:
        print(f"\nMedian |error|, memory-bound rows ({len(errors_mem)}): {statistics.median(errors_mem) * 100:.1f} %"
              f" (max {max(errors_mem) * 100:.1f} %; acceptance: <= 30 %)")
    else:
        print("\nNo memory-bound rows: no kernel streamed >= 2x LLC at >= half the DRAM bandwidth.")
    if errors_all:
        print(f"Median |error|, all rows ({len(errors_all)}): {statistics.median(errors_all) * 100:.1f} %")
    for s in skipped:
        print(f"skipped: {s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
