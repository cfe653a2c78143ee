"""Writing synthetic scenes to disk in the real layouts (NYUD-v2, PASCAL-Context) or ``native``.

The files are byte-for-byte reproducible: PNG / JPEG through Pillow, ``.npy`` through numpy,
``.npz`` with fixed zip timestamps, ``.mat`` through scipy with a fixed header.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from sak_core.datasets.errors import DatasetError
from sak_core.runtime.files import staged_folder
from sak_core.datasets.synthetic.render import ROOM_PLANES, Rendering, render_index
from sak_core.datasets.synthetic.scene import BALL, BOX, CLASSES, CYLINDER, FLOOR, PART_GROUPS, PERSON, WALL

GENERATOR_VERSION = 1
LAYOUTS = ("native", "nyud", "pascal-context")

# synthetic class -> NYU-40 id as stored in segmentation PNGs (1-based; 0 = unlabelled)
NYU40_IDS = {WALL: 1, FLOOR: 2, BOX: 29, PERSON: 31, CYLINDER: 39, BALL: 40}
# synthetic class -> VOC id of the 21-class PASCAL-Context semseg (0 background)
VOC_IDS = {FLOOR: 0, WALL: 0, BALL: 16, BOX: 20, CYLINDER: 5, PERSON: 15}
VOC_NAMES = {5: "bottle", 15: "person", 16: "pottedplant", 20: "tvmonitor"}
# synthetic class -> (Context class name, LabelMap id)
CONTEXT = {WALL: ("wall", 1), FLOOR: ("floor", 2), BALL: ("ball", 3), BOX: ("box", 4),
           CYLINDER: ("bottle", 5), PERSON: ("person", 6)}
CONTEXT_EXTRA = {"tvmonitor": 7}
NYU_NAMES = ["unknown", "wall", "floor", "box", "bottle", "person"]  # "ball" is not an NYU class


def sample_id(index: int) -> str:
    return f"synth_{index:06d}"


# -- deterministic file writers --------------------------------------------------------------
def _png(path: Path, array: np.ndarray) -> None:
    Image.fromarray(array).save(path, format="PNG")


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Compressed ``.npz`` whose bytes depend only on the arrays (fixed zip timestamps)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buffer.getvalue())


def save_mat(path: Path, variables: dict) -> None:
    """A MATLAB 5 file through scipy, with a fixed header text instead of the creation date."""
    from scipy.io import savemat

    buffer = io.BytesIO()
    savemat(buffer, variables, do_compression=True)
    data = bytearray(buffer.getvalue())
    header = b"MATLAB 5.0 MAT-file, written by sak data synth".ljust(116, b" ")
    data[:116] = header
    path.write_bytes(bytes(data))


# -- layouts ---------------------------------------------------------------------------------
def _map_classes(semseg: np.ndarray, table: dict[int, int], dtype=np.uint8) -> np.ndarray:
    lut = np.zeros(len(CLASSES), dtype=dtype)
    for k, v in table.items():
        lut[k] = v
    return lut[semseg]


def _normals_png(normals: np.ndarray) -> np.ndarray:
    return np.clip(np.round((normals + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _write_native(root: Path, sid: str, r: Rendering) -> None:
    save_npz(root / "scenes" / f"{sid}.npz", {
        "image": r.image, "semseg": r.semseg, "parts": r.parts, "saliency": r.saliency,
        "normals": r.normals.astype(np.float16), "depth": r.depth.astype(np.float32),
        "boundaries": r.boundaries, "intrinsics": r.intrinsics,
    })


def _write_nyud(root: Path, sid: str, r: Rendering) -> None:
    _png(root / "images" / f"{sid}.png", r.image)
    _png(root / "segmentation" / f"{sid}.png", _map_classes(r.semseg, NYU40_IDS))
    np.save(root / "depth" / f"{sid}.npy", r.depth.astype(np.float32))
    _png(root / "normals" / f"{sid}.png", _normals_png(r.normals))
    _png(root / "edge" / f"{sid}.png", (r.boundaries * 255).astype(np.uint8))


def _part_objects(r: Rendering) -> np.ndarray:
    """The Pascal-Part ``objects`` struct array: one entry per visible object, parts for people."""
    object_dtype = [("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")]
    part_dtype = [("part_name", "O"), ("mask", "O")]
    entries = []
    by_instance: dict[int, list[int]] = {}
    for k, p in enumerate(r.scene.primitives):
        by_instance.setdefault(p.instance, []).append(k)
    for instance, members in sorted(by_instance.items()):
        mask = r.instance == instance
        if not mask.any():
            continue
        semantic = r.scene.primitives[members[0]].semantic
        voc = VOC_IDS[semantic]
        parts = np.zeros((0, 0))
        if semantic == PERSON:
            names: dict[str, np.ndarray] = {}
            for k in members:
                name = r.scene.primitives[k].part_name
                names[name] = names.get(name, np.zeros_like(mask)) | (r.hit == ROOM_PLANES + k)
            visible = [(n, m) for n, m in sorted(names.items()) if m.any()]
            if visible:
                parts = np.zeros((1, len(visible)), dtype=part_dtype)
                for j, (name, m) in enumerate(visible):
                    parts[0, j] = (name, m.astype(np.uint8))
        entries.append((VOC_NAMES.get(voc, "object"), np.array([[voc]], dtype=np.uint8),
                        mask.astype(np.uint8), parts))
    objects = np.zeros((1, len(entries)), dtype=object_dtype)
    for j, entry in enumerate(entries):
        objects[0, j] = entry
    return objects


def _write_pascal(root: Path, sid: str, r: Rendering) -> None:
    Image.fromarray(r.image).save(root / "JPEGImages" / f"{sid}.jpg", format="JPEG", quality=95)
    _png(root / "semseg" / "pascal-context" / f"{sid}.png", _map_classes(r.semseg, VOC_IDS))
    _png(root / "sal_distill" / f"{sid}.png", (r.saliency * 255).astype(np.uint8))
    _png(root / "normals_distill" / f"{sid}.png", _normals_png(r.normals))
    label_map = _map_classes(r.semseg, {k: v[1] for k, v in CONTEXT.items()}, dtype=np.uint16)
    save_mat(root / "pascal-context" / "trainval" / f"{sid}.mat", {"LabelMap": label_map})
    anno = np.zeros((1, 1), dtype=[("imname", "O"), ("objects", "O")])
    anno[0, 0] = (sid, _part_objects(r))
    save_mat(root / "human_parts" / f"{sid}.mat", {"anno": anno})


_WRITERS: dict[str, tuple[Callable, tuple[str, ...], str]] = {
    "native": (_write_native, ("scenes",), "splits"),
    "nyud": (_write_nyud, ("images", "segmentation", "depth", "normals", "edge"), "gt_sets"),
    "pascal-context": (_write_pascal, ("JPEGImages", "semseg/pascal-context", "sal_distill", "normals_distill",
                                       "pascal-context/trainval", "human_parts"), "ImageSets/Context"),
}


def _static_files(root: Path, layout: str, size: tuple[int, int], seed: int, count: int, n_val: int) -> None:
    if layout == "pascal-context":
        (root / "json").mkdir(parents=True, exist_ok=True)
        context = {name: idx for name, idx in CONTEXT.values()} | CONTEXT_EXTRA
        (root / "json" / "context_classes.json").write_text(json.dumps(context, indent=1, sort_keys=True))
        (root / "json" / "nyu_classes.json").write_text(json.dumps(NYU_NAMES, indent=1))
    if layout == "native":
        info = {"generator": "sak synthetic scenes", "version": GENERATOR_VERSION, "layout": "native",
                "size": list(size), "seed": seed, "count": count, "val": n_val,
                "classes": list(CLASSES), "part_groups": list(PART_GROUPS)}
        (root / "synthetic.json").write_text(json.dumps(info, indent=1))


def _write_one(job: tuple[str, str, int, int, tuple[int, int]]) -> None:
    root, layout, seed, index, size = job
    _WRITERS[layout][0](Path(root), sample_id(index), render_index(seed, index, size))


def write_layout(out: str | os.PathLike, layout: str, count: int, size: tuple[int, int], seed: int = 0,
                 val_fraction: float = 0.2, workers: int = 1, progress: Callable[[int], None] | None = None) -> Path:
    """Render ``count`` scenes into ``out`` in ``layout``; the last ``val_fraction`` form ``val``.

    The same arguments give the same bytes (scene ``i`` depends only on ``seed`` and ``i``).
    """
    if layout not in _WRITERS:
        raise DatasetError(f"unknown layout '{layout}': choose one of {', '.join(LAYOUTS)}")
    if count < 2:
        raise DatasetError("write at least 2 scenes (one for train, one for val)")
    root = Path(out)
    writer, folders, split_dir = _WRITERS[layout]
    for folder in folders + (split_dir,):
        (root / folder).mkdir(parents=True, exist_ok=True)
    n_val = min(max(1, int(round(count * val_fraction))), count - 1)
    _static_files(root, layout, size, seed, count, n_val)
    jobs = [(str(root), layout, int(seed), i, tuple(size)) for i in range(count)]
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for done, _ in enumerate(pool.imap_unordered(_write_one, jobs, chunksize=4), start=1):
                if progress:
                    progress(done)
    else:
        for done, job in enumerate(jobs, start=1):
            _write_one(job)
            if progress:
                progress(done)
    ids = [sample_id(i) for i in range(count)]
    (root / split_dir / "train.txt").write_text("\n".join(ids[: count - n_val]) + "\n")
    (root / split_dir / "val.txt").write_text("\n".join(ids[count - n_val:]) + "\n")
    return root


def write_layout_in_place(out: str | os.PathLike, layout: str, count: int, size: tuple[int, int],
                          **options) -> Path:
    """:func:`write_layout` into a temporary folder beside ``out`` (named ``.<out name>.*``),
    renamed to ``out`` once complete, so an interrupted run leaves no half dataset. ``out`` must
    not exist or be an empty folder; the rename's ``OSError`` is raised when it does not."""
    out = Path(out)
    with staged_folder(out) as tmp:
        write_layout(tmp, layout, count, size, **options)
    return out
