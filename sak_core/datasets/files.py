"""Finding data on disk: the data root, the user cache, split files and readable images."""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps

from sak_core.datasets.errors import CorruptFileError, DatasetError, DataNotFoundError
from sak_core.runtime.files import read_text
from sak_core.plugin.specs import IGNORE_INDEX

T = TypeVar("T")

DATA_ENV = "SAK_DATA"
CACHE_ENV = "SAK_CACHE"


def cache_dir() -> Path:
    """The user cache folder: ``$SAK_CACHE`` or ``~/.cache/sak``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "sak")


def resolve_root(root: str | os.PathLike | None, dataset: str, folder: str, layout: str) -> Path:
    """The dataset folder: ``root`` when given, else ``$SAK_DATA/<folder>``.

    Raises :class:`DataNotFoundError` naming the path tried and the expected ``layout``.
    """
    if root is None:
        base = os.environ.get(DATA_ENV)
        if not base:
            raise DataNotFoundError(
                f"no data root for dataset '{dataset}': pass --data-root DIR (or data_root in the "
                f"config), or set {DATA_ENV} to a folder that holds {folder}/.\n"
                f"Expected layout:\n{layout}"
            )
        path = Path(base).expanduser() / folder
        hint = f" (from {DATA_ENV}={base})"
    else:
        path = Path(root).expanduser()
        hint = ""
    if not path.is_dir():
        raise DataNotFoundError(
            f"data root for dataset '{dataset}' not found: {path}{hint}.\nExpected layout:\n{layout}"
        )
    return path


def read_split(path: Path, dataset: str, layout: str) -> list[str]:
    """Sample ids listed one per line in ``path``."""
    if not path.is_file():
        raise DataNotFoundError(
            f"split file for dataset '{dataset}' not found: {path}.\nExpected layout:\n{layout}"
        )
    ids = [line.strip() for line in read_text(path).splitlines() if line.strip()]  # not UTF-8: names it
    if not ids:
        raise DataNotFoundError(f"split file for dataset '{dataset}' lists no samples: {path}")
    repeated = [i for i, n in Counter(ids).items() if n > 1]
    if repeated:
        raise DatasetError(
            f"split file for dataset '{dataset}' lists {len(repeated)} id(s) more than once, e.g. "
            f"{', '.join(repeated[:5])}: {path}; list each sample once"
        )
    return ids


def require_files(paths: list[Path], dataset: str, layout: str) -> None:
    """Raise :class:`DataNotFoundError` for the first of ``paths`` that is not a file."""
    for path in paths:
        if not path.is_file():
            missing = sum(1 for p in paths if not p.is_file())
            raise DataNotFoundError(
                f"sample file for dataset '{dataset}' not found: {path} ({missing} file(s) missing "
                f"in all).\nExpected layout:\n{layout}"
            )


def rgb_array(image: Image.Image) -> np.ndarray:
    """Any PIL image as ``H x W x 3`` float32 in [0, 255]: 16- and 32-bit grey (I;16, I;16B,
    I, 16-bit PNGs) are scaled from [0, 65535] and float grey (F) from [0, 1] when it fits there
    (``convert("RGB")`` would saturate them to white); alpha is dropped; CMYK, P, L, LA, 1 convert."""
    if image.mode.startswith("I") or image.mode == "F":
        grey = np.asarray(image, dtype=np.float64)
        if image.mode == "F":
            scale = 255.0 if grey.size and np.nanmax(grey) <= 1.0 else 1.0
        else:
            scale = 255.0 / 65535.0
        grey = np.clip(np.nan_to_num(grey * scale), 0, 255).astype(np.float32)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return np.asarray(image.convert("RGB"), dtype=np.float32)


EXIF_ORIENTATION = 0x0112


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation tag of ``image`` (1..8; 1, upright as stored, when it has none)."""
    return int(image.getexif().get(EXIF_ORIENTATION) or 1)


def upright(image: Image.Image) -> Image.Image:
    """``image`` turned as its own EXIF orientation tag says, as photo viewers show it (a phone
    photo is stored on its side with a rotation tag); without a tag, ``image`` itself."""
    return ImageOps.exif_transpose(image) if exif_orientation(image) != 1 else image


def _decoded(source: Path | bytes, read: Callable[[Image.Image], T], name: str | None = None) -> T:
    """``read(image)`` of an image file (or its bytes), turned :func:`upright` by its own EXIF
    orientation: the one way sak reads image files, for datasets and ``sak predict`` alike. A
    missing file is a :class:`DataNotFoundError`, one that cannot be decoded a
    :class:`CorruptFileError`, each naming it (``name``, else the path)."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            return read(upright(im))
    except FileNotFoundError:
        raise DataNotFoundError(f"image {name or source} does not exist") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated, unknown format, damaged header
        raise CorruptFileError(f"{name or source} is not a readable image ({exc})") from exc


def read_rgb(source: Path | bytes, name: str | None = None) -> np.ndarray:
    """An image file (or its bytes) as ``H x W x 3`` float32 in [0, 255] (see :func:`rgb_array`),
    upright as its EXIF orientation says."""
    return _decoded(source, rgb_array, name)


def read_png(path: Path) -> np.ndarray:
    """A label / map PNG as stored (no mode conversion); turned only by its own EXIF orientation
    tag, which label PNGs normally do not carry (see docs/datasets.md)."""
    return _decoded(path, np.asarray)


def shape_mismatch(path: Path, shape: tuple[int, ...], image_path: Path,
                   image_shape: tuple[int, ...]) -> CorruptFileError:
    """The error for a label / map file whose ``H x W`` is not its image's, saying when the image
    was turned by an EXIF orientation tag that the label file does not carry."""
    turned = ""
    try:
        with Image.open(image_path) as im:
            tag = exif_orientation(im)
        if tag != 1:
            turned = (f" (turned upright by its EXIF orientation {tag}; a label file without that tag is used as "
                      f"stored, so it must be drawn on the upright image)")
    except (OSError, ValueError, SyntaxError):
        pass  # the image was read a moment ago; the size mismatch is the error either way
    return CorruptFileError(f"{path} is {tuple(shape)}, its image {image_path} is {tuple(image_shape)}{turned}: "
                            "a label must have its image's height and width; fix or replace one of them")


def read_grey(path: Path, what: str) -> np.ndarray:
    """An 8-bit single-channel map PNG (``what``: "a saliency map", "a boundary map") as ``H x W``
    uint8, read as the reference loaders read it (``np.asarray`` of the file): grey (L) and palette
    (P, its indices) as stored, bilevel (1) as 0 / 255. Grey saved as RGB(A) or LA is accepted when
    its colour channels are equal (the first is used, alpha dropped); a colour image, or one of 16
    or 32 bits, is a :class:`CorruptFileError` naming the file."""
    stored, mode = _decoded(path, lambda im: (np.asarray(im.convert("L") if im.mode == "1" else im), im.mode))
    if stored.dtype != np.uint8:
        raise CorruptFileError(
            f"{path} is a {stored.dtype.itemsize * 8}-bit image (mode {mode}): {what} must be an 8-bit "
            f"grey PNG (0..255); save it in mode L"
        )
    if stored.ndim == 3:
        colours = stored[..., : 1 if mode == "LA" else 3]
        if (colours != colours[..., :1]).any():
            raise CorruptFileError(
                f"{path} is a colour image (mode {mode}, its channels differ): {what} must be a grey PNG "
                f"(0..255); save it in mode L"
            )
        stored = stored[..., 0]
    return stored


def read_labels(path: Path, num_classes: int, offset: int = 0, ignore: int = IGNORE_INDEX) -> np.ndarray:
    """A label PNG as ``H x W`` uint8 class ids (see :func:`class_ids`); it must be single-channel
    (palette or grey, 8- or 16-bit)."""
    stored = read_png(path)
    if stored.ndim != 2:
        raise CorruptFileError(
            f"{path} has shape {stored.shape}: a label PNG must be single-channel (palette or grey) "
            f"holding class ids; save it in mode P or L, not RGB"
        )
    return class_ids(stored, path, num_classes, offset, ignore)


def class_ids(stored: np.ndarray, path: Path, num_classes: int, offset: int = 0,
              ignore: int = IGNORE_INDEX) -> np.ndarray:
    """Stored label values -> uint8 class ids: ``ignore`` becomes 255, any other value ``v`` is
    class ``v - offset``, which must lie in ``0..num_classes-1`` (else a :class:`CorruptFileError`
    naming ``path``)."""
    ids = stored.astype(np.int64) - offset
    keep = stored != ignore
    bad = keep & ((ids < 0) | (ids >= num_classes))
    if bad.any():
        values = ", ".join(str(v) for v in np.unique(stored[bad])[:5])
        raise CorruptFileError(
            f"{path} holds label value(s) {values}, outside the dataset's {num_classes} classes (stored as "
            f"{offset}..{offset + num_classes - 1}, {ignore} = ignore): fix the file, or check the dataset's "
            f"num_outputs"
        )
    return np.where(keep, ids, IGNORE_INDEX).astype(np.uint8)


def read_normals(path: Path) -> np.ndarray:
    """A normals PNG (x, y, z in the RGB channels, [0, 255] -> [-1, 1]) as ``H x W x 3`` float32."""
    rgb = read_png(path)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise CorruptFileError(
            f"{path} has shape {rgb.shape}: a normals PNG must be RGB, with the x, y, z components in its "
            f"three channels"
        )
    return 2.0 * rgb[..., :3].astype(np.float32) / 255.0 - 1.0


def read_json(path: Path, fix: str = "fix or replace the file"):
    """The content of a JSON file; one that does not parse is a :class:`CorruptFileError` naming it."""
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path} is not valid JSON ({exc}): {fix}") from exc


NPY_MAGIC = b"\x93NUMPY"


def read_npy(path: Path) -> np.ndarray:
    """A NumPy ``.npy`` array file. One that is not a ``.npy`` file (text, a ``.npz`` archive,
    a bare pickle), holds Python objects (never unpickled) or is cut short is a
    :class:`CorruptFileError` naming it."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(NPY_MAGIC))
    except OSError as exc:
        raise CorruptFileError(f"cannot read array file {path}: {exc}") from exc
    if head != NPY_MAGIC:
        raise CorruptFileError(
            f"{path} is not a NumPy .npy file (it does not start with the .npy header): save the array "
            f"with numpy.save"
        )
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):  # an object array inside a valid header
            raise CorruptFileError(
                f"{path} holds Python objects (an object array), which sak does not load: save a numeric "
                f"array with numpy.save"
            ) from None
        raise CorruptFileError(f"cannot read array file {path}: {exc}") from exc
    except (OSError, EOFError) as exc:
        raise CorruptFileError(f"cannot read array file {path}: {exc}") from exc


def read_mat(path: Path) -> dict:
    from scipy.io import loadmat

    try:
        return loadmat(path)
    except Exception as exc:  # scipy raises several unrelated types for a damaged file
        raise CorruptFileError(f"cannot read MATLAB file {path}: {exc}") from exc
