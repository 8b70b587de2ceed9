"""Hide-time refinement (ours, beyond the papers): after a hiding network's one pass, move the stego's own
samples or pixels so that the fixed revealing network returns the secret better, without changing the cover more.

    stego_0 = one pass ──> change = stego_0 - cover ──Adam──> to_file(cover + change) ──reveal──> loss
                               └── after every step: each unit's mean square change scaled back into the
                                   budget the one pass spent on it (so the cover is changed no more than before)

`to_file` is what saving the file does (16-bit or 8-bit rounding, straight-through), so the loss is the one the
saved file will have; the best stego seen (the one pass included) is returned. The file format and reveal are
unchanged: a refined stego is read like any other. Used by ditas (audio tiles) and thinimg (160 x 160 image tiles).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from crossteg.methods.base import Progress, no_progress


def refine_stego(stego: torch.Tensor, cover: torch.Tensor, loss: Callable[[torch.Tensor], torch.Tensor],
                 to_file: Callable[[torch.Tensor], torch.Tensor], steps: int, lr: float,
                 unit_dims: tuple[int, ...], progress: Progress = no_progress) -> torch.Tensor:
    """`stego` (the one pass) moved by `steps` Adam steps of rate `lr` to lower `loss(to_file(x))`; the change of
    each unit (the slices over `unit_dims`) is kept within the mean square the one pass gave it. Returns the best
    `to_file(x)` seen, detached."""
    budget = torch.mean((stego - cover) ** 2, unit_dims, keepdim=True)
    change = (stego - cover).detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([change], lr=lr)
    best, best_loss = stego.detach().clone(), math.inf
    for k in range(steps + 1):
        x = to_file(cover + change)
        value = loss(x)
        if value.item() < best_loss:
            best, best_loss = x.detach().clone(), value.item()
        progress("refining", k, steps)
        if k == steps:
            break
        (change.grad,) = torch.autograd.grad(value, [change])
        opt.step()
        with torch.no_grad():  # back onto each unit's distortion budget
            power = torch.mean(change**2, unit_dims, keepdim=True).clamp_min(1e-12)
            change.mul_(torch.sqrt(budget / power).clamp(max=1))
    return best
