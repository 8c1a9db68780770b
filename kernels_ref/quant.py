"""Group-wise low-bit weight quantization, ELUTQ HLQ fitting and per-token activation quantization.

Spec ``lut_pim.md``: weight format 2.1, bit planes 2.2, the plane-affine form 2.5, HLQ 3, and the
activation integer conversion of SAIL Mapping B 5.3 step 3. This package must not import ``archsim``.

Conventions:

* A weight matrix is ``W`` of shape ``[M, K]`` (``y = W @ a``); groups run along K, ``G = K / gs`` per
  row. Every format is stored as codes ``q`` in ``[0, 2^b - 1]`` (uint8) plus per-group parameters, and
  every format is one instance of the plane-affine form ``w = sum_i s_i * beta_i + z`` (spec 2.5, 3),
  where ``q = sum_i 2^i * beta_i``; :meth:`QuantizedWeights.plane_affine` returns ``(s_i, z)``.
* Quantization is offline, host-side weight preparation, so it is written in NumPy with float64
  arithmetic and stores fp32 parameters (the spec's fp16 storage is a timing-model byte count, see
  :func:`bits_per_weight`); codes are always the nearest codes *for the stored fp32 parameters*.
* Rounding is round-half-to-even (``np.rint``) everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "QuantizedWeights",
    "bit_planes",
    "bits_per_weight",
    "dequantize",
    "quantize_activations",
    "quantize_hlq",
    "quantize_weights",
]

WEIGHT_BITS = (1, 2, 3, 4)  # spec 1: b in {1, 2, 3, 4}
ACT_BITS = range(2, 9)  # symmetric int activations need >= 2 bits; b_a <= 8 (spec 1, 5.2)


# --------------------------------------------------------------------------------------------
# argument checks (plain ValueErrors naming the argument)
# --------------------------------------------------------------------------------------------


def check_int(value: object, name: str, allowed: range | tuple[int, ...]) -> int:
    """Return ``value`` as an int, or raise ValueError unless it is an integer in ``allowed``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) not in allowed:
        lo, hi = min(allowed), max(allowed)
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {value!r}")
    return int(value)


def check_group(group: object, k: int, name: str, multiple_of: int = 1) -> int:
    """Return a group size that is a positive integer dividing ``k`` (and a multiple of ``multiple_of``)."""
    if isinstance(group, bool) or not isinstance(group, (int, np.integer)) or group < 1:
        raise ValueError(f"{name} must be a positive integer, got {group!r}")
    group = int(group)
    if group % multiple_of:
        raise ValueError(f"{name} must be a multiple of {multiple_of}, got {group}")
    if k % group:
        raise ValueError(f"{name} must divide K = {k}, got {group}")
    return group


def _as_matrix(w: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(w, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [M, K] matrix, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values")
    return arr


# --------------------------------------------------------------------------------------------
# the container
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class QuantizedWeights:
    """Group-quantized ``[M, K]`` weights: codes plus per-(row, group) parameters.

    Exactly one of three formats, told apart by which fields are set (``G = K / group_size``):

    * ``symmetric`` (spec 2.1): ``scales [M, G]``; ``w = s * (q - 2^(b-1))``.
    * ``asymmetric`` (spec 2.5 explicit zeros): ``scales``, ``zeros [M, G]``; ``w = s * q + z``.
    * ``hlq`` (spec 3): ``plane_scales [b, M, G]``, ``zeros [M, G]``; ``w = sum_i s_i * beta_i + z``.

    The constructor validates shapes and code range and raises ValueError naming the bad field, so a
    hand-built instance (e.g. the worked example of spec 2.7) is as safe as a quantizer's output.
    Parameters keep the dtype they were given (quantizers store fp32; a golden test may pass float64).
    """

    q: np.ndarray
    bits: int
    group_size: int
    scales: np.ndarray | None = None
    zeros: np.ndarray | None = None
    plane_scales: np.ndarray | None = None

    def __post_init__(self) -> None:
        bits = check_int(self.bits, "bits", WEIGHT_BITS)
        q = np.asarray(self.q)
        if q.ndim != 2:
            raise ValueError(f"q must be a 2-D [M, K] code matrix, got shape {q.shape}")
        if q.size and (not np.issubdtype(q.dtype, np.integer) and not np.all(q == np.round(q))):
            raise ValueError("q must hold integer codes")
        if q.size and (q.min() < 0 or q.max() > 2**bits - 1):
            raise ValueError(f"q must hold codes in [0, {2**bits - 1}] for bits = {bits}")
        m, k = q.shape
        gs = check_group(self.group_size, k, "group_size")
        groups = (m, k // gs)
        object.__setattr__(self, "q", q.astype(np.uint8))
        object.__setattr__(self, "bits", bits)
        object.__setattr__(self, "group_size", gs)
        if self.plane_scales is not None:
            if self.scales is not None or self.zeros is None:
                raise ValueError("plane_scales (HLQ format) needs zeros and no scales")
            self._set_param("plane_scales", (bits, *groups))
        elif self.scales is None:
            raise ValueError("scales must be given unless plane_scales (HLQ format) is")
        else:
            self._set_param("scales", groups)
        if self.zeros is not None:
            self._set_param("zeros", groups)

    def _set_param(self, name: str, shape: tuple[int, ...]) -> None:
        arr = np.asarray(getattr(self, name))
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float32)
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must contain only finite values")
        object.__setattr__(self, name, arr)

    @property
    def format(self) -> str:
        """``"symmetric"``, ``"asymmetric"`` or ``"hlq"``."""
        if self.plane_scales is not None:
            return "hlq"
        return "symmetric" if self.zeros is None else "asymmetric"

    @property
    def shape(self) -> tuple[int, int]:
        """``(M, K)``."""
        return self.q.shape  # type: ignore[return-value]

    @property
    def n_groups(self) -> int:
        """Weight groups per row, ``K / group_size``."""
        return self.q.shape[1] // self.group_size

    @property
    def param_dtype(self) -> np.dtype:
        """The float dtype the parameters are stored in."""
        arrays = [a for a in (self.scales, self.zeros, self.plane_scales) if a is not None]
        return np.result_type(*arrays)

    def plane_affine(self) -> tuple[np.ndarray, np.ndarray]:
        """``(s [b, M, G], z [M, G])`` in float64 with ``w = sum_i s_i * beta_i + z`` per group (spec 2.5).

        Symmetric: ``s_i = s * 2^i``, ``z = -s * 2^(b-1)``; asymmetric: ``s_i = s * 2^i``, ``z`` as
        stored; HLQ: as stored. Exact (powers of two in float64).
        """
        pow2 = (2.0 ** np.arange(self.bits))[:, None, None]
        if self.format == "hlq":
            return self.plane_scales.astype(np.float64), self.zeros.astype(np.float64)
        s = self.scales.astype(np.float64)
        z = -s * 2.0 ** (self.bits - 1) if self.zeros is None else self.zeros.astype(np.float64)
        return pow2 * s[None], z


# --------------------------------------------------------------------------------------------
# bit planes, dequantization, storage
# --------------------------------------------------------------------------------------------


def bit_planes(q: ArrayLike, bits: int) -> np.ndarray:
    """Bit planes ``beta [bits, *q.shape]`` (uint8, 0/1) with ``q = sum_i 2^i * beta_i`` (spec 2.2).

    Raises ValueError unless ``bits`` is in 1..4 and every code lies in ``[0, 2^bits - 1]``.
    """
    bits = check_int(bits, "bits", WEIGHT_BITS)
    arr = np.asarray(q)
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() > 2**bits - 1):
        raise ValueError(f"q must hold integer codes in [0, {2**bits - 1}] for bits = {bits}")
    arr = arr.astype(np.uint8)
    return np.stack([(arr >> i) & 1 for i in range(bits)]).astype(np.uint8)


def _dequant_f64(qw: QuantizedWeights) -> np.ndarray:
    """``sum_i s_i * beta_i + z`` per element in float64 (the one evaluation every MSE here uses)."""
    s, z = qw.plane_affine()
    gs = qw.group_size
    planes = bit_planes(qw.q, qw.bits).astype(np.float64)
    w = np.repeat(z, gs, axis=1)
    for i in range(qw.bits):
        w = w + planes[i] * np.repeat(s[i], gs, axis=1)
    return w


def dequantize(qw: QuantizedWeights, dtype: type | np.dtype = np.float32) -> np.ndarray:
    """Dense ``[M, K]`` weights of any format, as a NumPy array of ``dtype`` (default fp32).

    Evaluated in float64 and rounded once to ``dtype``, so two formats describing the same values
    (e.g. HLQ with ``s_i = s * 2^i`` and the asymmetric format) dequantize bit-identically.
    """
    return _dequant_f64(qw).astype(dtype)


def bits_per_weight(bits: int, group_size: int = 128) -> float:
    """HLQ storage cost ``b + 16 * (b + 1) / gs`` bits per weight: b fp16 plane scales + one fp16 zero (spec 3)."""
    bits = check_int(bits, "bits", WEIGHT_BITS)
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)) or group_size < 1:
        raise ValueError(f"group_size must be a positive integer, got {group_size!r}")
    return bits + 16.0 * (bits + 1) / int(group_size)


# --------------------------------------------------------------------------------------------
# uniform quantizers (spec 2.1, 2.5)
# --------------------------------------------------------------------------------------------


def _grouped(w: np.ndarray, gs: int) -> np.ndarray:
    m, k = w.shape
    return w.reshape(m, k // gs, gs)


def _safe(s: np.ndarray) -> np.ndarray:
    """Divisor for code rounding: a zero scale (constant group) divides by 1 instead."""
    return np.where(s == 0, 1.0, s)


def _uniform_asymmetric(wg: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max affine grid per group: ``s = (max - min) / (2^b - 1)``, ``z = min`` (fp32), codes for those."""
    mn, mx = wg.min(axis=-1), wg.max(axis=-1)
    s = ((mx - mn) / (2**bits - 1)).astype(np.float32)
    z = mn.astype(np.float32)
    s64, z64 = s.astype(np.float64)[..., None], z.astype(np.float64)[..., None]
    q = np.clip(np.rint((wg - z64) / _safe(s64)), 0, 2**bits - 1)
    return q.astype(np.uint8), s, z


def quantize_weights(w: ArrayLike, bits: int, group_size: int = 128, zero_point: bool = False) -> QuantizedWeights:
    """Quantize ``w [M, K]`` group-wise along K to ``bits`` in 1..4.

    * ``zero_point=False`` (spec 2.1, T-MAC default): ``w ~ s * (q - 2^(b-1))`` with the absmax scale
      ``s = max|w| / 2^(b-1)``; codes ``q = clip(rint(w / s) + 2^(b-1), 0, 2^b - 1)`` (the largest
      positive weight clips to ``(2^(b-1) - 1) * s``, the grid being one step longer on the negative side).
    * ``zero_point=True`` (spec 2.5 explicit zeros): ``w ~ s * q + z``, ``s = (max - min) / (2^b - 1)``,
      ``z = min``; ``q = clip(rint((w - z) / s), 0, 2^b - 1)``.

    Scales (and zeros) are fp32 ``[M, K / group_size]``. An all-equal group gets ``s = 0`` and dequantizes
    exactly. Raises ValueError for bits outside 1..4, a group size not dividing K, or a non-matrix ``w``.
    """
    bits = check_int(bits, "bits", WEIGHT_BITS)
    arr = _as_matrix(w, "w")
    gs = check_group(group_size, arr.shape[1], "group_size")
    wg = _grouped(arr, gs)
    m, k = arr.shape
    if zero_point:
        q, s, z = _uniform_asymmetric(wg, bits)
        return QuantizedWeights(q.reshape(m, k), bits, gs, scales=s, zeros=z)
    mid = 2 ** (bits - 1)
    s = (np.abs(wg).max(axis=-1) / mid).astype(np.float32)
    q = np.clip(np.rint(wg / _safe(s.astype(np.float64))[..., None]) + mid, 0, 2**bits - 1)
    return QuantizedWeights(q.astype(np.uint8).reshape(m, k), bits, gs, scales=s)


# --------------------------------------------------------------------------------------------
# ELUTQ hierarchical linear quantization (spec 3)
# --------------------------------------------------------------------------------------------


def _codebook(s: np.ndarray, z: np.ndarray) -> np.ndarray:
    """All ``2^b`` code values ``sum_i s_i * bit_i(c) + z`` per group: ``[M, G, 2^b]`` from ``s [b, M, G]``."""
    bits = s.shape[0]
    cbits = ((np.arange(2**bits)[:, None] >> np.arange(bits)) & 1).astype(np.float64)  # [2^b, b]
    # Same association order as _group_mse / dequantize (z first, then planes 0..b-1), so the argmin
    # below can never pick a code that those evaluations would score worse than the current one.
    book = np.broadcast_to(z[..., None], z.shape + (2**bits,)).copy()
    for i in range(bits):
        book += cbits[:, i] * s[i][..., None]
    return book


def _nearest_codes(wg: np.ndarray, s: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Index of the nearest code value per weight (ties: the lower code), row-chunked to bound memory."""
    book = _codebook(s, z)
    m, _, gs = wg.shape
    rows = max(1, (1 << 22) // (wg[0].size * book.shape[-1]))
    out = np.empty(wg.shape, dtype=np.uint8)
    for r in range(0, m, rows):
        err = np.abs(wg[r : r + rows, :, :, None] - book[r : r + rows, :, None, :])
        out[r : r + rows] = np.argmin(err, axis=-1)
    return out


def _group_mse(wg: np.ndarray, q: np.ndarray, s: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Per-group MSE ``[M, G]`` of codes ``q`` under ``(s, z)``, evaluated as :func:`dequantize` does."""
    w_hat = np.broadcast_to(z[..., None], wg.shape).copy()
    for i in range(s.shape[0]):
        w_hat += ((q >> i) & 1) * s[i][..., None]
    return np.mean((wg - w_hat) ** 2, axis=-1)


def _least_squares(wg: np.ndarray, q: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-group least-squares ``(s_0..s_{b-1}, z)`` for fixed bit assignments (normal equations, pinv)."""
    x = np.concatenate([((q[..., None] >> np.arange(bits)) & 1).astype(np.float64), np.ones(q.shape + (1,))], -1)
    xtx = np.einsum("mgkb,mgkc->mgbc", x, x)
    xtw = np.einsum("mgkb,mgk->mgb", x, wg)
    theta = np.einsum("mgbc,mgc->mgb", np.linalg.pinv(xtx, hermitian=True), xtw)
    return np.moveaxis(theta[..., :bits], -1, 0), theta[..., bits]


def quantize_hlq(w: ArrayLike, bits: int, group_size: int = 128, iters: int = 10) -> QuantizedWeights:
    """ELUTQ hierarchical linear quantization: one scale per bit plane and a zero per group (spec 3).

    ``w ~ sum_i s_i * beta_i + z`` with fp32 ``plane_scales [b, M, G]`` and ``zeros [M, G]``.
    Fit (deterministic): start from the uniform grid ``s_i = (max - min) / (2^b - 1) * 2^i``, ``z = min``
    with the codes of :func:`quantize_weights` ``(zero_point=True)``; then ``iters`` times: (a) least-squares
    ``(s, z)`` for the current bits, rounded to fp32, kept per group only if it does not raise that group's
    MSE (guards the fp32 rounding and a singular system); (b) reassign every weight to the nearest of
    the ``2^b`` code values. Each step is non-increasing in every group's MSE, so the fit never raises it;
    ``iters=0`` returns the uniform asymmetric quantization (same codes, ``s_i = s * 2^i``, same zero).
    """
    bits = check_int(bits, "bits", WEIGHT_BITS)
    if isinstance(iters, bool) or not isinstance(iters, (int, np.integer)) or iters < 0:
        raise ValueError(f"iters must be a non-negative integer, got {iters!r}")
    arr = _as_matrix(w, "w")
    gs = check_group(group_size, arr.shape[1], "group_size")
    wg = _grouped(arr, gs)
    q, s_u, z32 = _uniform_asymmetric(wg, bits)
    s32 = (s_u[None] * (2.0 ** np.arange(bits))[:, None, None]).astype(np.float32)
    s, z = s32.astype(np.float64), z32.astype(np.float64)
    mse = _group_mse(wg, q, s, z)
    for _ in range(int(iters)):
        s_new, z_new = _least_squares(wg, q, bits)
        s_new = s_new.astype(np.float32).astype(np.float64)
        z_new = z_new.astype(np.float32).astype(np.float64)
        mse_new = _group_mse(wg, q, s_new, z_new)
        keep = mse_new <= mse
        s, z = np.where(keep[None], s_new, s), np.where(keep, z_new, z)
        q = _nearest_codes(wg, s, z)
        mse = _group_mse(wg, q, s, z)
    m, k = arr.shape
    return QuantizedWeights(q.reshape(m, k), bits, gs, zeros=z.astype(np.float32), plane_scales=s.astype(np.float32))


# --------------------------------------------------------------------------------------------
# activations (SAIL Mapping B type conversion, spec 5.3 step 3)
# --------------------------------------------------------------------------------------------


def quantize_activations(a: ArrayLike, bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-token integer activations: ``a ~ a_int * scale[..., None]``.

    ``a`` is ``[K]`` or ``[N, K]`` (one token per row); ``scale = max|a| / (2^(bits-1) - 1)`` per token
    (fp32, shape ``a.shape[:-1]``), ``a_int = clip(rint(a / scale), -(2^(bits-1) - 1), 2^(bits-1) - 1)``
    (int32), so every value is a valid ``bits``-bit two's-complement integer. An all-zero token gets
    ``scale = 0`` and ``a_int = 0``. ``bits`` must be in 2..8.
    """
    bits = check_int(bits, "bits", ACT_BITS)
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
        raise ValueError(f"a must be a [K] vector or an [N, K] matrix, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("a must contain only finite values")
    qmax = 2 ** (bits - 1) - 1
    scale = (np.abs(arr).max(axis=-1) / qmax).astype(np.float32)
    a_int = np.clip(np.rint(arr / _safe(scale.astype(np.float64))[..., None]), -qmax, qmax)
    return a_int.astype(np.int32), scale
