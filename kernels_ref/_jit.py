"""Shared JIT helper of the reference kernels: fast-compile XLA options outside any outer trace."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import jax

# The kernels are compile-bound at test and emulation sizes: unoptimised LLVM code generation
# cuts XLA's CPU compile time 2-3x (~60 ms instead of ~150 ms per kernel and shape) and costs at
# most 1.5-3x run time on the gathers and adds (the tile GEMMs are library calls either way).
_FAST_COMPILE = {"xla_backend_optimization_level": 0}


def fast_jit(fun: Callable, **jit_kwargs: object) -> Callable:
    """``jax.jit`` with fast-compile options at top level, a plain ``jax.jit`` inside another trace.

    JAX refuses ``compiler_options`` on a jit nested in an outer ``jit``/``vmap`` trace, and a mapper
    may well call these kernels from its own jitted ``emulate()``.
    """
    fast = jax.jit(fun, compiler_options=_FAST_COMPILE, **jit_kwargs)
    nested = jax.jit(fun, **jit_kwargs)

    @wraps(fun)
    def call(*args: object, **kwargs: object) -> object:
        if any(isinstance(x, jax.core.Tracer) for x in (*args, *kwargs.values())):
            return nested(*args, **kwargs)
        try:
            return fast(*args, **kwargs)
        except ValueError as err:  # concrete arguments, but called while an outer trace is staging
            if "compiler_options" not in str(err):
                raise
        return nested(*args, **kwargs)

    return call
