"""Random indoor scenes for the synthetic dataset: a room, objects and people built from parts.

A scene is pure geometry and materials; :mod:`sak_core.datasets.synthetic.render` turns it into
an image and every task's target. Everything is drawn from one ``numpy`` Generator, so a seed
and an image index fix the scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

CLASSES = ("floor", "wall", "ball", "box", "cylinder", "person")
FLOOR, WALL, BALL, BOX, CYLINDER, PERSON = range(len(CLASSES))
SALIENT_CLASSES = (BALL, BOX, CYLINDER, PERSON)
PART_GROUPS = ("background", "head", "torso", "upper arm", "lower arm", "upper leg", "lower leg")

SPHERE, CUBOID, TUBE = 0, 1, 2  # primitive shapes (a TUBE is a capped cylinder along local y)
PLAIN, STRIPES, CHECKER, GRID, BANDS, HAIR = range(6)  # texture patterns


@dataclass
class Material:
    colour: np.ndarray  # 3, linear RGB in [0, 1]
    colour2: np.ndarray  # 3, second colour of the pattern
    pattern: int = PLAIN
    scale: float = 1.0  # pattern period in metres (or count, for angular patterns)
    shine: float = 0.0  # specular strength
    wobble: np.ndarray = field(default_factory=lambda: np.zeros(3))  # noise frequencies


@dataclass
class Primitive:
    """One surface: a shape in its local frame, placed by ``centre`` and ``rotation``.

    ``rotation`` holds the local axes (columns) in world coordinates; ``size`` is (r, -, -) for a
    sphere, half extents for a cuboid, (radius, half height, -) for a tube.
    """

    shape: int
    centre: np.ndarray
    rotation: np.ndarray
    size: np.ndarray
    semantic: int
    material: Material
    instance: int
    part: int = 0
    part_name: str = ""


@dataclass
class Room:
    """Floor at y = 0, ceiling at ``height``, walls at x = -left / +right, z = -back / +front."""

    left: float
    right: float
    back: float
    front: float
    height: float
    floor: Material
    wall: Material


@dataclass
class Camera:
    """Pinhole camera; ``rotation`` columns are its right, up and backward axes in world space."""

    position: np.ndarray
    rotation: np.ndarray
    focal: float
    size: tuple[int, int]

    @property
    def intrinsics(self) -> np.ndarray:
        """(fx, fy, cx, cy) in pixels."""
        h, w = self.size
        return np.array([self.focal, self.focal, w / 2.0, h / 2.0], dtype=np.float32)


@dataclass
class Light:
    direction: np.ndarray  # unit vector towards the light
    colour: np.ndarray
    ambient: float


@dataclass
class Scene:
    camera: Camera
    room: Room
    light: Light
    primitives: list[Primitive]
    noise_seed: int

    @property
    def people(self) -> int:
        return len({p.instance for p in self.primitives if p.semantic == PERSON})


# -- geometry helpers ------------------------------------------------------------------------
def rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def frame_along(axis: np.ndarray) -> np.ndarray:
    """A rotation whose local y axis is ``axis``."""
    y = axis / np.linalg.norm(axis)
    helper = np.array([1.0, 0, 0]) if abs(y[0]) < 0.9 else np.array([0, 0, 1.0])
    x = np.cross(y, helper)
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=1)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def _material(rng: np.random.Generator, hue: tuple[float, float], sat: tuple[float, float],
              val: tuple[float, float], pattern: int, scale: tuple[float, float], shine=(0.0, 0.0),
              contrast: tuple[float, float] = (0.5, 0.8)) -> Material:
    h = rng.uniform(*hue) % 1.0
    colour = _hsv(h, rng.uniform(*sat), rng.uniform(*val))
    colour2 = colour * rng.uniform(*contrast)
    return Material(colour, colour2, pattern, float(rng.uniform(*scale)), float(rng.uniform(*shine)),
                    rng.uniform(2.0, 9.0, size=3))


# -- objects and people ----------------------------------------------------------------------
def _object(kind: int, x: float, z: float, instance: int, rng: np.random.Generator) -> tuple[list[Primitive], float]:
    """One object standing on the floor at (x, z); returns its primitives and footprint radius."""
    yaw = rot_y(rng.uniform(0, 2 * math.pi))
    if kind == BALL:
        r = rng.uniform(0.12, 0.38)
        mat = _material(rng, (0, 1), (0.6, 0.95), (0.6, 0.95), STRIPES if rng.random() < 0.7 else PLAIN,
                        (3, 7), shine=(0.3, 0.6), contrast=(0.15, 0.5))
        tilt = yaw @ rot_x(rng.uniform(-0.6, 0.6))
        return [Primitive(SPHERE, np.array([x, r, z]), tilt, np.array([r, 0, 0]), BALL, mat, instance)], r
    if kind == BOX:
        half = rng.uniform([0.15, 0.12, 0.15], [0.45, 0.45, 0.45])
        mat = _material(rng, (0.04, 0.13), (0.35, 0.7), (0.45, 0.8), GRID, (0.12, 0.25), contrast=(0.45, 0.7))
        if rng.random() < 0.35:  # painted crate
            mat = _material(rng, (0.45, 0.75), (0.4, 0.7), (0.4, 0.75), GRID, (0.12, 0.25), contrast=(0.45, 0.7))
        footprint = float(np.hypot(half[0], half[2]))
        return [Primitive(CUBOID, np.array([x, half[1], z]), yaw, half, BOX, mat, instance)], footprint
    r, hh = rng.uniform(0.08, 0.24), rng.uniform(0.2, 0.6)
    mat = _material(rng, (0.5, 1.05), (0.1, 0.6), (0.5, 0.9), BANDS, (0.1, 0.3), shine=(0.4, 0.9), contrast=(0.4, 0.7))
    return [Primitive(TUBE, np.array([x, hh, z]), yaw, np.array([r, hh, 0]), CYLINDER, mat, instance)], r


def _limb(a: np.ndarray, b: np.ndarray, radius: float, part: int, name: str, mat: Material, instance: int,
          place) -> Primitive:
    centre, rotation = place((a + b) / 2, frame_along(b - a))
    size = np.array([radius, np.linalg.norm(b - a) / 2, 0])
    return Primitive(TUBE, centre, rotation, size, PERSON, mat, instance, part, name)


def _person(x: float, z: float, facing: float, instance: int,
            rng: np.random.Generator) -> tuple[list[Primitive], float]:
    """A figure of head, neck, torso, upper / lower arms, hands, upper / lower legs and feet."""
    H = rng.uniform(1.45, 1.9)
    skin = _material(rng, (0.02, 0.09), (0.3, 0.6), (0.45, 0.95), PLAIN, (1, 1), contrast=(0.9, 1.0))
    hair = _hsv(rng.uniform(0.02, 0.1), rng.uniform(0.3, 0.8), rng.uniform(0.08, 0.5))
    head_mat = Material(skin.colour, hair, HAIR, 0.0, 0.05, skin.wobble)
    shirt = _material(rng, (0, 1), (0.4, 0.9), (0.35, 0.9), STRIPES if rng.random() < 0.4 else PLAIN, (0.05, 0.1),
                      contrast=(0.5, 0.8))
    trousers = _material(rng, (0.55, 0.7), (0.2, 0.6), (0.12, 0.45), PLAIN, (1, 1), contrast=(0.8, 0.9))
    shoes = _material(rng, (0, 1), (0.0, 0.3), (0.05, 0.2), PLAIN, (1, 1))
    frame = rot_y(facing)
    swing = rng.uniform(-0.45, 0.45)
    prims: list[Primitive] = []
    lift = [0.0]

    def place(c: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return frame @ c + np.array([x, lift[0], z]), frame @ r

    legs = []
    for side, tag in ((1, "l"), (-1, "r")):
        phi = swing * side
        bend = rng.uniform(0.0, 0.5)
        hip = np.array([side * 0.075 * H, 0.52 * H, 0.0])
        knee = hip + 0.25 * H * np.array([0, -math.cos(phi), math.sin(phi)])
        ankle = knee + 0.245 * H * np.array([0, -math.cos(phi - bend), math.sin(phi - bend)])
        legs.append((tag, hip, knee, ankle))
    lift[0] = 0.035 * H - min(leg[3][1] for leg in legs)
    for tag, hip, knee, ankle in legs:
        prims.append(_limb(hip, knee, 0.055 * H, 5, f"{tag}uleg", trousers, instance, place))
        prims.append(_limb(knee, ankle, 0.045 * H, 6, f"{tag}lleg", trousers, instance, place))
        c, r = place(knee, np.eye(3))
        prims.append(Primitive(SPHERE, c, r, np.array([0.047 * H, 0, 0]), PERSON, trousers, instance, 6, f"{tag}lleg"))
        c, r = place(ankle + np.array([0, -0.012 * H, 0.035 * H]), np.eye(3))
        prims.append(Primitive(CUBOID, c, r, np.array([0.024, 0.015, 0.054]) * H, PERSON, shoes,
                               instance, 6, f"{tag}foot"))
    c, r = place(np.array([0, 0.665 * H, 0]), np.eye(3))
    prims.append(Primitive(CUBOID, c, r, np.array([0.13, 0.145, 0.07]) * H, PERSON, shirt, instance, 2, "torso"))
    c, r = place(np.array([0, 0.835 * H, 0]), np.eye(3))
    prims.append(Primitive(TUBE, c, r, np.array([0.03 * H, 0.035 * H, 0]), PERSON, skin, instance, 2, "neck"))
    c, r = place(np.array([0, 0.915 * H, 0]), rot_x(rng.uniform(-0.3, 0.3)) @ rot_y(rng.uniform(-0.5, 0.5)))
    prims.append(Primitive(SPHERE, c, r, np.array([0.062 * H, 0, 0]), PERSON, head_mat, instance, 1, "head"))
    for side, tag in ((1, "l"), (-1, "r")):
        spread = rng.uniform(0.08, 0.5)
        fwd = -swing * side + rng.uniform(-0.2, 0.2)
        shoulder = np.array([side * 0.165 * H, 0.79 * H, 0.0])
        up_dir = np.array([side * math.sin(spread), -math.cos(spread) * math.cos(fwd),
                           math.cos(spread) * math.sin(fwd)])
        elbow = shoulder + 0.17 * H * up_dir
        bend = fwd + rng.uniform(0.0, 1.2)
        low_dir = np.array([side * math.sin(spread) * 0.6, -math.cos(bend), math.sin(bend)])
        low_dir /= np.linalg.norm(low_dir)
        wrist = elbow + 0.15 * H * low_dir
        prims.append(_limb(shoulder, elbow, 0.036 * H, 3, f"{tag}uarm", shirt, instance, place))
        sleeve = shirt if rng.random() < 0.5 else skin
        prims.append(_limb(elbow, wrist, 0.03 * H, 4, f"{tag}larm", sleeve, instance, place))
        c, r = place(elbow, np.eye(3))
        prims.append(Primitive(SPHERE, c, r, np.array([0.034 * H, 0, 0]), PERSON, sleeve, instance, 4, f"{tag}larm"))
        c, r = place(wrist + 0.02 * H * low_dir, np.eye(3))
        prims.append(Primitive(SPHERE, c, r, np.array([0.035 * H, 0, 0]), PERSON, skin, instance, 4, f"{tag}hand"))
    return prims, 0.25 * H


# -- scenes ----------------------------------------------------------------------------------
def sample_scene(rng: np.random.Generator, size: tuple[int, int]) -> Scene:
    """A random room, camera, light, 1-5 objects and 0-2 people seen by the camera."""
    h, w = size
    cam_z = rng.uniform(1.0, 2.5)
    room = Room(
        left=rng.uniform(2.5, 4.5), right=rng.uniform(2.5, 4.5), back=rng.uniform(3.0, 6.5),
        front=cam_z + rng.uniform(0.5, 1.5), height=rng.uniform(2.6, 3.2),
        floor=_material(rng, (0.03, 0.12), (0.2, 0.6), (0.25, 0.65), CHECKER if rng.random() < 0.5 else GRID,
                        (0.4, 1.0), contrast=(0.55, 0.8)),
        wall=_material(rng, (0, 1), (0.05, 0.3), (0.65, 0.95), STRIPES if rng.random() < 0.3 else PLAIN,
                       (0.2, 0.5), contrast=(0.85, 0.95)),
    )
    yaw, pitch, roll = rng.uniform(-0.35, 0.35), rng.uniform(-0.5, -0.17), rng.uniform(-0.05, 0.05)
    hfov = rng.uniform(math.radians(55), math.radians(70))
    focal = (w / 2.0) / math.tan(hfov / 2.0)
    camera = Camera(np.array([rng.uniform(-0.6, 0.6), rng.uniform(1.2, 1.9), cam_z]),
                    rot_y(yaw) @ rot_x(pitch) @ rot_z(roll), focal, (h, w))
    elevation, azimuth = rng.uniform(0.5, 1.3), rng.uniform(0, 2 * math.pi)
    light = Light(np.array([math.cos(elevation) * math.cos(azimuth), math.sin(elevation),
                            math.cos(elevation) * math.sin(azimuth)]),
                  np.array([1.0, rng.uniform(0.85, 1.0), rng.uniform(0.7, 1.0)]) * rng.uniform(0.75, 1.05),
                  float(rng.uniform(0.25, 0.45)))

    kinds = [int(k) for k in rng.choice([BALL, BOX, CYLINDER], size=int(rng.integers(1, 6)))]
    kinds += [PERSON] * int(rng.choice([0, 1, 2], p=[0.35, 0.45, 0.2]))
    order = rng.permutation(len(kinds))
    placed: list[tuple[float, float, float]] = []
    prims: list[Primitive] = []
    view_x, view_z = -math.sin(yaw), -math.cos(yaw)  # horizontal viewing direction
    half_width = math.tan(hfov / 2.0) * 0.75
    for instance, idx in enumerate(order, start=1):
        kind = kinds[idx]
        for _ in range(12):
            dist = rng.uniform(1.6, 5.0)
            side = rng.uniform(-half_width, half_width) * dist
            x = camera.position[0] + view_x * dist - view_z * side
            z = cam_z + view_z * dist + view_x * side
            margin = 0.6
            if not (-room.left + margin < x < room.right - margin and -room.back + margin < z < room.front - margin):
                continue
            if kind == PERSON:
                facing = math.atan2(camera.position[0] - x, cam_z - z) + rng.uniform(-1.4, 1.4)
                new, radius = _person(x, z, facing, instance, rng)
            else:
                new, radius = _object(kind, x, z, instance, rng)
            if all(math.hypot(x - px, z - pz) > radius + pr + 0.05 for px, pz, pr in placed):
                placed.append((x, z, radius))
                prims += new
                break
    return Scene(camera, room, light, prims, int(rng.integers(0, 2**31 - 1)))
