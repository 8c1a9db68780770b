"""Mapping strategies, one module each, registered by name.

Adding a strategy is adding a module here that defines a ``Mapper`` subclass decorated with
``@register``; modules are discovered on first use, so no list needs editing.
"""

from __future__ import annotations

import importlib
import pkgutil

from mappers.base import Check, MapContext, Mapper, Plan

_REGISTRY: dict[str, Mapper] = {}
_DEFAULTS: dict[str, str] = {}
_LOADED = False

# Strategies DESIGN.md plans for later issues, reported as "not yet supported" rather than as typos
# (name -> issue). Every planned strategy exists today; the mechanism stays for the next ones.
PLANNED: dict[str, str] = {}


def register(default_for: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """Class decorator: register a mapper under its ``name``; optionally the default for families."""

    def wrap(cls: type[Mapper]) -> type[Mapper]:
        _REGISTRY[cls.name] = cls()
        for family in default_for:
            _DEFAULTS[family] = cls.name
        return cls

    return wrap


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


def mapper_names() -> list[str]:
    """Registered mapper names, sorted."""
    _load()
    return sorted(_REGISTRY)


def get_mapper(name: str | None, family: str) -> Mapper:
    """The mapper called ``name`` (or the family's default when ``None``) for a ``family`` device.

    Raises ``archsim.errors.NotSupportedError`` for a planned-but-missing mapper or a family the
    mapper does not support, and ``InputError`` for an unknown name.
    """
    if name is None and _LOADED and family in _DEFAULTS:  # the per-design-point fast path
        return _REGISTRY[_DEFAULTS[family]]
    from archsim.errors import InputError, NotSupportedError

    _load()
    options: dict[str, str] = {}
    if name is not None and ":" in name:  # "meshgemv:k=3,groups=20" -> name and mapper options
        name, _, spec = name.partition(":")
        for item in filter(None, spec.split(",")):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise InputError("mapper", f"mapper options must look like name:key=value,key=value, got '{item}'.")
            options[key.strip()] = value.strip()
    if name is None:
        if family not in _DEFAULTS:
            raise NotSupportedError("mapper", f"no mapper supports the '{family}' hardware family yet.")
        name = _DEFAULTS[family]
    if name not in _REGISTRY:
        if name in PLANNED:
            raise NotSupportedError("mapper", f"mapper '{name}' is not available yet ({PLANNED[name]}).")
        raise InputError("mapper", f"unknown mapper '{name}'; available: {', '.join(mapper_names())}.")
    mapper = _REGISTRY[name]
    if family not in mapper.families:
        raise InputError(
            "mapper", f"mapper '{name}' maps onto {', '.join(mapper.families)} hardware, not '{family}'."
        )
    return mapper.configure(**options) if options else mapper


__all__ = ["Check", "MapContext", "Mapper", "Plan", "get_mapper", "mapper_names", "register"]
