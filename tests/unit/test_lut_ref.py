"""kernels_ref.quant / kernels_ref.lut: T-MAC LUT-GEMV, HLQ and SAIL Mapping B (spec lut_pim.md 2, 3, 5.2-5.3, 5.8).

XLA compiles each kernel once per shape (~50 ms here), so the default tests reuse a few fixed shapes
and let hypothesis vary values, bit widths and group sizes with few examples; the ``slow`` sweeps
(``make test-all``) also randomise the shapes.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels_ref import lut, quant

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
FEW = settings(max_examples=4, deadline=None)
SWEEP = settings(max_examples=40, deadline=None)

# Spec 2.7 worked example: K = 8, M = 2, b = 2, one scale group.
A_EX = np.array([0.5, -1, 2, 1.5, -0.5, 1, 0, -2])
Q_EX = np.array([[3, 0, 1, 2, 2, 1, 3, 0], [1, 1, 2, 0, 0, 3, 2, 1]])
S_EX = np.array([[0.1], [0.2]])
T0 = [-3, -2, -5, -4, 1, 2, -1, 0, 0, 1, -2, -1, 4, 5, 2, 3]
T1 = [1.5, 0.5, 3.5, 2.5, 1.5, 0.5, 3.5, 2.5, -2.5, -3.5, -0.5, -1.5, -2.5, -3.5, -0.5, -1.5]
TQ0 = [-76, -51, -127, -102, 25, 51, -25, 0, 0, 25, -51, -25, 102, 127, 51, 76]
TQ1 = [38, 13, 89, 64, 38, 13, 89, 64, -64, -89, -13, -38, -64, -89, -13, -38]

M, K = 48, 256  # the shape shared by the numeric tests (two weight groups of 128, four act groups)


def _example_weights(dtype: type = np.float32) -> quant.QuantizedWeights:
    return quant.QuantizedWeights(Q_EX, bits=2, group_size=8, scales=S_EX.astype(dtype))


def _gaussian(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _rel_err(got: object, want: np.ndarray) -> float:
    got = np.asarray(got, dtype=np.float64)
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def _nmse(got: object, want: np.ndarray) -> float:
    return _rel_err(got, want) ** 2


def _dense(qw: quant.QuantizedWeights, a: np.ndarray) -> np.ndarray:
    """Dense reference in float64: dequantize, then matmul (tokens along the last axis of the result)."""
    return np.asarray(a, np.float64) @ quant.dequantize(qw, np.float64).T


# ---------------------------------------------------------------------- worked example (spec 2.7)


def test_worked_example_tables_and_int8_tables_are_the_spec_values() -> None:
    t = np.asarray(lut.build_tables(A_EX))
    np.testing.assert_array_equal(t, [T0, T1])
    np.testing.assert_array_equal(np.asarray(lut.build_tables_mirrored(A_EX)), t)
    tq, lam, omega = lut.quantize_tables(t, act_group=8)
    assert tq.dtype == np.int8
    np.testing.assert_array_equal(np.asarray(tq), [TQ0, TQ1])
    np.testing.assert_allclose(np.asarray(lam), [5 / 127], rtol=1e-7)
    np.testing.assert_array_equal(np.asarray(omega), [-1.5])
    # +-63.5 are exact ties; half away from zero gives the same +-64 (spec 2.7 note)
    np.testing.assert_array_equal(np.asarray(lut.quantize_tables(t, 8, rounding="half_away")[0]), [TQ0, TQ1])


def test_worked_example_indices_are_the_spec_bits() -> None:
    planes = quant.bit_planes(Q_EX, 2)
    np.testing.assert_array_equal(planes[0, 0], [1, 0, 1, 0, 0, 1, 1, 0])  # row 0, plane 0 -> p = 5, 6
    np.testing.assert_array_equal(planes[1, 0], [1, 0, 0, 1, 1, 0, 1, 0])  # row 0, plane 1 -> p = 9, 5
    np.testing.assert_array_equal((planes << np.arange(2)[:, None, None]).sum(0), Q_EX)


def test_worked_example_float_tables_float64_golden() -> None:
    with jax.enable_x64(True):
        y = np.asarray(lut.lut_gemv(_example_weights(np.float64), A_EX, tables="float"))
        assert y.dtype == np.float64
        np.testing.assert_allclose(y, [0.35, 0.30], rtol=0, atol=1e-12)
        y_alpha = np.asarray(lut.lut_gemv(_example_weights(np.float64), A_EX, tables="float", form="alpha"))
        np.testing.assert_allclose(y_alpha, [0.35, 0.30], rtol=0, atol=1e-12)


def test_worked_example_float_tables_fp32_and_dense() -> None:
    qw = _example_weights()
    y = np.asarray(lut.lut_gemv(qw, A_EX.astype(np.float32), tables="float"))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [0.35, 0.30], rtol=0, atol=1e-6)
    np.testing.assert_allclose(_dense(qw, A_EX), [0.35, 0.30], atol=1e-7)  # fp32 scales 0.1, 0.2


def test_worked_example_int8_path() -> None:
    y = np.asarray(lut.lut_gemv(_example_weights(), A_EX, tables="int8", act_group=8))
    np.testing.assert_allclose(y, [0.35020, 0.29488], rtol=0, atol=1e-4)
    lam = 5 / 127  # the spec's closed forms with the looked-up integer sums 140, 38 / -115, 114
    want = [0.1 * (lam * (0.5 * 140 + 38) - 0.75), 0.2 * (lam * (0.5 * -115 + 114) - 0.75)]
    np.testing.assert_allclose(y, want, rtol=1e-6)


def test_worked_example_op_counts() -> None:
    c = lut.op_counts(2, 8, 2)
    assert c["table_adds"] == 48 and c["lookups"] == 8  # spec 2.7 "cost" row


# ---------------------------------------------------------------------- tables (spec 2.3)


@FEW
@given(seed=SEEDS)
def test_mirror_property_and_mirrored_build(seed: int) -> None:
    a = _gaussian(seed, 3, K)
    t = np.asarray(lut.build_tables(a))
    assert t.shape == (3, K // 4, 16)
    np.testing.assert_array_equal(t[..., ::-1], -t)
    np.testing.assert_array_equal(np.asarray(lut.build_tables_mirrored(a)), t)
    signs = 2 * ((np.arange(16)[:, None] >> np.arange(4)) & 1) - 1
    want = np.einsum("pt,njt->njp", signs, a.astype(np.float64).reshape(3, K // 4, 4))
    np.testing.assert_allclose(t, want, rtol=1e-6, atol=1e-6)


@FEW
@given(seed=SEEDS, ag=st.sampled_from([16, 64, 256]))
def test_table_quantization_contract(seed: int, ag: int) -> None:
    a = _gaussian(seed, K) * 3
    t = np.asarray(lut.build_tables(a), np.float64)
    tq, lam, omega = (np.asarray(x) for x in lut.quantize_tables(t, act_group=ag))
    tpg = ag // 4
    sums = np.abs(a.astype(np.float64)).reshape(-1, tpg, 4).sum(-1).max(-1)  # max_j sum_t |a|
    np.testing.assert_allclose(lam, sums / 127, rtol=1e-6)
    np.testing.assert_allclose(omega, -a.astype(np.float64).reshape(-1, ag).sum(-1), rtol=1e-5, atol=1e-5)
    assert np.abs(tq).max() <= 127 and np.abs(tq).max() == 127  # each group's peak maps to +-127
    err = np.abs(tq * np.repeat(lam, tpg)[:, None] - t)
    assert np.all(err <= np.repeat(lam, tpg)[:, None] * (0.5 + 1e-5))


def test_zero_activations_give_zero_tables_and_output() -> None:
    tq, lam, omega = lut.quantize_tables(lut.build_tables(np.zeros(K, np.float32)))
    assert not np.any(np.asarray(tq)) and not np.any(np.asarray(lam)) and not np.any(np.asarray(omega))
    qw = quant.quantize_weights(_gaussian(0, M, K), 2)
    np.testing.assert_array_equal(np.asarray(lut.lut_gemv(qw, np.zeros(K, np.float32))), 0)


# ---------------------------------------------------------------------- LUT-GEMV numerics (spec 2.5, 2.9)


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_float_tables_equal_dense_dequant(bits: int) -> None:
    qw = quant.quantize_weights(_gaussian(bits, M, K), bits)
    a = _gaussian(10 + bits, K)
    y = lut.lut_gemv(qw, a, tables="float")
    assert y.shape == (M,) and y.dtype == np.float32
    assert _rel_err(y, _dense(qw, a)) < 1e-5


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_int8_tables_nmse_bound(bits: int) -> None:
    qw = quant.quantize_weights(_gaussian(bits, M, K), bits)
    a = _gaussian(20 + bits, 4, K)
    nmse = _nmse(lut.lut_gemm(qw, a), _dense(qw, a))
    assert nmse < 5e-4, nmse


@pytest.mark.parametrize("tables", ["int8", "float"])
def test_generalised_form_equals_alpha_form_bit_for_bit(tables: str) -> None:
    qw = quant.quantize_weights(_gaussian(3, M, K), 3)
    a = _gaussian(4, 4, K)
    general = np.asarray(lut.lut_gemm(qw, a, tables=tables, form="general"))
    alpha = np.asarray(lut.lut_gemm(qw, a, tables=tables, form="alpha"))
    np.testing.assert_array_equal(general, alpha)


def test_plane_affine_form_of_symmetric_weights() -> None:
    qw = quant.quantize_weights(_gaussian(5, 4, 256), 3)
    s_i, z = qw.plane_affine()
    s = qw.scales.astype(np.float64)
    np.testing.assert_array_equal(s_i, s[None] * np.array([1.0, 2.0, 4.0])[:, None, None])
    np.testing.assert_array_equal(z, -4 * s)
    np.testing.assert_array_equal(quant.dequantize(qw), (s.repeat(128, 1) * (qw.q - 4.0)).astype(np.float32))


@pytest.mark.parametrize("fmt", ["asymmetric", "hlq"])
def test_zero_point_and_hlq_formats_through_the_generalised_form(fmt: str) -> None:
    w = _gaussian(6, M, K) + 0.3
    qw = quant.quantize_weights(w, 3, zero_point=True) if fmt == "asymmetric" else quant.quantize_hlq(w, 3)
    assert qw.format == fmt
    a = _gaussian(7, 4, K)
    want = _dense(qw, a)
    assert _rel_err(lut.lut_gemm(qw, a, tables="float"), want) < 1e-5
    assert _nmse(lut.lut_gemm(qw, a), want) < 5e-4
    with pytest.raises(ValueError, match="form"):
        lut.lut_gemm(qw, a, form="alpha")


def test_batched_gemm_rows_equal_gemv() -> None:
    qw = quant.quantize_weights(_gaussian(8, M, K), 2)
    a = _gaussian(9, 4, K)
    y = np.asarray(lut.lut_gemm(qw, a))
    assert y.shape == (4, M)
    for n in (0, 3):
        np.testing.assert_allclose(np.asarray(lut.lut_gemv(qw, a[n])), y[n], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kfactor", [1, 8, 16, 64])
def test_kfactor_only_changes_round_off(kfactor: int) -> None:
    qw = quant.quantize_weights(_gaussian(11, M, K), 2)
    a = _gaussian(12, 4, K)
    ref = np.asarray(lut.lut_gemm(qw, a, kfactor=16))
    np.testing.assert_allclose(np.asarray(lut.lut_gemm(qw, a, kfactor=kfactor)), ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- weight quantization and HLQ (spec 2.1, 3)


@pytest.mark.parametrize("zero_point", [False, True])
def test_uniform_quantization_contract(zero_point: bool) -> None:
    w = _gaussian(13, 8, 256)
    w[0, :64], w[0, 64:128] = 0.7, 0.0  # constant groups: zero scale where the format allows, exact
    for bits in (1, 2, 3, 4):
        qw = quant.quantize_weights(w, bits, group_size=64, zero_point=zero_point)
        assert qw.q.dtype == np.uint8 and qw.q.max() <= 2**bits - 1
        assert qw.scales.dtype == np.float32 and qw.scales.shape == (8, 4)
        err = np.abs(quant.dequantize(qw, np.float64) - w).reshape(8, 4, 64)
        step = qw.scales[..., None].astype(np.float64)
        bound = step * (0.5 + 1e-5) if zero_point else step * (1 + 1e-5)  # symmetric: the top code clips
        assert np.all(err <= bound + 1e-7)
        if zero_point:
            np.testing.assert_array_equal(qw.scales[0, :2], 0)
            np.testing.assert_array_equal(quant.dequantize(qw)[0, :128], w[0, :128])
        else:
            assert qw.scales[0, 1] == 0 and not np.any(quant.dequantize(qw)[0, 64:128])


def test_bit_planes_recompose() -> None:
    q = np.random.default_rng(0).integers(0, 16, size=(5, 12))
    planes = quant.bit_planes(q, 4)
    assert planes.shape == (4, 5, 12) and planes.dtype == np.uint8 and set(np.unique(planes)) <= {0, 1}
    np.testing.assert_array_equal((planes.astype(int) << np.arange(4)[:, None, None]).sum(0), q)


def _group_mse(qw: quant.QuantizedWeights, w: np.ndarray) -> np.ndarray:
    err = (quant.dequantize(qw, np.float64) - w) ** 2
    return err.reshape(w.shape[0], -1, qw.group_size).mean(-1)


@FEW
@given(seed=SEEDS, bits=st.integers(1, 4), gs=st.sampled_from([32, 64]))
def test_hlq_fit_never_increases_group_mse(seed: int, bits: int, gs: int) -> None:
    w = _gaussian(seed, 6, 128).astype(np.float64) ** 3  # heavy-tailed: uniform grids fit it badly
    prev = _group_mse(quant.quantize_hlq(w, bits, gs, iters=0), w)
    first = prev
    for iters in range(1, 5):
        mse = _group_mse(quant.quantize_hlq(w, bits, gs, iters=iters), w)
        assert np.all(mse <= prev)
        prev = mse
    if bits >= 2:
        assert prev.sum() < first.sum()  # the fit helps on this data


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_hlq_zero_iterations_is_uniform_quantization(bits: int) -> None:
    w = _gaussian(14, 6, 256)
    hlq = quant.quantize_hlq(w, bits, 128, iters=0)
    uni = quant.quantize_weights(w, bits, 128, zero_point=True)
    assert hlq.format == "hlq" and hlq.plane_scales.dtype == np.float32
    np.testing.assert_array_equal(hlq.q, uni.q)
    np.testing.assert_array_equal(hlq.zeros, uni.zeros)
    np.testing.assert_array_equal(hlq.plane_scales, uni.scales[None] * 2.0 ** np.arange(bits)[:, None, None])
    np.testing.assert_array_equal(quant.dequantize(hlq), quant.dequantize(uni))


def test_hlq_is_deterministic() -> None:
    w = _gaussian(15, 4, 128)
    one, two = quant.quantize_hlq(w, 2, 64), quant.quantize_hlq(w, 2, 64)
    np.testing.assert_array_equal(one.q, two.q)
    np.testing.assert_array_equal(one.plane_scales, two.plane_scales)


def test_bits_per_weight() -> None:
    assert quant.bits_per_weight(2, 128) == 2.375
    assert quant.bits_per_weight(3, 128) == 3.5
    assert quant.bits_per_weight(2, 64) == 2.75


def test_activation_quantization() -> None:
    a = _gaussian(16, 3, 64)
    a[1] = 0
    for bits in (4, 8):
        a_int, scale = quant.quantize_activations(a, bits)
        assert a_int.dtype == np.int32 and scale.shape == (3,)
        assert np.abs(a_int).max() == 2 ** (bits - 1) - 1
        assert not np.any(a_int[1]) and scale[1] == 0
        err = np.abs(a_int * scale[:, None].astype(np.float64) - a)
        assert np.all(err <= scale[:, None] * (0.5 + 1e-6) + 1e-7)


# ---------------------------------------------------------------------- SAIL Mapping B (spec 5.2, 5.8)


def test_pim_tables_are_weight_subset_sums() -> None:
    q = np.random.default_rng(1).integers(0, 8, size=(5, 16))
    table = np.asarray(lut.pim_tables(q, 3))
    assert table.shape == (4, 5, 16) and table.dtype == np.int32
    sel = (np.arange(16)[:, None] >> np.arange(4)) & 1
    want = np.einsum("pt,mjt->jmp", sel, (q - 4).reshape(5, 4, 4))
    np.testing.assert_array_equal(table, want)
    assert np.abs(table).max() <= 4 * 4  # fits E = b + ceil(log2 g) signed bits


@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("a_bits", [4, 8])
def test_pim_integer_core_exact(bits: int, a_bits: int) -> None:
    rng = np.random.default_rng(bits * 10 + a_bits)
    q = rng.integers(0, 2**bits, size=(24, 64))
    a_int = rng.integers(-(2 ** (a_bits - 1)), 2 ** (a_bits - 1), size=(5, 64))
    a_int[0, :8] = [-(2 ** (a_bits - 1))] * 4 + [2 ** (a_bits - 1) - 1] * 4  # both ends of the range
    want = a_int @ (q - 2 ** (bits - 1)).T
    y = np.asarray(lut.pim_lut_gemv(q, a_int, bits, a_bits))
    assert y.dtype == np.int32 and y.shape == (5, 24)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(np.asarray(lut.pim_lut_gemv(q, a_int[2], bits, a_bits)), want[2])
    per_group = np.asarray(lut.pim_lut_gemv(q, a_int, bits, a_bits, group_size=16))
    assert per_group.shape == (5, 24, 4)
    np.testing.assert_array_equal(per_group.sum(-1), want)


def test_pim_scaled_result_matches_tmac_on_quantized_activations() -> None:
    # spec 5.2: y = s_a * sum_grp s_w[m, grp] * (integer group sums) equals the T-MAC model on the
    # dequantized activations (float tables), up to fp32 round-off.
    qw = quant.quantize_weights(_gaussian(17, M, K), 2)
    a_int, s_a = quant.quantize_activations(_gaussian(18, 4, K), 8)
    groups = np.asarray(lut.pim_lut_gemv(qw.q, a_int, 2, 8, group_size=128)).astype(np.float64)
    y_pim = s_a[:, None] * np.sum(qw.scales[None].astype(np.float64) * groups, axis=-1)
    a_deq = a_int * s_a[:, None].astype(np.float64)
    assert _rel_err(y_pim, _dense(qw, a_deq)) < 1e-12
    assert _rel_err(lut.lut_gemm(qw, a_deq.astype(np.float32), tables="float"), y_pim) < 1e-5


@FEW
@given(seed=SEEDS, bits=st.integers(1, 4), a_bits=st.sampled_from([2, 4, 8]), g=st.sampled_from([2, 4]))
def test_pim_integer_core_exact_property(seed: int, bits: int, a_bits: int, g: int) -> None:
    rng = np.random.default_rng(seed)
    q = rng.integers(0, 2**bits, size=(16, 32))
    a_int = rng.integers(-(2 ** (a_bits - 1)), 2 ** (a_bits - 1), size=(3, 32))
    y = np.asarray(lut.pim_lut_gemv(q, a_int, bits, a_bits, g=g))
    np.testing.assert_array_equal(y, a_int @ (q - 2 ** (bits - 1)).T)


# ---------------------------------------------------------------------- pattern dedupe (spec 5.3 step 6, 5.8)


def test_dedupe_all_distinct_patterns() -> None:
    # Bt = 15 tokens; token n's group j, plane k has pattern (n + j + k) % 15 + 1: never zero, never shared.
    bt, a_bits, j = 15, 8, 6
    pat = (np.arange(bt)[:, None, None] + np.arange(a_bits)[None, :, None] + np.arange(j)[None, None, :]) % 15 + 1
    bitsel = (pat[..., None] >> np.arange(4)) & 1  # [Bt, b_a, J, g]
    u = np.sum(bitsel << np.arange(a_bits)[None, :, None, None], axis=1).reshape(bt, 4 * j)
    a_int = np.where(u >= 128, u - 256, u)  # two's complement
    stats = lut.pattern_stats(a_int)
    assert stats == {"total": bt * a_bits * j, "zero": 0, "distinct_nonzero": bt * a_bits * j, "kept_fraction": 1.0}
    # with zero patterns, but no two tokens sharing one: u = 1 - zero / total (a single token)
    one = _gaussian(19, 64)
    a1 = np.rint(np.clip(one * 30, -127, 127)).astype(np.int32)
    s1 = lut.pattern_stats(a1)
    assert s1["zero"] > 0 and s1["kept_fraction"] == 1 - s1["zero"] / s1["total"]


@pytest.mark.parametrize("bt", [2, 8])
def test_dedupe_identical_tokens_and_zero_activations(bt: int) -> None:
    rng = np.random.default_rng(bt)
    token = rng.integers(-128, 128, size=64)
    stats = lut.pattern_stats(np.tile(token, (bt, 1)))
    assert stats["kept_fraction"] <= 1 / bt
    assert stats["distinct_nonzero"] == lut.pattern_stats(token)["distinct_nonzero"]
    zero = lut.pattern_stats(np.zeros((bt, 64), np.int32), a_bits=4)
    assert zero["kept_fraction"] == 0 and zero["distinct_nonzero"] == 0 and zero["zero"] == zero["total"]


def test_dedupe_bounds_on_random_tokens() -> None:
    a_int = np.random.default_rng(3).integers(-128, 128, size=(32, 128))
    s = lut.pattern_stats(a_int)
    # at most 15 distinct non-zero patterns per (j, k), never more than the non-zero patterns present
    assert s["distinct_nonzero"] <= min(15 * 8 * 32, s["total"] - s["zero"])
    assert 0 < s["kept_fraction"] < 1


# ---------------------------------------------------------------------- operation counts (spec 2.6)


def test_op_counts() -> None:
    c = lut.op_counts(4096, 4096, 2)
    assert c["lookups"] == 2 * 4096 * 4096 // 4 == c["int_adds"]
    assert c["table_adds"] == 6 * 4096
    assert c["scale_fmas"] == 2 * 4096 * 4096 // 64
    assert lut.op_counts(4096, 4096, 2, kfactor=8)["scale_fmas"] == 2 * 4096 * 4096 // 32
    assert c["plane_merge"] == 2 * 4096


# ---------------------------------------------------------------------- bad input


def _bad_calls() -> list[tuple[str, object]]:
    qw = _example_weights()
    q4 = np.zeros((2, 8), np.int64)
    return [
        ("bits", lambda: quant.quantize_weights(np.ones((2, 8)), 0, 8)),
        ("bits", lambda: quant.quantize_weights(np.ones((2, 8)), 9, 8)),
        ("bits", lambda: quant.quantize_weights(np.ones((2, 8)), 5, 8)),
        ("bits", lambda: quant.quantize_hlq(np.ones((2, 8)), 8, 8)),
        ("bits", lambda: quant.bit_planes(q4, 0)),
        ("bits", lambda: quant.bits_per_weight(9, 128)),
        ("bits", lambda: lut.pim_tables(q4, 0)),
        ("bits", lambda: lut.op_counts(8, 8, 5)),
        ("bits", lambda: quant.quantize_activations(np.ones(8), 9)),
        ("group_size", lambda: quant.quantize_weights(np.ones((2, 8)), 2, 3)),
        ("group_size", lambda: quant.quantize_hlq(np.ones((2, 8)), 2, 16)),
        ("group_size", lambda: quant.QuantizedWeights(q4, 2, 3, scales=np.ones((2, 2)))),
        ("group_size", lambda: lut.lut_gemv(quant.QuantizedWeights(np.zeros((2, 12), int), 2, 6,
                                                                   scales=np.ones((2, 2))), np.ones(12))),
        ("group_size", lambda: lut.pim_lut_gemv(q4, np.ones(8, int), 2, group_size=6)),
        ("g = 4", lambda: lut.build_tables(np.ones(10))),
        ("g = 4", lambda: lut.lut_gemv(quant.QuantizedWeights(np.zeros((2, 6), int), 2, 6,
                                                              scales=np.ones((2, 1))), np.ones(6))),
        ("g = 4", lambda: lut.pim_lut_gemv(np.zeros((2, 6), int), np.ones(6, int), 2)),
        ("g = 4", lambda: lut.op_counts(8, 10, 2)),
        ("a must", lambda: lut.lut_gemv(qw, np.ones(12))),
        ("a must", lambda: lut.lut_gemm(qw, np.ones(8))),
        ("a_int", lambda: lut.pim_lut_gemv(q4, np.ones(12, int), 2)),
        ("a_int", lambda: lut.pim_lut_gemv(q4, np.full(8, 8), 2, a_bits=4)),
        ("a_int", lambda: lut.pattern_stats(np.ones(8))),
        ("a_bits", lambda: lut.pim_lut_gemv(q4, np.ones(8, int), 2, a_bits=9)),
        ("a_bits", lambda: lut.pattern_stats(np.ones(8, int), a_bits=0)),
        ("act_group", lambda: lut.lut_gemv(qw, A_EX, act_group=6)),
        ("act_group", lambda: lut.quantize_tables(lut.build_tables(A_EX), act_group=16)),
        ("kfactor", lambda: lut.lut_gemv(qw, A_EX, kfactor=0)),
        ("kfactor", lambda: lut.lut_gemv(quant.QuantizedWeights(np.zeros((2, 48), int), 2, 24,  # 6 tables
                                                                scales=np.ones((2, 2))), np.ones(48), act_group=16,
                                         kfactor=4)),
        ("tables", lambda: lut.lut_gemv(qw, A_EX, tables="fp16")),
        ("qw", lambda: lut.lut_gemv(Q_EX, A_EX)),
        ("q must", lambda: quant.QuantizedWeights(np.full((2, 8), 4), 2, 8, scales=np.ones((2, 1)))),
        ("q must", lambda: lut.pim_tables(np.full((2, 8), 4), 2)),
        ("scales", lambda: quant.QuantizedWeights(q4, 2, 8, scales=np.ones((2, 2)))),
        ("w must", lambda: quant.quantize_weights(np.ones(8), 2, 8)),
    ]


@pytest.mark.parametrize("case", range(len(_bad_calls())))
def test_bad_input_raises_value_error_naming_the_argument(case: int) -> None:
    name, call = _bad_calls()[case]
    with pytest.raises(ValueError, match=name):
        call()


# ---------------------------------------------------------------------- random shapes


def _random_case(seed: int, bits: int, gs: int, ag: int, mult: int, m: int, n: int) -> tuple[object, ...]:
    k = mult * max(gs, ag)
    w = _gaussian(seed, m, k)
    a = _gaussian(seed + 1, n, k)
    return quant.quantize_weights(w, bits, gs), a


@FEW
@given(seed=SEEDS, bits=st.integers(1, 4), gs=st.sampled_from([32, 64, 128]), ag=st.sampled_from([32, 64]))
def test_lut_random_groups_property(seed: int, bits: int, gs: int, ag: int) -> None:
    # K = 128 and M = 16 fixed (one compile per bit width), group sizes vary
    qw, a = _random_case(seed, bits, gs, ag, 1, 16, 2)
    want = _dense(qw, a)
    assert _rel_err(lut.lut_gemm(qw, a, tables="float"), want) < 1e-5
    if bits >= 2:
        assert _nmse(lut.lut_gemm(qw, a, act_group=ag), want) < 5e-4


@pytest.mark.slow
@SWEEP
@given(seed=SEEDS, bits=st.integers(1, 4), gs=st.sampled_from([16, 32, 64, 128]), ag=st.sampled_from([16, 32, 64]),
       mult=st.integers(1, 4), m=st.integers(1, 40), n=st.integers(1, 5), kfactor=st.sampled_from([4, 8, 16]))
def test_lut_random_shapes_sweep(seed: int, bits: int, gs: int, ag: int, mult: int, m: int, n: int,
                                 kfactor: int) -> None:
    qw, a = _random_case(seed, bits, gs, ag, mult, m, n)
    want = _dense(qw, a)
    assert _rel_err(lut.lut_gemm(qw, a, tables="float", kfactor=kfactor), want) < 1e-5
    if bits >= 2:
        assert _nmse(lut.lut_gemm(qw, a, act_group=ag, kfactor=kfactor), want) < 5e-4
    general = lut.lut_gemm(qw, a, act_group=ag, kfactor=kfactor)
    np.testing.assert_array_equal(np.asarray(general), np.asarray(lut.lut_gemm(qw, a, act_group=ag, kfactor=kfactor,
                                                                                form="alpha")))


@pytest.mark.slow
@SWEEP
@given(seed=SEEDS, bits=st.integers(1, 4), a_bits=st.integers(2, 8), g=st.integers(1, 5),
       jn=st.integers(1, 12), m=st.integers(1, 30), n=st.integers(1, 6))
def test_pim_random_shapes_sweep(seed: int, bits: int, a_bits: int, g: int, jn: int, m: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    q = rng.integers(0, 2**bits, size=(m, g * jn))
    a_int = rng.integers(-(2 ** (a_bits - 1)), 2 ** (a_bits - 1), size=(n, g * jn))
    np.testing.assert_array_equal(np.asarray(lut.pim_lut_gemv(q, a_int, bits, a_bits, g=g)),
                                  a_int @ (q - 2 ** (bits - 1)).T)
    s = lut.pattern_stats(a_int, a_bits, g)
    assert s["distinct_nonzero"] <= min(s["total"] - s["zero"], (2**g - 1) * a_bits * jn)


@pytest.mark.slow
@SWEEP
@given(seed=SEEDS, bits=st.integers(1, 4), gs=st.sampled_from([8, 16, 32]), m=st.integers(1, 6))
def test_hlq_random_shapes_sweep(seed: int, bits: int, gs: int, m: int) -> None:
    w = _gaussian(seed, m, 2 * gs).astype(np.float64) ** 3
    prev = _group_mse(quant.quantize_hlq(w, bits, gs, iters=0), w)
    for iters in (1, 3, 6):
        mse = _group_mse(quant.quantize_hlq(w, bits, gs, iters=iters), w)
        assert np.all(mse <= prev)
        prev = mse
