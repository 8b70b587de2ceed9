"""`crossteg demo`: hide the bundled speech in the bundled face with the best method available, reveal it
from the saved file, and write demo-out/ with the stego PNG, the revealed WAV and report.md."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from crossteg import figures, media
from crossteg.evaluate import assets_dir, container_metrics, secret_metrics
from crossteg.media.files import atomic_write_bytes
from crossteg.media.payload import Payload
from crossteg.methods.base import Method, Progress, get_method, method_ids, no_progress

# Best first: a paper method is used as soon as it is registered with its weights; lsb always works.
PREFERRED = ("thinimg", "lsb")
DEMO_KEY = "crossteg demo"
FACE, SPEECH = "face.png", "speech_1.wav"


def best_method() -> Method:
    """The first preferred method that is registered and has its weights."""
    available = set(method_ids())
    for method_id in PREFERRED:
        if method_id in available and (method := get_method(method_id)).weights_present():
            return method
    raise RuntimeError("no demo method available")  # lsb needs no weights, so this is a packaging bug


def _format(value: float) -> str:
    return "∞ (identical)" if value == float("inf") else f"{value:.4g}"


def run_demo(output: Path, progress: Progress = no_progress) -> Path:
    """Run the demo into `output` (its own folder: files in it are replaced) and return the report's path."""
    output.mkdir(parents=True, exist_ok=True)
    method = best_method()
    cover = media.load_image(assets_dir() / FACE)
    speech = media.load_audio(assets_dir() / SPEECH)
    secret: Any = Payload.from_media(speech) if method.hides_bytes else speech

    start = time.perf_counter()
    stego = method.hide(cover, secret, DEMO_KEY, progress=progress)
    hide_seconds = time.perf_counter() - start
    stego_path = media.save(stego, output / f"stego{method.stego_suffix(cover)}", force=True)

    saved = media.load_image(stego_path)  # everything below works from the file as saved
    start = time.perf_counter()
    revealed = method.reveal(saved, DEMO_KEY, progress=progress)
    reveal_seconds = time.perf_counter() - start
    revealed_speech = revealed.decode() if isinstance(revealed, Payload) else revealed
    media.save(revealed_speech, output / "revealed.wav", force=True)

    scores = container_metrics(method.container_reference(cover), saved) | secret_metrics(secret, revealed)
    reference = getattr(method, "decompressor_reference", None)
    if callable(reference):  # the secret through the method's lossy codec alone: the ceiling reveal can reach
        scores |= {f"{k}_ceiling": v for k, v in secret_metrics(speech, reference(speech)).items()
                   if k != "secret_snr"}
    figures.image_comparison(cover.pixels, saved.pixels, output / "container.png")
    figures.audio_comparison(speech.mono().samples[0], revealed_speech.mono().samples[0], speech.sample_rate,
                             output / "speech.png")
    talk = talking_head(saved, revealed_speech, output, progress)
    report = output / "report.md"
    text = _report(method, cover, speech, scores, hide_seconds, reveal_seconds) + talk
    atomic_write_bytes(report, text.encode())
    return report


def talking_head(face: Any, speech: Any, output: Path, progress: Progress) -> str:
    """The container's face saying the revealed speech (talk.mp4 + a frame strip); the report's section on it."""
    from crossteg.talkinghead import speak

    start = time.perf_counter()
    video = speak(face, speech, progress, name="the stego image")
    seconds = time.perf_counter() - start
    media.save(video, output / "talk.mp4", force=True)
    figures.frame_strip(video.frames, output / "talk.png", n=8)
    return f"""
## Talking head: the container's face saying the revealed speech

`talk.mp4`: {video.num_frames} frames at {video.fps:g} fps, {video.width}x{video.height}, with the revealed speech
as its sound track (rendered in {seconds:.1f} s; `crossteg reveal ... --video talk.mp4` does the same).

![talking head frames](talk.png)
"""


def _report(method: Method, cover: Any, speech: Any, scores: dict[str, float], hide_s: float,
            reveal_s: float) -> str:
    rows = "\n".join(f"| {name} | {_format(value)} |" for name, value in scores.items())
    return f"""# crossteg demo

Method **{method.id}** ({method.title}) hid {speech.duration:.2f} s of speech ({speech.sample_rate} Hz,
bundled `{SPEECH}`) in a {cover.width}x{cover.height} face photo (bundled `{FACE}`) with the key
`{DEMO_KEY}`, wrote the stego file `stego{method.stego_suffix(cover)}`, read it back from disk and revealed
`revealed.wav`. Hide took {hide_s:.3f} s and reveal {reveal_s:.3f} s on this machine.

## Container: cover | stego | difference x10

![container](container.png)

## Speech: secret vs revealed (waveform and spectrogram)

![speech](speech.png)

## Metrics

| metric | value |
|---|---|
{rows}

`container_*` compares the stego file with the cover (higher PSNR/SSIM = less visible);
`secret_*` compares the revealed speech with the original (PESQ wide-band 1-4.64, STOI 0-1, higher is
better; `secret_exact` = 1 when the revealed bytes are identical); `*_ceiling` scores the secret passed
through the method's speech codec and decompressor alone, without hiding: what the reveal can reach at best.
"""
