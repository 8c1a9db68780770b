"""The MeshGEMM processing-element array (hw/rtl/mesh_array.v + mesh_pe.v): P x P PEs with T x T int8 tiles
and an int32 accumulator each, MeshGEMM on INTERLEAVE rings with two-hop relayed shifts (spec wafer_mesh.md 4).
Cycle model: ``archsim.sim.units.mesh_array``."""

from archsim.rtl.units import RtlUnit

UNIT = RtlUnit(
    name="mesh_array",
    toplevel="mesh_array",
    sources=("mesh_pe.v", "mesh_array.v"),
    test_module="tb_mesh_array",
    # fast sets: P = 2, 3, 4 and T = 2 through the relays (about 35 s for all four); P = 5 in the slow sets
    param_sets=({"P": 2, "T": 2}, {"P": 3, "T": 1}, {"P": 3, "T": 2}, {"P": 4, "T": 1}),
    slow_param_sets=({"P": 4, "T": 2}, {"P": 5, "T": 1}, {"P": 5, "T": 2}),
    description="MeshGEMM P x P PE array: int8 tiles, int32 C, INTERLEAVE ring two-hop relayed shifts",
    synth_param_sets=({"P": 2, "T": 2}, {"P": 4, "T": 2}),
)
