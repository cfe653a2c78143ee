"""Conformance checks that every teacher and task plugin runs in its own tests.

One parametrised check per kind of plugin (the idea of timm's and pytest's conformance suites),
instead of fixtures copied into each plugin's tests::

    from sak_core.testing import check_task, check_teacher

    def test_teacher_conformance(tmp_path):
        check_teacher("my_vit", tmp_path, arch=dict(embed_dim=32, depth=2, num_heads=2))

    def test_task_conformance(tmp_path):
        check_task("my_task", "synthetic", tmp_path)

Each check raises ``AssertionError`` (or the plugin's own error) naming the convention that does
not hold. :func:`offline_weights` is the weights environment the teacher check uses, for tests of
their own: ``$SAK_WEIGHTS`` set to a folder, empty library caches, no network.
:func:`registered` and :func:`loaded_names` give a plugin's tests what the registry holds, so that
plugins and their tests import only ``sak_core.plugin`` and ``sak_core.testing``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sak_core.plugin.lookup import create_task, create_teacher, get_dataset_spec, get_task_spec, get_teacher_spec, split_variant
from sak_core.datasets.batch import collate_samples
from sak_core.errors import CheckpointError, RandomWeightsWarning, SpecError
from sak_core.plugin.registry import PluginManager, Registered, get_registry
from sak_core.runtime.device import DTYPES
from sak_core.plugin.specs import IMAGENET_MEAN, IMAGENET_STD, TEACHER_PRECISIONS, DatasetSpec, TeacherSpec
from sak_core.plugin.teachers import Teacher, TeacherOutput

SHAPE_FIELDS = ("feature_dim", "tap_indices", "patch_size", "input_size", "mean", "std", "weights")


@contextmanager
def offline_weights(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """``$SAK_WEIGHTS`` = ``folder``, no network, and empty Hugging Face / torch hub caches (inside
    ``folder``) for the duration; everything is restored afterwards."""
    import huggingface_hub.constants as hub

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    env = {"SAK_WEIGHTS": str(folder), "HF_HUB_OFFLINE": "1", "TORCH_HOME": str(folder / ".torch-home")}
    saved, saved_cache = {k: os.environ.get(k) for k in env}, hub.HF_HUB_CACHE
    os.environ.update(env)
    hub.HF_HUB_CACHE = str(folder / ".hf-cache")
    try:
        yield folder
    finally:
        hub.HF_HUB_CACHE = saved_cache
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def registered(kind: str, name: str) -> Registered:
    """What the installed plugins registered as ``kind`` (``"teacher"``, ``"task"``,
    ``"dataset"``) ``name``: its ``spec``, ``distribution``, ``version`` and ``api`` range.
    An unknown name is the registry's error naming what is installed."""
    return get_registry().get(kind, name)


def loaded_names(kind: str) -> list[str]:
    """The ``kind`` names a fresh load of the installed plugins registers, as a new ``sak``
    process would (honouring ``$SAK_LOAD_PLUGINS`` as set now; the process's registry is left
    as it is)."""
    return PluginManager().registry.names(kind)


def _shape(spec: TeacherSpec) -> dict[str, Any]:
    return {f: getattr(spec, f) for f in SHAPE_FIELDS}


def _create(name: str, spec: TeacherSpec, weights: Any, **options: Any) -> Teacher:
    """The teacher the check looks at: random weights when it has a random initialisation (which
    must warn), else built from ``weights`` (its file) or with nothing to load."""
    if not spec.random_init:
        torch.manual_seed(0)
        return create_teacher(name, **({} if weights is None else {"weights": weights}), **options)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.manual_seed(0)  # the same random weights at every precision
        teacher = create_teacher(name, weights="random", **options)
    assert any(issubclass(w.category, RandomWeightsWarning) for w in caught), (
        f"teacher '{name}' built with weights='random' must warn with sak_core.RandomWeightsWarning "
        "(sak_core.weights.sources.resolve_weights does)"
    )
    return teacher


def runnable_precisions(spec: TeacherSpec, device: torch.device) -> tuple[str, ...]:
    """The precisions ``spec`` declares that ``device`` runs (fp16 only on a CUDA GPU)."""
    return tuple(p for p in spec.precisions if p != "fp16" or device.type == "cuda")


def _save(state: Mapping[str, torch.Tensor], path: Path) -> Path:
    state = {k: v.detach().clone().contiguous() for k, v in state.items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def _assert_same_features(a: TeacherOutput, b: TeacherOutput, what: str, exact: bool = True,
                          tolerance: float = 1e-4) -> None:
    assert a.valid_size == b.valid_size, f"{what}: valid_size {a.valid_size} != {b.valid_size}"
    for level, (fa, fb) in enumerate(zip(a.features, b.features, strict=True)):
        if exact:
            assert torch.equal(fa, fb), f"{what}: level {level} differs"
        else:
            torch.testing.assert_close(fa, fb, rtol=tolerance, atol=tolerance,
                                       msg=lambda m: f"{what}: level {level}: {m}")


def check_teacher(
    name: str, tmp_path: str | os.PathLike[str] | None = None, *, image_size: tuple[int, int] = (48, 64),
    distribution: str | None = None, weights: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu", **options: Any,
) -> Teacher:
    """Check teacher ``name`` (``NAME`` or ``NAME:VARIANT``) built with tiny ``options``, through
    the teacher contract only (:class:`~sak_core.plugin.teachers.Teacher`, :class:`~sak_core.plugin.specs.TeacherSpec`).

    Conventions checked: misspelt options are rejected with a did-you-mean; the registered spec
    is what ``configure()`` gives; the module's spec is ``get_teacher_spec``'s; it is frozen and
    stays in eval mode; :meth:`~sak_core.plugin.teachers.Teacher.place` refuses a precision the spec does
    not declare; and at each declared precision that ``device`` runs (fp16 only on a CUDA GPU),
    placed there: its output has one ``B x C x h x w`` float32 map per level with the spec's width,
    ordinary (not inference) tensors without gradients, a sane ``valid_size``, distinct maps for
    distinct taps; it is deterministic and each image's features do not depend on the rest of the
    batch; at a reduced precision the maps keep a cosine of 0.99 to the fp32 ones. Images are
    renormalised from the pipeline's statistics to the teacher's (identity when faithful).

    Weights, as the spec declares them: a teacher with a random initialisation
    (``random_init``) warns with ``RandomWeightsWarning`` for ``weights="random"``, and its
    network (``teacher.model``, a torch module) round-trips through a state dict saved under
    ``tmp_path``, given as ``weights=PATH`` and found in ``$SAK_WEIGHTS`` under its first
    source's file name. A teacher without one is built from ``weights`` (its file, in whatever
    format it reads), refuses ``weights="random"``, and finds that file in ``$SAK_WEIGHTS``. A
    teacher with no weights (``has_weights=False``) refuses any ``weights=``. Every teacher with
    weights, given no file and no network, names every source's URL and where to save it. With
    ``distribution``, the teacher must be registered by that installed distribution. Returns the
    teacher, as checked at fp32.
    """
    if tmp_path is None:
        with tempfile.TemporaryDirectory() as folder:
            return check_teacher(name, folder, image_size=image_size, distribution=distribution, weights=weights,
                                 device=device, **options)
    tmp_path, device = Path(tmp_path), torch.device(device)

    # options: a typo is an error that suggests the right name, when configuring and building
    for call in (get_teacher_spec, create_teacher):
        try:
            call(name, **options, weigths="random")
        except SpecError as exc:
            assert "did you mean 'weights'" in str(exc), f"{call.__name__}: the error must suggest 'weights': {exc}"
        else:
            raise AssertionError(f"{call.__name__}('{name}', weigths=...) accepted a misspelt option")

    # the registered (default) spec is the one configure() gives for no options
    entry = registered("teacher", split_variant(name)[0])
    if distribution is not None:
        assert entry.distribution == distribution, f"registered by {entry.distribution}, not {distribution}"
    default: TeacherSpec = entry.spec
    if default.configure is not None:
        configured = _shape(default.configure())
        differ = {k: (v, configured[k]) for k, v in _shape(default).items() if configured[k] != v}
        assert not differ, f"teacher '{name}': the registered spec differs from configure() with no options: {differ}"

    spec = get_teacher_spec(name, **options)
    if spec.random_init:
        assert weights is None, f"teacher '{name}' has a random initialisation: the check builds it without a file"
    if not spec.has_weights:
        assert weights is None, f"teacher '{name}' declares no weights (has_weights=False), but weights= was given"
    elif not spec.random_init:
        assert weights is not None, (f"teacher '{name}' has no random initialisation (random_init=False): "
                                     "give the check its weights file, check_teacher(..., weights=PATH)")
    for wrong, reason in ((not spec.random_init, "random"), (not spec.has_weights, str(tmp_path / "w.pth"))):
        if wrong:
            try:
                create_teacher(name, weights=reason, **options)
            except SpecError:
                pass
            else:
                raise AssertionError(f"teacher '{name}' accepted weights={reason!r}, which its spec does not declare")
    teacher = _create(name, spec, weights, **options)
    assert _shape(teacher.spec) == _shape(spec), f"teacher '{name}': module spec {teacher.spec} != {spec}"
    assert teacher.spec.levels == len(spec.tap_indices)

    # frozen, and eval mode even after .train()
    teacher.train()
    assert not teacher.training and not any(m.training for m in teacher.modules()), "a teacher stays in eval mode"
    assert not any(p.requires_grad for p in teacher.parameters()), "a teacher's parameters are frozen"

    generator = torch.Generator().manual_seed(0)
    pixels = torch.rand(2, 3, *image_size, generator=generator)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    images = ((pixels - mean) / std).to(device)  # the pipeline's normalisation

    undeclared = [p for p in TEACHER_PRECISIONS if p not in spec.precisions]
    for precision in undeclared[:1]:
        try:
            teacher.place(device, precision)
        except SpecError:
            pass
        else:
            raise AssertionError(f"place() accepted {precision}, which the spec does not declare")

    # the contract at each declared precision: fp32 first, the reference of the others
    precisions = runnable_precisions(spec, device)
    assert precisions, f"teacher '{name}' declares {spec.precisions}, none of which {device.type} runs"
    order = sorted(precisions, key=lambda p: p != "fp32")
    reference = _check_output(name, spec, teacher.place(device, order[0]), images, order[0])
    for precision in order[1:]:  # a second build: the same weights (seeded), placed in another precision
        out = _check_output(name, spec, _create(name, spec, weights, **options).place(device, precision), images,
                            precision)
        for level, (low, full) in enumerate(zip(out.features, reference.features, strict=True)):
            cosine = float(torch.nn.functional.cosine_similarity(low.flatten(1), full.flatten(1)).min())
            assert cosine >= 0.99, f"{precision}: level {level} has cosine {cosine:.4f} to {order[0]} (< 0.99)"
    teacher, out, images = teacher.place("cpu", order[0]), reference, images.cpu()

    # renormalisation: pipeline statistics -> the teacher's own; identity when faithful
    images = images.to(teacher.dtype)
    own_mean, own_std = torch.tensor(spec.mean).view(1, 3, 1, 1), torch.tensor(spec.std).view(1, 3, 1, 1)
    expected = images if teacher.faithful else ((pixels - own_mean) / own_std).to(teacher.dtype)
    torch.testing.assert_close(teacher.renormalize(images), expected, rtol=1e-5, atol=1e-5)
    faithful, teacher.faithful = teacher.faithful, True
    try:
        assert torch.equal(teacher.renormalize(images), images), "faithful=True must leave the images as given"
    finally:
        teacher.faithful = faithful

    if spec.has_weights:
        _check_weights(name, spec, teacher, out, images, pixels, tmp_path, weights, order[0], **options)
    return teacher


def _check_output(name: str, spec: TeacherSpec, teacher: Teacher, images: torch.Tensor, precision: str) -> TeacherOutput:
    """The output conventions at one precision; returns the output of ``images``."""
    assert teacher.dtype == DTYPES[precision], f"place(..., {precision!r}) left the teacher in {teacher.dtype}"
    out = teacher(images)
    what = f"teacher '{name}' at {precision}"
    assert isinstance(out, TeacherOutput), f"{what}: forward must return a TeacherOutput, got {type(out).__name__}"
    levels = spec.levels
    assert len(out.features) == levels, f"{what}: {len(out.features)} feature maps for {levels} levels (taps)"
    widths = spec.feature_dim if isinstance(spec.feature_dim, tuple) else (spec.feature_dim,) * levels
    for level, (f, width) in enumerate(zip(out.features, widths, strict=True)):
        assert f.dim() == 4 and f.shape[0] == 2 and f.shape[1] == width, (
            f"{what}: level {level}: expected 2 x {width} x h x w (spec width), got {tuple(f.shape)}"
        )
        assert f.dtype == torch.float32 and torch.isfinite(f).all(), f"{what}: level {level}: not finite float32"
        assert not f.requires_grad and not f.is_inference(), f"{what}: level {level}: must be an ordinary tensor"
    if out.valid_size is not None:
        grid = tuple(out.features[0].shape[-2:])
        assert all(1 <= v <= g for v, g in zip(out.valid_size, grid, strict=True)), (
            f"{what}: valid_size {out.valid_size} must lie within the grid {grid}"
        )
    by_tap = dict(zip(spec.tap_indices, out.features))
    # at fp32 only: a random init's small residual updates (layer scale) can round away in bf16
    if precision == "fp32" and len(by_tap) > 1 and len({tuple(f.shape) for f in by_tap.values()}) == 1:
        maps = list(by_tap.values())
        assert not all(torch.equal(maps[0], m) for m in maps[1:]), f"{what}: distinct taps returned the same map"

    # deterministic, and independent of the other images of the batch
    _assert_same_features(out, teacher(images), f"{what}: a second forward")
    alone = teacher(images[:1])
    tolerance = 1e-4 if precision == "fp32" else 2e-2
    _assert_same_features(TeacherOutput([f[:1] for f in out.features], out.valid_size), alone,
                          f"{what}: image 0 alone vs in a batch", exact=False, tolerance=tolerance)
    return out


def _check_weights(
    name: str, spec: TeacherSpec, teacher: Teacher, out: TeacherOutput, images: torch.Tensor, pixels: torch.Tensor,
    tmp_path: Path, weights: Any, precision: str, **options: Any,
) -> None:
    """Weights=PATH and ``$SAK_WEIGHTS`` give the same features (the teachers built from them
    placed in ``precision``, that of ``out``); no file and no network names every source."""

    def create(**more: Any) -> Teacher:
        return create_teacher(name, **options, **more).place("cpu", precision)

    own_mean, own_std = torch.tensor(spec.mean).view(1, 3, 1, 1), torch.tensor(spec.std).view(1, 3, 1, 1)
    if spec.random_init:  # a torch network: its state dict round-trips
        assert isinstance(getattr(teacher, "model", None), torch.nn.Module), (
            "a teacher with a random initialisation keeps its network at teacher.model (its state dict is the "
            "weights file's content)"
        )
        path = _save(teacher.model.state_dict(), tmp_path / "teacher-weights.pth")
        loaded = create(weights=str(path))
        for key, value in teacher.model.state_dict().items():
            assert torch.equal(loaded.model.state_dict()[key], value), f"weights=PATH: {key} was not loaded"
        _assert_same_features(out, loaded(images), "weights=PATH")
    else:
        path = Path(weights)
    if "input_mean" not in options and "input_std" not in options and not teacher.faithful:
        own = create(weights=str(path), input_mean=spec.mean, input_std=spec.std)
        _assert_same_features(out, own((pixels - own_mean) / own_std), "input_mean/input_std = the teacher's own",
                              exact=False)
    with offline_weights(tmp_path / "sak-weights") as folder:
        if spec.weights:
            target = folder / spec.weights[0].filename
            if spec.random_init:  # in the format its file name says
                _save(teacher.model.state_dict(), target)
            else:  # the file as given: its format is the teacher's own
                shutil.copyfile(path, target)
            _assert_same_features(out, create()(images), "weights found in $SAK_WEIGHTS")
            (folder / spec.weights[0].filename).unlink()
        try:
            create_teacher(name, **options)
        except CheckpointError as exc:
            told = [f"{s.url} {folder / s.filename}" for s in spec.weights] or ["weights=PATH"]
            missing = [t for t in told if not all(part in str(exc) for part in t.split())]
            assert not missing, f"the missing-weights error must say what to fetch and where to put it: {exc}"
        else:
            raise AssertionError("with no weights file and no network, weights=None must raise CheckpointError")


def check_task(
    name: str, dataset: str | DatasetSpec = "synthetic", tmp_path: str | os.PathLike[str] | None = None, *,
    root: str | os.PathLike[str] | None = None, size: tuple[int, int] = (32, 32), **dataset_options: Any,
) -> None:
    """Check task ``name`` on two images of ``dataset`` (a name or a spec; ``root``, ``size`` and
    ``dataset_options`` go to its factory; the synthetic scenes need no files).

    Conventions checked: the dataset supports the task and its target is in the batch or derived;
    the loss is a finite, deterministic scalar whose gradient reaches the outputs; the metric
    reports the spec's ``metric_name`` as a finite number and ``reset()`` forgets what was added;
    ``postprocess`` keeps batch and spatial size; ``save_prediction``, when the task has one,
    writes a file into the per-task folder it is given (as ``sak predict`` makes it); ``visualise`` renders predictions
    and targets as ``H x W x 3`` uint8.
    """
    if tmp_path is None:
        with tempfile.TemporaryDirectory() as folder:
            return check_task(name, dataset, folder, root=root, size=size, **dataset_options)
    data_spec = get_dataset_spec(dataset) if isinstance(dataset, str) else dataset
    spec = get_task_spec(name)
    assert spec.supported_by(data_spec), f"dataset '{data_spec.name}' has neither labels for '{name}' nor its requires"
    task = create_task(name, data_spec)
    outputs_count = spec.num_outputs(data_spec)
    labels = [name] if name in data_spec.tasks else list(spec.requires)
    data = data_spec.create("train", root=root, input_size=size, tasks=labels, **dataset_options)
    batch = collate_samples([data[0], data[1]])
    target = batch[name] if name in batch else spec.derive_target(batch)
    assert target is not None, f"no target for '{name}' in the batch and none derived"
    h, w = batch["image"].shape[-2:]
    torch.manual_seed(0)
    outputs = torch.randn(2, outputs_count, h, w, requires_grad=True)

    loss = task.loss()(outputs, target)
    assert loss.dim() == 0 and torch.isfinite(loss), f"the loss must be a finite scalar, got {loss}"
    assert torch.equal(loss, task.loss()(outputs, target)), "the loss must be deterministic"
    loss.backward()
    assert outputs.grad is not None and torch.isfinite(outputs.grad).all() and outputs.grad.abs().sum() > 0, (
        "the loss must reach the head outputs with a finite, non-zero gradient"
    )

    detached = outputs.detach()
    metric = task.metric()
    metric.update(detached, target)
    first = metric.compute()
    assert spec.metric_name in first and np.isfinite(first[spec.metric_name]), (
        f"metric must report '{spec.metric_name}' as a finite number, got {first}"
    )
    metric.reset()
    metric.update(detached[:1], target[:1])
    fresh = task.metric()
    fresh.update(detached[:1], target[:1])
    assert metric.compute() == fresh.compute(), "metric.reset() must forget what was added"

    prediction = task.postprocess(detached)
    assert prediction.shape[0] == 2 and tuple(prediction.shape[-2:]) == (h, w), (
        f"postprocess must keep batch and spatial size, got {tuple(prediction.shape)}"
    )
    folder = Path(tmp_path) / "predictions" / name
    folder.mkdir(parents=True, exist_ok=True)
    try:
        written = Path(task.save_prediction(prediction[0], folder / "image_0"))
    except NotImplementedError:  # optional: sak predict then says the task's predictions are not written
        written = None
    assert written is None or written.is_file() and written.parent == folder and written.name.startswith("image_0"), (
        f"save_prediction must write the file it is given a stem for, in its folder; got {written}"
    )
    for what, value in (("prediction", prediction[0]), ("target", target[0])):
        picture = task.visualise(value)
        assert isinstance(picture, np.ndarray) and picture.dtype == np.uint8 and picture.shape == (h, w, 3), (
            f"visualise({what}) must give an H x W x 3 uint8 array, got {getattr(picture, 'shape', picture)}"
        )
