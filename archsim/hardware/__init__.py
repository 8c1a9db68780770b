"""Hardware descriptions: the pydantic schema and the bundled YAML presets (data, no formulas)."""

from archsim.hardware.registry import hardware_ids, load_hardware, parse_hardware
from archsim.hardware.schema import HardwareSpec, Sourced

__all__ = ["HardwareSpec", "Sourced", "hardware_ids", "load_hardware", "parse_hardware"]
