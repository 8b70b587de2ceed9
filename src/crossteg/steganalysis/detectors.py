"""The one detector registry read by `crossteg steganalyze`, the detector trainer, the benchmark and the tests.

    file ─media.load─> Image | Audio ─┬─ chi-square ─┐
                                      ├─ rs ─────────┤
                                      ├─ spa ────────┼─> [Detection(detector, probability, rate, note)]
                                      └─ cnn-<method>┘   (one learned detector per registered method)

Classical detectors apply to any image or audio file; a learned detector `cnn-<method>` exists for every
registered method and each modality it hides in, and is available once its weights are trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crossteg.errors import UsageError, WeightsError
from crossteg.methods.base import WEIGHTS_DIR, Method, get_method, method_ids
from crossteg.steganalysis import classical

MODALITIES = ("image", "audio")


def stego_modalities(method: Any) -> tuple[str, ...]:
    """The cover modalities in which what the world sees of `method`'s stego is an image or audio file (what
    detectors examine): the stego file itself, or the media a stego INR renders (inrsteg: INRSteg's Table 4
    runs image steganalysis on the images its stego INRs render)."""
    from crossteg import media

    exts = {"image": media.IMAGE_EXTS, "audio": media.AUDIO_EXTS}
    return tuple(m for m, ext in zip(method.cover, method.stego_ext, strict=True)
                 if m in exts and (ext in exts[m] or renders_stego(method)))


def renders_stego(method: Any) -> bool:
    """True when the world sees `method`'s stego through `render_cover` (an INR), not as the file itself."""
    return type(method).render_cover is not Method.render_cover


@dataclass(frozen=True)
class Detection:
    """One detector's verdict on one file: probability that it carries a secret, and the estimated rate."""

    detector: str
    probability: float
    rate: float | None = None  # fraction of the carrier's values holding message bits (RS, SPA)
    note: str = ""


@dataclass(frozen=True)
class Detector:
    """A named detector: `detect(obj)` for Image/Audio objects of `modalities`."""

    name: str
    title: str
    modalities: tuple[str, ...]
    detect: Callable[[Any], Detection] = field(compare=False)
    method: str | None = None  # the method a learned detector was trained against
    weights_dir: Path = WEIGHTS_DIR

    def available(self, modality: str) -> bool:
        """True when this detector can run on `modality` now (learned ones need their weights)."""
        if modality not in self.modalities:
            return False
        if self.method is None:
            return True
        from crossteg.steganalysis.learned import weights_name

        stem = self.weights_dir / weights_name(self.method, modality)
        return stem.with_suffix(".safetensors").is_file() and stem.with_suffix(".json").is_file()


def _integers(obj: Any) -> np.ndarray:
    return obj.to_uint8() if obj.modality == "image" else obj.to_int16()


def _lines(obj: Any) -> list[np.ndarray]:
    values = _integers(obj)
    return classical.image_lines(values) if obj.modality == "image" else classical.audio_lines(values)


def _threshold(obj: Any) -> float:
    values = obj.pixels.size if obj.modality == "image" else obj.samples.size  # _integers' size, unconverted
    return classical.rate_threshold(obj.modality, values)


def _classical(name: str, estimate: Callable[[Any], classical.Estimate]) -> Callable[[Any], Detection]:
    def detect(obj: Any) -> Detection:
        e = estimate(obj)
        return Detection(name, e.probability, e.rate, e.note)

    return detect


CLASSICAL = (
    Detector("chi-square", "chi-square attack on pairs of values (Westfeld & Pfitzmann 2000)", MODALITIES,
             _classical("chi-square", lambda obj: classical.chi_square(_integers(obj)))),
    Detector("rs", "RS analysis (Fridrich, Goljan & Du 2001)", MODALITIES,
             _classical("rs", lambda obj: classical.rs_analysis(_lines(obj), _threshold(obj)))),
    Detector("spa", "sample pair analysis (Dumitrescu, Wu & Wang 2003)", MODALITIES,
             _classical("spa", lambda obj: classical.sample_pair_analysis(_lines(obj), _threshold(obj)))),
)

_LOADED: dict[tuple[str, str, Path], Any] = {}


def learned_detector(method_id: str, weights_dir: Path = WEIGHTS_DIR) -> Detector:
    """The CNN detector trained on stegos of `method_id` (Xu-Net for images, 1-D CNN for audio)."""
    name, method = f"cnn-{method_id}", get_method(method_id)
    modalities = stego_modalities(method)

    def detect(obj: Any) -> Detection:
        from crossteg.steganalysis.learned import at_rate, load_detector, predict

        key = (method_id, obj.modality, weights_dir)
        if key not in _LOADED:
            _LOADED[key] = load_detector(method_id, obj.modality, weights_dir)
        model, card = _LOADED[key]
        window = card.get("data", {}).get("pairs", {}).get("size") if method.local_embedding else None
        if obj.modality == "audio" and method.embedding_rate:
            obj = at_rate(obj, method.embedding_rate)  # where the change was made: other rates dilute it (48 kHz)
        return Detection(name, predict(model, obj, window=window))

    title = f"CNN trained on {method_id} stegos (Xu-Net image / 1-D audio)"
    return Detector(name, title, modalities, detect, method=method_id, weights_dir=weights_dir)


def all_detectors(weights_dir: Path = WEIGHTS_DIR) -> list[Detector]:
    """Every detector: the classical ones, then one learned detector per method writing image or audio stegos."""
    learned = [learned_detector(m, weights_dir) for m in method_ids() if stego_modalities(get_method(m))]
    return [*CLASSICAL, *learned]


def detector_names() -> list[str]:
    return [d.name for d in all_detectors()]


def get_detector(name: str, weights_dir: Path = WEIGHTS_DIR) -> Detector:
    """The detector called `name`; UsageError listing the known names otherwise."""
    for detector in all_detectors(weights_dir):
        if detector.name == name:
            return detector
    raise UsageError(f"unknown detector {name!r}; available: {', '.join(detector_names())}")


def default_detectors(modality: str, weights_dir: Path = WEIGHTS_DIR) -> list[Detector]:
    """What `crossteg steganalyze` runs on a file of `modality` when no --detector is given."""
    return [d for d in all_detectors(weights_dir) if d.available(modality)]


def analyze(obj: Any, names: list[str] | None = None, weights_dir: Path = WEIGHTS_DIR) -> list[Detection]:
    """Run the named detectors (default: every one available for the object's modality) on an Image/Audio."""
    modality = getattr(obj, "modality", None)
    if modality not in MODALITIES:
        raise UsageError(f"steganalysis works on images and audio, not on {modality or type(obj).__name__}")
    if names is None:
        detectors = default_detectors(modality, weights_dir)
    else:
        detectors = [get_detector(n, weights_dir) for n in names]
    results = []
    for detector in detectors:
        if modality not in detector.modalities:
            raise UsageError(f"detector {detector.name} does not apply to {modality}")
        if detector.method is not None and not detector.available(modality):
            from crossteg.steganalysis.learned import train_hint, weights_name

            stem = weights_name(detector.method, modality)
            raise WeightsError(f"no {stem} weights for detector {detector.name}; "
                               f"{train_hint(detector.method, modality)}")
        results.append(detector.detect(obj))
    return results


def analyze_file(path: Path, names: list[str] | None = None) -> list[Detection]:
    """Load an image or audio file and run the detectors on exactly what it stores."""
    from crossteg import media

    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    modality = media.modality_of(path)
    if modality not in MODALITIES:
        raise UsageError(f"{path} is {modality}; steganalysis works on image and audio files")
    return analyze(media.load(path, modality), names)


# Scores ----------------------------------------------------------------------------------------------------

def detection_accuracy(labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of files classified right when probability > threshold means "carries a secret"."""
    labels, probabilities = np.asarray(labels, bool), np.asarray(probabilities, float)
    return float(((probabilities > threshold) == labels).mean())


def detection_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: P(score of a stego > score of a cover), ties counting one half (0.5 = blind)."""
    labels, scores = np.asarray(labels, bool), np.asarray(scores, float)
    positives, negatives = scores[labels], scores[~labels]
    if positives.size == 0 or negatives.size == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(scores.size)
    sorted_scores = scores[order]
    # average ranks over ties (1-based), the Mann-Whitney U statistic
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    u = ranks[labels].sum() - positives.size * (positives.size + 1) / 2.0
    return float(u / (positives.size * negatives.size))
