"""Fidelity metrics as pure functions on numpy arrays (images/videos in [0, 1], audio in [-1, 1]).

Heavy libraries (torch, pytorch_msssim, scikit-image, pesq, pystoi, pypiqe/cv2, trimesh, scipy.spatial) are
imported inside the functions that need them, so importing this package is cheap.
"""

from crossteg.metrics.audio import PESQ_WB_MAX, ae, pesq_wb, resample, si_snr, snr, stoi
from crossteg.metrics.image import (
    MS_SSIM_WEIGHTS,
    apd,
    mae,
    ms_ssim,
    ms_ssim_levels,
    mse,
    piqe,
    psnr,
    rmse,
    ssim,
    to_bgr_uint8,
    video_piqe,
)
from crossteg.metrics.shape import chamfer, iou, iou_occupancy, surface_points

__all__ = [
    "MS_SSIM_WEIGHTS",
    "PESQ_WB_MAX",
    "ae",
    "apd",
    "chamfer",
    "iou",
    "iou_occupancy",
    "mae",
    "ms_ssim",
    "ms_ssim_levels",
    "mse",
    "pesq_wb",
    "piqe",
    "psnr",
    "resample",
    "rmse",
    "si_snr",
    "snr",
    "ssim",
    "stoi",
    "surface_points",
    "to_bgr_uint8",
    "video_piqe",
]
