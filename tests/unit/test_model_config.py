"""``ModelConfig.from_hf`` and the bundled presets (spec ``gpu_roofline.md`` sec. 2, DESIGN.md core types).

Expected dimensions are the literal values of the config files (tests/data) and the published
model cards; errors must be ``ModelInputError`` naming the offending key or file.
"""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from models.config import ModelConfig, load_model, preset_ids
from models.errors import ModelInputError
from models.workload import Workload

DATA = Path(__file__).resolve().parents[1] / "data"

LLAMA_DICT = {
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "num_hidden_layers": 32,
    "vocab_size": 32000,
}


def test_qwen25_7b_instruct_config():
    cfg = ModelConfig.from_hf(DATA / "qwen2.5-7b-instruct" / "config.json")
    assert cfg.model_type == "qwen2"
    assert cfg.hidden == 3584
    assert cfg.intermediate == 18944
    assert cfg.heads == 28
    assert cfg.kv_heads == 4
    assert cfg.head_dim == 3584 // 28 == 128
    assert cfg.layers == 28
    assert cfg.vocab == 152064
    assert cfg.tie_word_embeddings is False
    assert cfg.gated_mlp is True and cfg.norm == "rms" and cfg.activation == "silu"
    assert cfg.q_dim == 3584 and cfg.kv_dim == 4 * 128
    # a directory resolves to its config.json
    assert ModelConfig.from_hf(DATA / "qwen2.5-7b-instruct") == cfg
    assert load_model(str(DATA / "qwen2.5-7b-instruct" / "config.json")) == cfg


def test_llama32_1b_config():
    cfg = ModelConfig.from_hf(DATA / "llama-3.2-1b" / "config.json")
    assert cfg.model_type == "llama"
    assert cfg.hidden == 2048
    assert cfg.intermediate == 8192
    assert cfg.heads == 32
    assert cfg.kv_heads == 8
    assert cfg.head_dim == 64
    assert cfg.layers == 16
    assert cfg.vocab == 128256
    assert cfg.tie_word_embeddings is True
    assert cfg.activation == "silu"
    assert cfg.linear_shapes() == [
        ("q_proj", 2048, 2048), ("k_proj", 2048, 512), ("v_proj", 2048, 512), ("out_proj", 2048, 2048),
        ("gate_proj", 2048, 8192), ("up_proj", 2048, 8192), ("down_proj", 8192, 2048),
    ]


def test_file_and_dict_agree():
    path = DATA / "llama-3.2-1b" / "config.json"
    raw = json.loads(path.read_text())
    from_dict = ModelConfig.from_hf(raw, name="x")
    from_file = ModelConfig.from_hf(path, name="x")
    assert from_dict == from_file
    assert load_model(raw).hidden == 2048


def test_dict_input():
    cfg = ModelConfig.from_hf(LLAMA_DICT)
    assert (cfg.hidden, cfg.intermediate, cfg.heads, cfg.kv_heads, cfg.layers, cfg.vocab) == (
        4096, 11008, 32, 32, 32, 32000)
    assert cfg.head_dim == 128
    assert cfg.tie_word_embeddings is False  # LLaMA default
    # kv heads default to the attention heads when the key is absent
    raw = dict(LLAMA_DICT)
    del raw["num_key_value_heads"]
    assert ModelConfig.from_hf(raw).kv_heads == 32
    with pytest.raises(FrozenInstanceError):
        cfg.hidden = 1  # type: ignore[misc]


PRESETS = {
    # id: (hidden, intermediate, heads, kv_heads, layers, vocab)
    "llama2-7b": (4096, 11008, 32, 32, 32, 32000),
    "llama2-13b": (5120, 13824, 40, 40, 40, 32000),
    "llama3-8b": (4096, 14336, 32, 8, 32, 128256),
    "codellama-34b": (8192, 22016, 64, 8, 48, 32000),
    "qwen2-72b": (8192, 29568, 64, 8, 80, 152064),
    "qwen3-1.7b": (2048, 6144, 16, 8, 28, 151936),
    "opt-6.7b": (4096, 16384, 32, 32, 32, 50272),
    "bitnet-b1.58-3b": (3200, 8640, 32, 32, 26, 32002),
}


def test_preset_ids_are_the_design_list():
    assert set(preset_ids()) == set(PRESETS)


@pytest.mark.parametrize("model_id", sorted(PRESETS))
def test_preset_dims(model_id):
    cfg = load_model(model_id)
    assert cfg.name == model_id
    assert (cfg.hidden, cfg.intermediate, cfg.heads, cfg.kv_heads, cfg.layers, cfg.vocab) == PRESETS[model_id]
    assert load_model(model_id) is cfg  # parsed once
    if model_id == "qwen3-1.7b":
        assert cfg.head_dim == 128 and cfg.tie_word_embeddings is True
        assert cfg.q_dim == 16 * 128 and cfg.kv_dim == 8 * 128
    elif model_id == "opt-6.7b":
        assert cfg.gated_mlp is False and cfg.norm == "layer" and cfg.activation == "relu"
        assert cfg.tie_word_embeddings is True
        names = [n for n, _, _ in cfg.linear_shapes()]
        assert names == ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
        assert cfg.head_dim == 128
    else:
        assert cfg.gated_mlp is True and cfg.norm == "rms" and cfg.activation == "silu"
        assert cfg.tie_word_embeddings is False
        assert cfg.head_dim == cfg.hidden // cfg.heads
    # every preset builds a graph in both phases
    for phase in ("prefill", "decode"):
        assert Workload(cfg, phase, seq=8).ops()


def test_preset_parameter_counts_match_model_cards():
    # LLaMA2-7B: 32 * 202,375,168 linear + 2 * 4096 * 32000 embeddings + norms ~ 6.74e9
    assert load_model("llama2-7b").parameter_count() == {
        "layers": 32 * (202_375_168 + 2 * 4096),
        "lm_head": 4096 * 32000,
        "embedding": 4096 * 32000,
        "final_norm": 4096,
    }
    total = sum(load_model("llama3-8b").parameter_count().values())
    assert total == pytest.approx(8.03e9, rel=0.01)
    tied = load_model("qwen3-1.7b").parameter_count()
    assert tied["embedding"] == 0


def test_malformed_json_names_the_file():
    path = DATA / "malformed_config.json"
    with pytest.raises(ModelInputError) as err:
        ModelConfig.from_hf(path)
    assert "malformed_config.json" in str(err.value)
    assert "JSON" in str(err.value)
    with pytest.raises(ModelInputError):
        load_model(str(path))


def test_missing_key_names_the_key():
    path = DATA / "missing_key_config.json"
    assert "intermediate_size" not in json.loads(path.read_text())
    with pytest.raises(ModelInputError) as err:
        ModelConfig.from_hf(path)
    assert err.value.field == "intermediate_size"
    assert "intermediate_size" in str(err.value)


def test_opt_missing_ffn_dim_names_it():
    raw = {"model_type": "opt", "hidden_size": 768, "num_attention_heads": 12, "num_hidden_layers": 12,
           "vocab_size": 50272}
    with pytest.raises(ModelInputError) as err:
        ModelConfig.from_hf(raw)
    assert err.value.field == "ffn_dim" and "ffn_dim" in str(err.value)


def test_unknown_model_type():
    with pytest.raises(ModelInputError) as err:
        ModelConfig.from_hf({**LLAMA_DICT, "model_type": "gpt_neox"})
    assert err.value.field == "model_type"
    assert "model_type" in str(err.value) and "gpt_neox" in str(err.value)
    raw = dict(LLAMA_DICT)
    del raw["model_type"]
    with pytest.raises(ModelInputError) as err:
        ModelConfig.from_hf(raw)
    assert err.value.field == "model_type" and "model_type" in str(err.value)


@pytest.mark.parametrize("kv_heads", [3, 5, 64])
def test_heads_not_divisible_by_kv_heads(kv_heads):
    with pytest.raises(ModelInputError) as err:
        ModelConfig.from_hf({**LLAMA_DICT, "num_key_value_heads": kv_heads})
    assert err.value.field == "num_key_value_heads"
    assert "num_key_value_heads" in str(err.value)


@pytest.mark.parametrize("value", [0, -4, 4.5, "4096", True, None])
def test_bad_dimension_values_name_the_key(value):
    with pytest.raises(ModelInputError) as err:
        ModelConfig.from_hf({**LLAMA_DICT, "hidden_size": value})
    assert err.value.field == "hidden_size" and "hidden_size" in str(err.value)


def test_hidden_not_divisible_by_heads_without_head_dim():
    with pytest.raises(ModelInputError) as err:
        ModelConfig.from_hf({**LLAMA_DICT, "hidden_size": 4100})
    assert err.value.field == "head_dim"
    # an explicit head_dim makes it valid (Qwen3 style)
    cfg = ModelConfig.from_hf({**LLAMA_DICT, "hidden_size": 4100, "head_dim": 128})
    assert cfg.q_dim == 32 * 128


def test_missing_file_and_unknown_id():
    with pytest.raises(ModelInputError):
        ModelConfig.from_hf(DATA / "no-such-model" / "config.json")
    with pytest.raises(ModelInputError) as err:
        load_model("llama9-1t")
    assert err.value.field == "model"
    assert "llama2-7b" in str(err.value)  # lists the known ids


def test_non_object_json(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(ModelInputError):
        ModelConfig.from_hf(path)


def test_activation_aliases():
    assert ModelConfig.from_hf({**LLAMA_DICT, "hidden_act": "gelu_pytorch_tanh"}).activation == "gelu"
    opt = ModelConfig.from_hf({"model_type": "opt", "hidden_size": 768, "ffn_dim": 3072,
                               "num_attention_heads": 12, "num_hidden_layers": 12, "vocab_size": 50272})
    assert opt.activation == "relu" and opt.tie_word_embeddings is True  # transformers' OPTConfig defaults


def test_swish_is_silu_and_countable():
    cfg = ModelConfig.from_hf({**LLAMA_DICT, "hidden_act": "swish"})
    assert cfg.activation == "silu"
    act = next(op for op in Workload(cfg, "decode", seq=8).ops() if op.name == "mlp_act")
    assert act.flops == 5 * cfg.intermediate  # SiLU 4 + gate product 1, b = T = 1
    assert ModelConfig.from_hf({**LLAMA_DICT, "hidden_act": "quick_gelu"}).activation == "gelu"


def test_unsupported_activation_is_a_clear_input_error():
    with pytest.raises(ModelInputError, match="hidden_act") as err:
        ModelConfig.from_hf({**LLAMA_DICT, "hidden_act": "tanh"})
    assert err.value.field == "hidden_act"


def test_null_kv_heads_means_multi_head():
    cfg = ModelConfig.from_hf({**LLAMA_DICT, "num_key_value_heads": None})
    assert cfg.kv_heads == cfg.heads
