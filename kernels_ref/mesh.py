"""JAX emulation of the wafer-scale mesh kernels on a grid of tiles (spec ``wafer_mesh.md`` secs. 4-5).

Every kernel here is a *numeric* model: it moves tiles between cores as the algorithm does and
adds partial results across cores in the order the algorithm adds them, so its output is the
ground truth that the mappers' ``emulate()`` and the RTL are compared against. Timing lives in
``archsim.analytic`` / ``archsim.sim``; this package must not import ``archsim``.

How the emulation is organised (and why):

* Data movement is worked out on tile *labels* with NumPy (a schedule: which tile sits on which
  core at each step), by applying the same ring permutations the hardware applies. The tiles
  themselves are then moved with one gather per operand. XLA compiles per array shape and is slow
  to compile long unrolled step loops, so this keeps a kernel to a handful of device ops while the
  schedule stays inspectable and testable (:func:`meshgemm_schedule`).
* Cross-core reductions (GEMM-T's X reduce, the GEMV allreduces) are unrolled adds in exactly the
  hardware's association order, because that order is what makes float results differ between
  K-tree, pipeline and ring. The sum inside one core (a tile GEMM) is a single contraction whose
  float order is XLA's: the hardware's FMA order is not reproducible bit-for-bit anyway.

Conventions shared by every kernel:

* A tile grid is ``[rows, cols, tr, tc]``; axis 0 is the mesh's Y axis (row ``py``), axis 1 its X
  axis (column ``px``); core ``(py, px)`` holds tile ``[py, px]``.
* :func:`partition` zero-pads each dimension up to a multiple of the grid side (spec 8 rounds dims
  up to multiples of P), so kernels accept any shape; zero padding never changes a result.
* Integer inputs accumulate in at least 32-bit integers, so integer paths are exact whatever the
  order (int8 x int8 products would otherwise wrap); float inputs compute in their promoted dtype.
* Every kernel needs a mesh side ``P >= 3``: INTERLEAVE is defined for ``P >= 3`` (spec 4.3) and the
  baselines share that contract so a mapper can swap algorithms without new checks.
* Kernels are jitted per (shape, dtype, P); the first call for a new shape compiles (~0.05-0.1 s on CPU).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cache, partial

import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from kernels_ref._jit import fast_jit as _jit

__all__ = [
    "allgather_gemm",
    "cannon",
    "default_group_num",
    "gemm_t",
    "gemmt_reduce_root",
    "interleave_ring",
    "ktree_fanins",
    "ktree_reduce",
    "ktree_root",
    "meshgemm",
    "meshgemm_align",
    "meshgemm_rect",
    "meshgemm_schedule",
    "meshgemv",
    "partition",
    "pipeline_gemv",
    "pipeline_reduce",
    "rect_tile_owner",
    "ring_gemv",
    "ring_hops",
    "ring_position",
    "ring_reduce",
    "ring_send_to",
    "ring_shift",
    "summa",
    "unpartition",
]




# --------------------------------------------------------------------------------------------
# argument checks (run outside jit, so errors are plain ValueErrors naming the bad argument)
# --------------------------------------------------------------------------------------------


def _check_side(p: object, name: str = "p") -> int:
    """Return ``p`` as an int, or raise ValueError unless it is an integer >= 3 (spec 4.3)."""
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
        raise ValueError(f"{name} must be an integer mesh side >= 3, got {p!r}")
    if p < 3:
        raise ValueError(f"{name} must be >= 3 (INTERLEAVE needs at least 3 cores per line, spec 4.3), got {p}")
    return int(p)


def _check_positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _as_array(x: ArrayLike, name: str, ndim: int) -> jnp.ndarray:
    arr = jnp.asarray(x)
    if arr.ndim != ndim:
        kind = "1-D vector" if ndim == 1 else f"{ndim}-D matrix"
        raise ValueError(f"{name} must be a {kind}, got shape {tuple(arr.shape)}")
    return arr


def _acc_dtype(*arrays: jnp.ndarray) -> jnp.dtype:
    """Accumulation dtype: the promoted dtype, widened to 32 bits for bools and narrow integers.

    The RTL MAC units accumulate int8 products in 32-bit registers; an int8 accumulator would wrap.
    """
    dt = jnp.dtype(jnp.result_type(*arrays))
    if dt == jnp.bool_:
        return jnp.dtype(jnp.int32)
    if jnp.issubdtype(dt, jnp.integer) and dt.itemsize < 4:
        return jnp.dtype(jnp.uint32 if jnp.issubdtype(dt, jnp.unsignedinteger) else jnp.int32)
    return dt


def _matmul_operands(a: ArrayLike, b: ArrayLike) -> tuple[jnp.ndarray, jnp.ndarray, jnp.dtype]:
    """Validate the operands of ``a @ b``; return them and the accumulation dtype."""
    a_m, b_m = _as_array(a, "a", 2), _as_array(b, "b", 2)
    if a_m.shape[1] != b_m.shape[0]:
        raise ValueError(
            f"inner dimensions differ: a has shape {tuple(a_m.shape)} and b {tuple(b_m.shape)} "
            "(a.shape[1] must equal b.shape[0])"
        )
    return a_m, b_m, _acc_dtype(a_m, b_m)


# --------------------------------------------------------------------------------------------
# INTERLEAVE ring (spec 4.3)
# --------------------------------------------------------------------------------------------


@cache
def _phi(n: int) -> tuple[int, ...]:
    """phi(k) for k = 0..n-1 (spec 4.3). Also defined for n = 1, 2 (trivial rings) for internal use."""
    return tuple(2 * k if 2 * k <= n - 1 else 2 * (n - k) - 1 for k in range(n))


@cache
def _phi_inverse(n: int) -> tuple[int, ...]:
    inv = [0] * n
    for k, i in enumerate(_phi(n)):
        inv[i] = k
    return tuple(inv)


def interleave_ring(p: int) -> list[int]:
    """Physical positions in logical ring order: element ``k`` is ``phi(k)`` (spec 4.3).

    ``phi(k) = 2k`` if ``2k <= P-1`` else ``2(P-k) - 1``: the ring climbs through the even positions,
    turns at the far end and descends through the odd ones, so every ring edge (the wrap included)
    is 1 or 2 physical hops. Raises ValueError for ``p < 3``.
    """
    return list(_phi(_check_side(p)))


def ring_position(p: int) -> list[int]:
    """Inverse of :func:`interleave_ring`: element ``i`` is the logical ring position of physical ``i``."""
    return list(_phi_inverse(_check_side(p)))


def ring_send_to(p: int) -> list[int]:
    """Send-to partner of each physical position, ``send_to[phi(k)] = phi(k+1 mod P)`` (spec 4.3).

    Receive-from is the inverse permutation. Raises ValueError for ``p < 3``.
    """
    phi = _phi(_check_side(p))
    send = [0] * p
    for k in range(p):
        send[phi[k]] = phi[(k + 1) % p]
    return send


def ring_hops(p: int) -> list[int]:
    """Physical hop length of each logical ring edge ``k -> k+1``, the wrap ``P-1 -> 0`` last (spec 4.3)."""
    phi = _phi(_check_side(p))
    return [abs(phi[(k + 1) % p] - phi[k]) for k in range(p)]


def gemmt_reduce_root(p: int, step: int) -> int:
    """Physical X position of the GEMM-T reduce root at ``step`` (artifact rule, spec 4.4).

    ``f(c) = 0`` for ``c = 0``, ``2c - 1`` for ``c <= P/2``, ``2(P - c)`` otherwise. The spec derives that
    this is the INTERLEAVE ring walked backwards, ``phi((P - c) mod P)``; the tests check that claim.
    """
    p = _check_side(p)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= step < p:
        raise ValueError(f"step must be an integer in [0, {p}), got {step!r}")
    if step == 0:
        return 0
    return 2 * step - 1 if 2 * step <= p else 2 * (p - step)


@cache
def _ring_shift_index(n: int, shift: int) -> np.ndarray:
    """Gather index so that ``new = old[idx]`` moves logical ring position k to k + shift.

    ``new[phi(j)] = old[phi(j - shift)]``: the core at logical j receives from logical j - shift.
    """
    phi = np.asarray(_phi(n))
    idx = np.empty(n, dtype=np.int32)
    idx[phi] = phi[(np.arange(n) - shift) % n]
    idx.setflags(write=False)
    return idx


def ring_shift(tiles: ArrayLike, axis: int, shift: int = 1) -> jnp.ndarray:
    """Move every tile ``shift`` logical positions along the INTERLEAVE ring of ``axis`` (spec 4.3).

    A tile at logical ring position ``k`` (physical ``phi(k)``) ends at logical ``k + shift`` (mod the
    axis length); ``shift = -1`` is one MeshGEMM compute-shift move, at most 2 physical hops per
    tile. One gather over the whole grid. The axis length must be >= 3.
    """
    arr = jnp.asarray(tiles)
    axis = axis % arr.ndim
    n = _check_side(arr.shape[axis], "the ring axis length")
    return jnp.take(arr, _ring_shift_index(n, int(shift) % n), axis=axis)


# --------------------------------------------------------------------------------------------
# tiling
# --------------------------------------------------------------------------------------------


def _tile(x: jnp.ndarray, rows: int, cols: int) -> jnp.ndarray:
    m, n = x.shape
    tr, tc = -(-m // rows), -(-n // cols)
    x = jnp.pad(x, ((0, rows * tr - m), (0, cols * tc - n)))
    return x.reshape(rows, tr, cols, tc).transpose(0, 2, 1, 3)


def _untile(tiles: jnp.ndarray, m: int, n: int) -> jnp.ndarray:
    rows, cols, tr, tc = tiles.shape
    return tiles.transpose(0, 2, 1, 3).reshape(rows * tr, cols * tc)[:m, :n]


# One compiled program per shape instead of one per primitive (XLA compiles are the slow part).
_tile_jit = _jit(_tile, static_argnums=(1, 2))
_untile_jit = _jit(_untile, static_argnums=(1, 2))


def partition(x: ArrayLike, rows: int, cols: int) -> jnp.ndarray:
    """Tile a 2-D matrix onto a ``[rows, cols, tr, tc]`` grid, ``tr = ceil(M/rows)``, ``tc = ceil(N/cols)``.

    Each dimension is zero-padded up to a multiple of the grid side; core ``(r, c)`` gets the block
    ``x[r*tr:(r+1)*tr, c*tc:(c+1)*tc]``. Raises ValueError for a non-matrix or a grid side < 1.
    """
    arr = _as_array(x, "x", 2)
    return _tile_jit(arr, _check_positive(rows, "rows"), _check_positive(cols, "cols"))


def unpartition(tiles: ArrayLike, shape: Sequence[int]) -> jnp.ndarray:
    """Inverse of :func:`partition`: reassemble ``[rows, cols, tr, tc]`` tiles and crop to ``shape``."""
    arr = jnp.asarray(tiles)
    if arr.ndim != 4:
        raise ValueError(f"tiles must have shape [rows, cols, tr, tc], got {tuple(arr.shape)}")
    rows, cols, tr, tc = arr.shape
    m, n = (int(s) for s in shape)
    if not (0 <= m <= rows * tr and 0 <= n <= cols * tc):
        raise ValueError(f"shape {tuple(shape)} does not fit a {rows}x{cols} grid of {tr}x{tc} tiles")
    return _untile_jit(arr, m, n)


# --------------------------------------------------------------------------------------------
# GEMM schedules: which tile each core multiplies at each step, worked out on labels
# --------------------------------------------------------------------------------------------


def _align_moves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-line alignment moves of the released kernel (spec 4.5): shift direction and count.

    Line ``i`` must move its tiles back by its ring position ``phi^-1(i)``. Even lines do it with
    ``i/2`` reverse shifts, odd lines with ``(i+1)/2`` forward shifts (the short way round), so all
    lines finish within ``floor(P/2)`` lock-step rounds.
    """
    i = np.arange(n)
    return np.where(i % 2 == 0, -1, 1), np.where(i % 2 == 0, i // 2, (i + 1) // 2)


@cache
def _aligned_source(n: int) -> np.ndarray:
    """``src[i, j]``: original position of the tile that sits at position ``j`` of line ``i`` after alignment.

    Simulates the lock-step rounds of single ring shifts on labels, so the tests can check that the
    short-way-round moves really compose to Cannon's skew.
    """
    direction, count = _align_moves(n)
    src = np.tile(np.arange(n), (n, 1))
    forward, reverse = _ring_shift_index(n, 1), _ring_shift_index(n, n - 1)
    for rnd in range(int(count.max(initial=0))):
        for line in np.flatnonzero(count > rnd):
            src[line] = src[line][forward if direction[line] > 0 else reverse]
    src.setflags(write=False)
    return src


@cache
def _meshgemm_schedule(n: int) -> tuple[np.ndarray, np.ndarray]:
    back = _ring_shift_index(n, n - 1)  # one logical position back on the ring (shift -1)
    a_col = np.empty((n, n, n), dtype=np.int32)  # [step, y, x] -> A tile column (K block)
    b_row = np.empty((n, n, n), dtype=np.int32)  # [step, y, x] -> B tile row (K block)
    a_src = _aligned_source(n)  # per row y (A moves along X)
    b_src = _aligned_source(n)  # per column x (B moves along Y)
    for step in range(n):
        a_col[step] = a_src
        b_row[step] = b_src.T
        a_src, b_src = a_src[:, back], b_src[:, back]
    a_col.setflags(write=False)
    b_row.setflags(write=False)
    return a_col, b_row


def meshgemm_schedule(p: int) -> tuple[np.ndarray, np.ndarray]:
    """MeshGEMM data movement as labels (spec 4.2-4.5): ``(a_col, b_row)``, each ``[P, P, P]``.

    At compute step ``s`` core ``(y, x)`` multiplies A tile ``[y, a_col[s, y, x]]`` by B tile
    ``[b_row[s, y, x], x]``. Step 0 is the aligned layout (lock-step short-way-round ring shifts,
    spec 4.5); each later step moves A one logical ring position back along X and B along Y.
    Cannon's invariant is ``a_col == b_row``. Raises ValueError for ``p < 3``.
    """
    a_col, b_row = _meshgemm_schedule(_check_side(p))
    return a_col.copy(), b_row.copy()


@cache
def _cannon_schedule(n: int) -> tuple[np.ndarray, np.ndarray]:
    # Direct skew A[i][j] <- A[i][(i+j) mod P], then plain wrap-around shifts (spec 4.1 baseline).
    s, y, x = np.ogrid[:n, :n, :n]
    k = ((y + x + s) % n).astype(np.int32)
    return k, k


def _scheduled_products(a_t: jnp.ndarray, b_t: jnp.ndarray, a_col: np.ndarray, b_row: np.ndarray) -> jnp.ndarray:
    """Move tiles per the schedule (one gather each) and sum every core's P products (C stationary)."""
    n = a_t.shape[0]
    rows = np.arange(n)[None, :, None]
    cols = np.arange(n)[None, None, :]
    a_steps = a_t[rows, a_col]  # [step, y, x, Mt, Kt]: the A tile on core (y, x) at that step
    b_steps = b_t[b_row, cols]  # [step, y, x, Kt, Nt]
    return jnp.einsum("syxik,syxkj->yxij", a_steps, b_steps)


def _meshgemm_core(a_t: jnp.ndarray, b_t: jnp.ndarray) -> jnp.ndarray:
    return _scheduled_products(a_t, b_t, *_meshgemm_schedule(a_t.shape[0]))


def _cannon_core(a_t: jnp.ndarray, b_t: jnp.ndarray) -> jnp.ndarray:
    return _scheduled_products(a_t, b_t, *_cannon_schedule(a_t.shape[0]))


def _summa_core(a_t: jnp.ndarray, b_t: jnp.ndarray) -> jnp.ndarray:
    # Step s broadcasts A's tile column s along every row and B's tile row s along every column;
    # the broadcast is the einsum's free y/x indices, so no P^3 copy is materialised.
    return jnp.einsum("ysik,sxkj->yxij", a_t, b_t)


def _allgather_core(a_t: jnp.ndarray, b_t: jnp.ndarray) -> jnp.ndarray:
    # Each core gathers its row strip of A and column strip of B (O(1/P) memory) and runs one local
    # GEMM over the whole K: a different float order from the step-wise algorithms.
    n, _, mt, kt = a_t.shape
    a_strip = a_t.transpose(0, 2, 1, 3).reshape(n, mt, n * kt)  # row y: [A[y][0] | ... | A[y][P-1]]
    b_strip = b_t.transpose(1, 0, 2, 3).reshape(n, n * kt, b_t.shape[3])  # column x: B[0][x] ... B[P-1][x]
    return jnp.einsum("yik,xkj->yxij", a_strip, b_strip)


@partial(_jit, static_argnames=("n", "acc", "core"))
def _gemm(a: jnp.ndarray, b: jnp.ndarray, n: int, acc: jnp.dtype, core: Callable) -> jnp.ndarray:
    c_t = core(_tile(a.astype(acc), n, n), _tile(b.astype(acc), n, n))
    return _untile(c_t, a.shape[0], b.shape[1])


def meshgemm_align(a_tiles: ArrayLike, b_tiles: ArrayLike) -> tuple[jnp.ndarray, jnp.ndarray]:
    """MeshGEMM alignment (spec 4.2 step 2, 4.5): Cannon's pre-skew along the INTERLEAVE rings.

    Inputs are ``[P, P, ., .]`` tile grids laid out as by :func:`partition`. Row ``py`` of A moves back
    ``phi^-1(py)`` ring positions along X and column ``px`` of B back ``phi^-1(px)`` along Y, each by the
    released kernel's lock-step short-way-round shifts. Afterwards core ``(py, px)`` holds A tile
    ``[py, m]`` and B tile ``[m, px]`` with the same ``m``, as Cannon needs.
    """
    a_t, b_t = jnp.asarray(a_tiles), jnp.asarray(b_tiles)
    if a_t.ndim != 4 or b_t.ndim != 4 or a_t.shape[:2] != b_t.shape[:2] or a_t.shape[0] != a_t.shape[1]:
        raise ValueError(
            f"a_tiles and b_tiles must be tile grids on one square P x P mesh, got {a_t.shape} and {b_t.shape}"
        )
    n = _check_side(a_t.shape[0])
    a_col, b_row = _meshgemm_schedule(n)
    return a_t[np.arange(n)[:, None], a_col[0]], b_t[b_row[0], np.arange(n)[None, :]]


def meshgemm(a: ArrayLike, b: ArrayLike, p: int) -> jnp.ndarray:
    """``C = a @ b`` by MeshGEMM on a ``P x P`` mesh (spec 4.2): Cannon's algebra on INTERLEAVE rings.

    A and B are cut into ``P x P`` tiles (zero padded), aligned, then over P steps every core adds
    ``A_sub @ B_sub`` into its stationary C tile while A moves one logical ring position along X and
    B one along Y (:func:`meshgemm_schedule`). Returns the unpadded ``[M, N]`` result. Raises
    ValueError for ``p < 3`` or mismatched inner dimensions. The emulation holds all P per-step tile
    layouts at once (about P times the operands' memory), which suits emulation-sized problems.
    """
    p = _check_side(p)
    a_m, b_m, acc = _matmul_operands(a, b)
    return _gemm(a_m, b_m, n=p, acc=acc, core=_meshgemm_core)


def rect_tile_owner(rows: int, cols: int) -> tuple[int, list[int], list[int]]:
    """Logical-tile placement for a non-square ``rows x cols`` mesh (spec 4.2).

    Returns ``(L, row_owner, col_owner)`` with ``L = lcm(rows, cols)`` logical tiles per dimension;
    logical tile ``(i, j)`` lives on core ``(row_owner[i], col_owner[j])``. Consecutive logical tiles
    share a core (``L/rows`` per row, ``L/cols`` per column), so every core holds the same number of
    tiles and logical ring neighbours (<= 2 logical positions apart) stay <= 2 physical hops apart.
    """
    rows, cols = _check_positive(rows, "rows"), _check_positive(cols, "cols")
    n = math.lcm(rows, cols)
    return n, [i // (n // rows) for i in range(n)], [j // (n // cols) for j in range(n)]


def meshgemm_rect(a: ArrayLike, b: ArrayLike, rows: int, cols: int) -> jnp.ndarray:
    """``C = a @ b`` by MeshGEMM on a non-square ``rows x cols`` mesh (spec 4.2).

    Runs MeshGEMM on ``L x L`` logical tiles, ``L = lcm(rows, cols)``, placed on the physical cores by
    :func:`rect_tile_owner`. The placement decides which core computes which tile product, not the
    arithmetic, so the emulation runs on the logical grid. Raises ValueError if ``L < 3`` or the
    inner dimensions differ.
    """
    rows, cols = _check_positive(rows, "rows"), _check_positive(cols, "cols")
    n = math.lcm(rows, cols)
    if n < 3:
        raise ValueError(f"meshgemm_rect needs lcm(rows, cols) >= 3 logical tiles (spec 4.3), got {rows}x{cols}")
    a_m, b_m, acc = _matmul_operands(a, b)
    return _gemm(a_m, b_m, n=n, acc=acc, core=_meshgemm_core)


def cannon(a: ArrayLike, b: ArrayLike, p: int) -> jnp.ndarray:
    """``C = a @ b`` by Cannon's algorithm on the plain wrap-around ring (spec 4.1 baseline).

    One direct skew (``A[i][j] <- A[i][(i+j) mod P]``, ``B[i][j] <- B[(i+j) mod P][j]``), then P steps of
    ``C += A_sub @ B_sub`` with A shifted one core left and B one core up; the wrap-around edge is
    P-1 physical hops (the latency MeshGEMM removes). Raises ValueError as :func:`meshgemm`.
    """
    p = _check_side(p)
    a_m, b_m, acc = _matmul_operands(a, b)
    return _gemm(a_m, b_m, n=p, acc=acc, core=_cannon_core)


def summa(a: ArrayLike, b: ArrayLike, p: int) -> jnp.ndarray:
    """``C = a @ b`` by SUMMA (spec 4.1 baseline): step k broadcasts A's tile column k along the rows
    and B's tile row k along the columns; every core adds ``A[y][k] @ B[k][x]``. Raises as :func:`meshgemm`.
    """
    p = _check_side(p)
    a_m, b_m, acc = _matmul_operands(a, b)
    return _gemm(a_m, b_m, n=p, acc=acc, core=_summa_core)


def allgather_gemm(a: ArrayLike, b: ArrayLike, p: int) -> jnp.ndarray:
    """``C = a @ b`` by allgather GEMM (spec 4.1 baseline): each core gathers its row strip of A and
    column strip of B and computes its C tile in one local GEMM. Raises as :func:`meshgemm`.
    """
    p = _check_side(p)
    a_m, b_m, acc = _matmul_operands(a, b)
    return _gemm(a_m, b_m, n=p, acc=acc, core=_allgather_core)


# --------------------------------------------------------------------------------------------
# cross-core reductions in hardware order (spec 4.4, 5.1-5.2)
# --------------------------------------------------------------------------------------------


def _fold(terms: Sequence[jnp.ndarray]) -> jnp.ndarray | None:
    """Left fold ``((t0 + t1) + t2) + ...``: one stream-add chain; None when there are no terms."""
    acc = None
    for t in terms:
        acc = t if acc is None else acc + t
    return acc


def _reduce_to_root(v: jnp.ndarray, root: int | np.ndarray) -> jnp.ndarray:
    """Reduce axis 0 of ``v`` by two stream-add chains meeting at ``root`` (spec 5.2 phase 1).

    Cores ``0, 1, ..., root-1`` form one chain (each hop: receive, add own, forward), cores
    ``n-1, ..., root+1`` the other; the root adds its own value, the first stream, then the second.
    ``root`` is an int, or an int array with one root per entry of axis 1 (GEMM-T's root moves
    with the step); masked-out terms are exact zeros, which leave every partial sum unchanged.
    """
    n = v.shape[0]
    if np.ndim(root) == 0:
        r = int(root)
        acc = v[r]
        for stream in (_fold([v[i] for i in range(r)]), _fold([v[i] for i in range(n - 1, r, -1)])):
            if stream is not None:
                acc = acc + stream
        return acc
    roots = np.asarray(root)
    pos = np.arange(n)[:, None]
    mask_shape = (n, roots.size) + (1,) * (v.ndim - 2)
    upper = jnp.where((pos < roots).reshape(mask_shape), v, 0)
    lower = jnp.where((pos > roots).reshape(mask_shape), v, 0)
    acc = v[roots, np.arange(roots.size)]
    return (acc + _fold([upper[i] for i in range(n)])) + _fold([lower[i] for i in range(n - 1, -1, -1)])


@partial(_jit, static_argnames=("n", "acc"))
def _gemm_t(a: jnp.ndarray, b: jnp.ndarray, n: int, acc: jnp.dtype) -> jnp.ndarray:
    a_t = _tile(a.astype(acc), n, n)  # core (y, x): rows block y of A, K block x
    b_t = _tile(b.astype(acc), n, n)  # core (y, x): rows block y of B (an N block of C), K block x
    block, step_of = _gemmt_schedule(n)
    b_steps = b_t[block[:, :, None], np.arange(n)[None, None, :]]  # [step, y, x, Nt, Kt]
    # Each core contracts the K axes of its A and B tiles: A_sub @ B_sub^T with no transpose of B.
    partial_c = jnp.einsum("yxik,syxjk->xsyij", a_t, b_steps)  # X first: the reduce axis
    roots = np.array([gemmt_reduce_root(n, s) for s in range(n)])
    c_steps = _reduce_to_root(partial_c, roots)  # [step, y, Mt, Nt] = C[y][block[step, y]]
    c_t = c_steps[step_of, np.arange(n)[:, None]]  # C tile [y, j] was finished at step step_of[y, j]
    return _untile(c_t, a.shape[0], b.shape[0])


@cache
def _gemmt_schedule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``block[s, y]``: row block of B on row y at step s (B moves one ring position back along Y per
    step, no alignment); ``step_of[y, j]``: the step at which row y holds block j."""
    back = _ring_shift_index(n, n - 1)
    block = np.empty((n, n), dtype=np.int32)
    held = np.arange(n)
    for s in range(n):
        block[s] = held
        held = held[back]
    step_of = np.empty((n, n), dtype=np.int32)
    step_of[np.arange(n)[None, :], block] = np.arange(n)[:, None]
    return block, step_of


def gemm_t(a: ArrayLike, b: ArrayLike, p: int) -> jnp.ndarray:
    """``C = a @ b.T`` by GEMM-T (spec 4.4) without ever transposing ``b`` as a matrix.

    ``a`` is ``[M, K]``, ``b`` is ``[N, K]`` (e.g. Q and the K cache), both tiled ``P x P`` with K along
    X. No alignment. At step s core ``(py, px)`` holds B tile ``[j, px]``, ``j = phi(phi^-1(py) + s)``;
    it computes ``A_sub @ B_sub^T`` (its K block's share of ``C[py][j]``) and the partials are
    reduce-added along X toward :func:`gemmt_reduce_root` (two stream-add chains); then B moves one
    ring position along Y. After P steps every C tile is complete. Raises ValueError for ``p < 3``
    or when the K dimensions (the last axes) differ.
    """
    p = _check_side(p)
    a_m, b_m = _as_array(a, "a", 2), _as_array(b, "b", 2)
    if a_m.shape[1] != b_m.shape[1]:
        raise ValueError(
            f"GEMM-T contracts the last axes: a has shape {tuple(a_m.shape)} and b {tuple(b_m.shape)} "
            "(a.shape[1] must equal b.shape[1])"
        )
    return _gemm_t(a_m, b_m, n=p, acc=_acc_dtype(a_m, b_m))


def default_group_num(p: int) -> int:
    """The divisor of ``p`` closest to ``sqrt(p)`` (spec 5.3 default for ``group_num``)."""
    p = _check_positive(p, "p")
    return _closest_divisor(p, math.sqrt(p))


def _closest_divisor(n: int, target: float) -> int:
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: (abs(d - target), d))


def ktree_fanins(p: int, k: int = 2, groups: int | None = None) -> list[int]:
    """Group size (fan-in) of each K-tree phase along a line of ``p`` cores; their product is ``p`` (spec 5.1).

    Phase 1 cuts the line into ``groups`` groups of ``p / groups`` consecutive cores; each later phase
    groups the previous phase's roots. For ``k = 2`` this is the released kernel's layout
    (``g = P / group_num`` then one group of ``group_num`` roots, spec 5.2). Default ``groups``: the
    divisor of ``p`` closest to ``p**((k-1)/k)`` (``sqrt(p)`` for ``k = 2``, spec 5.3); the remaining
    phases recurse with the same rule. ``k = 1`` is one group (``groups`` must be None or 1).
    Raises ValueError for ``k < 1`` or a ``groups`` that does not divide ``p``.
    """
    p = _check_positive(p, "p")
    k = _check_positive(k, "k")
    if groups is not None:
        groups = _check_positive(groups, "groups")
        if p % groups:
            raise ValueError(f"groups must divide the line length {p}, got {groups}")
    if k == 1:
        if groups not in (None, 1):
            raise ValueError(f"a 1-phase K-tree has exactly one group, got groups={groups}")
        return [p]
    if groups is None:
        groups = _closest_divisor(p, p ** ((k - 1) / k))
    return [p // groups, *ktree_fanins(groups, k - 1)]


def ktree_root(p: int, k: int = 2, groups: int | None = None) -> int:
    """Physical position of the final K-tree root on a line of ``p`` cores.

    Each phase's root is the middle (index ``fan_in // 2``) of its group; for ``k = 2`` this is the
    spec's ``root2 = (group_num/2)*g + g/2`` with integer division (spec 5.2).
    """
    positions = list(range(_check_positive(p, "p")))
    for f in ktree_fanins(p, k, groups):
        positions = positions[f // 2 :: f]
    return positions[0]


def _ktree_order(v: jnp.ndarray, fanins: tuple[int, ...]) -> jnp.ndarray:
    for f in fanins:
        grouped = v.reshape(v.shape[0] // f, f, *v.shape[1:])
        # All groups of a phase run in lock-step: reduce them together along the in-group axis.
        v = _reduce_to_root(jnp.moveaxis(grouped, 1, 0), f // 2)
    return v[0]


def _pipeline_order(v: jnp.ndarray) -> jnp.ndarray:
    # One chain from core 0 to the far-end root: ((v0 + v1) + v2) + ... (spec 5.1 pipeline).
    return _reduce_to_root(v, v.shape[0] - 1)


def _ring_order(v: jnp.ndarray) -> jnp.ndarray:
    n, rest = v.shape[0], v.shape[1:]
    flat = v.reshape(n, -1)[np.asarray(_phi(n))]  # row k = the member at logical ring position k
    width = flat.shape[1]
    cs = -(-width // n)
    chunks = jnp.pad(flat, ((0, 0), (0, n * cs - width))).reshape(n, n, cs)  # [member, chunk, cs]
    j, c = np.ogrid[:n, :n]
    # Reduce-scatter: chunk c starts at ring position c and picks up member c+j at step j.
    terms = chunks[(c + j) % n, c]  # [j, c, cs]
    return _fold([terms[i] for i in range(n)]).reshape(n * cs)[:width].reshape(rest)


@partial(_jit, static_argnames=("axis", "order", "args"))
def _reduce(values: jnp.ndarray, axis: int, order: Callable, args: tuple) -> jnp.ndarray:
    return order(jnp.moveaxis(values, axis, 0), *args)


def _line(values: ArrayLike, axis: int) -> tuple[jnp.ndarray, int]:
    v = jnp.asarray(values)
    if v.ndim == 0:
        raise ValueError("values must have at least one axis (the line of cores)")
    axis = axis % v.ndim
    if v.shape[axis] < 1:
        raise ValueError("cannot reduce an empty line of cores")
    return v, axis


def ktree_reduce(values: ArrayLike, axis: int = 0, k: int = 2, groups: int | None = None) -> jnp.ndarray:
    """Sum ``values`` over ``axis`` in the order of a K-phase K-tree reduce (spec 5.1-5.2).

    ``axis`` is a line of cores. Phase 1: groups of consecutive cores stream-add toward each group's
    middle core (see :func:`ktree_fanins` for group sizes); phase i reduces the previous roots the
    same way inside larger groups. Returns the root's value (``axis`` removed).
    """
    v, axis = _line(values, axis)
    return _reduce(v, axis=axis, order=_ktree_order, args=(tuple(ktree_fanins(v.shape[axis], k, groups)),))


def pipeline_reduce(values: ArrayLike, axis: int = 0) -> jnp.ndarray:
    """Sum over ``axis`` as one chain ``((v0 + v1) + v2) + ...`` to the far-end root (spec 5.1 pipeline)."""
    v, axis = _line(values, axis)
    return _reduce(v, axis=axis, order=_pipeline_order, args=())


def ring_reduce(values: ArrayLike, axis: int = 0) -> jnp.ndarray:
    """Sum over ``axis`` in the order of a ring allreduce on the INTERLEAVE ring (spec 5.1 ring).

    Each member's message (all other axes, flattened) is cut into ``n`` chunks (zero padded). In the
    reduce-scatter chunk c starts at logical ring position c and collects the members in ring order
    ``c, c+1, ..., c+n-1``; the allgather only copies. Returns the sum (the same on every member).
    """
    v, axis = _line(values, axis)
    return _reduce(v, axis=axis, order=_ring_order, args=())


# --------------------------------------------------------------------------------------------
# MeshGEMV (spec 5)
# --------------------------------------------------------------------------------------------


@partial(_jit, static_argnames=("n", "acc", "order", "args"))
def _gemv(x: jnp.ndarray, w: jnp.ndarray, n: int, acc: jnp.dtype, order: Callable, args: tuple) -> jnp.ndarray:
    w_t = _tile(w.astype(acc), n, n)  # core (y, x): K block y, N block x
    kt = w_t.shape[2]
    # x is split into P pieces along Y and replicated along X: core (y, x) uses piece y.
    x_t = jnp.pad(x.astype(acc), (0, n * kt - x.shape[0])).reshape(n, kt)
    partials = jnp.einsum("yk,yxkn->yxn", x_t, w_t)  # each core's c_sub
    return order(partials, *args).reshape(-1)[: w.shape[1]]  # each column reduces along Y


def _gemv_operands(x: ArrayLike, w: ArrayLike, p: int) -> tuple[jnp.ndarray, jnp.ndarray, int, jnp.dtype]:
    p = _check_side(p)
    x_v, w_m = _as_array(x, "x", 1), _as_array(w, "w", 2)
    if x_v.shape[0] != w_m.shape[0]:
        raise ValueError(
            f"x has length {x_v.shape[0]} but w has {w_m.shape[0]} rows (x.shape[0] must equal w.shape[0])"
        )
    return x_v, w_m, p, _acc_dtype(x_v, w_m)


def meshgemv(x: ArrayLike, w: ArrayLike, p: int, groups: int | None = None, k: int = 2) -> jnp.ndarray:
    """``c = x @ w`` by MeshGEMV (spec 5.1-5.2): local partial GEMVs, then a K-tree reduce along Y.

    ``x`` is ``[K]``, ``w`` is ``[K, N]`` in ``P x P`` tiles; each core computes ``x_piece @ w_tile`` and
    each column reduces its P partials as :func:`ktree_reduce` (``k`` phases, ``groups`` phase-1
    groups, default the divisor of P closest to ``sqrt(P)`` for ``k = 2``). Returns the roots' results
    concatenated, ``[N]``. Raises ValueError for ``p < 3``, mismatched shapes or a bad ``groups``/``k``.
    """
    x_v, w_m, p, acc = _gemv_operands(x, w, p)
    fanins = tuple(ktree_fanins(p, k, groups))
    return _gemv(x_v, w_m, n=p, acc=acc, order=_ktree_order, args=(fanins,))


def pipeline_gemv(x: ArrayLike, w: ArrayLike, p: int) -> jnp.ndarray:
    """``c = x @ w`` with the pipeline (chain) reduce along Y (spec 5.1 baseline); contract as :func:`meshgemv`."""
    x_v, w_m, p, acc = _gemv_operands(x, w, p)
    return _gemv(x_v, w_m, n=p, acc=acc, order=_pipeline_order, args=())


def ring_gemv(x: ArrayLike, w: ArrayLike, p: int) -> jnp.ndarray:
    """``c = x @ w`` with a ring allreduce along Y (spec 5.1 baseline); contract as :func:`meshgemv`."""
    x_v, w_m, p, acc = _gemv_operands(x, w, p)
    return _gemv(x_v, w_m, n=p, acc=acc, order=_ring_order, args=())
