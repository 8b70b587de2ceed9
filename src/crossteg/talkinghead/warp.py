"""Piecewise-affine warp of an image by moved control points (vectorised numpy + scipy's Delaunay).

Each output pixel is located in the Delaunay triangulation of the *moved* points, and its barycentric
coordinates there give its place in the still image (the same three points, unmoved): an exact backward map,
affine inside every triangle, continuous across them, sampled bicubically by OpenCV's remap (bilinear
sampling blurs every sub-pixel head movement; Lanczos renders ~20% slower at 160x160 for one PIQE
point less: see the sampling rows of benchmarks/results/talkinghead.md). Where the lips part, the gap the rig
opens between its two seams is filled with a dark mouth cavity.
"""

from __future__ import annotations

import numpy as np

CAVITY_RGB = np.array([0.16, 0.05, 0.06], dtype=np.float32)  # dark red-brown of an open mouth's inside
CAVITY_ALPHA = 0.9  # how much of the cavity colour covers the (smeared) gap
SAMPLING = ("linear", "cubic", "lanczos")  # OpenCV's INTER_LINEAR, INTER_CUBIC, INTER_LANCZOS4


class Warper:
    """Piecewise-affine warps of one still image; the output pixel grid is built once."""

    def __init__(self, pixels: np.ndarray, src: np.ndarray, sampling: str = "cubic") -> None:
        if sampling not in SAMPLING:
            raise ValueError(f"sampling must be one of {', '.join(SAMPLING)}, not {sampling!r}")
        self.sampling = sampling
        self.pixels = np.ascontiguousarray(pixels, dtype=np.float32)
        self.src = np.asarray(src, dtype=np.float64)
        h, w = self.pixels.shape[:2]
        ys, xs = np.mgrid[0:h, 0:w]
        self.grid = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)  # P x 2, P = H * W

    def backward_map(self, dst: np.ndarray) -> np.ndarray:
        """For every output pixel, the (x, y) it samples in the still image: H x W x 2 float32."""
        from scipy.spatial import Delaunay

        h, w = self.pixels.shape[:2]
        tri = Delaunay(dst)
        coef = _affine_coefficients(tri.transform, self.src[tri.simplices])  # K x 2 x 3, dst -> src
        simplex = tri.find_simplex(self.grid)
        outside = simplex < 0  # the border points span the image: only a few edge pixels, numerically
        g = coef[np.where(outside, 0, simplex)]  # P x 2 x 3
        x, y = self.grid[:, 0:1], self.grid[:, 1:2]
        mapped = g[:, :, 0] * x + g[:, :, 1] * y + g[:, :, 2]
        mapped[outside] = self.grid[outside]
        return mapped.reshape(h, w, 2).astype(np.float32)

    def __call__(self, dst: np.ndarray, mouth: np.ndarray | None = None) -> np.ndarray:
        """The still image warped so that control points `src` move to `dst`, the `mouth` polygon (the
        opened gap between the lips, if any) shaded as the mouth's inside."""
        import cv2

        where = self.backward_map(dst)
        flag = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}[self.sampling]
        frame = cv2.remap(self.pixels, where[..., 0], where[..., 1], flag, borderMode=cv2.BORDER_REPLICATE)
        np.clip(frame, 0.0, 1.0, out=frame)  # cubic and Lanczos interpolation overshoot at edges
        return frame if mouth is None else shade_mouth(frame, mouth)


def _affine_coefficients(transform: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Per triangle, the affine map (2 x 3: [A | c]) taking a point of the moved triangle to the still one.

    qhull's `transform` (K x 3 x 2) gives barycentric coordinates b = T (p - r); the still point is
    s3 + sum_k b_k (s_k - s3) for k = 1, 2, i.e. A = (S12 - s3)^T T and c = s3 - A r. Degenerate (flat)
    triangles, whose transform is NaN, map as the identity: they cover no pixel centre."""
    T, r = transform[:, :2, :], transform[:, 2, :]
    edges = src[:, :2, :] - src[:, 2:3, :]  # K x 2 (k) x 2 (xy)
    A = np.einsum("kix,kiy->kxy", edges, T)  # K x 2 x 2
    c = src[:, 2, :] - np.einsum("kxy,ky->kx", A, r)
    coef = np.concatenate([A, c[:, :, None]], 2)
    bad = ~np.isfinite(coef).all(axis=(1, 2))
    coef[bad] = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return coef


def shade_mouth(frame: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """Fill the polygon `outline` (the opened gap between the lips, pixels) with the mouth cavity, edges
    feathered over a pixel."""
    from matplotlib.path import Path as Outline
    from scipy.ndimage import gaussian_filter

    h, w = frame.shape[:2]
    x0, y0 = np.maximum(np.floor(outline.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(outline.max(0)).astype(int) + 3, [w, h])
    if x1 <= x0 or y1 <= y0:
        return frame
    ys, xs = np.mgrid[y0:y1, x0:x1]
    inside = Outline(outline).contains_points(np.stack([xs.ravel(), ys.ravel()], 1)).reshape(xs.shape)
    if not inside.any():
        return frame
    alpha = (gaussian_filter(inside.astype(np.float32), 0.6) * CAVITY_ALPHA)[..., None]
    out = frame.copy()
    out[y0:y1, x0:x1] = out[y0:y1, x0:x1] * (1 - alpha) + CAVITY_RGB * alpha
    return out


def render_frame(pixels: np.ndarray, src: np.ndarray, dst: np.ndarray, mouth: np.ndarray | None = None) -> np.ndarray:
    """The still image warped so that control points `src` move to `dst`, the `mouth` polygon shaded."""
    return Warper(pixels, src)(dst, mouth)
