"""RTL of the key units (``hw/rtl``): cocotb regression runner, pyverilog introspection, yosys synthesis."""
