"""Hardware presets: values as LLM-Viewer tables them (spec gpu_roofline.md sec. 5), aliases, sources."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from archsim.errors import InputError, NotSupportedError
from archsim.hardware import hardware_ids, load_hardware, parse_hardware
from archsim.hardware.registry import PRESET_DIR

# key: (bandwidth GB/s, fp16 TOPS, int8 TOPS, on-chip buffer KB, ridge OP/B, capacity GB) — spec sec. 5.
SPEC_TABLE = {
    "nvidia_A100": (1555, 312, 624, 27648, 200.6, 40),
    "nvidia_A100_80G": (2039, 312, 624, 27648, 153.0, 80),
    "nvidia_H100": (3072, 989.5, 1979, 33792, 322.1, 80),
    "nvidia_V100": (900, 112, 62, 20480, 124.4, 32),
    "nvidia_A6000": (768, 154.8, 309.7, 21504, 201.6, 48),
}


SOURCE_KINDS = ("datasheet: ", "derived: ", "assumption: ", "paper: ", "artifact: ", "third-party: ", "LLM-Viewer ")


@pytest.mark.parametrize("key", sorted(SPEC_TABLE))
def test_presets_match_llm_viewer_table(key: str) -> None:
    bw, fp16, int8, buf_kb, ridge, cap = SPEC_TABLE[key]
    hw = load_hardware(key)
    assert hw.memory.bandwidth_Bps.value == bw * 1e9
    assert hw.peaks_ops["fp16"].value == fp16 * 1e12
    assert hw.peaks_ops["int8"].value == int8 * 1e12
    assert hw.onchip_buffer_bytes.value == buf_kb * 1e3
    assert hw.memory.capacity_bytes.value == cap * 1e9
    assert hw.peaks_ops["fp16"].value / hw.memory.bandwidth_Bps.value == pytest.approx(ridge, abs=0.05)


def test_aliases_resolve_to_the_same_object() -> None:
    assert load_hardware("nvidia_A100") is load_hardware("a100-40g")
    assert load_hardware("A800_80G_SXM") is load_hardware("a100-80g")
    assert load_hardware("NVIDIA_H100") is load_hardware("h100-sxm")


def test_every_preset_number_has_a_source() -> None:
    for path in PRESET_DIR.glob("*.yaml"):
        raw = yaml.safe_load(path.read_text())

        def walk(node: object, where: str) -> None:
            if isinstance(node, dict):
                if "value" in node:
                    source = str(node.get("source", ""))
                    assert source.startswith(SOURCE_KINDS), f"{where} source {source!r}"
                for k, v in node.items():
                    walk(v, f"{where}.{k}")
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{where}[{i}]")

        walk(raw, path.name)


def test_design_gpu_ids_exist() -> None:
    assert {"a100-40g", "a100-80g", "h100-sxm", "v100", "v100s", "a6000", "mi210"} <= set(hardware_ids())


def test_design_fpga_ids_exist() -> None:
    for hw_id in ("u280", "vhk158", "v80"):
        assert load_hardware(hw_id).family == "fpga"


def test_planned_ids_are_not_yet_supported_and_typos_are_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import archsim.hardware.registry as registry

    monkeypatch.setitem(registry.PLANNED_IDS, "npu9000", "npu")
    with pytest.raises(NotSupportedError, match="npu9000"):
        load_hardware("npu9000")
    with pytest.raises(InputError, match="not a known hardware id") as err:
        load_hardware("a100-40")
    assert not isinstance(err.value, NotSupportedError)


def test_yaml_errors_name_the_field(tmp_path: Path) -> None:
    text = (PRESET_DIR / "a100-40g.yaml").read_text()
    with pytest.raises(InputError, match=r"field 'peaks_ops' is invalid: .*'fp99'"):
        parse_hardware(text.replace("  int4:", "  fp99:"), "x.yaml")
    with pytest.raises(InputError, match=r"field 'price_usd' is missing"):
        parse_hardware("\n".join(ln for ln in text.splitlines() if "price_usd" not in ln), "x.yaml")
    with pytest.raises(InputError, match=r"field 'power.tdp_w.source' is missing"):
        parse_hardware(text.replace('tdp_w: {value: 400.0, source: "datasheet: NVIDIA A100 SXM max TDP 400 W"}',
                                    "tdp_w: {value: 400.0}"), "x.yaml")
    with pytest.raises(InputError, match=r"field 'gpu' is missing|needs a 'gpu' block"):
        parse_hardware(_without_block(text, "gpu"), "x.yaml")
    with pytest.raises(InputError, match="not a known hardware field"):
        parse_hardware(text + "\nbandwith: 3\n", "x.yaml")


def _without_block(text: str, key: str) -> str:
    """The YAML text without the top-level mapping ``key`` and its indented lines."""
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            skipping = True
            continue
        if skipping and line.startswith(" "):
            continue
        skipping = False
        out.append(line)
    return "\n".join(out)
