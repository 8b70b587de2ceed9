"""3D shape metrics: Chamfer distance and volumetric IoU, pure functions on numpy arrays and meshes.

Neither inrweights (Han et al. 2023, which shows shapes only qualitatively) nor INRSteg (Song et al. 2024)
defines its shape metrics, so these follow Occupancy Networks (Mescheder et al. 2019, sec. 4), the usual
reference: Chamfer-L1 between surface point sets and volumetric IoU from points sampled uniformly in the
bounding volume. Meshes are ``trimesh.Trimesh`` objects or ``(vertices V x 3, faces F x 3)`` tuples and must
be closed (watertight). trimesh and scipy.spatial are imported inside the functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_SAMPLES_PER_RAY = 32  # IoU samples share vertical rays, this many per ray (see iou)
_CHUNK_ELEMENTS = 2_000_000  # ray x triangle pairs tested at once, bounds memory


def chamfer(points_a: np.ndarray, points_b: np.ndarray) -> float:
    """Symmetric Chamfer-L1 distance in input units: mean of the two mean nearest-neighbour L2 distances.

    ``0.5 * (mean_a min_b |a - b| + mean_b min_a |a - b|)``, distances not squared, as the Chamfer-L1 of
    Mescheder et al. 2019 (eq. in sec. 4); N x D and M x D point sets, nearest neighbours by scipy cKDTree.
    Translating a fine point set by a small vector t gives |t|.
    """
    from scipy.spatial import cKDTree

    a = np.asarray(points_a, dtype=np.float64)
    b = np.asarray(points_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) == 0 or len(b) == 0:
        raise ValueError(f"expected non-empty N x D and M x D point sets, got {a.shape} and {b.shape}")
    d_ab = cKDTree(b).query(a, k=1)[0]
    d_ba = cKDTree(a).query(b, k=1)[0]
    return float(0.5 * (d_ab.mean() + d_ba.mean()))


def _as_mesh(mesh: Any) -> Any:
    """A trimesh.Trimesh from a Trimesh or a (vertices, faces) tuple; ValueError if it is not watertight."""
    import trimesh

    if not isinstance(mesh, trimesh.Trimesh):
        vertices, faces = mesh
        mesh = trimesh.Trimesh(vertices=np.asarray(vertices, dtype=np.float64), faces=np.asarray(faces))
    if len(mesh.faces) == 0 or not mesh.is_watertight:
        raise ValueError("volumetric IoU needs a closed (watertight) mesh with at least one face")
    return mesh


def surface_points(mesh: Any, n: int = 100_000, seed: int = 0) -> np.ndarray:
    """``n`` x 3 points uniform (by area) on a mesh surface, for ``chamfer``; deterministic in ``seed``."""
    import trimesh

    if not isinstance(mesh, trimesh.Trimesh):
        vertices, faces = mesh
        mesh = trimesh.Trimesh(vertices=np.asarray(vertices, dtype=np.float64), faces=np.asarray(faces))
    points, _ = trimesh.sample.sample_surface(mesh, n, seed=seed)
    return np.asarray(points, dtype=np.float64)


def _ray_hits(triangles: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crossings of vertical lines through ``xy`` (R x 2, sorted by x) with triangles (F x 3 x 3).

    Returns (ray index, z of the crossing) for every line/triangle pair whose xy-projection contains the
    line's point (barycentric test on the projected triangle; triangles seen edge-on are skipped).
    """
    p0, p1, p2 = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    det = (p1[:, 1] - p2[:, 1]) * (p0[:, 0] - p2[:, 0]) + (p2[:, 0] - p1[:, 0]) * (p0[:, 1] - p2[:, 1])
    keep = det != 0.0
    p0, p1, p2, det = p0[keep], p1[keep], p2[keep], det[keep]
    tri_xmin = np.minimum(np.minimum(p0[:, 0], p1[:, 0]), p2[:, 0])
    tri_xmax = np.maximum(np.maximum(p0[:, 0], p1[:, 0]), p2[:, 0])
    chunk = max(1, _CHUNK_ELEMENTS // max(1, len(det)))
    rays, zs = [], []
    for start in range(0, len(xy), chunk):
        px, py = xy[start : start + chunk, 0:1], xy[start : start + chunk, 1:2]  # rays x 1
        near = np.nonzero((tri_xmax >= px[0, 0]) & (tri_xmin <= px[-1, 0]))[0]  # x-slab of this chunk
        a, b, c, d = p0[near], p1[near], p2[near], det[near]
        l0 = ((b[:, 1] - c[:, 1]) * (px - c[:, 0]) + (c[:, 0] - b[:, 0]) * (py - c[:, 1])) / d
        l1 = ((c[:, 1] - a[:, 1]) * (px - c[:, 0]) + (a[:, 0] - c[:, 0]) * (py - c[:, 1])) / d
        l2 = 1.0 - l0 - l1
        ri, ti = np.nonzero((l0 >= 0) & (l1 >= 0) & (l2 >= 0))
        zs.append(l0[ri, ti] * a[ti, 2] + l1[ri, ti] * b[ti, 2] + l2[ri, ti] * c[ti, 2])
        rays.append(ri + start)
    return np.concatenate(rays), np.concatenate(zs)


def _inside(triangles: np.ndarray, xy: np.ndarray, z: np.ndarray, z_lo: float, z_span: float) -> np.ndarray:
    """Containment (R x K bool) of points (xy[r], z[r, k]) in a closed mesh: odd number of crossings above."""
    ray, hz = _ray_hits(triangles, xy)
    keys = np.sort(ray + 0.5 * (hz - z_lo) / z_span)  # ray index + height in [0, 0.5]: one sorted axis
    rows = np.arange(len(xy))[:, None]
    below = np.searchsorted(keys, rows + 0.5 * (z - z_lo) / z_span, "right")  # hits before or under z
    above = np.searchsorted(keys, rows + 0.75) - below
    return (above % 2) == 1


def iou(mesh_a: Any, mesh_b: Any, n: int = 100_000, seed: int = 0) -> float:
    """Volumetric IoU in [0, 1] of two closed meshes, estimated from ~``n`` points uniform in the union box.

    As in Mescheder et al. 2019 (sec. 4): |inside A and inside B| / |inside A or inside B| over points drawn
    uniformly in the axis-aligned box bounding both meshes. Containment is by ray-crossing parity (numpy,
    no rtree/embree needed); points are drawn as ~n/32 uniform vertical rays with 32 uniform heights each
    (still uniform in the box), so the standard error is about that of n/32 independent points.
    Raises ValueError for meshes that are not watertight or when no sample falls inside either mesh.
    """
    ma, mb = _as_mesh(mesh_a), _as_mesh(mesh_b)
    lo = np.minimum(ma.bounds[0], mb.bounds[0])
    hi = np.maximum(ma.bounds[1], mb.bounds[1])
    rng = np.random.default_rng(seed)
    n_rays = max(1, -(-int(n) // _SAMPLES_PER_RAY))
    xy = rng.uniform(lo[:2], hi[:2], size=(n_rays, 2))
    xy = xy[np.argsort(xy[:, 0])]  # sorted by x so each chunk of rays meets only nearby triangles
    z = rng.uniform(lo[2], hi[2], size=(n_rays, _SAMPLES_PER_RAY))
    z_span = max(float(hi[2] - lo[2]), 1e-12)
    in_a = _inside(np.asarray(ma.triangles, dtype=np.float64), xy, z, float(lo[2]), z_span)
    in_b = _inside(np.asarray(mb.triangles, dtype=np.float64), xy, z, float(lo[2]), z_span)
    union = int(np.count_nonzero(in_a | in_b))
    if union == 0:
        raise ValueError("no sample fell inside either mesh; IoU is undefined")
    return float(np.count_nonzero(in_a & in_b) / union)


def iou_occupancy(occ_a: np.ndarray, occ_b: np.ndarray) -> float:
    """Exact IoU in [0, 1] of two boolean occupancy grids of equal shape, |A and B| / |A or B|.

    Nonzero cells count as occupied; ValueError if both grids are empty (IoU undefined).
    """
    a = np.asarray(occ_a).astype(bool)
    b = np.asarray(occ_b).astype(bool)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    union = int(np.count_nonzero(a | b))
    if union == 0:
        raise ValueError("both occupancy grids are empty; IoU is undefined")
    return float(np.count_nonzero(a & b) / union)
