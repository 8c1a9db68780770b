"""SimPy models of single hardware units (one module per RTL unit); RTL cycle counts must equal theirs."""
