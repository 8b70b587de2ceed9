"""bfloat16 matrix products for fitting networks, on CPUs that multiply bfloat16 natively.

Intel's AMX tiles and AVX512-BF16 multiply bfloat16 matrices far faster than float32: a 4096 x 512 by 512 x 512
product takes 13.0 ms in float32 and 1.5 ms in bfloat16 on one core of this project's Xeon (6.1 / 0.8 ms on
two). Fits use them for the wide hidden maps only (`addmm(..., fast=True)`): the operands and the product are
rounded to bfloat16 (8 significant bits), the bias and everything around it stay float32, and whatever reads
a fitted network back (reveal, the benchmarks' scores) runs in float32. Elsewhere bfloat16 would be emulated,
slower than float32, so `native_bf16()` decides where it is used by default.
"""

from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AMX tiles or AVX512-BF16)."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # private in torch.cpu: absent -> False
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def addmm(bias: torch.Tensor, x: torch.Tensor, weight_t: torch.Tensor, fast: bool = False) -> torch.Tensor:
    """bias + x @ weight_t; with `fast` the product is taken in bfloat16 and added to the float32 bias."""
    if not fast:
        return torch.addmm(bias, x, weight_t)
    return torch.matmul(x.to(torch.bfloat16), weight_t.to(torch.bfloat16)).float() + bias
