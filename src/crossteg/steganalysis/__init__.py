"""Steganalysis: the probability that an image or audio file carries a secret.

* `classical`: chi-square attack, RS analysis and sample pair analysis of LSB replacement (numpy, no training).
* `learned`: Xu-Net style image CNN and 1-D audio CNN, trained per method by `crossteg train detector`.
* `detectors`: the one registry of detectors, `analyze()` / `analyze_file()`, accuracy and AUC.

Importing this package does not import torch; only running a learned detector does.
"""

from crossteg.steganalysis.detectors import (
    Detection,
    Detector,
    all_detectors,
    analyze,
    analyze_file,
    default_detectors,
    detection_accuracy,
    detection_auc,
    detector_names,
    get_detector,
)

__all__ = [
    "Detection", "Detector", "all_detectors", "analyze", "analyze_file", "default_detectors",
    "detection_accuracy", "detection_auc", "detector_names", "get_detector",
]  # fmt: skip
