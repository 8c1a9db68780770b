"""Model layer: HF config reader, bundled presets, workloads and their operator graphs (no hardware)."""

from models.accounting import Accounting
from models.config import ModelConfig, load_model, preset_ids
from models.errors import ModelInputError
from models.workload import Memory, Op, Precision, Workload, parse_sparsity

__all__ = [
    "Accounting",
    "Memory",
    "ModelConfig",
    "ModelInputError",
    "Op",
    "Precision",
    "Workload",
    "load_model",
    "parse_sparsity",
    "preset_ids",
]
