"""Image and video fidelity metrics: pure functions on numpy arrays.

Conventions: images are float arrays H x W (grey) or H x W x C (colour, usually RGB) in [0, 1]; videos are
T x H x W x C in [0, 1]. Full-reference metrics take ``(ref, test)`` of equal shape. Heavy libraries (torch,
pytorch_msssim, scikit-image, pypiqe/cv2) are imported inside the functions so ``import crossteg.metrics``
stays fast.
"""

from __future__ import annotations

import numpy as np

# MS-SSIM scale weights, Wang, Simoncelli & Bovik 2003 ("Multi-scale structural similarity"), sec. 3.2.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _pair(ref: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64, checking that their shapes agree."""
    a = np.asarray(ref, dtype=np.float64)
    b = np.asarray(test, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: ref {a.shape} vs test {b.shape}")
    if a.size == 0:
        raise ValueError("empty arrays")
    return a, b


def mse(ref: np.ndarray, test: np.ndarray) -> float:
    """Mean squared error over all elements, in squared units of the input (images in [0, 1])."""
    a, b = _pair(ref, test)
    return float(np.mean((a - b) ** 2))


def psnr(ref: np.ndarray, test: np.ndarray, data_range: float = 1.0) -> float:
    """PSNR in dB, 10 log10(data_range^2 / MSE) with one MSE over all pixels/frames; inf when identical."""
    err = mse(ref, test)
    if err == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / err))


def rmse(ref: np.ndarray, test: np.ndarray, scale: float = 255.0) -> float:
    """Root mean squared error after multiplying the difference by ``scale`` (255: the 0-255 pixel scale).

    RMSE as reported by INRSteg (Song et al. 2024, tables 2, 3, 5, 7) on the 0-255 scale.
    """
    return float(scale * np.sqrt(mse(ref, test)))


def mae(ref: np.ndarray, test: np.ndarray, scale: float = 1.0) -> float:
    """Mean absolute error, mean |ref - test| * ``scale`` (scale 255 gives the 0-255 pixel scale)."""
    a, b = _pair(ref, test)
    return float(scale * np.mean(np.abs(a - b)))


def apd(ref: np.ndarray, test: np.ndarray) -> float:
    """Average pixel discrepancy, mean |ref - test| on the 0-255 scale for inputs in [0, 1].

    APD as in Han et al. 2023 (inrweights paper, sec. 3.2): the L1 distance between cover and container
    (or secret and revealed frames), i.e. the mean absolute pixel difference on the 0-255 scale.
    """
    return mae(ref, test, scale=255.0)


def ssim(ref: np.ndarray, test: np.ndarray) -> float:
    """SSIM in [-1, 1] (1 = identical), scikit-image defaults: 7x7 uniform window, data_range 1.

    Wang et al. 2004, computed by ``skimage.metrics.structural_similarity`` with ``channel_axis=-1`` for
    H x W x C colour images (mean over channels); videos T x H x W x C give the mean over frames.
    """
    from skimage.metrics import structural_similarity

    a, b = _pair(ref, test)
    if a.ndim == 4:
        return float(np.mean([ssim(fa, fb) for fa, fb in zip(a, b, strict=True)]))
    if a.ndim == 2:
        return float(structural_similarity(a, b, data_range=1.0))
    if a.ndim == 3:
        return float(structural_similarity(a, b, data_range=1.0, channel_axis=-1))
    raise ValueError(f"expected H x W, H x W x C or T x H x W x C, got shape {a.shape}")


def ms_ssim_levels(min_side: int, win_size: int = 11) -> int:
    """Number of MS-SSIM scales (1..5) usable for an image whose smaller side is ``min_side`` pixels.

    Scale ``L`` works on an image downsampled ``L - 1`` times, which must still exceed the window:
    ``min_side > (win_size - 1) * 2 ** (L - 1)`` (pytorch_msssim asserts this rule for 5 scales: > 160 px).
    """
    levels = 1
    while levels < len(MS_SSIM_WEIGHTS) and min_side > (win_size - 1) * 2**levels:
        levels += 1
    return levels


def ms_ssim(ref: np.ndarray, test: np.ndarray, levels: int | None = None, win_size: int = 11) -> float:
    """MS-SSIM in [0, 1] (1 = identical), Wang et al. 2003, as computed by pytorch_msssim (Gaussian win 11).

    Images >= 161 px on the smaller side use the standard 5 scales and give exactly
    ``pytorch_msssim.ms_ssim(..., data_range=1)``. Smaller images (which pytorch_msssim rejects) use the
    largest number of scales that fits (``ms_ssim_levels``), with the first ``levels`` standard weights
    renormalised to sum to 1; images < 11 px also shrink the window to the largest odd size that fits.
    ``levels=1`` is Gaussian-window SSIM. Videos T x H x W x C: mean over frames. Grey images allowed.
    """
    import torch
    from pytorch_msssim import ms_ssim as _lib_ms_ssim
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    a, b = _pair(ref, test)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if a.ndim == 3:
        a, b = a[None], b[None]
    if a.ndim != 4:
        raise ValueError(f"expected H x W, H x W x C or T x H x W x C, got shape {np.shape(ref)}")
    min_side = min(a.shape[1:3])
    if min_side < 3:
        raise ValueError(f"image too small for MS-SSIM: {a.shape[1:3]}")
    if min_side < win_size:
        win_size = min_side if min_side % 2 else min_side - 1
    if levels is None:
        levels = ms_ssim_levels(min_side, win_size)
    elif not 1 <= levels <= ms_ssim_levels(min_side, win_size):
        raise ValueError(f"{levels} scales do not fit a {min_side}-px image with window {win_size}")

    x = torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))  # T x C x H x W
    y = torch.from_numpy(np.ascontiguousarray(b.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        if levels == len(MS_SSIM_WEIGHTS) and win_size == 11:
            return float(_lib_ms_ssim(x, y, data_range=1.0, size_average=True))
        weights = torch.tensor(MS_SSIM_WEIGHTS[:levels], dtype=x.dtype)
        weights = weights / weights.sum()
        win = _fspecial_gauss_1d(win_size, 1.5).repeat([x.shape[1], 1, 1, 1])
        factors = []
        for level in range(levels):  # same loop as pytorch_msssim.ms_ssim, with fewer scales
            ssim_pc, cs = _ssim(x, y, data_range=1.0, win=win, size_average=False)
            if level < levels - 1:
                factors.append(torch.relu(cs))
                padding = [s % 2 for s in x.shape[2:]]
                x = torch.nn.functional.avg_pool2d(x, kernel_size=2, padding=padding)
                y = torch.nn.functional.avg_pool2d(y, kernel_size=2, padding=padding)
        factors.append(torch.relu(ssim_pc))
        stacked = torch.stack(factors, dim=0)  # levels x T x C
        value = torch.prod(stacked ** weights.view(-1, 1, 1), dim=0)
    return float(value.mean())


def to_bgr_uint8(image: np.ndarray) -> np.ndarray:
    """RGB float image in [0, 1] (H x W x 3, or grey H x W) -> BGR uint8 as OpenCV/pypiqe expect."""
    arr = np.asarray(image, dtype=np.float64)
    u8 = np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    if u8.ndim == 3:
        if u8.shape[-1] != 3:
            raise ValueError(f"expected 3 colour channels, got shape {u8.shape}")
        u8 = np.ascontiguousarray(u8[..., ::-1])
    elif u8.ndim != 2:
        raise ValueError(f"expected H x W or H x W x 3, got shape {u8.shape}")
    return u8


def piqe(image: np.ndarray) -> float:
    """No-reference PIQE score in [0, 100], lower is better (Venkatanath et al. 2015), via ``pypiqe.piqe``.

    Takes an RGB float image in [0, 1] (H x W x 3, or grey H x W); pypiqe reads its input as OpenCV BGR
    uint8, so the image is quantised to uint8 and its channels reversed first (``to_bgr_uint8``).
    """
    from pypiqe import piqe as _piqe

    score = _piqe(to_bgr_uint8(image))[0]
    return float(score)


def video_piqe(frames: np.ndarray) -> float:
    """Mean PIQE over the frames of a T x H x W x 3 RGB video in [0, 1]; lower is better."""
    arr = np.asarray(frames)
    if arr.ndim not in (3, 4) or len(arr) == 0:
        raise ValueError(f"expected T x H x W x 3 (or T x H x W), got shape {arr.shape}")
    return float(np.mean([piqe(frame) for frame in arr]))
