"""The T-MAC LUT-GEMV unit (``hw/rtl/lut_gemv_unit.v``), verified by ``tests/rtl/tb_lut_gemv_unit.py`` against
``kernels_ref.lut.lut_gemv_int`` and cycle-matched to ``archsim.sim.units.lut_gemv``."""

from archsim.rtl.units import RtlUnit

UNIT = RtlUnit(
    name="lut_gemv",
    toplevel="lut_gemv_unit",
    sources=("lut_gemv_unit.v",),
    test_module="tb_lut_gemv_unit",
    param_sets=(
        {"R": 2, "WBITS": 1, "ABITS": 8, "K": 8},
        {"R": 4, "WBITS": 2, "ABITS": 8, "K": 16},
        {"R": 4, "WBITS": 4, "ABITS": 8, "K": 32},
    ),
    slow_param_sets=(  # counters that wrap at non-powers of two, and the one-lookup-per-row corner
        {"R": 3, "WBITS": 3, "ABITS": 8, "K": 12},
        {"R": 5, "WBITS": 3, "ABITS": 8, "K": 40},
        {"R": 1, "WBITS": 1, "ABITS": 8, "K": 4},
    ),
    description="T-MAC LUT-GEMV: 16-entry tables per 4 int8 activations (mirrored), R rows x WBITS planes",
    synth_param_sets=(
        {"R": 4, "WBITS": 2, "ABITS": 8, "K": 16},
        {"R": 4, "WBITS": 4, "ABITS": 8, "K": 32},
    ),
)
