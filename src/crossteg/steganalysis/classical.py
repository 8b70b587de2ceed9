"""Classical detectors of LSB replacement: pure numpy functions on the integers a file stores.

    uint8 pixels (H x W x 3) ──image_lines──┐
                                            ├─> lines ─> rs_analysis / sample_pair_analysis ─> Estimate(p, rate)
    int16 samples (C x T) ───audio_lines────┘
    any integer values ─────────────────────────────────> chi_square ─────────────────────────> Estimate(p)

* Chi-square attack on pairs of values (PoVs): A. Westfeld and A. Pfitzmann, "Attacks on Steganographic
  Systems", Information Hiding 1999, LNCS 1768, Springer 2000, pp. 61-76.
* RS analysis: J. Fridrich, M. Goljan and R. Du, "Reliable Detection of LSB Steganography in Color and
  Grayscale Images", Proc. ACM Workshop on Multimedia and Security, Ottawa 2001, pp. 27-30.
* Sample pair analysis (SPA): S. Dumitrescu, X. Wu and Z. Wang, "Detection of LSB Steganography via Sample
  Pair Analysis", IEEE Trans. Signal Processing 51(7), 2003, pp. 1995-2007.

The three attacks only use that LSB replacement maps a value v to v XOR 1, so they apply unchanged to 16-bit
audio samples (pairs 2k, 2k+1 of the two's complement values) with groups and pairs of consecutive samples
in place of neighbouring pixels. RS and SPA estimate the embedding rate p: the fraction of values that carry a
message bit (half of them change). Their probability is a logistic of that estimate around a threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RS_MASK = np.array([0, 1, 1, 0])  # Fridrich et al. 2001, sec. 2: the mask M of a group of 4 pixels
CHI_MIN_EXPECTED = 4.0  # Westfeld & Pfitzmann 2000, sec. 4: categories with too few samples are left out
# Our control, not Westfeld's: the same test on the shifted pairs (2k-1, 2k), which LSB replacement does not
# equalise, must find the histogram uneven (p below this) for the PoV test to mean anything; smooth, sparse
# histograms (loud 16-bit audio) have evenly filled pairs with or without a secret.
CHI_CONTROL_P = 0.01
# RS and SPA see LSB replacement through neighbours within one LSB pair of each other; when fewer than this
# fraction of neighbours are that close (loud or noisy audio), their estimates are noise. The fraction is
# unchanged by LSB embedding, so the check does not look at the answer.
MIN_CLOSE_FRACTION = 0.01
# Rates above which RS/SPA call a file a stego, near the 95th percentile of their estimates on 300 clean covers
# of crossteg.train.detector's training sources (128x128 crops: 0.17 for RS, 0.16 for SPA; 1 s of 16 kHz audio:
# 0.31 and 0.39), so 5-8 % false alarms on files that small and fewer on larger ones. Ours, not the papers'.
RATE_THRESHOLDS = {"image": 0.15, "audio": 0.3}
# ...at those sizes. Below them the estimates spread as 1 / sqrt(values), and a fixed threshold raised false alarms
# (150 clean crops of the same photos, RS / SPA: 31 % / 21 % at 32x32, 15 % / 8 % at 64x64), so a smaller file's
# threshold grows by that factor (rate_threshold; ours): false alarms then 10 % / 3 % at 32x32 and 7 % / 5 % at
# 64x64, full embedding still caught in 98 % / 96 % of 32x32 crops (40 % payload: 15 % / 14 %, at 64x64 91 % / 94 %).
CALIBRATION_VALUES = {"image": 128 * 128 * 3, "audio": 16_000}


@dataclass(frozen=True)
class Estimate:
    """A classical detector's answer: probability of LSB embedding in [0, 1] and, for RS/SPA, the rate."""

    probability: float
    rate: float | None = None  # estimated fraction of values carrying message bits, clipped to [0, 1]
    statistic: float = math.nan  # chi-square statistic, or the unclipped rate estimate
    note: str = ""  # why the answer is inconclusive (probability 0.5), when it is


def image_lines(pixels: np.ndarray) -> list[np.ndarray]:
    """The 1-D neighbourhoods RS/SPA scan in an H x W x C uint8 image: every row and every column, per channel."""
    px = np.asarray(pixels).astype(np.int32)
    if px.ndim == 2:
        px = px[:, :, None]
    channels = [px[:, :, c] for c in range(px.shape[2])]
    return [*channels, *[c.T for c in channels]]  # rows (L x W), then columns (L x H)


def audio_lines(samples: np.ndarray) -> list[np.ndarray]:
    """The 1-D neighbourhoods in C x T int16 audio: each channel's consecutive samples (one C x T array)."""
    return [np.atleast_2d(np.asarray(samples)).astype(np.int32)]


def rate_threshold(modality: str, values: int) -> float:
    """RS/SPA's rate threshold for a file of `values` integers: RATE_THRESHOLDS at CALIBRATION_VALUES and above,
    raised by sqrt(CALIBRATION_VALUES / values) below, as the estimates' spread grows."""
    return RATE_THRESHOLDS[modality] * math.sqrt(max(1.0, CALIBRATION_VALUES[modality] / max(values, 1)))


def rate_probability(rate: float, threshold: float) -> float:
    """Map an estimated embedding rate to a probability of embedding: a logistic, 0.5 at `threshold`, whose
    width is a quarter of the threshold (rate 0 -> 0.018, rate 2 x threshold -> 0.982)."""
    if not math.isfinite(rate):
        return 0.5
    z = (rate - threshold) / (threshold / 4.0)
    return float(1.0 / (1.0 + math.exp(-min(max(z, -60.0), 60.0))))


# Chi-square attack -----------------------------------------------------------------------------------------

def chi_square(values: np.ndarray) -> Estimate:
    """Westfeld & Pfitzmann's chi-square attack on the histogram of uint8 or int16 `values` (any shape).

    LSB replacement with random message bits equalises the counts of each pair of values (2k, 2k+1). With
    n_2k observed and y*_k = (n_2k + n_2k+1) / 2 expected, X2 = sum_k (n_2k - y*_k)^2 / y*_k has K - 1 degrees
    of freedom over the K pairs with y*_k > 4, and the probability of embedding is 1 - CDF(X2) (sec. 4).
    Only near-full embedding equalises all pairs, so partial payloads mostly read as clean.
    """
    from scipy.stats import chi2

    v = np.asarray(values).reshape(-1)
    offset = 32768 if v.dtype == np.int16 else 0  # keeps the pairs (2k, 2k+1) of two's complement values
    counts = np.bincount(v.astype(np.int64) + offset, minlength=2)

    def test(shift: int) -> tuple[float, float]:
        hist = np.concatenate([np.zeros(shift, counts.dtype), counts])
        hist = hist[: hist.size // 2 * 2].reshape(-1, 2).astype(np.float64)  # rows: (n_2k, n_2k+1)
        expected = hist.sum(axis=1) / 2.0
        keep = expected > CHI_MIN_EXPECTED
        if keep.sum() < 2:
            return math.nan, 1.0
        statistic = float((((hist[keep, 0] - expected[keep]) ** 2) / expected[keep]).sum())
        return statistic, float(chi2.sf(statistic, int(keep.sum()) - 1))

    statistic, p_value = test(0)
    if math.isnan(statistic):
        return Estimate(0.5, None, statistic, "inconclusive: too few values per pair")
    if test(1)[1] >= CHI_CONTROL_P:
        return Estimate(0.5, None, statistic, "inconclusive: histogram too smooth")
    return Estimate(p_value, None, statistic)


# RS analysis -----------------------------------------------------------------------------------------------

def _flip(x: np.ndarray, direction: int) -> np.ndarray:
    """F1 (2k <-> 2k+1) for direction 1, F-1 (2k-1 <-> 2k) for -1 (Fridrich et al. 2001, sec. 2)."""
    return x ^ 1 if direction == 1 else ((x + 1) ^ 1) - 1


def _regular_singular(groups: np.ndarray) -> tuple[float, float, float, float]:
    """(R_M, S_M, R_-M, S_-M): fractions of groups (N x 4) whose smoothness f rises / falls under F_M, F_-M."""
    def smoothness(g: np.ndarray) -> np.ndarray:
        return np.abs(np.diff(g, axis=1)).sum(axis=1)  # f(x1..x4) = sum |x_i+1 - x_i|

    base = smoothness(groups)
    masked = RS_MASK.astype(bool)
    counts = []
    for direction in (1, -1):
        flipped = groups.copy()
        flipped[:, masked] = _flip(groups[:, masked], direction)
        f = smoothness(flipped)
        counts += [float((f > base).mean()), float((f < base).mean())]
    return counts[0], counts[1], counts[2], counts[3]


_TOO_LOUD = "inconclusive: too few close neighbours (loud or noisy)"


def _close_fraction(lines: list[np.ndarray]) -> float:
    """Fraction of neighbours (u, v) with floor(u/2) = floor(v/2): SPA's C0, invariant under LSB embedding."""
    close = sum(int(np.count_nonzero((line[:, :-1] >> 1) == (line[:, 1:] >> 1))) for line in lines)
    return close / max(1, sum(line[:, :-1].size for line in lines))


def _groups(lines: list[np.ndarray]) -> np.ndarray:
    """Disjoint groups of 4 consecutive values along every line, as an N x 4 array."""
    n = len(RS_MASK)
    parts = [line[:, : line.shape[1] // n * n].reshape(-1, n) for line in lines if line.shape[1] >= n]
    return np.concatenate(parts) if parts else np.zeros((0, n), np.int32)


def rs_analysis(lines: list[np.ndarray], threshold: float = RATE_THRESHOLDS["image"]) -> Estimate:
    """Fridrich, Goljan & Du's RS estimate of the LSB embedding rate from groups of 4 along `lines`.

    Counts regular/singular groups under the mask M = [0 1 1 0] and -M on the signal (rate p/2 flipped) and on
    the signal with every LSB flipped (1 - p/2), then solves 2(d1 + d0)x^2 + (d-0 - d-1 - d1 - 3d0)x + d0 - d-0
    = 0, d = R - S, for the root x of smaller magnitude; the rate is p = x / (x - 1/2) (sec. 3).
    """
    groups = _groups(lines)
    if len(groups) < 16:
        return Estimate(0.5, None, math.nan, "inconclusive: too few samples")
    if _close_fraction(lines) < MIN_CLOSE_FRACTION:
        return Estimate(0.5, None, math.nan, _TOO_LOUD)
    rm0, sm0, rn0, sn0 = _regular_singular(groups)
    rm1, sm1, rn1, sn1 = _regular_singular(groups ^ 1)
    d0, d1, dn0, dn1 = rm0 - sm0, rm1 - sm1, rn0 - sn0, rn1 - sn1
    x = _smaller_root(2.0 * (d1 + d0), dn0 - dn1 - d1 - 3.0 * d0, d0 - dn0, prefer_nonpositive=True)
    if x is not None:
        return _rate_estimate(x / (x - 0.5) if x != 0.5 else math.inf, threshold)
    # No real root: as p -> 1 the coefficients vanish (the estimate degrades near p = 1, Fridrich et al.);
    # then d0 -> 0 while d-0 stays, and 1 - d0 / d-0 is exact at p = 0 (R_M = R_-M) and at p = 1 (d0 = 0).
    return _rate_estimate(1.0 - d0 / dn0 if abs(dn0) > 1e-12 else math.nan, threshold)


def _smaller_root(a: float, b: float, c: float, prefer_nonpositive: bool = False) -> float | None:
    """The real root of a x^2 + b x + c = 0 with the smaller magnitude; None when no root is real.

    With `prefer_nonpositive`, a root x <= 0 wins over a smaller positive one: RS maps x to p = x / (x - 1/2),
    which lies in [0, 1] only for x <= 0, and near full embedding the valid root runs off to -infinity while
    the other one is noise.
    """
    if abs(a) < 1e-12:
        return -c / b if abs(b) > 1e-12 else None
    disc = b * b - 4.0 * a * c
    if disc < 0:
        return None
    roots = sorted(((-b + math.sqrt(disc)) / (2.0 * a), (-b - math.sqrt(disc)) / (2.0 * a)), key=abs)
    if prefer_nonpositive and roots[0] > 0 >= roots[1]:
        return roots[1]
    return roots[0]


def _rate_estimate(rate: float, threshold: float) -> Estimate:
    """An Estimate from a raw rate: NaN (no estimate possible) reads as 0.5, +/-inf as the nearer bound."""
    if math.isnan(rate):
        return Estimate(0.5, None, rate)
    clipped = min(max(rate, 0.0), 1.0)
    return Estimate(rate_probability(clipped if math.isinf(rate) else rate, threshold), clipped, rate)


# Sample pair analysis --------------------------------------------------------------------------------------

def sample_pair_analysis(lines: list[np.ndarray], threshold: float = RATE_THRESHOLDS["image"]) -> Estimate:
    """Dumitrescu, Wu & Wang's SPA estimate of the LSB embedding rate from adjacent pairs (u, v) along `lines`.

    X: pairs with v even and u < v, or v odd and u > v; Y: v even and u > v, or v odd and u < v; the closed
    set C0 = W u Z: pairs with floor(u/2) = floor(v/2). With |X| = |Y| for natural signals, the rate p is the
    smaller root of (|C0| / 2) p^2 + (2|X| - |P|) p + |Y| - |X| = 0 over all |P| pairs (sec. III-IV).
    """
    x_count = y_count = c0 = total = 0
    for line in lines:
        u, v = line[:, :-1], line[:, 1:]
        even = (v & 1) == 0
        x_count += int(np.count_nonzero((even & (u < v)) | (~even & (u > v))))
        y_count += int(np.count_nonzero((even & (u > v)) | (~even & (u < v))))
        c0 += int(np.count_nonzero((u >> 1) == (v >> 1)))
        total += u.size
    if total < 16:
        return Estimate(0.5, None, math.nan, "inconclusive: too few samples")
    if c0 < MIN_CLOSE_FRACTION * total:
        return Estimate(0.5, None, math.nan, _TOO_LOUD)
    a, b, c = c0 / 2.0, 2.0 * x_count - total, float(y_count - x_count)
    rate = _smaller_root(a, b, c)
    if rate is None:
        rate = -b / (2.0 * a) if a > 0 else math.nan  # no real root: the vertex, the closest the data allow
    return _rate_estimate(rate, threshold)
