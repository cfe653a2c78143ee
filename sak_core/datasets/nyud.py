"""NYUD-v2 in the multi-task layout: semseg (40 classes), depth, normals, boundaries."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sak_core.datasets import plugin
from sak_core.datasets.base import DenseDataset, select_tasks
from sak_core.datasets.errors import CorruptFileError, DataNotFoundError
from sak_core.datasets.files import (read_grey, read_labels, read_normals, read_npy, read_rgb, read_split,
                                     require_files, resolve_root, shape_mismatch)
from sak_core.datasets.transforms import Raw

FOLDER = "NYUDv2"
TASKS = ("semseg", "normals", "boundaries", "depth")

LAYOUT = """\
  NYUDv2/
    images/<id>.png
    gt_sets/{train,val}.txt          one id per line
    segmentation/<id>.png            single-channel, NYU-40 class + 1 (0 = unlabelled -> ignore)
    depth/<id>.npy                   H x W float metres (0 = missing -> ignore)
    normals/<id>.png                 RGB, [0, 255] -> [-1, 1]
    edge/<id>.png                    boundaries, 0 / 255"""

_DIRS = {"semseg": ("segmentation", ".png"), "normals": ("normals", ".png"),
         "boundaries": ("edge", ".png"), "depth": ("depth", ".npy")}


class NYUD(DenseDataset):
    """NYUD-v2 multi-task split (795 train / 654 val images in the real archive)."""

    name = "nyud"

    def __init__(self, root, split: str, train: bool, input_size, tasks: Sequence[str] | None = None,
                 **options) -> None:
        root = resolve_root(root, self.name, FOLDER, LAYOUT)
        ids = read_split(root / "gt_sets" / f"{split}.txt", self.name, LAYOUT)
        super().__init__(root, split, train, input_size, select_tasks(tasks, TASKS, self.name), ids, **options)
        need = [self._image_path(i) for i in self.ids]
        for task in self.tasks:
            need += [self._path(task, i) for i in self.ids]
        require_files(need, self.name, LAYOUT)

    def _image_path(self, i: str) -> Path:
        return self.root / "images" / f"{i}.png"

    def _path(self, task: str, i: str) -> Path:
        folder, suffix = _DIRS[task]
        return self.root / folder / f"{i}{suffix}"

    def load_raw(self, index: int) -> Raw:
        i = self.ids[index]
        image = read_rgb(self._image_path(i))
        shape = image.shape[:2]
        raw: Raw = {"image": image}
        for task in self.tasks:
            path = self._path(task, i)
            if task == "semseg":
                value = read_labels(path, plugin.NYUD.tasks["semseg"]["num_outputs"], offset=1, ignore=0)
            elif task == "normals":
                normals = read_normals(path)
                norm = np.linalg.norm(normals, axis=-1, keepdims=True)
                value = np.where(norm > 0, normals / np.maximum(norm, 1e-6), 0.0).astype(np.float32)
            elif task == "boundaries":
                edge = read_grey(path, "a boundary map")
                value = (edge.astype(np.float32) / 255.0 >= 0.5).astype(np.float32)
            else:  # depth
                value = read_npy(path)
                if value.ndim == 3 and 1 in (value.shape[0], value.shape[-1]):  # 1 x H x W or H x W x 1
                    value = value[0] if value.shape[0] == 1 else value[..., 0]
                value = value.astype(np.float32)
                if value.ndim != 2:
                    raise CorruptFileError(f"{path} has shape {value.shape}: depth must be a 2-D H x W array of metres")
                value = np.where(np.isfinite(value) & (value > 0), value, 0.0).astype(np.float32)
            if value.shape[:2] != shape:
                raise shape_mismatch(path, value.shape[:2], self._image_path(i), shape)
            raw[task] = value
        return raw


def create(root=None, split: str = "train", train: bool = True, input_size=(448, 576), tasks=None, **options):
    """Factory of the ``nyud`` DatasetSpec."""
    if split not in ("train", "val"):
        raise DataNotFoundError(f"nyud has splits train and val, not '{split}'")
    return NYUD(root, split, train, input_size, tasks, **options)
