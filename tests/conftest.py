"""Test-wide settings: no per-example deadline (the 2-core CI machine compiles JAX kernels on first
use), and a fixed example sequence on CI so a run there is reproducible."""

import os

from hypothesis import settings

settings.register_profile("archsim", deadline=None, derandomize=bool(os.environ.get("CI")))
settings.load_profile("archsim")
