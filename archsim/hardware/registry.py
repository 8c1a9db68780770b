"""Find hardware descriptions: bundled presets by id or alias, or a user's YAML file by path."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from archsim.errors import InputError, NotSupportedError, describe_validation
from archsim.hardware.schema import HardwareSpec

PRESET_DIR = Path(__file__).parent / "presets"

# Device ids DESIGN.md plans for later issues, with their family: asking for one is "not yet
# supported", not a typo. A preset file with the same id takes precedence once it exists.
PLANNED_IDS: dict[str, str] = {}


def parse_hardware(text: str, origin: str) -> HardwareSpec:
    """Validate YAML text as a ``HardwareSpec``; raise ``InputError`` naming the bad field."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError("hw", f"hardware file '{origin}' is not valid YAML{where}.") from None
    if not isinstance(raw, dict):
        raise InputError("hw", f"hardware file '{origin}' must hold a YAML mapping of fields.")
    try:
        return HardwareSpec.model_validate(raw)
    except ValidationError as exc:
        raise InputError("hw", f"hardware file '{origin}': {describe_validation(exc, 'hardware')}.") from None


@cache
def _presets() -> dict[str, HardwareSpec]:
    specs: dict[str, HardwareSpec] = {}
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        spec = parse_hardware(path.read_text(), str(path))
        specs[spec.id] = spec
    return specs


@cache
def _aliases() -> dict[str, str]:
    table: dict[str, str] = {}
    for spec in _presets().values():
        table[spec.id.lower()] = spec.id
        for alias in spec.aliases:
            table[alias.lower()] = spec.id
    return table


def hardware_ids() -> list[str]:
    """Ids of the bundled presets, sorted."""
    return sorted(_presets())


def load_hardware(hw: str | Path | HardwareSpec) -> HardwareSpec:
    """Resolve a preset id or alias (case-insensitive) or a path to a YAML file.

    Presets are parsed once and the same object is returned for an id and its aliases. Raises
    ``InputError`` for an unknown id (listing the known ones) or an invalid file.
    """
    if isinstance(hw, HardwareSpec):
        return hw
    key = str(hw)
    preset_id = _aliases().get(key.lower())
    if preset_id is not None:
        return _presets()[preset_id]
    if key.lower() == "host":  # this machine: the preset `archsim calibrate host` wrote
        from archsim.calibrate import HOST_ENV, find_host_preset

        found = find_host_preset()
        if found is None:
            raise NotSupportedError(
                "hw", f"hw 'host' has no preset yet; run `archsim calibrate host` first (it writes ./host.yaml), "
                f"or set {HOST_ENV} to a host preset file."
            )
        return parse_hardware(found.read_text(), str(found))
    path = Path(key)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise InputError("hw", f"hardware file '{path}' does not exist.")
        return parse_hardware(path.read_text(), str(path))
    if key.lower() in PLANNED_IDS:
        raise NotSupportedError(
            "hw", f"hw '{key}' ({PLANNED_IDS[key.lower()]} family) is planned but not available yet."
        )
    raise InputError(
        "hw",
        f"hw '{key}' is not a known hardware id; use a path to a YAML file or one of: {', '.join(hardware_ids())}.",
    )
