"""codecs/mel.py: the paper's speech formats, split/stitch with the length inside, and the decompressor."""

import numpy as np
import pytest

from crossteg import media
from crossteg.codecs import mel
from crossteg.errors import CapacityError
from crossteg.metrics import stoi


@pytest.fixture(scope="module")
def speech(assets):
    return media.load_audio(assets / "speech_long.wav", mel.SAMPLE_RATE, mono=True).samples[0]


def test_paper_channel_counts_cover_ten_seconds():
    for fmt, c in mel.FORMATS.items():  # sec. 4.4: c = 2 (mel), 7 (raw), 4 (stft) for 0-10 s
        assert mel.Layout(fmt, c).max_seconds >= 10.0
        assert mel.Layout(fmt, c - 1).max_seconds < 10.0
        assert mel.channels_for(10.0, fmt) == c
    assert mel.channels_for(20.0) == 4 and mel.channels_for(80.0) == 16  # c grows with the length (sec. 4.5)


def test_mel_spectrogram_matches_the_paper_settings(speech):
    spec = mel.mel_spectrogram(speech[:16000])
    assert spec.shape == (80, 1 + 16000 // 256)
    assert spec.min() >= 0.0 and spec.max() <= 1.0 and spec.std() > 0.1


@pytest.mark.parametrize("fmt", sorted(mel.FORMATS))
@pytest.mark.parametrize("seconds", [0.0, 0.3, 3.7, 10.0])
def test_stitch_carries_the_length_inside_the_tensor(speech, fmt, seconds):
    layout = mel.Layout(fmt, mel.FORMATS[fmt])
    clip = speech[:int(seconds * mel.SAMPLE_RATE)]
    tensor = mel.compress(clip, layout)
    assert tensor.shape == (layout.channels, 160, 160) and tensor.min() >= 0 and tensor.max() <= 1
    noisy = np.clip(tensor + np.random.default_rng(0).normal(0, 0.15, tensor.shape), 0, 1)  # a lossy channel
    features, n, confidence = mel.unstitch(noisy.astype(np.float32), layout)
    assert n == len(clip) and confidence > 0.5
    exact, _, clean_confidence = mel.unstitch(tensor, layout)
    np.testing.assert_array_equal(exact, mel.features_of(clip, fmt))
    assert clean_confidence > 0.99


def test_a_shuffled_header_has_low_confidence(speech):
    tensor = mel.compress(speech[:32000])
    shuffled = np.random.default_rng(1).permutation(tensor.reshape(-1)).reshape(tensor.shape)
    assert mel.unstitch(shuffled, mel.Layout())[2] < 0.5


def test_a_header_read_with_too_much_contrast_is_less_confident():
    """Confidence measures how exactly the written contrast comes back: overshooting it (as a model that did not
    write the container can) counts like falling short."""
    clean = mel.header_block(123457, (mel.N_MELS, mel.HEADER_FRAMES))
    assert mel.read_header(clean) == (123457, pytest.approx(1.0))
    for stretch in (0.8, 1.2):
        n, confidence = mel.read_header(0.5 + stretch * (clean - 0.5))
        assert n == 123457 and confidence == pytest.approx(0.8, abs=1e-6)


@pytest.mark.parametrize("fmt", sorted(mel.FORMATS))
def test_padding_is_what_stitch_leaves_between_the_clip_and_the_header(speech, fmt):
    layout = mel.Layout(fmt, mel.FORMATS[fmt])
    clip = speech[:2 * mel.SAMPLE_RATE]
    tensor = mel.compress(clip, layout)
    rest = mel.padding(tensor, layout, len(clip))
    features = mel.features_of(clip, fmt).size
    assert rest.size == tensor.size - features - mel.HEADER_VALUES and not rest.any()
    assert mel.padding(tensor, layout, len(clip) // 2).any()  # a shorter length's "padding" holds speech
    assert mel.padding(mel.compress(speech[:layout.max_samples], layout), layout, layout.max_samples).size == 0


@pytest.mark.parametrize("fmt", sorted(mel.FORMATS))
def test_header_mask_marks_exactly_what_the_length_changes(speech, fmt):
    layout = mel.Layout(fmt, mel.FORMATS[fmt])
    clip = speech[:mel.SAMPLE_RATE]
    mask = mel.header_mask(layout)
    changed = mel.compress(clip, layout, header=len(clip)) != mel.compress(clip, layout, header=len(clip) + 4097)
    assert mask.shape == layout.shape and mask.sum() == mel.HEADER_VALUES
    assert changed.any() and not (changed & ~mask).any()


def test_too_long_speech_says_the_maximum_seconds(speech):
    with pytest.raises(CapacityError, match=r"at most 10\.04 s"):
        mel.compress(np.zeros(int(10.2 * mel.SAMPLE_RATE), np.float32))
    mel.compress(speech[:mel.Layout().max_samples])


def test_round_trips_through_each_format(speech):
    clip = speech[:3 * mel.SAMPLE_RATE]
    raw = mel.decompress(mel.compress(clip, mel.Layout("raw", 7)), mel.Layout("raw", 7))
    assert np.abs(raw - clip).max() < 1e-6
    stft = mel.decompress(mel.compress(clip, mel.Layout("stft", 4)), mel.Layout("stft", 4))
    assert len(stft) == len(clip) and stoi(clip, stft, mel.SAMPLE_RATE) > 0.9  # bins above 5 kHz dropped
    griffin_lim = mel.decompress(mel.compress(clip))
    assert len(griffin_lim) == len(clip) and stoi(clip, griffin_lim, mel.SAMPLE_RATE) > 0.8
    assert np.abs(griffin_lim).max() <= 0.9 + 1e-6


def test_numpy_stft_and_filter_bank_match_librosa(speech):
    import librosa

    clip = speech[:20000]
    np.testing.assert_allclose(mel._mel_basis()[0], librosa.filters.mel(sr=16000, n_fft=1024, n_mels=80), atol=1e-7)
    spectrum = librosa.stft(clip, n_fft=1024, hop_length=256, center=True)
    np.testing.assert_allclose(mel.stft(clip), spectrum, atol=1e-4)
    phase = np.exp(1j * np.random.default_rng(0).random(spectrum.shape))
    np.testing.assert_allclose(mel.istft(spectrum * phase, len(clip)),
                               librosa.istft(spectrum * phase, hop_length=256, n_fft=1024, length=len(clip)), atol=1e-6)
