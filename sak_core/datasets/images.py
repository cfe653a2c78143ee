"""Stage-1 image sources (labels unused): ImageNet class folders or ``<split>.tar``, any image folder.

Samples hold ``image`` and ``meta`` only. Training: random resized crop to ``input_size`` and a
horizontal flip; test: shorter side resized to fit, centre crop.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms as T

from sak_core.datasets.base import parse_size
from sak_core.datasets.errors import CorruptFileError, DatasetError, DataNotFoundError, LoadErrors, SplitNotFoundError
from sak_core.datasets.files import cache_dir, read_json, read_rgb, resolve_root
from sak_core.plugin.specs import IMAGENET_MEAN, IMAGENET_STD
from sak_core.runtime.files import atomic_write_text

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff")

IMAGENET_LAYOUT = """\
  ImageNet/
    train/<wnid>/<file>.JPEG       class folders (labels unused)
    or train.tar                   a tar of train/<wnid>/<file>, read without unpacking
    val/... or val.tar             the same for split 'val'"""

FOLDER_LAYOUT = """\
  <root>/**/<file>.{jpg,jpeg,png,bmp,webp,...}   any images, any depth
  (when <root>/<split>/ exists, only that folder is read; held-out images go in <root>/val/)"""
FOLDER_SPLITS = ("train", "val")


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


class _TarIndex:
    """Byte offsets of the images inside a tar, built once and cached beside the user cache."""

    def __init__(self, path: Path) -> None:
        self.path = path
        stat = path.stat()
        key = hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
        cached = cache_dir() / "tar-index" / f"{key}.json"
        if cached.is_file():
            entries = read_json(cached, fix="delete it and the index is rebuilt")
        else:
            entries = []
            try:
                with tarfile.open(path, "r:") as tar:  # uncompressed tar: members can be read in place
                    for member in tar:
                        if member.isfile() and _is_image(member.name):
                            entries.append([member.name, member.offset_data, member.size])
            except tarfile.TarError as exc:
                raise CorruptFileError(f"cannot read tar archive {path}: {exc}") from exc
            entries.sort()
            atomic_write_text(cached, json.dumps(entries))
        self.names = [e[0] for e in entries]
        self.offsets = np.array([e[1] for e in entries], dtype=np.int64)
        self.sizes = np.array([e[2] for e in entries], dtype=np.int64)
        self._handle = None
        self._pid = -1

    def read(self, index: int) -> bytes:
        if self._pid != os.getpid():  # one file handle per (DataLoader worker) process
            self._handle = open(self.path, "rb")  # noqa: SIM115 - kept open for the process
            self._pid = os.getpid()
        self._handle.seek(int(self.offsets[index]))
        return self._handle.read(int(self.sizes[index]))

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handle"], state["_pid"] = None, -1
        return state


class ImageSource(Dataset):
    """Images from a list of files or a tar index; samples ``{"image", "meta"}``."""

    def __init__(self, name: str, files: list[Path] | None, tar: _TarIndex | None, train: bool, input_size,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, on_error: str = "error", scale=(0.08, 1.0)) -> None:
        self.name = name
        self.files = files
        self.tar = tar
        self.train = train
        self.input_size = parse_size(input_size)
        self.errors = LoadErrors(name, on_error, len(self))
        normalise = [T.ToTensor(), T.Normalize(mean, std)]
        if train:
            self.transform = T.Compose([T.RandomResizedCrop(self.input_size, scale=scale), T.RandomHorizontalFlip()]
                                       + normalise)
        else:
            self.transform = T.Compose([T.Resize(max(self.input_size)), T.CenterCrop(self.input_size)] + normalise)

    def __len__(self) -> int:
        return len(self.tar.names) if self.tar is not None else len(self.files)

    def _sample_id(self, index: int) -> str:
        return self.tar.names[index] if self.tar is not None else str(self.files[index])

    def _load(self, index: int) -> np.ndarray:
        if self.tar is not None:
            return read_rgb(self.tar.read(index), name=f"{self.tar.path}:{self.tar.names[index]}")
        return read_rgb(self.files[index])

    def __getitem__(self, index: int) -> dict:
        for step in range(len(self)):
            i = (index + step) % len(self)
            try:
                array = self._load(i)
            except CorruptFileError as exc:
                self.errors.handle(exc, i)
                continue
            image = self.transform(Image.fromarray(array.astype(np.uint8)))
            h, w = image.shape[-2:]
            return {"image": image, "meta": {"id": self._sample_id(i), "original_size": (h, w),
                                             "valid_box": (0, 0, h, w)}}
        raise DatasetError(f"dataset '{self.name}': no readable image left to serve")

    @property
    def skipped(self) -> int:
        return self.errors.count


def _scan(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and _is_image(p.name))


def create_imagenet(root=None, split: str = "train", train: bool = True, input_size=(384, 384), tasks=None,
                    **options) -> ImageSource:
    """Factory of the ``imagenet`` DatasetSpec: ``<root>/<split>/`` class folders or ``<root>/<split>.tar``."""
    if tasks:
        raise DatasetError("imagenet has no task labels (stage-1 distillation only); pass tasks=None")
    base = resolve_root(root, "imagenet", "ImageNet", IMAGENET_LAYOUT)
    folder, tar = base / split, base / f"{split}.tar"
    if folder.is_dir():
        files = _scan(folder)
        if not files:
            raise DataNotFoundError(f"no images under {folder}.\nExpected layout:\n{IMAGENET_LAYOUT}")
        return ImageSource("imagenet", files, None, train, input_size, **options)
    if tar.is_file():
        index = _TarIndex(tar)
        if not index.names:
            raise DataNotFoundError(f"no images inside {tar}.\nExpected layout:\n{IMAGENET_LAYOUT}")
        return ImageSource("imagenet", None, index, train, input_size, **options)
    raise DataNotFoundError(
        f"split '{split}' of dataset 'imagenet' not found: neither {folder}/ nor {tar}.\n"
        f"Expected layout:\n{IMAGENET_LAYOUT}"
    )


def create_folder(root=None, split: str = "train", train: bool = True, input_size=(384, 384), tasks=None,
                  **options) -> ImageSource:
    """Factory of the ``images`` DatasetSpec: the images below ``root/<split>/`` when that folder
    exists; else, for ``train``, every image below ``root`` outside its other split folders
    (``root/val/`` is never trained on), and for another split a :class:`SplitNotFoundError`."""
    if tasks:
        raise DatasetError("images has no task labels (stage-1 distillation only); pass tasks=None")
    base = resolve_root(root, "images", "images", FOLDER_LAYOUT)
    folder = base / split
    if folder.is_dir():
        files = _scan(folder)
    elif split == "train":
        folder = base
        held_out = [base / s for s in FOLDER_SPLITS if s != split]
        files = [f for f in _scan(base) if not any(f.is_relative_to(h) for h in held_out)]
    else:
        raise SplitNotFoundError(f"dataset 'images' has no split '{split}': {folder}/ does not exist; put "
                                 f"held-out images there to score them.\nExpected layout:\n{FOLDER_LAYOUT}")
    if not files:
        raise DataNotFoundError(f"no images under {folder}.\nExpected layout:\n{FOLDER_LAYOUT}")
    return ImageSource("images", files, None, train, input_size, **options)
