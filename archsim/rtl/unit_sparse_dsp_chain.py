"""The configurable sparse DSP chain (FlightLLM CSD-Chain, ``hw/rtl/sparse_dsp_chain.v`` and its helper modules
``sparse_dsp_group.v``, ``sparse_dsp_slice.v``, ``sparse_dsp_delay.v``), verified by
``tests/rtl/tb_sparse_dsp_chain.py`` against ``kernels_ref.sparse`` (``simulate_chain`` and the JAX
``sparse_matmul``) and cycle-matched to ``archsim.sim.units.sparse_chain`` (= ``kernels_ref.sparse.chain_cycles``:
passes + CHAIN - 1)."""

from archsim.rtl.units import RtlUnit

UNIT = RtlUnit(
    name="sparse_dsp_chain",
    toplevel="sparse_dsp_chain",
    sources=("sparse_dsp_delay.v", "sparse_dsp_slice.v", "sparse_dsp_group.v", "sparse_dsp_chain.v"),
    test_module="tb_sparse_dsp_chain",
    param_sets=(
        {"CHAIN": 8, "N": 2, "M": 16},
        {"CHAIN": 8, "N": 4, "M": 16},
        {"CHAIN": 16, "N": 16, "M": 16},
    ),
    slow_param_sets=(
        {"CHAIN": 16, "N": 8, "M": 16},
        {"CHAIN": 8, "N": 16, "M": 16},
        {"CHAIN": 32, "N": 4, "M": 16},
        {"CHAIN": 32, "N": 16, "M": 16},
        {"CHAIN": 4, "N": 8, "M": 16},
    ),
    description="CSD-Chain: CHAIN packed INT8x2 DSP slices in groups of 2, sparse MUXes, reduction nodes (N:M)",
    synth_param_sets=(
        {"CHAIN": 8, "N": 4, "M": 16},
        {"CHAIN": 32, "N": 4, "M": 16},
    ),
)
