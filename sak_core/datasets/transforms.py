"""Stage-2 augmentation and test-time preparation of dense multi-task samples.

Works on raw samples: ``image`` ``H x W x 3`` float32 in [0, 255] plus one array per task
(labels ``H x W`` integers, ``normals`` ``H x W x 3`` float32, ``depth`` ``H x W`` float32 metres,
``boundaries`` ``H x W`` in {0, 1}). Training follows the reference: random scale U[0.5, 2]
(image bilinear, labels nearest, maps bilinear with invalid pixels kept invalid, depth divided by
the scale), random crop with ``cat_max_ratio``, horizontal flip (normal x negated), photometric
distortion, normalisation, centred padding (image 0, labels 255) and ignore regions. Test:
normalisation, padding and ignore regions only. :func:`to_sample` turns the result into the
tensors of docs/concepts.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sak_core.plugin.specs import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD

LABEL_KEYS = ("semseg", "parts", "saliency", "boundaries")
MAP_KEYS = ("normals", "depth")
TASK_KEYS = LABEL_KEYS + MAP_KEYS

Raw = dict[str, np.ndarray]


def is_label_map(key: str, array: np.ndarray) -> bool:
    """Whether ``key`` holds class ids (nearest resize, padded with the ignore value): the built-in
    label keys, and any other task's integer array (a float array is a continuous map: nearest
    resize, padded with 0). A plugin task's targets pass through with these rules."""
    return key in LABEL_KEYS or (key not in MAP_KEYS and np.issubdtype(array.dtype, np.integer))


# -- geometry --------------------------------------------------------------------------------
def _resize(array: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]  # 1, C, H, W
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    out = F.interpolate(t, size=size, mode=mode, **kwargs)[0]
    return out[0].numpy() if array.ndim == 2 else out.permute(1, 2, 0).numpy()


def _resize_map(key: str, array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a map whose invalid pixels (zero depth, zero normal) stay invalid."""
    valid = (array > 0) if key == "depth" else np.any(array != 0, axis=-1)
    weight = _resize(valid.astype(np.float32), size, "bilinear")
    values = _resize(array, size, "bilinear")
    keep = weight > 1 - 1e-4
    if key == "normals":
        norm = np.linalg.norm(values, axis=-1, keepdims=True)
        keep &= norm[..., 0] > 1e-6
        values = values / np.maximum(norm, 1e-6)
        values[~keep] = 0.0
    else:
        values[~keep] = 0.0
    return values.astype(np.float32)


def rescale(sample: Raw, scale: float) -> Raw:
    """Resize every array by ``scale`` (sizes truncated as the reference); depth /= scale."""
    h, w = sample["image"].shape[:2]
    size = (max(1, int(h * scale)), max(1, int(w * scale)))
    out: Raw = {}
    for key, value in sample.items():
        if size == (h, w):
            out[key] = value.copy()
        elif key == "image":
            out[key] = _resize(value, size, "bilinear")
        elif key in MAP_KEYS:
            out[key] = _resize_map(key, value, size)
        else:
            out[key] = _resize(value, size, "nearest").astype(value.dtype)
    if "depth" in out:
        out["depth"] = out["depth"] / np.float32(scale)
    return out


def random_crop(sample: Raw, size: tuple[int, int], rng: np.random.Generator, cat_max_ratio: float = 0.75,
                tries: int = 10) -> Raw:
    """Crop ``size`` at a random place (the whole extent along sides that are shorter).

    With ``cat_max_ratio < 1`` and a ``semseg`` target, up to ``tries`` places are drawn until
    the crop holds more than one class and no class covers ``cat_max_ratio`` of its labelled
    pixels (the last place drawn is used otherwise).
    """
    h, w = sample["image"].shape[:2]
    ch, cw = size

    def draw() -> tuple[int, int]:
        return int(rng.integers(0, max(h - ch, 0) + 1)), int(rng.integers(0, max(w - cw, 0) + 1))

    top, left = draw()
    if cat_max_ratio < 1.0 and "semseg" in sample:
        for _ in range(tries):
            crop = sample["semseg"][top:top + ch, left:left + cw]
            _, counts = np.unique(crop[crop != IGNORE_INDEX], return_counts=True)
            if len(counts) > 1 and counts.max() / counts.sum() < cat_max_ratio:
                break
            top, left = draw()
    return {k: v[top:top + ch, left:left + cw] for k, v in sample.items()}


def hflip(sample: Raw) -> Raw:
    """Mirror left-right; the x component of normals changes sign."""
    out = {k: np.ascontiguousarray(v[:, ::-1]) for k, v in sample.items()}
    if "normals" in out:
        out["normals"][..., 0] *= -1
    return out


def pad(sample: Raw, size: tuple[int, int]) -> tuple[Raw, tuple[int, int, int, int]]:
    """Centre the sample in at least ``size`` (image 0, labels 255, maps 0 = invalid).

    Returns the padded sample and the ``(top, left, h, w)`` box of the original pixels.
    """
    h, w = sample["image"].shape[:2]
    ph, pw = max(size[0], h), max(size[1], w)
    top, left = (ph - h) // 2, (pw - w) // 2
    box = (top, left, h, w)
    if (ph, pw) == (h, w):
        return dict(sample), box
    out: Raw = {}
    for key, value in sample.items():
        fill = IGNORE_INDEX if key != "image" and is_label_map(key, value) else 0
        padded = np.full((ph, pw) + value.shape[2:], fill, dtype=value.dtype)
        padded[top:top + h, left:left + w] = value
        out[key] = padded
    return out, box


def add_ignore_regions(sample: Raw) -> Raw:
    """Zero normals and zero depth become 255; parts without any part pixel become all 255."""
    out = dict(sample)
    if "normals" in out:
        normals = out["normals"].copy()
        normals[~np.any(normals != 0, axis=-1)] = IGNORE_INDEX
        out["normals"] = normals
    if "depth" in out:
        depth = out["depth"].copy()
        depth[depth == 0] = IGNORE_INDEX
        out["depth"] = depth
    if "parts" in out:
        parts = out["parts"]
        if np.all((parts == 0) | (parts == IGNORE_INDEX)):
            out["parts"] = np.full_like(parts, IGNORE_INDEX)
    return out


# -- colour ----------------------------------------------------------------------------------
def _rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(-1)
    c = v - rgb.min(-1)
    s = np.where(v > 0, c / np.maximum(v, 1e-12), 0.0)
    safe = np.maximum(c, 1e-12)
    h = np.where(v == r, (g - b) / safe, np.where(v == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    h = np.where(c > 0, (h / 6.0) % 1.0, 0.0)
    return np.stack([h, s, v], -1)


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.astype(np.int64) % 6
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], -1)


def photometric_distortion(image: np.ndarray, rng: np.random.Generator, brightness: float = 32,
                           contrast: tuple[float, float] = (0.5, 1.5),
                           saturation: tuple[float, float] = (0.5, 1.5), hue: int = 18) -> np.ndarray:
    """Brightness +-32, contrast, saturation and hue (+-18 in OpenCV's 0-180 hue units), each with
    probability 0.5; contrast first or last at random. ``image`` in [0, 255]."""
    img = np.clip(np.round(image), 0, 255).astype(np.float32)

    def clip(x: np.ndarray) -> np.ndarray:
        return np.clip(np.round(x), 0, 255)

    contrast_first = rng.random() < 0.5
    if rng.random() < 0.5:
        img = clip(img + rng.uniform(-brightness, brightness))
    if contrast_first and rng.random() < 0.5:
        img = clip(img * rng.uniform(*contrast))
    hsv = _rgb_to_hsv(img / 255.0)
    if rng.random() < 0.5:
        hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(*saturation), 0, 1)
    if rng.random() < 0.5:
        hsv[..., 0] = (hsv[..., 0] + rng.integers(-hue, hue) / 180.0) % 1.0
    img = clip(_hsv_to_rgb(hsv) * 255.0)
    if not contrast_first and rng.random() < 0.5:
        img = clip(img * rng.uniform(*contrast))
    return img.astype(np.float32)


def normalise(image: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """[0, 255] -> (x / 255 - mean) / std."""
    m = np.asarray(mean, dtype=np.float32)
    s = np.asarray(std, dtype=np.float32)
    return ((image.astype(np.float32) / 255.0) - m) / s


# -- pipeline --------------------------------------------------------------------------------
@dataclass(frozen=True)
class DenseTransform:
    """The stage-2 training augmentation (``train=True``) or test preparation."""

    input_size: tuple[int, int]
    train: bool = True
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    scale_range: tuple[float, float] = (0.5, 2.0)
    cat_max_ratio: float = 0.75
    flip: bool = True
    photometric: bool = True

    def __call__(self, sample: Raw, rng: np.random.Generator) -> tuple[Raw, tuple[int, int, int, int]]:
        """Augmented, normalised, padded sample and the valid box of its un-padded pixels."""
        sample = dict(sample)
        if self.train:
            lo, hi = self.scale_range
            scale = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
            if scale != 1.0:
                sample = rescale(sample, scale)
            sample = random_crop(sample, self.input_size, rng, self.cat_max_ratio)
            if self.flip and rng.random() < 0.5:
                sample = hflip(sample)
            if self.photometric:
                sample["image"] = photometric_distortion(sample["image"], rng)
        sample["image"] = normalise(sample["image"], self.mean, self.std)
        sample, box = pad(sample, self.input_size)
        return add_ignore_regions(sample), box


def to_sample(sample: Raw, sample_id: str, box: tuple[int, int, int, int]) -> dict:
    """Numpy sample -> the tensors of docs/concepts.md, with ``meta``."""
    out: dict = {"image": torch.from_numpy(np.ascontiguousarray(sample["image"].transpose(2, 0, 1), dtype=np.float32))}
    for key in ("semseg", "parts", "saliency"):
        if key in sample:
            out[key] = torch.from_numpy(np.ascontiguousarray(sample[key], dtype=np.int64))
    if "normals" in sample:
        out["normals"] = torch.from_numpy(np.ascontiguousarray(sample["normals"].transpose(2, 0, 1), dtype=np.float32))
    for key in ("boundaries", "depth"):
        if key in sample:
            out[key] = torch.from_numpy(np.ascontiguousarray(sample[key], dtype=np.float32))[None]
    for key, value in sample.items():  # another task's targets: class ids H x W, or a map C x H x W
        if key in out or key in TASK_KEYS:
            continue
        if is_label_map(key, value):
            out[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.int64))
        else:
            array = np.ascontiguousarray(value, dtype=np.float32)
            out[key] = torch.from_numpy(array[None] if array.ndim == 2 else array.transpose(2, 0, 1).copy())
    out["meta"] = {"id": sample_id, "original_size": (box[2], box[3]), "valid_box": tuple(box)}
    return out


def crop_to_valid(prediction: torch.Tensor, meta: Mapping) -> torch.Tensor:
    """A ``... x H x W`` prediction on the padded image cut back to the original pixels."""
    top, left, h, w = (int(v) for v in meta["valid_box"])
    return prediction[..., top:top + h, left:left + w]
