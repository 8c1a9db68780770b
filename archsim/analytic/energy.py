"""Energy and cost of running an operator or a step on a device.

Energy: where a preset has a per-action energy model (``energy`` block: pJ per OP, pJ per DRAM
byte, static watts; Timeloop-style action counts x energy per action) it is used; otherwise the
board is taken to draw its TDP while busy (an upper bound, stated as an assumption in each preset).

Cost: tokens per dollar = tokens / (time x capital cost per second + energy x electricity price),
the capital cost amortized linearly over the device's service life at full utilization.
"""

from __future__ import annotations

from archsim.hardware.schema import HardwareSpec

SECONDS_PER_YEAR = 365.25 * 24 * 3600
# Assumption: 3-year straight-line amortization, the short end of the 3-6 year server depreciation
# schedules that cloud providers report; a preset may override it with ``amortization_years``.
DEFAULT_AMORTIZATION_YEARS = 3.0
# Assumption: USD 0.10 per kWh, about the US industrial average electricity price (EIA, 2024).
ELECTRICITY_USD_PER_KWH = 0.10
USD_PER_JOULE = ELECTRICITY_USD_PER_KWH / 3.6e6


def energy_j(flops: float, nbytes: float, time_s: float, hw: HardwareSpec) -> float:
    """Energy of work that performs ``flops`` OPs and moves ``nbytes`` DRAM bytes in ``time_s``."""
    model = hw.energy
    if model is None:
        return hw.power.tdp_w.value * time_s
    return (
        flops * model.pj_per_flop.value * 1e-12
        + nbytes * model.pj_per_byte_dram.value * 1e-12
        + model.static_w.value * time_s
    )


def capital_usd_per_s(hw: HardwareSpec) -> float:
    """Purchase price spread over the amortization period, USD per second of use."""
    years = hw.amortization_years.value if hw.amortization_years is not None else DEFAULT_AMORTIZATION_YEARS
    return hw.price_usd.value / (years * SECONDS_PER_YEAR)


def tokens_per_usd(tokens: float, time_s: float, energy: float, hw: HardwareSpec) -> float:
    """Tokens produced per dollar of amortized hardware plus electricity."""
    usd = time_s * capital_usd_per_s(hw) + energy * USD_PER_JOULE
    return tokens / usd if usd > 0 else float("inf")
