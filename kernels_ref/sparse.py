"""FlightLLM N:M sparse weights ("FSB"), the configurable sparse DSP chain and INT8 dequantization.

Numeric reference models for spec ``fpga_sparse_dsp.md``:

* **N:M pruning and the FSB format** (spec 4): :func:`prune_nm`, :func:`prune_fsb`, :func:`choose_codes`,
  :func:`encode_fsb` / :func:`decode_fsb` (:class:`FSBMatrix`), byte accounting :func:`fsb_bytes`,
  :func:`pack_indices` and the kept density :func:`kept_density`.
* **Reference product** (spec 3.3): :func:`sparse_matmul`, a jitted JAX gather kernel over the stored
  nonzeros, exact in int32 for INT8 operands.
* **CSD-Chain** (spec 3): :func:`simulate_chain`, a cycle-by-cycle functional model of one configurable
  sparse DSP chain (packed two-lane INT8 DSPs, sparse MUXes, reduction nodes, optional bit-true 18-bit
  lanes with the Overflow Adjust Unit), the closed-form timing :func:`chain_cycles` it is checked
  against, and the lane arithmetic of spec 3.2 (:func:`lane_excess`, :func:`max_products_in_lane`,
  :func:`oau_enabled`).
* **Mixed precision** (spec 7): :func:`dequant_to_int8` and :func:`average_bits`.

Conventions:

* A weight matrix is ``W`` of shape ``[N, K]`` (output rows x reduction), as in ``kernels_ref.quant``;
  activations are ``x [T, K]`` (one token per row) and the product is ``y [T, N] = x @ W.T``. Every
  output row's K elements are split into row segments of M = 16 consecutive elements; an FSB block is
  16 output rows x one 16-element K segment, i.e. ``W[16*nb : 16*nb + 16, 16*kb : 16*kb + 16]``.
* Integer models run in NumPy int64 and return int32; pruning and code selection accept float or int
  weights. Magnitude ties are broken towards the lower K index everywhere (stable sorts).
* Invalid arguments raise ValueError naming the argument (or field); a lane overflow in the bit-true
  chain mode raises OverflowError unless ``on_overflow="flag"``.

This package must not import ``archsim``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from kernels_ref._jit import fast_jit as _jit

__all__ = [
    "BLOCK",
    "DG_SIZE",
    "FSB_CODES",
    "LANE_BITS",
    "OAU_MAX_BYPASS",
    "PRECISION_BITS",
    "ChainStats",
    "FSBMatrix",
    "average_bits",
    "chain_cycles",
    "choose_codes",
    "decode_fsb",
    "dequant_to_int8",
    "encode_fsb",
    "fsb_bytes",
    "kept_density",
    "lane_excess",
    "max_products_in_lane",
    "oau_enabled",
    "pack_indices",
    "prune_fsb",
    "prune_nm",
    "simulate_chain",
    "sparse_matmul",
]

BLOCK = 16  # spec 4: 16 x 16 blocks, M = 16 (4-bit index per nonzero)
FSB_CODES = (2, 4, 8, 16)  # spec 4: c in {2, 4, 8, 16} nonzeros per 16-element row segment
DG_SIZE = 2  # spec 3.1: DSPs per DSP group; reduction nodes sit after every DG
LANE_BITS = 18  # spec 3.1: two 18-bit lanes per packed DSP cascade
INT8_SYM_MAX = 127  # spec 3.2: symmetric INT8, |x| <= 127
PRECISION_BITS = (2, 3, 4, 8)  # spec 7: weight widths expanded to INT8 by the MMU
LANES = 2  # spec 3.1: two token lanes (A, B) share each weight


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


def _check_int(value: object, name: str, lo: int, hi: int | None = None) -> int:
    """Return ``value`` as an int, or raise ValueError unless it is an integer in ``[lo, hi]``."""
    ok = not isinstance(value, bool) and isinstance(value, (int, np.integer))
    if not ok or value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ValueError(f"{name} must be an integer {rng}, got {value!r}")
    return int(value)


def _check_chain_len(chain_len: object) -> int:
    """Chain length: a positive multiple of the DG size (spec 3.1: the chain is built from DGs of 2)."""
    chain_len = _check_int(chain_len, "chain_len", DG_SIZE)
    if chain_len % DG_SIZE:
        raise ValueError(f"chain_len must be a multiple of dg_size = {DG_SIZE}, got {chain_len}")
    return chain_len


def _as_matrix(w: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(w)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [N, K] matrix, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values")
    return arr


def _as_int8(a: ArrayLike, name: str, ndim: int) -> np.ndarray:
    """An integer array with values in [-128, 127], returned as int64 (exact arithmetic downstream)."""
    arr = np.asarray(a)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr))):
            raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < -128 or arr.max() > 127):
        raise ValueError(f"{name} must hold INT8 values in [-128, 127]")
    return arr.astype(np.int64)


def _check_blocked(shape: tuple[int, ...], name: str) -> tuple[int, int]:
    n, k = shape
    if n < 1 or k < 1 or n % BLOCK or k % BLOCK:
        raise ValueError(f"{name} must have both dimensions positive multiples of {BLOCK}, got shape {shape}")
    return n // BLOCK, k // BLOCK


def _check_codes(codes: ArrayLike, grid: tuple[int, int] | None = None) -> np.ndarray:
    """Per-block codes as int64, broadcast to ``grid`` if given; ValueError naming ``codes`` otherwise."""
    arr = np.asarray(codes)
    if arr.size == 0:
        raise ValueError("codes must not be empty")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"codes must be integers in {FSB_CODES}, got dtype {arr.dtype}")
    if not np.all(np.isin(arr, FSB_CODES)):
        bad = sorted(set(np.unique(arr).tolist()) - set(FSB_CODES))
        raise ValueError(f"codes must be in {FSB_CODES} (nonzeros per 16-element row segment), got {bad}")
    arr = arr.astype(np.int64)
    if grid is not None:
        if arr.ndim == 0:
            arr = np.full(grid, int(arr), dtype=np.int64)
        elif arr.shape != grid:
            raise ValueError(f"codes must be a scalar or have the block-grid shape {grid}, got {arr.shape}")
    return arr


# --------------------------------------------------------------------------------------------
# N:M pruning and code selection (spec 4)
# --------------------------------------------------------------------------------------------


def _segment_ranks(w: np.ndarray, m: int) -> np.ndarray:
    """Rank ``[N, K/m, m]`` of every element by magnitude within its m-segment (0 = largest; ties: lower K)."""
    n, k = w.shape
    mag = np.abs(w.astype(np.float64)).reshape(n, k // m, m)
    order = np.argsort(-mag, axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(m)[None, None, :], axis=-1)
    return ranks


def prune_nm(w: ArrayLike, n: int, m: int = BLOCK) -> np.ndarray:
    """N:M magnitude pruning of ``w [N, K]``: every m-element row segment along K keeps its n largest |w|.

    Each output row's K elements are split into ``K / m`` consecutive segments (spec 3.3, 4); in each the
    ``n`` elements of largest magnitude keep their value and the rest become zero (ties keep the lower
    K index). Returns an array of ``w``'s dtype and shape. ``n = 0`` prunes everything, ``n = m`` is the
    identity. Raises ValueError unless ``m >= 1`` divides K and ``0 <= n <= m``.
    """
    arr = _as_matrix(w, "w")
    m = _check_int(m, "m", 1)
    n = _check_int(n, "n", 0, m)
    if arr.shape[1] % m:
        raise ValueError(f"m = {m} must divide K = {arr.shape[1]}")
    keep = (_segment_ranks(arr, m) < n).reshape(arr.shape)
    return np.where(keep, arr, 0).astype(arr.dtype)


def prune_fsb(w: ArrayLike, codes: ArrayLike) -> np.ndarray:
    """Block-wise N:16 pruning: inside FSB block ``(nb, kb)`` keep ``codes[nb, kb]`` largest |w| per row segment.

    ``w [N, K]`` with N and K multiples of 16; ``codes`` a scalar or ``[N/16, K/16]`` in {2, 4, 8, 16}
    (spec 4). The result can be passed to :func:`encode_fsb` with the same codes.
    """
    arr = _as_matrix(w, "w")
    grid = _check_blocked(arr.shape, "w")
    c = _check_codes(codes, grid)
    limit = np.repeat(c, BLOCK, axis=0)[:, :, None]  # [N, K/16, 1]: code of each row segment's block
    keep = (_segment_ranks(arr, BLOCK) < limit).reshape(arr.shape)
    return np.where(keep, arr, 0).astype(arr.dtype)


def choose_codes(w: ArrayLike, target: float | int) -> np.ndarray:
    """Per-block FSB codes ``[N/16, K/16]`` (int64) for ``w [N, K]`` given a target pattern.

    * ``target`` an integer code in {2, 4, 8, 16}: that code for every block (uniform N:16).
    * ``target`` a float kept density in ``[1/8, 1]`` (spec 4, e.g. 0.7 for q/k_proj in the artifact): start
      every block at c = 2 and greedily double the code of the block whose upgrade retains the most
      magnitude ``sum |w|`` per added nonzero (after :func:`prune_fsb`), while the total kept nonzeros
      stay within ``target * N * K``. The result's :func:`kept_density` never exceeds ``target``; ties
      go to the lower block index (row-major), so the choice is deterministic.
    """
    arr = _as_matrix(w, "w")
    grid = _check_blocked(arr.shape, "w")
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if target not in FSB_CODES:
            raise ValueError(f"target must be a code in {FSB_CODES} or a density in [0.125, 1], got {target!r}")
        return _check_codes(int(target), grid)
    if isinstance(target, bool) or not isinstance(target, (float, np.floating)) or not (0.125 <= target <= 1.0):
        raise ValueError(f"target must be a code in {FSB_CODES} or a density in [0.125, 1], got {target!r}")
    nb, kb = grid
    mag = np.sort(np.abs(arr.astype(np.float64)).reshape(nb, BLOCK, kb, BLOCK), axis=-1)[..., ::-1]
    kept = np.cumsum(mag, axis=-1).sum(axis=1)  # [NB, KB, 16]: retained magnitude keeping c per segment
    kept = kept.reshape(nb * kb, BLOCK)
    codes = np.full(nb * kb, FSB_CODES[0], dtype=np.int64)
    budget = math.floor(target * arr.size + 1e-9) - BLOCK * codes.sum()
    heap: list[tuple[float, int]] = []

    def push(b: int) -> None:
        c = codes[b]
        if c < BLOCK:
            gain = kept[b, 2 * c - 1] - kept[b, c - 1]
            heapq.heappush(heap, (-gain / (BLOCK * c), b))

    for b in range(nb * kb):
        push(b)
    while heap:
        _, b = heapq.heappop(heap)
        cost = BLOCK * int(codes[b])  # doubling c adds c nonzeros in each of the 16 rows
        if cost > budget:
            continue  # the budget only shrinks, so this upgrade never fits again
        budget -= cost
        codes[b] *= 2
        push(b)
    return codes.reshape(nb, kb)


def kept_density(codes: ArrayLike) -> float:
    """Layer kept density ``rho = mean over blocks of c / 16`` (spec 4); ValueError naming ``codes``."""
    return float(np.mean(_check_codes(codes) / BLOCK))


# --------------------------------------------------------------------------------------------
# the FSB container (spec 4)
# --------------------------------------------------------------------------------------------


def _slot_layout(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Block row ``nb``, block column ``kb``, row-in-block ``r`` and slot ``s`` of every stored nonzero.

    Storage order: blocks row-major over ``(nb, kb)``; inside a block, rows 0..15, each row's ``c`` slots.
    """
    flat = codes.reshape(-1)
    per_block = BLOCK * flat
    block = np.repeat(np.arange(flat.size), per_block)
    offset = np.concatenate([[0], np.cumsum(per_block)[:-1]])
    pos = np.arange(block.size) - offset[block]
    c = flat[block]
    return block // codes.shape[1], block % codes.shape[1], pos // c, pos % c


@dataclass(frozen=True, eq=False)
class FSBMatrix:
    """An ``[N, K]`` INT8 weight matrix in the artifact's FSB N:M format (spec 4).

    Fields:

    * ``shape``: ``(N, K)``, both multiples of 16.
    * ``codes [N/16, K/16]``: per-block code c in {2, 4, 8, 16}: every 16-element row segment of the
      block stores exactly c entries (2:16, 4:16, 8:16, dense).
    * ``values``: int8, all stored entries, blocks row-major over ``(nb, kb)``, inside a block rows 0..15,
      each row segment's c entries by ascending index (``16 * c`` per block). A segment with fewer than c
      nonzeros stores explicit zeros, so the layout stays regular.
    * ``indices``: uint8 in 0..15, the 4-bit K position of each entry inside its 16-element segment;
      strictly increasing within a segment (so decoding is unique). Dense blocks store ``0..15``.

    The constructor validates every field and raises ValueError naming the bad one.
    """

    shape: tuple[int, int]
    codes: np.ndarray
    values: np.ndarray
    indices: np.ndarray

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape)
        if len(shape) != 2:
            raise ValueError(f"shape must be (N, K), got {self.shape!r}")
        grid = _check_blocked(shape, "shape")
        codes = np.asarray(self.codes)
        if codes.shape != grid:
            raise ValueError(f"codes must have the block-grid shape {grid}, got {codes.shape}")
        codes = _check_codes(codes, grid)
        n_slots = int(BLOCK * codes.sum())
        values = np.asarray(self.values).reshape(-1)
        if values.size != n_slots:
            raise ValueError(f"values must hold 16 * sum(codes) = {n_slots} entries, got {values.size}")
        values = _as_int8(values, "values", 1).astype(np.int8)
        idx = np.asarray(self.indices).reshape(-1)
        if idx.size != n_slots:
            raise ValueError(f"indices must hold 16 * sum(codes) = {n_slots} entries, got {idx.size}")
        if not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= BLOCK:
            raise ValueError(f"indices must be integers in 0..{BLOCK - 1} (4 bits)")
        _, _, _, s = _slot_layout(codes)
        if np.any(np.diff(idx.astype(np.int64))[s[1:] > 0] <= 0):
            raise ValueError("indices must be strictly increasing within every row segment")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "indices", idx.astype(np.uint8))

    @property
    def density(self) -> float:
        """Kept density ``rho`` of the stored pattern (:func:`kept_density` of ``codes``)."""
        return kept_density(self.codes)

    def slots(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per stored entry (storage order): output row ``n``, K block ``kb``, index, value (all int64)."""
        nb, kb, r, _ = _slot_layout(self.codes)
        return nb * BLOCK + r, kb, self.indices.astype(np.int64), self.values.astype(np.int64)


def encode_fsb(w_int8: ArrayLike, codes: ArrayLike) -> FSBMatrix:
    """Encode ``w_int8 [N, K]`` (INT8 values, N and K multiples of 16) with per-block ``codes`` (spec 4).

    ``codes`` is a scalar (uniform N:16) or ``[N/16, K/16]``, values in {2, 4, 8, 16}, else ValueError
    naming ``codes``. Every row segment of block ``(nb, kb)`` must have at most ``codes[nb, kb]`` nonzeros
    (prune first with :func:`prune_nm` / :func:`prune_fsb`), else ValueError. A segment's stored indices
    are its nonzero positions plus, if it has fewer than c, the lowest zero positions, in ascending order.
    ``decode_fsb(encode_fsb(w, codes))`` returns ``w`` exactly.
    """
    w = _as_int8(w_int8, "w_int8", 2)
    grid = _check_blocked(w.shape, "w_int8")
    c = _check_codes(codes, grid)
    nb, kb = grid
    blocks = w.reshape(nb, BLOCK, kb, BLOCK).transpose(0, 2, 1, 3)  # [NB, KB, 16 rows, 16 cols]
    nnz = np.count_nonzero(blocks, axis=-1)
    over = nnz > c[:, :, None]
    if np.any(over):
        b0, b1, r = (int(v[0]) for v in np.nonzero(over))
        raise ValueError(
            f"w_int8 row {b0 * BLOCK + r}, K block {b1} has {nnz[b0, b1, r]} nonzeros, more than its code "
            f"{c[b0, b1]}; prune first (prune_fsb)"
        )
    order = np.argsort(blocks == 0, axis=-1, kind="stable")  # nonzeros first, then zeros, by index
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(BLOCK)[None, None, None, :], axis=-1)
    keep = rank < c[:, :, None, None]
    cols = np.broadcast_to(np.arange(BLOCK), blocks.shape)
    return FSBMatrix((w.shape[0], w.shape[1]), c, blocks[keep], cols[keep])


def decode_fsb(fsb: FSBMatrix) -> np.ndarray:
    """Dense INT8 ``[N, K]`` weights of an :class:`FSBMatrix` (zeros where nothing is stored)."""
    if not isinstance(fsb, FSBMatrix):
        raise ValueError(f"fsb must be an FSBMatrix, got {type(fsb).__name__}")
    n_row, kb, idx, val = fsb.slots()
    w = np.zeros(fsb.shape, dtype=np.int8)
    w[n_row, kb * BLOCK + idx] = val
    return w


def fsb_bytes(codes: ArrayLike, w_bits: int = 8, meta_for_dense: bool = False) -> tuple[int, int]:
    """``(data_bytes, meta_bytes)`` of FSB blocks with these codes (spec 4).

    Per block: data ``16 * c * w_bits / 8`` (an integer for every c), meta ``16 * c * 4 / 8 = 8 * c``
    (one 4-bit index per nonzero), so ``meta = data / 2`` for INT8. Dense blocks (c = 16) carry no meta
    unless ``meta_for_dense`` [assumption]. The 2-bit per-block code and per-group scales are not included.
    """
    c = _check_codes(codes)
    w_bits = _check_int(w_bits, "w_bits", 1, 16)
    data = int(np.sum(BLOCK * c * w_bits // 8))
    meta_c = c if meta_for_dense else np.where(c == BLOCK, 0, c)
    return data, int(np.sum(8 * meta_c))


def pack_indices(fsb: FSBMatrix, meta_for_dense: bool = False) -> np.ndarray:
    """The index metadata as bytes: two 4-bit indices per byte (low nibble first), storage order.

    Dense blocks are left out unless ``meta_for_dense``; the length equals ``fsb_bytes(fsb.codes)[1]``.
    """
    if not isinstance(fsb, FSBMatrix):
        raise ValueError(f"fsb must be an FSBMatrix, got {type(fsb).__name__}")
    nb, kb, _, _ = _slot_layout(fsb.codes)
    keep = np.ones(fsb.indices.size, bool) if meta_for_dense else fsb.codes[nb, kb] != BLOCK
    nib = fsb.indices[keep].astype(np.uint8)  # 16 * c per block: always an even count
    return (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8)


def _as_fsb(w: FSBMatrix | ArrayLike, name: str) -> FSBMatrix:
    """An FSBMatrix as is; a dense INT8 matrix as all-dense (c = 16) FSB."""
    return w if isinstance(w, FSBMatrix) else encode_fsb(_as_int8(w, name, 2), BLOCK)


# --------------------------------------------------------------------------------------------
# reference product (JAX)
# --------------------------------------------------------------------------------------------


def _gather_matmul(x: jnp.ndarray, vals: jnp.ndarray, idx: jnp.ndarray) -> jnp.ndarray:
    """``y[t, n] = sum_{kb, s} vals[n, kb, s] * x[t, 16*kb + idx[n, kb, s]]`` in int32."""
    t, k = x.shape
    kb = k // BLOCK
    xb = x.reshape(t, kb, BLOCK)
    picked = xb[:, jnp.arange(kb)[None, :, None], idx]  # [T, N, KB, S]: the sparse MUX outputs
    return jnp.sum(picked * vals[None], axis=(2, 3), dtype=jnp.int32)


_gather_matmul_jit = _jit(_gather_matmul)


def sparse_matmul(x: ArrayLike, w_sparse: FSBMatrix | ArrayLike) -> jnp.ndarray:
    """``y [T, N] = x @ W_masked.T`` (int32, JAX) for INT8 ``x [T, K]`` and FSB weights ``W [N, K]``.

    Computed from the stored entries only (spec 3.3): each entry picks its activation from its 16-element
    K block by the 4-bit index and the products are summed per output row. Equals the dense product with
    the pruned zeros, ``x @ decode_fsb(w_sparse).T``, exactly while ``K * 2^14 < 2^31``. A plain INT8
    matrix is taken as dense weights (all codes 16). Raises ValueError for mismatched K or non-INT8 input.
    """
    fsb = _as_fsb(w_sparse, "w_sparse")
    xa = _as_int8(x, "x", 2)
    n, k = fsb.shape
    if xa.shape[1] != k:
        raise ValueError(f"x must have K = {k} columns to match w_sparse, got shape {xa.shape}")
    if k * 2**14 >= 2**31:
        raise ValueError(f"K = {k} is too large for an exact int32 accumulation")
    row, kb, idx, val = fsb.slots()
    s_max = int(fsb.codes.max())
    _, _, _, s = _slot_layout(fsb.codes)
    vals = np.zeros((n, k // BLOCK, s_max), np.int32)  # padded to the largest code; pads multiply by 0
    ids = np.zeros((n, k // BLOCK, s_max), np.int32)
    vals[row, kb, s] = val
    ids[row, kb, s] = idx
    return _gather_matmul_jit(jnp.asarray(xa.astype(np.int32)), jnp.asarray(vals), jnp.asarray(ids))


# --------------------------------------------------------------------------------------------
# lane arithmetic and the OAU rule (spec 3.2)
# --------------------------------------------------------------------------------------------


def _lane_max(lane_bits: int) -> int:
    return 2 ** (_check_int(lane_bits, "lane_bits", 2) - 1) - 1


def lane_excess(n_products: int, max_abs: int = INT8_SYM_MAX, lane_bits: int = LANE_BITS) -> int:
    """How far ``n_products`` worst-case products ``max_abs^2`` exceed a signed lane (0 if they fit).

    Spec 3.2: ``8 * 127^2 = 129,032 <= 2^17 - 1 = 131,071`` (0); nine products reach 145,161 (14,090 over);
    with -128 * -128 = 16,384, eight products reach 131,072 (1 over). The negative extreme
    ``-n * max_abs^2`` is never worse: the lane's negative range is one larger.
    """
    n_products = _check_int(n_products, "n_products", 0)
    max_abs = _check_int(max_abs, "max_abs", 0, 128)
    return max(0, n_products * max_abs**2 - _lane_max(lane_bits))


def max_products_in_lane(max_abs: int = INT8_SYM_MAX, lane_bits: int = LANE_BITS) -> int:
    """Largest number of ``max_abs^2`` products a signed ``lane_bits`` lane holds: 8 for INT8 +-127 (spec 3.2)."""
    max_abs = _check_int(max_abs, "max_abs", 1, 128)
    return _lane_max(lane_bits) // max_abs**2


OAU_MAX_BYPASS = max_products_in_lane()  # spec 3.2: chains of <= 8 DSPs bypass the OAU


def oau_enabled(chain_len: int) -> bool:
    """Whether a chain of ``chain_len`` DSPs needs the Overflow Adjust Unit: iff ``chain_len > 8`` (spec 3.2).

    One DSP adds one product per lane, so a chain of at most :data:`OAU_MAX_BYPASS` DSPs cannot overflow
    its 18-bit lanes with symmetric INT8 operands.
    """
    return _check_chain_len(chain_len) > OAU_MAX_BYPASS


# --------------------------------------------------------------------------------------------
# the CSD-Chain (spec 3)
# --------------------------------------------------------------------------------------------

LANE_MODES = ("exact", "bit_true")
ON_OVERFLOW = ("raise", "flag")


@dataclass(frozen=True)
class ChainStats:
    """Counters of one :func:`simulate_chain` run.

    * ``cycles``: clock cycles from the first issue until the last pass has left the chain
      (``passes + chain_len - 1``, see :func:`chain_cycles`); ``passes``: passes issued (one per cycle).
    * ``busy_slots`` / ``total_slots``: DSP-slots holding a stored weight / ``passes * chain_len``;
      ``utilization = busy_slots / total_slots`` (pipeline fill excluded).
    * ``useful_macs = 2 * busy_slots`` (two token lanes per DSP); ``nonzero_macs`` counts only nonzero
      weights (FSB may store explicit zeros in under-full segments).
    * ``sums_emitted``: finished sums leaving a cut reduction node or the chain end.
    * ``oau_enabled``; ``overflows``: 18-bit lane overflows seen in ``bit_true`` mode (wrapped when
      flagged); ``int8_min_operands``: issued weights and MUX-selected activations equal to -128 (the
      quantizer should clip to [-127, 127], spec 3.2).
    """

    chain_len: int
    passes: int
    cycles: int
    busy_slots: int
    total_slots: int
    utilization: float
    useful_macs: int
    nonzero_macs: int
    sums_emitted: int
    oau_enabled: bool
    overflows: int
    int8_min_operands: int


def _schedule(fsb: FSBMatrix, chain_len: int) -> dict[str, np.ndarray]:
    """Pack the stored entries into passes of ``chain_len`` DSP slots and set the reduction nodes.

    Work order: output rows n = 0..N-1; within a row, K blocks kb = 0..K/16-1; within a block, its c
    entries by ascending index. Slots are packed back to back (a row segment may continue in the next
    pass; its partial sums meet in the output accumulator), the last pass is padded with idle DSPs.
    A DSP starts a fresh sum (Z-mux selects zero) at the chain head and where the previous slot belongs
    to another output row, or to another K block unless both blocks are dense (spec 3.3: dense, the chain
    accumulates consecutive K elements of one row; N:M, one sub-chain per M-element block). Codes are even
    and passes have even length, so every cut falls on a DG boundary, where the reduction nodes are.
    """
    row, kb, idx, val = fsb.slots()
    c = fsb.codes[row // BLOCK, kb]
    order = np.lexsort((np.arange(row.size), kb, row))  # row-major over (n, kb); storage order inside
    row, kb, idx, val, dense = row[order], kb[order], idx[order], val[order], c[order] == BLOCK
    busy = row.size
    passes = -(-busy // chain_len)
    pad = passes * chain_len - busy
    row = np.concatenate([row, np.full(pad, -1)])  # -1: idle DSP
    kb, idx, val = (np.concatenate([a, np.zeros(pad, np.int64)]) for a in (kb, idx, val))
    dense = np.concatenate([dense, np.zeros(pad, bool)])
    new = np.ones(row.size, bool)
    new[1:] = (row[1:] != row[:-1]) | ((kb[1:] != kb[:-1]) & ~(dense[1:] & dense[:-1]))
    pos = np.arange(row.size) % chain_len
    start = new | (pos == 0)
    assert not np.any(start & (pos % DG_SIZE != 0)), "a cut fell inside a DSP group"
    end = np.append(start[1:], True)
    return {
        "row": row.reshape(passes, chain_len),
        "kb": kb.reshape(passes, chain_len),
        "idx": idx.reshape(passes, chain_len),
        "val": val.reshape(passes, chain_len),
        "start": start.reshape(passes, chain_len),
        "end": end.reshape(passes, chain_len),
        "busy": np.array(busy),
    }


def _sparse_mux(candidates: np.ndarray, kb: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Per DSP, both lanes: the activation at position ``index`` of its M = 16 candidates (block ``kb``)."""
    return candidates[:, kb, index].T  # [n_dsp, 2]


def simulate_chain(
    x: ArrayLike,
    w: FSBMatrix | ArrayLike,
    chain_len: int = 32,
    *,
    lane_mode: str = "exact",
    oau: bool | None = None,
    on_overflow: str = "raise",
) -> tuple[np.ndarray, ChainStats]:
    """Cycle-by-cycle model of one CSD-Chain computing ``y [2, N] = x @ W.T`` for two tokens (spec 3).

    ``x [2, K]`` INT8 activations (token lanes A and B); ``w`` an :class:`FSBMatrix` ``[N, K]`` (or a plain
    INT8 matrix, taken as dense). Structure (spec 3.1): ``chain_len`` packed DSPs (even, DGs of 2); DSP j
    holds one weight and multiplies it by two activations, one per lane, chosen by its sparse MUX from the
    16 candidates of its K block with the weight's 4-bit index; products cascade DSP to DSP; after every
    DG a reduction node passes the cascade on or cuts (emits the finished sum, the next DG starts from
    zero). The work is packed as in :func:`chain_cycles`: under uniform N:16 with N dividing ``chain_len``
    every pass holds ``chain_len / N`` sub-chains of N DSPs, one 16-element block of one output row each;
    with dense weights the whole pass accumulates ``chain_len`` K elements of one row.

    Timing: one pass is issued per cycle; pass p occupies DSP j in cycle ``p + j`` (one register per DSP),
    so the model steps ``passes + chain_len - 1`` cycles. Emitted sums are added into a wide output
    accumulator (not part of the timing).

    Lanes: ``lane_mode="exact"`` (default) keeps exact integers. ``"bit_true"`` checks every DSP's lane
    against 18-bit two's complement (spec 3.2). The OAU (``oau=None``: on iff ``chain_len > 8``) splits
    the lane at every reduction node into LSP = low 16 bits (unsigned, continues down the cascade) and
    MSP (the rest, carried on the wide correction path and added back when the sum is emitted), so a DG's
    two products can never overflow and results stay exact even with -128 operands. Without the OAU an
    overflow raises OverflowError (``on_overflow="raise"``) or is counted, wrapped and reported in
    ``stats.overflows`` (``"flag"``).

    Returns ``(y int32 [2, N], ChainStats)``; in exact mode (or bit-true without overflow) ``y`` equals
    :func:`sparse_matmul` exactly.
    """
    fsb = _as_fsb(w, "w")
    xa = _as_int8(x, "x", 2)
    n_out, k = fsb.shape
    if xa.shape != (LANES, k):
        raise ValueError(f"x must have shape (2, {k}) (two token lanes, K of w), got {xa.shape}")
    chain_len = _check_chain_len(chain_len)
    if lane_mode not in LANE_MODES:
        raise ValueError(f"lane_mode must be one of {LANE_MODES}, got {lane_mode!r}")
    if on_overflow not in ON_OVERFLOW:
        raise ValueError(f"on_overflow must be one of {ON_OVERFLOW}, got {on_overflow!r}")
    use_oau = oau_enabled(chain_len) if oau is None else bool(oau)
    bit_true = lane_mode == "bit_true"
    lane_hi, lane_lo = 2 ** (LANE_BITS - 1) - 1, -(2 ** (LANE_BITS - 1))
    lsp_mask = 2 ** (LANE_BITS - 2) - 1  # LSP: 16 bits, so LSP + two products < 2^17 (spec 3.2)

    sch = _schedule(fsb, chain_len)
    passes = sch["row"].shape[0]
    cand = xa.reshape(LANES, k // BLOCK, BLOCK)  # MUX candidates per K block, both lanes
    out = np.zeros((n_out, LANES), np.int64)
    lane = np.zeros((chain_len, LANES), np.int64)  # cascade register (P) of each DSP
    msp = np.zeros((chain_len, LANES), np.int64)  # OAU correction path travelling with the cascade
    j_all = np.arange(chain_len)
    overflows = min_ops = emitted = nonzero = 0
    cycles = passes + chain_len - 1 if passes else 0
    for t in range(cycles):
        p_all = t - j_all
        act = (p_all >= 0) & (p_all < passes)
        j, p = j_all[act], p_all[act]
        row, kb, idx, val = (sch[key][p, j] for key in ("row", "kb", "idx", "val"))
        start, end, real = sch["start"][p, j], sch["end"][p, j], sch["row"][p, j] >= 0
        a = _sparse_mux(cand, kb, idx)  # [n_act, 2]
        prod = val[:, None] * a  # one weight, two INT8 MACs (packed DSP)
        min_ops += int(np.sum((val == -128) & real) + np.sum((a == -128) & real[:, None]))
        nonzero += int(np.sum((val != 0) & real))
        prev = np.where(start[:, None], 0, lane[np.maximum(j - 1, 0)])  # Z-mux: zero or PCIN
        new_lane = prev + prod
        new_msp = np.where(start[:, None], 0, msp[np.maximum(j - 1, 0)])
        if bit_true:
            bad = (new_lane > lane_hi) | (new_lane < lane_lo)
            if np.any(bad):
                if on_overflow == "raise":
                    d = int(j[np.nonzero(bad)[0][0]])
                    raise OverflowError(
                        f"18-bit lane overflow at cycle {t}, DSP {d} (OAU {'on' if use_oau else 'bypassed'})"
                    )
                overflows += int(np.sum(bad))
                new_lane = (new_lane - lane_lo) % 2**LANE_BITS + lane_lo  # two's-complement wrap
        if use_oau:  # reduction node after each DG: LSP continues, MSP goes to the correction path
            rn = (j % DG_SIZE == DG_SIZE - 1)[:, None]
            lsp = new_lane & lsp_mask
            new_msp = np.where(rn, new_msp + (new_lane - lsp), new_msp)
            new_lane = np.where(rn, lsp, new_lane)
        emit = end & real
        np.add.at(out, row[emit], new_lane[emit] + new_msp[emit])  # cut RN / chain end -> accumulator
        emitted += int(np.sum(emit))
        lane[:] = 0
        msp[:] = 0
        lane[j], msp[j] = new_lane, new_msp
    busy = int(sch["busy"])
    total = passes * chain_len
    if np.any(np.abs(out) > 2**31 - 1):
        raise OverflowError("an output exceeds int32")
    stats = ChainStats(
        chain_len=chain_len,
        passes=passes,
        cycles=cycles,
        busy_slots=busy,
        total_slots=total,
        utilization=busy / total if total else 0.0,
        useful_macs=LANES * busy,
        nonzero_macs=LANES * nonzero,
        sums_emitted=emitted,
        oau_enabled=use_oau,
        overflows=overflows,
        int8_min_operands=min_ops,
    )
    return out.T.astype(np.int32), stats


def chain_cycles(k: int, n_out: int, chain_len: int, n: int, m: int = BLOCK) -> int:
    """Cycles one CSD-Chain needs for a ``K x n_out`` weight tile and two tokens under N:M (dense: n == m).

    Work: every output row has ``K / m`` blocks of ``n`` stored weights, one DSP-slot each, both token
    lanes sharing it, so ``slots = n_out * (K / m) * n`` (``n_out * K`` dense); slots are packed back to
    back into passes of ``chain_len`` DSPs (spec 3.3: ``chain_len / n`` sub-chains per pass),
    ``passes = ceil(slots / chain_len)``.

    Pipeline latency convention: one pass is issued per cycle and pass p occupies DSP j in cycle
    ``p + j`` (one register stage per DSP), so the tile takes ``cycles = passes + chain_len - 1`` from the
    first issue until the last pass leaves the last DSP (fill latency ``chain_len - 1``; the output
    accumulator after the chain is not counted); 0 when there is no work (``n = 0`` blocks are skipped).
    Equals ``ChainStats.cycles`` of :func:`simulate_chain` for a uniform ``n:16`` FSB matrix.

    Raises ValueError unless ``m`` is a power of two dividing ``k``, ``n`` is a multiple of the DG size 2
    in ``0..m`` and ``chain_len`` is a positive multiple of 2.
    """
    m = _check_int(m, "m", DG_SIZE)
    if m & (m - 1):
        raise ValueError(f"m must be a power of two, got {m}")
    k = _check_int(k, "k", 1)
    n_out = _check_int(n_out, "n_out", 1)
    n = _check_int(n, "n", 0, m)
    if n % DG_SIZE:
        raise ValueError(f"n must be a multiple of dg_size = {DG_SIZE}, got {n}")
    if k % m:
        raise ValueError(f"m = {m} must divide k = {k}")
    chain_len = _check_chain_len(chain_len)
    passes = -(-(n_out * (k // m) * n) // chain_len)
    return passes + chain_len - 1 if passes else 0


# --------------------------------------------------------------------------------------------
# mixed precision (spec 7)
# --------------------------------------------------------------------------------------------


def dequant_to_int8(q_codes: ArrayLike, bits: int, scale_shift: int | None = None) -> np.ndarray:
    """Expand unsigned ``bits``-bit weight codes to INT8 as the MMU dequantization unit does (spec 7).

    Convention (symmetric, as ``kernels_ref.quant``'s symmetric format): a code ``q`` in ``[0, 2^b - 1]``
    stands for ``w = s * (q - 2^(b-1))``. The unit centres the code and left-shifts it,
    ``int8 = (q - 2^(b-1)) * 2^shift``, with ``shift = 8 - b`` by default so the values span the INT8
    range (b = 4: -128..112 in steps of 16; b = 8: the centred code itself); the shift is folded into the
    per-group scale, ``w = (s * 2^-shift) * int8``, so one INT8 MAC array serves every width. ``scale_shift``
    may be any of ``0 .. 8 - b``. Note the lowest code maps to ``-2^(b-1+shift)``, i.e. -128 at the default
    shift, which the CSD-Chain's bit-true mode flags without the OAU (spec 3.2).

    Returns int8 of ``q_codes``'s shape. Raises ValueError for ``bits`` not in {2, 3, 4, 8}, a shift out of
    range or codes outside ``[0, 2^b - 1]``.
    """
    if isinstance(bits, bool) or bits not in PRECISION_BITS:
        raise ValueError(f"bits must be one of {PRECISION_BITS}, got {bits!r}")
    shift = 8 - bits if scale_shift is None else _check_int(scale_shift, "scale_shift", 0, 8 - bits)
    q = np.asarray(q_codes)
    if q.size and (not np.issubdtype(q.dtype, np.integer) or q.min() < 0 or q.max() > 2**bits - 1):
        raise ValueError(f"q_codes must hold integer codes in [0, {2**bits - 1}] for bits = {bits}")
    centred = q.astype(np.int64) - 2 ** (bits - 1)
    return (centred << shift).astype(np.int8)


def average_bits(precision_map: Mapping[str, int], param_counts: Mapping[str, int]) -> float:
    """Parameter-weighted mean weight width ``sum_l bits_l * n_l / sum_l n_l`` (spec 7; paper ~3.5 bits).

    ``precision_map`` maps each layer/block name to its width in {2, 3, 4, 8}; ``param_counts`` maps the same
    names to their weight counts (non-negative integers, positive total). Raises ValueError naming the
    argument when the key sets differ, a width is not allowed, or a count is invalid.
    """
    if set(precision_map) != set(param_counts):
        missing = sorted(set(precision_map) ^ set(param_counts))
        raise ValueError(f"precision_map and param_counts must have the same keys; unmatched: {missing}")
    total = bits_sum = 0
    for name, bits in precision_map.items():
        if isinstance(bits, bool) or bits not in PRECISION_BITS:
            raise ValueError(f"precision_map[{name!r}] must be one of {PRECISION_BITS}, got {bits!r}")
        count = _check_int(param_counts[name], f"param_counts[{name!r}]", 0)
        total += count
        bits_sum += int(bits) * count
    if total == 0:
        raise ValueError("param_counts must have a positive total")
    return bits_sum / total
