"""3-D shapes: a triangle mesh (float32 vertices, int64 faces), its signed distance field, marching cubes.

trimesh reads and writes the files. The signed distance is computed here rather than by trimesh, whose
version needs the optional `rtree` package: exact closest points on candidate triangles found with a k-d
tree, signed with angle-weighted pseudo-normals (Baerentzen & Aanaes 2005), NEGATIVE inside.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from crossteg.errors import MediaError
from crossteg.media.files import atomic_path

if TYPE_CHECKING:
    import trimesh

EXTS = frozenset({".ply", ".obj", ".off", ".stl", ".glb", ".gltf"})
_WRITE_TYPES = {".ply": "ply", ".obj": "obj", ".stl": "stl", ".off": "off", ".glb": "glb"}
WRITE_EXTS = frozenset(_WRITE_TYPES)
_WRITE_OPTIONS: dict[str, dict[str, Any]] = {"ply": {"encoding": "binary"}, "obj": {"include_normals": False}}
NORMALIZED_HALF_EXTENT = 0.9  # `normalized` leaves a 0.1 margin inside [-1, 1]^3 for SDF grids and INRs


@dataclass
class Shape:
    """A triangle mesh: `vertices` float32 N x 3, `faces` int64 M x 3 (indices into vertices)."""

    vertices: np.ndarray
    faces: np.ndarray
    modality: ClassVar[str] = "shape"

    def __post_init__(self) -> None:
        v = np.ascontiguousarray(self.vertices, dtype=np.float32)
        f = np.ascontiguousarray(self.faces, dtype=np.int64)
        if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
            raise ValueError(f"Shape needs N x 3 vertices and M x 3 faces, got {v.shape} and {f.shape}")
        if f.size and (f.min() < 0 or f.max() >= len(v)):
            raise ValueError("Shape faces index vertices that do not exist")
        self.vertices, self.faces = v, f

    def to_trimesh(self) -> trimesh.Trimesh:
        """The same mesh as a trimesh.Trimesh (not merged or repaired)."""
        import trimesh

        return trimesh.Trimesh(self.vertices.astype(np.float64), self.faces, process=False)

    @property
    def is_closed(self) -> bool:
        """Whether the surface is closed: watertight once coincident vertices are merged (a seam in a texture
        layout splits them) and degenerate or repeated triangles dropped. Only a closed surface has an inside."""
        import trimesh

        mesh = trimesh.Trimesh(self.vertices.astype(np.float64), self.faces, process=True, validate=True)
        return bool(mesh.is_watertight)

    def normalized(self) -> Shape:
        """Centred on its bounding box and scaled uniformly so the largest half-extent is 0.9, i.e. the mesh
        fits in [-0.9, 0.9]^3 inside the unit cube [-1, 1]^3."""
        lo, hi = self.vertices.min(axis=0), self.vertices.max(axis=0)
        half = float((hi - lo).max()) / 2 or 1.0
        return Shape((self.vertices - (lo + hi) / 2) * (NORMALIZED_HALF_EXTENT / half), self.faces.copy())

    def sample_surface(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """`n` points uniformly by area on the surface and their face normals, both float32 n x 3."""
        import trimesh

        mesh = self.to_trimesh()
        points, face_index = trimesh.sample.sample_surface(mesh, n, seed=seed)
        return points.astype(np.float32), mesh.face_normals[face_index].astype(np.float32)

    def sdf(self, points: np.ndarray) -> np.ndarray:
        """Signed distance from each of P x 3 points to the surface: NEGATIVE inside, positive outside.

        The sign needs a closed, consistently oriented mesh; an inside-out one (negative volume) is flipped.
        """
        if len(self.faces) == 0:
            raise ValueError("a shape without triangles has no signed distance")
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        mesh = self.to_trimesh()
        with np.errstate(divide="ignore", invalid="ignore"):  # trimesh divides by a flat mesh's zero volume
            volume = float(mesh.volume)
        if abs(volume) <= 1e-9 * float(np.prod(np.ptp(mesh.vertices, axis=0))) or not np.isfinite(volume):
            raise MediaError("the shape encloses no volume (a flat surface has no inside for a signed distance)")
        dist, normal, closest = _closest_points(mesh, pts)
        inside = np.einsum("ij,ij->i", pts - closest, normal) < 0
        if volume < 0:
            inside = ~inside
        return np.where(inside, -dist, dist).astype(np.float32)


def _point_triangle(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, full: bool = False):
    """Squared distance from points p to triangles (a, b, c), pair by pair; all are 3 x n (coordinates
    first). Only six dot products touch 3-vectors; the rest is cheap algebra on them.

    With `full`, also returns the feature holding the closest point (-1 face interior, else the edge e from
    corner e to corner (e + 1) % 3), the edge parameter t in [0, 1] (exactly 0 or 1 at a corner) and the
    face barycentrics v, w."""
    ab, ac, ap = b - a, c - a, p - a

    def dot(x, y):
        return np.einsum("ij,ij->j", x, y)

    d00, d01, d11 = dot(ab, ab), dot(ab, ac), dot(ac, ac)
    d20, d21, d22 = dot(ap, ab), dot(ap, ac), dot(ap, ap)
    with np.errstate(divide="ignore", invalid="ignore"):  # degenerate triangles fall to their edges
        denom = d00 * d11 - d01 * d01
        v, w = (d11 * d20 - d01 * d21) / denom, (d00 * d21 - d01 * d20) / denom
        best = d22 - (v * d20 + w * d21)  # |p - a - v ab - w ac|^2 at the projection onto the plane
        np.copyto(best, np.inf, where=~((v >= 0) & (w >= 0) & (v + w <= 1)))
    feature, best_t = np.full(len(best), -1), np.zeros(len(best))
    # per edge: (start->p) . edge, |edge|^2, |start->p|^2; for b->c and c->a written with the dots above
    edges = ((d20, d00, d22), (d21 - d20 - d01 + d00, d00 + d11 - 2 * d01, d22 - 2 * d20 + d00),
             (d11 - d21, d11, d22 - 2 * d21 + d11))  # fmt: skip
    for e, (num, den, base) in enumerate(edges):
        t = np.clip(num / np.maximum(den, 1e-300), 0.0, 1.0)
        d = base - t * (2 * num - t * den)
        if full:
            better = d < best
            feature[better], best_t[better] = e, t[better]
        best = np.minimum(best, d)
    best = np.maximum(best, 0.0)
    return (best, feature, best_t, v, w) if full else best


def _closest_points(mesh: trimesh.Trimesh, pts: np.ndarray, block: int = 8192):
    """Exact distance, pseudo-normal and closest point on the mesh for each of P x 3 points.

    The triangles of the 4 nearest centroids give an upper bound u. A triangle whose centroid is farther
    than u + (its centroid-to-corner radius) cannot be closer, so the rest are found with ball queries;
    triangles are grouped by radius (factors of 2) so one long sliver does not widen every ball.
    """
    from scipy.spatial import cKDTree

    corners = np.ascontiguousarray(mesh.triangles.transpose(1, 2, 0))  # corner x coordinate x triangle
    centroids = corners.mean(axis=0).T
    radii = np.sqrt(((corners - centroids.T) ** 2).sum(1)).max(axis=0)
    k = min(4, len(centroids))
    first = cKDTree(centroids).query(pts, k=k)[1].reshape(-1, k)
    best_d, best_f = _nearest(pts, corners, np.repeat(np.arange(len(pts)), k), first.ravel(), len(pts))
    group = np.floor(np.log2(np.maximum(radii / max(radii.max(), 1e-300), 1e-6))).astype(int)
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        tree, reach = cKDTree(centroids[members]), radii[members].max() * (1 + 1e-9) + 1e-12
        for lo in range(0, len(pts), block):  # blocks bound the memory held by candidate pairs
            rows = np.arange(lo, min(lo + block, len(pts)))
            lists = tree.query_ball_point(pts[rows], np.sqrt(best_d[rows]) * (1 + 1e-9) + reach, workers=-1)
            counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(rows))
            cand = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=int(counts.sum()))
            d, f = _nearest(pts, corners, np.repeat(rows, counts), members[cand], len(pts))
            better = d < best_d
            best_d[better], best_f[better] = d[better], f[better]
    a, b, c = corners[:, :, best_f]
    _, feature, t, v, w = _point_triangle(pts.T, a, b, c, full=True)
    ends = np.stack([a, b, c, a])  # edge e runs from corner e to corner e + 1
    e, rows = np.maximum(feature, 0), np.arange(len(pts))
    on_edge = ends[e, :, rows] + t[:, None] * (ends[e + 1, :, rows] - ends[e, :, rows])
    closest = np.where((feature < 0)[:, None], (a + v * (b - a) + w * (c - a)).T, on_edge)
    return np.sqrt(best_d), _pseudo_normals(mesh, best_f, feature, t), closest


def _nearest(pts, corners, owner, cand, n, chunk: int = 1 << 15):
    """Smallest squared distance and its triangle per point over (owner, cand) pairs, owner sorted; inf
    where a point has no pair. Chunks keep temporaries small (page faults dominate large numpy temps)."""
    best_d, best_f = np.full(n, np.inf), np.zeros(n, dtype=np.int64)
    for lo in range(0, len(owner), chunk):
        o, c = owner[lo:lo + chunk], cand[lo:lo + chunk]
        d = _point_triangle(pts[o].T, *corners[:, :, c])
        starts = np.flatnonzero(np.r_[True, o[1:] != o[:-1]])
        group_min = np.minimum.reduceat(d, starts)
        hit = np.flatnonzero(d == np.repeat(group_min, np.diff(np.r_[starts, len(o)])))
        hit = hit[np.r_[True, o[hit][1:] != o[hit][:-1]]]  # first pair reaching each point's minimum
        better = d[hit] < best_d[o[hit]]
        best_d[o[hit][better]], best_f[o[hit][better]] = d[hit][better], c[hit][better]
    return best_d, best_f


def _pseudo_normals(mesh: trimesh.Trimesh, face: np.ndarray, feature: np.ndarray, t: np.ndarray):
    """Angle-weighted pseudo-normal at each closest point: the face normal inside a triangle, the sum of the
    two faces' normals on an edge, the angle-weighted vertex normal at a corner. With it the sign of
    (p - closest) . normal is right even where several triangles share the closest point."""
    faces, fn = mesh.faces, mesh.face_normals
    normal = fn[face].copy()
    at_edge = (feature >= 0) & (t > 0) & (t < 1)
    if at_edge.any():  # edge e of a face joins corners e and (e + 1) % 3, as in _point_triangle
        edges = np.sort(faces[:, [[0, 1], [1, 2], [2, 0]]], axis=2).reshape(-1, 2)
        _, edge_id = np.unique(edges, axis=0, return_inverse=True)
        en = np.zeros((edge_id.max() + 1, 3))
        np.add.at(en, edge_id.reshape(-1), np.repeat(fn, 3, axis=0))
        normal[at_edge] = en[edge_id.reshape(-1, 3)[face[at_edge], feature[at_edge]]]
    at_vertex = (feature >= 0) & ~at_edge
    if at_vertex.any():
        vn = np.zeros((len(mesh.vertices), 3))
        np.add.at(vn, faces, mesh.face_angles[:, :, None] * fn[:, None, :])
        corner = (feature[at_vertex] + (t[at_vertex] >= 1)) % 3
        normal[at_vertex] = vn[faces[face[at_vertex], corner]]
    return normal


def load_shape(path: str | os.PathLike) -> Shape:
    """Read a mesh (.ply, .obj, .off, .stl, .glb/.gltf; scenes concatenated); STL triangle soups get merged
    vertices."""
    import trimesh

    p = Path(path)
    if not p.is_file():
        raise MediaError(f"no such file: {p}")
    try:
        mesh = trimesh.load(str(p), force="mesh", process=False)
    except Exception as exc:  # trimesh raises many kinds (ValueError, KeyError, struct.error, ...)
        raise MediaError(f"cannot read shape {p}: {exc}") from exc
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise MediaError(f"cannot read shape {p}: it holds no triangles")
    if not np.isfinite(mesh.vertices).all():
        raise MediaError(f"cannot read shape {p}: some of its vertices are NaN or infinite")
    if p.suffix.lower() == ".stl":
        mesh.merge_vertices()
    return Shape(mesh.vertices, mesh.faces)


def save_shape(shape: Shape, path: str | os.PathLike) -> None:
    """Write .ply (binary), .obj, .stl (binary), .off or .glb."""
    out = Path(path)
    file_type = _WRITE_TYPES.get(out.suffix.lower())
    if file_type is None:
        raise MediaError(f"cannot write a shape as '{out.suffix}' (use {', '.join(_WRITE_TYPES)})")
    data = shape_bytes(shape, file_type)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)


def shape_bytes(shape: Shape, file_type: str = "ply") -> bytes:
    """The mesh as file bytes: binary PLY (float32-exact vertices), OBJ, STL, OFF or GLB."""
    data = shape.to_trimesh().export(file_type=file_type, **_WRITE_OPTIONS.get(file_type, {}))
    if isinstance(data, str):
        return data.encode()
    if not isinstance(data, bytes):
        raise TypeError(f"trimesh exported {type(data).__name__}, expected bytes")
    return data


def mesh_from_sdf(sdf_grid: np.ndarray, bounds: tuple[float, float] = (-1.0, 1.0)) -> Shape:
    """Marching cubes at level 0 on a D x H x W grid sampled over [lo, hi]^3 (axis 0 = x); NEGATIVE inside,
    so the faces come out outward-oriented."""
    from skimage.measure import marching_cubes

    grid = np.asarray(sdf_grid, dtype=np.float32)
    if grid.ndim != 3 or min(grid.shape) < 2:
        raise ValueError(f"sdf grid must be 3-D with at least 2 samples per axis, got {grid.shape}")
    if not (grid.min() < 0 < grid.max()):
        raise MediaError("the signed distance grid has no surface (no sign change), so no mesh can be made")
    lo, hi = float(bounds[0]), float(bounds[1])
    spacing = tuple((hi - lo) / (n - 1) for n in grid.shape)
    verts, faces, _, _ = marching_cubes(grid, level=0.0, spacing=spacing)
    return Shape(verts + lo, faces)
