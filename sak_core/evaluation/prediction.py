"""Inference on single images: read, normalise, pad, predict, crop back, post-process.

The library entry point is :func:`predict`, exported as ``sak_core.predict``::

    import sak_core
    student = sak_core.load_student("runs/pascal")
    out = sak_core.predict(student, Image.open("cat.jpg"), dataset="pascal-context")
    out["semseg"]  # H x W class ids at the image's own size

Post-processing belongs to the task plugins (``Task.postprocess``), so the plugins of the
student's tasks must be installed; a missing one is named in the error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np
import torch
from PIL import Image

from sak_core.plugin.lookup import get_dataset_spec
from sak_core.datasets.batch import non_finite_error
from sak_core.run.binding import bind_tasks
from sak_core.datasets.files import read_rgb, rgb_array, upright
from sak_core.datasets.transforms import normalise, pad
from sak_core.config import PATCH_SIZE
from sak_core.errors import SakError
from sak_core.plugin.specs import IMAGENET_MEAN, IMAGENET_STD, DatasetSpec

if TYPE_CHECKING:
    from sak_core.model import SAKStudent
    from sak_core.plugin.tasks import Task
    from sak_core.runtime.device import Precision

ImageLike = Union[Image.Image, np.ndarray, torch.Tensor, str, Path]
PAD_MODES = ("input", "multiple")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class PreparedImage:
    """A normalised, padded ``1 x 3 x H x W`` image and the ``(top, left, h, w)`` box of the
    original pixels inside it."""

    tensor: torch.Tensor
    box: tuple[int, int, int, int]

    @property
    def original_size(self) -> tuple[int, int]:
        return self.box[2], self.box[3]


def read_image(path: str | Path) -> np.ndarray:
    """An image file as ``H x W x 3`` uint8 RGB, read by the datasets' reader
    (:func:`sak_core.datasets.files.read_rgb`): turned upright as its EXIF orientation says (as
    photo viewers show it: a phone photo is stored on its side with a rotation tag), so a photo
    predicted by path and through its dataset gives the same pixels. A missing or undecodable
    file is a :class:`~sak_core.errors.SakError` naming it."""
    return _rounded(read_rgb(Path(path)))


def _rounded(rgb: np.ndarray) -> np.ndarray:
    return np.rint(rgb).astype(np.uint8)


def _rgb_pixels(image: Image.Image) -> np.ndarray:
    """``H x W x 3`` uint8 of any PIL image (16-bit grey scaled, not clipped), upright as its EXIF
    orientation says, as if read from its file."""
    return _rounded(rgb_array(upright(image)))


def expand_image_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders contribute their image files (sorted, not recursive)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(path)
    return found


def to_pixels(image: ImageLike) -> np.ndarray | None:
    """Raw pixels ``H x W x 3`` uint8 from a path, PIL image, uint8 array or uint8 tensor;
    None for a float tensor (taken as already normalised)."""
    if isinstance(image, (str, Path)):
        return read_image(image)
    if isinstance(image, Image.Image):
        return _rgb_pixels(image)
    if isinstance(image, torch.Tensor):
        if image.is_floating_point():
            return None
        if image.dtype != torch.uint8:
            raise SakError(f"an image tensor must be uint8 pixels or float normalised values, not {image.dtype}")
        image = image.detach().cpu()
        array = image.permute(1, 2, 0).numpy() if image.dim() == 3 and image.shape[0] in (1, 3) else image.numpy()
    else:
        array = np.asarray(image)
    if array.dtype != np.uint8:
        raise SakError(
            f"an image array must be H x W x 3 uint8 pixels, not {array.dtype}: convert with "
            "(x * 255).astype(np.uint8) for values in [0, 1]"
        )
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise SakError(f"an image array must be H x W x 3 (RGB), got shape {array.shape}")
    return array


def padded_size(size: tuple[int, int], input_size: Sequence[int] | None, mode: str = "input") -> tuple[int, int]:
    """The padded ``(H, W)``: multiples of 16 covering ``size`` and, with ``mode="input"``, at
    least the student's ``input_size`` (the test-time protocol: images are padded, not resized)."""
    if mode not in PAD_MODES:
        raise SakError(f"pad mode must be one of {', '.join(PAD_MODES)}, not {mode!r}")
    floor = tuple(input_size) if (mode == "input" and input_size is not None) else (0, 0)
    return tuple(math.ceil(max(s, f) / PATCH_SIZE) * PATCH_SIZE for s, f in zip(size, floor))  # type: ignore[return-value]


def prepare_image(
    image: ImageLike,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    input_size: Sequence[int] | None = None,
    pad_mode: str = "input",
) -> PreparedImage:
    """Normalise with ``mean``/``std`` and centre in a zero-padded canvas (see :func:`padded_size`),
    the way test splits are prepared. A float tensor ``3 x H x W`` is taken as normalised."""
    pixels = to_pixels(image)
    if pixels is None:
        normalised = image.detach().cpu().float()  # type: ignore[union-attr]
        if normalised.dim() == 4 and normalised.shape[0] == 1:
            normalised = normalised[0]
        if normalised.dim() != 3 or normalised.shape[0] != 3:
            raise SakError(f"a normalised image tensor must be 3 x H x W, got {tuple(normalised.shape)}")
        array = normalised.permute(1, 2, 0).numpy()
    else:
        array = normalise(pixels, tuple(mean), tuple(std))
    size = padded_size(array.shape[:2], input_size, pad_mode)
    padded, box = pad({"image": array}, size)
    tensor = torch.from_numpy(np.ascontiguousarray(padded["image"].transpose(2, 0, 1), dtype=np.float32))
    return PreparedImage(tensor[None], tuple(int(v) for v in box))  # type: ignore[arg-type]


def denormalise(image: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """A normalised ``3 x H x W`` tensor back to ``H x W x 3`` uint8 pixels."""
    array = image.detach().cpu().float().numpy().transpose(1, 2, 0)
    pixels = (array * np.asarray(std, dtype=np.float32) + np.asarray(mean, dtype=np.float32)) * 255.0
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def crop_box(tensor: torch.Tensor, box: Sequence[int]) -> torch.Tensor:
    """The ``(top, left, h, w)`` box of the last two axes of ``tensor``."""
    top, left, h, w = (int(v) for v in box)
    return tensor[..., top : top + h, left : left + w]


@torch.no_grad()
def predict_prepared(
    student: SAKStudent, tasks: Mapping[str, Task], prepared: PreparedImage, precision: Precision | str = "fp32",
    name: str | None = None,
) -> dict[str, torch.Tensor]:
    """Raw head outputs of a prepared image, cropped to its box, post-processed by each task;
    one prediction per task without the batch axis, on the CPU. ``precision`` is the forward's
    autocast: a resolved :class:`~sak_core.runtime.device.Precision`, or a setting resolved here
    (:func:`~sak_core.runtime.device.as_precision`); post-processing runs in fp32.
    Outputs that are not finite (NaN or infinite) are a :class:`~sak_core.errors.SakError`
    naming the tasks and the image (``name``)."""
    from sak_core.runtime.device import as_precision, autocast

    device = next(student.parameters()).device
    precision = as_precision(precision, device)
    was_training = student.training
    student.eval()
    try:
        with autocast(device, precision):
            outputs = student(prepared.tensor.to(device)).tasks
    finally:
        student.train(was_training)
    raw = {task: crop_box(outputs[task].float(), prepared.box) for task in tasks}
    error = non_finite_error(raw, [{"id": name}] if name is not None else None)
    if error is not None:
        raise error
    return {task: tasks[task].postprocess(raw[task])[0].cpu() for task in tasks}


def predict(
    student: SAKStudent,
    image: ImageLike,
    tasks: Sequence[str] | Mapping[str, Task] | None = None,
    dataset: str | DatasetSpec | None = None,
    pad_mode: str = "input",
    precision: Precision | str = "fp32",
) -> dict[str, torch.Tensor]:
    """Per-task predictions for one image, at the image's own size.

    Args:
        student: a loaded student (see :func:`sak_core.load_student`); it runs on its device.
        image: a path, PIL image, ``H x W x 3`` uint8 array, ``3 x H x W`` uint8 tensor (raw
            pixels), or a ``3 x H x W`` float tensor already normalised (like a dataset sample).
        tasks: task names (default: every head), or ready :class:`~sak_core.plugin.tasks.Task` objects.
        dataset: the dataset the student was trained on (name or spec): gives the image
            normalisation and binds the tasks to its options. Default: ImageNet statistics and
            tasks bound to the checkpoint's head sizes.
        pad_mode: ``"input"`` pads to at least the student's input size (as the test protocol
            does), ``"multiple"`` only to the next multiple of 16.
        precision: the forward's autocast: ``fp32`` (the default: reference-exact, the same
            numbers on every machine), ``auto`` (bf16 where the hardware computes it natively,
            else fp32), ``bf16``, ``fp16`` (GPU), or a resolved
            :class:`~sak_core.runtime.device.Precision`.

    Returns:
        task name -> what ``Task.postprocess`` gives (class ids ``H x W``, probabilities or unit
        normals ``C x H x W``, depth ``1 x H x W``, ...), cropped back to the original size.

    Raises:
        MissingPluginError: a task's plugin is not installed (the message names it).
    """
    spec = get_dataset_spec(dataset) if isinstance(dataset, str) else dataset
    if isinstance(tasks, Mapping):
        bound = dict(tasks)
    else:
        bound = bind_tasks(student, spec, names=tasks)
    mean = spec.mean if spec is not None else IMAGENET_MEAN
    std = spec.std if spec is not None else IMAGENET_STD
    prepared = prepare_image(image, mean, std, student.config.input_size, pad_mode)
    return predict_prepared(student, bound, prepared, precision)


def visualise(task: Task, value: torch.Tensor) -> np.ndarray | None:
    """``task.visualise(value)``, or None when the plugin does not implement it."""
    try:
        rendered = task.visualise(value)
    except NotImplementedError:
        return None
    # H x W x 3 even where a plugin squeezed a 1-pixel side away
    h, w = value.shape[-2:]
    rendered = np.asarray(rendered).reshape(h, w, -1)
    return np.repeat(rendered, 3, axis=2) if rendered.shape[2] == 1 else rendered


def prediction_grid(
    image: np.ndarray,
    predictions: Mapping[str, torch.Tensor],
    tasks: Mapping[str, Task],
    targets: Mapping[str, torch.Tensor] | None = None,
    max_side: int = 320,
    min_side: int = 160,
    title: str = "image",
) -> Image.Image:
    """A PNG-ready grid: the image and each task's prediction (``Task.visualise``) on the first
    row, the ground truth of each task below when ``targets`` holds it."""
    from sak_core.evaluation.drawing import fit_within, panel_grid, placeholder

    first = fit_within(image, max_side, min_side)

    def panel(task: Task, value: torch.Tensor) -> Image.Image:
        rendered = visualise(task, value)
        if rendered is None:
            return placeholder(first.size, f"{task.name}: no visualise()")
        return fit_within(rendered, max_side, min_side)

    rows = [[(title, first)] + [(name, panel(tasks[name], p)) for name, p in predictions.items()]]
    if targets:
        truth = [
            (f"{name}: truth", panel(tasks[name], targets[name]) if name in targets else None)
            for name in predictions
        ]
        if any(p is not None for _, p in truth):
            rows.append([("", None)] + truth)
    return panel_grid(rows)


def save_predictions(
    predictions: Mapping[str, torch.Tensor], tasks: Mapping[str, Task], out_dir: str | Path, stem: str
) -> dict[str, Path | None]:
    """Write each task's prediction with ``Task.save_prediction`` to ``out_dir/<task>/<stem>``
    (the task picks the suffix); None for a task whose plugin has no writer."""
    written: dict[str, Path | None] = {}
    for name, prediction in predictions.items():
        folder = Path(out_dir) / name  # the task's own folder; save_prediction only names the file
        folder.mkdir(parents=True, exist_ok=True)
        try:
            written[name] = Path(tasks[name].save_prediction(prediction, folder / stem))
        except NotImplementedError:
            written[name] = None
    return written
