"""Speech <-> the h x w x c hidden tensor of THInImg (Zhao et al.), in its three formats (paper sec. 3.2, 4.4).

    16 kHz speech ──STFT 1024/256──> |S| ──80 mel bands──> log-mel, normalised to [0, 1]       ("mel", c = 2)
                  ──raw samples, (x + 1) / 2─────────────────────────────────────────────────────> ("raw", c = 7)
                  ──STFT 256/256 boxcar, real | imag of bins 0-79, companded to [0, 1]──────────> ("stft", c = 4)
    features ──split into 160-wide pieces, stitched into c channels of 160 x 160──> tensor  (c x 160 x 160)
             + a header holding the true length in samples (repeated Manchester-coded bits in 2 x 2 blocks), inside
      the tensor: no side channel
    reveal:  tensor ──header──> length ──unstitch──> features ──mel_to_audio (Griffin-Lim) | identity | iSTFT──> speech

Mel layout: each channel holds two 80-band x 160-frame pieces stacked vertically (bands on rows, frames on
columns), so 320 frames per channel; the last HEADER_FRAMES frame columns of the last channel carry the header
(so 10.04 s fit in c = 2).
Normalisation (the paper says only "after the standardization"): the WaveNet-vocoder / Tacotron recipe its
decompressor comes from: 20 log10(max(|mel|, 1e-5)) - 20 dB, then (dB + 100) / 100 clipped to [0, 1].

`mel_to_audio(mel) -> samples` is the decompressor. The paper uses a WaveNet vocoder; until a neural vocoder
lands, it is Griffin-Lim (64 iterations, fast momentum) on the magnitude recovered from the mel with the
pseudo-inverse of the filter bank, which caps PESQ-WB near 2.3-2.8 (NOTES.md).

The STFT format keeps 80 of 129 bins (0-5 kHz): 10 s of 16 kHz speech has ~80 000 complex STFT values, more
than c = 4 channels hold; the paper does not say how its STFT was cut to c = 4, so this is our choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from crossteg.errors import CapacityError

SAMPLE_RATE = 16_000  # paper sec. 4.3: audio adjusted to 16 kHz
N_FFT = 1024  # sec. 4.3: STFT with 1,024 FFT bins
HOP = 256  # sec. 4.3: sliding window shift 256
N_MELS = 80  # sec. 4.3: 80 mel filters
SIDE = 160  # sec. 4.4: h = w = 160, the image size
MIN_DB, REF_DB = -100.0, 20.0  # WaveNet-vocoder normalisation (ours: the paper gives none)
GRIFFIN_LIM_ITERS = 64
STFT_BINS, STFT_HOP = 80, 256  # "stft" format: bins kept, window = hop (boxcar, perfect reconstruction)
STFT_MU, STFT_PEAK = 0.01, 64.0  # companding of STFT values: log1p(|x| / mu), |x| up to PEAK
HEADER_VALUES = 960  # values reserved for the length header in every format (12 mel frames)
LENGTH_BITS = 24  # up to 16.7 M samples (17 min at 16 kHz)
BIT_LOW, BIT_HIGH = 0.1, 0.9  # a header bit is written as one of these values
FORMATS = {"mel": 2, "raw": 7, "stft": 4}  # sec. 4.4: channels c for 0-10 s
HEADER_FRAMES = HEADER_VALUES // N_MELS  # mel: 12 frame columns
HEADER_COLUMNS = HEADER_VALUES // SIDE  # stft: 6 frame columns of 160 values
RAW_HEADER_SHAPE = (HEADER_COLUMNS, SIDE)  # raw: the last 960 values read as 6 rows of 160


@dataclass(frozen=True)
class Layout:
    """One hidden-tensor format: `fmt` in FORMATS and the number of 160 x 160 channels."""

    fmt: str = "mel"
    channels: int = 2

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise ValueError(f"unknown speech format {self.fmt!r} (one of {', '.join(FORMATS)})")
        if self.channels < 1:
            raise ValueError("a hidden tensor needs at least one channel")

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, SIDE, SIDE)

    @property
    def max_samples(self) -> int:
        """The longest speech (in samples at 16 kHz) this layout carries."""
        if self.fmt == "mel":  # frames = 1 + n // HOP (centred STFT)
            return (2 * SIDE * self.channels - HEADER_FRAMES) * HOP - 1
        if self.fmt == "stft":
            return (SIDE * self.channels - HEADER_COLUMNS) * STFT_HOP
        return SIDE * SIDE * self.channels - HEADER_VALUES

    @property
    def max_seconds(self) -> float:
        return self.max_samples / SAMPLE_RATE


def channels_for(seconds: float, fmt: str = "mel") -> int:
    """The fewest channels c holding `seconds` of speech (sec. 4.5: c grows with the length)."""
    c = 1
    while Layout(fmt, c).max_seconds < seconds:
        c += 1
    return c


# Mel spectrogram and its inverse ------------------------------------------------------------------------


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (as librosa with htk=False)."""
    hz = np.asarray(hz, np.float64)
    logstep = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / logstep, hz * 3.0 / 200.0)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    logstep = np.log(6.4) / 27.0
    return np.where(mels >= 15.0, 1000.0 * np.exp(logstep * (mels - 15.0)), mels * 200.0 / 3.0)


@lru_cache(maxsize=1)
def _mel_basis() -> tuple[np.ndarray, np.ndarray]:
    """The 80 x 513 Slaney-normalised mel filter bank over 0-8 kHz (librosa.filters.mel's) and its
    pseudo-inverse. Written out in numpy: librosa's first call costs seconds of JIT compilation."""
    freqs = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))
    ramps = edges[:, None] - freqs[None, :]
    widths = np.diff(edges)
    lower, upper = -ramps[:-2] / widths[:-1, None], ramps[2:] / widths[1:, None]
    basis = np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return basis.astype(np.float32), np.linalg.pinv(basis).astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    """Periodic Hann window of N_FFT samples."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float64)


def stft(samples: np.ndarray) -> np.ndarray:
    """513 x F complex STFT: Hann window 1024, hop 256, centred with zero padding (F = 1 + len // 256)."""
    padded = np.pad(np.asarray(samples, np.float64), N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    return np.fft.rfft(frames * _window(), axis=1).T


def _overlap_add(frames: np.ndarray) -> np.ndarray:
    """Sum of F frames of N_FFT samples placed HOP apart (N_FFT is a multiple of HOP)."""
    count, parts = len(frames), N_FFT // HOP
    out = np.zeros((count + parts - 1, HOP))
    for q, chunk in enumerate(np.moveaxis(frames.reshape(count, parts, HOP), 1, 0)):
        out[q:q + count] += chunk
    return out.reshape(-1)


def istft(spectrum: np.ndarray, length: int) -> np.ndarray:
    """Inverse of `stft` (weighted overlap-add), `length` samples."""
    frames = np.fft.irfft(spectrum.T, n=N_FFT, axis=1) * _window()
    norm = _overlap_add(np.broadcast_to(_window() ** 2, frames.shape))
    out = _overlap_add(frames) / np.where(norm > 1e-8, norm, 1.0)
    out = out[N_FFT // 2:N_FFT // 2 + length]
    return np.pad(out, (0, length - len(out)))


def mel_spectrogram(samples: np.ndarray) -> np.ndarray:
    """80 x F normalised log-mel in [0, 1] of mono 16 kHz `samples` (F = 1 + len // 256)."""
    magnitude = np.abs(stft(samples)).astype(np.float32)
    db = 20.0 * np.log10(np.maximum(_mel_basis()[0] @ magnitude, 1e-5)) - REF_DB
    return np.clip((db - MIN_DB) / -MIN_DB, 0.0, 1.0).astype(np.float32)


def griffin_lim(magnitude: np.ndarray, length: int, iterations: int = GRIFFIN_LIM_ITERS, momentum: float = 0.99,
                seed: int = 0) -> np.ndarray:
    """Samples whose STFT magnitude approaches `magnitude` (fast Griffin-Lim, Perraudin et al. 2013)."""
    rng = np.random.default_rng(seed)
    angles = np.exp(2j * np.pi * rng.random(magnitude.shape))
    rebuilt = np.zeros_like(angles)
    for _ in range(iterations):
        previous = rebuilt
        rebuilt = stft(istft(magnitude * angles, length))
        angles = rebuilt - (momentum / (1 + momentum)) * previous
        angles /= np.abs(angles) + 1e-16
    return istft(magnitude * angles, length)


def mel_to_audio(mel: np.ndarray, length: int | None = None, seed: int = 0) -> np.ndarray:
    """Speech from an 80 x F normalised log-mel: the decompressor (Griffin-Lim until a vocoder lands)."""
    if length is None:
        length = HOP * (mel.shape[1] - 1)
    db = np.clip(mel, 0.0, 1.0) * -MIN_DB + MIN_DB + REF_DB
    magnitude = np.maximum(_mel_basis()[1] @ (10.0 ** (db / 20.0)), 1e-8).astype(np.float64)
    audio = griffin_lim(magnitude ** 1.2, length, seed=seed)  # power 1.2 sharpens harmonics (Tacotron uses 1.5)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return (audio * (0.9 / peak if peak > 0.9 else 1.0)).astype(np.float32)


# STFT format --------------------------------------------------------------------------------------------


def _compand(x: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.sign(x) * np.log1p(np.abs(x) / STFT_MU) / np.log1p(STFT_PEAK / STFT_MU)


def _expand(y: np.ndarray) -> np.ndarray:
    z = (np.clip(y, 0.0, 1.0) - 0.5) * 2.0 * np.log1p(STFT_PEAK / STFT_MU)
    return np.sign(z) * STFT_MU * np.expm1(np.abs(z))


def stft_columns(samples: np.ndarray) -> np.ndarray:
    """160 x F: real parts of bins 0-79 over imaginary parts, companded to [0, 1], one column per 256 samples."""
    n = -(-len(samples) // STFT_HOP) * STFT_HOP
    frames = np.pad(np.asarray(samples, np.float64), (0, n - len(samples))).reshape(-1, STFT_HOP)
    spectrum = np.fft.rfft(frames, axis=1)[:, :STFT_BINS].T  # 80 x F
    return _compand(np.concatenate([spectrum.real, spectrum.imag])).astype(np.float32)


def columns_to_audio(columns: np.ndarray, length: int) -> np.ndarray:
    """Inverse of `stft_columns` (the dropped bins above 5 kHz come back as zeros)."""
    values = _expand(columns)
    spectrum = np.zeros((STFT_HOP // 2 + 1, columns.shape[1]), np.complex128)
    spectrum[:STFT_BINS] = values[:STFT_BINS] + 1j * values[STFT_BINS:]
    return np.fft.irfft(spectrum.T, n=STFT_HOP, axis=1).reshape(-1)[:length].astype(np.float32)


# The length header --------------------------------------------------------------------------------------


def header_block(n_samples: int, shape: tuple[int, int]) -> np.ndarray:
    """A rows x cols header region (HEADER_VALUES values) carrying `n_samples`.

    Each of LENGTH_BITS bits is a Manchester pair of symbols (0.9, 0.1) or (0.1, 0.9); each symbol fills a
    2 x 2 block (a coarse pattern survives the network better than a per-pixel one: measured on an early
    model, per-pixel header values came back with 3x the error of the spectrogram), and the 2 x LENGTH_BITS
    symbols repeat over the region's blocks (row-major), the leftover blocks 0.5."""
    rows, cols = shape
    bits = (int(n_samples) >> np.arange(LENGTH_BITS)) & 1
    first = np.where(bits == 1, BIT_HIGH, BIT_LOW)
    symbols = np.concatenate([first, 1.0 - first])
    blocks = np.full((rows // 2) * (cols // 2), 0.5, np.float32)
    used = len(blocks) // len(symbols) * len(symbols)
    blocks[:used] = np.tile(symbols, used // len(symbols))
    return np.repeat(np.repeat(blocks.reshape(rows // 2, cols // 2), 2, axis=0), 2, axis=1)


def read_header(region: np.ndarray) -> tuple[int, float]:
    """(length in samples, confidence in [0, 1]) from a header region written by `header_block`.

    Each bit is the sign of (mean of its first symbol's blocks - mean of its second symbol's blocks);
    confidence says how exactly the mean size of that difference matches the written one (BIT_HIGH - BIT_LOW):
    1 for a clean header. Noise, a constant (padding) or a wrong key's tiles give differences near 0, so a low
    confidence; a model that did not write the container can overshoot (a nested model read a single-layer
    model's header at 1.08x the written contrast, the writer at 0.998x), which counts as much as falling short."""
    rows, cols = region.shape
    blocks = np.asarray(region, np.float64).reshape(rows // 2, 2, cols // 2, 2).mean(axis=(1, 3)).reshape(-1)
    width = 2 * LENGTH_BITS
    used = len(blocks) // width * width
    means = blocks[:used].reshape(-1, 2, LENGTH_BITS).mean(axis=0)
    difference = means[0] - means[1]
    n = int(((difference > 0).astype(np.int64) << np.arange(LENGTH_BITS)).sum())
    contrast = np.abs(difference).mean() / (BIT_HIGH - BIT_LOW)
    confidence = float(np.clip(1.0 - abs(1.0 - contrast), 0.0, 1.0))
    return n, confidence


# Split and stitch ---------------------------------------------------------------------------------------


def _fit(n_samples: int, layout: Layout) -> None:
    if n_samples > layout.max_samples:
        raise CapacityError(f"speech is {n_samples / SAMPLE_RATE:.2f} s but this container holds at most "
                            f"{np.floor(layout.max_seconds * 100) / 100:.2f} s ({layout.fmt}, c = {layout.channels})")


def stitch(features: np.ndarray, n_samples: int, layout: Layout, header: int | None = None) -> np.ndarray:
    """c x 160 x 160 tensor from features (80 x F mel, 160 x F stft columns, or T raw values) of `n_samples`
    + the header, which holds `header` instead of `n_samples` when given (a clip spread over several tensors
    carries its total length in each)."""
    _fit(n_samples, layout)
    c = layout.channels
    n_header = n_samples if header is None else header
    if layout.fmt == "raw":
        flat = np.zeros(SIDE * SIDE * c, np.float32)
        flat[:len(features)] = features
        flat[-HEADER_VALUES:] = header_block(n_header, RAW_HEADER_SHAPE).reshape(-1)
        return flat.reshape(layout.shape)
    grid = np.zeros(_grid_shape(layout), np.float32)
    grid[:, :features.shape[1]] = features
    region = grid[:, _header_start(grid):]
    region[:] = header_block(n_header, region.shape)
    return _tensor(grid, layout)


def header_mask(layout: Layout) -> np.ndarray:
    """c x 160 x 160, True where `stitch` writes the length header."""
    if layout.fmt == "raw":
        flat = np.zeros(SIDE * SIDE * layout.channels, bool)
        flat[-HEADER_VALUES:] = True
        return flat.reshape(layout.shape)
    grid = np.zeros(_grid_shape(layout), bool)
    grid[:, _header_start(grid):] = True
    return _tensor(grid, layout)


def header_reference(layout: Layout, n_header: int) -> np.ndarray:
    """The values `stitch` writes at `header_mask(layout)` for a header that holds `n_header`: what a reader who
    has decoded the length knows the revealed tensor should hold there."""
    empty = np.zeros((0,) if layout.fmt == "raw" else (N_MELS if layout.fmt == "mel" else SIDE, 0), np.float32)
    return stitch(empty, 0, layout, header=n_header)[header_mask(layout)]


def unstitch(tensor: np.ndarray, layout: Layout, length: int | None = None) -> tuple[np.ndarray, int, float]:
    """(features, length in samples, header confidence): the inverse of `stitch`, features cut to the header's
    length (capped at the layout's), or to `length` when given; the header's value is returned either way."""
    if layout.fmt == "raw":
        flat = tensor.reshape(-1)
        n, confidence = read_header(flat[-HEADER_VALUES:].reshape(RAW_HEADER_SHAPE))
        return flat[:min(n if length is None else length, layout.max_samples)].copy(), n, confidence
    grid = _grid(tensor, layout)
    header, confidence = read_header(grid[:, _header_start(grid):])
    n = min(header if length is None else length, layout.max_samples)
    return grid[:, :_frames(n, layout)].copy(), header, confidence


def padding(tensor: np.ndarray, layout: Layout, n_samples: int) -> np.ndarray:
    """The values `stitch` leaves at 0 for a clip of `n_samples`, between its features and the header (empty when
    the clip fills the tensor). Reveal checks them: a right key reads them near 0, a wrong key's tiles do not."""
    n = min(n_samples, layout.max_samples)
    if layout.fmt == "raw":
        return tensor.reshape(-1)[n:-HEADER_VALUES]
    grid = _grid(tensor, layout)
    return grid[:, _frames(n, layout):_header_start(grid)].reshape(-1)


def _header_start(grid: np.ndarray) -> int:
    """First frame column of the header, which takes the last HEADER_VALUES values of a mel or STFT grid."""
    return grid.shape[1] - HEADER_VALUES // len(grid)


def _grid_shape(layout: Layout) -> tuple[int, int]:
    """(rows, frame columns) of a mel or STFT tensor's features laid side by side."""
    rows = N_MELS if layout.fmt == "mel" else SIDE
    return rows, SIDE * layout.channels * SIDE // rows


def _tensor(grid: np.ndarray, layout: Layout) -> np.ndarray:
    """c x 160 x 160 from a rows x frames grid: consecutive 160-column pieces stacked, one under the next."""
    rows, columns = grid.shape
    pieces = grid.reshape(rows, columns // SIDE, SIDE).transpose(1, 0, 2)  # pieces x rows x 160
    return np.ascontiguousarray(pieces.reshape(layout.channels, SIDE, SIDE))


def _grid(tensor: np.ndarray, layout: Layout) -> np.ndarray:
    """rows x frames view of a mel or STFT hidden tensor (the inverse of `_tensor`)."""
    rows = N_MELS if layout.fmt == "mel" else SIDE
    return tensor.reshape(layout.channels * SIDE // rows, rows, SIDE).transpose(1, 0, 2).reshape(rows, -1)


def _frames(n_samples: int, layout: Layout) -> int:
    """Frame columns the features of `n_samples` fill (mel or STFT)."""
    if layout.fmt == "mel":
        return 1 + n_samples // HOP if n_samples else 0
    return -(-n_samples // STFT_HOP)


# Speech <-> tensor --------------------------------------------------------------------------------------


def features_of(samples: np.ndarray, fmt: str) -> np.ndarray:
    """The format's features of mono 16 kHz speech (before stitching)."""
    if len(samples) == 0:
        return np.zeros((N_MELS, 0) if fmt == "mel" else (SIDE, 0) if fmt == "stft" else 0, np.float32)
    if fmt == "mel":
        return mel_spectrogram(samples)
    if fmt == "stft":
        return stft_columns(samples)
    return ((np.clip(samples, -1.0, 1.0) + 1.0) / 2.0).astype(np.float32)


def features_to_audio(features: np.ndarray, n_samples: int, fmt: str) -> np.ndarray:
    """Speech back from a format's features: Griffin-Lim (mel), inverse STFT (stft) or rescaling (raw)."""
    if fmt == "mel":
        return mel_to_audio(features, length=n_samples)
    if fmt == "stft":
        return columns_to_audio(features, n_samples)
    return (np.clip(features, 0.0, 1.0) * 2.0 - 1.0).astype(np.float32)


def compress(samples: np.ndarray, layout: Layout = Layout(), header: int | None = None) -> np.ndarray:
    """Comp(A_r) of eq. 3: mono 16 kHz speech -> c x 160 x 160 hidden tensor with its length (or `header`)
    inside."""
    samples = np.asarray(samples, np.float32).reshape(-1)
    _fit(len(samples), layout)
    return stitch(features_of(samples, layout.fmt), len(samples), layout, header)


def decompress(tensor: np.ndarray, layout: Layout = Layout()) -> np.ndarray:
    """Decomp of eq. 4: hidden tensor -> mono 16 kHz speech of the length carried in its header."""
    features, n, _ = unstitch(np.asarray(tensor, np.float32), layout)
    n = min(n, layout.max_samples)
    return features_to_audio(features, n, layout.fmt) if n else np.zeros(0, np.float32)
