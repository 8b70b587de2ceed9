"""Talking head: one face image + speech -> a video whose mouth, jaw, lids and head move with the speech.

THInImg (papers/thinimg.txt, sec. 3.1, eq. 2) decodes a container into speech and hands it, with the
recovered face, to MakeItTalk (its ref. [48]) to produce the talking-head video. This package is the
decoder's G(.), built to run on a CPU with no trained model of its own:

    face image --MediaPipe face mesh--> 478 landmarks --+
                                                        +--> rig: moved control points per frame
    speech --per-frame spectra--> mouth open/width -----+        (jaw, lips, lids, head pose)
                        loudness --> nod + blinks ------+                  |
                                                       piecewise-affine warp of the face, mouth shaded
                                                                           |
                                                         Video (25 fps, the face's size) + the speech

Deviations from MakeItTalk, and why: MakeItTalk learns audio -> landmark displacements (content and
speaker-aware head motion) with LSTM/self-attention networks trained on VoxCeleb2 and animates with an
image-to-image translation network; neither its data nor its weights can be had here (no downloads, no
audio-visual data in the package registries). We keep its structure (audio -> facial landmarks -> image warp;
it also warps non-photorealistic faces by Delaunay triangulation) with a fixed mapping from per-frame audio
features to the mouth and a seeded random, loudness-driven head motion. The mouth only opens as far as a
warp can (no new teeth or tongue are synthesised: the inside is shaded dark), and the head does not turn.

Measured (benchmarks/talkinghead.py -> benchmarks/results/talkinghead.md, bundled face, espeak-ng speech):
mouth opening found by the face mesh on the decoded mp4 correlates 0.61-0.73 with frame energy, best at lag 0
(the rig's own control: 0.85); PIQE of the frames 32.7 after H.264 (27.6 before; the still face scores 25.5;
the paper's MakeItTalk videos 46.68, Tab. 2, on other faces); 0.45 CPU-seconds per second of 160x160 video.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from crossteg.media import Audio, Image, Video
from crossteg.media.video import frame_uint8, save_frames

FPS = 25.0  # the (and MakeItTalk's) frame rate
SEED = 0

Progress = Callable[..., Any]

__all__ = ["FPS", "animate", "speak", "speak_to_file"]


def animate(face: Image, speech: Audio, *, fps: float = FPS, face_check: bool = True, seed: int = SEED,
            progress: Progress | None = None, name: str = "the face image",
            sampling: str = "cubic") -> tuple[Video, dict[str, Any]]:
    """The talking-head video and what drove it: {"open", "width", "energy_db", "blink"} per frame and
    "landmarks" (the face's, or the centred template's when no face was found and face_check is off).
    `sampling` is the warp's interpolation: linear, cubic or lanczos."""
    count, frames, drive = _take(face, speech, fps, face_check, seed, progress, name, sampling)
    video = np.empty((count, face.height, face.width, 3), dtype=np.float32)
    for t, frame in enumerate(frames):
        video[t] = frame
    return Video(video, fps, audio=speech), drive


def _take(face: Image, speech: Audio, fps: float, face_check: bool, seed: int, progress: Progress | None,
          name: str, sampling: str = "cubic") -> tuple[int, Iterator[np.ndarray], dict[str, Any]]:
    """(frame count, the frames rendered one at a time as they are asked for, what drove them)."""
    from crossteg.talkinghead import features, landmarks, motion, rig, warp

    mono = speech.mono()
    count = features.num_frames(mono.duration, fps)
    marks = landmarks.find_landmarks(face.pixels, face_check=face_check, name=name)
    mouth = features.mouth_track(mono.samples[0], mono.sample_rate, fps, count)
    the_rig = rig.build_rig(marks, face.height, face.width)
    moves = motion.head_motion(count, fps, mouth.open, the_rig.face_height, np.random.default_rng(seed))
    render = warp.Warper(face.pixels, the_rig.points, sampling)

    def frames() -> Iterator[np.ndarray]:
        for t in range(count):
            if progress is not None:
                progress("talking head", t, count)
            dst = rig.frame_points(the_rig, float(mouth.open[t]), float(mouth.width[t]), float(moves.blink[t]),
                                   float(moves.roll[t]), moves.shift[t], float(moves.scale[t]))
            yield render(dst, rig.seam_outline(the_rig, dst))
        if progress is not None:
            progress("talking head", count, count)

    drive = {"open": mouth.open, "width": mouth.width, "energy_db": mouth.energy_db, "blink": moves.blink,
             "landmarks": marks}
    return count, frames(), drive


def speak(face: Image, speech: Audio, progress: Progress | None = None, *, fps: float = FPS,
          face_check: bool = True, seed: int = SEED, name: str = "the face image") -> Video:
    """A talking-head Video of `face` saying `speech`, at `fps` and the face's resolution, with the speech as
    its sound track. Raises MediaError naming `name` when no face is found (unless face_check=False: then
    the bundled face's landmark layout is placed in the centre and animated). `progress(description, done,
    total)` is called once per frame."""
    video, _ = animate(face, speech, fps=fps, face_check=face_check, seed=seed, progress=progress, name=name)
    return video


def speak_to_file(face: Image, speech: Audio, path: Path, progress: Progress | None = None, *, fps: float = FPS,
                  face_check: bool = True, seed: int = SEED, name: str = "the face image") -> int:
    """`speak`, each frame written to the video file `path` (atomically, as media.save writes) as soon as it is
    rendered, so memory stays that of a few frames however long the speech or large the photo (held whole,
    a 12-megapixel portrait took 23 GB for 2 s). Returns the number of frames. `path` is not checked for
    overwriting: callers check it first (media.files.check_output)."""
    count, frames, _ = _take(face, speech, fps, face_check, seed, progress, name)
    save_frames((frame_uint8(f) for f in frames), count, fps, path, audio=speech)
    return count
