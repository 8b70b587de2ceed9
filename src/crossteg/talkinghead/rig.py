"""The rig: where each control point goes in a frame, given the mouth, lid and head controls.

Control points = the 478 face landmarks, a seam across the mouth gap (two copies of each point: one moves with
the upper lip, one with the lower, so the upper teeth stay with the upper lip instead of stretching), a ring
around the face that follows half the head motion (so the
hair and neck bend smoothly instead of tearing), and fixed points on the image border (the background stays).

Deformations are computed in a face frame (u along the eye line, v down the face, origin at the mouth centre):

* jaw: the lower lip, chin and jaw line drop by `open` x 0.2 mouth widths, fully below the lower inner lip,
  fading to nothing at the upper inner lip and to a third at the jaw angles (the jaw hinges near the ears);
  the upper lip lifts by a tenth of that;
* width: lips and the cheeks beside them stretch along u by up to 10% of the mouth width (spread or round);
* lids: the upper lid margin closes onto the lower lid (`blink` = 1 shut), the lid skin above it follows by
  55% and 25%, and the iris is squeezed with it, so a shut eye shows lid skin;
* head: roll, shift and scale about the face centre, applied to the face after the local deformations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossteg.talkinghead import landmarks as lm

JAW_DROP = 0.20  # mouth widths of inner-lip gap at open = 1 (wide-open speech vowel)
UPPER_LIP_LIFT = 0.10  # fraction of the jaw drop
JAW_ANGLE_WEIGHT = 0.35  # how much of the drop reaches the jaw angles
LIP_STRETCH = 0.10  # mouth widths of corner travel at width = +-1
CORNER_PULL = 0.06  # corners move in by this fraction of the jaw drop (an open mouth narrows)
LID_RING_FOLLOW = (1.0, 0.55, 0.25)  # lid margin, first and second skin rings
SEAM_AT = 0.7  # the seam runs 70% of the way from the upper to the lower inner lip (upper teeth show more)
RING_SCALE, RING_POINTS, RING_FOLLOW = 1.35, 24, 0.5  # ring around the face oval
BORDER_STEP = 8  # fixed points per image side


@dataclass(frozen=True)
class Rig:
    """Neutral control points (`points`, N x 2 pixels) and what is needed to move them."""

    points: np.ndarray
    face: int  # the first `face` points are the landmarks
    seam: int  # then `seam` points following the upper lip and `seam` following the lower one
    ring: int  # then `ring` points around the face; the rest are fixed border points
    centre: np.ndarray  # face centre (2,)
    axes: np.ndarray  # 2 x 2: rows u (along the eye line) and v (down the face)
    mouth_width: float
    face_height: float


def _face_frame(marks: lm.Landmarks) -> tuple[np.ndarray, np.ndarray]:
    """(centre of the face oval, rows u and v of the face frame)."""
    right, left = marks.eye_centres
    u = (left - right) / max(float(np.linalg.norm(left - right)), 1e-6)
    v = np.array([-u[1], u[0]])  # u turned a quarter clockwise on screen: points down the face
    oval = marks.points[list(lm.FACE_OVAL)]
    return oval.mean(0), np.stack([u, v])


def _ring(centre: np.ndarray, oval: np.ndarray, height: int, width: int) -> np.ndarray:
    """Points on an ellipse RING_SCALE times the face oval, dropping those within 2 px of the border."""
    half = (oval.max(0) - oval.min(0)) / 2 * RING_SCALE
    angle = np.linspace(0, 2 * np.pi, RING_POINTS, endpoint=False)
    ring = centre + np.stack([np.cos(angle), np.sin(angle)], 1) * half
    inside = (ring[:, 0] > 2) & (ring[:, 0] < width - 3) & (ring[:, 1] > 2) & (ring[:, 1] < height - 3)
    return ring[inside]


def _border(height: int, width: int) -> np.ndarray:
    xs = np.linspace(0, width - 1, BORDER_STEP + 1)
    ys = np.linspace(0, height - 1, BORDER_STEP + 1)[1:-1]
    top, bottom = np.stack([xs, np.zeros_like(xs)], 1), np.stack([xs, np.full_like(xs, height - 1)], 1)
    left, right = np.stack([np.zeros_like(ys), ys], 1), np.stack([np.full_like(ys, width - 1), ys], 1)
    return np.concatenate([top, bottom, left, right])


def build_rig(marks: lm.Landmarks, height: int, width: int) -> Rig:
    """Control points for a face in an image of `height` x `width`."""
    centre, axes = _face_frame(marks)
    oval = marks.points[list(lm.FACE_OVAL)]
    ring = _ring(centre, oval, height, width)
    seam = _seam(marks.points)
    points = np.concatenate([marks.points, seam, seam, ring, _border(height, width)])
    face_height = float(np.ptp(oval @ axes[1]))
    return Rig(points, len(marks.points), len(seam), len(ring), centre, axes, marks.mouth_width, face_height)


def _seam(points: np.ndarray) -> np.ndarray:
    """Points across the mouth gap between matching upper and lower inner-lip points (corners excluded)."""
    upper = points[list(lm.LIPS_UPPER_INNER[1:-1])]
    lower = points[list(lm.LIPS_LOWER_INNER[1:-1])]
    return upper + SEAM_AT * (lower - upper)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _lip_curve(uv: np.ndarray, ring: tuple[int, ...], u: np.ndarray) -> np.ndarray:
    """v of an inner-lip curve at each u (flat beyond the mouth corners)."""
    pts = uv[list(ring)]
    order = np.argsort(pts[:, 0])
    return np.interp(u, pts[order, 0], pts[order, 1])


def mouth_offsets(rig: Rig, opening: float, spread: float) -> np.ndarray:
    """Landmark displacements (face x 2 pixels) for jaw opening in [0, 1] and lip width in [-1, 1].

    The jaw weight rises from 0 on the upper inner lip to 1 on the lower one (measured per point at its own
    u, so a smile's raised corners do not drag the upper lip down); everything below follows fully."""
    p = rig.points[:rig.face]
    mouth = p[list(lm.INNER_LIP_CENTRE)].mean(0)
    uv = (p - mouth) @ rig.axes.T  # face frame, origin at the mouth centre
    u, v = uv[:, 0], uv[:, 1]
    mw = rig.mouth_width
    upper = _lip_curve(uv, lm.LIPS_UPPER_INNER, u)
    gap = np.maximum(_lip_curve(uv, lm.LIPS_LOWER_INNER, u) - upper, 0.08 * mw)
    half_face = max(float(np.abs(u).max()), mw)
    drop = JAW_DROP * mw * opening
    taper = 1.0 - (1.0 - JAW_ANGLE_WEIGHT) * np.clip((np.abs(u) - 0.5 * mw) / (half_face - 0.5 * mw), 0.0, 1.0)
    dv = drop * _smoothstep((v - upper) / gap) * taper
    nose_gap = max(float(uv[lm.INNER_LIP_CENTRE[0], 1] - uv[lm.NOSE_TIP, 1]), 0.1 * mw)
    above = _smoothstep(1.0 - (upper - v) / (0.6 * nose_gap)) * (v <= upper)
    dv -= UPPER_LIP_LIFT * drop * above * np.exp(-((u / (0.45 * mw)) ** 2))
    near_lips = np.exp(-((v / (0.6 * mw)) ** 2) - (np.maximum(np.abs(u) - 0.5 * mw, 0) / (0.3 * mw)) ** 2)
    du = (LIP_STRETCH * mw * spread - CORNER_PULL * drop) * np.clip(u / (0.5 * mw), -1.0, 1.0) * near_lips
    return np.stack([du, dv], 1) @ rig.axes  # back to image x, y


def lid_offsets(rig: Rig, closure: float) -> np.ndarray:
    """Landmark displacements (face x 2 pixels) closing both upper lids by `closure` in [0, 1]."""
    out = np.zeros((rig.face, 2))
    if closure <= 0:
        return out
    p = rig.points[:rig.face]
    for eye in lm.EYES:
        lower = (p[list(eye.lower)] - rig.centre) @ rig.axes.T
        order = np.argsort(lower[:, 0])
        rings = [*zip(eye.upper, LID_RING_FOLLOW, strict=True), (eye.iris, 1.0)]
        for ring, follow in rings:
            idx = list(ring)
            uv = (p[idx] - rig.centre) @ rig.axes.T
            target = np.interp(uv[:, 0], lower[order, 0], lower[order, 1])
            dv = closure * follow * np.maximum(target - uv[:, 1], 0.0)
            out[idx] = np.outer(dv, rig.axes[1])
    return out


def pose(points: np.ndarray, centre: np.ndarray, roll: float, shift: np.ndarray, scale: float) -> np.ndarray:
    """Points rotated by `roll`, scaled about `centre`, then shifted."""
    c, s = np.cos(roll), np.sin(roll)
    rot = np.array([[c, -s], [s, c]])
    return (points - centre) @ rot.T * scale + centre + shift


def frame_points(rig: Rig, opening: float, spread: float, closure: float, roll: float, shift: np.ndarray,
                 scale: float) -> np.ndarray:
    """All control points for one frame (same order as `rig.points`)."""
    offsets = mouth_offsets(rig, opening, spread) + lid_offsets(rig, closure)
    upper, lower = list(lm.LIPS_UPPER_INNER[1:-1]), list(lm.LIPS_LOWER_INNER[1:-1])
    start = rig.face + 2 * rig.seam
    face = rig.points[:start] + np.concatenate([offsets, offsets[upper], offsets[lower]])
    ring = rig.points[start:start + rig.ring]
    moved_face = pose(face, rig.centre, roll, shift, scale)
    moved_ring = pose(ring, rig.centre, RING_FOLLOW * roll, RING_FOLLOW * shift, 1.0 + RING_FOLLOW * (scale - 1.0))
    return np.concatenate([moved_face, moved_ring, rig.points[start + rig.ring:]])


def seam_outline(rig: Rig, points: np.ndarray) -> np.ndarray:
    """The opened mouth gap in a frame's control points: corner, upper seam, corner, lower seam (reversed)."""
    a, b = lm.LIPS_UPPER_INNER[0], lm.LIPS_UPPER_INNER[-1]
    upper = points[rig.face:rig.face + rig.seam]
    lower = points[rig.face + rig.seam:rig.face + 2 * rig.seam]
    return np.concatenate([points[[a]], upper, points[[b]], lower[::-1]])
