"""nn/precision: bfloat16 products for fitting stay close to float32 and hand float32 gradients back."""

import torch

from crossteg.nn import precision


def test_fast_products_are_close_to_float32_and_keep_float32_gradients():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 128, generator=generator, requires_grad=True)
    weight = torch.randn(128, 64, generator=generator, requires_grad=True)
    bias = torch.randn(64, generator=generator)
    exact = precision.addmm(bias, x, weight)
    assert torch.equal(exact, torch.addmm(bias, x, weight))  # not fast: plain float32
    fast = precision.addmm(bias, x, weight, fast=True)
    assert fast.dtype == torch.float32
    error = float((fast - exact).abs().max().detach() / exact.abs().max().detach())
    assert 0 < error < 1e-2, error  # bfloat16's 8 significant bits: rounded, but not far off
    fast.sum().backward()
    assert x.grad is not None and weight.grad is not None
    assert x.grad.dtype == weight.grad.dtype == torch.float32
    assert isinstance(precision.native_bf16(), bool)
