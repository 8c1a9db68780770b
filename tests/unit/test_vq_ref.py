"""kernels_ref.vq: LUT-LLM vector co-quantization, Chebyshev search and 2-D table lookups (spec lut_pim.md 6).

XLA compiles each kernel once per shape, so shapes come from small fixed sets and hypothesis varies the
values (and which of those shapes) with few examples.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels_ref import vq

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
FEW = settings(max_examples=6, deadline=None)
EPS32 = float(np.finfo(np.float32).eps)

# (N, D, M, group, group_k, P, c_a, c_w): K multiple of v = 2, groups tiling [M, D/2], P dividing D/2
LAYERS = [
    (1, 8, 4, 4, 1, 1, 5, 4),
    (3, 16, 8, 8, 2, 2, 7, 8),
    (2, 32, 16, 16, 4, 4, 64, 16),
    (4, 64, 32, 32, 1, 32, 64, 16),
]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _brute_chebyshev(x: np.ndarray, cents: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Loop-free but independent brute force: per sub-vector, distance to every centroid, first argmin."""
    x = np.atleast_2d(np.asarray(x, dtype))
    cents = np.asarray(cents, dtype)
    if cents.ndim == 2:
        cents = cents[None]
    p, c_a, v = cents.shape
    n, d = x.shape
    s = d // v
    out = np.empty((n, s), dtype=np.int64)
    for si in range(s):
        cb = cents[si // (s // p)]
        sub = x[:, v * si : v * si + v]
        dist = np.abs(sub[:, None, :] - cb[None]).max(-1)  # [N, c_a]
        out[:, si] = [int(np.flatnonzero(row == row.min())[0]) for row in dist]  # lowest index among minima
    return out


def _random_layer(seed: int, n: int, d: int, m: int, group: int, gk: int, p: int, c_a: int, c_w: int):
    rng = _rng(seed)
    s = d // 2
    gm = group // gk
    idx = rng.integers(0, c_w, (m, s))
    cbs = rng.standard_normal((s // gk, m // gm, c_w, 2)).astype(np.float32)
    qw = vq.VQWeights(idx, cbs, group=group, group_k=gk)
    act = rng.standard_normal((p, c_a, 2)).astype(np.float32)
    x = (rng.standard_normal((n, d)) * 1.5).astype(np.float32)
    return x, act, qw


def _dense_ref(x: np.ndarray, act: np.ndarray, qw: vq.VQWeights) -> tuple[np.ndarray, np.ndarray]:
    """Float64 dense product of the centroid-quantized activations and weights, and ``|x_q| @ |W_q|.T``."""
    _, xq = vq.quantize_activations(x, act)
    wq = qw.dequantize(np.float64)
    xq = np.asarray(xq, np.float64)
    return xq @ wq.T, np.abs(xq) @ np.abs(wq).T


def _numpy_tables(act: np.ndarray, qw: vq.VQWeights) -> np.ndarray:
    """Layer tables ``[S/gk, M/gm, c_a, c_w]`` in NumPy fp32, ``(A0*B0) + (A1*B1)`` per entry."""
    act = act[None] if act.ndim == 2 else act
    s = qw.indices.shape[1]
    p = act.shape[0]
    pair = act[(np.arange(s // qw.group_k) * qw.group_k) // (s // p)][:, None]  # [nk, 1, c_a, v]
    b = qw.codebooks
    return pair[..., :, None, 0] * b[..., None, :, 0] + pair[..., :, None, 1] * b[..., None, :, 1]


# ---------------------------------------------------------------------- Chebyshev search (spec 6.1)


@FEW
@given(seed=SEEDS, shape=st.sampled_from([(1, 8, 1, 5), (3, 16, 2, 64), (5, 32, 4, 16)]), grid=st.booleans())
def test_chebyshev_search_equals_brute_force(seed: int, shape: tuple[int, ...], grid: bool) -> None:
    n, d, p, c_a = shape
    rng = _rng(seed)
    if grid:  # coarse half-integer grid: many exact distance ties and duplicate centroids
        x = rng.integers(-4, 5, (n, d)) * 0.5
        cents = rng.integers(-3, 4, (p, c_a, 2)) * 0.5
    else:
        x = rng.standard_normal((n, d)) * 2
        cents = rng.standard_normal((p, c_a, 2))
    x, cents = x.astype(np.float32), cents.astype(np.float32)
    got = np.asarray(vq.chebyshev_search(x, cents))
    assert got.dtype == np.int32 and got.shape == (n, d // 2)
    np.testing.assert_array_equal(got, _brute_chebyshev(x, cents))
    np.testing.assert_array_equal(np.asarray(vq.chebyshev_search(x[0], cents)), got[0])  # [D] input


def test_chebyshev_ties_go_to_lowest_index_and_use_linf_not_l2() -> None:
    cents = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, 1.0]], np.float32)
    # (0, 0): all four at L-inf distance 1 -> 0; (0, 1): index 1 and its duplicate 3 at 0 -> 1
    x = np.array([0.0, 0.0, 0.0, 1.0, 0.5, 0.5], np.float32)
    np.testing.assert_array_equal(np.asarray(vq.chebyshev_search(x, cents)), [0, 1, 0])
    # L-inf and L2 disagree on x = (0.9, 0.9): L-inf 0.9 vs 0.8 picks (0.1, 0.1); squared L2 0.81 vs 1.28
    # would pick (1.8, 0.9).
    two = np.array([[1.8, 0.9], [0.1, 0.1]], np.float32)
    np.testing.assert_array_equal(np.asarray(vq.chebyshev_search(np.array([0.9, 0.9], np.float32), two)), [1])
    assert np.argmin(((np.array([0.9, 0.9]) - two) ** 2).sum(-1)) == 0  # L2 would pick the other one


def test_chebyshev_saturating_activations_pick_the_outermost_centroid() -> None:
    rng = _rng(7)
    cents = rng.standard_normal((64, 2)).astype(np.float32)
    big = np.array([1e6, 0.0, -1e6, 0.0, 0.0, 1e6, 0.0, -1e6, 3e38, -3e38], np.float32)
    got = np.asarray(vq.chebyshev_search(big, cents))
    np.testing.assert_array_equal(got, _brute_chebyshev(big, cents)[0])
    want = [np.argmax(cents[:, 0]), np.argmin(cents[:, 0]), np.argmax(cents[:, 1]), np.argmin(cents[:, 1])]
    np.testing.assert_array_equal(got[:4], want)  # float64 truth: far outside -> extreme centroid on that axis
    assert 0 <= got[4] < 64


# ---------------------------------------------------------------------- tables (spec 6.1)


@FEW
@given(seed=SEEDS)
def test_tables_are_the_centroid_dot_products(seed: int) -> None:
    rng = _rng(seed)
    a = rng.standard_normal((3, 64, 2)).astype(np.float32)
    b = rng.standard_normal((3, 16, 2)).astype(np.float32)
    t = np.asarray(vq.build_tables(a, b))
    assert t.shape == (3, 64, 16) and t.dtype == np.float32
    want = a[:, :, None, 0] * b[:, None, :, 0] + a[:, :, None, 1] * b[:, None, :, 1]  # fp32, same order
    np.testing.assert_array_equal(t, want)
    np.testing.assert_allclose(t, np.einsum("piv,pjv->pij", a.astype(np.float64), b), rtol=2 * EPS32, atol=1e-6)


def test_quantize_tables_int8_rounding_scale_and_zero_table() -> None:
    t = np.zeros((2, 64, 16), np.float32)
    t[0, 0, :6] = [127.0, -127.0, 0.5, 1.5, 2.5, -2.5]  # peak 127 -> scale 1: half-to-even ties
    tq, scale = vq.quantize_tables_int8(t)
    assert tq.dtype == np.int8 and scale.shape == (2,)
    np.testing.assert_array_equal(np.asarray(tq)[0, 0, :6], [127, -127, 0, 2, 2, -2])
    np.testing.assert_array_equal(np.asarray(scale), [1.0, 0.0])
    assert not np.asarray(tq)[1].any()
    rng = _rng(3)
    t = rng.standard_normal((4, 64, 16)).astype(np.float32) * np.array([1, 10, 100, 1000], np.float32)[:, None, None]
    for scope, shape in (("table", (4,)), ("tensor", ())):
        tq, scale = vq.quantize_tables_int8(t, scope=scope)
        s = np.asarray(scale)
        assert s.shape == shape
        assert np.abs(np.asarray(tq)).max() == 127 and np.asarray(tq).min() >= -127
        err = np.abs(np.asarray(tq) * (s[..., None, None] if s.ndim else s) - t)
        assert np.all(err <= (s[..., None, None] if s.ndim else s) * (0.5 + 1e-5))


# ---------------------------------------------------------------------- the LUT layer (spec 6.1, 6.5)


@FEW
@given(seed=SEEDS, layer=st.sampled_from(LAYERS))
def test_float_lut_linear_equals_dense_product_of_centroid_vectors(seed: int, layer: tuple[int, ...]) -> None:
    x, act, qw = _random_layer(seed, *layer)
    y = np.asarray(vq.lut_linear(x, act, qw))
    ref, mag = _dense_ref(x, act, qw)
    s = x.shape[1] // 2
    assert y.shape == ref.shape and y.dtype == np.float32
    assert np.all(np.abs(y - ref) <= (s + 2) * EPS32 * mag + 1e-30)
    y0 = np.asarray(vq.lut_linear(x[0], act, qw))  # [D] input: same contract (XLA may sum in another order)
    assert y0.shape == ref[0].shape and np.all(np.abs(y0 - ref[0]) <= (s + 2) * EPS32 * mag[0] + 1e-30)


def test_float_lut_linear_float64_golden() -> None:
    x, act, qw = _random_layer(11, *LAYERS[2])
    with jax.enable_x64(True):
        qw64 = vq.VQWeights(qw.indices, qw.codebooks.astype(np.float64), qw.group, qw.group_k)
        y = np.asarray(vq.lut_linear(x.astype(np.float64), act.astype(np.float64), qw64))
        assert y.dtype == np.float64
        ref, mag = _dense_ref(x.astype(np.float64), act.astype(np.float64), qw64)
    assert np.all(np.abs(y - ref) <= 1e-13 * mag)


@FEW
@given(seed=SEEDS, layer=st.sampled_from(LAYERS), scope=st.sampled_from(vq.SCALE_SCOPES))
def test_int8_integer_path_equals_direct_table_indexing(seed: int, layer: tuple[int, ...], scope: str) -> None:
    x, act, qw = _random_layer(seed, *layer)
    tq, scale = vq.quantize_tables_int8(_numpy_tables(act, qw), scope=scope)
    tq, scale = np.asarray(tq), np.asarray(scale)
    idx = np.asarray(vq.chebyshev_search(x, act))
    m, s = qw.indices.shape
    kb = np.arange(s) // qw.group_k
    mb = np.arange(m) // qw.group_m
    reads = tq[kb[None, None, :], mb[None, :, None], idx[:, None, :], qw.indices[None]].astype(np.int64)  # [N, M, S]
    acc = np.asarray(vq.lut_accumulate(idx, tq, qw))
    assert acc.dtype == np.int32
    np.testing.assert_array_equal(acc, reads.sum(-1))
    per = np.asarray(vq.lut_accumulate(idx, tq, qw, per_table=True))
    np.testing.assert_array_equal(per, reads.reshape(*reads.shape[:2], -1, qw.group_k).sum(-1))
    # lut_linear's int8 path is exactly these integers, dequantized
    y = np.asarray(vq.lut_linear(x, act, qw, tables="int8", table_scale=scope), np.float64)
    if scope == "tensor":
        want = acc * scale.astype(np.float64)
    else:
        want = np.sum(per * np.repeat(scale, qw.group_m, axis=1).T[None].astype(np.float64), axis=-1)
    np.testing.assert_allclose(y, want, rtol=4 * (s + 1) * EPS32, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("scope", vq.SCALE_SCOPES)
def test_int8_path_nmse_bound_at_default_sizes(scope: str) -> None:
    rng = _rng(5)
    m, d = 1024, 256
    cbs = rng.standard_normal((d // 2, m // 512, 16, 2)).astype(np.float32)
    qw = vq.VQWeights(rng.integers(0, 16, (m, d // 2)), cbs)
    act = rng.standard_normal((64, 2)).astype(np.float32)
    x = rng.standard_normal((4, d)).astype(np.float32)
    yf = np.asarray(vq.lut_linear(x, act, qw), np.float64)
    yq = np.asarray(vq.lut_linear(x, act, qw, tables="int8", table_scale=scope), np.float64)
    nmse = np.sum((yq - yf) ** 2) / np.sum(yf**2)
    assert 0 < nmse < 2e-3
    # hard bound: at most half a step per lookup
    _, scale = vq.quantize_tables_int8(_numpy_tables(act, qw), scope=scope)
    step = np.asarray(scale, np.float64).max()
    assert np.all(np.abs(yq - yf) <= d // 2 * step / 2 * (1 + 1e-4) + 1e-4)


def test_saturating_activations_stay_finite_and_exact() -> None:
    x, act, qw = _random_layer(2, *LAYERS[2])
    x = x * np.float32(1e30)  # far outside every codebook: extreme centroids, largest table entries
    y = np.asarray(vq.lut_linear(x, act, qw))
    ref, mag = _dense_ref(x, act, qw)
    assert np.all(np.isfinite(y)) and np.all(np.abs(y - ref) <= 18 * EPS32 * mag + 1e-30)
    y8 = np.asarray(vq.lut_linear(x, act, qw, tables="int8"))
    assert np.all(np.isfinite(y8))
    np.testing.assert_allclose(y8, y, atol=16 * np.abs(_numpy_tables(act, qw)).max() / 127)


# ---------------------------------------------------------------------- fitting


def test_fit_weight_codebooks_layout_deterministic_and_nearest() -> None:
    # every tile (kb, mb) constant: its codebook must reproduce it exactly -> checks the group layout
    m, d, group, gk = 8, 16, 8, 2
    gm = group // gk
    tile = np.arange(d // 2 // gk)[None, :, None] * 10 + np.arange(m // gm)[:, None, None] + np.array([0.25, -0.5])
    w = np.repeat(np.repeat(tile, gm, axis=0), gk, axis=1).reshape(m, d)
    qw = vq.fit_weight_codebooks(w, c_w=4, group=group, group_k=gk)
    assert qw.codebooks.shape == (d // 2 // gk, m // gm, 4, 2) and qw.n_tables == m * d // (2 * group)
    np.testing.assert_array_equal(qw.dequantize(), w.astype(np.float32))
    # random weights: same result twice, indices are the L2-nearest stored centroids, k-means beats its init
    w = _rng(1).standard_normal((16, 64)).astype(np.float32)
    a = vq.fit_weight_codebooks(w, c_w=16, group=32, group_k=4, iters=10)
    b = vq.fit_weight_codebooks(w, c_w=16, group=32, group_k=4, iters=10)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.codebooks, b.codebooks)
    cb = a.codebooks[(np.arange(32) // 4)[None, :], (np.arange(16) // 8)[:, None]]  # [M, S, c_w, v]
    dist = ((w.reshape(16, 32, 1, 2).astype(np.float64) - cb) ** 2).sum(-1)
    np.testing.assert_array_equal(a.indices, np.argmin(dist, axis=-1))
    init = vq.fit_weight_codebooks(w, c_w=16, group=32, group_k=4, iters=0)
    assert np.mean((a.dequantize() - w) ** 2) <= np.mean((init.dequantize() - w) ** 2)


def test_fit_activation_codebooks_per_span_and_deterministic() -> None:
    rng = _rng(4)
    samples = rng.standard_normal((40, 16)).astype(np.float32)
    samples[:, 8:] += 100.0  # second half of the positions lives far away
    cb = vq.fit_activation_codebooks(samples, c_a=8, n_codebooks=2, iters=10)
    assert cb.shape == (2, 8, 2) and cb.dtype == np.float32
    assert np.all(np.abs(cb[0]) < 10) and np.all(np.abs(cb[1] - 100) < 10)
    np.testing.assert_array_equal(cb, vq.fit_activation_codebooks(samples, c_a=8, n_codebooks=2, iters=10))
    idx = np.asarray(vq.chebyshev_search(samples, cb))
    np.testing.assert_array_equal(idx, _brute_chebyshev(samples, cb))


# ---------------------------------------------------------------------- counters and memory (spec 6.1, 6.3)


def test_bits_per_weight_is_two_and_a_half_at_defaults() -> None:
    assert vq.bits_per_weight() == 2.5
    assert vq.bits_per_weight(v=2, c_w=16, group=256) == 3.0
    assert vq.bits_per_weight(v=4, c_w=256, group=512) == 32 * 256 / 2048 + 2


QWEN3_1_7B = [(2048, 2048), (2048, 1024), (2048, 1024), (2048, 2048), (2048, 6144), (2048, 6144), (6144, 2048)]


def test_t_mem_qwen3_1_7b_worked_example() -> None:
    weights = 28 * sum(d * m for d, m in QWEN3_1_7B)
    assert weights == pytest.approx(1.41e9, rel=0.01)
    total = 28 * sum(vq.t_mem_bytes(d, m) for d, m in QWEN3_1_7B)
    assert total == pytest.approx(0.44e9, rel=0.01)
    assert total == pytest.approx(weights * 2.5 / 8)
    assert total / 820e9 * 1e3 == pytest.approx(0.54, rel=0.01)  # ms per token at 820 GB/s
    d, m = 2048, 2048
    n_tab = d * m // (2 * 512)
    assert vq.t_mem_bytes(d, m, table_policy="stream") == vq.t_mem_bytes(d, m) + n_tab * 64 * 16
    assert vq.t_mem_bytes(d, m, codebook_form="vector") == 4 * m * d * 16 / 512 + m * d * 4 / 16


def test_op_counts_at_defaults() -> None:
    d, m = 2048, 6144
    ops = vq.op_counts(d, m)
    n_tab = d * m // 1024
    assert ops["tables_per_layer"] == n_tab
    assert ops["distance_evals"] == 1024 * 64
    assert ops["lookups"] == ops["int_adds"] == 1024 * m
    assert ops["dequant_fmas"] == m and ops["dense_macs"] == d * m
    assert ops["table_build_macs"] == 2 * d * m  # build_full: 2 FP32 MACs per weight per pass (spec 6.1)
    assert vq.op_counts(d, m, tokens_per_pass=128)["table_build_macs"] == 2 * d * m / 128
    assert vq.op_counts(d, m, table_policy="build_row")["table_build_macs"] == n_tab * 16 * 2
    stream = vq.op_counts(d, m, table_policy="stream", tokens_per_pass=4)
    assert stream["table_build_macs"] == 0 and stream["table_stream_bytes"] == n_tab * 1024 / 4


# ---------------------------------------------------------------------- bad inputs


def _layer() -> tuple[np.ndarray, np.ndarray, vq.VQWeights]:
    return _random_layer(0, *LAYERS[1])


BAD = [
    ("x", lambda: vq.chebyshev_search(np.zeros(7, np.float32), np.zeros((4, 2), np.float32))),
    ("x", lambda: vq.lut_linear(np.zeros((1, 15), np.float32), *_layer()[1:])),
    ("x", lambda: vq.lut_linear(np.zeros((1, 8), np.float32), *_layer()[1:])),
    ("x", lambda: vq.chebyshev_search(np.array([np.nan, 0.0]), np.zeros((4, 2)))),
    ("w", lambda: vq.fit_weight_codebooks(np.zeros((4, 7)), c_w=4, group=4)),
    ("group", lambda: vq.fit_weight_codebooks(np.zeros((6, 8)), c_w=4, group=4)),
    ("group", lambda: vq.fit_weight_codebooks(np.zeros((8, 8)), c_w=16, group=8)),
    ("group_k", lambda: vq.fit_weight_codebooks(np.zeros((8, 8)), c_w=4, group=6, group_k=3)),
    ("group", lambda: vq.op_counts(2048, 100, group=1536)),
    ("D", lambda: vq.t_mem_bytes(2047, 2048)),
    ("c_w", lambda: vq.bits_per_weight(c_w=12)),
    ("codebooks", lambda: vq.VQWeights(np.zeros((8, 4), int), np.zeros((4, 1, 16, 2)), group=4)),
    ("indices", lambda: vq.VQWeights(np.full((8, 4), 16), np.zeros((4, 2, 16, 2)), group=4)),
    ("act_codebook", lambda: vq.lut_linear(_layer()[0], np.zeros((2, 7, 3), np.float32), _layer()[2])),
    ("act_codebook", lambda: vq.lut_linear(_layer()[0], np.zeros((3, 7, 2), np.float32), _layer()[2])),
    ("weight_codebook", lambda: vq.build_tables(np.zeros((64, 2)), np.zeros((16, 3)))),
    ("tables", lambda: vq.lut_accumulate(np.zeros((1, 8), int), np.zeros((4, 1, 7, 4), np.int8), _layer()[2])),
    ("samples", lambda: vq.fit_activation_codebooks(np.zeros((2, 8)), c_a=64)),
    ("table_policy", lambda: vq.op_counts(2048, 2048, table_policy="lazy")),
    ("scope", lambda: vq.quantize_tables_int8(np.zeros((4, 4)), scope="row")),
]


@pytest.mark.parametrize(("field", "call"), BAD, ids=[f"{i}-{f}" for i, (f, _) in enumerate(BAD)])
def test_bad_inputs_raise_one_sentence_value_error_naming_the_field(field: str, call) -> None:
    with pytest.raises(ValueError) as err:
        call()
    msg = str(err.value)
    assert field in msg, msg
    assert "\n" not in msg and ". " not in msg.rstrip("."), msg
