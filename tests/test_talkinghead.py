"""Talking head: audio features, rig, warp, and `crossteg speak` end to end through a real mp4 file."""

import numpy as np
import pytest

from conftest import run_cli
from crossteg import media
from crossteg.errors import MediaError
from crossteg.media import Audio, Image
from crossteg.talkinghead import FPS, animate, features, landmarks, motion, rig, speak, warp

FRAME = 1.0 / FPS


@pytest.fixture(scope="module")
def face160(assets) -> Image:
    return media.load(assets / "face160.png")


@pytest.fixture(scope="module")
def speech(assets) -> Audio:
    return media.load(assets / "speech_1.wav")


def bursts(rate: int = 16000) -> Audio:
    """Vowel-like bursts (a 150 Hz buzz through formants near 700 and 1200 Hz), 0.4 s on and 0.4 s off."""
    t = np.arange(int(2.4 * rate)) / rate
    k = np.arange(1, 30)[:, None]
    gain = np.exp(-(((150 * k - 700) / 300) ** 2)) + 0.5 * np.exp(-(((150 * k - 1200) / 300) ** 2))
    buzz = (gain / k * np.sin(2 * np.pi * 150 * k * t)).sum(0)
    gate = np.floor(t / 0.4) % 2 == 0
    return Audio((0.5 * buzz / np.abs(buzz).max() * gate).astype(np.float32), rate)


def test_mouth_opens_with_sound_and_closes_in_silence():
    sound = bursts()
    track = features.mouth_track(sound.samples[0], sound.sample_rate, FPS)
    assert len(track.open) == features.num_frames(sound.duration, FPS) == 60
    on = np.floor((np.arange(60) + 0.5) * FRAME / 0.4) % 2 == 0
    steady = np.convolve(on, np.ones(5), "same")  # frames two away from any edge: 5 (sound) or 0 (silence)
    assert np.all(track.open[steady == 5] > 0.5)
    assert np.all(track.open[(steady == 0) & (np.arange(60) > 2)] < 0.05)


def test_silence_and_quiet_speech(speech):
    silent = features.mouth_track(np.zeros(8000), 16000, FPS)
    assert len(silent.open) == 13 and silent.open.max() == 0.0
    loud = features.mouth_track(speech.samples[0], speech.sample_rate, FPS)
    quiet = features.mouth_track(speech.samples[0] * 0.01, speech.sample_rate, FPS)  # -40 dB: still speech
    np.testing.assert_allclose(quiet.open, loud.open, atol=1e-6)


def test_mouth_follows_speech_energy(speech):
    track = features.mouth_track(speech.samples[0], speech.sample_rate, FPS)
    assert len(track.open) == 59  # ceil(2.34 s x 25)
    assert np.corrcoef(track.open, np.maximum(track.energy_db, track.energy_db.max() - 60))[0, 1] > 0.7
    assert track.open.std() > 0.15 and track.width.min() >= -1 and track.width.max() <= 1


def test_blinks_at_a_human_rate():
    closure = motion.blinks(int(60 * FPS), FPS, np.random.default_rng(3))
    starts = np.flatnonzero((closure[1:] > 0) & (closure[:-1] == 0))
    assert 10 <= len(starts) <= 30 and closure.max() == 1.0
    assert np.all(np.diff(starts) >= 2.0 * FPS - 1)


def test_warp_is_exact_at_rest_and_moves_control_points(face160):
    marks = landmarks.template_landmarks(160, 160)
    the_rig = rig.build_rig(marks, 160, 160)
    render = warp.Warper(face160.pixels, the_rig.points)
    np.testing.assert_allclose(render(the_rig.points), face160.pixels, atol=1e-5)
    dst = the_rig.points + np.where(np.arange(len(the_rig.points))[:, None] < the_rig.face, 2.0, 0.0)
    where = render.backward_map(dst)
    i = landmarks.NOSE_TIP  # a landmark moved to a whole pixel samples where it came from
    x, y = np.round(dst[i]).astype(int)
    np.testing.assert_allclose(where[y, x], the_rig.points[i] + (np.round(dst[i]) - dst[i]), atol=1e-3)


def test_rig_opens_the_jaw_and_shuts_the_lids():
    marks = landmarks.template_landmarks(200, 200)
    the_rig = rig.build_rig(marks, 200, 200)
    still = rig.frame_points(the_rig, 0.0, 0.0, 0.0, 0.0, np.zeros(2), 1.0)
    np.testing.assert_allclose(still, the_rig.points, atol=1e-9)
    wide = rig.frame_points(the_rig, 1.0, 0.0, 0.0, 0.0, np.zeros(2), 1.0)
    gain = landmarks.Landmarks(wide[:the_rig.face], True).opening() - marks.opening()
    assert gain == pytest.approx(rig.JAW_DROP * (1 + rig.UPPER_LIP_LIFT), rel=0.15)
    shut = rig.frame_points(the_rig, 0.0, 0.0, 1.0, 0.0, np.zeros(2), 1.0)
    eye = landmarks.EYES[0]
    lid_gap = shut[list(eye.lower), 1].mean() - shut[list(eye.upper[0]), 1].mean()
    open_gap = still[list(eye.lower), 1].mean() - still[list(eye.upper[0]), 1].mean()
    assert lid_gap < 0.35 * open_gap


def test_speak_writes_a_playable_mp4_whose_mouth_follows_the_speech(tmp_path, assets, speech):
    out = tmp_path / "talk.mp4"
    result = run_cli("speak", assets / "face160.png", assets / "speech_1.wav", "-o", out, "--json")
    assert result.returncode == 0, result.stderr
    assert "W0000" not in result.stderr  # MediaPipe's C++ log lines are kept off the terminal
    video = media.load(out)
    assert (video.num_frames, video.fps, video.height, video.width) == (59, 25.0, 160, 160)
    assert abs(video.audio.duration - speech.duration) <= FRAME
    n = min(speech.frames, video.audio.frames)
    assert np.corrcoef(speech.samples[0, :n], video.audio.resample(speech.sample_rate).samples[0, :n])[0, 1] > 0.9
    opening = np.array([landmarks.detect(f).opening() for f in video.frames])  # measured on the decoded frames
    energy = features.energy_db(speech.samples[0], speech.sample_rate, FPS, video.num_frames)
    assert opening.max() - opening.min() > 0.1
    assert np.corrcoef(opening, np.maximum(energy, energy.max() - 60))[0, 1] > 0.5


def test_speak_returns_video_with_the_speech(face160, speech):
    short = Audio(speech.samples[:, : speech.sample_rate // 2], speech.sample_rate)
    calls = []
    video = speak(face160, short, progress=lambda *a: calls.append(a))
    assert video.frames.shape == (13, 160, 160, 3) and video.audio is short
    assert calls[-1][1:] == (13, 13)
    assert np.abs(video.frames - face160.pixels).max() > 0.1  # something moved


def test_faceless_image_errors_cleanly_or_animates_the_centre(tmp_path, assets, speech):
    out = tmp_path / "talk.mp4"
    result = run_cli("speak", assets / "photo.png", assets / "speech_1.wav", "-o", out)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: no face found in {assets / 'photo.png'}: use a frontal "
                                                  "portrait, or --no-face-check to animate the centre of the image"]
    assert not out.exists()
    photo = media.load(assets / "photo.png")
    with pytest.raises(MediaError, match="no face found"):
        speak(photo, speech)
    short = Audio(speech.samples[:, : speech.sample_rate // 2], speech.sample_rate)
    video, drive = animate(photo, short, face_check=False)
    assert not drive["landmarks"].found
    moved = np.abs(video.frames - photo.pixels).max(axis=(0, 3))
    assert moved[100:156, 100:156].max() > 0.05 and moved[:20, :20].max() < 0.02  # the centre, not the corner
