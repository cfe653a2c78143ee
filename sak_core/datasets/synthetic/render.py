"""Ray casting of a :class:`~sak_core.datasets.synthetic.scene.Scene` into an image and targets.

One ray per pixel from the camera; the nearest hit among the room's six planes and the scene's
primitives gives, from the same geometry, the colour (textured albedo, Lambert light with
shadows, a little specular), the semantic class, the human part, saliency, the surface normal,
the depth and, from the semantic labels, the boundaries.

Conventions: depth is the z-depth in metres (distance along the optical axis); normals are unit
vectors in camera coordinates, x right, y up, z towards the viewer (visible surfaces have
z > 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sak_core.datasets.edges import label_edges
from sak_core.datasets.synthetic.scene import (
    BANDS, CHECKER, CUBOID, FLOOR, GRID, HAIR, PLAIN, SALIENT_CLASSES, SPHERE, STRIPES, WALL,
    Material, Primitive, Scene, frame_along, sample_scene,
)

EPS = 1e-6
ROOM_PLANES = 6  # hit ids 0..5 are room planes, primitives follow


@dataclass
class Rendering:
    """Everything rendered for one scene, all ``H x W`` (x 3 where noted)."""

    image: np.ndarray  # uint8 H x W x 3
    semseg: np.ndarray  # uint8 class ids (scene.CLASSES)
    parts: np.ndarray  # uint8 0 background, 1..6 part groups
    saliency: np.ndarray  # uint8 {0, 1}
    normals: np.ndarray  # float32 H x W x 3, unit, camera coordinates
    depth: np.ndarray  # float32 metres
    boundaries: np.ndarray  # uint8 {0, 1}
    hit: np.ndarray  # int32 id of the surface seen: room planes 0..5, then primitives
    instance: np.ndarray  # int32 0 for the room, else the object / person number
    intrinsics: np.ndarray  # float32 (fx, fy, cx, cy)
    scene: Scene


@dataclass
class _Group:
    """The primitives of one object or person and a sphere that bounds them all."""

    members: list[int]
    centre: np.ndarray
    radius: float


def _radius(p: Primitive) -> float:
    """Radius of a sphere around ``p.centre`` that holds the primitive."""
    if p.shape == SPHERE:
        return float(p.size[0])
    if p.shape == CUBOID:
        return float(np.linalg.norm(p.size))
    return float(np.hypot(p.size[0], p.size[1]))


def _groups(prims: list[Primitive]) -> list[_Group]:
    by_instance: dict[int, list[int]] = {}
    for k, p in enumerate(prims):
        by_instance.setdefault(p.instance, []).append(k)
    groups = []
    for members in by_instance.values():
        centre = np.mean([prims[k].centre for k in members], axis=0)
        radius = max(np.linalg.norm(prims[k].centre - centre) + _radius(prims[k]) for k in members)
        groups.append(_Group(members, centre, float(radius) * 1.001 + 1e-6))
    return groups


def _pixels_covering(cam, centre: np.ndarray, radius: float) -> np.ndarray:
    """Flat indices of the pixels whose rays may meet the sphere (centre, radius).

    Bounds x / depth and y / depth over the sphere's bounding box in camera coordinates; all
    pixels when the sphere reaches behind the image plane.
    """
    h, w = cam.size
    fx, fy, cx, cy = (float(v) for v in cam.intrinsics)
    x, y, z = (centre - cam.position) @ cam.rotation
    near, far = -z - radius, -z + radius
    if far <= 0:
        return np.empty(0, dtype=np.int64)
    if near <= 1e-3:
        return np.arange(h * w)

    def bounds(a: float) -> tuple[float, float]:
        hi = (a + radius) / (near if a + radius > 0 else far)
        lo = (a - radius) / (near if a - radius < 0 else far)
        return lo, hi

    (xlo, xhi), (ylo, yhi) = bounds(x), bounds(y)
    c0, c1 = max(int(np.floor(cx + fx * xlo - 0.5)), 0), min(int(np.ceil(cx + fx * xhi - 0.5)), w - 1)
    r0, r1 = max(int(np.floor(cy - fy * yhi - 0.5)), 0), min(int(np.ceil(cy - fy * ylo - 0.5)), h - 1)
    if c0 > c1 or r0 > r1:
        return np.empty(0, dtype=np.int64)
    return (np.arange(r0, r1 + 1)[:, None] * w + np.arange(c0, c1 + 1)[None, :]).ravel()


def _frame_towards(direction: np.ndarray) -> np.ndarray:
    """Orthonormal columns (e1, e2, direction)."""
    frame = frame_along(direction)  # local y = direction
    return frame[:, [0, 2, 1]]


def _ahead_within(local: np.ndarray, centre: np.ndarray, radius: float, rays: np.ndarray) -> np.ndarray:
    """Rays (indices) from points ``local`` (light frame) along +z passing within ``radius`` of
    ``centre`` while ahead of the point."""
    if len(rays) == 0:
        return rays
    q = local[rays]
    dx, dy = q[:, 0] - centre[0], q[:, 1] - centre[1]
    near = (dx * dx + dy * dy <= radius * radius) & (q[:, 2] < centre[2] + radius)
    return rays[near]

def _hit_sphere(o: np.ndarray, d: np.ndarray, dd: np.ndarray, p: Primitive) -> np.ndarray:
    oc = o - p.centre
    b = d @ oc
    c = oc @ oc - p.size[0] ** 2
    disc = b * b - dd * c
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / dd
    return np.where((disc >= 0) & (t > EPS), t, np.inf)


def _hit_cuboid(o_l: np.ndarray, d_l: np.ndarray, half: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d_l
        t1 = (-half - o_l) * inv
        t2 = (half - o_l) * inv
    near = np.nanmax(np.minimum(t1, t2), axis=-1)
    far = np.nanmin(np.maximum(t1, t2), axis=-1)
    return np.where((near <= far) & (near > EPS), near, np.inf)


def _hit_tube(o_l: np.ndarray, d_l: np.ndarray, radius: float, half: float) -> np.ndarray:
    dx, dy, dz = d_l[..., 0], d_l[..., 1], d_l[..., 2]
    ox, oy, oz = o_l[..., 0], o_l[..., 1], o_l[..., 2]
    a = dx * dx + dz * dz
    b = ox * dx + oz * dz
    c = ox * ox + oz * oz - radius * radius
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        ts = (-b - np.sqrt(disc)) / a
        side = np.where((disc >= 0) & (ts > EPS) & (np.abs(oy + ts * dy) <= half), ts, np.inf)
        cap_y = np.where(oy > 0, half, -half)
        tc = (cap_y - oy) / dy
        xc, zc = ox + tc * dx, oz + tc * dz
        cap = np.where((tc > EPS) & (xc * xc + zc * zc <= radius * radius), tc, np.inf)
    return np.minimum(side, np.where(np.isnan(cap), np.inf, cap))


def intersect(p: Primitive, o: np.ndarray, d: np.ndarray, dd: np.ndarray | None = None) -> np.ndarray:
    """Ray parameter of the first hit of rays ``o + t d`` (``o`` 3 or N x 3, ``d`` N x 3); inf on a miss."""
    if p.shape == SPHERE:
        if o.ndim == 1:
            return _hit_sphere(o, d, dd if dd is not None else np.einsum("ij,ij->i", d, d), p)
        oc = o - p.centre  # per-ray origins (shadow rays)
        a = np.einsum("ij,ij->i", d, d)
        b = np.einsum("ij,ij->i", d, oc)
        c = np.einsum("ij,ij->i", oc, oc) - p.size[0] ** 2
        disc = b * b - a * c
        with np.errstate(invalid="ignore"):
            t = (-b - np.sqrt(disc)) / a
        return np.where((disc >= 0) & (t > EPS), t, np.inf)
    o_l = (o - p.centre) @ p.rotation
    d_l = d @ p.rotation
    if p.shape == CUBOID:
        return _hit_cuboid(o_l, d_l, p.size)
    return _hit_tube(o_l, d_l, p.size[0], p.size[1])


def _local_normal(p: Primitive, q: np.ndarray) -> np.ndarray:
    """Outward normals (world) at points ``q`` (N x 3) on ``p``, and the local coordinates."""
    if p.shape == SPHERE:
        return (q - p.centre) / p.size[0]
    local = (q - p.centre) @ p.rotation
    n = np.zeros_like(local)
    if p.shape == CUBOID:
        axis = np.argmax(np.abs(local) / p.size, axis=-1)
        rows = np.arange(len(local))
        n[rows, axis] = np.sign(local[rows, axis])
    else:
        r, half = p.size[0], p.size[1]
        radial = np.hypot(local[:, 0], local[:, 2])
        on_cap = np.abs(np.abs(local[:, 1]) - half) < np.abs(radial - r)
        n[:, 0] = np.where(on_cap, 0.0, local[:, 0] / np.maximum(radial, EPS))
        n[:, 2] = np.where(on_cap, 0.0, local[:, 2] / np.maximum(radial, EPS))
        n[:, 1] = np.where(on_cap, np.sign(local[:, 1]), 0.0)
    return n @ p.rotation.T


def _albedo(m: Material, local: np.ndarray, shape: int) -> np.ndarray:
    """Texture colour at local surface coordinates (N x 3)."""
    x, y, z = local[:, 0], local[:, 1], local[:, 2]
    if m.pattern == STRIPES and shape == SPHERE:
        mix = (np.sin(np.arctan2(z, x) * round(m.scale)) > 0).astype(float)
    elif m.pattern == STRIPES:
        mix = (np.sin((x + y + z) * (2 * np.pi / max(m.scale, 1e-3))) > 0.3).astype(float)
    elif m.pattern == CHECKER:
        mix = ((np.floor(x / m.scale) + np.floor(z / m.scale)) % 2).astype(float)
    elif m.pattern == GRID:
        u = np.abs(np.stack([x, y, z], -1)) / m.scale
        mix = (np.min(np.abs(u - np.round(u)), axis=-1) < 0.06).astype(float)
        if shape != CUBOID:  # floor boards: plank seams and alternate plank tone
            mix = np.maximum(mix, 0.4 * (np.floor(x / m.scale) % 2))
    elif m.pattern == BANDS:
        mix = (np.sin(y * 2 * np.pi / m.scale) > 0.5).astype(float)
    elif m.pattern == HAIR:  # hair on the top and back of the head
        mix = ((y > 0.0) | ((z < -0.3 * np.abs(y).max()) & (y > -0.5 * np.abs(y).max()))).astype(float)
    else:
        mix = np.zeros(len(local))
    grain = 0.93 + 0.07 * np.sin(local @ m.wobble) * np.sin(local @ m.wobble[::-1] * 1.7)
    colour = m.colour[None] * (1 - mix[:, None]) + m.colour2[None] * mix[:, None]
    return colour * grain[:, None]


def render(scene: Scene) -> Rendering:
    """Cast one ray per pixel through ``scene`` and shade / label the nearest surface."""
    cam, room, light = scene.camera, scene.room, scene.light
    h, w = cam.size
    fx, fy, cx, cy = (float(v) for v in cam.intrinsics)
    u = (np.arange(w) + 0.5 - cx) / fx
    v = -(np.arange(h) + 0.5 - cy) / fy
    dir_cam = np.stack(np.broadcast_arrays(u[None, :], v[:, None], -np.ones((1, 1))), -1).reshape(-1, 3)  # N, 3
    d = dir_cam @ cam.rotation.T  # world directions whose camera z component is -1: t = z-depth
    o = cam.position
    dd = np.einsum("ij,ij->i", d, d)

    # room: the ray leaves the box of the room through one of its six planes
    lo = np.array([-room.left, 0.0, -room.back])
    hi = np.array([room.right, room.height, room.front])
    with np.errstate(divide="ignore"):
        t_axes = np.where(d > 0, (hi - o) / d, np.where(d < 0, (lo - o) / d, np.inf))  # N, 3
    axis = np.argmin(t_axes, axis=-1)
    rows = np.arange(len(d))
    t = t_axes[rows, axis]
    positive = d[rows, axis] > 0
    hit = (2 * axis + positive).astype(np.int32)  # 0 left, 1 right, 2 floor, 3 ceiling, 4 back, 5 front
    for k, p in enumerate(scene.primitives):
        sub = _pixels_covering(cam, p.centre, _radius(p))
        if len(sub) == 0:
            continue
        tk = intersect(p, o, d[sub])
        closer = tk < t[sub]
        t[sub[closer]] = tk[closer]
        hit[sub[closer]] = ROOM_PLANES + k

    points = o + t[:, None] * d  # N, 3
    n = np.zeros_like(points)
    albedo = np.zeros_like(points)
    shine = np.zeros(len(d))
    semantic = np.full(len(d), WALL, dtype=np.uint8)
    part = np.zeros(len(d), dtype=np.uint8)
    instance = np.zeros(len(d), dtype=np.int32)
    room_normals = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
    room_hit = hit < ROOM_PLANES
    n[room_hit] = room_normals[hit[room_hit]]
    floor = hit == 2
    semantic[floor] = FLOOR
    albedo[floor] = _albedo(room.floor, points[floor], PLAIN)
    walls = room_hit & ~floor
    albedo[walls] = _albedo(room.wall, points[walls], PLAIN)
    for k in np.unique(hit[~room_hit]):
        p = scene.primitives[k - ROOM_PLANES]
        sel = hit == k
        q = points[sel]
        n[sel] = _local_normal(p, q)
        albedo[sel] = _albedo(p.material, (q - p.centre) @ p.rotation, p.shape)
        shine[sel] = p.material.shine
        semantic[sel] = p.semantic
        part[sel] = p.part
        instance[sel] = p.instance

    # shading: Lambert with shadows from the objects, hemispheric ambient, Blinn specular
    lam = np.clip(n @ light.direction, 0.0, None)
    lit = lam > 0
    if lit.any() and scene.primitives:
        origins = points[lit] + n[lit] * 1e-4
        dirs = np.broadcast_to(light.direction, origins.shape)
        blocked = np.zeros(len(origins), dtype=bool)
        # coordinates along the light: rays towards a directional light are parallel, so a
        # bounding sphere shadows a point when it is within R across and ahead along the light
        across = _frame_towards(light.direction)
        local = origins @ across  # M, 3; column 2 along the light
        for group in _groups(scene.primitives):
            rays = _ahead_within(local, group.centre @ across, group.radius, np.arange(len(origins)))
            for k in group.members:
                p = scene.primitives[k]
                sub = _ahead_within(local, p.centre @ across, _radius(p), rays[~blocked[rays]])
                if len(sub):
                    blocked[sub] |= np.isfinite(intersect(p, origins[sub], dirs[sub]))
        shadow = np.ones(len(d))
        shadow[np.flatnonzero(lit)[blocked]] = 0.15
        lam = lam * shadow
    ambient = light.ambient * (0.75 + 0.25 * n[:, 1])
    view = -d / np.sqrt(dd)[:, None]
    half_vec = view + light.direction
    half_vec /= np.linalg.norm(half_vec, axis=-1, keepdims=True)
    spec = shine * np.clip(np.einsum("ij,ij->i", n, half_vec), 0, None) ** 40 * (lam > 0)
    radiance = albedo * (ambient[:, None] + lam[:, None] * light.colour[None]) + spec[:, None] * light.colour[None]
    noise = np.random.default_rng(scene.noise_seed).normal(0.0, 1.5, size=radiance.shape)
    image = np.clip(np.power(np.clip(radiance, 0, None), 1 / 2.2) * 255.0 + noise, 0, 255)

    normals_cam = n @ cam.rotation  # world -> camera coordinates
    semseg = semantic.reshape(h, w)
    return Rendering(
        image=np.round(image).astype(np.uint8).reshape(h, w, 3),
        semseg=semseg,
        parts=part.reshape(h, w),
        saliency=np.isin(semseg, SALIENT_CLASSES).astype(np.uint8),
        normals=normals_cam.astype(np.float32).reshape(h, w, 3),
        depth=t.astype(np.float32).reshape(h, w),
        boundaries=label_edges(semseg).astype(np.uint8),
        hit=hit.reshape(h, w),
        instance=instance.reshape(h, w),
        intrinsics=cam.intrinsics,
        scene=scene,
    )


def render_index(seed: int, index: int, size: tuple[int, int]) -> Rendering:
    """Scene ``index`` of the stream fixed by ``seed`` (independent of the other indices)."""
    rng = np.random.default_rng([int(seed), int(index)])
    return render(sample_scene(rng, size))
