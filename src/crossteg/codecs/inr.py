"""Data representation transformation (INRSteg sec. 3.2): media <-> (coordinates, targets) <-> media.

Input/output sizes are the paper's: (I, O) = (2, 3) image, (1, 1) audio, (3, 3) video, (3, 1) 3-D shape (SDF).
Coordinates span [-1, 1] per axis; audio time spans [-AUDIO_SPAN, AUDIO_SPAN] because one second holds
thousands of oscillations (the SIREN reference code's audio wrapper uses the same 100x stretch). Colours
are mapped to [-1, 1]; audio is kept as samples in [-1, 1] (mono: INRSteg's audio INR has one output).
A shape is normalised into [-0.9, 0.9]^3 and represented by its signed distance (negative inside).
`layout` is the small JSON-able description a signal needs to be rendered back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from crossteg.media import Audio, Image, Shape, Video, mesh_from_sdf
from crossteg.media.shape import NORMALIZED_HALF_EXTENT

IO_DIMS = {"image": (2, 3), "audio": (1, 1), "video": (3, 3), "shape": (3, 1)}  # INRSteg sec. 3.2
AUDIO_SPAN = 100.0  # SIREN reference audio wrapper: time coordinates in [-100, 100]
SHAPE_POINTS = 60_000  # SDF training points: half near the surface, half uniform (SIREN-style sampling)
SHAPE_RESOLUTION = 96  # marching-cubes grid when a shape INR is rendered back to a mesh
Model = Callable[[torch.Tensor], torch.Tensor]  # a Siren, or any network as a function (inrweights' base nets)
EIKONAL_WEIGHT = 0.1  # weight of the |grad f| = 1 term in the SDF loss (SIREN sec. 4.2 uses an eikonal term)


@dataclass
class Signal:
    """A signal as an INR sees it: coordinates -> targets, plus the layout to render it back."""

    modality: str
    coords: torch.Tensor  # points x I
    targets: torch.Tensor  # points x O
    layout: dict[str, Any]


def grid(*sizes: int) -> torch.Tensor:
    """The points of a regular grid over [-1, 1] per axis (one axis of size 1 sits at 0), as N x len(sizes)."""
    axes = [torch.linspace(-1, 1, n) if n > 1 else torch.zeros(1) for n in sizes]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(sizes))


def to_signal(obj: Any, seed: int = 0, audio_span: float | None = None) -> Signal:
    """The coordinates and targets that represent `obj` (an Image, Audio, Video or Shape). `audio_span` replaces
    AUDIO_SPAN for audio (kept in the layout, so `render` uses it too): long clips need a wider time axis."""
    if isinstance(obj, Image):
        h, w = obj.pixels.shape[:2]
        targets = torch.from_numpy(obj.pixels.reshape(-1, 3)) * 2 - 1
        return Signal("image", grid(h, w), targets, {"height": h, "width": w})
    if isinstance(obj, Audio):
        mono = obj.mono().samples[0]
        span = AUDIO_SPAN if audio_span is None else float(audio_span)
        coords = torch.linspace(-span, span, mono.size).unsqueeze(1)
        layout: dict[str, Any] = {"samples": int(mono.size), "sample_rate": obj.sample_rate}
        return Signal("audio", coords, torch.from_numpy(mono).unsqueeze(1),
                      layout if audio_span is None else {**layout, "span": span})
    if isinstance(obj, Video):
        t, h, w = obj.frames.shape[:3]
        targets = torch.from_numpy(obj.frames.reshape(-1, 3)) * 2 - 1
        return Signal("video", grid(t, h, w), targets, {"frames": t, "height": h, "width": w, "fps": obj.fps})
    if isinstance(obj, Shape):
        return _shape_signal(obj, seed)
    raise TypeError(f"no INR representation for {type(obj).__name__}")


def _shape_signal(shape: Shape, seed: int) -> Signal:
    rng = np.random.default_rng(seed)
    unit = shape.normalized()
    surface, _ = unit.sample_surface(SHAPE_POINTS // 2, seed=seed)
    near = surface + rng.normal(scale=0.02, size=surface.shape)
    uniform = rng.uniform(-1, 1, size=(SHAPE_POINTS - len(near), 3))
    points = np.concatenate([near, uniform]).astype(np.float32)
    sdf = unit.sdf(points).astype(np.float32)
    lo, hi = shape.vertices.min(0), shape.vertices.max(0)
    layout = {"center": ((lo + hi) / 2).tolist(), "scale": float((hi - lo).max() / 2 / 0.9),
              "resolution": SHAPE_RESOLUTION}
    return Signal("shape", torch.from_numpy(points), torch.from_numpy(sdf).unsqueeze(1), layout)


def loss_db(signal: Signal, mse: float) -> float:
    """The quality a mean squared error on the signal's targets stands for, in dB: SNR for audio (the targets'
    power over the error; a silent clip counts as power 1e-12), PSNR for colours (targets in [-1, 1]: 4 / MSE)."""
    power = float(torch.mean(signal.targets**2)) if signal.modality == "audio" else 4.0
    return 10 * math.log10(max(power, 1e-12) / max(mse, 1e-12))


def volume_iou(signal: Signal, model: Model) -> float:
    """IoU of the insides (SDF < 0) of a shape signal and of the model's SDF, on the signal's uniformly drawn
    points only (the second half): an estimate of the volumetric IoU of the two shapes."""
    uniform = slice(SHAPE_POINTS // 2, None)  # _shape_signal puts the near-surface points first
    a, b = signal.targets[uniform] < 0, evaluate(model, signal.coords[uniform]) < 0
    return float((a & b).sum()) / max(1, int((a | b).sum()))


def loss_for(modality: str, sdf_clamp: float | None = None):
    """The fitting loss: MSE (INRSteg eq. 2), plus an eikonal term for signed distances. With `sdf_clamp` = delta
    the distance term is DeepSDF's (Park et al. 2019, eq. 4): L1 between the predicted and true distances, both
    clamped to [-delta, delta], so the surface's neighbourhood drives the fit rather than far-away distances."""
    if modality != "shape":
        return lambda model, x, y: torch.mean((model(x) - y) ** 2)

    def sdf_loss(model: Model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x.clone().requires_grad_(True)
        f = model(x)
        (grad,) = torch.autograd.grad(f.sum(), x, create_graph=True)
        if sdf_clamp is None:
            fit = torch.mean((f - y) ** 2)
        else:
            fit = torch.mean(torch.abs(f.clamp(-sdf_clamp, sdf_clamp) - y.clamp(-sdf_clamp, sdf_clamp)))
        return fit + EIKONAL_WEIGHT * torch.mean((grad.norm(dim=1) - 1) ** 2)

    return sdf_loss


@torch.no_grad()
def evaluate(model: Model, coords: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """The model at every coordinate, in chunks so a big grid does not hold every activation at once."""
    return torch.cat([model(coords[i:i + chunk]) for i in range(0, len(coords), chunk)])


def render(model: Model, modality: str, layout: dict[str, Any]) -> Any:
    """The media object an INR of `modality` represents (the inverse of `to_signal`)."""
    if modality == "image":
        h, w = layout["height"], layout["width"]
        rgb = evaluate(model, grid(h, w)).reshape(h, w, 3)
        return Image(((rgb + 1) / 2).clamp(0, 1).numpy())
    if modality == "audio":
        span = layout.get("span", AUDIO_SPAN)
        coords = torch.linspace(-span, span, layout["samples"]).unsqueeze(1)
        return Audio(evaluate(model, coords).clamp(-1, 1).numpy().reshape(1, -1), layout["sample_rate"])
    if modality == "video":
        t, h, w = layout["frames"], layout["height"], layout["width"]
        rgb = evaluate(model, grid(t, h, w)).reshape(t, h, w, 3)
        return Video(((rgb + 1) / 2).clamp(0, 1).numpy(), layout["fps"])
    if modality == "shape":
        n = layout["resolution"]
        points = grid(n, n, n)
        sdf = evaluate(model, points).reshape(n, n, n)
        # the shape was normalised into the box [-0.9, 0.9]^3: outside it (plus two grid steps) nothing is inside,
        # whatever the INR extrapolates there. Intersecting with the box removes those floaters and closes every
        # surface before the grid's edge, so the mesh is watertight.
        box = points.abs().max(dim=1).values.reshape(n, n, n) - (NORMALIZED_HALF_EXTENT + 4 / (n - 1))
        mesh = mesh_from_sdf(torch.maximum(sdf, box).numpy())
        return Shape(mesh.vertices * layout["scale"] + np.asarray(layout["center"], np.float32), mesh.faces)
    raise ValueError(f"unknown modality {modality!r}")
