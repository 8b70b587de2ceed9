"""Audio fidelity metrics: pure functions on numpy arrays.

Conventions: audio is a float array in [-1, 1], either 1-D (mono, T samples) or C x T (channels first).
SNR, SI-SNR and AE accept both and first trim ``ref`` and ``test`` to their common length along the last
(time) axis; PESQ and STOI take 1-D mono only (downmix with ``x.mean(axis=0)``) and an explicit
``sample_rate`` in Hz.
pesq and pystoi are imported inside the functions so ``import crossteg.metrics`` stays fast.
"""

from __future__ import annotations

import numpy as np

from crossteg.media.audio import resample  # the one resampler, shared with media

PESQ_WB_RATE = 16000  # ITU-T P.862.2 wide-band PESQ runs at 16 kHz
PESQ_WB_MAX = 4.644  # highest MOS-LQO that P.862.2 wide-band mapping can give (identical signals)


def _trimmed(ref: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both signals as float64, trimmed to their common length along the last axis."""
    a = np.asarray(ref, dtype=np.float64)
    b = np.asarray(test, dtype=np.float64)
    if a.ndim not in (1, 2) or b.ndim != a.ndim:
        raise ValueError(f"expected two 1-D or two C x T signals, got shapes {a.shape} and {b.shape}")
    if a.shape[:-1] != b.shape[:-1]:
        raise ValueError(f"channel mismatch: {a.shape} vs {b.shape}")
    n = min(a.shape[-1], b.shape[-1])
    if n == 0:
        raise ValueError("empty signal")
    return a[..., :n], b[..., :n]


def _mono(x: np.ndarray, name: str) -> np.ndarray:
    """A 1-D float64 signal, or ValueError naming the argument."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D mono audio (downmix C x T: x.mean(axis=0)), got {arr.shape}")
    return arr


def snr(ref: np.ndarray, test: np.ndarray) -> float:
    """SNR in dB, 10 log10(sum ref^2 / sum (ref - test)^2) over all samples; inf when identical."""
    a, b = _trimmed(ref, test)
    noise = float(np.sum((a - b) ** 2))
    if noise == 0.0:
        return float("inf")
    signal = float(np.sum(a**2))
    if signal == 0.0:
        return float("-inf")
    return float(10.0 * np.log10(signal / noise))


def si_snr(ref: np.ndarray, test: np.ndarray) -> float:
    """Scale-invariant SNR in dB (Le Roux et al. 2019, "SDR - half-baked or well done?"), zero-mean signals.

    INRSteg (Song et al. 2024) computes its audio "SNR" with torchmetrics' ScaleInvariantSignalNoiseRatio
    (released ``test_audio.py``); this reproduces it: s = <t, r> r / |r|^2,
    SI-SNR = 10 log10(|s|^2 / |s - t|^2) with r = ref - mean(ref), t = test - mean(test), one value over all
    channels of a C x T input. (Their script passes (gt, pred) as torchmetrics' (preds, target); here ``ref``
    is the target, the usual order.)
    """
    a, b = _trimmed(ref, test)
    r = (a - a.mean(axis=-1, keepdims=True)).ravel()
    t = (b - b.mean(axis=-1, keepdims=True)).ravel()
    eps = np.finfo(np.float64).eps
    alpha = (np.dot(t, r) + eps) / (np.dot(r, r) + eps)
    target = alpha * r
    return float(10.0 * np.log10((np.sum(target**2) + eps) / (np.sum((target - t) ** 2) + eps)))


def ae(ref: np.ndarray, test: np.ndarray, scale: float = 1.0, peak_normalize: bool = False) -> float:
    """Absolute error: mean |ref - test| * ``scale`` over all samples, waveforms in [-1, 1].

    The "AE" of Han et al. 2023 (inrweights paper, table 2) and the audio "MAE" of INRSteg (table 1) are not
    defined beyond "absolute error"; INRSteg's released ``test_audio.py`` computes ``mean(|gt - pred|)``
    unscaled on SIREN-loaded audio, which is peak-normalised (divided by max |x| of the reference), which
    ``peak_normalize=True`` reproduces (both signals divided by max |ref|). The published values (2.84 at
    SNR 17.9 dB for GTZAN music; 0.314 at SI-SNR 37.6 dB) only fit an extra factor of about 100, so to put a
    number beside the papers' pass ``scale=100`` and say so.
    """
    a, b = _trimmed(ref, test)
    if peak_normalize:
        peak = float(np.max(np.abs(a)))
        if peak == 0.0:
            raise ValueError("peak_normalize needs a reference that is not all zeros")
        a, b = a / peak, b / peak
    return float(scale * np.mean(np.abs(a - b)))


def pesq_wb(ref: np.ndarray, test: np.ndarray, sample_rate: int) -> float:
    """Wide-band PESQ (ITU-T P.862.2) MOS-LQO in about [1.04, 4.64], higher is better, via ``pesq``.

    Both 1-D signals are resampled from ``sample_rate`` to 16 kHz and trimmed to a common length. Raises
    ValueError when pesq finds no speech (NoUtterancesError) or the input is too short (BufferTooShortError).
    """
    from pesq import BufferTooShortError, NoUtterancesError, pesq

    a = resample(_mono(ref, "ref"), sample_rate, PESQ_WB_RATE)
    b = resample(_mono(test, "test"), sample_rate, PESQ_WB_RATE)
    a, b = _trimmed(a, b)
    if not np.any(a) or not np.any(b):
        raise ValueError("PESQ needs signals that are not all zeros (silence has no utterances)")
    try:
        return float(pesq(PESQ_WB_RATE, a, b, "wb"))
    except NoUtterancesError as exc:
        raise ValueError(f"PESQ found no speech (utterances) in the reference signal: {exc}") from exc
    except BufferTooShortError as exc:
        raise ValueError(f"signal too short for PESQ ({a.size / PESQ_WB_RATE:.3f} s at 16 kHz)") from exc


def stoi(ref: np.ndarray, test: np.ndarray, sample_rate: int, extended: bool = False) -> float:
    """STOI intelligibility in about [0, 1] (Taal et al. 2011; ESTOI, Jensen & Taal 2016, if ``extended``).

    Computed by ``pystoi.stoi`` on 1-D signals trimmed to a common length; pystoi resamples to 10 kHz itself.
    """
    from pystoi import stoi as _stoi

    a, b = _trimmed(_mono(ref, "ref"), _mono(test, "test"))
    return float(_stoi(a, b, int(sample_rate), extended=extended))
