"""kernels_ref.sparse: FSB N:M format, CSD-Chain functional/timing model, INT8 dequantization.

Spec ``fpga_sparse_dsp.md`` sections 3 (CSD-Chain, OAU arithmetic), 4 (FSB format) and 7 (mixed precision).
The JAX reference (:func:`sparse.sparse_matmul`) compiles once per (K, largest code), so the tests keep
N = 16 or 32 and K in {32, 64} and let hypothesis vary the codes, values and chain lengths.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels_ref import quant, sparse

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
FEW = settings(max_examples=12, deadline=None)
CODES = st.sampled_from(sparse.FSB_CODES)
CHAINS = st.sampled_from([2, 4, 6, 8, 12, 16, 32])


def _int8(rng: np.random.Generator, shape: tuple[int, ...], lo: int = -127) -> np.ndarray:
    """Random INT8 values with saturating extremes (+-127, or lo) and whole zero 16-blocks mixed in."""
    a = rng.integers(lo, 128, size=shape)
    extreme = rng.random(shape) < 0.2
    a = np.where(extreme, rng.choice([lo, 127], size=shape), a)
    blocks = a.reshape(*shape[:-1], shape[-1] // 16, 16)
    zero = rng.random(blocks.shape[:-1]) < 0.25  # all-zero 16-element blocks
    return np.where(zero[..., None], 0, blocks).reshape(shape).astype(np.int8)


def _fsb(rng: np.random.Generator, n: int, k: int, codes: np.ndarray | int) -> tuple[sparse.FSBMatrix, np.ndarray]:
    w = sparse.prune_fsb(_int8(rng, (n, k)), codes)
    return sparse.encode_fsb(w, codes), w


def _dense_ref(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return x.astype(np.int64) @ w.astype(np.int64).T


# ---------------------------------------------------------------------- N:M pruning (spec 3.3, 4)


@FEW
@given(seed=SEEDS, n=st.integers(0, 16), m=st.sampled_from([4, 8, 16]))
def test_prune_nm_keeps_the_n_largest_per_segment(seed: int, n: int, m: int) -> None:
    n = min(n, m)
    w = np.random.default_rng(seed).standard_normal((8, 32))
    p = sparse.prune_nm(w, n, m)
    seg_w, seg_p = w.reshape(8, -1, m), p.reshape(8, -1, m)
    kept = seg_p != 0
    assert np.all(kept.sum(-1) == n)  # Gaussian values are nonzero and distinct
    assert np.array_equal(seg_p[kept], seg_w[kept])
    mag = np.abs(seg_w)
    lo_kept = np.where(kept, mag, np.inf).min(-1)
    hi_dropped = np.where(kept, -np.inf, mag).max(-1)
    assert np.all(lo_kept >= hi_dropped)


def test_prune_nm_ties_keep_the_lower_index_and_check_arguments() -> None:
    w = np.ones((1, 16), np.int8)
    assert np.array_equal(np.nonzero(sparse.prune_nm(w, 4))[1], [0, 1, 2, 3])
    with pytest.raises(ValueError, match="n must"):
        sparse.prune_nm(w, 17)
    with pytest.raises(ValueError, match="m = 5 must divide K"):
        sparse.prune_nm(w, 2, 5)


# ---------------------------------------------------------------------- FSB format (spec 4)


@FEW
@given(seed=SEEDS, codes=st.lists(CODES, min_size=4, max_size=4))
def test_fsb_round_trip_is_exact(seed: int, codes: list[int]) -> None:
    c = np.array(codes).reshape(2, 2)
    fsb, w = _fsb(np.random.default_rng(seed), 32, 32, c)
    assert np.array_equal(fsb.codes, c)
    assert fsb.values.size == fsb.indices.size == 16 * c.sum()
    assert fsb.values.dtype == np.int8 and fsb.indices.max() <= 15
    assert np.array_equal(sparse.decode_fsb(fsb), w)
    rebuilt = sparse.FSBMatrix(fsb.shape, fsb.codes, fsb.values, fsb.indices)  # constructor accepts its own output
    assert np.array_equal(sparse.decode_fsb(rebuilt), w)


@pytest.mark.parametrize("bad", [0, 1, 3, 6, 12, 32])
def test_invalid_code_is_rejected_naming_the_field(bad: int) -> None:
    w = np.zeros((16, 32), np.int8)
    with pytest.raises(ValueError, match="codes"):
        sparse.encode_fsb(w, bad)
    with pytest.raises(ValueError, match="codes"):
        sparse.encode_fsb(w, np.array([[2, bad]]))
    with pytest.raises(ValueError, match="codes"):
        sparse.kept_density([2, bad])
    with pytest.raises(ValueError, match="codes"):
        sparse.fsb_bytes([bad])
    good = sparse.encode_fsb(w, 2)
    with pytest.raises(ValueError, match="codes"):
        sparse.FSBMatrix(good.shape, np.array([[2, bad]]), good.values, good.indices)


def test_fsb_rejects_overfull_segments_and_bad_fields() -> None:
    w = np.zeros((16, 16), np.int8)
    w[3, [1, 5, 9]] = 7
    with pytest.raises(ValueError, match="row 3, K block 0 has 3 nonzeros"):
        sparse.encode_fsb(w, 2)
    good = sparse.encode_fsb(w, 4)
    with pytest.raises(ValueError, match="values"):
        sparse.FSBMatrix(good.shape, good.codes, good.values[:-1], good.indices)
    flipped = good.indices.copy()
    flipped[[0, 1]] = flipped[[1, 0]]
    with pytest.raises(ValueError, match="indices"):
        sparse.FSBMatrix(good.shape, good.codes, good.values, flipped)
    with pytest.raises(ValueError, match="w_int8"):
        sparse.encode_fsb(np.zeros((16, 24), np.int8), 2)


@FEW
@given(codes=st.lists(CODES, min_size=1, max_size=12))
def test_meta_is_half_the_data_for_int8(codes: list[int]) -> None:
    data, meta = sparse.fsb_bytes(codes, 8, meta_for_dense=True)
    assert data == sum(16 * c for c in codes) and meta * 2 == data
    data_s, meta_s = sparse.fsb_bytes(codes, 8)  # default: dense blocks carry no meta
    assert data_s == data and meta_s == sum(8 * c for c in codes if c != 16)
    assert sparse.fsb_bytes(codes, 4) == (data // 2, meta_s)  # INT4 data (spec 7)


def test_byte_accounting_matches_the_stored_arrays() -> None:
    codes = np.array([[2, 16], [8, 4]])
    fsb, _ = _fsb(np.random.default_rng(1), 32, 32, codes)
    data, meta = sparse.fsb_bytes(fsb.codes)
    assert fsb.values.nbytes == data == 16 * (2 + 16 + 8 + 4)
    assert sparse.pack_indices(fsb).size == meta == 8 * (2 + 8 + 4)
    assert sparse.pack_indices(fsb, meta_for_dense=True).size == data // 2


def test_kept_density_from_codes() -> None:
    assert sparse.kept_density([[16, 8], [4, 2]]) == pytest.approx(30 / 64)
    assert sparse.kept_density([16] * 4 + [8] * 6) == pytest.approx(0.7)  # spec 4: rho = 0.7 is a mix
    assert sparse.kept_density(16) == 1.0
    assert sparse.encode_fsb(np.zeros((32, 32), np.int8), np.array([[2, 2], [2, 16]])).density == 0.34375


@FEW
@given(seed=SEEDS, target=st.floats(0.125, 1.0))
def test_choose_codes_stays_within_the_target_density(seed: int, target: float) -> None:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((32, 64)) * rng.uniform(0.1, 10.0, size=(32, 1))
    codes = sparse.choose_codes(w, target)
    assert codes.shape == (2, 4) and set(codes.ravel()) <= set(sparse.FSB_CODES)
    rho = sparse.kept_density(codes)
    assert rho <= target + 1e-12
    assert target - rho < 0.5  # at most one doubling per block short of the target
    assert np.array_equal(sparse.choose_codes(w, 8), np.full((2, 4), 8))


def test_choose_codes_gives_the_high_magnitude_block_more_nonzeros() -> None:
    w = np.ones((16, 32))
    w[:, 16:] *= 100.0
    assert np.array_equal(sparse.choose_codes(w, 0.5625), [[2, 16]])  # 0.5625 = (2 + 16) / 32
    with pytest.raises(ValueError, match="target"):
        sparse.choose_codes(w, 0.1)
    with pytest.raises(ValueError, match="target"):
        sparse.choose_codes(w, 3)


# ---------------------------------------------------------------------- reference product


@FEW
@given(seed=SEEDS, codes=st.lists(CODES, min_size=4, max_size=4))
def test_sparse_matmul_equals_the_dense_masked_product(seed: int, codes: list[int]) -> None:
    rng = np.random.default_rng(seed)
    fsb, w = _fsb(rng, 32, 32, np.array(codes).reshape(2, 2))
    x = _int8(rng, (2, 32), lo=-128)
    y = sparse.sparse_matmul(x, fsb)
    assert y.dtype == np.int32
    assert np.array_equal(np.asarray(y), _dense_ref(x, w))


# ---------------------------------------------------------------------- CSD-Chain (spec 3)


@FEW
@given(seed=SEEDS, n=CODES, chain_len=CHAINS, k=st.sampled_from([32, 64]))
def test_chain_equals_the_jax_reference_for_nm_weights(seed: int, n: int, chain_len: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    fsb, w = _fsb(rng, 16, k, n)
    x = _int8(rng, (2, k))
    y, stats = sparse.simulate_chain(x, fsb, chain_len)
    assert y.dtype == np.int32 and y.shape == (2, 16)
    assert np.array_equal(y, np.asarray(sparse.sparse_matmul(x, fsb)))
    assert np.array_equal(y, _dense_ref(x, w))
    assert stats.useful_macs == 2 * 16 * (k // 16) * n
    assert stats.nonzero_macs == 2 * np.count_nonzero(w)


@FEW
@given(seed=SEEDS, codes=st.lists(CODES, min_size=4, max_size=4), chain_len=CHAINS)
def test_chain_handles_mixed_block_codes(seed: int, codes: list[int], chain_len: int) -> None:
    rng = np.random.default_rng(seed)
    fsb, w = _fsb(rng, 32, 32, np.array(codes).reshape(2, 2))
    x = _int8(rng, (2, 32))
    y, _ = sparse.simulate_chain(x, fsb, chain_len)
    assert np.array_equal(y, np.asarray(sparse.sparse_matmul(x, fsb)))


def test_dense_plain_matrix_is_accepted() -> None:
    rng = np.random.default_rng(3)
    w, x = _int8(rng, (16, 64)), _int8(rng, (2, 64))
    y, stats = sparse.simulate_chain(x, w, 32)
    assert np.array_equal(y, _dense_ref(x, w))
    assert stats.passes == 16 * 64 // 32 and stats.sums_emitted == stats.passes  # one row's 32 K elements per pass


@pytest.mark.parametrize("chain_len", [8, 16, 32])
@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_utilization_is_one_for_dense_and_every_n(chain_len: int, n: int) -> None:
    fsb, _ = _fsb(np.random.default_rng(n), 16, 64, n)
    _, stats = sparse.simulate_chain(np.zeros((2, 64), np.int8), fsb, chain_len)
    assert stats.utilization == 1.0
    assert stats.busy_slots == stats.total_slots == stats.passes * chain_len
    if n < 16 and chain_len % n == 0:  # spec 3.3: chain_len / N sub-chains, one block result each
        assert stats.sums_emitted == stats.passes * chain_len // n


def test_a_partial_last_pass_leaves_dsps_idle() -> None:
    fsb, w = _fsb(np.random.default_rng(2), 16, 16, 2)  # 16 blocks x 2 slots = 32 slots on 12 DSPs
    x = _int8(np.random.default_rng(3), (2, 16))
    y, stats = sparse.simulate_chain(x, fsb, 12)
    assert np.array_equal(y, _dense_ref(x, w))
    assert (stats.passes, stats.busy_slots, stats.total_slots) == (3, 32, 36)
    assert stats.utilization == pytest.approx(32 / 36)
    assert stats.sums_emitted == 16  # one per 2:16 block; idle DSPs emit nothing


def test_compute_time_shrinks_with_kept_density() -> None:
    codes = np.array([[16, 8], [4, 2]])
    rng = np.random.default_rng(5)
    sp, _ = _fsb(rng, 32, 32, codes)
    dense, _ = _fsb(rng, 32, 32, 16)
    x = np.zeros((2, 32), np.int8)
    ratio = sparse.simulate_chain(x, dense, 16)[1].passes / sparse.simulate_chain(x, sp, 16)[1].passes
    assert ratio == pytest.approx(1 / sparse.kept_density(codes))  # spec 3.3: time ratio 1 / rho


@pytest.mark.parametrize("chain_len", [2, 4, 6, 8, 10, 12, 16, 32])
def test_oau_enabled_iff_chain_longer_than_eight(chain_len: int) -> None:
    assert sparse.oau_enabled(chain_len) is (chain_len > 8)
    fsb = sparse.encode_fsb(np.zeros((16, 16), np.int8), 16)
    assert sparse.simulate_chain(np.zeros((2, 16), np.int8), fsb, chain_len)[1].oau_enabled is (chain_len > 8)


def test_overflow_arithmetic_of_spec_3_2() -> None:
    assert 127 * 127 == 16_129 and 8 * 16_129 == 129_032 and 2**17 - 1 == 131_071
    assert sparse.OAU_MAX_BYPASS == sparse.max_products_in_lane() == 8
    assert sparse.lane_excess(8) == 0  # 129,032 fits a signed 18-bit lane
    assert sparse.lane_excess(9) == 145_161 - 131_071  # nine products can overflow
    assert sparse.lane_excess(8, max_abs=128) == 1  # -128 * -128 x 8 = 131,072: over by one
    assert sparse.max_products_in_lane(max_abs=128) == 7


def _extreme_chain(value: int, k: int) -> tuple[np.ndarray, sparse.FSBMatrix, np.ndarray]:
    w = np.full((16, k), value, np.int8)
    x = np.full((2, k), value, np.int8)
    return x, sparse.encode_fsb(w, 16), _dense_ref(x, w)


@pytest.mark.parametrize("value", [127, -127])
def test_bit_true_lanes_hold_eight_symmetric_extremes(value: int) -> None:
    x, fsb, ref = _extreme_chain(value, 32)
    y, stats = sparse.simulate_chain(x, fsb, 8, lane_mode="bit_true")  # 8 x 16,129 per sub-chain, OAU bypassed
    assert np.array_equal(y, ref) and stats.overflows == 0 and not stats.oau_enabled
    assert stats.int8_min_operands == 0


def test_bit_true_flags_minus_128_without_the_oau() -> None:
    x, fsb, ref = _extreme_chain(-128, 16)
    with pytest.raises(OverflowError, match="OAU bypassed"):
        sparse.simulate_chain(x, fsb, 8, lane_mode="bit_true")
    y, stats = sparse.simulate_chain(x, fsb, 8, lane_mode="bit_true", on_overflow="flag")
    assert stats.overflows > 0 and stats.int8_min_operands > 0
    assert not np.array_equal(y, ref)  # the wrapped lane is wrong, and reported
    y_exact, _ = sparse.simulate_chain(x, fsb, 8)  # default exact arithmetic
    assert np.array_equal(y_exact, ref)


def test_nine_products_overflow_without_the_oau_and_not_with_it() -> None:
    x, fsb, ref = _extreme_chain(127, 32)
    with pytest.raises(OverflowError):
        sparse.simulate_chain(x, fsb, 16, lane_mode="bit_true", oau=False)
    y, stats = sparse.simulate_chain(x, fsb, 16, lane_mode="bit_true")
    assert stats.oau_enabled and stats.overflows == 0 and np.array_equal(y, ref)


@FEW
@given(seed=SEEDS, n=CODES, chain_len=st.sampled_from([10, 12, 16, 32]))
def test_bit_true_with_oau_is_exact_even_with_minus_128(seed: int, n: int, chain_len: int) -> None:
    rng = np.random.default_rng(seed)
    w = sparse.prune_nm(_int8(rng, (16, 64), lo=-128), n)
    fsb = sparse.encode_fsb(w, n)
    x = _int8(rng, (2, 64), lo=-128)
    y, stats = sparse.simulate_chain(x, fsb, chain_len, lane_mode="bit_true")
    assert stats.overflows == 0 and np.array_equal(y, _dense_ref(x, w))


@FEW
@given(seed=SEEDS, n=CODES, chain_len=st.sampled_from([2, 4, 6, 8]))
def test_bit_true_without_oau_never_overflows_on_clipped_int8(seed: int, n: int, chain_len: int) -> None:
    rng = np.random.default_rng(seed)
    fsb, w = _fsb(rng, 16, 32, n)
    x = _int8(rng, (2, 32))
    y, stats = sparse.simulate_chain(x, fsb, chain_len, lane_mode="bit_true")  # raises on any overflow
    assert not stats.oau_enabled and np.array_equal(y, _dense_ref(x, w))


def test_chain_checks_its_arguments() -> None:
    fsb = sparse.encode_fsb(np.zeros((16, 16), np.int8), 16)
    x = np.zeros((2, 16), np.int8)
    with pytest.raises(ValueError, match="chain_len"):
        sparse.simulate_chain(x, fsb, 7)
    with pytest.raises(ValueError, match="x must have shape"):
        sparse.simulate_chain(np.zeros((3, 16), np.int8), fsb, 8)
    with pytest.raises(ValueError, match="lane_mode"):
        sparse.simulate_chain(x, fsb, 8, lane_mode="wrap")
    with pytest.raises(ValueError, match="INT8"):
        sparse.simulate_chain(np.full((2, 16), 200), fsb, 8)


# ---------------------------------------------------------------------- chain timing


@FEW
@given(n=CODES, chain_len=CHAINS, n_out=st.sampled_from([16, 32]), k=st.sampled_from([16, 32, 48, 64]))
def test_chain_cycles_equals_the_functional_model(n: int, chain_len: int, n_out: int, k: int) -> None:
    fsb = sparse.encode_fsb(np.zeros((n_out, k), np.int8), n)
    _, stats = sparse.simulate_chain(np.zeros((2, k), np.int8), fsb, chain_len)
    assert stats.cycles == sparse.chain_cycles(k, n_out, chain_len, n, 16)
    assert stats.cycles == stats.passes + chain_len - 1


def test_chain_cycles_closed_form() -> None:
    assert sparse.chain_cycles(64, 16, 32, 4) == 16 * 4 * 4 // 32 + 31  # 8 passes + fill
    assert sparse.chain_cycles(64, 16, 32, 16) == 16 * 64 // 32 + 31  # dense
    assert sparse.chain_cycles(4, 3, 4, 2, m=4) == 2 + 3  # 2:4 (spec figure): 6 slots -> 2 passes
    assert sparse.chain_cycles(64, 16, 32, 0) == 0  # N = 0 blocks are skipped
    with pytest.raises(ValueError, match="n must be a multiple"):
        sparse.chain_cycles(64, 16, 32, 3)
    with pytest.raises(ValueError, match="power of two"):
        sparse.chain_cycles(48, 16, 32, 2, m=12)


# ---------------------------------------------------------------------- mixed precision (spec 7)


@FEW
@given(seed=SEEDS, bits=st.sampled_from([2, 3, 4]))
def test_dequant_to_int8_matches_the_reference_dequantization(seed: int, bits: int) -> None:
    rng = np.random.default_rng(seed)
    q = rng.integers(0, 2**bits, size=(4, 32)).astype(np.uint8)
    s = rng.uniform(0.01, 1.0, size=(4, 1))
    ref = quant.dequantize(quant.QuantizedWeights(q, bits, 32, scales=s), np.float64)
    w8 = sparse.dequant_to_int8(q, bits)
    assert w8.dtype == np.int8
    # the shift is folded into the scale; quant evaluates the plane-affine sum, hence round-off only
    np.testing.assert_allclose(w8.astype(np.float64) * (s / 2 ** (8 - bits)), ref, rtol=0, atol=1e-12)
    assert np.array_equal(w8.astype(np.int64) >> (8 - bits), q.astype(np.int64) - 2 ** (bits - 1))
    assert w8.min() >= -128 and np.all(w8 % 2 ** (8 - bits) == 0)


def test_dequant_to_int8_ranges_and_checks() -> None:
    assert np.array_equal(sparse.dequant_to_int8(np.arange(16), 4), np.arange(-8, 8) * 16)
    assert np.array_equal(sparse.dequant_to_int8(np.arange(8), 3), np.arange(-4, 4) * 32)
    assert np.array_equal(sparse.dequant_to_int8(np.array([0, 128, 255]), 8), [-128, 0, 127])
    assert np.array_equal(sparse.dequant_to_int8(np.arange(4), 2, scale_shift=0), [-2, -1, 0, 1])
    with pytest.raises(ValueError, match="bits"):
        sparse.dequant_to_int8(np.arange(4), 5)
    with pytest.raises(ValueError, match="scale_shift"):
        sparse.dequant_to_int8(np.arange(4), 4, scale_shift=5)
    with pytest.raises(ValueError, match="q_codes"):
        sparse.dequant_to_int8(np.array([16]), 4)


def test_average_bits() -> None:
    counts = {"q": 100, "k": 100, "v": 200}
    assert sparse.average_bits({"q": 4, "k": 4, "v": 4}, counts) == 4.0
    assert sparse.average_bits({"q": 2, "k": 4, "v": 4}, counts) == pytest.approx(3.5)  # paper: ~3.5 bits
    with pytest.raises(ValueError, match="same keys"):
        sparse.average_bits({"q": 4}, counts)
    with pytest.raises(ValueError, match="precision_map"):
        sparse.average_bits({"q": 5, "k": 4, "v": 4}, counts)
