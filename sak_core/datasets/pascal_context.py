"""PASCAL-Context in the multi-task layout: semseg, human parts, saliency, normals, boundaries."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sak_core.datasets import plugin
from sak_core.datasets.base import DenseDataset, select_tasks
from sak_core.datasets.edges import label_edges
from sak_core.datasets.errors import CorruptFileError, DataNotFoundError
from sak_core.datasets.files import (read_grey, read_json, read_labels, read_mat, read_normals, read_rgb, read_split,
                                     require_files, resolve_root, shape_mismatch)
from sak_core.datasets.transforms import Raw

FOLDER = "PASCALContext"
TASKS = ("semseg", "parts", "saliency", "normals", "boundaries")
PERSON_CLASS = 15  # VOC class index of "person" in the Pascal-Part annotations

LAYOUT = """\
  PASCALContext/
    JPEGImages/<id>.jpg
    ImageSets/Context/{train,val}.txt      one id per line
    semseg/pascal-context/<id>.png         single-channel, 21 classes (0 background), 255 ignore
    human_parts/<id>.mat                   Pascal-Part 'anno' struct (objects, parts)
    sal_distill/<id>.png                   saliency, thresholded at 0.5
    normals_distill/<id>.png               normals, RGB, [0, 255] -> [-1, 1]
    pascal-context/trainval/<id>.mat       'LabelMap', H x W class ids (boundaries; normals class mask)
    json/nyu_classes.json, json/context_classes.json   (normals class mask)"""

# Pascal-Part person part names -> the 6 part groups (1 head, 2 torso, 3 upper arms,
# 4 lower arms and hands, 5 upper legs, 6 lower legs and feet); 0 is background.
HUMAN_PART_GROUPS = {
    **dict.fromkeys(("head", "hair", "lear", "rear", "lebrow", "rebrow", "leye", "reye", "mouth", "nose"), 1),
    **dict.fromkeys(("torso", "neck"), 2),
    **dict.fromkeys(("luarm", "ruarm"), 3),
    **dict.fromkeys(("llarm", "rlarm", "lhand", "rhand"), 4),
    **dict.fromkeys(("luleg", "ruleg"), 5),
    **dict.fromkeys(("llleg", "rlleg", "lfoot", "rfoot"), 6),
}


def normals_valid_classes(root: Path) -> set[int]:
    """``LabelMap`` classes whose normals are kept: the Context classes that NYU also has
    (``unknown`` excluded), plus ``tvmonitor``, as the reference does."""
    paths = [root / "json" / "nyu_classes.json", root / "json" / "context_classes.json"]
    require_files(paths, "pascal-context", LAYOUT)
    nyu, context = read_json(paths[0]), read_json(paths[1])
    if not isinstance(nyu, (list, dict)) or not all(isinstance(name, str) for name in nyu):
        raise CorruptFileError(f"{paths[0]} must hold the NYU class names (a list, or a mapping keyed by name)")
    if not isinstance(context, dict) or not all(_is_class_id(v) for v in context.values()):
        raise CorruptFileError(f"{paths[1]} must map each Context class name to its integer LabelMap id")
    valid = {int(context[name]) for name in nyu if name in context and name != "unknown"}
    if "tvmonitor" in context:
        valid.add(int(context["tvmonitor"]))
    return valid


def _is_class_id(value: object) -> bool:
    """An integer id, as a JSON number or a string of digits."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())


def _field(record: np.ndarray, name: str):
    value = record[name]
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.item()
    return value


def read_human_parts(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The part-group map of every person in a Pascal-Part ``.mat`` (zeros without one)."""
    target = np.zeros(shape, dtype=np.uint8)
    try:
        anno = read_mat(path)["anno"][0, 0]
        objects = np.asarray(anno["objects"]).ravel()
        objects = objects[0].ravel() if objects.dtype == object and objects.size == 1 else objects
        for obj in objects:
            if int(np.asarray(_field(obj, "class_ind")).ravel()[0]) != PERSON_CLASS:
                continue
            parts = np.asarray(obj["parts"]).ravel()
            if parts.dtype == object and parts.size == 1:
                parts = np.asarray(parts[0]).ravel()
            if parts.dtype.names is None:
                continue  # a person annotated without parts
            for part in parts:
                name = str(np.asarray(_field(part, "part_name")).ravel()[0])
                if name not in HUMAN_PART_GROUPS:
                    raise CorruptFileError(f"unknown human part '{name}' in {path}")
                mask = np.asarray(_field(part, "mask")).astype(bool)
                if mask.shape != shape:
                    raise CorruptFileError(f"part mask of size {mask.shape} in {path}, image is {shape}")
                target[mask] = HUMAN_PART_GROUPS[name]
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise CorruptFileError(f"unexpected Pascal-Part annotation in {path}: {exc!r}") from exc
    return target


class PascalContext(DenseDataset):
    """PASCAL-Context multi-task split (4998 train / 5105 val images in the real archive)."""

    name = "pascal-context"

    def __init__(self, root, split: str, train: bool, input_size, tasks: Sequence[str] | None = None,
                 **options) -> None:
        root = resolve_root(root, self.name, FOLDER, LAYOUT)
        ids = read_split(root / "ImageSets" / "Context" / f"{split}.txt", self.name, LAYOUT)
        super().__init__(root, split, train, input_size, select_tasks(tasks, TASKS, self.name), ids, **options)
        need = [self._image_path(i) for i in self.ids]
        for task in self.tasks:
            need += [self._path(task, i) for i in self.ids]
        if {"normals", "boundaries"} & set(self.tasks):
            need += [self._label_map_path(i) for i in self.ids]
        require_files(list(dict.fromkeys(need)), self.name, LAYOUT)
        self.normal_classes = normals_valid_classes(root) if "normals" in self.tasks else set()

    def _image_path(self, i: str) -> Path:
        return self.root / "JPEGImages" / f"{i}.jpg"

    def _label_map_path(self, i: str) -> Path:
        return self.root / "pascal-context" / "trainval" / f"{i}.mat"

    def _path(self, task: str, i: str) -> Path:
        if task == "semseg":
            voc = self.root / "semseg" / "VOC12" / f"{i}.png"  # preferred when present, as the reference
            return voc if voc.is_file() else self.root / "semseg" / "pascal-context" / f"{i}.png"
        return {
            "parts": self.root / "human_parts" / f"{i}.mat",
            "saliency": self.root / "sal_distill" / f"{i}.png",
            "normals": self.root / "normals_distill" / f"{i}.png",
            "boundaries": self._label_map_path(i),
        }[task]

    def _label_map(self, i: str, shape: tuple[int, int]) -> np.ndarray:
        path = self._label_map_path(i)
        try:
            label_map = np.asarray(read_mat(path)["LabelMap"])
        except KeyError:
            raise CorruptFileError(f"no 'LabelMap' in {path}") from None
        if label_map.dtype.kind not in "iuf" or label_map.shape != shape:
            raise CorruptFileError(
                f"'LabelMap' in {path} is a {label_map.dtype} array of shape {label_map.shape}; expected "
                f"a numeric H x W array of class ids, of its image's shape {shape}"
            )
        return label_map

    def load_raw(self, index: int) -> Raw:
        i = self.ids[index]
        image = read_rgb(self._image_path(i))
        shape = image.shape[:2]
        raw: Raw = {"image": image}
        label_map = self._label_map(i, shape) if {"normals", "boundaries"} & set(self.tasks) else None
        for task in self.tasks:
            path = self._path(task, i)
            if task == "semseg":
                value = read_labels(path, plugin.PASCAL_CONTEXT.tasks["semseg"]["num_outputs"])
            elif task == "parts":
                value = read_human_parts(path, shape)
            elif task == "saliency":
                sal = read_grey(path, "a saliency map")
                value = (sal.astype(np.float32) / 255.0 > 0.5).astype(np.uint8)
            elif task == "normals":
                normals = read_normals(path)
                keep = np.isin(label_map, list(self.normal_classes))
                norm = np.linalg.norm(normals, axis=-1, keepdims=True)
                keep &= norm[..., 0] > 0
                value = np.where(keep[..., None], normals / np.maximum(norm, 1e-6), 0.0).astype(np.float32)
            else:  # boundaries
                value = label_edges(label_map).astype(np.float32)
            if value.shape[:2] != shape:
                raise shape_mismatch(path, value.shape[:2], self._image_path(i), shape)
            raw[task] = value
        return raw


def create(root=None, split: str = "train", train: bool = True, input_size=(512, 512), tasks=None, **options):
    """Factory of the ``pascal-context`` DatasetSpec."""
    if split not in ("train", "val"):
        raise DataNotFoundError(f"pascal-context has splits train and val, not '{split}'")
    return PascalContext(root, split, train, input_size, tasks, **options)
