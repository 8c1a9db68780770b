"""Design-space sweeps: spec, vectorized analytic evaluation, executors and the DuckDB store."""
