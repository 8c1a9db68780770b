"""kernels_ref.mesh: INTERLEAVE ring, MeshGEMM and baselines, GEMM-T, MeshGEMV (spec wafer_mesh.md secs. 4-5).

XLA compiles every kernel once per (shape, dtype, P), ~0.1 s each on CPU, so the default tests
fix one awkward shape per case (no dimension a multiple of P, one smaller than P) and let
hypothesis vary only the values; the ``slow`` sweep (``make test-all``) also randomises shapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels_ref import mesh

RING_SIDES = st.integers(min_value=3, max_value=64)
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
DIMS = st.integers(min_value=1, max_value=13)
VALUES = settings(max_examples=4, deadline=None)  # same shape each example: compiled once
SWEEP = settings(max_examples=6, deadline=None)  # new shape each example: a compile each

GEMMS: list[Callable[..., object]] = [mesh.meshgemm, mesh.cannon, mesh.summa, mesh.allgather_gemm]
# Every P in {3, 4, 5, 7}; exact int32 checks on an even and an odd side, float32 on the others.
CASES = [(3, "float32"), (4, "int32"), (5, "int32"), (7, "float32")]


def _shape(p: int) -> tuple[int, int, int]:
    """M, K, N with none a multiple of P (padding on every axis) and N < P (all-padding tiles)."""
    return 2 * p + 1, p + 2, p - 1


def _operands(seed: int, shapes: tuple[tuple[int, ...], ...], dtype: str) -> list[np.ndarray]:
    """Random operands; int32 values are small so every product sum fits exactly in 32 bits."""
    rng = np.random.default_rng(seed)
    if dtype == "int32":
        return [rng.integers(-9, 10, size=s).astype(np.int32) for s in shapes]
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _assert_matches(got: object, want: np.ndarray, dtype: str) -> None:
    got = np.asarray(got)
    assert got.shape == want.shape
    if dtype == "int32":
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)
    else:
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------- (a) the ring (4.3)


@settings(max_examples=40, deadline=None)
@given(p=RING_SIDES)
def test_interleave_ring_is_one_cycle_of_short_hops(p: int) -> None:
    ring = mesh.interleave_ring(p)
    assert sorted(ring) == list(range(p))  # phi is a permutation
    send = mesh.ring_send_to(p)
    pos, seen = 0, []
    for _ in range(p):  # following send-to from 0 visits every core once and closes the ring
        seen.append(pos)
        pos = send[pos]
    assert pos == 0 and seen == ring
    hops = mesh.ring_hops(p)
    assert hops == [abs(ring[(k + 1) % p] - ring[k]) for k in range(p)]
    assert set(hops) <= {1, 2}  # every logical neighbour, the wrap included, is 1 or 2 hops away
    assert hops.count(1) == 2  # only the two turns (at the far end, and 1 -> 0) are single hops
    assert [mesh.ring_position(p)[i] for i in ring] == list(range(p))


@pytest.mark.parametrize(
    ("p", "ring", "hops"),
    [
        (5, [0, 2, 4, 3, 1], [2, 2, 1, 2, 1]),
        (6, [0, 2, 4, 5, 3, 1], [2, 2, 1, 2, 2, 1]),
        (8, [0, 2, 4, 6, 7, 5, 3, 1], [2, 2, 2, 1, 2, 2, 2, 1]),
    ],
)
def test_ring_matches_spec_table(p: int, ring: list[int], hops: list[int]) -> None:
    assert mesh.interleave_ring(p) == ring
    assert mesh.ring_hops(p) == hops
    send = mesh.ring_send_to(p)
    assert [send[i] for i in ring] == ring[1:] + ring[:1]
    if p == 5:  # the paper's example: core 2 sends to 4 and receives from 0
        assert send[2] == 4 and send.index(2) == 0


@settings(max_examples=30, deadline=None)
@given(p=RING_SIDES)
def test_gemmt_root_is_the_ring_walked_backwards(p: int) -> None:
    # spec 4.4 [derived]: the artifact's f(c) equals phi((P - c) mod P)
    ring = mesh.interleave_ring(p)
    assert [mesh.gemmt_reduce_root(p, c) for c in range(p)] == [ring[(p - c) % p] for c in range(p)]


@pytest.mark.parametrize(("p", "shift"), [(4, -1), (7, 2)])
def test_ring_shift_moves_tiles_along_the_ring(p: int, shift: int) -> None:
    labels = np.repeat(np.arange(p, dtype=np.int32)[:, None], 2, axis=1)  # core i holds label i
    moved = np.asarray(mesh.ring_shift(labels, axis=0, shift=shift))
    ring = mesh.interleave_ring(p)
    for k in range(p):  # the tile from logical k now sits at logical k + shift
        assert (moved[ring[(k + shift) % p]] == ring[k]).all()
    if abs(shift) == 1:
        assert max(abs(int(moved[i, 0]) - i) for i in range(p)) <= 2  # two-hop moves only


@settings(max_examples=25, deadline=None)
@given(p=st.integers(min_value=3, max_value=24))
def test_meshgemm_schedule_keeps_cannons_invariant(p: int) -> None:
    a_col, b_row = mesh.meshgemm_schedule(p)
    np.testing.assert_array_equal(a_col, b_row)  # every core multiplies a matching pair, every step
    ring, pos = mesh.interleave_ring(p), mesh.ring_position(p)
    y, x = np.ogrid[:p, :p]
    # the lock-step short-way-round alignment composes to Cannon's skew on ring positions
    np.testing.assert_array_equal(a_col[0], np.asarray(ring)[(np.asarray(pos)[y] + np.asarray(pos)[x]) % p])
    assert (np.sort(a_col, axis=0) == np.arange(p)[:, None, None]).all()  # each core sees every K block once
    for s in range(p - 1):  # between steps each A tile moves <= 2 hops along X, each B tile along Y
        where_a = np.argsort(a_col[s], axis=1)  # column of each K block in row y at step s
        where_b = np.argsort(b_row[s], axis=0)
        assert (np.abs(np.take_along_axis(where_a, a_col[s + 1], axis=1) - x) <= 2).all()
        assert (np.abs(np.take_along_axis(where_b, b_row[s + 1], axis=0) - y) <= 2).all()


@pytest.mark.parametrize("p", [5])
def test_meshgemm_align_moves_tiles_per_the_schedule(p: int) -> None:
    idx = np.arange(p, dtype=np.int32)
    a_k = np.broadcast_to(idx[None, :, None, None], (p, p, 1, 1))  # A tile (y, x) labelled by its K block x
    b_k = np.broadcast_to(idx[:, None, None, None], (p, p, 1, 1))  # B tile (y, x) labelled by its K block y
    a_al, b_al = (np.asarray(t)[:, :, 0, 0] for t in mesh.meshgemm_align(a_k, b_k))
    np.testing.assert_array_equal(a_al, b_al)
    np.testing.assert_array_equal(a_al, mesh.meshgemm_schedule(p)[0][0])


# ---------------------------------------------------------------------------- (b) numerics


# The ring-based algorithms run every side in CASES; SUMMA and allgather do not depend on the ring's
# shape, so one int32 and one float32 case each (the slow sweep runs them on every side too).
GEMM_CASES = [(algo, p, dtype) for algo in GEMMS[:2] for p, dtype in CASES] + [
    (mesh.summa, 4, "int32"),
    (mesh.summa, 7, "float32"),
    (mesh.allgather_gemm, 5, "int32"),
    (mesh.allgather_gemm, 3, "float32"),
]


@pytest.mark.parametrize(("algo", "p", "dtype"), GEMM_CASES, ids=lambda v: getattr(v, "__name__", str(v)))
@VALUES
@given(seed=SEEDS)
def test_gemm_algorithms_equal_matmul(algo: Callable[..., object], p: int, dtype: str, seed: int) -> None:
    m, k, n = _shape(p)
    a, b = _operands(seed, ((m, k), (k, n)), dtype)
    _assert_matches(algo(a, b, p), a @ b, dtype)


@pytest.mark.parametrize(("rows", "cols", "dtype"), [(2, 3, "int32"), (3, 4, "float32"), (3, 2, "int32")])
@VALUES
@given(seed=SEEDS)
def test_meshgemm_rect_equals_matmul(rows: int, cols: int, dtype: str, seed: int) -> None:
    a, b = _operands(seed, ((7, 5), (5, 11)), dtype)  # 7, 5, 11: no multiple of lcm 6 or 12
    _assert_matches(mesh.meshgemm_rect(a, b, rows, cols), a @ b, dtype)


@pytest.mark.parametrize(("rows", "cols"), [(2, 3), (3, 4), (4, 6), (1, 5), (6, 6)])
def test_rect_placement_is_balanced_and_local(rows: int, cols: int) -> None:
    n, row_owner, col_owner = mesh.rect_tile_owner(rows, cols)
    assert n == math.lcm(rows, cols)
    ring = mesh.interleave_ring(n)
    for owner, side in ((row_owner, rows), (col_owner, cols)):
        assert [owner.count(c) for c in range(side)] == [n // side] * side  # same tile count per core
        assert max(abs(owner[ring[(k + 1) % n]] - owner[ring[k]]) for k in range(n)) <= 2


@pytest.mark.parametrize(("p", "dtype"), CASES)
@VALUES
@given(seed=SEEDS)
def test_gemm_t_equals_a_times_b_transposed(p: int, dtype: str, seed: int) -> None:
    m, k, n = _shape(p)
    a, b = _operands(seed, ((m, k), (n, k)), dtype)
    _assert_matches(mesh.gemm_t(a, b, p), a @ b.T, dtype)


@pytest.mark.parametrize(
    ("p", "k_phases", "groups", "dtype"),
    [
        (3, 1, None, "int32"),
        (6, 2, 2, "int32"),
        (6, 2, 3, "float32"),
        (7, 2, 1, "float32"),
        (12, 3, 4, "int32"),
        (16, 2, None, "int32"),
        (16, 3, None, "float32"),
    ],
)
@VALUES
@given(seed=SEEDS)
def test_meshgemv_equals_vector_matmul(p: int, k_phases: int, groups: int | None, dtype: str, seed: int) -> None:
    m, k, _ = _shape(p)
    x, w = _operands(seed, ((m,), (m, k)), dtype)
    _assert_matches(mesh.meshgemv(x, w, p, groups=groups, k=k_phases), x @ w, dtype)


@pytest.mark.parametrize(
    ("gemv", "p", "dtype"),
    [
        (mesh.pipeline_gemv, 3, "int32"),
        (mesh.pipeline_gemv, 16, "float32"),
        (mesh.ring_gemv, 4, "float32"),
        (mesh.ring_gemv, 16, "int32"),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
@VALUES
@given(seed=SEEDS)
def test_baseline_gemvs_equal_vector_matmul(gemv: Callable[..., object], p: int, dtype: str, seed: int) -> None:
    m, k, _ = _shape(p)
    x, w = _operands(seed, ((m,), (m, k)), dtype)
    _assert_matches(gemv(x, w, p), x @ w, dtype)


def test_narrow_integers_accumulate_in_32_bits() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, size=(9, 11)).astype(np.int8)
    b = rng.integers(-128, 128, size=(11, 7)).astype(np.int8)
    want = a.astype(np.int32) @ b.astype(np.int32)  # far outside int8: an int8 accumulator would wrap
    _assert_matches(mesh.meshgemm(a, b, 4), want, "int32")
    _assert_matches(mesh.gemm_t(a, np.ascontiguousarray(b.T), 4), want, "int32")
    _assert_matches(mesh.meshgemv(a[0], b, 4), want[0], "int32")


def test_kernels_compose_with_jax_transformations() -> None:
    # Mappers may call the kernels inside their own jit/vmap, also with concrete (closed-over) operands.
    a, b = _operands(3, ((5, 4), (4, 3)), "float32")
    scaled = jax.jit(lambda s: s * mesh.meshgemm(a, b, 3))(2.0)
    _assert_matches(scaled, 2 * (a @ b), "float32")
    _assert_matches(jax.vmap(lambda x: mesh.meshgemv(x, b, 3))(a), a @ b, "float32")


def test_empty_inner_dimension_gives_zeros() -> None:
    a, b = np.zeros((4, 0), np.float32), np.zeros((0, 5), np.float32)
    _assert_matches(mesh.meshgemm(a, b, 3), np.zeros((4, 5), np.float32), "float32")


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["int32", "float32"])
@pytest.mark.parametrize("p", [3, 4, 5, 7])
@SWEEP
@given(m=DIMS, k=DIMS, n=DIMS, seed=SEEDS)
def test_sweep_random_shapes(p: int, dtype: str, m: int, k: int, n: int, seed: int) -> None:
    a, b, bt = _operands(seed, ((m, k), (k, n), (n, k)), dtype)
    for algo in GEMMS:
        _assert_matches(algo(a, b, p), a @ b, dtype)
    _assert_matches(mesh.gemm_t(a, bt, p), a @ bt.T, dtype)
    _assert_matches(mesh.meshgemm_rect(a, b, p - 1, p), a @ b, dtype)
    groups = [g for g in range(1, p + 1) if p % g == 0]
    for k_phases in (1, 2, 3):
        for g in [None] if k_phases == 1 else groups:
            _assert_matches(mesh.meshgemv(a[0], b, p, groups=g, k=k_phases), a[0] @ b, dtype)
    for gemv in (mesh.pipeline_gemv, mesh.ring_gemv):
        _assert_matches(gemv(a[0], b, p), a[0] @ b, dtype)


# ------------------------------------------------------------- reduction orders (5.1-5.2), exact floats


def _chain(vals: list[np.float32], root: int) -> np.float32:
    """Spec 5.2 phase 1 in scalar float32: streams 0..root-1 and n-1..root+1 meet at the root."""
    up = down = None
    for v in vals[:root]:
        up = v if up is None else np.float32(up + v)
    for v in reversed(vals[root + 1 :]):
        down = v if down is None else np.float32(down + v)
    acc = vals[root]
    for s in (up, down):
        acc = acc if s is None else np.float32(acc + s)
    return acc


@pytest.mark.parametrize(("p", "group_num"), [(6, 3), (15, 5)])
def test_reductions_add_in_hardware_order(p: int, group_num: int) -> None:
    # Values spanning many magnitudes make different association orders give different float32 sums,
    # so bit-equality with a scalar re-implementation pins down the order.
    rng = np.random.default_rng(p * 100 + group_num)
    vals = (rng.standard_normal(p) * 10.0 ** rng.integers(-6, 7, p)).astype(np.float32)
    g = p // group_num
    roots = [_chain(list(vals[j * g : (j + 1) * g]), g // 2) for j in range(group_num)]
    assert mesh.ktree_reduce(vals, k=2, groups=group_num) == _chain(roots, group_num // 2)
    assert mesh.ktree_root(p, 2, group_num) == (group_num // 2) * g + g // 2  # spec 5.2 root2
    seq = vals[0]
    for v in vals[1:]:
        seq = np.float32(seq + v)
    assert mesh.pipeline_reduce(vals) == seq
    # ring: member i's message has p chunks of one element; chunk c starts at ring position c
    msg = np.stack([np.roll(vals, i) for i in range(p)])
    ring = mesh.interleave_ring(p)
    want = []
    for c in range(p):
        acc = msg[ring[c], c]
        for j in range(1, p):
            acc = np.float32(acc + msg[ring[(c + j) % p], c])
        want.append(acc)
    np.testing.assert_array_equal(np.asarray(mesh.ring_reduce(msg)), np.array(want, np.float32))


def test_gemm_t_reduces_along_x_toward_the_moving_root() -> None:
    # One row of cores (M = 1, one element per tile): C[0][j] is the X reduce of the P partials
    # a[x] * b[j, x] in the chain order toward gemmt_reduce_root at the step row 0 holds block j.
    p = 5
    rng = np.random.default_rng(7)
    a = (rng.standard_normal((1, p)) * 10.0 ** rng.integers(-6, 7, (1, p))).astype(np.float32)
    b = (rng.standard_normal((p, p)) * 10.0 ** rng.integers(-6, 7, (p, p))).astype(np.float32)
    ring = mesh.interleave_ring(p)
    want = np.empty(p, np.float32)
    for s in range(p):
        j = ring[s]  # row 0 sits at ring position 0, so at step s it holds block phi(s)
        want[j] = _chain([np.float32(a[0, x] * b[j, x]) for x in range(p)], mesh.gemmt_reduce_root(p, s))
    np.testing.assert_array_equal(np.asarray(mesh.gemm_t(a, b, p))[0], want)


@pytest.mark.parametrize(
    ("p", "group_num"),
    [(240, 15), (256, 16), (300, 15), (360, 18), (420, 20), (480, 20), (540, 20), (600, 24), (660, 22), (720, 24)],
)
def test_default_group_num_reproduces_the_artifact_configs(p: int, group_num: int) -> None:
    # spec 5.3 table; P = 512 (artifact 32, closest divisor 16) is the one cell the rule misses
    assert mesh.default_group_num(p) == group_num
    assert mesh.ktree_fanins(p) == [p // group_num, group_num]


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("p", [3, 12, 16, 64, 360])
def test_ktree_fanins_cover_the_line(p: int, k: int) -> None:
    fanins = mesh.ktree_fanins(p, k)
    assert len(fanins) == k and math.prod(fanins) == p
    assert 0 <= mesh.ktree_root(p, k) < p


# ---------------------------------------------------------------------------- (c) bad inputs


@pytest.mark.parametrize("bad_p", [0, 1, 2, -3])
def test_small_meshes_are_rejected(bad_p: int) -> None:
    a = np.ones((4, 4), np.float32)
    for fn in (mesh.interleave_ring, mesh.ring_send_to, mesh.ring_hops, mesh.ring_position, mesh.meshgemm_schedule):
        with pytest.raises(ValueError, match=">= 3"):
            fn(bad_p)
    for algo in (*GEMMS, mesh.gemm_t):
        with pytest.raises(ValueError, match=">= 3"):
            algo(a, a, bad_p)
    for gemv in (mesh.meshgemv, mesh.pipeline_gemv, mesh.ring_gemv):
        with pytest.raises(ValueError, match=">= 3"):
            gemv(a[0], a, bad_p)


def test_non_integer_side_is_rejected() -> None:
    with pytest.raises(ValueError, match="integer"):
        mesh.interleave_ring(4.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="integer"):
        mesh.meshgemm(np.ones((3, 3)), np.ones((3, 3)), True)  # type: ignore[arg-type]


def test_mismatched_shapes_are_rejected() -> None:
    a, b = np.ones((4, 5), np.float32), np.ones((6, 3), np.float32)
    for algo in GEMMS:
        with pytest.raises(ValueError, match="inner dimensions differ"):
            algo(a, b, 3)
    with pytest.raises(ValueError, match="inner dimensions differ"):
        mesh.meshgemm_rect(a, b, 2, 3)
    with pytest.raises(ValueError, match=r"a.shape\[1\] must equal b.shape\[1\]"):
        mesh.gemm_t(a, b, 3)
    with pytest.raises(ValueError, match="2-D matrix"):
        mesh.meshgemm(np.ones(4), np.ones((4, 4)), 3)
    for gemv in (mesh.meshgemv, mesh.pipeline_gemv, mesh.ring_gemv):
        with pytest.raises(ValueError, match=r"x.shape\[0\] must equal w.shape\[0\]"):
            gemv(np.ones(5), np.ones((4, 4)), 3)
        with pytest.raises(ValueError, match="1-D vector"):
            gemv(np.ones((1, 4)), np.ones((4, 4)), 3)
    with pytest.raises(ValueError, match="same square P x P mesh|one square P x P mesh"):
        mesh.meshgemm_align(np.ones((3, 3, 1, 1)), np.ones((3, 4, 1, 1)))


def test_bad_grid_and_tree_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"lcm\(rows, cols\) >= 3"):
        mesh.meshgemm_rect(np.ones((2, 2)), np.ones((2, 2)), 2, 2)
    with pytest.raises(ValueError, match="rows must be a positive integer"):
        mesh.partition(np.ones((2, 2)), 0, 2)
    with pytest.raises(ValueError, match="groups must divide"):
        mesh.meshgemv(np.ones(4), np.ones((4, 4)), 6, groups=4)
    with pytest.raises(ValueError, match="exactly one group"):
        mesh.ktree_fanins(6, k=1, groups=2)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        mesh.meshgemv(np.ones(4), np.ones((4, 4)), 6, k=0)
    with pytest.raises(ValueError, match="step must be"):
        mesh.gemmt_reduce_root(5, 5)
    with pytest.raises(ValueError, match="does not fit"):
        mesh.unpartition(np.ones((3, 3, 1, 1)), (4, 3))
    with pytest.raises(ValueError, match="empty line"):
        mesh.ktree_reduce(np.ones((0, 3)))


@pytest.mark.parametrize(("m", "n", "rows", "cols"), [(7, 5, 3, 2), (1, 9, 4, 5)])
def test_partition_round_trips(m: int, n: int, rows: int, cols: int) -> None:
    x = np.arange(1, m * n + 1, dtype=np.int32).reshape(m, n)
    tiles = np.asarray(mesh.partition(x, rows, cols))
    assert tiles.shape == (rows, cols, -(-m // rows), -(-n // cols))
    np.testing.assert_array_equal(tiles[0, 0], x[: tiles.shape[2], : tiles.shape[3]])  # core (0, 0): top-left
    np.testing.assert_array_equal(np.asarray(mesh.unpartition(tiles, x.shape)), x)
    assert int(tiles.sum()) == int(x.sum())  # the padding is zeros
