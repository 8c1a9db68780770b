"""LUT-LLM activation-weight vector co-quantization and 2-D table lookups (spec ``lut_pim.md`` 6).

A linear layer ``y = W @ x`` with ``W [M, D]`` (M output columns, D = K input features) is cut into
sub-vectors of length ``v = 2`` along D: position ``s`` in ``0 .. S - 1`` (``S = D / v``) holds the
activation sub-vector ``x_s = x[v*s : v*s + v]`` and, per output column m, the weight vector
``W[m, v*s : v*s + v]`` (spec 6.1).

* **Activations** (runtime): each ``x_s`` is replaced by the nearest of ``c_a = 64`` fp32 centroids by
  Chebyshev (L-infinity) distance, ties to the lowest index (:func:`chebyshev_search`).
* **Weights** (offline): each weight vector is replaced by one of ``c_w = 16`` centroids (a 4-bit index
  per 2 weights); a codebook is shared by a group of ``G = 512`` vectors (:func:`fit_weight_codebooks`).
* **Tables**: per (activation codebook, weight codebook) pair ``LUT[i][j] = <A[i], B[j]>`` - 64 x 16
  entries, int8 in the engine (:func:`build_tables`, :func:`quantize_tables_int8`).
* **Layer**: centroid search, then per output column read ``LUT[i_s][w_idx(s, m)]`` and accumulate
  (integers for int8 tables), then dequantize (:func:`lut_linear`). Multiplies happen only in table builds.

Assumptions (the published material fixes neither, spec 6.1 "exact codebook-sharing scope"):

* **Weight group** [assumption]: a group is a tile of ``group_k`` consecutive sub-vector positions (along
  D) by ``group_m = group / group_k`` consecutive output columns (along M); tile ``(kb, mb)`` covers
  positions ``kb*group_k .. kb*group_k + group_k - 1`` and columns ``mb*group_m .. mb*group_m + group_m - 1``.
  The default ``group_k = 1`` (512 columns at one position) is the shape spec 6.1/6.2 imply: every table
  then sees exactly one activation index per token, so ``build_row`` costs ``c_w*v`` MACs per table per
  token and one 2D-PSum stage reads one LUT row and picks many columns.
* **Activation codebooks** [assumption]: ``P`` codebooks ``[P, c_a, v]`` along D, codebook ``p`` shared by
  the ``S / P`` consecutive positions ``p*S/P ..``; ``P = 1`` is one codebook for the whole layer, ``P = S``
  is the per-position ``A_s`` of spec 6.1's notation. A weight tile must lie inside one activation span
  (``group_k`` divides ``S / P``), so each weight codebook pairs with exactly one activation codebook and
  the layer has ``N_tab = D*M / (v*G)`` tables.
* **int8 scale scope**: spec 6.1 dequantizes once per output with a per-tensor scale, which is only exact
  when every table of the layer shares one scale; :func:`lut_linear` therefore defaults to
  ``table_scale="tensor"`` (M dequant FMAs per token). ``"table"`` (one symmetric scale per table, the
  default of :func:`quantize_tables_int8`) accumulates integers per table and costs one FMA per
  (column, tile along D).

Offline work (codebook fitting) is NumPy float64 with fp32 outputs; the per-token work (search, tables,
lookups) is jitted JAX. The compute dtype is the promoted float dtype of the inputs, so a golden test can
run in float64 under ``jax.enable_x64``. This package must not import ``archsim``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from kernels_ref._jit import fast_jit as _jit

__all__ = [
    "SCALE_SCOPES",
    "TABLE_KINDS",
    "TABLE_POLICIES",
    "VQWeights",
    "bits_per_weight",
    "build_tables",
    "chebyshev_search",
    "fit_activation_codebooks",
    "fit_weight_codebooks",
    "lut_accumulate",
    "lut_linear",
    "op_counts",
    "quantize_activations",
    "quantize_tables_int8",
    "t_mem_bytes",
]

V_DEFAULT, C_A_DEFAULT, C_W_DEFAULT, G_DEFAULT = 2, 64, 16, 512  # spec 6.1 defaults
TABLE_POLICIES = ("build_full", "build_row", "stream")  # spec 6.1 [assumption]
TABLE_KINDS = ("float", "int8")
SCALE_SCOPES = ("table", "tensor")
CODEBOOK_FORMS = ("paper", "vector")  # spec 6.3: the paper's codebook term, and the flagged alternative
INT8_MAX = 127
MAX_CENTROIDS = 256  # indices fit a uint8


# --------------------------------------------------------------------------------------------
# argument checks (ValueErrors naming the field, one sentence)
# --------------------------------------------------------------------------------------------


def _pos_int(value: object, name: str, lo: int = 1, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo or (hi and value > hi):
        rng = f"in {lo}..{hi}" if hi else f">= {lo}"
        raise ValueError(f"{name} must be an integer {rng}, got {value!r}")
    return int(value)


def _c_w(c_w: object) -> int:
    c_w = _pos_int(c_w, "c_w", 2, MAX_CENTROIDS)
    if c_w & (c_w - 1):
        raise ValueError(f"c_w must be a power of two (log2(c_w)-bit indices), got {c_w}")
    return c_w


def _divides(part: int, whole: int, name: str, whole_name: str) -> None:
    if whole % part:
        raise ValueError(f"{name} = {part} must divide {whole_name} = {whole}")


def _float_dtype(*dtypes: np.dtype) -> np.dtype:
    """Promoted float dtype of the inputs, canonicalised (float64 only when jax x64 is enabled)."""
    dt = np.result_type(*[d if np.issubdtype(d, np.floating) else np.float32 for d in dtypes])
    return jax.dtypes.canonicalize_dtype(dt)


def _finite(arr: ArrayLike, name: str, min_ndim: int) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim < min_ndim or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name} must be a real array with at least {min_ndim} dimensions, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must contain only finite values")
    return a


def _act_codebook(centroids: ArrayLike, name: str = "act_codebook") -> np.ndarray:
    """Activation codebooks as ``[P, c_a, v]`` (a ``[c_a, v]`` array is one codebook, ``P = 1``)."""
    c = _finite(centroids, name, 2)
    if c.ndim == 2:
        c = c[None]
    if c.ndim != 3 or c.shape[1] < 1 or c.shape[2] < 1:
        raise ValueError(f"{name} must have shape [c_a, v] or [P, c_a, v] with c_a, v >= 1, got {c.shape}")
    if c.shape[1] > MAX_CENTROIDS:
        raise ValueError(f"{name} must hold at most {MAX_CENTROIDS} centroids (c_a), got {c.shape[1]}")
    return c


def _activations(x: ArrayLike, v: int, n_codebooks: int) -> tuple[np.ndarray, int]:
    """``x`` as ``[N, D]`` plus the number of sub-vector positions; checks D against v and P."""
    a = _finite(x, "x", 1)
    if a.ndim > 2:
        raise ValueError(f"x must be a [D] vector or an [N, D] matrix, got shape {a.shape}")
    d = a.shape[-1]
    if d == 0 or d % v:
        raise ValueError(f"x must have D (last dimension) a positive multiple of v = {v}, got D = {d}")
    s = d // v
    if s % n_codebooks:
        raise ValueError(f"act_codebook count P = {n_codebooks} must divide the D / v = {s} sub-vector positions")
    return np.atleast_2d(a), s


# --------------------------------------------------------------------------------------------
# weight container
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class VQWeights:
    """Vector-quantized ``[M, D]`` weights: per-vector indices plus one codebook per group (spec 6.1).

    * ``indices [M, S]`` (uint8, ``S = D / v``): ``indices[m, s]`` picks the centroid replacing
      ``W[m, v*s : v*s + v]``.
    * ``codebooks [S / group_k, M / group_m, c_w, v]`` (float): codebook of the tile ``(kb, mb)`` holding
      positions ``kb*group_k ..`` and columns ``mb*group_m ..`` (module docstring: the group assumption).
    * ``group`` vectors per codebook, ``group_k`` positions by ``group_m = group / group_k`` columns.

    The constructor validates every shape and index and raises ValueError naming the bad field.
    """

    indices: np.ndarray
    codebooks: np.ndarray
    group: int = G_DEFAULT
    group_k: int = 1

    def __post_init__(self) -> None:
        cb = _finite(self.codebooks, "codebooks", 4)
        if cb.ndim != 4:
            raise ValueError(f"codebooks must have shape [S/group_k, M/group_m, c_w, v], got {cb.shape}")
        _c_w(cb.shape[2])
        if cb.shape[3] < 1:
            raise ValueError(f"codebooks must have v >= 1 (last dimension), got shape {cb.shape}")
        idx = np.asarray(self.indices)
        if idx.ndim != 2 or idx.size == 0:
            raise ValueError(f"indices must be a non-empty 2-D [M, D/v] array, got shape {idx.shape}")
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"indices must hold integers, got dtype {idx.dtype}")
        if idx.min() < 0 or idx.max() >= cb.shape[2]:
            raise ValueError(f"indices must lie in [0, {cb.shape[2] - 1}] for c_w = {cb.shape[2]}")
        group = _pos_int(self.group, "group")
        group_k = _pos_int(self.group_k, "group_k")
        _divides(group_k, group, "group_k", "group")
        m, s = idx.shape
        _divides(group_k, s, "group_k", "D / v")
        _divides(group // group_k, m, "group / group_k", "M")
        want = (s // group_k, m // (group // group_k), cb.shape[2], cb.shape[3])
        if cb.shape != want:
            raise ValueError(f"codebooks must have shape {want} for indices {idx.shape}, got {cb.shape}")
        if not np.issubdtype(cb.dtype, np.floating):
            cb = cb.astype(np.float32)
        object.__setattr__(self, "indices", idx.astype(np.uint8))
        object.__setattr__(self, "codebooks", cb)
        object.__setattr__(self, "group", group)
        object.__setattr__(self, "group_k", group_k)

    @property
    def v(self) -> int:
        """Sub-vector length."""
        return self.codebooks.shape[3]

    @property
    def c_w(self) -> int:
        """Centroids per weight codebook."""
        return self.codebooks.shape[2]

    @property
    def group_m(self) -> int:
        """Output columns per group, ``group / group_k``."""
        return self.group // self.group_k

    @property
    def shape(self) -> tuple[int, int]:
        """``(M, D)``."""
        m, s = self.indices.shape
        return m, s * self.v

    @property
    def n_tables(self) -> int:
        """Codebooks (hence tables) of the layer, ``N_tab = D*M / (v*G)`` (spec 6.1)."""
        return self.codebooks.shape[0] * self.codebooks.shape[1]

    def dequantize(self, dtype: type | np.dtype = np.float32) -> np.ndarray:
        """Dense ``[M, D]`` centroid-quantized weights ``W_q[m, v*s + t] = B_(kb, mb)[indices[m, s]][t]``."""
        m, s = self.indices.shape
        kb = np.arange(s) // self.group_k
        mb = np.arange(m) // self.group_m
        wq = self.codebooks[kb[None, :], mb[:, None], self.indices]  # [M, S, v]
        return wq.reshape(m, s * self.v).astype(dtype)


# --------------------------------------------------------------------------------------------
# codebook fitting (offline, NumPy float64)
# --------------------------------------------------------------------------------------------


def _dist(points: np.ndarray, cents: np.ndarray, metric: str) -> np.ndarray:
    """``[B, n, k]`` distances of ``points [B, n, v]`` to ``cents [B, k, v]`` (squared L2 or L-infinity)."""
    out = None
    for t in range(points.shape[-1]):  # one component at a time: contiguous [B, n, k] slabs, no 4-D temporary
        diff = points[:, :, None, t] - cents[:, None, :, t]
        term = diff * diff if metric == "l2" else np.abs(diff)
        out = term if out is None else (out + term if metric == "l2" else np.maximum(out, term))
    return out


def _lloyd(data: np.ndarray, k: int, iters: int, metric: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic Lloyd k-means on every group of ``data [B, n, v]``: ``(centroids [B, k, v], labels [B, n])``.

    Init: ``k`` distinct points per group chosen by ``np.random.default_rng(seed)``. Each iteration assigns
    every point to its nearest centroid under ``metric`` (ties: the lowest index) and moves each centroid to
    the mean of its points; an empty cluster keeps its centroid. Stops early when no label changes.
    Groups are processed in chunks so temporaries stay ~ 2 MB (cache-sized) whatever the layer size.
    """
    b, n, v = data.shape
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((b, n)), axis=1, kind="stable")[:, :k]
    cents = np.take_along_axis(data, order[..., None], axis=1)
    chunk = max(1, (1 << 18) // (n * k * v))
    labels = np.empty((b, n), dtype=np.int64)
    for c0 in range(0, b, chunk):
        d, c = data[c0 : c0 + chunk], cents[c0 : c0 + chunk]
        bc = d.shape[0]
        flat = np.arange(bc)[:, None] * k  # label offsets of each group in the flattened bincount
        lab = np.argmin(_dist(d, c, metric), axis=-1)
        for _ in range(iters):
            ids = (lab + flat).ravel()
            counts = np.bincount(ids, minlength=bc * k).reshape(bc, k)
            sums = np.stack([np.bincount(ids, d[..., t].ravel(), bc * k) for t in range(v)], -1).reshape(bc, k, v)
            c = np.where(counts[..., None] > 0, sums / np.maximum(counts, 1)[..., None], c)
            new = np.argmin(_dist(d, c, metric), axis=-1)
            if np.array_equal(new, lab):
                break
            lab = new
        cents[c0 : c0 + chunk], labels[c0 : c0 + chunk] = c, lab
    return cents, labels


def fit_weight_codebooks(
    w: ArrayLike,
    v: int = V_DEFAULT,
    c_w: int = C_W_DEFAULT,
    group: int = G_DEFAULT,
    group_k: int = 1,
    iters: int = 25,
    seed: int = 0,
) -> VQWeights:
    """Fit per-group weight codebooks for ``w [M, D]`` by deterministic Lloyd k-means (spec 6.1).

    Groups are the ``group_k x (group / group_k)`` (positions x columns) tiles of :class:`VQWeights`.
    Within a group the ``group`` v-vectors are clustered into ``c_w`` centroids under squared L2 distance
    (the weight-MSE objective), starting from ``c_w`` distinct vectors picked with ``seed`` and running at
    most ``iters`` Lloyd steps (see :func:`_lloyd`); centroids are stored fp32 and every index is then the
    nearest (L2, ties lowest) fp32 centroid, so ``dequantize()`` is the nearest-centroid reconstruction.
    Same inputs, same result. Raises ValueError for D not a multiple of v, a group that does not tile
    ``[M, D/v]``, ``group < c_w``, or bad ``c_w`` / ``iters`` / ``seed``.
    """
    v = _pos_int(v, "v")
    c_w = _c_w(c_w)
    group = _pos_int(group, "group")
    group_k = _pos_int(group_k, "group_k")
    iters = _pos_int(iters, "iters", 0)
    seed = _pos_int(seed, "seed", 0)
    arr = _finite(w, "w", 2).astype(np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"w must be a non-empty 2-D [M, D] matrix, got shape {arr.shape}")
    m, d = arr.shape
    if d % v:
        raise ValueError(f"w must have D (columns) a multiple of v = {v}, got D = {d}")
    if group < c_w:
        raise ValueError(f"group = {group} must hold at least c_w = {c_w} vectors")
    s = d // v
    _divides(group_k, group, "group_k", "group")
    _divides(group_k, s, "group_k", "D / v")
    gm = group // group_k
    _divides(gm, m, "group / group_k", "M")
    nk, nm = s // group_k, m // gm
    # [M, S, v] -> [nm, gm, nk, gk, v] -> [nk, nm, gm, gk, v]: one row of `tiles` per (kb, mb) group
    tiles = arr.reshape(nm, gm, nk, group_k, v).transpose(2, 0, 1, 3, 4).reshape(nk * nm, group, v)
    cents, _ = _lloyd(tiles, c_w, iters, "l2", seed)
    cents32 = cents.astype(np.float32)
    labels = np.empty(tiles.shape[:2], dtype=np.int64)
    chunk = max(1, (1 << 18) // (group * c_w * v))
    for c0 in range(0, tiles.shape[0], chunk):  # final assignment against the stored fp32 centroids
        labels[c0 : c0 + chunk] = np.argmin(
            _dist(tiles[c0 : c0 + chunk], cents32[c0 : c0 + chunk].astype(np.float64), "l2"), axis=-1
        )
    idx = labels.reshape(nk, nm, gm, group_k).transpose(1, 2, 0, 3).reshape(m, s)
    return VQWeights(idx.astype(np.uint8), cents32.reshape(nk, nm, c_w, v), group, group_k)


def fit_activation_codebooks(
    samples: ArrayLike,
    v: int = V_DEFAULT,
    c_a: int = C_A_DEFAULT,
    n_codebooks: int = 1,
    iters: int = 25,
    seed: int = 0,
) -> np.ndarray:
    """Activation codebooks ``[P, c_a, v]`` fp32 from calibration activations ``samples [N, D]`` (spec 6.1).

    ``P = n_codebooks`` codebooks along D, codebook ``p`` fitted on the sub-vectors of positions
    ``p*S/P .. (p+1)*S/P - 1`` of every sample (``S = D / v``). Deterministic Lloyd iterations with the
    runtime metric: Chebyshev (L-infinity) assignment, ties to the lowest index, then a mean update (a
    heuristic - the L-infinity-optimal centre would be the per-dimension midrange; the paper trains its
    codebooks). Init: ``c_a`` distinct sub-vectors picked with ``seed``. Raises ValueError for D not a
    multiple of v, ``P`` not dividing ``S``, fewer than ``c_a`` sub-vectors per codebook, or bad counts.
    """
    v = _pos_int(v, "v")
    c_a = _pos_int(c_a, "c_a", 1, MAX_CENTROIDS)
    p = _pos_int(n_codebooks, "n_codebooks")
    iters = _pos_int(iters, "iters", 0)
    seed = _pos_int(seed, "seed", 0)
    arr = _finite(samples, "samples", 1)
    if arr.ndim != 2:
        raise ValueError(f"samples must be an [N, D] matrix of calibration tokens, got shape {arr.shape}")
    x, s = _activations(arr, v, p)
    n = x.shape[0]
    per = n * (s // p)
    if per < c_a:
        raise ValueError(f"samples must give at least c_a = {c_a} sub-vectors per codebook, got {per}")
    data = x.astype(np.float64).reshape(n, p, s // p, v).transpose(1, 0, 2, 3).reshape(p, per, v)
    cents, _ = _lloyd(data, c_a, iters, "linf", seed)
    return cents.astype(np.float32)


# --------------------------------------------------------------------------------------------
# centroid search (spec 6.1, BPCSU 6.2)
# --------------------------------------------------------------------------------------------


def _search_impl(x: jnp.ndarray, cents: jnp.ndarray) -> jnp.ndarray:
    """``x [N, D]``, ``cents [P, c_a, v]`` -> int32 indices ``[N, S]``."""
    n, d = x.shape
    p, _, v = cents.shape
    xs = x.reshape(n, p, d // (v * p), 1, v)
    dist = jnp.max(jnp.abs(xs - cents[None, :, None]), axis=-1)  # [N, P, S/P, c_a], exact |x - c| per dim
    return jnp.argmin(dist, axis=-1).reshape(n, d // v).astype(jnp.int32)  # argmin: first (lowest) index


_search_jit = _jit(_search_impl)


def chebyshev_search(x: ArrayLike, centroids: ArrayLike) -> jnp.ndarray:
    """Nearest-centroid indices of every sub-vector of ``x`` by Chebyshev distance (spec 6.1).

    ``x`` is ``[D]`` or ``[N, D]``; ``centroids`` is ``[c_a, v]`` or ``[P, c_a, v]`` (position ``s`` uses
    codebook ``s // (S / P)``, ``S = D / v``). Returns int32 ``i [..., S]`` with
    ``i_s = argmin_i max_t |x[v*s + t] - A[i][t]|``, ties to the lowest index. Distances are evaluated in
    the promoted float dtype (fp32 by default) with the subtraction rounded once per element, so the result
    equals a NumPy brute force in that dtype exactly. Very large activations are fine: the distance is
    monotone in ``|x - c|`` so an input far outside the codebook picks the outermost centroid, up to ties
    that fp32 rounding creates (``|x| >> |c|``), which go to the lowest index. Raises ValueError for
    non-finite values, D not a multiple of v, or P not dividing S.
    """
    c = _act_codebook(centroids, "centroids")
    x2, _ = _activations(x, c.shape[2], c.shape[0])
    dtype = _float_dtype(x2.dtype, c.dtype)
    idx = _search_jit(jnp.asarray(x2, dtype), jnp.asarray(c, dtype))
    return idx if np.ndim(x) == 2 else idx[0]


def quantize_activations(x: ArrayLike, act_codebook: ArrayLike) -> tuple[jnp.ndarray, np.ndarray]:
    """``(indices, x_q)``: :func:`chebyshev_search` indices and the centroid-quantized activations ``x_q``.

    ``x_q`` has ``x``'s shape, ``x_q[v*s + t] = A_p(s)[i_s][t]`` (NumPy, the codebook's dtype): the
    activations the LUT layer effectively multiplies.
    """
    c = _act_codebook(act_codebook)
    idx = np.asarray(chebyshev_search(x, c))
    s = idx.shape[-1]
    p = np.arange(s) // (s // c.shape[0])
    xq = c[p, idx]  # [..., S, v]
    return jnp.asarray(idx), xq.reshape(idx.shape[:-1] + (s * c.shape[2],))


# --------------------------------------------------------------------------------------------
# tables (spec 6.1)
# --------------------------------------------------------------------------------------------


def _tables_impl(a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """``T[..., i, j] = sum_t a[..., i, t] * b[..., j, t]``, summed left to right over t (fixed order)."""
    out = a[..., :, None, 0] * b[..., None, :, 0]
    for t in range(1, a.shape[-1]):
        out = out + a[..., :, None, t] * b[..., None, :, t]
    return out


_tables_jit = _jit(_tables_impl)


def build_tables(act_codebook: ArrayLike, weight_codebook: ArrayLike) -> jnp.ndarray:
    """2-D tables ``LUT[..., i, j] = <A[i], B[j]>`` of shape ``[..., c_a, c_w]`` (spec 6.1).

    ``act_codebook [..., c_a, v]`` and ``weight_codebook [..., c_w, v]``; leading dimensions broadcast
    (one table per codebook pair; defaults give 64 x 16). Products and the sum over ``t = 0 .. v-1`` (left
    to right) are rounded in the promoted float dtype (fp32 by default), i.e. ``(A0*B0) + (A1*B1)``.
    Raises ValueError for non-finite values, arrays below 2-D, mismatched v, or unbroadcastable leads.
    """
    a = _finite(act_codebook, "act_codebook", 2)
    b = _finite(weight_codebook, "weight_codebook", 2)
    if a.shape[-1] != b.shape[-1] or a.shape[-1] < 1:
        raise ValueError(f"weight_codebook must have the same v as act_codebook, got {b.shape} and {a.shape}")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        msg = f"weight_codebook leading shape {b.shape[:-2]} must broadcast with act_codebook's {a.shape[:-2]}"
        raise ValueError(msg) from None
    dtype = _float_dtype(a.dtype, b.dtype)
    return _tables_jit(jnp.asarray(a, dtype), jnp.asarray(b, dtype))


def _quantize_impl(t: jnp.ndarray, per_table: bool) -> tuple[jnp.ndarray, jnp.ndarray]:
    peak = jnp.max(jnp.abs(t), axis=(-2, -1) if per_table else None)
    safe = jnp.where(peak > 0, peak, jnp.ones_like(peak))
    pk = safe[..., None, None] if per_table else safe
    # T * 127 / peak rather than T / (peak / 127): one rounding fewer, and the peak maps to exactly +-127.
    q = jnp.clip(jnp.round(t * INT8_MAX / pk), -INT8_MAX, INT8_MAX).astype(jnp.int8)  # round half to even
    return q, peak / INT8_MAX


_quantize_jit = _jit(_quantize_impl, static_argnames=("per_table",))


def quantize_tables_int8(tables: ArrayLike, scope: str = "table") -> tuple[jnp.ndarray, jnp.ndarray]:
    """Symmetric int8 tables ``(Tq, scale)`` with ``T ~ Tq * scale`` (spec 6.1: 1024 INT8 entries per table).

    ``scope="table"``: one scale per table (the last two axes), ``scale`` shape ``tables.shape[:-2]``;
    ``scope="tensor"``: one scale for all tables given, ``scale`` a scalar (spec 6.1's per-tensor
    dequantization; what :func:`lut_linear` uses by default). ``scale = max|T| / 127`` (fp32) and
    ``Tq = clip(round(T * 127 / max|T|), -127, 127)`` with **round half to even**, so the peak entry is
    exactly +-127, -128 is never used and the per-entry error is at most ``scale / 2``. An all-zero table
    (or tensor) gets ``scale = 0`` and ``Tq = 0``.
    """
    t = _finite(tables, "tables", 2)
    if scope not in SCALE_SCOPES:
        raise ValueError(f"scope must be one of {SCALE_SCOPES}, got {scope!r}")
    t = jnp.asarray(t, _float_dtype(t.dtype))
    return _quantize_jit(t, per_table=scope == "table")


# --------------------------------------------------------------------------------------------
# the LUT layer (spec 6.1, 2D-PSum chain 6.2)
# --------------------------------------------------------------------------------------------


def _accumulate_impl(act_idx: jnp.ndarray, tables: jnp.ndarray, w_idx: jnp.ndarray, *, gk: int, gm: int) -> jnp.ndarray:
    """Per tile along D: ``acc[n, m, kb] = sum_{s in kb} T[kb, mb(m), i[n, s], w[m, s]]`` (int32 or float)."""
    n, s = act_idx.shape
    nk, nm, c_a, c_w = tables.shape
    m = w_idx.shape[0]
    flat = tables.reshape(nk, nm, c_a * c_w)
    kb = (jnp.arange(s) // gk)[None, None, :]
    mb = (jnp.arange(m) // gm)[None, :, None]
    entry = act_idx[:, None, :] * c_w + w_idx[None, :, :]  # LUT row by activation index, column by weight index
    reads = flat[kb, mb, entry]  # [N, M, S]: one lookup per (token, column, position)
    if jnp.issubdtype(reads.dtype, jnp.integer):
        reads = reads.astype(jnp.int32)  # integer accumulate (exact while S * 127 < 2^31)
    return reads.reshape(n, m, nk, gk).sum(axis=-1)


_accumulate_jit = _jit(_accumulate_impl, static_argnames=("gk", "gm"))


def _layer_tables(act_cb: np.ndarray, weights: VQWeights) -> np.ndarray:
    """The activation codebook of each weight tile along D, ``[S/group_k, 1, c_a, v]``, checked."""
    s = weights.indices.shape[1]
    p = act_cb.shape[0]
    if act_cb.shape[2] != weights.v:
        raise ValueError(f"act_codebook must have v = {weights.v} like the weights, got shape {act_cb.shape}")
    _divides(p, s, "act_codebook count P", "D / v")
    _divides(weights.group_k, s // p, "weights.group_k", "the positions per activation codebook S / P")
    kb_pos = np.arange(s // weights.group_k) * weights.group_k
    return act_cb[kb_pos // (s // p)][:, None]


def lut_accumulate(act_idx: ArrayLike, tables: ArrayLike, weights: VQWeights, per_table: bool = False) -> jnp.ndarray:
    """Lookup-and-accumulate core: ``acc[n, m] = sum_s T[kb(s), mb(m)][act_idx[n, s]][weights.indices[m, s]]``.

    ``act_idx [N, S]`` (or ``[S]``) activation indices; ``tables [S/group_k, M/group_m, c_a, c_w]`` float
    or int8 (from :func:`build_tables` / :func:`quantize_tables_int8` of the layer's codebook pairs).
    int8 tables are summed in int32 (exact for ``S * 127 < 2^31``), float tables in their dtype. Returns
    ``[N, M]`` (``[M]`` for a vector), or with ``per_table`` the sums per tile along D
    ``[..., M, S/group_k]``. Raises ValueError for shapes that do not match ``weights``.
    """
    if not isinstance(weights, VQWeights):
        raise ValueError(f"weights must be a VQWeights, got {type(weights).__name__}")
    m, s = weights.indices.shape
    ai = np.asarray(act_idx)
    if ai.ndim not in (1, 2) or ai.shape[-1] != s or not np.issubdtype(ai.dtype, np.integer):
        raise ValueError(f"act_idx must be integer [S] or [N, S] with S = {s}, got shape {ai.shape}")
    t = np.asarray(tables)
    want = weights.codebooks.shape[:2] + (None, weights.c_w)
    if t.ndim != 4 or t.shape[:2] != want[:2] or t.shape[3] != weights.c_w:
        raise ValueError(f"tables must have shape [{want[0]}, {want[1]}, c_a, {weights.c_w}], got {t.shape}")
    if ai.size and (ai.min() < 0 or ai.max() >= t.shape[2]):
        raise ValueError(f"act_idx must lie in [0, {t.shape[2] - 1}] for c_a = {t.shape[2]}")
    if not (t.dtype == np.int8 or np.issubdtype(t.dtype, np.floating)):
        raise ValueError(f"tables must be int8 or float, got dtype {t.dtype}")
    acc = _accumulate_jit(
        jnp.asarray(np.atleast_2d(ai), jnp.int32), jnp.asarray(tables), jnp.asarray(weights.indices, jnp.int32),
        gk=weights.group_k, gm=weights.group_m,
    )
    if not per_table:
        acc = acc.sum(axis=-1)
    return acc if ai.ndim == 2 else acc[0]


def lut_linear(
    x: ArrayLike,
    act_codebook: ArrayLike,
    weights: VQWeights,
    tables: str = "float",
    table_scale: str = "tensor",
) -> jnp.ndarray:
    """LUT-LLM linear layer ``y [..., M] ~ x [..., D] @ W.T`` by 2-D table lookups (spec 6.1).

    Steps: (1) :func:`chebyshev_search` of ``x``'s sub-vectors against ``act_codebook`` (``[c_a, v]`` or
    ``[P, c_a, v]``); (2) :func:`build_tables` for every weight tile with the activation codebook of its
    span (``build_full``; ``build_row`` / ``stream`` change cost, not values); (3) for every output column
    read ``LUT[i_s][w_idx(s, m)]`` per position and accumulate (:func:`lut_accumulate`).

    * ``tables="float"``: float tables and sums. Contract: equals the dense product
      ``x_q @ weights.dequantize().T`` of the centroid-quantized activations (:func:`quantize_activations`)
      and weights up to float summation round-off: ``|err| <= (S + v) * eps * (|x_q| @ |W_q|.T)``.
    * ``tables="int8"``: :func:`quantize_tables_int8` with ``scope=table_scale``, int32 accumulation,
      then dequantization ``acc * scale`` - once per column for ``"tensor"`` (spec 6.1), once per column
      and tile along D for ``"table"``. Adds only table rounding noise: per lookup ``|err| <= scale / 2``
      (hard bound ``|y_int8 - y_float| <= sum_s scale_s / 2`` plus fp round-off); with independent errors
      NMSE against the float path ~ ``scale^2 / (12 * mean(T_read^2))``. Bound (tested): NMSE < 2e-3 on
      Gaussian data at the defaults; measured 3-8e-4 for ``"tensor"``, 1-2.5e-4 for ``"table"``.

    ``x`` is ``[D]`` (returns ``[M]``) or ``[N, D]`` (returns ``[N, M]``). Raises ValueError for D not a
    multiple of v or not matching the weights, mismatched codebook shapes, or a bad ``tables`` /
    ``table_scale``.
    """
    if not isinstance(weights, VQWeights):
        raise ValueError(f"weights must be a VQWeights, got {type(weights).__name__}")
    if tables not in TABLE_KINDS:
        raise ValueError(f"tables must be one of {TABLE_KINDS}, got {tables!r}")
    if table_scale not in SCALE_SCOPES:
        raise ValueError(f"table_scale must be one of {SCALE_SCOPES}, got {table_scale!r}")
    act_cb = _act_codebook(act_codebook)
    pair = _layer_tables(act_cb, weights)
    x2, _ = _activations(x, act_cb.shape[2], act_cb.shape[0])
    m, d = weights.shape
    if x2.shape[1] != d:
        raise ValueError(f"x must have D = {d} features to match the weights, got shape {np.shape(x)}")
    act_idx = chebyshev_search(x2, act_cb)
    dtype = _float_dtype(x2.dtype, act_cb.dtype, weights.codebooks.dtype)
    lut = _tables_jit(jnp.asarray(pair, dtype), jnp.asarray(weights.codebooks, dtype))  # [nk, nm, c_a, c_w]
    if tables == "float":
        y = lut_accumulate(act_idx, lut, weights)
    else:
        tq, scale = _quantize_jit(lut, per_table=table_scale == "table")
        acc = lut_accumulate(act_idx, tq, weights, per_table=table_scale == "table")
        if table_scale == "tensor":
            y = acc.astype(dtype) * scale  # M dequant multiplies per token (symmetric: zero = 0)
        else:  # scale[kb, mb(m)] per column and tile along D
            s_cols = jnp.repeat(scale, weights.group_m, axis=1).T  # [M, nk]
            y = jnp.sum(acc.astype(dtype) * s_cols[None], axis=-1)
    return y if np.ndim(x) == 2 else y[0]


# --------------------------------------------------------------------------------------------
# counters and memory model (spec 6.1, 6.3)
# --------------------------------------------------------------------------------------------


def _layer_dims(D: int, M: int, v: int, group: int) -> tuple[int, int, int, int]:
    D, M = _pos_int(D, "D"), _pos_int(M, "M")
    v, group = _pos_int(v, "v"), _pos_int(group, "group")
    if D % v:
        raise ValueError(f"D = {D} must be a multiple of v = {v}")
    if (D // v * M) % group:
        raise ValueError(f"group = {group} must divide the D*M/v = {D // v * M} weight vectors of the layer")
    return D, M, v, group


def op_counts(
    D: int,
    M: int,
    v: int = V_DEFAULT,
    c_a: int = C_A_DEFAULT,
    c_w: int = C_W_DEFAULT,
    group: int = G_DEFAULT,
    table_policy: str = "build_full",
    tokens_per_pass: int = 1,
) -> dict[str, int | float]:
    """Per-token operation counts of one ``D x M`` LUT layer (D in, M out), spec 6.1.

    ``tables_per_layer = N_tab = D*M / (v*G)``; ``distance_evals = (D/v) * c_a``; ``lookups = int_adds =
    (D/v) * M``; ``dequant_fmas = M`` (per-tensor scale); ``dense_macs = D * M`` (the dense baseline).
    Table cost by ``table_policy``: ``build_full`` ``N_tab * c_a * c_w * v`` FP32 MACs per layer pass,
    amortised over ``tokens_per_pass`` tokens (2 per weight per pass at defaults); ``build_row``
    ``N_tab * c_w * v`` per token; ``stream`` no MACs but ``N_tab * c_a * c_w`` table bytes per pass
    (amortised like build_full). ``table_build_macs`` and ``table_stream_bytes`` are floats.
    """
    D, M, v, group = _layer_dims(D, M, v, group)
    c_a = _pos_int(c_a, "c_a")
    c_w = _pos_int(c_w, "c_w")
    tokens = _pos_int(tokens_per_pass, "tokens_per_pass")
    if table_policy not in TABLE_POLICIES:
        raise ValueError(f"table_policy must be one of {TABLE_POLICIES}, got {table_policy!r}")
    n_tab = D // v * M // group
    build = {"build_full": n_tab * c_a * c_w * v / tokens, "build_row": float(n_tab * c_w * v), "stream": 0.0}
    return {
        "tables_per_layer": n_tab,
        "distance_evals": D // v * c_a,
        "lookups": D // v * M,
        "int_adds": D // v * M,
        "dequant_fmas": M,
        "table_build_macs": build[table_policy],
        "table_stream_bytes": n_tab * c_a * c_w / tokens if table_policy == "stream" else 0.0,
        "dense_macs": D * M,
    }


def bits_per_weight(v: int = V_DEFAULT, c_w: int = C_W_DEFAULT, group: int = G_DEFAULT) -> float:
    """Storage bits per weight, spec 6.3 paper form: ``32*c_w / (G*v) + log2(c_w) / v`` (2.5 at defaults).

    The first term is the fp32 codebook (``c_w`` 4-byte entries per ``G*v`` weights, as the paper writes
    it), the second the ``log2(c_w)``-bit index per ``v`` weights. Raises ValueError for bad arguments.
    """
    v, c_w, group = _pos_int(v, "v"), _c_w(c_w), _pos_int(group, "group")
    return 32.0 * c_w / (group * v) + math.log2(c_w) / v


def t_mem_bytes(
    D: int,
    M: int,
    v: int = V_DEFAULT,
    c_w: int = C_W_DEFAULT,
    group: int = G_DEFAULT,
    table_policy: str = "build_full",
    c_a: int = C_A_DEFAULT,
    codebook_form: str = "paper",
) -> float:
    """Off-chip bytes per layer pass, spec 6.3: ``4*M*D*c_w/(G*v) + M*D*log2(c_w)/(8*v)`` (divide by C for T_mem).

    ``codebook_form="vector"`` is the flagged alternative ``4*M*D*c_w/G`` (codebook entries read as v-dim
    fp32 vectors). ``table_policy="stream"`` adds ``c_a*c_w`` bytes per table (spec 6.1). Worked example:
    Qwen3-1.7B's linears (~1.41e9 weights) -> ~0.44 GB, i.e. >= 0.54 ms/token at 820 GB/s.
    """
    D, M, v, group = _layer_dims(D, M, v, group)
    c_w = _c_w(c_w)
    c_a = _pos_int(c_a, "c_a")
    if table_policy not in TABLE_POLICIES:
        raise ValueError(f"table_policy must be one of {TABLE_POLICIES}, got {table_policy!r}")
    if codebook_form not in CODEBOOK_FORMS:
        raise ValueError(f"codebook_form must be one of {CODEBOOK_FORMS}, got {codebook_form!r}")
    codebooks = 4.0 * M * D * c_w / group / (v if codebook_form == "paper" else 1)
    total = codebooks + M * D * math.log2(c_w) / (8 * v)
    if table_policy == "stream":
        total += D // v * M // group * c_a * c_w
    return total
