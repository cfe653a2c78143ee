"""ONNX export of a trained student, for onnxruntime, TensorRT, OpenVINO and other runtimes.

The graph takes one input, ``image`` (``B x 3 x H x W`` float32, normalised with the dataset's
mean and std), and returns one output per task (``B x outputs x H x W`` raw head output, the
``StudentOutput.tasks`` tensors) and, on request, one per distillation map
(``distill.<teacher>.level<l>``). It is traced in fp32 from the fp32 weights, whatever precision
the student was trained in. The model's metadata carries the student config, the run's config
(when there is one), the mean/std to normalise with and the output layout.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sak_core.config import PATCH_SIZE
from sak_core.errors import ExportError
from sak_core.runtime.files import atomic_path
from sak_core.model import SAKStudent

INPUT_NAME = "image"
MIN_TORCH = "2.8"  # torch.export traces the student from 2.8 on (2.5-2.7 fail); the onnx extra asks for it
MIN_OPSET = 18  # torch's dynamo exporter writes 18 and up; the resize with antialias needs it
FORMATS = ("onnx",)
INSTALL_HINT = "pip install 'sak-core[onnx]' (onnx, onnxscript and onnxruntime)"


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote.

    Attributes:
        path: the ``.onnx`` file.
        outputs: output name -> channels, in graph order (tasks first, then distillation maps).
        size: the traced ``(H, W)``; with ``dynamic`` any multiple of 16 is accepted.
        dynamic: whether H and W are free (the batch always is).
        metadata: the model's ``metadata_props``.
    """

    path: Path
    outputs: dict[str, int]
    size: tuple[int, int]
    dynamic: bool
    metadata: dict[str, str] = field(default_factory=dict)


def distill_output_name(teacher: str, level: int) -> str:
    """The graph name of teacher ``teacher``'s distillation map at tap level ``level``."""
    return f"distill.{teacher}.level{level}"


class _ExportGraph(nn.Module):
    """The student's forward as a flat tuple of tensors, in :meth:`output_names` order."""

    def __init__(self, student: SAKStudent, tasks: Sequence[str], teachers: Sequence[str]) -> None:
        super().__init__()
        self.student, self.tasks, self.teachers = student, list(tasks), list(teachers)

    def output_names(self) -> list[str]:
        levels = range(len(self.student.tap_indices))
        return [*self.tasks, *(distill_output_name(t, l) for t in self.teachers for l in levels)]

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.student(image)
        return (*(out.tasks[t] for t in self.tasks), *(m for t in self.teachers for m in out.distill[t]))


def _check_exporter() -> None:
    if torch.__version__ < MIN_TORCH:
        raise ExportError(
            f"ONNX export needs torch >= {MIN_TORCH} (torch.export cannot trace the student's data-dependent "
            f"shapes before it), and this environment has torch {torch.__version__}: upgrade torch, or "
            f"pip install 'sak-core[onnx]', which asks for it"
        )
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise ExportError(f"ONNX export needs {' and '.join(missing)}: {INSTALL_HINT}")


def _checked_size(size: Sequence[int]) -> tuple[int, int]:
    h, w = (int(v) for v in size)
    if h <= 0 or w <= 0 or h % PATCH_SIZE or w % PATCH_SIZE:
        raise ExportError(f"export size {h}x{w}: height and width must be positive multiples of {PATCH_SIZE}")
    return h, w


class _Collect(logging.Handler):
    """Keeps the records of a library's logger instead of printing them (with their tracebacks)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def last_reason(self) -> str | None:
        """The last line of the last exception logged (e.g. why a version conversion failed)."""
        for record in reversed(self.records):
            if record.exc_info and record.exc_info[1] is not None:
                lines = str(record.exc_info[1]).strip().splitlines()
                return lines[-1].replace("Warning: ", "") if lines else None
        return None


@contextmanager
def _quiet_onnxscript() -> Iterator[_Collect]:
    """onnxscript logs its failed opset conversions with a traceback (before sak's own line):
    collect them instead, so the reason can go into sak's message."""
    logger = logging.getLogger("onnxscript")
    handler, propagate = _Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def export_onnx(
    student: SAKStudent,
    path: str | Path,
    *,
    size: Sequence[int] | None = None,
    dynamic: bool = False,
    tasks: Sequence[str] | None = None,
    distill: bool = False,
    metadata: Mapping[str, str] | None = None,
    opset: int | None = None,
) -> ExportResult:
    """Write ``student`` as an ONNX graph to ``path``.

    ``size``: the ``(H, W)`` to trace at (default the student's input size); ``dynamic`` leaves
    H and W free (any multiple of 16). ``tasks``: a subset of the student's tasks, in this order
    (default all). ``distill``: add the distillation maps of every teacher. ``metadata`` is added
    to the model's metadata_props beside ``sak_student_config`` and ``sak_outputs``.
    """
    _check_exporter()
    names = list(tasks) if tasks is not None else list(student.task_names)
    unknown = [t for t in names if t not in student.task_names]
    if unknown:
        raise ExportError(f"the student has no task {', '.join(unknown)}; its tasks: {', '.join(student.task_names)}")
    teachers = list(student.teacher_names) if distill else []
    if not names and not teachers:
        raise ExportError("nothing to export: the student has no tasks (export its distillation maps with --distill)")
    h, w = _checked_size(size if size is not None else student.config.input_size)
    if opset is not None and opset < MIN_OPSET:
        raise ExportError(
            f"opset {opset} is below {MIN_OPSET}, the lowest this exporter writes (the student's "
            f"resizing needs Resize with antialias, opset {MIN_OPSET}); leave the opset out or give {MIN_OPSET} or more"
        )

    student = student.float().eval()
    graph = _ExportGraph(student, names, teachers).eval()
    output_names = graph.output_names()
    example = torch.zeros(2, 3, h, w)  # batch 2: a batch of 1 would be specialised to a constant
    batch = torch.export.Dim("batch", min=1)
    axes: dict[int, Any] = {0: batch}
    if dynamic:
        axes[2] = PATCH_SIZE * torch.export.Dim("height_patches", min=1)
        axes[3] = PATCH_SIZE * torch.export.Dim("width_patches", min=1)
    with torch.autocast(device_type="cpu", enabled=False), torch.autocast(device_type="cuda", enabled=False), \
            _quiet_onnxscript() as onnxscript_log:
        try:
            program = torch.onnx.export(
                graph, (example,), None, input_names=[INPUT_NAME], output_names=output_names, dynamo=True,
                dynamic_shapes={"image": axes}, opset_version=opset, verbose=False,
            )
        except Exception as exc:
            if opset is None:
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExportError(f"torch's exporter could not write opset {opset} ({first}); leave the opset out "
                              "or give one it supports") from None
    if program is None:  # pragma: no cover - dynamo=True always returns a program
        raise ExportError("torch.onnx.export returned no program")
    written = program.model.opset_imports.get("", None)
    if opset is not None and written != opset:  # torch keeps its own opset when it cannot convert
        reason = onnxscript_log.last_reason()
        raise ExportError(f"torch's exporter could not write opset {opset} (it produced opset {written}"
                          f"{': ' + reason if reason else ''}); leave the opset out or give one it supports")
    with torch.no_grad():
        shapes = graph(example)
    outputs = {name: int(t.shape[1]) for name, t in zip(output_names, shapes, strict=True)}
    props = {
        "sak_student_config": student.config.model_dump_json(),
        "sak_outputs": json.dumps(outputs),
        "sak_input": json.dumps({"name": INPUT_NAME, "layout": "NCHW", "dtype": "float32",
                                 "multiple_of": PATCH_SIZE, "size": [h, w], "dynamic": dynamic}),
        **(metadata or {}),
    }
    program.model.metadata_props.update(props)
    path = Path(path)
    with atomic_path(path) as tmp:  # a failed write leaves what was there
        program.save(str(tmp))
    return ExportResult(path=path, outputs=outputs, size=(h, w), dynamic=dynamic, metadata=props)


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file (needs onnxruntime)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)


def compare_with_onnxruntime(
    student: SAKStudent, path: str | Path, images: torch.Tensor, threads: int | None = None
) -> dict[str, float]:
    """Max absolute difference, per output, between onnxruntime running ``path`` and the fp32
    student on ``images`` (``B x 3 x H x W``)."""
    if importlib.util.find_spec("onnxruntime") is None:
        raise ExportError(f"checking an export needs onnxruntime: {INSTALL_HINT}")
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = session.run(names, {INPUT_NAME: images.float().numpy()})
    student = student.float().eval()
    with torch.no_grad(), torch.autocast(device_type="cpu", enabled=False):
        out = student(images.float())
    reference = {**out.tasks, **{distill_output_name(t, l): m for t, maps in out.distill.items()
                                 for l, m in enumerate(maps)}}
    return {n: float(np.abs(g - reference[n].numpy()).max()) for n, g in zip(names, got, strict=True)}
