"""T-MAC LUT-GEMV and SAIL Mapping-B LUT-GEMV: the numeric reference models (spec ``lut_pim.md`` 2, 3, 5).

Two ways to multiply low-bit weights by activations with table lookups instead of multiplies:

* **T-MAC** (spec 2, CPU): per token, build for every group of g = 4 activations a 16-entry table of
  all signed sums ``T_j[p] = sum_t (2*bit_t(p) - 1) * a[4j+t]`` (:func:`build_tables`), optionally
  quantize it to int8 per act group (:func:`quantize_tables`), then for every weight bit plane use four
  weight bits as the index (:func:`lut_gemv`, :func:`lut_gemm`). Scales apply per kfactor block of
  tables, planes merge with per-plane coefficients (spec 2.5's generalised plane-affine form), and an
  offset term restores the ``-1/2`` of the sign mapping.
* **SAIL Mapping B** (spec 5.2, SRAM-PIM): the tables hold *weight* subset sums per output row
  (:func:`pim_tables`) and the *activation* bit-plane patterns are the indices
  (:func:`pim_lut_gemv`), all in integers. :func:`pattern_stats` measures the pattern dedupe of 5.3.

Design notes (why the code is shaped like this):

* Weight-side preparation (bit planes, 4-bit indices, per-plane coefficients) is offline work in the
  real kernels, so it is done once per call in NumPy float64 and cast to the compute dtype; that makes
  the alpha form and the generalised form of spec 2.5 produce bit-identical coefficients for the
  symmetric format. The per-token work (tables, lookups, block sums, scaling) is one jitted JAX
  function per path, because XLA compiles per shape (~50 ms each on this CPU).
* Table entries are summed in the fixed order ``((s0*a0 + s1*a1) + s2*a2) + s3*a3`` so the mirrored
  build (8 odd entries, negate the rest) equals the direct build exactly (float negation commutes with
  rounding; only the sign of an exact-zero entry can differ, ``-0.0`` vs ``0.0``).
* A kfactor block never straddles a weight group or an act group (spec 2.4): the kernel uses
  ``min(kfactor, gs/4, ag/4)`` tables per block, which must divide both group sizes (in tables).
* The compute dtype is the promoted float dtype of the activations and the weight parameters, so a
  golden test can run in float64 under ``jax.enable_x64``; integer paths accumulate in int32.

This package must not import ``archsim``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from kernels_ref._jit import fast_jit as _jit
from kernels_ref.quant import WEIGHT_BITS, QuantizedWeights, bit_planes, check_group, check_int

__all__ = [
    "ALPHA",
    "build_tables",
    "build_tables_mirrored",
    "lut_gemm",
    "lut_gemv",
    "lut_gemv_int",
    "op_counts",
    "pattern_stats",
    "pim_lut_gemv",
    "pim_tables",
    "quantize_tables",
]

ALPHA = (0.5, 1.0, 2.0, 4.0)  # spec 2.2: alpha_i = 2^(i-1), plane coefficients of the symmetric format
G_TMAC = 4  # spec 2.3: elements per lookup index in the T-MAC kernel (16-entry byte tables)
TABLE_G = range(1, 9)  # any g whose 2^g-entry tables and patterns stay small
ACT_BITS = range(2, 9)  # spec 5.2: two's-complement activations, b_a <= 8



# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


def _check_positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _float_dtype(*dtypes: np.dtype) -> np.dtype:
    """Promoted float dtype of the inputs, canonicalised (float64 only when jax x64 is enabled)."""
    dt = np.result_type(*[d if np.issubdtype(d, np.floating) else np.float32 for d in dtypes])
    return jax.dtypes.canonicalize_dtype(dt)


def _activations(a: ArrayLike, name: str, ndim: int) -> jnp.ndarray:
    arr = jnp.asarray(a)
    if arr.ndim != ndim:
        want = "a [K] vector" if ndim == 1 else "an [N, K] matrix"
        raise ValueError(f"{name} must be {want}, got shape {tuple(arr.shape)}")
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _check_k(k: int, g: int, name: str) -> None:
    if k == 0 or k % g:
        raise ValueError(f"K = {k} ({name}) must be a positive multiple of g = {g}")


def _int_activations(a_int: ArrayLike, a_bits: int) -> np.ndarray:
    """``a_int`` as int32 ``[N, K]`` (a ``[K]`` vector becomes one token), range-checked for ``a_bits``."""
    arr = np.asarray(a_int)
    if arr.ndim not in (1, 2):
        raise ValueError(f"a_int must be a [K] vector or an [N, K] matrix, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"a_int must hold integers, got dtype {arr.dtype}")
    lo, hi = -(2 ** (a_bits - 1)), 2 ** (a_bits - 1) - 1
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"a_int must lie in [{lo}, {hi}] for a_bits = {a_bits} (two's complement)")
    return np.atleast_2d(arr).astype(np.int32)


# --------------------------------------------------------------------------------------------
# T-MAC tables (spec 2.3)
# --------------------------------------------------------------------------------------------


def _sign_matrix(g: int) -> np.ndarray:
    """``S[p, t] = 2*bit_t(p) - 1``, shape ``[2^g, g]`` (bit t of p selects element t of the group)."""
    return 2 * ((np.arange(2**g)[:, None] >> np.arange(g)) & 1) - 1


def _signed_sums(ar: jnp.ndarray, signs: np.ndarray) -> jnp.ndarray:
    """``sum_t signs[p, t] * ar[..., t]`` for every row p, summed left to right over t (fixed order)."""
    out = ar[..., 0:1] * signs[:, 0].astype(ar.dtype)
    for t in range(1, signs.shape[1]):
        out = out + ar[..., t : t + 1] * signs[:, t].astype(ar.dtype)
    return out


def _tables_impl(a: jnp.ndarray, g: int) -> jnp.ndarray:
    ar = a.reshape(a.shape[:-1] + (a.shape[-1] // g, g))
    return _signed_sums(ar, _sign_matrix(g))


def _tables_mirrored_impl(a: jnp.ndarray, g: int) -> jnp.ndarray:
    ar = a.reshape(a.shape[:-1] + (a.shape[-1] // g, g))
    n = 2**g
    odd = _signed_sums(ar, _sign_matrix(g)[1::2])  # p = 1, 3, ..., 2^g - 1: a_0 enters with +
    # T[p] = odd[(p-1)/2] for odd p, and T[p] = -T[2^g-1-p] = -odd[(2^g-2-p)/2] for even p (mirror).
    p = np.arange(n)
    src = np.where(p % 2 == 1, (p - 1) // 2, (n - 2 - p) // 2)
    sign = np.where(p % 2 == 1, 1, -1).astype(ar.dtype)
    return odd[..., src] * sign


_tables_jit = _jit(_tables_impl, static_argnames=("g",))
_tables_mirrored_jit = _jit(_tables_mirrored_impl, static_argnames=("g",))


def _table_input(a: ArrayLike, g: int) -> tuple[jnp.ndarray, int]:
    g = check_int(g, "g", TABLE_G)
    arr = jnp.asarray(a)
    if arr.ndim not in (1, 2):
        raise ValueError(f"a must be a [K] vector or an [N, K] matrix, got shape {tuple(arr.shape)}")
    _check_k(arr.shape[-1], g, "length of a")
    return arr.astype(_float_dtype(arr.dtype)), g


def build_tables(a: ArrayLike, g: int = 4) -> jnp.ndarray:
    """T-MAC activation tables ``T [..., K/g, 2^g]`` for ``a [K]`` or ``a [N, K]`` (spec 2.3).

    ``T[j, p] = sum_t (2*bit_t(p) - 1) * a[g*j + t]``, float in ``a``'s (promoted) dtype, summed over t
    left to right. Mirror property: ``T[j, 2^g - 1 - p] == -T[j, p]`` exactly (same terms, same order).
    Raises ValueError unless g is in 1..8 and K is a positive multiple of g.
    """
    arr, g = _table_input(a, g)
    return _tables_jit(arr, g=g)


def build_tables_mirrored(a: ArrayLike, g: int = 4) -> jnp.ndarray:
    """Same tables as :func:`build_tables`, computing only the ``2^(g-1)`` odd-p entries (spec 2.3).

    Each odd entry is ``a_0 +- a_1 +- ... `` (g - 1 add/sub); the even entries are their negations via
    ``T[2^g - 1 - p] = -T[p]``. The result equals :func:`build_tables` exactly (``==``; an exact-zero
    entry may come out as ``-0.0``).
    """
    arr, g = _table_input(a, g)
    return _tables_mirrored_jit(arr, g=g)


def _quantize_tables_impl(t: jnp.ndarray, tpg: int, half_even: bool) -> tuple[jnp.ndarray, ...]:
    j, n = t.shape[-2:]
    tg = t.reshape(t.shape[:-2] + (j // tpg, tpg, n))
    # max_p |T_j[p]| is the all-signs-agree entry, i.e. sum_t |a_{4j+t}| summed in the same order.
    peak = jnp.max(jnp.abs(tg), axis=(-2, -1))
    safe = jnp.where(peak > 0, peak, jnp.ones_like(peak))
    # T * 127 / peak rather than T / (peak / 127): one rounding fewer, so spec 2.7's exact ties
    # (2.5 / (5/127) = 63.5) stay exact ties and round as the spec says.
    x = tg * 127 / safe[..., None, None]
    r = jnp.round(x) if half_even else jnp.sign(x) * jnp.floor(jnp.abs(x) + 0.5)
    tq = jnp.clip(r, -127, 127).astype(jnp.int8).reshape(t.shape)
    lam = peak / 127
    omega = jnp.sum(tg[..., 0], axis=-1)  # sum_j T_j[0] = -sum(a) over the act group
    return tq, lam, omega


_quantize_tables_jit = _jit(_quantize_tables_impl, static_argnames=("tpg", "half_even"))

ROUNDING = ("half_even", "half_away")


def quantize_tables(
    tables: ArrayLike, act_group: int = 64, rounding: str = "half_even"
) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """int8 tables per act group of ``act_group`` activations (spec 2.3): ``(Tq, lam, omega)``.

    ``tables`` is ``[..., J, 2^g]`` from :func:`build_tables`; an act group holds ``act_group / g``
    consecutive tables. Per group: ``lam = max_j sum_t |a_{gj+t}| / 127`` (= max |T| / 127),
    ``Tq = sat_int8(round(T / lam))`` in ``[-127, 127]`` (round half to even by default,
    ``rounding="half_away"`` for half away from zero), ``omega = sum_j T_j[0] = -sum(a)`` in float.
    Shapes: ``Tq [..., J, 2^g]`` int8, ``lam`` and ``omega`` ``[..., J*g / act_group]``. A group of
    zero activations gets ``lam = 0`` and ``Tq = 0``.
    """
    t = jnp.asarray(tables)
    if t.ndim < 2 or t.shape[-1] < 2 or t.shape[-1] & (t.shape[-1] - 1):
        raise ValueError(f"tables must be [..., J, 2^g] with 2^g >= 2, got shape {tuple(t.shape)}")
    if rounding not in ROUNDING:
        raise ValueError(f"rounding must be one of {ROUNDING}, got {rounding!r}")
    g = t.shape[-1].bit_length() - 1
    ag = check_group(act_group, t.shape[-2] * g, "act_group", multiple_of=g)
    t = t.astype(_float_dtype(t.dtype))
    return _quantize_tables_jit(t, tpg=ag // g, half_even=rounding == "half_even")


# --------------------------------------------------------------------------------------------
# T-MAC LUT-GEMV / GEMM (spec 2.4, 2.5, 2.8; HLQ spec 3)
# --------------------------------------------------------------------------------------------


def _lut_core(
    idx: jnp.ndarray, coef: jnp.ndarray, nu: jnp.ndarray, a: jnp.ndarray, *, int8: bool, kf: int, tpg: int,
    half_even: bool,
) -> jnp.ndarray:
    """Per-token part of spec 2.8 for tokens ``a [N, K]``; returns ``y [N, M]``.

    idx ``[b, M, J]`` 4-bit indices; coef ``[b, M, NB]`` plane coefficient ``s_i / 2`` of the weight group
    holding each kfactor block; nu ``[M, NB]`` the omega coefficient ``-(z + sum_i s_i / 2)``.
    """
    t = _tables_impl(a, G_TMAC)  # [N, J, 16]
    n, j = t.shape[:2]
    b, m = idx.shape[:2]
    nb = j // kf
    omega = jnp.sum(t[..., 0].reshape(n, nb, kf), axis=-1)  # [N, NB], fp offset term per block
    cols = jnp.arange(j)[None, None, :]
    if int8:
        tq, lam, _ = _quantize_tables_impl(t, tpg, half_even)
        part = tq[:, cols, idx].astype(jnp.int32).reshape(n, b, m, nb, kf).sum(-1)  # integer block sums
        lam_blk = jnp.repeat(lam, tpg // kf, axis=-1)  # lam of the act group holding each block
        scaled = coef[None] * lam_blk[:, None, None, :] * part.astype(t.dtype)  # fp FMA per block
    else:
        scaled = coef[None] * t[:, cols, idx].reshape(n, b, m, nb, kf).sum(-1)
    y = jnp.sum(scaled, axis=(1, 3))  # plane merge and block accumulation
    return y + jnp.sum(nu[None] * omega[:, None, :], axis=-1)


_lut_core_jit = _jit(_lut_core, static_argnames=("int8", "kf", "tpg", "half_even"))

TABLE_KINDS = ("int8", "float")
FORMS = ("general", "alpha")


def _weight_side(qw: QuantizedWeights, form: str, kf: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offline weight preparation: 4-bit indices ``[b, M, J]``, per-block ``coef`` and ``nu`` (float64)."""
    b, (m, k) = qw.bits, qw.shape
    planes = bit_planes(qw.q, b).reshape(b, m, k // G_TMAC, G_TMAC)
    idx = np.sum(planes.astype(np.int32) << np.arange(G_TMAC), axis=-1)  # p = sum_t beta[4j+t] * 2^t (2.4)
    if form == "alpha":  # spec 2.2/2.5: C = sum_i alpha_i * s * P_i + alpha_0 * s * omega
        s = qw.scales.astype(np.float64)
        coef = np.asarray(ALPHA[:b])[:, None, None] * s[None]
        nu = ALPHA[0] * s
    else:  # spec 2.5 generalised form: sum_k w_k a_k = sum_i (s_i/2) P_i + (z + sum_i s_i/2) * sum_k a_k
        s_i, z = qw.plane_affine()
        coef = s_i / 2
        nu = -(z + s_i.sum(axis=0) / 2)  # omega = -sum(a), so the offset enters as nu * omega
    per_group = qw.group_size // G_TMAC // kf  # blocks per weight group
    return idx.astype(np.int32), np.repeat(coef, per_group, axis=-1), np.repeat(nu, per_group, axis=-1)


def lut_gemm(
    qw: QuantizedWeights,
    a: ArrayLike,
    tables: str = "int8",
    kfactor: int = 16,
    act_group: int = 64,
    form: str = "general",
    rounding: str = "half_even",
) -> jnp.ndarray:
    """T-MAC LUT-GEMM for several tokens sharing the weights: ``y [N, M] ~ a [N, K] @ dequantize(qw).T``.

    Implements spec 2.8 with spec 2.5's scaling: per token, tables from :func:`build_tables`; for plane
    i, row m and table j the index is four bits of plane i; lookups are summed per kfactor block (int32
    for ``tables="int8"``, float for ``tables="float"``), each block sum is multiplied by its plane
    coefficient (and the table scale lam), and the offset ``nu * omega`` is added per block.

    * ``form="general"``: coefficients ``s_i / 2`` and offset ``z + sum_i s_i / 2`` from
      :meth:`QuantizedWeights.plane_affine` - works for symmetric, asymmetric and HLQ weights.
    * ``form="alpha"``: spec 2.2's ``s * alpha_i`` and ``alpha_0 * s * omega`` (symmetric format only);
      bit-identical to ``"general"`` for symmetric weights.

    Contract: the float-table path equals dense dequantize-then-matmul up to float round-off; the int8
    path adds table quantization noise (NMSE ~5e-5 on Gaussian data, spec bound 5e-4). ``kfactor`` tables per block,
    clamped so a block never straddles a weight or act group. Raises ValueError for a non-
    :class:`QuantizedWeights` ``qw``, K not a multiple of 4, a group size not a multiple of 4, ``a`` not
    ``[N, K]`` with qw's K, an act group not dividing K, or a kfactor that does not tile both groups.
    """
    if not isinstance(qw, QuantizedWeights):
        raise ValueError(f"qw must be a QuantizedWeights, got {type(qw).__name__}")
    if tables not in TABLE_KINDS:
        raise ValueError(f"tables must be one of {TABLE_KINDS}, got {tables!r}")
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    if form == "alpha" and qw.format != "symmetric":
        raise ValueError(f"form 'alpha' needs symmetric weights (spec 2.2), qw is {qw.format}")
    if rounding not in ROUNDING:
        raise ValueError(f"rounding must be one of {ROUNDING}, got {rounding!r}")
    m, k = qw.shape
    _check_k(k, G_TMAC, "columns of qw")
    if qw.group_size % G_TMAC:
        raise ValueError(f"qw.group_size must be a multiple of g = 4 for LUT-GEMV, got {qw.group_size}")
    arr = _activations(a, "a", 2)
    if arr.shape[1] != k:
        raise ValueError(f"a must have K = {k} columns to match qw, got shape {tuple(arr.shape)}")
    kfactor = _check_positive(kfactor, "kfactor")
    int8 = tables == "int8"
    limits = [qw.group_size // G_TMAC]
    if int8:
        limits.append(check_group(act_group, k, "act_group", multiple_of=G_TMAC) // G_TMAC)
    kf = min(kfactor, *limits)
    if any(lim % kf for lim in limits):
        raise ValueError(f"kfactor = {kfactor} must tile the weight group and act group ({limits} tables)")
    dtype = _float_dtype(arr.dtype, qw.param_dtype)
    idx, coef, nu = _weight_side(qw, form, kf)
    tpg = limits[-1] if int8 else kf
    y = _lut_core_jit(
        jnp.asarray(idx), jnp.asarray(coef, dtype), jnp.asarray(nu, dtype), arr.astype(dtype),
        int8=int8, kf=kf, tpg=tpg, half_even=rounding == "half_even",
    )
    return y


def lut_gemv(
    qw: QuantizedWeights,
    a: ArrayLike,
    tables: str = "int8",
    kfactor: int = 16,
    act_group: int = 64,
    form: str = "general",
    rounding: str = "half_even",
) -> jnp.ndarray:
    """T-MAC LUT-GEMV for one token: ``y [M] ~ dequantize(qw) @ a`` for ``a [K]``; see :func:`lut_gemm`."""
    arr = _activations(a, "a", 1)
    if isinstance(qw, QuantizedWeights) and arr.shape[0] != qw.shape[1]:
        raise ValueError(f"a must have K = {qw.shape[1]} elements to match qw, got shape {tuple(arr.shape)}")
    return lut_gemm(qw, arr[None], tables, kfactor, act_group, form, rounding)[0]


def op_counts(M: int, K: int, bits: int, kfactor: int = 16) -> dict[str, int]:
    """Per-token T-MAC operation counts for an ``M x K`` layer at g = 4 (spec 2.6).

    ``lookups = int_adds = b*M*K/4``; ``table_adds = 6*K`` (8 odd entries x 3 add/sub per 4 elements);
    ``table_negations = 2*K``; ``table_quantize = 4*K``; ``scale_fmas = b*M*ceil(K / (4*kfactor))``
    (= ``b*M*K/(4*kfactor)`` when kfactor blocks tile K); ``plane_merge = b*M``.
    """
    M, kfactor = _check_positive(M, "M"), _check_positive(kfactor, "kfactor")
    K = _check_positive(K, "K")
    _check_k(K, G_TMAC, "argument K")
    bits = check_int(bits, "bits", WEIGHT_BITS)
    lookups = bits * M * K // G_TMAC
    return {
        "lookups": lookups,
        "int_adds": lookups,
        "table_adds": 6 * K,
        "table_negations": 2 * K,
        "table_quantize": 4 * K,
        "scale_fmas": bits * M * math.ceil(K / (G_TMAC * kfactor)),
        "plane_merge": bits * M,
    }


# --------------------------------------------------------------------------------------------
# SAIL Mapping B (spec 5.2, 5.3)
# --------------------------------------------------------------------------------------------


def _pim_tables_impl(q: jnp.ndarray, bits: int, g: int) -> jnp.ndarray:
    m, k = q.shape
    qc = q.astype(jnp.int32).reshape(m, k // g, g) - 2 ** (bits - 1)  # z = 2^(b-1) centring (5.2)
    sel = (np.arange(2**g)[:, None] >> np.arange(g)) & 1  # [2^g, g]: bit_t(p)
    table = sum(qc[..., t : t + 1] * jnp.asarray(sel[:, t], jnp.int32) for t in range(g))  # [M, J, 2^g]
    return jnp.transpose(table, (1, 0, 2))


_pim_tables_jit = _jit(_pim_tables_impl, static_argnames=("bits", "g"))


def _pim_core(q: jnp.ndarray, a_int: jnp.ndarray, *, bits: int, a_bits: int, g: int, tpg: int) -> jnp.ndarray:
    """Integer Mapping-B GEMV: ``y [N, M, G]`` per weight group of ``tpg`` tables (G = J / tpg)."""
    table = _pim_tables_impl(q, bits, g)  # [J, M, 2^g]
    j, m, _ = table.shape
    n = a_int.shape[0]
    u = a_int & (2**a_bits - 1)  # two's-complement bit pattern of each activation
    planes = (u[:, None, :] >> jnp.arange(a_bits)[None, :, None]) & 1  # [N, b_a, K]
    pat = jnp.sum(planes.reshape(n, a_bits, j, g) << jnp.arange(g), axis=-1)  # [N, b_a, J]: p_{j,k}
    rows = jnp.transpose(table, (0, 2, 1))  # [J, 2^g, M]: wordline p of group j holds all M rows
    reads = rows[jnp.arange(j)[None, None, :], pat]  # [N, b_a, J, M], one wordline read per lookup
    part = reads.reshape(n, a_bits, j // tpg, tpg, m).sum(axis=3)  # integer sums per weight group
    c = np.array([2**i for i in range(a_bits - 1)] + [-(2 ** (a_bits - 1))], dtype=np.int32)  # c_k (5.2)
    y = jnp.sum(jnp.asarray(c)[None, :, None, None] * part, axis=1)  # shift-and-accumulate over planes
    return jnp.transpose(y, (0, 2, 1))


_pim_core_jit = _jit(_pim_core, static_argnames=("bits", "a_bits", "g", "tpg"))


def _pim_weights(q_tile: ArrayLike, bits: int, g: int) -> tuple[np.ndarray, int, int]:
    bits = check_int(bits, "bits", WEIGHT_BITS)
    g = check_int(g, "g", TABLE_G)
    q = np.asarray(q_tile)
    if q.ndim != 2:
        raise ValueError(f"q must be a 2-D [M, K] code matrix, got shape {q.shape}")
    if q.size and (not np.issubdtype(q.dtype, np.integer) or q.min() < 0 or q.max() > 2**bits - 1):
        raise ValueError(f"q must hold integer codes in [0, {2**bits - 1}] for bits = {bits}")
    _check_k(q.shape[1], g, "columns of q")
    return q.astype(np.int32), bits, g


def pim_tables(q_tile: ArrayLike, bits: int, g: int = 4) -> jnp.ndarray:
    """Mapping-B weight subset-sum tables ``L [K/g, M, 2^g]`` int32 for codes ``q_tile [M, K]`` (spec 5.2).

    ``L[j, m, p] = sum_t bit_t(p) * (q[m, g*j + t] - 2^(b-1))``: signed, ``|L| <= g * 2^(b-1)``, i.e.
    width ``E = b + ceil(log2 g)``. ``L[j, :, p]`` is one wordline (all M rows across the bitlines).
    """
    q, bits, g = _pim_weights(q_tile, bits, g)
    return _pim_tables_jit(jnp.asarray(q), bits=bits, g=g)


def pim_lut_gemv(
    q: ArrayLike, a_int: ArrayLike, bits: int, a_bits: int = 8, g: int = 4, group_size: int | None = None
) -> jnp.ndarray:
    """Mapping-B integer core: ``y[n, m] = sum_k (q[m, k] - 2^(b-1)) * a_int[n, k]`` exactly, in int32.

    Computed as in spec 5.2/5.3: tables from :func:`pim_tables`; for token n, activation bit plane k and
    group j the pattern ``p = sum_t bit_k(a[g*j + t]) * 2^t`` (two's-complement bits) selects wordline
    ``L[j, :, p]``; plane sums are combined with ``c_k = 2^k`` for ``k < b_a - 1`` and
    ``c_{b_a-1} = -2^(b_a-1)``. ``a_int`` is ``[K]`` (returns ``[M]``) or ``[N, K]`` (returns ``[N, M]``)
    with values in ``[-2^(b_a-1), 2^(b_a-1) - 1]``. With ``group_size`` the integer sums are kept per
    weight group (spec 5.2: scaled later by ``s_w[m, grp] * s_a``): shape ``[..., M, K/group_size]``.
    Exact while ``K * 2^(b-1) * 2^(b_a-1) < 2^31``.
    """
    qi, bits, g = _pim_weights(q, bits, g)
    a_bits = check_int(a_bits, "a_bits", ACT_BITS)
    a2 = _int_activations(a_int, a_bits)
    k = qi.shape[1]
    if a2.shape[1] != k:
        raise ValueError(f"a_int must have K = {k} elements per token to match q, got shape {np.shape(a_int)}")
    gs = k if group_size is None else check_group(group_size, k, "group_size", multiple_of=g)
    y = _pim_core_jit(jnp.asarray(qi), jnp.asarray(a2), bits=bits, a_bits=a_bits, g=g, tpg=gs // g)
    if group_size is None:
        y = y[..., 0]
    return y if np.ndim(a_int) == 2 else y[0]


def pattern_stats(a_int: ArrayLike, a_bits: int = 8, g: int = 4) -> dict[str, int | float]:
    """Pattern-aware dedupe measurement of spec 5.3 step 6 for tokens ``a_int [Bt, K]`` (or ``[K]``).

    For every (group j, activation plane k) the ``Bt`` tokens present patterns
    ``p = sum_t bit_k(a[g*j + t]) * 2^t``; the array reads each distinct non-zero pattern once and
    skips p = 0. Returns ``total = Bt * b_a * K/g`` (lookups without dedupe), ``zero`` (zero patterns
    among them), ``distinct_nonzero = sum_{j,k} |distinct non-zero p|`` (lookups with dedupe) and
    ``kept_fraction`` ``u = distinct_nonzero / total``. Hence u = 1 - zero/total when no two tokens
    share a non-zero pattern, u <= 1/Bt for Bt identical tokens, and u = 0 for all-zero activations.
    """
    a_bits = check_int(a_bits, "a_bits", ACT_BITS)
    g = check_int(g, "g", TABLE_G)
    a2 = _int_activations(a_int, a_bits)
    bt, k = a2.shape
    _check_k(k, g, "length of a_int rows")
    j = k // g
    u = (a2 & (2**a_bits - 1)).astype(np.int64)
    planes = (u[:, None, :] >> np.arange(a_bits)[None, :, None]) & 1  # [Bt, b_a, K]
    pat = np.sum(planes.reshape(bt, a_bits, j, g) << np.arange(g), axis=-1)  # [Bt, b_a, J]
    seen = np.zeros((a_bits, j, 2**g), dtype=bool)
    seen[np.arange(a_bits)[None, :, None], np.arange(j)[None, None, :], pat] = True
    total = bt * a_bits * j
    distinct = int(seen[..., 1:].sum())
    return {
        "total": total,
        "zero": int(np.count_nonzero(pat == 0)),
        "distinct_nonzero": distinct,
        "kept_fraction": distinct / total,
    }


# --------------------------------------------------------------------------------------------
# T-MAC integer path (spec 2.2-2.4 in integers; the arithmetic of hw/rtl/lut_gemv_unit.v)
# --------------------------------------------------------------------------------------------


def _lut_int_core(idx: jnp.ndarray, a: jnp.ndarray, *, bits: int, per_token: bool) -> jnp.ndarray:
    """Integer T-MAC core for tokens ``a [N, K]`` int32 -> ``y [N, M]`` int32.

    idx: 4-bit indices ``[b, M, J]`` shared by all tokens, or ``[N, b, M, J]`` per token (``per_token``).
    """
    t = _tables_mirrored_impl(a, G_TMAC)  # [N, J, 16] int32: 8 odd entries computed, 8 negated
    n, j = t.shape[:2]
    if not per_token:
        idx = jnp.broadcast_to(idx, (n, *idx.shape))
    b, m = idx.shape[1:3]
    flat = idx.reshape(n, b * m, j).transpose(0, 2, 1)  # [N, J, b*M]
    looked = jnp.take_along_axis(t, flat, axis=2)  # [N, J, b*M]: T_j[p_{i,m,j}]
    planes = jnp.sum(looked, axis=1).reshape(n, b, m)  # P_i = sum_j T_j[p_{i,m,j}]
    c = jnp.asarray([2**i for i in range(bits)], jnp.int32)  # 2 * alpha_i = 2^i
    omega = jnp.sum(t[..., 0], axis=-1)  # [N]: sum_j T_j[0] = -sum(a)
    return jnp.sum(c[None, :, None] * planes, axis=1) + omega[:, None]


_lut_int_core_jit = _jit(_lut_int_core, static_argnames=("bits", "per_token"))


def lut_gemv_int(q: ArrayLike, a_int: ArrayLike, bits: int, a_bits: int = 8) -> jnp.ndarray:
    """Integer T-MAC LUT-GEMV on weight codes and integer activations (spec 2.2-2.4), exact in int32.

    Integer tables ``T_j[p] = sum_t (2*bit_t(p) - 1) * a[4j+t]`` built mirrored (the 8 odd entries, the
    even ones negated), indices ``p_{i,m,j} = sum_t bit_i(q[m, 4j+t]) * 2^t``, and

        ``y[m] = sum_i 2^i * sum_j T_j[p_{i,m,j}] + sum_j T_j[0]``

    i.e. spec 2.2 times two (``2*alpha_i = 2^i``, offset ``2*alpha_0*omega = omega = -sum(a)``), which equals
    ``2 * sum_k (q[m, k] - 2^(b-1)) * a[k]`` exactly (no scales: multiply by ``s/2`` for real weights).

    Shapes: ``q [M, K]`` with ``a_int [K]`` (returns ``[M]``) or ``[N, K]`` (returns ``[N, M]``, shared
    weights); or ``q [N, M, K]`` with ``a_int [N, K]`` (one weight matrix per token, returns ``[N, M]``).
    Codes lie in ``[0, 2^bits - 1]``, activations in ``[-2^(a_bits-1), 2^(a_bits-1) - 1]``. Exact while
    ``K * 2^(bits + a_bits - 1) < 2^31``. Raises ValueError for codes out of range, K not a multiple of 4
    or mismatched shapes.
    """
    bits = check_int(bits, "bits", WEIGHT_BITS)
    a_bits = check_int(a_bits, "a_bits", ACT_BITS)
    qa = np.asarray(q)
    if qa.ndim not in (2, 3):
        raise ValueError(f"q must be an [M, K] or [N, M, K] code matrix, got shape {qa.shape}")
    m, k = qa.shape[-2:]
    _check_k(k, G_TMAC, "columns of q")
    a2 = _int_activations(a_int, a_bits)
    per_token = qa.ndim == 3
    if a2.shape[1] != k or (per_token and (np.ndim(a_int) != 2 or a2.shape[0] != qa.shape[0])):
        raise ValueError(f"a_int of shape {np.shape(a_int)} does not match q of shape {qa.shape}")
    planes = bit_planes(qa, bits)  # [b, (N,) M, K]
    if per_token:
        planes = planes.transpose(1, 0, 2, 3)  # [N, b, M, K]
    planes = planes.reshape(*planes.shape[:-1], k // G_TMAC, G_TMAC).astype(np.int32)
    idx = np.sum(planes << np.arange(G_TMAC, dtype=np.int32), axis=-1, dtype=np.int32)  # [(N,) b, M, J]
    y = _lut_int_core_jit(idx, a2, bits=bits, per_token=per_token)
    return y if np.ndim(a_int) == 2 else y[0]
