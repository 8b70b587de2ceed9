"""crossteg.media: containers, file formats, load/save dispatch and lossless encode/decode."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf
from PIL import Image as PILImage

from crossteg import media
from crossteg.errors import MediaError, UsageError
from crossteg.media import Audio, Image, Shape, Video, _ffmpeg

RNG = np.random.default_rng(1234)


def smooth_frames(t: int, h: int, w: int) -> np.ndarray:
    """Slowly varying colour gradients, the kind of content a video codec keeps well."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    frames = [np.stack([0.5 + 0.4 * np.sin(6 * xx + 0.3 * k), 0.5 + 0.4 * np.cos(5 * yy + 0.2 * k),
                        0.5 + 0.3 * np.sin(3 * (xx + yy))], axis=-1) for k in range(t)]  # fmt: skip
    return np.stack(frames).astype(np.float32)


def sine(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


def sphere() -> Shape:
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    return Shape(mesh.vertices, mesh.faces)


# ---------------------------------------------------------------- images


def test_png_uint8_round_trip_is_exact(tmp_path):
    arr = RNG.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    img = Image.from_uint8(arr)
    assert img.pixels.dtype == np.float32 and (img.height, img.width) == (17, 23)
    np.testing.assert_array_equal(img.to_uint8(), arr)
    media.save_image(img, tmp_path / "a.png")
    np.testing.assert_array_equal(media.load_image(tmp_path / "a.png").to_uint8(), arr)
    # another tool re-writing the PNG (other compression settings) keeps the pixel values
    with PILImage.open(tmp_path / "a.png") as pil:
        pil.save(tmp_path / "b.png", optimize=True, compress_level=9)
    np.testing.assert_array_equal(media.load_image(tmp_path / "b.png").to_uint8(), arr)


@pytest.mark.parametrize("suffix", [".ppm", ".pnm", ".tga", ".webp", ".tiff"])
def test_lossless_formats_converters_write_are_read_exactly(tmp_path, suffix):
    arr = RNG.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    PILImage.fromarray(arr).save(tmp_path / f"a{suffix}", **({"lossless": True} if suffix == ".webp" else {}))
    np.testing.assert_array_equal(media.load(tmp_path / f"a{suffix}").to_uint8(), arr)


def test_other_png_modes_load_as_rgb(tmp_path):
    gray = RNG.integers(0, 256, (8, 9), dtype=np.uint8)
    PILImage.fromarray(gray).save(tmp_path / "gray.png")
    np.testing.assert_array_equal(media.load_image(tmp_path / "gray.png").to_uint8(), np.dstack([gray] * 3))

    rgba = RNG.integers(0, 256, (8, 9, 4), dtype=np.uint8)
    PILImage.fromarray(rgba).save(tmp_path / "rgba.png")
    with pytest.warns(UserWarning, match="transparent pixels"):  # random alpha: said, as the next test checks
        np.testing.assert_array_equal(media.load_image(tmp_path / "rgba.png").to_uint8(), rgba[..., :3])

    deep = RNG.integers(0, 65536, (8, 9), dtype=np.uint16)
    PILImage.fromarray(deep).save(tmp_path / "deep.png")  # 16-bit grayscale PNG
    px = media.load_image(tmp_path / "deep.png").pixels
    assert px.shape == (8, 9, 3)
    np.testing.assert_allclose(px[..., 0], deep / 65535.0, atol=1e-6)


def test_transparency_dropped_on_reading_is_said_but_an_opaque_alpha_channel_is_silent(tmp_path):
    rgba = RNG.integers(0, 256, (8, 9, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    PILImage.fromarray(rgba).save(tmp_path / "opaque.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(media.load_image(tmp_path / "opaque.png").to_uint8(), rgba[..., :3])
    rgba[2, 3, 3] = 0
    PILImage.fromarray(rgba).save(tmp_path / "hole.png")
    with pytest.warns(UserWarning, match="hole.png has transparent pixels: .* transparency dropped"):
        np.testing.assert_array_equal(media.load_image(tmp_path / "hole.png").to_uint8(), rgba[..., :3])


def test_jpeg_is_approximate(tmp_path):
    img = Image(smooth_frames(1, 48, 64)[0])
    media.save_image(img, tmp_path / "a.jpg")
    assert psnr(media.load_image(tmp_path / "a.jpg").pixels, img.pixels) > 35


def test_image_rejects_wrong_arrays():
    assert Image(np.zeros((4, 5), np.float32)).pixels.shape == (4, 5, 3)
    with pytest.raises(ValueError):
        Image(np.zeros((4, 5, 3), np.uint8))  # 8-bit must go through from_uint8
    with pytest.raises(ValueError):
        Image(np.zeros((4, 5, 4), np.float32))


# ---------------------------------------------------------------- audio


def test_wav_16bit_round_trip_is_exact(tmp_path):
    pcm = RNG.integers(-32768, 32768, (2, 3001), dtype=np.int16)
    audio = Audio.from_int16(pcm, 22050)
    assert (audio.channels, audio.frames, audio.sample_rate) == (2, 3001, 22050)
    np.testing.assert_array_equal(audio.to_int16(), pcm)
    for name in ("a.wav", "a.flac", "a.aiff"):
        media.save_audio(audio, tmp_path / name)
        back = media.load_audio(tmp_path / name)
        np.testing.assert_array_equal(back.to_int16(), pcm)
        np.testing.assert_array_equal(back.samples, audio.samples)
    assert sf.info(str(tmp_path / "a.wav")).subtype == "PCM_16"


def test_float_wav_round_trip_is_exact(tmp_path):
    audio = Audio(RNG.uniform(-1, 1, 2000).astype(np.float32), 16000)
    assert audio.samples.shape == (1, 2000)  # 1-D means mono
    media.save_audio(audio, tmp_path / "f.wav", subtype="FLOAT")
    assert sf.info(str(tmp_path / "f.wav")).subtype == "FLOAT"
    np.testing.assert_array_equal(media.load_audio(tmp_path / "f.wav").samples, audio.samples)


def test_stereo_files_load_channels_first(tmp_path):
    left, right = sine(440, 0.1, 8000), np.zeros(800, np.float32)
    sf.write(str(tmp_path / "s.wav"), np.stack([left, right], axis=1), 8000, subtype="FLOAT")  # T x C on disk
    audio = media.load_audio(tmp_path / "s.wav")
    assert audio.samples.shape == (2, 800) and audio.duration == pytest.approx(0.1)
    np.testing.assert_array_equal(audio.samples[0], left)
    np.testing.assert_array_equal(audio.samples[1], right)
    mono = audio.mono()
    assert mono.channels == 1
    np.testing.assert_allclose(mono.samples[0], left / 2, atol=1e-7)
    both = media.load_audio(tmp_path / "s.wav", sample_rate=16000, mono=True)
    assert (both.channels, both.sample_rate, both.frames) == (1, 16000, 1600)


def test_resample_keeps_frequency_and_sets_length():
    audio = Audio(np.stack([sine(440, 1.0, 44100), sine(1000, 1.0, 44100)]), 44100)
    out = audio.resample(16000)
    assert out.sample_rate == 16000 and out.samples.shape == (2, 16000)
    assert peak_hz(out.samples[0], 16000) == pytest.approx(440, abs=1.5)
    assert peak_hz(out.samples[1], 16000) == pytest.approx(1000, abs=1.5)
    assert audio.resample(44100) is audio


def test_conformed_audio_warns_about_each_change_it_makes():
    stereo = Audio(np.stack([sine(440, 0.1, 44100), np.zeros(4410, np.float32)]), 44100)
    with pytest.warns(UserWarning, match="^X keeps it mixed from 2 channels to mono and resampled from 44100 Hz to "
                                         "16000 Hz$"):
        out = media.audio.conformed(stereo, 16000, "X keeps it")
    assert (out.channels, out.sample_rate, out.frames) == (1, 16000, 1600)
    with pytest.warns(UserWarning, match="^X keeps it mixed from 2 channels to mono$"):
        assert media.audio.conformed(stereo, None, "X keeps it").sample_rate == 44100
    mono = stereo.mono()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert media.audio.conformed(mono, 44100, "X keeps it") is mono


@pytest.mark.parametrize("suffix, codec", [(".mp3", "libmp3lame"), (".m4a", "aac")])
def test_compressed_audio_decodes_through_bundled_ffmpeg(tmp_path, suffix, codec):
    media.save_audio(Audio(sine(440, 1.0, 44100), 44100), tmp_path / "src.wav")
    out = tmp_path / f"song{suffix}"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "src.wav"),
                    "-c:a", codec, "-b:a", "128k", str(out)], check=True)  # fmt: skip
    audio = media.load(out)
    assert isinstance(audio, Audio) and audio.sample_rate == 44100
    assert audio.duration == pytest.approx(1.0, abs=0.1)
    assert peak_hz(audio.samples[0], 44100) == pytest.approx(440, abs=2)


@pytest.mark.parametrize("suffix, codec, rate", [(".webm", "libopus", 48000), (".mp4", "aac", 44100),
                                                 (".3gp", "aac", 44100), (".caf", "pcm_s16le", 44100)])
def test_sound_in_a_container_for_pictures_too_loads_as_audio(tmp_path, assets, suffix, codec, rate):
    """A voice note as .webm or .3gp, an audio-only .mp4: sound and no pictures is audio; .caf is Apple's."""
    media.save_audio(Audio(sine(440, 1.0, 44100), 44100), tmp_path / "src.wav")
    out = tmp_path / f"note{suffix}"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "src.wav"),
                    "-c:a", codec, str(out)], check=True)  # fmt: skip
    audio = media.load(out)
    assert isinstance(audio, Audio) and audio.sample_rate == rate
    assert peak_hz(audio.samples[0], rate) == pytest.approx(440, abs=2)
    assert isinstance(media.load(assets / "clip.mp4"), Video)


@pytest.mark.parametrize("suffix, rate, read_rate", [(".mp3", 16000, 16000), (".ogg", 22050, 22050),
                                                     (".opus", 22050, 48000)])
def test_listening_formats_are_written(tmp_path, suffix, rate, read_rate):
    """MP3, Vorbis and Opus for listening to a revealed secret (Opus lifts 22.05 kHz to a rate it takes)."""
    out = tmp_path / f"speech{suffix}"
    media.save_audio(Audio(sine(440, 1.0, rate), rate), out)
    back = media.load(out)
    assert isinstance(back, Audio) and back.sample_rate == read_rate
    assert back.duration == pytest.approx(1.0, abs=0.1)
    assert peak_hz(back.samples[0], read_rate) == pytest.approx(440, abs=2)
    with pytest.raises(MediaError, match="lossy"):
        media.save_audio(Audio(sine(440, 0.1, rate), rate), tmp_path / f"f{suffix}", subtype="FLOAT")
    assert not (tmp_path / f"f{suffix}").exists()


def test_check_writable_refuses_read_only_media_formats(tmp_path):
    for name in ("a.m4a", "a.wma", "v.avi", "v.webm", "m.gltf"):
        with pytest.raises(MediaError, match="cannot write"):
            media.check_writable(tmp_path / name)
    for name in ("a.mp3", "a.wav", "i.png", "v.mp4", "m.ply", "s.safetensors", "secret.txt", "folder"):
        media.check_writable(tmp_path / name)


# ---------------------------------------------------------------- video


def test_mp4_round_trip(tmp_path):
    frames = smooth_frames(10, 48, 64)
    media.save_video(Video(frames, fps=12.5), tmp_path / "v.mp4")
    back = media.load_video(tmp_path / "v.mp4")
    assert back.frames.shape == (10, 48, 64, 3) and back.fps == pytest.approx(12.5) and back.audio is None
    assert psnr(back.frames, frames) > 30
    assert media.load_video(tmp_path / "v.mp4", max_frames=4).num_frames == 4
    odd = smooth_frames(3, 33, 47)  # yuv420p needs even sizes: padded by one edge pixel
    with pytest.warns(UserWarning, match="padded by one edge pixel"):
        media.save_video(Video(odd, fps=25), tmp_path / "odd.mp4")
    padded = media.load_video(tmp_path / "odd.mp4").frames
    assert padded.shape == (3, 34, 48, 3) and psnr(padded[:, :33, :47], odd) > 30


def test_a_video_too_large_for_memory_is_refused_while_it_is_read(tmp_path, monkeypatch):
    """A clip whose float frames would pass media.video.MAX_BYTES (a phone's 1080p at 60 fps passes it in under
    2 s) is refused with its size and a way to shrink it, before it is read to the end: mp4, npz and folders."""
    from crossteg.media import video as video_module

    frames = smooth_frames(10, 16, 24)
    media.save_video(Video(frames, fps=10), tmp_path / "v.mp4")
    media.save_video(Video(frames, fps=10), tmp_path / "v.npz")
    (tmp_path / "frames").mkdir()
    for i, frame in enumerate(frames):
        media.save_image(Image(frame), tmp_path / "frames" / f"{i:02d}.png")
    monkeypatch.setattr(video_module, "MAX_BYTES", 4 * 16 * 24 * 3 * 4)  # room for 4 frames
    for name in ("v.mp4", "v.npz", "frames"):
        with pytest.raises(MediaError, match=rf"{name} is too large to read: 10 frames of 24x16 need .* GB in memory "
                                             r"\(at most .* GB\).*hide a shorter, smaller clip"):
            media.load(tmp_path / name)
    assert media.load_video(tmp_path / "v.mp4", max_frames=4).num_frames == 4  # what fits is read


def _lavfi_mp4(path, source: str, *extra: str) -> None:
    """A test video made by the bundled ffmpeg from one of its own sources."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", source, *extra,
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)


def test_a_variable_rate_video_keeps_its_frames_and_length(tmp_path):
    """A phone's variable-rate video: each stored frame once, at the average rate (read at a constant rate it
    came back with repeated frames, 41 for 30, and 1.91 s for 1.33 s)."""
    _lavfi_mp4(tmp_path / "vfr.mp4", "testsrc2=size=32x32:rate=30:duration=1,setpts='if(lt(N,10),N*2/30/TB,"
               "(N+10)/30/TB)'", "-fps_mode", "vfr")
    video = media.load_video(tmp_path / "vfr.mp4")
    assert video.num_frames == 30 and video.duration == pytest.approx(1.33, abs=0.1)


def test_a_video_cut_short_warns_and_gives_what_it_has(tmp_path):
    _lavfi_mp4(tmp_path / "full.mp4", "testsrc2=size=64x64:rate=10:duration=2", "-movflags", "+faststart")
    data = (tmp_path / "full.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match=r"cut.mp4 announces 20 frames but only \d+ could be read"):
        assert 0 < media.load_video(tmp_path / "cut.mp4").num_frames < 20


def test_mp4_with_sound_track(tmp_path):
    sound = Audio(np.stack([sine(440, 1.2, 16000), sine(660, 1.2, 16000)]), 16000)
    video = Video(smooth_frames(25, 32, 32), fps=25, audio=sound)  # 1.0 s of pictures, 1.2 s of sound
    media.save(video, tmp_path / "talk.mp4")
    back = media.load(tmp_path / "talk.mp4")
    assert isinstance(back, Video) and back.audio is not None and back.num_frames == 25
    assert back.audio.channels == 2 and back.audio.duration == pytest.approx(1.0, abs=0.1)
    assert peak_hz(back.audio.samples[0], back.audio.sample_rate) == pytest.approx(440, abs=3)
    assert media.load_audio(tmp_path / "talk.mp4").duration == pytest.approx(1.0, abs=0.1)


def test_gif_folder_and_npz(tmp_path):
    frames = smooth_frames(4, 16, 20)
    media.save_video(Video(frames, fps=10), tmp_path / "v.gif")
    gif = media.load(tmp_path / "v.gif")
    assert gif.frames.shape == (4, 16, 20, 3) and gif.fps == pytest.approx(10)
    assert psnr(gif.frames, frames) > 20

    PILImage.fromarray(Image(frames[0]).to_uint8()).save(tmp_path / "still.gif")  # one frame: a picture
    assert media.modality_of(tmp_path / "still.gif") == "image" and media.modality_of(tmp_path / "v.gif") == "video"
    still = media.load(tmp_path / "still.gif")
    assert isinstance(still, Image) and still.pixels.shape == (16, 20, 3) and psnr(still.pixels, frames[0]) > 20

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames):
        media.save_image(Image(frame), folder / f"frame_{i:03d}.png")
    clip = media.load(folder)
    assert isinstance(clip, Video) and clip.fps == 25.0
    assert clip.frames.shape == (4, 16, 20, 3)
    np.testing.assert_array_equal(clip.to_uint8(), Video(frames, fps=1).to_uint8())

    sound = Audio.from_int16(np.arange(100, dtype=np.int16), 8000)
    video = Video(np.round(frames * 255) / 255, fps=7.5, audio=sound)
    media.save(video, tmp_path / "v.npz")
    back = media.load(tmp_path / "v.npz")
    np.testing.assert_array_equal(back.frames, video.frames)
    assert back.fps == 7.5 and back.audio is not None
    np.testing.assert_array_equal(back.audio.samples, video.audio.samples)


# ---------------------------------------------------------------- shapes


def test_shape_files_round_trip(tmp_path):
    shape = sphere()
    media.save_shape(shape, tmp_path / "s.ply")
    back = media.load_shape(tmp_path / "s.ply")
    np.testing.assert_array_equal(back.vertices, shape.vertices)
    np.testing.assert_array_equal(back.faces, shape.faces)
    media.save_shape(shape, tmp_path / "s.obj")
    back = media.load(tmp_path / "s.obj")
    np.testing.assert_allclose(back.vertices, shape.vertices, atol=1e-6)
    np.testing.assert_array_equal(back.faces, shape.faces)
    for suffix in (".glb", ".stl", ".off"):  # what Blender and mesh tools export; STL's soup is merged back
        media.save(shape, tmp_path / f"s{suffix}")
        back = media.load(tmp_path / f"s{suffix}")
        assert isinstance(back, Shape) and back.faces.shape == shape.faces.shape
        assert abs(back.to_trimesh().volume - shape.to_trimesh().volume) < 1e-4


def test_sdf_is_negative_inside():
    shape = sphere()
    points = np.array([[0, 0, 0], [0.2, 0.1, 0], [0.6, 0, 0], [0, -1, 0.3]], np.float32)
    d = shape.sdf(points)
    assert d[0] < 0 and d[1] < 0 and d[2] > 0 and d[3] > 0
    np.testing.assert_allclose(d, np.linalg.norm(points, axis=1) - 0.5, atol=0.01)  # faceted sphere
    inside_out = Shape(shape.vertices, shape.faces[:, ::-1])
    np.testing.assert_allclose(inside_out.sdf(points), d, atol=1e-6)
    flat = Shape(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0.5]], np.float32), np.array([[0, 1, 2]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no numpy warning on the way
        with pytest.raises(MediaError, match="encloses no volume"):
            flat.sdf(points)


def test_mesh_from_sdf_recovers_a_sphere():
    g = np.linspace(-1, 1, 40)
    grid = np.linalg.norm(np.stack(np.meshgrid(g, g, g, indexing="ij"), -1), axis=-1) - 0.6
    mesh = media.mesh_from_sdf(grid)
    np.testing.assert_allclose(np.linalg.norm(mesh.vertices, axis=1), 0.6, atol=0.01)
    assert mesh.to_trimesh().volume > 0  # outward-facing triangles
    with pytest.raises(MediaError):
        media.mesh_from_sdf(np.ones((4, 4, 4)))


def test_normalize_and_sample():
    shape = Shape(sphere().vertices * 3 + np.float32(5), sphere().faces)
    norm = shape.normalized()
    assert np.abs(norm.vertices).max() == pytest.approx(0.9, abs=1e-5)
    points, normals = norm.sample_surface(500, seed=3)
    assert points.shape == normals.shape == (500, 3)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(points, norm.sample_surface(500, seed=3)[0])


# ---------------------------------------------------------------- load / save dispatch


def test_modality_of(tmp_path):
    assert [media.modality_of(f"x{s}") for s in (".PNG", ".wav", ".mp4", ".obj")] == [
        "image", "audio", "video", "shape"]  # fmt: skip
    assert media.modality_of(tmp_path) == "video"
    with pytest.raises(MediaError):
        media.modality_of("notes.txt")


def test_load_refuses_missing_wrong_and_corrupt_files(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        media.load(tmp_path / "nothing.png")
    media.save_audio(Audio(sine(440, 0.1, 8000), 8000), tmp_path / "a.wav")
    with pytest.raises(MediaError, match="is audio, expected image"):
        media.load(tmp_path / "a.wav", modality="image")
    for name in ("bad.png", "bad.wav", "bad.mp4", "bad.ply", "bad.npz", "bad.mp3"):
        (tmp_path / name).write_bytes(b"this is not a media file" * 10)
        with pytest.raises(MediaError):
            media.load(tmp_path / name)


def test_load_refuses_nan_samples_and_vertices(tmp_path):
    samples = sine(440, 0.1, 8000)
    samples[[10, 500]] = [np.nan, np.inf]
    sf.write(tmp_path / "nan.wav", samples, 8000, subtype="FLOAT")
    with pytest.raises(MediaError, match="2 of its samples are NaN or infinite"):
        media.load(tmp_path / "nan.wav")
    (tmp_path / "nan.obj").write_text("v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n")
    with pytest.raises(MediaError, match="NaN or infinite"):
        media.load(tmp_path / "nan.obj")
    (tmp_path / "ok.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    assert media.load(tmp_path / "ok.obj").faces.shape == (1, 3)


def test_save_refuses_to_overwrite(tmp_path):
    img = Image.from_uint8(RNG.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    out = media.save(img, tmp_path / "a.png")
    with pytest.raises(UsageError, match="exists"):
        media.save(img, out)
    with pytest.raises(UsageError, match="input"):
        media.save(img, out, force=True, inputs=[tmp_path / "." / "a.png"])
    assert media.save(img, out, force=True) == out


def test_an_output_its_folder_cannot_take_is_refused_before_the_work(tmp_path):
    """check_output (run before a hide or reveal) refuses a path under a file; writing names the path, not the
    temporary file beside it; folders still missing are made."""
    from crossteg.media.files import atomic_write_bytes, check_output

    (tmp_path / "afile").write_bytes(b"x")
    with pytest.raises(UsageError, match=r"cannot write .*afile/deeper/s.png: .*afile is a file, not a folder"):
        check_output(tmp_path / "afile" / "deeper" / "s.png")
    with pytest.raises(UsageError, match=r"^cannot write .*afile/s.png: ") as caught:
        atomic_write_bytes(tmp_path / "afile" / "s.png", b"data")
    assert ".tmp" not in str(caught.value)
    assert check_output(tmp_path / "new" / "s.png") == tmp_path / "new" / "s.png"
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(UsageError, match="is a directory"):  # not "already exists (use --force ...)"
        check_output(tmp_path / "folder.png")
    (tmp_path / "folder.png").rmdir()
    media.save(Image(np.zeros((4, 4, 3), np.float32)), tmp_path / "new" / "s.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "new"]


def test_16_bit_pngs_read_exactly_whichever_way_an_8_bit_image_was_widened(tmp_path):
    """Pillow rounds 16-bit RGB to 8 bits; the bundled ffmpeg reads them whole. An 8-bit image widened as
    ImageMagick/GIMP do (v * 257) or as ffmpeg does (v * 256, dithered: -37..+31 measured) comes back as its
    exact 8-bit values (an lsb stego reveals); a true 16-bit image keeps its precision; greyscale too."""
    from crossteg.media import _ffmpeg

    eight = RNG.integers(0, 256, (12, 10, 3))

    def png48(values: np.ndarray, name: str) -> Path:
        h, w = values.shape[:2]
        status, error = _ffmpeg.run(["-f", "rawvideo", "-pix_fmt", "rgb48le", "-s", f"{w}x{h}", "-i", "-",
                                     "-pix_fmt", "rgb48be", str(tmp_path / name)], values.astype("<u2").tobytes())
        assert status == 0, error
        return tmp_path / name

    dither = RNG.integers(-37, 32, eight.shape)
    for name, widened in (("im.png", eight * 257), ("ff.png", np.clip(eight * 256 + dither, 0, 65535))):
        np.testing.assert_array_equal(media.load_image(png48(widened, name)).to_uint8(), eight)
    deep = RNG.integers(0, 65536, (12, 10, 3))
    np.testing.assert_allclose(media.load_image(png48(deep, "deep.png")).pixels, deep / 65535, atol=1e-7)
    PILImage.fromarray((eight[..., 0] * 256).astype(np.uint16)).save(tmp_path / "grey.png")
    np.testing.assert_array_equal(media.load_image(tmp_path / "grey.png").to_uint8()[..., 0], eight[..., 0])


def test_an_empty_file_is_named_empty_whatever_its_kind(tmp_path):
    for name in ("a.png", "a.wav", "a.mp4", "a.obj"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(MediaError, match=r"a\.\w+ is empty \(0 bytes\)$"):
            media.load(tmp_path / name)


def test_a_gltf_with_its_data_beside_it_is_not_hidden_as_bytes(tmp_path):
    """A .gltf naming .bin buffers would come back without them; one with embedded buffers goes as it is."""
    from crossteg.media.payload import Payload

    (tmp_path / "apart.gltf").write_text('{"buffers": [{"uri": "mesh.bin", "byteLength": 8}]}')
    (tmp_path / "whole.gltf").write_text('{"buffers": [{"uri": "data:application/octet-stream;base64,AAAA"}]}')
    with pytest.raises(MediaError, match=r"apart.gltf keeps its data in other files \(mesh.bin\).*\.glb"):
        Payload.from_file(tmp_path / "apart.gltf")
    assert Payload.from_file(tmp_path / "whole.gltf").data == (tmp_path / "whole.gltf").read_bytes()


def test_failed_save_leaves_nothing_behind(tmp_path, monkeypatch):
    img = Image(np.zeros((4, 4, 3), np.float32))
    for name in ("a.wav", "a.xyz", "a.gif"):  # image as sound, unknown, image as video
        with pytest.raises(MediaError):
            media.save(img, tmp_path / name)
    with pytest.raises(MediaError):
        media.save_audio(Audio(np.zeros(10, np.float32), 8000), tmp_path / "a.flac", subtype="FLOAT")

    def broken_pillow(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"partial")
        raise OSError("disk full")

    def broken_ffmpeg(args, data=None):
        Path(args[-1]).write_bytes(b"partial")
        return 1, "boom"

    monkeypatch.setattr(PILImage.Image, "save", broken_pillow)
    with pytest.raises(MediaError, match="disk full"):
        media.save(img, tmp_path / "b.png")
    monkeypatch.setattr(_ffmpeg, "run", broken_ffmpeg)
    with pytest.raises(MediaError, match="boom"):
        media.save(Video(np.zeros((2, 4, 4, 3), np.float32), fps=5), tmp_path / "c.mp4")
    assert list(tmp_path.iterdir()) == []


def test_frames_are_streamed_to_the_encoder_and_a_failing_producer_leaves_nothing(tmp_path, monkeypatch):
    frames, produced, seen = smooth_frames(12, 33, 47), [], []
    real_run = _ffmpeg.run

    def spy(args, data=None):  # what the encoder was given when each frame was produced
        if data is None:  # reading the file back
            return real_run(args)

        def chunks():
            for chunk in data:
                seen.append(len(produced))
                yield chunk
        return real_run(args, chunks())

    def producer(fail_at=None):
        for k, frame in enumerate(frames):
            if k == fail_at:
                raise ValueError("renderer broke")
            produced.append(k)
            yield media.video.frame_uint8(frame)

    monkeypatch.setattr(_ffmpeg, "run", spy)
    with pytest.warns(UserWarning, match="47x33 frames are padded"):
        media.video.save_frames(producer(), 12, 25.0, tmp_path / "v.mp4")
    assert seen == list(range(1, 13))  # frame k went to ffmpeg before frame k + 1 was rendered
    back = media.load_video(tmp_path / "v.mp4")
    assert back.frames.shape == (12, 34, 48, 3) and psnr(back.frames[:, :33, :47], frames) > 30
    with pytest.raises(ValueError, match="renderer broke"), pytest.warns(UserWarning, match="padded"):
        media.video.save_frames(producer(fail_at=5), 12, 25.0, tmp_path / "w.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]  # no w.mp4, no temporary file


# ---------------------------------------------------------------- encode / decode


def test_encode_decode_round_trips():
    img = Image.from_uint8(RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8))
    pcm = Audio.from_int16(RNG.integers(-32768, 32768, (2, 500), dtype=np.int16), 16000)
    floaty = Audio(RNG.uniform(-1, 1, 500).astype(np.float32), 16000)
    video = Video(np.round(smooth_frames(3, 8, 10) * 255) / 255, fps=24, audio=floaty)
    assert pcm.is_16bit and not floaty.is_16bit
    cases = [(img, ".png"), (pcm, ".flac"), (floaty, ".wav"), (video, ".npz"), (sphere(), ".ply")]
    for obj, suffix in cases:
        data, got = media.encode(obj)
        assert got == suffix and isinstance(data, bytes)
        back = media.decode(data, got)
        assert type(back) is type(obj)
        for field in ("pixels", "samples", "frames", "vertices", "faces"):
            if hasattr(obj, field):
                np.testing.assert_array_equal(getattr(back, field), getattr(obj, field))
    assert media.decode(*media.encode(video)).audio.samples.tobytes() == floaty.samples.tobytes()
    with pytest.raises(MediaError, match="decode"):
        media.decode(b"garbage", ".png")


def test_fit_length_cuts_or_zero_pads_the_time_axis():
    from crossteg.media.audio import fit_length

    mono, stereo = np.arange(1, 6, dtype=np.float32), np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(fit_length(mono, 3), [1, 2, 3])
    np.testing.assert_array_equal(fit_length(mono, 7), [1, 2, 3, 4, 5, 0, 0])
    np.testing.assert_array_equal(fit_length(stereo, 5), [[1, 1, 1, 0, 0]] * 2)
    assert fit_length(mono, 0).shape == (0,) and fit_length(mono[:0], 2).tolist() == [0, 0]
