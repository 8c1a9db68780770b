"""End-to-end sweep throughput (expansion, keys, evaluation, constraints and DuckDB writes): one worker vs two
local processes vs a two-process Dask LocalCluster, on the same spec, side by side in one run.

Run: ``.venv/bin/python bench/bench_sweep_workers.py [--spec examples/sweeps/gpu-1m.yaml] [--repeats 1]``.
Prints a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

from archsim.sweep.runner import run_sweep
from archsim.sweep.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, action="append",
                        help="sweep spec(s) (default: gpu-1m.yaml, vectorized, and gpu-kernels.yaml, per point)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    examples = ROOT / "examples" / "sweeps"
    specs = args.spec or [examples / "gpu-1m.yaml", examples / "gpu-kernels.yaml"]
    for path in specs:
        bench_spec(path, args.repeats)


def bench_spec(path: Path, repeats: int) -> None:
    """One table: the spec under each executor."""
    spec = load_spec(path)
    setups = {"1 worker (inline)": {"workers": 1}, "2 local processes": {"workers": 2},
              "Dask LocalCluster, 2 processes": {"dask_local": 2}}
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}; "
          f"spec {path.name}\n")
    print("| executor | points | median wall (s) | points/s | vs 1 worker |")
    print("|---|---|---|---|---|")
    base = None
    for name, kwargs in setups.items():
        walls = []
        points = 0
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                out = run_sweep(spec, Path(tmp) / "s.duckdb", **kwargs)  # type: ignore[arg-type]
                walls.append(time.perf_counter() - t0)
                points = out.written
        wall = statistics.median(walls)
        base = base or wall
        print(f"| {name} | {points:,} | {wall:.1f} | {points / wall:,.0f} | {base / wall:.2f}x |")
    print()


if __name__ == "__main__":
    main()
