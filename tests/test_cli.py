"""The `crossteg` command as a user runs it: a real subprocess, real files, SPEC exit codes."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from PIL import Image as PILImage

from conftest import run_cli
from crossteg import media


def assert_clean_failure(result, code: int, *outputs) -> None:
    """One line on stderr, the SPEC exit code, no traceback, and nothing written."""
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr
    for path in outputs:
        assert not path.exists()
        assert not list(path.parent.glob(f".{path.stem}.*")), "temporary file left behind"


def test_help_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("methods", "hide", "reveal", "eval", "demo"):
        assert command in result.stdout


def test_methods_json_lists_lsb():
    result = run_cli("methods", "--json")
    assert result.returncode == 0
    lsb = next(m for m in json.loads(result.stdout) if m["id"] == "lsb")
    assert lsb["cover"] == ["image", "audio"] and set(lsb["secret"]) == {"image", "audio", "video", "shape"}
    assert lsb["stego_ext"] == [".png", ".wav"] and lsb["weights"] is True


@pytest.mark.parametrize("cover,secret", [("face.png", "mesh.ply"), ("speech_long.wav", "face160.png")])
def test_round_trip_is_bit_exact_through_files(tmp_path, assets, cover, secret):
    secret_file = tmp_path / secret
    if cover == "speech_long.wav":  # 10.7 s of 16 kHz audio holds 21 kB: hide a prefix of the file as raw bytes
        secret_file.write_bytes((assets / secret).read_bytes()[:20000])
    else:
        shutil.copy(assets / secret, secret_file)
    stego = tmp_path / ("stego.png" if cover.endswith(".png") else "stego.wav")
    hidden = run_cli("hide", "lsb", "--cover", assets / cover, "--secret", secret_file, "-o", stego, "--key", "pw")
    assert hidden.returncode == 0, hidden.stderr
    if stego.suffix == ".png":  # another tool re-writes the PNG: pixel values are what counts
        with PILImage.open(stego) as img:
            img.save(stego, optimize=True)
    out = tmp_path / f"revealed{secret_file.suffix}"
    revealed = run_cli("reveal", "lsb", stego, "-o", out, "--key", "pw", "--json")
    assert revealed.returncode == 0, revealed.stderr
    assert json.loads(revealed.stdout)["secrets"] == [str(out)]
    assert out.read_bytes() == secret_file.read_bytes()


def test_key_file_works_and_wrong_key_exits_4(tmp_path, assets):
    key_file = tmp_path / "key.bin"
    key_file.write_bytes(b"\x01\x02 binary key")
    secret = tmp_path / "note.txt"
    secret.write_text("meet at noon")
    stego = tmp_path / "stego.png"
    hidden = run_cli("hide", "lsb", "-c", assets / "face.png", "-s", secret, "-o", stego, "--key-file", key_file)
    assert hidden.returncode == 0
    share = re.search(r"\(([0-9.e-]+)% of ", hidden.stdout)  # a tiny secret's share is not rounded to "0%"
    assert share and 0 < float(share.group(1)) < 1, hidden.stdout
    out = tmp_path / "out.txt"
    assert_clean_failure(run_cli("reveal", "lsb", stego, "-o", out, "--key", "guess"), 4, out)
    assert run_cli("reveal", "lsb", stego, "-o", out, "--key-file", key_file).returncode == 0
    assert out.read_text() == "meet at noon"


def test_a_stego_png_that_went_through_other_tools(tmp_path, assets):
    """An EXIF orientation added without turning the pixels still reveals; a JPEG copy is named as the likely
    cause, before the error that says a converted copy is one."""
    secret = tmp_path / "note.txt"
    secret.write_text("meet at noon")
    stego = tmp_path / "stego.png"
    assert run_cli("hide", "lsb", "-c", assets / "face.png", "-s", secret, "-o", stego, "-k", "pw").returncode == 0
    with PILImage.open(stego) as img:
        exif = img.getexif()
        exif[0x0112] = 6  # "rotate 90 degrees to display", the pixels left as they are
        img.save(tmp_path / "tagged.png", exif=exif)
        img.save(tmp_path / "copy.png", format="JPEG", quality=100)  # a JPEG, whatever its name says
    out = tmp_path / "out.txt"
    assert run_cli("reveal", "lsb", tmp_path / "tagged.png", "-o", out, "-k", "pw").returncode == 0
    assert out.read_text() == "meet at noon"
    jpeg = run_cli("reveal", "lsb", tmp_path / "copy.png", "-o", tmp_path / "x.txt", "-k", "pw")
    assert jpeg.returncode == 4 and "Traceback" not in jpeg.stderr
    warning, error = [line for line in jpeg.stderr.splitlines() if line.strip()]
    assert warning.startswith("warning: copy.png is a JPEG: lsb hides in the exact pixels of the PNG it writes")
    assert error.startswith("error: wrong key, or no lsb secret in this file, or a converted copy (lossy coding")
    assert not (tmp_path / "x.txt").exists()


def test_bad_inputs_fail_cleanly(tmp_path, assets):
    out = tmp_path / "stego.png"
    secret = tmp_path / "s.txt"
    secret.write_text("hello")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    cases = [
        (("-c", tmp_path / "missing.png", "-s", secret), 2),            # missing cover
        (("-c", assets / "face.png", "-s", tmp_path / "missing"), 2),   # missing secret
        (("-c", corrupt, "-s", secret), 2),                             # unreadable cover
        (("-c", assets / "mesh.ply", "-s", secret), 2),                 # wrong modality for lsb
        (("-c", assets / "face160.png", "-s", assets / "speech_long.wav"), 3),  # over capacity
    ]
    for args, code in cases:
        assert_clean_failure(run_cli("hide", "lsb", *args, "-o", out), code, out)
    over = run_cli("hide", "lsb", "-c", assets / "face160.png", "-s", assets / "speech_long.wav", "-o", out)
    assert "holds at most" in over.stderr and "bytes" in over.stderr
    lossy = tmp_path / "stego.jpg"
    assert_clean_failure(run_cli("hide", "lsb", "-c", assets / "face.png", "-s", secret, "-o", lossy), 2, lossy)


def test_hide_fit_makes_a_too_large_secret_fit_and_says_how(tmp_path, assets):
    """A 384 px photo does not fit a 2.3 s cover under ditas: refused (exit 3, pointing at --fit, nothing written);
    with --fit it is downscaled, a warning says to what, and reveal returns a picture of that size."""
    stego, revealed = tmp_path / "s.wav", tmp_path / "r.png"
    refused = run_cli("hide", "ditas", "-c", assets / "speech_1.wav", "-s", assets / "face.png", "-o", stego)
    assert_clean_failure(refused, 3, stego)
    assert "downscale the image to" in refused.stderr and "(--fit makes it fit)" in refused.stderr
    fitted = run_cli("hide", "ditas", "-c", assets / "speech_1.wav", "-s", assets / "face.png", "-o", stego, "--fit")
    assert fitted.returncode == 0, fitted.stderr
    match = re.search(r"warning: face.png: secret downscaled from 384x384 to (\d+)x(\d+) to fit", fitted.stderr)
    assert match, fitted.stderr
    assert run_cli("reveal", "ditas", stego, "-o", revealed).returncode == 0
    assert media.load(revealed).pixels.shape == (int(match[2]), int(match[1]), 3)


def test_importing_crossteg_shortens_openmp_spinning_unless_the_user_chose(tmp_path):
    """GOMP_SPINCOUNT (crossteg/__init__.py: torch's OpenMP barriers on a busy machine) is set before torch loads,
    and a value already in the environment is kept."""
    code = "import os, crossteg, torch; print(os.environ['GOMP_SPINCOUNT'])"
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout == "1000\n"
    mine = subprocess.run([sys.executable, "-c", code], env=env | {"GOMP_SPINCOUNT": "5"}, capture_output=True,
                          text=True)
    assert mine.stdout == "5\n"


def test_outputs_are_never_clobbered(tmp_path, assets):
    cover = tmp_path / "cover.png"
    shutil.copy(assets / "face160.png", cover)
    before = cover.read_bytes()
    secret = tmp_path / "s.txt"
    secret.write_text("hello")
    same = run_cli("hide", "lsb", "-c", cover, "-s", secret, "-o", cover, "--force")
    assert same.returncode == 2 and "input" in same.stderr and cover.read_bytes() == before
    stego = tmp_path / "stego.png"
    stego.write_bytes(b"precious")
    exists = run_cli("hide", "lsb", "-c", cover, "-s", secret, "-o", stego)
    assert exists.returncode == 2 and "--force" in exists.stderr and stego.read_bytes() == b"precious"
    assert run_cli("hide", "lsb", "-c", cover, "-s", secret, "-o", stego, "--force").returncode == 0
    assert stego.read_bytes() != b"precious"


def test_eval_writes_results_json(tmp_path):
    report_path = tmp_path / "eval.json"
    result = run_cli("--quiet", "eval", "lsb", "--attacks", "all", "-o", report_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["method"] == "lsb" and {"benchmark", "date", "machine", "command"} <= set(report)
    exact = [r for r in report["rows"] if r["metric"] == "secret_exact" and r["ours"] is not None]
    assert exact and all(r["ours"] == 1.0 for r in exact)
    assert any("after png-resave" in r["setting"] for r in exact)
    assert all(r["ours"] == 1.0 for r in report["rows"] if r["metric"] == "wrong_key_rejected")


def test_demo_writes_report_with_pictures(tmp_path):
    result = run_cli("--quiet", "demo", "-o", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "demo" / "report.md").read_text()
    for name in ("container.png", "speech.png", "stego.png", "revealed.wav", "talk.mp4", "talk.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 1000
    assert "![container](container.png)" in report and "secret_pesq" in report
    from crossteg import media

    talk, revealed = media.load(tmp_path / "demo" / "talk.mp4"), media.load(tmp_path / "demo" / "revealed.wav")
    assert abs(talk.duration - revealed.duration) < 0.1 and "![talking head frames](talk.png)" in report


def test_method_options_are_parsed_and_unknown_ones_refused(tmp_path, assets):
    from crossteg.errors import UsageError
    from crossteg.methods.base import get_method, parse_options

    assert parse_options(["steps=20", "qat=false", "allow-missing=yes"]) == {
        "steps": "20", "qat": "false", "allow_missing": "yes"}
    weights = get_method("inrweights", **parse_options(["steps=20", "qat=false", "beta=0.5", "scatter=1"]))
    assert (weights.steps, weights.qat, weights.beta, weights.scatter) == (20, False, 0.5, True)
    assert type(weights.steps) is int and type(weights.beta) is float
    assert get_method("thinimg", **parse_options(["level2_key=007"])).level2_key == "007"  # text stays text
    for bad, says in (("steps=2.5", "whole number"), ("steps=abc", "whole number"), ("beta=nan", "a number"),
                      ("qat=flase", "true or false")):
        with pytest.raises(UsageError, match=says):
            get_method("inrweights", **parse_options([bad]))
    secret = tmp_path / "s.txt"
    secret.write_text("hello")
    out = tmp_path / "stego.png"
    unknown = run_cli("hide", "lsb", "-c", assets / "face160.png", "-s", secret, "-o", out, "-O", "variant=M")
    assert_clean_failure(unknown, 2, out)
    assert "no option variant" in unknown.stderr
    malformed = run_cli("hide", "lsb", "-c", assets / "face160.png", "-s", secret, "-o", out, "-O", "variant")
    assert_clean_failure(malformed, 2, out)
    for twice, says in ((["--steps", "20", "-O", "steps=20"], "both given"), (["-O", "key=x"], "--key"),
                        (["-O", "float32=true"], "--float32")):
        clash = run_cli("hide", "inrweights", "-c", assets / "face160.png", "-s", secret, "-o", out, *twice)
        assert_clean_failure(clash, 2, out)
        assert says in clash.stderr
    assert run_cli("hide", "lsb", "-c", assets / "face160.png", "-s", secret, "-o", out).returncode == 0
    missing = run_cli("reveal", "lsb", out, "-o", tmp_path / "s2.txt", "--allow-missing")
    assert_clean_failure(missing, 2, tmp_path / "s2.txt")
    assert "no option allow_missing" in missing.stderr


def test_reveal_with_video_animates_the_container_face(tmp_path, assets):
    from crossteg import media

    stego, speech, talk = tmp_path / "stego.png", tmp_path / "speech.flac", tmp_path / "talk.mp4"
    clip = media.load(assets / "speech_1.wav")
    clip = media.Audio(clip.samples[:, : clip.sample_rate * 3 // 4], clip.sample_rate)  # 0.75 s: a short video
    flac = media.save(clip, tmp_path / "secret.flac")
    assert run_cli("hide", "lsb", "-c", assets / "face.png", "-s", flac, "-o", stego, "-k", "pw").returncode == 0
    done = run_cli("reveal", "lsb", stego, "-o", speech, "-k", "pw", "--video", talk, "--json")
    assert done.returncode == 0, done.stderr

    video, revealed = media.load(talk), media.load(speech)
    assert video.frames.shape[1:3] == media.load(stego).pixels.shape[:2] and video.fps == 25
    assert abs(video.num_frames / video.fps - revealed.duration) < 0.1
    text = tmp_path / "s.txt"
    text.write_text("not speech")
    assert run_cli("hide", "lsb", "-c", assets / "face.png", "-s", text, "-o", stego, "--force").returncode == 0
    none = run_cli("reveal", "lsb", stego, "-o", tmp_path / "s2.txt", "--video", tmp_path / "t2.mp4")
    assert_clean_failure(none, 2, tmp_path / "t2.mp4")


def test_reveal_writes_listening_formats_and_refuses_unwritable_ones_before_work(tmp_path, assets):
    from crossteg import media

    stego, flac = tmp_path / "stego.png", media.save(media.load(assets / "speech_1.wav"), tmp_path / "secret.flac")
    assert run_cli("hide", "lsb", "-c", assets / "face.png", "-s", flac, "-o", stego).returncode == 0
    done = run_cli("reveal", "lsb", stego, "-o", tmp_path / "speech.mp3")
    assert done.returncode == 0, done.stderr
    assert media.load(tmp_path / "speech.mp3").duration == pytest.approx(media.load(flac).duration, abs=0.1)
    m4a = run_cli("reveal", "lsb", stego, "-o", tmp_path / "speech.m4a")
    assert_clean_failure(m4a, 2, tmp_path / "speech.m4a")
    assert "cannot write audio as '.m4a'" in m4a.stderr
    avi = run_cli("reveal", "lsb", stego, "-o", tmp_path / "s.wav", "--video", tmp_path / "talk.avi")
    assert_clean_failure(avi, 2, tmp_path / "s.wav", tmp_path / "talk.avi")
    render = run_cli("reveal", "lsb", stego, "-o", tmp_path / "r.wav", "--render", tmp_path / "cover.png")
    assert_clean_failure(render, 2, tmp_path / "r.wav", tmp_path / "cover.png")  # refused before the secret is written
    assert "nothing to render" in render.stderr


def test_reveal_with_video_of_a_faceless_image_writes_nothing_unless_told_to_animate_the_centre(tmp_path, assets):
    from crossteg import media

    clip = media.load(assets / "speech_1.wav")
    flac = media.save(media.Audio(clip.samples[:, : clip.sample_rate // 2], clip.sample_rate), tmp_path / "s.flac")
    stego, speech, talk = tmp_path / "stego.png", tmp_path / "speech.wav", tmp_path / "talk.mp4"
    assert run_cli("hide", "lsb", "-c", assets / "photo.png", "-s", flac, "-o", stego).returncode == 0  # a coffee cup
    refused = run_cli("reveal", "lsb", stego, "-o", speech, "--video", talk)
    assert_clean_failure(refused, 2, speech, talk)
    assert "no face found" in refused.stderr and "--no-face-check" in refused.stderr
    done = run_cli("reveal", "lsb", stego, "-o", speech, "--video", talk, "--no-face-check")
    assert done.returncode == 0, done.stderr
    video = media.load(talk)
    assert video.fps == 25 and abs(video.num_frames / video.fps - media.load(speech).duration) < 0.1


def assert_secret_warnings(method_id: str, warned, match: str, quiet) -> None:
    """Loading `warned` as a secret of `method_id` warns (matching `match`); loading `quiet` says nothing."""
    import warnings

    from crossteg.methods import get_method
    from crossteg.pipeline import load_secret

    method = get_method(method_id)
    with pytest.warns(UserWarning, match=match):
        load_secret(method, warned)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_secret(method, quiet)


def test_a_video_secret_with_sound_is_told_its_sound_is_left_out(tmp_path):
    import numpy as np

    from crossteg import media
    from crossteg.media import Audio, Video

    sound = Audio(np.zeros((1, 8000), np.float32), 16_000)
    media.save(Video(np.full((4, 16, 16, 3), 0.5, np.float32), fps=8, audio=sound), tmp_path / "talk.mp4")
    media.save(Video(np.full((4, 16, 16, 3), 0.5, np.float32), fps=8), tmp_path / "mute.mp4")
    assert_secret_warnings("deepsteg-video", tmp_path / "talk.mp4",
                           "talk.mp4 has sound: deepsteg-video hides a video's pictures", tmp_path / "mute.mp4")


def test_a_hidden_file_goes_back_under_its_own_read_only_suffix(tmp_path, assets):
    """lsb keeps a file's bytes: a voice note (.m4a, a format crossteg reads but does not write) comes back as
    itself; converting it to a format crossteg cannot write is refused before anything is written."""
    note = tmp_path / "note.m4a"
    note.write_bytes(bytes(range(256)) * 8)  # kept as bytes: never decoded
    stego = tmp_path / "stego.png"
    assert run_cli("hide", "lsb", "-c", assets / "face.png", "-s", note, "-o", stego).returncode == 0
    back = run_cli("reveal", "lsb", stego, "-o", tmp_path / "back.m4a")
    assert back.returncode == 0, back.stderr
    assert (tmp_path / "back.m4a").read_bytes() == note.read_bytes()
    assert_clean_failure(run_cli("reveal", "lsb", stego, "-o", tmp_path / "back.aac"), 2, tmp_path / "back.aac")


def test_an_open_surface_secret_is_told_it_comes_back_closed(tmp_path):
    import trimesh

    from crossteg import media

    ball = trimesh.creation.icosphere(subdivisions=2)
    ball.export(tmp_path / "ball.ply")
    dome = ball.copy()
    dome.update_faces(dome.triangles_center[:, 2] > 0)  # the upper half: a bowl with a rim
    dome.export(tmp_path / "dome.ply")
    assert media.load(tmp_path / "ball.ply").is_closed and not media.load(tmp_path / "dome.ply").is_closed
    assert_secret_warnings("inrweights", tmp_path / "dome.ply", "dome.ply is an open surface .* what comes back "
                           "is closed", tmp_path / "ball.ply")


def test_a_reveal_into_a_kind_the_method_does_not_reveal_is_refused_before_the_work(tmp_path, assets):
    """thinimg reveals speech: '-o speech.png' is refused before the file is even read (a plain photo, which
    holds no secret, would otherwise fail with exit 4 after the reveal)."""
    result = run_cli("reveal", "thinimg", assets / "face.png", "-o", tmp_path / "speech.png")
    assert_clean_failure(result, 2, tmp_path / "speech.png")
    assert "thinimg reveals audio, which cannot be written as '.png'" in result.stderr
