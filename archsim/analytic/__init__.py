"""Closed-form cost models (roofline, energy and cost; later PLMR, FPGA and PIM timing). No SimPy."""
