"""Face landmarks: MediaPipe's face mesh (478 points, the model ships inside the `mediapipe` wheel).

The point indices below are fixed by the face-mesh topology (MediaPipe's canonical face model); they name the
lips, eyelids and face oval that the rig moves. When no face is wanted or found, `template_landmarks` places the
landmark layout of the bundled face (assets/face160.png) in the centre of any image.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from crossteg.errors import MediaError

# Face-mesh indices (image left = the person's right).
LIPS_UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_LOWER_OUTER = (146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNERS = (61, 291)
INNER_LIP_CENTRE = (13, 14)  # upper, lower: their distance is the mouth opening
NOSE_TIP = 1
CHIN = 152


class Eye(NamedTuple):
    """Eyelid rings: the upper lid margin and two rings of lid skin above it, the lower margin, the iris."""

    upper: tuple[tuple[int, ...], ...]
    lower: tuple[int, ...]
    iris: tuple[int, ...]


EYES = (  # the person's right (image left), then left
    Eye(((246, 161, 160, 159, 158, 157, 173), (247, 30, 29, 27, 28, 56, 190), (113, 225, 224, 223, 222, 221, 189)),
        (33, 7, 163, 144, 145, 153, 154, 155, 133), (468, 469, 470, 471, 472)),
    Eye(((466, 388, 387, 386, 385, 384, 398), (467, 260, 259, 257, 258, 286, 414), (342, 445, 444, 443, 442, 441, 413)),
        (263, 249, 390, 373, 374, 380, 381, 382, 362), (473, 474, 475, 476, 477)),
)
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
NUM_POINTS = 478  # 468 mesh points + 10 iris points (refine_landmarks=True)
MIN_DETECTION_CONFIDENCE = 0.5  # MediaPipe's default


@dataclass(frozen=True)
class Landmarks:
    """`points`: NUM_POINTS x 2 float64 pixel coordinates (x right, y down); `found`: False for the template."""

    points: np.ndarray
    found: bool

    @property
    def eye_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Centres of the image-left and image-right eye openings (the person's right, left)."""
        p = self.points
        return (p[list(EYES[0].lower)].mean(0), p[list(EYES[1].lower)].mean(0))

    @property
    def mouth_width(self) -> float:
        a, b = MOUTH_CORNERS
        return float(np.linalg.norm(self.points[b] - self.points[a]))

    def opening(self) -> float:
        """Inner-lip gap divided by mouth width: 0 closed, ~0.3 wide open."""
        a, b = INNER_LIP_CENTRE
        return float(np.linalg.norm(self.points[b] - self.points[a])) / max(self.mouth_width, 1e-6)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MediaPipe's C++ core writes info lines and warnings straight to file descriptor 2 (absl logging, which
    no setting silences before it starts); hide them while it runs. Its failures still raise in Python."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@functools.lru_cache(maxsize=1)
def _face_mesh():  # type: ignore[no-untyped-def]
    try:
        from mediapipe.python.solutions import face_mesh
    except ImportError as exc:  # pragma: no cover - an installation problem, said plainly
        raise MediaError("face landmarks need mediapipe: pip install --no-deps mediapipe==0.10.21 "
                         "(see the Makefile's install recipe)") from exc
    return face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                              min_detection_confidence=MIN_DETECTION_CONFIDENCE)


def detect(pixels: np.ndarray) -> Landmarks | None:
    """The 478 face-mesh landmarks of the most prominent face in an H x W x 3 float image, or None."""
    u8 = np.ascontiguousarray(np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8))
    h, w = u8.shape[:2]
    with _quiet():
        result = _face_mesh().process(u8)
    if not result.multi_face_landmarks:
        return None
    marks = result.multi_face_landmarks[0].landmark
    pts = np.array([[m.x * w, m.y * h] for m in marks], dtype=np.float64)  # normalised -> pixels
    return Landmarks(pts, found=True)


@functools.lru_cache(maxsize=1)
def _template_unit() -> np.ndarray:
    """The bundled face's landmarks, centred on the face oval and scaled to unit oval height."""
    from importlib.resources import files

    from crossteg.media import load_image

    found = detect(load_image(str(files("crossteg") / "assets" / "face160.png")).pixels)
    if found is None:  # pragma: no cover - the bundled face is a face
        raise MediaError("the bundled template face was not found by the face mesh")
    oval = found.points[list(FACE_OVAL)]
    centre = (oval.min(0) + oval.max(0)) / 2
    return (found.points - centre) / (oval[:, 1].max() - oval[:, 1].min())


def template_landmarks(height: int, width: int) -> Landmarks:
    """The bundled face's landmark layout, its oval 60% of the image's smaller side, in the image's centre."""
    scale = 0.6 * min(height, width)
    return Landmarks(_template_unit() * scale + np.array([width / 2, height / 2]), found=False)


def find_landmarks(pixels: np.ndarray, face_check: bool = True, name: str = "the image") -> Landmarks:
    """Landmarks of the face in `pixels`; without a face, a MediaError (or, with face_check=False, the
    template in the centre of the image)."""
    found = detect(pixels)
    if found is not None:
        return found
    if face_check:
        raise MediaError(f"no face found in {name}: use a frontal portrait, or --no-face-check to animate "
                         "the centre of the image")
    h, w = pixels.shape[:2]
    return template_landmarks(h, w)
