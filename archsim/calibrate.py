"""Host calibration: measure this machine and write a ``host`` hardware preset (``archsim calibrate host``).

The preset describes *this machine running archsim's JAX kernels*: the CPU timing model of
``archsim.analytic.lut`` (spec lut_pim.md sec. 4) with every rate measured here instead of taken from a
paper, so ``archsim kernel gemv --hw host`` predicts what ``bench/bench_host.py`` then measures.

What is measured, and how (``quick=True`` uses smaller arrays and fewer repeats, ~10 s):

* cores: CPUs this process may run on (``os.sched_getaffinity``; logical CPUs, SMT siblings count).
* clock: ``cpuinfo_max_freq`` from sysfs, else the largest ``cpu MHz`` in ``/proc/cpuinfo``, else an
  assumed 3.0 GHz. The clock only converts rates to per-cycle values and back, so a wrong clock does
  not change any prediction (``R * f`` is what was measured).
* memory bandwidth: a read-only NumPy streaming kernel (``np.max`` over float32, which streams at the
  DRAM rate) over an array of at least 8x the last-level cache, median of repeats; once on one thread
  (``core_bandwidth_Bps``) and once split over one Python thread per core (``memory.bandwidth_Bps``;
  NumPy releases the GIL inside the reduction). A GEMV streams its weights read-only, so a read kernel
  is the matching one; copy and triad (STREAM conventions, write-allocate traffic not counted) are
  recorded in the notes.
* peaks: JAX ``a @ b`` on square matrices for fp32, fp16, bf16, and int8 x int8 -> int32.
* kernel rates, on one core (a child process pinned to one CPU with XLA's Eigen threading off) and on
  all cores: the dense JAX GEMV ``x @ W`` in fp32 (weights >= 2x the LLC, so the rate includes what
  streaming costs one core) and fp16 (XLA converts fp16 element by element on CPUs without fp16
  arithmetic: compute-bound at any size), a JAX dequantize-then-dot GEMV of 4-bit codes, and the
  ``kernels_ref.lut`` T-MAC LUT-GEMV per-token kernel if that module is present. One-core rates become
  the per-cycle rates of the model (``R_dq``, ``R_lut``); the one- vs all-core speed-ups give Amdahl's
  non-parallel fractions ``phi = (1/S - 1/n) / (1 - 1/n)`` (dense: geometric mean of the fp16 and
  dequant kernels' speed-ups; the fp32 GEMV's own speed-up is not used, being capped by bandwidth).
  Rates pool several LLM-like shapes, since XLA's multi-core scaling varies from shape to shape.

Bandwidth is sampled in three interleaved rounds of one- and all-thread runs (medians), because a
shared host's bandwidth drifts; on a 2-vCPU VM the measured ``phi`` still varies from run to run
(0.05-0.55 seen), which moves all-core predictions by up to ~25 %.

Fields software cannot measure (power, price) are ``assumption:`` with the reason. The preset is
written to ``./host.yaml`` by default; :func:`find_host_preset` is how ``--hw host`` finds it.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

HOST_ENV = "ARCHSIM_HOST_PRESET"  # path of a host preset; wins over ./host.yaml
HOST_FILE = "host.yaml"
FALLBACK_CLOCK_HZ = 3.0e9
FALLBACK_LLC_BYTES = 32 * 2**20
DEQUANT_GROUP = 128  # weights per fp32 scale in the JAX dequantize-then-dot kernel (as lut.WEIGHT_GROUP)
DEQUANT_BITS = 4  # codes of the JAX dequant kernel (one per uint8, values 0..15)
LUT_BITS = 2  # weight bits of the LUT calibration shape
SINGLE_THREAD_XLA_FLAG = "--xla_cpu_multi_thread_eigen=false"

Progress = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# finding the preset
# --------------------------------------------------------------------------------------------


def default_host_path() -> Path:
    """Where ``archsim calibrate host`` writes by default: ``./host.yaml`` in the current directory."""
    return Path.cwd() / HOST_FILE


def find_host_preset() -> Path | None:
    """The host preset to use for ``--hw host``: ``$ARCHSIM_HOST_PRESET`` if set, else ``./host.yaml``.

    Returns None when neither names an existing file (the caller then says to run
    ``archsim calibrate host``). An ``$ARCHSIM_HOST_PRESET`` naming a missing file also returns None
    rather than silently falling back to ``./host.yaml``.
    """
    env = os.environ.get(HOST_ENV)
    if env:
        path = Path(env).expanduser()
        return path if path.is_file() else None
    path = default_host_path()
    return path if path.is_file() else None


# --------------------------------------------------------------------------------------------
# machine facts (no JAX)
# --------------------------------------------------------------------------------------------


def core_count() -> int:
    """CPUs this process may run on (affinity mask), else ``os.cpu_count()``, at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _allowed_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def clock_hz() -> tuple[float, str]:
    """The core clock in Hz and how it was found (``"measured: ..."`` or ``"assumption: ..."``)."""
    sysfs = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    try:
        return float(sysfs.read_text().strip()) * 1e3, f"measured: {sysfs} (maximum core clock)"
    except (OSError, ValueError):
        pass
    try:
        mhz = [float(line.split(":")[1]) for line in Path("/proc/cpuinfo").read_text().splitlines()
               if line.lower().startswith("cpu mhz")]
        if mhz:
            return max(mhz) * 1e6, ("measured: largest 'cpu MHz' in /proc/cpuinfo (no cpufreq in sysfs; "
                                    "a VM reports its nominal clock)")
    except (OSError, ValueError, IndexError):
        pass
    return FALLBACK_CLOCK_HZ, (f"assumption: {FALLBACK_CLOCK_HZ / 1e9:g} GHz; the clock could not be read (rates are "
                               "measured per second and divided by this, so predictions do not depend on it)")


def cache_sizes() -> dict[int, int]:
    """Largest data/unified cache size in bytes per level (1, 2, 3 ...) of CPU 0, from sysfs."""
    out: dict[int, int] = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            if (index / "type").read_text().strip() == "Instruction":
                continue
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip().upper()
        except (OSError, ValueError):
            continue
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        try:
            size = int(text.rstrip("KMG")) * scale
        except ValueError:
            continue
        out[level] = max(out.get(level, 0), size)
    return out


def physical_memory_bytes() -> int | None:
    """Installed memory from ``sysconf`` (pages x page size), or None where unavailable."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def cpu_model_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


# --------------------------------------------------------------------------------------------
# timing helpers
# --------------------------------------------------------------------------------------------


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time (s) of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def stream_bandwidth(nbytes: int, threads: int = 1, kernel: str = "read", repeats: int = 5) -> float:
    """Achieved DRAM bandwidth (B/s) of a NumPy streaming kernel over ``nbytes`` of float32, median.

    ``kernel``: ``read`` (``np.max``; bytes read), ``copy`` (2x bytes, STREAM convention) or ``triad``
    (``c = a + s*b``; 3x bytes). ``threads > 1`` splits the arrays into one contiguous chunk per Python
    thread; NumPy releases the GIL inside these loops, so the threads stream concurrently.
    """
    n = max(1, nbytes // 4)
    # Distinct values on every page: mapped before timing, and no page a host could deduplicate.
    a = np.arange(n, dtype=np.float32)
    b = np.arange(n, dtype=np.float32) if kernel in ("copy", "triad") else None
    c = np.empty(n, np.float32) if kernel in ("copy", "triad") else None
    chunks = [(lo, hi) for lo, hi in zip(np.linspace(0, n, threads + 1, dtype=np.int64)[:-1],
                                         np.linspace(0, n, threads + 1, dtype=np.int64)[1:], strict=True)]

    def part(lo: int, hi: int) -> None:
        if kernel == "read":
            np.max(a[lo:hi])
        elif kernel == "copy":
            np.copyto(c[lo:hi], a[lo:hi])  # type: ignore[index]
        else:
            np.multiply(b[lo:hi], np.float32(3.0), out=c[lo:hi])  # type: ignore[index]
            np.add(c[lo:hi], a[lo:hi], out=c[lo:hi])  # type: ignore[index]

    moved = {"read": 1, "copy": 2, "triad": 3}[kernel] * n * 4
    if threads == 1:
        t = median_time(lambda: part(0, n), repeats)
        return moved / t
    with ThreadPoolExecutor(max_workers=threads) as pool:
        def run() -> None:
            for fut in [pool.submit(part, int(lo), int(hi)) for lo, hi in chunks]:
                fut.result()

        t = median_time(run, repeats)
    return moved / t


# --------------------------------------------------------------------------------------------
# the JAX kernels the host preset describes (the bench uses the same ones)
# --------------------------------------------------------------------------------------------


def jax_dense_gemv(n: int, k: int, dtype: str = "float32", seed: int = 0) -> Callable[[], Any]:
    """A zero-argument callable running the dense JAX GEMV ``x[1, k] @ W[k, n]`` once (blocking)."""
    import jax
    import jax.numpy as jnp

    dt = jnp.dtype(dtype)
    rng = np.random.default_rng(seed)
    w = jnp.asarray(rng.random((k, n), dtype=np.float32) - 0.5, dt)  # random: no page is deduplicable
    x = jnp.asarray(rng.random((1, k), dtype=np.float32), dt)
    fn = jax.jit(lambda x, w: x @ w)
    return lambda: fn(x, w).block_until_ready()


def jax_dequant_gemv(n: int, k: int, seed: int = 0) -> Callable[[], Any]:
    """A callable running a JAX dequantize-then-dot GEMV: 4-bit codes (one per uint8) x fp32 group scales.

    ``y = x @ ((codes - 8) * scale)``, one fp32 scale per 128 weights along K: the llama.cpp pattern
    written the plain JAX way (XLA converts the codes element by element, so it is compute-bound).
    """
    import jax
    import jax.numpy as jnp

    if k % DEQUANT_GROUP:
        raise ValueError(f"k must be a multiple of {DEQUANT_GROUP}, got {k}")
    codes = jnp.asarray(np.random.default_rng(seed).integers(0, 2**DEQUANT_BITS, (k, n), dtype=np.uint8))
    scales = jnp.full((k // DEQUANT_GROUP, n), 0.01, jnp.float32)
    x = jnp.asarray(np.random.default_rng(seed + 1).random((1, k), dtype=np.float32))

    @jax.jit
    def fn(x: Any, codes: Any, scales: Any) -> Any:
        w = (codes.astype(jnp.float32) - 2.0 ** (DEQUANT_BITS - 1)).reshape(k // DEQUANT_GROUP, DEQUANT_GROUP, n)
        return x @ (w * scales[:, None, :]).reshape(k, n)

    return lambda: fn(x, codes, scales).block_until_ready()


def jax_lut_gemv(m: int, k: int, bits: int, seed: int = 0) -> Callable[[], Any] | None:
    """A callable running the per-token part of ``kernels_ref.lut``'s T-MAC LUT-GEMV, or None if absent.

    The weight side (bit planes, 4-bit indices, coefficients) is offline work in T-MAC and is prepared
    once here with ``kernels_ref.lut``'s own helper; the timed part is its per-token kernel (tables,
    int8 table quantization, lookups, block sums, scaling), jitted with XLA's default optimization
    (``kernels_ref`` compiles at ``-O0`` to keep its tests fast). Returns None when ``kernels_ref.lut``
    or the pieces used here do not exist.
    """
    try:
        import jax
        import jax.numpy as jnp

        from kernels_ref import lut
        from kernels_ref.quant import QuantizedWeights
    except ImportError:
        return None
    if not all(hasattr(lut, name) for name in ("lut_gemv", "_weight_side", "_lut_core")):
        return None
    group, act_group, kfactor = 128, 64, 16
    rng = np.random.default_rng(seed)
    qw = QuantizedWeights(rng.integers(0, 2**bits, (m, k), dtype=np.uint8), bits, group,
                          scales=np.full((m, k // group), 0.01, np.float32))
    kf = min(kfactor, group // 4, act_group // 4)
    core = jax.jit(lut._lut_core, static_argnames=("int8", "kf", "tpg", "half_even"))
    try:  # private helpers of another module: if their signatures change, report "not available"
        idx, coef, nu = lut._weight_side(qw, "general", kf)
        args = (jnp.asarray(idx), jnp.asarray(coef, jnp.float32), jnp.asarray(nu, jnp.float32),
                jnp.asarray(rng.standard_normal((1, k)), jnp.float32))
        core(*args, int8=True, kf=kf, tpg=act_group // 4, half_even=True).block_until_ready()
    except (TypeError, ValueError):
        return None
    return lambda: core(*args, int8=True, kf=kf, tpg=act_group // 4, half_even=True).block_until_ready()


def lookups(m: int, k: int, bits: int) -> int:
    """Table lookups of one T-MAC GEMV token: ``b * M * K / 4`` (spec 2.6)."""
    return bits * m * k // 4


def gemm_ops_per_s(dtype: str, n: int, repeats: int) -> float:
    """JAX ``a @ b`` on ``n x n`` matrices in OP/s (2 n^3 per product); int8 accumulates in int32."""
    import jax
    import jax.numpy as jnp

    dt = jnp.dtype(dtype)
    a = jnp.ones((n, n), dt)
    if dt == jnp.int8:
        fn = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.int32))
    else:
        fn = jax.jit(lambda a, b: a @ b)
    t = median_time(lambda: fn(a, a).block_until_ready(), repeats)
    return 2.0 * n**3 / t


# --------------------------------------------------------------------------------------------
# measurement plans
# --------------------------------------------------------------------------------------------


Shape = tuple[int, int]


def _sizes(quick: bool, llc: int) -> dict[str, Any]:
    """Shapes (``N x K``) and repeats per kernel.

    fp32 GEMV weights are at least 2x (quick) / 4x the LLC so they stream from DRAM. The compute-bound
    kernels use two or three LLM-like shapes: XLA splits work unevenly on some shapes, so one shape's
    multi-core speed-up is a noisy estimate of Amdahl's fraction; their rates are pooled (total work
    over total time).
    """
    side = 4096
    while 4 * side * side < (2 if quick else 4) * llc:
        side += 1024
    return {
        "repeats": 5 if quick else 9,
        "gemm_n": 1024 if quick else 2048,
        "fp32_gemv": [(side, side)],
        "fp16_gemv": [(4096, 4096), (8192, 4096)] if quick else [(4096, 4096), (11008, 4096), (4096, 11008)],
        "dequant_gemv": [(4096, 4096)] if quick else [(4096, 4096), (11008, 4096)],
        "lut_gemv": [(2048, 2048), (4096, 2048)] if quick else [(2048, 2048), (4096, 4096), (8192, 4096)],
    }


def _pooled(runner: Callable[[int, int], Callable[[], Any] | None], work: Callable[[int, int], float],
            shapes: list[Shape], repeats: int) -> float | None:
    """Total work over total median time across ``shapes`` (work per second), None if a runner is absent."""
    done = spent = 0.0
    for n, k in shapes:
        run = runner(n, k)
        if run is None:
            return None
        spent += median_time(run, repeats)
        done += work(n, k)
        del run
    return done / spent


def measure_kernels(quick: bool) -> dict[str, float]:
    """Kernel rates on whatever CPUs this process may use: weights/s, lookups/s (see module doc)."""
    caches = cache_sizes()
    sz = _sizes(quick, caches.get(max(caches, default=0), FALLBACK_LLC_BYTES))
    reps = sz["repeats"]
    weights = lambda n, k: float(n * k)  # noqa: E731
    rates = {
        "fp32_wps": _pooled(lambda n, k: jax_dense_gemv(n, k, "float32"), weights, sz["fp32_gemv"], reps),
        "fp16_wps": _pooled(lambda n, k: jax_dense_gemv(n, k, "float16"), weights, sz["fp16_gemv"], reps),
        "dequant_wps": _pooled(jax_dequant_gemv, weights, sz["dequant_gemv"], reps),
        "lut_lps": _pooled(lambda m, k: jax_lut_gemv(m, k, LUT_BITS), lambda m, k: float(lookups(m, k, LUT_BITS)),
                           sz["lut_gemv"], reps),
    }
    return {key: v for key, v in rates.items() if v is not None}


def _child_main() -> None:
    """Entry of the one-core child process: print :func:`measure_kernels` as JSON on the last line."""
    quick = sys.argv[-1] == "quick"
    print(json.dumps(measure_kernels(quick)))


def measure_single_core(quick: bool) -> dict[str, float]:
    """:func:`measure_kernels` in a child process pinned to one CPU with XLA's Eigen threading off.

    JAX sizes its thread pool at start-up, so one-core rates need a fresh process: the child sets its
    affinity before importing anything else. Raises RuntimeError if the child fails.
    """
    cpu = _allowed_cpus()[0]
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {SINGLE_THREAD_XLA_FLAG}".strip()
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    code = ("import os\n"
            f"if hasattr(os, 'sched_setaffinity'): os.sched_setaffinity(0, {{{cpu}}})\n"
            "from archsim.calibrate import _child_main\n_child_main()\n")
    proc = subprocess.run([sys.executable, "-c", code, "quick" if quick else "full"], env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"one-core measurement failed: {tail[0]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def serial_fraction(speedup: float, n: int) -> float:
    """Amdahl's non-parallel fraction from a speed-up ``S`` on ``n`` cores, clamped to [0.01, 1]."""
    if n <= 1 or speedup <= 0:
        return 1.0
    phi = (1 / speedup - 1 / n) / (1 - 1 / n)
    return float(min(1.0, max(0.01, phi)))


# --------------------------------------------------------------------------------------------
# the preset
# --------------------------------------------------------------------------------------------


def _num(x: float) -> float:
    """Four significant digits: measurements are not more precise than that (counts stay exact)."""
    return float(x) if float(x).is_integer() and abs(x) < 2**53 else float(f"{x:.4g}")


class _Flow(dict):
    """A ``{value, source}`` pair: dumped on one line, like the bundled presets."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True))


@dataclass
class HostMeasurements:
    """Everything :func:`measure_host` found; rates in work per second (weights, lookups, OPs, bytes)."""

    quick: bool
    date: str
    model: str
    cores: int
    clock_hz: float
    clock_how: str
    caches: dict[int, int]
    memory_bytes: int | None
    stream_bytes: int
    repeats: int
    bw_core: float
    bw_sys: float
    copy_bw: float
    triad_bw: float
    gemm_n: int
    peaks: dict[str, float]
    shapes: dict[str, list[Shape]]
    all_cores: dict[str, float]
    one_core: dict[str, float]
    jax_version: str
    fallbacks: list[str] = field(default_factory=list)

    @property
    def llc_level(self) -> int:
        return max(self.caches, default=0)

    @property
    def llc(self) -> int:
        return self.caches.get(self.llc_level, FALLBACK_LLC_BYTES)


def measure_host(quick: bool = False, progress: Progress | None = None) -> HostMeasurements:
    """Run every measurement of the module docstring on this machine (quick: ~10 s, full: ~1 min)."""
    say = progress or (lambda _msg: None)
    cores = core_count()
    f, f_how = clock_hz()
    caches = cache_sizes()
    llc = caches.get(max(caches, default=0), FALLBACK_LLC_BYTES)
    mem = physical_memory_bytes()
    model = cpu_model_name()
    say(f"{model}: {cores} cores, clock {f / 1e9:.2f} GHz, LLC {llc / 2**20:.0f} MiB")

    sz = _sizes(quick, llc)
    reps = sz["repeats"]
    stream = max((8 if quick else 16) * llc, (256 if quick else 1024) * 2**20)
    if mem:
        stream = min(stream, mem // 8)
    say(f"memory bandwidth: read-streaming {stream / 2**20:.0f} MiB on 1 and {cores} threads")
    # Interleaved rounds: a shared host's bandwidth drifts, so 1- and n-thread runs sample the same moments.
    rounds = [(stream_bandwidth(stream, 1, "read", reps),
               stream_bandwidth(stream, cores, "read", reps) if cores > 1 else 0.0) for _ in range(3)]
    bw_core = statistics.median(r[0] for r in rounds)
    bw_sys = max(bw_core, statistics.median(r[1] for r in rounds))
    copy_bw = stream_bandwidth(stream, 1, "copy", reps)
    triad_bw = stream_bandwidth(stream, 1, "triad", reps)
    say(f"  one thread {bw_core / 1e9:.1f} GB/s, {cores} threads {bw_sys / 1e9:.1f} GB/s "
        f"(copy {copy_bw / 1e9:.1f}, triad {triad_bw / 1e9:.1f} GB/s on one thread)")

    import jax

    gn = sz["gemm_n"]
    say(f"peak GEMM throughput with JAX {jax.__version__} ({gn}x{gn}: fp32, fp16, bf16, int8)")
    peaks = {dt: gemm_ops_per_s(name, gn, reps) for dt, name in
             (("fp32", "float32"), ("fp16", "float16"), ("bf16", "bfloat16"), ("int8", "int8"))}
    say("  " + ", ".join(f"{dt} {v / 1e9:.0f} GOP/s" for dt, v in peaks.items()))

    say(f"GEMV kernel rates on {cores} cores (fp32, fp16, 4-bit dequant, LUT)")
    all_rates = measure_kernels(quick)
    fallbacks: list[str] = []
    if cores > 1:
        say("GEMV kernel rates on one core (child process pinned to one CPU)")
        try:
            one = measure_single_core(quick)
        except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError, OSError) as exc:
            say(f"  {exc}; using all-core rates / cores")
            fallbacks.append(f"one-core kernel rates are all-core rates / {cores} ({exc})")
            one = {key: v / cores for key, v in all_rates.items()}
    else:
        one = dict(all_rates)
    say("  one core: " + ", ".join(f"{key} {v / 1e9:.3g} G/s" for key, v in one.items()))
    return HostMeasurements(
        quick=quick, date=_dt.date.today().isoformat(), model=model, cores=cores, clock_hz=f, clock_how=f_how,
        caches=caches, memory_bytes=mem, stream_bytes=stream, repeats=reps, bw_core=bw_core, bw_sys=bw_sys,
        copy_bw=copy_bw, triad_bw=triad_bw, gemm_n=gn, peaks=peaks,
        shapes={key: v for key, v in sz.items() if key.endswith("_gemv")}, all_cores=all_rates, one_core=one,
        jax_version=jax.__version__, fallbacks=fallbacks,
    )


def host_preset(m: HostMeasurements) -> dict[str, Any]:
    """The ``host`` preset (a plain dict in the hardware schema's layout) built from measurements.

    Per-cycle rates are one-core rates divided by the clock; Amdahl fractions come from the one- vs
    all-core speed-ups; the SIMD pipe count is the fp32 GEMM peak in 128-bit FMA units per core-cycle.
    """
    tag = f"on {m.date} by archsim calibrate host{' --quick' if m.quick else ''}"
    f, n, one, every = m.clock_hz, m.cores, m.one_core, m.all_cores

    def measured(value: float, how: str) -> _Flow:
        return _Flow(value=_num(value), source=f"measured: {how} {tag}")

    def assumed(value: float, why: str) -> _Flow:
        return _Flow(value=_num(value), source=f"assumption: {why}")

    def shapes(key: str) -> str:
        return ", ".join(f"{a}x{b}" for a, b in m.shapes[key])

    def amdahl(keys: tuple[str, ...], what: str, default: float) -> _Flow:
        if n <= 1 or any(key not in every or key not in one for key in keys):
            return assumed(default, f"no multi-core speed-up of {what} to measure here; spec lut_pim.md 4.3 default")
        # Geometric mean over kernels: XLA's multi-core scaling differs by kernel and shape.
        speedup = math.prod(every[key] / one[key] for key in keys) ** (1 / len(keys))
        return measured(serial_fraction(speedup, n), f"{what} speed-up {speedup:.2f}x from 1 to {n} cores; "
                                                     "phi = (1/S - 1/n)/(1 - 1/n)")

    pipes = m.peaks["fp32"] / (n * f * 8)  # a 128-bit FMA does 4 fp32 lanes x 2 OPs
    q_how = (f"JAX dequantize-then-dot GEMV ({DEQUANT_BITS}-bit codes in uint8, fp32 scale per {DEQUANT_GROUP}) "
             f"{shapes('dequant_gemv')} on one core: {one['dequant_wps'] / 1e9:.3g} G weights/s / clock (the "
             "same JAX code for every bit width)")
    dequant = {
        "q2_k": measured(one["dequant_wps"] / f, q_how),
        "q3_k": measured(one["dequant_wps"] / f, q_how),
        "q4_0": measured(one["dequant_wps"] / f, q_how),
        "fp16": measured(one["fp16_wps"] / f, f"JAX fp16 GEMV x@W {shapes('fp16_gemv')} on one core: "
                         f"{one['fp16_wps'] / 1e9:.3g} G weights/s / clock (XLA converts fp16 element by element)"),
        "fp32": measured(one["fp32_wps"] / f, f"JAX fp32 GEMV x@W {shapes('fp32_gemv')} (weights > LLC) on one "
                         f"core: {one['fp32_wps'] / 1e9:.3g} G weights/s / clock"),
    }
    lut_what = f"kernels_ref.lut T-MAC per-token kernel ({LUT_BITS}-bit {shapes('lut_gemv')}, int8 tables)"
    if "lut_lps" in one:
        o_lut = measured(pipes * 16 / (one["lut_lps"] / f), f"{lut_what} on one core: {one['lut_lps'] / 1e9:.3g} "
                         "G lookups/s; o_lut = n_pipe x 16 / lookups per cycle")
    else:
        o_lut = assumed(3.5, "kernels_ref.lut is not available to time; the M2 value of spec lut_pim.md 4.1")
    stream_how = f"NumPy read-stream (np.max over {m.stream_bytes / 2**20:.0f} MiB float32), median of {m.repeats}"
    gemm = f"{m.gemm_n}x{m.gemm_n} on {n} cores"
    cpu: dict[str, Any] = {
        "cores": measured(n, "CPUs in this process's affinity mask (logical CPUs)"),
        "simd_pipes": measured(pipes, f"fp32 GEMM peak / (cores x clock x 8 OP per 128-bit FMA) = "
                               f"{m.peaks['fp32'] / 1e9:.0f}e9 / ({n} x {f / 1e9:.2f}e9 x 8)"),
        "lut_ops_per_16": o_lut,
        "build_cycles_per_elem": assumed(1.0, "table build per activation element cannot be told apart from the "
                                         "per-call overhead by timing; spec lut_pim.md 4.1 default"),
        "core_bandwidth_Bps": measured(m.bw_core, f"{stream_how}, one thread"),
        "dequant_weights_per_cycle": dequant,
        "serial_fraction_lut": amdahl(("lut_lps",), lut_what, 0.2),
        "serial_fraction_dense": amdahl(("fp16_wps", "dequant_wps"), f"JAX fp16 GEMV {shapes('fp16_gemv')} and "
                                        f"dequant GEMV {shapes('dequant_gemv')} (geometric mean)", 0.05),
    }
    if 2 in m.caches:
        cpu["l2_bytes"] = measured(m.caches[2], "sysfs cpu0 cache level 2 size")
    assumptions = ["describes this machine running archsim's JAX kernels (dense x@W, dequantize-then-dot, "
                   "kernels_ref.lut), not llama.cpp or T-MAC; every rate is per core per cycle of the clock above",
                   *m.fallbacks]
    if "lut_lps" not in one:
        assumptions.append("LUT-GEMV rates are not measured (kernels_ref.lut absent): lut-gemv predictions are M2-like")
    return {
        "id": "host",
        "name": f"This machine: {m.model} ({n} cores)",
        "family": "cpu",
        "clock_hz": _Flow(value=_num(f), source=f"{m.clock_how} {tag}" if m.clock_how.startswith("measured")
                          else m.clock_how),
        "peaks_ops": {dt: measured(v, f"JAX {dt} GEMM {gemm}" + (" (int8 x int8 -> int32)" if dt == "int8" else ""))
                      for dt, v in m.peaks.items()},
        "memory": {
            "capacity_bytes": (measured(m.memory_bytes, "sysconf physical pages x page size") if m.memory_bytes
                               else assumed(16e9, "physical memory not readable here; a typical desktop")),
            "bandwidth_Bps": measured(m.bw_sys, f"{stream_how}, {n} threads"),
        },
        "onchip_buffer_bytes": (measured(m.llc, f"sysfs cpu0 cache level {m.llc_level} size") if m.caches
                                else assumed(m.llc, "cache sizes not readable from sysfs; a typical server LLC")),
        "power": {"tdp_w": assumed(10.0 * n, "software cannot measure package power portably; ~10 W per core "
                                             "under a streaming load (edit for energy studies)")},
        "price_usd": assumed(150.0 * n, "software cannot know a price; ~USD 150 per core as a share of a server or "
                                        "desktop (edit for tokens-per-dollar studies)"),
        "cpu": cpu,
        "assumptions": assumptions,
        "notes": [
            f"calibrated {tag} with Python {platform.python_version()}, NumPy {np.__version__}, JAX {m.jax_version}",
            f"one-thread streaming: read {m.bw_core / 1e9:.1f} GB/s, copy {m.copy_bw / 1e9:.1f} GB/s, triad "
            f"{m.triad_bw / 1e9:.1f} GB/s (STREAM byte counts); {n}-thread read {m.bw_sys / 1e9:.1f} GB/s",
            "all-core kernel rates: " + ", ".join(f"{key} {v / 1e9:.3g} G/s" for key, v in every.items()),
            "one-core kernel rates: " + ", ".join(f"{key} {v / 1e9:.3g} G/s" for key, v in one.items()),
        ],
    }


def calibrate_host(out_path: Path | None = None, quick: bool = False, progress: Progress | None = None) -> Path:
    """Measure this machine and write a ``host`` CPU preset (YAML) to ``out_path`` (default ``./host.yaml``).

    Every value carries ``source: "measured: ... on <date> by archsim calibrate host"``, or
    ``"assumption: ..."`` with the reason for what software cannot measure (power, price) or what a
    measurement could not supply on this machine. The text is validated with the hardware schema
    before it is written (``InputError`` if it would not load); returns the path. ``quick=True`` takes
    about 10 s (smaller arrays, fewer repeats), the full run under a minute; ``progress`` receives one
    line per step.
    """
    from archsim.hardware import parse_hardware

    out = Path(out_path) if out_path is not None else default_host_path()
    say = progress or (lambda _msg: None)
    spec = host_preset(measure_host(quick, say))
    text = ("# Written by `archsim calibrate host` (archsim/calibrate.py): this machine, measured. Re-run to refresh.\n"
            + yaml.dump(spec, Dumper=_Dumper, sort_keys=False, width=1000, default_flow_style=False))
    parse_hardware(text, str(out))  # refuse to write a preset the registry would reject
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    say(f"wrote {out}")
    return out
