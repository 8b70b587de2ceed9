"""The report: builds on the bundled set with lsb alone, contains its pictures, and resumes from its cache; the
results files' merged commands; the cases eval picks, and how it makes a user's too-large secret fit."""

import importlib
import json
import sys

import numpy as np
import pytest

from crossteg import media, report
from crossteg.evaluate import quick_cases, run_case, samples_by_modality
from crossteg.fitting import fits, fitted_secret
from crossteg.media import Audio, Image, Video
from crossteg.methods import get_method, lsb
from crossteg.results import merged_command, source_fingerprint


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result = report.run_report("lsb", attacks="png-resave,jpeg-95", output=out)
    return out, result


def test_report_has_pictures_tables_and_html(built):
    out, result = built
    md, page = (out / "index.md").read_text(), (out / "index.html").read_text()
    pictures = sorted(p.relative_to(out).as_posix() for p in (out / "figures").glob("*.png"))
    assert any(p.endswith("-container.png") for p in pictures) and any(p.endswith("-secret.png") for p in pictures)
    for picture in pictures:
        assert f"]({picture})" in md and f'src="{picture}"' in page
        assert (out / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## lsb" in md and "| png-resave | reveal_ok | 1 |" in md and "| jpeg-95 | reveal_ok | 0 |" in md
    assert "| chi-square |" in md  # steganalysis of the stego file
    assert page.startswith("<!doctype html>") and page.count("<table>") == md.count("\n|---")
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert {"container_psnr", "secret_exact", "hide_seconds", "wrong_key_rejected"} <= {r["metric"] for r in rows}
    assert result["rows"] == rows


def test_report_resumes_from_its_cache(built, monkeypatch):
    out, _ = built
    before = (out / "index.md").read_text()

    def no_hide(*args, **kwargs):
        raise AssertionError("a cached cell was recomputed")

    monkeypatch.setattr(lsb.LSB, "hide", no_hide)
    again = report.run_report("lsb", attacks="png-resave,jpeg-95", output=out)
    assert "from the cache" in again["message"] and " 0 from the cache" not in again["message"]
    assert (out / "index.md").read_text() == before
    for cached in (out / "cache").glob("*.json"):
        cached.unlink()
    with pytest.raises(AssertionError, match="recomputed"):
        report.run_report("lsb", attacks="png-resave,jpeg-95", output=out)


def test_source_fingerprint_follows_the_modules_a_method_imports(tmp_path, monkeypatch):
    """Cached cells (and benchmark cases) are keyed by this: editing a module the method only imports (nn/igr.py
    for inrweights) must change it, as editing the method's own file does."""
    (tmp_path / "crossteg_fp_leaf.py").write_text("VALUE = 1\n")
    (tmp_path / "crossteg_fp_root.py").write_text("from crossteg_fp_leaf import VALUE\n\nclass Method:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        root = importlib.import_module("crossteg_fp_root")
        before = source_fingerprint(root.Method)
        assert source_fingerprint(root.Method) == before
        (tmp_path / "crossteg_fp_leaf.py").write_text("VALUE = 2\n")
        assert source_fingerprint(root.Method) != before
    finally:
        for name in ("crossteg_fp_root", "crossteg_fp_leaf"):
            sys.modules.pop(name, None)
    assert source_fingerprint(lsb.LSB) != source_fingerprint(get_method("inrweights").__class__)


def test_markdown_and_html_escape_cells():
    blocks = [("table", ["a"], [["x|y <b>"]])]
    assert "x\\|y <b>" in report.to_markdown(blocks) and "x|y &lt;b&gt;" in report.to_html(blocks)


def test_a_merged_results_file_lists_each_command_once_the_latest_last():
    """--merge reruns append their command; a rerun of one already listed moves it to the end, not twice."""
    first = merged_command("full run", "cmd --methods a --merge")
    assert first == "full run; then cmd --methods a --merge"
    again = merged_command(merged_command(first, "cmd --methods b --merge"), "cmd --methods a --merge")
    assert again == "full run; then cmd --methods b --merge; then cmd --methods a --merge"
    assert merged_command("", "x --recorded", " && ") == "x --recorded"
    assert merged_command("x && x --speed", "x --recorded", " && ") == "x && x --speed && x --recorded"


def test_quick_cases_take_the_first_secret_that_fits_and_pass_over_unusable_covers(assets, tmp_path):
    """A 2.3 s cover holds a 64x64 image under deepsteg but not face.png (first by name); a 64x64 image is too
    small to be a thinimg cover at all (its capacity raises): it is passed over, not a crash."""
    def folder(name: str, files: dict[str, str]):
        (tmp_path / name).mkdir()
        for new, old in files.items():
            (tmp_path / name / new).write_bytes((assets / old).read_bytes())
        return tmp_path / name, samples_by_modality(tmp_path / name)

    where, samples = folder("big-first", {"a_face.png": "face.png", "b_small.png": "face64.png",
                                          "speech.wav": "speech_1.wav"})
    assert quick_cases(get_method("deepsteg"), samples) == [(where / "speech.wav", where / "b_small.png")]
    where, samples = folder("tiny-first", {"a_tiny.png": "face64.png", "b_face.png": "face.png",
                                           "speech.wav": "speech_1.wav"})
    assert quick_cases(get_method("thinimg"), samples) == [(where / "b_face.png", where / "speech.wav")]


def test_quick_cases_where_no_secret_fits_take_a_cover_it_can_be_made_to_fit(assets, tmp_path):
    """A 0.05 s clip (first by name) holds no picture at any size; the 2.3 s one holds face.png downscaled."""
    media.save(Audio(np.zeros((1, 800), np.float32), 16000), tmp_path / "a_blip.wav")
    (tmp_path / "b_speech.wav").write_bytes((assets / "speech_1.wav").read_bytes())
    (tmp_path / "face.png").write_bytes((assets / "face.png").read_bytes())
    assert quick_cases(get_method("ditas"), samples_by_modality(tmp_path)) == [(tmp_path / "b_speech.wav",
                                                                               tmp_path / "face.png")]


def test_a_secret_too_large_for_the_cover_is_downscaled_trimmed_or_cut_until_it_fits(assets):
    """The user's photo, speech or clip is made to fit as the capacity error advises: a picture downscaled with
    its aspect, speech trimmed, a clip cut to its first 16 frames and then downscaled; each just fits (one size
    up would not), says so, and keeps its content; what fits already, and bytes, stay as they are."""
    ditas, inrweights = get_method("ditas"), get_method("inrweights")
    cover = media.load(assets / "speech_1.wav")
    photo = media.load(assets / "face.png")
    small, note = fitted_secret(ditas, photo, cover)
    assert fits(ditas, small, cover) and "downscaled from 384x384" in note
    assert small.width == small.height < photo.width
    assert not fits(ditas, Image(np.zeros((small.height + 1, small.width + 1, 3), np.float32)), cover)
    assert abs(float(small.pixels.mean()) - float(photo.pixels.mean())) < 0.01
    face64 = media.load(assets / "face64.png")
    assert fitted_secret(ditas, face64, cover) == (face64, "")
    container = media.load(assets / "photo.png")
    speech = Audio(np.tile(media.load(assets / "speech_long.wav").samples, 3), 16000)
    trimmed, note = fitted_secret(inrweights, speech, container)
    assert fits(inrweights, trimmed, container) and note == "secret trimmed to its first 4.54 of 31.98 s to fit"
    assert not fits(inrweights, Audio(speech.samples[:, :trimmed.frames + 4], 16000), container)
    assert np.array_equal(trimmed.samples, speech.samples[:, :trimmed.frames])
    frames = np.repeat(media.load(assets / "clip.mp4").frames, 3, axis=0)  # 48 frames of 128x128
    wide = Video(np.concatenate([frames, frames], axis=2), 25)  # 128 x 256: a wide clip
    clip, note = fitted_secret(inrweights, wide, container)
    assert note == "secret cut to its first 16 of 48 frames and downscaled from 256x128 to 180x90 to fit"
    assert fits(inrweights, clip, container) and clip.num_frames == 16  # even sizes, as H.264 needs
    assert not fits(inrweights, Video(np.zeros((16, 92, 182, 3), np.float32), 25), container)
    assert np.allclose(clip.frames.mean(axis=(1, 2)), wide.frames[:16].mean(axis=(1, 2)), atol=0.01)  # in order
    payload = lsb.Payload.from_file(assets / "face.png")
    assert fitted_secret(get_method("lsb"), payload, media.load(assets / "face64.png")) == (payload, "")


def test_eval_measures_a_fitted_secret_and_says_so(assets, tmp_path):
    """A 384 px photo in a 2.3 s cover: deepsteg hides it downscaled, and every row of the case says so."""
    method = get_method("deepsteg", **get_method("deepsteg").quick_options)
    rows = run_case(method, assets / "speech_1.wav", assets / "face.png", [], tmp_path)
    psnr = next(r for r in rows if r.metric == "secret_psnr")
    assert psnr.ours is not None and psnr.ours > 15
    assert all(r.note.startswith("secret downscaled from 384x384 to ") for r in rows)


def test_a_method_report_takes_its_named_sweeps_but_not_another_method(tmp_path):
    """Rows filed under inrweights-kept (a robustness sweep with other options) are inrweights'; deepsteg-video,
    a method of its own, is not deepsteg's."""
    rows = [{"setting": f"all cases after {a}", "metric": "reveal_ok", "ours": 1.0, "paper": None, "n": 1, "note": "",
             "method": m} for a, m in [("png", "inrweights"), ("noise", "inrweights-kept"), ("mp3", "deepsteg"),
                                       ("opus", "deepsteg-video")]]
    (tmp_path / "robustness.json").write_text(json.dumps({"benchmark": "robustness", "method": "all", "rows": rows}))
    assert [r["method"] for _, r in report.benchmark_rows("inrweights", tmp_path)] == ["inrweights", "inrweights-kept"]
    assert [r["method"] for _, r in report.benchmark_rows("deepsteg", tmp_path)] == ["deepsteg"]
    tables = [b for b in report.benchmark_blocks("inrweights", tmp_path) if b[0] == "table"]
    assert [row[0] for row in tables[0][2]] == ["after png", "inrweights-kept: after noise"]
