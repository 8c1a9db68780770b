"""SAIL-style batched LUT-GEMV in SRAM-PIM cache arrays (Mapping B), spec lut_pim.md sec. 5.2-5.6.

Weight-subset-sum tables are built once per weight tile inside the arrays; every token's activation
bit-plane pattern then selects one wordline whose bitlines hold the partial sums of ``R_out`` output
rows at once, so ``Bt`` tokens x ``b_a`` planes reuse each table. All values are cycles at the PIM
clock; every hardware number is an assumption of the preset (SAIL publishes none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from archsim.analytic.lut import ceil_div, log2_ceil, weight_bytes
from archsim.errors import InputError
from archsim.hardware.schema import HardwareSpec

ACC_BITS = 32  # W_acc: accumulator width drained to the core
CONV_BITS = 16  # fp16 conversions, bit-serial: n^2 cycles per op (spec 5.4)


@dataclass(frozen=True, slots=True)
class PimParams:
    """The PIM numbers of a preset (see ``archsim/hardware/presets/sail.yaml``)."""

    id: str
    a: int  # wordlines
    b: int  # bitlines
    arrays: int  # compute arrays P
    bw_leaf: float  # H-tree leaf bytes per cycle
    f_pim: float
    g: int
    act_bits: int
    t_jit: float
    kappa_build: float
    bw_dram: float
    e_rd: float
    e_wr: float
    e_dram: float


def pim_params(hw: HardwareSpec) -> PimParams:
    """Resolve the PIM block; ``InputError`` if the device has none."""
    p = hw.pim
    if p is None:
        raise InputError("hw", f"'{hw.id}' has no SRAM-PIM block; use a pim-family preset such as 'sail'.")
    a, b = int(p.array_wordlines.value), int(p.array_bitlines.value)
    arrays_per_way = int((p.slice_bytes.value / p.ways.value) // (a * b / 8))
    arrays = int(p.llc_slices.value * p.pim_ways.value * arrays_per_way)
    return PimParams(hw.id, a, b, arrays, p.htree_leaf_bytes_per_cycle.value, p.pim_clock_hz.value,
                     int(p.lookup_group.value), int(p.act_bits.value), p.jit_cycles_per_command.value,
                     p.build_cycles_per_entry.value, hw.memory.bandwidth_Bps.value,
                     p.energy_pj_per_bit_read.value, p.energy_pj_per_bit_write.value, p.energy_pj_per_bit_dram.value)


@dataclass(frozen=True, slots=True)
class PimLinear:
    """Cycles of one linear layer on the PIM arrays and its tiling."""

    cycles: float
    tiles: int
    waves: int
    tile_cycles: float
    r_out: int
    k_tile: int
    weight_bytes: float
    reads: float  # wordline reads (for energy)

    def time_s(self, pp: PimParams) -> float:
        return self.cycles / pp.f_pim


@dataclass(frozen=True, slots=True)
class PimPhases:
    """Cycles of each phase of one linear on the arrays (spec 5.6): per tile fill, build, lookups and
    drain; per linear the partial-sum reduction, fp16 input/output conversion and command issue."""

    r_out: int
    k_tile: int
    tiles: int
    waves: int
    fill: float
    build: float
    look: float
    drain: float
    red: float
    conv_in: float
    conv_out: float
    cmd: float

    @property
    def tile(self) -> float:
        return self.fill + self.build + self.look + self.drain

    @property
    def total(self) -> float:
        return self.waves * self.tile + self.red + self.conv_in + self.conv_out + self.cmd


def pim_phases(pp: PimParams, m: int, k: int, bits: int, batch: int, kept: float = 1.0) -> PimPhases:
    """Mapping B, bit-parallel table layout, near-array accumulation (spec 5.6); ``kept`` = u, the
    share of activation patterns still looked up after dedupe (measured on traces, 1.0 = none)."""
    if not 1 <= bits <= 4:
        raise InputError("w_bits", f"w_bits must be 1 to 4 for LUT-GEMV, got {bits}.")
    e = bits + log2_ceil(pp.g)  # signed entry width
    r_out = pp.b // e
    wl_grp = 2 ** pp.g
    g_arr = pp.a // wl_grp
    k_tile = pp.g * g_arr
    tiles = ceil_div(m, r_out) * ceil_div(k, k_tile)
    row_drain = math.ceil(r_out * ACC_BITS / 8 / pp.bw_leaf)
    conv = CONV_BITS ** 2  # an fp16 op forced bit-serial: n^2 cycles (spec 5.4)
    return PimPhases(
        r_out=r_out, k_tile=k_tile, tiles=tiles, waves=ceil_div(tiles, pp.arrays),
        fill=math.ceil(r_out * k_tile * bits / 8 / pp.bw_leaf),
        build=pp.kappa_build * g_arr * wl_grp,
        look=batch * pp.act_bits * g_arr * kept,
        drain=batch * row_drain,
        red=batch * log2_ceil(ceil_div(k, k_tile)) * row_drain,
        conv_in=ceil_div(k * batch, pp.arrays * pp.b) * 2 * conv,  # fmul + f2i per activation
        conv_out=ceil_div(m * batch, pp.arrays * pp.b) * 3 * conv,  # i2f + 2 fmul per output
        cmd=pp.t_jit,
    )


def pim_linear(pp: PimParams, m: int, k: int, bits: int, batch: int, kept: float = 1.0) -> PimLinear:
    """Cycles of one linear layer on the arrays (see ``pim_phases``)."""
    ph = pim_phases(pp, m, k, bits, batch, kept)
    g_arr = pp.a // 2 ** pp.g
    return PimLinear(ph.total, ph.tiles, ph.waves, ph.tile, ph.r_out, ph.k_tile, weight_bytes(m, k, bits),
                     ph.tiles * batch * pp.act_bits * g_arr * kept)


def pim_energy_j(pp: PimParams, lin: PimLinear) -> float:
    """DRAM fill plus array reads and writes (spec 5.6, dominant terms)."""
    dram = 8 * lin.weight_bytes * pp.e_dram
    writes = lin.tiles * pp.a * pp.b * pp.e_wr  # fill + build rewrite each tile's array once
    reads = lin.reads * pp.b * pp.e_rd
    return (dram + writes + reads) * 1e-12
