"""Transformer model configuration, read from Hugging Face ``config.json`` files.

``ModelConfig.from_hf`` understands the architectures archsim models: LLaMA / Llama-3 / Mistral /
Qwen2 / Qwen3 / BitNet (gated SiLU MLP, RMSNorm, optional GQA) and OPT (plain ReLU MLP,
LayerNorm, ``ffn_dim``). Presets are real ``config.json`` files under ``models/presets``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.errors import ModelInputError

# model_type -> (gated MLP, norm kind, default activation). Sources: each family's
# transformers modelling code (LlamaMLP/Qwen2MLP are gate*up -> down; OPT is fc1 -> ReLU -> fc2).
_ARCHITECTURES: dict[str, tuple[bool, str, str]] = {
    "llama": (True, "rms", "silu"),
    "mistral": (True, "rms", "silu"),
    "qwen2": (True, "rms", "silu"),
    "qwen3": (True, "rms", "silu"),
    "bitnet": (True, "rms", "silu"),
    "opt": (False, "layer", "relu"),
}

PRESET_DIR = Path(__file__).parent / "presets"


def _activation(name: str, key: str) -> str:
    """Map transformers' activation names onto the three archsim counts (silu, gelu, relu).

    ``swish`` is transformers' alias of SiLU; every GELU variant (``gelu_new``, ``gelu_pytorch_tanh``,
    ``quick_gelu`` ...) is counted as GELU.
    """
    low = name.lower()
    if low in ("silu", "swish"):
        return "silu"
    if "gelu" in low:
        return "gelu"
    if low == "relu":
        return "relu"
    raise ModelInputError(key, f"config.json '{key}' is '{name}'; archsim counts silu/swish, gelu variants and relu.")


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Dimensions of a decoder-only transformer (one instance per model, immutable).

    ``intermediate`` is the FFN width (``intermediate_size`` or OPT's ``ffn_dim``); ``head_dim``
    defaults to ``hidden // heads`` but Qwen3 sets it explicitly.
    """

    name: str
    model_type: str
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    layers: int
    vocab: int
    gated_mlp: bool
    norm: str  # "rms" or "layer"
    activation: str  # "silu", "gelu" or "relu"
    tie_word_embeddings: bool

    @property
    def rotary(self) -> bool:
        """Rotary position embeddings (LLaMA/Qwen/BitNet); OPT uses learned absolute positions."""
        return self.model_type != "opt"

    @property
    def q_dim(self) -> int:
        """Width of the query projection output (heads x head_dim)."""
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of each of the K and V projection outputs (kv_heads x head_dim)."""
        return self.kv_heads * self.head_dim

    def linear_shapes(self) -> list[tuple[str, int, int]]:
        """Per-layer linear layers as ``(name, in_features, out_features)`` in execution order."""
        h, i = self.hidden, self.intermediate
        shapes = [
            ("q_proj", h, self.q_dim),
            ("k_proj", h, self.kv_dim),
            ("v_proj", h, self.kv_dim),
            ("out_proj", self.q_dim, h),
        ]
        if self.gated_mlp:
            shapes += [("gate_proj", h, i), ("up_proj", h, i), ("down_proj", i, h)]
        else:
            shapes += [("fc1", h, i), ("fc2", i, h)]
        return shapes

    def parameter_count(self) -> dict[str, int]:
        """Parameters by group: ``layers`` (linears + norms), ``lm_head``, ``embedding``, ``final_norm``.

        ``embedding`` is 0 when tied to ``lm_head`` (the same matrix is stored once).
        """
        linear = sum(i * o for _, i, o in self.linear_shapes())
        norms = 2 * self.hidden
        return {
            "layers": self.layers * (linear + norms),
            "lm_head": self.hidden * self.vocab,
            "embedding": 0 if self.tie_word_embeddings else self.hidden * self.vocab,
            "final_norm": self.hidden,
        }

    @classmethod
    def from_hf(cls, source: str | Path | dict[str, Any], name: str | None = None) -> ModelConfig:
        """Build a config from a Hugging Face ``config.json`` (path, directory or parsed dict).

        Raises ``ModelInputError`` naming the missing or bad key when the file is malformed or the
        architecture is not one archsim models.
        """
        if isinstance(source, dict):
            raw, origin = source, name or "config"
        else:
            path = Path(source)
            if path.is_dir():
                path = path / "config.json"
            if not path.is_file():
                raise ModelInputError("model", f"model config file '{path}' does not exist.")
            try:
                raw = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise ModelInputError(
                    "model", f"model config '{path}' is not valid JSON (line {exc.lineno}: {exc.msg})."
                ) from None
            if not isinstance(raw, dict):
                raise ModelInputError("model", f"model config '{path}' must hold a JSON object.")
            origin = name or raw.get("_name_or_path") or path.parent.name or path.stem
        return cls._from_dict(raw, str(origin))

    @classmethod
    def _from_dict(cls, raw: dict[str, Any], name: str) -> ModelConfig:
        model_type = raw.get("model_type")
        if model_type is None:
            raise ModelInputError(
                "model_type", f"config.json for '{name}' has no 'model_type' key; archsim needs it to "
                f"pick the architecture ({', '.join(sorted(_ARCHITECTURES))})."
            )
        if model_type not in _ARCHITECTURES:
            raise ModelInputError(
                "model_type", f"config.json 'model_type' is '{model_type}', which archsim does not model; "
                f"supported: {', '.join(sorted(_ARCHITECTURES))}."
            )
        gated, norm, default_act = _ARCHITECTURES[model_type]

        def need(*keys: str) -> int:
            for key in keys:
                if key in raw:
                    value = raw[key]
                    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                        raise ModelInputError(
                            key, f"config.json key '{key}' must be a positive integer, got {value!r}."
                        )
                    return value
            alternatives = "' or '".join(keys)
            raise ModelInputError(
                keys[0], f"config.json for '{name}' ({model_type}) is missing the key '{alternatives}'."
            )

        hidden = need("hidden_size")
        intermediate = need("ffn_dim") if model_type == "opt" else need("intermediate_size")
        heads = need("num_attention_heads")
        # transformers treats an absent or null num_key_value_heads as plain multi-head attention.
        kv_heads = need("num_key_value_heads") if raw.get("num_key_value_heads") is not None else heads
        if heads % kv_heads:
            raise ModelInputError(
                "num_key_value_heads",
                f"config.json 'num_attention_heads' ({heads}) must be a multiple of "
                f"'num_key_value_heads' ({kv_heads}).",
            )
        if "head_dim" in raw and raw["head_dim"] is not None:
            head_dim = need("head_dim")
        else:
            if hidden % heads:
                raise ModelInputError(
                    "head_dim", f"config.json has no 'head_dim' and 'hidden_size' ({hidden}) is not a "
                    f"multiple of 'num_attention_heads' ({heads})."
                )
            head_dim = hidden // heads
        act_key = "hidden_act" if "hidden_act" in raw else "activation_function"
        activation = _activation(str(raw.get(act_key, default_act)), act_key)
        # OPT ties lm_head to the embedding by default (transformers' OPTConfig); LLaMA does not.
        tie_default = model_type == "opt"
        return cls(
            name=name,
            model_type=model_type,
            hidden=hidden,
            intermediate=intermediate,
            heads=heads,
            kv_heads=kv_heads,
            head_dim=head_dim,
            layers=need("num_hidden_layers"),
            vocab=need("vocab_size"),
            gated_mlp=gated,
            norm=norm,
            activation=activation,
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", tie_default)),
        )


def preset_ids() -> list[str]:
    """Ids of the bundled model presets (file stems of ``models/presets/*.json``)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


_PRESET_CACHE: dict[str, ModelConfig] = {}


def load_model(model: str | Path | dict[str, Any]) -> ModelConfig:
    """Resolve a preset id, a path to a ``config.json`` (or its directory) or a parsed dict.

    Raises ``ModelInputError`` for an unknown id, naming the known ones.
    """
    if isinstance(model, dict):
        return ModelConfig.from_hf(model)
    key = str(model)
    if key in _PRESET_CACHE:
        return _PRESET_CACHE[key]
    preset = PRESET_DIR / f"{key}.json"
    if preset.is_file():
        cfg = ModelConfig.from_hf(preset, name=key)
        _PRESET_CACHE[key] = cfg
        return cfg
    path = Path(key)
    if path.exists() or key.endswith(".json") or "/" in key:
        return ModelConfig.from_hf(path)
    raise ModelInputError(
        "model",
        f"model '{key}' is not a known model id; use a path to a config.json or one of: {', '.join(preset_ids())}.",
    )
