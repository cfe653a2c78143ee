"""The ``synthetic`` dataset: scenes in the native layout, generated once into the user cache."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sak_core.datasets import plugin
from sak_core.datasets.base import DenseDataset, parse_size, select_tasks
from sak_core.datasets.errors import CorruptFileError, DataNotFoundError
from sak_core.datasets.files import DATA_ENV, cache_dir, class_ids, read_json, read_split, require_files, resolve_root
from sak_core.datasets.synthetic.layouts import GENERATOR_VERSION, write_layout_in_place
from sak_core.datasets.transforms import Raw

log = logging.getLogger("sak.datasets")

TASKS = ("semseg", "parts", "saliency", "normals", "boundaries", "depth")
DEFAULT_COUNT = 600
STALE_SECONDS = 6 * 3600  # a temporary generation folder this old belongs to a dead process
LAYOUT = """\
  <root>/
    synthetic.json                 generator settings, class and part names
    splits/{train,val}.txt         one id per line
    scenes/<id>.npz                image (uint8 H x W x 3), semseg, parts, saliency, boundaries
                                   (uint8 H x W), normals (float16 H x W x 3), depth (float32 H x W),
                                   intrinsics (fx, fy, cx, cy)
  write one with: sak data synth --layout native --out DIR"""


def cached_scenes(size: tuple[int, int], count: int = DEFAULT_COUNT, seed: int = 0, val_fraction: float = 0.2,
                  workers: int | None = None) -> Path:
    """The native-layout folder of these settings in the user cache, generated on first use.

    Scenes are written to a temporary folder beside the final one and renamed into place, so
    an interrupted generation is never mistaken for a finished one.
    """
    h, w = size
    name = f"v{GENERATOR_VERSION}-seed{seed}-{h}x{w}-n{count}-val{val_fraction:g}"
    final = cache_dir() / "synthetic" / name
    if (final / "synthetic.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{name}.*"):  # left by a generation that was killed
        if time.time() - stale.stat().st_mtime > STALE_SECONDS:
            shutil.rmtree(stale, ignore_errors=True)
    workers = workers or min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    log.warning("generating %d synthetic scenes of %dx%d into %s (once)", count, h, w, final)
    try:
        write_layout_in_place(final, "native", count, (h, w), seed=seed, val_fraction=val_fraction, workers=workers)
    except OSError:
        if not (final / "synthetic.json").is_file():  # not a concurrent writer that finished first
            raise
    return final


class SyntheticScenes(DenseDataset):
    """Synthetic indoor scenes with all six tasks (native layout)."""

    name = "synthetic"

    def __init__(self, root: Path, split: str, train: bool, input_size, tasks: Sequence[str] | None = None,
                 **options) -> None:
        info = Path(root) / "synthetic.json"
        require_files([info], self.name, LAYOUT)
        self.info = read_json(info)
        ids = read_split(Path(root) / "splits" / f"{split}.txt", self.name, LAYOUT)
        super().__init__(root, split, train, input_size, select_tasks(tasks, TASKS, self.name), ids, **options)
        self.classes = tuple(self.info["classes"])
        require_files([self._path(i) for i in self.ids], self.name, LAYOUT)

    def _path(self, i: str) -> Path:
        return self.root / "scenes" / f"{i}.npz"

    def load_raw(self, index: int) -> Raw:
        path = self._path(self.ids[index])
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in ("image", *self.tasks)}
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise CorruptFileError(f"cannot read scene file {path}: {exc}") from exc
        raw: Raw = {"image": arrays["image"].astype(np.float32)}
        for task in self.tasks:
            value = arrays[task]
            if task in ("semseg", "parts"):
                value = class_ids(value, path, plugin.SYNTHETIC.tasks[task]["num_outputs"])
            raw[task] = value.astype(np.float32) if task in ("normals", "depth", "boundaries") else value
        return raw


def create(root=None, split: str = "train", train: bool = True, input_size=(128, 128), tasks=None,
           count: int = DEFAULT_COUNT, image_size=None, seed: int = 0, val_fraction: float = 0.2,
           workers: int | None = None, **options):
    """Factory of the ``synthetic`` DatasetSpec.

    With ``root`` (or an existing ``$SAK_DATA/synthetic``) it reads a native-layout folder; otherwise it uses
    (and on first use generates) ``count`` scenes of ``image_size`` (default: ``input_size``) in
    the user cache.
    """
    if split not in ("train", "val"):
        raise DataNotFoundError(f"synthetic has splits train and val, not '{split}'")
    shared = Path(os.environ.get(DATA_ENV) or "") / "synthetic" if os.environ.get(DATA_ENV) else None
    if root is None and not (shared and shared.is_dir()):
        size = parse_size(image_size or input_size)
        path = cached_scenes(size, count=count, seed=seed, val_fraction=val_fraction, workers=workers)
    else:
        path = resolve_root(root, "synthetic", "synthetic", LAYOUT)
    return SyntheticScenes(path, split, train, input_size, tasks, **options)
