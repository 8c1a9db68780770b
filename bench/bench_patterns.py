"""Measure SAIL's pattern-aware saving instead of assuming it (issue 5 item 5).

For each (group of g = 4 activations, bit plane) the PIM arrays need one wordline read per distinct
non-zero bit pattern across the batch's tokens; ``kernels_ref.lut.pattern_stats`` counts them. No
model weights can be downloaded here, so the activations are documented synthetic distributions of
int8-quantized LLM activations: Gaussian, Laplace (heavier tails), and Laplace with 0.1 % outlier
channels 20x larger (the outlier features of LLM activations, Dettmers et al. 2022), plus
SiLU outputs (the input of the down projection). Prints the lookup fraction kept ``u`` and the array cycle
saving it gives through ``archsim.analytic.pim`` next to SAIL's published 13.8 %.
Run: ``.venv/bin/python bench/bench_patterns.py``.
"""

from __future__ import annotations

import numpy as np

from archsim.analytic.pim import pim_linear, pim_params
from archsim.hardware import load_hardware
from kernels_ref.lut import pattern_stats
from kernels_ref.quant import quantize_activations

K = 4096
SAIL_SAVING = 0.138


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1 + np.exp(-x))


def distributions(rng: np.random.Generator, tokens: int) -> dict[str, np.ndarray]:
    outliers = np.ones(K)
    outliers[rng.choice(K, K // 1000, replace=False)] = 20.0
    lap = rng.laplace(size=(tokens, K))
    return {
        "gaussian": rng.standard_normal((tokens, K)),
        "laplace": lap,
        "laplace + 0.1 % outlier channels": lap * outliers,
        "post-SiLU": silu(rng.standard_normal((tokens, K))),
    }


def main() -> None:
    rng = np.random.default_rng(0)
    pp = pim_params(load_hardware("sail"))
    print("| activations | batch | zero patterns | kept u | array cycle saving (4096x4096, 2-bit) | SAIL |")
    print("|---|---|---|---|---|---|")
    for batch in (1, 8, 32):
        for name, acts in distributions(rng, batch).items():
            a_int, _ = quantize_activations(acts.astype(np.float32), bits=8)
            stats = pattern_stats(np.asarray(a_int), a_bits=8, g=4)
            u = float(stats["kept_fraction"])
            full = pim_linear(pp, 4096, K, 2, batch).cycles
            saved = 1 - pim_linear(pp, 4096, K, 2, batch, kept=u).cycles / full
            zero = stats["zero"] / stats["total"]
            print(f"| {name} | {batch} | {zero:.1%} | {u:.3f} | {saved:.1%} | {SAIL_SAVING:.1%} |")


if __name__ == "__main__":
    main()
