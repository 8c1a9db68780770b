"""Pareto fronts over two metrics, with each metric's natural direction (time and energy lower, throughput
and tokens per dollar higher)."""

from __future__ import annotations

import numpy as np

from archsim.errors import InputError

DIRECTIONS = {"latency_s": "min", "tokens_per_s": "max", "energy_j": "min", "energy_per_token_j": "min",
              "tokens_per_usd": "max", "memory_bytes": "min", "weight_bytes": "min", "kv_bytes": "min",
              "capacity_bytes": "max", "flops": "min", "bytes_moved": "min"}


def direction(metric: str, override: str | None = None) -> str:
    """``min`` or ``max`` for a metric (``override`` wins); ``InputError`` for an unknown metric."""
    if override in ("min", "max"):
        return override
    if metric not in DIRECTIONS:
        raise InputError("metric", f"'{metric}' is not a sweep metric; metrics: {', '.join(DIRECTIONS)}.")
    return DIRECTIONS[metric]


def pareto_mask(x: np.ndarray, y: np.ndarray, x_dir: str = "min", y_dir: str = "max") -> np.ndarray:
    """True for the points no other point beats or ties on both metrics with one strictly better
    (``x_dir``/``y_dir`` say which way is better). NaNs are never on the front. O(n log n)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    xs = x if x_dir == "min" else -x
    ys = y if y_dir == "max" else -y  # maximise ys
    ok = ~(np.isnan(xs) | np.isnan(ys))
    idx = np.flatnonzero(ok)
    order = idx[np.lexsort((-ys[idx], xs[idx]))]  # best x first; ties: best y first
    mask = np.zeros(len(x), dtype=bool)
    best = -np.inf
    for i in order:
        if ys[i] > best:
            mask[i] = True
            best = ys[i]
    return mask
