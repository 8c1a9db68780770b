"""The vectorized roofline (archsim.sweep.vectorized) equals the per-point path, point by point."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from archsim.analytic.roofline import RooflineOptions
from archsim.errors import InputError
from archsim.evaluate import evaluate, resolve_mode
from archsim.hardware import HardwareSpec, load_hardware
from archsim.sweep import vectorized
from archsim.sweep.vectorized import METRICS, roofline_block
from models.accounting import Accounting
from models.config import load_model

RTOL = 1e-9
GPUS = ("a100-40g", "a100-80g", "h100-sxm", "v100", "mi210", "a6000")


def _scaled_bandwidth(hw: HardwareSpec, factor: float, new_id: str) -> HardwareSpec:
    bw = hw.memory.bandwidth_Bps
    memory = hw.memory.model_copy(update={"bandwidth_Bps": bw.model_copy(update={"value": bw.value * factor})})
    return hw.model_copy(update={"id": new_id, "memory": memory})


def _with_energy_model(hw: HardwareSpec) -> HardwareSpec:
    """A variant with a per-action energy model and its own amortization (the other energy/cost branch)."""
    energy = {"pj_per_flop": {"value": 0.6, "source": "assumption: test"},
              "pj_per_byte_dram": {"value": 40.0, "source": "assumption: test"},
              "static_w": {"value": 90.0, "source": "assumption: test"}}
    data = hw.model_dump()
    data.update(id=f"{hw.id}-emodel", energy=energy, amortization_years={"value": 5.0, "source": "assumption: test"})
    return HardwareSpec.model_validate(data)


@pytest.fixture(scope="module")
def devices() -> list[HardwareSpec]:
    base = [load_hardware(h) for h in GPUS]
    a100 = base[1]
    return base + [_scaled_bandwidth(a100, 2.0, "a100-80g-bw2x"), _with_energy_model(base[2])]


def _reference(model, hw, phase, b, s, w, a, kv, sparsity, compat, flash_attention=False) -> dict:
    return evaluate(model, hw, phase, b, s, w_bits=w, a_bits=a, kv_bits=kv, sparsity=sparsity,
                    flash_attention=flash_attention, mapper="roofline", compat=compat).as_dict()


def _assert_equal(out: dict, i: int, ref: dict, where: str) -> None:
    assert set(out) == set(METRICS)
    for name in METRICS:
        got, want = out[name][i], ref[name]
        if name == "fits_memory":
            assert bool(got) == want, f"{where}: {name}"
        elif math.isinf(want):
            assert got == want, f"{where}: {name}"
        else:
            assert got == pytest.approx(want, rel=RTOL, abs=0.0), f"{where}: {name} {got!r} vs {want!r}"


def _random_points(rng: np.random.Generator, n: int, n_hw: int) -> tuple[np.ndarray, ...]:
    batch = rng.integers(1, 1024, n)
    seq = np.where(rng.random(n) < 0.2, rng.integers(1, 8, n), rng.integers(1, 65536, n))  # some tiny seqs
    hw_index = rng.integers(0, n_hw, n)
    bits = rng.choice(np.array([4, 8, 16]), size=(3, n))
    return batch, seq, hw_index, bits


@pytest.mark.parametrize("model", ["llama2-7b", "llama3-8b", "qwen3-1.7b", "opt-6.7b"])
@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("compat", [None, "llm-viewer"])
def test_equals_per_point_path_on_random_points(model: str, phase: str, compat: str | None,
                                                devices: list[HardwareSpec]) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{model} {phase} {compat}".encode()))
    cfg = load_model(model)
    batch, seq, hw_index, (w, a, kv) = _random_points(rng, 48, len(devices))
    out = roofline_block(cfg, phase, batch, seq, devices, hw_index, w_bits=w, a_bits=a, kv_bits=kv, compat=compat)
    for i in range(len(batch)):
        ref = _reference(cfg, devices[hw_index[i]], phase, int(batch[i]), int(seq[i]), int(w[i]), int(a[i]),
                         int(kv[i]), None, compat)
        _assert_equal(out, i, ref, f"{model} {phase} {compat} point {i}")


@pytest.mark.parametrize("sparsity", ["2:4", "1:3"])
@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_sparsity_equals_per_point_path(sparsity: str, phase: str, devices: list[HardwareSpec]) -> None:
    """2:4 raises the matmul peak on Ampere/Hopper (not on V100/MI210); 1:3 has a non-dyadic index size."""
    rng = np.random.default_rng(7)
    cfg = load_model("llama3-8b")
    batch, seq, hw_index, (w, a, kv) = _random_points(rng, 40, len(devices))
    out = roofline_block(cfg, phase, batch, seq, devices, hw_index, w_bits=w, a_bits=a, kv_bits=kv,
                         sparsity=sparsity)
    for i in range(len(batch)):
        ref = _reference(cfg, devices[hw_index[i]], phase, int(batch[i]), int(seq[i]), int(w[i]), int(a[i]),
                         int(kv[i]), sparsity, None)
        _assert_equal(out, i, ref, f"{sparsity} {phase} point {i}")


@pytest.mark.parametrize("compat", [None, "llm-viewer"])
def test_flash_attention_falls_back_and_still_equals(compat: str | None, devices: list[HardwareSpec]) -> None:
    """FlashAttention re-reads K/V once per query block (a ceil): not polynomial in seq, so the
    structure must fail verification and count each distinct (batch, seq) instead."""
    cfg = load_model("llama2-7b")
    mode = resolve_mode(compat)
    assert not vectorized._structure(cfg, "prefill", 16, 16, 16, None, mode, True, None).poly
    assert vectorized._structure(cfg, "prefill", 16, 16, 16, None, mode, False, None).poly
    rng = np.random.default_rng(3)
    batch, seq, hw_index, (w, a, kv) = _random_points(rng, 30, len(devices))
    batch[:10], seq[:10] = batch[10:20], seq[10:20]  # repeated (batch, seq) pairs share one count
    for phase in ("prefill", "decode"):
        out = roofline_block(cfg, phase, batch, seq, devices, hw_index, w_bits=w, a_bits=a, kv_bits=kv,
                             compat=compat, flash_attention=True, chunk=8)
        for i in range(len(batch)):
            ref = _reference(cfg, devices[hw_index[i]], phase, int(batch[i]), int(seq[i]), int(w[i]), int(a[i]),
                             int(kv[i]), None, compat, flash_attention=True)
            _assert_equal(out, i, ref, f"FA {phase} {compat} point {i}")


def test_efficiency_launch_cost_and_accounting_overrides(devices: list[HardwareSpec]) -> None:
    """Derated peaks and bandwidth, a launch cost per op instance, and a custom op accounting."""
    cfg = load_model("llama3-8b")
    opts = RooflineOptions(eta_compute=0.7, eta_memory=0.85, t_launch_s=4e-6)
    acc = Accounting(full_causal_scores=True, lm_head_positions="all")
    rng = np.random.default_rng(13)
    batch, seq, hw_index, (w, a, kv) = _random_points(rng, 30, len(devices))
    for phase in ("prefill", "decode"):
        out = roofline_block(cfg, phase, batch, seq, devices, hw_index, w_bits=w, a_bits=a, kv_bits=kv,
                             roofline=opts, accounting=acc)
        for i in range(len(batch)):
            ref = evaluate(cfg, devices[hw_index[i]], phase, int(batch[i]), int(seq[i]), w_bits=int(w[i]),
                           a_bits=int(a[i]), kv_bits=int(kv[i]), mapper="roofline", roofline=opts,
                           accounting=acc).as_dict()
            _assert_equal(out, i, ref, f"options {phase} point {i}")


@pytest.mark.parametrize("compat", [None, "llm-viewer"])
def test_structures_without_flash_attention_take_the_polynomial_path(compat: str | None) -> None:
    """The fast path must hold for every preset model, odd widths and non-power-of-two N:M (its
    index size makes weight bytes non-dyadic); the fallback is for genuinely non-polynomial counts."""
    mode = resolve_mode(compat)
    for name in ("llama2-7b", "llama3-8b", "qwen3-1.7b", "opt-6.7b", "bitnet-b1.58-3b", "qwen2-72b"):
        cfg = load_model(name)
        for phase in ("prefill", "decode"):
            for sparsity in (None, (2, 4), (1, 3), (3, 7)):
                for bits in ((16, 16, 16), (4, 8, 8), (3, 5, 7)):
                    st = vectorized._structure(cfg, phase, *bits, sparsity, mode, False, None)
                    assert st.poly, (name, phase, sparsity, bits)


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_chunk_boundaries(chunk: int, devices: list[HardwareSpec]) -> None:
    cfg = load_model("qwen3-1.7b")
    rng = np.random.default_rng(11)
    batch, seq, hw_index, (w, a, kv) = _random_points(rng, 150, len(devices))
    whole = roofline_block(cfg, "decode", batch, seq, devices, hw_index, w_bits=w, a_bits=a, kv_bits=kv,
                           chunk=len(batch))
    mixed = roofline_block(cfg, "decode", batch, seq, devices, hw_index, w_bits=w, a_bits=a, kv_bits=kv,
                           chunk=chunk)
    scalar = roofline_block(cfg, "decode", batch, seq, devices, hw_index, w_bits=8, a_bits=16, kv_bits=8,
                            chunk=chunk)
    for name in METRICS:
        np.testing.assert_array_equal(mixed[name], whole[name], err_msg=name)
    for i in (0, chunk - 1, chunk, min(2 * chunk, 149), 149):
        i = min(i, 149)
        ref = _reference(cfg, devices[hw_index[i]], "decode", int(batch[i]), int(seq[i]), int(w[i]), int(a[i]),
                         int(kv[i]), None, None)
        _assert_equal(mixed, i, ref, f"chunk {chunk} point {i}")
        ref = _reference(cfg, devices[hw_index[i]], "decode", int(batch[i]), int(seq[i]), 8, 16, 8, None, None)
        _assert_equal(scalar, i, ref, f"chunk {chunk} scalar bits point {i}")


def test_many_bit_width_groups_sorted_path(devices: list[HardwareSpec]) -> None:
    """More than 32 distinct (w, a, kv) combinations take the sort-based grouping."""
    cfg = load_model("llama2-7b")
    rng = np.random.default_rng(5)
    n = 120
    batch, seq, hw_index = rng.integers(1, 64, n), rng.integers(1, 4096, n), rng.integers(0, len(devices), n)
    w, a, kv = rng.integers(1, 33, n), rng.integers(1, 33, n), rng.integers(1, 33, n)
    out = roofline_block(cfg, "prefill", batch, seq, devices, hw_index, w_bits=w, a_bits=a, kv_bits=kv, chunk=5)
    for i in range(0, n, 7):
        ref = _reference(cfg, devices[hw_index[i]], "prefill", int(batch[i]), int(seq[i]), int(w[i]), int(a[i]),
                         int(kv[i]), None, None)
        _assert_equal(out, i, ref, f"point {i}")


def test_doubled_bandwidth_halves_memory_bound_decode(devices: list[HardwareSpec]) -> None:
    cfg = load_model("llama2-7b")
    j_base, j_fast = GPUS.index("a100-80g"), len(GPUS)
    out = roofline_block(cfg, "decode", np.array([1, 1]), np.array([1024, 1024]), devices, np.array([j_base, j_fast]))
    assert out["latency_s"][1] == pytest.approx(out["latency_s"][0] / 2, rel=1e-12)
    assert out["memory_bytes"][1] == out["memory_bytes"][0]


def test_empty_block_and_string_inputs() -> None:
    out = roofline_block("llama2-7b", "decode", np.array([], dtype=int), np.array([], dtype=int), ["a100-40g"],
                         np.array([], dtype=int))
    assert set(out) == set(METRICS) and all(v.shape == (0,) for v in out.values())
    assert out["fits_memory"].dtype == bool and out["latency_s"].dtype == np.float64


def test_non_gpu_hardware_is_an_input_error(devices: list[HardwareSpec]) -> None:
    cfg = load_model("llama2-7b")
    with pytest.raises(InputError, match="wse2") as err:
        roofline_block(cfg, "decode", np.array([1]), np.array([128]), [devices[0], load_hardware("wse2")],
                       np.array([0]))
    assert err.value.field == "hw"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"batch": np.array([0, 1])}, "batch"),
    ({"batch": np.array([1.5, 2.0])}, "batch"),
    ({"batch": np.array([True, False])}, "batch"),
    ({"seq": np.array([128])}, "seq"),
    ({"seq": np.array([[128, 128]])}, "seq"),
    ({"hw_index": np.array([0, 9])}, "hw_index"),
    ({"w_bits": 33}, "w_bits"),
    ({"kv_bits": np.array([8, 0])}, "kv_bits"),
    ({"phase": "generate"}, "phase"),
    ({"compat": "vllm"}, "compat"),
    ({"sparsity": "2-4"}, "sparsity"),
    ({"hw": []}, "hw"),
    ({"chunk": 0}, "chunk"),
])
def test_bad_inputs_name_the_field(kwargs: dict, field: str, devices: list[HardwareSpec]) -> None:
    args = {"model": load_model("llama2-7b"), "phase": "decode", "batch": np.array([1, 2]),
            "seq": np.array([128, 256]), "hw": devices[:2], "hw_index": np.array([0, 1])}
    args.update(kwargs)
    with pytest.raises(InputError) as err:
        roofline_block(**args)
    assert err.value.field == field
    assert str(err.value).endswith(".") and "\n" not in str(err.value)
